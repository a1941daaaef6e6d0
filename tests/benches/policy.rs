//! Policy evaluation of a 20-block release, the policy plugin's call
//! included, side by side in one run (see BENCHMARKS.md, section 11).
//!
//! The release and the device are section 10's (`state/benches/gate.rs`),
//! from the same source file (`state/benches/release_20/mod.rs`); the policy
//! is the real `policy-contract` component, signed and loaded by a
//! `PluginHost` with production trust settings, as in
//! `tests/tests/e2e/policies.rs`.
//!
//! - `policy/gate`: `osb_state::gate::gate` of the target against the
//!   device's contract (section 10's `gate/release_20_blocks`).
//! - `policy/arguments`: what the executor turns the two into for the
//!   policy: the device's contract as JSON text, and `main`'s release as a
//!   `sw.release` contract holding its blocks' requirements.
//! - `policy/evaluate`: `PluginHost::evaluate_policy` of `policy-contract`
//!   with those arguments, made beforehand: the plugin call alone.
//! - `policy/decide_native`: what the plugin does, compiled natively: read
//!   both contracts, check, format a reason per requirement.
//! - `policy/gate_and_evaluate`: the gate, the arguments and the call, as one
//!   cycle of the executor makes them.
//!
//! Run: `cargo bench -p osb-tests --bench policy -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use osb_contract::Contract;
use osb_plugin_host::PluginHost;
use osb_plugin_host::kinds::contract_policy::{Decision, Release as PolicyRelease};
use osb_runtime::apply::policies;
use osb_state::gate::gate;
use osb_state::{AppName, TargetState, TimeStatus};
use osb_tests::{Fixture, name};

#[path = "../../state/benches/release_20/mod.rs"]
mod release_20;

const POLICY: &str = "policy-contract";

/// The app whose new release is decided on.
const APP: &str = "main";

/// Requirements in `main`'s release (7 blocks with one, 7 with two, 6 with
/// three): the policy answers one reason each.
const REQUIREMENTS: usize = 39;

/// The policy's two arguments for `app`'s release of `target` on `device`,
/// made as the executor makes them (`osb_runtime::apply::policies`): the
/// device's contract with the clock's state as a child, and the release as
/// a `sw.release` contract holding its own and its blocks' requirements.
fn arguments(device: &Contract, target: &TargetState, app: &AppName) -> (String, PolicyRelease) {
    (
        policies::device(device, TimeStatus::Synced),
        policies::release(app, &target.apps[app]),
    )
}

/// `policy-contract`'s `decide`, natively: the plugin's own work without
/// the component boundary.
fn decide_native(device: &str, release: &PolicyRelease) -> Decision {
    let device = Contract::from_json_str(device).expect("the device's contract");
    let require = Contract::from_json_str(&release.contract).expect("the release's contract");
    let report = osb_contract::check(&device, &require);
    Decision {
        allow: report.holds(),
        reasons: report.entries.iter().map(ToString::to_string).collect(),
        // policy-contract asks for no `drafts` grant.
        drafts: false,
    }
}

fn policy(c: &mut Criterion) {
    let target = release_20::target(true);
    let device = release_20::device(&target, &release_20::RUNNING);
    let app = AppName::new(APP).expect("app name");
    assert_eq!(target.apps[&app].release.blocks.len(), release_20::BLOCKS);

    let fx = Fixture::new();
    let mut settings = fx.settings();
    // A benchmark calls as fast as it can: a whole core, which the default
    // CPU budget would (rightly) call a misbehaving plugin.
    settings.limits.cpu_percent = 100;
    let host = PluginHost::new(settings).expect("host");
    host.load(&fx.signed(POLICY, "plugins"))
        .expect("load policy-contract");
    let policy = name(POLICY);

    // What is measured is the common case, as in section 10: a release the
    // device can run, every requirement checked and holding. The first call
    // also makes the instance, untimed.
    let gated = gate(&target, &device);
    assert!(gated.rejected.is_empty() && gated.left_out.is_empty());
    let (device_json, release) = arguments(&device, &gated.target, &app);
    let decision = host
        .evaluate_policy(&policy, &device_json, &release)
        .expect("a decision");
    assert!(decision.allow, "{decision:?}");
    assert_eq!(decision.reasons.len(), REQUIREMENTS, "{decision:?}");
    assert!(
        decision.reasons.iter().all(|r| r.starts_with("held: ")),
        "{decision:?}"
    );
    assert_eq!(decide_native(&device_json, &release), decision);

    let mut group = c.benchmark_group("policy");
    group.bench_function("gate", |b| {
        b.iter(|| gate(black_box(&target), black_box(&device)))
    });
    group.bench_function("arguments", |b| {
        b.iter(|| arguments(black_box(&device), black_box(&target), &app))
    });
    group.bench_function("evaluate", |b| {
        b.iter(|| {
            host.evaluate_policy(&policy, black_box(&device_json), black_box(&release))
                .expect("a decision")
        })
    });
    group.bench_function("decide_native", |b| {
        b.iter(|| decide_native(black_box(&device_json), black_box(&release)))
    });
    group.bench_function("gate_and_evaluate", |b| {
        b.iter(|| {
            let gated = gate(black_box(&target), black_box(&device));
            let (device_json, release) = arguments(&device, &gated.target, &app);
            host.evaluate_policy(&policy, &device_json, &release)
                .expect("a decision")
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
    targets = policy
}
criterion_main!(benches);
