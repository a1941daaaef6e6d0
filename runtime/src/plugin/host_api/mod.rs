//! What the host gives a plugin: the `osb:plugin` imports, WASI, and the
//! per-instance store state they work on.
//!
//! Each import checks the plugin's [`EffectiveGrants`] itself; nothing here
//! decides a permission (that is `grants.rs`).

pub mod config;
pub mod device;
pub mod http;
pub mod kv;
pub mod log;
pub mod stdio;

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::grants::EffectiveGrants;
use super::manifest::PluginName;
use super::wit::latest;

/// Outside systems the imports reach, shared by all plugins. Tests and the
/// SDK harness swap in fakes for HTTP and devices.
pub struct HostServices {
    pub kv: Option<kv::KvStore>,
    pub http: Arc<dyn http::HttpTransport>,
    pub devices: Arc<dyn device::DeviceProvider>,
}

/// What one loaded plugin version is allowed and configured to do.
pub struct PluginContext {
    pub name: PluginName,
    pub grants: EffectiveGrants,
    pub config: BTreeMap<String, String>,
    pub services: Arc<HostServices>,
}

/// The data of one instance's store.
pub struct StoreState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub memory: MemoryCap,
    pub plugin: Arc<PluginContext>,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps a plugin's linear memory and remembers that it hit the cap, so a
/// resulting trap is reported as "memory cap" rather than a bare trap.
pub struct MemoryCap {
    pub limit: usize,
    pub hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Links WASI and every `osb:plugin` import; built once per host.
pub fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    latest::host::Host_::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    Ok(linker)
}

impl latest::host::osb::plugin::types::Host for StoreState {}
