//! `osb release list`: what became of each release of each app on this
//! device (running, replaced, rejected, rolled back, and why), and `osb
//! release report`: each release's validation, check by check, as text,
//! JSON or a JUnit file for a release pipeline; both from the block store.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::blocks::BlockArgs;
use osb_runtime::apply::releases::ReleaseRecord;
use osb_runtime::apply::store::Store;
use osb_runtime::apply::validation::{CheckState, Phase, Validation};
use osb_runtime::config::DeviceConfig;

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Every release of every app this device has run or refused, oldest
    /// first.
    List(ListArgs),
    /// The validation of each app's latest validated release (or of the
    /// ones asked for): each check, its verdict, how long it took and
    /// what was seen (a test's output tail). Exit 0 when each passed, 1
    /// when one failed, 3 when one is still under way, 2 when there is
    /// nothing to report.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    blocks: BlockArgs,
    /// Only this app.
    #[arg(long)]
    app: Option<String>,
    /// Only this release (with `--app`: its validation, even when a
    /// newer one was made).
    #[arg(long, value_name = "VERSION")]
    release: Option<semver::Version>,
    /// Print JSON (a list of validations) instead of text.
    #[arg(long)]
    json: bool,
    /// Also write the report as JUnit XML to FILE (one test suite per
    /// release, one test case per check), as CI systems read it.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    blocks: BlockArgs,
    /// Print JSON (app name -> its records) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(command: ReleaseCommand, config: &DeviceConfig) -> anyhow::Result<ExitCode> {
    match command {
        ReleaseCommand::List(args) => list(&args, config).map(|()| ExitCode::SUCCESS),
        ReleaseCommand::Report(args) => report(&args, config),
    }
}

fn report(args: &ReportArgs, config: &DeviceConfig) -> anyhow::Result<ExitCode> {
    let settings = args.blocks.settings(config);
    let all = Store::open(&settings.state_dir)?.validations()?;
    let chosen = choose(all, args.app.as_deref(), args.release.as_ref());
    if chosen.is_empty() {
        let what = match (&args.app, &args.release) {
            (Some(app), Some(v)) => format!("release {v} of app '{app}'"),
            (Some(app), None) => format!("app '{app}'"),
            (None, Some(v)) => format!("release {v}"),
            (None, None) => "any release".to_owned(),
        };
        eprintln!("error: no validation recorded for {what}");
        return Ok(ExitCode::from(2));
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&chosen))
            .map_err(|e| anyhow::anyhow!("--junit '{}': {e}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&chosen)?);
    } else {
        print!("{}", text(&chosen));
    }
    let code = if chosen.iter().any(|v| v.phase == Phase::Failed) {
        1
    } else if chosen.iter().any(|v| !v.phase.is_over()) {
        3
    } else {
        0
    };
    Ok(ExitCode::from(code))
}

/// The validations asked for: of `release` (of `app`), else each app's
/// latest.
fn choose(
    all: Vec<Validation>,
    app: Option<&str>,
    release: Option<&semver::Version>,
) -> Vec<Validation> {
    let mut chosen: Vec<Validation> = Vec::new();
    for v in all {
        if app.is_some_and(|a| a != v.app) || release.is_some_and(|r| r != &v.version) {
            continue;
        }
        // Sorted by app, then by when it began: the last of an app wins.
        match chosen.last_mut() {
            Some(last) if last.app == v.app && release.is_none() => *last = v,
            _ => chosen.push(v),
        }
    }
    chosen
}

fn text(validations: &[Validation]) -> String {
    let mut out = String::new();
    for v in validations {
        let ended = match v.finished {
            Some(at) => format!(", ended {}", super::status::unix_time(at)),
            None => String::new(),
        };
        out.push_str(&format!(
            "{}@{} ({}): {}; began {}{ended}\n",
            v.app,
            v.version,
            v.status.as_str(),
            v.phase.as_str(),
            super::status::unix_time(v.started)
        ));
        if v.phase == Phase::Failed {
            out.push_str(&format!("  {}\n", v.failure_line()));
        }
        for c in &v.checks {
            out.push_str(&format!(
                "  {:<7} {} ({:.1}s)\n",
                c.state.as_str(),
                c.name(&v.app),
                c.duration_ms as f64 / 1000.0
            ));
            for line in c.detail.lines() {
                out.push_str(&format!("          | {line}\n"));
            }
        }
    }
    out
}

/// JUnit XML: the shape Jenkins, GitLab and GitHub's test reporters read.
fn junit(validations: &[Validation]) -> String {
    let count =
        |v: &Validation, state: CheckState| v.checks.iter().filter(|c| c.state == state).count();
    let tests: usize = validations.iter().map(|v| v.checks.len()).sum();
    let failures: usize = validations
        .iter()
        .map(|v| count(v, CheckState::Failed))
        .sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"osb release validation\" tests=\"{tests}\" failures=\"{failures}\">\n"
    );
    for v in validations {
        let suite = xml(&format!("{}@{}", v.app, v.version));
        let seconds: f64 = v.checks.iter().map(|c| c.duration_ms as f64 / 1000.0).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" \
             time=\"{seconds:.3}\" timestamp=\"{}\">\n",
            v.checks.len(),
            count(v, CheckState::Failed),
            count(v, CheckState::Pending),
            xml(&super::status::unix_time(v.started)),
        ));
        for c in &v.checks {
            let name = xml(&c.name(&v.app));
            let time = c.duration_ms as f64 / 1000.0;
            let head =
                format!("    <testcase classname=\"{suite}\" name=\"{name}\" time=\"{time:.3}\"");
            match c.state {
                CheckState::Passed if c.detail.is_empty() => out.push_str(&format!("{head}/>\n")),
                CheckState::Passed => out.push_str(&format!(
                    "{head}>\n      <system-out>{}</system-out>\n    </testcase>\n",
                    xml(&c.detail)
                )),
                CheckState::Failed => out.push_str(&format!(
                    "{head}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml(c.detail.lines().next().unwrap_or_default()),
                    xml(&c.detail)
                )),
                CheckState::Pending => out.push_str(&format!(
                    "{head}>\n      <skipped message=\"not decided yet: {}\"/>\n    </testcase>\n",
                    xml(v.phase.as_str())
                )),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// `text` as XML character data or an attribute value. XML 1.0 cannot
/// carry most control characters even escaped, and a test's output may
/// hold any: those become U+FFFD. Written here rather than with an XML
/// crate: these five escapes and that one rule are the whole of it.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn list(args: &ListArgs, config: &DeviceConfig) -> anyhow::Result<()> {
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
                r.status.as_str().to_owned(),
                r.state.as_str().to_owned(),
                super::status::unix_time(r.since),
                r.reason.clone(),
            ]);
        }
    }
    super::columns::aligned(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_drops_what_xml_cannot_carry() {
        assert_eq!(
            xml("a<b>&\"c'\u{1b}[31m\u{0}\tok\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{fffd}[31m\u{fffd}\tok\n"
        );
    }
}
