//! The daemon's loop: the plugin host watched for new packages, the time
//! service on a thread of its own, the engine's health watched on a task
//! of its own, and the blocks kept converged, until
//! SIGINT or SIGTERM. The `osb daemon` command reads its flags and the
//! device config, loads the plugins and hands over here.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use osb_plugin_host::{PluginHost, PluginWatcher};
use osb_state::TargetState;
use tokio::signal::unix::{SignalKind, signal};

use crate::apply::progress::ProgressOutput;
use crate::apply::{Applier, ApplyError, ApplySettings};
use crate::config::DeviceConfig;
use crate::engine_health::{EngineSettings, HealthPublisher};
use crate::mode::{Mode, ModeSwitch};
use crate::time::published::Publisher;
use crate::time::{TimeService, TimeSettings};

/// Between reconciles of a converged device, when the engine says nothing.
const RECHECK: Duration = Duration::from_secs(30);
/// Between attempts to reach an engine that does not answer.
const RECONNECT: Duration = Duration::from_secs(5);
/// After a reconcile an engine event woke, the next look: the engine sends
/// an event (a container's `die`) before its container list shows the
/// change, so the reconcile it wakes may still see the container running,
/// and nothing else would wake the daemon before [`RECHECK`].
const AFTER_EVENT: Duration = Duration::from_secs(1);

/// Why the daemon could not start. Once running, nothing outside ends it
/// but a signal: an engine that does not answer is retried.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The plugin directory cannot be watched for new packages.
    #[error("cannot watch '{}': {source}", dir.display())]
    Watch {
        /// The plugin directory.
        dir: PathBuf,
        /// Why the watcher could not start.
        source: notify::Error,
    },
    /// The tokio runtime or the SIGINT/SIGTERM handlers could not be set up.
    #[error("cannot start the async runtime or its signal handlers: {0}")]
    Runtime(std::io::Error),
    /// The state directory cannot be created, or this process's identity
    /// (pid, start time, boot id) cannot be read from `/proc`.
    #[error("cannot name this process for the time report: {0}")]
    Publisher(std::io::Error),
    /// The engine health record's directory cannot be created, or this
    /// process's identity cannot be read from `/proc`.
    #[error("cannot prepare the engine health record: {0}")]
    HealthRecord(std::io::Error),
    /// The time service's thread could not be spawned.
    #[error("cannot start the time service: {0}")]
    TimeService(std::io::Error),
}

/// What the daemon runs with, besides its plugin host.
pub struct DaemonSettings {
    /// The plugin packages, watched for new ones.
    pub plugin_dir: PathBuf,
    /// The time service's settings (`[time]`).
    pub time: TimeSettings,
    /// The engine's health check (`[engine]`).
    pub engine: EngineSettings,
    /// The sensors polled (`[metrics]`).
    pub metrics: crate::sensors::MetricsSettings,
    /// The executor's settings; its mode is the daemon's.
    pub blocks: ApplySettings,
    /// A target to store before the first reconcile.
    pub new_target: Option<TargetState>,
    /// The device config file: watched, its `development` flag switches
    /// the mode while the daemon runs. `None`: the mode stays as it
    /// started.
    pub config_path: Option<PathBuf>,
    /// Told each mode the daemon enters, the first one too, before the
    /// mode is reported switched: what only the binary owns (its log
    /// level) follows the mode.
    pub on_mode: Box<dyn Fn(Mode) + Send + Sync>,
}

