//! The device's contract: the context a release's requirements are checked
//! against (`osb contract show`). Its children say what the device is and
//! what it runs:
//!
//! - the device's own contract (`hw.device-type`), from the `[device]
//!   contract` file until a hardware adapter answers `device-contract`;
//! - `arch.sw`: the architecture, in balena's slugs (`amd64`, `aarch64`,
//!   `armv7hf`, `i386`);
//! - `sw.os`: each `os`-class app of the stored target, by its release;
//! - `sw.osb`: this runtime, as balena's `sw.supervisor`, with the
//!   device's mode as `data.variant` (`development` or `production`, as a
//!   balenaOS image's variant);
//! - `sw.kernel`: the running kernel, from uname;
//! - `sw.block`: every block of the stored target that runs, per the engine.
//!
//! [`assemble`] is pure, from facts its caller gathered; the rest of the
//! module gathers them ([`read_contract`], [`kernel_release`],
//! [`running_blocks`]).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use osb_contract::{Contract, ContractError, MAX_CONTRACT_BYTES};
use osb_state::target::AppClass;
use osb_state::{BlockId, Container, ContainerStatus, TargetState};

use crate::mode::Mode;

/// The root's type: the root is the context itself, not a thing in it,
/// since a requirement is matched by the root's descendants only.
pub const ROOT_TYPE: &str = "meta.context";
/// The root's slug.
pub const ROOT_SLUG: &str = "device";
/// The `arch.sw` child's type.
pub const ARCH_TYPE: &str = "arch.sw";
/// The type of an OS release.
pub const OS_TYPE: &str = "sw.os";
/// The type of the runtime's own child.
pub const OSB_TYPE: &str = "sw.osb";
/// The runtime's slug within [`OSB_TYPE`].
pub const OSB_SLUG: &str = "osb";
/// The kernel's type.
pub const KERNEL_TYPE: &str = "sw.kernel";
/// The kernel's slug within [`KERNEL_TYPE`].
pub const KERNEL_SLUG: &str = "linux";
/// The type of a running block, whose slug is `app/block`.
pub const BLOCK_TYPE: &str = "sw.block";
/// The `sw.osb` child's data field holding the device's mode.
pub const VARIANT_FIELD: &str = "variant";
/// This runtime's version, the `sw.osb` child's.
pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the device's contract is assembled from, each gathered by the
/// caller.
#[derive(Debug, Clone, Copy)]
pub struct DeviceFacts<'a> {
    /// The device's own contract (`hw.device-type`), if the device config
    /// names one.
    pub device: Option<&'a Contract>,
    /// The `arch.sw` slug ([`arch_slug`]).
    pub arch: &'a str,
    /// The kernel's release as uname gives it (`6.1.0-18-amd64`), if known.
    pub kernel_release: Option<&'a str>,
    /// The stored target, if one was applied.
    pub target: Option<&'a TargetState>,
    /// The target's blocks that run, per the engine ([`running_blocks`]).
    pub running: &'a BTreeSet<BlockId>,
    /// The device's mode now: a block may require development mode.
    pub mode: Mode,
}

/// The device's contract: a [`ROOT_TYPE`] whose children are the device,
/// its architecture, OS releases, the runtime, the kernel and the running
/// blocks, in that order.
pub fn assemble(facts: DeviceFacts<'_>) -> Contract {
    let mut root = Contract::new(ROOT_TYPE, ROOT_SLUG);
    root.children.extend(facts.device.cloned());
    root.children.push(Contract::new(ARCH_TYPE, facts.arch));
    if let Some(target) = facts.target {
        root.children.extend(os_releases(target));
    }
    root.children.push(runtime(facts.mode));
    root.children.extend(facts.kernel_release.map(kernel));
    if let Some(target) = facts.target {
        root.children.extend(blocks(target, facts.running));
    }
    root
}

/// balena's slug for the architecture Rust names (`std::env::consts::ARCH`);
/// one balena has no slug for keeps Rust's name.
pub fn arch_slug(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "aarch64",
        "arm" => "armv7hf",
        "x86" => "i386",
        other => other,
    }
}

/// The blocks of `target` that run: a running container of the block (any
/// health) created for the target's release of it, so that the version the
/// contract gives the block is the one running. A container of an older
/// release, still up during an update, does not count.
pub fn running_blocks(target: &TargetState, containers: &[Container]) -> BTreeSet<BlockId> {
    containers
        .iter()
        .filter(|c| matches!(c.status, ContainerStatus::Running { .. }))
        .filter_map(|c| c.owner.as_ref())
        .filter(|owner| {
            target.apps.get(&owner.app).is_some_and(|app| {
                app.release.version == owner.release
                    && app.release.blocks.contains_key(&owner.block)
            })
        })
        .map(|owner| BlockId::new(&owner.app, &owner.block))
        .collect()
}

