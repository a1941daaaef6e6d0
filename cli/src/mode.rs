//! `osb mode [development|production]`: the device's mode, shown or
//! switched. The device config's `development` flag is where the mode is
//! kept; a running daemon follows the file, and this command waits until
//! it says it has switched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;

use osb_runtime::config::DeviceConfig;
use osb_runtime::control::{self, ControlError, ModeAnswer, Request, Response};
use osb_runtime::mode::{Mode, write_development};
use osb_state::HumanDuration;

#[derive(Debug, Args)]
pub struct ModeArgs {
    /// The mode to switch to; none: show the mode.
    #[arg(value_enum)]
    mode: Option<ModeArg>,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Where the daemon keeps its state (and its control socket). Default:
    /// the device config's `state_dir`.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// How long to wait for a running daemon to say it has switched.
    #[arg(long, default_value = "30s")]
    wait: HumanDuration,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// Unsigned plugins and drafts run; blocks requiring development mode
    /// start.
    Development,
    /// Only signed plugins and final releases run.
    Production,
}

impl From<ModeArg> for Mode {
    fn from(arg: ModeArg) -> Mode {
        match arg {
            ModeArg::Development => Mode::Development,
            ModeArg::Production => Mode::Production,
        }
    }
}

/// What the daemon said of its mode: `None` when no daemon runs.
type DaemonMode = Option<ModeAnswer>;

/// `config_path` is the device config file, the one the daemon watches.
pub fn run(args: ModeArgs, config: &DeviceConfig, config_path: &Path) -> anyhow::Result<()> {
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| config.state_dir.clone());
    let Some(wanted) = args.mode.map(Mode::from) else {
        let daemon = ask(&state_dir)?;
        let file = Mode::from_development(config.development);
        print(&args, config_path, file, daemon.as_ref(), None);
        return Ok(());
    };
    write_development(config_path, wanted.is_development())?;
    tracing::debug!(file = %config_path.display(), mode = %wanted, "device config written");
    let Some(mut daemon) = ask(&state_dir)? else {
        print(&args, config_path, wanted, None, Some(false));
        return Ok(());
    };
    let until = Instant::now() + args.wait.get();
    while daemon.mode != wanted {
        if Instant::now() >= until {
            anyhow::bail!(
                "'{}' now says {wanted}, but the daemon still runs in {} after {} s; see its log",
                config_path.display(),
                daemon.mode,
                args.wait.get().as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
        daemon = ask(&state_dir)?.with_context(|| {
            format!(
                "the daemon stopped before it switched to {wanted}; the mode applies at its next start"
            )
        })?;
    }
    print(&args, config_path, wanted, Some(&daemon), Some(true));
    Ok(())
}

/// The running daemon's mode, `None` when no daemon listens.
fn ask(state_dir: &Path) -> anyhow::Result<DaemonMode> {
    match control::ask(state_dir, &Request::Mode {}, Duration::from_secs(5)) {
        Err(ControlError::NoDaemon { .. }) => Ok(None),
        Err(e) => Err(e.into()),
        Ok(Response::Error(e)) => anyhow::bail!("the daemon cannot tell its mode: {e}"),
        Ok(Response::Ok(value)) => Ok(Some(
            serde_json::from_value(value).context("the daemon's answer about its mode")?,
        )),
    }
}

/// The outcome: the file's mode, the daemon's, and whether the daemon
/// switched (`None`: nothing was switched, the mode was only shown).
fn print(
    args: &ModeArgs,
    config_path: &Path,
    file: Mode,
    daemon: Option<&ModeAnswer>,
    switched: Option<bool>,
) {
    if args.json {
        let report = json!({
            "mode": daemon.map_or(file, |d| d.mode),
            "config": config_path,
            "config_mode": file,
            "daemon": daemon,
        });
        println!("{report:#}");
        return;
    }
    match (daemon, switched) {
        (None, None) => println!("{file} (from '{}'; no daemon runs)", config_path.display()),
        (Some(d), None) if d.mode == file => println!("{file}"),
        (Some(d), None) => println!(
            "{} (the daemon; '{}' says {file}: the daemon was started with --development, or has not read the file since it changed)",
            d.mode,
            config_path.display()
        ),
        (None, Some(_)) => println!(
            "{file}: written to '{}'; no daemon runs, it applies at the next start or apply",
            config_path.display()
        ),
        (Some(_), Some(_)) => println!("{file}: the daemon has switched"),
    }
    if let Some(d) = daemon
        && !d.unsigned_plugins.is_empty()
    {
        println!(
            "unsigned plugins running: {}",
            d.unsigned_plugins.join(", ")
        );
    }
}
