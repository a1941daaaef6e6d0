//! Policy plugins asked before a release is applied: the real
//! `policy-thermal` component, reading a thermal zone from a directory the
//! device config grants it, holds a new release while the board is hot,
//! in `osb apply` and in the daemon; when the board cools, the daemon
//! applies it without being told again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::daemon::{spawn_daemon, stop};
use super::{Osb, eventually, running};

const APP: &str = "papp";

/// The thermal policy's package in `osb`'s plugin directory (the one
/// `spawn_daemon` watches), asking for `sensor` as its thermal zone; the
/// device config granting it, in development mode (the package is not
/// signed).
fn thermal(osb: &Osb, sensor: &Path) -> PathBuf {
    let plugins = osb.dir.path().join("plugins");
    let pkg = osb_test_artifacts::copy_package("policy-thermal", &plugins);
    let manifest = pkg.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).expect("read manifest");
    let text = text.replace(
        "/sys/class/thermal/thermal_zone0",
        sensor.to_str().expect("utf-8"),
    );
    std::fs::write(&manifest, text).expect("write manifest");
    let config = osb.dir.path().join("device.toml");
    std::fs::write(
        &config,
        format!(
            "development = true\nplugin_dir = {plugins:?}\n\n\
             [plugins.policy-thermal.grants]\n\
             fs = [{{ host = {sensor:?}, guest = \"/thermal\", mode = \"ro\" }}]\n\
             kv = true\n"
        ),
    )
    .expect("write device config");
    config
}

fn idle_release(osb: &Osb, version: &str) -> Value {
    json!({
        "version": 1,
        "apps": { APP: { "class": "app", "release": { "version": version, "blocks": {
            "web": {
                "image": osb.engine.busybox_image("1"),
                "command": ["sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"]
            }
        }}}}
    })
}

#[test]
fn a_hot_board_holds_a_new_release_until_it_cools() {
    let Some(osb) = Osb::new("policy-thermal") else {
        return;
    };
    let sensor = osb.dir.path().join("thermal_zone0");
    std::fs::create_dir_all(&sensor).expect("sensor dir");
    let temp = sensor.join("temp");
    std::fs::write(&temp, "91000\n").expect("write temp");
    let config = thermal(&osb, &sensor);
    let target = idle_release(&osb, "1.0.0");

    // `osb apply` asks too: held, nothing created, the target stored.
    let path = osb.write(&target);
    let out = osb
        .command(
            "apply",
            &[
                path.to_str().expect("utf-8"),
                "--json",
                "--no-progress",
                "--timeout",
                "60s",
            ],
        )
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run osb apply");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a held release is not applied: {stderr}"
    );
    let answer: Value = serde_json::from_slice(&out.stdout).expect("apply JSON");
    let held = answer["held"][0].as_str().unwrap_or_default().to_owned();
    assert!(
        held.starts_with(&format!(
            "{APP}: held by policy: policy 'policy-thermal' denies: "
        )) && held.contains("91.0 °C"),
        "{answer:#}"
    );
    assert_eq!(running(&osb), Vec::<String>::new());

    // The daemon holds it as well, says so in `osb status`, and applies
    // it once the board has cooled below the resume temperature.
    let daemon = spawn_daemon(&osb, &["--config", config.to_str().expect("utf-8")]);
    let mut status = Value::Null;
    let said = eventually(Duration::from_secs(30), || {
        status = osb.status();
        status["held"][0]
            .as_str()
            .is_some_and(|h| h.contains("policy 'policy-thermal' denies"))
    });
    std::thread::sleep(Duration::from_secs(2));
    let still_nothing = running(&osb).is_empty();
    std::fs::write(&temp, "60000\n").expect("cool down");
    let applied = eventually(Duration::from_secs(60), || {
        running(&osb) == [format!("{APP}/web@1.0.0 running")]
    });
    let stopped = stop(daemon);
    assert!(stopped, "the daemon did not stop on SIGINT");
    assert!(said, "osb status did not show the hold: {status:#}");
    assert!(
        still_nothing,
        "a held release was applied while the board was hot"
    );
    assert!(
        applied,
        "the cooled board's release was not applied: {:?}",
        running(&osb)
    );
}
