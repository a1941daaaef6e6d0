//! A plugin's CPU time against its budget.
//!
//! A deadline stops one long call, not a plugin that spins just under its
//! deadline on every call: that one would hold most of a core and never
//! fail. So each call's CPU time (its caller's thread time: guest code and
//! the host imports it calls run there) is added to a ten-second window,
//! and a call that takes the window over `cpu_percent` of one core fails
//! like a trap, which in turn leads to quarantine.
//!
//! Pure bookkeeping: the caller passes the time in, so it is tested as a
//! table without spinning.

use std::time::{Duration, Instant};

/// The window the budget applies to, in one-second slots.
const SLOTS: usize = 10;
const SLOT: Duration = Duration::from_secs(1);

/// CPU time used over the last ten seconds, per second.
#[derive(Debug, Clone)]
pub struct CpuWindow {
    start: Instant,
    /// `used[s % SLOTS]` is the CPU time of second `s` since `start`.
    used: [Duration; SLOTS],
    /// The second the newest slot is for.
    newest: u64,
    budget: Duration,
}

impl CpuWindow {
    pub fn new(start: Instant, percent: u32) -> CpuWindow {
        CpuWindow {
            start,
            used: [Duration::ZERO; SLOTS],
            newest: 0,
            budget: SLOT * (SLOTS as u32) * percent.min(100) / 100,
        }
    }

    /// Records `cpu` used by a call that ended at `now`. `Err` with the
    /// window's total when that total is over the budget.
    pub fn record(&mut self, now: Instant, cpu: Duration) -> Result<(), Duration> {
        let second = now.saturating_duration_since(self.start).as_secs();
        if second > self.newest {
            // Clear the slots of the seconds that passed without a call.
            let passed = (second - self.newest).min(SLOTS as u64);
            for s in 1..=passed {
                self.used[((self.newest + s) % SLOTS as u64) as usize] = Duration::ZERO;
            }
            self.newest = second;
        }
        let slot = &mut self.used[(self.newest % SLOTS as u64) as usize];
        *slot = slot.saturating_add(cpu);
        let total = self
            .used
            .iter()
            .fold(Duration::ZERO, |a, &b| a.saturating_add(b));
        if total > self.budget {
            return Err(total);
        }
        Ok(())
    }

    pub fn budget(&self) -> Duration {
        self.budget
    }
}

/// CPU time this thread has used.
pub fn thread_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_window_sums_ten_seconds_and_forgets_older_ones() {
        let t0 = Instant::now();
        // 25 % of one core over ten seconds: 2.5 s.
        let mut w = CpuWindow::new(t0, 25);
        assert_eq!(w.budget(), ms(2500));
        let at = |s: u64, extra_ms: u64| t0 + Duration::from_secs(s) + ms(extra_ms);
        // An honest source: 5 ms a second, for a minute.
        for s in 0..60 {
            assert!(w.record(at(s, 10), ms(5)).is_ok());
        }
        // A spinner: 900 ms a second. Two seconds stay under 2.5 s with the
        // honest history; the third goes over.
        let mut w = CpuWindow::new(t0, 25);
        assert!(w.record(at(0, 0), ms(900)).is_ok());
        assert!(w.record(at(1, 0), ms(900)).is_ok());
        assert_eq!(w.record(at(2, 0), ms(900)), Err(ms(2700)));
        // Ten quiet seconds later the window is empty again.
        assert!(w.record(at(13, 0), ms(900)).is_ok());
        // Seconds within the window still count: 900 (s13) + 1700 (s20).
        assert_eq!(w.record(at(20, 0), ms(1700)), Err(ms(2600)));
        // A jump far ahead clears everything.
        assert!(w.record(at(1000, 0), ms(1)).is_ok());
    }

    #[test]
    fn thread_time_counts_this_threads_work_only() {
        let before = thread_time();
        let mut x = 0u64;
        while thread_time() - before < ms(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let spun = thread_time() - before;
        let slept_before = thread_time();
        std::thread::sleep(ms(50));
        let slept = thread_time() - slept_before;
        assert!(spun >= ms(20), "{spun:?}");
        assert!(slept < ms(10), "sleeping used {slept:?} of CPU");
    }
}
