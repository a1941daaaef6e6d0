//! `osb device`: the board, through its hardware-adapter plugin: its device
//! contract (`info`), its sensors with their readings, its controls, and
//! `set` of a control.
//!
//! With a daemon running on the state directory, the command asks it over
//! its control socket (the daemon owns the plugins and their key-value
//! store). Without one, it loads the `hardware-adapter` package of the
//! plugin directory itself, under the device config's trust and grants,
//! and asks it the same way.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use osb_plugin_host::package::dirs_of_kind;
use osb_plugin_host::{PluginHost, PluginKind};
use osb_runtime::adapter::Adapter;
use osb_runtime::config::DeviceConfig;
use osb_runtime::control::{self, ControlError, Request, Response};
use serde_json::Value;

use super::blocks::BlockArgs;

/// How long the daemon may take to answer: a plugin call ends at its own
/// deadline, a few of them make an answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// The hardware adapter and the device contract it answers.
    Info(DeviceArgs),
    /// Each sensor with its reading: `osb device sensors`, or only some,
    /// `osb device sensors BCPU-therm GPU-therm`.
    Sensors(SensorsArgs),
    /// Each control with the values it accepts.
    Controls(DeviceArgs),
    /// Set a control: `osb device set power-mode MAXN`, `osb device set fan 180`.
    Set(SetArgs),
}

#[derive(Debug, Args)]
pub struct DeviceArgs {
    #[command(flatten)]
    blocks: BlockArgs,
    /// The plugin directory, when no daemon runs. Default: the device
    /// config's `plugin_dir`.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SensorsArgs {
    /// The sensors to read, in this order; all of them when none is named.
    ids: Vec<String>,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The control.
    id: String,
    /// Its new value.
    value: String,
    #[command(flatten)]
    device: DeviceArgs,
}

pub fn run(command: DeviceCommand, config: &DeviceConfig) -> anyhow::Result<()> {
    let (request, args) = match command {
        DeviceCommand::Info(args) => (Request::DeviceInfo {}, args),
        DeviceCommand::Sensors(sensors) => (Request::Sensors { ids: sensors.ids }, sensors.device),
        DeviceCommand::Controls(args) => (Request::Controls {}, args),
        DeviceCommand::Set(set) => (
            Request::SetControl {
                id: set.id,
                value: set.value,
            },
            set.device,
        ),
    };
    let answer = match ask(&request, &args, config)? {
        Response::Ok(value) => value,
        Response::Error(reason) => bail!("{reason}"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", text(&request, &answer));
    }
    Ok(())
}

/// The daemon's answer, or the adapter's as loaded here when no daemon
/// runs.
fn ask(request: &Request, args: &DeviceArgs, config: &DeviceConfig) -> anyhow::Result<Response> {
    let state_dir = args.blocks.settings(config).state_dir;
    match control::ask(&state_dir, request, ANSWER_WITHIN) {
        Ok(response) => return Ok(response),
        Err(ControlError::NoDaemon { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let plugin_dir = args.plugin_dir.as_ref().unwrap_or(&config.plugin_dir);
    let dirs = dirs_of_kind(plugin_dir, PluginKind::HardwareAdapter);
    if dirs.is_empty() {
        bail!(
            "no hardware-adapter plugin in '{}' (and no daemon to ask)",
            plugin_dir.display()
        );
    }
    let mut settings = config.host_settings();
    settings.state_dir = Some(state_dir);
    let host = PluginHost::new(settings).context("cannot set up the plugin host")?;
    for dir in &dirs {
        host.load(dir)
            .with_context(|| format!("cannot load the adapter in '{}'", dir.display()))?;
    }
    let adapter = Adapter::on(Arc::new(host));
    Ok(control::answer(&adapter, request))
}

/// The answer for a person.
fn text(request: &Request, answer: &Value) -> String {
    let field = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    match request {
        Request::DeviceInfo {} => format!(
            "adapter: {} {}\ncontract:\n{}\n",
            field(answer, "adapter"),
            field(answer, "version"),
            serde_json::to_string_pretty(&answer["contract"]).unwrap_or_default()
        ),
        Request::Sensors { .. } => list(answer)
            .iter()
            .map(|s| {
                let reading = match s["value"].as_f64() {
                    Some(value) => format!("{value} {}", field(s, "unit")),
                    None => format!("unreadable: {}", field(s, "error")),
                };
                format!(
                    "{}\t{reading}\t{}\n",
                    field(s, "id"),
                    field(s, "description")
                )
            })
            .collect(),
        Request::Controls {} => list(answer)
            .iter()
            .map(|c| {
                let values: Vec<String> = list(&c["values"])
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                let values = if values.is_empty() {
                    "any value the adapter accepts".to_owned()
                } else {
                    values.join(", ")
                };
                format!(
                    "{}\t{values}\t{}\n",
                    field(c, "id"),
                    field(c, "description")
                )
            })
            .collect(),
        Request::SetControl { id, value } => format!("{id} set to {value}\n"),
        // `osb device` never asks it; `osb mode` prints its own.
        Request::Mode {} => format!("{answer}\n"),
    }
}
