//! Call deadlines. Two mechanisms, because a call spends its time in two
//! places: guest code is stopped by wasmtime's epoch interruption (the
//! [`EpochTicker`] advances the epoch while calls run), and host imports
//! that wait (WASI clocks and streams, sockets, files) are awaited under a
//! tokio timeout that drops them at the deadline. The imports the host
//! writes itself (`http`, `device`) are synchronous and bound their own
//! waits by the time left ([`StoreState::remaining`](super::host_api::StoreState::remaining)).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wasmtime::Engine;

/// How often the epoch advances while plugins run: the granularity of call
/// deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// After this many ticks (100 ms) with no call in progress the ticker
/// sleeps, so an idle device does not wake 200 times a second. Short,
/// because the time service calls its sources every few seconds while the
/// clock is unsynced and each call would otherwise keep the ticker awake for
/// the whole period; waking it again costs one `unpark` per call, which only
/// calls more than 100 ms apart pay.
const IDLE_TICKS_BEFORE_SLEEP: u32 = 20;

/// Runs guest calls under their deadlines: the epoch ticker and the tokio
/// runtime whose timers and sockets the host imports wait on.
pub struct CallDriver {
    ticker: EpochTicker,
    /// One worker drives timers and sockets; calls themselves run on the
    /// caller's thread (`Handle::block_on`), so a plugin's CPU time is its
    /// caller's thread time and calls to different plugins run in parallel.
    runtime: Option<tokio::runtime::Runtime>,
}

impl CallDriver {
    /// Starts the epoch ticker for `engine` and the tokio runtime's one
    /// worker thread. Fails when either thread cannot be spawned.
    pub fn start(engine: &Engine) -> std::io::Result<CallDriver> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("osb-plugin-io")
            .enable_all()
            .build()?;
        Ok(CallDriver {
            ticker: EpochTicker::start(engine)?,
            runtime: Some(runtime),
        })
    }

    /// Runs the future `work` makes on the calling thread, until it
    /// completes or `until` passes (`None`). The epoch keeps advancing
    /// meanwhile, so guest code inside it meets its epoch deadline too.
    pub fn run<T: Send, F: Future<Output = T>>(
        &self,
        until: Instant,
        work: impl FnOnce() -> F + Send,
    ) -> Option<T> {
        let _call = self.ticker.enter_call();
        let handle = self.runtime.as_ref()?.handle();
        let timed = || async move {
            let mut work = std::pin::pin!(work());
            // Most calls finish in their first poll, without waiting on
            // anything: they need no timer.
            let first = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await;
            match first {
                Poll::Ready(output) => Some(output),
                Poll::Pending => tokio::time::timeout_at(until.into(), work).await.ok(),
            }
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Called from async code, where blocking this thread on another
            // runtime is not allowed: the call gets a thread of its own.
            return thread::scope(|s| s.spawn(|| handle.block_on(timed())).join().ok().flatten());
        }
        handle.block_on(timed())
    }
}

impl Drop for CallDriver {
    fn drop(&mut self) {
        // A blocking import still waiting on a stuck file or device must not
        // hold up the host's shutdown.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Advances the engine's epoch while calls are in progress, and sleeps
/// when none has been for 100 ms.
///
/// Waking is race-free without a lock on the call path: a caller
/// increments `active` then loads `sleeping`; the ticker stores `sleeping`
/// then loads `active` before parking. With sequentially consistent
/// ordering one of them sees the other's store, so a call never runs
/// without a ticker. The ticker counts calls in progress, not calls
/// started: a call that runs for longer than the idle period still has
/// its deadline.
pub struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: Option<JoinHandle<()>>,
}

struct TickerShared {
    active: AtomicUsize,
    sleeping: AtomicBool,
    stop: AtomicBool,
}

/// A call in progress; the ticker may sleep once every one is dropped.
pub struct ActiveCall<'a> {
    shared: &'a TickerShared,
}

impl Drop for ActiveCall<'_> {
    fn drop(&mut self) {
        self.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EpochTicker {
    /// Spawns the ticker thread. It holds the engine weakly and ends when
    /// the engine or the ticker is dropped. Fails when the thread cannot be
    /// spawned.
    pub(crate) fn start(engine: &Engine) -> std::io::Result<EpochTicker> {
        let shared = Arc::new(TickerShared {
            active: AtomicUsize::new(0),
            sleeping: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let weak = engine.weak();
        let s = shared.clone();
        let thread = thread::Builder::new()
            .name("osb-epoch".into())
            .spawn(move || {
                let mut idle = 0u32;
                while !s.stop.load(Ordering::SeqCst) {
                    thread::sleep(EPOCH_TICK);
                    let Some(engine) = weak.upgrade() else { return };
                    engine.increment_epoch();
                    drop(engine);
                    if s.active.load(Ordering::SeqCst) > 0 {
                        idle = 0;
                        continue;
                    }
                    idle += 1;
                    if idle >= IDLE_TICKS_BEFORE_SLEEP {
                        s.sleeping.store(true, Ordering::SeqCst);
                        if s.active.load(Ordering::SeqCst) == 0 && !s.stop.load(Ordering::SeqCst) {
                            thread::park();
                        }
                        s.sleeping.store(false, Ordering::SeqCst);
                        idle = 0;
                    }
                }
            })?;
        Ok(EpochTicker {
            shared,
            thread: Some(thread),
        })
    }

    /// Called before every guest call; the call is in progress until the
    /// guard drops.
    #[inline]
    pub fn enter_call(&self) -> ActiveCall<'_> {
        self.shared.active.fetch_add(1, Ordering::SeqCst);
        if self.shared.sleeping.load(Ordering::SeqCst)
            && let Some(t) = &self.thread
        {
            t.thread().unpark();
        }
        ActiveCall {
            shared: &self.shared,
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_ends_at_its_timeout_called_from_anywhere() {
        let driver = CallDriver::start(&Engine::default()).unwrap();
        let after = |ms| Instant::now() + Duration::from_millis(ms);
        assert_eq!(driver.run(after(1000), || async { 7 }), Some(7));
        // A wait past the timeout is dropped at it.
        let started = Instant::now();
        let waited = driver.run(after(50), || tokio::time::sleep(Duration::from_secs(5)));
        assert_eq!(waited, None);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        // From async code (where blocking on another runtime would panic),
        // the same, on a thread of its own.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let inside = runtime.block_on(async {
            let waited = driver.run(after(50), || tokio::time::sleep(Duration::from_secs(5)));
            (driver.run(after(1000), || async { 8 }), waited)
        });
        assert_eq!(inside, (Some(8), None));
    }
}
