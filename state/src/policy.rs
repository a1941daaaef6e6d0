//! The device policy: which of the settings that reach past a container's
//! confinement its blocks may ask for, by app class and by app.
//!
//! A [`Privilege`] is one such kind of setting (a privileged container,
//! the host's network, added capabilities, host devices, host paths, the
//! engine's socket, ...); [`held`] lists those a block asks for, each at
//! its field path. A [`Policy`] (the device config's `[policy]`) says which
//! each class and app may hold; [`Policy::check`] refuses a target that
//! asks for more, naming the field and the rule, before anything of it is
//! applied. Pure: whether a host path or device exists is the runtime's
//! preflight to find out.
//!
//! The `default` profile is balena's posture: an app of class `app` may be
//! privileged, share the host's namespaces, add capabilities and use
//! devices, and reaches host paths only through the feature labels
//! ([`features`](super::features)); apps of class `os` and `system` may
//! also bind host paths. `strict` refuses all of it to class `app`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::features::{Feature, FeatureError, Features};
use super::mount::VolumeMount;
use super::name::{AppName, VolumeName};
use super::settings::SharedNamespace;
use super::target::{AppClass, Block, TargetState, VolumeConfig};

/// A kind of setting that reaches past the container's confinement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Privilege {
    /// `privileged: true`: every capability and device, no confinement.
    Privileged,
    /// `network_mode: host`.
    HostNetwork,
    /// `pid: host`.
    HostPid,
    /// `ipc: host`.
    HostIpc,
    /// `cap_add`.
    Capabilities,
    /// `devices`, `device_cgroup_rules`, and the `gpu` feature.
    Devices,
    /// Host paths bound in other than by a feature label: a `bind` mount,
    /// or a named volume whose driver options mount a host path.
    HostBinds,
    /// The engine's socket (the `balena-socket` feature): control of every
    /// container on the device.
    EngineSocket,
    /// The other host-path features (`dbus`, `sysfs`, `procfs`,
    /// `kernel-modules`, `firmware`, `journal-logs`).
    HostFeatures,
    /// Security options that lift a confinement: `apparmor=unconfined`,
    /// `seccomp=unconfined`, `label=disable`, `systempaths=unconfined`.
    Unconfined,
}

impl Privilege {
    /// Every privilege.
    pub const ALL: [Privilege; 10] = [
        Privilege::Privileged,
        Privilege::HostNetwork,
        Privilege::HostPid,
        Privilege::HostIpc,
        Privilege::Capabilities,
        Privilege::Devices,
        Privilege::HostBinds,
        Privilege::EngineSocket,
        Privilege::HostFeatures,
        Privilege::Unconfined,
    ];

    /// Its name in the device config and in `osb status`.
    pub fn name(self) -> &'static str {
        match self {
            Privilege::Privileged => "privileged",
            Privilege::HostNetwork => "host-network",
            Privilege::HostPid => "host-pid",
            Privilege::HostIpc => "host-ipc",
            Privilege::Capabilities => "capabilities",
            Privilege::Devices => "devices",
            Privilege::HostBinds => "host-binds",
            Privilege::EngineSocket => "engine-socket",
            Privilege::HostFeatures => "host-features",
            Privilege::Unconfined => "unconfined",
        }
    }

    /// The privilege a feature label asks for.
    pub fn of_feature(feature: Feature) -> Privilege {
        match feature {
            Feature::BalenaSocket => Privilege::EngineSocket,
            Feature::Gpu => Privilege::Devices,
            Feature::Dbus
            | Feature::Firmware
            | Feature::JournalLogs
            | Feature::KernelModules
            | Feature::Procfs
            | Feature::Sysfs => Privilege::HostFeatures,
        }
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The starting point of a policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// balena's posture: class `app` may hold every privilege but
    /// `host-binds` (it reaches the host through feature labels); `os` and
    /// `system` may hold all.
    #[default]
    Default,
    /// Class `app` holds none; `os` and `system` may hold all.
    Strict,
}

