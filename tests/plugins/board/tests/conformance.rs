//! The SDK's conformance suite for hardware adapters, run against the
//! scripted board: honest, it passes; each lie fails the check that names
//! it, and only that one.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use osb_sdk::harness::Harness;
use osb_sdk::harness::conformance::{self, Report};

fn run(config: &[(&str, &str)]) -> Report {
    let mut harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"));
    for (key, value) in config {
        harness = harness.config(key, value);
    }
    let board = harness.start().expect("the board starts under the harness");
    conformance::hardware_adapter(&board)
}

#[test]
fn an_honest_board_passes() {
    let report = run(&[("controls", "fan=low|high;hostname=")]);
    assert!(report.passed(), "{report}");
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    for expected in [
        "device-contract is a hw.device-type contract",
        "sensor 'board-temp' reads a finite number",
        "control 'fan' refuses a value it does not list",
        "control 'fan' takes 'high', twice",
        "nothing outside the grants changed",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} not checked:\n{report}"
        );
    }
    assert_eq!(
        report.not_checked,
        [
            "control 'hostname': free-form, no values to try",
            "bootloader: none (boot-state answers unsupported)"
        ]
    );
}

#[test]
fn each_lie_fails_the_check_that_names_it() {
    for (config, failure) in [
        (
            ("contract", r#"{"type": "sw.os", "slug": "balenaos"}"#),
            "device-contract is a hw.device-type contract: type 'sw.os', expected 'hw.device-type'",
        ),
        (
            ("contract", r#"{"type": "hw.device-type", "slug": "x"}"#),
            "device-contract is a hw.device-type contract: no data.arch: the runtime matches releases on it",
        ),
        (
            ("sensors", "cpu=nan °C"),
            "sensor 'cpu' reads a finite number: not a finite number: {\"ok\":null}",
        ),
        (
            ("sensors", "cpu=40 °C;cpu=41 °C"),
            "sensors are listed with unique ids: 'cpu' twice",
        ),
        (
            ("sensors", "cpu=40"),
            "sensor 'cpu' says what it is: no unit",
        ),
    ] {
        let report = run(&[config]);
        assert_eq!(report.failures(), [failure], "{config:?}:\n{report}");
    }
}
