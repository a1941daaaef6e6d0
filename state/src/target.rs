//! The target state: what the device should run, as typed data.
//!
//! JSON, versioned (`"version": 1`), strict: unknown fields and repeated keys
//! are refused, and every error names the field path
//! (`apps.main.release.blocks.web.image: invalid image reference ...`).
//! The format is documented in `docs/target-state.md`, and its JSON Schema
//! (`docs/target-state.schema.json`) is generated from these types.
//! Reading one, checks included, is [`TargetState::from_json`], in
//! [`validate`](super::validate): the checks read these types, so they
//! live on that side.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::duration::HumanDuration;
use super::image::ImageRef;
use super::kind::{BlockKind, OverlaySettings};
use super::mount::AbsPath;
use super::mount::VolumeMount;
use super::name::{AppName, BlockName, NetworkName, PluginRef, VolumeName};
use super::port::PortMapping;
use super::settings::{
    Capability, CpuSet, Cpus, DeviceCgroupRule, DeviceMapping, HostAddress, HostName, IpcMode,
    Logging, MacAddress, NetworkMode, PidMode, SecurityOpt, StopSignal, Ulimit,
};
use super::unique;

/// The target state format version this runtime reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// Everything the device should run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "OSB target state")]
pub struct TargetState {
    /// The format version: 1.
    pub version: FormatVersion,
    /// The apps the device should run, by name. An app left out is removed.
    #[serde(deserialize_with = "unique::map")]
    pub apps: BTreeMap<AppName, App>,
}

/// One app: a release of blocks, and the volumes and networks they share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// What the app is to the device.
    pub class: AppClass,
    /// The release to run.
    pub release: Release,
    /// Named volumes the app's blocks mount. They belong to the app, not the
    /// release, so their data outlives updates.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub volumes: BTreeMap<VolumeName, VolumeConfig>,
    /// Networks the app's blocks join. A block that names none joins the
    /// app's `default` network, which exists without being declared.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub networks: BTreeMap<NetworkName, NetworkConfig>,
}

/// What an app is to the device.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AppClass {
    /// The operating system's own blocks.
    Os,
    /// Services the device needs, below the user's apps (e.g. a VPN, a logger).
    System,
    /// A user application.
    App,
}

/// A release of an app: a version and its blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The release's version (semver).
    pub version: semver::Version,
    /// Whether the release is a draft or final (default `final`).
    #[serde(default)]
    pub status: ReleaseStatus,
    /// The release's blocks, by name.
    #[serde(deserialize_with = "unique::map")]
    pub blocks: BTreeMap<BlockName, Block>,
    /// The release's contract requirements (as balena's `balena.yml`
    /// `requires`), each in the shape of a contract's `requires` entry:
    /// when one does not hold on the device, the whole release is rejected
    /// and the app's running release stays.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<Requirement>,
    /// How long the release has, once applied, to be validated: every
    /// block up (healthy where it has a health check, exited 0 where it
    /// runs once) and every `role: test` block passed. A release not
    /// validated in time is rolled back to the app's last validated
    /// release. Absent: 2 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_window: Option<HumanDuration>,
}

impl Release {
    /// The validation window when the release does not set one.
    pub const DEFAULT_VALIDATION_WINDOW: std::time::Duration = std::time::Duration::from_secs(120);

    /// How long the release has to be validated once applied.
    pub fn validation_window(&self) -> std::time::Duration {
        self.validation_window
            .map_or(Self::DEFAULT_VALIDATION_WINDOW, |w| w.get())
    }

    /// Whether any block is a test block.
    pub fn has_tests(&self) -> bool {
        self.blocks.values().any(|b| b.role == BlockRole::Test)
    }
}

/// What a block is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BlockRole {
    /// Part of what the release runs.
    #[default]
    Service,
    /// A check of the release, run once while it is validated.
    Test,
}

impl BlockRole {
    /// Whether this is the default role.
    pub fn is_service(&self) -> bool {
        *self == BlockRole::Service
    }
}