impl Profile {
    /// Its name in the device config.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Strict => "strict",
        }
    }

    /// Whether the profile alone lets apps of `class` hold `privilege`.
    fn allows(self, class: AppClass, privilege: Privilege) -> bool {
        match (class, self) {
            (AppClass::Os | AppClass::System, _) => true,
            (AppClass::App, Profile::Default) => privilege != Privilege::HostBinds,
            (AppClass::App, Profile::Strict) => false,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Privileges added to, or taken from, what the layer below allows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Allowed, whatever the layer below says.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub allow: BTreeSet<Privilege>,
    /// Refused, whatever the layer below says.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub deny: BTreeSet<Privilege>,
}

/// Rules per app class: `[policy.classes.app]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRules {
    /// Apps of class `os`.
    #[serde(default)]
    pub os: Rules,
    /// Apps of class `system`.
    #[serde(default)]
    pub system: Rules,
    /// Apps of class `app`.
    #[serde(default)]
    pub app: Rules,
}

impl ClassRules {
    fn get(&self, class: AppClass) -> &Rules {
        match class {
            AppClass::Os => &self.os,
            AppClass::System => &self.system,
            AppClass::App => &self.app,
        }
    }
}

/// The device policy (`[policy]`): a profile, then rules per class, then
/// per app, each layer overriding the one below.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The starting point (default `default`).
    #[serde(default)]
    pub profile: Profile,
    /// Rules per app class.
    #[serde(default)]
    pub classes: ClassRules,
    /// Rules per app, by name.
    #[serde(default)]
    pub apps: BTreeMap<AppName, Rules>,
}

/// One privilege a block holds, where it asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The privilege.
    pub privilege: Privilege,
    /// The field that asks: `apps.main.release.blocks.web.volumes[0]`.
    pub path: String,
    /// What it asks for: `binds host path '/etc'`.
    pub what: String,
}

