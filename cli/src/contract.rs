//! `osb contract`: the device's contract (`show`), and an offline check of
//! a contract's requirements against a device described in a file
//! (`check`). `docs/contracts.md` describes both.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use osb_contract::{Contract, Report};
use osb_engine::Engine;
use osb_runtime::apply::store::Store;
use osb_runtime::config::DeviceConfig;
use osb_runtime::control::{self, Request, Response};
use osb_runtime::device_contract::{self, DeviceFacts};
use osb_state::{BlockId, TargetState};

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Show the device's contract: the device (`[device] contract` in the
    /// device config), its architecture, the OS release, this runtime, the
    /// kernel and every running block, as the context requirements are
    /// checked against.
    Show(ShowArgs),
    /// Check offline whether a contract can run on a device. Exits 0 when
    /// every requirement holds, 1 when one does not (or the device's own
    /// children disagree), 2 when a file cannot be read as a contract.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Where the runtime keeps its state (the stored target). Default: the
    /// device config's `state_dir`.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// The runtime instance whose containers count as running blocks.
    #[arg(long, env = "OSB_INSTANCE", default_value = osb_engine::DEFAULT_INSTANCE, value_parser = parse_instance)]
    instance: String,
    /// Print the contract as JSON instead of a tree.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The device, as a contract: its children (at any depth) and what it
    /// and they provide are what the requirements are matched against.
    #[arg(long, value_name = "FILE")]
    device: PathBuf,
    /// The contract to check: its requirements, and its children's.
    #[arg(long, value_name = "FILE")]
    require: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_instance(instance: &str) -> Result<String, String> {
    osb_engine::check_instance(instance).map(|()| instance.to_owned())
}

pub fn run(command: ContractCommand, config: &DeviceConfig) -> anyhow::Result<ExitCode> {
    match command {
        ContractCommand::Show(args) => show(&args, config).map(|()| ExitCode::SUCCESS),
        ContractCommand::Check(args) => Ok(ExitCode::from(check(&args)?)),
    }
}

fn show(args: &ShowArgs, config: &DeviceConfig) -> anyhow::Result<()> {
    let state_dir = args.state_dir.as_ref().unwrap_or(&config.state_dir);
    // A running daemon gates against its hardware adapter's contract, when
    // one is loaded; else (and without a daemon) the file stands.
    let device = match adapter_contract(state_dir) {
        Some(contract) => Some(contract),
        None => config
            .device
            .contract
            .as_deref()
            .map(device_contract::read_contract)
            .transpose()?,
    };
    let target = Store::open(state_dir)?.target()?;
    let running = match &target {
        Some(target) => running_or_none(target, &args.instance),
        None => BTreeSet::new(),
    };
    let kernel = device_contract::kernel_release();
    let contract = device_contract::assemble(DeviceFacts {
        device: device.as_ref(),
        arch: device_contract::arch_slug(std::env::consts::ARCH),
        kernel_release: Some(&kernel),
        target: target.as_ref(),
        running: &running,
        mode: osb_runtime::mode::Mode::from_development(config.development),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&contract.to_json())?);
    } else {
        print!("{}", tree(&contract));
    }
    Ok(())
}

/// The running blocks; none, said on stderr, when the engine does not
/// answer: the rest of the contract is still worth showing.
fn running_or_none(target: &TargetState, instance: &str) -> BTreeSet<BlockId> {
    let read = super::blocks::tokio_runtime().and_then(|runtime| {
        runtime.block_on(async {
            let engine = Engine::connect(instance).await?;
            let state = engine.read().await?;
            anyhow::Ok(device_contract::running_blocks(target, &state.containers))
        })
    });
    read.unwrap_or_else(|e| {
        eprintln!("note: no running blocks listed, the engine did not answer: {e:#}");
        BTreeSet::new()
    })
}

/// The device contract of the running daemon's hardware adapter, if a
/// daemon runs there and has one.
fn adapter_contract(state_dir: &Path) -> Option<Contract> {
    let answer = control::ask(state_dir, &Request::DeviceInfo {}, Duration::from_secs(30));
    match answer {
        Ok(Response::Ok(info)) => Contract::from_json_str(&info["contract"].to_string()).ok(),
        _ => None,
    }
}

/// The contract as an indented tree, one contract a line.
fn tree(contract: &Contract) -> String {
    let mut out = format!("{}\n", node(contract));
    branches(contract, "", &mut out);
    out
}