/// Whether a release is a draft or final.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseStatus {
    /// Under test; policy may keep it off production devices.
    Draft,
    /// Released.
    #[default]
    Final,
}

impl ReleaseStatus {
    /// The status as the target names it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Draft => "draft",
            ReleaseStatus::Final => "final",
        }
    }
}

/// One block: a container and how to run and update it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// The image to run.
    pub image: ImageRef,
    /// The command, in exec form. Absent: the image's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub environment: BTreeMap<String, String>,
    /// Container labels. Names starting with `io.osb.` are the runtime's,
    /// except the feature labels `io.osb.features.*` (as balena's
    /// `io.balena.features.*`: host access by name, see
    /// `docs/host-access.md`).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub labels: BTreeMap<String, String>,
    /// What the block mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeMount>,
    /// The app networks the block joins. Empty: the app's `default` network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkName>,
    /// Ports the block exposes or publishes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    /// Blocks of the same release this one starts after, and what each must
    /// have reached first.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub depends_on: BTreeMap<BlockName, DependsCondition>,
    /// When the engine restarts the block's container. Absent: `always`,
    /// except for a block another waits on to complete, which runs once
    /// (`no`), as compose does; [`Block::restart`] gives the policy, and a
    /// target read by this crate has it filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// How the engine checks the block's health. Absent: the image's own check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// How the block is replaced by a new version (default `download-then-kill`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub update_strategy: UpdateStrategy,
    /// The device must reboot once a new container of the block is in
    /// place (balena's `io.balena.update.requires-reboot`): the apply
    /// reports the reboot as due, and the daemon runs the device config's
    /// `[device] reboot_command` once, after the reconcile that installed
    /// it. Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_reboot: bool,
    /// Contract requirements the device must meet to run the block, each an
    /// object in the shape of a contract's `requires` entry (`type`, `slug`,
    /// `version`, `or`, `not`). They are evaluated by the contract module.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<Requirement>,
    /// When the block's `requires` do not hold on the device, leave the
    /// block out (and report it) rather than reject the release (balena's
    /// `io.balena.features.optional`). A block another needs (by
    /// `depends_on` or a `service:` namespace) cannot be left out: the
    /// release is rejected then. Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// What the block is for: `service` (the default), or `test`: a check
    /// of its release, run once while the release is validated, after the
    /// release's other blocks are up; exit code 0 passes. A test block runs
    /// at no other time, runs once (`restart: no`), and no block may depend
    /// on it.
    #[serde(default, skip_serializing_if = "BlockRole::is_service")]
    pub role: BlockRole,
    /// What the block is to the device: `service` (a container), `overlay`
    /// (files stacked over the root filesystem at boot) or `hostapp` (the
    /// host OS's root filesystem, written into the inactive slot). Only an
    /// `os` app holds overlays and a hostapp, at most one hostapp per
    /// release. Absent: what the image's `io.osb.image.class` (or
    /// `io.balena.image.class`) label says, else `service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<BlockKind>,
    /// An overlay's stacking and kernel (`kind: overlay` only); a field
    /// absent here is read from the image's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<OverlaySettings>,
    /// The clock the block needs before it starts. Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeRequirement>,
    /// Plugins the block is paired with, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginRef>,

    // What the container is allowed and given, as compose names it. Each is
    // checked against the device policy before anything is applied.
    /// Every capability, every device, no confinement.
    #[serde(default, skip_serializing_if = "is_default")]
    pub privileged: bool,
    /// The network namespace: the host's, none, or another block's. Absent:
    /// the block joins its app's networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// The process namespace: the host's or another block's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<PidMode>,
    /// The IPC namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<IpcMode>,
    /// Capabilities added to the engine's default set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<Capability>,
    /// Capabilities taken from the engine's default set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<Capability>,
    /// Host devices made visible in the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceMapping>,
    /// Device cgroup rules (`c 189:* rmw`): devices the block may use that
    /// appear after it starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<DeviceCgroupRule>,
    /// Security options: `no-new-privileges`, `apparmor=...`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<SecurityOpt>,
    /// Kernel parameters of the block's own namespaces (`net.*`, IPC ones).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub sysctls: BTreeMap<String, String>,
    /// Resource limits, by name (`nofile`, `memlock`, ...).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub ulimits: BTreeMap<String, Ulimit>,
    /// The size of `/dev/shm`, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    /// The root filesystem read-only.
    #[serde(default, skip_serializing_if = "is_default")]
    pub read_only: bool,
    /// The user (and group) the process runs as: `1000`, `1000:1000`, `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Supplementary groups, by name or number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// The working directory. Absent: the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<AbsPath>,
    /// The entrypoint, in exec form. Absent: the image's; `[]` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The container's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<HostName>,
    /// The container's domain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<HostName>,
    /// DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<IpAddr>,
    /// DNS search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<HostName>,
    /// resolv.conf options (`ndots:2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    /// Extra `/etc/hosts` entries: host name to address.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub extra_hosts: BTreeMap<HostName, HostAddress>,
    /// The MAC address on the block's first network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<MacAddress>,
    /// Run an init process as PID 1 that reaps zombies and forwards signals.
    #[serde(default, skip_serializing_if = "is_default")]
    pub init: bool,
    /// Give the process a terminal.
    #[serde(default, skip_serializing_if = "is_default")]
    pub tty: bool,
    /// Keep standard input open.
    #[serde(default, skip_serializing_if = "is_default")]
    pub stdin_open: bool,
    /// The signal that stops the block. Absent: the image's, or SIGTERM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<StopSignal>,
    /// How long the block may take to stop before it is killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<HumanDuration>,
    /// Never kill the block when memory runs out (needs `mem_limit`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub oom_kill_disable: bool,
    /// The kernel's OOM score adjustment, -1000 to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i16>,
    /// Memory limit, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<u64>,
    /// Memory soft limit, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<u64>,
    /// Memory plus swap limit, in bytes; -1 for unlimited swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<i64>,
    /// CPU time, in CPUs (`1.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    /// Relative CPU weight (the engine's default is 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u32>,
    /// CPU time per 100 ms period, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<u32>,
    /// The CPUs the block may run on (`0-3,5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<CpuSet>,
    /// The OCI runtime (`runc`, `nvidia`). Absent: the engine's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// How the engine keeps the block's logs. Absent: the engine's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
}

