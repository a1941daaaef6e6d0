//! The value types of a block's container settings: what compose calls
//! `privileged`, `cap_add`, `devices`, `ulimits`, `network_mode`, ... Each
//! checks on reading what the engine would otherwise refuse only when the
//! container is created (a capability that does not exist, a device
//! permission that is not `rwm`, a ulimit with its soft limit above the
//! hard one), so a release that cannot run is refused before anything of it
//! is applied. The fields themselves are on [`Block`](super::target::Block).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::mount::AbsPath;
use super::name::{BlockName, checked_string};

/// The Linux capabilities (capabilities(7)), without their `CAP_` prefix:
/// the engine refuses any other name at create time.
pub const CAPABILITIES: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

fn check_capability(text: &str) -> Result<String, String> {
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" || CAPABILITIES.contains(&bare) {
        Ok(bare.to_owned())
    } else {
        Err(format!(
            "unknown capability '{text}' (a name from capabilities(7), e.g. NET_ADMIN, or ALL)"
        ))
    }
}

checked_string!(
    /// A Linux capability, stored without its `CAP_` prefix and uppercase
    /// (`net_admin` and `CAP_NET_ADMIN` read as `NET_ADMIN`), or `ALL`.
    Capability,
    check_capability,
    "A capability from capabilities(7), with or without 'CAP_', or 'ALL'."
);

impl Capability {
    /// Whether this is `ALL`.
    pub fn is_all(&self) -> bool {
        self.0 == "ALL"
    }
}

/// The cgroup device permissions: some of `r`, `w`, `m`, each once.
fn check_permissions(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        && text
            .chars()
            .enumerate()
            .all(|(i, c)| !text[..i].contains(c));
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "invalid device permissions '{text}' (some of r, w and m, each once)"
        ))
    }
}

checked_string!(
    /// Device cgroup permissions: some of `r` (read), `w` (write), `m`
    /// (mknod), each once.
    DevicePermissions,
    check_permissions,
    "Some of r, w and m, each once."
);

impl Default for DevicePermissions {
    fn default() -> Self {
        DevicePermissions("rwm".to_owned())
    }
}

fn is_rwm(p: &DevicePermissions) -> bool {
    p.0 == "rwm"
}

/// A host device made visible in the container.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct DeviceMapping {
    /// The device node on the host (`/dev/ttyUSB0`).
    pub source: AbsPath,
    /// Where it appears in the container. Absent: the same path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<AbsPath>,
    /// What the container may do with it (default `rwm`).
    #[serde(default, skip_serializing_if = "is_rwm")]
    pub permissions: DevicePermissions,
}

impl DeviceMapping {
    /// The compose short syntax: `/dev/ttyUSB0`, `/dev/ttyUSB0:/dev/zigbee`,
    /// `/dev/ttyUSB0:/dev/zigbee:rw`.
    pub fn parse_short(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, permissions) = match parts.as_slice() {
            [source] => (*source, None, None),
            [source, target] => (*source, Some(*target), None),
            [source, target, permissions] => (*source, Some(*target), Some(*permissions)),
            _ => {
                return Err(format!(
                    "invalid device '{text}': expected host-path[:container-path[:permissions]]"
                ));
            }
        };
        Ok(DeviceMapping {
            source: AbsPath::new(source)?,
            target: target.map(AbsPath::new).transpose()?,
            permissions: permissions
                .map(DevicePermissions::new)
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// Where the device appears in the container.
    pub fn target_path(&self) -> &AbsPath {
        self.target.as_ref().unwrap_or(&self.source)
    }
}

/// `c 189:* rwm`: a device type (`a`, `b` or `c`), `major:minor` with `*`
/// for any, and permissions.
fn check_cgroup_rule(text: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "invalid device cgroup rule '{text}' (expected 'TYPE MAJOR:MINOR PERMS', e.g. 'c 189:* rmw')"
        )
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let [kind, numbers, permissions] = words.as_slice() else {
        return Err(bad());
    };
    let number = |n: &str| n == "*" || (!n.is_empty() && n.len() <= 10 && n.parse::<u32>().is_ok());
    let numbers_ok = numbers
        .split_once(':')
        .is_some_and(|(major, minor)| number(major) && number(minor));
    if !matches!(*kind, "a" | "b" | "c") || !numbers_ok || check_permissions(permissions).is_err() {
        return Err(bad());
    }
    Ok(words.join(" "))
}

checked_string!(
    /// A device cgroup rule: `c 189:* rwm`.
    DeviceCgroupRule,
    check_cgroup_rule,
    "A device cgroup rule: 'TYPE MAJOR:MINOR PERMS', e.g. 'c 189:* rmw'."
);

/// A container namespace it shares instead of having its own: `host`, or
/// `service:<block>` (another block of the same release).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SharedNamespace {
    /// The host's.
    Host,
    /// Its own, not shared (`ipc` only, the engine's default).
    Private,
    /// Its own, which others may join (`ipc` only).
    Shareable,
    /// That of another block of the release.
    Service(BlockName),
    /// None at all (`network_mode: none`: no network but loopback).
    None,
}

