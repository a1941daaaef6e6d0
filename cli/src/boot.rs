//! `osb boot plan`: what the next boot stacks over the host OS with
//! overlayfs (the installed extensions, in order, and what is left out and
//! why), from the extension store and the running kernel; `osb boot
//! mount` mounts exactly that.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use osb_hostos::extensions::ExtensionStore;
use osb_hostos::stack::{self, Candidate, Device, StackPlan};
use osb_runtime::apply::host_os::extensions_dir;
use osb_runtime::config::DeviceConfig;

#[derive(Debug, Subcommand)]
pub enum BootCommand {
    /// The lower directories the next boot stacks, uppermost first:
    /// override extensions by priority, the host OS, plain extensions;
    /// extensions for another kernel, or past the mount option size, left
    /// out with the reason.
    Plan(PlanArgs),
    /// Mount exactly that stack at a directory, read-only (overlayfs; a
    /// read-only bind mount for the bare host): what init mounts as the
    /// root, to look at file by file. Needs root.
    Mount(MountArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct MountArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// The directory to mount the stack at.
    #[arg(long, value_name = "DIR")]
    at: PathBuf,
}

#[derive(Debug, Args)]
struct StackArgs {
    /// Where the runtime keeps its state. Default: the device config's
    /// `state_dir`.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// The host OS's root filesystem, the layer between the overrides and
    /// the plain extensions.
    #[arg(long, default_value = "/")]
    host: PathBuf,
    /// The kernel's ABI id, as the host OS names it; without it, an
    /// extension built for an ABI id is left out.
    #[arg(long, value_name = "ID")]
    kernel_abi: Option<String>,
    /// Plan the bare host: extensions disabled.
    #[arg(long)]
    no_extensions: bool,
}

pub fn run(command: BootCommand, config: &DeviceConfig) -> anyhow::Result<()> {
    match command {
        BootCommand::Plan(args) => {
            let plan = stack_plan(args.stack, config)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                print!("{}", text(&plan));
            }
            Ok(())
        }
        BootCommand::Mount(args) => {
            let plan = stack_plan(args.stack, config)?;
            osb_hostos::mount::mount_stack(&plan, &args.at)?;
            print!("{}", text(&plan));
            println!("mounted at {}", args.at.display());
            Ok(())
        }
    }
}

fn stack_plan(args: StackArgs, config: &DeviceConfig) -> anyhow::Result<StackPlan> {
    let state_dir = args.state_dir.unwrap_or_else(|| config.state_dir.clone());
    let dir = extensions_dir(&state_dir);
    let mut candidates = Vec::new();
    if let Some(store) = ExtensionStore::read_only(&dir)
        .with_context(|| format!("reading the extension store '{}'", dir.display()))?
    {
        for listed in store.list()? {
            match listed.record {
                Ok(record) => candidates.push(Candidate {
                    root: store.root_path(&listed.digest),
                    digest: listed.digest,
                    image: record.meta.image,
                    kind: record.meta.kind,
                    kernel_version: record.meta.kernel_version,
                    kernel_abi: record.meta.kernel_abi,
                }),
                Err(e) => {
                    tracing::warn!(extension = %listed.digest, error = %e, "left out: its record does not read")
                }
            }
        }
    }
    let device = Device {
        kernel_version: osb_runtime::device_contract::kernel_release(),
        kernel_abi: args.kernel_abi,
        host: args.host,
        // The kernel copies mount options into one page, NUL included.
        option_limit: rustix::param::page_size().saturating_sub(1),
        disabled: args.no_extensions,
    };
    Ok(stack::plan(&candidates, &device))
}

fn text(plan: &StackPlan) -> String {
    let mut out = String::from("lower directories, uppermost first:\n");
    for layer in &plan.lower {
        match &layer.image {
            Some(image) => out.push_str(&format!("  {}  ({image})\n", layer.dir.display())),
            None => out.push_str(&format!("  {}  (host OS)\n", layer.dir.display())),
        }
    }
    for dropped in &plan.left_out {
        out.push_str(&format!(
            "left out: {} ({}): {}\n",
            dropped.image, dropped.digest, dropped.why
        ));
    }
    out
}
