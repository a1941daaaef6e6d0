//! Sensors read only where asked: the daemon with the scripted board
//! (`tests/plugins/board`) as its hardware adapter and the real
//! `policy-thermal` granted one sensor of it, `Tboard_tegra`. A hot
//! reading holds a new release with the policy's reason naming the
//! temperature; once the board cools the release is applied. The board
//! logs every read, which shows the sensor granted to the policy and the
//! one `[metrics]` lists are read, and a sensor nobody asked for never is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::daemon::{spawn_daemon_logging, stop};
use super::{Osb, eventually, running};

const BOARD: &str = "osb-test-board";
const APP: &str = "sapp";

/// The board and the thermal policy in `osb`'s plugin directory, the
/// board's files in `board`, and the device config: the policy granted
/// `Tboard_tegra` and reading it, `[metrics]` polling `BCPU-therm`.
fn device(osb: &Osb, board: &Path) -> PathBuf {
    let plugins = osb.dir.path().join("plugins");
    let pkg = osb_test_artifacts::copy_package(BOARD, &plugins);
    let manifest = pkg.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).expect("read manifest");
    let text = text.replace("/var/lib/osb-test-board", board.to_str().expect("utf-8"));
    std::fs::write(&manifest, text).expect("write manifest");
    osb_test_artifacts::copy_package("policy-thermal", &plugins);
    std::fs::create_dir_all(board).expect("board dir");
    let path = osb.dir.path().join("device.toml");
    std::fs::write(
        &path,
        format!(
            "development = true\nplugin_dir = {plugins:?}\n\n\
             [metrics]\nsensors = [\"BCPU-therm\"]\ninterval = \"1s\"\n\n\
             [plugins.{BOARD}]\n\
             grants = {{ fs = [{{ host = {board:?}, guest = \"/board\", mode = \"rw\" }}] }}\n\
             config = {{ contract = '{{\"type\": \"hw.device-type\", \"slug\": \"test-board\"}}', \
             sensors = \"Tboard_tegra=40 °C;BCPU-therm=45 °C;GPU-therm=50 °C\" }}\n\n\
             [plugins.policy-thermal]\n\
             grants = {{ sensors = [\"Tboard_tegra\"], kv = true }}\n\
             config = {{ sensor = \"Tboard_tegra\" }}\n"
        ),
    )
    .expect("write device config");
    path
}

/// The ids the board read, one per read, in order.
fn reads(board: &Path) -> Vec<String> {
    std::fs::read_to_string(board.join("reads"))
        .expect("reads")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_policy_decides_on_its_granted_sensor_and_no_other_sensor_is_read() {
    let Some(osb) = Osb::new("sensors-policy") else {
        return;
    };
    let board = osb.dir.path().join("board");
    let config = device(&osb, &board);
    std::fs::write(board.join("reads"), "").expect("reads");
    std::fs::write(board.join("sensor-Tboard_tegra"), "91.5").expect("hot");
    let target = osb.write(&json!({
        "version": 1,
        "apps": { APP: { "class": "app", "release": { "version": "1.0.0", "blocks": {
            "web": {
                "image": osb.engine.busybox_image("1"),
                "command": ["sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"]
            }
        }}}}
    }));
    let log_path = osb.dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let daemon = spawn_daemon_logging(
        &osb,
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--target",
            target.to_str().expect("utf-8"),
        ],
        log,
    );
    let mut status = Value::Null;
    let held = eventually(Duration::from_secs(60), || {
        // Before the daemon has stored the target, `osb status` has
        // nothing to say and fails.
        let out = osb
            .command("status", &["--json"])
            .output()
            .expect("run osb status");
        status = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        status["held"][0]
            .as_str()
            .is_some_and(|h| h.contains("policy 'policy-thermal' denies"))
    });
    let hot_running = running(&osb);
    std::fs::write(board.join("sensor-Tboard_tegra"), "60").expect("cool");
    let applied = eventually(Duration::from_secs(60), || {
        running(&osb) == [format!("{APP}/web@1.0.0 running")]
    });
    let stopped = stop(daemon);
    assert!(stopped, "the daemon did not stop on SIGINT");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();

    assert!(held, "the hot board held nothing: {status:#}\n{log}");
    assert_eq!(
        status["held"][0],
        format!(
            "{APP}: held by policy: policy 'policy-thermal' denies: board at 91.5 °C, above 80 °C"
        ),
        "{status:#}"
    );
    assert!(
        hot_running.is_empty(),
        "a release was started while the board was hot: {hot_running:?}"
    );
    assert!(
        applied,
        "the cooled board's release was not applied: {:?}\n{log}",
        running(&osb)
    );
    let reads = reads(&board);
    assert!(
        reads.iter().any(|r| r == "Tboard_tegra"),
        "the policy's sensor was never read: {reads:?}"
    );
    assert!(
        reads.iter().any(|r| r == "BCPU-therm"),
        "the metrics' sensor was never read: {reads:?}"
    );
    assert!(
        !reads.iter().any(|r| r == "GPU-therm"),
        "a sensor nobody asked for was read: {reads:?}"
    );
    // Each metrics reading is an event naming the sensor, its value and,
    // on its span, the adapter.
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("metrics{{adapter={BOARD}}}"))
                && l.contains("sensor=BCPU-therm")
                && l.contains("value=45")),
        "no metrics event: {log}"
    );
}