/// Runs the device until SIGINT or SIGTERM: watches the plugin directory
/// for new packages, runs the time service, polls the sensors `metrics`
/// lists, and keeps the blocks converged to the stored target (the new
/// target stored first, when given), each target checked against the
/// executor's policy and the host before anything of it is stored or
/// applied; it watches the engine's health as `engine` says, publishing
/// it for `osb status`; and it follows the device config's `development`
/// flag ([`follow_mode`]). The mode starts as the host's trust policy
/// says. At the end the time sources are told the good time once more (a
/// fake hardware clock saves it for the next boot).
pub fn run(host: Arc<PluginHost>, settings: DaemonSettings) -> Result<(), DaemonError> {
    let DaemonSettings {
        plugin_dir,
        time: time_settings,
        engine: engine_settings,
        metrics,
        blocks: mut block_settings,
        new_target,
        config_path,
        on_mode,
    } = settings;
    let plugin_dir = plugin_dir.as_path();
    let switch = ModeSwitch::new(Mode::from_development(host.development()));
    on_mode(switch.current());
    block_settings.mode = switch.handle();
    let _watcher =
        PluginWatcher::start(host.clone(), plugin_dir).map_err(|source| DaemonError::Watch {
            dir: plugin_dir.to_path_buf(),
            source,
        })?;
    tracing::info!(dir = %plugin_dir.display(), plugins = host.names().len(), "plugin host running; watching for new packages");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    // Signal handlers before the time service: a signal arriving before
    // them would end the daemon without its shutdown, and the time sources
    // would not be told the good time. SIGTERM is how a service manager
    // stops it.
    let (mut interrupt, mut terminate) = {
        let _context = runtime.enter();
        (
            signal(SignalKind::interrupt()).map_err(DaemonError::Runtime)?,
            signal(SignalKind::terminate()).map_err(DaemonError::Runtime)?,
        )
    };
    // Every release new to the device is put to the contract-policy
    // plugins this host has loaded, hot-swapped ones included.
    block_settings.policies = Some(crate::apply::policies::Policies::Host(host.clone()));
    block_settings.whole_plugin_host = true;
    // The board's adapter, hot-swapped ones included: its device contract
    // gates releases, and `osb device` reaches it through the socket.
    let adapter = crate::adapter::Adapter::on(host.clone());
    block_settings.adapter = Some(adapter.clone());
    // Only the sensors `[metrics]` lists, on its interval; none: no polls.
    let metrics_adapter = adapter.clone();
    let control = {
        let _context = runtime.enter();
        crate::control::bind(&block_settings.state_dir)
    };
    let control = match control {
        Ok(listener) => Some(listener),
        Err(e) => {
            // The device runs on without it; only `osb device` cannot
            // reach the adapter.
            tracing::warn!(error = %e, "cannot listen on the control socket; `osb device` will not reach the daemon");
            None
        }
    };
    let socket = crate::control::socket_path(&block_settings.state_dir);
    let daemon_state = crate::control::DaemonState {
        mode: switch.handle(),
        host: host.clone(),
    };
    // The watch's thread wakes the follower through a channel: the
    // follower switches the mode on the runtime, beside the block loop.
    let (config_changed, config_changes) = tokio::sync::mpsc::unbounded_channel();
    let _config_watcher = config_path.as_ref().and_then(|path| {
        let watched = crate::mode::watch_file(path, move || {
            let _ = config_changed.send(());
        });
        match watched {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot watch the device config; a change of its development flag applies at the next start");
                None
            }
        }
    });
    let follower = ModeFollower {
        host: host.clone(),
        plugin_dir: plugin_dir.to_path_buf(),
        switch,
        on_mode,
    };
    // On a thread of its own: plugin calls block. Its state gates blocks.
    let publisher = Publisher::new(&block_settings.state_dir).map_err(DaemonError::Publisher)?;
    // Before the time service starts: an error here ends the daemon, and
    // the service's thread would not be told to stop.
    let health = HealthPublisher::new(&block_settings.state_dir, engine_settings.interval())
        .map_err(DaemonError::HealthRecord)?;
    let time = TimeService::new(host, time_settings)
        .publish_to(publisher)
        .spawn()
        .map_err(DaemonError::TimeService)?;
    block_settings.time = time.handle();
    let state_dir = block_settings.state_dir.clone();
    runtime.block_on(async {
        // A task of its own: a hung engine stalls a reconcile, never the
        // watch that reports it, and a recovery command never a reconcile.
        let watch = tokio::spawn(crate::engine_health::watch::watch(engine_settings, health));
        let serve = async {
            match control {
                Some(listener) => crate::control::serve(listener, adapter, daemon_state).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            () = keep_blocks_converged(block_settings, new_target) => {}
            () = serve => {}
            () = crate::sensors::poll(metrics_adapter, metrics) => {}
            () = follow_mode(config_path, config_changes, follower) => {}
        }
        watch.abort();
    });
    let _ = std::fs::remove_file(&socket);
    if let Err(e) = crate::engine_health::record::withdraw(&state_dir) {
        tracing::warn!(error = %e, "cannot remove the engine health record");
    }
    tracing::info!("stopping");
    time.stop();
    Ok(())
}

