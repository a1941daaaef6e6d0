//! The plugin host: loads packages, keeps the current version of each
//! plugin, routes calls, and swaps versions atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::api::{self, Api};
use super::cache::{CacheOutcome, CompileCache};
use super::call;
use super::deadline::CallDriver;
use super::engine::{self, PoolLimits};
use super::grants::{self, EffectiveGrants};
use super::host_api::device::{DeviceProvider, DeviceTable};
use super::host_api::http::{CaFileError, HttpSettings, HttpTransport, UreqTransport};
use super::host_api::kv::KvStore;
use super::host_api::log::LogBudget;
use super::host_api::{self, HostServices, PluginContext, StoreState};
use super::limits::{LimitOverrides, PluginLimits};
use super::loaded::{CallError, LoadParts, LoadedPlugin};
use super::manifest::{Capabilities, PluginKind, PluginName};
use super::package::{Package, PackageError, Provenance, TrustPolicy};
use super::quarantine::QuarantinePolicy;
use super::versions::NewestVersions;

/// What the device config says about one plugin.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    /// What the device grants; intersected with what the manifest requests.
    #[serde(default)]
    pub grants: Capabilities,
    /// Overrides of the manifest's `[config]` defaults.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Overrides of the device's `[limits]` for this plugin.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// Let an older version replace the newest one this device has run
    /// (rollback protection is on by default).
    #[serde(default)]
    pub allow_downgrade: bool,
}

/// How the host runs, from the device config.
#[derive(Debug, Clone, Default)]
pub struct HostSettings {
    /// Whose signatures make a package run, and whether unsigned ones may.
    pub trust: TrustPolicy,
    /// Each plugin's grants, config and limit overrides. A plugin absent
    /// here is granted nothing and runs with its manifest's config and the
    /// device's limits.
    pub plugins: BTreeMap<PluginName, PluginSettings>,
    /// Every plugin's limits, unless its settings override them.
    pub limits: PluginLimits,
    /// The instance pool all plugins share; its memory slot also caps every
    /// plugin's `memory_mb`.
    pub pool: PoolLimits,
    /// Where the compile cache and the plugins' key-value store live.
    /// `None`: no cache and no `kv` capability (one-off CLI calls).
    pub state_dir: Option<PathBuf>,
    /// When a plugin that keeps failing stops being called, and for how long.
    pub quarantine: QuarantinePolicy,
    /// Where each device name a `device` grant may use leads. Only
    /// [`PluginHost::new`] reads it; [`PluginHost::with_transports`] takes
    /// its own provider.
    pub devices: DeviceTable,
    /// The real HTTP transport's settings (extra CA certificates).
    pub http: HttpSettings,
}

/// Why a [`PluginHost`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// wasmtime refused the engine's configuration or the host imports, or
    /// the deadline threads could not be started; holds the cause.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// The compile cache or the plugins' key-value store under the state
    /// directory could not be opened.
    #[error("cannot open the state directory '{}': {reason}", path.display())]
    State {
        /// The state directory.
        path: PathBuf,
        /// What failed, from the cache or the store.
        reason: String,
    },
    /// A CA file of the HTTP settings cannot be used.
    #[error("cannot set up HTTPS: {0}")]
    Http(#[from] CaFileError),
    /// The device config grants a directory a plugin could subvert or use
    /// to reach the runtime's state (see [`grants::check_device_grants`]);
    /// holds which, for the operator.
    #[error("refused grant: {0}")]
    Grants(String),
}

