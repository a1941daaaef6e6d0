//! When a plugin keeps trapping, stop calling it for a while.
//!
//! Pure bookkeeping: the caller passes the time in, so the policy is tested
//! as a table without sleeping.

use std::time::{Duration, Instant};

/// When a failing plugin is quarantined, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantinePolicy {
    /// Consecutive failures (traps, deadlines, memory caps) before quarantine.
    pub threshold: u32,
    /// The first quarantine's length; each further one doubles, up to `max`.
    pub base: Duration,
    /// The longest a quarantine lasts, however many came before it.
    pub max: Duration,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        QuarantinePolicy {
            threshold: 3,
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

/// One plugin version's failure record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    consecutive: u32,
    /// Quarantines since the last success; sets the backoff.
    strikes: u32,
    until: Option<Instant>,
}

impl Health {
    /// `Err(remaining)` while quarantined.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        match self.until {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// [`Health::admit`] at the current time, reading the clock only when a
    /// quarantine was ever set: the healthy call path stays clock-free.
    pub fn admit_now(&self) -> Result<(), Duration> {
        match self.until {
            None => Ok(()),
            Some(_) => self.admit(Instant::now()),
        }
    }

    /// Records a call that succeeded: failures, strikes and backoff start
    /// over.
    pub fn record_success(&mut self) {
        *self = Health::default();
    }

    /// Returns the quarantine's length when this failure starts one.
    pub fn record_failure(&mut self, now: Instant, policy: &QuarantinePolicy) -> Option<Duration> {
        self.consecutive += 1;
        if self.consecutive < policy.threshold {
            return None;
        }
        let backoff = policy
            .base
            .saturating_mul(1u32.checked_shl(self.strikes).unwrap_or(u32::MAX))
            .min(policy.max);
        self.strikes = self.strikes.saturating_add(1);
        // Out of quarantine the plugin is on probation: one more failure
        // puts it straight back, for twice as long.
        self.consecutive = policy.threshold - 1;
        self.until = Some(now + backoff);
        Some(backoff)
    }

    /// Failures since the last success, as counted towards `threshold`.
    /// Once a quarantine starts the count stays one short of it (probation),
    /// so it does not fall back to zero until a call succeeds.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    enum Ev {
        Fail(u64),
        Ok,
        Admit(u64, Option<u64>),
    }

    /// Runs events at the given seconds; `Admit(t, Some(r))` expects
    /// quarantine with `r` seconds left.
    fn check(events: &[Ev], expect_backoffs: &[Option<u64>]) {
        let policy = QuarantinePolicy {
            threshold: 3,
            base: Duration::from_secs(10),
            max: Duration::from_secs(35),
        };
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut h = Health::default();
        let mut backoffs = Vec::new();
        for ev in events {
            match *ev {
                Ev::Fail(t) => backoffs.push(h.record_failure(at(t), &policy).map(|d| d.as_secs())),
                Ev::Ok => h.record_success(),
                Ev::Admit(t, expect) => {
                    let got = h.admit(at(t)).err().map(|d| d.as_secs());
                    assert_eq!(got, expect, "admit at {t}s");
                }
            }
        }
        assert_eq!(backoffs, expect_backoffs);
    }

    #[test]
    fn quarantine_table() {
        use Ev::*;
        // Two failures: not yet. Third: 10 s. Probation failure: 20 s, then capped at 35.
        check(
            &[
                Fail(0),
                Fail(1),
                Admit(1, None),
                Fail(2),
                Admit(5, Some(7)),
                Admit(12, None),
                Fail(12),
                Admit(12, Some(20)),
                Fail(40),
            ],
            &[None, None, Some(10), Some(20), Some(35)],
        );
        // A success in between starts over.
        check(
            &[Fail(0), Fail(1), Ok, Fail(3), Fail(4), Admit(4, None)],
            &[None, None, None, None],
        );
        // After quarantine, a success clears the strikes.
        check(
            &[Fail(0), Fail(0), Fail(0), Ok, Fail(12), Fail(12), Fail(12)],
            &[None, None, Some(10), None, None, Some(10)],
        );
    }
}
