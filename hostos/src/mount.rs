//! The boot stack mounted: overlayfs over the plan's lower directories,
//! read-only (what init would mount as the root; the tests check the
//! result file by file). A stack of the host alone is a read-only bind
//! mount, since overlayfs wants two layers without an upper one.

use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::{
    MountFlags, MountPropagationFlags, mount, mount_bind, mount_change, mount_remount,
};

use crate::stack::StackPlan;

/// Why the stack could not be mounted.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// A directory of the stack cannot be named in a mount option.
    #[error("a lower directory of the stack cannot be named in a mount option")]
    Unnameable,
    /// The stack has no layer.
    #[error("the stack is empty")]
    Empty,
    /// The kernel refused.
    #[error("mounting the stack at '{}' ({what}): {source}", at.display())]
    Mount {
        /// Where.
        at: PathBuf,
        /// Which mount.
        what: &'static str,
        /// The kernel's answer.
        source: io::Error,
    },
}

impl MountError {
    /// The machine does not let this process mount (not root, or no
    /// overlayfs): what a test skips on, with a notice.
    pub fn is_not_permitted(&self) -> bool {
        let refused =
            [rustix::io::Errno::PERM, rustix::io::Errno::NODEV].map(|e| Some(e.raw_os_error()));
        matches!(self, MountError::Mount { source, .. } if refused.contains(&source.raw_os_error()))
    }
}

/// Mounts `plan` at `at`, read-only.
pub fn mount_stack(plan: &StackPlan, at: &Path) -> Result<(), MountError> {
    let failed = |what| {
        move |e: rustix::io::Errno| MountError::Mount {
            at: at.to_owned(),
            what,
            source: e.into(),
        }
    };
    match &plan.lower[..] {
        [] => Err(MountError::Empty),
        [only] => {
            mount_bind(&only.dir, at).map_err(failed("bind the host"))?;
            // Private first: a remount of a shared mount would reach its
            // peers.
            mount_change(at, MountPropagationFlags::PRIVATE).map_err(failed("make it private"))?;
            mount_remount(at, MountFlags::BIND | MountFlags::RDONLY, "")
                .map_err(failed("make it read-only"))
        }
        _ => {
            let options = plan.lowerdir().ok_or(MountError::Unnameable)?;
            let options = std::ffi::CString::new(options).map_err(|_| MountError::Unnameable)?;
            mount(
                "overlay",
                at,
                "overlay",
                MountFlags::RDONLY,
                options.as_c_str(),
            )
            .map_err(failed("overlayfs"))
        }
    }
}
