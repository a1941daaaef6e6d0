//! The device configuration (`/etc/osb/device.toml`): trust, grants, limits,
//! HTTPS roots, the time service, image registry logins, the policy on
//! what blocks may ask of the host, and the engine's health check.
//!
//! Development mode is a setting here (or `--development` / `OSB_DEVELOPMENT=1`
//! at run time): one image serves both, no rebuild.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::engine_health::EngineSettings;
use crate::time::TimeSettings;
use osb_engine::Registries;
use osb_plugin_host::host_api::device::{DeviceEndpoint, DeviceTable};
use osb_plugin_host::{
    HostSettings, HttpSettings, PluginLimits, PluginName, PluginSettings, PublicKey, TrustPolicy,
};
use osb_state::policy::Policy;

/// Where the device config is read from when no path is given; a missing
/// file there means defaults.
pub const DEFAULT_PATH: &str = "/etc/osb/device.toml";

/// `device.toml` as read: every key optional, an unknown one refused.
/// Only [`DeviceConfig::parse`] and [`DeviceConfig::load`] check what the
/// types cannot; a value built by hand is not checked.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Accept unsigned or badly signed plugin packages, loudly. Never in
    /// production.
    #[serde(default)]
    pub development: bool,
    /// The plugin packages, watched for new ones while the daemon runs
    /// (default `/var/lib/osb/plugins`). No plugin grant may overlap it.
    #[serde(default = "default_plugin_dir")]
    pub plugin_dir: PathBuf,
    /// The runtime's own state: compile cache, plugins' key-value store,
    /// block store, lock directories, time report (default `/var/lib/osb`).
    /// No plugin grant may hold it.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Keys a plugin package may be signed by (`ed25519:<hex>`); empty:
    /// only development mode loads plugins.
    #[serde(default)]
    pub trusted_keys: Vec<PublicKey>,
    /// Every plugin's limits, unless `plugins.NAME.limits` overrides them.
    #[serde(default)]
    pub limits: PluginLimits,
    /// The devices plugins may be granted, by the name a grant uses.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceEndpoint>,
    /// Per plugin: its grants, config overrides and limit overrides. A
    /// plugin absent here is granted nothing.
    #[serde(default)]
    pub plugins: BTreeMap<PluginName, PluginSettings>,
    /// `[http]`: CA files trusted beside the Mozilla roots for plugins'
    /// HTTPS requests.
    #[serde(default)]
    pub http: HttpSettings,
    /// `[time]`: the time service.
    #[serde(default)]
    pub time: TimeSettings,
    /// Logins for image registries, by registry host:
    /// `[registries."ghcr.io"] username = .., password = ..`.
    #[serde(default)]
    pub registries: Registries,
    /// `[policy]`: which privileges (a privileged container, the host's
    /// namespaces, devices, host paths, the engine's socket, ...) blocks
    /// may ask for, by app class and by app (`docs/host-access.md`).
    #[serde(default)]
    pub policy: Policy,
    /// `[device]`: what the device is (its contract, until a hardware
    /// adapter answers it) and how it is rebooted when a block asks.
    #[serde(default)]
    pub device: DeviceSection,
    /// `[engine]`: how the daemon checks that the container engine
    /// answers, and the command that brings it back when it does not.
    #[serde(default)]
    pub engine: EngineSettings,
    /// `[metrics]`: the sensors the daemon polls, and how often (none
    /// listed: none polled).
    #[serde(default)]
    pub metrics: crate::sensors::MetricsSettings,
}

/// `[device]` in `device.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSection {
    /// A contract file describing the device (`type: hw.device-type`, its
    /// slug and `data.arch`), read until a hardware adapter answers
    /// `device-contract`.
    #[serde(default)]
    pub contract: Option<PathBuf>,
    /// The command that reboots the device, run by the daemon once a block
    /// labelled `io.balena.update.requires-reboot` has been updated
    /// (`["systemctl", "reboot"]`). Empty: the reboot is only reported as
    /// due.
    #[serde(default)]
    pub reboot_command: Vec<String>,
}

fn default_plugin_dir() -> PathBuf {
    "/var/lib/osb/plugins".into()
}

