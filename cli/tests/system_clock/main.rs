//! The `system` clock backend against the machine's real clock: it steps
//! `CLOCK_REALTIME` (by an offset the kernel adds, `clock_adjtime` with
//! `ADJ_SETOFFSET`) when, and only when, the device
//! config says `clock = "system"` and the process may.
//!
//! These tests move the clock of the machine running them, forward only
//! and by at most about two seconds: a clock moved forward breaks nothing
//! a clock running fast would not. They are a test binary of their own so
//! that no test comparing intervals with the machine's clock runs while
//! it moves (cargo runs test binaries one at a time).
//!
//! Stepping needs `CAP_SYS_TIME`; without it the tests that step say so
//! and return. The test of a daemon refused the step drops the capability
//! itself with util-linux's `setpriv`.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The device fixture is shared with the time_sources tests; this binary
// uses part of it.
#[allow(dead_code)]
#[path = "../time_sources/dates.rs"]
mod dates;
#[allow(dead_code)]
#[path = "../time_sources/device.rs"]
mod device;

use std::time::Duration;

use osb_runtime::time::{Clock, ClockKind, Interval, UtcTime};
use serde_json::Value;
use toml::Value as Toml;

use dates::SECOND;
use device::{Device, eventually};

const CAP_SYS_TIME: u32 = 25;

/// Held by each test that may move the clock: one test's step must not
/// land between another's reading of the clock and its own step.
static CLOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn clock_to_myself() -> std::sync::MutexGuard<'static, ()> {
    // A test that failed while holding it poisoned it; the clock is still
    // the clock.
    CLOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether `status` (a `/proc/PID/status` text) gives CAP_SYS_TIME in
/// effect.
fn has_cap_sys_time(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_TIME) != 0)
}

/// Whether this process may step the clock; says so when it may not.
fn may_step_the_clock() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let may = has_cap_sys_time(&status);
    if !may {
        eprintln!("notice: no CAP_SYS_TIME (run as root): the system clock is not stepped here");
    }
    may
}

/// The `by_ms` of each step the daemon logged, in order.
fn steps_logged(log: &str) -> Vec<i64> {
    log.lines()
        .filter(|l| l.contains("clock moved into the fused interval"))
        .map(|l| {
            l.split_whitespace()
                .find_map(|field| field.strip_prefix("by_ms="))
                .and_then(|ms| ms.parse().ok())
                .unwrap_or_else(|| panic!("no by_ms in {l}"))
        })
        .collect()
}