impl SharedNamespace {
    fn parse(text: &str, allowed: &[&str]) -> Result<Self, String> {
        let (word, parsed) = if let Some(block) = text.strip_prefix("service:") {
            (
                "service:",
                SharedNamespace::Service(BlockName::new(block).map_err(|e| e.to_string())?),
            )
        } else {
            let parsed = match text {
                "host" => SharedNamespace::Host,
                "private" => SharedNamespace::Private,
                "shareable" => SharedNamespace::Shareable,
                "none" => SharedNamespace::None,
                _ => SharedNamespace::None,
            };
            (text, parsed)
        };
        if allowed.contains(&word) {
            Ok(parsed)
        } else {
            let hint = if text.starts_with("container:") {
                " ('container:' names a container outside the release; use 'service:<block>')"
            } else {
                ""
            };
            Err(format!(
                "'{text}' is not supported{hint} (one of {})",
                allowed
                    .iter()
                    .map(|a| if *a == "service:" {
                        "service:<block>".to_owned()
                    } else {
                        (*a).to_owned()
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }

    /// The engine's form, with `service:<block>` still naming the block
    /// (the engine client turns it into `container:<name>`).
    pub fn as_string(&self) -> String {
        match self {
            SharedNamespace::Host => "host".to_owned(),
            SharedNamespace::Private => "private".to_owned(),
            SharedNamespace::Shareable => "shareable".to_owned(),
            SharedNamespace::None => "none".to_owned(),
            SharedNamespace::Service(block) => format!("service:{block}"),
        }
    }

    /// The block whose namespace it joins, if it joins one.
    pub fn service(&self) -> Option<&BlockName> {
        match self {
            SharedNamespace::Service(block) => Some(block),
            _ => None,
        }
    }
}

/// A namespace mode with the words one setting allows.
macro_rules! namespace_setting {
    ($(#[$doc:meta])* $name:ident, [$($word:literal),*]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub SharedNamespace);

        impl $name {
            /// The words this setting allows.
            pub const ALLOWED: &'static [&'static str] = &[$($word),*];

            /// Reads `text`: one of [`Self::ALLOWED`].
            pub fn parse(text: &str) -> Result<Self, String> {
                SharedNamespace::parse(text, Self::ALLOWED).map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0.as_string())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Cow::<str>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "description": concat!("One of: ", $($word, " ",)* "('service:' followed by a block name)."),
                })
            }
        }
    };
}

namespace_setting!(
    /// `network_mode`: `host`, `none` or `service:<block>`. Absent: the
    /// block joins its app's networks.
    NetworkMode,
    ["host", "none", "service:"]
);
namespace_setting!(
    /// `pid`: `host` or `service:<block>`.
    PidMode,
    ["host", "service:"]
);
namespace_setting!(
    /// `ipc`: `host`, `private`, `shareable` or `service:<block>`.
    IpcMode,
    ["host", "private", "shareable", "service:"]
);

/// The resource limits `ulimits` may set (those the engine knows).
pub const ULIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// One resource limit: soft at most hard, both at least -1 (unlimited).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Ulimit {
    /// The soft limit, which the process may raise up to `hard`.
    pub soft: i64,
    /// The hard limit.
    pub hard: i64,
}

/// CPU time, in CPUs (`1.5` is one and a half), stored as billionths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cpus(u64);

impl Cpus {
    /// Reads a positive number of CPUs, with at most nine decimals.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("invalid cpus '{text}' (a positive number, e.g. 0.5 or 2)");
        let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
        if fraction.len() > 9
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || (whole.is_empty() && fraction.is_empty())
        {
            return Err(bad());
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let fraction: u64 = format!("{fraction:0<9}").parse().map_err(|_| bad())?;
        let nanos = whole
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(fraction))
            .filter(|n| *n > 0)
            .ok_or_else(bad)?;
        Ok(Cpus(nanos))
    }

