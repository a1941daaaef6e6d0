//! The 20-block release of BENCHMARKS.md's section 10 and the device it is
//! gated against, shared by the benches that gate it (`state/benches/gate.rs`)
//! and that evaluate the policy plugin on it (`tests/benches/policy.rs`,
//! which includes this file by path): one release, so the two measure the
//! same work.

use osb_contract::Contract;
use osb_state::TargetState;
use osb_state::target::AppClass;
use serde_json::{Value, json};

/// The real device type, as the `[device] contract` file would hold it.
const JETSON_TX2: &str =
    include_str!("../../../contract/tests/fixtures/hw.device-type/jetson-tx2/contract.json");

/// The blocks of the release under test.
pub const BLOCKS: usize = 20;

/// The blocks running while `main`'s new release is gated: those of the
/// releases already in place, as `running_blocks` decides (the new release
/// is not running yet).
pub const RUNNING: [&str; 4] = [
    "balena-os/hostapp",
    "system/db",
    "system/mqtt",
    "system/proxy",
];

/// The device's contract as `osb_runtime::device_contract::assemble` builds
/// it for a TX2 running `target`, with `running` blocks up (`osb-state`'s
/// benches cannot call it: the runtime depends on `osb-state`). Same
/// children in the same order: the device, `arch.sw`, the `os` apps as
/// `sw.os`, `sw.osb`, `sw.kernel` with the distribution suffix coerced away,
/// the running blocks as `sw.block` at their release's version.
pub fn device(target: &TargetState, running: &[&str]) -> Contract {
    let versioned = |kind: &str, slug: &str, version: String| {
        let mut contract = Contract::new(kind, slug);
        contract.version = Some(version);
        contract
    };
    let mut root = Contract::new("meta.context", "device");
    root.children
        .push(Contract::from_json_str(JETSON_TX2).expect("the jetson-tx2 fixture"));
    root.children.push(Contract::new("arch.sw", "aarch64"));
    for (name, app) in &target.apps {
        if app.class == AppClass::Os {
            root.children.push(versioned(
                "sw.os",
                name.as_str(),
                app.release.version.to_string(),
            ));
        }
    }
    // Every crate of the workspace has its version, whichever includes this.
    root.children.push(versioned(
        "sw.osb",
        "osb",
        env!("CARGO_PKG_VERSION").to_owned(),
    ));
    let mut kernel = versioned("sw.kernel", "linux", "5.10.120".to_owned());
    kernel
        .data
        .insert("release".to_owned(), json!("5.10.120-tegra"));
    root.children.push(kernel);
    for (name, app) in &target.apps {
        for block in app.release.blocks.keys() {
            let slug = format!("{name}/{block}");
            if running.contains(&slug.as_str()) {
                root.children.push(versioned(
                    "sw.block",
                    &slug,
                    app.release.version.to_string(),
                ));
            }
        }
    }
    root
}

/// Block `i`'s requirements: one, two or three in turn (7 blocks with one,
/// 7 with two, 6 with three: 39 in all).
fn requires(i: usize) -> Value {
    let device_type = json!({"type": "hw.device-type", "slug": "jetson-tx2"});
    let arch = json!({"type": "arch.sw", "slug": "aarch64"});
    let os = json!({"type": "sw.os", "slug": "balena-os", "version": ">=5.1 <6"});
    let db = json!({"type": "sw.block", "slug": "system/db", "version": "^1.2"});
    match i % 3 {
        0 => json!([device_type]),
        1 => json!([arch, os]),
        _ => json!([device_type, os, db]),
    }
}

/// The OS app (one block), a system app of three blocks that run, and the
/// app `main` whose new release 2.0.0 has [`BLOCKS`] blocks, each shaped
/// like the compose services of section 6 (a command, an environment
/// variable, a label, a restart policy), with requirements when `with` is
/// true.
pub fn target(with: bool) -> TargetState {
    let small = |image: &str| json!({"image": image});
    let blocks: serde_json::Map<String, Value> = (0..BLOCKS)
        .map(|i| {
            let mut block = json!({
                "image": format!("registry.example/main/b{i:02}:2.0.0"),
                "command": ["/bin/sh", "-c", "exec sleep infinity"],
                "environment": {"INDEX": i.to_string()},
                "labels": {"example.bench": "gate"},
                "restart": "always",
            });
            if with {
                block["requires"] = requires(i);
            }
            (format!("b{i:02}"), block)
        })
        .collect();
    let document = json!({
        "version": 1,
        "apps": {
            "balena-os": {"class": "os", "release": {"version": "5.1.0",
                "blocks": {"hostapp": small("registry.example/balena-os/hostapp:5.1.0")}}},
            "system": {"class": "system", "release": {"version": "1.2.3",
                "blocks": {
                    "db": small("registry.example/system/db:1.2.3"),
                    "mqtt": small("registry.example/system/mqtt:1.2.3"),
                    "proxy": small("registry.example/system/proxy:1.2.3"),
                }}},
            "main": {"class": "app", "release": {"version": "2.0.0", "blocks": blocks}},
        },
    });
    TargetState::from_json(&document.to_string()).expect("the bench target")
}
