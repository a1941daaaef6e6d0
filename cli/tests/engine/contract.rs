//! `osb contract show`: the device's contract lists what runs, and a
//! device described by it can be checked against offline.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use super::Osb;

fn idle(image: &str) -> Value {
    json!({
        "image": image,
        "command": ["sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"]
    })
}

fn jetson() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contract/tests/fixtures/hw.device-type/jetson-tx2/contract.json")
}

/// A device config naming the Jetson fixture as the device's contract.
fn on_jetson() -> String {
    format!(
        "[device]\ncontract = {:?}\n",
        jetson().display().to_string()
    )
}

/// `osb contract show --json` with the device config [`on_jetson`].
fn show(osb: &Osb, docker_host: Option<&str>) -> Output {
    let config = osb.dir.path().join("device.toml");
    std::fs::write(&config, on_jetson()).expect("write device.toml");
    let mut command = osb.command("contract", &["show", "--json"]);
    command.arg("--config").arg(&config);
    if let Some(host) = docker_host {
        command.env("DOCKER_HOST", host);
    }
    command.output().expect("run osb contract show")
}

fn children<'a>(contract: &'a Value, kind: &str) -> Vec<&'a Value> {
    contract["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter(|c| c["type"] == kind)
        .collect()
}

fn one<'a>(contract: &'a Value, kind: &str) -> &'a Value {
    let found = children(contract, kind);
    assert_eq!(found.len(), 1, "{kind} in {contract:#}");
    found[0]
}

