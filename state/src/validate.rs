//! Checks a well-typed release cannot express in its types: references
//! between blocks, volumes and networks, dependency cycles, host ports
//! published twice, reserved labels. And reading a target state
//! ([`TargetState::from_json`]): the format version first, then the types,
//! then these checks, any failure a [`TargetError`].
//!
//! The same checks serve the target state and the compose importer; a
//! scope says how to name paths in each (`apps.main.release.blocks.web`
//! or `services.web`).

mod shape;

use std::collections::BTreeMap;

use std::time::Duration;

use super::kind::BlockKind;
use super::mount::VolumeMount;
use super::name::{BlockName, NetworkName, VolumeName};
use super::port::PortMapping;
use super::settings::{self, IpcMode, SharedNamespace, ULIMITS};
use super::target::{
    App, AppClass, Block, BlockRole, DependsCondition, FORMAT_VERSION, HealthTest, NetworkConfig,
    RestartPolicy, TargetState, UpdateStrategy, VolumeConfig, unsupported_version,
};

/// Where a block sees its update-lock directory: the runtime mounts it, so
/// no mount of the block's own may cover it.
pub const LOCK_MOUNT: &str = "/tmp/osb";

/// Labels under this prefix are written by the runtime only.
pub const RESERVED_LABEL_PREFIX: &str = "io.osb.";

/// Why a release is inconsistent. Each message starts with the field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// `depends_on` names a block that is not in the release.
    #[error("{path}: no block named '{block}' in {scope}")]
    UnknownDependency {
        /// Where.
        path: String,
        /// The missing block.
        block: String,
        /// `app 'main'`, or `the compose file`.
        scope: String,
    },
    /// Blocks that depend on each other in a ring.
    #[error("{path}: dependency cycle {cycle}")]
    DependencyCycle {
        /// Where.
        path: String,
        /// The ring, as `a -> b -> a`.
        cycle: String,
    },
    /// A mount of a volume the app does not declare.
    #[error("{path}: no volume named '{volume}' in {scope}")]
    UnknownVolume {
        /// Where.
        path: String,
        /// The missing volume.
        volume: String,
        /// `app 'main'`, or `the compose file`.
        scope: String,
    },
    /// A network the app does not declare.
    #[error("{path}: no network named '{network}' in {scope}")]
    UnknownNetwork {
        /// Where.
        path: String,
        /// The missing network.
        network: String,
        /// `app 'main'`, or `the compose file`.
        scope: String,
    },
    /// The same network listed twice for one block.
    #[error("{path}: network '{network}' is listed twice")]
    DuplicateNetwork {
        /// Where.
        path: String,
        /// The network.
        network: String,
    },
    /// Two mounts at one container path.
    #[error("{path}: two mounts at '{target}'")]
    DuplicateMountTarget {
        /// Where.
        path: String,
        /// The container path.
        target: String,
    },
    /// A host port published twice.
    #[error("{path}: host port {port} is already published by {other}")]
    PortConflict {
        /// Where.
        path: String,
        /// The second mapping.
        port: String,
        /// Where the first one is.
        other: String,
    },
    /// A label under the runtime's prefix.
    #[error(
        "{path}: label '{label}' is reserved: names starting with 'io.osb.' are the runtime's (but for the feature labels 'io.osb.features.*')"
    )]
    ReservedLabel {
        /// Where.
        path: String,
        /// The label.
        label: String,
    },
    /// An environment variable name the engine cannot pass.
    #[error("{path}: '{name}' is not a valid environment variable name")]
    BadEnvironmentName {
        /// Where.
        path: String,
        /// The name.
        name: String,
    },
    /// A value with a NUL byte, which cannot reach a process.
    #[error("{path}: a NUL byte cannot be passed to a process")]
    NulByte {
        /// Where.
        path: String,
    },
    /// `command: []`.
    #[error("{path}: an empty command; leave it out to run the image's own")]
    EmptyCommand {
        /// Where.
        path: String,
    },
    /// A healthcheck that runs nothing.
    #[error("{path}: an empty healthcheck command")]
    EmptyHealthcheck {
        /// Where.
        path: String,
    },
    /// A setting the engine would refuse at create time, or that cannot
    /// hold together with another: checked here so that a release that
    /// cannot run is refused before anything of it is applied.
    #[error("{path}: {message}")]
    Setting {
        /// Where: `apps.main.release.blocks.web.ulimits.nofile`.
        path: String,
        /// What is wrong, and what would be right.
        message: String,
    },
    /// `depends_on: {db: healthy}` where db's healthcheck is off.
    #[error("{path}: '{block}' can never be healthy: its healthcheck is disabled")]
    NeverHealthy {
        /// Where.
        path: String,
        /// The dependency.
        block: String,
    },
}

