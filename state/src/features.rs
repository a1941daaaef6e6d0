//! Feature labels: what a block asks of the host by label. balena's
//! supervisor reads `io.balena.features.*` (and the older
//! `io.resin.features.*`); OSB reads those as balena does, and its own
//! twins `io.osb.features.*`, with the same names.
//!
//! [`Features::parse`] reads a block's labels into the features it asks
//! for; [`HostAccess::grant`] says what they give the container: host paths
//! bound in, environment, a GPU. Both are pure: whether a host path exists
//! and where the engine's socket is are found out by the runtime (its
//! preflight) and the engine client, which applies the grant.
//!
//! The mapping, balena's and where OSB departs from it, is documented in
//! `docs/host-access.md`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// OSB's own feature labels: `io.osb.features.<name>`.
pub const OSB_PREFIX: &str = "io.osb.features.";
/// balena's feature labels: `io.balena.features.<name>`.
pub const BALENA_PREFIX: &str = "io.balena.features.";
/// balena's older spelling, read as `io.balena.features.*` with `resin`
/// read as `balena` (`io.resin.features.resin-socket` is `balena-socket`),
/// as the supervisor reads it.
pub const RESIN_PREFIX: &str = "io.resin.features.";

/// Where the engine's socket appears in a block that asks for it (beside
/// its host path and `/var/run/balena.sock`), and what `DOCKER_HOST` names:
/// balena's `containerDockerSocket`, under `/host/run` so that it does not
/// clash with the container's own `/run`.
pub const CONTAINER_ENGINE_SOCKET: &str = "/host/run/balena-engine.sock";
/// Where the `dbus` feature puts the host's `/run/dbus`.
pub const CONTAINER_DBUS_DIR: &str = "/host/run/dbus";

/// A feature a block may ask for by label (in name order).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    /// The engine's socket, and `DOCKER_HOST` naming it.
    BalenaSocket,
    /// The host's D-Bus system bus (`/run/dbus` at `/host/run/dbus`).
    Dbus,
    /// The host's firmware (`/lib/firmware`, read-only).
    Firmware,
    /// One GPU, as a device request (`docker run --gpus 1`).
    Gpu,
    /// The host's journal (`/var/log/journal`, `/run/log/journal` and
    /// `/etc/machine-id`, read-only).
    JournalLogs,
    /// The host's kernel modules (`/lib/modules`, read-only).
    KernelModules,
    /// The host's `/proc`.
    Procfs,
    /// The host's `/sys`.
    Sysfs,
}

impl Feature {
    /// Every feature, in label-name order.
    pub const ALL: [Feature; 8] = [
        Feature::BalenaSocket,
        Feature::Dbus,
        Feature::Firmware,
        Feature::Gpu,
        Feature::JournalLogs,
        Feature::KernelModules,
        Feature::Procfs,
        Feature::Sysfs,
    ];

    /// The name after the prefix: `balena-socket`, `dbus`, ...
    pub fn name(self) -> &'static str {
        match self {
            Feature::BalenaSocket => "balena-socket",
            Feature::Dbus => "dbus",
            Feature::KernelModules => "kernel-modules",
            Feature::Firmware => "firmware",
            Feature::Sysfs => "sysfs",
            Feature::Procfs => "procfs",
            Feature::JournalLogs => "journal-logs",
            Feature::Gpu => "gpu",
        }
    }

    /// The feature a label names after its prefix, if it is one.
    pub fn from_name(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// balena features OSB knows and does not provide, with why: a balena app
/// that asks for one still runs, without it (each is reported).
const NOT_PROVIDED: &[(&str, &str)] = &[
    (
        "supervisor-api",
        "OSB has no balena supervisor API: BALENA_SUPERVISOR_ADDRESS, _HOST, _PORT and _API_KEY are not set",
    ),
    (
        "balena-api",
        "OSB holds no balenaCloud API key: BALENA_API_KEY and BALENA_API_URL are not set",
    ),
    (
        "bind-mount",
        "OSB has no balenaOS data partition to share (/mnt/data/bind-mount)",
    ),
];

/// The label under the feature prefixes that is no host feature: it says
/// the block may be left out when its contract does not hold, read into
/// the block's `optional` by the importers ([`optional`]).
const OPTIONAL: &str = "optional";

/// A feature label that cannot be read. Validation turns it into an error
/// at the label's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label '{label}': {message}")]
pub struct FeatureError {
    /// The label: `io.osb.features.dbuss`.
    pub label: String,
    /// What is wrong with it.
    pub message: String,
}

/// A balena feature label OSB does not act on: kept as a plain label, and
/// reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The label.
    pub label: String,
    /// Why nothing comes of it.
    pub reason: String,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.label, self.reason)
    }
}

