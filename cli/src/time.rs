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
use osb_plugin_host::PluginHost;
use osb_runtime::config::DeviceConfig;
use osb_runtime::time::fusion::Verdict;
use osb_runtime::time::report::TimeReport;
use osb_runtime::time::utc::span;
use osb_runtime::time::{ClockKind, TimeService, TimeSettings, UtcTime};
use osb_state::{HumanDuration, TimeStatus};

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
    let report = TimeReport::new(
        &round,
        service.plausible(),
        configured,
        service.clock().offset_nanos(),
    );
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
        "ORIGIN".to_owned(),
        "EARLIEST".to_owned(),
        "LATEST".to_owned(),
        "WIDTH".to_owned(),
        "NOTE".to_owned(),
    ]];
    for s in &report.sources {
        let detail = s.detail.as_deref().unwrap_or("");
        let mut note = match (&s.error, s.verdict) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(Verdict::FalseTicker)) => {
                format!("REJECTED (disagrees with the majority) {detail}")
            }
            (None, Some(Verdict::Implausible)) => {
                format!("REJECTED (outside the plausible range) {detail}")
            }
            (None, Some(Verdict::Contradicts)) => {
                format!("CONTRADICTS (too few origins agree to reject it) {detail}")
            }
            (None, Some(Verdict::Undecided)) => format!("(no majority) {detail}"),
            (None, Some(Verdict::Agrees | Verdict::Bound) | None) => detail.to_owned(),
        };
        if s.clipped {
            note.push_str(" (clipped to the plausible range)");
        }
        rows.push([
            s.name.clone(),
            short_origin(&s.origin),
            show(s.earliest),
            show(s.latest),
            s.width_ms
                .map_or_else(|| "-".to_owned(), |w| span(duration_ms(w))),
            note.trim_end().to_owned(),
        ]);
    }
    let mut out = String::new();
    if report.sources.is_empty() {
        out.push_str("no time sources\n");
    } else {
        out.push_str(&super::columns::aligned(&rows));
    }
    let listed = |origins: &[String]| {
        origins
            .iter()
            .map(|o| short_origin(o))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!("agreement: {}", report.agreement));
    if !report.origins.is_empty() {
        out.push_str(&format!(" ({})", listed(&report.origins)));
    }
    out.push('\n');
    out.push_str(&format!(
        "plausible: {} to {}\n",
        report.plausible.earliest().rfc3339(3),
        report.plausible.latest().rfc3339(3)
    ));
    let e = &report.estimate;
    let mut estimate = match (e.time, e.error_bound_ms) {
        (Some(t), Some(err)) => format!("{} ± {}", t.rfc3339(3), span(duration_ms(err))),
        _ => format!(
            "between {} and {}",
            e.earliest
                .map_or_else(|| "-inf".to_owned(), |t| t.rfc3339(3)),
            e.latest.map_or_else(|| "+inf".to_owned(), |t| t.rfc3339(3))
        ),
    };
    if !e.origins.is_empty() {
        estimate.push_str(&format!(", vouched for by {}", listed(&e.origins)));
    }
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

/// An origin short enough for a table column: a signing key by its first
/// eight hex digits (`osb time --json` has it whole).
fn short_origin(origin: &str) -> String {
    match origin.strip_prefix("ed25519:") {
        Some(hex) if hex.chars().count() > 12 => {
            format!("ed25519:{}…", hex.chars().take(8).collect::<String>())
        }
        _ => origin.to_owned(),
    }
}