/// Why a package was not loaded. Nothing changed: a version already
/// running keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The package could not be read, or its signature is not trusted.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// wasmtime could not compile the component.
    #[error("'{}' is not a valid component: {reason}", path.display())]
    Compile {
        /// The component file.
        path: PathBuf,
        /// wasmtime's error, with its causes.
        reason: String,
    },
    /// The component imports something the host does not give, or lacks an
    /// export its kind requires.
    #[error("'{}' does not fit the {kind} world of api {api}: {reason}", path.display())]
    Link {
        /// The component file.
        path: PathBuf,
        /// The kind its manifest declares.
        kind: PluginKind,
        /// The API version its manifest names.
        api: String,
        /// What is missing or does not match, from wasmtime.
        reason: String,
    },
    /// The component was built against another API version than its
    /// manifest names, or against one this host does not serve.
    #[error("'{}' is refused: {reason}", path.display())]
    Api {
        /// The component file.
        path: PathBuf,
        /// Which versions disagree, or which one is not served.
        reason: String,
    },
    /// The plugin's `self-check` returned an error, or the call to it
    /// failed (a trap, its deadline, a limit).
    #[error("'{}' failed its self-check: {reason}", path.display())]
    SelfCheck {
        /// The component file.
        path: PathBuf,
        /// The call's error, or the plugin's error code and message.
        reason: String,
    },
    /// The package is older than the newest version of its plugin that runs
    /// or has run on this device, and the device config does not set
    /// `allow_downgrade` for it.
    #[error(
        "'{}' is refused: {name} {version} is older than {newest}, which this device has run \
         (set allow_downgrade for the plugin in the device config to allow it)",
        path.display()
    )]
    Downgrade {
        /// The package's `plugin.toml`.
        path: PathBuf,
        /// The plugin.
        name: PluginName,
        /// The refused package's version.
        version: String,
        /// The newest version running now or recorded as run.
        newest: String,
    },
    /// The package runs only in development mode, and the device left
    /// development mode while it was being loaded.
    #[error("'{}' is refused: the device left development mode while the unsigned package loaded", path.display())]
    LeftDevelopment {
        /// The package directory.
        path: PathBuf,
    },
    /// The record of the newest version of each plugin run here could not
    /// be read or written; the package is refused rather than risk a
    /// downgrade.
    #[error("cannot read or record the newest version of '{name}': {reason}")]
    Versions {
        /// The plugin.
        name: PluginName,
        /// The store's error.
        reason: String,
    },
}

/// What a successful load did.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The plugin loaded.
    pub name: PluginName,
    /// Its version, now current.
    pub version: semver::Version,
    /// The version it replaced: `None` if the plugin was not loaded, the
    /// same as `version` if the package was unchanged.
    pub previous: Option<semver::Version>,
    /// Whether the component was compiled, taken from the cache, or needed
    /// neither.
    pub cache: CacheOutcome,
    /// The key that signed the package (`ed25519:<hex>`); `None` when
    /// development mode accepted it unsigned.
    pub signed_by: Option<String>,
    /// Wall-clock time of the whole load, in milliseconds.
    pub elapsed_ms: f64,
}

/// What `osb plugin inspect` and `status` show of a loaded plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// The plugin.
    pub name: PluginName,
    /// Its current version.
    pub version: semver::Version,
    /// Its kind, which fixes its functions.
    pub kind: PluginKind,
    /// The `osb:plugin` WIT version it was built against (and its manifest
    /// names).
    pub api: String,
    /// The manifest's description; empty if it has none.
    pub description: String,
    /// What the manifest asks for.
    pub requested: Capabilities,
    /// What it may use: the request intersected with the device's grant,
    /// and what was denied.
    pub granted: EffectiveGrants,
    /// The functions its kind exports, as [`PluginHost::call_json`] names
    /// them.
    pub exports: Vec<&'static str>,
    /// The key that signed the package (`ed25519:<hex>`); `None` when
    /// development mode accepted it unsigned.
    pub signed_by: Option<String>,
    /// The component's SHA-256, as 64 lowercase hex digits.
    pub component_sha256: String,
    /// The package directory it was loaded from.
    pub dir: PathBuf,
}

/// The compile cache, under the state directory.
pub const CACHE_DIR: &str = "cache";

