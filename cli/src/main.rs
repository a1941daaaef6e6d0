//! The `osb` command line. `anyhow` lives here, at the binary's edge.

mod apply;
mod blocks;
mod boot;
mod columns;
mod contract;
mod daemon;
mod device;
mod grant_flag;
mod mode;
mod plugin;
mod release;
mod status;
mod time;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use osb_runtime::config::DeviceConfig;

/// OSB: an on-device runtime that builds the OS from container blocks and
/// WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "osb", version, propagate_version = true)]
struct Cli {
    /// Device configuration (trusted keys, grants, limits).
    /// Default: /etc/osb/device.toml if present, else built-in defaults.
    #[arg(long, global = true, env = "OSB_CONFIG")]
    pub config: Option<PathBuf>,

    /// Development mode: accept unsigned plugins (logged loudly).
    /// Overrides the config file (a daemon, until the file changes); never
    /// use on a production device.
    #[arg(long, global = true, env = "OSB_DEVELOPMENT")]
    pub development: bool,

    /// Log as JSON lines on stderr instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,

    /// More log output (-v debug, -vv trace). RUST_LOG overrides; without
    /// it, a daemon in development mode logs OSB's own events at debug.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, sign, check and run WebAssembly plugin packages.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Reconcile the device's blocks to a target once: target-state JSON or
    /// a compose file. Exits 0 when converged.
    Apply(apply::ApplyArgs),
    /// Show each block of the applied target, as the engine has it.
    Status(status::StatusArgs),
    /// Run the device: the plugin host (hot-swapping packages as they
    /// change), the time service and, when a target is applied, keep the
    /// blocks converged, reacting to engine events and to the clock's state.
    /// Runs until interrupted.
    Daemon(daemon::DaemonArgs),
    /// Ask every time-source plugin where the true time lies, and show the
    /// answers, the fused estimate, the clock's state and its offset.
    /// Never moves the clock.
    Time(time::TimeArgs),
    /// The device's contract, and offline checks of what a contract
    /// requires against a device.
    #[command(subcommand)]
    Contract(contract::ContractCommand),
    /// What became of each release of each app (running, replaced,
    /// rejected, rolled back, and why), and each release's validation.
    #[command(subcommand)]
    Release(release::ReleaseCommand),
    /// The board, through its hardware-adapter plugin: its device contract,
    /// sensors and controls, and setting a control.
    #[command(subcommand)]
    Device(device::DeviceCommand),
    /// What the next boot stacks over the host OS (`osb boot plan`).
    #[command(subcommand)]
    Boot(boot::BootCommand),
    /// Show the device's mode, or switch it (the device config's
    /// `development` flag); a running daemon switches without a restart.
    Mode(mode::ModeArgs),
}

/// Parses the command line and runs it; returns the process exit code.
fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Most commands succeed or fail; `osb contract check` has a third answer
/// (bad input), so the exit code is theirs to give.
fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let log = init_logging(&cli);
    let mut config = DeviceConfig::load(cli.config.as_deref())?;
    if cli.development {
        config.development = true;
    }
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(osb_runtime::config::DEFAULT_PATH));
    let done = match cli.command {
        Command::Plugin(cmd) => plugin::run(cmd, &config),
        Command::Apply(args) => apply::run(args, &config, cli.log_json),
        Command::Status(args) => status::run(args, &config),
        Command::Daemon(args) => {
            // The default file may come later (`osb mode` makes it), but
            // only in a directory that is there to watch.
            let watched = (cli.config.is_some()
                || config_path.parent().is_some_and(std::path::Path::is_dir))
            .then_some(config_path);
            daemon::run(args, &config, watched, log)
        }
        Command::Mode(args) => mode::run(args, &config, &config_path),
        Command::Time(args) => time::run(args, &config),
        Command::Device(cmd) => device::run(cmd, &config),
        Command::Boot(cmd) => boot::run(cmd, &config),
        Command::Contract(cmd) => return contract::run(cmd, &config),
        Command::Release(cmd) => return release::run(cmd, &config),
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// Colour only for a person at a terminal: a file or a pipe gets plain
/// text, and `NO_COLOR` (set and not empty, <https://no-color.org>) turns it
/// off everywhere.
fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The log filter a daemon switches as its mode changes: absent when the
/// operator set `RUST_LOG`, which then rules alone.
pub struct LogLevel {
    handle: tracing_subscriber::reload::Handle<
        tracing_subscriber::EnvFilter,
        tracing_subscriber::Registry,
    >,
    verbose: u8,
}

impl LogLevel {
    /// Sets the filter `mode` calls for.
    pub fn follow(&self, mode: osb_runtime::mode::Mode) {
        let filter = tracing_subscriber::EnvFilter::new(log_filter(self.verbose, mode));
        if let Err(e) = self.handle.reload(filter) {
            tracing::warn!(error = %e, "cannot change the log level");
        }
    }
}

/// The filter for `-v` given `verbose` times in `mode`: development mode
/// raises OSB's own crates (and its plugins' guest logs, target
/// `osb::guest`) to debug, as `-v` would, and nothing else: a dependency's
/// debug output is noise on a device.
fn log_filter(verbose: u8, mode: osb_runtime::mode::Mode) -> String {
    match (verbose, mode.is_development()) {
        (0, false) => "info".to_owned(),
        (0, true) => "info,osb=debug".to_owned(),
        (1, _) => "debug".to_owned(),
        _ => "trace".to_owned(),
    }
}

fn init_logging(cli: &Cli) -> Option<LogLevel> {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, fmt, reload};
    let from_operator = EnvFilter::try_from_default_env().ok();
    let reloads = from_operator.is_none();
    let filter = from_operator.unwrap_or_else(|| {
        EnvFilter::new(log_filter(cli.verbose, osb_runtime::mode::Mode::Production))
    });
    let (filter, handle) = reload::Layer::new(filter);
    let layer = fmt::layer()
        .with_ansi(use_colour(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_writer(std::io::stderr);
    let layer = if cli.log_json {
        layer.json().boxed()
    } else {
        layer.boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .init();
    reloads.then_some(LogLevel {
        handle,
        verbose: cli.verbose,
    })
}

#[cfg(test)]
mod tests {
    use super::{log_filter, use_colour};
    use osb_runtime::mode::Mode;
    use std::ffi::OsStr;

    #[test]
    fn development_mode_raises_osbs_own_logs_to_debug() {
        let table = [
            (0, Mode::Production, "info"),
            (0, Mode::Development, "info,osb=debug"),
            (1, Mode::Production, "debug"),
            (1, Mode::Development, "debug"),
            (2, Mode::Development, "trace"),
        ];
        for (verbose, mode, filter) in table {
            assert_eq!(log_filter(verbose, mode), filter, "-v x{verbose} in {mode}");
        }
    }

    #[test]
    fn colour_only_on_a_terminal_and_without_no_color() {
        let table = [
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (false, None, false),
            (false, Some("1"), false),
        ];
        for (terminal, no_color, colour) in table {
            assert_eq!(
                use_colour(terminal, no_color.map(OsStr::new)),
                colour,
                "terminal {terminal}, NO_COLOR {no_color:?}"
            );
        }
    }
}