/// Reboots the device if a block asked for it (after the reconcile that
/// installed the block); with no reboot command configured, says once that
/// the reboot is due.
async fn reboot_if_due(applier: &Applier, settings: &ApplySettings, said: &mut Option<u64>) {
    match applier.reboot_if_due().await {
        Ok(Some(due)) if settings.reboot_command.is_empty() && *said != Some(due.since) => {
            tracing::warn!(
                containers = ?due.containers,
                "a reboot is due and [device] reboot_command is not set: reboot the device to finish"
            );
            *said = Some(due.since);
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "blocks: cannot read or record the reboot due"),
    }
}

/// Lets the daemon open as many descriptors as the system allows it (the
/// soft limit is often 1024 of a hard limit far above): each plugin may
/// hold `limits.handles` of them, and the daemon's own files, sockets and
/// the engine's connection must still find room when every plugin holds
/// its share.
pub fn raise_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::debug!(limit = ?limit.maximum, "descriptor limit raised"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the descriptor limit"),
        }
    }
}

/// Reconciles the blocks for as long as the daemon runs: after each
/// reconcile it waits for an engine event (a block died, turned unhealthy,
/// was removed by hand, or an `osb apply` is at work), a change of the
/// clock's state (a block waiting for `synced` time starts), or a periodic
/// recheck; sooner when a block waits on something nothing wakes it for
/// (its own update lock, a restart backoff). Each reconcile takes the
/// executor's turn and reads the stored target afresh, so a target applied
/// by `osb apply` meanwhile is the one kept. A target the device policy or
/// the host refuses is not stored, or (stored by another device config) not
/// reconciled. An engine that does not answer is retried; it never ends the
/// daemon.
async fn keep_blocks_converged(settings: ApplySettings, mut new_target: Option<TargetState>) {
    let mut time = settings.time.clone();
    let mut mode = settings.mode.clone();
    let mut said_no_target = false;
    // The stored target last refused: said once, not once per reconcile.
    let mut said_refused: Option<TargetState> = None;
    // When the reboot due (with no command to run) was said: once.
    let mut said_reboot: Option<u64> = None;
    let mut woken_by_event = false;
    // The rejected releases last said: each said once, not once per
    // reconcile.
    let mut said_rejected: Vec<String> = Vec::new();
    loop {
        let applier = match Applier::connect(settings.clone(), ProgressOutput::Log).await {
            Ok(applier) => applier,
            Err(e) => {
                tracing::error!(error = %e, "blocks: engine unavailable; retrying");
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
        };
        let mut events = applier.engine().events();
        loop {
            let turn = match applier.take_turn(None).await {
                Ok(turn) => turn,
                Err(e) => {
                    tracing::error!(error = %e, "blocks: cannot take the executor's turn; retrying");
                    tokio::time::sleep(RECONNECT).await;
                    continue;
                }
            };
            if let Some(target) = new_target.take() {
                if let Err(e) = applier.check(&target) {
                    tracing::error!(error = %e, "blocks: the new target is refused; not stored");
                } else if let Err(e) = applier.store().accept(&target) {
                    tracing::error!(error = %e, "blocks: cannot store the new target");
                    new_target = Some(target);
                }
            }
            let mut next = if woken_by_event { AFTER_EVENT } else { RECHECK };
            woken_by_event = false;
            match applier.store().target() {
                Ok(Some(target)) => {
                    said_no_target = false;
                    match applier.settle(&target).await {
                        // Held back: engine events and clock changes wake
                        // the loop anyway; a lock file or a backoff needs
                        // a look at a time.
                        Ok(report) => {
                            if let Some(look_again) = report.look_again {
                                next = look_again.min(next);
                            }
                            if report.rejected != said_rejected {
                                for line in &report.rejected {
                                    tracing::warn!(
                                        "blocks: {line}; what runs of the app stays as it is"
                                    );
                                }
                                said_rejected = report.rejected;
                            }
                            reboot_if_due(&applier, &settings, &mut said_reboot).await;
                        }
                        Err(ApplyError::Engine(e)) => {
                            tracing::error!(error = %e, "blocks: engine failed; reconnecting");
                            // Not held while waiting: an `osb apply` may
                            // find the engine back sooner.
                            drop(turn);
                            tokio::time::sleep(RECONNECT).await;
                            break;
                        }
                        Err(ApplyError::Refused(e)) => {
                            if said_refused.as_ref() != Some(&target) {
                                tracing::error!(
                                    error = %e,
                                    "blocks: the stored target is refused; nothing of it is applied until a target that passes is"
                                );
                                said_refused = Some(target);
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "blocks: reconcile failed; retrying"),
                    }
                }
                Ok(None) if !said_no_target => {
                    said_no_target = true;
                    tracing::info!("blocks: no target applied yet; waiting for one");
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "blocks: cannot read the stored target"),
            }
            drop(turn);
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        tracing::debug!(?event, "engine event");
                        // One reconcile for a burst (an apply's dozens of
                        // events), not one per event.
                        while let Some(Some(Ok(_))) = events.next().now_or_never() {}
                        woken_by_event = true;
                    }
                    Some(Err(_)) | None => {
                        tokio::time::sleep(RECONNECT).await;
                        break;
                    }
                },
                () = time.changed() => {
                    tracing::debug!(time = time.current().as_str(), "clock state changed");
                }
                // Blocks that require development mode start or stop, and
                // drafts are let in or rejected, at once.
                () = mode.changed() => {
                    tracing::debug!(mode = %mode.current(), "mode changed; reconciling");
                }
                () = tokio::time::sleep(next) => {}
            }
        }
    }
}

