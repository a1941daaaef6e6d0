//! Capped exponential backoff, for pull retries and block restarts.

use std::time::Duration;

/// Delays that double from `initial` up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub cap: Duration,
}

impl Backoff {
    /// The delay before retry number `retry` (0 for the first retry).
    pub fn delay(self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_stays_at_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        };
        let table = [
            (0, 500),
            (1, 1_000),
            (2, 2_000),
            (5, 16_000),
            (6, 30_000),
            (7, 30_000),
            (40, 30_000),
            (u32::MAX, 30_000),
        ];
        for (retry, millis) in table {
            assert_eq!(
                b.delay(retry),
                Duration::from_millis(millis),
                "retry {retry}"
            );
        }
    }
}
