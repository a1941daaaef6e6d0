//! The `osb` binary, run as a user would.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
    assert_eq!(info["api"], "0.2.0");
    let exports = info["exports"].to_string();
    assert!(
        exports.contains("osb:plugin/time-source@0.2.0")
            && exports.contains("osb:plugin/lifecycle@0.2.0"),
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
        vec!["mode", "--help"],
    ] {
        let out = ok(&cmd);
        assert!(out.contains("Usage:"), "{cmd:?}: {out}");
    }
    assert!(ok(&["plugin", "call", "--help"]).contains("fs=HOST_DIR"));
    assert!(ok(&["apply", "--help"]).contains("--time-status"));
    assert!(ok(&["apply", "--help"]).contains("--env-from-process"));
    assert!(ok(&["mode", "--help"]).contains("- production:  Only signed plugins"));
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

/// The instant the probes of the time tests answer, in Unix seconds: a
/// day after the runtime was built, so inside its plausible range
/// whenever the tests run.
fn probe_instant() -> i64 {
    let built = osb_runtime::time::runtime_build_time().unix_nanos() / 1_000_000_000;
    i64::try_from(built).unwrap() + 86_400
}

/// Plugins for the time tests: two probes, each its own origin,
/// `osb-test-probe` answering exactly [`probe_instant`] and `other-probe`
/// a second either side of it, always (two probes answering one instant
/// would not agree: each answer is carried from its own call to the
/// round's instant); and two fake hardware clocks saved at `floors`.
/// Returns (config, plugin dir, each clock's state file).
fn time_fixture(
    dir: &Path,
    floors: [i64; 2],
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    Vec<std::path::PathBuf>,
) {
    let plugins = dir.join("plugins");
    let mut config = String::from("development = true\n");
    let instant = probe_instant();
    for (name, earliest, latest) in [
        ("osb-test-probe", instant, instant),
        ("other-probe", instant - 1, instant + 1),
    ] {
        copy_as("osb-test-probe", name, &plugins, dir);
        config.push_str(&format!(
            "[plugins.{name}]\nconfig = {{ mode = \"interval\", earliest = \"{earliest}\", latest = \"{latest}\" }}\n"
        ));
    }
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

/// Limits the time service of `config` to one probe and the two clocks:
/// one origin votes.
fn one_probe_only(config: &Path) {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str(
        "[time]\nsources = [\"osb-test-probe\", \"time-fake-hwclock\", \"other-hwclock\"]\n",
    );
    std::fs::write(config, text).unwrap();
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

fn with_verdict<'a>(report: &'a Value, verdict: &str) -> Vec<&'a str> {
    report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] == verdict)
        .map(|s| s["name"].as_str().unwrap())
        .collect()
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

/// Whether `time` (RFC 3339) is in the second starting at `seconds`:
/// where the probes' instant is, carried from the sample to the round.
fn within_a_second(time: &Value, seconds: i64) -> bool {
    let second = osb_runtime::time::UtcTime::from_unix_seconds(seconds).rfc3339(0);
    let prefix = second.trim_end_matches('Z');
    time.as_str().is_some_and(|t| t.starts_with(prefix))
}

