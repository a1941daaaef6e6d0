//! One verified, compiled plugin version: its `InstancePre`, its live
//! instance, and the call path with deadline, memory cap and quarantine.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::engine::{EPOCH_TICK, EpochTicker};
use super::grants::{FsMode, NetProtocol};
use super::host_api::stdio::GuestOutput;
use super::host_api::{MemoryCap, PluginContext, StoreState};
use super::manifest::{Manifest, PluginKind, PluginName};
use super::package::Provenance;
use super::quarantine::{Health, QuarantinePolicy};
use super::trust::PackageDigest;
use super::wit::latest::{contract_policy, hardware_adapter, migration_step, time_source};

/// Per-call limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            timeout: Duration::from_secs(1),
            memory_bytes: 32 << 20,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("plugin '{0}' is not loaded")]
    NotLoaded(String),
    #[error("plugin '{plugin}' is quarantined for {remaining_ms} ms more after repeated failures")]
    Quarantined { plugin: String, remaining_ms: u64 },
    #[error("plugin '{plugin}' was stopped at its {timeout_ms} ms deadline")]
    Deadline { plugin: String, timeout_ms: u64 },
    #[error("plugin '{plugin}' was stopped at its memory cap of {limit} bytes")]
    MemoryCap { plugin: String, limit: usize },
    #[error("plugin '{plugin}' trapped: {message}")]
    Trap { plugin: String, message: String },
    #[error("plugin '{plugin}' cannot be instantiated: {message}")]
    Instantiate { plugin: String, message: String },
    #[error(
        "plugin '{plugin}' is a {kind} plugin; it has no function '{function}' (it has: {available})"
    )]
    NoSuchFunction {
        plugin: String,
        kind: PluginKind,
        function: String,
        available: String,
    },
    #[error("bad arguments for '{function}': {reason}")]
    BadArguments { function: String, reason: String },
}

impl CallError {
    /// Whether this failure counts towards quarantine: the plugin
    /// misbehaved, as opposed to the caller asking for something wrong.
    fn is_plugin_fault(&self) -> bool {
        matches!(
            self,
            CallError::Deadline { .. } | CallError::MemoryCap { .. } | CallError::Trap { .. }
        )
    }
}

/// The pre-instantiated component, typed by the world its kind exports.
pub enum KindPre {
    TimeSource(time_source::TimeSourcePluginPre<StoreState>),
    HardwareAdapter(hardware_adapter::HardwareAdapterPluginPre<StoreState>),
    ContractPolicy(contract_policy::ContractPolicyPluginPre<StoreState>),
    MigrationStep(migration_step::MigrationStepPluginPre<StoreState>),
}

/// A live instance's exports.
pub enum Exports {
    TimeSource(time_source::TimeSourcePlugin),
    HardwareAdapter(hardware_adapter::HardwareAdapterPlugin),
    ContractPolicy(contract_policy::ContractPolicyPlugin),
    MigrationStep(migration_step::MigrationStepPlugin),
}

struct Live {
    store: Store<StoreState>,
    exports: Exports,
}

pub struct LoadedPlugin {
    pub manifest: Manifest,
    /// The package directory it was loaded from.
    pub dir: PathBuf,
    pub digest: PackageDigest,
    pub provenance: Provenance,
    pub ctx: Arc<PluginContext>,
    pub limits: CallLimits,
    engine: Engine,
    pre: KindPre,
    /// At most one live instance; calls to one plugin are serialised.
    live: Mutex<Option<Live>>,
    health: Mutex<Health>,
    quarantine: QuarantinePolicy,
}

/// Everything needed to build a [`LoadedPlugin`].
pub struct LoadParts {
    pub manifest: Manifest,
    pub dir: PathBuf,
    pub digest: PackageDigest,
    pub provenance: Provenance,
    pub ctx: Arc<PluginContext>,
    pub limits: CallLimits,
    pub quarantine: QuarantinePolicy,
}

impl LoadedPlugin {
    /// Links the component against the host imports and checks it exports
    /// what its kind requires. The error text says what is missing.
    pub fn link(
        engine: &Engine,
        linker: &Linker<StoreState>,
        component: &Component,
        parts: LoadParts,
    ) -> wasmtime::Result<LoadedPlugin> {
        let pre = linker.instantiate_pre(component)?;
        let pre = match parts.manifest.kind {
            PluginKind::TimeSource => {
                KindPre::TimeSource(time_source::TimeSourcePluginPre::new(pre)?)
            }
            PluginKind::HardwareAdapter => {
                KindPre::HardwareAdapter(hardware_adapter::HardwareAdapterPluginPre::new(pre)?)
            }
            PluginKind::ContractPolicy => {
                KindPre::ContractPolicy(contract_policy::ContractPolicyPluginPre::new(pre)?)
            }
            PluginKind::MigrationStep => {
                KindPre::MigrationStep(migration_step::MigrationStepPluginPre::new(pre)?)
            }
        };
        Ok(LoadedPlugin {
            manifest: parts.manifest,
            dir: parts.dir,
            digest: parts.digest,
            provenance: parts.provenance,
            ctx: parts.ctx,
            limits: parts.limits,
            engine: engine.clone(),
            pre,
            live: Mutex::new(None),
            health: Mutex::new(Health::default()),
            quarantine: parts.quarantine,
        })
    }

    pub fn name(&self) -> &PluginName {
        &self.manifest.name
    }

    pub fn kind(&self) -> PluginKind {
        self.manifest.kind
    }

