//! `osb apply FILE`: reconcile once, exit 0 when converged.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::blocks::{BlockArgs, ComposeArgs, read_target, running_daemon_time, tokio_runtime};
use super::time::TimeStatusArg;
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
                if let ApplyError::Rejected { rejected } = &e {
                    out["rejected"] = serde_json::json!(rejected);
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
