//! Checks a well-typed release cannot express in its types: references
//! between blocks, volumes and networks, dependency cycles, host ports
//! published twice, reserved labels. And reading a target state
//! ([`TargetState::from_json`]): the format version first, then the types,
//! then these checks, any failure a [`TargetError`].
//!
//! The same checks serve the target state and the compose importer; a
//! scope says how to name paths in each (`apps.main.release.blocks.web`
//! or `services.web`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::mount::VolumeMount;
use super::name::{BlockName, NetworkName, VolumeName};
use super::port::PortMapping;
use super::target::{
    Block, DependsCondition, FORMAT_VERSION, HealthTest, NetworkConfig, TargetState, VolumeConfig,
    unsupported_version,
};

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
    #[error("{path}: label '{label}' is reserved: names starting with 'io.osb.' are the runtime's")]
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
        check_version(text)?;
        let mut de = serde_json::Deserializer::from_str(text);
        let state: TargetState =
            serde_path_to_error::deserialize(&mut de).map_err(|e| TargetError::Parse {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        de.end().map_err(|e| TargetError::Parse {
            path: ".".to_owned(),
            message: e.to_string(),
        })?;
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
/// than by the first field this runtime does not know.
fn check_version(text: &str) -> Result<(), TargetError> {
    #[derive(Deserialize)]
    struct Probe {
        version: Option<serde_json::Value>,
    }
    if let Ok(Probe {
        version: Some(serde_json::Value::Number(n)),
    }) = serde_json::from_str::<Probe>(text)
        && let Some(found) = n.as_u64()
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
        let disabled = target.healthcheck.as_ref().is_some_and(|h| h.is_disabled());
        if *condition == DependsCondition::Healthy && disabled {
            return Err(ReleaseError::NeverHealthy {
                path: here,
                block: dependency.to_string(),
            });
        }
    }
    Ok(())
}

fn check_labels(path: &str, labels: &BTreeMap<String, String>) -> Result<(), ReleaseError> {
    match labels.keys().find(|k| k.starts_with(RESERVED_LABEL_PREFIX)) {
        Some(label) => Err(ReleaseError::ReservedLabel {
            path: path.to_owned(),
            label: label.clone(),
        }),
        None => Ok(()),
    }
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