/// Why a target was refused by the policy. Nothing of it is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A block asks for a privilege its app may not hold.
    #[error("{path}: {what}: {rule} (policy '{profile}')")]
    Refused {
        /// The field that asks.
        path: String,
        /// What it asks for.
        what: String,
        /// The rule that refuses it.
        rule: String,
        /// The policy's profile.
        profile: Profile,
    },
    /// A feature label that cannot be read (validation refuses it first).
    #[error("{path}: {message}")]
    Label {
        /// The label's path.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Policy {
    /// Checks the policy itself: no privilege both allowed and denied by
    /// one table. The error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let tables = [
            ("policy.classes.os".to_owned(), &self.classes.os),
            ("policy.classes.system".to_owned(), &self.classes.system),
            ("policy.classes.app".to_owned(), &self.classes.app),
        ]
        .into_iter()
        .chain(
            self.apps
                .iter()
                .map(|(name, rules)| (format!("policy.apps.{name}"), rules)),
        );
        for (key, rules) in tables {
            if let Some(both) = rules.allow.intersection(&rules.deny).next() {
                return Err(format!("{key}: '{both}' is both in allow and in deny"));
            }
        }
        Ok(())
    }

    /// `Ok` if apps of `class` named `app` may hold `privilege`, else the
    /// rule that refuses it.
    pub fn decide(
        &self,
        class: AppClass,
        app: &AppName,
        privilege: Privilege,
    ) -> Result<(), String> {
        let class_name = class_name(class);
        let mut verdict = if self.profile.allows(class, privilege) {
            Ok(())
        } else if self.profile == Profile::Default && privilege == Privilege::HostBinds {
            Err(format!(
                "apps of class '{class_name}' reach the host only through feature labels"
            ))
        } else {
            Err(format!(
                "apps of class '{class_name}' may not ask for '{privilege}'"
            ))
        };
        let layers = [
            (
                format!("policy.classes.{class_name}"),
                Some(self.classes.get(class)),
            ),
            (format!("policy.apps.{app}"), self.apps.get(app)),
        ];
        for (key, rules) in layers {
            let Some(rules) = rules else { continue };
            if rules.allow.contains(&privilege) {
                verdict = Ok(());
            }
            if rules.deny.contains(&privilege) {
                verdict = Err(format!("{key} denies '{privilege}'"));
            }
        }
        verdict
    }

    /// Checks every block of `target`: the first privilege a block asks for
    /// that its app may not hold is refused, naming its field and the rule.
    pub fn check(&self, target: &TargetState) -> Result<(), PolicyError> {
        for (name, app) in &target.apps {
            for (block_name, block) in &app.release.blocks {
                let path = format!("apps.{name}.release.blocks.{block_name}");
                let held = held(&path, block, &app.volumes).map_err(|e| PolicyError::Label {
                    path: format!("{path}.labels.{}", e.label),
                    message: e.message,
                })?;
                for h in held {
                    if let Err(rule) = self.decide(app.class, name, h.privilege) {
                        return Err(PolicyError::Refused {
                            path: h.path,
                            what: h.what,
                            rule,
                            profile: self.profile,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

fn class_name(class: AppClass) -> &'static str {
    match class {
        AppClass::Os => "os",
        AppClass::System => "system",
        AppClass::App => "app",
    }
}

/// The host path a named volume's driver options mount, if they mount one:
/// the `local` driver (the default) with an absolute `device`, as in
/// `{type: none, o: bind, device: /etc}` (a bind) or `{type: ext4, device:
/// /dev/sda1}` (a host disk). A network share's device (`:/export`,
/// `//server/share`) is not the host's.
pub fn volume_host_path(config: &VolumeConfig) -> Option<&str> {
    let local = config.driver.as_deref().is_none_or(|d| d == "local");
    let device = config.driver_opts.get("device")?;
    (local && device.starts_with('/') && !device.starts_with("//")).then_some(device.as_str())
}

/// Every privilege `block` asks for, at `path` (`apps.main.release.blocks.web`),
/// in field order; `volumes` are its app's. A feature label that cannot be
/// read is an error.
pub fn held(
    path: &str,
    block: &Block,
    volumes: &BTreeMap<VolumeName, VolumeConfig>,
) -> Result<Vec<Held>, FeatureError> {
    let mut held = Vec::new();
    let mut add = |privilege, path: String, what: String| {
        held.push(Held {
            privilege,
            path,
            what,
        });
    };
    if block.privileged {
        add(
            Privilege::Privileged,
            format!("{path}.privileged"),
            "a privileged container".to_owned(),
        );
    }
    for (field, namespace, privilege, what) in [
        (
            "network_mode",
            block.network_mode.as_ref().map(|m| &m.0),
            Privilege::HostNetwork,
            "the host's network",
        ),
        (
            "pid",
            block.pid.as_ref().map(|m| &m.0),
            Privilege::HostPid,
            "the host's processes",
        ),
        (
            "ipc",
            block.ipc.as_ref().map(|m| &m.0),
            Privilege::HostIpc,
            "the host's IPC namespace",
        ),
    ] {
        if namespace == Some(&SharedNamespace::Host) {
            add(privilege, format!("{path}.{field}"), what.to_owned());
        }
    }
    for (i, cap) in block.cap_add.iter().enumerate() {
        add(
            Privilege::Capabilities,
            format!("{path}.cap_add[{i}]"),
            format!("adds capability {cap}"),
        );
    }
    for (i, device) in block.devices.iter().enumerate() {
        add(
            Privilege::Devices,
            format!("{path}.devices[{i}]"),
            format!("host device '{}'", device.source),
        );
    }
    for (i, rule) in block.device_cgroup_rules.iter().enumerate() {
        add(
            Privilege::Devices,
            format!("{path}.device_cgroup_rules[{i}]"),
            format!("device cgroup rule '{rule}'"),
        );
    }
    for (i, mount) in block.volumes.iter().enumerate() {
        let here = format!("{path}.volumes[{i}]");
        match mount {
            VolumeMount::Bind { source, .. } => {
                add(
                    Privilege::HostBinds,
                    here,
                    format!("binds host path '{source}'"),
                );
            }
            VolumeMount::Volume { source, .. } => {
                if let Some(host) = volumes.get(source).and_then(volume_host_path) {
                    add(
                        Privilege::HostBinds,
                        here,
                        format!("volume '{source}' mounts host path '{host}'"),
                    );
                }
            }
            VolumeMount::Tmpfs { .. } => {}
        }
    }
    for (i, option) in block.security_opt.iter().enumerate() {
        let text = option.as_str();
        let (key, value) = text
            .split_once('=')
            .or_else(|| text.split_once(':'))
            .unwrap_or((text, ""));
        let lifts = matches!(
            (key, value),
            ("apparmor" | "seccomp" | "systempaths", "unconfined") | ("label", "disable")
        );
        if lifts {
            add(
                Privilege::Unconfined,
                format!("{path}.security_opt[{i}]"),
                format!("security option '{text}'"),
            );
        }
    }
    let features = Features::parse(&block.labels)?;
    for (feature, label) in features.iter() {
        let what = match feature {
            Feature::BalenaSocket => "the engine's socket".to_owned(),
            Feature::Gpu => "a GPU".to_owned(),
            other => format!("host access '{other}'"),
        };
        add(
            Privilege::of_feature(feature),
            format!("{path}.labels.{label}"),
            what,
        );
    }
    Ok(held)
}

/// What a block holds, for `osb status`: its privileges (each once, in
/// [`Privilege`] order) and the features it asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The privileges held.
    pub privileges: Vec<Privilege>,
    /// The features asked for by label.
    pub features: Vec<Feature>,
}

impl Summary {
    /// What `block` holds (an unreadable feature label counts as none).
    pub fn of(block: &Block, volumes: &BTreeMap<VolumeName, VolumeConfig>) -> Summary {
        let privileges: BTreeSet<Privilege> = held("", block, volumes)
            .unwrap_or_default()
            .into_iter()
            .map(|h| h.privilege)
            .collect();
        let features = Features::parse(&block.labels)
            .map(|f| f.iter().map(|(f, _)| f).collect())
            .unwrap_or_default();
        Summary {
            privileges: privileges.into_iter().collect(),
            features,
        }
    }

    /// One line: the privileges, with `host-features` spelled out as the
    /// features (`privileged, host-network, devices, dbus`); empty if none.
    pub fn line(&self) -> String {
        let mut words: Vec<&str> = self
            .privileges
            .iter()
            .filter(|p| **p != Privilege::HostFeatures)
            .map(|p| p.name())
            .collect();
        words.extend(
            self.features
                .iter()
                .filter(|f| Privilege::of_feature(**f) == Privilege::HostFeatures)
                .map(|f| f.name()),
        );
        words.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-app target of `class` with one block `web`, the block's JSON
    /// fields given, and a volume `conf` binding `/etc`, and `data`.
    fn target(class: &str, block: &str) -> TargetState {
        let text = format!(
            r#"{{"version": 1, "apps": {{"main": {{"class": "{class}",
                "volumes": {{"conf": {{"driver_opts": {{"type": "none", "o": "bind", "device": "/etc"}}}},
                             "data": {{}}}},
                "release": {{"version": "1.0.0", "blocks": {{"web": {{"image": "web:1", {block}}}}}}}}}}}}}"#
        );
        TargetState::from_json(&text).unwrap_or_else(|e| panic!("{block}: {e}"))
    }

    fn policy(toml_like: (Profile, ClassRules, &[(&str, Rules)])) -> Policy {
        let (profile, classes, apps) = toml_like;
        Policy {
            profile,
            classes,
            apps: apps
                .iter()
                .map(|(n, r)| (AppName::new(n).unwrap_or_else(|e| panic!("{e}")), r.clone()))
                .collect(),
        }
    }

    fn rules(allow: &[Privilege], deny: &[Privilege]) -> Rules {
        Rules {
            allow: allow.iter().copied().collect(),
            deny: deny.iter().copied().collect(),
        }
    }

    /// Each dangerous setting, as block JSON fields, and the privilege it
    /// asks for, at which field, as what.
    const SETTINGS: &[(&str, Privilege, &str, &str)] = &[
        (
            r#""privileged": true"#,
            Privilege::Privileged,
            "privileged",
            "a privileged container",
        ),
        (
            r#""network_mode": "host""#,
            Privilege::HostNetwork,
            "network_mode",
            "the host's network",
        ),
        (
            r#""pid": "host""#,
            Privilege::HostPid,
            "pid",
            "the host's processes",
        ),
        (
            r#""ipc": "host""#,
            Privilege::HostIpc,
            "ipc",
            "the host's IPC namespace",
        ),
        (
            r#""cap_add": ["net_admin"]"#,
            Privilege::Capabilities,
            "cap_add[0]",
            "adds capability NET_ADMIN",
        ),
        (
            r#""devices": [{"source": "/dev/ttyUSB0"}]"#,
            Privilege::Devices,
            "devices[0]",
            "host device '/dev/ttyUSB0'",
        ),
        (
            r#""device_cgroup_rules": ["c 189:* rwm"]"#,
            Privilege::Devices,
            "device_cgroup_rules[0]",
            "device cgroup rule 'c 189:* rwm'",
        ),
        (
            r#""volumes": [{"type": "bind", "source": "/etc", "target": "/host-etc"}]"#,
            Privilege::HostBinds,
            "volumes[0]",
            "binds host path '/etc'",
        ),
        (
            r#""volumes": [{"type": "volume", "source": "conf", "target": "/conf"}]"#,
            Privilege::HostBinds,
            "volumes[0]",
            "volume 'conf' mounts host path '/etc'",
        ),
        (
            r#""labels": {"io.balena.features.balena-socket": "1"}"#,
            Privilege::EngineSocket,
            "labels.io.balena.features.balena-socket",
            "the engine's socket",
        ),
        (
            r#""labels": {"io.osb.features.dbus": "1"}"#,
            Privilege::HostFeatures,
            "labels.io.osb.features.dbus",
            "host access 'dbus'",
        ),
        (
            r#""labels": {"io.balena.features.gpu": "1"}"#,
            Privilege::Devices,
            "labels.io.balena.features.gpu",
            "a GPU",
        ),
        (
            r#""security_opt": ["seccomp=unconfined"]"#,
            Privilege::Unconfined,
            "security_opt[0]",
            "security option 'seccomp=unconfined'",
        ),
    ];

    fn outcome(policy: &Policy, class: &str, block: &str) -> String {
        match policy.check(&target(class, block)) {
            Ok(()) => "allowed".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn each_setting_under_each_profile_and_class() {
        let default = Policy::default();
        let strict = policy((Profile::Strict, ClassRules::default(), &[]));
        let at = "apps.main.release.blocks.web";
        for (block, privilege, field, what) in SETTINGS {
            for class in ["os", "system"] {
                assert_eq!(
                    outcome(&default, class, block),
                    "allowed",
                    "{class} {block}"
                );
                assert_eq!(outcome(&strict, class, block), "allowed", "{class} {block}");
            }
            let expect_default = if *privilege == Privilege::HostBinds {
                format!(
                    "{at}.{field}: {what}: apps of class 'app' reach the host only through \
                     feature labels (policy 'default')"
                )
            } else {
                "allowed".to_owned()
            };
            assert_eq!(outcome(&default, "app", block), expect_default, "{block}");
            assert_eq!(
                outcome(&strict, "app", block),
                format!(
                    "{at}.{field}: {what}: apps of class 'app' may not ask for '{privilege}' \
                     (policy 'strict')"
                ),
                "{block}"
            );
            // Allowed by name, whatever the profile.
            let allowed = policy((
                Profile::Strict,
                ClassRules {
                    app: rules(&[*privilege], &[]),
                    ..Default::default()
                },
                &[],
            ));
            assert_eq!(outcome(&allowed, "app", block), "allowed", "{block}");
        }
    }

    #[test]
    fn harmless_settings_hold_nothing() {
        let strict = policy((Profile::Strict, ClassRules::default(), &[]));
        for block in [
            r#""command": ["x"]"#,
            r#""cap_drop": ["ALL"]"#,
            r#""network_mode": "none""#,
            r#""ipc": "shareable""#,
            r#""security_opt": ["no-new-privileges", "apparmor=my-profile"]"#,
            r#""volumes": [{"type": "volume", "source": "data", "target": "/data"}, {"type": "tmpfs", "target": "/run"}]"#,
            r#""labels": {"io.balena.features.dbus": "0", "io.balena.features.supervisor-api": "1"}"#,
        ] {
            assert_eq!(outcome(&strict, "app", block), "allowed", "{block}");
        }
    }

    #[test]
    fn class_and_app_rules_override_the_profile() {
        let bind = r#""volumes": [{"type": "bind", "source": "/etc", "target": "/e"}]"#;
        let privileged = r#""privileged": true"#;
        let at = "apps.main.release.blocks.web";
        let allow_binds = policy((
            Profile::Default,
            ClassRules::default(),
            &[("main", rules(&[Privilege::HostBinds], &[]))],
        ));
        assert_eq!(outcome(&allow_binds, "app", bind), "allowed");
        let other_app = policy((
            Profile::Default,
            ClassRules::default(),
            &[("other", rules(&[Privilege::HostBinds], &[]))],
        ));
        assert!(outcome(&other_app, "app", bind).contains("reach the host only"));
        let deny_class = policy((
            Profile::Default,
            ClassRules {
                app: rules(&[], &[Privilege::Privileged]),
                ..Default::default()
            },
            &[],
        ));
        assert_eq!(
            outcome(&deny_class, "app", privileged),
            format!(
                "{at}.privileged: a privileged container: policy.classes.app denies \
                 'privileged' (policy 'default')"
            )
        );
        // The app's rule is over the class's.
        let app_over_class = policy((
            Profile::Strict,
            ClassRules {
                app: rules(&[], &[Privilege::Privileged]),
                ..Default::default()
            },
            &[("main", rules(&[Privilege::Privileged], &[]))],
        ));
        assert_eq!(outcome(&app_over_class, "app", privileged), "allowed");
        let deny_os = policy((
            Profile::Default,
            ClassRules::default(),
            &[("main", rules(&[], &[Privilege::HostBinds]))],
        ));
        assert_eq!(
            outcome(&deny_os, "os", bind),
            format!(
                "{at}.volumes[0]: binds host path '/etc': policy.apps.main denies 'host-binds' \
                 (policy 'default')"
            )
        );
    }

    #[test]
    fn a_policy_refuses_one_privilege_in_two_lists() {
        let p = policy((
            Profile::Default,
            ClassRules::default(),
            &[("main", rules(&[Privilege::Devices], &[Privilege::Devices]))],
        ));
        assert_eq!(
            p.validate(),
            Err("policy.apps.main: 'devices' is both in allow and in deny".to_owned())
        );
        assert_eq!(Policy::default().validate(), Ok(()));
    }

    #[test]
    fn volumes_that_mount_host_paths() {
        let volume = |driver: Option<&str>, opts: &[(&str, &str)]| VolumeConfig {
            driver: driver.map(str::to_owned),
            driver_opts: opts
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            labels: BTreeMap::new(),
        };
        let bind = [("type", "none"), ("o", "bind"), ("device", "/etc")];
        assert_eq!(volume_host_path(&volume(None, &bind)), Some("/etc"));
        assert_eq!(
            volume_host_path(&volume(Some("local"), &bind)),
            Some("/etc")
        );
        assert_eq!(
            volume_host_path(&volume(None, &[("type", "ext4"), ("device", "/dev/sda1")])),
            Some("/dev/sda1")
        );
        for (driver, opts) in [
            (
                None,
                vec![
                    ("type", "nfs"),
                    ("o", "addr=10.0.0.1"),
                    ("device", ":/export"),
                ],
            ),
            (None, vec![("type", "cifs"), ("device", "//server/share")]),
            (None, vec![("type", "tmpfs"), ("device", "tmpfs")]),
            (Some("rclone"), vec![("device", "/etc")]),
            (None, vec![]),
        ] {
            assert_eq!(volume_host_path(&volume(driver, &opts)), None, "{opts:?}");
        }
    }

    #[test]
    fn status_lines_spell_out_host_features() {
        let t = target(
            "app",
            r#""privileged": true, "network_mode": "host", "devices": [{"source": "/dev/ttyUSB0"}],
               "labels": {"io.balena.features.dbus": "1", "io.balena.features.kernel-modules": "1",
                          "io.balena.features.balena-socket": "1"}"#,
        );
        let app = t.apps.values().next().unwrap_or_else(|| panic!());
        let block = app
            .release
            .blocks
            .values()
            .next()
            .unwrap_or_else(|| panic!());
        let summary = Summary::of(block, &app.volumes);
        assert_eq!(
            summary.line(),
            "privileged, host-network, devices, engine-socket, dbus, kernel-modules"
        );
        assert_eq!(
            Summary::of(&Block::new(block.image.clone()), &app.volumes).line(),
            ""
        );
    }
}
