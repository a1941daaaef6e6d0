//! Contract gating micro-benchmarks, side by side in one run (see
//! BENCHMARKS.md, section 10).
//!
//! - `gate/release_20_blocks`: [`osb_state::gate::gate`] of a target whose
//!   app release has 20 blocks, each with 1-3 requirements (a device type,
//!   the architecture, an OS version range, another block's version), all of
//!   which hold, against a device contract built as the runtime builds it.
//! - `gate/release_20_blocks_no_requirements`: the same target with every
//!   `requires` removed: the floor, which is cloning the target.
//! - `gate/check_one_block`: [`osb_contract::check`] of one block's three
//!   requirements, read into a contract beforehand.
//! - `gate/requirements_and_check_one_block`: the same block as the gate
//!   does it, reading `requires` into a contract first
//!   ([`osb_state::gate::requirements`]) and then checking it.
//!
//! Run: `cargo bench -p osb-state --bench gate -- --warm-up-time 1 --measurement-time 3`

// Setup that fails is a broken benchmark, not a condition to handle; and
// `criterion_group!` defines a public function no doc comment can reach.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use osb_contract::Contract;
use osb_state::gate::{gate, requirements};
use osb_state::target::AppClass;
use osb_state::{AppName, BlockName, TargetState};
use serde_json::{Value, json};

/// The real device type, as the `[device] contract` file would hold it.
const JETSON_TX2: &str =
    include_str!("../../contract/tests/fixtures/hw.device-type/jetson-tx2/contract.json");

/// The blocks of the release under test.
const BLOCKS: usize = 20;

/// The device's contract as `osb_runtime::device_contract::assemble` builds
/// it for a TX2 running `target`, with `running` blocks up (that function is
/// not reachable from here: the runtime depends on this crate). Same
/// children in the same order: the device, `arch.sw`, the `os` apps as
/// `sw.os`, `sw.osb`, `sw.kernel` with the distribution suffix coerced away,
/// the running blocks as `sw.block` at their release's version.
fn device(target: &TargetState, running: &[&str]) -> Contract {
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
fn target(with: bool) -> TargetState {
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

fn gating(c: &mut Criterion) {
    let with = target(true);
    let without = target(false);
    // The new release of `main` is not running yet: only the blocks of the
    // releases already in place count, as `running_blocks` decides.
    let running = [
        "balena-os/hostapp",
        "system/db",
        "system/mqtt",
        "system/proxy",
    ];
    let device = device(&with, &running);
    assert!(
        osb_contract::check_children(&device).holds(),
        "the device contract disagrees with itself"
    );

    // What is measured is the common case, a release the device can run:
    // every requirement is checked and none fails.
    let gated = gate(&with, &device);
    assert!(
        gated.rejected.is_empty() && gated.left_out.is_empty(),
        "the bench release does not hold: {:?}",
        gated.lines()
    );
    assert_eq!(gated.target, with);

    let main = AppName::new("main").expect("app name");
    let block = BlockName::new("b02").expect("block name");
    let block_requires = &with.apps[&main].release.blocks[&block].requires;
    assert_eq!(block_requires.len(), 3);
    let slug = format!("{main}/{block}");
    let contract = requirements("sw.block", &slug, block_requires).expect("b02's requirements");
    assert!(osb_contract::check(&device, &contract).holds());

    let mut group = c.benchmark_group("gate");
    group.bench_function("release_20_blocks", |b| {
        b.iter(|| gate(black_box(&with), black_box(&device)))
    });
    group.bench_function("release_20_blocks_no_requirements", |b| {
        b.iter(|| gate(black_box(&without), black_box(&device)))
    });
    group.bench_function("check_one_block", |b| {
        b.iter(|| osb_contract::check(black_box(&device), black_box(&contract)))
    });
    group.bench_function("requirements_and_check_one_block", |b| {
        b.iter(|| {
            let contract = requirements("sw.block", black_box(&slug), black_box(block_requires))
                .expect("b02's requirements");
            osb_contract::check(black_box(&device), &contract)
        })
    });
    group.finish();
}

fn config() -> Criterion {
    // Modest defaults for a small, shared machine; the command line overrides.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = gating
}
criterion_main!(benches);