#[test]
fn show_lists_the_running_blocks_and_what_the_device_is() {
    let Some(osb) = Osb::new("contract") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let target = json!({
        "version": 1,
        "apps": {
            "ctos": { "class": "os", "release": { "version": "3.1.0",
                "blocks": { "host": idle(&image) } } },
            "ctapp": { "class": "app", "release": { "version": "1.2.0",
                "blocks": { "web": idle(&image) } } }
        }
    });
    osb.apply(&target);

    let out = show(&osb, None);
    assert!(
        out.status.success(),
        "osb contract show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let contract: Value = serde_json::from_slice(&out.stdout).expect("contract is JSON");
    assert_eq!(
        (&contract["type"], &contract["slug"]),
        (&json!("meta.context"), &json!("device"))
    );
    let device = one(&contract, "hw.device-type");
    assert_eq!(device["slug"], "jetson-tx2");
    assert_eq!(device["data"]["arch"], "aarch64");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "arm" => "armv7hf",
        "x86" => "i386",
        other => other,
    };
    assert_eq!(one(&contract, "arch.sw")["slug"], arch);
    let osb_self = one(&contract, "sw.osb");
    assert_eq!(
        (&osb_self["slug"], &osb_self["version"]),
        (&json!("osb"), &json!(env!("CARGO_PKG_VERSION")))
    );
    // No device config: production, said as the runtime's variant.
    assert_eq!(osb_self["data"]["variant"], "production", "{osb_self:#}");
    let os = one(&contract, "sw.os");
    assert_eq!(
        (&os["slug"], &os["version"]),
        (&json!("ctos"), &json!("3.1.0"))
    );
    let uname = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .expect("run uname -r");
    let release = String::from_utf8(uname.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let kernel = one(&contract, "sw.kernel");
    assert_eq!(kernel["slug"], "linux");
    assert_eq!(kernel["data"]["release"], json!(release), "{kernel:#}");
    let version = kernel["version"].as_str().expect("kernel version");
    assert!(release.starts_with(version), "{version} of {release}");
    let mut blocks: Vec<String> = children(&contract, "sw.block")
        .iter()
        .map(|b| {
            format!(
                "{}@{}",
                b["slug"].as_str().unwrap_or("?"),
                b["version"].as_str().unwrap_or("?")
            )
        })
        .collect();
    blocks.sort();
    assert_eq!(blocks, ["ctapp/web@1.2.0", "ctos/host@3.1.0"]);

    // What show prints is a device `contract check` reads.
    let device_file = osb.dir.path().join("device.json");
    std::fs::write(&device_file, &out.stdout).expect("write device.json");
    let check = |requires: Value| {
        let require = osb.dir.path().join("require.json");
        let contract = json!({"type": "sw.block", "slug": "probe", "requires": requires});
        std::fs::write(&require, contract.to_string()).expect("write require.json");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_osb"))
            .args(["contract", "check", "--device"])
            .arg(&device_file)
            .arg("--require")
            .arg(&require)
            .env_remove("OSB_CONFIG")
            .output()
            .expect("run osb contract check");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = check(json!([
        {"type": "sw.block", "slug": "ctapp/web", "version": "^1.2"},
        {"type": "sw.os", "slug": "ctos", "version": ">=3"},
        {"type": "hw.device-type", "data": {"arch": "aarch64"}}
    ]));
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = check(json!([{"type": "sw.block", "slug": "ctapp/db"}]));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no sw.block ctapp/db among: "), "{text}");

    // Without an engine: the contract without blocks, and a note why.
    let out = show(&osb, Some("unix:///nonexistent/docker.sock"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no running blocks listed, the engine did not answer"),
        "{stderr}"
    );
    let contract: Value = serde_json::from_slice(&out.stdout).expect("contract is JSON");
    assert!(children(&contract, "sw.block").is_empty(), "{contract:#}");
    assert_eq!(one(&contract, "sw.os")["version"], "3.1.0");
}

#[test]
fn a_release_the_device_cannot_run_is_rejected_and_the_running_one_stays() {
    let Some(osb) = Osb::new("contract-gate") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let release = |version: &str, requires: Value, blocks: Value| {
        json!({"version": 1, "apps": {"gate": {"class": "app", "release": {
            "version": version, "requires": requires, "blocks": blocks}}}})
    };
    let first = osb.apply_under(
        &release(
            "1.0.0",
            json!([{"type": "hw.device-type", "slug": "jetson-tx2"}]),
            json!({"web": idle(&image)}),
        ),
        &on_jetson(),
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let running = osb.scope.containers();
    assert_eq!(running.len(), 1, "{running:#?}");

    // 2.0.0 is for another board. Its image is on no registry: a pull
    // would fail the apply with another error, after retries.
    let out = osb.apply_under(
        &release(
            "2.0.0",
            json!([{"type": "hw.device-type", "slug": "raspberrypi4-64"}]),
            json!({"web": idle("127.0.0.1:9/osb-never-pushed:2")}),
        ),
        &on_jetson(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a rejected release applied: {stderr}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("--json error");
    let rejected = json["rejected"][0].as_str().unwrap_or_default();
    assert!(
        rejected.starts_with(
            "gate: release 2.0.0 rejected: apps.gate.release.requires[0]: hw.device-type raspberrypi4-64:"
        ),
        "{json:#}"
    );
    assert!(
        stderr.contains("what runs of the app stays as it is") && !stderr.contains("pull"),
        "{stderr}"
    );
    let after = osb.scope.containers();
    assert_eq!(
        (after.len(), after[0].id.as_str(), after[0].state.as_str()),
        (1, running[0].id.as_str(), "running"),
        "the running release was touched: {after:#?}"
    );
    // Status gates under the same device config.
    let out = osb
        .command("status", &["--json"])
        .arg("--config")
        .arg(osb.dir.path().join("device.toml"))
        .output()
        .expect("run osb status");
    let status: Value = serde_json::from_slice(&out.stdout).expect("status is JSON");
    assert_eq!(status["converged"], false, "{status:#}");
    assert_eq!(status["rejected"][0], rejected, "{status:#}");
    assert!(
        status["blocks"][0]["waiting"]
            .as_str()
            .is_some_and(|w| w.starts_with("release 2.0.0 rejected")),
        "{status:#}"
    );

    // An optional block for another architecture is left out; the rest of
    // the release runs.
    let out = osb.apply_under(
        &release(
            "3.0.0",
            json!([]),
            json!({
                "web": idle(&image),
                "gpu": {
                    "image": "127.0.0.1:9/osb-never-pushed:3",
                    "optional": true,
                    "requires": [{"type": "arch.sw", "slug": "armv7hf"}]
                }
            }),
        ),
        &on_jetson(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert!(
        report["left_out"][0]
            .as_str()
            .is_some_and(|l| l.starts_with(
                "gate/gpu left out: apps.gate.release.blocks.gpu.requires[0]: arch.sw armv7hf"
            )),
        "{report:#}"
    );
    // web is as it was (a new version that leaves a block as it was
    // restarts nothing); gpu has no container.
    let now = osb.scope.containers();
    assert_eq!(now.len(), 1, "{now:#?}");
    assert_eq!(
        now[0].labels.get("io.osb.block").map(String::as_str),
        Some("web")
    );

    // A draft is rejected on a production device, and runs in development
    // mode.
    let mut draft = release("4.0.0", json!([]), json!({"web": idle(&image)}));
    draft["apps"]["gate"]["release"]["status"] = json!("draft");
    let out = osb.apply_under(&draft, &on_jetson());
    assert!(!out.status.success(), "a draft applied in production");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "apps.gate.release.status: a draft: drafts run only on a device in development mode"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What became of each release, oldest first.
    let out = osb
        .command("release", &["list", "--json"])
        .output()
        .expect("run osb release list");
    let list: Value = serde_json::from_slice(&out.stdout).expect("release list is JSON");
    let seen: Vec<String> = list["gate"]
        .as_array()
        .expect("gate's releases")
        .iter()
        .map(|r| format!("{} {} {}", r["version"], r["status"], r["state"]))
        .collect();
    assert_eq!(
        seen,
        [
            r#""1.0.0" "final" "replaced""#,
            r#""2.0.0" "final" "rejected""#,
            r#""3.0.0" "final" "running""#,
            r#""4.0.0" "draft" "rejected""#,
        ],
        "{list:#}"
    );
    assert!(
        list["gate"][1]["reason"].as_str().is_some_and(
            |r| r.starts_with("apps.gate.release.requires[0]: hw.device-type raspberrypi4-64")
        ),
        "{list:#}"
    );
    let out = osb
        .command(
            "apply",
            &[
                osb.write(&draft).to_str().expect("utf-8"),
                "--json",
                "--no-progress",
                "--development",
            ],
        )
        .output()
        .expect("run osb apply --development");
    assert!(
        out.status.success(),
        "a draft refused in development mode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
