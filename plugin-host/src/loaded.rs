//! One verified, compiled plugin version: its `InstancePre`, its live
//! instance, and the call path with deadline, memory cap and quarantine.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable, ResourceTableError};
use wasmtime::{Engine, Store};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::cpu::{self, CpuWindow};
use super::deadline::{CallDriver, EPOCH_TICK};
use super::host_api::filesystem::{FsQuota, Usage};
use super::host_api::preopens;
use super::host_api::stdio::GuestOutput;
use super::host_api::{InstanceLimiter, PluginContext, StoreState};
use super::limits::PluginLimits;
use super::manifest::{FsMode, NetProtocol};
use super::manifest::{Manifest, PluginKind, PluginName};
use super::package::Provenance;
use super::quarantine::{Health, QuarantinePolicy};
use super::trust::PackageDigest;
use super::wit::latest::{contract_policy, hardware_adapter, migration_step, time_source};

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
    #[error("plugin '{plugin}' was stopped: it tried to hold more than {limit} open handles")]
    Handles { plugin: String, limit: u32 },
    #[error(
        "plugin '{plugin}' used {used_ms} ms of CPU in the last 10 s, over its budget of {budget_ms} ms (cpu_percent)"
    )]
    CpuBudget {
        plugin: String,
        used_ms: u64,
        budget_ms: u64,
    },
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
            CallError::Deadline { .. }
                | CallError::MemoryCap { .. }
                | CallError::Handles { .. }
                | CallError::CpuBudget { .. }
                | CallError::Trap { .. }
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
    engine: Engine,
    pre: KindPre,
    /// At most one live instance; calls to one plugin are serialised.
    live: Mutex<Option<Live>>,
    health: Mutex<Health>,
    quarantine: QuarantinePolicy,
    cpu: Mutex<CpuWindow>,
}

