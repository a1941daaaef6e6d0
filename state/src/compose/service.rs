//! One compose service, read into a [`Block`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU16;

use serde::Deserialize;
use serde_json::Value;

use super::{ComposeError, Walker, boolean, invalid, kind, list, mapping, scalar, string};
use crate::duration::HumanDuration;
use crate::image::ImageRef;
use crate::mount::{AbsPath, MountError, VolumeMount};
use crate::name::{BlockName, NetworkName, PluginRef, VolumeName};
use crate::port::{PortMapping, Protocol};
use crate::target::{
    Block, DependsCondition, HealthTest, Healthcheck, Requirement, RestartPolicy, TimeRequirement,
    UpdateStrategy,
};

/// Reads the service at `path` (`services.<name>`).
pub(super) fn read(
    walker: &mut Walker,
    path: &str,
    definition: &Value,
) -> Result<Block, ComposeError> {
    let service = mapping(definition, path)?;
    if service.contains_key("build") {
        return Err(ComposeError::Build {
            path: format!("{path}.build"),
        });
    }
    let image = match service.get("image") {
        Some(image) => {
            let here = format!("{path}.image");
            let text = walker.text(image, &here)?;
            ImageRef::parse(&text).map_err(|e| invalid(&here, e))?
        }
        None => {
            return Err(invalid(
                path,
                "no 'image': a block runs an image pulled from a registry",
            ));
        }
    };
    let mut block = Block {
        image,
        command: None,
        environment: BTreeMap::new(),
        labels: BTreeMap::new(),
        volumes: Vec::new(),
        networks: Vec::new(),
        ports: Vec::new(),
        depends_on: BTreeMap::new(),
        restart: RestartPolicy::default(),
        healthcheck: None,
        update_strategy: UpdateStrategy::default(),
        requires: Vec::new(),
        time: None,
        plugins: Vec::new(),
    };
    for (key, value) in service {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "image" => {}
            "command" => block.command = Some(command(walker, value, &here)?),
            "environment" => block.environment = environment(walker, value, &here)?,
            "labels" => block.labels = walker.labels(value, &here)?,
            "volumes" => block.volumes = volumes(walker, value, &here)?,
            "networks" => block.networks = networks(walker, value, &here)?,
            "ports" => block.ports = ports(walker, value, &here)?,
            "depends_on" => block.depends_on = depends_on(walker, value, &here)?,
            "restart" => block.restart = restart(walker, value, &here)?,
            "healthcheck" => block.healthcheck = Some(healthcheck(walker, value, &here)?),
            "x-osb" => osb_extension(value, &here, &mut block)?,
            key if key.starts_with("x-") => {}
            _ => walker.ignored(&here),
        }
    }
    Ok(block)
}

/// A string is split as a shell would (quotes, backslashes), with no
/// expansion; a list is taken as it is.
fn command(walker: &mut Walker, value: &Value, path: &str) -> Result<Vec<String>, ComposeError> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| walker.text(item, &format!("{path}[{i}]")))
            .collect(),
        other => {
            let line = walker.text(other, path)?;
            shlex::split(&line).ok_or_else(|| invalid(path, "unbalanced quotes"))
        }
    }
}

/// A map (`{K: v}`) or a list (`["K=v"]`). A variable without a value would
/// be taken from the environment of whoever runs compose; a device has
/// none, so it is reported and left out.
fn environment(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<BTreeMap<String, String>, ComposeError> {
    const NO_VALUE: &str = "no value: compose would take it from the host's environment; ignored";
    let mut out = BTreeMap::new();
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{path}.{key}");
                if value.is_null() {
                    walker.warn(&here, NO_VALUE);
                } else {
                    out.insert(key.clone(), walker.text(value, &here)?);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let here = format!("{path}[{i}]");
                let item = walker.text(item, &here)?;
                match item.split_once('=') {
                    Some((key, value)) => {
                        if out.insert(key.to_owned(), value.to_owned()).is_some() {
                            return Err(invalid(&here, format!("variable '{key}' is given twice")));
                        }
                    }
                    None => walker.warn(&here, NO_VALUE),
                }
            }
        }
        other => {
            return Err(invalid(
                path,
                format!("expected a mapping or a list, found {}", kind(other)),
            ));
        }
    }
    Ok(out)
}

