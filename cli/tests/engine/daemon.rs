//! `osb daemon` keeps the blocks converged: a block removed behind its back
//! comes back, reacting to the engine's events, and the target kept is the
//! one last applied, also by an `osb apply` made beside the daemon.

use std::process::Stdio;
use std::time::Duration;

use osb_test_docker::ContainerInfo;
use serde_json::json;

use super::{Osb, eventually, target};

#[test]
fn the_daemon_brings_back_a_block_removed_behind_its_back() {
    let Some(osb) = Osb::new("daemon") else {
        return;
    };
    let t = target(
        "daemon",
        "1.0.0",
        json!({"app": {"image": osb.engine.busybox_image("1")}}),
        json!({}),
    );
    let path = osb.write(&t);
    let daemon = spawn_daemon(&osb, &["--target", path.to_str().expect("utf-8")]);
    let running = |c: &Vec<ContainerInfo>| c.len() == 1 && c[0].state == "running";
    let mut first = Vec::new();
    let up = eventually(Duration::from_secs(60), || {
        first = osb.scope.containers();
        running(&first)
    });
    assert!(up, "the daemon did not start the block: {first:#?}");
    // `osb status` reads the block store while the daemon runs.
    let status = osb.status();
    assert_eq!(status["blocks"][0]["state"], "running", "{status:#}");

    let (back, again) = removed_comes_back(&osb, &first[0].id);
    let stopped = stop(daemon);
    assert!(back, "the block did not come back within 20 s: {again:#?}");
    assert!(stopped, "the daemon did not stop on SIGINT");
}

/// `osb daemon` over `osb`'s state with an empty plugin directory, and
/// `args`.
pub(super) fn spawn_daemon(osb: &Osb, args: &[&str]) -> std::process::Child {
    spawn_daemon_logging(osb, args, Stdio::null())
}

