//! The planner: a pure function from (current, target, conditions) to the
//! next batch of steps.
//!
//! The executor runs a batch (its steps are independent and may run
//! concurrently), folds the results back into the current state, and plans
//! again, until a plan comes back empty: then the device has converged. A
//! batch holding only [`Step::Wait`]s means nothing can move until a
//! condition changes (a dependency turns healthy, the clock syncs, a block
//! lets go of its update lock); the executor waits for engine events or
//! condition changes before planning again.
//!
//! Each step says, in its documentation, when it is planned (condition),
//! what it changes in [`CurrentState`] (effect), and what the executor does
//! (action). Planning from a current state that already matches the target
//! returns no step at all. What the target asks that no step can do (new
//! labels on an existing volume) comes back from [`notices`], for the
//! executor to report.
//!
//! A running block is never removed before its replacement exists where
//! that can be helped: the new container is created beside the old one,
//! then the old one is stopped and removed and the new one started, so an
//! engine that refuses the new container leaves the old one running. Only
//! kill-then-download, fetching the new image after the old container is
//! gone, cannot create first (see [`Step::CreateContainer`]).
//!
//! **Architecture invariant:** the planner does no IO and reads no clock;
//! everything it knows arrives in its three arguments.

use std::collections::BTreeSet;
use std::fmt;

use super::current::{
    Container, ContainerId, ContainerStatus, CurrentState, Health, Image, ImageId,
};
use super::duration::HumanDuration;
use super::image::ImageRef;
use super::kind::{BlockKind, ImageClass, ImageLabelError, OverlaySettings};
use super::labels::{self, BlockLabels};
use super::name::{AppName, BlockId, BlockName, NetworkName, VolumeName};
use super::target::{
    App, AppClass, Block, ConfigHash, DependsCondition, NetworkConfig, RestartPolicy, TargetState,
    TimeRequirement, UpdateStrategy, VolumeConfig,
};

/// What the planner is told besides the two states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// What the time service says of the clock.
    pub time: TimeStatus,
    /// Blocks whose own process holds its update lock: they are in the middle
    /// of something that must not be cut short, so the runtime does not stop
    /// them until they let go.
    pub locked_by_blocks: BTreeSet<BlockId>,
    /// Apps whose target release is rejected ([`crate::gate`]): everything
    /// of them (containers, volumes, networks, locks, the images their
    /// containers use) is left as it is, and nothing of the rejected
    /// release is fetched or created.
    pub held_apps: BTreeSet<AppName>,
}

/// The clock, as the time service reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeStatus {
    /// Nothing trustworthy yet.
    #[default]
    Unsynced,
    /// Known to within minutes.
    Coarse,
    /// Synchronised.
    Synced,
}

impl TimeStatus {
    /// Whether the clock is good enough for `requirement`.
    pub fn satisfies(self, requirement: TimeRequirement) -> bool {
        match requirement {
            TimeRequirement::Coarse => self >= TimeStatus::Coarse,
            TimeRequirement::Synced => self >= TimeStatus::Synced,
        }
    }

    /// The state as the time service names it.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeStatus::Unsynced => "unsynced",
            TimeStatus::Coarse => "coarse",
            TimeStatus::Synced => "synced",
        }
    }
}

/// A container a step acts on, with what its labels say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    /// The engine's id.
    pub id: ContainerId,
    /// Its block and release; `None` for a stray with unreadable labels.
    pub owner: Option<BlockLabels>,
}