fn duration_ms(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1e3).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use osb_runtime::time::Plausible;
    use osb_runtime::time::report::{ClockView, EstimateView, SourceView};

    fn t(s: i64) -> Option<UtcTime> {
        Some(UtcTime::from_unix_seconds(1_700_000_000 + s))
    }

    fn plausible() -> Plausible {
        Plausible::new(
            UtcTime::from_unix_seconds(1_699_000_000),
            Duration::from_secs(7305 * 86_400),
        )
    }

    #[test]
    fn the_table_shows_each_source_the_estimate_and_the_clock() {
        let key = format!("ed25519:{}", "ab12".repeat(16));
        let source = |name: &str,
                      origin: &str,
                      (earliest, latest, width_ms),
                      note: Result<&str, &str>,
                      verdict: Option<Verdict>,
                      clipped| SourceView {
            name: name.to_owned(),
            origin: origin.to_owned(),
            earliest,
            latest,
            width_ms,
            detail: note.ok().map(str::to_owned),
            error: note.err().map(str::to_owned),
            verdict,
            rejected: verdict.is_some_and(Verdict::rejected),
            clipped,
        };
        let report = TimeReport {
            sources: vec![
                source(
                    "time-fake-hwclock",
                    &key,
                    (t(-60), None, None),
                    Ok("saved"),
                    Some(Verdict::Bound),
                    false,
                ),
                source(
                    "time-ntp",
                    "ntp-pool",
                    (t(0), t(0), Some(0.0)),
                    Ok("pool"),
                    Some(Verdict::Agrees),
                    false,
                ),
                source(
                    "time-https",
                    "vendor-api",
                    (t(-1), t(1), Some(2000.0)),
                    Ok("api"),
                    Some(Verdict::Agrees),
                    false,
                ),
                source(
                    "time-liar",
                    "time-liar",
                    (t(7200), t(7201), Some(1000.0)),
                    Ok("lies"),
                    Some(Verdict::FalseTicker),
                    false,
                ),
                source(
                    "time-far",
                    "time-far",
                    (t(9_999_999_999), t(9_999_999_999), Some(0.0)),
                    Ok(""),
                    Some(Verdict::Implausible),
                    false,
                ),
                source(
                    "time-wide",
                    "time-wide",
                    (t(-1_000_000_000), t(1), Some(1_000_000_001_000.0)),
                    Ok("wide"),
                    Some(Verdict::Agrees),
                    true,
                ),
                source(
                    "time-rtc",
                    "time-rtc",
                    (None, None, None),
                    Err("unavailable: no rtc"),
                    None,
                    false,
                ),
            ],
            agreement: "3 of 4 origins agree".to_owned(),
            origins: vec![
                "ntp-pool".to_owned(),
                "time-wide".to_owned(),
                "vendor-api".to_owned(),
            ],
            plausible: plausible(),
            estimate: EstimateView {
                earliest: t(0),
                latest: t(0),
                time: t(0),
                error_bound_ms: Some(0.0),
                origins: vec![
                    "ntp-pool".to_owned(),
                    "time-wide".to_owned(),
                    "vendor-api".to_owned(),
                ],
            },
            state: "synced",
            clock: ClockView {
                backend: "virtual",
                system: UtcTime::from_unix_seconds(1_700_000_000),
                offset_ms: -1500.0,
            },
        };
        let expect = "\
SOURCE             ORIGIN             EARLIEST                  LATEST                    WIDTH        NOTE
time-fake-hwclock  ed25519:ab12ab12…  2023-11-14T22:12:20.000Z  -                         -            saved
time-ntp           ntp-pool           2023-11-14T22:13:20.000Z  2023-11-14T22:13:20.000Z  0 µs         pool
time-https         vendor-api         2023-11-14T22:13:19.000Z  2023-11-14T22:13:21.000Z  2.000 s      api
time-liar          time-liar          2023-11-15T00:13:20.000Z  2023-11-15T00:13:21.000Z  1.000 s      REJECTED (disagrees with the majority) lies
time-far           time-far           2340-10-04T15:59:59.000Z  2340-10-04T15:59:59.000Z  0 µs         REJECTED (outside the plausible range)
time-wide          time-wide          1992-03-07T20:26:40.000Z  2023-11-14T22:13:21.000Z  11574 d 1 h  wide (clipped to the plausible range)
time-rtc           time-rtc           -                         -                         -            error: unavailable: no rtc
agreement: 3 of 4 origins agree (ntp-pool, time-wide, vendor-api)
plausible: 2023-11-03T08:26:40.000Z to 2043-11-03T08:26:40.000Z
estimate:  2023-11-14T22:13:20.000Z ± 0 µs, vouched for by ntp-pool, time-wide, vendor-api
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
            origins: Vec::new(),
            plausible: plausible(),
            estimate: EstimateView {
                earliest: t(0),
                latest: None,
                time: None,
                error_bound_ms: None,
                origins: Vec::new(),
            },
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
            out.contains("estimate:  between 2023-11-14T22:13:20.000Z and +inf\n"),
            "{out}"
        );
    }

    #[test]
    fn signing_keys_are_shortened_in_the_table_only() {
        let key = format!("ed25519:{}", "0f".repeat(32));
        // (origin, shown)
        let cases = [
            (key.as_str(), "ed25519:0f0f0f0f…"),
            ("ed25519:short", "ed25519:short"),
            ("ntp-pool", "ntp-pool"),
            ("ed25519:ééééééééééééé", "ed25519:éééééééé…"),
        ];
        for (origin, shown) in cases {
            assert_eq!(short_origin(origin), shown);
        }
    }
}