/// [`spawn_daemon`], its log (at debug) to `log`.
pub(super) fn spawn_daemon_logging(
    osb: &Osb,
    args: &[&str],
    log: impl Into<Stdio>,
) -> std::process::Child {
    let plugins = osb.dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let mut all = vec!["--plugin-dir", plugins.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    osb.command("daemon", &all)
        .env("RUST_LOG", "osb_runtime=debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn osb daemon")
}

pub(super) fn stop(mut daemon: std::process::Child) -> bool {
    let _ = std::process::Command::new("kill")
        .args(["-INT", &daemon.id().to_string()])
        .status();
    let stopped = eventually(Duration::from_secs(10), || {
        matches!(daemon.try_wait(), Ok(Some(_)))
    });
    if !stopped {
        let _ = daemon.kill();
        let _ = daemon.wait();
    }
    stopped
}

/// Removes container `id` behind the daemon's back: whether a new
/// container of the block runs within 20 s, and the containers then. The
/// daemon's own recheck is 30 s: sooner means it reacted to the engine's
/// event.
fn removed_comes_back(osb: &Osb, id: &str) -> (bool, Vec<ContainerInfo>) {
    osb.engine.run(&["rm", "-f", id]);
    let mut again = Vec::new();
    let back = eventually(Duration::from_secs(20), || {
        again = osb.scope.containers();
        again.len() == 1 && again[0].id != id && again[0].state == "running"
    });
    (back, again)
}

fn release_of(c: &ContainerInfo) -> String {
    c.labels.get("io.osb.release").cloned().unwrap_or_default()
}

#[test]
fn a_target_applied_while_the_daemon_runs_is_kept_not_reverted() {
    let Some(osb) = Osb::new("daemon-apply") else {
        return;
    };
    let release = |version: &str, tag: &str| {
        target(
            "dapply",
            version,
            json!({"app": {"image": osb.engine.busybox_image(tag)}}),
            json!({}),
        )
    };
    osb.apply(&release("1.0.0", "1"));
    let daemon = spawn_daemon(&osb, &[]);
    std::thread::sleep(Duration::from_secs(1));
    // While the daemon keeps 1.0.0, an update to 2.0.0 by `osb apply`.
    let out = osb.apply_with(&release("2.0.0", "2"), &["--timeout", "60s"]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    // The daemon wakes on the update's engine events, and again when the
    // block is removed behind its back: each time it must keep the target
    // last applied, never go back to the one before.
    std::thread::sleep(Duration::from_secs(3));
    let containers = osb.scope.containers();
    let first = containers.first().map(|c| c.id.clone()).unwrap_or_default();
    let (back, again) = removed_comes_back(&osb, &first);
    let stopped = stop(daemon);
    assert!(out.status.success(), "the update failed: {report}");
    assert!(
        containers.len() == 1 && release_of(&containers[0]) == "2.0.0",
        "{containers:#?}"
    );
    assert!(back, "the daemon did not bring the block back: {again:#?}");
    assert_eq!(release_of(&again[0]), "2.0.0", "{again:#?}");
    assert!(stopped, "the daemon did not stop on SIGINT");
}

#[test]
fn a_daemon_started_before_any_target_takes_the_first_one_applied() {
    let Some(osb) = Osb::new("daemon-first") else {
        return;
    };
    let daemon = spawn_daemon(&osb, &[]);
    std::thread::sleep(Duration::from_secs(1));
    osb.apply(&target(
        "dfirst",
        "1.0.0",
        json!({"app": {"image": osb.engine.busybox_image("1")}}),
        json!({}),
    ));
    let first = osb.scope.containers();
    let first_id = first.first().map(|c| c.id.clone()).unwrap_or_default();
    let (back, again) = removed_comes_back(&osb, &first_id);
    let stopped = stop(daemon);
    assert_eq!(first.len(), 1, "{first:#?}");
    assert!(
        back,
        "the daemon does not keep the target applied after it started: {again:#?}"
    );
    assert!(stopped, "the daemon did not stop on SIGINT");
}

#[test]
fn a_block_waiting_for_the_clock_costs_the_daemon_no_polling() {
    let Some(osb) = Osb::new("daemon-idle-wait") else {
        return;
    };
    // No time source: the clock stays unsynced, and the block waits for
    // good. Nothing but a clock change can end that wait.
    let t = target(
        "idlewait",
        "1.0.0",
        json!({"app": {"image": osb.engine.busybox_image("1"), "time": "synced"}}),
        json!({}),
    );
    let path = osb.write(&t);
    let log_path = osb.dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).expect("daemon log");
    let daemon = spawn_daemon_logging(&osb, &["--target", path.to_str().expect("utf-8")], log);
    let settled = |text: &str| text.matches("settled; held back").count();
    let first = eventually(Duration::from_secs(30), || {
        settled(&std::fs::read_to_string(&log_path).unwrap_or_default()) >= 1
    });
    std::thread::sleep(Duration::from_secs(4));
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let stopped = stop(daemon);
    assert!(first, "the daemon never settled:\n{text}");
    // Polling every second would have made four or five more.
    assert!(
        settled(&text) <= 2,
        "{} reconciles while nothing changed:\n{text}",
        settled(&text)
    );
    assert!(
        osb.scope.containers().iter().all(|c| c.state != "running"),
        "started without synced time"
    );
    assert!(stopped, "the daemon did not stop on SIGINT");
}

#[test]
fn healthchecks_that_keep_passing_wake_no_reconcile() {
    let Some(osb) = Osb::new("daemon-health") else {
        return;
    };
    // Two blocks checked every second: each check is an exec, three engine
    // events, none of which changes a plan.
    let check = json!({"test": {"cmd": ["true"]}, "interval": "1s"});
    let image = osb.engine.busybox_image("1");
    let t = target(
        "healthidle",
        "1.0.0",
        json!({
            "a": {"image": image, "healthcheck": check},
            "b": {"image": image, "healthcheck": check, "depends_on": {"a": "healthy"}},
        }),
        json!({}),
    );
    let path = osb.write(&t);
    let log_path = osb.dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).expect("daemon log");
    let daemon = spawn_daemon_logging(&osb, &["--target", path.to_str().expect("utf-8")], log);
    let converged = |text: &str| text.matches("converged").count();
    let read = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let healthy = eventually(Duration::from_secs(60), || {
        let blocks = osb.scope.containers();
        blocks.len() == 2
            && blocks
                .iter()
                .all(|c| c.health.as_deref() == Some("healthy"))
    });
    // The last health change's reconcile, and the look that follows a
    // reconcile an event woke (a second later), have had time to log.
    std::thread::sleep(Duration::from_secs(3));
    let before = converged(&read());
    std::thread::sleep(Duration::from_secs(4));
    let text = read();
    let stopped = stop(daemon);
    assert!(healthy, "the blocks never turned healthy:\n{text}");
    assert!(before >= 1, "the daemon never converged:\n{text}");
    // Waking on every exec would have made about eight.
    assert_eq!(
        converged(&text) - before,
        0,
        "reconciles while only healthchecks ran:\n{text}"
    );
    assert!(stopped, "the daemon did not stop on SIGINT");
}