/// The loaded plugins by name, and the engine, host imports and deadline
/// threads they share. A load swaps a plugin's version atomically: calls
/// in flight finish on the version they started on.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<StoreState>,
    driver: CallDriver,
    cache: Option<CompileCache>,
    /// The newest version of each plugin this device has run (none
    /// without a state directory: then only what runs now counts).
    newest: Option<NewestVersions>,
    settings: HostSettings,
    /// Whether unsigned packages are accepted now: the device's mode
    /// changes while the host runs ([`PluginHost::set_development`]), so
    /// `settings.trust.development` is only where it started. Written
    /// under the `plugins` lock, so that no unsigned plugin is swapped in
    /// after a switch to production has unloaded the others.
    development: AtomicBool,
    services: Arc<HostServices>,
    plugins: RwLock<BTreeMap<PluginName, Arc<LoadedPlugin>>>,
}

impl PluginHost {
    /// A host reaching the real network and devices.
    pub fn new(settings: HostSettings) -> Result<PluginHost, HostError> {
        let devices = Arc::new(settings.devices.clone());
        let http = Arc::new(UreqTransport::new(&settings.http)?);
        PluginHost::with_transports(settings, http, devices)
    }

    /// A host whose HTTP and device transports are given: the SDK harness
    /// passes canned answers and scripted devices here.
    pub fn with_transports(
        settings: HostSettings,
        http: Arc<dyn HttpTransport>,
        devices: Arc<dyn DeviceProvider>,
    ) -> Result<PluginHost, HostError> {
        if let Some(state) = &settings.state_dir {
            grants::check_device_grants(
                settings.plugins.iter().map(|(name, p)| (name, &p.grants)),
                Some(state),
                &[("the compile cache", state.join(CACHE_DIR))],
            )
            .map_err(HostError::Grants)?;
        }
        let engine =
            engine::new_engine(&settings.pool).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let linker = host_api::linker(&engine).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let driver = CallDriver::start(&engine).map_err(|e| HostError::Engine(e.to_string()))?;
        let (cache, kv) = match &settings.state_dir {
            None => (None, None::<KvStore>),
            Some(dir) => {
                let state_err = |reason: String| HostError::State {
                    path: dir.clone(),
                    reason,
                };
                let cache = CompileCache::open(&dir.join(CACHE_DIR), &engine)
                    .map_err(|e| state_err(e.to_string()))?;
                let kv = KvStore::open(&dir.join("plugin-kv.redb"))
                    .map_err(|e| state_err(e.to_string()))?;
                (Some(cache), Some(kv))
            }
        };
        if settings.trust.development {
            tracing::warn!(
                "DEVELOPMENT MODE: unsigned plugins are accepted; never run a production device like this"
            );
        }
        Ok(PluginHost {
            engine,
            linker,
            driver,
            cache,
            newest: kv.as_ref().map(|kv| NewestVersions::new(kv.database())),
            services: Arc::new(HostServices { kv, http, devices }),
            development: AtomicBool::new(settings.trust.development),
            settings,
            plugins: RwLock::new(BTreeMap::new()),
        })
    }

    /// The settings the host was built with; [`PluginHost::development`]
    /// says whether unsigned packages are accepted now.
    pub fn settings(&self) -> &HostSettings {
        &self.settings
    }

    /// Whether unsigned packages are accepted now.
    pub fn development(&self) -> bool {
        self.development.load(Ordering::SeqCst)
    }

    /// Accepts unsigned packages from now on, or refuses them and unloads
    /// every loaded plugin that runs unsigned; returns those unloaded (calls
    /// in flight finish on them). Leaving development mode never leaves an
    /// unsigned plugin loaded: a load in progress checks the mode again
    /// when it swaps in. Entering it loads nothing by itself: the caller
    /// loads the packages it wants ([`PluginHost::load_all`]).
    pub fn set_development(&self, on: bool) -> Vec<PluginName> {
        let mut plugins = self.plugins.write().unwrap_or_else(|p| p.into_inner());
        let was = self.development.swap(on, Ordering::SeqCst);
        if on {
            if !was {
                tracing::warn!(
                    "DEVELOPMENT MODE: unsigned plugins are accepted; never run a production device like this"
                );
            }
            return Vec::new();
        }
        let unsigned: Vec<PluginName> = plugins
            .iter()
            .filter(|(_, p)| matches!(p.provenance, Provenance::Unsigned { .. }))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &unsigned {
            plugins.remove(name);
            tracing::warn!(plugin = %name, "production mode: unsigned plugin unloaded");
        }
        unsigned
    }