    /// A fresh store and instance. Public for the benchmark of
    /// instantiation; calls go through [`LoadedPlugin::call`].
    pub fn instantiate(&self) -> Result<(Store<StoreState>, Exports), CallError> {
        let fail = |message: String| CallError::Instantiate {
            plugin: self.name().to_string(),
            message,
        };
        let wasi = self.wasi_ctx().map_err(|e| fail(format!("{e:#}")))?;
        let state = StoreState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                limit: self.limits.memory_bytes,
                hit: false,
            },
            plugin: self.ctx.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.deadline_ticks());
        let exports = match &self.pre {
            KindPre::TimeSource(p) => p.instantiate(&mut store).map(Exports::TimeSource),
            KindPre::HardwareAdapter(p) => p.instantiate(&mut store).map(Exports::HardwareAdapter),
            KindPre::ContractPolicy(p) => p.instantiate(&mut store).map(Exports::ContractPolicy),
            KindPre::MigrationStep(p) => p.instantiate(&mut store).map(Exports::MigrationStep),
        }
        .map_err(|e| fail(format!("{e:#}")))?;
        Ok((store, exports))
    }

    fn wasi_ctx(&self) -> wasmtime::Result<wasmtime_wasi::WasiCtx> {
        let grants = &self.ctx.grants;
        let mut b = WasiCtxBuilder::new();
        b.stdout(GuestOutput::stdout(self.name().clone()))
            .stderr(GuestOutput::stderr(self.name().clone()))
            .allow_blocking_current_thread(true)
            .allow_ip_name_lookup(false)
            .allow_tcp(grants.uses_tcp())
            .allow_udp(grants.uses_udp());
        for p in &grants.fs {
            let perms = match p.mode {
                FsMode::ReadOnly => FsPerms::ReadOnly,
                FsMode::ReadWrite => FsPerms::ReadWrite,
            };
            b.preopened_dir(&p.host, &p.guest, perms).map_err(|e| {
                wasmtime::Error::msg(format!(
                    "cannot open granted directory '{}': {e}",
                    p.host.display()
                ))
            })?;
        }
        let ctx = self.ctx.clone();
        b.socket_addr_check(move |addr, usage| {
            let (protocol, binding) = match usage {
                SocketAddrUse::TcpBind | SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => {
                    (NetProtocol::Tcp, true)
                }
                SocketAddrUse::TcpConnect => (NetProtocol::Tcp, false),
                SocketAddrUse::UdpBind => (NetProtocol::Udp, true),
                SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => (NetProtocol::Udp, false),
            };
            let allowed = ctx.grants.allows_socket(addr, protocol, binding);
            if !allowed {
                tracing::warn!(plugin = %ctx.name, %addr, ?usage, "socket outside the plugin's grant refused");
            }
            Box::pin(async move { allowed })
        });
        Ok(b.build())
    }

    fn deadline_ticks(&self) -> u64 {
        // One extra tick: the first may come at once.
        (self.limits.timeout.as_nanos() / EPOCH_TICK.as_nanos()) as u64 + 1
    }

    /// Runs `f` on the live instance (creating one if needed) under the
    /// deadline and memory cap. A trap discards the instance; repeated
    /// traps quarantine this version.
    pub fn call<R>(
        &self,
        ticker: &EpochTicker,
        f: impl FnOnce(&mut Store<StoreState>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        if let Err(remaining) = lock(&self.health).admit_now() {
            return Err(CallError::Quarantined {
                plugin: self.name().to_string(),
                remaining_ms: remaining.as_millis() as u64,
            });
        }
        let result = self.call_live(ticker, f);
        let mut health = lock(&self.health);
        match &result {
            Ok(_) => health.record_success(),
            Err(e) if e.is_plugin_fault() => {
                if let Some(backoff) = health.record_failure(Instant::now(), &self.quarantine) {
                    tracing::error!(plugin = %self.name(), backoff_ms = backoff.as_millis() as u64, error = %e, "plugin quarantined after repeated failures");
                }
            }
            Err(_) => {}
        }
        result
    }

    fn call_live<R>(
        &self,
        ticker: &EpochTicker,
        f: impl FnOnce(&mut Store<StoreState>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let mut slot = lock(&self.live);
        let live = match slot.take() {
            Some(live) => live,
            None => {
                ticker.enter_call();
                let (store, exports) = self.instantiate()?;
                Live { store, exports }
            }
        };
        let Live { mut store, exports } = live;
        store.set_epoch_deadline(self.deadline_ticks());
        ticker.enter_call();
        match f(&mut store, &exports) {
            Ok(r) => {
                *slot = Some(Live { store, exports });
                Ok(r)
            }
            Err(e) => {
                // The instance may be mid-way through anything: drop it; the
                // next call gets a fresh one from the InstancePre.
                let error = self.classify(&e, store.data().memory.hit);
                tracing::warn!(plugin = %self.name(), error = %error, "plugin instance discarded");
                Err(error)
            }
        }
    }

    fn classify(&self, e: &wasmtime::Error, memory_hit: bool) -> CallError {
        let plugin = self.name().to_string();
        if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return CallError::Deadline {
                plugin,
                timeout_ms: self.limits.timeout.as_millis() as u64,
            };
        }
        if memory_hit {
            return CallError::MemoryCap {
                plugin,
                limit: self.limits.memory_bytes,
            };
        }
        CallError::Trap {
            plugin,
            message: format!("{e:#}"),
        }
    }

    /// The error for a function this plugin's kind does not export.
    pub fn no_such_function(&self, function: &str) -> CallError {
        CallError::NoSuchFunction {
            plugin: self.name().to_string(),
            kind: self.kind(),
            function: function.to_owned(),
            available: self.kind().functions().join(", "),
        }
    }

    pub fn consecutive_failures(&self) -> u32 {
        lock(&self.health).consecutive_failures()
    }
}

/// A poisoned lock means a panic while held; the data (an instance slot or
/// a failure count) is still safe to use, and the panic was reported.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
