//! The wasmtime engine: configuration for small devices, and the instance
//! pool shared by every plugin.

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// What one plugin instance may hold. A Rust component has a handful of
/// core instances (the program, the canonical-ABI shims, WASI's adapter),
/// one memory and a few tables; these caps leave room for other languages
/// while keeping any one plugin from taking the pool's slots from the rest
/// (a component declaring a hundred memories is refused at instantiation).
pub const CORE_INSTANCES_PER_PLUGIN: u32 = 16;
/// Linear memories one plugin instance may have; see
/// [`CORE_INSTANCES_PER_PLUGIN`] for how these caps were chosen.
pub const MEMORIES_PER_PLUGIN: u32 = 2;
/// Tables one plugin instance may have; see [`CORE_INSTANCES_PER_PLUGIN`].
pub const TABLES_PER_PLUGIN: u32 = 8;
/// The largest table any plugin may have, in elements.
pub const TABLE_ELEMENTS_PER_PLUGIN: usize = 100_000;

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

/// The engine every plugin of a host runs on: a pooling allocator sized by
/// `limits`, epoch interruption for deadlines, and memory reserved only up
/// to `limits.max_memory_bytes`. Fails when wasmtime refuses the
/// configuration or cannot reserve the pool.
pub fn new_engine(limits: &PoolLimits) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    // Every slot a plugin can take is bounded per instance, and the pool
    // holds that much for every instance: one plugin's instance can never
    // use up a slot another one needs.
    pool.total_component_instances(limits.max_instances)
        .max_core_instances_per_component(CORE_INSTANCES_PER_PLUGIN)
        .max_memories_per_component(MEMORIES_PER_PLUGIN)
        .max_tables_per_component(TABLES_PER_PLUGIN)
        .total_core_instances(limits.max_instances * CORE_INSTANCES_PER_PLUGIN)
        .total_memories(limits.max_instances * MEMORIES_PER_PLUGIN)
        .total_tables(limits.max_instances * TABLES_PER_PLUGIN)
        .table_elements(TABLE_ELEMENTS_PER_PLUGIN)
        // Calls are async (their host imports wait under the deadline), so
        // each live instance runs on a stack of its own.
        .total_stacks(limits.max_instances)
        .async_stack_keep_resident(0)
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

/// Gives the heap the compiler freed back to the OS. Cranelift's working
/// memory is freed after a compile but glibc keeps it in its arenas (one per
/// compiling thread), so a daemon that compiled at start stayed ~10 MiB
/// heavier than one started on a warm cache until its next restart.
pub fn release_compiler_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of glibc's own arenas to
    // the kernel; it touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
