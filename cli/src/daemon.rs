//! `osb daemon`: the plugin host, the time service and the blocks, as a
//! long-running service.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use osb_plugin_host::PluginHost;
use osb_runtime::config::DeviceConfig;
use osb_runtime::daemon::{DaemonSettings, raise_descriptor_limit};
use osb_runtime::mode::Mode;
use osb_runtime::preflight::Preflight;

use super::LogLevel;
use super::blocks::{BlockArgs, ComposeArgs, read_target};

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The plugin directory (one package per sub-directory). Default: the
    /// device config's `plugin_dir`.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Exit after loading plugins instead of watching (prints the load
    /// report as JSON); blocks are not reconciled.
    #[arg(long)]
    once: bool,
    /// A new target to apply (JSON, compose file or balena target state).
    /// Default: the target last applied, from the block store.
    #[arg(long)]
    target: Option<PathBuf>,
    #[command(flatten)]
    compose: ComposeArgs,
    #[command(flatten)]
    blocks: BlockArgs,
}

/// `config_path` is the device config file the daemon watches for its
/// `development` flag (`None`: none, the built-in defaults); `log` follows
/// the mode.
pub fn run(
    args: DaemonArgs,
    config: &DeviceConfig,
    config_path: Option<PathBuf>,
    log: Option<LogLevel>,
) -> anyhow::Result<()> {
    // A bad new target is refused before anything starts, and so is what
    // the device policy or the host refuses.
    let new_target = args
        .target
        .as_deref()
        .map(|path| read_target(path, &args.compose))
        .transpose()?;
    if let (Some(target), Some(path)) = (&new_target, &args.target) {
        Preflight::new(config.policy.clone())
            .check(target)
            .map_err(anyhow::Error::new)
            .with_context(|| format!("target '{}' refused", path.display()))?;
    }
    let block_settings = args.blocks.settings(config);
    raise_descriptor_limit();
    let plugin_dir = args.plugin_dir.unwrap_or_else(|| config.plugin_dir.clone());
    let mut settings = config.host_settings();
    // One state directory: the compile cache, the plugins' key-value store,
    // the block store and the update locks.
    settings.state_dir = Some(block_settings.state_dir.clone());
    let host = Arc::new(PluginHost::new(settings)?);
    let loads = host.load_all(&plugin_dir);
    let report: Vec<_> = loads
        .iter()
        .map(|(dir, r)| match r {
            Ok(report) => serde_json::json!({ "dir": dir, "loaded": report }),
            Err(e) => serde_json::json!({ "dir": dir, "error": e.to_string() }),
        })
        .collect();
    if args.once {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let on_mode: Box<dyn Fn(Mode) + Send + Sync> = match log {
        Some(log) => Box::new(move |mode| log.follow(mode)),
        None => Box::new(|_| {}),
    };
    osb_runtime::daemon::run(
        host,
        DaemonSettings {
            plugin_dir,
            time: config.time.clone(),
            engine: config.engine.clone(),
            metrics: config.metrics.clone(),
            blocks: block_settings,
            new_target,
            config_path,
            on_mode,
        },
    )?;
    Ok(())
}