    /// The loaded plugins that run unsigned (development mode accepted
    /// them), in name order.
    pub fn unsigned(&self) -> Vec<PluginName> {
        let plugins = self.plugins.read().unwrap_or_else(|p| p.into_inner());
        plugins
            .iter()
            .filter(|(_, p)| matches!(p.provenance, Provenance::Unsigned { .. }))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// How packages are trusted now.
    fn trust(&self) -> TrustPolicy {
        TrustPolicy {
            trusted_keys: self.settings.trust.trusted_keys.clone(),
            development: self.development(),
        }
    }

    /// Verifies, compiles, links and self-checks the package in `dir`, then
    /// makes it the plugin's current version. On any failure nothing
    /// changes: a version already running keeps serving.
    pub fn load(&self, dir: &Path) -> Result<LoadReport, LoadError> {
        let started = Instant::now();
        let package = Package::read(dir)?;
        let span = tracing::info_span!("plugin_load", plugin = %package.manifest.name, version = %package.manifest.version);
        let _enter = span.enter();
        if let Some(current) = self.get(&package.manifest.name)
            && current.digest == package.digest
            && current.dir == package.dir
        {
            // The same bytes from the same place: nothing to swap.
            tracing::debug!("plugin package unchanged");
            return Ok(LoadReport {
                name: current.name().clone(),
                version: current.manifest.version.clone(),
                previous: Some(current.manifest.version.clone()),
                cache: CacheOutcome::Unchanged,
                signed_by: signed_by(&current.provenance),
                elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
            });
        }
        let (plugin, cache) = self.prepare(package)?;
        let signed_by = signed_by(&plugin.provenance);
        if let Some(newest) = &self.newest {
            newest
                .record(plugin.name(), &plugin.manifest.version)
                .map_err(|e| LoadError::Versions {
                    name: plugin.name().clone(),
                    reason: e.to_string(),
                })?;
        }
        let previous = self.swap_in(plugin.clone())?;
        let report = LoadReport {
            name: plugin.name().clone(),
            version: plugin.manifest.version.clone(),
            previous,
            cache,
            signed_by,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        tracing::info!(cache = ?report.cache, previous = ?report.previous.as_ref().map(ToString::to_string), elapsed_ms = report.elapsed_ms, "plugin loaded");
        Ok(report)
    }

    /// Everything of a load except making it current.
    fn prepare(&self, package: Package) -> Result<(Arc<LoadedPlugin>, CacheOutcome), LoadError> {
        let provenance = package.check_trust(&self.trust())?;
        if let Provenance::Unsigned { reason } = &provenance {
            tracing::warn!(reason = %reason, "DEVELOPMENT MODE: running a package without a valid signature");
        }
        self.check_not_older(&package)?;
        let component_path = package.component_path();
        let api = check_api(&package).map_err(|reason| LoadError::Api {
            path: component_path.clone(),
            reason,
        })?;
        let compile_err = |e: wasmtime::Error| LoadError::Compile {
            path: component_path.clone(),
            reason: format!("{e:#}"),
        };
        let (component, cache) = match &self.cache {
            Some(cache) => cache
                .load_or_compile(&self.engine, &package.digest, &package.component)
                .map_err(compile_err)?,
            None => (
                Component::new(&self.engine, &package.component).map_err(compile_err)?,
                CacheOutcome::Disabled,
            ),
        };
        if matches!(cache, CacheOutcome::Miss | CacheOutcome::Disabled) {
            engine::release_compiler_memory();
        }
        let manifest = package.manifest;
        let settings = self
            .settings
            .plugins
            .get(&manifest.name)
            .cloned()
            .unwrap_or_default();
        let effective = EffectiveGrants::decide(&manifest.capabilities, &settings.grants);
        grants::log_denials(&manifest.name, &effective);
        let mut config = manifest.config.clone();
        config.extend(settings.config.clone());
        let mut limits = self.settings.limits.overridden(&settings.limits);
        // No memory grows past the pool's slot size, whatever the config says.
        let pool_mb = u32::try_from(self.settings.pool.max_memory_bytes >> 20).unwrap_or(u32::MAX);
        limits.memory_mb = limits.memory_mb.min(pool_mb);
        let ctx = Arc::new(PluginContext {
            name: manifest.name.clone(),
            grants: effective,
            config,
            limits,
            services: self.services.clone(),
            log: LogBudget::new(&limits),
        });
        let (kind, api_name) = (manifest.kind, manifest.api.to_string());
        let parts = LoadParts {
            manifest,
            dir: package.dir,
            digest: package.digest,
            provenance,
            ctx,
            quarantine: self.settings.quarantine,
            api,
        };
        let plugin =
            LoadedPlugin::link(&self.engine, &self.linker, &component, parts).map_err(|e| {
                LoadError::Link {
                    path: component_path.clone(),
                    kind,
                    api: api_name,
                    reason: format!("{e:#}"),
                }
            })?;
        let checked = plugin
            .call(&self.driver, async |store, exports| {
                exports.self_check(store).await
            })
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| format!("{:?}: {}", e.code, e.message)));
        if let Err(reason) = checked {
            return Err(LoadError::SelfCheck {
                path: component_path,
                reason,
            });
        }
        Ok((Arc::new(plugin), cache))
    }

