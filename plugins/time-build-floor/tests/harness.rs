//! The plugin under the real host, through the SDK harness: the build time
//! from config, or from a file in a temporary directory behind the
//! `/release` grant.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use osb_sdk::harness::{Harness, Running};
use serde_json::{Value, json};

fn harness() -> Harness {
    Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
}

fn sample(plugin: &Running) -> Value {
    plugin.call("sample", Value::Null).expect("no trap")
}

/// 2026-11-01T00:00:00Z.
const BUILD: i64 = 1_793_491_200;

#[test]
fn a_configured_build_time_is_a_lower_bound() {
    for value in [
        "1793491200",
        "2026-11-01T00:00:00Z",
        "2026-11-01T01:00:00+01:00",
    ] {
        let plugin = harness().config("build_time", value).start().unwrap();
        let answer = sample(&plugin);
        assert_eq!(
            answer["ok"]["interval"],
            json!({ "earliest": { "seconds": BUILD, "nanoseconds": 0 }, "latest": null }),
            "{value}"
        );
        let detail = answer["ok"]["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("OS build time 2026-11-01T00:00:00Z from config 'build_time'"),
            "{detail}"
        );
    }
}

#[test]
fn the_build_time_file_is_read_through_the_grant() {
    let plugin = harness().start().unwrap();
    let release = plugin
        .fs_dir("/release")
        .expect("the manifest asks for /release");
    let missing = sample(&plugin);
    assert_eq!(missing["error"]["code"], "Unavailable", "{missing}");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no build time at '/release/build-time'"),
        "{missing}"
    );

    std::fs::write(release.join("build-time"), "2026-11-01T00:00:00Z\n").unwrap();
    let answer = sample(&plugin);
    assert_eq!(answer["ok"]["interval"]["earliest"]["seconds"], BUILD);
    assert!(
        answer["ok"]["detail"]
            .as_str()
            .unwrap()
            .contains("from '/release/build-time'"),
        "{answer}"
    );

    for (contents, expect) in [
        ("", "expected Unix seconds or an RFC 3339 time"),
        (
            "next tuesday\n",
            "expected Unix seconds or an RFC 3339 time",
        ),
        ("1793491200000\n", "after the year 9999 (milliseconds?)"),
    ] {
        std::fs::write(release.join("build-time"), contents).unwrap();
        let answer = sample(&plugin);
        assert_eq!(answer["error"]["code"], "InvalidInput", "{contents:?}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("'/release/build-time' does not hold a build time: ")
                && message.contains(expect),
            "{contents:?}: {message}"
        );
    }
}

#[test]
fn garbage_in_config_fails_the_self_check_naming_the_key() {
    let refused = harness().config("build_time", "yesterday").start();
    let error = refused.err().expect("self-check refuses the load");
    assert!(
        error.contains("invalid config 'build_time' = \"yesterday\""),
        "{error}"
    );
}