fn volumes(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<Vec<VolumeMount>, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in list(value, path)?.iter().enumerate() {
        let here = format!("{path}[{i}]");
        let mount = match item {
            Value::String(short) => match short.parse::<VolumeMount>() {
                Ok(mount) => Some(mount),
                Err(e @ MountError::Anonymous(_)) => {
                    walker.warn(&here, format!("{e}; ignored"));
                    None
                }
                Err(e) => return Err(invalid(&here, e)),
            },
            Value::Object(_) => long_volume(walker, item, &here)?,
            other => {
                return Err(invalid(
                    &here,
                    format!("expected a string or a mapping, found {}", kind(other)),
                ));
            }
        };
        out.extend(mount);
    }
    Ok(out)
}

/// The long syntax: `{type, source, target, read_only, tmpfs: {size}}`.
fn long_volume(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<Option<VolumeMount>, ComposeError> {
    let map = mapping(value, path)?;
    let field = |key: &str| map.get(key).filter(|v| !v.is_null());
    let kind_of = match field("type") {
        Some(t) => string(t, &format!("{path}.type"))?,
        None => return Err(invalid(path, "no 'type' (volume, bind or tmpfs)")),
    };
    let Some(target) = field("target") else {
        return Err(invalid(path, "no 'target'"));
    };
    let target_path = format!("{path}.target");
    let target =
        AbsPath::new(&string(target, &target_path)?).map_err(|e| invalid(&target_path, e))?;
    let read_only = match field("read_only") {
        Some(v) => boolean(v, &format!("{path}.read_only"))?,
        None => false,
    };
    let mut size = None;
    for (key, value) in map {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "type" | "source" | "target" | "read_only" => {}
            "tmpfs" if kind_of == "tmpfs" => {
                for (option, value) in mapping(value, &here)? {
                    let there = format!("{here}.{option}");
                    match option.as_str() {
                        "size" => size = Some(byte_size(value, &there)?),
                        _ => walker.ignored(&there),
                    }
                }
            }
            _ => walker.ignored(&here),
        }
    }
    let source = |what: &str| -> Result<String, ComposeError> {
        let here = format!("{path}.source");
        match field("source") {
            Some(source) => string(source, &here),
            None => Err(invalid(path, format!("no 'source' (the {what})"))),
        }
    };
    let mount = match kind_of.as_str() {
        "volume" => {
            if field("source").is_none() {
                walker.warn(
                    path,
                    format!("anonymous volume '{target}': name it with 'source' so its data outlives an update; ignored"),
                );
                return Ok(None);
            }
            let here = format!("{path}.source");
            VolumeMount::Volume {
                source: VolumeName::new(&source("volume's name")?)
                    .map_err(|e| invalid(&here, e))?,
                target,
                read_only,
            }
        }
        "bind" => {
            let here = format!("{path}.source");
            VolumeMount::Bind {
                source: AbsPath::new(&source("host path")?).map_err(|e| invalid(&here, e))?,
                target,
                read_only,
            }
        }
        "tmpfs" => VolumeMount::Tmpfs { target, size },
        other => {
            return Err(invalid(
                &format!("{path}.type"),
                format!("type '{other}' is not supported (volume, bind or tmpfs)"),
            ));
        }
    };
    Ok(Some(mount))
}

/// Bytes, as a number or with a unit: `65536`, `64k`, `10m`, `1g`.
fn byte_size(value: &Value, path: &str) -> Result<u64, ComposeError> {
    let bad = || invalid(path, "expected a size in bytes, e.g. 65536 or '64m'");
    let text = scalar(value, path)?.to_ascii_lowercase();
    let text = text.trim_end_matches('b');
    let (digits, scale) = match text.as_bytes().last() {
        Some(b'k') => (&text[..text.len() - 1], 1u64 << 10),
        Some(b'm') => (&text[..text.len() - 1], 1 << 20),
        Some(b'g') => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(bad)
}

/// A list of names, or a map from name to per-network options (reported).
fn networks(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<Vec<NetworkName>, ComposeError> {
    let mut out = Vec::new();
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let here = format!("{path}[{i}]");
                out.push(NetworkName::new(&string(item, &here)?).map_err(|e| invalid(&here, e))?);
            }
        }
        Value::Object(map) => {
            for (name, options) in map {
                let here = format!("{path}.{name}");
                out.push(NetworkName::new(name).map_err(|e| invalid(&here, e))?);
                if !options.is_null() {
                    for option in mapping(options, &here)?.keys() {
                        walker.ignored(&format!("{here}.{option}"));
                    }
                }
            }
        }
        other => {
            return Err(invalid(
                path,
                format!("expected a list or a mapping, found {}", kind(other)),
            ));
        }
    }
    Ok(out)
}