/// A contract file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ContractFileError {
    /// It could not be opened or read, or is no regular file.
    #[error("contract file '{}': {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// It holds more than [`MAX_CONTRACT_BYTES`].
    #[error("contract file '{}' is larger than the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// It is no contract; the error names the field.
    #[error("contract file '{}': {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        source: ContractError,
    },
}

/// Reads a contract file, reading no more than [`MAX_CONTRACT_BYTES`] (a
/// device or a pipe that never ends is refused, not waited on to the end).
pub fn read_contract(path: &Path) -> Result<Contract, ContractFileError> {
    let read_error = |reason: String| ContractFileError::Read {
        path: path.to_owned(),
        reason,
    };
    // Checked before opening: opening a FIFO would wait for a writer.
    let meta = std::fs::metadata(path).map_err(|e| read_error(e.to_string()))?;
    if !meta.is_file() {
        return Err(read_error("not a regular file".to_owned()));
    }
    let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
    let mut bytes = Vec::new();
    let cap = u64::try_from(MAX_CONTRACT_BYTES).unwrap_or(u64::MAX);
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(e.to_string()))?;
    if bytes.len() > MAX_CONTRACT_BYTES {
        return Err(ContractFileError::TooLarge {
            path: path.to_owned(),
            limit: MAX_CONTRACT_BYTES,
        });
    }
    Contract::from_json(&bytes).map_err(|source| ContractFileError::Invalid {
        path: path.to_owned(),
        source,
    })
}

/// The running kernel's release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

fn versioned(kind: &str, slug: &str, version: String) -> Contract {
    let mut contract = Contract::new(kind, slug);
    contract.version = Some(version);
    contract
}

/// The runtime, its mode a data field rather than a child of its own, as
/// balena tells a development image from a production one by its variant:
/// a block requires `{"type": "sw.osb", "data": {"variant": "development"}}`
/// and the same requirement can ask for production.
fn runtime(mode: Mode) -> Contract {
    let mut contract = versioned(OSB_TYPE, OSB_SLUG, RUNTIME_VERSION.to_owned());
    contract.data.insert(
        VARIANT_FIELD.to_owned(),
        Value::String(mode.as_str().to_owned()),
    );
    contract
}

fn os_releases(target: &TargetState) -> impl Iterator<Item = Contract> + '_ {
    target
        .apps
        .iter()
        .filter(|(_, app)| app.class == AppClass::Os)
        .map(|(name, app)| versioned(OS_TYPE, name.as_str(), app.release.version.to_string()))
}

/// A distribution's suffix (`-18-amd64`, `-generic`) reads as a semver
/// pre-release, which no plain range (`>=6`) admits: the version is the
/// kernel's own numbers, and the release as given is kept in
/// `data.release` for a requirement that needs the whole string.
fn kernel(release: &str) -> Contract {
    let version = osb_contract::version::coerce(release)
        .map_or_else(|| release.to_owned(), |v| v.to_string());
    let mut contract = versioned(KERNEL_TYPE, KERNEL_SLUG, version);
    contract
        .data
        .insert("release".to_owned(), Value::String(release.to_owned()));
    contract
}

