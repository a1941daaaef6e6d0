//! Hostile plugins against the real `osb` binary, as a device runs them:
//! what reaches the log, and a daemon that keeps its time service turning
//! and stops when told, whatever a plugin does.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MIGRATION: &str = r#"{"from_version": "1.0.0", "to_version": "2.0.0"}"#;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `osb --development plugin call <hostile> apply` with config `set`.
fn call_hostile(tmp: &Path, set: &[&str]) -> Output {
    let pkg = osb_test_artifacts::copy_package("osb-test-hostile", tmp);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_osb"));
    cmd.args([
        "--development",
        "plugin",
        "call",
        s(&pkg),
        "apply",
        MIGRATION,
    ])
    .env_remove("OSB_CONFIG")
    .env("RUST_LOG", "info");
    for kv in set {
        cmd.args(["--set", kv]);
    }
    cmd.output().unwrap()
}

#[test]
fn a_log_flood_is_cut_to_the_plugins_rate_and_the_drop_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    // 16 MiB of log messages in one call.
    let out = call_hostile(tmp.path(), &["mode=log-flood", "bytes=16777216"]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The burst (64 KiB) and the rate (4 KiB/s) over the call, with each
    // line's own prefix: a small part of 16 MiB.
    let allowed = 64 * 1024 + 4096 * (took.as_secs() + 1) as usize;
    assert!(
        stderr.len() < allowed * 2,
        "{} bytes of log for an allowance of {allowed}",
        stderr.len()
    );
    assert!(
        stderr.contains("plugin log quota reached"),
        "the drop is not reported: {}",
        &stderr[stderr.len().saturating_sub(2000)..]
    );
}

#[test]
fn a_plugins_newlines_cannot_forge_log_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let forged = "done\n2026-01-01T00:00:00Z ERROR osb: FORGED the device was tampered with";
    let out = call_hostile(tmp.path(), &["mode=log", &format!("message={forged}")]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("done\\n2026-01-01T00:00:00Z ERROR osb: FORGED"),
        "{stderr}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("2026-01-01")),
        "a forged line reached the log: {stderr}"
    );
}

/// A device config and plugin directory: the hostile time source (with
/// `mode` and the deadline `timeout_ms`), the probe, and the key they are
/// signed with.
fn device(tmp: &Path, mode: &str, extra: &str, timeout_ms: u32) -> (PathBuf, PathBuf) {
    let plugins = tmp.join("plugins");
    let keys = tmp.join("keys");
    let public = osb(&["plugin", "keygen", "--out", s(&keys)]);
    for name in [
        "osb-test-hostile-source",
        "osb-test-hostile",
        "osb-test-probe",
    ] {
        let pkg = osb_test_artifacts::copy_package(name, &plugins);
        osb(&[
            "plugin",
            "sign",
            s(&pkg),
            "--key",
            s(&keys.join("osb-signing.key")),
        ]);
    }
    let config = tmp.join("device.toml");
    std::fs::write(
        &config,
        format!(
            r#"trusted_keys = ["{}"]
[limits]
call_timeout_ms = {timeout_ms}
[plugins.osb-test-hostile-source]
config = {{ mode = "{mode}" {extra} }}
[plugins.osb-test-hostile]
config = {{ mode = "ok", self-check = "sleep", ms = "8000" }}
[time]
poll_unsynced_ms = 200
poll_synced_ms = 1000
"#,
            public.trim()
        ),
    )
    .unwrap();
    (config, plugins)
}

fn osb(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_osb"))
        .args(args)
        .env_remove("OSB_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "osb {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_self_check_that_sleeps_holds_up_no_other_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, plugins) = device(tmp.path(), "ok", "", 1000);
    let started = Instant::now();
    let report: Value = serde_json::from_str(&osb(&[
        "--config",
        s(&config),
        "daemon",
        "--once",
        "--plugin-dir",
        s(&plugins),
        "--state-dir",
        s(&tmp.path().join("state")),
    ]))
    .unwrap();
    let took = started.elapsed();
    // Three loads, one of which sleeps 8 s in its self-check: about one
    // deadline in all.
    assert!(took < Duration::from_secs(6), "loading took {took:?}");
    let entries = report.as_array().unwrap();
    let of = |name: &str| {
        entries
            .iter()
            .find(|e| e["dir"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not in {report}"))
    };
    let refused = of("/osb-test-hostile")["error"].as_str().unwrap();
    assert!(
        refused.contains("self-check") && refused.contains("deadline"),
        "{refused}"
    );
    assert!(of("/osb-test-probe")["loaded"].is_object(), "{report}");
    assert!(
        of("/osb-test-hostile-source")["loaded"].is_object(),
        "{report}"
    );
}

#[test]
fn a_time_source_in_an_endless_loop_neither_freezes_the_daemon_nor_keeps_it_from_stopping() {
    // A deadline above a second, where the epoch ticker used to fall
    // asleep under a running call.
    let tmp = tempfile::tempdir().unwrap();
    let (config, plugins) = device(tmp.path(), "loop", "", 1500);
    let state = tmp.path().join("state");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_osb"))
        .args(["--config", s(&config), "daemon"])
        .args(["--plugin-dir", s(&plugins), "--state-dir", s(&state)])
        .args(["--instance", "osb-hostile-test"])
        .env_remove("OSB_CONFIG")
        .env("RUST_LOG", "warn")
        .env(
            "DOCKER_HOST",
            format!("unix://{}", s(&tmp.path().join("no-engine.sock"))),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Rounds keep coming: each published report names the looping source
    // as failed at its deadline, and the probe as answering.
    let published = state.join("time.json");
    let until = Instant::now() + Duration::from_secs(30);
    let mut rounds = std::collections::BTreeSet::new();
    let mut last = Value::Null;
    while rounds.len() < 2 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
        if let Some(report) = std::fs::read_to_string(&published)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            rounds.insert(report.to_string());
            last = report;
        }
    }
    assert!(
        rounds.len() >= 2,
        "the time service's rounds stopped: {last}"
    );
    let text = last.to_string();
    assert!(
        text.contains("osb-test-hostile-source")
            && (text.contains("deadline") || text.contains("quarantined")),
        "{text}"
    );
    let stopping = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > until {
            let _ = daemon.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = status.expect("SIGTERM did not stop the daemon within 10 s");
    assert!(status.success(), "{status:?}");
    // At most a round in flight (one deadline) and the goodbye round.
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
}