/// What a dependency must have reached before the dependent block starts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DependsCondition {
    /// Its container has been started.
    Started,
    /// Its container is running and its healthcheck passes.
    Healthy,
    /// Its container has run to completion with exit code 0.
    Completed,
}

impl DependsCondition {
    /// The condition as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DependsCondition::Started => "started",
            DependsCondition::Healthy => "healthy",
            DependsCondition::Completed => "completed",
        }
    }
}

/// When the engine restarts a block's container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never.
    No,
    /// Always, the default: a device has no one to restart things by hand.
    #[default]
    Always,
    /// When it exits with a non-zero code.
    OnFailure,
    /// Always, unless it was stopped on purpose.
    UnlessStopped,
}

impl RestartPolicy {
    /// The policy as written.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }
}

/// How the engine checks a block's health.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// The check. Absent: the image's own check, with the timings below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<HealthTest>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
    /// How long one check may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// Consecutive failures before the block is unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Time after start during which failures do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<HumanDuration>,
}

impl Healthcheck {
    /// Whether the check is turned off (so the block can never be healthy).
    pub fn is_disabled(&self) -> bool {
        matches!(self.test, Some(HealthTest::Disabled))
    }
}

/// A health check command.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum HealthTest {
    /// Run this program with these arguments (`{"cmd": ["curl", "-f", "http://localhost/"]}`).
    Cmd(Vec<String>),
    /// Run this through the container's shell (`{"shell": "curl -f http://localhost/ || exit 1"}`).
    Shell(String),
    /// No check, even if the image has one (`"none"`).
    #[serde(rename = "none")]
    Disabled,
}

