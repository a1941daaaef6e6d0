//! The daemon's engine watch: pings on an interval, publishes the health,
//! and runs the recovery command when the machine asks for it. It runs on
//! a task of its own: a ping or a recovery command waits for nothing the
//! reconcile loop holds, and a hung engine stalls neither (every ping and
//! every recovery run has a deadline).

use std::process::Stdio;
use std::time::{Duration, SystemTime};

use super::machine::{HealthState, Machine, RecoveryRun};
use super::record::HealthPublisher;
use super::settings::EngineSettings;

/// Pings the engine every `settings.interval()` for as long as the daemon
/// runs, publishing each outcome through `publisher`.
pub async fn watch(settings: EngineSettings, publisher: HealthPublisher) {
    let mut machine = Machine::new(
        settings.failures_before_recovery,
        !settings.recovery_command.is_empty(),
    );
    let mut said_unpublished = false;
    loop {
        let error = osb_engine::ping(settings.ping_deadline())
            .await
            .err()
            .map(|e| e.to_string());
        let failed_before = machine.health().consecutive_failures;
        let step = machine.ping(error.as_deref().map_or(Ok(()), Err), now());
        let health = machine.health();
        match step.became {
            Some(HealthState::Unhealthy) => tracing::warn!(
                failures = health.consecutive_failures,
                error = health.last_error.as_deref().unwrap_or_default(),
                "engine: unhealthy, a ping failed"
            ),
            Some(HealthState::Healthy) => tracing::info!(
                after_failures = failed_before,
                "engine: healthy, it answers"
            ),
            _ => {}
        }
        if error.is_some() && step.became.is_none() {
            tracing::debug!(
                failures = health.consecutive_failures,
                "engine: still unhealthy"
            );
        }
        publish(&publisher, &machine, &mut said_unpublished);
        if step.recover {
            let run = recover(&settings).await;
            machine.recovered(run);
            publish(&publisher, &machine, &mut said_unpublished);
        }
        tokio::time::sleep(settings.interval()).await;
    }
}

/// Writes the record; a failure is said once until a write succeeds again.
fn publish(publisher: &HealthPublisher, machine: &Machine, said: &mut bool) {
    match publisher.publish(machine.health()) {
        Ok(()) => *said = false,
        Err(e) if !*said => {
            tracing::warn!(file = %publisher.path().display(), error = %e, "engine: cannot publish the health record; `osb status` will not show it");
            *said = true;
        }
        Err(_) => {}
    }
}

/// Runs the recovery command, killing it at its timeout.
async fn recover(settings: &EngineSettings) -> RecoveryRun {
    let at = now();
    let limit = settings.recovery_timeout.get();
    let command = &settings.recovery_command;
    tracing::info!(command = ?command, failures_before_recovery = settings.failures_before_recovery, "engine: running the recovery command");
    let (success, outcome) = match run(command, limit).await {
        Ok(status) if status.success() => (true, "exited 0".to_owned()),
        Ok(status) => (false, describe(status)),
        Err(reason) => (false, reason),
    };
    if success {
        tracing::info!(command = ?command, outcome, "engine: the recovery command ran");
    } else {
        tracing::warn!(command = ?command, outcome, "engine: the recovery command failed");
    }
    RecoveryRun {
        at,
        success,
        outcome,
    }
}

/// Runs `command` (argv, no shell) with no stdin or stdout (its stderr
/// goes to the daemon's log); not waited for past `limit`. Its output is
/// not piped: a command that restarts the engine may leave it running in
/// the background, holding any pipe open long after the command exits.
async fn run(command: &[String], limit: Duration) -> Result<std::process::ExitStatus, String> {
    let Some((program, args)) = command.split_first() else {
        return Err("no recovery command".to_owned());
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start '{program}': {e}"))?;
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => status.map_err(|e| format!("cannot wait for '{program}': {e}")),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!(
                "killed after {}",
                osb_state::HumanDuration::new(limit)
            ))
        }
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// Unix seconds by the system clock: when a ping or a run happened, for a
/// person reading the record.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What running `command` under `limit` comes to, as the record says.
    async fn check(command: &[&str], limit: Duration, expect: &str) {
        let command: Vec<String> = command.iter().map(|s| (*s).to_owned()).collect();
        let got = match run(&command, limit).await {
            Ok(status) => describe(status),
            Err(reason) => reason,
        };
        assert!(got.starts_with(expect), "{command:?}: {got}");
    }

    #[tokio::test]
    async fn a_recovery_run_ends_in_its_exit_status_or_is_killed_at_its_timeout() {
        let second = Duration::from_secs(1);
        check(&["true"], second, "exited 0").await;
        check(&["sh", "-c", "exit 3"], second, "exited 3").await;
        check(&["sh", "-c", "kill -9 $$"], second, "killed by signal 9").await;
        let started = std::time::Instant::now();
        check(
            &["sleep", "30"],
            Duration::from_millis(300),
            "killed after 300ms",
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(5));
        check(
            &["/nonexistent/recover"],
            second,
            "cannot start '/nonexistent/recover'",
        )
        .await;
    }
}
