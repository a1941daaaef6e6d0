//! `plugin.toml`: what a plugin says it is and what it asks for.
//!
//! Parsing is strict (`deny_unknown_fields`): a misspelt capability must not
//! silently become "no capability", and every error names the field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::api::ApiVersion;

pub use osb_state::name::PluginName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
/// How a granted directory may be used.
pub enum FsMode {
    /// `ro`: the guest may only read.
    #[serde(rename = "ro")]
    ReadOnly,
    /// `rw`: the guest may also create, write and remove, within the
    /// plugin's filesystem quota.
    #[serde(rename = "rw")]
    ReadWrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// A socket's transport.
pub enum NetProtocol {
    /// TCP, connecting out only: no plugin listens.
    Tcp,
    /// UDP datagrams to and from the granted address.
    Udp,
}

/// What a plugin is for; it selects the WIT world the component must export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// `time-source`: says where the true time lies, as an interval.
    TimeSource,
    /// `hardware-adapter`: board support; describes the device and exposes
    /// its sensors and controls.
    HardwareAdapter,
    /// `contract-policy`: decides whether an app release may run on this
    /// device.
    ContractPolicy,
    /// `migration-step`: one step of a migration between OS releases.
    MigrationStep,
}

impl PluginKind {
    /// The name `plugin.toml` uses. Its functions are listed by its module
    /// under `kinds/` ([`PluginKind::functions`]).
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::TimeSource => "time-source",
            PluginKind::HardwareAdapter => "hardware-adapter",
            PluginKind::ContractPolicy => "contract-policy",
            PluginKind::MigrationStep => "migration-step",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parsed `plugin.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name; its component is `<name>.wasm` beside the manifest.
    pub name: PluginName,
    /// This package's version; rollback protection refuses one older than
    /// the newest the device has run.
    pub version: semver::Version,
    /// What the plugin is for, and so the world its component must export.
    pub kind: PluginKind,
    /// The `osb:plugin` WIT version the component targets.
    pub api: ApiVersion,
    /// Free text for `osb plugin inspect`; empty if absent.
    #[serde(default)]
    pub description: String,
    /// What the plugin asks for. It gets no more, and only what the device
    /// config also grants.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Defaults for the plugin's configuration; the device config overrides them.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// Capabilities, as requested by a manifest or granted by the device config.
/// Everything absent is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Host directories the guest sees, each at its own guest path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fs: Vec<FsCapability>,
    /// Socket addresses the guest may connect or send to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub net: Vec<NetCapability>,
    /// URL prefixes, e.g. `https://time.example.com/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
    /// Device names, resolved by the device config's `[devices]` table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device: Vec<String>,
    /// A key-value store of the plugin's own, kept under the state
    /// directory across restarts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kv: bool,
    /// For a `contract-policy` plugin: its allow lets a *draft* release run
    /// on a device outside development mode. Without it a policy still
    /// decides on drafts (its deny holds one), but its allow does not make
    /// a draft runnable. The release's contract says which it is
    /// (`data.status`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drafts: bool,
    /// For a `contract-policy` plugin: the hardware adapter's sensors whose
    /// readings it is told with the device (children of type `hw.sensor`).
    /// A manifest may ask for `*`, whichever the device grants; a device
    /// config grants ids. Only granted sensors are read at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensors: Vec<crate::sensor::SensorPattern>,
}

/// A host directory seen by the guest at `guest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsCapability {
    /// The directory on the device; absolute.
    pub host: PathBuf,
    /// Where the guest sees it: absolute, with no `..`.
    pub guest: String,
    /// Whether the guest may write in it.
    pub mode: FsMode,
}

/// One socket address a plugin may talk to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetCapability {
    /// The remote address and port.
    pub addr: std::net::SocketAddr,
    /// The transport allowed to it.
    pub protocol: NetProtocol,
}

impl Manifest {
    /// Parses and validates `plugin.toml` text. The error text names the field.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        manifest.capabilities.validate()?;
        Ok(manifest)
    }
}

