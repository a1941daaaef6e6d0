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

/// `osb contract show --json` with a device config naming the Jetson
/// fixture as the device's contract.
fn show(osb: &Osb, docker_host: Option<&str>) -> Output {
    let config = osb.dir.path().join("device.toml");
    std::fs::write(
        &config,
        format!(
            "[device]\ncontract = {:?}\n",
            jetson().display().to_string()
        ),
    )
    .expect("write device.toml");
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
