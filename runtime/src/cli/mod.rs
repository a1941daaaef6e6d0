//! The `osb` command line. `anyhow` lives here, at the binary's edge.

mod daemon;
mod grant_flag;
mod plugin;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::DeviceConfig;

/// OSB: an on-device runtime that builds the OS from container blocks and
/// WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "osb", version, propagate_version = true)]
pub struct Cli {
    /// Device configuration (trusted keys, grants, limits).
    /// Default: /etc/osb/device.toml if present, else built-in defaults.
    #[arg(long, global = true, env = "OSB_CONFIG")]
    pub config: Option<PathBuf>,

    /// Development mode: accept unsigned plugins (logged loudly).
    /// Overrides the config file; never use on a production device.
    #[arg(long, global = true, env = "OSB_DEVELOPMENT")]
    pub development: bool,

    /// Log as JSON lines on stderr instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,

    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, sign, check and run WebAssembly plugin packages.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Run the plugin host: load every package in the plugin directory and
    /// hot-swap packages as they change, until interrupted.
    Daemon(daemon::DaemonArgs),
}

/// Parses the command line and runs it; returns the process exit code.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli);
    let mut config = DeviceConfig::load(cli.config.as_deref())?;
    if cli.development {
        config.development = true;
    }
    match cli.command {
        Command::Plugin(cmd) => plugin::run(cmd, &config),
        Command::Daemon(args) => daemon::run(args, &config),
    }
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}