/// How a block is replaced when its definition changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum UpdateStrategy {
    /// Fetch the new image while the old container runs, then stop and
    /// remove the old one and start the new: short downtime, disk for both
    /// images.
    #[default]
    DownloadThenKill,
    /// Stop and remove the old container first, then fetch and start the
    /// new: for devices short of disk, at the cost of downtime while fetching.
    KillThenDownload,
    /// Start the new container beside the old one, then stop the old: no
    /// downtime, for blocks that can run twice for a while.
    HandOver {
        /// How long the old container may keep running once the new one is
        /// up, to hand its work over, before it is stopped.
        timeout: HumanDuration,
    },
}

/// One contract requirement, kept as the object it was written as until the
/// contract module evaluates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Requirement(pub serde_json::Map<String, serde_json::Value>);

/// The clock a block needs before it starts, as the time service reports it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TimeRequirement {
    /// A clock known to within minutes (e.g. from an HTTP `Date` header).
    Coarse,
    /// A clock synchronised to within the time service's bound (e.g. NTP).
    Synced,
}

impl TimeRequirement {
    /// The requirement as written.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeRequirement::Coarse => "coarse",
            TimeRequirement::Synced => "synced",
        }
    }
}

/// A named volume's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    /// The volume driver. Absent: the engine's default (`local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Options passed to the driver.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub driver_opts: BTreeMap<String, String>,
    /// Labels on the volume. Names starting with `io.osb.` are the runtime's.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub labels: BTreeMap<String, String>,
}

/// A network's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The network driver. Absent: the engine's default (`bridge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Options passed to the driver.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub driver_opts: BTreeMap<String, String>,
    /// No route outside the network.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// Labels on the network. Names starting with `io.osb.` are the runtime's.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub labels: BTreeMap<String, String>,
}

/// The format version marker: always [`FORMAT_VERSION`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FormatVersion;

impl Serialize for FormatVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(FORMAT_VERSION)
    }
}

impl<'de> Deserialize<'de> for FormatVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            FORMAT_VERSION => Ok(FormatVersion),
            other => Err(serde::de::Error::custom(unsupported_version(other))),
        }
    }
}

pub(crate) fn unsupported_version(found: u64) -> String {
    format!(
        "unsupported target state version {found} (this runtime reads version {FORMAT_VERSION})"
    )
}

impl JsonSchema for FormatVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FormatVersion".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "const": FORMAT_VERSION, "description": "The format version: 1." })
    }
}

impl App {
    /// The hash of what `block`'s container is made from, within this app:
    /// its own [`Block::config_hash`], and, for a block that joins another's
    /// namespace, that block's container hash too, so that it is recreated
    /// whenever the container whose namespace it shares is (the old one's
    /// namespace goes with it). `None` for a block the release lacks.
    pub fn container_hash(&self, block: &BlockName) -> Option<ConfigHash> {
        self.container_hash_within(block, 0)
    }

    fn container_hash_within(&self, name: &BlockName, depth: usize) -> Option<ConfigHash> {
        let block = self.release.blocks.get(name)?;
        let own = block.config_hash();
        let joined = block.joined_blocks();
        // Validation refuses cycles (a join is a dependency); the bound
        // keeps an unvalidated app from recursing without end.
        if joined.is_empty() || depth > self.release.blocks.len() {
            return Some(own);
        }
        let mut hasher = Sha256::new();
        hasher.update(own.as_str());
        for other in joined {
            hasher.update(other.as_str());
            if let Some(hash) = self.container_hash_within(other, depth + 1) {
                hasher.update(hash.as_str());
            }
        }
        Some(ConfigHash(hex::encode(hasher.finalize())))
    }
}

impl TargetState {
    /// The target state as pretty-printed JSON, in the format it is read in.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A hash of what a block's container is made from. It is stored in the
/// container's `io.osb.config-hash` label; a container whose hash differs
/// from its target block's is recreated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigHash(String);

impl ConfigHash {
    /// Reads a hash from a label value: 64 lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| ConfigHash(text.to_owned()))
    }

