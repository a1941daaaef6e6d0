//! `osb status`: each block of the stored target, as the engine has it,
//! and the engine's health as the running daemon watches it (shown also
//! when the engine does not answer).

use clap::Args;

use super::blocks::{BlockArgs, running_daemon_time, tokio_runtime};
use osb_runtime::apply::progress::ProgressOutput;
use osb_runtime::apply::{Applier, ApplyError, status};
use osb_runtime::config::DeviceConfig;
use osb_runtime::engine_health::record::read_running;
use osb_runtime::engine_health::{DaemonHealth, HealthState};
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
    let engine = running_engine_health(&settings.state_dir);
    let runtime = tokio_runtime()?;
    let applier = match runtime.block_on(Applier::connect(settings, ProgressOutput::Log)) {
        Ok(applier) => applier,
        Err(ApplyError::Engine(e)) => return engine_down(&e, engine.as_ref(), args.json),
        Err(e) => return Err(e.into()),
    };
    let mut report = runtime.block_on(async {
        let Some(target) = applier.store().target()? else {
            anyhow::bail!("no target applied yet (osb apply FILE sets one)");
        };
        let observed = applier.observe(&target).await?;
        let mut report = status::report(&target, &observed, daemon.map(|d| d.pid));
        report.reboot_due = applier.pending_reboot()?;
        (report.held, report.validation) = applier.release_notes(&target)?;
        Ok(report)
    })?;
    report.engine = engine;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

/// The engine health a running daemon published; `None` (after a warning
/// for a damaged record) when none runs.
fn running_engine_health(state_dir: &std::path::Path) -> Option<DaemonHealth> {
    read_running(state_dir)
        .inspect_err(|e| tracing::warn!(error = %e, "ignoring the daemon's engine health record"))
        .ok()
        .flatten()
}

/// The engine does not answer: what the daemon has seen of it (on stdout,
/// as JSON with `--json`), and an error that says so.
fn engine_down(
    error: &osb_engine::EngineError,
    health: Option<&DaemonHealth>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let report = serde_json::json!({
            "engine": health,
            "error": error.to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", engine_line(health));
    }
    let seen = match health {
        Some(h) if h.health.state == HealthState::Unhealthy => format!(
            "; the daemon (pid {}) has seen it unhealthy for {} ping(s) in a row",
            h.daemon_pid, h.health.consecutive_failures
        ),
        Some(h) => format!(
            "; the daemon (pid {}) last found it {}",
            h.daemon_pid,
            h.health.state.as_str()
        ),
        None => "; no daemon watches its health".to_owned(),
    };
    anyhow::bail!(
        "the container engine does not answer, so the blocks cannot be read: {error}{seen}"
    )
}

/// `engine: ...`: the daemon's view of the engine's health.
fn engine_line(health: Option<&DaemonHealth>) -> String {
    let Some(h) = health else {
        return "engine: health not watched (no daemon runs)\n".to_owned();
    };
    let every = osb_state::HumanDuration::new(std::time::Duration::from_millis(h.interval_ms));
    let since = h.health.since.map(unix_time).unwrap_or_default();
    let mut line = match h.health.state {
        HealthState::Unknown => "engine: not pinged yet".to_owned(),
        HealthState::Healthy => format!("engine: healthy since {since}"),
        HealthState::Unhealthy => format!(
            "engine: unhealthy since {since}, {} failed ping(s) in a row: {}",
            h.health.consecutive_failures,
            h.health.last_error.as_deref().unwrap_or("-")
        ),
    };
    line.push_str(&format!(
        " (the running daemon's, pid {}, pinged every {every})",
        h.daemon_pid
    ));
    if let Some(run) = &h.health.last_recovery {
        line.push_str(&format!(
            "; recovery command run {} time(s), last at {}: {}",
            h.health.recovery_runs,
            unix_time(run.at),
            run.outcome
        ));
    }
    line.push('\n');
    line
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
    out.push_str(&engine_line(report.engine.as_ref()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use osb_runtime::engine_health::machine::{Machine, RecoveryRun};

    fn daemon(machine: &Machine) -> DaemonHealth {
        DaemonHealth {
            daemon_pid: 812,
            interval_ms: 10_000,
            health: machine.health().clone(),
        }
    }

    #[test]
    fn the_engine_line_says_the_daemons_view() {
        assert_eq!(
            engine_line(None),
            "engine: health not watched (no daemon runs)\n"
        );
        let mut m = Machine::new(2, true);
        assert_eq!(
            engine_line(Some(&daemon(&m))),
            "engine: not pinged yet (the running daemon's, pid 812, pinged every 10s)\n"
        );
        m.ping(Ok(()), 0);
        assert_eq!(
            engine_line(Some(&daemon(&m))),
            "engine: healthy since 1970-01-01T00:00:00Z (the running daemon's, pid 812, pinged every 10s)\n"
        );
        m.ping(Err("refused\nagain"), 60);
        m.ping(Err("refused"), 70);
        m.recovered(RecoveryRun {
            at: 71,
            success: false,
            outcome: "killed after 1m".to_owned(),
        });
        assert_eq!(
            engine_line(Some(&daemon(&m))),
            "engine: unhealthy since 1970-01-01T00:01:00Z, 2 failed ping(s) in a row: refused \
             (the running daemon's, pid 812, pinged every 10s); recovery command run 1 time(s), \
             last at 1970-01-01T00:01:11Z: killed after 1m\n"
        );
    }
}
