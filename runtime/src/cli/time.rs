//! `osb time`: ask every time source once (or until a state is reached),
//! and show each answer, the fused estimate, the state and the clock.
//!
//! Read-only: it never moves the system clock and never tells the sources
//! anything (a fake hardware clock keeps what the daemon saved). Whatever
//! `time.clock` says, the offset shown is the virtual one: for `system`,
//! the step the daemon would make.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::blocks::running_daemon_time;
use crate::block::{HumanDuration, TimeStatus};
use crate::config::DeviceConfig;
use crate::plugin::PluginHost;
use crate::time::report::TimeReport;
use crate::time::utc::span;
use crate::time::{ClockKind, TimeService, TimeSettings, UtcTime};

#[derive(Debug, Args)]
pub struct TimeArgs {
    /// The plugin directory (one package per sub-directory). Default: the
    /// device config's `plugin_dir`.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Keep the compile cache and the plugins' key-value store here.
    /// Default: none (plugins are compiled afresh; a running daemon holds
    /// its own state directory's store).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Ask again until the clock is at least this good, or --timeout passes
    /// (then exit non-zero).
    #[arg(long, value_enum)]
    wait: Option<WaitFor>,
    /// How long --wait waits.
    #[arg(long, default_value = "30s", requires = "wait")]
    timeout: HumanDuration,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// A state worth waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitFor {
    Coarse,
    Synced,
}

impl WaitFor {
    fn status(self) -> TimeStatus {
        match self {
            WaitFor::Coarse => TimeStatus::Coarse,
            WaitFor::Synced => TimeStatus::Synced,
        }
    }
}

/// A clock state as a flag value (`osb apply --time-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimeStatusArg {
    Unsynced,
    Coarse,
    Synced,
}

impl TimeStatusArg {
    pub fn status(self) -> TimeStatus {
        match self {
            TimeStatusArg::Unsynced => TimeStatus::Unsynced,
            TimeStatusArg::Coarse => TimeStatus::Coarse,
            TimeStatusArg::Synced => TimeStatus::Synced,
        }
    }
}

pub fn run(args: TimeArgs, config: &DeviceConfig) -> anyhow::Result<()> {
    let plugin_dir = args.plugin_dir.unwrap_or_else(|| config.plugin_dir.clone());
    if !plugin_dir.is_dir() {
        bail!("plugin directory '{}' does not exist", plugin_dir.display());
    }
    let mut settings = config.host_settings();
    settings.state_dir = args.state_dir.clone();
    let host = Arc::new(PluginHost::new(settings)?);
    // Refused packages are logged by the host; the rest are asked.
    host.load_all(&plugin_dir);
    let configured = config.time.clock;
    let read_only = TimeSettings {
        clock: ClockKind::Virtual,
        ..config.time.clone()
    };
    let mut service = TimeService::new(host, read_only);
    let deadline = Instant::now() + args.timeout.get();
    let (round, reached) = loop {
        let round = service.round();
        let Some(wait) = args.wait else {
            break (round, true);
        };
        if round.status >= wait.status() {
            break (round, true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break (round, false);
        }
        std::thread::sleep(service.next_poll().min(left));
    };
    let report = TimeReport::new(&round, configured, service.clock().offset_nanos());
    // The device's daemon's own view (in the config's state directory),
    // beside this fresh round: its estimate is carried between rounds, so
    // it may be better than one round's.
    let daemon = running_daemon_time(&config.state_dir);
    if args.json {
        let output = TimeOutput {
            report: &report,
            daemon: daemon.as_ref().map(|d| DaemonView {
                pid: d.pid,
                state: d.state.as_str(),
            }),
        };
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        print!("{}", table(&report));
        match &daemon {
            Some(d) => println!("daemon:    {} (pid {})", d.state.as_str(), d.pid),
            None => println!("daemon:    none running"),
        }
    }
    if !reached && let Some(wait) = args.wait {
        bail!(
            "the clock did not reach '{}' within {}; it is '{}'",
            wait.status().as_str(),
            args.timeout,
            round.status.as_str()
        );
    }
    if round.sources.is_empty() {
        eprintln!("no time-source plugin in '{}'", plugin_dir.display());
    }
    Ok(())
}

/// What `osb time --json` prints: the round, and the running daemon's
/// state (`null` when none runs).
#[derive(Serialize)]
struct TimeOutput<'a> {
    #[serde(flatten)]
    report: &'a TimeReport,
    daemon: Option<DaemonView>,
}

#[derive(Serialize)]
struct DaemonView {
    pid: u32,
    state: &'static str,
}

