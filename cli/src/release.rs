//! `osb release list`: what became of each release of each app on this
//! device (running, replaced, rejected and why), from the block store.

use clap::{Args, Subcommand};

use super::blocks::BlockArgs;
use osb_runtime::apply::releases::ReleaseRecord;
use osb_runtime::apply::store::Store;
use osb_runtime::config::DeviceConfig;

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Every release of every app this device has run or refused, oldest
    /// first.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    blocks: BlockArgs,
    /// Print JSON (app name -> its records) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(command: ReleaseCommand, config: &DeviceConfig) -> anyhow::Result<()> {
    let ReleaseCommand::List(args) = command;
    let settings = args.blocks.settings(config);
    let releases = Store::open(&settings.state_dir)?.releases()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&releases)?);
    } else if releases.is_empty() {
        println!("no release recorded yet");
    } else {
        print!("{}", table(&releases));
    }
    Ok(())
}

fn table(releases: &std::collections::BTreeMap<String, Vec<ReleaseRecord>>) -> String {
    let mut rows = vec![[
        "APP".to_owned(),
        "RELEASE".to_owned(),
        "STATUS".to_owned(),
        "STATE".to_owned(),
        "SINCE".to_owned(),
        "WHY".to_owned(),
    ]];
    for (app, records) in releases {
        for r in records {
            rows.push([
                app.clone(),
                r.version.to_string(),
                match r.status {
                    osb_state::target::ReleaseStatus::Draft => "draft",
                    osb_state::target::ReleaseStatus::Final => "final",
                }
                .to_owned(),
                r.state.as_str().to_owned(),
                super::status::unix_time(r.since),
                r.reason.clone(),
            ]);
        }
    }
    super::columns::aligned(&rows)
}
