//! The vendor story: a device type added by files under `plugins/` and
//! `blocks/` only. A device whose hardware adapter is `hw-jetson-tx2`, on
//! the fake TX2 tree its tests use, runs the BSP block's own `target.json`
//! (the image built by `blocks/build` and pulled from a loopback
//! registry); the same target on a device whose adapter reports another
//! board is rejected, naming the requirement, and nothing of it starts.
//! Neither device has a `[device] contract` file: only the adapter says
//! what the board is.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::daemon::{spawn_daemon_logging, stop};
use super::{Osb, eventually, running};

const ADAPTER: &str = "hw-jetson-tx2";
const BLOCK: &str = "jetson-tx2-bsp";
/// What the block's target.json names, as `blocks/build --push
/// localhost:5000` pushes it.
const PUBLISHED: &str = "localhost:5000/osb/jetson-tx2-bsp:0.1.0";
const LOCAL: &str = "osb/jetson-tx2-bsp:0.1.0";
/// Where the block's target.json binds the board's thermal zones from.
const THERMAL: &str = "/sys/devices/virtual/thermal";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The block's target.json, its image pulled from `image` and its thermal
/// bind from `thermal`.
fn bsp_target(osb: &Osb, image: &str, thermal: &Path) -> PathBuf {
    let path = repo().join("blocks").join(BLOCK).join("target.json");
    let text = std::fs::read_to_string(&path).expect("read the block's target.json");
    assert!(text.contains(PUBLISHED) && text.contains(THERMAL), "{text}");
    let text = text
        .replace(PUBLISHED, image)
        .replace(THERMAL, thermal.to_str().expect("utf-8"));
    let target: Value = serde_json::from_str(&text).expect("target JSON");
    osb.write(&target)
}

/// Builds the block with `blocks/build` and pushes it to `registry`.
fn pushed_image(registry: &osb_test_docker::Registry) -> String {
    let out = Command::new(repo().join("blocks/build"))
        .arg(BLOCK)
        .output()
        .expect("run blocks/build");
    assert!(
        out.status.success(),
        "blocks/build {BLOCK}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    registry.push(LOCAL, LOCAL)
}

/// A copy of the fake TX2 under `root`, the adapter's package in `osb`'s
/// plugin directory with each of its grants moved beneath `root` (the
/// paths the plugin sees stay the board's), and the device config granting
/// them.
fn tx2_device(osb: &Osb, root: &Path) -> PathBuf {
    std::fs::create_dir_all(root).expect("board root");
    let fixture = repo().join("plugins/hw-jetson-tx2/tests/fixture/tx2");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(fixture.join("."))
        .arg(root)
        .status()
        .expect("cp");
    assert!(copied.success(), "copy the fake TX2");
    let plugins = osb.dir.path().join("plugins");
    let pkg = osb_test_artifacts::copy_package(ADAPTER, &plugins);
    let manifest_path = pkg.join("plugin.toml");
    let manifest = std::fs::read_to_string(&manifest_path).expect("read manifest");
    let root_text = root.to_str().expect("utf-8");
    let manifest = manifest.replace("{ host = \"/", &format!("{{ host = \"{root_text}/"));
    std::fs::write(&manifest_path, &manifest).expect("write manifest");
    // The device grants exactly what the moved manifest asks for.
    let grants: Vec<&str> = manifest
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("{ host = "))
        .map(|l| l.trim_end_matches(','))
        .collect();
    assert_eq!(grants.len(), 7, "{manifest}");
    let path = osb.dir.path().join("device.toml");
    std::fs::write(
        &path,
        format!(
            "development = true\nplugin_dir = {plugins:?}\n\n\
             [plugins.{ADAPTER}.grants]\nfs = [\n    {}\n]\nkv = true\n",
            grants.join(",\n    ")
        ),
    )
    .expect("write device config");
    path
}

/// A device whose adapter is the scripted board, reporting `test-board`.
fn other_device(osb: &Osb, board: &Path) -> PathBuf {
    let plugins = osb.dir.path().join("plugins");
    let pkg = osb_test_artifacts::copy_package("osb-test-board", &plugins);
    let manifest = pkg.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).expect("read manifest");
    let text = text.replace("/var/lib/osb-test-board", board.to_str().expect("utf-8"));
    std::fs::write(&manifest, text).expect("write manifest");
    std::fs::create_dir_all(board).expect("board dir");
    let path = osb.dir.path().join("device.toml");
    std::fs::write(
        &path,
        format!(
            "development = true\nplugin_dir = {plugins:?}\n\n\
             [plugins.osb-test-board]\n\
             grants = {{ fs = [{{ host = {board:?}, guest = \"/board\", mode = \"rw\" }}] }}\n"
        ),
    )
    .expect("write device config");
    path
}

fn daemon_on(osb: &Osb, config: &Path, target: &Path) -> (std::process::Child, PathBuf) {
    let log_path = osb.dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let daemon = spawn_daemon_logging(
        osb,
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--target",
            target.to_str().expect("utf-8"),
        ],
        log,
    );
    (daemon, log_path)
}

#[test]
fn the_bsp_block_runs_on_the_board_its_adapter_reports_and_nowhere_else() {
    let Some(tx2) = Osb::new("bsp-tx2") else {
        return;
    };
    let registry = tx2.engine.registry();
    let image = pushed_image(&registry);

    let root = tx2.dir.path().join("tx2");
    let config = tx2_device(&tx2, &root);
    let target = bsp_target(&tx2, &image, &root.join(&THERMAL[1..]));
    let (daemon, log_path) = daemon_on(&tx2, &config, &target);
    let up = eventually(Duration::from_secs(90), || {
        running(&tx2) == [format!("{BLOCK}/thermal@0.1.0 running")]
    });
    // The block reads the fake board's zones through its read-only bind.
    let mut logs = String::new();
    let logged = up
        && eventually(Duration::from_secs(30), || {
            let id = tx2.scope.containers()[0].id.clone();
            logs = tx2.engine.run(&["logs", &id]);
            logs.contains("Tboard_tegra=32.0")
        });
    let stopped = stop(daemon);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(stopped, "the daemon did not stop on SIGINT");
    assert!(
        up,
        "the BSP block did not run on the TX2: {:?}\n{log}",
        running(&tx2)
    );
    assert!(logged, "the block logged no thermal zone: {logs}");

    let Some(other) = Osb::new("bsp-other") else {
        return;
    };
    let config = other_device(&other, &other.dir.path().join("board"));
    let target = bsp_target(&other, &image, &root.join(&THERMAL[1..]));
    let (daemon, log_path) = daemon_on(&other, &config, &target);
    let rejection = format!(
        "blocks: {BLOCK}: release 0.1.0 rejected: apps.{BLOCK}.release.requires[0]: hw.device-type jetson-tx2"
    );
    let mut log = String::new();
    let refused = eventually(Duration::from_secs(60), || {
        log = std::fs::read_to_string(&log_path).unwrap_or_default();
        log.contains(&rejection)
    });
    std::thread::sleep(Duration::from_secs(3));
    let started = running(&other);
    let stopped = stop(daemon);
    assert!(stopped, "the daemon did not stop on SIGINT");
    assert!(refused, "no rejection naming the requirement:\n{log}");
    assert!(
        started.is_empty(),
        "a block was started on another board: {started:?}"
    );
}
