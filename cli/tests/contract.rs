//! `osb contract check`, run as a user would, on balena's own contracts
//! (`contract/tests/fixtures/`).

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn fixture(kind: &str, slug: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contract/tests/fixtures")
        .join(kind)
        .join(slug)
        .join("contract.json")
}

fn load(kind: &str, slug: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(kind, slug)).unwrap()).unwrap()
}

/// A file in a temporary directory the test keeps alive.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A device as `osb contract show` describes one: a context whose
    /// children are its device type and its architecture.
    fn device(&self, device_type: &str, arch: &str) -> PathBuf {
        let device = json!({
            "type": "meta.context", "slug": "device",
            "children": [load("hw.device-type", device_type), load("arch.sw", arch)]
        });
        self.write(&format!("{device_type}-{arch}.json"), device.to_string())
    }
}

fn check(device: &Path, require: &Path, json: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_osb"));
    command
        .args(["contract", "check", "--device"])
        .arg(device)
        .arg("--require")
        .arg(require)
        .env_remove("OSB_CONFIG")
        .env("RUST_LOG", "warn");
    if json {
        command.arg("--json");
    }
    command.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn parsed(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

#[test]
fn an_aarch64_userland_holds_on_a_jetson_and_amd64_fails_naming_the_requirement() {
    let files = Files::new();
    let jetson = files.device("jetson-tx2", "aarch64");

    let out = check(&jetson, &fixture("arch.sw", "aarch64"), false);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains(
            r#"held: arch.sw aarch64@1 requires[0]: hw.device-type with data.arch "aarch64": matched by jetson-tx2@1"#
        ),
        "{text}"
    );
    assert!(text.ends_with("holds\n"), "{text}");

    let out = check(&jetson, &fixture("arch.sw", "amd64"), false);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains(
            r#"FAILED: arch.sw amd64@1 requires[0]: hw.device-type with data.arch "amd64": no hw.device-type with data.arch "amd64" among: jetson-tx2@1 (data.arch "aarch64")"#
        ),
        "{text}"
    );
    assert!(
        text.ends_with("does not hold: 1 of 1 requirements failed\n"),
        "{text}"
    );
}

