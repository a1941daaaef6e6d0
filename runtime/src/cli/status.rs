//! `osb status`: each block of the stored target, as the engine has it.

use clap::Args;

use super::blocks::{BlockArgs, tokio_runtime};
use crate::apply::progress::ProgressOutput;
use crate::apply::{Applier, status};
use crate::config::DeviceConfig;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    blocks: BlockArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs, config: &DeviceConfig) -> anyhow::Result<()> {
    let settings = args.blocks.settings(config);
    let report = tokio_runtime()?.block_on(async {
        let applier = Applier::connect(settings, ProgressOutput::Log).await?;
        let Some(target) = applier.store().target()? else {
            anyhow::bail!("no target applied yet (osb apply FILE sets one)");
        };
        let observed = applier.observe(&target).await?;
        Ok(status::report(&target, &observed))
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", status::table(&report));
    }
    Ok(())
}