#[test]
fn time_fuses_real_sources_and_names_the_false_ticker() {
    let tmp = tempfile::tempdir().unwrap();
    let instant = probe_instant();
    // Both saved times are before the probes' instant (and the runtime's
    // build): the two probes agree, two origins, and the floors are only
    // bounds.
    let (config, plugins, files) = time_fixture(tmp.path(), [1_600_000_000, 1_650_000_000]);
    let out = osb_time_json(&config, &plugins);
    assert_eq!(out["state"], "synced", "{out:#}");
    assert_eq!(out["agreement"], "2 of 2 origins agree", "{out:#}");
    assert_eq!(
        out["origins"],
        serde_json::json!(["osb-test-probe", "other-probe"]),
        "{out:#}"
    );
    assert_eq!(
        with_verdict(&out, "bound"),
        ["other-hwclock", "time-fake-hwclock"],
        "{out:#}"
    );
    assert!(rejected(&out).is_empty(), "{out:#}");
    assert!(
        within_a_second(&out["estimate"]["time"], instant),
        "{out:#}"
    );
    assert!(
        within_a_second(&out["plausible"]["earliest"], instant - 86_400),
        "{out:#}"
    );
    assert_eq!(out["clock"]["backend"], "virtual");
    // The virtual clock moved to the probes' instant.
    let system = out["clock"]["system"].as_str().unwrap();
    let system_ms = osb_runtime::time::UtcTime::now_system().unix_nanos() / 1_000_000;
    let offset = out["clock"]["offset_ms"].as_f64().unwrap();
    let expected = (i128::from(instant) * 1000 - system_ms) as f64;
    assert!(
        (offset - expected).abs() < 10_000.0,
        "offset {offset} ms, expected about {expected} (system {system}): {out:#}"
    );
    // Read-only: no saved time was touched.
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), "1600000000\n");
    let table = ok(&["--config", s(&config), "time", "--plugin-dir", s(&plugins)]);
    assert!(table.contains("state:     synced"), "{table}");

    // Both saved times are past the probes' instant: lower bounds are no
    // votes, and two agreeing origins outvote them.
    std::fs::write(&files[0], format!("{}\n", instant + 86_400)).unwrap();
    std::fs::write(&files[1], format!("{}\n", instant + 2 * 86_400)).unwrap();
    let out = osb_time_json(&config, &plugins);
    assert_eq!(out["agreement"], "2 of 2 origins agree", "{out:#}");
    assert_eq!(
        rejected(&out),
        ["other-hwclock", "time-fake-hwclock"],
        "{out:#}"
    );
    assert_eq!(
        with_verdict(&out, "false-ticker"),
        rejected(&out),
        "{out:#}"
    );
    assert_eq!(out["state"], "synced", "{out:#}");
    assert!(
        within_a_second(&out["estimate"]["time"], instant),
        "{out:#}"
    );
    let table = ok(&["--config", s(&config), "time", "--plugin-dir", s(&plugins)]);
    assert!(table.contains("REJECTED"), "{table}");

    // One probe alone is one origin: the floors ahead of it cannot be told
    // from it lying, so nothing is rejected and the estimate spans both
    // (unbounded above: unsynced).
    one_probe_only(&config);
    let out = osb_time_json(&config, &plugins);
    assert_eq!(out["agreement"], "1 of 1 origins agree", "{out:#}");
    assert!(rejected(&out).is_empty(), "{out:#}");
    assert_eq!(
        with_verdict(&out, "contradicts"),
        ["time-fake-hwclock", "other-hwclock"],
        "{out:#}"
    );
    assert_eq!(out["state"], "unsynced", "{out:#}");
    assert!(
        within_a_second(&out["estimate"]["earliest"], instant),
        "{out:#}"
    );
    assert_eq!(out["estimate"]["latest"], Value::Null, "{out:#}");
    let table = ok(&["--config", s(&config), "time", "--plugin-dir", s(&plugins)]);
    assert!(table.contains("CONTRADICTS"), "{table}");

    let err = fails(&[
        "--config",
        s(&config),
        "time",
        "--plugin-dir",
        s(&tmp.path().join("nowhere")),
    ]);
    assert!(err.contains("nowhere"), "{err}");
}