/// The report for a terminal.
pub fn table(report: &TimeReport) -> String {
    let show = |t: Option<UtcTime>| t.map_or_else(|| "-".to_owned(), |t| t.rfc3339(3));
    let mut rows = vec![[
        "SOURCE".to_owned(),
        "EARLIEST".to_owned(),
        "LATEST".to_owned(),
        "WIDTH".to_owned(),
        "NOTE".to_owned(),
    ]];
    for s in &report.sources {
        let note = match (&s.error, s.rejected) {
            (Some(e), _) => format!("error: {e}"),
            (None, true) => format!(
                "REJECTED (disagrees with the majority) {}",
                s.detail.as_deref().unwrap_or("")
            ),
            (None, false) => s.detail.clone().unwrap_or_default(),
        };
        rows.push([
            s.name.clone(),
            show(s.earliest),
            show(s.latest),
            s.width_ms
                .map_or_else(|| "-".to_owned(), |w| span(duration_ms(w))),
            note,
        ]);
    }
    let mut out = String::new();
    if report.sources.is_empty() {
        out.push_str("no time sources\n");
    } else {
        out.push_str(&super::columns::aligned(&rows));
    }
    out.push_str(&format!("agreement: {}\n", report.agreement));
    let estimate = match &report.estimate {
        None => "none".to_owned(),
        Some(e) => match (e.time, e.error_bound_ms) {
            (Some(t), Some(err)) => format!("{} ± {}", t.rfc3339(3), span(duration_ms(err))),
            _ => format!(
                "between {} and {}",
                e.earliest
                    .map_or_else(|| "-inf".to_owned(), |t| t.rfc3339(3)),
                e.latest.map_or_else(|| "+inf".to_owned(), |t| t.rfc3339(3))
            ),
        },
    };
    out.push_str(&format!("estimate:  {estimate}\n"));
    out.push_str(&format!("state:     {}\n", report.state));
    let offset = report.clock.offset_ms;
    let sign = if offset < 0.0 { "-" } else { "+" };
    out.push_str(&format!(
        "clock:     {}, offset {sign}{} from the system clock ({})\n",
        report.clock.backend,
        span(duration_ms(offset.abs())),
        report.clock.system.rfc3339(3)
    ));
    out
}

fn duration_ms(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1e3).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::report::{ClockView, EstimateView, SourceView};

    fn t(s: i64) -> Option<UtcTime> {
        Some(UtcTime::from_unix_seconds(1_700_000_000 + s))
    }

    #[test]
    fn the_table_shows_each_source_the_estimate_and_the_clock() {
        let source =
            |name: &str, earliest, latest, width_ms, note: Result<&str, &str>, rejected| {
                SourceView {
                    name: name.to_owned(),
                    earliest,
                    latest,
                    width_ms,
                    detail: note.ok().map(str::to_owned),
                    error: note.err().map(str::to_owned),
                    rejected,
                }
            };
        let report = TimeReport {
            sources: vec![
                source("time-fake-hwclock", t(-60), None, None, Ok("saved"), false),
                source("time-ntp", t(0), t(0), Some(0.0), Ok("pool"), false),
                source(
                    "time-liar",
                    t(7200),
                    t(7201),
                    Some(1000.0),
                    Ok("lies"),
                    true,
                ),
                source(
                    "time-rtc",
                    None,
                    None,
                    None,
                    Err("unavailable: no rtc"),
                    false,
                ),
            ],
            agreement: "2 of 3 sources agree".to_owned(),
            estimate: Some(EstimateView {
                earliest: t(0),
                latest: t(0),
                time: t(0),
                error_bound_ms: Some(0.0),
            }),
            state: "synced",
            clock: ClockView {
                backend: "virtual",
                system: UtcTime::from_unix_seconds(1_700_000_000),
                offset_ms: -1500.0,
            },
        };
        let expect = "\
SOURCE             EARLIEST                  LATEST                    WIDTH    NOTE
time-fake-hwclock  2023-11-14T22:12:20.000Z  -                         -        saved
time-ntp           2023-11-14T22:13:20.000Z  2023-11-14T22:13:20.000Z  0 µs     pool
time-liar          2023-11-15T00:13:20.000Z  2023-11-15T00:13:21.000Z  1.000 s  REJECTED (disagrees with the majority) lies
time-rtc           -                         -                         -        error: unavailable: no rtc
agreement: 2 of 3 sources agree
estimate:  2023-11-14T22:13:20.000Z ± 0 µs
state:     synced
clock:     virtual, offset -1.500 s from the system clock (2023-11-14T22:13:20.000Z)
";
        assert_eq!(table(&report), expect);
    }

    #[test]
    fn a_lower_bound_alone_is_shown_as_such() {
        let report = TimeReport {
            sources: Vec::new(),
            agreement: "no source answered".to_owned(),
            estimate: Some(EstimateView {
                earliest: t(0),
                latest: None,
                time: None,
                error_bound_ms: None,
            }),
            state: "unsynced",
            clock: ClockView {
                backend: "system",
                system: UtcTime::from_unix_seconds(1_700_000_000),
                offset_ms: 0.0,
            },
        };
        let out = table(&report);
        assert!(out.starts_with("no time sources\n"), "{out}");
        assert!(
            out.contains("estimate:  between 2023-11-14T22:13:20.000Z and +inf"),
            "{out}"
        );
    }
}