impl fmt::Display for ContainerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.owner {
            Some(o) => write!(f, "{}/{}@{}", o.app, o.block, o.release),
            None => write!(f, "container {}", self.id),
        }
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Pull an image.
    ///
    /// - **Condition:** a target block without a current container needs
    ///   `image`, no fetched image satisfies it, and the block's update
    ///   strategy has reached its download: at once for download-then-kill
    ///   and hand-over, once the old container is gone for
    ///   kill-then-download.
    /// - **Effect:** an image satisfying `image` is in `images`.
    /// - **Action:** pull `image` and record it as fetched by the runtime.
    FetchImage {
        /// The reference to pull.
        image: ImageRef,
    },
    /// Create a named volume.
    ///
    /// - **Condition:** a target app declares the volume and the engine has
    ///   no volume labelled with that app and name (one created with another
    ///   driver or driver options is removed first: see
    ///   [`Step::RemoveVolume`]).
    /// - **Effect:** the volume is in `volumes`.
    /// - **Action:** create [`super::labels::volume_name`] with `config` and
    ///   [`super::labels::volume_labels`].
    CreateVolume {
        /// The app.
        app: AppName,
        /// The volume's name within the app.
        volume: VolumeName,
        /// Its driver settings.
        config: VolumeConfig,
    },
    /// Remove a named volume, and its data.
    ///
    /// - **Condition:** no container mounts it, and either no target app
    ///   declares it and no target block mounts it, or (`recreate`) its
    ///   target's driver or driver options differ from those it was created
    ///   with (its [`super::labels::volume_hash`]). The containers mounting
    ///   such a volume are stopped and removed first, and created again once
    ///   it is back. A volume without the hash label (made by an older
    ///   runtime) counts as matching; a change of labels alone recreates
    ///   nothing (see [`Notice::VolumeLabels`]).
    /// - **Effect:** the volume is gone from `volumes`.
    /// - **Action:** remove the engine volume `name`; with `recreate`, warn
    ///   that its data is lost.
    RemoveVolume {
        /// The app.
        app: AppName,
        /// The volume's name within the app.
        volume: VolumeName,
        /// The engine name.
        name: String,
        /// Removed to be created anew with the target's settings.
        recreate: bool,
    },
    /// Create a network.
    ///
    /// - **Condition:** a target app declares the network, or one of its
    ///   blocks joins it (`default`), and the engine has none labelled so
    ///   (one created with other settings is removed first: see
    ///   [`Step::RemoveNetwork`]).
    /// - **Effect:** the network is in `networks`.
    /// - **Action:** create [`super::labels::network_name`] with `config` and
    ///   [`super::labels::network_labels`].
    CreateNetwork {
        /// The app.
        app: AppName,
        /// The network's name within the app.
        network: NetworkName,
        /// Its driver settings.
        config: NetworkConfig,
    },
    /// Remove a network.
    ///
    /// - **Condition:** no container is attached to it, and either no
    ///   target app declares or uses it, or (`recreate`) its target's
    ///   settings (driver, options, `internal`, labels) differ from those it
    ///   was created with (its [`super::labels::network_hash`]): the engine
    ///   changes none of them in place. The containers attached to such a
    ///   network are stopped and removed first, and created again once it
    ///   is back. A network without the hash label (made by an older
    ///   runtime) counts as matching.
    /// - **Effect:** the network is gone from `networks`.
    /// - **Action:** remove the engine network `name`.
    RemoveNetwork {
        /// The app.
        app: AppName,
        /// The network's name within the app.
        network: NetworkName,
        /// The engine name.
        name: String,
        /// Removed to be created anew with the target's settings.
        recreate: bool,
    },
    /// Create a block's container.
    ///
    /// - **Condition:** the block has no container with its config hash, its
    ///   image is present, the volumes it mounts and the networks it joins
    ///   exist with the target's settings, the containers whose namespaces
    ///   it joins exist, and none of its containers is on a volume or
    ///   network about to be recreated. Its old container may
    ///   still run: the new one's name holds its own hash and host ports
    ///   are bound only at start, so both can exist, and an engine that
    ///   refuses the new container leaves the old one running. Under
    ///   download-then-kill and hand-over the new container is always
    ///   created before the old one is stopped. Under kill-then-download it
    ///   is too when the image is on the device already; when it has to be
    ///   fetched, it is fetched (and the container created) only once the
    ///   old container is gone: the strategy's trade-off, for devices
    ///   without room for both images, is that a refused create leaves the
    ///   block without a container.
    /// - **Effect:** a `Created` container labelled with `labels` is in
    ///   `containers`.
    /// - **Action:** create container [`BlockLabels::container_name`] from
    ///   `spec`, labelled [`BlockLabels::to_labels`], mounting the app's
    ///   volumes by engine name, attached to the app's networks with the
    ///   block's name as alias.
    CreateContainer {
        /// The block, its release and config hash: the container's labels.
        labels: BlockLabels,
        /// The block's definition.
        spec: Box<Block>,
        /// The labels of the containers of the blocks whose namespaces it
        /// joins (`network_mode: service:db`), by block name: the engine
        /// client names those containers from them.
        peers: std::collections::BTreeMap<BlockName, BlockLabels>,
    },
    /// Start a block's container.
    ///
    /// - **Condition:** the block's current container is `Created` (or
    ///   `Exited` with restart policy `always` or `unless-stopped`), its
    ///   dependencies have reached their conditions, the clock meets its time
    ///   requirement, and (except under hand-over) no old container of it
    ///   still runs.
    /// - **Effect:** the container is `Running`.
    /// - **Action:** start it.
    StartContainer {
        /// The container.
        container: ContainerRef,
    },
    /// Stop a container.
    ///
    /// - **Condition:** the container is live and is old (its config hash is
    ///   not its target block's), or its block left the target, or it is a
    ///   stray, or its block is on a volume or network about to be recreated
    ///   (then whatever its hash and strategy); for a block's container, the
    ///   runtime holds the block's update lock; under download-then-kill the
    ///   new container exists (created, not yet started); under
    ///   kill-then-download the new container exists or the new image is
    ///   not on the device (it is fetched once the old container is gone);
    ///   under hand-over the new container is up.
    /// - **Effect:** the container is `Exited`.
    /// - **Action:** under hand-over, give the old container up to
    ///   `hand_over` to hand its work to the new one; then stop it.
    StopContainer {
        /// The container.
        container: ContainerRef,
        /// The hand-over time, under the hand-over strategy.
        hand_over: Option<HumanDuration>,
    },
    /// Remove a container.
    ///
    /// - **Condition:** the container is not live and is old, dead, of a
    ///   block that left the target, a stray, or of a block on a volume or
    ///   network about to be recreated.
    /// - **Effect:** the container is gone from `containers`.
    /// - **Action:** remove it (its named volumes stay).
    RemoveContainer {
        /// The container.
        container: ContainerRef,
    },
    /// Remove an image the runtime fetched.
    ///
    /// - **Condition:** no target block's image is this one, and no container
    ///   was created from it.
    /// - **Effect:** the image is gone from `images`.
    /// - **Action:** remove it from the engine.
    RemoveImage {
        /// The engine's id.
        image: ImageId,
        /// Its references, for messages.
        references: Vec<ImageRef>,
    },
    /// Unpack an overlay block's image into the extension store.
    ///
    /// - **Condition:** an `os` app's block is an overlay (by its `kind`,
    ///   else its image's class label), its image is fetched, and the store
    ///   holds no extension of that image for the block.
    /// - **Effect:** the extension is in `extensions`; it is stacked at the
    ///   next boot.
    /// - **Action:** export the image's filesystem and unpack it into the
    ///   store (atomically), recorded with `settings`; the device reboots
    ///   when `requires_reboot` says so.
    InstallOverlay {
        /// The block.
        block: BlockId,
        /// The image fetched.
        image: ImageId,
        /// The reference it satisfies, for messages.
        reference: ImageRef,
        /// The target's overlay settings over the image's labels.
        settings: OverlaySettings,
        /// The target or the image asks for a reboot once it is installed.
        requires_reboot: bool,
    },
    /// Write a hostapp block's image into the inactive root filesystem slot.
    ///
    /// - **Condition:** an `os` app's block is the hostapp, its image is
    ///   fetched, and neither the booted slot nor the other slot (complete
    ///   and verified) holds it.
    /// - **Effect:** the image is `host.staged`; the next boot tries it.
    /// - **Action:** export the image's filesystem into the slot the device
    ///   did not boot, verify it, and stage it with the bootloader.
    InstallHostapp {
        /// The block.
        block: BlockId,
        /// The image fetched.
        image: ImageId,
        /// The reference it satisfies, for messages.
        reference: ImageRef,
    },
    /// Take a block's update lock.
    ///
    /// - **Condition:** a live container of the block is to be stopped, the
    ///   runtime does not hold the lock, and the block does not hold it.
    /// - **Effect:** the block is in `locks`.
    /// - **Action:** take the lock, so the block cannot start something that
    ///   must not be cut short while it is being stopped.
    TakeLock {
        /// The block.
        block: BlockId,
    },
    /// Release a block's update lock.
    ///
    /// - **Condition:** the runtime holds the lock and the block has no old
    ///   container left.
    /// - **Effect:** the block is gone from `locks`.
    /// - **Action:** release the lock.
    ReleaseLock {
        /// The block.
        block: BlockId,
    },
    /// Nothing to do for a block until a condition changes.
    ///
    /// - **Condition:** the block's next step is held back: see
    ///   [`WaitReason`].
    /// - **Effect:** none.
    /// - **Action:** none; `osb status` shows the reason.
    Wait {
        /// The block.
        block: BlockId,
        /// Why.
        reason: WaitReason,
    },
}