    /// Refuses a package older than the newest version of its plugin that
    /// runs now or ever ran here, unless the device config allows it.
    fn check_not_older(&self, package: &Package) -> Result<(), LoadError> {
        let name = &package.manifest.name;
        let allowed = self
            .settings
            .plugins
            .get(name)
            .is_some_and(|p| p.allow_downgrade);
        if allowed {
            return Ok(());
        }
        let running = self.get(name).map(|p| p.manifest.version.clone());
        let recorded = match &self.newest {
            Some(newest) => newest.get(name).map_err(|e| LoadError::Versions {
                name: name.clone(),
                reason: e.to_string(),
            })?,
            None => None,
        };
        match running.into_iter().chain(recorded).max() {
            Some(newest) if newest > package.manifest.version => Err(LoadError::Downgrade {
                path: package.dir.join(super::package::MANIFEST_FILE),
                name: name.clone(),
                version: package.manifest.version.to_string(),
                newest: newest.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Makes `plugin` current, unless it runs unsigned and the device has
    /// left development mode since its trust was checked.
    fn swap_in(&self, plugin: Arc<LoadedPlugin>) -> Result<Option<semver::Version>, LoadError> {
        let mut plugins = self.plugins.write().unwrap_or_else(|p| p.into_inner());
        if matches!(plugin.provenance, Provenance::Unsigned { .. }) && !self.development() {
            return Err(LoadError::LeftDevelopment {
                path: plugin.dir.clone(),
            });
        }
        Ok(plugins
            .insert(plugin.name().clone(), plugin)
            .map(|old| old.manifest.version.clone()))
    }

    /// Removes a plugin; calls in flight finish on it.
    pub fn unload(&self, name: &PluginName) -> bool {
        let mut plugins = self.plugins.write().unwrap_or_else(|p| p.into_inner());
        plugins.remove(name).is_some()
    }

    /// Loads every package directory under `dir`, returning each outcome.
    pub fn load_all(&self, dir: &Path) -> Vec<(PathBuf, Result<LoadReport, LoadError>)> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            tracing::warn!(dir = %dir.display(), "plugin directory cannot be read");
            return out;
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(super::package::MANIFEST_FILE).is_file())
            .collect();
        dirs.sort();
        for d in dirs {
            let r = self.load(&d);
            if let Err(e) = &r {
                tracing::error!(error = %e, "plugin refused");
            }
            out.push((d, r));
        }
        out
    }

    /// The current version of `name`, if it is loaded. Holding it keeps
    /// that version alive across a swap.
    pub fn get(&self, name: &PluginName) -> Option<Arc<LoadedPlugin>> {
        let plugins = self.plugins.read().unwrap_or_else(|p| p.into_inner());
        plugins.get(name).cloned()
    }

    pub(crate) fn current(&self, name: &PluginName) -> Result<Arc<LoadedPlugin>, CallError> {
        self.get(name)
            .ok_or_else(|| CallError::NotLoaded(name.to_string()))
    }

    /// The loaded plugins, in name order.
    pub fn names(&self) -> Vec<PluginName> {
        let plugins = self.plugins.read().unwrap_or_else(|p| p.into_inner());
        plugins.keys().cloned().collect()
    }

    /// Each loaded plugin's package directory.
    pub fn package_dirs(&self) -> BTreeMap<PathBuf, PluginName> {
        let plugins = self.plugins.read().unwrap_or_else(|p| p.into_inner());
        plugins
            .values()
            .map(|p| (p.dir.clone(), p.name().clone()))
            .collect()
    }

    /// What `osb plugin inspect` shows of `name`, if it is loaded.
    pub fn info(&self, name: &PluginName) -> Option<PluginInfo> {
        self.get(name).map(|p| info_of(&p))
    }

    /// Calls `function` with JSON arguments; see [`call::call_json`].
    pub fn call_json(
        &self,
        name: &PluginName,
        function: &str,
        args: &serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        let plugin = self.current(name)?;
        let _span = tracing::debug_span!("plugin_call", plugin = %name, function).entered();
        call::call_json(&plugin, &self.driver, function, args)
    }

    /// What drives calls under their deadlines, for the kinds' typed calls.
    pub(crate) fn driver(&self) -> &CallDriver {
        &self.driver
    }

    /// A fresh instance of a loaded plugin, dropped at once; for the
    /// instantiation benchmark.
    pub fn instantiate_fresh(&self, name: &PluginName) -> Result<(), CallError> {
        self.current(name)?.instantiate_fresh(&self.driver)
    }
}

fn info_of(p: &LoadedPlugin) -> PluginInfo {
    PluginInfo {
        name: p.name().clone(),
        version: p.manifest.version.clone(),
        kind: p.kind(),
        api: p.manifest.api.to_string(),
        description: p.manifest.description.clone(),
        requested: p.manifest.capabilities.clone(),
        granted: p.ctx.grants.clone(),
        exports: p.kind().functions().to_vec(),
        signed_by: signed_by(&p.provenance),
        component_sha256: p.digest.component_hex(),
        dir: p.dir.clone(),
    }
}

/// The API version the component was built against, which must be the one
/// its manifest names and one this host serves.
fn check_api(package: &Package) -> Result<Api, String> {
    let built = api::component_api(&package.component)?;
    let named = &package.manifest.api;
    if built != *named {
        return Err(format!(
            "plugin.toml says api {named}, but the component was built against {built}"
        ));
    }
    built.supported()
}

fn signed_by(provenance: &Provenance) -> Option<String> {
    match provenance {
        Provenance::Signed(k) => Some(k.to_string()),
        Provenance::Unsigned { .. } => None,
    }
}

/// The export names of a component, for `osb plugin inspect`. A plain
/// engine: listing exports needs no instance pool or deadlines.
pub fn component_exports(bytes: &[u8]) -> wasmtime::Result<Vec<String>> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config)?;
    let component = Component::new(&engine, bytes)?;
    Ok(component
        .component_type()
        .exports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect())
}