/// What switching the mode changes.
struct ModeFollower {
    host: Arc<PluginHost>,
    plugin_dir: PathBuf,
    switch: ModeSwitch,
    on_mode: Box<dyn Fn(Mode) + Send + Sync>,
}

/// Follows the device config's `development` flag for as long as the
/// daemon runs: each time the file (at `path`) has changed, it is read
/// again; a file that no longer reads as a device config is said, with its
/// error, and the running settings are kept. Only the mode is taken from
/// it: the rest of the file applies at the next start.
async fn follow_mode(
    path: Option<PathBuf>,
    mut changes: tokio::sync::mpsc::UnboundedReceiver<()>,
    follower: ModeFollower,
) {
    let Some(path) = path else {
        return std::future::pending().await;
    };
    while changes.recv().await.is_some() {
        match DeviceConfig::load(Some(&path)) {
            Err(e) => tracing::error!(
                error = %e,
                mode = %follower.switch.current(),
                "the device config changed and cannot be used; the running settings are kept"
            ),
            Ok(config) => {
                let mode = Mode::from_development(config.development);
                if mode == follower.switch.current() {
                    tracing::debug!(file = %path.display(), %mode, "the device config changed; the mode stays");
                } else {
                    follower.switch_to(mode).await;
                }
            }
        }
    }
    // The watch is gone (it could not start): the mode stays.
    std::future::pending().await
}

impl ModeFollower {
    /// Switches the plugin host's trust (in production unsigned plugins are
    /// unloaded; in development the plugin directory is loaded again, so
    /// the unsigned packages in it run), then the log level, then reports
    /// the mode switched, which wakes the block loop: drafts and the
    /// device contract's variant follow at its reconcile.
    async fn switch_to(&self, mode: Mode) {
        let host = self.host.clone();
        let dir = self.plugin_dir.clone();
        let development = mode.is_development();
        let unloaded = tokio::task::spawn_blocking(move || {
            let unloaded = host.set_development(development);
            if development {
                host.load_all(&dir);
            }
            unloaded
        })
        .await
        .unwrap_or_default();
        (self.on_mode)(mode);
        self.switch.set(mode);
        let unloaded: Vec<String> = unloaded.iter().map(ToString::to_string).collect();
        tracing::info!(%mode, ?unloaded, "mode switched");
    }
}
