//! Current state: what the engine has, as the planner sees it.
//!
//! The engine client builds it from the engine's lists (containers, images,
//! volumes and networks carrying `io.osb.app`) and the runtime's own records
//! (the images it fetched, the update locks it holds). After a crash the
//! runtime rebuilds it and plans again from what is really there.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::image::ImageRef;
use super::labels::BlockLabels;
use super::name::{AppName, BlockId, NetworkName, VolumeName};

/// What the engine has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CurrentState {
    /// Containers labelled `io.osb.app`. The engine's other containers are
    /// not the runtime's business and are never listed.
    pub containers: Vec<Container>,
    /// Images the runtime fetched and that are still present. Images it did
    /// not fetch (the engine's own, another tool's) are never listed, so
    /// never removed.
    pub images: Vec<Image>,
    /// Volumes labelled with their app and name.
    pub volumes: Vec<Volume>,
    /// Networks labelled with their app and name.
    pub networks: Vec<Network>,
    /// Update locks the runtime holds, so the blocks cannot take them while
    /// they are being stopped.
    pub locks: BTreeSet<BlockId>,
    /// Overlay blocks installed in the extension store.
    pub extensions: Vec<InstalledExtension>,
    /// The images in the host OS's root filesystem slots, where known.
    pub host: HostSlots,
}

/// An overlay block's image, unpacked into the extension store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledExtension {
    /// The block it was installed for.
    pub block: BlockId,
    /// The image unpacked.
    pub image: ImageId,
}

/// Which hostapp images the root filesystem slots hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSlots {
    /// The image of the slot the device booted (absent: one installed
    /// some other way, such as at the factory).
    pub booted: Option<ImageId>,
    /// The image written, complete and verified, into the other slot.
    pub staged: Option<ImageId>,
}

/// One of the runtime's containers.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// The engine's id.
    pub id: ContainerId,
    /// What its labels say it is. `None`: it carries `io.osb.app` but the
    /// other labels cannot be read; such a stray is removed.
    pub owner: Option<BlockLabels>,
    /// The image it was created from.
    pub image: ImageId,
    /// Its state.
    pub status: ContainerStatus,
    /// Engine names of the named volumes it mounts.
    pub volumes: Vec<String>,
    /// Engine names of the networks it is attached to.
    pub networks: Vec<String>,
}

impl Container {
    /// The block it runs, if its labels say.
    pub fn block_id(&self) -> Option<BlockId> {
        self.owner.as_ref().map(|o| BlockId::new(&o.app, &o.block))
    }
}

/// A container's state, as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerStatus {
    /// Created, never started.
    Created,
    /// Running.
    Running {
        /// What its healthcheck says.
        health: Health,
    },
    /// Between two runs, restarted by the engine's restart policy.
    Restarting,
    /// Frozen.
    Paused,
    /// Stopped or finished.
    Exited {
        /// Its exit code.
        code: i64,
    },
    /// Failed to stop or be removed; only removal is left.
    Dead,
}

impl ContainerStatus {
    /// Whether it has a process that stopping would interrupt.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ContainerStatus::Running { .. } | ContainerStatus::Restarting | ContainerStatus::Paused
        )
    }
}

/// What a running container's healthcheck says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// It has no healthcheck.
    NoCheck,
    /// Checks have not passed yet.
    Starting,
    /// The last checks passed.
    Healthy,
    /// The last checks failed.
    Unhealthy,
}

/// An image the runtime fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The engine's id (`sha256:...`).
    pub id: ImageId,
    /// Its tags and repo digests, as the engine lists them.
    pub references: Vec<ImageRef>,
    /// Its labels that say what a block of it is
    /// ([`crate::kind::ImageClass::from_labels`]); others are not kept.
    pub class_labels: BTreeMap<String, String>,
}

/// One of the runtime's volumes.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// The engine name.
    pub name: String,
    /// The app it belongs to.
    pub app: AppName,
    /// Its name within the app.
    pub volume: VolumeName,
    /// Its [`CONFIG_HASH`](super::labels::CONFIG_HASH) label: the
    /// [`volume_hash`](super::labels::volume_hash) of the settings it was
    /// created with. `None` on a volume made by a runtime that did not
    /// write it, which is taken to match its target: an upgrade of the
    /// runtime recreates no volume, and loses no data.
    pub config_hash: Option<String>,
    /// Its labels, less the runtime's (`io.osb.*`): compared with the
    /// target's, which cannot be applied to an existing volume.
    pub labels: BTreeMap<String, String>,
}

/// One of the runtime's networks.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// The engine name.
    pub name: String,
    /// The app it belongs to.
    pub app: AppName,
    /// Its name within the app.
    pub network: NetworkName,
    /// Its [`CONFIG_HASH`](super::labels::CONFIG_HASH) label: the
    /// [`network_hash`](super::labels::network_hash) of the settings it was
    /// created with. `None` on a network made by a runtime that did not
    /// write it, which is taken to match its target: an upgrade of the
    /// runtime recreates no network (and stops no block for it).
    pub config_hash: Option<String>,
}

/// An engine container id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerId(pub String);

/// An engine image id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageId(pub String);

impl fmt::Display for ContainerId {
    /// The first 12 characters, as the engine's CLI shows ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get(..12).unwrap_or(&self.0))
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.0.strip_prefix("sha256:").unwrap_or(&self.0);
        f.write_str(hex.get(..12).unwrap_or(hex))
    }
}