    /// The full hash, as stored in the label.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, for names and messages.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The part of a block its container is made from: the block less the
/// fields that decide when and how a container runs, not what it is
/// (dependencies, update strategy, requirements, time and plugins), so
/// changing those restarts nothing.
///
/// Fields left at their default are not serialized, so a field added later
/// leaves the hash of every block that does not use it unchanged (and an
/// upgrade of the runtime recreates nothing).
#[derive(Serialize)]
struct ContainerConfig<'a> {
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: &'a Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    volumes: &'a [VolumeMount],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    networks: &'a [NetworkName],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    ports: &'a [PortMapping],
    restart: RestartPolicy,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: &'a Option<Healthcheck>,
    /// Everything added since: serialized as the block serializes it (each
    /// skipped at its default).
    #[serde(flatten)]
    settings: ContainerSettings<'a>,
}

/// The container settings of [`Block`], borrowed, serialized as the block
/// serializes them.
#[derive(Serialize)]
struct ContainerSettings<'a> {
    #[serde(skip_serializing_if = "is_false")]
    privileged: &'a bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_mode: &'a Option<NetworkMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: &'a Option<PidMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipc: &'a Option<IpcMode>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    cap_add: &'a [Capability],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    cap_drop: &'a [Capability],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    devices: &'a [DeviceMapping],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    device_cgroup_rules: &'a [DeviceCgroupRule],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    security_opt: &'a [SecurityOpt],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    sysctls: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    ulimits: &'a BTreeMap<String, Ulimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shm_size: &'a Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    read_only: &'a bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: &'a Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    group_add: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: &'a Option<AbsPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entrypoint: &'a Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: &'a Option<HostName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domainname: &'a Option<HostName>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    dns: &'a [IpAddr],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    dns_search: &'a [HostName],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    dns_opt: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extra_hosts: &'a BTreeMap<HostName, HostAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac_address: &'a Option<MacAddress>,
    #[serde(skip_serializing_if = "is_false")]
    init: &'a bool,
    #[serde(skip_serializing_if = "is_false")]
    tty: &'a bool,
    #[serde(skip_serializing_if = "is_false")]
    stdin_open: &'a bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_signal: &'a Option<StopSignal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_grace_period: &'a Option<HumanDuration>,
    #[serde(skip_serializing_if = "is_false")]
    oom_kill_disable: &'a bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    oom_score_adj: &'a Option<i16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mem_limit: &'a Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mem_reservation: &'a Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memswap_limit: &'a Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpus: &'a Option<Cpus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_shares: &'a Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_quota: &'a Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpuset: &'a Option<CpuSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logging: &'a Option<Logging>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn is_false(value: &&bool) -> bool {
    !**value
}

impl Block {
    /// The hash of what this block's container is made from.
    pub fn config_hash(&self) -> ConfigHash {
        // Destructured without `..`: a field added to `Block` does not
        // compile until it is put in the hash or left out on purpose here.
        let Block {
            image,
            command,
            environment,
            labels,
            volumes,
            networks,
            ports,
            depends_on: _,
            restart: _,
            healthcheck,
            update_strategy: _,
            // What happens after the container is in place, not the
            // container itself.
            requires_reboot: _,
            requires: _,
            optional: _,
            // A role changed is a block that comes or goes, not a
            // container to recreate.
            role: _,
            // Neither an overlay nor a hostapp is a container; which
            // image is installed is what the planner compares for them.
            kind: _,
            overlay: _,
            time: _,
            plugins: _,
            privileged,
            network_mode,
            pid,
            ipc,
            cap_add,
            cap_drop,
            devices,
            device_cgroup_rules,
            security_opt,
            sysctls,
            ulimits,
            shm_size,
            read_only,
            user,
            group_add,
            working_dir,
            entrypoint,
            hostname,
            domainname,
            dns,
            dns_search,
            dns_opt,
            extra_hosts,
            mac_address,
            init,
            tty,
            stdin_open,
            stop_signal,
            stop_grace_period,
            oom_kill_disable,
            oom_score_adj,
            mem_limit,
            mem_reservation,
            memswap_limit,
            cpus,
            cpu_shares,
            cpu_quota,
            cpuset,
            runtime,
            logging,
        } = self;
        let config = ContainerConfig {
            // The canonical form, so respelling a reference restarts nothing.
            image: image.canonical(),
            command,
            environment,
            labels,
            volumes,
            networks,
            ports,
            restart: self.restart(),
            healthcheck,
            settings: ContainerSettings {
                privileged,
                network_mode,
                pid,
                ipc,
                cap_add,
                cap_drop,
                devices,
                device_cgroup_rules,
                security_opt,
                sysctls,
                ulimits,
                shm_size,
                read_only,
                user,
                group_add,
                working_dir,
                entrypoint,
                hostname,
                domainname,
                dns,
                dns_search,
                dns_opt,
                extra_hosts,
                mac_address,
                init,
                tty,
                stdin_open,
                stop_signal,
                stop_grace_period,
                oom_kill_disable,
                oom_score_adj,
                mem_limit,
                mem_reservation,
                memswap_limit,
                cpus,
                cpu_shares,
                cpu_quota,
                cpuset,
                runtime,
                logging,
            },
        };
        // Maps are BTreeMaps and structs serialize in field order, so the
        // JSON, and with it the hash, is deterministic.
        let json = serde_json::to_vec(&config).unwrap_or_default();
        ConfigHash(hex::encode(Sha256::digest(&json)))
    }

