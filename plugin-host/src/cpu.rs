//! A plugin's CPU time against its budget.
//!
//! A deadline stops one long call, not a plugin that spins just under its
//! deadline on every call: that one would hold most of a core and never
//! fail. So each call's CPU time is added to a ten-second window, and a
//! call that takes the window over `cpu_percent` of one core fails like a
//! trap, which in turn leads to quarantine.
//!
//! A call's CPU time is the time its thread spends working on it
//! ([`busy`]): the polls of the call's future (guest code, and the host
//! imports it calls, which run there), less what the host's own blocking
//! imports spent waiting on I/O; a wait in a WASI import is no poll. A
//! thread preempted mid-call counts as working, so a loaded machine
//! over-counts, never under-counts. The kernel's per-thread CPU clock
//! would be exact, but each read is a system call taking a run-queue lock:
//! measured, a third of a trivial call.
//!
//! The window is pure bookkeeping: the caller passes the time in, so it is
//! tested as a table without spinning.

use std::future::Future;
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
    /// An empty window counting seconds from `start`, allowing `percent` of
    /// one core over its ten seconds; more than 100 counts as 100.
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

    /// The CPU time the window may hold before a call fails: 2.5 s at 25 %.
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

/// Runs `work`, measuring the time spent in its polls: the time a thread
/// worked on it, not the time it waited.
pub async fn busy<F: Future>(work: F) -> (F::Output, Duration) {
    let mut work = std::pin::pin!(work);
    let mut busy = Duration::ZERO;
    let output = std::future::poll_fn(|cx| {
        let started = Instant::now();
        let poll = work.as_mut().poll(cx);
        busy += started.elapsed();
        poll
    })
    .await;
    (output, busy)
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
    fn busy_time_counts_work_not_waits() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let ((), waited) = runtime.block_on(async { busy(tokio::time::sleep(ms(50))).await });
        assert!(waited < ms(10), "waiting counted as {waited:?}");
        let ((), worked) = runtime.block_on(busy(async {
            let started = Instant::now();
            while started.elapsed() < ms(20) {
                std::hint::black_box(0);
            }
            tokio::time::sleep(ms(50)).await;
        }));
        assert!(worked >= ms(20) && worked < ms(40), "{worked:?}");
    }
}
