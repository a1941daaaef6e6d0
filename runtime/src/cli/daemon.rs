//! `osb daemon`: the plugin host as a long-running service.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::config::DeviceConfig;
use crate::plugin::{PluginHost, PluginWatcher};

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The plugin directory (one package per sub-directory). Default: the
    /// device config's `plugin_dir`.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Where the compile cache and key-value store live. Default: the device
    /// config's `state_dir`.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Exit after loading instead of watching (prints the load report as JSON).
    #[arg(long)]
    once: bool,
}

pub fn run(args: DaemonArgs, config: &DeviceConfig) -> anyhow::Result<()> {
    let plugin_dir = args.plugin_dir.unwrap_or_else(|| config.plugin_dir.clone());
    let mut settings = config.host_settings();
    if let Some(dir) = args.state_dir {
        settings.state_dir = Some(dir);
    }
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
    let _watcher = PluginWatcher::start(host.clone(), &plugin_dir)
        .with_context(|| format!("cannot watch '{}'", plugin_dir.display()))?;
    tracing::info!(dir = %plugin_dir.display(), plugins = host.names().len(), "plugin host running; watching for new packages");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    tracing::info!("stopping");
    Ok(())
}