fn default_state_dir() -> PathBuf {
    "/var/lib/osb".into()
}

/// The device config could not be read, or is invalid.
#[derive(Debug, thiserror::Error)]
#[error("device config '{}' is invalid: {reason}", path.display())]
pub struct ConfigError {
    /// The file read (or meant to be read).
    pub path: PathBuf,
    /// What is wrong, naming the key as it is spelled in the file
    /// (`time.poll_unsynced_ms must be at least 1`), or the IO error.
    pub reason: String,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            development: false,
            plugin_dir: default_plugin_dir(),
            state_dir: default_state_dir(),
            trusted_keys: Vec::new(),
            limits: PluginLimits::default(),
            devices: BTreeMap::new(),
            plugins: BTreeMap::new(),
            http: HttpSettings::default(),
            time: TimeSettings::default(),
            registries: Registries::default(),
            policy: Policy::default(),
            device: DeviceSection::default(),
            engine: EngineSettings::default(),
            metrics: crate::sensors::MetricsSettings::default(),
        }
    }
}

impl DeviceConfig {
    /// Parses and checks `text`, the contents of `path` (named in errors):
    /// limits, grants (none may overlap the runtime's own directories),
    /// `[http]`, `[time]`, `[registries]`, `[policy]` and `[engine]`.
    pub fn parse(text: &str, path: &Path) -> Result<DeviceConfig, ConfigError> {
        let err = |reason: String| ConfigError {
            path: path.to_owned(),
            reason,
        };
        let config: DeviceConfig = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        config
            .limits
            .validate()
            .map_err(|r| err(format!("limits.{r}")))?;
        for (name, p) in &config.plugins {
            p.grants
                .validate()
                .map_err(|r| err(format!("plugins.{name}.grants: {r}")))?;
            config
                .limits
                .overridden(&p.limits)
                .validate()
                .map_err(|r| err(format!("plugins.{name}.limits.{r}")))?;
        }
        osb_plugin_host::grants::check_device_grants(
            config.plugins.iter().map(|(name, p)| (name, &p.grants)),
            Some(&config.state_dir),
            &config.runtime_dirs(),
        )
        .map_err(err)?;
        config.http.validate().map_err(err)?;
        config.time.validate().map_err(err)?;
        config.registries.validate().map_err(err)?;
        config.policy.validate().map_err(err)?;
        config.engine.validate().map_err(err)?;
        config.metrics.validate().map_err(err)?;
        Ok(config)
    }

