//! What the host gives a plugin: the `osb:plugin` imports, WASI, and the
//! per-instance store state they work on.
//!
//! Each import checks the plugin's [`EffectiveGrants`] itself; nothing here
//! decides a permission (that is `grants.rs`).

pub mod config;
pub mod device;
pub mod filesystem;
pub mod http;
pub mod kv;
pub mod log;
pub mod preopens;
pub mod stdio;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::engine::{CORE_INSTANCES_PER_PLUGIN, MEMORIES_PER_PLUGIN, TABLES_PER_PLUGIN};
use super::grants::EffectiveGrants;
use super::limits::PluginLimits;
use super::manifest::PluginName;
use super::wit::latest;

/// Outside systems the imports reach, shared by all plugins. Tests and the
/// SDK harness swap in fakes for HTTP and devices.
pub struct HostServices {
    /// The plugins' key-value store; `None` when the host has no state
    /// directory, and then every `kv` call is denied.
    pub kv: Option<kv::KvStore>,
    /// Sends the requests the grants allow; on a device,
    /// [`http::UreqTransport`].
    pub http: Arc<dyn http::HttpTransport>,
    /// Opens device channels by name; on a device, the configured
    /// [`device::DeviceTable`].
    pub devices: Arc<dyn device::DeviceProvider>,
}

/// What one loaded plugin version is allowed and configured to do, and
/// the quotas its instances share.
pub struct PluginContext {
    /// The plugin; also its key-value namespace and the `plugin` field of
    /// its log events.
    pub name: PluginName,
    /// What it may use; each import checks this.
    pub grants: EffectiveGrants,
    /// The manifest's `[config]` defaults overlaid with the device config's,
    /// as the `config` import reads them.
    pub config: BTreeMap<String, String>,
    /// Its limits: the device's defaults with its overrides applied.
    pub limits: PluginLimits,
    /// The outside systems, shared with every other plugin.
    pub services: Arc<HostServices>,
    /// Log bytes left to spend; shared by every instance of this version,
    /// so a fresh instance does not start with a fresh allowance.
    pub log: log::LogBudget,
}

/// The data of one instance's store.
pub struct StoreState {
    /// WASI's state: the preopens, the sockets the grants allow, and
    /// stdout and stderr as log events.
    pub wasi: WasiCtx,
    /// The instance's resources: WASI's handles and open device channels,
    /// held to the plugin's `handles` limit.
    pub table: ResourceTable,
    /// Holds the instance's memories and tables to the plugin's `memory_mb`.
    pub limiter: InstanceLimiter,
    /// The loaded version this instance belongs to.
    pub plugin: Arc<PluginContext>,
    /// When the call in progress must end; host imports that wait bound
    /// their waits by it.
    pub deadline: Instant,
    /// Device channels open now.
    pub channels: u32,
    /// How long the host's own imports (`http`, `device`) waited on I/O in
    /// the call in progress: not the plugin's CPU time.
    pub waited: Duration,
    /// What the read-write grants hold, against the storage quota.
    pub fs_quota: Arc<filesystem::FsQuota>,
}

impl StoreState {
    /// What is left of the current call's deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps what one instance may allocate, all of its memories and tables
/// together (the cap is the plugin's, not each memory's), and remembers
/// that the cap was hit, so the resulting failure is reported as the cap
/// rather than a bare trap.
pub struct InstanceLimiter {
    memory_limit: usize,
    memory_used: usize,
    hit: bool,
}

impl InstanceLimiter {
    /// A limiter allowing `memory_limit` bytes for all of the instance's
    /// memories and tables together.
    pub fn new(memory_limit: usize) -> InstanceLimiter {
        InstanceLimiter {
            memory_limit,
            memory_used: 0,
            hit: false,
        }
    }

    /// Whether a growth was refused for the cap.
    pub fn hit(&self) -> bool {
        self.hit
    }

    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let more = desired.saturating_sub(current);
        match self.memory_used.checked_add(more) {
            Some(total) if total <= self.memory_limit => {
                self.memory_used = total;
                true
            }
            _ => {
                self.hit = true;
                false
            }
        }
    }
}

/// A table element's cost against the memory cap: a function reference.
const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>() * 2;

impl wasmtime::ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current, desired))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        ))
    }

    fn instances(&self) -> usize {
        CORE_INSTANCES_PER_PLUGIN as usize
    }

    fn memories(&self) -> usize {
        MEMORIES_PER_PLUGIN as usize
    }

    fn tables(&self) -> usize {
        TABLES_PER_PLUGIN as usize
    }
}

/// Links WASI and every `osb:plugin` import; built once per host.
pub fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    filesystem::add_to_linker(&mut linker)?;
    latest::host::Host_::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    crate::wit::since_v0_1_0::add_to_linker(&mut linker)?;
    #[cfg(feature = "next-api")]
    crate::wit::since_v0_3_0::add_to_linker(&mut linker)?;
    Ok(linker)
}

impl latest::host::osb::plugin::types::Host for StoreState {}