/// The features a block's labels ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// Each feature asked for, with the label that asked.
    on: BTreeMap<Feature, String>,
    /// balena feature labels asked for that OSB does not act on.
    pub unsupported: Vec<Unsupported>,
}

/// A label's value as a switch: balena's `checkTruthy`/`checkFalsey`
/// words, in any case. balena takes any other value as off, silently; a
/// typo there would leave a block without what it asked for, so it is
/// refused here.
pub(crate) fn switch(label: &str, value: &str) -> Result<bool, FeatureError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        _ => Err(FeatureError {
            label: label.to_owned(),
            message: format!(
                "'{value}' is neither on ('1', 'true', 'on') nor off ('0', 'false', 'off')"
            ),
        }),
    }
}

/// Whether the labels say the block is optional (`io.osb.features.optional`,
/// else balena's, else resin's), if they say; a value neither on nor off is
/// the error.
pub fn optional(labels: &BTreeMap<String, String>) -> Result<Option<bool>, FeatureError> {
    for prefix in [OSB_PREFIX, BALENA_PREFIX, RESIN_PREFIX] {
        let label = format!("{prefix}{OPTIONAL}");
        if let Some(value) = labels.get(&label) {
            return switch(&label, value).map(Some);
        }
    }
    Ok(None)
}

