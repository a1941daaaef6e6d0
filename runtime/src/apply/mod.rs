//! The executor: observes the engine, asks the planner for the next batch,
//! runs it, and starts over until nothing is left to do.
//!
//! Each cycle re-derives the current state from the engine (labels), the
//! lock files and the store, never from memory: a runtime killed at any
//! point and started again plans from what is really there. A batch's steps
//! are independent (the planner's promise), so they run concurrently, up to
//! a limit.
//!
//! - [`store`]: the target, the apply history and the fetched images (redb).
//! - [`locks`]: the per-block update lock files.
//! - [`policies`]: the contract-policy plugins, asked before a release new
//!   to the device is applied.
//! - [`backoff`]: capped exponential delays for pull retries and restarts.
//! - [`binds`]: the missing host directories of bind mounts, created before
//!   a container.
//! - [`disk`]: free space against image size, before a pull.
//! - [`progress`]: pull progress as bars or log events.
//! - [`reboot`]: the reboot a block asks for once it is in place.
//! - [`releases`]: what became of each release: running, replaced,
//!   rejected, rolled back.
//! - [`validation`]: a release validated once in place (its blocks up, its
//!   test blocks passed), and rolled back when it fails.
//! - [`status`]: what `osb status` reports of each block.

pub mod backoff;
pub mod binds;
pub mod disk;
pub mod host_os;
pub mod locks;
pub mod policies;
pub mod progress;
pub mod reboot;
pub mod releases;
pub mod status;
pub mod store;
pub mod turn;
pub mod validation;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tracing::Instrument;

use crate::preflight::{Preflight, PreflightError};
use crate::time::TimeHandle;
use backoff::Backoff;
use locks::{LockError, Locks};
use osb_engine::{ContainerPlan, Engine, EngineError, Registries};
use osb_state::current::{ContainerId, ContainerStatus, CurrentState, Image, ImageId};
use osb_state::gate::{Gate, Rules, gate_under};
use osb_state::plan::{ContainerRef, Step, WaitReason, notices};
use osb_state::policy::Policy;
use osb_state::{BlockId, BlockKind, Conditions, ImageRef, TargetState, TimeStatus, plan};
use progress::{ProgressOutput, PullProgress};
use store::{Store, StoreError};
use turn::{Turn, TurnError};

/// How the executor behaves.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    /// Where the store and lock files live.
    pub state_dir: PathBuf,
    /// The runtime instance: the engine objects it owns carry this name.
    pub instance: String,
    /// Delays between pull attempts.
    pub pull_backoff: Backoff,
    /// Pull attempts before an apply gives up on an image.
    pub pull_attempts: u32,
    /// Delays between restarts of a block that keeps exiting.
    pub restart_backoff: Backoff,
    /// How long a stopped container gets before it is killed.
    pub stop_grace: Duration,
    /// Disk kept free beyond what a pull needs.
    pub disk_reserve: u64,
    /// Steps run at once.
    pub concurrency: usize,
    /// What the time service says of the clock, read afresh every cycle.
    pub time: TimeHandle,
    /// Logins for image registries (the device config's `[registries]`).
    pub registries: Registries,
    /// The device's contract file (the device config's `[device]
    /// contract`), read once when the executor connects: releases are
    /// gated against the device's contract built from it.
    pub device_contract: Option<PathBuf>,
    /// The device's mode, read afresh every cycle: in development mode
    /// draft releases run (otherwise one is rejected, the app's running
    /// release kept), and the device's contract says which mode it is in.
    pub mode: crate::mode::ModeHandle,
    /// What blocks may ask of the host (the device config's `[policy]`):
    /// every target is checked against it, with what only this host can
    /// answer ([`Preflight`]), before anything of it is stored or applied.
    pub policy: Policy,
    /// What reboots the device when a block asks (the device config's
    /// `[device] reboot_command`); empty: the reboot is only reported.
    /// The daemon runs it ([`Applier::reboot_if_due`]), never an apply.
    pub reboot_command: Vec<String>,
    /// The contract-policy plugins asked before a release new to the
    /// device is applied (the daemon's plugin host); `None`: none asked.
    pub policies: Option<policies::Policies>,
    /// Whether the host of `policies` has loaded the whole plugin
    /// directory (the daemon's), so it can say whether a block's paired
    /// plugin is loaded; `osb apply`'s loads only the policies.
    pub whole_plugin_host: bool,
    /// The board's hardware adapter (the daemon's plugin host): while one
    /// answers, its device contract stands for `device_contract`.
    pub adapter: Option<crate::adapter::Adapter>,
}

impl ApplySettings {
    /// Defaults for a device, with state in `state_dir`.
    pub fn new(state_dir: PathBuf) -> Self {
        ApplySettings {
            state_dir,
            instance: osb_engine::DEFAULT_INSTANCE.to_owned(),
            pull_backoff: Backoff {
                initial: Duration::from_secs(1),
                cap: Duration::from_secs(30),
            },
            pull_attempts: 8,
            restart_backoff: Backoff {
                initial: Duration::from_secs(1),
                cap: Duration::from_secs(300),
            },
            stop_grace: Duration::from_secs(10),
            disk_reserve: 256 << 20,
            concurrency: 8,
            time: TimeHandle::fixed(TimeStatus::Unsynced),
            registries: Registries::default(),
            device_contract: None,
            mode: crate::mode::ModeHandle::fixed(crate::mode::Mode::Production),
            policy: Policy::default(),
            reboot_command: Vec::new(),
            policies: None,
            whole_plugin_host: false,
            adapter: None,
        }
    }
}

