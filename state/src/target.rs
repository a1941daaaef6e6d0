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

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::duration::HumanDuration;
use super::image::ImageRef;
use super::mount::VolumeMount;
use super::name::{AppName, BlockName, NetworkName, PluginRef, VolumeName};
use super::port::PortMapping;
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
    /// Container labels. Names starting with `io.osb.` are the runtime's.
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
    /// When the engine restarts the block's container (default `always`).
    #[serde(default)]
    pub restart: RestartPolicy,
    /// How the engine checks the block's health. Absent: the image's own check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// How the block is replaced by a new version (default `download-then-kill`).
    #[serde(default)]
    pub update_strategy: UpdateStrategy,
    /// Contract requirements the device must meet to run the block, each an
    /// object in the shape of a contract's `requires` entry (`type`, `slug`,
    /// `version`, `or`, `not`). They are evaluated by the contract module.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<Requirement>,
    /// The clock the block needs before it starts. Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeRequirement>,
    /// Plugins the block is paired with, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginRef>,
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

/// The part of a block its container is made from. Dependencies, update
/// strategy, requirements, time and plugins decide when and how a container
/// runs, not what it is, so changing them restarts nothing.
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
}

impl Block {
    /// The hash of what this block's container is made from.
    pub fn config_hash(&self) -> ConfigHash {
        let config = ContainerConfig {
            // The canonical form, so respelling a reference restarts nothing.
            image: self.image.canonical(),
            command: &self.command,
            environment: &self.environment,
            labels: &self.labels,
            volumes: &self.volumes,
            networks: &self.networks,
            ports: &self.ports,
            restart: self.restart,
            healthcheck: &self.healthcheck,
        };
        // Maps are BTreeMaps and structs serialize in field order, so the
        // JSON, and with it the hash, is deterministic.
        let json = serde_json::to_vec(&config).unwrap_or_default();
        ConfigHash(hex::encode(Sha256::digest(&json)))
    }

    /// The networks the block joins, `default` if it names none.
    pub fn effective_networks(&self) -> Vec<NetworkName> {
        if self.networks.is_empty() {
            vec![NetworkName::default_network()]
        } else {
            self.networks.clone()
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