/// Why a block is held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// A dependency has not reached its condition.
    Dependency {
        /// The dependency.
        block: BlockName,
        /// What it must reach.
        condition: DependsCondition,
    },
    /// A dependency that had to complete exited with an error.
    DependencyFailed {
        /// The dependency.
        block: BlockName,
        /// Its exit code.
        code: i64,
    },
    /// A dependency that had to be healthy runs without a healthcheck.
    DependencyWithoutHealthcheck {
        /// The dependency.
        block: BlockName,
    },
    /// The clock is not good enough yet.
    Time {
        /// What the block needs.
        required: TimeRequirement,
        /// What the clock is.
        now: TimeStatus,
    },
    /// The block holds its update lock, so it is not stopped.
    LockHeld,
    /// Under hand-over: the new container is not up (running, and healthy if
    /// it has a healthcheck), so the old one keeps running.
    NewContainerNotUp,
    /// The block's image says what it is in a label that does not read.
    ImageLabel {
        /// What is wrong, naming the label.
        error: ImageLabelError,
    },
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::Dependency { block, condition } => {
                write!(f, "{block} not {}", condition.as_str())
            }
            WaitReason::DependencyFailed { block, code } => {
                write!(f, "{block} exited with code {code}")
            }
            WaitReason::DependencyWithoutHealthcheck { block } => {
                write!(f, "{block} has no healthcheck")
            }
            WaitReason::Time { required, now } => {
                write!(
                    f,
                    "needs {} time, clock is {}",
                    required.as_str(),
                    now.as_str()
                )
            }
            WaitReason::LockHeld => f.write_str("update lock held by the block"),
            WaitReason::NewContainerNotUp => f.write_str("new container not up yet"),
            WaitReason::ImageLabel { error } => write!(f, "{error}"),
        }
    }
}

