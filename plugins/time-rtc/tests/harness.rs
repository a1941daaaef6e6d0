//! The plugin under the real host, through the SDK harness: a temporary
//! directory stands in for the RTC's sysfs directory behind the `/rtc`
//! grant.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use osb_sdk::harness::{Harness, Running};
use serde_json::{Value, json};

fn rtc(tolerance_s: Option<&str>) -> Running {
    let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"));
    match tolerance_s {
        Some(tolerance) => harness.config("tolerance_s", tolerance),
        None => harness,
    }
    .start()
    .expect("plugin starts under the harness")
}

fn sysfs(plugin: &Running) -> &Path {
    plugin.fs_dir("/rtc").expect("the manifest asks for /rtc")
}

fn host_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn error(answer: &Value) -> (&str, &str) {
    (
        answer["error"]["code"].as_str().expect("an error"),
        answer["error"]["message"].as_str().expect("a message"),
    )
}

#[test]
fn an_rtc_reading_gives_the_second_and_the_tolerance() {
    let plugin = rtc(None);
    let now = host_seconds();
    std::fs::write(sysfs(&plugin).join("since_epoch"), format!("{now}\n")).unwrap();
    let answer = plugin.call("sample", Value::Null).unwrap();
    let interval = &answer["ok"]["interval"];
    assert_eq!(
        interval["earliest"],
        json!({ "seconds": now - 10, "nanoseconds": 0 })
    );
    assert_eq!(
        interval["latest"],
        json!({ "seconds": now + 11, "nanoseconds": 0 })
    );
    let detail = answer["ok"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("in '/rtc/since_epoch', trusted to 10 s"),
        "{detail}"
    );

    let tight = rtc(Some("2"));
    std::fs::write(sysfs(&tight).join("since_epoch"), format!("{now}")).unwrap();
    let answer = tight.call("sample", Value::Null).unwrap();
    assert_eq!(answer["ok"]["interval"]["earliest"]["seconds"], now - 2);
    assert_eq!(answer["ok"]["interval"]["latest"]["seconds"], now + 3);
}

#[test]
fn no_rtc_is_unavailable() {
    let plugin = rtc(None);
    let answer = plugin.call("sample", Value::Null).unwrap();
    let (code, message) = error(&answer);
    assert_eq!(code, "Unavailable");
    assert!(
        message.starts_with("no RTC at '/rtc/since_epoch'"),
        "{message}"
    );
}

#[test]
fn a_reset_rtc_is_unavailable() {
    let plugin = rtc(None);
    std::fs::write(sysfs(&plugin).join("since_epoch"), "946684800\n").unwrap();
    let answer = plugin.call("sample", Value::Null).unwrap();
    let (code, message) = error(&answer);
    assert_eq!(code, "Unavailable");
    assert!(
        message.contains("reads 2000-01-01T00:00:00Z, before 2025-01-01T00:00:00Z"),
        "{message}"
    );
}

#[test]
fn garbage_is_invalid_input_naming_the_file() {
    for (contents, expect) in [
        ("", "file is empty"),
        ("soon\n", "found \"soon\""),
        ("-1\n", "found \"-1\""),
        ("123456789012345678901234567890\n", "longer than 20 bytes"),
    ] {
        let plugin = rtc(None);
        std::fs::write(sysfs(&plugin).join("since_epoch"), contents).unwrap();
        let answer = plugin.call("sample", Value::Null).unwrap();
        let (code, message) = error(&answer);
        assert_eq!(code, "InvalidInput", "{contents:?}");
        assert!(
            message.starts_with("'/rtc/since_epoch' is not an RTC reading: ")
                && message.contains(expect),
            "{contents:?}: {message}"
        );
    }
}

#[test]
fn a_bad_tolerance_fails_the_self_check() {
    let refused = Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
        .config("tolerance_s", "a while")
        .start();
    let error = refused.err().expect("self-check refuses the load");
    assert!(error.contains("invalid config 'tolerance_s'"), "{error}");
}
