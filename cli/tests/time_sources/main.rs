//! The time service end to end against real components: the `osb` binary,
//! the real time-source plugins, an HTTPS server with a test CA on
//! loopback whose `Date` the test chooses, and a real chronyd serving NTP
//! on loopback. Every server serves this machine's clock (or a chosen lie
//! about it), so the machine's clock is the true time the estimates must
//! hold.
//!
//! Tests that need chronyd return early with a notice when it is not
//! installed, unless `CI` is set (scripts/services installs it).

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chrony;
mod dates;
// Shared with the system_clock tests, which use parts this binary does
// not (the daemon).
#[allow(dead_code)]
mod device;
mod https;

use osb_plugin_host::SecretKey;
use serde_json::Value;
use toml::Value as Toml;

use chrony::Chronyd;
use dates::SECOND;
use device::{Device, eventually};
use https::{Answer, TestCa};
use std::time::Duration;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn now_seconds() -> i64 {
    dates::now().div_euclid(SECOND) as i64
}

/// The runtime's build time (the `osb` binary's: the same crate), in
/// nanoseconds since the epoch.
fn runtime_build_ns() -> i128 {
    osb_runtime::time::runtime_build_time().unix_nanos()
}

/// The fixture itself, through the runtime's own HTTP transport: HEAD and
/// GET, each answer's status and `Date`, and the test CA trusted only when
/// configured.
#[test]
fn the_https_fixture_answers_as_told_and_only_to_clients_trusting_its_ca() {
    use osb_plugin_host::HttpSettings;
    use osb_plugin_host::host_api::http::{HttpTransport, UreqTransport};
    use osb_plugin_host::wit::latest::host::osb::plugin::http::Request;

    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path());
    let server = ca.serve(Answer::Honest);
    let transport = UreqTransport::new(&HttpSettings {
        ca_files: vec![ca.file().to_owned()],
    })
    .expect("the test CA file is usable");
    let send = |method: &str| {
        transport
            .send(
                &Request {
                    method: method.to_owned(),
                    url: server.url(),
                    headers: Vec::new(),
                    body: Vec::new(),
                    timeout_ms: 5000,
                },
                Duration::from_secs(5),
            )
            .expect("the fixture answers")
    };
    let date = |r: &osb_plugin_host::wit::latest::host::osb::plugin::http::Response| {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("date"))
            .map(|(_, v)| v.clone())
    };

    let before = now_seconds();
    let head = send("HEAD");
    let after = now_seconds();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let sent = date(&head).expect("a Date");
    assert!(
        (before..=after).any(|t| dates::http_date(t) == sent),
        "{sent}"
    );
    let get = send("GET");
    assert_eq!((get.status, get.body.as_slice()), (200, b"ok\n".as_slice()));
    assert_eq!((server.heads(), server.gets()), (1, 1));

    server.set(Answer::Skewed(-2 * HOUR));
    let before = now_seconds();
    let sent = date(&send("HEAD")).expect("a Date");
    let after = now_seconds();
    assert!(
        (before - 2 * HOUR..=after - 2 * HOUR).any(|t| dates::http_date(t) == sent),
        "{sent}"
    );
    server.set(Answer::Redirect);
    let redirect = send("GET");
    assert_eq!(redirect.status, 302);
    assert!(
        redirect
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("location") && v.contains("portal"))
    );
    server.set(Answer::NoDate);
    let page = send("GET");
    assert_eq!((page.status, date(&page)), (200, None));
    server.set(Answer::MalformedDate);
    assert_eq!(date(&send("HEAD")).as_deref(), Some("yesterday at noonish"));

    // Without the test CA, the same server is refused.
    let public_only = UreqTransport::new(&HttpSettings::default()).expect("public roots");
    let refused = public_only.send(
        &Request {
            method: "HEAD".to_owned(),
            url: server.url(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: 5000,
        },
        Duration::from_secs(5),
    );
    assert!(refused.is_err(), "an unknown CA was trusted: {refused:?}");
}

#[test]
fn the_chronyd_fixture_serves_ntp_and_stops_when_dropped() {
    let Some(chronyd) = Chronyd::start() else {
        return;
    };
    let addr = chronyd.addr();
    assert!(chrony::sntp_answers(addr), "{}", chronyd.log());
    drop(chronyd);
    assert!(!chrony::sntp_answers(addr), "chronyd outlived its fixture");
}