fn ports(walker: &mut Walker, value: &Value, path: &str) -> Result<Vec<PortMapping>, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in list(value, path)?.iter().enumerate() {
        let here = format!("{path}[{i}]");
        match item {
            Value::String(_) | Value::Number(_) => {
                let short = scalar(item, &here)?;
                out.extend(PortMapping::parse_short(&short).map_err(|e| invalid(&here, e))?);
            }
            Value::Object(map) => out.push(long_port(walker, map, &here)?),
            other => {
                return Err(invalid(
                    &here,
                    format!(
                        "expected a string, a number or a mapping, found {}",
                        kind(other)
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// The long syntax: `{target, published, host_ip, protocol}`.
fn long_port(
    walker: &mut Walker,
    map: &serde_json::Map<String, Value>,
    path: &str,
) -> Result<PortMapping, ComposeError> {
    let port = |value: &Value, here: &str| -> Result<NonZeroU16, ComposeError> {
        scalar(value, here)?
            .parse::<NonZeroU16>()
            .map_err(|_| invalid(here, "expected a port number from 1 to 65535"))
    };
    let Some(target) = map.get("target") else {
        return Err(invalid(path, "no 'target'"));
    };
    let mut mapping = PortMapping {
        target: port(target, &format!("{path}.target"))?,
        published: None,
        host_ip: None,
        protocol: Protocol::Tcp,
    };
    for (key, value) in map {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "target" => {}
            "published" => mapping.published = Some(port(value, &here)?),
            "host_ip" => {
                let ip = string(value, &here)?;
                mapping.host_ip = Some(
                    ip.parse::<IpAddr>()
                        .map_err(|_| invalid(&here, format!("'{ip}' is not an IP address")))?,
                );
            }
            "protocol" => {
                mapping.protocol = match string(value, &here)?.as_str() {
                    "tcp" => Protocol::Tcp,
                    "udp" => Protocol::Udp,
                    "sctp" => Protocol::Sctp,
                    other => {
                        return Err(invalid(
                            &here,
                            format!("unknown protocol '{other}' (tcp, udp or sctp)"),
                        ));
                    }
                }
            }
            _ => walker.ignored(&here),
        }
    }
    Ok(mapping)
}

/// A list of names (each `started`), or a map with a `condition` each.
fn depends_on(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<BTreeMap<BlockName, DependsCondition>, ComposeError> {
    let mut out = BTreeMap::new();
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let here = format!("{path}[{i}]");
                let name = BlockName::new(&string(item, &here)?).map_err(|e| invalid(&here, e))?;
                if out.insert(name, DependsCondition::Started).is_some() {
                    return Err(invalid(&here, "listed twice"));
                }
            }
        }
        Value::Object(map) => {
            for (name, options) in map {
                let here = format!("{path}.{name}");
                let block = BlockName::new(name).map_err(|e| invalid(&here, e))?;
                let mut condition = DependsCondition::Started;
                if !options.is_null() {
                    for (key, value) in mapping(options, &here)? {
                        let there = format!("{here}.{key}");
                        match key.as_str() {
                            "condition" => {
                                condition = match string(value, &there)?.as_str() {
                                    "service_started" => DependsCondition::Started,
                                    "service_healthy" => DependsCondition::Healthy,
                                    "service_completed_successfully" => DependsCondition::Completed,
                                    other => {
                                        return Err(invalid(
                                            &there,
                                            format!(
                                                "unknown condition '{other}' (service_started, \
                                                 service_healthy or service_completed_successfully)"
                                            ),
                                        ));
                                    }
                                }
                            }
                            _ => walker.ignored(&there),
                        }
                    }
                }
                out.insert(block, condition);
            }
        }
        other => {
            return Err(invalid(
                path,
                format!("expected a list or a mapping, found {}", kind(other)),
            ));
        }
    }
    Ok(out)
}

fn restart(walker: &mut Walker, value: &Value, path: &str) -> Result<RestartPolicy, ComposeError> {
    // An unquoted `no` is a boolean to some YAML readers.
    if value == &Value::Bool(false) {
        return Ok(RestartPolicy::No);
    }
    let text = string(value, path)?;
    Ok(match text.as_str() {
        "no" => RestartPolicy::No,
        "always" => RestartPolicy::Always,
        "unless-stopped" => RestartPolicy::UnlessStopped,
        "on-failure" => RestartPolicy::OnFailure,
        other if other.starts_with("on-failure:") => {
            walker.warn(
                path,
                "the retry limit is not supported, ignored: the engine retries without limit",
            );
            RestartPolicy::OnFailure
        }
        other => {
            return Err(invalid(
                path,
                format!(
                    "unknown restart policy '{other}' (no, always, on-failure or unless-stopped)"
                ),
            ));
        }
    })
}

fn healthcheck(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<Healthcheck, ComposeError> {
    let mut check = Healthcheck {
        test: None,
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
    };
    let duration = |value: &Value, here: &str| -> Result<HumanDuration, ComposeError> {
        HumanDuration::parse(&string(value, here)?).map_err(|e| invalid(here, e))
    };
    let mut disable = false;
    for (key, value) in mapping(value, path)? {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "test" => check.test = Some(health_test(walker, value, &here)?),
            "interval" => check.interval = Some(duration(value, &here)?),
            "timeout" => check.timeout = Some(duration(value, &here)?),
            "start_period" => check.start_period = Some(duration(value, &here)?),
            "retries" => {
                check.retries = Some(
                    value
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| invalid(&here, "expected a whole number"))?,
                );
            }
            "disable" => disable = boolean(value, &here)?,
            _ => walker.ignored(&here),
        }
    }
    if disable {
        check.test = Some(HealthTest::Disabled);
    }
    Ok(check)
}

/// `"curl -f http://x"` (through the shell), `["CMD", "curl", ...]`,
/// `["CMD-SHELL", "curl ..."]` or `["NONE"]`.
fn health_test(walker: &mut Walker, value: &Value, path: &str) -> Result<HealthTest, ComposeError> {
    let Value::Array(items) = value else {
        return Ok(HealthTest::Shell(walker.text(value, path)?));
    };
    let words = items
        .iter()
        .enumerate()
        .map(|(i, item)| walker.text(item, &format!("{path}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    match words.split_first() {
        Some((first, rest)) if first == "CMD" => Ok(HealthTest::Cmd(rest.to_vec())),
        Some((first, rest)) if first == "CMD-SHELL" => Ok(HealthTest::Shell(rest.join(" "))),
        Some((first, [])) if first == "NONE" => Ok(HealthTest::Disabled),
        _ => Err(invalid(
            path,
            "a list must start with CMD, CMD-SHELL or NONE",
        )),
    }
}

/// `x-osb`: what compose has no words for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OsbExtension {
    #[serde(default)]
    update_strategy: Option<UpdateStrategy>,
    #[serde(default)]
    time: Option<TimeRequirement>,
    #[serde(default)]
    requires: Vec<Requirement>,
    #[serde(default)]
    plugins: Vec<PluginRef>,
}

fn osb_extension(value: &Value, path: &str, block: &mut Block) -> Result<(), ComposeError> {
    let extension: OsbExtension = serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let here = if matches!(inner.as_str(), "." | "?") {
            path.to_owned()
        } else {
            format!("{path}.{inner}")
        };
        invalid(&here, e.into_inner())
    })?;
    if let Some(strategy) = extension.update_strategy {
        block.update_strategy = strategy;
    }
    block.time = extension.time;
    block.requires = extension.requires;
    block.plugins = extension.plugins;
    Ok(())
}