/// Everything needed to build a [`LoadedPlugin`].
pub struct LoadParts {
    pub manifest: Manifest,
    pub dir: PathBuf,
    pub digest: PackageDigest,
    pub provenance: Provenance,
    pub ctx: Arc<PluginContext>,
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
        let cpu = CpuWindow::new(Instant::now(), parts.ctx.limits.cpu_percent);
        Ok(LoadedPlugin {
            manifest: parts.manifest,
            dir: parts.dir,
            digest: parts.digest,
            provenance: parts.provenance,
            ctx: parts.ctx,
            engine: engine.clone(),
            pre,
            live: Mutex::new(None),
            health: Mutex::new(Health::default()),
            quarantine: parts.quarantine,
            cpu: Mutex::new(cpu),
        })
    }

    pub fn name(&self) -> &PluginName {
        &self.manifest.name
    }

    pub fn kind(&self) -> PluginKind {
        self.manifest.kind
    }

    pub fn limits(&self) -> &PluginLimits {
        &self.ctx.limits
    }

    /// A fresh store and instance, under the deadline that starts at
    /// `deadline - timeout`.
    async fn instantiate(&self, deadline: Instant) -> Result<Live, CallError> {
        let fail = |message: String| CallError::Instantiate {
            plugin: self.name().to_string(),
            message,
        };
        let (wasi, fs_used) = self.wasi_ctx().map_err(|e| fail(format!("{e:#}")))?;
        let mut table = ResourceTable::new();
        table.set_max_capacity(self.limits().handles as usize);
        let state = StoreState {
            wasi,
            table,
            limiter: InstanceLimiter::new(self.limits().memory_bytes()),
            plugin: self.ctx.clone(),
            deadline,
            channels: 0,
            waited: Duration::ZERO,
            fs_quota: Arc::new(FsQuota::new(self.name().clone(), self.limits(), fs_used)),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(ticks_in(deadline.saturating_duration_since(Instant::now())));
        let exports = match &self.pre {
            KindPre::TimeSource(p) => p
                .instantiate_async(&mut store)
                .await
                .map(Exports::TimeSource),
            KindPre::HardwareAdapter(p) => p
                .instantiate_async(&mut store)
                .await
                .map(Exports::HardwareAdapter),
            KindPre::ContractPolicy(p) => p
                .instantiate_async(&mut store)
                .await
                .map(Exports::ContractPolicy),
            KindPre::MigrationStep(p) => p
                .instantiate_async(&mut store)
                .await
                .map(Exports::MigrationStep),
        };
        match exports {
            Ok(exports) => Ok(Live { store, exports }),
            // Out of memory or time while starting up is the plugin's doing.
            Err(e) => match self.classify(&e, &store) {
                CallError::Trap { message, .. } => Err(fail(message)),
                other => Err(other),
            },
        }
    }

    /// A fresh instance, dropped at once; for the instantiation benchmark.
    pub fn instantiate_fresh(&self, driver: &CallDriver) -> Result<(), CallError> {
        let deadline = Instant::now() + self.limits().timeout();
        driver
            .run(deadline, || async {
                self.instantiate(deadline).await.map(drop)
            })
            .unwrap_or_else(|| Err(self.deadline_error()))
    }

    /// The instance's WASI context, and what its read-write grants hold.
    fn wasi_ctx(&self) -> wasmtime::Result<(wasmtime_wasi::WasiCtx, Usage)> {
        let grants = &self.ctx.grants;
        let mut b = WasiCtxBuilder::new();
        b.stdout(GuestOutput::stdout(self.ctx.clone()))
            .stderr(GuestOutput::stderr(self.ctx.clone()))
            // File operations go to tokio's blocking pool, where the call's
            // timeout can leave them behind: a read that never returns (a
            // hung sysfs file, a FIFO) must not hold the call past its
            // deadline.
            .allow_blocking_current_thread(false)
            .allow_ip_name_lookup(false)
            .allow_tcp(grants.uses_tcp())
            .allow_udp(grants.uses_udp());
        let mut fs_used = Usage::default();
        // WASI opens each preopen by path: the path names the directory
        // opened here beneath its grant (open until the end of the loop's
        // turn, after WASI has opened it too).
        for p in &grants.fs {
            let perms = match p.mode {
                FsMode::ReadOnly => FsPerms::ReadOnly,
                FsMode::ReadWrite => FsPerms::ReadWrite,
            };
            let dir = preopens::open(p).map_err(wasmtime::Error::msg)?;
            if p.mode == FsMode::ReadWrite {
                let max = u64::from(self.limits().fs_entries);
                let used = preopens::usage(&dir, max).map_err(|e| {
                    wasmtime::Error::msg(format!("cannot measure '{}': {e}", p.host().display()))
                })?;
                fs_used.bytes = fs_used.bytes.saturating_add(used.bytes);
                fs_used.entries = fs_used.entries.saturating_add(used.entries);
            }
            let path = preopens::fd_path(&dir).map_err(wasmtime::Error::msg)?;
            b.preopened_dir(&path, &p.guest, perms).map_err(|e| {
                wasmtime::Error::msg(format!(
                    "cannot open granted directory '{}': {e}",
                    p.host().display()
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
        Ok((b.build(), fs_used))
    }

    fn deadline_error(&self) -> CallError {
        CallError::Deadline {
            plugin: self.name().to_string(),
            timeout_ms: self.limits().call_timeout_ms.into(),
        }
    }

    /// Runs `f` on the live instance (creating one if needed) under the
    /// deadline, the memory cap and the CPU budget. A trap discards the
    /// instance; repeated failures quarantine this version.
    pub fn call<R: Send>(
        &self,
        driver: &CallDriver,
        f: impl AsyncFnOnce(&mut Store<StoreState>, &Exports) -> wasmtime::Result<R> + Send,
    ) -> Result<R, CallError> {
        if let Err(remaining) = lock(&self.health).admit_now() {
            return Err(CallError::Quarantined {
                plugin: self.name().to_string(),
                remaining_ms: remaining.as_millis() as u64,
            });
        }
        let started = Instant::now();
        let (mut result, cpu) = self.call_live(driver, started, f);
        // Every call's CPU counts; one that answered fails when it took the
        // plugin over its budget: a plugin spinning just under its deadline
        // on every call fails like one that overruns it. (A call that failed
        // already keeps its own error.)
        if let Err(over) = self.charge_cpu(started, cpu)
            && result.is_ok()
        {
            tracing::warn!(plugin = %self.name(), error = %over, "plugin over its CPU budget");
            result = Err(over);
        }
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

    /// The outcome of a call asked for at `asked`, and the CPU time it used.
    fn call_live<R: Send>(
        &self,
        driver: &CallDriver,
        asked: Instant,
        f: impl AsyncFnOnce(&mut Store<StoreState>, &Exports) -> wasmtime::Result<R> + Send,
    ) -> (Result<R, CallError>, Duration) {
        // Calls to one plugin take turns, waiting here, before their
        // deadline starts: a call queued behind another is not cut short.
        let (mut slot, starts) = match self.live.try_lock() {
            Ok(slot) => (slot, asked),
            Err(TryLockError::Poisoned(p)) => (p.into_inner(), asked),
            // Its deadline starts once its turn has come.
            Err(TryLockError::WouldBlock) => (lock(&self.live), Instant::now()),
        };
        let live = slot.take();
        let timeout = self.limits().timeout();
        let deadline = starts + timeout;
        // Boxed where it is made: the call's state is large, and each layer
        // taking it by value would copy it.
        let outcome = driver.run(deadline, || {
            Box::pin(cpu::busy(async move {
                // Guest code gets what is left of the call's time: all of
                // it, unless an instance had to be made first.
                let (live, ticks) = match live {
                    Some(live) => (Ok(live), ticks_in(timeout)),
                    None => {
                        // Boxed: the instantiation's state is large, and
                        // this future is moved on every call.
                        let fresh = Box::pin(self.instantiate(deadline)).await;
                        let left = deadline.saturating_duration_since(Instant::now());
                        (fresh, ticks_in(left))
                    }
                };
                let Live { mut store, exports } = match live {
                    Ok(live) => live,
                    Err(e) => return (Err(e), Duration::ZERO),
                };
                let state = store.data_mut();
                state.deadline = deadline;
                state.waited = Duration::ZERO;
                store.set_epoch_deadline(ticks);
                let result = f(&mut store, &exports).await;
                let waited = store.data().waited;
                match result {
                    Ok(r) => (Ok((r, Live { store, exports })), waited),
                    // The instance may be mid-way through anything: it is
                    // dropped; the next call gets a fresh one.
                    Err(e) => (Err(self.classify(&e, &store)), waited),
                }
            }))
        });
        // The call's CPU time: what it kept the thread busy, less what the
        // host's own imports spent waiting on I/O.
        let outcome = outcome.map(|((result, waited), busy)| (result, busy.saturating_sub(waited)));
        let (result, cpu) = match outcome {
            Some(done) => done,
            // The timeout dropped the call and its instance with it; the
            // call was waiting in an import, not spending CPU.
            None => (Err(self.deadline_error()), Duration::ZERO),
        };
        match result {
            Ok((r, live)) => {
                *slot = Some(live);
                (Ok(r), cpu)
            }
            Err(error) => {
                tracing::warn!(plugin = %self.name(), error = %error, "plugin instance discarded");
                (Err(error), cpu)
            }
        }
    }

    /// Adds the CPU time of a call made at `at` to the plugin's window.
    fn charge_cpu(&self, at: Instant, cpu: Duration) -> Result<(), CallError> {
        let mut window = lock(&self.cpu);
        window.record(at, cpu).map_err(|used| CallError::CpuBudget {
            plugin: self.name().to_string(),
            used_ms: used.as_millis() as u64,
            budget_ms: window.budget().as_millis() as u64,
        })
    }

    fn classify(&self, e: &wasmtime::Error, store: &Store<StoreState>) -> CallError {
        let plugin = self.name().to_string();
        if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return self.deadline_error();
        }
        if store.data().limiter.hit() {
            return CallError::MemoryCap {
                plugin,
                limit: self.limits().memory_bytes(),
            };
        }
        let table_full = e
            .chain()
            .any(|c| matches!(c.downcast_ref(), Some(ResourceTableError::Full)));
        if table_full {
            return CallError::Handles {
                plugin,
                limit: self.limits().handles,
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

/// Epoch ticks in `time`: when guest code meets its deadline.
fn ticks_in(time: Duration) -> u64 {
    // One extra tick: the first may come at once.
    (time.as_nanos() / EPOCH_TICK.as_nanos()) as u64 + 1
}

/// A poisoned lock means a panic while held; the data (an instance slot or
/// a failure count) is still safe to use, and the panic was reported.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