/// Runs `osb daemon` (no engine: the block loop retries in the
/// background) until it logs a change of the time state to `until`, or
/// 60 s pass, then stops it with SIGINT. Returns the log line that said
/// so, if any, and how many seconds the daemon lived.
fn daemon_until(config: &Path, plugins: &Path, state: &Path, until: &str) -> (Option<String>, u64) {
    use std::io::BufRead;
    let started = std::time::Instant::now();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_osb"))
        .args(["--config", s(config), "--log-json", "daemon"])
        .args(["--plugin-dir", s(plugins)])
        .args(["--state-dir", s(state)])
        .args(["--instance", "osb-cli-time-test"])
        .env_remove("OSB_CONFIG")
        .env("RUST_LOG", "info")
        .env(
            "DOCKER_HOST",
            format!("unix://{}", s(&state.join("no-engine.sock"))),
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
    let mut reached = None;
    let wanted = format!("\"to\":\"{until}\"");
    while reached.is_none() && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200))
            && line.contains("time state changed")
            && line.contains(&wanted)
        {
            reached = Some(line);
        }
    }
    let _ = Command::new("kill")
        .args(["-INT", &daemon.id().to_string()])
        .status();
    let stopped = daemon.wait().unwrap();
    assert!(stopped.success(), "{stopped:?}");
    (reached, started.elapsed().as_secs())
}

/// The whole seconds saved in a fake hardware clock's state file.
fn saved_seconds(file: &Path) -> i64 {
    let saved = std::fs::read_to_string(file).unwrap();
    saved
        .strip_suffix('\n')
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{}: {saved:?}", file.display()))
}

#[test]
fn the_daemon_runs_the_time_service_and_saves_the_good_time_when_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, plugins, files) = time_fixture(tmp.path(), [1_600_000_000, 1_650_000_000]);
    let state = tmp.path().join("state");
    let (synced, lived) = daemon_until(&config, &plugins, &state, "synced");
    assert!(
        synced.is_some(),
        "the daemon's time service did not report synced"
    );
    // Stopped: the fake hardware clocks were told the fused lower bound and
    // saved it as a new floor. The bound is the probes' instant moved on by
    // the boot-time clock since the sample, so on a loaded machine it may be
    // a second or more past the instant, never past the daemon's lifetime.
    let instant = probe_instant();
    for file in &files {
        let seconds = saved_seconds(file);
        assert!(
            (instant..=instant + i64::try_from(lived).unwrap()).contains(&seconds),
            "{}: {seconds}, daemon lived {lived} s",
            file.display()
        );
    }

    // One probe alone, one origin: as narrow, but only coarse, and nothing
    // coarse is saved as a floor, however long the daemon runs.
    let before: Vec<i64> = files.iter().map(|f| saved_seconds(f)).collect();
    std::fs::write(&files[0], "1600000000\n").unwrap();
    std::fs::write(&files[1], "1650000000\n").unwrap();
    one_probe_only(&config);
    let (coarse, _) = daemon_until(&config, &plugins, &state, "coarse");
    assert!(
        coarse.is_some(),
        "the daemon's time service did not report coarse"
    );
    let after: Vec<i64> = files.iter().map(|f| saved_seconds(f)).collect();
    assert_eq!(
        after,
        [1_600_000_000, 1_650_000_000],
        "saved while coarse (before: {before:?})"
    );
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

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let state = tmp.path().join("state");
    let out = Command::new(env!("CARGO_BIN_EXE_osb"))
        .args(["--development", "daemon", "--once"])
        .args(["--plugin-dir", s(&plugins), "--state-dir", s(&state)])
        .env_remove("OSB_CONFIG")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .output()
        .expect("run osb");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Development mode is always logged, as a warning.
    assert!(err.contains("DEVELOPMENT MODE"), "nothing logged: {err}");
    assert!(!err.contains('\x1b'), "colour codes in piped logs: {err:?}");
}

/// `osb apply` on a compose file, with no engine to reach: the file is
/// read (and refused, or not) before the engine is asked anything.
fn apply_compose(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    apply_without_engine_in(dir, &dir.join("project/compose.yml"), extra, env)
}