    /// When the engine restarts the block's container: as written, else
    /// `always` (a target read by this crate has the one-shot default
    /// filled in: see [`Block::restart`]'s field).
    pub fn restart(&self) -> RestartPolicy {
        self.restart.unwrap_or_default()
    }

    /// A block with `image` and every other field at its default.
    pub fn new(image: ImageRef) -> Self {
        Block {
            image,
            command: None,
            environment: BTreeMap::new(),
            labels: BTreeMap::new(),
            volumes: Vec::new(),
            networks: Vec::new(),
            ports: Vec::new(),
            depends_on: BTreeMap::new(),
            restart: None,
            healthcheck: None,
            update_strategy: UpdateStrategy::default(),
            requires_reboot: false,
            requires: Vec::new(),
            optional: false,
            role: BlockRole::Service,
            kind: None,
            overlay: None,
            time: None,
            plugins: Vec::new(),
            privileged: false,
            network_mode: None,
            pid: None,
            ipc: None,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            devices: Vec::new(),
            device_cgroup_rules: Vec::new(),
            security_opt: Vec::new(),
            sysctls: BTreeMap::new(),
            ulimits: BTreeMap::new(),
            shm_size: None,
            read_only: false,
            user: None,
            group_add: Vec::new(),
            working_dir: None,
            entrypoint: None,
            hostname: None,
            domainname: None,
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_opt: Vec::new(),
            extra_hosts: BTreeMap::new(),
            mac_address: None,
            init: false,
            tty: false,
            stdin_open: false,
            stop_signal: None,
            stop_grace_period: None,
            oom_kill_disable: false,
            oom_score_adj: None,
            mem_limit: None,
            mem_reservation: None,
            memswap_limit: None,
            cpus: None,
            cpu_shares: None,
            cpu_quota: None,
            cpuset: None,
            runtime: None,
            logging: None,
        }
    }

    /// The blocks whose namespaces (network, process, IPC) this one joins
    /// (`network_mode: service:db`).
    pub fn joined_blocks(&self) -> Vec<&BlockName> {
        let mut joined: Vec<&BlockName> = [
            self.network_mode.as_ref().map(|m| &m.0),
            self.pid.as_ref().map(|m| &m.0),
            self.ipc.as_ref().map(|m| &m.0),
        ]
        .into_iter()
        .flatten()
        .filter_map(super::settings::SharedNamespace::service)
        .collect();
        joined.sort();
        joined.dedup();
        joined
    }

    /// The networks the block joins: `default` if it names none, none at
    /// all under a `network_mode` (the host's namespace, none, another
    /// block's), where the engine refuses endpoints.
    pub fn effective_networks(&self) -> Vec<NetworkName> {
        if self.network_mode.is_some() {
            Vec::new()
        } else if self.networks.is_empty() {
            vec![NetworkName::default_network()]
        } else {
            self.networks.clone()
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