    /// Billionths of a CPU, the engine's `NanoCpus`.
    pub fn nanos(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1_000_000_000;
        let fraction = self.0 % 1_000_000_000;
        if fraction == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{fraction:09}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A number (`1.5`) or a string (`"1.5"`); the number's text is read
        // as written, so no float rounding decides the limit.
        let value = serde_json::Value::deserialize(d)?;
        let text = match &value {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.clone(),
            _ => return Err(serde::de::Error::custom("expected a number of CPUs")),
        };
        Cpus::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Cpus {
    fn schema_name() -> Cow<'static, str> {
        "Cpus".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["number", "string"],
            "description": "A positive number of CPUs, e.g. 0.5 or \"2\".",
        })
    }
}

/// `1-3,5`: CPU or memory node numbers and ranges.
fn check_cpuset(text: &str) -> Result<String, String> {
    let bad = || format!("invalid cpuset '{text}' (numbers and ranges, e.g. '0-3,5')");
    for part in text.split(',') {
        let (low, high) = part.split_once('-').unwrap_or((part, part));
        let low: u32 = low.parse().map_err(|_| bad())?;
        let high: u32 = high.parse().map_err(|_| bad())?;
        if low > high || high > 4095 {
            return Err(bad());
        }
    }
    Ok(text.to_owned())
}

checked_string!(
    /// CPUs a block may run on: `0-3,5`.
    CpuSet,
    check_cpuset,
    "CPU numbers and ranges, e.g. '0-3,5'."
);

/// A signal, as its name (`SIGTERM`, `TERM`) or number (`15`).
fn check_signal(text: &str) -> Result<String, String> {
    const NAMES: &[&str] = &[
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    if let Ok(n) = text.parse::<u8>() {
        return if (1..=64).contains(&n) {
            Ok(text.to_owned())
        } else {
            Err(format!("invalid signal number {n} (1 to 64)"))
        };
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = bare
        .strip_prefix("RTMIN+")
        .or_else(|| bare.strip_prefix("RTMAX-"))
        .is_some_and(|n| n.parse::<u8>().is_ok_and(|n| n <= 30));
    if NAMES.contains(&bare) || realtime || matches!(bare, "RTMIN" | "RTMAX") {
        Ok(format!("SIG{bare}"))
    } else {
        Err(format!(
            "unknown signal '{text}' (e.g. SIGTERM, SIGINT or 15)"
        ))
    }
}

checked_string!(
    /// The signal that stops a block: `SIGTERM`, `SIGINT`, `15`.
    StopSignal,
    check_signal,
    "A signal name (SIGTERM) or number (15)."
);

/// A host name: DNS labels of letters, digits and `-`, dot-separated.
fn check_hostname(text: &str) -> Result<String, String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if text.len() <= 253 && text.split('.').all(label_ok) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "invalid host name '{text}' (letters, digits and '-', in dot-separated labels of 1 to 63)"
        ))
    }
}