#[test]
fn a_compose_file_is_interpolated_from_its_env_and_reads_env_files_beside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let compose = |a_env_file: &str, b_port: &str| {
        let yaml = format!(
            "services:\n  a:\n    image: \"web:${{TAG:?set TAG in .env}}\"\n    ports: [\"${{HOST_PORT}}:80\"]\n    env_file: [{a_env_file}]\n    environment: {{B: service}}\n  b:\n    image: web\n    ports: [\"{b_port}:81\"]\n"
        );
        std::fs::write(project.join("compose.yml"), yaml).unwrap();
    };
    std::fs::write(
        project.join(".env"),
        "# compose's .env\nTAG=1.0\nHOST_PORT=8080\n",
    )
    .unwrap();
    std::fs::write(project.join("web.env"), "A=1\nB=\"from the file\"\n").unwrap();

    // Accepted: the apply gets as far as the engine.
    compose("web.env", "9000");
    let err = apply_compose(tmp.path(), &[], &[]);
    assert!(err.contains("cannot reach the container engine"), "{err}");
    assert!(!err.contains("refused"), "{err}");

    // The port came from .env: 8080 is now published twice.
    compose("web.env", "8080");
    let err = apply_compose(tmp.path(), &[], &[]);
    assert!(
        err.contains(
            "services.b.ports[0]: host port 8080:81/tcp is already published by services.a.ports[0]"
        ),
        "{err}"
    );
    // --env-file replaces .env; the process's environment is not read...
    std::fs::write(tmp.path().join("other.env"), "TAG=2\nHOST_PORT=9000\n").unwrap();
    compose("web.env", "9000");
    let other = tmp.path().join("other.env");
    let err = apply_compose(
        tmp.path(),
        &["--env-file", s(&other)],
        &[("HOST_PORT", "8080")],
    );
    assert!(
        err.contains("host port 9000:81/tcp is already published by services.a.ports[0]"),
        "{err}"
    );
    // ...unless asked for, and then it wins over the file.
    let err = apply_compose(
        tmp.path(),
        &["--env-file", s(&other), "--env-from-process"],
        &[("HOST_PORT", "8080")],
    );
    assert!(err.contains("cannot reach the container engine"), "{err}");
    // Without .env, a required variable is missing.
    std::fs::remove_file(project.join(".env")).unwrap();
    let err = apply_compose(tmp.path(), &[], &[("TAG", "from-the-process")]);
    assert!(
        err.contains(
            "services.a.image: required variable 'TAG' is missing a value: set TAG in .env"
        ),
        "{err}"
    );
    std::fs::write(project.join(".env"), "TAG=1.0\nHOST_PORT=8080\n").unwrap();

    // env_file is read at import, beneath the compose file's directory.
    std::fs::write(project.join("web.env"), "A=1\nB=\"unclosed\n").unwrap();
    let err = apply_compose(tmp.path(), &[], &[]);
    assert!(
        err.contains("services.a.env_file[0]: 'web.env' line 2: the \" quote is not closed"),
        "{err}"
    );
    compose("missing.env", "9000");
    let err = apply_compose(tmp.path(), &[], &[]);
    assert!(
        err.contains("services.a.env_file[0]: 'missing.env' not found beside the compose file"),
        "{err}"
    );
    std::fs::write(tmp.path().join("secret.env"), "SECRET=1\n").unwrap();
    std::os::unix::fs::symlink("../secret.env", project.join("link.env")).unwrap();
    for (reference, expect) in [
        ("link.env", "services.a.env_file[0]: cannot read 'link.env'"),
        (
            "../secret.env",
            "services.a.env_file[0]: '../secret.env' leaves the compose file's directory",
        ),
        (s(&tmp.path().join("secret.env")), "is absolute"),
    ] {
        compose(&format!("'{reference}'"), "9000");
        let err = apply_compose(tmp.path(), &[], &[]);
        assert!(
            err.contains(expect) && err.contains("refused"),
            "{reference}: {err}"
        );
    }
}

/// `osb apply FILE` with no engine to reach, as `apply_compose` for any
/// target file.
fn apply_without_engine(dir: &Path, file: &Path, extra: &[&str]) -> String {
    apply_without_engine_in(dir, file, extra, &[])
}

