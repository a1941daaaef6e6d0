//! The engine's health as pings report it: a pure state machine, ping
//! outcomes and recovery results in, the health and "run the recovery
//! command now" out. No clock, no engine: the caller passes the time.

use serde::{Deserialize, Serialize};

/// The longest error kept, in bytes: an engine's error may quote a whole
/// response body.
const MAX_ERROR_BYTES: usize = 300;

/// Whether the engine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Not pinged yet.
    Unknown,
    /// The last ping was answered.
    Healthy,
    /// The last ping failed.
    Unhealthy,
}

impl HealthState {
    /// As `osb status` and the record spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

/// A run of the recovery command and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryRun {
    /// When it started, Unix seconds.
    pub at: u64,
    /// Whether it exited 0 within its timeout.
    pub success: bool,
    /// How it ended: `exited 0`, `exited 1`, `killed by signal 9`,
    /// `killed after 1m`, `cannot start: ...`.
    pub outcome: String,
}

/// The engine's health, as the daemon publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Whether the last ping was answered.
    pub state: HealthState,
    /// Failed pings since the last answered one.
    pub consecutive_failures: u32,
    /// When the state began (Unix seconds); `None` before the first ping.
    pub since: Option<u64>,
    /// When the engine was last pinged (Unix seconds).
    pub last_ping: Option<u64>,
    /// Why the last failed ping failed, control characters escaped and
    /// cut to a bounded length; kept after the engine answers again.
    pub last_error: Option<String>,
    /// The recovery command's last run.
    pub last_recovery: Option<RecoveryRun>,
    /// How often the recovery command ran.
    pub recovery_runs: u32,
}

/// What a ping changed: what to say and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The state changed to this one.
    pub became: Option<HealthState>,
    /// Run the recovery command now.
    pub recover: bool,
}

/// The health and the count towards the next recovery.
#[derive(Debug, Clone)]
pub struct Machine {
    health: Health,
    failures_before_recovery: u32,
    has_recovery: bool,
    /// Failures since the last answered ping or the last recovery run:
    /// after a run, another `failures_before_recovery` must come before
    /// the next, so a dead engine is not restarted in a tight loop.
    toward_recovery: u32,
}

impl Machine {
    /// A machine that asks for recovery after `failures_before_recovery`
    /// consecutive failures (at least 1), if `has_recovery`.
    pub fn new(failures_before_recovery: u32, has_recovery: bool) -> Machine {
        Machine {
            health: Health {
                state: HealthState::Unknown,
                consecutive_failures: 0,
                since: None,
                last_ping: None,
                last_error: None,
                last_recovery: None,
                recovery_runs: 0,
            },
            failures_before_recovery: failures_before_recovery.max(1),
            has_recovery,
            toward_recovery: 0,
        }
    }

    /// The health now.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// A ping at `now` (Unix seconds) answered (`Ok`) or failed (`Err`,
    /// why).
    pub fn ping(&mut self, outcome: Result<(), &str>, now: u64) -> Step {
        self.health.last_ping = Some(now);
        let state = match outcome {
            Ok(()) => {
                self.health.consecutive_failures = 0;
                self.toward_recovery = 0;
                HealthState::Healthy
            }
            Err(error) => {
                self.health.consecutive_failures =
                    self.health.consecutive_failures.saturating_add(1);
                self.toward_recovery = self.toward_recovery.saturating_add(1);
                self.health.last_error = Some(crate::escape::escaped(error, MAX_ERROR_BYTES));
                HealthState::Unhealthy
            }
        };
        let became = (state != self.health.state).then(|| {
            self.health.state = state;
            self.health.since = Some(now);
            state
        });
        let recover = self.has_recovery && self.toward_recovery >= self.failures_before_recovery;
        if recover {
            self.toward_recovery = 0;
        }
        Step { became, recover }
    }