impl fmt::Display for Step {
    /// One readable line: `fetch localhost:5000/web:2`, `stop main/web@1.0.0`,
    /// `wait main/web: db not healthy`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::FetchImage { image } => write!(f, "fetch {image}"),
            Step::CreateVolume { app, volume, .. } => write!(f, "create volume {app}/{volume}"),
            Step::RemoveVolume {
                app,
                volume,
                recreate: false,
                ..
            } => write!(f, "remove volume {app}/{volume}"),
            Step::RemoveVolume {
                app,
                volume,
                recreate: true,
                ..
            } => write!(
                f,
                "remove volume {app}/{volume} to recreate it (driver or driver_opts changed: its data is lost)"
            ),
            Step::CreateNetwork { app, network, .. } => write!(f, "create network {app}/{network}"),
            Step::RemoveNetwork {
                app,
                network,
                recreate: false,
                ..
            } => write!(f, "remove network {app}/{network}"),
            Step::RemoveNetwork {
                app,
                network,
                recreate: true,
                ..
            } => write!(
                f,
                "remove network {app}/{network} to recreate it (settings changed)"
            ),
            Step::CreateContainer { labels, .. } => {
                write!(
                    f,
                    "create {}/{}@{}",
                    labels.app, labels.block, labels.release
                )
            }
            Step::StartContainer { container } => write!(f, "start {container}"),
            Step::StopContainer {
                container,
                hand_over: None,
            } => write!(f, "stop {container}"),
            Step::StopContainer {
                container,
                hand_over: Some(after),
            } => write!(f, "stop {container} (hand over, up to {after})"),
            Step::RemoveContainer { container } => write!(f, "remove {container}"),
            Step::RemoveImage { image, references } => match references.first() {
                Some(reference) => write!(f, "remove image {reference}"),
                None => write!(f, "remove image {image}"),
            },
            Step::InstallOverlay {
                block, reference, ..
            } => write!(f, "install overlay {block} from {reference}"),
            Step::InstallHostapp {
                block, reference, ..
            } => write!(
                f,
                "install hostapp {block} from {reference} into the inactive slot"
            ),
            Step::TakeLock { block } => write!(f, "lock {block}"),
            Step::ReleaseLock { block } => write!(f, "unlock {block}"),
            Step::Wait { block, reason } => write!(f, "wait {block}: {reason}"),
        }
    }
}

/// The next batch of steps that brings `current` towards `target`. Empty
/// when they match.
pub fn plan(current: &CurrentState, target: &TargetState, conditions: &Conditions) -> Vec<Step> {
    if conditions.held_apps.is_empty() {
        return plan_all(current, target, conditions);
    }
    let (current, target) = without_held(current, target, &conditions.held_apps);
    plan_all(&current, &target, conditions)
}

/// `current` and `target` with the `held` apps taken out, as if the
/// runtime did not own them: what is not seen is not touched. Images stay
/// seen, less those a held app's container uses (never removed while it
/// runs) or its target asks for (one of its releases may still want it).
fn without_held(
    current: &CurrentState,
    target: &TargetState,
    held: &BTreeSet<AppName>,
) -> (CurrentState, TargetState) {
    let is_held = |app: &AppName| held.contains(app);
    let (held_containers, containers): (Vec<Container>, Vec<Container>) = current
        .containers
        .iter()
        .cloned()
        .partition(|c| c.owner.as_ref().is_some_and(|o| is_held(&o.app)));
    let held_images: Vec<&ImageRef> = target
        .apps
        .iter()
        .filter(|(name, _)| is_held(name))
        .flat_map(|(_, app)| app.release.blocks.values().map(|b| &b.image))
        .collect();
    let current = CurrentState {
        containers,
        images: current
            .images
            .iter()
            .filter(|i| !held_containers.iter().any(|c| c.image == i.id))
            .filter(|i| {
                !i.references
                    .iter()
                    .any(|r| held_images.iter().any(|w| w.is_satisfied_by(r)))
            })
            .cloned()
            .collect(),
        volumes: current
            .volumes
            .iter()
            .filter(|v| !is_held(&v.app))
            .cloned()
            .collect(),
        networks: current
            .networks
            .iter()
            .filter(|n| !is_held(&n.app))
            .cloned()
            .collect(),
        locks: current
            .locks
            .iter()
            .filter(|b| !is_held(&b.app))
            .cloned()
            .collect(),
        extensions: current
            .extensions
            .iter()
            .filter(|e| !is_held(&e.block.app))
            .cloned()
            .collect(),
        host: current.host.clone(),
    };
    let mut target = target.clone();
    target.apps.retain(|name, _| !is_held(name));
    (current, target)
}

fn plan_all(current: &CurrentState, target: &TargetState, conditions: &Conditions) -> Vec<Step> {
    let stale_volumes = stale_volumes(current, target);
    let stale_networks = stale_networks(current, target);
    let cycling = cycling_blocks(current, target, &stale_volumes, &stale_networks);
    let mut planner = Planner {
        current,
        target,
        conditions,
        steps: Vec::new(),
        fetching: BTreeSet::new(),
        locking: BTreeSet::new(),
        busy: BTreeSet::new(),
        stale_volumes,
        stale_networks,
        cycling,
    };
    planner.create_volumes_and_networks();
    for (app_name, app) in &target.apps {
        for (block_name, block) in &app.release.blocks {
            let id = BlockId::new(app_name, block_name);
            match planner.kind_of(app, block) {
                Ok(BlockKind::Service) => planner.block(&id, app, block),
                Ok(kind) => planner.os_block(&id, block, kind),
                Err(error) => planner.wait(&id, WaitReason::ImageLabel { error }),
            }
        }
    }
    planner.containers_out_of_target();
    planner.release_locks();
    planner.remove_volumes_and_networks();
    planner.remove_images();
    planner.steps
}

/// Something the target asks for that the planner leaves as it is, for the
/// executor to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A volume's labels differ from its target's. The engine cannot
    /// relabel a volume, and a label is no reason to throw its data away:
    /// the labels stay as they are until the volume is recreated for
    /// another reason (its driver or driver options change) or removed.
    VolumeLabels {
        /// The app.
        app: AppName,
        /// The volume's name within the app.
        volume: VolumeName,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::VolumeLabels { app, volume } => write!(
                f,
                "volume {app}/{volume} keeps its labels: the target's differ, but the engine \
                 cannot relabel a volume and recreating it would lose its data"
            ),
        }
    }
}

