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
//! The target and the device are built in `release_20/mod.rs`, which
//! `tests/benches/policy.rs` includes too, to evaluate the policy plugin on
//! the same release.
//!
//! Run: `cargo bench -p osb-state --bench gate -- --warm-up-time 1 --measurement-time 3`

// Setup that fails is a broken benchmark, not a condition to handle; and
// `criterion_group!` defines a public function no doc comment can reach.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use osb_state::gate::{gate, requirements};
use osb_state::{AppName, BlockName};

mod release_20;

fn gating(c: &mut Criterion) {
    let with = release_20::target(true);
    let without = release_20::target(false);
    let device = release_20::device(&with, &release_20::RUNNING);
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
