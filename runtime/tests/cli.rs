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
    ] {
        let out = ok(&cmd);
        assert!(out.contains("Usage:"), "{cmd:?}: {out}");
    }
    assert!(ok(&["plugin", "call", "--help"]).contains("fs=HOST_DIR"));
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
