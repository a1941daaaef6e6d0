//! One compose service, read into a [`Block`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU16;

use serde::Deserialize;
use serde_json::Value;

use super::{
    ComposeError, Walker, boolean, byte_size, devices, each, env_file, integer_in, invalid, kind,
    list, mapping, name_or_number, network, one_or_many, parsed, resources, scalar, spelling,
    string, string_map, update_labels,
};
use crate::duration::HumanDuration;
use crate::image::ImageRef;
use crate::mount::{AbsPath, MountError, VolumeMount};
use crate::name::{BlockName, NetworkName, PluginRef, VolumeName};
use crate::port::{PortMapping, Protocol};
use crate::settings::{
    Capability, CpuSet, DeviceCgroupRule, HostName, IpcMode, Logging, MacAddress, PidMode,
    SecurityOpt, StopSignal,
};
use crate::target::{
    Block, DependsCondition, HealthTest, Healthcheck, Requirement, RestartPolicy, TimeRequirement,
    UpdateStrategy,
};

/// Every key the compose specification gives a service, read or not: a
/// key one edit away from one of these is a misspelling, refused; any
/// other unknown key is reported and ignored.
const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

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
            // A string only: `image: 12345` is a YAML number, and reading
            // it as the repository `12345` would pull what nobody named.
            let text = string(image, &here)?;
            ImageRef::parse(&text).map_err(|e| invalid(&here, e))?
        }
        None => {
            return Err(invalid(
                path,
                "no 'image': a block runs an image pulled from a registry",
            ));
        }
    };
    let mut block = Block::new(image);
    let mut strategy_from_x_osb = false;
    for (key, value) in service {
        let here = format!("{path}.{key}");
        match key.as_str() {
            // Read before or after the others.
            "image" | "env_file" | "expose" => {}
            "command" => block.command = Some(command(value, &here)?),
            "entrypoint" => block.entrypoint = Some(command(value, &here)?),
            "environment" => block.environment = environment(walker, value, &here)?,
            "labels" => block.labels = walker.labels(value, &here)?,
            // Both add to the mounts: the service-level `tmpfs` is a
            // shorthand for tmpfs entries of `volumes`.
            "volumes" => block.volumes.extend(volumes(walker, value, &here)?),
            "tmpfs" => block.volumes.extend(tmpfs(walker, value, &here)?),
            "networks" => block.networks = networks(walker, value, &here)?,
            "ports" => block.ports = ports(walker, value, &here)?,
            "depends_on" => block.depends_on = depends_on(walker, value, &here)?,
            "restart" => block.restart = Some(restart(walker, value, &here)?),
            "healthcheck" => block.healthcheck = Some(healthcheck(walker, value, &here)?),
            "privileged" => block.privileged = boolean(value, &here)?,
            "network_mode" => block.network_mode = network::mode(walker, value, &here)?,
            "pid" => block.pid = Some(parsed(value, &here, PidMode::parse)?),
            "ipc" => block.ipc = Some(parsed(value, &here, IpcMode::parse)?),
            "cap_add" => block.cap_add = each(value, &here, Capability::new)?,
            "cap_drop" => block.cap_drop = each(value, &here, Capability::new)?,
            "devices" => block.devices = devices::devices(walker, value, &here)?,
            "device_cgroup_rules" => {
                block.device_cgroup_rules = each(value, &here, DeviceCgroupRule::new)?;
            }
            "security_opt" => block.security_opt = each(value, &here, SecurityOpt::new)?,
            "sysctls" => block.sysctls = resources::sysctls(value, &here)?,
            "ulimits" => block.ulimits = resources::ulimits(walker, value, &here)?,
            "shm_size" => block.shm_size = Some(byte_size(value, &here)?),
            "read_only" => block.read_only = boolean(value, &here)?,
            "user" => block.user = Some(name_or_number(value, &here)?),
            "group_add" => {
                block.group_add = list(value, &here)?
                    .iter()
                    .enumerate()
                    .map(|(i, group)| name_or_number(group, &format!("{here}[{i}]")))
                    .collect::<Result<_, _>>()?;
            }
            "working_dir" => block.working_dir = Some(parsed(value, &here, AbsPath::new)?),
            "hostname" => block.hostname = Some(parsed(value, &here, HostName::new)?),
            "domainname" => block.domainname = Some(parsed(value, &here, HostName::new)?),
            "dns" => block.dns = network::dns(value, &here)?,
            "dns_search" => {
                block.dns_search = one_or_many(value, &here)?
                    .into_iter()
                    .map(|(there, name)| HostName::new(&name).map_err(|e| invalid(&there, e)))
                    .collect::<Result<_, _>>()?;
            }
            "dns_opt" => {
                block.dns_opt = one_or_many(value, &here)?
                    .into_iter()
                    .map(|(_, option)| option)
                    .collect();
            }
            "extra_hosts" => block.extra_hosts = network::extra_hosts(value, &here)?,
            "mac_address" => block.mac_address = Some(parsed(value, &here, MacAddress::new)?),
            "init" => block.init = boolean(value, &here)?,
            "tty" => block.tty = boolean(value, &here)?,
            "stdin_open" => block.stdin_open = boolean(value, &here)?,
            "stop_signal" => block.stop_signal = Some(parsed(value, &here, StopSignal::new)?),
            "stop_grace_period" => block.stop_grace_period = Some(duration(value, &here)?),
            "oom_kill_disable" => block.oom_kill_disable = boolean(value, &here)?,
            "oom_score_adj" => {
                block.oom_score_adj = Some(integer_in(value, &here, "-1000 to 1000")?);
            }
            "mem_limit" => block.mem_limit = Some(byte_size(value, &here)?),
            "mem_reservation" => block.mem_reservation = Some(byte_size(value, &here)?),
            "memswap_limit" => block.memswap_limit = Some(resources::memswap_limit(value, &here)?),
            "cpus" => block.cpus = Some(resources::cpus(value, &here)?),
            "cpu_shares" => block.cpu_shares = Some(integer_in(value, &here, "2 to 4294967295")?),
            "cpu_quota" => {
                block.cpu_quota = Some(integer_in(value, &here, "1000 to 4294967295")?);
            }
            "cpuset" => block.cpuset = Some(parsed(value, &here, CpuSet::new)?),
            "runtime" => block.runtime = Some(string(value, &here)?),
            "logging" => block.logging = Some(logging(walker, value, &here)?),
            "x-osb" => strategy_from_x_osb = osb_extension(value, &here, &mut block)?,
            key if key.starts_with("x-") => {}
            key => match spelling::did_you_mean(key, SERVICE_KEYS) {
                Some(known) => {
                    return Err(invalid(
                        &here,
                        format!("unknown key '{key}': did you mean '{known}'?"),
                    ));
                }
                None => walker.ignored(&here),
            },
        }
    }
    let exposed = match service.get("expose") {
        Some(value) => network::expose(value, &format!("{path}.expose"))?,
        None => Vec::new(),
    };
    // A port published or listed already is exposed already.
    for port in exposed {
        let known = block
            .ports
            .iter()
            .any(|p| p.target == port.target && p.protocol == port.protocol);
        if !known {
            block.ports.push(port);
        }
    }
    if let Some(strategy) =
        update_labels::strategy(walker, &block.labels, path, strategy_from_x_osb)?
    {
        block.update_strategy = strategy;
    }
    if let Some(reboot) = update_labels::requires_reboot(&block.labels, path)? {
        block.requires_reboot = reboot;
    }
    if let Some(optional) = crate::features::optional(&block.labels)
        .map_err(|e| invalid(&format!("{path}.labels.{}", e.label), e.message))?
    {
        block.optional = optional;
    }
    if let Some(value) = service.get("env_file") {
        // Under `environment`, which wins, as in compose.
        let from_files = env_file::read(walker, value, &format!("{path}.env_file"))?;
        for (name, value) in from_files {
            block.environment.entry(name).or_insert(value);
        }
    }
    Ok(block)
}