impl Capabilities {
    /// Checks what serde cannot: absolute paths, URL shapes.
    pub fn validate(&self) -> Result<(), String> {
        for (i, fs) in self.fs.iter().enumerate() {
            if !fs.host.is_absolute() {
                return Err(format!(
                    "capabilities.fs[{i}].host: '{}' must be an absolute path",
                    fs.host.display()
                ));
            }
            if !fs.guest.starts_with('/') || fs.guest.split('/').any(|c| c == "..") {
                return Err(format!(
                    "capabilities.fs[{i}].guest: '{}' must be absolute and hold no '..'",
                    fs.guest
                ));
            }
        }
        for (i, prefix) in self.http.iter().enumerate() {
            let scheme_ok = prefix.starts_with("https://") || prefix.starts_with("http://");
            let host_part = prefix.split("://").nth(1).unwrap_or("");
            if let Err(reason) = super::http_url::normalised_url(prefix) {
                return Err(format!("capabilities.http[{i}]: {reason}"));
            }
            if !scheme_ok || host_part.is_empty() || !host_part.contains('/') {
                return Err(format!(
                    "capabilities.http[{i}]: '{prefix}' must be an http(s) URL prefix with a path, \
                     such as 'https://host/' (a bare host would also match 'https://host.evil/')"
                ));
            }
        }
        for (i, name) in self.device.iter().enumerate() {
            if PluginName::new(name).is_err() {
                return Err(format!(
                    "capabilities.device[{i}]: '{name}' is not a device name ([a-z0-9-])"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "time-fake-hwclock"
version = "0.1.0"
kind = "time-source"
api = "0.1.0"

[capabilities]
fs = [{ host = "/var/lib/osb/hwclock", guest = "/data", mode = "rw" }]
net = [{ addr = "127.0.0.1:123", protocol = "udp" }]
http = ["https://time.example.com/"]
kv = true

[config]
path = "/data/fake-hwclock"
"#;

    fn check_err(text: &str, expect: &str) {
        let err = Manifest::parse(text).expect_err("manifest should be refused");
        assert!(
            err.contains(expect),
            "error {err:?} does not mention {expect:?}"
        );
    }

    #[test]
    fn parses_a_full_manifest() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.name.as_str(), "time-fake-hwclock");
        assert_eq!(m.kind, PluginKind::TimeSource);
        assert_eq!(m.capabilities.fs[0].mode, FsMode::ReadWrite);
        assert!(m.capabilities.kv);
        assert_eq!(m.config["path"], "/data/fake-hwclock");
    }

    #[test]
    fn refuses_bad_manifests_naming_the_field() {
        let base = "version = \"0.1.0\"\nkind = \"time-source\"\napi = \"0.1.0\"\n";
        check_err(&format!("name = \"Bad_Name\"\n{base}"), "name");
        check_err(&format!("name = \"a\"\n{base}colour = 1\n"), "colour");
        check_err(
            "name = \"a\"\nversion = \"one\"\nkind = \"time-source\"\napi = \"0.1.0\"\n",
            "version",
        );
        check_err(
            "name = \"a\"\nversion = \"0.1.0\"\nkind = \"toaster\"\napi = \"0.1.0\"\n",
            "kind",
        );
        check_err(
            &format!(
                "name = \"a\"\n{base}[capabilities]\nfs = [{{ host = \"rel\", guest = \"/d\", mode = \"ro\" }}]\n"
            ),
            "capabilities.fs[0].host",
        );
        check_err(
            &format!(
                "name = \"a\"\n{base}[capabilities]\nfs = [{{ host = \"/x\", guest = \"/d/../..\", mode = \"ro\" }}]\n"
            ),
            "capabilities.fs[0].guest",
        );
        check_err(
            &format!("name = \"a\"\n{base}[capabilities]\nhttp = [\"https://example.com\"]\n"),
            "capabilities.http[0]",
        );
        check_err(
            &format!("name = \"a\"\n{base}[capabilities]\nnetwork = true\n"),
            "network",
        );
        check_err("name = \"a\"\n", "version");
    }
}
