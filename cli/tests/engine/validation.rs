//! Releases validated on the device: a draft whose blocks come up and whose
//! test blocks (real containers) exit 0 is marked final; one whose test
//! fails, or never exits, is rolled back to the last validated release,
//! is not tried again, and keeps its report; a rollback cut short by
//! SIGKILL completes when the runtime starts again.

use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use super::daemon::{spawn_daemon, stop};
use super::{Osb, eventually, running};

const APP: &str = "vapp";

/// A block that idles until stopped.
fn idle(image: &str) -> Value {
    json!({
        "image": image,
        "command": ["sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"]
    })
}

/// A test block running `script`.
fn test_block(image: &str, script: &str) -> Value {
    json!({"image": image, "role": "test", "command": ["sh", "-c", script]})
}

/// A draft release of `APP` with `blocks`, in a window of `window`.
fn release(version: &str, blocks: Value, window: &str) -> Value {
    json!({
        "version": 1,
        "apps": { APP: { "class": "app", "release": {
            "version": version, "status": "draft",
            "validation_window": window,
            "blocks": blocks
        }}}
    })
}

/// `osb apply` in development mode (drafts run).
fn apply(osb: &Osb, target: &Value) -> Output {
    osb.apply_with(target, &["--timeout", "90s", "--development"])
}