/// What `target` asks for that [`plan`] leaves as it is (see [`Notice`]).
pub fn notices(current: &CurrentState, target: &TargetState) -> Vec<Notice> {
    let stale = stale_volumes(current, target);
    current
        .volumes
        .iter()
        .filter(|v| !stale.contains(&v.name))
        .filter(|v| {
            target
                .apps
                .get(&v.app)
                .and_then(|app| app.volumes.get(&v.volume))
                .is_some_and(|config| config.labels != v.labels)
        })
        .map(|v| Notice::VolumeLabels {
            app: v.app.clone(),
            volume: v.volume.clone(),
        })
        .collect()
}

struct Planner<'a> {
    current: &'a CurrentState,
    target: &'a TargetState,
    conditions: &'a Conditions,
    steps: Vec<Step>,
    /// Images already in a `FetchImage` of this batch.
    fetching: BTreeSet<ImageRef>,
    /// Blocks already given a `TakeLock` or a lock `Wait` in this batch.
    locking: BTreeSet<BlockId>,
    /// Blocks with containers still to stop or remove: their lock stays.
    busy: BTreeSet<BlockId>,
    /// Engine names of the volumes to recreate with new settings.
    stale_volumes: BTreeSet<String>,
    /// Engine names of the networks to recreate with new settings.
    stale_networks: BTreeSet<String>,
    /// Blocks whose every container goes, for a volume or network to be
    /// recreated.
    cycling: BTreeSet<BlockId>,
}

impl<'a> Planner<'a> {
    fn create_volumes_and_networks(&mut self) {
        for (app_name, app) in &self.target.apps {
            for (volume, config) in &app.volumes {
                let exists = self
                    .current
                    .volumes
                    .iter()
                    .any(|v| v.app == *app_name && v.volume == *volume);
                if !exists {
                    self.steps.push(Step::CreateVolume {
                        app: app_name.clone(),
                        volume: volume.clone(),
                        config: config.clone(),
                    });
                }
            }
            for network in app_networks(app) {
                let exists = self
                    .current
                    .networks
                    .iter()
                    .any(|n| n.app == *app_name && n.network == network);
                if !exists {
                    let config = app.networks.get(&network).cloned().unwrap_or_default();
                    self.steps.push(Step::CreateNetwork {
                        app: app_name.clone(),
                        network,
                        config,
                    });
                }
            }
        }
    }

    /// Plans one target block: create the new container, retire old ones as
    /// its update strategy says, then start the new one.
    fn block(&mut self, id: &BlockId, app: &App, block: &Block) {
        let hash = app
            .container_hash(&id.block)
            .unwrap_or_else(|| block.config_hash());
        let (current, old) = self.containers_of(id, &hash);
        if self.cycling.contains(id) {
            // A volume or network it uses is recreated: every container of
            // the block goes, the current one too (its definition did not
            // change, but what it is attached to will), and it is created
            // anew once that is back.
            self.busy.insert(id.clone());
            for c in current.into_iter().chain(old.iter().copied()) {
                if c.status.is_live() {
                    self.stop(Some(id), c, None);
                } else {
                    self.remove(c);
                }
            }
            return;
        }
        if !old.is_empty() {
            self.busy.insert(id.clone());
        }
        let old_live = old.iter().any(|c| c.status.is_live());
        let image_ready = self.image_present(&block.image);

        // Old containers that are not running can go at once: removing them
        // interrupts nothing.
        for c in old.iter().filter(|c| !c.status.is_live()) {
            self.remove(c);
        }
        if old_live {
            let (stop_now, hand_over) = match block.update_strategy {
                // The new container exists before the old one stops: an
                // engine that refuses it leaves the old one running.
                UpdateStrategy::DownloadThenKill => (current.is_some(), None),
                // Without the new image, the old container goes first so
                // its image can go before the new one is fetched (the
                // strategy is for devices without room for both); with it
                // (a change of settings only), as download-then-kill.
                UpdateStrategy::KillThenDownload => (current.is_some() || !image_ready, None),
                UpdateStrategy::HandOver { timeout } => {
                    let up = current.is_some_and(|c| is_up(c.status));
                    // The new container runs but is not healthy yet: say so,
                    // since no other step shows the update is under way.
                    if !up && current.is_some_and(|c| c.status.is_live()) {
                        self.wait(id, WaitReason::NewContainerNotUp);
                    }
                    (up, Some(timeout))
                }
            };
            if stop_now {
                for c in old.iter().filter(|c| c.status.is_live()) {
                    self.stop(Some(id), c, hand_over);
                }
            }
        }

        let hand_over = matches!(block.update_strategy, UpdateStrategy::HandOver { .. });
        match current {
            None => {
                // Kill-then-download fetches only once the old container is
                // gone, so its image can be removed first.
                let kill_first = matches!(block.update_strategy, UpdateStrategy::KillThenDownload);
                let may_fetch = !kill_first || old.is_empty();
                if !image_ready {
                    if may_fetch {
                        self.fetch(&block.image);
                    }
                } else {
                    let labels_of = |name: &BlockName, hash: ConfigHash| BlockLabels {
                        app: id.app.clone(),
                        block: name.clone(),
                        release: app.release.version.clone(),
                        config_hash: hash,
                    };
                    let labels = labels_of(&id.block, hash);
                    // A dead or extra container of the same definition holds
                    // the name the new one needs: it goes first.
                    let name = labels.container_name();
                    let name_taken = old
                        .iter()
                        .any(|c| c.owner.as_ref().is_some_and(|o| o.container_name() == name));
                    if name_taken
                        || !self.prerequisites_exist(&id.app, app, block)
                        || !self.peers_exist(id, app, block)
                    {
                        return;
                    }
                    let peers = block
                        .joined_blocks()
                        .into_iter()
                        .filter_map(|peer| {
                            let hash = app.container_hash(peer)?;
                            Some((peer.clone(), labels_of(peer, hash)))
                        })
                        .collect();
                    self.steps.push(Step::CreateContainer {
                        labels,
                        spec: Box::new(block.clone()),
                        peers,
                    });
                }
            }
            Some(c) => {
                let restartable = matches!(
                    block.restart(),
                    RestartPolicy::Always | RestartPolicy::UnlessStopped
                );
                let wants_start = match c.status {
                    ContainerStatus::Created => true,
                    ContainerStatus::Exited { .. } => restartable,
                    _ => false,
                };
                if wants_start && (hand_over || !old_live) {
                    self.start(id, app, block, c);
                }
            }
        }
    }