/// Why an apply stopped short of the target.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The engine is unreachable or refused.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another executor kept its turn, or the lock is unusable.
    #[error(transparent)]
    Turn(#[from] TurnError),
    /// An image does not fit on the disk.
    #[error(transparent)]
    NoSpace(#[from] disk::NoSpace),
    /// The lock directories cannot be opened.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The extension store cannot be read.
    #[error(transparent)]
    Extensions(#[from] osb_hostos::extensions::ExtensionError),
    /// The device policy or the host refuses what the target asks for:
    /// nothing of it was stored or applied.
    #[error(transparent)]
    Refused(#[from] PreflightError),
    /// The engine kept refusing to create a block's container: a setting
    /// it does not take (a runtime it lacks, a device it has not). The
    /// release cannot run as written; whatever of the block still runs
    /// (under download-then-kill and hand-over, its old container) is left
    /// running.
    #[error(
        "the engine refused to create {container} (attempts: {attempts}): {message}; {}",
        still_running(block, running)
    )]
    CreateRefused {
        /// The new container: `main/web@2.0.0`.
        container: String,
        /// The block: `main/web`.
        block: String,
        /// How many times it was tried.
        attempts: u32,
        /// What the engine said.
        message: String,
        /// The block's containers still running: `main/web@1.0.0`.
        running: Vec<String>,
    },
    /// The contract check rejects a release: the device cannot run it.
    /// Everything else of the target converged; nothing of the rejected
    /// release was fetched or started, and what ran of its app runs on.
    #[error("{}; what runs of the app stays as it is", rejected.join("; "))]
    Rejected {
        /// `main: release 2.0.0 rejected: apps.main.release.requires[0]: ...`.
        rejected: Vec<String>,
    },
    /// A policy holds a release back: nothing of it was fetched or started
    /// yet, and what runs of its app runs on. The daemon asks again at
    /// every reconcile.
    #[error("{}; what runs of the app stays as it is", held.join("; "))]
    Held {
        /// `main: held by policy: policy 'policy-thermal' denies: ...`.
        held: Vec<String>,
    },
    /// A release failed its validation: the app was rolled back to its
    /// last validated release, or (with none) runs on, marked failed.
    #[error("{}", failed.join("; "))]
    ValidationFailed {
        /// `main: release 2.0.0 failed validation (test main/smoke: exited
        /// with code 1); rolled back to 1.0.0`.
        failed: Vec<String>,
    },
    /// The device's contract file cannot be read.
    #[error(transparent)]
    DeviceContract(#[from] crate::device_contract::ContractFileError),
    /// A step kept failing.
    #[error("{step} failed (attempts: {attempts}), last: {error}")]
    Step {
        /// The step.
        step: String,
        /// How many times it was tried.
        attempts: u32,
        /// The last error.
        error: String,
    },
    /// The deadline passed with blocks still held back.
    #[error("not converged after {}s; waiting: {}", elapsed.as_secs(), waiting.join("; "))]
    NotConverged {
        /// Each held-back block and why.
        waiting: Vec<String>,
        /// How long the apply ran.
        elapsed: Duration,
    },
}

/// What an apply did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ApplyReport {
    /// Plan-and-run cycles, the last one empty.
    pub cycles: u32,
    /// The steps run, in order of completion.
    pub steps: Vec<String>,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
    /// What was still held back when a [`Applier::settle`] returned (a
    /// block waiting for a lock, the clock, a restart backoff); empty when
    /// converged.
    pub waiting: Vec<String>,
    /// What the apply did or left that the user should know: a volume
    /// recreated (its data lost), a volume's labels left as they were.
    pub warnings: Vec<String>,
    /// The containers installed by this apply whose blocks need the device
    /// rebooted (`requires_reboot`): the reboot is due (see [`reboot`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reboot_due: Vec<String>,
    /// The apps whose release the contract check rejects, each with the
    /// requirements that fail: nothing of that release was fetched or
    /// started, and what ran of the app runs on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<String>,
    /// The optional blocks left out, their requirements not holding.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    /// The apps whose new release a policy holds back, each with the
    /// policies' reasons: nothing of it was fetched or started yet.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<String>,
    /// The releases whose validation is under way: what each waits for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validating: Vec<String>,
    /// The releases that passed validation during this apply: final now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validated: Vec<String>,
    /// The releases that failed validation during this apply, each with
    /// the check that failed and the release the app went back to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rolled_back: Vec<String>,
    /// Whether a release being validated has tests still to pass.
    #[serde(skip)]
    pub tests_pending: bool,
    /// When the first validation window under way ends: a look is due
    /// then even if the engine says nothing (the engine's events tell of
    /// everything else a validation waits for: a start, a health check, an
    /// exit).
    #[serde(skip)]
    pub window_ends: Option<Duration>,
    /// When those waits need another look with nothing to wake on (a
    /// block's lock file, a restart backoff); `None` when an engine event
    /// or a change of the clock's state is what ends them all.
    #[serde(skip)]
    pub look_again: Option<Duration>,
}

impl ApplyReport {
    /// Notes `v`, under way at `now`.
    fn note_validating(&mut self, v: &validation::Validation, now: &validation::Now) {
        self.validating.push(v.waiting_for());
        self.tests_pending |= v.tests_pending();
        // A look just after the window ends, not at its last millisecond.
        let ends = v.next_look(now) + Duration::from_millis(100);
        self.window_ends = Some(self.window_ends.map_or(ends, |e| e.min(ends)));
    }
}

/// When a reconcile returns.
#[derive(Debug, Clone, Copy)]
enum Until {
    /// Converged, or only waits remain at the deadline (an error then).
    Converged(Option<Instant>),
    /// Converged, or nothing left to do but wait.
    Settled,
}

/// The state one cycle plans from.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The engine's objects, the runtime's images and locks.
    pub current: CurrentState,
    /// The clock, the blocks' own locks, and the apps held (their release
    /// rejected by the contract check).
    pub conditions: Conditions,
    /// Container names, for messages.
    pub names: BTreeMap<ContainerId, String>,
    /// The target gated against the device's contract: what is planned
    /// (`gate.target`: optional blocks that cannot run left out), the
    /// releases rejected, the blocks left out.
    pub gate: Gate,
    /// The device's contract the target was gated against.
    pub device: osb_contract::Contract,
}

/// Restarts of one block by the executor.
#[derive(Debug, Clone, Copy)]
struct Restarts {
    count: u32,
    last: Instant,
}

/// A failed step.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    NoSpace(#[from] disk::NoSpace),
    #[error(transparent)]
    BindSource(#[from] binds::BindSourceError),
    /// A pull that failed every attempt, or that the registry answered
    /// with "no such image": not retried by the cycle.
    #[error("{error}")]
    PullGaveUp { error: EngineError, attempts: u32 },
    /// An overlay that could not be installed.
    #[error("{block}: {error}")]
    HostOs {
        block: BlockId,
        error: host_os::HostOsError,
    },
    /// A hostapp, which this runtime does not install yet.
    #[error("{block}: {kind} blocks are not installed by this runtime yet")]
    HostOsUnsupported { block: BlockId, kind: BlockKind },
}

/// Failures of one step in a row before an apply gives up.
const STEP_ATTEMPTS: u32 = 3;
/// How long an apply waits for engine events before looking again.
const POLL: Duration = Duration::from_secs(1);
/// How soon a release a policy holds is asked about again: nothing the
/// engine or the clock's state says wakes the daemon when a maintenance
/// window opens or the board cools, and a question costs a plugin call.
const POLICY_AGAIN: Duration = Duration::from_secs(5);
/// A block restarted longer ago than this starts its backoff afresh.
const RESTART_FORGET: Duration = Duration::from_secs(600);

/// The facts of the device's contract that do not change while the
/// runtime runs.
#[derive(Debug, Clone)]
struct DeviceBase {
    /// The `[device] contract` file's contract.
    contract: Option<osb_contract::Contract>,
    /// `uname -r`.
    kernel_release: String,
}

/// The preflight's answer about a target: its warnings, or the refusal.
type Checked = Result<Vec<String>, PreflightError>;

/// The executor, bound to one engine, store and lock directory.
pub struct Applier {
    engine: Engine,
    store: Store,
    locks: Locks,
    settings: ApplySettings,
    progress: ProgressOutput,
    restarts: Mutex<BTreeMap<BlockId, Restarts>>,
    preflight: Preflight,
    /// What the device's contract is built from besides the target and
    /// the engine, read once.
    device: DeviceBase,
    /// The release event last recorded per app, so that a cycle that
    /// sees nothing new does not open the store.
    recorded: Mutex<BTreeMap<osb_state::AppName, releases::Event>>,
    /// The last target the preflight checked, and its answer: the host's
    /// answers are taken once per target, not once per reconcile.
    checked: Mutex<Option<(TargetState, Checked)>>,
    /// The releases the policies allowed.
    allowed: policies::Allowed,
    /// What the policies last held, per app: said and stored when it
    /// changes, not at every reconcile.
    held: Mutex<BTreeMap<osb_state::AppName, Vec<String>>>,
    /// Why the hardware adapter's contract was last not used, as said.
    adapter_said: Mutex<Option<String>>,
}