fn parse_time(report: &Value, pointer: &str) -> i128 {
    let text = report
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {report:#}"));
    dates::parse_rfc3339(text).unwrap_or_else(|| panic!("{pointer}: {text:?}"))
}

#[test]
fn the_system_backend_steps_the_real_clock_forward_into_a_lower_bound() {
    let _clock = clock_to_myself();
    if !may_step_the_clock() {
        return;
    }
    let mut clock = Clock::new(ClockKind::System);
    // 20 ms ahead of the clock: the true time is at least that.
    let read = UtcTime::now_system();
    let floor = read.saturating_add(20_000_000);
    let step = clock
        .follow(read, &Interval::at_least(floor))
        .expect("root may step the clock")
        .expect("a clock behind the lower bound is stepped");
    let after = UtcTime::now_system();
    // From the reading up to the floor, rounded up to a microsecond.
    assert_eq!(step.from, read);
    assert!(
        step.to >= floor && step.to.nanos_since(floor) < 1_000,
        "{step:?}, floor {floor}"
    );
    assert!(
        (20_000_000..20_001_000).contains(&step.by_nanos()),
        "{step:?}"
    );
    assert!(
        after >= floor,
        "the system clock reads {after}, behind {floor}"
    );
    // Inside the interval now: left alone.
    assert_eq!(
        clock
            .follow(UtcTime::now_system(), &Interval::at_least(floor))
            .expect("no step to make"),
        None
    );
    // The system backend keeps no offset: the system clock is the clock.
    assert_eq!(clock.offset_nanos(), 0);
}

/// A device whose only source says the true time is at least `floor`
/// (Unix seconds), with the `system` clock and quick rounds.
fn device_with_floor(floor: i64) -> Device {
    let mut device = Device::new();
    device
        .build_floor("time-build-floor", floor)
        .time_setting("clock", Toml::String("system".to_owned()))
        .time_setting("poll_unsynced_ms", Toml::Integer(200));
    device
}

fn now_seconds() -> i64 {
    dates::now().div_euclid(SECOND) as i64
}

#[test]
fn a_daemon_with_the_system_clock_steps_it_once_and_publishes_the_step() {
    let _clock = clock_to_myself();
    if !may_step_the_clock() {
        return;
    }
    let mut device = device_with_floor(now_seconds() - 60);
    let state = device.dir().join("state");
    // The plugin compiled into the daemon's cache first, so that its first
    // round comes within moments of its start even on a busy machine.
    let warm = device.time(&["--state-dir", state.to_str().expect("utf-8")]);
    assert!(warm.success, "{}", warm.stderr);
    // One to two seconds ahead of the machine's clock.
    let floor = now_seconds() + 2;
    device.build_floor("time-build-floor", floor);
    let mut daemon = device.daemon(&state, &[]);

    let mut report = Value::Null;
    let stepped = eventually(Duration::from_secs(30), || {
        report = daemon.report().unwrap_or(Value::Null);
        !report["last_step"].is_null()
    });
    assert!(stepped, "no step published: {report:#}\n{}", daemon.log());
    let system = dates::now();
    let floor_ns = i128::from(floor) * SECOND;
    let to = parse_time(&report, "/last_step/to");
    let from = parse_time(&report, "/last_step/from");
    // The lower bound carried from its sample to the round: later by the
    // time between them, earlier by the drift allowed over it.
    assert!(
        (floor_ns - 1_000_000..=floor_ns + 500_000_000).contains(&to),
        "stepped to {to}, the floor is {floor_ns}: {report:#}"
    );
    let by_ms = report["last_step"]["by_ms"].as_f64().unwrap_or(f64::NAN);
    assert!(
        by_ms > 0.0 && by_ms <= 2_100.0 && (to - from) / 1_000_000 == by_ms as i128,
        "{report:#}"
    );
    assert!(
        system >= to,
        "the system clock reads {system}, behind the step to {to}"
    );
    assert_eq!(report["clock"]["backend"], "system", "{report:#}");
    assert_eq!(report["clock"]["offset_ms"], 0.0, "{report:#}");
    assert_eq!(report["writer"]["pid"], daemon.pid(), "{report:#}");
    let log = daemon.log();
    assert_eq!(steps_logged(&log).len(), 1, "{log}");

    // Later rounds find the clock inside the interval: no second step.
    let written = parse_time(&report, "/written");
    let mut later = Value::Null;
    let another_round = eventually(Duration::from_secs(10), || {
        later = daemon.report().unwrap_or(Value::Null);
        later["written"].as_str().is_some() && parse_time(&later, "/written") > written
    });
    assert!(another_round, "no later round: {later:#}\n{}", daemon.log());
    // The kernel added the step to the clock as it applied it, and the
    // bound moves no faster than the clock: not even a catch-up.
    assert_eq!(later["last_step"], report["last_step"], "{later:#}");
    // `osb time` shows the running daemon's state beside its own round
    // (which, read-only, moves nothing).
    let run = device.time(&[]).ok();
    assert_eq!(
        run.report["daemon"]["pid"],
        daemon.pid(),
        "{:#}",
        run.report
    );
    assert_eq!(
        run.report["daemon"]["state"], "unsynced",
        "{:#}",
        run.report
    );
    assert!(daemon.stop(), "the daemon did not stop on SIGINT");
    let run = device.time(&[]).ok();
    assert_eq!(run.report["daemon"], Value::Null, "{:#}", run.report);
    let log = daemon.log();
    assert_eq!(steps_logged(&log).len(), 1, "{log}");
    assert!(
        !state.join("time.json").exists(),
        "the report outlived the daemon"
    );
}

#[test]
fn a_daemon_without_cap_sys_time_says_it_cannot_step_and_keeps_running() {
    let _clock = clock_to_myself();
    // The capability dropped from the bounding set, so that not even root
    // gets it back at exec.
    let drop_cap = [
        "setpriv",
        "--inh-caps=-sys_time",
        "--bounding-set=-sys_time",
    ];
    let probe = std::process::Command::new(drop_cap[0])
        .args(&drop_cap[1..])
        .args(["cat", "/proc/self/status"])
        .output();
    let Some(probe) = probe.ok().filter(|p| p.status.success()) else {
        eprintln!("notice: setpriv cannot drop CAP_SYS_TIME here: test skipped");
        return;
    };
    // Were the capability still there, the daemon would step the clock by
    // half a minute: checked before it starts.
    assert!(
        !has_cap_sys_time(&String::from_utf8_lossy(&probe.stdout)),
        "setpriv left CAP_SYS_TIME in effect"
    );

    let floor = now_seconds() + 30;
    let mut device = device_with_floor(floor);
    let state = device.dir().join("state");
    let mut daemon = device.daemon(&state, &drop_cap);

    let mut log = String::new();
    let refused = eventually(Duration::from_secs(30), || {
        log = daemon.log();
        log.contains("clock not moved")
    });
    assert!(refused, "no refusal logged:\n{log}");
    let line = log
        .lines()
        .find(|l| l.contains("clock not moved"))
        .unwrap_or_default();
    assert!(
        line.contains("cannot step the system clock") && line.contains("not permitted"),
        "{line}"
    );
    assert!(!log.contains("panicked"), "{log}");
    // Still running, still publishing, and the clock is where it was.
    let mut report = Value::Null;
    let published = eventually(Duration::from_secs(10), || {
        report = daemon.report().unwrap_or(Value::Null);
        report["writer"]["pid"] == daemon.pid()
    });
    assert!(published, "no report: {report:#}\n{}", daemon.log());
    assert!(!daemon.exited(), "the daemon exited:\n{}", daemon.log());
    assert_eq!(report["last_step"], Value::Null, "{report:#}");
    let system = dates::now();
    assert!(
        system < i128::from(floor) * SECOND,
        "the clock was stepped to {system} without CAP_SYS_TIME"
    );
    assert!(daemon.stop(), "the daemon did not stop on SIGINT");
}

#[test]
fn cap_sys_time_is_read_from_the_effective_set() {
    let status = |eff: &str| format!("Name:\tosb\nCapPrm:\t000001ffffffffff\nCapEff:\t{eff}\n");
    assert!(has_cap_sys_time(&status("000001ffffffffff")));
    assert!(has_cap_sys_time(&status("0000000002000000")));
    assert!(!has_cap_sys_time(&status("000001fffdffffff")));
    assert!(!has_cap_sys_time(&status("0000000000000000")));
    assert!(!has_cap_sys_time("Name:\tosb\n"));
    assert!(!has_cap_sys_time(&status("zz")));
}