/// `(did you mean 'dbus'?)`, for a name close to a feature's.
fn suggestion(name: &str) -> String {
    Feature::ALL
        .iter()
        .map(|f| (distance(name, f.name()), f.name()))
        .filter(|(d, known)| *d <= 2.max(known.len() / 4))
        .min()
        .map_or_else(String::new, |(_, known)| {
            format!(" (did you mean '{known}'?)")
        })
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

fn known_names() -> String {
    Feature::ALL
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Features {
    /// Reads the feature labels among `labels`. Refused: an
    /// `io.osb.features.*` name that is no feature (with "did you mean"),
    /// a value that is neither on nor off, and an `io.osb.features.*` label
    /// that contradicts its balena twin. balena labels OSB does not act on
    /// are [`Features::unsupported`], as balena's supervisor ignores what
    /// it does not know. `io.balena.features.*` wins over
    /// `io.resin.features.*`, as in the supervisor.
    pub fn parse(labels: &BTreeMap<String, String>) -> Result<Features, FeatureError> {
        let mut features = Features::default();
        let mut osb: BTreeMap<Feature, (bool, &str)> = BTreeMap::new();
        let mut balena: BTreeMap<Feature, (bool, &str)> = BTreeMap::new();
        let mut resin: BTreeMap<Feature, (bool, &str)> = BTreeMap::new();
        for (label, value) in labels {
            if let Some(name) = label.strip_prefix(OSB_PREFIX) {
                if name == OPTIONAL {
                    switch(label, value)?;
                    continue;
                }
                let Some(feature) = Feature::from_name(name) else {
                    let why = match NOT_PROVIDED.iter().find(|(n, _)| *n == name) {
                        Some((_, why)) => {
                            format!("'{name}' is a balena feature OSB does not provide: {why}")
                        }
                        None => format!(
                            "unknown feature '{name}'{} (OSB's features: {})",
                            suggestion(name),
                            known_names()
                        ),
                    };
                    return Err(FeatureError {
                        label: label.clone(),
                        message: why,
                    });
                };
                osb.insert(feature, (switch(label, value)?, label));
                continue;
            }
            let (name, into) = if let Some(name) = label.strip_prefix(BALENA_PREFIX) {
                (name.to_owned(), &mut balena)
            } else if let Some(name) = label.strip_prefix(RESIN_PREFIX) {
                (name.replace("resin", "balena"), &mut resin)
            } else {
                continue;
            };
            if name == OPTIONAL {
                switch(label, value)?;
                continue;
            }
            match Feature::from_name(&name) {
                Some(feature) => {
                    into.insert(feature, (switch(label, value)?, label));
                }
                None => {
                    let reason = match NOT_PROVIDED.iter().find(|(n, _)| *n == name) {
                        // Asked for only when on; a value balena reads as
                        // off asks for nothing to report.
                        Some(_) if !switch(label, value).unwrap_or(false) => continue,
                        Some((_, why)) => format!("kept as a plain label: {why}"),
                        None => format!(
                            "kept as a plain label: not a feature balena's supervisor knows{}",
                            suggestion(&name)
                        ),
                    };
                    features.unsupported.push(Unsupported {
                        label: label.clone(),
                        reason,
                    });
                }
            }
        }
        for (feature, asked) in resin {
            balena.entry(feature).or_insert(asked);
        }
        for feature in Feature::ALL {
            let balena = balena.get(&feature);
            let osb = osb.get(&feature);
            if let (Some((theirs, their_label)), Some((ours, our_label))) = (balena, osb)
                && theirs != ours
            {
                return Err(FeatureError {
                    label: (*our_label).to_owned(),
                    message: format!(
                        "turns '{feature}' {} where '{their_label}' turns it {}",
                        on_off(*ours),
                        on_off(*theirs)
                    ),
                });
            }
            // The OSB label names it when both ask.
            if let Some((true, label)) = osb.or(balena) {
                features.on.insert(feature, (*label).to_owned());
            }
        }
        Ok(features)
    }

    /// The features asked for, in name order, each with the label that
    /// asked for it.
    pub fn iter(&self) -> impl Iterator<Item = (Feature, &str)> {
        self.on.iter().map(|(f, label)| (*f, label.as_str()))
    }

    /// Whether `feature` is asked for.
    pub fn contains(&self, feature: Feature) -> bool {
        self.on.contains_key(&feature)
    }

    /// Whether none is asked for.
    pub fn is_empty(&self) -> bool {
        self.on.is_empty()
    }

    /// `features`, each asked for by its `io.osb.features.*` label.
    pub fn of(features: impl IntoIterator<Item = Feature>) -> Features {
        Features {
            on: features
                .into_iter()
                .map(|f| (f, format!("{OSB_PREFIX}{}", f.name())))
                .collect(),
            unsupported: Vec::new(),
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// One host path a feature binds into the container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostBind {
    /// The feature that asks for it.
    pub feature: Feature,
    /// The host path.
    pub source: String,
    /// Where it appears in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Left out when the host lacks it, as balena leaves out
    /// `/lib/modules` and `/lib/firmware` (the block runs without it);
    /// otherwise a host without it cannot give the feature, and the
    /// preflight refuses the target.
    pub optional: bool,
}

/// What a block's features give its container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAccess {
    /// Host paths bound in, in feature order.
    pub binds: Vec<HostBind>,
    /// Environment the features set. The block's own `environment` wins
    /// over it, as balena lets a service's own `DOCKER_HOST` stand.
    pub environment: BTreeMap<String, String>,
    /// GPUs asked of the engine: a device request for that many devices
    /// with capability `gpu` (what `docker run --gpus N` sends), which an
    /// engine with the NVIDIA container toolkit serves.
    pub gpus: u32,
}

impl HostAccess {
    /// What `features` give a container, as balena's supervisor maps them
    /// (`addFeaturesFromLabels`), but for `kernel-modules` and `firmware`,
    /// bound read-only (balenaOS's root filesystem is read-only, so the
    /// container could not write there either; a writable host root must
    /// not become writable through a block). `engine_socket` is the
    /// engine's socket on the host; without one, `balena-socket` gives
    /// nothing (the preflight refuses it first).
    pub fn grant(features: &Features, engine_socket: Option<&str>) -> HostAccess {
        let mut access = HostAccess::default();
        for (feature, _) in features.iter() {
            let mut bind = |source: &str, target: &str, read_only: bool, optional: bool| {
                let bind = HostBind {
                    feature,
                    source: source.to_owned(),
                    target: target.to_owned(),
                    read_only,
                    optional,
                };
                if !access.binds.iter().any(|b| b.target == bind.target) {
                    access.binds.push(bind);
                }
            };
            match feature {
                Feature::BalenaSocket => {
                    let Some(socket) = engine_socket else {
                        continue;
                    };
                    // balena's three places: its own, the host's path
                    // (older blocks), and `/var/run/balena.sock`.
                    bind(socket, CONTAINER_ENGINE_SOCKET, false, false);
                    bind(socket, socket, false, false);
                    bind(socket, "/var/run/balena.sock", false, false);
                    access.environment.insert(
                        "DOCKER_HOST".to_owned(),
                        format!("unix://{CONTAINER_ENGINE_SOCKET}"),
                    );
                }
                Feature::Dbus => {
                    bind("/run/dbus", CONTAINER_DBUS_DIR, false, false);
                    // balena leaves this to the block; every balena example
                    // sets it, so OSB sets it unless the block does.
                    access.environment.insert(
                        "DBUS_SYSTEM_BUS_ADDRESS".to_owned(),
                        format!("unix:path={CONTAINER_DBUS_DIR}/system_bus_socket"),
                    );
                }
                Feature::KernelModules => bind("/lib/modules", "/lib/modules", true, true),
                Feature::Firmware => bind("/lib/firmware", "/lib/firmware", true, true),
                Feature::Sysfs => bind("/sys", "/sys", false, false),
                Feature::Procfs => bind("/proc", "/proc", false, false),
                Feature::JournalLogs => {
                    // A host keeps its journal in one of the two places
                    // (persistent or volatile), rarely both.
                    bind("/var/log/journal", "/var/log/journal", true, true);
                    bind("/run/log/journal", "/run/log/journal", true, true);
                    bind("/etc/machine-id", "/etc/machine-id", true, false);
                }
                Feature::Gpu => access.gpus = 1,
            }
        }
        access
    }

    /// The host paths a feature binds only if the host has them.
    pub fn optional_sources() -> Vec<String> {
        let all = HostAccess::grant(&Features::of(Feature::ALL), None);
        all.binds
            .into_iter()
            .filter(|b| b.optional)
            .map(|b| b.source)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The features on, or the error, as one line.
    fn parsed(pairs: &[(&str, &str)]) -> String {
        match Features::parse(&labels(pairs)) {
            Ok(f) => {
                let on: Vec<String> = f.iter().map(|(f, l)| format!("{f}<-{l}")).collect();
                let mut line = on.join(" ");
                for u in &f.unsupported {
                    line.push_str(&format!(" | {u}"));
                }
                line
            }
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn labels_read_into_features() {
        for (pairs, expect) in [
            (vec![], ""),
            (vec![("com.example", "1")], ""),
            (
                vec![("io.balena.features.dbus", "1")],
                "dbus<-io.balena.features.dbus",
            ),
            (
                vec![("io.balena.features.kernel-modules", "TRUE")],
                "kernel-modules<-io.balena.features.kernel-modules",
            ),
            (
                vec![("io.balena.features.firmware", "on")],
                "firmware<-io.balena.features.firmware",
            ),
            (vec![("io.balena.features.dbus", "0")], ""),
            (vec![("io.balena.features.dbus", "off")], ""),
            (
                vec![("io.osb.features.sysfs", "true")],
                "sysfs<-io.osb.features.sysfs",
            ),
            (
                vec![("io.resin.features.resin-socket", "1")],
                "balena-socket<-io.resin.features.resin-socket",
            ),
            // balena's label wins over the older one.
            (
                vec![
                    ("io.balena.features.procfs", "0"),
                    ("io.resin.features.procfs", "1"),
                ],
                "",
            ),
            (
                vec![
                    ("io.balena.features.gpu", "1"),
                    ("io.osb.features.gpu", "1"),
                ],
                "gpu<-io.osb.features.gpu",
            ),
            (
                vec![("io.balena.features.supervisor-api", "1")],
                " | io.balena.features.supervisor-api: kept as a plain label: OSB has no balena supervisor API: BALENA_SUPERVISOR_ADDRESS, _HOST, _PORT and _API_KEY are not set",
            ),
            (vec![("io.balena.features.balena-api", "0")], ""),
            (
                vec![("io.resin.features.resin-api", "1")],
                " | io.resin.features.resin-api: kept as a plain label: OSB holds no balenaCloud API key: BALENA_API_KEY and BALENA_API_URL are not set",
            ),
            (
                vec![("io.balena.features.dbuss", "1")],
                " | io.balena.features.dbuss: kept as a plain label: not a feature balena's supervisor knows (did you mean 'dbus'?)",
            ),
        ] {
            assert_eq!(parsed(&pairs), expect, "{pairs:?}");
        }
    }

    #[test]
    fn bad_feature_labels_are_refused_naming_the_label() {
        for (pairs, expect) in [
            (
                vec![("io.osb.features.dbuss", "1")],
                "error: label 'io.osb.features.dbuss': unknown feature 'dbuss' (did you mean 'dbus'?) (OSB's features: balena-socket, dbus, firmware, gpu, journal-logs, kernel-modules, procfs, sysfs)",
            ),
            (
                vec![("io.osb.features.kernel-module", "1")],
                "error: label 'io.osb.features.kernel-module': unknown feature 'kernel-module' (did you mean 'kernel-modules'?) (OSB's features: balena-socket, dbus, firmware, gpu, journal-logs, kernel-modules, procfs, sysfs)",
            ),
            (
                vec![("io.osb.features.wifi", "1")],
                "error: label 'io.osb.features.wifi': unknown feature 'wifi' (OSB's features: balena-socket, dbus, firmware, gpu, journal-logs, kernel-modules, procfs, sysfs)",
            ),
            (
                vec![("io.osb.features.supervisor-api", "1")],
                "error: label 'io.osb.features.supervisor-api': 'supervisor-api' is a balena feature OSB does not provide: OSB has no balena supervisor API: BALENA_SUPERVISOR_ADDRESS, _HOST, _PORT and _API_KEY are not set",
            ),
            (
                vec![("io.balena.features.dbus", "yes")],
                "error: label 'io.balena.features.dbus': 'yes' is neither on ('1', 'true', 'on') nor off ('0', 'false', 'off')",
            ),
            (
                vec![("io.osb.features.gpu", "")],
                "error: label 'io.osb.features.gpu': '' is neither on ('1', 'true', 'on') nor off ('0', 'false', 'off')",
            ),
            (
                vec![
                    ("io.balena.features.sysfs", "1"),
                    ("io.osb.features.sysfs", "0"),
                ],
                "error: label 'io.osb.features.sysfs': turns 'sysfs' off where 'io.balena.features.sysfs' turns it on",
            ),
        ] {
            assert_eq!(parsed(&pairs), expect, "{pairs:?}");
        }
    }

    /// Each feature's grant, as `source:target[:ro][?]` lines (`?` for
    /// optional) and `NAME=value`.
    fn granted(feature: Feature, socket: Option<&str>) -> Vec<String> {
        let access = HostAccess::grant(&Features::of([feature]), socket);
        let mut lines: Vec<String> = access
            .binds
            .iter()
            .map(|b| {
                format!(
                    "{}:{}{}{}",
                    b.source,
                    b.target,
                    if b.read_only { ":ro" } else { "" },
                    if b.optional { "?" } else { "" }
                )
            })
            .collect();
        lines.extend(access.environment.iter().map(|(k, v)| format!("{k}={v}")));
        if access.gpus > 0 {
            lines.push(format!("gpus={}", access.gpus));
        }
        lines
    }

    #[test]
    fn each_feature_grants_what_balena_grants() {
        let socket = Some("/var/run/docker.sock");
        for (feature, expect) in [
            (
                Feature::BalenaSocket,
                vec![
                    "/var/run/docker.sock:/host/run/balena-engine.sock",
                    "/var/run/docker.sock:/var/run/docker.sock",
                    "/var/run/docker.sock:/var/run/balena.sock",
                    "DOCKER_HOST=unix:///host/run/balena-engine.sock",
                ],
            ),
            (
                Feature::Dbus,
                vec![
                    "/run/dbus:/host/run/dbus",
                    "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/host/run/dbus/system_bus_socket",
                ],
            ),
            (
                Feature::KernelModules,
                vec!["/lib/modules:/lib/modules:ro?"],
            ),
            (Feature::Firmware, vec!["/lib/firmware:/lib/firmware:ro?"]),
            (Feature::Sysfs, vec!["/sys:/sys"]),
            (Feature::Procfs, vec!["/proc:/proc"]),
            (
                Feature::JournalLogs,
                vec![
                    "/var/log/journal:/var/log/journal:ro?",
                    "/run/log/journal:/run/log/journal:ro?",
                    "/etc/machine-id:/etc/machine-id:ro",
                ],
            ),
            (Feature::Gpu, vec!["gpus=1"]),
        ] {
            assert_eq!(granted(feature, socket), expect, "{feature}");
        }
        // balena's own socket path is bound twice only once.
        assert_eq!(
            granted(Feature::BalenaSocket, Some("/var/run/balena.sock")),
            vec![
                "/var/run/balena.sock:/host/run/balena-engine.sock",
                "/var/run/balena.sock:/var/run/balena.sock",
                "DOCKER_HOST=unix:///host/run/balena-engine.sock",
            ]
        );
        // No local socket: nothing to share.
        assert_eq!(granted(Feature::BalenaSocket, None), Vec::<String>::new());
        assert_eq!(
            HostAccess::optional_sources(),
            vec![
                "/lib/firmware",
                "/var/log/journal",
                "/run/log/journal",
                "/lib/modules"
            ]
        );
    }

    #[test]
    fn features_add_up() {
        let f = Features::parse(&labels(&[
            ("io.balena.features.dbus", "1"),
            ("io.balena.features.kernel-modules", "1"),
        ]))
        .unwrap_or_default();
        let access = HostAccess::grant(&f, None);
        assert_eq!(access.binds.len(), 2);
        assert_eq!(access.environment.len(), 1);
        assert!(f.contains(Feature::Dbus) && !f.contains(Feature::Gpu));
    }

    #[test]
    fn validation_reads_feature_labels_at_their_path() {
        let read = |labels: &str| {
            let text = format!(
                r#"{{"version": 1, "apps": {{"main": {{"class": "app", "release": {{"version": "1.0.0",
                    "blocks": {{"web": {{"image": "web:1", "labels": {labels}}}}}}}}}}}}}"#
            );
            crate::TargetState::from_json(&text).map_or_else(|e| e.to_string(), |_| "ok".to_owned())
        };
        assert_eq!(read(r#"{"io.osb.features.dbus": "1"}"#), "ok");
        assert_eq!(read(r#"{"io.balena.features.whatever": "x"}"#), "ok");
        assert_eq!(
            read(r#"{"io.osb.features.dbuss": "1"}"#),
            "apps.main.release.blocks.web.labels.io.osb.features.dbuss: unknown feature 'dbuss' \
             (did you mean 'dbus'?) (OSB's features: balena-socket, dbus, firmware, gpu, \
             journal-logs, kernel-modules, procfs, sysfs)"
        );
        assert_eq!(
            read(r#"{"io.balena.features.sysfs": "yes"}"#),
            "apps.main.release.blocks.web.labels.io.balena.features.sysfs: 'yes' is neither on \
             ('1', 'true', 'on') nor off ('0', 'false', 'off')"
        );
        // The rest of the prefix is still the runtime's.
        assert!(
            read(r#"{"io.osb.app": "x"}"#).contains("label 'io.osb.app' is reserved"),
            "{}",
            read(r#"{"io.osb.app": "x"}"#)
        );
        assert!(read(r#"{"io.osb.featuresx": "1"}"#).contains("is reserved"));
    }

    #[test]
    fn suggestions_are_for_near_names_only() {
        assert_eq!(suggestion("firmwre"), " (did you mean 'firmware'?)");
        assert_eq!(suggestion("journal-log"), " (did you mean 'journal-logs'?)");
        assert_eq!(suggestion("usb"), "");
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
