//! `osb mode`: the device switched between production and development
//! while the daemon runs, by the command and by the device config edited
//! by hand. What follows the mode: a block that requires development mode
//! (through the device contract's `sw.osb` variant), an unsigned plugin in
//! the plugin directory, and the daemon's log level; a config made invalid
//! changes nothing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use super::daemon::stop;
use super::{Osb, eventually, running};

const PROBE: &str = "osb-test-probe";

/// One app: `web` always, `devtools` only on a device in development mode.
fn release(osb: &Osb) -> Value {
    let idle = |optional: bool| {
        let mut block = json!({
            "image": osb.engine.busybox_image("1"),
            "command": ["sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"]
        });
        if optional {
            block["optional"] = json!(true);
            block["requires"] = json!([{"type": "sw.osb", "data": {"variant": "development"}}]);
        }
        block
    };
    json!({
        "version": 1,
        "apps": { "modes": { "class": "app", "release": { "version": "1.0.0", "blocks": {
            "web": idle(false),
            "devtools": idle(true)
        }}}}
    })
}

/// The device config: production, the test's plugin directory.
fn config_text(plugins: &Path, development: &str) -> String {
    format!("# the test's device\ndevelopment = {development}\nplugin_dir = {plugins:?}\n")
}

/// `osb mode <args> --json` over `state` (under `config` when given): its
/// report.
fn mode(state: &Path, config: Option<&Path>, args: &[&str]) -> Value {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_osb"));
    command
        .arg("mode")
        .args(args)
        .arg("--json")
        .arg("--state-dir")
        .arg(state)
        .env_remove("OSB_CONFIG")
        .env("RUST_LOG", "info");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let out = command.output().expect("run osb mode");
    assert!(
        out.status.success(),
        "osb mode {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("osb mode JSON")
}

/// The blocks of the app running, as `block state`.
fn blocks(osb: &Osb) -> Vec<String> {
    running(osb)
        .into_iter()
        .map(|line| line.replace("modes/", "").replace("@1.0.0", ""))
        .collect()
}

#[test]
fn the_mode_switches_while_the_daemon_runs() {
    let Some(osb) = Osb::new("mode") else {
        return;
    };
    let plugins = osb.dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    // Unsigned: it runs only in development mode.
    osb_test_artifacts::copy_package(PROBE, &plugins);
    let config_path: PathBuf = osb.dir.path().join("device.toml");
    std::fs::write(&config_path, config_text(&plugins, "false")).expect("write config");
    let target = osb.write(&release(&osb));
    let log_path = osb.dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).expect("daemon log");
    // No RUST_LOG: the daemon's log level is the mode's.
    let daemon = osb
        .command(
            "daemon",
            &[
                "--plugin-dir",
                plugins.to_str().expect("utf-8"),
                "--target",
                target.to_str().expect("utf-8"),
            ],
        )
        .arg("--config")
        .arg(&config_path)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn osb daemon");
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let config = Some(config_path.as_path());
    let state = osb.state();

    // Production: web runs, devtools is left out, the probe is refused.
    let mut now = Vec::new();
    let production = eventually(Duration::from_secs(60), || {
        now = blocks(&osb);
        now == ["web running"]
    });
    assert!(production, "in production: {now:?}\n{}", read_log());
    let shown = mode(&state, config, &[]);
    assert_eq!(shown["mode"], "production", "{shown:#}");
    assert_eq!(shown["daemon"]["unsigned_plugins"], json!([]), "{shown:#}");
    assert!(!read_log().contains(" DEBUG "), "debug logs in production");

    // `osb mode development`: the daemon switches before the command
    // returns; the probe is loaded, devtools starts, the log is at debug.
    let switched = mode(&state, config, &["development"]);
    assert_eq!(switched["mode"], "development", "{switched:#}");
    assert_eq!(
        switched["daemon"]["unsigned_plugins"],
        json!([PROBE]),
        "{switched:#}"
    );
    let text = std::fs::read_to_string(&config_path).expect("read config");
    assert_eq!(
        text,
        config_text(&plugins, "true"),
        "the rest of the file is kept"
    );
    let development = eventually(Duration::from_secs(60), || {
        now = blocks(&osb);
        now == ["devtools running", "web running"]
    });
    assert!(development, "in development: {now:?}\n{}", read_log());
    assert_eq!(mode(&state, config, &[])["mode"], "development");
    assert!(
        read_log().contains(" DEBUG "),
        "no debug logs in development"
    );

    // `osb mode production`: the probe is unloaded, devtools stops.
    let switched = mode(&state, config, &["production"]);
    assert_eq!(switched["mode"], "production", "{switched:#}");
    assert_eq!(
        switched["daemon"]["unsigned_plugins"],
        json!([]),
        "{switched:#}"
    );
    let back = eventually(Duration::from_secs(60), || {
        now = blocks(&osb);
        now == ["web running"]
    });
    assert!(back, "back in production: {now:?}\n{}", read_log());

    // The file edited by hand, in place: the daemon follows it.
    std::fs::write(&config_path, config_text(&plugins, "true")).expect("edit config");
    let followed = eventually(Duration::from_secs(20), || {
        mode(&state, config, &[])["daemon"]["mode"] == "development"
    });
    assert!(
        followed,
        "the daemon did not follow the file:\n{}",
        read_log()
    );
    let again = eventually(Duration::from_secs(60), || {
        now = blocks(&osb);
        now == ["devtools running", "web running"]
    });
    assert!(again, "development again: {now:?}\n{}", read_log());

    // A file that no longer reads as a device config: said, with the
    // file and its error, and the mode kept. (`osb mode` itself reads the
    // device config, so it is asked without it.)
    std::fs::write(&config_path, "development = [\n").expect("break config");
    let said = eventually(Duration::from_secs(20), || {
        read_log().contains("the device config changed and cannot be used")
    });
    let text = read_log();
    let kept = mode(&state, None, &[]);
    let stopped = stop(daemon);
    assert!(said, "the bad config was not said:\n{text}");
    assert!(
        text.contains(&config_path.display().to_string()),
        "the error does not name the file:\n{text}"
    );
    assert_eq!(kept["daemon"]["mode"], "development", "{kept:#}");
    assert_eq!(
        kept["daemon"]["unsigned_plugins"],
        json!([PROBE]),
        "{kept:#}"
    );
    assert!(stopped, "the daemon did not stop on SIGINT");
}

/// No engine needed: nothing runs.
#[test]
fn without_a_daemon_the_mode_is_written_for_the_next_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    let plugins = dir.path().join("plugins");
    let config_path = dir.path().join("device.toml");
    std::fs::write(&config_path, config_text(&plugins, "false")).expect("write config");
    let config = Some(config_path.as_path());
    let switched = mode(&state, config, &["development"]);
    assert_eq!(switched["mode"], "development", "{switched:#}");
    assert_eq!(switched["daemon"], Value::Null, "{switched:#}");
    assert_eq!(
        std::fs::read_to_string(&config_path).expect("read config"),
        config_text(&plugins, "true")
    );
    assert_eq!(mode(&state, config, &[])["mode"], "development");
    // A mode that is none: clap's error, naming the values.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_osb"))
        .args(["mode", "staging", "--config"])
        .arg(&config_path)
        .output()
        .expect("run osb mode");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid value 'staging'") && stderr.contains("development, production"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&config_path).expect("read config"),
        config_text(&plugins, "true"),
        "a refused mode wrote the file"
    );
}