/// `osb apply FILE` with state in `dir`, `extra` arguments and `env` set,
/// and no engine to reach: it must fail; its error output.
fn apply_without_engine_in(
    dir: &Path,
    file: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_osb"));
    command
        .arg("apply")
        .args(["--state-dir", s(&dir.join("state"))])
        .args(extra)
        .arg(file)
        .env_remove("OSB_CONFIG")
        .env_remove("OSB_DEVELOPMENT")
        .env("RUST_LOG", "warn")
        .env(
            "DOCKER_HOST",
            format!("unix://{}", s(&dir.join("no-engine.sock"))),
        );
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().expect("run osb");
    assert!(!out.status.success(), "no engine, yet osb apply succeeded");
    String::from_utf8(out.stderr).unwrap()
}

/// `text` padded with `pad` to exactly `len` bytes.
fn padded(text: &str, pad: char, len: u64) -> String {
    let len = usize::try_from(len).unwrap();
    assert!(text.len() <= len && pad.is_ascii());
    let mut out = text.to_owned();
    out.extend(std::iter::repeat_n(pad, len - text.len()));
    out
}

#[test]
fn target_files_are_refused_past_the_size_cap_naming_the_file_and_the_cap() {
    let cap = osb_state::MAX_TARGET_BYTES;
    let cap_text = format!("larger than the {} MiB accepted", cap >> 20);
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target.json");
    let empty = r#"{"version": 1, "apps": {}}"#;

    // At the cap it is read, and the apply gets as far as the engine.
    std::fs::write(&target, padded(empty, ' ', cap)).unwrap();
    let err = apply_without_engine(tmp.path(), &target, &[]);
    assert!(err.contains("cannot reach the container engine"), "{err}");
    assert!(!err.contains("larger than"), "{err}");

    // One byte more is refused before it is parsed.
    std::fs::write(&target, padded(empty, ' ', cap + 1)).unwrap();
    let err = apply_without_engine(tmp.path(), &target, &[]);
    assert!(
        err.contains(&format!("cannot read '{}': {cap_text}", s(&target))),
        "{err}"
    );

    // A compose file is a target file too.
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let compose = project.join("compose.yml");
    let yaml = "services:\n  a:\n    image: web\n    env_file: [web.env]\n#";
    std::fs::write(&compose, padded(yaml, '#', cap + 1)).unwrap();
    let err = apply_without_engine(tmp.path(), &compose, &[]);
    assert!(
        err.contains(&format!("cannot read '{}': {cap_text}", s(&compose))),
        "{err}"
    );

    // Env files, however they are named, are held to 1 MiB.
    std::fs::write(&compose, yaml).unwrap();
    let env_cap = 1 << 20;
    let env_text = "larger than the 1 MiB accepted";
    let dot_env = project.join(".env");
    std::fs::write(project.join("web.env"), "A=1\n").unwrap();
    std::fs::write(&dot_env, padded("A=1\n#", '#', env_cap)).unwrap();
    let err = apply_without_engine(tmp.path(), &compose, &[]);
    assert!(err.contains("cannot reach the container engine"), "{err}");
    std::fs::write(&dot_env, padded("A=1\n#", '#', env_cap + 1)).unwrap();
    let err = apply_without_engine(tmp.path(), &compose, &[]);
    assert!(
        err.contains(&format!("cannot read '{}': {env_text}", s(&dot_env))),
        "{err}"
    );
    let other = tmp.path().join("other.env");
    std::fs::write(&other, padded("A=1\n#", '#', env_cap + 1)).unwrap();
    let err = apply_without_engine(tmp.path(), &compose, &["--env-file", s(&other)]);
    assert!(
        err.contains(&format!(
            "--env-file: cannot read '{}': {env_text}",
            s(&other)
        )),
        "{err}"
    );
    std::fs::remove_file(&dot_env).unwrap();
    std::fs::write(project.join("web.env"), padded("A=1\n#", '#', env_cap + 1)).unwrap();
    let err = apply_without_engine(tmp.path(), &compose, &[]);
    assert!(
        err.contains(&format!(
            "services.a.env_file[0]: cannot read 'web.env': {env_text}"
        )),
        "{err}"
    );
}
