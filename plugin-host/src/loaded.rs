//! One verified, compiled plugin version: its `InstancePre`, its live
//! instance, and the call path with deadline, memory cap and quarantine.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable, ResourceTableError};
use wasmtime::{Engine, Store};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::api::Api;
use super::cpu::{self, CpuWindow};
use super::deadline::{CallDriver, EPOCH_TICK};
use super::host_api::filesystem::{FsQuota, Usage};
use super::host_api::preopens;
use super::host_api::stdio::GuestOutput;
use super::host_api::{InstanceLimiter, PluginContext, StoreState};
use super::kinds::{Exports, KindPre};
use super::limits::PluginLimits;
use super::manifest::{FsMode, NetProtocol};
use super::manifest::{Manifest, PluginKind, PluginName};
use super::package::Provenance;
use super::quarantine::{Health, QuarantinePolicy};
use super::trust::PackageDigest;

/// Why a call to a plugin failed. `Deadline`, `MemoryCap`, `Handles`,
/// `CpuBudget` and `Trap` are the plugin's doing and count towards its
/// quarantine; the others do not.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    /// No plugin of this name is loaded; holds the name.
    #[error("plugin '{0}' is not loaded")]
    NotLoaded(String),
    /// The plugin failed too often in a row; it is not called until its
    /// quarantine ends.
    #[error("plugin '{plugin}' is quarantined for {remaining_ms} ms more after repeated failures")]
    Quarantined {
        /// The plugin's name.
        plugin: String,
        /// Milliseconds until it is called again.
        remaining_ms: u64,
    },
    /// The call (with the instantiation it needed) ran past the plugin's
    /// `call_timeout_ms`; its instance was dropped.
    #[error("plugin '{plugin}' was stopped at its {timeout_ms} ms deadline")]
    Deadline {
        /// The plugin's name.
        plugin: String,
        /// The deadline, in milliseconds.
        timeout_ms: u64,
    },
    /// The instance tried to grow a memory or table past the plugin's
    /// `memory_mb`; it was dropped.
    #[error("plugin '{plugin}' was stopped at its memory cap of {limit} bytes")]
    MemoryCap {
        /// The plugin's name.
        plugin: String,
        /// The cap, in bytes.
        limit: usize,
    },
    /// The instance tried to hold more resources (WASI handles, device
    /// channels) than the plugin's `handles` limit; it was dropped.
    #[error("plugin '{plugin}' was stopped: it tried to hold more than {limit} open handles")]
    Handles {
        /// The plugin's name.
        plugin: String,
        /// The `handles` limit.
        limit: u32,
    },
    /// The call answered, but took the plugin's CPU time over its
    /// `cpu_percent` budget for the last 10 s; the answer is discarded.
    #[error(
        "plugin '{plugin}' used {used_ms} ms of CPU in the last 10 s, over its budget of {budget_ms} ms (cpu_percent)"
    )]
    CpuBudget {
        /// The plugin's name.
        plugin: String,
        /// CPU time used in the last 10 s, in milliseconds.
        used_ms: u64,
        /// The budget for those 10 s, in milliseconds.
        budget_ms: u64,
    },
    /// The guest trapped, or the call failed for another reason than a
    /// limit; its instance was dropped.
    #[error("plugin '{plugin}' trapped: {message}")]
    Trap {
        /// The plugin's name.
        plugin: String,
        /// wasmtime's error, with its causes.
        message: String,
    },
    /// No instance could be made: a granted directory could not be opened,
    /// or instantiating failed other than at a limit (a trap while
    /// starting, a full instance pool).
    #[error("plugin '{plugin}' cannot be instantiated: {message}")]
    Instantiate {
        /// The plugin's name.
        plugin: String,
        /// What failed, with its causes.
        message: String,
    },
    /// The caller named a function the plugin's kind does not have.
    #[error(
        "plugin '{plugin}' is a {kind} plugin; it has no function '{function}' (it has: {available})"
    )]
    NoSuchFunction {
        /// The plugin's name.
        plugin: String,
        /// The plugin's kind, which fixes its functions.
        kind: PluginKind,
        /// The name asked for.
        function: String,
        /// The kind's functions, comma-separated.
        available: String,
    },
    /// The JSON arguments do not fit the function's parameters.
    #[error("bad arguments for '{function}': {reason}")]
    BadArguments {
        /// The function called.
        function: String,
        /// What does not fit.
        reason: String,
    },
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

struct Live {
    store: Store<StoreState>,
    exports: Exports,
}

/// One loaded version of a plugin. The host shares it as an `Arc`: a call
/// in flight keeps the version it started on alive across a hot swap.
pub struct LoadedPlugin {
    /// Its `plugin.toml`.
    pub manifest: Manifest,
    /// The package directory it was loaded from.
    pub dir: PathBuf,
    /// The SHA-256 digests of its manifest and component; loading the same
    /// digest from the same directory again swaps nothing.
    pub digest: PackageDigest,
    /// Who signed it, or why development mode ran it unsigned.
    pub provenance: Provenance,
    /// Its grants, config, limits and log budget, shared with its instances.
    pub(crate) ctx: Arc<PluginContext>,
    engine: Engine,
    pre: KindPre,
    /// At most one live instance; calls to one plugin are serialised.
    live: Mutex<Option<Live>>,
    health: Mutex<Health>,
    quarantine: QuarantinePolicy,
    cpu: Mutex<CpuWindow>,
}

/// Everything needed to build a [`LoadedPlugin`].
pub(crate) struct LoadParts {
    pub manifest: Manifest,
    pub dir: PathBuf,
    pub digest: PackageDigest,
    pub provenance: Provenance,
    pub ctx: Arc<PluginContext>,
    pub quarantine: QuarantinePolicy,
    /// The API version the component was built against (its section,
    /// which the manifest's `api` matched).
    pub api: Api,
}

impl LoadedPlugin {
    /// Links the component against the host imports and checks it exports
    /// what its kind requires. The error text says what is missing.
    pub(crate) fn link(
        engine: &Engine,
        linker: &Linker<StoreState>,
        component: &Component,
        parts: LoadParts,
    ) -> wasmtime::Result<LoadedPlugin> {
        let pre = linker.instantiate_pre(component)?;
        let pre = KindPre::new(parts.manifest.kind, parts.api, pre)?;
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

    /// Its name, from its manifest.
    pub fn name(&self) -> &PluginName {
        &self.manifest.name
    }

    /// Its kind, from its manifest; it fixes the functions it exports.
    pub fn kind(&self) -> PluginKind {
        self.manifest.kind
    }

    /// What it may use: its request intersected with the device's grant.
    pub fn grants(&self) -> &crate::EffectiveGrants {
        &self.ctx.grants
    }

    /// Its limits: the device's, with its overrides, memory capped by the
    /// pool's slot.
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
        let exports = self.pre.instantiate(&mut store).await;
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

    /// Plugin faults since its last successful call. After a quarantine it
    /// stays one short of the threshold until a call succeeds.
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