checked_string!(
    /// A host or domain name.
    HostName,
    check_hostname,
    "A host name: letters, digits and '-', in dot-separated labels."
);

/// `aa:bb:cc:dd:ee:ff`.
fn check_mac(text: &str) -> Result<String, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "invalid MAC address '{text}' (six hex pairs, e.g. 02:42:ac:11:00:02)"
        ))
    }
}

checked_string!(
    /// A MAC address.
    MacAddress,
    check_mac,
    "A MAC address: six hex pairs separated by ':'."
);

/// An `extra_hosts` address: an IP address, or `host-gateway` (the host as
/// the container's network sees it).
fn check_host_address(text: &str) -> Result<String, String> {
    if text == "host-gateway" || text.parse::<std::net::IpAddr>().is_ok() {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "invalid address '{text}' (an IP address or 'host-gateway')"
        ))
    }
}

checked_string!(
    /// An `extra_hosts` address: an IP address, or `host-gateway`.
    HostAddress,
    check_host_address,
    "An IP address, or 'host-gateway'."
);

/// A `security_opt` entry: `label=...`, `apparmor=...`, `seccomp=...`,
/// `no-new-privileges[=true|false]`, `systempaths=unconfined`.
fn check_security_opt(text: &str) -> Result<String, String> {
    // The engine also takes `key:value` (the old separator).
    let (key, value) = text
        .split_once('=')
        .or_else(|| text.split_once(':'))
        .unwrap_or((text, ""));
    let ok = match key {
        "no-new-privileges" => matches!(value, "" | "true" | "false"),
        "label" | "apparmor" | "seccomp" => !value.is_empty(),
        "systempaths" => value == "unconfined",
        _ => false,
    };
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "invalid security option '{text}' (label=..., apparmor=..., seccomp=..., no-new-privileges or systempaths=unconfined)"
        ))
    }
}

checked_string!(
    /// A security option: `no-new-privileges`, `apparmor=unconfined`, ...
    SecurityOpt,
    check_security_opt,
    "label=..., apparmor=..., seccomp=..., no-new-privileges[=true|false] or systempaths=unconfined."
);

/// The sysctls a container may set: those the kernel keeps per namespace.
/// Any other would change the host's, and the engine refuses it.
pub fn namespaced_sysctl(name: &str) -> bool {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    IPC.contains(&name) || name.starts_with("fs.mqueue.") || name.starts_with("net.")
}

/// How the engine keeps a block's logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// The log driver (`json-file`, `local`, `journald`, `none`, ...).
    pub driver: String,
    /// The driver's options (`max-size`, `max-file`, ...).
    #[serde(
        default,
        skip_serializing_if = "std::collections::BTreeMap::is_empty",
        deserialize_with = "super::unique::map"
    )]
    pub options: std::collections::BTreeMap<String, String>,
}