fn duration(value: &Value, path: &str) -> Result<HumanDuration, ComposeError> {
    HumanDuration::parse(&string(value, path)?).map_err(|e| invalid(path, e))
}

/// `{driver, options}`.
fn logging(walker: &mut Walker, value: &Value, path: &str) -> Result<Logging, ComposeError> {
    let map = mapping(value, path)?;
    let Some(driver) = map.get("driver") else {
        return Err(invalid(
            path,
            "no 'driver': name the log driver (json-file, local, journald, ...), as the \
             engine's default is not known here",
        ));
    };
    let mut logging = Logging {
        driver: string(driver, &format!("{path}.driver"))?,
        options: BTreeMap::new(),
    };
    for (key, value) in map {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "driver" => {}
            "options" if value.is_null() => {}
            "options" => logging.options = string_map(value, &here)?,
            _ => walker.ignored(&here),
        }
    }
    Ok(logging)
}

/// A string is split as a shell would (quotes, backslashes), with no
/// expansion; a list is taken as it is. For `command` and `entrypoint`.
fn command(value: &Value, path: &str) -> Result<Vec<String>, ComposeError> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| scalar(item, &format!("{path}[{i}]")))
            .collect(),
        other => {
            let line = scalar(other, path)?;
            shlex::split(&line).ok_or_else(|| invalid(path, "unbalanced quotes"))
        }
    }
}

