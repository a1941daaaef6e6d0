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

#[test]
fn the_tx2_bsp_block_logs_the_boards_thermal_zones_by_name() {
    let Some(docker) = docker::engine() else {
        return;
    };
    built(&docker);
    let scope = docker.scope("jetson-tx2-bsp");
    // The fake TX2's thermal zones, as the hardware adapter's tests use
    // them, bound read-only where target.json binds the real ones.
    let thermal = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/hw-jetson-tx2/tests/fixture/tx2/sys/devices/virtual/thermal");
    let mount = format!(
        "type=bind,source={},target=/board/thermal,readonly",
        thermal.canonicalize().expect("fixture").display()
    );
    let id = docker.run(&[
        "run",
        "-d",
        "--label",
        &scope.label(),
        "--health-interval",
        "1s",
        "--env",
        "INTERVAL=1",
        "--mount",
        &mount,
        &image("jetson-tx2-bsp"),
    ]);
    wait_for("jetson-tx2-bsp healthy", Duration::from_secs(30), || {
        scope.containers()[0].health.as_deref() == Some("healthy")
    });
    let zones = docker::exec(&id, &["cat", "/tmp/tx2-thermal/zones"]);
    let zones: Vec<&str> = zones.lines().collect();
    assert_eq!(
        zones,
        [
            "BCPU-therm=36.5",
            "MCPU-therm=36.5",
            "GPU-therm=34.0",
            "PLL-therm=34.5",
            "Tboard_tegra=32.0",
            "Tdiode_tegra=33.8",
            "PMIC-Die=100.0",
            "thermal-fan-est=35.1",
        ]
    );
    let log = docker.run(&["logs", &id]);
    assert!(
        log.contains("thermal: BCPU-therm=36.5 MCPU-therm=36.5"),
        "{log}"
    );
    // Read-only: the block cannot write to the board's sysfs.
    let wrote = Command::new("docker")
        .args([
            "exec",
            &id,
            "sh",
            "-c",
            "echo 1 > /board/thermal/thermal_zone0/temp",
        ])
        .status()
        .expect("docker exec");
    assert!(!wrote.success(), "the thermal bind was writable");
    assert!(stops_cleanly(&docker, &id));
}

/// The runtime's crates (their sources, the WIT, their manifests; not
/// their tests or fixtures) never name a board: board support is a plugin
/// and a block, added under `plugins/` and `blocks/` only.
#[test]
fn board_support_stays_out_of_the_core() {
    const BOARD_WORDS: [&str; 4] = ["jetson", "tx2", "tegra", "nvpmodel"];
    const CORE: [&str; 7] = [
        "state",
        "contract",
        "plugin-host",
        "engine",
        "runtime",
        "cli",
        "sdk",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in CORE {
        files.push(root.join(krate).join("Cargo.toml"));
        for dir in ["src", "wit"] {
            collect(&root.join(krate).join(dir), &mut files);
        }
    }
    assert!(
        files.len() > 100,
        "too few files found to mean anything: {}",
        files.len()
    );
    let mut mentions = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // A file's unit tests (a `#[cfg(test)]` module at its end) are
        // tests, and may use a real board's contract as a fixture.
        let source = text.split("\n#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in source.lines().enumerate() {
            let lower = line.to_lowercase();
            if BOARD_WORDS.iter().any(|w| lower.contains(w)) {
                mentions.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        mentions.is_empty(),
        "the core names a board:\n{}",
        mentions.join("\n")
    );
}

/// The `.rs`, `.wit` and `.toml` files under `dir`, but those of tests
/// and fixtures (a `tests` directory or a `tests.rs` module).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name == "tests" || name == "tests.rs" || name == "fixtures" {
            continue;
        }
        if path.is_dir() {
            collect(&path, files);
        } else if ["rs", "wit", "toml"]
            .iter()
            .any(|ext| path.extension().is_some_and(|e| e == *ext))
        {
            files.push(path);
        }
    }
}

#[test]
fn the_board_check_sees_a_board_named_in_the_core() {
    // The check above reads what it means to: a board named in a core
    // source file is found, one in its unit tests is not.
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("tests")).expect("src/tests");
    std::fs::write(src.join("lib.rs"), "//! x\n").expect("lib.rs");
    std::fs::write(src.join("tests").join("a.rs"), "jetson").expect("tests/a.rs");
    std::fs::write(src.join("tests.rs"), "tegra").expect("tests.rs");
    let mut files = Vec::new();
    collect(&src, &mut files);
    assert_eq!(files, [src.join("lib.rs")]);
}
