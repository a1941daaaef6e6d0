//! Faults and bad input: SIGKILL mid-update, a registry that goes away,
//! invalid targets, no engine, no disk, a block holding its update lock,
//! a block planting links in its lock directory.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Osb, log_then_idle, target};

fn two_blocks(osb: &Osb, tag: &str, line: &str) -> Value {
    let image = osb.engine.busybox_image(tag);
    json!({
        "db": {
            "image": image,
            "command": log_then_idle(line),
            "volumes": [{"type": "volume", "source": "data", "target": "/data"}]
        },
        "web": {"image": image, "environment": {"V": tag}, "depends_on": {"db": "started"}}
    })
}

/// After an interrupted update and a second apply: exactly the target's
/// containers, one per block, running, and the volume's data intact.
fn assert_converged_to_v2(osb: &Osb, app: &str, context: &str) {
    let containers = osb.scope.containers();
    assert_eq!(
        super::running(osb),
        [
            format!("{app}/db@2.0.0 running"),
            format!("{app}/web@2.0.0 running")
        ],
        "{context}"
    );
    let db = containers
        .iter()
        .find(|c| c.labels.get("io.osb.block").map(String::as_str) == Some("db"))
        .expect("db");
    let log = osb_test_docker::exec(&db.name, &["cat", "/data/log"]);
    assert!(
        log.starts_with("v1\n"),
        "{context}: volume data lost: {log:?}"
    );
    assert!(log.ends_with("v2"), "{context}: {log:?}");
    let volumes = osb_test_docker::volumes(osb.scope.instance());
    assert_eq!(
        volumes,
        [format!("{}.{app}.data", osb.scope.instance())],
        "{context}"
    );
    for block in ["db", "web"] {
        let lock = osb
            .state()
            .join(format!("locks/{app}/{block}/updates.lock"));
        assert!(!lock.exists(), "{context}: {block}'s update lock left held");
    }
}

#[test]
fn sigkill_at_any_step_of_an_update_then_apply_again_converges() {
    let Some(osb) = Osb::new("sigkill") else {
        return;
    };
    let app = "kill";
    let v1 = target(
        app,
        "1.0.0",
        two_blocks(&osb, "1", "v1"),
        json!({"data": {}}),
    );
    let v2 = target(
        app,
        "2.0.0",
        two_blocks(&osb, "2", "v2"),
        json!({"data": {}}),
    );
    // Kill after the k-th finished step (0: as soon as the first starts),
    // across the whole update: create, lock, stop, remove, start, unlock.
    for k in 0..8 {
        osb.apply(&v1);
        let (mut child, lines) = osb.spawn_apply(&v2);
        let mut done = 0;
        let mut finished = false;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match lines.recv_timeout(Duration::from_secs(1)) {
                Ok(line) => {
                    let started = line.contains("\"message\":\"start\"");
                    if line.contains("\"message\":\"done\"") {
                        done += 1;
                    }
                    if (k == 0 && started) || (k > 0 && done >= k) {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    finished = true;
                    break;
                }
            }
        }
        // Kill is SIGKILL on Unix.
        let _ = child.kill();
        let _ = child.wait();
        let context = format!("killed after {k} steps (finished first: {finished})");
        osb.apply(&v2);
        assert_converged_to_v2(&osb, app, &context);
        if finished {
            break;
        }
        // Back to v1 for the next round: a fresh update to interrupt.
    }
}

/// Waits for a JSON log line whose message is `message`.
fn wait_for(lines: &std::sync::mpsc::Receiver<String>, message: &str) -> bool {
    let needle = format!("\"message\":\"{message}\"");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains(&needle) => return true,
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
        }
    }
    false
}

#[test]
fn a_registry_stopped_mid_pull_is_retried_until_it_is_back() {
    let Some(osb) = Osb::new("registry-mid-pull") else {
        return;
    };
    let mut registry = osb.engine.registry();
    let image = registry.push(&osb.engine.big_image("midpull", 48), "midpull/big:1");
    let t = target(
        "midpull",
        "1.0.0",
        json!({"big": {"image": image}}),
        json!({}),
    );
    let (child, lines) = osb.spawn_apply(&t);
    assert!(
        wait_for(&lines, "pulling"),
        "the pull never reported progress"
    );
    registry.stop();
    std::thread::sleep(Duration::from_secs(2));
    registry.restart();
    let out = child.wait_with_output().expect("wait for osb apply");
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(out.status.success(), "apply failed: {}", rest.join("\n"));
    let containers = osb.scope.containers();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].image, image);
    assert_eq!(containers[0].state, "running");
    drop(osb);
}