    /// The block's container built from `hash` (the best one, if there are
    /// several), and all its others: old ones, dead ones, extra ones.
    fn containers_of(
        &self,
        id: &BlockId,
        hash: &ConfigHash,
    ) -> (Option<&'a Container>, Vec<&'a Container>) {
        let rank = |status: ContainerStatus| match status {
            ContainerStatus::Running { .. } => 0,
            ContainerStatus::Restarting => 1,
            ContainerStatus::Paused => 2,
            ContainerStatus::Exited { .. } => 3,
            ContainerStatus::Created => 4,
            ContainerStatus::Dead => 5,
        };
        let mut current: Option<&'a Container> = None;
        let mut old = Vec::new();
        for c in self
            .current
            .containers
            .iter()
            .filter(|c| c.block_id().as_ref() == Some(id))
        {
            let matches = c.owner.as_ref().is_some_and(|o| o.config_hash == *hash)
                && c.status != ContainerStatus::Dead;
            if !matches {
                old.push(c);
                continue;
            }
            match current {
                Some(best) if rank(best.status) <= rank(c.status) => old.push(c),
                Some(best) => {
                    old.push(best);
                    current = Some(c);
                }
                None => current = Some(c),
            }
        }
        (current, old)
    }

    fn image_present(&self, image: &ImageRef) -> bool {
        self.fetched(image).is_some()
    }

    /// The block's volumes and networks exist, with the target's settings.
    fn prerequisites_exist(&self, app_name: &AppName, app: &App, block: &Block) -> bool {
        let volumes = block
            .volumes
            .iter()
            .filter_map(|m| m.volume())
            .all(|volume| {
                app.volumes.contains_key(volume)
                    && self.current.volumes.iter().any(|v| {
                        v.app == *app_name
                            && v.volume == *volume
                            && !self.stale_volumes.contains(&v.name)
                    })
            });
        let networks = block.effective_networks().iter().all(|network| {
            self.current.networks.iter().any(|n| {
                n.app == *app_name
                    && n.network == *network
                    && !self.stale_networks.contains(&n.name)
            })
        });
        volumes && networks
    }

    /// The containers whose namespaces the block joins exist: the engine
    /// looks a process or IPC namespace's container up when it creates the
    /// joining one.
    fn peers_exist(&self, id: &BlockId, app: &App, block: &Block) -> bool {
        block.joined_blocks().into_iter().all(|peer| {
            let Some(hash) = app.container_hash(peer) else {
                return false;
            };
            self.containers_of(&BlockId::new(&id.app, peer), &hash)
                .0
                .is_some()
        })
    }

    fn fetch(&mut self, image: &ImageRef) {
        if self.fetching.insert(image.clone()) {
            self.steps.push(Step::FetchImage {
                image: image.clone(),
            });
        }
    }

    fn start(&mut self, id: &BlockId, app: &App, block: &Block, container: &Container) {
        if let Some(reason) = self.dependency_gate(id, app, block) {
            self.wait(id, reason);
            return;
        }
        if let Some(required) = block.time
            && !self.conditions.time.satisfies(required)
        {
            self.wait(
                id,
                WaitReason::Time {
                    required,
                    now: self.conditions.time,
                },
            );
            return;
        }
        self.steps.push(Step::StartContainer {
            container: container_ref(container),
        });
    }

