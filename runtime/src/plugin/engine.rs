//! The wasmtime engine: configuration for small devices, and the epoch
//! ticker that enforces call deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances while plugins run: the granularity of call
/// deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// After this many ticks without a call the ticker sleeps, so an idle device
/// does not wake 200 times a second.
const IDLE_TICKS_BEFORE_SLEEP: u32 = 200;

/// Sizes of the instance pool.
#[derive(Debug, Clone)]
pub struct PoolLimits {
    /// The largest linear memory any plugin may have; per-plugin caps are
    /// enforced below this by the store limiter.
    pub max_memory_bytes: usize,
    /// Live plugin instances at once (each plugin keeps at most one, plus
    /// one during a hot swap).
    pub max_instances: u32,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            max_memory_bytes: 256 << 20,
            max_instances: 64,
        }
    }
}

pub fn new_engine(limits: &PoolLimits) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    // A Rust component has a handful of core instances (the program plus
    // the canonical-ABI shims), each with at most one memory and a few tables.
    pool.total_component_instances(limits.max_instances)
        .total_core_instances(limits.max_instances * 8)
        .total_memories(limits.max_instances * 2)
        .total_tables(limits.max_instances * 8)
        .max_memory_size(limits.max_memory_bytes)
        // Freed slots give their pages back to the OS: idle RSS stays small.
        .linear_memory_keep_resident(0)
        .table_keep_resident(0);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        // Reserve only what a memory may grow to, not wasmtime's 4 GiB
        // default: boards have little address space to spare and the pool
        // reserves this for every slot. Bounds checks become explicit.
        .memory_reservation(limits.max_memory_bytes as u64)
        .memory_guard_size(64 << 10)
        .memory_reservation_for_growth(0)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    Engine::new(&config)
}

/// Advances the engine's epoch while calls are running, and sleeps when the
/// host is idle.
///
/// Waking is race-free without a lock on the call path: a caller stores
/// `active` then loads `sleeping`; the ticker stores `sleeping` then loads
/// `active` before parking. With sequentially consistent ordering one of
/// them sees the other's store, so a call never runs without a ticker.
pub struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: Option<JoinHandle<()>>,
}

struct TickerShared {
    active: AtomicBool,
    sleeping: AtomicBool,
    stop: AtomicBool,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> std::io::Result<EpochTicker> {
        let shared = Arc::new(TickerShared {
            active: AtomicBool::new(false),
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
                    if s.active.swap(false, Ordering::SeqCst) {
                        idle = 0;
                        continue;
                    }
                    idle += 1;
                    if idle >= IDLE_TICKS_BEFORE_SLEEP {
                        s.sleeping.store(true, Ordering::SeqCst);
                        if !s.active.load(Ordering::SeqCst) && !s.stop.load(Ordering::SeqCst) {
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

    /// Called before every guest call.
    #[inline]
    pub fn enter_call(&self) {
        self.shared.active.store(true, Ordering::SeqCst);
        if self.shared.sleeping.load(Ordering::SeqCst)
            && let Some(t) = &self.thread
        {
            t.thread().unpark();
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