/// A working directory or other container path.
pub type ContainerPath = AbsPath;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_read_in_one_spelling() {
        for (input, expect) in [
            ("NET_ADMIN", "NET_ADMIN"),
            ("net_admin", "NET_ADMIN"),
            ("CAP_SYS_RAWIO", "SYS_RAWIO"),
            ("ALL", "ALL"),
        ] {
            assert_eq!(
                Capability::new(input).map(|c| c.to_string()),
                Ok(expect.to_owned())
            );
        }
        let err = Capability::new("NET_ADMINN").unwrap_err();
        assert!(err.contains("unknown capability 'NET_ADMINN'"), "{err}");
    }

    #[test]
    fn devices_read_as_compose_writes_them() {
        let d = DeviceMapping::parse_short("/dev/ttyUSB0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.target_path().as_str(), "/dev/ttyUSB0");
        assert_eq!(d.permissions.as_str(), "rwm");
        let d = DeviceMapping::parse_short("/dev/ttyUSB0:/dev/zigbee:rw")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.target_path().as_str(), "/dev/zigbee");
        assert_eq!(d.permissions.as_str(), "rw");
        for bad in [
            "ttyUSB0",
            "/dev/a:/dev/b:rx",
            "/dev/a:/dev/b:rr",
            "/a:/b:r:x",
        ] {
            assert!(DeviceMapping::parse_short(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cgroup_rules_and_cpusets() {
        assert_eq!(
            DeviceCgroupRule::new("c  189:*  rmw").map(|r| r.to_string()),
            Ok("c 189:* rmw".to_owned())
        );
        for bad in ["x 1:1 r", "c 1 r", "c 1:1", "c a:1 r", "c 1:1 rq"] {
            assert!(DeviceCgroupRule::new(bad).is_err(), "{bad}");
        }
        assert!(CpuSet::new("0-3,5").is_ok());
        for bad in ["", "3-1", "a", "0-", "1,,2"] {
            assert!(CpuSet::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespaces_allow_their_own_words() {
        assert_eq!(
            NetworkMode::parse("host").map(|m| m.0),
            Ok(SharedNamespace::Host)
        );
        assert!(NetworkMode::parse("private").is_err());
        assert!(PidMode::parse("none").is_err());
        assert_eq!(
            IpcMode::parse("service:db").map(|m| m.0.as_string()),
            Ok("service:db".to_owned())
        );
        let err = NetworkMode::parse("container:abc").unwrap_err();
        assert!(err.contains("use 'service:<block>'"), "{err}");
        assert!(NetworkMode::parse("service:Db").is_err());
        assert!(NetworkMode::parse("bridge").is_err());
    }

    #[test]
    fn cpus_are_exact() {
        for (input, nanos, shown) in [
            ("1.5", 1_500_000_000, "1.5"),
            ("2", 2_000_000_000, "2"),
            (".25", 250_000_000, "0.25"),
            ("0.000000001", 1, "0.000000001"),
        ] {
            let cpus = Cpus::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(cpus.nanos(), nanos, "{input}");
            assert_eq!(cpus.to_string(), shown);
        }
        for bad in [
            "0",
            "-1",
            "1e3",
            "",
            ".",
            "1.0000000001",
            "99999999999999999999",
        ] {
            assert!(Cpus::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signals_hosts_macs_and_options() {
        assert_eq!(
            StopSignal::new("term").map(|s| s.to_string()),
            Ok("SIGTERM".to_owned())
        );
        assert!(StopSignal::new("SIGRTMIN+3").is_ok());
        assert!(StopSignal::new("SIGFOO").is_err());
        assert!(StopSignal::new("65").is_err());
        assert!(HostName::new("gateway.local").is_ok());
        assert!(HostName::new("-bad").is_err());
        assert!(HostName::new("a_b").is_err());
        assert_eq!(
            MacAddress::new("02:42:AC:11:00:02").map(|m| m.to_string()),
            Ok("02:42:ac:11:00:02".to_owned())
        );
        assert!(MacAddress::new("02:42:ac:11:00").is_err());
        assert!(HostAddress::new("host-gateway").is_ok());
        assert!(HostAddress::new("10.0.0.300").is_err());
        assert!(SecurityOpt::new("no-new-privileges").is_ok());
        assert!(SecurityOpt::new("apparmor=unconfined").is_ok());
        assert!(SecurityOpt::new("seccomp").is_err());
        assert!(SecurityOpt::new("privileged=true").is_err());
        assert!(namespaced_sysctl("net.ipv4.ip_forward"));
        assert!(!namespaced_sysctl("kernel.panic"));
        assert!(!namespaced_sysctl("vm.swappiness"));
    }
}