    /// Reads `path`; a missing file at the default path means defaults
    /// (production mode, nothing trusted, nothing granted).
    pub fn load(path: Option<&Path>) -> Result<DeviceConfig, ConfigError> {
        let (path, explicit) = match path {
            Some(p) => (p.to_owned(), true),
            None => (PathBuf::from(DEFAULT_PATH), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => DeviceConfig::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Ok(DeviceConfig::default())
            }
            Err(e) => Err(ConfigError {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// The runtime's own directories, which no plugin grant may overlap:
    /// the compile cache (native code the host loads), the block lock
    /// directories (mounted into containers), the plugin packages.
    fn runtime_dirs(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            (
                "the compile cache",
                self.state_dir.join(osb_plugin_host::CACHE_DIR),
            ),
            (
                "the block lock directories",
                self.state_dir.join(crate::apply::locks::LOCKS_DIR),
            ),
            ("plugin_dir", self.plugin_dir.clone()),
        ]
    }

    /// What the plugin host needs of this config; the pool limits are the
    /// host's defaults.
    pub fn host_settings(&self) -> HostSettings {
        HostSettings {
            trust: TrustPolicy {
                trusted_keys: self.trusted_keys.clone(),
                development: self.development,
            },
            plugins: self.plugins.clone(),
            limits: self.limits,
            state_dir: Some(self.state_dir.clone()),
            devices: DeviceTable(self.devices.clone()),
            http: self.http.clone(),
            ..HostSettings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_a_device_config() {
        let text = r#"
development = true
trusted_keys = ["ed25519:3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"]
[limits]
call_timeout_ms = 250
memory_mb = 16
[devices]
tpm0 = { socket = "/run/swtpm.sock" }
[plugins.time-fake-hwclock]
grants = { fs = [{ host = "/var/lib/osb/hwclock", guest = "/data", mode = "rw" }] }
config = { path = "/data/clock" }
"#;
        let c = DeviceConfig::parse(text, Path::new("device.toml")).unwrap();
        let s = c.host_settings();
        assert!(s.trust.development);
        assert_eq!(s.limits.timeout(), Duration::from_millis(250));
        assert_eq!(s.limits.memory_bytes(), 16 << 20);
        let name = PluginName::new("time-fake-hwclock").unwrap();
        assert_eq!(s.plugins[&name].config["path"], "/data/clock");
    }

    #[test]
    fn registry_logins_are_keyed_by_registry_host() {
        let text = r#"
[registries."ghcr.io"]
username = "device-7"
password = "ghp_secret"
[registries."127.0.0.1:5000"]
username = "u"
password = "p"
"#;
        let c = DeviceConfig::parse(text, Path::new("device.toml")).unwrap();
        let image = |r: &str| osb_state::ImageRef::parse(r).unwrap();
        let login = c.registries.for_image(&image("ghcr.io/org/app:1")).unwrap();
        assert_eq!(login.username, "device-7");
        assert_eq!(
            c.registries
                .for_image(&image("127.0.0.1:5000/app:1"))
                .map(|l| l.username.as_str()),
            Some("u")
        );
        assert!(c.registries.for_image(&image("busybox:1")).is_none());
    }

    #[test]
    fn parses_the_time_and_http_sections() {
        let text = r#"
[http]
ca_files = ["/etc/osb/lab-ca.pem"]
[time]
sources = ["time-ntp", "time-fake-hwclock"]
clock = "system"
synced_max_error_ms = 100
coarse_max_error_ms = 30000
poll_unsynced_ms = 500
poll_synced_ms = 128000
observe_interval_ms = 600000
drift_ppm = 50
origins = { "time-ntp" = "ntp-pool", "time-https" = "vendor-api" }
synced_min_origins = 3
plausible_span_days = 3650
"#;
        let c = DeviceConfig::parse(text, Path::new("device.toml")).unwrap();
        assert_eq!(
            c.host_settings().http.ca_files,
            [Path::new("/etc/osb/lab-ca.pem")]
        );
        let t = &c.time;
        assert_eq!(t.clock, crate::time::ClockKind::System);
        assert_eq!(
            t.sources
                .as_deref()
                .map(|s| s.iter().map(PluginName::as_str).collect::<Vec<_>>()),
            Some(vec!["time-ntp", "time-fake-hwclock"])
        );
        assert_eq!(
            (
                t.synced_max_error_ms,
                t.coarse_max_error_ms,
                t.poll_unsynced_ms,
                t.poll_synced_ms
            ),
            (100, 30_000, 500, 128_000)
        );
        assert_eq!((t.observe_interval_ms, t.drift_ppm), (600_000, 50));
        assert_eq!(
            t.origins
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            [("time-https", "vendor-api"), ("time-ntp", "ntp-pool")]
        );
        assert_eq!((t.synced_min_origins, t.plausible_span_days), (3, 3650));
        // Absent: the defaults, every time source, the virtual clock.
        let d = DeviceConfig::parse("", Path::new("device.toml")).unwrap();
        assert_eq!(d.time, TimeSettings::default());
        assert_eq!(d.time.sources, None);
        assert_eq!(d.time.clock, crate::time::ClockKind::Virtual);
        assert!(d.http.ca_files.is_empty());
    }

    #[test]
    fn parses_the_policy_section() {
        use osb_state::policy::{Privilege, Profile};
        let text = r#"
[policy]
profile = "strict"
[policy.classes.app]
allow = ["devices", "host-features"]
[policy.classes.system]
deny = ["engine-socket"]
[policy.apps.main]
allow = ["host-binds"]
deny = ["privileged"]
"#;
        let c = DeviceConfig::parse(text, Path::new("device.toml")).unwrap();
        let p = &c.policy;
        assert_eq!(p.profile, Profile::Strict);
        assert_eq!(
            p.classes.app.allow.iter().copied().collect::<Vec<_>>(),
            [Privilege::Devices, Privilege::HostFeatures]
        );
        assert!(p.classes.system.deny.contains(&Privilege::EngineSocket));
        let main = osb_state::AppName::new("main").unwrap();
        assert!(p.apps[&main].allow.contains(&Privilege::HostBinds));
        assert!(p.apps[&main].deny.contains(&Privilege::Privileged));
        // Absent: balena's posture.
        let d = DeviceConfig::parse("", Path::new("device.toml")).unwrap();
        assert_eq!(d.policy, Policy::default());
        assert_eq!(d.policy.profile, Profile::Default);
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let bad = [
            ("trusted_keys = [\"rsa:00\"]", "ed25519"),
            (
                "[plugins.x]\ngrants = { fs = [{ host = \"rel\", guest = \"/d\", mode = \"rw\" }] }",
                "plugins.x.grants",
            ),
            ("[plugins.Bad]\n", "Bad"),
            ("colour = 1", "colour"),
            ("[http]\nca_files = [\"ca.pem\"]", "http.ca_files"),
            ("[http]\nroots = []", "roots"),
            ("[time]\nclock = \"sytem\"", "clock"),
            ("[time]\nsynced_max_error_ms = -1", "synced_max_error_ms"),
            ("[time]\npoll_synced_ms = \"64s\"", "poll_synced_ms"),
            (
                "[time]\nsynced_max_error_ms = 5000\ncoarse_max_error_ms = 1000",
                "time.synced_max_error_ms",
            ),
            ("[time]\npoll_unsynced_ms = 0", "time.poll_unsynced_ms"),
            ("[time]\nsources = [\"Bad Name\"]", "sources"),
            ("[time]\nsauces = []", "sauces"),
            ("[limits]\nhandles = 0", "limits.handles"),
            (
                "[plugins.a.grants]\nfs = [{ host = \"/var/lib\", guest = \"/d\", mode = \"ro\" }]",
                "holds the runtime's state directory",
            ),
            ("[limits]\nmemroy_mb = 4", "memroy_mb"),
            (
                "[plugins.x.limits]\ncpu_percent = 400",
                "plugins.x.limits.cpu_percent",
            ),
            ("[time]\norigins = { \"Bad Name\" = \"x\" }", "Bad Name"),
            (
                "[time]\norigins = { time-ntp = \"\" }",
                "time.origins.time-ntp",
            ),
            ("[time]\nsynced_min_origins = 0", "time.synced_min_origins"),
            (
                "[time]\nplausible_span_days = 0",
                "time.plausible_span_days",
            ),
            (
                "[registries.\"https://ghcr.io\"]\nusername = \"u\"\npassword = \"p\"",
                "registries.\"https://ghcr.io\"",
            ),
            ("[registries.\"ghcr.io\"]\nusername = \"u\"", "password"),
            (
                "[registries.\"ghcr.io\"]\nusername = \"u\"\npassword = \"p\"\ntoken = \"t\"",
                "token",
            ),
            ("[policy]\nprofil = \"strict\"", "profil"),
            ("[policy]\nprofile = \"lax\"", "lax"),
            ("[policy.classes.app]\nallow = [\"privleged\"]", "privleged"),
            ("[policy.classes.fleet]\nallow = []", "fleet"),
            ("[policy.classes.app]\npermit = []", "permit"),
            ("[policy.apps.Main]\nallow = []", "Main"),
            (
                "[policy.apps.main]\nallow = [\"devices\"]\ndeny = [\"devices\"]",
                "policy.apps.main",
            ),
            ("[policy.apps.main]\nalow = [\"devices\"]", "alow"),
            ("[metrics]\ninterval = \"0s\"", "metrics.interval"),
            ("[metrics]\nsensors = [\"a\", \"a\"]", "metrics.sensors[1]"),
            ("[metrics]\nsensors = [\"\"]", "sensors"),
            ("[metrics]\nsenors = []", "senors"),
            (
                "[plugins.policy-thermal.grants]\nsensors = [\"*\"]",
                "plugins.policy-thermal.grants.sensors[0]",
            ),
            (
                "[plugins.policy-thermal.grants]\nsensors = [\"Tboard tegra\"]",
                "Tboard tegra",
            ),
        ];
        for (text, expect) in bad {
            let e = DeviceConfig::parse(text, Path::new("/etc/osb/device.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("/etc/osb/device.toml") && e.contains(expect),
                "{e}"
            );
        }
    }

    #[test]
    fn parses_the_device_section() {
        let text = r#"
[device]
contract = "/etc/osb/device-type.json"
reboot_command = ["systemctl", "reboot"]
"#;
        let c = DeviceConfig::parse(text, Path::new("device.toml")).unwrap();
        assert_eq!(
            c.device.contract.as_deref(),
            Some(Path::new("/etc/osb/device-type.json"))
        );
        assert_eq!(c.device.reboot_command, ["systemctl", "reboot"]);
        // Absent: no device contract, and reboots only reported.
        let d = DeviceConfig::parse("", Path::new("device.toml")).unwrap();
        assert_eq!(d.device, DeviceSection::default());
        let e = DeviceConfig::parse(
            "[device]\ncontarct = \"x\"",
            Path::new("/etc/osb/device.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/etc/osb/device.toml") && e.contains("contarct"),
            "{e}"
        );
    }

    #[test]
    fn parses_the_engine_section() {
        let text = r#"
[engine]
health_interval = "30s"
ping_timeout = "2s"
failures_before_recovery = 5
recovery_command = ["systemctl", "restart", "docker"]
recovery_timeout = "2m"
"#;
        let c = DeviceConfig::parse(text, Path::new("device.toml")).unwrap();
        let e = &c.engine;
        assert_eq!(
            (e.interval(), e.ping_deadline(), e.failures_before_recovery),
            (Duration::from_secs(30), Duration::from_secs(2), 5)
        );
        assert_eq!(e.recovery_command, ["systemctl", "restart", "docker"]);
        assert_eq!(e.recovery_timeout.get(), Duration::from_secs(120));
        // Absent: a ping every 10 s within 5 s, no recovery command.
        let d = DeviceConfig::parse("", Path::new("device.toml")).unwrap();
        assert_eq!(d.engine, EngineSettings::default());
        assert_eq!(
            (d.engine.interval(), d.engine.ping_deadline()),
            (Duration::from_secs(10), Duration::from_secs(5))
        );
        assert!(d.engine.recovery_command.is_empty());
    }

    #[test]
    fn refuses_each_bad_engine_field_by_name() {
        for (body, expect) in [
            (
                "health_interval = \"500ms\"",
                "[engine] health_interval must be between 1s and 10m",
            ),
            ("health_interval = \"11m\"", "[engine] health_interval"),
            ("health_interval = \"ten\"", "invalid duration 'ten'"),
            (
                "ping_timeout = \"10ms\"",
                "[engine] ping_timeout must be at least 100ms",
            ),
            (
                "ping_timeout = \"10s\"",
                "[engine] ping_timeout must be less than health_interval",
            ),
            (
                "health_interval = \"2s\"",
                "[engine] ping_timeout must be less than health_interval",
            ),
            (
                "failures_before_recovery = 0",
                "[engine] failures_before_recovery must be between 1 and 100",
            ),
            (
                "failures_before_recovery = 101",
                "[engine] failures_before_recovery",
            ),
            ("failures_before_recovery = -1", "failures_before_recovery"),
            (
                "recovery_command = [\"\", \"x\"]",
                "[engine] recovery_command",
            ),
            (
                "recovery_command = \"systemctl restart docker\"",
                "recovery_command",
            ),
            (
                "recovery_timeout = \"0s\"",
                "[engine] recovery_timeout must be between 1s and 1h",
            ),
            ("recovery_timeout = \"2h\"", "[engine] recovery_timeout"),
            ("health_intervall = \"10s\"", "health_intervall"),
        ] {
            let text = format!("[engine]\n{body}\n");
            let e = DeviceConfig::parse(&text, Path::new("/etc/osb/device.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("/etc/osb/device.toml") && e.contains(expect),
                "{body}: {e}"
            );
        }
    }
}