/// A map (`{K: v}`) or a list (`["K=v"]`). A variable without a value
/// (`- FOO`, `FOO:`) takes its value from the import's environment, as
/// compose takes it from its own; without one there, it is reported and
/// left out.
fn environment(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let mut out = BTreeMap::new();
    let from_environment = |walker: &mut Walker, name: &str, here: &str| {
        let found = walker
            .context
            .environment
            .and_then(|environment| environment.get(name));
        match found {
            Some(value) => Some(value.clone()),
            None => {
                walker.warn(
                    here,
                    format!(
                        "no value, and '{name}' is not in the environment the file is imported \
                         with; left out"
                    ),
                );
                None
            }
        }
    };
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{path}.{key}");
                let value = if value.is_null() {
                    from_environment(walker, key, &here)
                } else {
                    Some(scalar(value, &here)?)
                };
                if let Some(value) = value {
                    out.insert(key.clone(), value);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let here = format!("{path}[{i}]");
                let item = scalar(item, &here)?;
                let (key, value) = match item.split_once('=') {
                    Some((key, value)) => (key, Some(value.to_owned())),
                    None => (item.as_str(), from_environment(walker, &item, &here)),
                };
                if out.contains_key(key) {
                    return Err(invalid(&here, format!("variable '{key}' is given twice")));
                }
                if let Some(value) = value {
                    out.insert(key.to_owned(), value);
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

/// The service-level `tmpfs`: a path or a list of them, each with options
/// after a colon (`/run:size=64m,mode=1777`); `size` is kept, others are
/// reported.
fn tmpfs(walker: &mut Walker, value: &Value, path: &str) -> Result<Vec<VolumeMount>, ComposeError> {
    let items: Vec<(String, &Value)> = match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (format!("{path}[{i}]"), item))
            .collect(),
        other => vec![(path.to_owned(), other)],
    };
    let mut out = Vec::new();
    for (here, item) in items {
        let text = string(item, &here)?;
        let (target, options) = text.split_once(':').unwrap_or((&text, ""));
        let target = AbsPath::new(target).map_err(|e| invalid(&here, e))?;
        let mut size = None;
        for option in options.split(',').filter(|o| !o.is_empty()) {
            match option.split_once('=') {
                Some(("size", bytes)) => {
                    size = Some(byte_size(&Value::String(bytes.to_owned()), &here)?);
                }
                _ => walker.warn(
                    &here,
                    format!("option '{option}' is not supported, ignored"),
                ),
            }
        }
        out.push(VolumeMount::Tmpfs { target, size });
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
                let mappings = PortMapping::parse_short(&short).map_err(|e| invalid(&here, e))?;
                if mappings.iter().any(|m| m.published.is_none()) {
                    // Compose would publish it on a host port of the
                    // engine's choosing: a port no one can know in advance.
                    walker.warn(
                        &here,
                        "no host port: exposed to the block's networks, not published \
                         (write 'HOST:CONTAINER' to publish it)",
                    );
                }
                out.extend(mappings);
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
    let mut disable = false;
    for (key, value) in mapping(value, path)? {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "test" => check.test = Some(health_test(value, &here)?),
            "interval" => check.interval = Some(duration(value, &here)?),
            "timeout" => check.timeout = Some(duration(value, &here)?),
            "start_period" => check.start_period = Some(duration(value, &here)?),
            "retries" => {
                check.retries = Some(integer_in(value, &here, "0 to 4294967295")?);
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
fn health_test(value: &Value, path: &str) -> Result<HealthTest, ComposeError> {
    let Value::Array(items) = value else {
        return Ok(HealthTest::Shell(scalar(value, path)?));
    };
    let words = items
        .iter()
        .enumerate()
        .map(|(i, item)| scalar(item, &format!("{path}[{i}]")))
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

/// Whether it chose the update strategy.
fn osb_extension(value: &Value, path: &str, block: &mut Block) -> Result<bool, ComposeError> {
    let extension: OsbExtension = serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let here = if matches!(inner.as_str(), "." | "?") {
            path.to_owned()
        } else {
            format!("{path}.{inner}")
        };
        invalid(&here, e.into_inner())
    })?;
    let chose = extension.update_strategy.is_some();
    if let Some(strategy) = extension.update_strategy {
        block.update_strategy = strategy;
    }
    block.time = extension.time;
    block.requires = extension.requires;
    block.plugins = extension.plugins;
    Ok(chose)
}