/// `osb release <args>`: exit code, stdout.
fn release_cmd(osb: &Osb, args: &[&str]) -> (i32, String) {
    let out = osb
        .command("release", args)
        .output()
        .expect("run osb release");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The app's release records from `osb release list --json`, as
/// `version status state`.
fn records(osb: &Osb) -> Vec<String> {
    let (code, out) = release_cmd(osb, &["list", "--json"]);
    assert_eq!(code, 0, "{out}");
    let all: Value = serde_json::from_str(&out).expect("release list JSON");
    all[APP]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    format!("{} {} {}", r["version"], r["status"], r["state"]).replace('"', "")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Applies release 1.0.0 (a block and a passing test) and checks it is
/// validated: the ground a failing release is rolled back to.
fn validated_first(osb: &Osb, image: &str) {
    let v1 = release(
        "1.0.0",
        json!({"web": idle(image), "smoke": test_block(image, "echo smoke fine")}),
        "60s",
    );
    let out = apply(osb, &v1);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("apply report");
    assert_eq!(
        report["validated"],
        json!([format!("{APP}@1.0.0")]),
        "{report:#}"
    );
}

#[test]
fn a_draft_whose_tests_pass_is_marked_final_and_its_tests_removed() {
    let Some(osb) = Osb::new("validation-pass") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    validated_first(&osb, &image);

    // The test ran once and is gone; the release is final now.
    assert_eq!(running(&osb), [format!("{APP}/web@1.0.0 running")]);
    assert_eq!(records(&osb), ["1.0.0 final running"]);
    let status = osb.status();
    assert_eq!(
        status["validation"],
        json!([format!("{APP}@1.0.0: validated, final")]),
        "{status:#}"
    );

    let junit = osb.dir.path().join("report.xml");
    let (code, out) = release_cmd(
        &osb,
        &[
            "report",
            "--json",
            "--junit",
            junit.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let reports: Value = serde_json::from_str(&out).expect("report JSON");
    let checks = &reports[0]["checks"];
    assert_eq!(reports[0]["phase"], "passed", "{reports:#}");
    assert_eq!(checks[0]["block"], "web");
    assert_eq!(checks[0]["state"], "passed");
    assert_eq!(checks[1]["kind"], "test");
    assert_eq!(checks[1]["detail"], "smoke fine\n", "{reports:#}");
    let xml = std::fs::read_to_string(&junit).expect("junit file");
    assert!(
        xml.contains(r#"<testsuites name="osb release validation" tests="2" failures="0">"#),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(r#"name="test {APP}/smoke""#)) && !xml.contains("<failure"),
        "{xml}"
    );
}

#[test]
fn a_failing_test_rolls_back_once_and_is_not_tried_again() {
    let Some(osb) = Osb::new("validation-fail") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    validated_first(&osb, &image);

    let v2 = release(
        "2.0.0",
        json!({
            "web": idle(&image),
            "smoke": test_block(&image, "echo '<boom> & bust'; exit 3")
        }),
        "60s",
    );
    let out = apply(&osb, &v2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a failed validation exits non-zero: {}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    let expected = format!(
        "{APP}: release 2.0.0 failed validation (test {APP}/smoke: exited with code 3); \
         rolled back to 1.0.0"
    );
    assert!(stderr.contains(&expected), "{stderr}");
    let answer: Value = serde_json::from_slice(&out.stdout).expect("apply JSON");
    assert_eq!(answer["rolled_back"], json!([expected]), "{answer:#}");

    // Release 1.0.0 runs again; 2.0.0 is recorded rolled back.
    assert_eq!(running(&osb), [format!("{APP}/web@1.0.0 running")]);
    assert_eq!(
        records(&osb),
        ["2.0.0 draft rolled-back", "1.0.0 final running"]
    );

    // The report keeps what the test said.
    let junit = osb.dir.path().join("report.xml");
    let (code, out) = release_cmd(
        &osb,
        &[
            "report",
            "--app",
            APP,
            "--release",
            "2.0.0",
            "--junit",
            junit.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failed  test vapp/smoke"), "{out}");
    assert!(out.contains("| <boom> & bust"), "{out}");
    let xml = std::fs::read_to_string(&junit).expect("junit file");
    assert!(
        xml.contains(r#"<failure message="exited with code 3">exited with code 3"#)
            && xml.contains("&lt;boom&gt; &amp; bust"),
        "{xml}"
    );

    // The same release again: not validated again, nothing of it created.
    let report_before = release_cmd(
        &osb,
        &["report", "--app", APP, "--release", "2.0.0", "--json"],
    )
    .1;
    let again = apply(&osb, &v2);
    assert!(!again.status.success());
    let again_report: Value = serde_json::from_slice(&again.stdout).expect("apply JSON");
    assert_eq!(again_report["rolled_back"], json!([expected]));
    let report_after = release_cmd(
        &osb,
        &["report", "--app", APP, "--release", "2.0.0", "--json"],
    )
    .1;
    assert_eq!(report_before, report_after, "validated a second time");
    assert_eq!(running(&osb), [format!("{APP}/web@1.0.0 running")]);
    let status = osb.status();
    assert_eq!(status["converged"], true, "{status:#}");
    assert_eq!(status["validation"], json!([expected]), "{status:#}");
}

#[test]
fn a_test_that_never_exits_fails_at_the_window_and_is_removed() {
    let Some(osb) = Osb::new("validation-hang") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    validated_first(&osb, &image);

    let v2 = release(
        "2.0.0",
        json!({"web": idle(&image), "soak": test_block(&image, "sleep 2147483647")}),
        "4s",
    );
    let started = std::time::Instant::now();
    let out = apply(&osb, &v2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "release 2.0.0 failed validation (test {APP}/soak: did not exit within the 4s window (running)); rolled back to 1.0.0"
        )),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    // The hung test's container is gone with the rest of 2.0.0.
    assert_eq!(running(&osb), [format!("{APP}/web@1.0.0 running")]);
}

#[test]
fn a_rollback_cut_short_by_sigkill_completes_when_the_runtime_starts_again() {
    let Some(osb) = Osb::new("validation-kill") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    validated_first(&osb, &image);

    // 2.0.0's web ignores SIGTERM: stopping it takes its whole grace
    // period, in which the apply is killed.
    let mut web =
        json!({"image": image, "command": ["sleep", "2147483647"], "stop_grace_period": "30s"});
    web["labels"] = json!({"v": "2"});
    let mut v2 = release(
        "2.0.0",
        json!({"web": web, "smoke": test_block(&image, "exit 1")}),
        "60s",
    );
    // Final: the runtime started again below is not in development mode,
    // and validates final releases all the same.
    v2["apps"][APP]["release"]["status"] = json!("final");
    let (mut child, lines) = osb.spawn_apply(&v2);
    let stopping = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(60)).ok())
        .any(|l| l.contains("\"start\"") && l.contains("stop vapp/web@2.0.0"));
    assert!(stopping, "the rollback did not begin stopping 2.0.0");
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("SIGKILL the apply");
    let _ = child.wait();
    let cut = running(&osb);
    assert!(
        cut.iter()
            .any(|c| c.starts_with(&format!("{APP}/web@2.0.0"))),
        "the rollback was not cut short: {cut:?}"
    );

    // The next start: the daemon, with the target in its store.
    let daemon = spawn_daemon(&osb, &[]);
    let done = eventually(Duration::from_secs(90), || {
        running(&osb) == [format!("{APP}/web@1.0.0 running")]
            && records(&osb) == ["2.0.0 final rolled-back", "1.0.0 final running"]
    });
    let stopped = stop(daemon);
    assert!(
        done,
        "the rollback did not complete: {:?}, {:?}",
        running(&osb),
        records(&osb)
    );
    assert!(stopped, "the daemon did not stop on SIGINT");
}

#[test]
fn the_daemon_rolls_back_a_release_whose_block_keeps_crashing() {
    let Some(osb) = Osb::new("validation-daemon") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    validated_first(&osb, &image);

    // No tests: the blocks coming up is the whole validation, watched by
    // the daemon, which gets the release as its new target.
    let v2 = release(
        "2.0.0",
        json!({"web": {"image": image, "command": ["sh", "-c", "echo crash; exit 1"]}}),
        "5s",
    );
    let path = osb.write(&v2);
    let daemon = spawn_daemon(
        &osb,
        &["--target", path.to_str().expect("utf-8"), "--development"],
    );
    let mut seen = Vec::new();
    let rolled_back = eventually(Duration::from_secs(90), || {
        seen = running(&osb);
        seen == [format!("{APP}/web@1.0.0 running")]
            && records(&osb) == ["2.0.0 draft rolled-back", "1.0.0 final running"]
    });
    let stopped = stop(daemon);
    assert!(
        rolled_back,
        "not rolled back: {seen:?}, {:?}",
        records(&osb)
    );
    assert!(stopped, "the daemon did not stop on SIGINT");
    let (code, out) = release_cmd(&osb, &["report", "--app", APP, "--release", "2.0.0"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "release 2.0.0 failed validation (block {APP}/web up: not up within the 5s window: "
        )),
        "{out}"
    );
}
