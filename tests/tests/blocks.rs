//! The example blocks of `blocks/`: their target-state snippets are valid
//! and name the image `blocks/build` makes, and the images do what
//! `blocks/README.md` says they do.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use osb_state::TargetState;
use osb_tests::docker::{self, Engine};

fn blocks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../blocks")
}

/// Every block: a directory of `blocks/` with a Dockerfile.
fn blocks() -> Vec<String> {
    let mut blocks: Vec<String> = std::fs::read_dir(blocks_dir())
        .expect("read blocks/")
        .map(|entry| entry.expect("blocks/ entry").path())
        .filter(|dir| dir.join("Dockerfile").is_file())
        .map(|dir| {
            dir.file_name()
                .expect("block directory name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    blocks.sort();
    blocks
}

fn version(block: &str) -> String {
    let path = blocks_dir().join(block).join("VERSION");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// The local image `blocks/build` makes of `block`.
fn image(block: &str) -> String {
    format!("osb/{block}:{}", version(block))
}

#[test]
fn every_block_has_a_valid_target_snippet_naming_its_image() {
    let blocks = blocks();
    assert!(blocks.len() >= 2, "example blocks: {blocks:?}");
    for block in blocks {
        let path = blocks_dir().join(&block).join("target.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let target =
            TargetState::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let version = version(&block);
        let named = target
            .apps
            .values()
            .flat_map(|app| app.release.blocks.values())
            .any(|b| b.image.path() == format!("osb/{block}") && b.image.tag() == Some(&version));
        assert!(named, "{} runs no osb/{block}:{version}", path.display());
    }
}

/// Runs `blocks/build` with `args`; panics with its output if it fails.
fn build(args: &[&str]) {
    let output = Command::new(blocks_dir().join("build"))
        .args(args)
        .output()
        .expect("run blocks/build");
    assert!(
        output.status.success(),
        "blocks/build {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds every block once per test binary.
fn built(_docker: &Engine) {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| build(&[]));
}

/// Polls `done` every 200 ms until it holds; panics with `what` after
/// `timeout`.
fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops a container with a short grace period and says whether it exited
/// by itself (code 0) rather than by the engine's SIGKILL (137).
fn stops_cleanly(docker: &Engine, id: &str) -> bool {
    docker.run(&["stop", "--time", "5", id]);
    docker.run(&["inspect", "--format", "{{.State.ExitCode}}", id]) == "0"
}

#[test]
fn hello_http_serves_its_page_and_turns_healthy() {
    let Some(docker) = docker::engine() else {
        return;
    };
    built(&docker);
    let scope = docker.scope("hello-http");
    let id = docker.run(&[
        "run",
        "-d",
        "--label",
        &scope.label(),
        "--health-interval",
        "1s",
        &image("hello-http"),
    ]);

    wait_for("hello-http healthy", Duration::from_secs(30), || {
        scope.containers()[0].health.as_deref() == Some("healthy")
    });
    let page = docker::exec(&id, &["wget", "-q", "-O-", "http://127.0.0.1:8080/"]);
    assert!(page.contains("hello from an OSB block"), "{page}");
    assert!(stops_cleanly(&docker, &id));
}

#[test]
fn heartbeat_beats_into_a_volume_that_outlives_it() {
    let Some(docker) = docker::engine() else {
        return;
    };
    built(&docker);
    let scope = docker.scope("heartbeat");
    let label = scope.label();
    let volume = format!("{}-beats", scope.instance);
    docker.run(&["volume", "create", "--label", &label, &volume]);
    let mount = format!("type=volume,source={volume},target=/data");
    let image = image("heartbeat");
    let id = docker.run(&["run", "-d", "--label", &label, "--mount", &mount, &image]);

    let read = |id: &str| docker::exec(id, &["cat", "/data/heartbeat.log"]);
    wait_for("three heartbeats", Duration::from_secs(15), || {
        read(&id).lines().count() >= 3
    });
    for line in read(&id).lines() {
        let shape: String = line
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        assert_eq!(shape, "9999-99-99T99:99:99Z", "heartbeat line '{line}'");
    }
    assert!(stops_cleanly(&docker, &id));
    let first = docker.run(&[
        "run",
        "--rm",
        "--label",
        &label,
        "--mount",
        &mount,
        &image,
        "cat",
        "/data/heartbeat.log",
    ]);

    // A new container on the volume carries on the same log.
    let again = docker.run(&["run", "-d", "--label", &label, "--mount", &mount, &image]);
    wait_for(
        "the next container's heartbeat",
        Duration::from_secs(15),
        || read(&again).lines().count() > first.lines().count(),
    );
    assert!(read(&again).starts_with(&first));
}

#[test]
fn build_pushes_to_a_registry() {
    let Some(docker) = docker::engine() else {
        return;
    };
    built(&docker);
    // Declared first, dropped last: it forgets its local tags.
    let registry = docker.registry();
    build(&["--push", &registry.addr(), "hello-http"]);
    let reference = registry.reference(&image("hello-http"));
    docker::remove_image(&reference);
    assert!(!docker::image_exists(&reference));
    docker.run(&["pull", &reference]);
    assert!(docker::image_exists(&reference));
}