#[test]
fn https_alone_reaches_coarse_with_an_interval_holding_the_true_time() {
    let mut device = Device::new();
    let ca = TestCa::new(device.dir());
    let server = ca.serve(Answer::Honest);
    device
        .trust_ca(ca.file())
        .https("time-https", &[server.url()]);

    let run = device.time(&["--wait", "coarse", "--timeout", "30s"]).ok();
    assert!(
        ["coarse", "synced"].contains(&run.state()),
        "{:#}",
        run.report
    );
    run.assert_estimate_holds_the_true_time();
    // A Date has a resolution of one second; the round trip on loopback
    // and the call add little to that.
    let width = run.width();
    assert!(
        width > 0 && width < 2 * SECOND,
        "width {width} ns: {:#}",
        run.report
    );
    let source = run.source("time-https");
    assert_eq!(source["error"], serde_json::Value::Null, "{source:#}");
    assert!(
        source["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&server.url())),
        "{source:#}"
    );
    assert!(server.heads() >= 1, "the server was never asked");
    assert_eq!(server.gets(), 0, "the plugin asks with HEAD only");
    // The machine's clock is inside the estimate: not moved.
    assert_eq!(run.offset_ms(), 0.0, "{:#}", run.report);
}

#[test]
fn ntp_against_chronyd_is_narrow_but_alone_only_coarse() {
    let Some(chronyd) = Chronyd::start() else {
        return;
    };
    let mut device = Device::new();
    device.ntp("time-ntp", &[chronyd.addr()]);

    let run = device.time(&["--wait", "coarse", "--timeout", "30s"]).ok();
    // Narrow enough for synced (an error bound of at most 250 ms, that is a
    // width of 500 ms), but one origin: taken at its word, never synced.
    assert_eq!(run.state(), "coarse", "{:#}", run.report);
    assert_eq!(run.report["agreement"], "1 of 1 origins agree");
    assert_eq!(run.report["origins"], serde_json::json!(["time-ntp"]));
    run.assert_estimate_holds_the_true_time();
    let width = run.width();
    assert!(
        width > 0 && width <= SECOND / 2,
        "width {width} ns: {:#}",
        run.report
    );
    let error_bound = run.report["estimate"]["error_bound_ms"]
        .as_f64()
        .expect("an error bound");
    assert!(error_bound > 0.0 && error_bound <= 250.0, "{error_bound}");
    let source = run.source("time-ntp");
    assert_eq!(source["verdict"], "agrees", "{source:#}");
    let source_width = source["width_ms"].as_f64().expect("the source's width");
    assert!(source_width > 0.0 && source_width <= 500.0, "{source:#}");
    let detail = source["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&chronyd.addr().to_string()) && detail.contains("stratum 8"),
        "{source:#}"
    );
    assert_eq!(run.offset_ms(), 0.0, "{:#}", run.report);
}

#[test]
fn ntp_and_https_are_two_origins_and_sync_one_signer_is_one_unless_configured() {
    let Some(chronyd) = Chronyd::start() else {
        return;
    };
    let mut device = Device::new();
    let ca = TestCa::new(device.dir());
    let server = ca.serve(Answer::Honest);
    device
        .trust_ca(ca.file())
        .https("time-https", &[server.url()])
        .ntp("time-ntp", &[chronyd.addr()]);

    // Unsigned (development mode): each package is its own origin.
    let run = device.time(&["--wait", "synced", "--timeout", "30s"]).ok();
    assert_eq!(run.state(), "synced", "{:#}", run.report);
    assert_eq!(run.report["agreement"], "2 of 2 origins agree");
    assert_eq!(
        run.report["origins"],
        serde_json::json!(["time-https", "time-ntp"])
    );
    run.assert_estimate_holds_the_true_time();
    assert!(run.width() <= SECOND / 2, "{:#}", run.report);

    // Signed by one key, as one vendor ships them: one origin, whose
    // vote is the hull of both answers. Coarse at most.
    let key = SecretKey::generate().expect("a key");
    device.sign("time-https", &key).sign("time-ntp", &key);
    let run = device.time(&["--wait", "coarse", "--timeout", "30s"]).ok();
    assert_eq!(run.state(), "coarse", "{:#}", run.report);
    assert_eq!(run.report["agreement"], "1 of 1 origins agree");
    let signer = key.public().to_string();
    assert_eq!(run.report["origins"], serde_json::json!([signer]));
    for name in ["time-https", "time-ntp"] {
        assert_eq!(run.source(name)["origin"], signer, "{:#}", run.report);
    }
    run.assert_estimate_holds_the_true_time();

    // The device config says where each really gets its time from.
    device.time_setting(
        "origins",
        Toml::Table(
            [
                ("time-ntp".to_owned(), Toml::String("ntp-pool".to_owned())),
                (
                    "time-https".to_owned(),
                    Toml::String("vendor-api".to_owned()),
                ),
            ]
            .into_iter()
            .collect(),
        ),
    );
    let run = device.time(&["--wait", "synced", "--timeout", "30s"]).ok();
    assert_eq!(run.state(), "synced", "{:#}", run.report);
    assert_eq!(
        run.report["origins"],
        serde_json::json!(["ntp-pool", "vendor-api"])
    );
    assert_eq!(
        run.report["estimate"]["origins"],
        serde_json::json!(["ntp-pool", "vendor-api"])
    );
    run.assert_estimate_holds_the_true_time();
}

#[test]
fn a_server_two_hours_ahead_is_outvoted_by_two_honest_origins_and_named() {
    let Some(chronyd) = Chronyd::start() else {
        return;
    };
    let mut device = Device::new();
    let ca = TestCa::new(device.dir());
    let honest = ca.serve(Answer::Honest);
    let liar = ca.serve(Answer::Skewed(2 * HOUR));
    device
        .trust_ca(ca.file())
        .https("time-https", &[honest.url()])
        .https("time-https-liar", &[liar.url()])
        .ntp("time-ntp", &[chronyd.addr()]);
    device.fake_hwclock("time-fake-hwclock", now_seconds() - DAY);

    let run = device.time(&["--wait", "synced", "--timeout", "30s"]).ok();
    assert_eq!(run.rejected(), ["time-https-liar"], "{:#}", run.report);
    // The fake hardware clock is a lower bound: no vote.
    assert_eq!(run.report["agreement"], "2 of 3 origins agree");
    assert_eq!(run.source("time-fake-hwclock")["verdict"], "bound");
    assert_eq!(run.source("time-https-liar")["verdict"], "false-ticker");
    assert_eq!(run.state(), "synced", "{:#}", run.report);
    run.assert_estimate_holds_the_true_time();
    // The liar did answer, two hours ahead: it was outvoted, not silent.
    let (liar_earliest, _) = run.source_interval("time-https-liar");
    let liar_earliest = liar_earliest.expect("the liar answered an interval");
    assert!(
        liar_earliest > run.after + i128::from(2 * HOUR - 5) * SECOND,
        "{:#}",
        run.report
    );
    assert!(liar.heads() >= 1);
    assert_eq!(run.offset_ms(), 0.0, "the liar moved the clock");
    let named = run.log_lines_with(&["time source rejected", "time-https-liar"]);
    assert!(
        !named.is_empty(),
        "the log does not name the liar:\n{}",
        run.stderr
    );
}

#[test]
fn a_single_server_is_taken_at_its_word_and_the_virtual_clock_follows_it() {
    let mut device = Device::new();
    let ca = TestCa::new(device.dir());
    // Ahead rather than behind: ten minutes behind could be before the
    // runtime was built, when the tests run right after the build.
    let ahead = ca.serve(Answer::Skewed(600));
    device
        .trust_ca(ca.file())
        .https("time-https", &[ahead.url()]);

    let run = device.time(&["--wait", "coarse", "--timeout", "30s"]).ok();
    assert_eq!(run.state(), "coarse", "{:#}", run.report);
    // Nothing can outvote one source: the estimate is ten minutes ahead
    // and misses the machine's clock.
    let (earliest, latest) = run.estimate();
    let (earliest, latest) = (earliest.expect("bounded"), latest.expect("bounded"));
    let lie = 600 * SECOND;
    assert!(
        earliest <= run.after + lie && latest >= run.before + lie && earliest > run.after,
        "{:#}",
        run.report
    );
    assert!(run.rejected().is_empty());
    // The virtual clock moved to the estimate's midpoint; the system
    // clock was not touched (`osb time` is read-only).
    let offset = run.offset_ms();
    assert!(
        (offset - 600_000.0).abs() < 2_000.0,
        "offset {offset} ms: {:#}",
        run.report
    );
}

#[test]
fn with_every_server_gone_the_lower_bounds_remain_and_nothing_panics() {
    let Some(chronyd) = Chronyd::start() else {
        return;
    };
    let mut device = Device::new();
    let ca = TestCa::new(device.dir());
    let server = ca.serve(Answer::Honest);
    let saved = now_seconds() - DAY;
    let built = now_seconds() - 30 * DAY;
    device
        .trust_ca(ca.file())
        .https("time-https", &[server.url()])
        .ntp("time-ntp", &[chronyd.addr()])
        .build_floor("time-build-floor", built);
    let state_file = device.fake_hwclock("time-fake-hwclock", saved);

    // With the servers up, the same device is synced: what follows fails
    // because they are gone, not because the device cannot reach them.
    let up = device.time(&["--wait", "synced", "--timeout", "30s"]).ok();
    assert_eq!(up.state(), "synced", "{:#}", up.report);
    assert_eq!(up.report["agreement"], "2 of 2 origins agree");

    drop(server);
    drop(chronyd);
    let down = device.time(&[]).ok();
    assert_eq!(down.state(), "unsynced", "{:#}", down.report);
    for name in ["time-https", "time-ntp"] {
        let error = down.source(name)["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("unavailable"), "{name}: {error}");
    }
    assert!(
        down.source("time-ntp")["error"]
            .as_str()
            .is_some_and(|e| e.contains("no reply")),
        "{:#}",
        down.report
    );
    assert_eq!(
        down.report["agreement"],
        "no vote: no plausible bounded answer; only the bounds fused"
    );
    assert!(down.rejected().is_empty(), "{:#}", down.report);
    // The latest of the floors (the saved time, or the runtime's own build
    // time if that is later), and no upper bound.
    let (earliest, latest) = down.estimate();
    let earliest = earliest.expect("a lower bound");
    let floor_ns = (i128::from(saved) * SECOND).max(runtime_build_ns());
    assert!(
        earliest >= floor_ns && earliest < floor_ns + 10 * SECOND,
        "{:#}",
        down.report
    );
    assert_eq!(latest, None, "{:#}", down.report);
    // Both failures are logged, naming the source.
    for name in ["time-https", "time-ntp"] {
        let lines = down.log_lines_with(&["time source gave no sample", name]);
        assert!(!lines.is_empty(), "{name} not in the log:\n{}", down.stderr);
    }

    // Waiting for better fails cleanly, still printing the report.
    let wait = device.time(&["--wait", "coarse", "--timeout", "3s"]);
    assert!(!wait.success, "{:#}", wait.report);
    assert_eq!(wait.state(), "unsynced", "{:#}", wait.report);
    assert!(
        wait.stderr.contains("did not reach 'coarse'") && wait.stderr.contains("'unsynced'"),
        "{}",
        wait.stderr
    );
    // Read-only: the saved time is as it was.
    assert_eq!(
        std::fs::read_to_string(&state_file).expect("state file"),
        format!("{saved}\n")
    );
}

#[test]
fn captive_portals_and_malformed_dates_are_ignored_naming_why() {
    let mut device = Device::new();
    let ca = TestCa::new(device.dir());
    let server = ca.serve(Answer::Redirect);
    device
        .trust_ca(ca.file())
        .https("time-https", &[server.url()]);

    for (answer, why) in [
        (Answer::Redirect, "status 302, not 2xx (a captive portal"),
        (Answer::NoDate, "no Date header"),
        (
            Answer::MalformedDate,
            "malformed Date header \"yesterday at noonish\"",
        ),
    ] {
        server.set(answer);
        let asked = server.heads();
        let run = device.time(&[]).ok();
        assert_eq!(run.state(), "unsynced", "{answer:?}: {:#}", run.report);
        // Nothing but the runtime's own floor: its build time.
        assert_eq!(
            run.estimate(),
            (Some(runtime_build_ns()), None),
            "{answer:?}: {:#}",
            run.report
        );
        assert_eq!(run.report["agreement"], "no source answered", "{answer:?}");
        let error = run.source("time-https")["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            error.starts_with("unavailable") && error.contains(why),
            "{answer:?}: {error}"
        );
        // Asked once, then not again in that sample.
        assert_eq!(server.heads(), asked + 1, "{answer:?}");
        let logged = run.log_lines_with(&["time-https", "ignoring", &server.url(), why]);
        assert!(
            !logged.is_empty(),
            "{answer:?}: the log does not say why:\n{}",
            run.stderr
        );
    }

    // However long it is asked, a portal never makes the clock coarse.
    server.set(Answer::Redirect);
    let wait = device.time(&["--wait", "coarse", "--timeout", "3s"]);
    assert!(!wait.success, "{:#}", wait.report);
    assert_eq!(wait.state(), "unsynced");
}

#[test]
fn a_fake_hwclock_saved_a_day_ahead_is_rejected_by_honest_https_and_ntp() {
    let Some(chronyd) = Chronyd::start() else {
        return;
    };
    let mut device = Device::new();
    let ca = TestCa::new(device.dir());
    let server = ca.serve(Answer::Honest);
    let future = now_seconds() + DAY;
    device
        .trust_ca(ca.file())
        .https("time-https", &[server.url()])
        .ntp("time-ntp", &[chronyd.addr()]);
    let state_file = device.fake_hwclock("time-fake-hwclock", future);

    let run = device.time(&["--wait", "synced", "--timeout", "30s"]).ok();
    // A lower bound contradicting an agreement of two origins is outvoted.
    assert_eq!(run.rejected(), ["time-fake-hwclock"], "{:#}", run.report);
    assert_eq!(run.report["agreement"], "2 of 2 origins agree");
    assert_eq!(run.source("time-fake-hwclock")["verdict"], "false-ticker");
    assert_eq!(run.state(), "synced", "{:#}", run.report);
    run.assert_estimate_holds_the_true_time();
    // It answered its saved time, carried to the round's instant.
    let (floor, _) = run.source_interval("time-fake-hwclock");
    let floor = floor.expect("the saved time answered as a lower bound");
    let future_ns = i128::from(future) * SECOND;
    assert!(
        floor >= future_ns && floor < future_ns + 10 * SECOND,
        "{:#}",
        run.report
    );
    assert_eq!(run.offset_ms(), 0.0, "the saved time moved the clock");
    let named = run.log_lines_with(&["time source rejected", "time-fake-hwclock"]);
    assert!(
        !named.is_empty(),
        "the log does not name it:\n{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&state_file).expect("state file"),
        format!("{future}\n")
    );
}

/// 9999-12-31T23:59:59Z.
const Y9999: i64 = 253_402_300_799;

#[test]
fn a_narrow_source_in_9999_among_lower_bounds_is_refused_and_nothing_is_saved() {
    let mut device = Device::new();
    // The saved time an hour ahead of the machine's clock, so that the
    // clock has to move: the lower bounds still move it, the liar not.
    let saved = now_seconds() + HOUR;
    device
        .build_floor("time-build-floor", now_seconds() - 30 * DAY)
        .probe("time-liar", Some(Y9999 - 1), Some(Y9999))
        .time_setting("poll_unsynced_ms", Toml::Integer(200));
    let state_file = device.fake_hwclock("time-fake-hwclock", saved);

    let run = device.time(&[]).ok();
    assert_eq!(run.state(), "unsynced", "{:#}", run.report);
    assert_eq!(run.rejected(), ["time-liar"], "{:#}", run.report);
    assert_eq!(run.source("time-liar")["verdict"], "implausible");
    for floor in ["time-build-floor", "time-fake-hwclock"] {
        assert_eq!(run.source(floor)["verdict"], "bound", "{:#}", run.report);
    }
    assert_eq!(
        run.report["agreement"],
        "no vote: no plausible bounded answer; only the bounds fused"
    );
    let (earliest, latest) = run.estimate();
    let saved_ns = i128::from(saved) * SECOND;
    let earliest = earliest.expect("a lower bound");
    assert!(
        earliest >= saved_ns && earliest < saved_ns + 10 * SECOND,
        "{:#}",
        run.report
    );
    assert_eq!(latest, None, "{:#}", run.report);
    // Moved up to the saved time, not towards 9999.
    let offset = run.offset_ms();
    assert!(
        offset > 3_500_000.0 && offset < 3_700_000.0,
        "offset {offset} ms: {:#}",
        run.report
    );
    let named = run.log_lines_with(&["time source rejected", "time-liar", "plausible range"]);
    assert!(
        !named.is_empty(),
        "the log does not name the liar:\n{}",
        run.stderr
    );

    // The daemon, rounds every 200 ms on the virtual clock, then stopped as
    // a service manager would.
    let state = device.dir().join("state");
    let mut daemon = device.daemon(&state, &[]);
    let mut report = Value::Null;
    let mut rounds = 0;
    let mut written = Value::Null;
    let several = eventually(Duration::from_secs(30), || {
        report = daemon.report().unwrap_or(Value::Null);
        if !report["written"].is_null() && report["written"] != written {
            written = report["written"].clone();
            rounds += 1;
        }
        rounds >= 3
    });
    assert!(
        several,
        "fewer than 3 rounds published: {report:#}\n{}",
        daemon.log()
    );
    assert_eq!(report["state"], "unsynced", "{report:#}");
    assert_eq!(report["clock"]["backend"], "virtual", "{report:#}");
    let offset = report["clock"]["offset_ms"].as_f64().unwrap_or(f64::NAN);
    assert!(
        offset > 3_500_000.0 && offset < 3_700_000.0,
        "offset {offset} ms: {report:#}"
    );
    let liar = report["sources"]
        .as_array()
        .and_then(|sources| sources.iter().find(|s| s["name"] == "time-liar"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(liar["verdict"], "implausible", "{report:#}");
    assert!(daemon.stop(), "the daemon did not stop on SIGINT");
    // Never synced: the fake hardware clock was told nothing, not even the
    // lower bound it moved on by the daemon's uptime.
    assert_eq!(
        std::fs::read_to_string(&state_file).expect("state file"),
        format!("{saved}\n")
    );
    let log = daemon.log();
    assert!(
        log.contains("time sources not told the time at shutdown"),
        "{log}"
    );
    // The clock moved, up to the saved time, and never to 9999.
    let steps: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("clock moved into the fused interval"))
        .collect();
    assert!(
        !steps.is_empty() && steps.iter().all(|l| !l.contains("to=9999")),
        "{log}"
    );
}

#[test]
fn two_liars_signed_by_one_key_are_one_vote_against_honest_origins() {
    let Some(chronyd) = Chronyd::start() else {
        return;
    };
    let mut device = Device::new();
    let vendor = SecretKey::generate().expect("a key");
    let ahead = now_seconds() + HOUR;
    device
        .ntp("time-ntp", &[chronyd.addr()])
        .probe("liar-a", Some(ahead), Some(ahead))
        .probe("liar-b", Some(ahead), Some(ahead + 1))
        .sign("liar-a", &vendor)
        .sign("liar-b", &vendor);

    // One vote each: the vendor's two plugins against NTP. No majority, so
    // nothing bounded is fused: not synced, and not on the liars' hour.
    let run = device.time(&[]).ok();
    let signer = vendor.public().to_string();
    for name in ["liar-a", "liar-b"] {
        assert_eq!(run.source(name)["origin"], signer, "{:#}", run.report);
    }
    assert_eq!(run.source("time-ntp")["origin"], "time-ntp");
    assert_eq!(
        run.report["agreement"], "no majority: at most 1 of 2 origins agree; only the bounds fused",
        "{:#}",
        run.report
    );
    assert_eq!(run.state(), "unsynced", "{:#}", run.report);
    for name in ["liar-a", "liar-b", "time-ntp"] {
        assert_eq!(run.source(name)["verdict"], "undecided", "{:#}", run.report);
    }
    assert_eq!(run.estimate().1, None, "{:#}", run.report);
    assert_eq!(run.offset_ms(), 0.0, "the liars moved the clock");

    // A second honest origin: two votes against the vendor's one, and
    // both its plugins are named.
    let ca = TestCa::new(device.dir());
    let server = ca.serve(Answer::Honest);
    device
        .trust_ca(ca.file())
        .https("time-https", &[server.url()]);
    let run = device.time(&["--wait", "synced", "--timeout", "30s"]).ok();
    assert_eq!(run.state(), "synced", "{:#}", run.report);
    assert_eq!(run.report["agreement"], "2 of 3 origins agree");
    assert_eq!(run.rejected(), ["liar-a", "liar-b"], "{:#}", run.report);
    run.assert_estimate_holds_the_true_time();
    assert_eq!(run.offset_ms(), 0.0, "the liars moved the clock");
    for name in ["liar-a", "liar-b"] {
        let named = run.log_lines_with(&["time source rejected", name]);
        assert!(!named.is_empty(), "{name} not named:\n{}", run.stderr);
    }
}
