//! What `osb apply`, `osb status` and `osb daemon` share: where the block
//! state lives, which runtime instance this is, and reading a target file
//! (target-state JSON, a balena target state, or a compose file).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use osb_runtime::apply::ApplySettings;
use osb_runtime::config::DeviceConfig;
use osb_runtime::time::published::{self, DaemonTime};
use osb_state::target::{AppClass, FormatVersion, ReleaseStatus};
use osb_state::{AppName, TargetState, balena, compose};

mod compose_files;
use compose_files::ComposeDir;

#[derive(Debug, Args)]
pub struct BlockArgs {
    /// Where the runtime keeps its state (block store, update locks,
    /// compile cache, plugin key-value store). Default: the device config's
    /// `state_dir`.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// The runtime instance: engine objects carry it in `io.osb.runtime`,
    /// so two runtimes can share an engine without touching each other's
    /// blocks.
    /// Engine object names carry it too (`<instance>.<app>...`), except
    /// for the default.
    #[arg(long, env = "OSB_INSTANCE", default_value = osb_engine::DEFAULT_INSTANCE, value_parser = parse_instance)]
    pub instance: String,
    /// Steps run at once (creates, starts, pulls...): the engine, not the
    /// runtime, is what limits how many help.
    #[arg(long, default_value_t = 16)]
    pub parallel: usize,
    /// Disk space, in MiB, a pull must leave free beyond the image itself.
    #[arg(long, default_value_t = 256)]
    pub disk_reserve_mb: u64,
}

fn parse_instance(instance: &str) -> Result<String, String> {
    osb_engine::check_instance(instance).map(|()| instance.to_owned())
}

impl BlockArgs {
    pub fn settings(&self, config: &DeviceConfig) -> ApplySettings {
        let mut settings = ApplySettings::new(
            self.state_dir
                .clone()
                .unwrap_or_else(|| config.state_dir.clone()),
        );
        settings.instance = self.instance.clone();
        settings.concurrency = self.parallel.max(1);
        settings.disk_reserve = self.disk_reserve_mb.saturating_mul(1 << 20);
        settings.registries = config.registries.clone();
        settings
    }
}

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// For a compose file: the app's name. Default: the file's `name:`,
    /// else its directory's name.
    #[arg(long)]
    pub app: Option<String>,
    /// For a compose file: the release version.
    #[arg(long, default_value = "0.0.0")]
    pub release: semver::Version,
    /// For a compose file: the variables `${VAR}` is interpolated from, in
    /// compose's .env syntax. Default: the `.env` beside the compose file,
    /// if there is one.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// For a compose file: interpolate from this process's environment
    /// too, which wins over the env file (as in compose). Off by default,
    /// so what a device's own environment holds does not end up in its
    /// blocks.
    #[arg(long)]
    pub env_from_process: bool,
}

/// Reads a target: JSON in the target-state format, a balena target state
/// (v3, or v2 local mode: JSON without `version`, see `docs/balena.md`), or
/// a compose file (`.yml`/`.yaml`) taken as the whole target, one app of
/// class `app`.
pub fn read_target(path: &Path, compose_args: &ComposeArgs) -> anyhow::Result<TargetState> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read '{}'", path.display()))?;
    let is_compose = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yml" || e == "yaml");
    if !is_compose {
        // Text that is not JSON at all is left to the target-state reader,
        // whose error says where.
        let is_balena = serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|value| balena::is_balena_document(&value));
        if is_balena {
            return read_balena(path, &text);
        }
        return TargetState::from_json(&text)
            .with_context(|| format!("target '{}' refused", path.display()));
    }
    let files = ComposeDir::open(path)?;
    let environment = compose_files::interpolation_environment(
        &files,
        compose_args.env_file.as_deref(),
        compose_args.env_from_process,
    )?;
    let context = compose::ImportContext::new()
        .with_environment(&environment)
        .with_files(&files);
    let import = compose::import_with(&text, &context)
        .with_context(|| format!("compose file '{}' refused", path.display()))?;
    for warning in &import.warnings {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    let name = match (&compose_args.app, &import.name) {
        (Some(name), _) => AppName::new(name).context("--app")?,
        (None, Some(name)) => name.clone(),
        (None, None) => app_name_from_dir(path),
    };
    let app = import.into_app(
        AppClass::App,
        compose_args.release.clone(),
        ReleaseStatus::Final,
    );
    let target = TargetState {
        version: FormatVersion,
        apps: [(name, app)].into(),
    };
    target
        .validate()
        .with_context(|| format!("compose file '{}' refused", path.display()))?;
    Ok(target)
}

/// A balena target state, mapped onto the target (`docs/balena.md`); what
/// it leaves out is logged, as a compose file's is.
fn read_balena(path: &Path, text: &str) -> anyhow::Result<TargetState> {
    let import = balena::import(text)
        .with_context(|| format!("balena target state '{}' refused", path.display()))?;
    tracing::info!(file = %path.display(), format = %import.format, "read a balena target state");
    for warning in &import.warnings {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    Ok(import.target)
}

/// Compose's rule: the project is named after the file's directory,
/// lowercased, with what a name may not hold left out.
fn app_name_from_dir(path: &Path) -> AppName {
    let dir = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let cleaned: String = dir
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    AppName::new(cleaned.trim_start_matches(['-', '_']))
        .or_else(|_| AppName::new("app"))
        .unwrap_or_else(|_| unreachable!("'app' is a valid name"))
}

/// The clock state a running daemon published in `state_dir`, if one
/// runs. A damaged file is reported and treated as no daemon: the
/// command then plans with `unsynced`, which holds blocks back rather than
/// starting them early.
pub fn running_daemon_time(state_dir: &Path) -> Option<DaemonTime> {
    published::read_running(state_dir)
        .inspect_err(|e| tracing::warn!(error = %e, "ignoring the daemon's time report"))
        .ok()
        .flatten()
}

/// A current-thread runtime: the executor's concurrency is IO, not CPU.
pub fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
