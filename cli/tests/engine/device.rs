//! The board through its hardware adapter (`osb device`), with the
//! scripted adapter `tests/plugins/board` as a real component: without a
//! daemon the command loads the adapter itself; with one it asks the
//! daemon over its control socket, and the daemon gates releases against
//! the adapter's device contract. An adapter that lies (a contract of
//! another type, a reading of NaN) is not believed, and says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::daemon::{spawn_daemon, stop};
use super::{Osb, eventually, running};

const BOARD: &str = "osb-test-board";

/// The board's package in `osb`'s plugin directory (the one
/// `spawn_daemon` watches), its controls landing in `board`, and the device
/// config (development mode: the package is unsigned) with `config` as
/// the adapter's config.
fn board(osb: &Osb, board: &Path, config: &[(&str, &str)]) -> PathBuf {
    let plugins = osb.dir.path().join("plugins");
    let pkg = osb_test_artifacts::copy_package(BOARD, &plugins);
    let manifest = pkg.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).expect("read manifest");
    let text = text.replace("/var/lib/osb-test-board", board.to_str().expect("utf-8"));
    std::fs::write(&manifest, text).expect("write manifest");
    std::fs::create_dir_all(board).expect("board dir");
    let config: Vec<String> = config.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
    let path = osb.dir.path().join("device.toml");
    std::fs::write(
        &path,
        format!(
            "development = true\nplugin_dir = {plugins:?}\n\n\
             [plugins.{BOARD}]\n\
             grants = {{ fs = [{{ host = {board:?}, guest = \"/board\", mode = \"rw\" }}] }}\n\
             config = {{ {} }}\n",
            config.join(", ")
        ),
    )
    .expect("write device config");
    path
}

/// `osb device <args> --config <config>`: exit success, stdout, stderr.
fn device(osb: &Osb, config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = osb
        .command("device", args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run osb device");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(out: &(bool, String, String)) -> Value {
    assert!(out.0, "osb device failed: {}", out.2);
    serde_json::from_str(&out.1).expect("osb device JSON")
}

#[test]
fn the_board_is_read_and_set_through_its_adapter_with_or_without_a_daemon() {
    let Some(osb) = Osb::new("device-board") else {
        return;
    };
    let state = osb.dir.path().join("board-state");
    let config = board(&osb, &state, &[]);

    // No daemon: the command loads the adapter itself.
    let sensors = json_of(&device(&osb, &config, &["sensors", "--json"]));
    assert_eq!(
        sensors,
        json!([{"id": "board-temp", "description": "sensor board-temp", "unit": "°C", "value": 41.5}])
    );
    let (ok, _, stderr) = device(&osb, &config, &["set", "fan", "turbo"]);
    assert!(!ok, "a value outside the control's list was taken");
    assert!(
        stderr.contains(r#"control 'fan' takes low|high, not "turbo""#),
        "{stderr}"
    );
    assert!(
        !state.join("fan").exists(),
        "a refused value reached the board"
    );
    let (ok, out, stderr) = device(&osb, &config, &["set", "fan", "high"]);
    assert!(ok, "{stderr}");
    assert_eq!(out, "fan set to high\n");
    assert_eq!(
        std::fs::read_to_string(state.join("fan")).expect("fan"),
        "high"
    );

    // With a daemon: the same answers come from it (the socket is there),
    // and releases are gated against the adapter's contract: this device
    // has no [device] contract file, so only the adapter makes a release
    // requiring `test-board` runnable.
    let target = osb.write(&json!({
        "version": 1,
        "apps": {"bapp": {"class": "app", "release": {
            "version": "1.0.0",
            "requires": [{"type": "hw.device-type", "slug": "test-board"}],
            "blocks": {"web": {
                "image": osb.engine.busybox_image("1"),
                "command": ["sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"]
            }}
        }}}
    }));
    let daemon = spawn_daemon(
        &osb,
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--target",
            target.to_str().expect("utf-8"),
        ],
    );
    let socket = osb.dir.path().join("state").join("control.sock");
    let listening = eventually(Duration::from_secs(30), || socket.exists());
    let info = listening.then(|| device(&osb, &config, &["info", "--json"]));
    let applied = eventually(Duration::from_secs(60), || {
        running(&osb) == ["bapp/web@1.0.0 running"]
    });
    let set = device(&osb, &config, &["set", "fan", "low"]);
    let unknown = device(&osb, &config, &["sensors", "board-temp", "no-such"]);
    let contract = osb
        .command("contract", &["show", "--json"])
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run osb contract show");
    let stopped = stop(daemon);
    assert!(stopped, "the daemon did not stop on SIGINT");
    assert!(
        listening,
        "the daemon made no control socket at {}",
        socket.display()
    );
    let info = json_of(&info.expect("asked"));
    assert_eq!(info["adapter"], BOARD, "{info:#}");
    assert_eq!(info["contract"]["slug"], "test-board", "{info:#}");
    assert!(
        applied,
        "the release requiring the adapter's board did not run: {:?}",
        running(&osb)
    );
    assert!(set.0, "set through the daemon: {}", set.2);
    assert!(!unknown.0, "an unknown sensor was read");
    assert!(
        unknown
            .2
            .contains("the adapter has no sensor 'no-such' ('osb device sensors' lists them)"),
        "{}",
        unknown.2
    );
    assert_eq!(
        std::fs::read_to_string(state.join("fan")).expect("fan"),
        "low"
    );
    let contract: Value = serde_json::from_slice(&contract.stdout).expect("contract JSON");
    assert!(
        contract["children"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["slug"] == "test-board")),
        "{contract:#}"
    );
    assert!(!socket.exists(), "the daemon left its socket behind");
}

#[test]
fn an_adapter_that_lies_is_not_believed() {
    let Some(osb) = Osb::new("device-liar") else {
        return;
    };
    let state = osb.dir.path().join("board-state");
    let config = board(
        &osb,
        &state,
        &[
            ("contract", r#"{"type": "sw.os", "slug": "balenaos"}"#),
            ("sensors", "cpu=nan °C;gpu=40 °C"),
        ],
    );
    let (ok, _, stderr) = device(&osb, &config, &["info"]);
    assert!(!ok, "a contract of another type was shown as the device's");
    assert!(
        stderr.contains(&format!(
            "plugin '{BOARD}' answered an implausible device-contract: its type is 'sw.os', expected 'hw.device-type'"
        )),
        "{stderr}"
    );
    // Only the sensors named are read, in the order named.
    let gpu = json_of(&device(&osb, &config, &["sensors", "gpu", "--json"]));
    assert_eq!(
        gpu,
        json!([{"id": "gpu", "description": "sensor gpu", "unit": "°C", "value": 40.0}])
    );
    // One sensor lies, the other is still read.
    let sensors = json_of(&device(&osb, &config, &["sensors", "--json"]));
    assert_eq!(sensors[1]["value"], 40.0, "{sensors:#}");
    let error = sensors[0]["error"].as_str().unwrap_or_default();
    assert_eq!(
        error,
        format!(
            "plugin '{BOARD}' answered an implausible read-sensor: sensor 'cpu' read NaN or an infinity"
        ),
        "{sensors:#}"
    );
}