    /// The first dependency (by name) that has not reached its condition.
    fn dependency_gate(&self, id: &BlockId, app: &App, block: &Block) -> Option<WaitReason> {
        for (name, condition) in &block.depends_on {
            let not_yet = WaitReason::Dependency {
                block: name.clone(),
                condition: *condition,
            };
            let Some(dependency) = app.release.blocks.get(name) else {
                return Some(not_yet);
            };
            let hash = app
                .container_hash(name)
                .unwrap_or_else(|| dependency.config_hash());
            let (current, _) = self.containers_of(&BlockId::new(&id.app, name), &hash);
            let Some(current) = current else {
                return Some(not_yet);
            };
            let reason = match (condition, current.status) {
                (DependsCondition::Started, status) if status != ContainerStatus::Created => None,
                (
                    DependsCondition::Healthy,
                    ContainerStatus::Running {
                        health: Health::Healthy,
                    },
                ) => None,
                (
                    DependsCondition::Healthy,
                    ContainerStatus::Running {
                        health: Health::NoCheck,
                    },
                ) => Some(WaitReason::DependencyWithoutHealthcheck {
                    block: name.clone(),
                }),
                (DependsCondition::Completed, ContainerStatus::Exited { code: 0 }) => None,
                (DependsCondition::Completed, ContainerStatus::Exited { code }) => {
                    Some(WaitReason::DependencyFailed {
                        block: name.clone(),
                        code,
                    })
                }
                _ => Some(not_yet),
            };
            if reason.is_some() {
                return reason;
            }
        }
        None
    }

    /// Stops a live container; a block's container only under its lock.
    fn stop(
        &mut self,
        id: Option<&BlockId>,
        container: &Container,
        hand_over: Option<HumanDuration>,
    ) {
        if let Some(id) = id
            && !self.current.locks.contains(id)
        {
            if self.locking.insert(id.clone()) {
                if self.conditions.locked_by_blocks.contains(id) {
                    self.wait(id, WaitReason::LockHeld);
                } else {
                    self.steps.push(Step::TakeLock { block: id.clone() });
                }
            }
            return;
        }
        self.steps.push(Step::StopContainer {
            container: container_ref(container),
            hand_over,
        });
    }

    fn remove(&mut self, container: &Container) {
        self.steps.push(Step::RemoveContainer {
            container: container_ref(container),
        });
    }

    fn wait(&mut self, id: &BlockId, reason: WaitReason) {
        self.steps.push(Step::Wait {
            block: id.clone(),
            reason,
        });
    }

    /// Containers of blocks no longer in the target, and strays.
    fn containers_out_of_target(&mut self) {
        for c in &self.current.containers {
            let id = c.block_id();
            if let Some(id) = &id
                && let Some(app) = self.target.apps.get(&id.app)
                && let Some(block) = app.release.blocks.get(&id.block)
                && self.kind_of(app, block).is_ok_and(BlockKind::is_container)
            {
                continue;
            }
            if let Some(id) = &id {
                self.busy.insert(id.clone());
            }
            if c.status.is_live() {
                self.stop(id.as_ref(), c, None);
            } else {
                self.remove(c);
            }
        }
    }

    fn release_locks(&mut self) {
        for id in &self.current.locks {
            if !self.busy.contains(id) {
                self.steps.push(Step::ReleaseLock { block: id.clone() });
            }
        }
    }

    fn remove_volumes_and_networks(&mut self) {
        for v in &self.current.volumes {
            let app = self.target.apps.get(&v.app);
            let wanted = app.is_some_and(|app| {
                app.volumes.contains_key(&v.volume)
                    || app
                        .release
                        .blocks
                        .values()
                        .any(|b| b.volumes.iter().any(|m| m.volume() == Some(&v.volume)))
            });
            let mounted = self
                .current
                .containers
                .iter()
                .any(|c| c.volumes.contains(&v.name));
            let recreate = self.stale_volumes.contains(&v.name);
            if (!wanted || recreate) && !mounted {
                self.steps.push(Step::RemoveVolume {
                    app: v.app.clone(),
                    volume: v.volume.clone(),
                    name: v.name.clone(),
                    recreate: wanted && recreate,
                });
            }
        }
        for n in &self.current.networks {
            let wanted = self
                .target
                .apps
                .get(&n.app)
                .is_some_and(|app| app_networks(app).contains(&n.network));
            let attached = self
                .current
                .containers
                .iter()
                .any(|c| c.networks.contains(&n.name));
            let recreate = self.stale_networks.contains(&n.name);
            if (!wanted || recreate) && !attached {
                self.steps.push(Step::RemoveNetwork {
                    app: n.app.clone(),
                    network: n.network.clone(),
                    name: n.name.clone(),
                    recreate: wanted && recreate,
                });
            }
        }
    }

    fn remove_images(&mut self) {
        for image in &self.current.images {
            let wanted = self
                .target
                .apps
                .values()
                .flat_map(|a| a.release.blocks.values())
                .any(|b| image.references.iter().any(|r| b.image.is_satisfied_by(r)));
            let used = self.current.containers.iter().any(|c| c.image == image.id);
            if !wanted && !used {
                self.steps.push(Step::RemoveImage {
                    image: image.id.clone(),
                    references: image.references.clone(),
                });
            }
        }
    }

    /// What `block` is: as the target says, else (in an `os` app) as its
    /// fetched image's class label says, else a service. An image not
    /// fetched yet is planned as a service, whose first step is the fetch.
    fn kind_of(&self, app: &App, block: &Block) -> Result<BlockKind, ImageLabelError> {
        if let Some(kind) = block.kind {
            return Ok(kind);
        }
        if app.class != AppClass::Os {
            return Ok(BlockKind::Service);
        }
        Ok(self
            .image_class(&block.image)?
            .and_then(|class| class.kind)
            .unwrap_or_default())
    }

    /// The class labels of the fetched image satisfying `image`, if any.
    fn image_class(&self, image: &ImageRef) -> Result<Option<ImageClass>, ImageLabelError> {
        self.fetched(image)
            .map(|i| ImageClass::from_labels(&i.class_labels))
            .transpose()
    }