/// Why a target state was refused. Nothing of it is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not JSON, or not the shape of a target state: a syntax error, an
    /// unknown field, a missing one, a repeated key, a bad value.
    #[error("{}", at(path, message))]
    Parse {
        /// Where: `apps.main.release.blocks.web.image`, or `.` for the top.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// A `version` this runtime does not read.
    #[error("{}", unsupported_version(*found))]
    UnsupportedVersion {
        /// The version found.
        found: u64,
    },
    /// Well-formed, but inconsistent: a dependency on no block, a cycle, ...
    #[error(transparent)]
    Invalid(#[from] ReleaseError),
}

fn at(path: &str, message: &str) -> String {
    // serde_path_to_error says `.` for the top and `?` where it lost track.
    if matches!(path, "." | "?" | "") {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

impl TargetState {
    /// Parses and validates a target state from JSON.
    pub fn from_json(text: &str) -> Result<Self, TargetError> {
        // A syntax error is left to the typed parse, which says where it is.
        if let Ok(document) = serde_json::from_str::<serde_json::Value>(text) {
            check_version(&document)?;
            shape::check(&document).map_err(|e| TargetError::Parse {
                path: e.path,
                message: e.message,
            })?;
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let mut state: TargetState =
            serde_path_to_error::deserialize(&mut de).map_err(|e| TargetError::Parse {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        de.end().map_err(|e| TargetError::Parse {
            path: ".".to_owned(),
            message: e.to_string(),
        })?;
        for app in state.apps.values_mut() {
            settle(&mut app.release.blocks);
        }
        state.validate()?;
        Ok(state)
    }

    /// Checks what the types alone cannot: dependencies name blocks of the
    /// same release and have no cycle, mounts and networks name what the app
    /// declares, host ports are published once, reserved labels are left
    /// alone.
    pub fn validate(&self) -> Result<(), ReleaseError> {
        check_target(self)
    }
}

/// Reads `version` alone first, so a newer format is refused as such rather
/// than by the first field this runtime does not know. Only an object has
/// a version: a top-level array is refused by its shape.
fn check_version(document: &serde_json::Value) -> Result<(), TargetError> {
    if let Some(found) = document
        .as_object()
        .and_then(|top| top.get("version"))
        .and_then(serde_json::Value::as_u64)
        && found != FORMAT_VERSION
    {
        return Err(TargetError::UnsupportedVersion { found });
    }
    Ok(())
}

/// How to name paths and the app in messages.
pub(crate) struct Scope {
    /// The path of the blocks map: `apps.main.release.blocks`, `services`.
    pub blocks: String,
    /// The path of the volumes map: `apps.main.volumes`, `volumes`.
    pub volumes: String,
    /// The path of the networks map: `apps.main.networks`, `networks`.
    pub networks: String,
    /// The app, for messages: `app 'main'`, `the compose file`.
    pub name: String,
}

/// Published ports seen so far, with where each was, across apps.
type Published = Vec<(PortMapping, String)>;

pub(crate) fn check_target(target: &TargetState) -> Result<(), ReleaseError> {
    let mut published = Published::new();
    for (name, app) in &target.apps {
        let scope = Scope {
            blocks: format!("apps.{name}.release.blocks"),
            volumes: format!("apps.{name}.volumes"),
            networks: format!("apps.{name}.networks"),
            name: format!("app '{name}'"),
        };
        check_requires(&format!("apps.{name}.release"), &app.release.requires)?;
        check_kinds(&scope, app)?;
        if let Some(window) = app.release.validation_window
            && !(Duration::from_secs(1)..=MAX_VALIDATION_WINDOW).contains(&window.get())
        {
            return Err(setting(
                format!("apps.{name}.release.validation_window"),
                format!("{window} is outside 1s to 24h"),
            ));
        }
        check_release(
            &scope,
            &app.release.blocks,
            &app.volumes,
            &app.networks,
            &mut published,
        )?;
    }
    Ok(())
}

/// Overlays and the hostapp are the OS's own: only an `os` app holds
/// them, one hostapp at most (a device boots one root filesystem), and no
/// container waits for either (neither ever runs).
fn check_kinds(scope: &Scope, app: &App) -> Result<(), ReleaseError> {
    let mut hostapp: Option<&BlockName> = None;
    for (name, block) in &app.release.blocks {
        let path = format!("{}.{name}", scope.blocks);
        if block.overlay.is_some() && !matches!(block.kind, None | Some(BlockKind::Overlay)) {
            return Err(setting(
                format!("{path}.overlay"),
                "only an overlay block has overlay settings",
            ));
        }
        let Some(kind) = block.kind.filter(|k| !k.is_container()) else {
            continue;
        };
        if app.class != AppClass::Os {
            return Err(setting(
                format!("{path}.kind"),
                format!("a block of kind '{kind}' belongs only to an app of class 'os'"),
            ));
        }
        if block.role == BlockRole::Test {
            return Err(setting(
                format!("{path}.role"),
                format!("a block of kind '{kind}' never runs, so it cannot be a test"),
            ));
        }
        if !block.depends_on.is_empty() {
            return Err(setting(
                format!("{path}.depends_on"),
                format!("a block of kind '{kind}' never runs, so it waits for nothing"),
            ));
        }
        if let Some((waiting, _)) = app
            .release
            .blocks
            .iter()
            .find(|(_, other)| other.depends_on.contains_key(name))
        {
            return Err(setting(
                format!("{}.{waiting}.depends_on.{name}", scope.blocks),
                format!("'{name}' is of kind '{kind}': it never runs, so no block can wait for it"),
            ));
        }
        if kind == BlockKind::Hostapp {
            if let Some(first) = hostapp {
                return Err(setting(
                    format!("{path}.kind"),
                    format!("a release holds one hostapp at most, and '{first}' is one"),
                ));
            }
            hostapp = Some(name);
        }
    }
    Ok(())
}

/// The longest validation window: a release left unvalidated for longer
/// holds the app's rollback open for no reason anyone would want.
const MAX_VALIDATION_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Requirements the contract module cannot read are refused when the
/// target is, naming the entry (`...requires[1].version: ...`), not found
/// out when the release is gated.
fn check_requires(path: &str, requires: &[crate::target::Requirement]) -> Result<(), ReleaseError> {
    if requires.is_empty() {
        return Ok(());
    }
    crate::gate::requirements("sw.check", "check", requires)
        .map(drop)
        .map_err(|e| match e {
            osb_contract::ContractError::Invalid { path: at, message } => {
                setting(format!("{path}.{at}"), message)
            }
            osb_contract::ContractError::Range { path: at, source } => {
                setting(format!("{path}.{at}"), source.to_string())
            }
            other => setting(format!("{path}.requires"), other.to_string()),
        })
}

/// Checks one app's blocks against each other and its volumes and networks.
pub(crate) fn check_app(
    scope: &Scope,
    blocks: &BTreeMap<BlockName, Block>,
    volumes: &BTreeMap<VolumeName, VolumeConfig>,
    networks: &BTreeMap<NetworkName, NetworkConfig>,
) -> Result<(), ReleaseError> {
    check_release(scope, blocks, volumes, networks, &mut Published::new())
}

fn check_release(
    scope: &Scope,
    blocks: &BTreeMap<BlockName, Block>,
    volumes: &BTreeMap<VolumeName, VolumeConfig>,
    networks: &BTreeMap<NetworkName, NetworkConfig>,
    published: &mut Published,
) -> Result<(), ReleaseError> {
    for (name, volume) in volumes {
        check_labels(&format!("{}.{name}.labels", scope.volumes), &volume.labels)?;
    }
    for (name, network) in networks {
        check_labels(
            &format!("{}.{name}.labels", scope.networks),
            &network.labels,
        )?;
    }
    for (name, block) in blocks {
        let path = format!("{}.{name}", scope.blocks);
        check_block(scope, &path, block, blocks, volumes, networks)?;
        for (i, port) in block.ports.iter().enumerate() {
            let here = format!("{path}.ports[{i}]");
            if let Some((_, other)) = published.iter().find(|(p, _)| p.conflicts_with(port)) {
                return Err(ReleaseError::PortConflict {
                    path: here,
                    port: port.to_string(),
                    other: other.clone(),
                });
            }
            if port.published.is_some() {
                published.push((*port, here));
            }
        }
    }
    check_cycles(scope, blocks)
}

fn check_block(
    scope: &Scope,
    path: &str,
    block: &Block,
    blocks: &BTreeMap<BlockName, Block>,
    volumes: &BTreeMap<VolumeName, VolumeConfig>,
    networks: &BTreeMap<NetworkName, NetworkConfig>,
) -> Result<(), ReleaseError> {
    check_requires(path, &block.requires)?;
    if let Some(command) = &block.command {
        if command.is_empty() {
            return Err(ReleaseError::EmptyCommand {
                path: format!("{path}.command"),
            });
        }
        if command.iter().any(|arg| arg.contains('\0')) {
            return Err(ReleaseError::NulByte {
                path: format!("{path}.command"),
            });
        }
    }
    for (key, value) in &block.environment {
        let path = format!("{path}.environment.{key}");
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(ReleaseError::BadEnvironmentName {
                path,
                name: key.clone(),
            });
        }
        if value.contains('\0') {
            return Err(ReleaseError::NulByte { path });
        }
    }
    check_labels(&format!("{path}.labels"), &block.labels)?;
    check_settings(path, block, blocks)?;

    let mut targets = BTreeMap::new();
    for (i, mount) in block.volumes.iter().enumerate() {
        let here = format!("{path}.volumes[{i}]");
        if let VolumeMount::Volume { source, .. } = mount
            && !volumes.contains_key(source)
        {
            return Err(ReleaseError::UnknownVolume {
                path: here,
                volume: source.to_string(),
                scope: scope.name.clone(),
            });
        }
        check_mount(&here, mount)?;
        if targets.insert(mount.target().as_str(), ()).is_some() {
            return Err(ReleaseError::DuplicateMountTarget {
                path: here,
                target: mount.target().to_string(),
            });
        }
    }

    for (i, network) in block.networks.iter().enumerate() {
        let here = format!("{path}.networks[{i}]");
        if block.networks[..i].contains(network) {
            return Err(ReleaseError::DuplicateNetwork {
                path: here,
                network: network.to_string(),
            });
        }
        if !networks.contains_key(network) && *network != NetworkName::default_network() {
            return Err(ReleaseError::UnknownNetwork {
                path: here,
                network: network.to_string(),
                scope: scope.name.clone(),
            });
        }
    }

    if let Some(check) = &block.healthcheck {
        for (field, value) in [
            ("interval", check.interval),
            ("timeout", check.timeout),
            ("start_period", check.start_period),
        ] {
            // The engine's own floor: a shorter non-zero period is refused
            // at create time.
            if let Some(value) = value
                && !value.get().is_zero()
                && value.get() < Duration::from_millis(1)
            {
                return Err(setting(
                    format!("{path}.healthcheck.{field}"),
                    format!("{value} is under the engine's minimum of 1ms"),
                ));
            }
        }
        let empty = match &check.test {
            Some(HealthTest::Cmd(argv)) => argv.is_empty() || argv[0].is_empty(),
            Some(HealthTest::Shell(line)) => line.trim().is_empty(),
            _ => false,
        };
        if empty {
            return Err(ReleaseError::EmptyHealthcheck {
                path: format!("{path}.healthcheck.test"),
            });
        }
    }

    for (dependency, condition) in &block.depends_on {
        let here = format!("{path}.depends_on.{dependency}");
        let Some(target) = blocks.get(dependency) else {
            return Err(ReleaseError::UnknownDependency {
                path: here,
                block: dependency.to_string(),
                scope: scope.name.clone(),
            });
        };
        if target.role == BlockRole::Test {
            return Err(setting(
                here,
                format!(
                    "'{dependency}' is a test block: it runs only while the release is \
                     validated, so no block can wait for it"
                ),
            ));
        }
        let disabled = target.healthcheck.as_ref().is_some_and(|h| h.is_disabled());
        if *condition == DependsCondition::Healthy && disabled {
            return Err(ReleaseError::NeverHealthy {
                path: here,
                block: dependency.to_string(),
            });
        }
        let restarts = matches!(
            target.restart,
            Some(RestartPolicy::Always | RestartPolicy::UnlessStopped)
        );
        if *condition == DependsCondition::Completed && restarts {
            return Err(setting(
                here,
                format!(
                    "'{dependency}' can never stay completed: its restart policy '{}' starts it \
                     again when it exits; use 'no' or 'on-failure'",
                    target.restart().as_str()
                ),
            ));
        }
    }
    if block.role == BlockRole::Test {
        check_test_block(path, block)?;
    }
    Ok(())
}

/// A test block runs once, and only while its release is validated: a
/// restart policy that would start it again, or a port published for a
/// block that comes and goes, is a mistake to say at once.
fn check_test_block(path: &str, block: &Block) -> Result<(), ReleaseError> {
    if let Some(restart) = block.restart
        && restart != RestartPolicy::No
    {
        return Err(setting(
            format!("{path}.restart"),
            format!(
                "a test block runs once: its restart policy must be 'no', not '{}'",
                restart.as_str()
            ),
        ));
    }
    if block.optional {
        return Err(setting(
            format!("{path}.optional"),
            "a test block cannot be optional: a release is validated by all its tests",
        ));
    }
    Ok(())
}

fn check_labels(path: &str, labels: &BTreeMap<String, String>) -> Result<(), ReleaseError> {
    // Feature labels are what a block asks for, not the runtime's records:
    // `io.osb.features.*` is the one part of the prefix a target may write.
    let reserved = |k: &&String| {
        k.starts_with(RESERVED_LABEL_PREFIX) && !k.starts_with(super::features::OSB_PREFIX)
    };
    if let Some(label) = labels.keys().find(reserved) {
        return Err(ReleaseError::ReservedLabel {
            path: path.to_owned(),
            label: label.clone(),
        });
    }
    super::features::Features::parse(labels)
        .map(drop)
        .map_err(|e| ReleaseError::Setting {
            path: format!("{path}.{}", e.label),
            message: e.message,
        })
}

/// Depth-first search; the first back edge found closes a cycle, reported
/// from the block it starts at: `a -> b -> a`. Dependencies are known to
/// exist (checked before).
fn check_cycles(scope: &Scope, blocks: &BTreeMap<BlockName, Block>) -> Result<(), ReleaseError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unvisited,
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<&BlockName, Mark> =
        blocks.keys().map(|k| (k, Mark::Unvisited)).collect();

    for start in blocks.keys() {
        if marks.get(start) != Some(&Mark::Unvisited) {
            continue;
        }
        // An explicit stack of (block, its dependencies still to visit), so a
        // long chain cannot overflow the call stack.
        let mut path: Vec<&BlockName> = vec![start];
        let mut stack = vec![
            blocks
                .get(start)
                .map(|b| b.depends_on.keys())
                .into_iter()
                .flatten(),
        ];
        marks.insert(start, Mark::OnPath);
        while let Some(next) = stack.last_mut() {
            match next.next() {
                Some(dep) => match marks.get(dep).copied() {
                    Some(Mark::Unvisited) => {
                        marks.insert(dep, Mark::OnPath);
                        path.push(dep);
                        stack.push(
                            blocks
                                .get(dep)
                                .map(|b| b.depends_on.keys())
                                .into_iter()
                                .flatten(),
                        );
                    }
                    Some(Mark::OnPath) => {
                        let from = path.iter().position(|b| *b == dep).unwrap_or(0);
                        let mut ring: Vec<String> =
                            path[from..].iter().map(|b| b.to_string()).collect();
                        ring.push(dep.to_string());
                        return Err(ReleaseError::DependencyCycle {
                            path: format!("{}.{}.depends_on", scope.blocks, path[from]),
                            cycle: ring.join(" -> "),
                        });
                    }
                    _ => {}
                },
                None => {
                    stack.pop();
                    if let Some(done) = path.pop() {
                        marks.insert(done, Mark::Done);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Fills in the defaults that depend on the rest of the release, as
/// compose does: a block that another waits on to complete, with no
/// restart policy of its own, runs once (`no`, not `always`); a block that
/// joins another's namespace (`network_mode: service:db`) starts after it.
pub(crate) fn settle(blocks: &mut BTreeMap<BlockName, Block>) {
    let one_shot: Vec<BlockName> = blocks
        .values()
        .flat_map(|b| &b.depends_on)
        .filter(|(_, condition)| **condition == DependsCondition::Completed)
        .map(|(name, _)| name.clone())
        .collect();
    // A test block runs once, like a block waited on to complete.
    let tests: Vec<BlockName> = blocks
        .iter()
        .filter(|(_, b)| b.role == BlockRole::Test)
        .map(|(name, _)| name.clone())
        .collect();
    for name in one_shot.into_iter().chain(tests) {
        if let Some(block) = blocks.get_mut(&name)
            && block.restart.is_none()
        {
            block.restart = Some(RestartPolicy::No);
        }
    }
    for block in blocks.values_mut() {
        let joined: Vec<BlockName> = [
            block.network_mode.as_ref().map(|m| &m.0),
            block.pid.as_ref().map(|m| &m.0),
            block.ipc.as_ref().map(|m| &m.0),
        ]
        .into_iter()
        .flatten()
        .filter_map(SharedNamespace::service)
        .cloned()
        .collect();
        for other in joined {
            block
                .depends_on
                .entry(other)
                .or_insert(DependsCondition::Started);
        }
    }
    // An IPC namespace is joined only if its owner shares it, and engines
    // default to private: a donor that says nothing is made shareable.
    let ipc_donors: Vec<BlockName> = blocks
        .values()
        .filter_map(|b| b.ipc.as_ref().and_then(|m| m.0.service()).cloned())
        .collect();
    for donor in ipc_donors {
        if let Some(block) = blocks.get_mut(&donor)
            && block.ipc.is_none()
        {
            block.ipc = Some(IpcMode(SharedNamespace::Shareable));
        }
    }
}

fn setting(path: impl Into<String>, message: impl Into<String>) -> ReleaseError {
    ReleaseError::Setting {
        path: path.into(),
        message: message.into(),
    }
}

/// The engine's smallest memory limit.
const MIN_MEMORY: u64 = 6 << 20;

/// Checks one mount against what the engine and the runtime need.
fn check_mount(path: &str, mount: &VolumeMount) -> Result<(), ReleaseError> {
    let target = mount.target().as_str().trim_end_matches('/');
    if target.is_empty() {
        return Err(setting(
            format!("{path}.target"),
            "a mount over the container's root '/' is not possible",
        ));
    }
    if target == LOCK_MOUNT || target.starts_with(&format!("{LOCK_MOUNT}/")) {
        return Err(setting(
            format!("{path}.target"),
            format!("'{LOCK_MOUNT}' is where the runtime mounts the block's update lock"),
        ));
    }
    if let VolumeMount::Tmpfs {
        size: Some(size), ..
    } = mount
        && (*size == 0 || i64::try_from(*size).is_err())
    {
        return Err(setting(
            format!("{path}.size"),
            format!(
                "{size} bytes is not a size the engine takes (1 to {})",
                i64::MAX
            ),
        ));
    }
    Ok(())
}

/// The container settings: each on its own, and against each other.
fn check_settings(
    path: &str,
    block: &Block,
    blocks: &BTreeMap<BlockName, Block>,
) -> Result<(), ReleaseError> {
    let field = |name: &str| format!("{path}.{name}");
    for (name, namespace) in [
        ("network_mode", block.network_mode.as_ref().map(|m| &m.0)),
        ("pid", block.pid.as_ref().map(|m| &m.0)),
        ("ipc", block.ipc.as_ref().map(|m| &m.0)),
    ] {
        if let Some(other) = namespace.and_then(SharedNamespace::service) {
            if !blocks.contains_key(other) {
                return Err(setting(
                    field(name),
                    format!("no block named '{other}' in the release"),
                ));
            }
            if blocks.get(other).is_some_and(|b| std::ptr::eq(b, block)) {
                return Err(setting(
                    field(name),
                    "a block cannot join its own namespace",
                ));
            }
        }
    }
    if let Some(mode) = &block.network_mode {
        if !block.networks.is_empty() {
            return Err(setting(
                field("networks"),
                format!(
                    "a block with network_mode '{}' joins no network of its app",
                    mode.0.as_string()
                ),
            ));
        }
        if let Some(i) = block.ports.iter().position(|p| p.published.is_some()) {
            return Err(setting(
                format!("{path}.ports[{i}]"),
                format!(
                    "ports are published from the app's networks; under network_mode '{}' the \
                     block {}",
                    mode.0.as_string(),
                    if mode.0 == SharedNamespace::Host {
                        "binds the host's ports itself: leave 'published' out"
                    } else {
                        "has no network of its own to publish from"
                    }
                ),
            ));
        }
        let joins_another = mode.0.service().is_some();
        let own_network_settings = [
            ("hostname", block.hostname.is_some()),
            ("mac_address", block.mac_address.is_some()),
            ("dns", !block.dns.is_empty()),
            ("dns_search", !block.dns_search.is_empty()),
            ("dns_opt", !block.dns_opt.is_empty()),
            ("extra_hosts", !block.extra_hosts.is_empty()),
        ];
        if joins_another && let Some((name, _)) = own_network_settings.iter().find(|(_, set)| *set)
        {
            return Err(setting(
                field(name),
                "the block shares another block's network namespace, which decides this",
            ));
        }
        if joins_another && !block.ports.is_empty() {
            return Err(setting(
                field("ports"),
                "the block shares another block's network namespace: its ports are that block's",
            ));
        }
        if mode.0 == SharedNamespace::None && block.mac_address.is_some() {
            return Err(setting(
                field("mac_address"),
                "under network_mode 'none' there is no interface to give it",
            ));
        }
        if mode.0 == SharedNamespace::Host && block.mac_address.is_some() {
            return Err(setting(
                field("mac_address"),
                "under network_mode 'host' the host's interfaces keep their addresses",
            ));
        }
    }
    if matches!(block.update_strategy, UpdateStrategy::HandOver { .. }) {
        let host_port = block.ports.iter().position(|p| p.published.is_some());
        let host_network = block
            .network_mode
            .as_ref()
            .is_some_and(|m| m.0 == SharedNamespace::Host);
        if let Some(i) = host_port {
            return Err(setting(
                field("update_strategy"),
                format!(
                    "hand-over runs the new container beside the old one, and both cannot bind \
                     host port {} ({path}.ports[{i}]): use download-then-kill",
                    block.ports[i]
                ),
            ));
        }
        if host_network {
            return Err(setting(
                field("update_strategy"),
                "hand-over runs the new container beside the old one, and under network_mode \
                 'host' both would bind the same host ports: use download-then-kill",
            ));
        }
    }
    for (name, value) in &block.sysctls {
        let here = format!("{path}.sysctls.{name}");
        if !settings::namespaced_sysctl(name) {
            return Err(setting(
                here,
                "not a sysctl of the container's own namespaces (net.*, fs.mqueue.* and the IPC \
                 kernel.* ones): it would change the host's",
            ));
        }
        let host_network = block
            .network_mode
            .as_ref()
            .is_some_and(|m| m.0 != SharedNamespace::None);
        if name.starts_with("net.") && host_network {
            return Err(setting(
                here,
                "a net.* sysctl needs the block's own network namespace",
            ));
        }
        if value.contains('\0') {
            return Err(ReleaseError::NulByte { path: here });
        }
    }
    for (name, limit) in &block.ulimits {
        let here = format!("{path}.ulimits.{name}");
        if !ULIMITS.contains(&name.as_str()) {
            return Err(setting(
                here,
                format!("unknown resource limit (one of {})", ULIMITS.join(", ")),
            ));
        }
        // -1 is unlimited, above every number.
        let rank = |n: i64| if n == -1 { i128::MAX } else { i128::from(n) };
        if limit.soft < -1 || limit.hard < -1 {
            return Err(setting(here, "a limit is -1 (unlimited) or at least 0"));
        }
        if rank(limit.soft) > rank(limit.hard) {
            return Err(setting(
                here,
                format!(
                    "the soft limit {} is above the hard limit {}",
                    limit.soft, limit.hard
                ),
            ));
        }
    }
    if let Some(adj) = block.oom_score_adj
        && !(-1000..=1000).contains(&adj)
    {
        return Err(setting(field("oom_score_adj"), "from -1000 to 1000"));
    }
    for (name, value) in [
        ("mem_limit", block.mem_limit),
        ("mem_reservation", block.mem_reservation),
    ] {
        if let Some(bytes) = value
            && bytes < MIN_MEMORY
        {
            return Err(setting(
                field(name),
                format!("{bytes} bytes is under the engine's minimum of 6 MiB"),
            ));
        }
        if let Some(bytes) = value
            && i64::try_from(bytes).is_err()
        {
            return Err(setting(field(name), "too large"));
        }
    }
    if let (Some(reservation), Some(limit)) = (block.mem_reservation, block.mem_limit)
        && reservation > limit
    {
        return Err(setting(
            field("mem_reservation"),
            "above mem_limit: the soft limit must be at most the hard one",
        ));
    }
    if let Some(swap) = block.memswap_limit {
        let Some(limit) = block.mem_limit else {
            return Err(setting(
                field("memswap_limit"),
                "needs mem_limit: it is memory plus swap",
            ));
        };
        if swap != -1 && (swap < 0 || u64::try_from(swap).is_ok_and(|s| s < limit)) {
            return Err(setting(
                field("memswap_limit"),
                "is memory plus swap: -1 (unlimited swap) or at least mem_limit",
            ));
        }
    }
    if block.oom_kill_disable && block.mem_limit.is_none() {
        return Err(setting(
            field("oom_kill_disable"),
            "without mem_limit, a block the kernel may not kill can take the device's memory",
        ));
    }
    if let Some(size) = block.shm_size
        && (size == 0 || i64::try_from(size).is_err())
    {
        return Err(setting(field("shm_size"), "from 1 byte to 2^63-1"));
    }
    if block.cpus.is_some() && block.cpu_quota.is_some() {
        return Err(setting(
            field("cpu_quota"),
            "cpus and cpu_quota both limit CPU time, and the engine takes only one: keep cpus",
        ));
    }
    if let Some(IpcMode(SharedNamespace::Service(donor))) = &block.ipc
        && let Some(ipc) = blocks.get(donor).and_then(|b| b.ipc.as_ref())
        && ipc.0 != SharedNamespace::Shareable
    {
        return Err(setting(
            field("ipc"),
            format!(
                "'{donor}' keeps its IPC namespace to itself (ipc '{}'): it needs ipc 'shareable'",
                ipc.0.as_string()
            ),
        ));
    }
    if let Some(quota) = block.cpu_quota
        && quota < 1000
    {
        return Err(setting(
            field("cpu_quota"),
            "under the engine's minimum of 1000 microseconds",
        ));
    }
    if let Some(shares) = block.cpu_shares
        && shares < 2
    {
        return Err(setting(field("cpu_shares"), "at least 2"));
    }
    if let Some(entrypoint) = &block.entrypoint
        && entrypoint.iter().any(|arg| arg.contains('\0'))
    {
        return Err(ReleaseError::NulByte {
            path: field("entrypoint"),
        });
    }
    for (name, value) in [
        ("user", block.user.as_deref()),
        ("runtime", block.runtime.as_deref()),
    ] {
        if value.is_some_and(|v| v.is_empty() || v.contains('\0')) {
            return Err(setting(field(name), "empty, or holds a NUL byte"));
        }
    }
    Ok(())
}
