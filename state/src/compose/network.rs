//! A service's network settings beyond `networks` and `ports`:
//! `network_mode`, `dns`, `extra_hosts`, `expose`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use super::{ComposeError, Walker, invalid, kind, list, one_or_many, scalar, string};
use crate::port::PortMapping;
use crate::settings::{HostAddress, HostName, NetworkMode};

/// `host`, `none` or `service:<name>`. `bridge` asks for the engine's
/// shared bridge network; the block gets its app's `default` network
/// instead, which is a bridge network too (its own address, outbound NAT,
/// published ports), shared with the app's blocks rather than with every
/// container on the engine. `container:<id>` names what is outside the
/// release, and is refused.
pub(super) fn mode(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<Option<NetworkMode>, ComposeError> {
    let text = string(value, path)?;
    if text == "bridge" {
        walker.warn(
            path,
            "'bridge' is read as the app's default network (a bridge network of the app's own, \
             not the engine's shared one)",
        );
        return Ok(None);
    }
    NetworkMode::parse(&text)
        .map(Some)
        .map_err(|e| invalid(path, e))
}

/// A server address, or a list of them.
pub(super) fn dns(value: &Value, path: &str) -> Result<Vec<IpAddr>, ComposeError> {
    one_or_many(value, path)?
        .into_iter()
        .map(|(here, text)| {
            text.parse()
                .map_err(|_| invalid(&here, format!("'{text}' is not an IP address")))
        })
        .collect()
}

/// A list of `host:address` or `host=address` (an IPv6 address may be in
/// brackets), or a map from host to address.
pub(super) fn extra_hosts(
    value: &Value,
    path: &str,
) -> Result<BTreeMap<HostName, HostAddress>, ComposeError> {
    let entries: Vec<(String, String, String)> = match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let here = format!("{path}[{i}]");
                let text = string(item, &here)?;
                // A host name holds no ':', an address may: the first
                // separator splits.
                let split = text.split_once('=').or_else(|| text.split_once(':'));
                let Some((host, address)) = split else {
                    return Err(invalid(
                        &here,
                        format!("expected 'host:address' or 'host=address', found '{text}'"),
                    ));
                };
                Ok((here, host.to_owned(), address.to_owned()))
            })
            .collect::<Result<_, _>>()?,
        Value::Object(map) => map
            .iter()
            .map(|(host, address)| {
                let here = format!("{path}.{host}");
                let address = match address {
                    Value::Array(many) if many.len() == 1 => string(&many[0], &here)?,
                    Value::Array(_) => {
                        return Err(invalid(&here, "one address per host name"));
                    }
                    other => string(other, &here)?,
                };
                Ok((here, host.clone(), address))
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(invalid(
                path,
                format!("expected a list or a mapping, found {}", kind(other)),
            ));
        }
    };
    let mut out = BTreeMap::new();
    for (here, host, address) in entries {
        let host = HostName::new(host.trim()).map_err(|e| invalid(&here, e))?;
        let address = address.trim();
        let bare = address
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(address);
        let address = HostAddress::new(bare).map_err(|e| invalid(&here, e))?;
        if let Some(first) = out.insert(host.clone(), address) {
            return Err(invalid(
                &here,
                format!("'{host}' is given twice (first as {first}): one address per host name"),
            ));
        }
    }
    Ok(out)
}

/// Container ports only (`"3000"`, `"8000/udp"`, `"3000-3005"`), exposed
/// but not published: port mappings without a host port.
pub(super) fn expose(value: &Value, path: &str) -> Result<Vec<PortMapping>, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in list(value, path)?.iter().enumerate() {
        let here = format!("{path}[{i}]");
        let text = match item {
            Value::String(_) | Value::Number(_) => scalar(item, &here)?,
            other => {
                return Err(invalid(
                    &here,
                    format!("expected a string or a number, found {}", kind(other)),
                ));
            }
        };
        if text.contains(':') {
            return Err(invalid(
                &here,
                format!(
                    "'{text}': expose takes container ports ('3000', '8000/udp'); publish with \
                     'ports'"
                ),
            ));
        }
        out.extend(PortMapping::parse_short(&text).map_err(|e| invalid(&here, e))?);
    }
    Ok(out)
}