fn branches(contract: &Contract, indent: &str, out: &mut String) {
    let mut lines: Vec<(String, Option<&Contract>)> = Vec::new();
    for requirement in &contract.requires {
        let text = osb_contract::matching::describe(requirement);
        lines.push((format!("requires {text}"), None));
    }
    for provided in &contract.provides {
        lines.push((format!("provides {}", provided_label(provided)), None));
    }
    lines.extend(contract.children.iter().map(|c| (node(c), Some(c))));
    let count = lines.len();
    for (i, (line, child)) in lines.into_iter().enumerate() {
        let last = i + 1 == count;
        out.push_str(&format!(
            "{indent}{}{line}\n",
            if last { "└─ " } else { "├─ " }
        ));
        if let Some(child) = child {
            let deeper = format!("{indent}{}", if last { "   " } else { "│  " });
            branches(child, &deeper, out);
        }
    }
}

/// `type slug@version "name"`, then the `data` entries that fit on a line.
fn node(contract: &Contract) -> String {
    let mut line = contract.label();
    if let Some(name) = &contract.name {
        line.push_str(&format!(" {name:?}"));
    }
    let facts: Vec<String> = contract
        .data
        .iter()
        .filter(|(_, value)| !value.is_object() && !value.is_array())
        .map(|(key, value)| format!("{key} {value}"))
        .collect();
    if !facts.is_empty() {
        line.push_str(&format!(" ({})", facts.join(", ")));
    }
    line
}

fn provided_label(provided: &osb_contract::Provided) -> String {
    let mut label = provided.kind.clone();
    if let Some(slug) = &provided.slug {
        label.push_str(&format!(" {slug}"));
    }
    if let Some(version) = &provided.version {
        label.push_str(&format!("@{version}"));
    }
    label
}

/// 0: every requirement holds; 1: one does not; 2: bad input, said on
/// stderr. An error is only a failure to print.
fn check(args: &CheckArgs) -> anyhow::Result<u8> {
    let (device, require) = match (
        read("--device", &args.device),
        read("--require", &args.require),
    ) {
        (Ok(device), Ok(require)) => (device, require),
        (device, require) => {
            for error in [device.err(), require.err()].into_iter().flatten() {
                eprintln!("error: {error}");
            }
            return Ok(2);
        }
    };
    let report = osb_contract::check(&device, &require);
    // A device whose own parts disagree (an armv7hf userland on an aarch64
    // board) is described wrongly: nothing checked against it can be trusted.
    let own = osb_contract::check_children(&device);
    let holds = report.holds() && own.holds();
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let out = json!({
            "holds": holds,
            "require": require.label(),
            "requirements": entries(&report),
            "device": {
                "contract": device.label(),
                "holds": own.holds(),
                "requirements": entries(&own),
            },
        });
        writeln!(stdout, "{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        write!(stdout, "{}", text(&require, &report, &device, &own))?;
    }
    Ok(if holds { 0 } else { 1 })
}

fn read(flag: &str, path: &Path) -> anyhow::Result<Contract> {
    device_contract::read_contract(path).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

fn entries(report: &Report) -> Value {
    report
        .entries
        .iter()
        .map(|entry| {
            json!({
                "owner": entry.owner,
                "path": entry.path,
                "requirement": entry.requirement,
                "holds": entry.held,
                "reason": entry.reason,
            })
        })
        .collect()
}

fn text(require: &Contract, report: &Report, device: &Contract, own: &Report) -> String {
    let mut out = format!("requirements of {}:\n", require.label());
    section(report, &mut out);
    if !own.entries.is_empty() {
        out.push_str(&format!(
            "requirements of the parts of {}:\n",
            device.label()
        ));
        section(own, &mut out);
    }
    let failed = report.failures().count();
    let own_failed = own.failures().count();
    if failed == 0 && own_failed == 0 {
        out.push_str("holds\n");
        return out;
    }
    let mut why = Vec::new();
    if failed > 0 {
        why.push(format!(
            "{failed} of {} requirements failed",
            report.entries.len()
        ));
    }
    if own_failed > 0 {
        why.push(format!(
            "the device contract disagrees with itself ({own_failed} of {} failed)",
            own.entries.len()
        ));
    }
    out.push_str(&format!("does not hold: {}\n", why.join("; ")));
    out
}

fn section(report: &Report, out: &mut String) {
    if report.entries.is_empty() {
        out.push_str("  none\n");
    }
    for entry in &report.entries {
        out.push_str(&format!("  {entry}\n"));
    }
}
