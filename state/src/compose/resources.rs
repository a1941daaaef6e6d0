//! What a service asks of the kernel: `ulimits`, `sysctls`, `cpus`,
//! `memswap_limit`. Which names and ranges the kernel and engine take is
//! checked by validation, on the target as on the compose file.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ComposeError, Walker, byte_size, integer, invalid, key_values, kind, mapping};
use crate::settings::{Cpus, Ulimit};

/// `{nofile: 20000}` (soft and hard alike) or `{nofile: {soft: 1024,
/// hard: 4096}}`.
pub(super) fn ulimits(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<BTreeMap<String, Ulimit>, ComposeError> {
    let mut out = BTreeMap::new();
    for (name, limit) in mapping(value, path)? {
        let here = format!("{path}.{name}");
        let limit = match limit {
            Value::Object(both) => {
                let mut soft = None;
                let mut hard = None;
                for (key, value) in both {
                    let there = format!("{here}.{key}");
                    match key.as_str() {
                        "soft" => soft = Some(integer(value, &there)?),
                        "hard" => hard = Some(integer(value, &there)?),
                        _ => walker.ignored(&there),
                    }
                }
                match (soft, hard) {
                    (Some(soft), Some(hard)) => Ulimit { soft, hard },
                    _ => return Err(invalid(&here, "expected both 'soft' and 'hard'")),
                }
            }
            Value::Number(_) | Value::String(_) => {
                let both = integer(limit, &here)?;
                Ulimit {
                    soft: both,
                    hard: both,
                }
            }
            other => {
                return Err(invalid(
                    &here,
                    format!(
                        "expected a number or a mapping of 'soft' and 'hard', found {}",
                        kind(other)
                    ),
                ));
            }
        };
        out.insert(name.clone(), limit);
    }
    Ok(out)
}

/// `{net.core.somaxconn: 1024}` or `["net.core.somaxconn=1024"]`.
pub(super) fn sysctls(value: &Value, path: &str) -> Result<BTreeMap<String, String>, ComposeError> {
    let mut out = BTreeMap::new();
    for (here, name, setting) in key_values(value, path, "NAME")? {
        if out.insert(name.clone(), setting).is_some() {
            return Err(invalid(&here, format!("'{name}' is given twice")));
        }
    }
    Ok(out)
}

/// A number of CPUs, as a number (`1.5`) or a string (`"1.5"`), read as
/// written so no float rounding decides the limit.
pub(super) fn cpus(value: &Value, path: &str) -> Result<Cpus, ComposeError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => {
            return Err(invalid(
                path,
                format!("expected a number of CPUs, found {}", kind(other)),
            ));
        }
    };
    Cpus::parse(&text).map_err(|e| invalid(path, e))
}

/// Memory plus swap: `-1` (swap without limit) or a size.
pub(super) fn memswap_limit(value: &Value, path: &str) -> Result<i64, ComposeError> {
    let unlimited = match value {
        Value::Number(n) => n.as_i64() == Some(-1),
        Value::String(s) => s.trim() == "-1",
        _ => false,
    };
    if unlimited {
        return Ok(-1);
    }
    let bytes = byte_size(value, path)?;
    i64::try_from(bytes).map_err(|_| invalid(path, format!("{bytes} bytes is too large")))
}
