//! `osb apply FILE`: reconcile once, exit 0 when converged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use super::blocks::{BlockArgs, ComposeArgs, read_target, running_daemon_time, tokio_runtime};
use super::time::TimeStatusArg;
use osb_plugin_host::package::dirs_of_kind;
use osb_plugin_host::{PluginHost, PluginKind};
use osb_runtime::apply::policies::Policies;
use osb_runtime::apply::progress::ProgressOutput;
use osb_runtime::apply::{Applier, ApplyError};
use osb_runtime::config::DeviceConfig;
use osb_runtime::time::TimeHandle;
use osb_state::{HumanDuration, TimeStatus};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The target: target-state JSON, a compose file (.yml/.yaml), or a
    /// balena target state (v3, or v2 local mode).
    file: PathBuf,
    #[command(flatten)]
    compose: ComposeArgs,
    #[command(flatten)]
    blocks: BlockArgs,
    /// Give up when blocks are still held back (a dependency not healthy,
    /// a lock held) after this long.
    #[arg(long, default_value = "10m")]
    timeout: HumanDuration,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bars, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// The clock's state to plan with: blocks that need `coarse` or
    /// `synced` time start only when it is that good. `osb apply` runs no
    /// time service (`osb daemon` does), so this is taken on your word.
    /// Default: the running daemon's state, else `unsynced`.
    #[arg(long, value_enum)]
    time_status: Option<TimeStatusArg>,
}

pub fn run(args: ApplyArgs, config: &DeviceConfig, log_json: bool) -> anyhow::Result<()> {
    // Bad input is refused before the engine or the store is touched; what
    // the device policy or the host refuses, by the executor before it
    // stores the target.
    let target = read_target(&args.file, &args.compose)?;
    let mut settings = args.blocks.settings(config);
    let time = match args.time_status {
        Some(told) => told.status(),
        None => running_daemon_time(&settings.state_dir).map_or(TimeStatus::Unsynced, |d| d.state),
    };
    settings.time = TimeHandle::fixed(time);
    settings.policies = policy_host(config, &settings.state_dir)?;
    let progress = ProgressOutput::detect(!args.no_progress && !log_json && !args.json);
    let deadline = Instant::now() + args.timeout.get();
    let outcome = tokio_runtime()?.block_on(async {
        let applier = Applier::connect(settings, progress).await?;
        applier.apply(&target, Some(deadline)).await
    });
    match outcome {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "converged: {} steps in {} cycles, {} ms",
                    report.steps.len(),
                    report.cycles,
                    report.elapsed_ms
                );
                for line in &report.validated {
                    println!("validated: {line} passed its validation and is final");
                }
                for line in &report.validating {
                    println!("validating: {line}");
                }
                if !report.reboot_due.is_empty() {
                    println!(
                        "reboot due: {} asked for one once in place (the daemon runs [device] \
                         reboot_command; `osb status` shows it until the device boots again)",
                        report.reboot_due.join(", ")
                    );
                }
            }
            Ok(())
        }
        Err(e) => {
            if args.json {
                let mut out = serde_json::json!({ "error": e.to_string() });
                match &e {
                    ApplyError::Rejected { rejected } => {
                        out["rejected"] = serde_json::json!(rejected);
                    }
                    ApplyError::Held { held } => out["held"] = serde_json::json!(held),
                    ApplyError::ValidationFailed { failed } => {
                        out["rolled_back"] = serde_json::json!(failed);
                    }
                    _ => {}
                }
                println!("{out}");
            }
            let refused = matches!(e, ApplyError::Refused(_));
            let e = anyhow::Error::new(e);
            if refused {
                Err(e.context(format!("target '{}' refused", args.file.display())))
            } else {
                Err(e)
            }
        }
    }
}

/// The device's contract-policy plugins (the packages of kind
/// `contract-policy` in the device config's `plugin_dir`), loaded for this
/// apply, so that `osb apply` asks what the daemon asks. A package that
/// does not load is said and left out, as the daemon leaves it out. A
/// policy keeps its state in the plugins' key-value store, which a running
/// daemon holds open: then no policy can be asked here, and every new
/// release is held (the target is stored all the same, and the daemon,
/// which can ask, applies it at its next reconcile).
fn policy_host(config: &DeviceConfig, state_dir: &Path) -> anyhow::Result<Option<Policies>> {
    let dirs = dirs_of_kind(&config.plugin_dir, PluginKind::ContractPolicy);
    if dirs.is_empty() {
        return Ok(None);
    }
    let mut settings = config.host_settings();
    settings.state_dir = Some(state_dir.to_path_buf());
    let host = match PluginHost::new(settings) {
        Ok(host) => host,
        Err(e) => {
            return Ok(Some(Policies::Unavailable(format!(
                "the policy plugins cannot be asked by `osb apply` ({e}); a running daemon \
                 asks them and applies the stored target at its next reconcile"
            ))));
        }
    };
    for dir in dirs {
        if let Err(e) = host.load(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "policy plugin not loaded; not asked");
        }
    }
    Ok(Some(Policies::Host(Arc::new(host))))
}