#[test]
fn a_registry_down_at_the_start_is_retried_with_backoff() {
    let Some(osb) = Osb::new("registry-down") else {
        return;
    };
    let mut registry = osb.engine.registry();
    let image = registry.push(&osb.engine.busybox_image("1"), "down/app:1");
    registry.stop();
    let t = target("down", "1.0.0", json!({"app": {"image": image}}), json!({}));
    let (child, lines) = osb.spawn_apply(&t);
    assert!(
        wait_for(&lines, "pull failed; retrying"),
        "the failed pull was not retried"
    );
    std::thread::sleep(Duration::from_secs(2));
    registry.restart();
    let out = child.wait_with_output().expect("wait for osb apply");
    assert!(out.status.success());
    let containers = osb.scope.containers();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].state, "running");
    drop(osb);
}

#[test]
fn an_image_pulled_just_before_a_kill_is_claimed_and_removed_once_unused() {
    use osb_runtime::apply::store::Store;
    use osb_state::ImageRef;
    let Some(osb) = Osb::new("claim") else {
        return;
    };
    let registry = osb.engine.registry();
    let v1_image = registry.push(&osb.engine.busybox_image("1"), "claim/app:1");
    let v2_image = registry.push(&osb.engine.busybox_image("2"), "claim/app:2");
    let canonical = |r: &str| ImageRef::parse(r).expect("a reference").canonical();
    let never = format!(
        "{}:9",
        v1_image
            .strip_suffix(":1")
            .expect("the pushed reference ends in its tag")
    );
    // What a SIGKILL between a pull landing and its record leaves: the
    // mark written before the pull, and the image on the engine. Beside
    // it, the mark of a pull that left nothing.
    {
        let store = Store::open(&osb.state()).expect("the block store");
        store.begin_fetch(&canonical(&v1_image)).expect("mark");
        store.begin_fetch(&canonical(&never)).expect("mark");
    }
    osb.engine.run(&["pull", &v1_image]);

    osb.apply(&target(
        "claim",
        "1.0.0",
        json!({"app": {"image": v1_image}}),
        json!({}),
    ));
    {
        let store = Store::open(&osb.state()).expect("the block store");
        assert_eq!(store.fetching().expect("marks"), Vec::<String>::new());
        let fetched = store.fetched().expect("fetched images");
        assert!(
            fetched.contains_key(&canonical(&v1_image)),
            "not claimed: {fetched:?}"
        );
    }
    // The update leaves 1.0.0's image unused: the runtime's reference to
    // it goes. The same image's other tag (the local build, not the
    // runtime's) stays, and with it the image.
    osb.apply(&target(
        "claim",
        "2.0.0",
        json!({"app": {"image": v2_image}}),
        json!({}),
    ));
    assert!(
        osb_test_docker::try_run(&["image", "inspect", &v1_image]).is_err(),
        "the claimed image is still there"
    );
    assert!(
        osb_test_docker::try_run(&["image", "inspect", &osb.engine.busybox_image("1")]).is_ok()
    );
    drop(registry);
}

#[test]
fn an_image_the_registry_does_not_have_fails_at_once_naming_it() {
    let Some(osb) = Osb::new("no-such-image") else {
        return;
    };
    let registry = osb.engine.registry();
    let pushed = registry.push(&osb.engine.busybox_image("1"), "missing/app:1");
    // The same repository, a tag never pushed.
    let image = format!(
        "{}:2",
        pushed
            .strip_suffix(":1")
            .expect("the pushed reference ends in its tag")
    );
    let t = target(
        "missing",
        "1.0.0",
        json!({"app": {"image": image}}),
        json!({}),
    );
    let started = Instant::now();
    let out = osb.apply_with(&t, &["--timeout", "5m"]);
    let took = started.elapsed();
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("fetch {image}"))
            && error.contains("not found")
            && error.contains("attempts: 1"),
        "{report:#}"
    );
    // Retried, it would have taken the backoff's 1 + 2 + 4 + ... s.
    assert!(
        took < Duration::from_secs(20),
        "took {took:?} to report a missing image"
    );
    assert!(osb.scope.containers().is_empty());
    // A registry that does not answer is still retried (the test above);
    // one that answers "no" is not.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("pull failed; retrying"), "{stderr}");
    drop(registry);
}

