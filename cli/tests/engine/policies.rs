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

/// A signed `policy-drafts` package in a plugin directory of `osb`'s, and
/// the key's public half (`ed25519:...`), by `osb plugin keygen` and
/// `osb plugin sign` as a vendor would: the device below is not in
/// development mode, so nothing unsigned loads and drafts do not run by
/// default.
fn signed_drafts_policy(osb: &Osb) -> (PathBuf, String) {
    let keys = osb.dir.path().join("keys");
    // Signing happens off the device: no state directory or instance.
    let plugin = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_osb"))
            .arg("plugin")
            .args(args)
            .output()
            .expect("run osb plugin")
    };
    let out = plugin(&["keygen", "--out", keys.to_str().expect("utf-8"), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keygen: Value = serde_json::from_slice(&out.stdout).expect("keygen JSON");
    let plugins = osb.dir.path().join("signed-plugins");
    let pkg = osb_test_artifacts::copy_package("policy-drafts", &plugins);
    let key = keys.join("osb-signing.key");
    let out = plugin(&[
        "sign",
        pkg.to_str().expect("utf-8"),
        "--key",
        key.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = keygen["public_key"]
        .as_str()
        .expect("public key")
        .to_owned();
    (plugins, public)
}

#[test]
fn a_draft_runs_outside_development_mode_only_where_a_granted_policy_allows_it() {
    let Some(osb) = Osb::new("policy-drafts") else {
        return;
    };
    let (plugins, key) = signed_drafts_policy(&osb);
    let image = osb.engine.busybox_image("1");
    let mut target = idle_release(&osb, "1.0.0");
    let release = &mut target["apps"][APP]["release"];
    release["status"] = json!("draft");
    release["validation_window"] = json!("60s");
    release["blocks"]["smoke"] =
        json!({"image": image, "role": "test", "command": ["sh", "-c", "echo smoke fine"]});
    let config = |apps: &str, grant: bool| {
        format!(
            "trusted_keys = [{key:?}]\nplugin_dir = {plugins:?}\n\n\
             [plugins.policy-drafts]\nconfig = {{ apps = {apps:?} }}\n\
             grants = {{ drafts = {grant} }}\n"
        )
    };
    let answer = |out: &std::process::Output| -> Value {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "apply JSON; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };

    // The policy is loaded but the device does not grant it `drafts`: its
    // allow is a plain one, and gating rejects the draft as before.
    let out = osb.apply_under(&target, &config(APP, false));
    assert!(!out.status.success(), "a draft ran without the grant");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "apps.{APP}.release.status: a draft: drafts run only on a device in development mode, \
             or where a policy holding the `drafts` grant allows them"
        )),
        "{stderr}"
    );
    assert_eq!(running(&osb), Vec::<String>::new());

    // Granted, but configured for another app: the policy denies the draft
    // with its reason, and the app is held.
    let out = osb.apply_under(&target, &config("other", true));
    assert!(!out.status.success(), "a draft of an unlisted app ran");
    let held = answer(&out)["held"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        held,
        format!(
            "{APP}: held by policy: policy 'policy-drafts' denies: draft 1.0.0 of app '{APP}': \
             drafts of this app do not run on this device (config apps = other)"
        )
    );
    assert_eq!(running(&osb), Vec::<String>::new());

    // Granted and configured for this app: the draft runs, its test block
    // passes on the device, and it is final from then on.
    let out = osb.apply_under(&target, &config(APP, true));
    let report = answer(&out);
    assert!(
        out.status.success(),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report["validated"],
        json!([format!("{APP}@1.0.0")]),
        "{report:#}"
    );
    assert_eq!(running(&osb), [format!("{APP}/web@1.0.0 running")]);
    let out = osb
        .command("release", &["list", "--json"])
        .output()
        .expect("run osb release list");
    let list: Value = serde_json::from_slice(&out.stdout).expect("release list JSON");
    assert_eq!(list[APP][0]["status"], "final", "{list:#}");
    assert_eq!(list[APP][0]["state"], "running", "{list:#}");
}
