//! The `osb` binary, run as a user would.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn osb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_osb"))
        .args(args)
        .env_remove("OSB_CONFIG")
        .env_remove("OSB_DEVELOPMENT")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run osb")
}

fn ok(args: &[&str]) -> String {
    let out = osb(args);
    assert!(
        out.status.success(),
        "osb {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = osb(args);
    assert!(!out.status.success(), "osb {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn keygen_sign_verify_inspect_and_call_a_real_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let public = ok(&["plugin", "keygen", "--out", s(&keys)])
        .trim()
        .to_owned();
    assert!(public.starts_with("ed25519:"), "{public}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(keys.join("osb-signing.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second keygen must not overwrite the secret key.
    assert!(fails(&["plugin", "keygen", "--out", s(&keys)]).contains("refusing to overwrite"));

    let pkg = osb_test_artifacts::copy_package("time-fake-hwclock", tmp.path());
    let err = fails(&["plugin", "verify", s(&pkg), "--trust", &public]);
    assert!(
        err.contains("time-fake-hwclock.wasm.sig") && err.contains("unsigned"),
        "{err}"
    );

    ok(&[
        "plugin",
        "sign",
        s(&pkg),
        "--key",
        s(&keys.join("osb-signing.key")),
    ]);
    let verified: Value = serde_json::from_str(&ok(&[
        "plugin",
        "verify",
        s(&pkg),
        "--trust",
        &public,
        "--json",
    ]))
    .unwrap();
    assert_eq!(verified["ok"], Value::Bool(true));
    let err = fails(&["plugin", "verify", s(&pkg)]);
    assert!(err.contains("not a trusted key"), "{err}");

    let info: Value = serde_json::from_str(&ok(&["plugin", "inspect", s(&pkg), "--json"])).unwrap();
    assert_eq!(info["kind"], "time-source");
    assert_eq!(info["version"], "0.1.0");
    assert_eq!(info["api"], "0.1.0");
    let exports = info["exports"].to_string();
    assert!(
        exports.contains("osb:plugin/time-source@0.1.0")
            && exports.contains("osb:plugin/lifecycle@0.1.0"),
        "{exports}"
    );
    assert!(info["capabilities"]["fs"].is_array());

    // Calls need the signer trusted through a device config.
    let state = tmp.path().join("clock");
    std::fs::create_dir_all(&state).unwrap();
    let config = tmp.path().join("device.toml");
    std::fs::write(&config, format!("trusted_keys = [\"{public}\"]\n")).unwrap();
    let grant = format!("fs={}:rw", s(&state));
    // The manifest asks for /var/lib/osb/fake-hwclock; this grant does not
    // cover it, so the plugin runs without the directory and says so.
    let out: Value = serde_json::from_str(&{
        let o = osb(&[
            "--config",
            s(&config),
            "plugin",
            "call",
            s(&pkg),
            "sample",
            "--grant",
            &grant,
        ]);
        String::from_utf8(o.stdout).unwrap()
    })
    .unwrap();
    assert!(out.get("error").is_some(), "{out}");

    let unsigned = osb_test_artifacts::copy_package("osb-test-probe", tmp.path());
    let err = fails(&[
        "--config",
        s(&config),
        "plugin",
        "call",
        s(&unsigned),
        "sample",
    ]);
    assert!(err.contains("osb-test-probe.wasm.sig"), "{err}");
    let out: Value = serde_json::from_str(&ok(&[
        "--development",
        "plugin",
        "call",
        s(&unsigned),
        "sample",
    ]))
    .unwrap();
    assert_eq!(out["ok"]["interval"]["earliest"]["seconds"], 1_700_000_000);
    let out: Value = serde_json::from_str(&ok(&[
        "--development",
        "plugin",
        "call",
        s(&unsigned),
        "sample",
        "--set",
        "mode=host-call",
        "--set",
        "tag=hello",
    ]))
    .unwrap();
    assert_eq!(out["ok"]["detail"], "hello");
    let err = fails(&["--development", "plugin", "call", s(&unsigned), "apply"]);
    assert!(
        err.contains("time-source") && err.contains("sample"),
        "{err}"
    );
    let err = fails(&[
        "--development",
        "plugin",
        "call",
        s(&unsigned),
        "observe",
        "{not json",
    ]);
    assert!(err.contains("not valid JSON"), "{err}");
}

#[test]
fn every_command_has_help() {
    for cmd in [
        vec!["--help"],
        vec!["plugin", "--help"],
        vec!["plugin", "keygen", "--help"],
        vec!["plugin", "sign", "--help"],
        vec!["plugin", "verify", "--help"],
        vec!["plugin", "inspect", "--help"],
        vec!["plugin", "call", "--help"],
        vec!["daemon", "--help"],
        vec!["time", "--help"],
        vec!["apply", "--help"],
        vec!["status", "--help"],
    ] {
        let out = ok(&cmd);
        assert!(out.contains("Usage:"), "{cmd:?}: {out}");
    }
    assert!(ok(&["plugin", "call", "--help"]).contains("fs=HOST_DIR"));
    assert!(ok(&["apply", "--help"]).contains("--time-status"));
}

#[test]
fn a_missing_config_file_is_a_clear_error() {
    let err = fails(&[
        "--config",
        "/nonexistent/device.toml",
        "plugin",
        "inspect",
        ".",
    ]);
    assert!(err.contains("/nonexistent/device.toml"), "{err}");
}

/// A built package copied into `dest` under another name (the manifest's
/// name and the component file follow), with the fake hardware clock's
/// state directory moved to `state`.
fn copy_as(package: &str, name: &str, dest: &Path, state: &Path) -> std::path::PathBuf {
    let from = osb_test_artifacts::package(package);
    let to = dest.join(name);
    std::fs::create_dir_all(&to).unwrap();
    let manifest = std::fs::read_to_string(from.join("plugin.toml"))
        .unwrap()
        .replace(
            &format!("name = \"{package}\""),
            &format!("name = \"{name}\""),
        )
        .replace("/var/lib/osb/fake-hwclock", s(state));
    std::fs::write(to.join("plugin.toml"), manifest).unwrap();
    std::fs::copy(
        from.join(format!("{package}.wasm")),
        to.join(format!("{name}.wasm")),
    )
    .unwrap();
    to
}

/// Plugins for the time tests: the probe (it answers exactly
/// 2023-11-14T22:13:20Z, always) and two fake hardware clocks saved at
/// `floors`; returns (config, plugin dir, each clock's state file).
fn time_fixture(
    dir: &Path,
    floors: [i64; 2],
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    Vec<std::path::PathBuf>,
) {
    let plugins = dir.join("plugins");
    copy_as("osb-test-probe", "osb-test-probe", &plugins, dir);
    let mut config = String::from("development = true\n");
    let mut files = Vec::new();
    for (name, floor) in ["time-fake-hwclock", "other-hwclock"]
        .into_iter()
        .zip(floors)
    {
        let state = dir.join(format!("{name}-state"));
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("fake-hwclock"), format!("{floor}\n")).unwrap();
        copy_as("time-fake-hwclock", name, &plugins, &state);
        config.push_str(&format!(
            "[plugins.{name}]\ngrants = {{ fs = [{{ host = \"{}\", guest = \"/data\", mode = \"rw\" }}] }}\n",
            s(&state)
        ));
        files.push(state.join("fake-hwclock"));
    }
    let config_path = dir.join("device.toml");
    std::fs::write(&config_path, config).unwrap();
    (config_path, plugins, files)
}

fn osb_time_json(config: &Path, plugins: &Path) -> Value {
    serde_json::from_str(&ok(&[
        "--config",
        s(config),
        "time",
        "--plugin-dir",
        s(plugins),
        "--json",
    ]))
    .unwrap()
}

fn rejected(report: &Value) -> Vec<&str> {
    report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["rejected"] == true)
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

#[test]
fn time_fuses_real_sources_and_names_the_false_ticker() {
    let tmp = tempfile::tempdir().unwrap();
    // Both saved times are before the probe's instant: all three agree.
    let (config, plugins, files) = time_fixture(tmp.path(), [1_600_000_000, 1_650_000_000]);
    let out = osb_time_json(&config, &plugins);
    assert_eq!(out["state"], "synced", "{out:#}");
    assert_eq!(out["agreement"], "3 of 3 sources agree", "{out:#}");
    assert!(rejected(&out).is_empty(), "{out:#}");
    let estimate = out["estimate"]["time"].as_str().unwrap();
    assert!(estimate.starts_with("2023-11-14T22:13:20.0"), "{estimate}");
    assert_eq!(out["clock"]["backend"], "virtual");
    assert!(out["clock"]["offset_ms"].as_f64().unwrap() < 0.0, "{out:#}");
    // Read-only: no saved time was touched.
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), "1600000000\n");
    let table = ok(&["--config", s(&config), "time", "--plugin-dir", s(&plugins)]);
    assert!(table.contains("state:     synced"), "{table}");

    // Both saved times are past the probe's instant: the two floors
    // outvote it; what is left is a lower bound, so unsynced.
    std::fs::write(&files[0], "1750000000\n").unwrap();
    std::fs::write(&files[1], "1760000000\n").unwrap();
    let out = osb_time_json(&config, &plugins);
    assert_eq!(out["agreement"], "2 of 3 sources agree", "{out:#}");
    assert_eq!(rejected(&out), ["osb-test-probe"], "{out:#}");
    assert_eq!(out["state"], "unsynced", "{out:#}");
    assert_eq!(out["estimate"]["latest"], Value::Null, "{out:#}");
    let earliest = out["estimate"]["earliest"].as_str().unwrap();
    assert!(earliest.starts_with("2025-10-09T08:53:20"), "{earliest}");
    let table = ok(&["--config", s(&config), "time", "--plugin-dir", s(&plugins)]);
    assert!(table.contains("REJECTED"), "{table}");

    let err = fails(&[
        "--config",
        s(&config),
        "time",
        "--plugin-dir",
        s(&tmp.path().join("nowhere")),
    ]);
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn the_daemon_runs_the_time_service_and_saves_the_good_time_when_stopped() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let (config, plugins, files) = time_fixture(tmp.path(), [1_600_000_000, 1_650_000_000]);
    let started = std::time::Instant::now();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_osb"))
        .args(["--config", s(&config), "--log-json", "daemon"])
        .args(["--plugin-dir", s(&plugins)])
        .args(["--state-dir", s(&tmp.path().join("state"))])
        .args(["--instance", "osb-cli-time-test"])
        .env_remove("OSB_CONFIG")
        .env("RUST_LOG", "info")
        // No engine is needed: the block loop retries in the background.
        .env(
            "DOCKER_HOST",
            format!("unix://{}", s(&tmp.path().join("no-engine.sock"))),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = daemon.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut synced = None;
    while synced.is_none() && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200))
            && line.contains("time state changed")
            && line.contains("\"to\":\"synced\"")
        {
            synced = Some(line);
        }
    }
    let _ = Command::new("kill")
        .args(["-INT", &daemon.id().to_string()])
        .status();
    let stopped = daemon.wait().unwrap();
    let lived = started.elapsed().as_secs();
    assert!(
        synced.is_some(),
        "the daemon's time service did not report synced"
    );
    assert!(stopped.success(), "{stopped:?}");
    // Stopped: the fake hardware clocks were told the fused lower bound and
    // saved it as a new floor. The bound is the probe's instant moved on by
    // the boot-time clock since the sample, so on a loaded machine it may be
    // a second or more past the instant, never past the daemon's lifetime.
    for file in &files {
        let saved = std::fs::read_to_string(file).unwrap();
        let seconds: u64 = saved
            .strip_suffix('\n')
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{}: {saved:?}", file.display()));
        assert!(
            (1_700_000_000..=1_700_000_000 + lived).contains(&seconds),
            "{}: {seconds}, daemon lived {lived} s",
            file.display()
        );
    }
}

#[test]
fn an_instance_name_that_cannot_name_engine_objects_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    for bad in ["a.b", "-x", "has space"] {
        let flag = format!("--instance={bad}");
        let err = fails(&["status", "--state-dir", s(&state), &flag]);
        assert!(
            err.contains(&format!("instance '{bad}'")) && err.contains("--instance"),
            "{bad}: {err}"
        );
    }
    // Refused before anything is touched.
    assert!(!state.exists());
}