#[test]
fn bad_targets_are_refused_naming_the_field_and_running_blocks_are_untouched() {
    let Some(osb) = Osb::new("bad-targets") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let good = target("bad", "1.0.0", json!({"web": {"image": image}}), json!({}));
    osb.apply(&good);
    let before = osb.scope.containers();
    let bad = |blocks: &str| {
        format!(
            r#"{{"version": 1, "apps": {{"bad": {{"class": "app",
                "release": {{"version": "2.0.0", "blocks": {blocks}}}}}}}}}"#
        )
    };
    let cases = [
        (
            bad(r#"{"web": {"image": "x", "colour": "red"}}"#),
            "apps.bad.release.blocks.web.colour: unknown field `colour`",
        ),
        (
            bad(r#"{"web": {"image": "UPPER/case"}}"#),
            "apps.bad.release.blocks.web.image: invalid image reference 'UPPER/case'",
        ),
        (
            bad(
                r#"{"a": {"image": "x", "depends_on": {"b": "started"}}, "b": {"image": "x", "depends_on": {"a": "started"}}}"#,
            ),
            "a -> b -> a",
        ),
        (
            bad(r#"{"web": {"image": "x", "depends_on": {"db": "started"}}}"#),
            "db",
        ),
        (
            bad(r#"{"web": {"image": "x"}, "web": {"image": "y"}}"#),
            "web",
        ),
    ];
    for (json_text, expect) in cases {
        let path = osb.dir.path().join("bad.json");
        std::fs::write(&path, &json_text).expect("write");
        let out = osb
            .command("apply", &[path.to_str().expect("utf-8"), "--no-progress"])
            .output()
            .expect("run osb");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted: {json_text}");
        assert!(
            stderr.contains(expect),
            "error for {json_text} does not say '{expect}':\n{stderr}"
        );
    }
    let after = osb.scope.containers();
    assert_eq!(
        after.iter().map(|c| (&c.id, &c.state)).collect::<Vec<_>>(),
        before.iter().map(|c| (&c.id, &c.state)).collect::<Vec<_>>()
    );
    // The stored target is still the good one.
    let status = osb.status();
    assert_eq!(status["converged"], json!(true), "{status:#}");
    assert_eq!(status["blocks"][0]["release"], json!("1.0.0"));
}

#[test]
fn no_engine_is_a_clear_error_not_a_hang() {
    let Some(osb) = Osb::new("no-engine") else {
        return;
    };
    let t = target(
        "none",
        "1.0.0",
        json!({"web": {"image": "busybox:1"}}),
        json!({}),
    );
    let path = osb.write(&t);
    // Nothing at the socket path; then a socket that accepts and never answers.
    let silent = osb.dir.path().join("silent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&silent).expect("bind");
    for (host, expect) in [
        (
            "unix:///nonexistent/docker.sock".to_owned(),
            "cannot reach the container engine at unix:///nonexistent/docker.sock",
        ),
        (
            format!("unix://{}", silent.display()),
            "no answer within 5s",
        ),
    ] {
        let started = Instant::now();
        let out = osb
            .command("apply", &[path.to_str().expect("utf-8")])
            .env("DOCKER_HOST", &host)
            .output()
            .expect("run osb");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(expect), "{host}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{host}: took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_pull_that_would_fill_the_disk_is_refused_before_it_starts() {
    let Some(osb) = Osb::new("disk") else {
        return;
    };
    let registry = osb.engine.registry();
    let image = registry.push(&osb.engine.busybox_image("1"), "disk/app:1");
    let t = target("disk", "1.0.0", json!({"app": {"image": image}}), json!({}));
    // A reserve no disk has: 1 EiB.
    let out = osb.apply_with(&t, &["--disk-reserve-mb", "1099511627776"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("not enough disk to pull {image}")),
        "{stderr}"
    );
    assert!(!osb_test_docker::image_exists(&image), "pulled anyway");
    assert!(osb.scope.containers().is_empty());
    drop(osb);
}

#[test]
fn a_block_holding_its_update_lock_is_not_stopped_until_it_lets_go() {
    let Some(osb) = Osb::new("lock") else {
        return;
    };
    let block = |tag: &str| {
        json!({"image": osb.engine.busybox_image(tag), "command": [
            "sh", "-c", "touch /tmp/osb/updates.lock; trap 'exit 0' TERM; sleep 2147483647 & wait"
        ]})
    };
    osb.apply(&target(
        "lock",
        "1.0.0",
        json!({"app": block("1")}),
        json!({}),
    ));
    let before = osb.scope.containers();
    let out = osb.apply_with(
        &target("lock", "2.0.0", json!({"app": block("2")}), json!({})),
        &["--timeout", "3s"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("update lock held by the block"), "{stderr}");
    let held = held_back(&osb, &before[0].id);

    osb_test_docker::exec(&held.name, &["rm", "/tmp/osb/updates.lock"]);
    // The new container takes the lock again as it starts: still converged.
    let report = osb.apply(&target(
        "lock",
        "2.0.0",
        json!({"app": block("2")}),
        json!({}),
    ));
    assert!(!super::steps(&report).is_empty());
    let after = osb.scope.containers();
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].labels.get("io.osb.release").map(String::as_str),
        Some("2.0.0")
    );
}

/// The old container of an update held back by the block's lock, which
/// must still run; beside it only the new container, created and not
/// started (it is created before the old one is stopped).
fn held_back(osb: &Osb, old: &str) -> osb_test_docker::ContainerInfo {
    let mut held = osb.scope.containers();
    assert!(
        held.len() <= 2 && held.iter().all(|c| c.id == old || c.state == "created"),
        "{held:#?}"
    );
    let at = held
        .iter()
        .position(|c| c.id == old)
        .unwrap_or_else(|| panic!("the old container is gone: {held:#?}"));
    let old = held.remove(at);
    assert_eq!(old.state, "running");
    old
}

/// A block whose process, once running, plants a symlink named `name` in
/// its lock directory, pointing to a host file holding `content`: the
/// target string is resolved by whoever follows the link, so a host path
/// reaches the host. Returns the host file.
fn block_planting_a_link(osb: &Osb, app: &str, name: &str, content: &str) -> std::path::PathBuf {
    let host = osb.dir.path().join("host-file");
    std::fs::write(&host, content).expect("write the host file");
    let planting = |tag: &str| {
        json!({"app": {"image": osb.engine.busybox_image(tag), "command": [
            "sh", "-c", format!(
                "ln -s {} /tmp/osb/{name}; trap 'exit 0' TERM; sleep 2147483647 & wait",
                host.display()
            )
        ]}})
    };
    osb.apply(&target(app, "1.0.0", planting("1"), json!({})));
    let link = osb.state().join(format!("locks/{app}/app/{name}"));
    assert!(
        super::eventually(Duration::from_secs(20), || link
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())),
        "the block planted no link at {}",
        link.display()
    );
    host
}

/// The runtime's mark in a lock it holds.
const RUNTIME_MARK: &str = "held by the osb runtime\n";

/// The host file, which must still hold `content`.
fn assert_untouched(host: &std::path::Path, content: &str) {
    let now = std::fs::read(host).expect("the host file is still there");
    assert_eq!(
        String::from_utf8_lossy(&now),
        content,
        "the runtime wrote through the block's link"
    );
}

#[test]
fn a_link_at_the_staged_lock_name_is_not_written_through() {
    let Some(osb) = Osb::new("lock-staged-link") else {
        return;
    };
    // Written through the link, the file would hold the runtime's mark.
    let content = "the host's own\n";
    let host = block_planting_a_link(&osb, "staged", ".updates.lock.osb", content);
    let before = osb.scope.containers();
    let report = osb.apply(&target(
        "staged",
        "2.0.0",
        json!({"app": {"image": osb.engine.busybox_image("2")}}),
        json!({}),
    ));
    assert_untouched(&host, content);
    // The runtime replaced the link with its own file and took the lock.
    let s = super::steps(&report);
    assert!(
        super::position(&s, "lock staged/app") < super::position(&s, "stop staged/app@1.0.0"),
        "{s:#?}"
    );
    let after = osb.scope.containers();
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_ne!(after[0].id, before[0].id);
    assert_eq!(after[0].state, "running");
    assert_eq!(
        after[0].labels.get("io.osb.release").map(String::as_str),
        Some("2.0.0")
    );
    let dir = osb.state().join("locks/staged/app");
    for name in ["updates.lock", ".updates.lock.osb"] {
        assert!(
            dir.join(name).symlink_metadata().is_err(),
            "{name} left behind"
        );
    }
}

#[test]
fn a_link_at_the_lock_is_the_blocks_lock_and_never_followed() {
    let Some(osb) = Osb::new("lock-link") else {
        return;
    };
    // Read through the link, the mark would pass for the runtime's lock and
    // the block would be stopped.
    let host = block_planting_a_link(&osb, "linked", "updates.lock", RUNTIME_MARK);
    let before = osb.scope.containers();
    let out = osb.apply_with(
        &target(
            "linked",
            "2.0.0",
            json!({"app": {"image": osb.engine.busybox_image("2")}}),
            json!({}),
        ),
        &["--timeout", "3s"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("update lock held by the block"), "{stderr}");
    assert_untouched(&host, RUNTIME_MARK);
    held_back(&osb, &before[0].id);
    let link = osb.state().join("locks/linked/app/updates.lock");
    assert!(
        link.symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink()),
        "the block's lock was released"
    );
}

#[test]
fn two_instances_run_apps_of_the_same_name_apart() {
    let Some(mine) = Osb::new("apart-mine") else {
        return;
    };
    let Some(theirs) = Osb::new("apart-theirs") else {
        return;
    };
    let image = mine.engine.busybox_image("1");
    let app = |line: &str| {
        target(
            "apart",
            "1.0.0",
            json!({"app": {
                "image": image,
                "command": log_then_idle(line),
                "volumes": [{"type": "volume", "source": "data", "target": "/data"}]
            }}),
            json!({"data": {}}),
        )
    };
    theirs.apply(&app("theirs"));
    mine.apply(&app("mine"));
    let log = |osb: &Osb| {
        let held = osb.scope.containers();
        assert_eq!(held.len(), 1, "{held:#?}");
        assert_eq!(held[0].state, "running", "{held:#?}");
        osb.engine.run(&["exec", &held[0].id, "cat", "/data/log"])
    };
    // Each its own container and its own volume: neither saw the other's
    // line.
    assert_eq!(log(&mine), "mine");
    assert_eq!(log(&theirs), "theirs");
    let volumes = (
        osb_test_docker::volumes(mine.scope.instance()),
        osb_test_docker::volumes(theirs.scope.instance()),
    );
    assert_eq!(
        volumes.0,
        vec![format!("{}.apart.data", mine.scope.instance())]
    );
    assert_eq!(
        volumes.1,
        vec![format!("{}.apart.data", theirs.scope.instance())]
    );
}

#[test]
fn a_name_held_by_a_container_not_the_runtimes_is_an_error_not_a_takeover() {
    let Some(osb) = Osb::new("clash") else {
        return;
    };
    let t = target(
        "clash",
        "1.0.0",
        json!({"app": {"image": osb.engine.busybox_image("1")}}),
        json!({}),
    );
    osb.apply(&t);
    // Its container replaced, behind its back, by a stranger's of the same
    // name (no runtime label).
    let name = osb.scope.containers()[0].name.clone();
    osb.engine.run(&["rm", "-f", &name]);
    let stranger = osb
        .engine
        .run(&["create", "--name", &name, &osb.engine.busybox_image("1")]);
    let started = Instant::now();
    let out = osb.apply_with(&t, &["--timeout", "20s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let still = osb_test_docker::try_run(&["inspect", "--format", "{{.Id}}", &name]);
    osb.engine.run(&["rm", "-f", &name]);
    assert!(!out.status.success(), "took over a stranger's container");
    assert!(stderr.contains("not this runtime instance's"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(still.as_deref(), Ok(stranger.as_str()));
}