#[test]
fn json_reports_each_requirement() {
    let files = Files::new();
    let rpi = files.device("raspberrypi4-64", "aarch64");
    let out = check(&rpi, &fixture("sw.os", "balenaos"), true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = parsed(&out);
    assert_eq!(report["holds"], json!(true), "{report:#}");
    assert_eq!(report["require"], "sw.os balena-os@2");
    let requirements = report["requirements"].as_array().unwrap();
    assert_eq!(requirements.len(), 1, "{report:#}");
    let first = &requirements[0];
    assert_eq!(first["holds"], json!(true));
    assert_eq!(first["owner"], "sw.os balena-os@2");
    assert_eq!(first["path"], "requires[0]");
    assert!(
        first["requirement"]
            .as_str()
            .unwrap()
            .starts_with("one of (arch.sw armv7hf"),
        "{first:#}"
    );
    assert_eq!(first["reason"], "arch.sw aarch64: matched by aarch64@1");
    // The device agrees with itself: its arch.sw's own requirement holds.
    assert_eq!(report["device"]["holds"], json!(true), "{report:#}");
    assert_eq!(
        report["device"]["requirements"][0]["owner"],
        "arch.sw aarch64@1"
    );

    let generic = files.device("generic-amd64", "amd64");
    let out = check(&generic, &fixture("arch.sw", "aarch64"), true);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = parsed(&out);
    assert_eq!(report["holds"], json!(false));
    let failed = &report["requirements"][0];
    assert_eq!(failed["holds"], json!(false));
    assert_eq!(
        failed["requirement"],
        r#"hw.device-type with data.arch "aarch64""#
    );
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains(r#"generic-amd64@1 (data.arch "amd64")"#),
        "{failed:#}"
    );
}

/// An armv7hf userland is one of balenaOS's, so the OS's requirement holds;
/// but a Jetson TX2 is aarch64, so the device description is wrong, and a
/// check against a wrong description fails.
#[test]
fn a_device_that_disagrees_with_itself_fails_the_check() {
    let files = Files::new();
    let wrong = files.device("jetson-tx2", "armv7hf");
    let out = check(&wrong, &fixture("sw.os", "balenaos"), true);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = parsed(&out);
    assert_eq!(report["holds"], json!(false), "{report:#}");
    assert_eq!(
        report["requirements"][0]["holds"],
        json!(true),
        "{report:#}"
    );
    let own = &report["device"];
    assert_eq!(own["holds"], json!(false), "{report:#}");
    assert_eq!(own["requirements"][0]["owner"], "arch.sw armv7hf@1");
    assert_eq!(
        own["requirements"][0]["reason"],
        r#"no hw.device-type with data.arch "armv7hf" among: jetson-tx2@1 (data.arch "aarch64")"#
    );

    let text = stdout(&check(&wrong, &fixture("sw.os", "balenaos"), false));
    assert!(
        text.ends_with(
            "does not hold: the device contract disagrees with itself (1 of 1 failed)\n"
        ),
        "{text}"
    );
}

/// The device is the context's root: what a requirement can match are its
/// children and what is provided, never the root itself (contrato's rule).
/// A bare device-type contract is a device with no parts.
#[test]
fn a_bare_device_type_is_no_context() {
    let out = check(
        &fixture("hw.device-type", "jetson-tx2"),
        &fixture("arch.sw", "aarch64"),
        false,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("no hw.device-type in the context (it has: nothing)"),
        "{text}"
    );
}

#[test]
fn a_contract_without_requirements_holds() {
    let files = Files::new();
    let out = check(
        &files.device("jetson-tx2", "aarch64"),
        &fixture("hw.device-type", "raspberrypi4-64"),
        false,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("requirements of hw.device-type raspberrypi4-64@1:\n  none\n"),
        "{}",
        stdout(&out)
    );
}

/// Bad input exits 2 with a message naming the flag, the file and, where
/// there is one, the field; nothing is printed on stdout.
#[test]
fn bad_input_exits_2_naming_the_file_and_field() {
    let files = Files::new();
    let device = files.device("jetson-tx2", "aarch64");
    let missing = files.0.path().join("missing.json");
    let text = files.write("text.json", "arch: aarch64\n");
    let unknown = files.write(
        "unknown.json",
        r#"{"type": "sw.block", "slug": "b", "requires": [{"type": "arch.sw", "slg": "aarch64"}]}"#,
    );
    let range = files.write(
        "range.json",
        r#"{"type": "sw.block", "slug": "b", "requires": [{"or": [{"type": "sw.os", "version": ">= 2.x.y"}]}]}"#,
    );
    let untyped = files.write(
        "untyped.json",
        r#"{"type": "meta.context", "slug": "d", "children": [{"slug": "x"}]}"#,
    );
    let mut huge = b"{\"type\": \"a\", \"slug\": \"b\", \"data\": {\"pad\": \"".to_vec();
    huge.resize(osb_contract::MAX_CONTRACT_BYTES + 10, b'x');
    huge.extend_from_slice(b"\"}}");
    let huge = files.write("huge.json", huge);
    let table: [(&Path, &Path, &[&str]); 6] = [
        (
            &missing,
            &fixture("arch.sw", "aarch64"),
            &["--device", "No such file"],
        ),
        (&device, &text, &["--require", "not a JSON contract"]),
        (
            &device,
            &unknown,
            &["--require", "requires[0]", "unknown field `slg`"],
        ),
        (&device, &range, &["--require", "requires[0].or[0].version"]),
        (
            &untyped,
            &fixture("arch.sw", "aarch64"),
            &["--device", "children[0]", "missing `type`"],
        ),
        (&device, &huge, &["--require", "larger than the limit"]),
    ];
    for (device, require, expect) in table {
        for json in [false, true] {
            let out = check(device, require, json);
            let error = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{error}");
            assert!(out.stdout.is_empty(), "{}", stdout(&out));
            let named = if expect[0] == "--device" {
                device
            } else {
                require
            };
            assert!(
                error.contains(&named.display().to_string()),
                "{error} does not name {}",
                named.display()
            );
            for part in expect {
                assert!(error.contains(part), "{error} lacks {part:?}");
            }
        }
    }
    // Both files bad: both named.
    let out = check(&missing, &text, false);
    let error = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{error}");
    assert!(
        error.contains("missing.json") && error.contains("text.json"),
        "{error}"
    );
}

#[test]
fn a_missing_flag_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_osb"))
        .args(["contract", "check", "--device", "device.json"])
        .env_remove("OSB_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--require"), "{}", stderr(&out));
}