impl Applier {
    /// Connects to the engine and opens the store.
    pub async fn connect(
        settings: ApplySettings,
        progress: ProgressOutput,
    ) -> Result<Applier, ApplyError> {
        let store = Store::open(&settings.state_dir)?;
        let engine = Engine::connect(&settings.instance)
            .await?
            .with_registries(settings.registries.clone());
        let device = DeviceBase {
            contract: settings
                .device_contract
                .as_deref()
                .map(crate::device_contract::read_contract)
                .transpose()?,
            kernel_release: crate::device_contract::kernel_release(),
        };
        Ok(Applier {
            engine,
            store,
            device,
            locks: Locks::new(&settings.state_dir)?,
            preflight: Preflight::new(settings.policy.clone()),
            settings,
            progress,
            restarts: Mutex::new(BTreeMap::new()),
            checked: Mutex::new(None),
            recorded: Mutex::new(BTreeMap::new()),
            allowed: policies::Allowed::default(),
            held: Mutex::new(BTreeMap::new()),
            adapter_said: Mutex::new(None),
        })
    }

    /// Checks `target` against the device policy and the host (see
    /// [`crate::preflight`]): what may not be applied is refused here, at
    /// the executor's one entry, so no caller can apply past it. The
    /// warnings are what is left out rather than refused. Checked once per
    /// distinct target.
    pub fn check(&self, target: &TargetState) -> Result<Vec<String>, PreflightError> {
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((last, answer)) = checked.as_ref()
            && last == target
        {
            return answer.clone();
        }
        let answer = self.preflight.check(target);
        *checked = Some((target.clone(), answer.clone()));
        answer
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine connection.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads the current state. Images count as the runtime's if it fetched
    /// them or if the target asks for them (an image loaded by hand is used,
    /// but never removed).
    pub async fn observe(&self, target: &TargetState) -> Result<Observed, ApplyError> {
        let planned = self.validation_progress()?.effective(target);
        self.observe_claiming(&planned, false).await
    }

    /// [`Applier::observe`]; with `claim`, pulls begun by an earlier run
    /// and never recorded are settled first (only under the turn: a pull
    /// may be in flight otherwise).
    async fn observe_claiming(
        &self,
        target: &TargetState,
        claim: bool,
    ) -> Result<Observed, ApplyError> {
        let engine = self.engine.read().await?;
        if claim {
            self.claim_fetches(&engine.images)?;
        }
        let fetched: BTreeSet<_> = self.store.fetched()?.into_values().collect();
        let wanted: Vec<&ImageRef> = target
            .apps
            .values()
            .flat_map(|a| a.release.blocks.values().map(|b| &b.image))
            .collect();
        let images: Vec<Image> = engine
            .images
            .into_iter()
            .filter(|i| {
                fetched.contains(&i.id)
                    || i.references
                        .iter()
                        .any(|r| wanted.iter().any(|w| w.is_satisfied_by(r)))
            })
            .collect();
        let locks = self.locks.read();
        let running = crate::device_contract::running_blocks(target, &engine.containers);
        let hardware = self.hardware_contract().await;
        let mode = self.settings.mode.current();
        let device = crate::device_contract::assemble(crate::device_contract::DeviceFacts {
            device: hardware.as_ref().or(self.device.contract.as_ref()),
            arch: crate::device_contract::arch_slug(std::env::consts::ARCH),
            kernel_release: Some(&self.device.kernel_release),
            target: Some(target),
            running: &running,
            mode,
        });
        // A draft gets past gating when a policy may let it through; then
        // the policies decide (`policies::Ask::needs_draft_allow`).
        let rules = Rules {
            drafts: mode.is_development()
                || self
                    .settings
                    .policies
                    .as_ref()
                    .is_some_and(policies::Policies::may_allow_drafts),
        };
        let gate = gate_under(target, &device, rules);
        Ok(Observed {
            current: CurrentState {
                containers: engine.containers,
                images,
                volumes: engine.volumes,
                networks: engine.networks,
                locks: locks.runtime,
                extensions: host_os::installed(&self.settings.state_dir)?,
                host: osb_state::current::HostSlots::default(),
            },
            conditions: Conditions {
                time: self.settings.time.current(),
                locked_by_blocks: locks.blocks,
                held_apps: gate.held_apps(),
            },
            names: engine.names,
            gate,
            device,
        })
    }

    /// The hardware adapter's device contract, when one is loaded and
    /// answers a plausible one; else `None`, and the `[device] contract`
    /// file stands. A failure is said once per distinct error, not at
    /// every reconcile.
    async fn hardware_contract(&self) -> Option<osb_contract::Contract> {
        let adapter = self.settings.adapter.clone()?;
        let answer = tokio::task::spawn_blocking(move || adapter.contract())
            .await
            .unwrap_or_else(|e| Err(crate::adapter::AdapterError::Call(e.to_string())));
        let mut said = self.adapter_said.lock().unwrap_or_else(|p| p.into_inner());
        match answer {
            Ok(contract) => {
                *said = None;
                Some(contract)
            }
            Err(crate::adapter::AdapterError::None) => None,
            Err(e) => {
                let text = e.to_string();
                if said.as_deref() != Some(&text) {
                    tracing::warn!(error = %text, "the hardware adapter's device contract is not used; the [device] contract file stands");
                    *said = Some(text);
                }
                None
            }
        }
    }

    /// Removes the references the runtime pulled image `id` under: the
    /// image goes with them unless somebody else tagged it too (removing
    /// it by id would then be refused, and leave the runtime's tags
    /// behind). With no reference recorded, by id.
    async fn remove_fetched_image(&self, id: &ImageId) -> Result<(), StepError> {
        let references: Vec<String> = self
            .store
            .fetched()?
            .into_iter()
            .filter(|(_, fetched)| fetched == id)
            .map(|(reference, _)| reference)
            .collect();
        if references.is_empty() {
            return Ok(self.engine.remove_image(id).await?);
        }
        for reference in references {
            self.engine.untag_image(&reference).await?;
        }
        Ok(())
    }

    /// Pulls begun and never recorded as over: the runtime stopped between
    /// the image landing and the record (it is claimed as fetched, so it is
    /// removed once no target wants it), or the pull left nothing.
    fn claim_fetches(&self, images: &[Image]) -> Result<(), StoreError> {
        for reference in self.store.fetching()? {
            let landed = ImageRef::parse(&reference).ok().and_then(|wanted| {
                images
                    .iter()
                    .find(|i| i.references.iter().any(|r| wanted.is_satisfied_by(r)))
            });
            match landed {
                Some(image) => {
                    tracing::info!(image = %reference, id = %image.id.0, "claiming an image whose pull was not recorded");
                    self.store.add_fetched(&reference, &image.id)?;
                }
                None => self.store.end_fetch(&reference)?,
            }
        }
        Ok(())
    }

    /// Waits for the executor's turn (see [`turn`]) until `deadline`.
    pub async fn take_turn(&self, deadline: Option<Instant>) -> Result<Turn, ApplyError> {
        Ok(Turn::take(&self.settings.state_dir, deadline).await?)
    }

    /// Takes the executor's turn, records `target` durably, then converges
    /// to it.
    pub async fn apply(
        &self,
        target: &TargetState,
        deadline: Option<Instant>,
    ) -> Result<ApplyReport, ApplyError> {
        self.check(target)?;
        let _turn = self.take_turn(deadline).await?;
        self.store.accept(target)?;
        let result = self.converge(target, deadline).await;
        let (event, detail) = match &result {
            Ok(report) => ("converged", format!("{} steps", report.steps.len())),
            Err(e) => ("failed", e.to_string()),
        };
        if let Err(e) = self.store.record(event, target, &detail) {
            tracing::warn!(error = %e, "cannot record the apply's outcome");
        }
        result
    }

    /// Plans and runs batches until the plan is empty, or `deadline` passes
    /// with blocks held back, or a step keeps failing. The caller holds the
    /// turn.
    pub async fn converge(
        &self,
        target: &TargetState,
        deadline: Option<Instant>,
    ) -> Result<ApplyReport, ApplyError> {
        self.reconcile(target, Until::Converged(deadline)).await
    }

    /// Plans and runs batches until the plan is empty or holds only waits
    /// (those are in the report), or a step keeps failing: a daemon's
    /// reconcile, which must give the turn back rather than wait in it.
    pub async fn settle(&self, target: &TargetState) -> Result<ApplyReport, ApplyError> {
        self.reconcile(target, Until::Settled).await
    }

    async fn reconcile(
        &self,
        target: &TargetState,
        until: Until,
    ) -> Result<ApplyReport, ApplyError> {
        let deadline = match until {
            Until::Converged(deadline) => deadline,
            Until::Settled => None,
        };
        let started = Instant::now();
        let mut report = ApplyReport {
            warnings: self.check(target)?,
            ..ApplyReport::default()
        };
        let mut failures: BTreeMap<String, u32> = BTreeMap::new();
        let mut events = self.engine.events();
        let mut time = self.settings.time.clone();
        let wanted = target;
        loop {
            report.cycles += 1;
            // What the device runs of the target: a release rolled back
            // runs its rollback point, a test block only while its test
            // is due.
            let progress = self.validation_progress()?;
            let planned = progress.effective(wanted);
            let mut observed = self.observe_claiming(&planned, report.cycles == 1).await?;
            self.forget_old_restarts(&observed);
            report.held = self.hold_by_policy(&mut observed).await?;
            // What runs on this device: a rejected release is held, an
            // optional block that cannot run is left out.
            let target = &observed.gate.target;
            (report.rejected, report.left_out) = observed.gate.lines();
            if self
                .validate(wanted, &observed, &progress, &mut report)
                .await?
            {
                // A test came due or finished, or a release was rolled
                // back: what is planned changed.
                continue;
            }
            let steps = plan(&observed.current, target, &observed.conditions);
            self.record_releases(&observed.gate, steps.is_empty());
            if steps.is_empty() {
                // `osb apply` of a release with tests waits for their
                // verdict: it is what its caller is after. Other
                // validations go on in the daemon's reconciles.
                if let Until::Converged(deadline) = until
                    && report.tests_pending
                {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(ApplyError::NotConverged {
                            waiting: report.validating,
                            elapsed: started.elapsed(),
                        });
                    }
                    tokio::select! {
                        _ = events.next() => {}
                        _ = tokio::time::sleep(POLL) => {}
                    }
                    continue;
                }
                notice(&observed, target, until, &mut report);
                if let Until::Converged(_) = until
                    && !report.rejected.is_empty()
                {
                    return Err(ApplyError::Rejected {
                        rejected: report.rejected,
                    });
                }
                if let Until::Converged(_) = until
                    && !report.held.is_empty()
                {
                    return Err(ApplyError::Held { held: report.held });
                }
                if let Until::Converged(_) = until
                    && !report.rolled_back.is_empty()
                {
                    return Err(ApplyError::ValidationFailed {
                        failed: report.rolled_back,
                    });
                }
                report.look_again = [
                    report.window_ends,
                    (!report.held.is_empty()).then_some(POLICY_AGAIN),
                ]
                .into_iter()
                .flatten()
                .min();
                report.elapsed_ms =
                    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::info!(
                    cycles = report.cycles,
                    steps = report.steps.len(),
                    "converged"
                );
                return Ok(report);
            }
            let mut waiting: Vec<String> = Vec::new();
            let mut actions: Vec<Step> = Vec::new();
            // When a wait can end with nothing to wake on: a block's own
            // lock file going, a restart backoff running out.
            let mut look_again: Option<Duration> = None;
            let mut sooner = |d: Duration| look_again = Some(look_again.map_or(d, |l| l.min(d)));
            for step in steps {
                match &step {
                    Step::Wait { reason, .. } => {
                        if matches!(reason, WaitReason::LockHeld) {
                            sooner(POLL);
                        }
                        waiting.push(step.to_string());
                    }
                    Step::StartContainer { container } => {
                        match self.restart_gate(container, &observed) {
                            Some(wait) => {
                                sooner(wait);
                                waiting.push(format!(
                                    "wait {}: restart backoff, {}s left",
                                    container,
                                    wait.as_secs_f32().ceil()
                                ));
                            }
                            None => actions.push(step),
                        }
                    }
                    _ => actions.push(step),
                }
            }
            // The deadline also ends a loop of steps that succeed without
            // changing what the next observation sees.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                waiting.extend(actions.iter().map(ToString::to_string));
                return Err(ApplyError::NotConverged {
                    waiting,
                    elapsed: started.elapsed(),
                });
            }
            if actions.is_empty() && matches!(until, Until::Settled) {
                if let Some(ends) = report.window_ends {
                    sooner(ends);
                }
                if !report.held.is_empty() {
                    sooner(POLICY_AGAIN);
                }
                notice(&observed, target, until, &mut report);
                report.elapsed_ms =
                    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::debug!(waiting = ?waiting, look_again_ms = look_again.map(|d| d.as_millis()), "settled; held back");
                report.waiting = waiting;
                report.look_again = look_again;
                return Ok(report);
            }
            if actions.is_empty() {
                tracing::debug!(waiting = ?waiting, "held back; waiting for the engine");
                // Whatever the engine says (a container turned healthy,
                // exited), the clock's state changing (a block waiting for
                // `synced`), or a second passing, is a reason to look again.
                tokio::select! {
                    _ = events.next() => {}
                    () = time.changed() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                continue;
            }
            let concurrency = self.settings.concurrency.max(1);
            let results: Vec<(Step, Result<(), StepError>)> = futures_util::stream::iter(actions)
                .map(|step| {
                    let observed = &observed;
                    async move {
                        let result = self.run(&step, observed, target).await;
                        (step, result)
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            for (step, result) in results {
                let line = step.to_string();
                match result {
                    Ok(()) => {
                        failures.remove(&line);
                        if let Step::RemoveVolume {
                            app,
                            volume,
                            recreate: true,
                            ..
                        } = &step
                        {
                            let warning = format!(
                                "volume {app}/{volume} recreated: its driver or driver_opts \
                                 changed, and the data it held is lost"
                            );
                            tracing::warn!("{warning}");
                            report.warnings.push(warning);
                        }
                        if let Step::CreateContainer { labels, spec, .. } = &step
                            && spec.requires_reboot
                        {
                            let container =
                                format!("{}/{}@{}", labels.app, labels.block, labels.release);
                            self.reboot_due(&container)?;
                            report.reboot_due.push(container);
                        }
                        if let Step::InstallOverlay {
                            block,
                            reference,
                            requires_reboot: true,
                            ..
                        } = &step
                        {
                            let overlay = format!("{block} ({reference})");
                            self.reboot_due(&overlay)?;
                            report.reboot_due.push(overlay);
                        }
                        report.steps.push(line);
                    }
                    Err(StepError::NoSpace(e)) => return Err(e.into()),
                    Err(StepError::PullGaveUp { error, attempts }) => {
                        return Err(ApplyError::Step {
                            step: line,
                            attempts,
                            error: error.to_string(),
                        });
                    }
                    Err(e) => {
                        let count = failures.entry(line.clone()).or_default();
                        *count += 1;
                        tracing::warn!(step = %line, attempt = *count, error = %e, "step failed");
                        if *count >= STEP_ATTEMPTS {
                            return Err(gave_up(&step, line, *count, e, &observed));
                        }
                    }
                }
            }
        }
    }

    /// The readings of the sensors the loaded policies were granted, each
    /// read once through the hardware adapter (on a blocking thread: a
    /// plugin call blocks). Without an adapter (`osb apply`), none: a
    /// policy that needs one fails closed.
    async fn granted_readings(&self, policies: &policies::Policies) -> crate::sensors::Readings {
        let ids = policies.granted_sensors();
        if ids.is_empty() {
            return crate::sensors::Readings::new();
        }
        let Some(adapter) = self.settings.adapter.clone() else {
            tracing::warn!(sensors = ?ids.iter().map(|s| s.as_str()).collect::<Vec<_>>(), "policies were granted sensors, but no hardware adapter is at hand to read them");
            return crate::sensors::Readings::new();
        };
        tokio::task::spawn_blocking(move || crate::sensors::read(&adapter, &ids))
            .await
            .unwrap_or_default()
    }

    /// Asks the policies about each release new to the device (see
    /// [`policies`]) and holds the apps they do not allow: added to
    /// `observed`'s held apps. The lines held, for the report; a change
    /// is logged and stored (for `osb status`).
    async fn hold_by_policy(&self, observed: &mut Observed) -> Result<Vec<String>, ApplyError> {
        let Some(host) = &self.settings.policies else {
            return Ok(Vec::new());
        };
        let asks: Vec<policies::Ask> = policies::to_ask(
            &observed.gate.target,
            &observed.current,
            &observed.conditions.held_apps,
            &self.allowed,
        )
        .into_iter()
        .map(|(name, app)| policies::Ask {
            app: name.clone(),
            release: policies::release(name, app),
            needs_draft_allow: app.release.status == osb_state::target::ReleaseStatus::Draft
                && !self.settings.mode.current().is_development(),
        })
        .collect();
        let mut now_held: BTreeMap<osb_state::AppName, Vec<String>> = BTreeMap::new();
        // A draft let past gating is asked about even when its policy has
        // gone since: with no policy to allow it, it is held.
        let drafts = asks.iter().any(|a| a.needs_draft_allow);
        if (host.any() || drafts) && !asks.is_empty() {
            let device = policies::Device {
                contract: observed.device.clone(),
                time: observed.conditions.time,
                readings: self.granted_readings(host).await,
            };
            for (app, verdict) in policies::ask(host, device, asks, &self.allowed).await {
                match verdict {
                    policies::Verdict::Allowed(said) => {
                        tracing::info!(app = %app, reasons = ?said, "the policies allow the release");
                    }
                    policies::Verdict::Held(lines) => {
                        now_held.insert(app, lines);
                    }
                }
            }
        }
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if *held != now_held {
            for (app, lines) in &now_held {
                if held.get(app) != Some(lines) {
                    tracing::warn!(app = %app, reasons = ?lines, "a policy holds the release back; what runs of the app stays as it is");
                }
            }
            let stored: BTreeMap<String, Vec<String>> = now_held
                .iter()
                .filter_map(|(app, lines)| {
                    let version = &observed.gate.target.apps.get(app)?.release.version;
                    Some((format!("{app}@{version}"), lines.clone()))
                })
                .collect();
            self.store.set_policy_holds(&stored)?;
            held.clone_from(&now_held);
        }
        let mut lines = Vec::new();
        for (app, reasons) in now_held {
            observed.conditions.held_apps.insert(app.clone());
            lines.push(format!("{app}: held by policy: {}", reasons.join("; ")));
        }
        Ok(lines)
    }

    /// What the store says of `target`'s releases for `osb status`: the
    /// ones a policy held back when last asked, and where each one's
    /// validation is.
    pub fn release_notes(
        &self,
        target: &TargetState,
    ) -> Result<(Vec<String>, Vec<String>), ApplyError> {
        let holds = self.store.policy_holds()?;
        let progress = self.validation_progress()?;
        let mut held = Vec::new();
        let mut validation = Vec::new();
        for (app, released) in &target.apps {
            let version = &released.release.version;
            if let Some(reasons) = holds.get(&format!("{app}@{version}")) {
                held.push(format!("{app}: held by policy: {}", reasons.join("; ")));
            }
            match progress.of(app, version) {
                Some(v) if v.phase == validation::Phase::Failed => {
                    validation.push(v.failure_line());
                }
                Some(v) if v.phase == validation::Phase::Passed => {
                    validation.push(format!("{app}@{version}: validated, final"));
                }
                Some(v) => validation.push(v.waiting_for()),
                None if progress.point(app).is_some_and(|p| &p.version == version) => {
                    validation.push(format!("{app}@{version}: validated, final"));
                }
                None => {}
            }
        }
        Ok((held, validation))
    }

    /// The validations and rollback points, read afresh every cycle:
    /// another executor (an `osb apply`, the daemon) may have moved them.
    fn validation_progress(&self) -> Result<validation::Progress, ApplyError> {
        Ok(self.store.validation_progress()?)
    }

    /// Moves on the validation of each release in place (see
    /// [`validation`]), beginning it when a release not validated yet is
    /// in place: every block of it has its container. Records what
    /// changed; a validation that ends marks the release final, or rolls
    /// the app back. Whether anything changed what is planned.
    async fn validate(
        &self,
        wanted: &TargetState,
        observed: &Observed,
        progress: &validation::Progress,
        report: &mut ApplyReport,
    ) -> Result<bool, ApplyError> {
        report.validating.clear();
        report.tests_pending = false;
        report.window_ends = None;
        // A release that failed stays failed: applying it again says so.
        report.rolled_back = wanted
            .apps
            .iter()
            .filter_map(|(app, released)| progress.of(app, &released.release.version))
            .filter(|v| v.phase == validation::Phase::Failed)
            .map(validation::Validation::failure_line)
            .collect();
        let now = validation::Now {
            boot_id: reboot::boot_id().unwrap_or_default(),
            mono_ms: u64::try_from(crate::time::mono::Mono::now().since_boot().as_millis())
                .unwrap_or(u64::MAX),
            unix: reboot::now(),
        };
        let mut replan = false;
        for (app, released) in &observed.gate.target.apps {
            if observed.conditions.held_apps.contains(app) {
                continue;
            }
            let version = &released.release.version;
            if progress.point(app).is_some_and(|p| &p.version == version) {
                continue;
            }
            let existing = progress.of(app, version);
            if existing.is_some_and(|v| v.phase.is_over()) {
                continue;
            }
            let containers = release_containers(app, released, &observed.current);
            // In place: every block has its container, and none waits for
            // a clock better than the device's (the window is for the
            // release to prove itself, not for the time to sync).
            let in_place = released
                .release
                .blocks
                .iter()
                .filter(|(_, b)| b.role == osb_state::target::BlockRole::Service)
                .all(|(name, b)| {
                    containers.contains_key(name)
                        && b.time.is_none_or(|t| observed.conditions.time.satisfies(t))
                });
            let mut v = match existing {
                Some(v) => v.clone(),
                None if in_place => {
                    // Begun from the target as written, for its tests,
                    // less the optional blocks the gate left out.
                    let Some(mut full) = wanted.apps.get(app).cloned() else {
                        continue;
                    };
                    full.release.blocks.retain(|name, b| {
                        b.role == osb_state::target::BlockRole::Test
                            || released.release.blocks.contains_key(name)
                    });
                    tracing::info!(app = %app, release = %version, "validating the release");
                    validation::begin(app, &full, &now)
                }
                None => continue,
            };
            let mut seen = Vec::new();
            for check in &v.checks {
                let container = containers.get(&check.block);
                let status = container.map(|c| c.status);
                // Only a pending block without a health check is judged by
                // its start: one engine question each, while validating.
                let started = match (check.kind, container) {
                    (validation::CheckKind::Up, Some(c))
                        if check.state == validation::CheckState::Pending
                            && c.status
                                == (ContainerStatus::Running {
                                    health: osb_state::Health::NoCheck,
                                }) =>
                    {
                        self.engine.started_at(&c.id).await
                    }
                    _ => None,
                };
                let output = match (check.kind, container) {
                    (validation::CheckKind::Test, Some(c))
                        if check.state == validation::CheckState::Pending
                            && matches!(c.status, ContainerStatus::Exited { .. }) =>
                    {
                        Some(
                            self.engine
                                .output_tail(&c.id, validation::OUTPUT_TAIL_BYTES, POLL * 5)
                                .await,
                        )
                    }
                    _ => None,
                };
                let restart = released
                    .release
                    .blocks
                    .get(&check.block)
                    .map_or(osb_state::target::RestartPolicy::No, |b| b.restart());
                seen.push(validation::Seen {
                    block: check.block.clone(),
                    runs_once: validation::Seen::runs_once(restart),
                    status,
                    started,
                    output,
                });
            }
            let plugins = self.paired_plugins(&v);
            let changed =
                validation::advance(&mut v, &seen, plugins.as_ref(), &now) || existing.is_none();
            if !changed {
                report.note_validating(&v, &now);
                continue;
            }
            let phase_before = existing.map(|e| e.phase);
            replan |= phase_before != Some(v.phase);
            let mut point = None;
            match v.phase {
                validation::Phase::Passed => {
                    point = wanted.apps.get(app).map(|full| {
                        let mut app = full.clone();
                        // Validated: final, wherever it is rolled back to.
                        app.release.status = osb_state::target::ReleaseStatus::Final;
                        validation::RollbackPoint {
                            version: version.clone(),
                            app,
                        }
                    });
                    tracing::info!(app = %app, release = %version, "the release passed validation: it is final");
                    report.validated.push(format!("{app}@{version}"));
                }
                validation::Phase::Failed => {
                    v.rolled_back_to = progress
                        .point(app)
                        .filter(|p| &p.version != version)
                        .map(|p| p.version.clone());
                    let line = v.failure_line();
                    tracing::error!(app = %app, release = %version, "{line}");
                    report.rolled_back.push(line);
                    // The rollback is planned from the record: a runtime
                    // killed before it is done completes it when it starts.
                    replan = true;
                }
                _ => report.note_validating(&v, &now),
            }
            self.store.save_validation(&v, point.as_ref())?;
            if let Some(outcome) = v.outcome() {
                let result = self.store.update_releases(app.as_str(), |r| {
                    releases::validated(r, outcome, reboot::now())
                });
                if let Err(e) = result {
                    tracing::warn!(app = %app, error = %e, "cannot record the release");
                }
            }
        }
        Ok(replan)
    }

    /// What the daemon's plugin host says of each plugin `v`'s blocks are
    /// paired with; `None` without one (an `osb apply` loads only the
    /// policies).
    fn paired_plugins(&self, v: &validation::Validation) -> Option<validation::PluginsSeen> {
        let Some(policies::Policies::Host(host)) = &self.settings.policies else {
            return None;
        };
        if !self.settings.whole_plugin_host {
            return None;
        }
        let mut seen = validation::PluginsSeen::new();
        for name in v.checks.iter().filter_map(|c| c.plugin.as_ref()) {
            let state = match osb_plugin_host::PluginName::new(name)
                .ok()
                .and_then(|n| host.info(&n))
            {
                Some(info) => Ok(format!("version {}", info.version)),
                None => Err("not loaded".to_owned()),
            };
            seen.insert(name.clone(), state);
        }
        Some(seen)
    }

    /// Records what became of each release: the rejected ones, and, when
    /// the plan is empty (`converged`), the ones that run. A store that
    /// cannot be written is said, not an error: the records are for people.
    fn record_releases(&self, gate: &Gate, converged: bool) {
        let rejected = gate.rejected.iter().filter_map(|(app, rejection)| {
            let released = gate.target.apps.get(app)?;
            let event = releases::Event::Rejected {
                version: rejection.release.clone(),
                status: released.release.status,
                reason: rejection.failures.join("; "),
            };
            Some((app, event))
        });
        let running = gate
            .target
            .apps
            .iter()
            .filter(|(app, _)| converged && !gate.rejected.contains_key(*app))
            .map(|(app, released)| {
                let event = releases::Event::Running {
                    version: released.release.version.clone(),
                    status: released.release.status,
                };
                (app, event)
            });
        let now = reboot::now();
        let mut recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        for (app, event) in rejected.chain(running) {
            // Every cycle sees the same events again: the store is
            // touched only for one this executor has not recorded yet.
            if recorded.get(app) == Some(&event) {
                continue;
            }
            let result = self
                .store
                .update_releases(app.as_str(), |r| releases::record(r, event.clone(), now));
            match result {
                Ok(()) => {
                    recorded.insert(app.clone(), event);
                }
                Err(e) => tracing::warn!(app = %app, error = %e, "cannot record the release"),
            }
        }
    }

    /// Records that `container`, just created, needs the device rebooted.
    fn reboot_due(&self, container: &str) -> Result<(), ApplyError> {
        // Without a boot id nothing could tell when the reboot happened:
        // the record would never end, so it is only said.
        let boot_id = match reboot::boot_id() {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(container, error = %e, "a reboot is due, and this boot cannot be named to record it");
                return Ok(());
            }
        };
        let due =
            reboot::RebootDue::with(self.store.reboot_due()?, &boot_id, container, reboot::now());
        self.store.set_reboot_due(&due)?;
        tracing::warn!(
            container,
            "a reboot is due: the block asks for one once it is in place"
        );
        Ok(())
    }

    /// The reboot due in this boot, if one is.
    pub fn pending_reboot(&self) -> Result<Option<reboot::RebootDue>, ApplyError> {
        let Ok(boot_id) = reboot::boot_id() else {
            return Ok(None);
        };
        Ok(reboot::RebootDue::in_boot(
            self.store.reboot_due()?,
            &boot_id,
        ))
    }

    /// Runs the reboot command if a reboot is due in this boot and the
    /// command has not run for it yet; records that it ran first, so a
    /// command that reboots at once is not run again by a runtime that
    /// lives on. A command that fails is recorded as not run, to be tried
    /// at the next reconcile. Returns the reboot due, if any.
    pub async fn reboot_if_due(&self) -> Result<Option<reboot::RebootDue>, ApplyError> {
        let Some(mut due) = self.pending_reboot()? else {
            return Ok(None);
        };
        if due.requested.is_some() || self.settings.reboot_command.is_empty() {
            return Ok(Some(due));
        }
        due.requested = Some(reboot::now());
        self.store.set_reboot_due(&due)?;
        tracing::warn!(containers = ?due.containers, command = ?self.settings.reboot_command, "rebooting the device: a block asks for it");
        if let Err(e) = reboot::run_command(&self.settings.reboot_command).await {
            tracing::error!(error = %e, "the reboot command failed; tried again at the next reconcile");
            due.requested = None;
            self.store.set_reboot_due(&due)?;
        }
        Ok(Some(due))
    }

    /// How long until `container` may be started again, if it is a restart
    /// still in its backoff.
    fn restart_gate(&self, container: &ContainerRef, observed: &Observed) -> Option<Duration> {
        let id = container
            .owner
            .as_ref()
            .map(|o| BlockId::new(&o.app, &o.block))?;
        let exited =
            observed.current.containers.iter().any(|c| {
                c.id == container.id && matches!(c.status, ContainerStatus::Exited { .. })
            });
        if !exited {
            return None;
        }
        let restarts = self.restarts.lock().ok()?;
        let r = restarts.get(&id)?;
        let due = r.last
            + self
                .settings
                .restart_backoff
                .delay(r.count.saturating_sub(1));
        due.checked_duration_since(Instant::now())
    }

    fn forget_old_restarts(&self, observed: &Observed) {
        let Ok(mut restarts) = self.restarts.lock() else {
            return;
        };
        restarts.retain(|id, r| {
            let running = observed.current.containers.iter().any(|c| {
                c.block_id().as_ref() == Some(id)
                    && matches!(c.status, ContainerStatus::Running { .. })
            });
            !(running && r.last.elapsed() > RESTART_FORGET)
        });
    }

    /// Runs one step.
    async fn run(
        &self,
        step: &Step,
        observed: &Observed,
        target: &TargetState,
    ) -> Result<(), StepError> {
        let span = tracing::info_span!("step", block = %step_block(step));
        async {
            tracing::info!(step = %step, "start");
            let started = Instant::now();
            let result = self.run_inner(step, observed, target).await;
            let ms = started.elapsed().as_millis();
            match &result {
                Ok(()) => tracing::info!(step = %step, ms, "done"),
                Err(e) => tracing::warn!(step = %step, ms, error = %e, "failed"),
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn run_inner(
        &self,
        step: &Step,
        observed: &Observed,
        target: &TargetState,
    ) -> Result<(), StepError> {
        let e = &self.engine;
        match step {
            Step::FetchImage { image } => self.fetch(image).await,
            Step::InstallOverlay {
                block,
                image,
                reference,
                settings,
                ..
            } => host_os::install_overlay(
                e,
                &self.settings.state_dir,
                block,
                image,
                reference,
                settings,
            )
            .await
            .map_err(|error| StepError::HostOs {
                block: block.clone(),
                error,
            }),
            Step::InstallHostapp { block, .. } => Err(StepError::HostOsUnsupported {
                block: block.clone(),
                kind: BlockKind::Hostapp,
            }),
            Step::CreateVolume {
                app,
                volume,
                config,
            } => Ok(tolerate_conflict(
                e.create_volume(app, volume, config).await,
            )?),
            Step::RemoveVolume { name, .. } => Ok(e.remove_volume(name).await?),
            Step::CreateNetwork {
                app,
                network,
                config,
            } => Ok(tolerate_conflict(
                e.create_network(app, network, config).await,
            )?),
            Step::RemoveNetwork { name, .. } => Ok(e.remove_network(name).await?),
            Step::CreateContainer {
                labels,
                spec,
                peers,
            } => {
                let dir = self.locks.dir(&BlockId::new(&labels.app, &labels.block))?;
                let plan =
                    ContainerPlan::new(labels, spec, peers, e.instance(), &dir, &e.host_context());
                binds::create_missing(spec)?;
                e.create_container(&plan).await?;
                Ok(())
            }
            Step::StartContainer { container } => {
                let current = observed
                    .current
                    .containers
                    .iter()
                    .find(|c| c.id == container.id);
                let restart =
                    current.is_some_and(|c| matches!(c.status, ContainerStatus::Exited { .. }));
                // A crash between creating a container and joining its
                // other networks leaves it on its first one only: joined
                // here, before its first start. A block under a
                // `network_mode` (the host's, none, another block's) joins
                // none of the app's networks.
                if let (Some(c), Some(owner)) = (current, &container.owner)
                    && c.status == ContainerStatus::Created
                    && let Some(block) = target
                        .apps
                        .get(&owner.app)
                        .and_then(|a| a.release.blocks.get(&owner.block))
                    && block.network_mode.is_none()
                {
                    let missing: Vec<String> = block
                        .effective_networks()
                        .iter()
                        .map(|n| e.network_name(&owner.app, n))
                        .filter(|n| !c.networks.contains(n))
                        .collect();
                    e.join_networks(&container.id, &missing, owner.block.as_str())
                        .await?;
                }
                e.start(&container.id).await?;
                if restart && let Some(owner) = &container.owner {
                    let id = BlockId::new(&owner.app, &owner.block);
                    if let Ok(mut restarts) = self.restarts.lock() {
                        let r = restarts.entry(id).or_insert(Restarts {
                            count: 0,
                            last: Instant::now(),
                        });
                        r.count += 1;
                        r.last = Instant::now();
                        tracing::info!(restarts = r.count, "restarted an exited block");
                    }
                }
                Ok(())
            }
            Step::StopContainer {
                container,
                hand_over,
            } => {
                if let Some(limit) = hand_over {
                    // The old container may finish on its own once the new
                    // one is up; it is stopped when the hand-over time is out.
                    e.wait_exit(&container.id, limit.get()).await;
                }
                Ok(e.stop(&container.id, self.settings.stop_grace).await?)
            }
            Step::RemoveContainer { container } => Ok(e.remove_container(&container.id).await?),
            Step::RemoveImage { image, .. } => {
                match self.remove_fetched_image(image).await {
                    Ok(()) => {}
                    // Used by a container that is not the runtime's: it is
                    // no longer the runtime's to remove.
                    Err(StepError::Engine(err)) if err.is_conflict() => {
                        tracing::warn!(error = %err, "image in use elsewhere; left in place");
                    }
                    Err(err) => return Err(err),
                }
                Ok(self.store.forget_fetched(image)?)
            }
            Step::TakeLock { block } => Ok(self.locks.take(block)?),
            Step::ReleaseLock { block } => Ok(self.locks.release(block)?),
            // Filtered out before running.
            Step::Wait { .. } => Ok(()),
        }
    }

    /// Checks the disk, then pulls with retries and records the image as
    /// the runtime's.
    async fn fetch(&self, image: &ImageRef) -> Result<(), StepError> {
        self.check_disk(image).await?;
        let reference = image.canonical();
        self.store.begin_fetch(&reference)?;
        let result = self.pull_with_retries(image).await;
        if result.is_err()
            && let Err(e) = self.store.end_fetch(&reference)
        {
            tracing::warn!(%image, error = %e, "cannot clear the pull's mark; the next apply does");
        }
        result?;
        let id = self.engine.image_id(image).await?;
        self.store.add_fetched(&reference, &id)?;
        Ok(())
    }

    async fn pull_with_retries(&self, image: &ImageRef) -> Result<(), StepError> {
        let attempts = self.settings.pull_attempts.max(1);
        for attempt in 0..attempts {
            let mut progress = PullProgress::new(image.as_str(), &self.progress);
            let result = self
                .engine
                .pull(image, |event| progress.update(&event))
                .await;
            progress.finish(result.is_ok());
            match result {
                Ok(()) => break,
                // The registry answered that it has no such image (or
                // will not say it has one): asking again within the
                // minute will not change that, and a mistyped tag should
                // be reported at once. The daemon's next reconcile asks
                // again, for an image pushed later.
                Err(error) if error.is_not_found() => {
                    tracing::warn!(%image, %error, "pull refused: no such image; not retried");
                    return Err(StepError::PullGaveUp {
                        error,
                        attempts: attempt + 1,
                    });
                }
                // Nor does a missing or wrong login heal in a minute: it
                // takes a new device config.
                Err(error) if error.is_unauthorized() => {
                    tracing::warn!(
                        %image,
                        %error,
                        "pull refused: the registry wants a login (the device config's [registries]); not retried"
                    );
                    return Err(StepError::PullGaveUp {
                        error,
                        attempts: attempt + 1,
                    });
                }
                Err(error) if attempt + 1 >= attempts => {
                    return Err(StepError::PullGaveUp { error, attempts });
                }
                Err(error) => {
                    let delay = self.settings.pull_backoff.delay(attempt);
                    tracing::warn!(
                        %image,
                        attempt = attempt + 1,
                        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        %error,
                        "pull failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
        Ok(())
    }

    /// Refuses a pull that would leave less than the reserve free. A check
    /// that cannot be made is a warning naming the image and why, and the
    /// pull goes ahead: the engine fails it cleanly if the disk fills, and
    /// refusing would strand a device whose registry is merely slow.
    async fn check_disk(&self, image: &ImageRef) -> Result<(), StepError> {
        let unchecked = |why: &str| {
            tracing::warn!(%image, why, "free disk not checked before the pull");
        };
        let Some(root) = self.engine.root_dir().await else {
            unchecked("the engine does not say where it keeps images");
            return Ok(());
        };
        let size = match self.engine.image_size(image).await {
            Ok(size) => size,
            Err(error) => {
                unchecked(&format!("the image's size is unknown: {error}"));
                return Ok(());
            }
        };
        let free = match disk::free_bytes(std::path::Path::new(&root)) {
            Ok(free) => free,
            Err(error) => {
                unchecked(&format!("cannot measure free space in {root}: {error}"));
                return Ok(());
            }
        };
        disk::check(image, size, free, self.settings.disk_reserve, &root)?;
        Ok(())
    }
}

/// Reports what `target` asks that the plan leaves as it is: warnings for
/// an `osb apply`; debug lines for the daemon, whose reconciles would repeat
/// them every time.
fn notice(observed: &Observed, target: &TargetState, until: Until, report: &mut ApplyReport) {
    for notice in notices(&observed.current, target) {
        let line = notice.to_string();
        match until {
            Until::Converged(_) => tracing::warn!("{line}"),
            Until::Settled => tracing::debug!("{line}"),
        }
        report.warnings.push(line);
    }
}

/// The error that ends an apply whose `step` failed `attempts` times in a
/// row, the last time with `error`. A create the engine refused says so,
/// and says what of the block still runs.
fn gave_up(
    step: &Step,
    line: String,
    attempts: u32,
    error: StepError,
    observed: &Observed,
) -> ApplyError {
    if let Step::CreateContainer { labels, .. } = step
        && let StepError::Engine(EngineError::Refused { message, .. }) = &error
    {
        let block = BlockId::new(&labels.app, &labels.block);
        let running = observed
            .current
            .containers
            .iter()
            .filter(|c| c.block_id().as_ref() == Some(&block) && c.status.is_live())
            .map(|c| {
                ContainerRef {
                    id: c.id.clone(),
                    owner: c.owner.clone(),
                }
                .to_string()
            })
            .collect();
        return ApplyError::CreateRefused {
            container: format!("{block}@{}", labels.release),
            block: block.to_string(),
            attempts,
            message: message.clone(),
            running,
        };
    }
    ApplyError::Step {
        step: line,
        attempts,
        error: error.to_string(),
    }
}

/// The containers of `app`'s release as `released` has it, by block: each
/// block's container of its configuration (a block a new release did not
/// change keeps the container an earlier release created).
fn release_containers<'a>(
    app: &osb_state::AppName,
    released: &osb_state::App,
    current: &'a CurrentState,
) -> BTreeMap<osb_state::BlockName, &'a osb_state::Container> {
    let mut found = BTreeMap::new();
    for (name, block) in &released.release.blocks {
        let hash = released
            .container_hash(name)
            .unwrap_or_else(|| block.config_hash());
        let container = current.containers.iter().find(|c| {
            c.owner
                .as_ref()
                .is_some_and(|o| &o.app == app && &o.block == name && o.config_hash == hash)
        });
        if let Some(container) = container {
            found.insert(name.clone(), container);
        }
    }
    found
}

/// `main/web@1.0.0 keeps running`, or that nothing of the block runs.
fn still_running(block: &str, running: &[String]) -> String {
    if running.is_empty() {
        format!("no container of {block} is running")
    } else {
        format!("{} keeps running", running.join(", "))
    }
}

/// Creating what exists already (after a crash, before the next read) is
/// what was asked for.
fn tolerate_conflict(result: Result<(), EngineError>) -> Result<(), EngineError> {
    match result {
        Err(e) if e.is_conflict() => Ok(()),
        other => other,
    }
}

/// The block a step is about, for the span; `-` for images.
fn step_block(step: &Step) -> String {
    match step {
        Step::CreateContainer { labels, .. } => format!("{}/{}", labels.app, labels.block),
        Step::StartContainer { container }
        | Step::StopContainer { container, .. }
        | Step::RemoveContainer { container } => match &container.owner {
            Some(o) => format!("{}/{}", o.app, o.block),
            None => container.id.to_string(),
        },
        Step::TakeLock { block }
        | Step::ReleaseLock { block }
        | Step::Wait { block, .. }
        | Step::InstallOverlay { block, .. }
        | Step::InstallHostapp { block, .. } => block.to_string(),
        Step::CreateVolume { app, .. }
        | Step::RemoveVolume { app, .. }
        | Step::CreateNetwork { app, .. }
        | Step::RemoveNetwork { app, .. } => app.to_string(),
        Step::FetchImage { .. } | Step::RemoveImage { .. } => "-".to_owned(),
    }
}
