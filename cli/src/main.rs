//! The `osb` command line. `anyhow` lives here, at the binary's edge.

mod apply;
mod blocks;
mod boot;
mod columns;
mod contract;
mod daemon;
mod device;
mod grant_flag;
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
    init_logging(&cli);
    let mut config = DeviceConfig::load(cli.config.as_deref())?;
    if cli.development {
        config.development = true;
    }
    let done = match cli.command {
        Command::Plugin(cmd) => plugin::run(cmd, &config),
        Command::Apply(args) => apply::run(args, &config, cli.log_json),
        Command::Status(args) => status::run(args, &config),
        Command::Daemon(args) => daemon::run(args, &config),
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
        .with_ansi(use_colour(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_writer(std::io::stderr);
    if cli.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::use_colour;
    use std::ffi::OsStr;

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