    fn fetched(&self, image: &ImageRef) -> Option<&'a Image> {
        self.current
            .images
            .iter()
            .find(|i| i.references.iter().any(|r| image.is_satisfied_by(r)))
    }

    /// Plans an overlay or the hostapp: fetch its image, then install it
    /// once, where the device boots it from. Neither is a container.
    fn os_block(&mut self, id: &BlockId, block: &Block, kind: BlockKind) {
        let Some(image) = self.fetched(&block.image) else {
            self.fetch(&block.image);
            return;
        };
        let class = ImageClass::from_labels(&image.class_labels).unwrap_or_default();
        match kind {
            BlockKind::Service => {}
            BlockKind::Overlay => {
                let installed = self
                    .current
                    .extensions
                    .iter()
                    .any(|e| e.block == *id && e.image == image.id);
                if !installed {
                    let settings = block.overlay.clone().unwrap_or_default().or(&class.overlay);
                    self.steps.push(Step::InstallOverlay {
                        block: id.clone(),
                        image: image.id.clone(),
                        reference: block.image.clone(),
                        settings,
                        requires_reboot: block.requires_reboot || class.requires_reboot,
                    });
                }
            }
            BlockKind::Hostapp => {
                let host = &self.current.host;
                let installed = [&host.booted, &host.staged]
                    .into_iter()
                    .any(|slot| slot.as_ref() == Some(&image.id));
                if !installed {
                    self.steps.push(Step::InstallHostapp {
                        block: id.clone(),
                        image: image.id.clone(),
                        reference: block.image.clone(),
                    });
                }
            }
        }
    }
}

/// Engine names of the target's volumes whose driver or driver options
/// differ from those they were created with. One without the hash label (an
/// older runtime's) counts as matching.
fn stale_volumes(current: &CurrentState, target: &TargetState) -> BTreeSet<String> {
    current
        .volumes
        .iter()
        .filter(|v| {
            let config = target
                .apps
                .get(&v.app)
                .and_then(|app| app.volumes.get(&v.volume));
            match (config, &v.config_hash) {
                (Some(config), Some(hash)) => *hash != labels::volume_hash(config),
                _ => false,
            }
        })
        .map(|v| v.name.clone())
        .collect()
}

/// Engine names of the networks the target needs whose settings differ
/// from those they were created with. One without the hash label (an older
/// runtime's) counts as matching.
fn stale_networks(current: &CurrentState, target: &TargetState) -> BTreeSet<String> {
    current
        .networks
        .iter()
        .filter(|n| {
            let Some(app) = target.apps.get(&n.app) else {
                return false;
            };
            if !app_networks(app).contains(&n.network) {
                return false;
            }
            let config = app.networks.get(&n.network).cloned().unwrap_or_default();
            n.config_hash
                .as_ref()
                .is_some_and(|hash| *hash != labels::network_hash(&config))
        })
        .map(|n| n.name.clone())
        .collect()
}

/// Target blocks with a container on a stale volume or network, and the
/// blocks that join their namespaces (`network_mode: service:db`): those
/// would keep the old container's namespace, cut off from the new network.
fn cycling_blocks(
    current: &CurrentState,
    target: &TargetState,
    stale_volumes: &BTreeSet<String>,
    stale_networks: &BTreeSet<String>,
) -> BTreeSet<BlockId> {
    let in_target = |id: &BlockId| {
        target
            .apps
            .get(&id.app)
            .is_some_and(|app| app.release.blocks.contains_key(&id.block))
    };
    let mut cycling: BTreeSet<BlockId> = current
        .containers
        .iter()
        .filter(|c| {
            c.volumes.iter().any(|v| stale_volumes.contains(v))
                || c.networks.iter().any(|n| stale_networks.contains(n))
        })
        .filter_map(Container::block_id)
        .filter(in_target)
        .collect();
    // Joins form no cycle (validation refuses one), so this ends.
    loop {
        let before = cycling.len();
        for (app_name, app) in &target.apps {
            for (name, block) in &app.release.blocks {
                let joins_cycling = block
                    .joined_blocks()
                    .into_iter()
                    .any(|peer| cycling.contains(&BlockId::new(app_name, peer)));
                if joins_cycling {
                    cycling.insert(BlockId::new(app_name, name));
                }
            }
        }
        if cycling.len() == before {
            return cycling;
        }
    }
}

/// Running, and healthy if it has a healthcheck.
fn is_up(status: ContainerStatus) -> bool {
    matches!(
        status,
        ContainerStatus::Running {
            health: Health::Healthy | Health::NoCheck
        }
    )
}

/// The networks an app needs: those it declares and those its blocks join.
fn app_networks(app: &App) -> BTreeSet<NetworkName> {
    let mut networks: BTreeSet<NetworkName> = app.networks.keys().cloned().collect();
    // A block the target says is no container joins no network; one whose
    // image says so is found out only once fetched, too late to matter.
    for block in app.release.blocks.values() {
        if block.kind.is_none_or(BlockKind::is_container) {
            networks.extend(block.effective_networks());
        }
    }
    networks
}

fn container_ref(container: &Container) -> ContainerRef {
    ContainerRef {
        id: container.id.clone(),
        owner: container.owner.clone(),
    }
}

#[cfg(test)]
mod tests;
