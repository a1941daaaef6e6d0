//! What `osb status` reports: each target block's container and state, the
//! privileges it holds, and what the planner would do next.

use serde::Serialize;

use super::Observed;
use super::reboot::RebootDue;
use crate::engine_health::DaemonHealth;
use osb_state::current::{Container, ContainerStatus, Health};
use osb_state::plan::Step;
use osb_state::policy::Summary;
use osb_state::{BlockId, TargetState, plan};

/// The device's blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// Whether the engine matches the target.
    pub converged: bool,
    /// One entry per target block, by app then name.
    pub blocks: Vec<BlockStatus>,
    /// The apps whose release the contract check rejects, and why: what
    /// runs of them stays as it is.
    pub rejected: Vec<String>,
    /// The optional blocks left out, their requirements not holding.
    pub left_out: Vec<String>,
    /// The apps whose new release a policy holds back, as the executor
    /// last asked (the caller's to fill in: it is in the store).
    pub held: Vec<String>,
    /// Where the validation of each app's target release is: under way
    /// (what it waits for), passed, or failed and rolled back (the
    /// caller's to fill in).
    pub validation: Vec<String>,
    /// The next batch of steps, as `osb apply` would run them.
    pub pending: Vec<String>,
    /// The runtime's containers that no target block owns.
    pub strays: Vec<String>,
    /// The clock's state the plan was made with (`unsynced`, `coarse`,
    /// `synced`): what blocks that need time wait for.
    pub time: &'static str,
    /// The running daemon whose time service that state is from; `None`
    /// when no daemon runs, and the clock is taken as `unsynced`.
    pub time_daemon_pid: Option<u32>,
    /// The reboot a block asked for, due in this boot (until the device
    /// boots again); `None` when none is.
    pub reboot_due: Option<RebootDue>,
    /// The engine's health as the running daemon watches it; `None` when
    /// no daemon runs (the caller's to fill in: it is in the state dir).
    pub engine: Option<DaemonHealth>,
}

/// One block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockStatus {
    /// `app/block`.
    pub block: String,
    /// The release the target asks for.
    pub release: String,
    /// The image the target asks for.
    pub image: String,
    /// `running`, `healthy`, `unhealthy`, `starting`, `created`,
    /// `exited (N)`, `restarting`, `paused`, `dead`, or `missing`.
    pub state: String,
    /// The current container's engine name, if it has one.
    pub container: Option<String>,
    /// Whether an older container of the block is still there.
    pub updating: bool,
    /// Why the block is held back, if it is.
    pub waiting: Option<String>,
    /// The privileges it asks for, which the device policy let through
    /// (`privileged`, `host-network`, `devices`, `host-features`, ...).
    pub privileges: Vec<String>,
    /// The host features it asks for by label (`dbus`, `kernel-modules`,
    /// `balena-socket`, ...).
    pub features: Vec<String>,
    /// Both as one line, `host-features` spelled out as the features
    /// (`privileged, host-network, devices, dbus`); empty if none.
    pub holds: String,
}

/// The status of `target`'s blocks in `observed`, planned with the clock
/// state of the daemon `time_daemon_pid` if one runs; the reboot due is
/// the caller's to fill in (it is in the store, not in `observed`).
pub fn report(
    target: &TargetState,
    observed: &Observed,
    time_daemon_pid: Option<u32>,
) -> StatusReport {
    let gate = &observed.gate;
    let steps = plan(&observed.current, &gate.target, &observed.conditions);
    let mut blocks = Vec::new();
    for (app_name, app) in &target.apps {
        for (block_name, block) in &app.release.blocks {
            let id = BlockId::new(app_name, block_name);
            let hash = app
                .container_hash(block_name)
                .unwrap_or_else(|| block.config_hash());
            let mine: Vec<&Container> = observed
                .current
                .containers
                .iter()
                .filter(|c| c.block_id().as_ref() == Some(&id))
                .collect();
            let current = mine
                .iter()
                .find(|c| c.owner.as_ref().is_some_and(|o| o.config_hash == hash));
            let waiting = if let Some(rejection) = gate.rejected.get(app_name) {
                Some(rejection.to_string())
            } else if let Some(failures) = gate.left_out.get(&id) {
                Some(format!("left out: {}", failures.join("; ")))
            } else {
                steps.iter().find_map(|s| match s {
                    Step::Wait { block, reason } if *block == id => Some(reason.to_string()),
                    _ => None,
                })
            };
            let summary = Summary::of(block, &app.volumes);
            blocks.push(BlockStatus {
                block: id.to_string(),
                release: app.release.version.to_string(),
                image: block.image.to_string(),
                state: current.map_or_else(|| "missing".to_owned(), |c| state(c.status)),
                container: current.and_then(|c| observed.names.get(&c.id).cloned()),
                updating: mine.len() > usize::from(current.is_some()),
                waiting,
                privileges: summary
                    .privileges
                    .iter()
                    .map(|p| p.name().to_owned())
                    .collect(),
                features: summary
                    .features
                    .iter()
                    .map(|f| f.name().to_owned())
                    .collect(),
                holds: summary.line(),
            });
        }
    }
    let strays = observed
        .current
        .containers
        .iter()
        .filter(|c| {
            c.block_id().is_none_or(|id| {
                target
                    .apps
                    .get(&id.app)
                    .is_none_or(|a| !a.release.blocks.contains_key(&id.block))
            })
        })
        .map(|c| {
            observed
                .names
                .get(&c.id)
                .cloned()
                .unwrap_or_else(|| c.id.to_string())
        })
        .collect();
    let (rejected, left_out) = gate.lines();
    StatusReport {
        converged: steps.is_empty() && rejected.is_empty(),
        rejected,
        left_out,
        held: Vec::new(),
        validation: Vec::new(),
        blocks,
        pending: steps.iter().map(ToString::to_string).collect(),
        strays,
        time: observed.conditions.time.as_str(),
        time_daemon_pid,
        reboot_due: None,
        engine: None,
    }
}

fn state(status: ContainerStatus) -> String {
    match status {
        ContainerStatus::Created => "created".to_owned(),
        ContainerStatus::Running { health } => match health {
            Health::NoCheck => "running",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
        .to_owned(),
        ContainerStatus::Restarting => "restarting".to_owned(),
        ContainerStatus::Paused => "paused".to_owned(),
        ContainerStatus::Exited { code } => format!("exited ({code})"),
        ContainerStatus::Dead => "dead".to_owned(),
    }
}
