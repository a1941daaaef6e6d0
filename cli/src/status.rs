//! `osb status`: each block of the stored target, as the engine has it.

use clap::Args;

use super::blocks::{BlockArgs, running_daemon_time, tokio_runtime};
use osb_runtime::apply::progress::ProgressOutput;
use osb_runtime::apply::{Applier, status};
use osb_runtime::config::DeviceConfig;
use osb_runtime::time::TimeHandle;
use osb_runtime::time::utc::UtcTime;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    blocks: BlockArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs, config: &DeviceConfig) -> anyhow::Result<()> {
    let mut settings = args.blocks.settings(config);
    let daemon = running_daemon_time(&settings.state_dir);
    if let Some(daemon) = &daemon {
        settings.time = TimeHandle::fixed(daemon.state);
    }
    let report = tokio_runtime()?.block_on(async {
        let applier = Applier::connect(settings, ProgressOutput::Log).await?;
        let Some(target) = applier.store().target()? else {
            anyhow::bail!("no target applied yet (osb apply FILE sets one)");
        };
        let observed = applier.observe(&target).await?;
        let mut report = status::report(&target, &observed, daemon.map(|d| d.pid));
        report.reboot_due = applier.pending_reboot()?;
        (report.held, report.validation) = applier.release_notes(&target)?;
        Ok(report)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

/// The report as a table, for a terminal.
fn table(report: &status::StatusReport) -> String {
    let mut rows = vec![[
        "BLOCK".to_owned(),
        "RELEASE".to_owned(),
        "STATE".to_owned(),
        "CONTAINER".to_owned(),
        "PRIVILEGES".to_owned(),
        "NOTE".to_owned(),
    ]];
    for b in &report.blocks {
        let note = match (&b.waiting, b.updating) {
            (Some(w), _) => w.clone(),
            (None, true) => "updating".to_owned(),
            (None, false) => String::new(),
        };
        rows.push([
            b.block.clone(),
            b.release.clone(),
            b.state.clone(),
            b.container.clone().unwrap_or_else(|| "-".to_owned()),
            if b.holds.is_empty() {
                "-".to_owned()
            } else {
                b.holds.clone()
            },
            note,
        ]);
    }
    let mut out = super::columns::aligned(&rows);
    out.push_str(if report.converged {
        "converged\n"
    } else {
        "not converged\n"
    });
    match report.time_daemon_pid {
        Some(pid) => out.push_str(&format!(
            "time: {} (the running daemon's, pid {pid})\n",
            report.time
        )),
        None => out.push_str(&format!(
            "time: {} (no daemon runs a time service)\n",
            report.time
        )),
    }
    for line in &report.rejected {
        out.push_str(&format!("rejected: {line}\n"));
    }
    for line in &report.left_out {
        out.push_str(&format!("{line}\n"));
    }
    for line in &report.held {
        out.push_str(&format!("{line}\n"));
    }
    for line in &report.validation {
        out.push_str(&format!("validation: {line}\n"));
    }
    if let Some(due) = &report.reboot_due {
        let asked = match due.requested {
            Some(at) => format!("the reboot command ran at {}", unix_time(at)),
            None => "reboot the device to finish (no [device] reboot_command)".to_owned(),
        };
        out.push_str(&format!(
            "reboot due since {}, for {}: {asked}\n",
            unix_time(due.since),
            due.containers.join(", ")
        ));
    }
    for s in &report.strays {
        out.push_str(&format!("stray container: {s}\n"));
    }
    out
}

/// `at` (Unix seconds) as RFC 3339 UTC, for a person.
pub(crate) fn unix_time(at: u64) -> String {
    UtcTime::from_unix_seconds(i64::try_from(at).unwrap_or(i64::MAX)).rfc3339(0)
}