#[test]
fn a_block_that_requires_a_reboot_reboots_the_device_once() {
    let Some(osb) = Osb::new("daemon-reboot") else {
        return;
    };
    let t = target(
        "reboot",
        "1.0.0",
        json!({"modules": {
            "image": osb.engine.busybox_image("1"),
            "command": ["sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"],
            "requires_reboot": true
        }}),
        json!({}),
    );
    let wanted = json!(["reboot/modules@1.0.0"]);
    // The apply that installs it says the reboot is due, and so does
    // status, until the device boots again; an apply that installs
    // nothing adds nothing.
    let report = osb.apply(&t);
    assert_eq!(report["reboot_due"], wanted, "{report:#}");
    let again = osb.apply(&t);
    assert_eq!(again.get("reboot_due"), None, "{again:#}");
    let status = osb.status();
    assert_eq!(status["reboot_due"]["containers"], wanted, "{status:#}");
    assert_eq!(status["reboot_due"].get("requested"), None, "{status:#}");

    // The daemon runs the device's reboot command once for it: a
    // reconcile after (the block killed and started again) does not run
    // it a second time in the same boot.
    let marker = osb.dir.path().join("rebooted");
    let config = osb.dir.path().join("device.toml");
    std::fs::write(
        &config,
        format!(
            "[device]\nreboot_command = [\"sh\", \"-c\", \"echo rebooted >> {}\"]\n",
            marker.display()
        ),
    )
    .expect("write device config");
    let log = std::fs::File::create(osb.dir.path().join("daemon.log")).expect("log");
    let daemon = spawn_daemon_logging(&osb, &["--config", config.to_str().expect("utf-8")], log);
    let ran = eventually(Duration::from_secs(30), || marker.exists());
    let id = osb.scope.containers()[0].id.clone();
    let started = |id: &str| {
        osb.engine
            .run(&[
                "inspect",
                "-f",
                "{{.State.StartedAt}} {{.State.Running}}",
                id,
            ])
            .trim()
            .to_owned()
    };
    let before = started(&id);
    osb.engine.run(&["kill", &id]);
    let restarted = eventually(Duration::from_secs(20), || {
        let now = started(&id);
        now != before && now.ends_with(" true")
    });
    std::thread::sleep(Duration::from_secs(2));
    let status = osb.status();
    let stopped = stop(daemon);
    assert!(ran, "the daemon did not run the reboot command");
    assert!(
        restarted,
        "the killed block was not started again: {}",
        std::fs::read_to_string(osb.dir.path().join("daemon.log")).unwrap_or_default()
    );
    assert_eq!(
        std::fs::read_to_string(&marker).expect("marker"),
        "rebooted\n",
        "run more than once in one boot"
    );
    assert_eq!(status["reboot_due"]["containers"], wanted, "{status:#}");
    assert!(
        status["reboot_due"]["requested"].as_u64().is_some(),
        "{status:#}"
    );
    assert_eq!(osb.scope.containers().len(), 1);
    assert!(stopped, "the daemon did not stop on SIGINT");
}