fn blocks<'a>(
    target: &'a TargetState,
    running: &'a BTreeSet<BlockId>,
) -> impl Iterator<Item = Contract> + 'a {
    target.apps.iter().flat_map(move |(app_name, app)| {
        app.release
            .blocks
            .keys()
            .map(move |block| BlockId::new(app_name, block))
            .filter(|id| running.contains(id))
            .map(move |id| versioned(BLOCK_TYPE, &id.to_string(), app.release.version.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use osb_contract::{check, check_children};
    use osb_state::current::{ContainerId, Health, ImageId};
    use osb_state::labels::BlockLabels;
    use osb_state::target::ConfigHash;
    use osb_state::{AppName, BlockName};

    fn target() -> TargetState {
        TargetState::from_json(
            r#"{
                "version": 1,
                "apps": {
                    "balena-os": { "class": "os", "release": { "version": "2.115.3",
                        "blocks": { "hostapp": { "image": "busybox:1" } } } },
                    "main": { "class": "app", "release": { "version": "1.4.0",
                        "blocks": { "web": { "image": "busybox:1" }, "db": { "image": "busybox:1" } } } }
                }
            }"#,
        )
        .unwrap()
    }

    fn id(text: &str) -> BlockId {
        let (app, block) = text.split_once('/').unwrap();
        BlockId::new(&AppName::new(app).unwrap(), &BlockName::new(block).unwrap())
    }

    fn jetson() -> Contract {
        Contract::from_json_str(
            r#"{ "type": "hw.device-type", "slug": "jetson-tx2", "version": "1",
                 "data": { "arch": "aarch64" } }"#,
        )
        .unwrap()
    }

    /// Each child as `type slug@version`, in order.
    fn labels(contract: &Contract) -> Vec<String> {
        contract.children.iter().map(Contract::label).collect()
    }

    #[test]
    fn arch_slugs_are_balenas() {
        let table = [
            ("x86_64", "amd64"),
            ("aarch64", "aarch64"),
            ("arm", "armv7hf"),
            ("x86", "i386"),
            ("riscv64", "riscv64"),
        ];
        for (rust, balena) in table {
            assert_eq!(arch_slug(rust), balena, "{rust}");
        }
    }

    #[test]
    fn assembles_every_child_in_order() {
        let target = target();
        let device = jetson();
        let running = BTreeSet::from([id("main/web"), id("balena-os/hostapp")]);
        let contract = assemble(DeviceFacts {
            device: Some(&device),
            arch: "aarch64",
            kernel_release: Some("5.10.120-tegra"),
            target: Some(&target),
            running: &running,
            mode: Mode::Production,
        });
        assert_eq!(contract.label(), "meta.context device");
        assert_eq!(
            labels(&contract),
            [
                "hw.device-type jetson-tx2@1".to_owned(),
                "arch.sw aarch64".to_owned(),
                "sw.os balena-os@2.115.3".to_owned(),
                format!("sw.osb osb@{RUNTIME_VERSION}"),
                "sw.kernel linux@5.10.120".to_owned(),
                "sw.block balena-os/hostapp@2.115.3".to_owned(),
                "sw.block main/web@1.4.0".to_owned(),
            ]
        );
        assert_eq!(contract.children[4].data["release"], "5.10.120-tegra");
    }

    #[test]
    fn what_is_unknown_is_left_out() {
        let running = BTreeSet::new();
        let contract = assemble(DeviceFacts {
            device: None,
            arch: "amd64",
            kernel_release: None,
            target: None,
            running: &running,
            mode: Mode::Production,
        });
        assert_eq!(
            labels(&contract),
            [
                "arch.sw amd64".to_owned(),
                format!("sw.osb osb@{RUNTIME_VERSION}")
            ]
        );
    }

    /// A kernel's distribution suffix must not make it a pre-release that
    /// a plain range refuses; a release with no number stays as given.
    #[test]
    fn kernel_versions_meet_plain_ranges() {
        let table = [
            ("6.1.0-18-amd64", "6.1.0", ">=6", true),
            ("5.10.120-tegra", "5.10.120", ">=5.10 <5.11", true),
            ("6.6.87.2-microsoft-standard-WSL2", "6.6.87", "^6.6", true),
            ("4.9.253-tegra", "4.9.253", ">=5", false),
            ("6.8.0", "6.8.0", "6.8.0", true),
            ("custom", "custom", "custom", true),
        ];
        for (release, version, range, holds) in table {
            let running = BTreeSet::new();
            let contract = assemble(DeviceFacts {
                device: None,
                arch: "amd64",
                kernel_release: Some(release),
                target: None,
                running: &running,
                mode: Mode::Production,
            });
            let kernel = &contract.children[2];
            assert_eq!(kernel.version.as_deref(), Some(version), "{release}");
            let require = Contract::from_json_str(&format!(
                r#"{{"type": "sw.block", "slug": "b",
                    "requires": [{{"type": "sw.kernel", "slug": "linux", "version": "{range}"}}]}}"#
            ))
            .unwrap();
            assert_eq!(
                check(&contract, &require).holds(),
                holds,
                "{release} {range}"
            );
        }
    }

    /// The fixtures' meaning holds on an assembled contract: an aarch64
    /// block needs an aarch64 device type, and the device agrees with itself.
    #[test]
    fn requirements_meet_the_assembled_contract() {
        let target = target();
        let device = jetson();
        let running = BTreeSet::from([id("main/db")]);
        let contract = assemble(DeviceFacts {
            device: Some(&device),
            arch: "aarch64",
            kernel_release: Some("5.10.120-tegra"),
            target: Some(&target),
            running: &running,
            mode: Mode::Production,
        });
        let require = |requires: &str| {
            Contract::from_json_str(&format!(
                r#"{{"type": "sw.block", "slug": "b", "requires": {requires}}}"#
            ))
            .unwrap()
        };
        let table = [
            (
                r#"[{"type": "hw.device-type", "data": {"arch": "aarch64"}}]"#,
                true,
            ),
            (r#"[{"type": "arch.sw", "slug": "aarch64"}]"#, true),
            (r#"[{"type": "arch.sw", "slug": "amd64"}]"#, false),
            (
                r#"[{"type": "sw.os", "slug": "balena-os", "version": ">=2.100"}]"#,
                true,
            ),
            (
                r#"[{"type": "sw.osb", "slug": "osb", "version": ">=0.1"}]"#,
                true,
            ),
            (
                r#"[{"type": "sw.block", "slug": "main/db", "version": "^1.4"}]"#,
                true,
            ),
            (r#"[{"type": "sw.block", "slug": "main/web"}]"#, false),
        ];
        for (requires, holds) in table {
            assert_eq!(
                check(&contract, &require(requires)).holds(),
                holds,
                "{requires}"
            );
        }
        assert!(check_children(&contract).holds());
    }

    /// A block that needs development mode runs in development mode only,
    /// and one that asks for production the other way round.
    #[test]
    fn the_mode_is_the_runtimes_variant() {
        let require = |variant: &str| {
            Contract::from_json_str(&format!(
                r#"{{"type": "sw.block", "slug": "b",
                    "requires": [{{"type": "sw.osb", "data": {{"variant": "{variant}"}}}}]}}"#
            ))
            .unwrap()
        };
        let running = BTreeSet::new();
        for (mode, variant, holds) in [
            (Mode::Development, "development", true),
            (Mode::Production, "development", false),
            (Mode::Production, "production", true),
            (Mode::Development, "production", false),
        ] {
            let contract = assemble(DeviceFacts {
                device: None,
                arch: "amd64",
                kernel_release: None,
                target: None,
                running: &running,
                mode,
            });
            assert_eq!(contract.children[1].data[VARIANT_FIELD], mode.as_str());
            assert_eq!(
                check(&contract, &require(variant)).holds(),
                holds,
                "{mode} device, {variant} required"
            );
        }
    }

    #[test]
    fn running_blocks_are_the_targets_release_running() {
        let target = target();
        let hash = ConfigHash::parse(&"0".repeat(64)).unwrap();
        let container = |block: &str, release: &str, status: ContainerStatus| {
            let block = id(block);
            Container {
                id: ContainerId(format!("{block}")),
                owner: Some(BlockLabels {
                    app: block.app,
                    block: block.block,
                    release: release.parse().unwrap(),
                    config_hash: hash.clone(),
                }),
                image: ImageId("sha256:0".to_owned()),
                status,
                volumes: Vec::new(),
                networks: Vec::new(),
            }
        };
        let running = |health| ContainerStatus::Running { health };
        let table = [
            (
                container("main/web", "1.4.0", running(Health::NoCheck)),
                true,
            ),
            (
                container("main/db", "1.4.0", running(Health::Unhealthy)),
                true,
            ),
            (
                container("main/web", "1.3.0", running(Health::Healthy)),
                false,
            ),
            (
                container("main/db", "1.4.0", ContainerStatus::Exited { code: 0 }),
                false,
            ),
            (
                container("main/db", "1.4.0", ContainerStatus::Created),
                false,
            ),
            (
                container("main/gone", "1.4.0", running(Health::NoCheck)),
                false,
            ),
            (
                container("other/web", "1.4.0", running(Health::NoCheck)),
                false,
            ),
        ];
        for (container, counts) in table {
            let label = format!("{} {:?}", container.id.0, container.status);
            let found = running_blocks(&target, std::slice::from_ref(&container));
            assert_eq!(found.len(), usize::from(counts), "{label}");
        }
        let mut unlabelled = container("main/web", "1.4.0", running(Health::NoCheck));
        unlabelled.owner = None;
        assert!(running_blocks(&target, &[unlabelled]).is_empty());
    }

    #[test]
    fn contract_files_are_read_with_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("device.json");
        std::fs::write(&good, jetson().to_json().to_string()).unwrap();
        assert_eq!(read_contract(&good).unwrap(), jetson());

        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let big = vec![b' '; MAX_CONTRACT_BYTES + 1];
        let table = [
            (dir.path().join("missing.json"), "No such file"),
            (dir.path().to_owned(), "not a regular file"),
            (write("text.json", b"device: yes"), "not a JSON contract"),
            (
                write(
                    "bad.json",
                    br#"{"type": "a", "slug": "b", "requires": [{"slg": "x"}]}"#,
                ),
                "requires[0]",
            ),
            (write("big.json", &big), "larger than the limit"),
        ];
        for (path, expect) in table {
            let error = read_contract(&path).unwrap_err().to_string();
            assert!(
                error.contains(&path.display().to_string()) && error.contains(expect),
                "{error}"
            );
        }
    }

    #[test]
    fn kernel_release_is_unames() {
        let release = kernel_release();
        let proc = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(release, proc.trim_end());
    }
}