    /// The recovery command asked for ran, as `run` says.
    pub fn recovered(&mut self, run: RecoveryRun) {
        self.health.recovery_runs = self.health.recovery_runs.saturating_add(1);
        self.health.last_recovery = Some(run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pings` (`ok`, `fail`, or `recovered` for a recovery run
    /// reported) to a machine recovering after `after` failures, one per
    /// second from t=100; each step as `state failures [recover]`, with a
    /// `-> state` when it changed.
    fn check(after: u32, has_recovery: bool, pings: &[&str], expect: &[&str]) {
        let mut m = Machine::new(after, has_recovery);
        let mut got = Vec::new();
        for (t, p) in (100..).zip(pings) {
            match *p {
                "recovered" => {
                    m.recovered(RecoveryRun {
                        at: t,
                        success: true,
                        outcome: "exited 0".to_owned(),
                    });
                    continue;
                }
                "ok" => {
                    let step = m.ping(Ok(()), t);
                    got.push(line(&m, step));
                }
                _ => {
                    let step = m.ping(Err("connection refused"), t);
                    got.push(line(&m, step));
                }
            }
        }
        assert_eq!(got, expect, "pings {pings:?}");
    }

    fn line(m: &Machine, step: Step) -> String {
        let h = m.health();
        let mut s = format!("{} {}", h.state.as_str(), h.consecutive_failures);
        if let Some(to) = step.became {
            s.push_str(&format!(" -> {}", to.as_str()));
        }
        if step.recover {
            s.push_str(" recover");
        }
        s
    }

    #[test]
    fn the_first_answer_is_healthy_and_a_failure_unhealthy_at_once() {
        check(
            3,
            true,
            &["ok", "ok", "fail", "ok"],
            &[
                "healthy 0 -> healthy",
                "healthy 0",
                "unhealthy 1 -> unhealthy",
                "healthy 0 -> healthy",
            ],
        );
        check(3, true, &["fail"], &["unhealthy 1 -> unhealthy"]);
    }

    #[test]
    fn recovery_is_asked_for_after_n_failures_then_only_after_n_more() {
        check(
            2,
            true,
            &["fail", "fail", "recovered", "fail", "fail", "fail", "ok"],
            &[
                "unhealthy 1 -> unhealthy",
                "unhealthy 2 recover",
                "unhealthy 3",
                "unhealthy 4 recover",
                "unhealthy 5",
                "healthy 0 -> healthy",
            ],
        );
        check(
            1,
            true,
            &["fail", "fail"],
            &["unhealthy 1 -> unhealthy recover", "unhealthy 2 recover"],
        );
    }

    #[test]
    fn an_answer_restarts_the_count_towards_recovery() {
        check(
            3,
            true,
            &["fail", "fail", "ok", "fail", "fail", "fail"],
            &[
                "unhealthy 1 -> unhealthy",
                "unhealthy 2",
                "healthy 0 -> healthy",
                "unhealthy 1 -> unhealthy",
                "unhealthy 2",
                "unhealthy 3 recover",
            ],
        );
    }

    #[test]
    fn without_a_recovery_command_none_is_asked_for() {
        check(
            1,
            false,
            &["fail", "fail"],
            &["unhealthy 1 -> unhealthy", "unhealthy 2"],
        );
    }

    #[test]
    fn the_record_keeps_since_the_last_error_and_the_recovery() {
        let mut m = Machine::new(1, true);
        m.ping(Ok(()), 10);
        m.ping(Err("refused"), 20);
        m.ping(Err("still refused"), 30);
        m.recovered(RecoveryRun {
            at: 31,
            success: false,
            outcome: "exited 1".to_owned(),
        });
        let h = m.health();
        assert_eq!(
            (h.state, h.since, h.last_ping, h.last_error.as_deref()),
            (
                HealthState::Unhealthy,
                Some(20),
                Some(30),
                Some("still refused")
            )
        );
        assert_eq!(
            (h.recovery_runs, h.last_recovery.as_ref().map(|r| r.at)),
            (1, Some(31))
        );
        m.ping(Ok(()), 40);
        let h = m.health();
        assert_eq!((h.state, h.since), (HealthState::Healthy, Some(40)));
        // The last error stays for whoever asks what happened.
        assert_eq!(h.last_error.as_deref(), Some("still refused"));
    }

    #[test]
    fn an_error_is_escaped_and_bounded() {
        let mut machine = Machine::new(3, false);
        machine.ping(Err(&format!("a\nb\u{1b}[31m{}", "x".repeat(1000))), 100);
        let error = machine.health().last_error.clone().unwrap();
        assert!(error.starts_with("a\\nb\\u{1b}[31mxxx"), "{error}");
        assert_eq!(error.len(), MAX_ERROR_BYTES + '…'.len_utf8());
    }
}
