//! Plugin host micro-benchmarks, side by side in one run (see BENCHMARKS.md).
//!
//! - `call/*`: a native trait-object call building a constant `TimeSample`
//!   against the same answer from the `osb-test-probe` plugin through
//!   `PluginHost::sample`, without and with one host call; and, on an engine
//!   configured as the host's, the exports of the bench component
//!   `osb-test-call-shapes` called typed straight on a wasmtime `Store`: a
//!   bare `u64` (`raw_u64`) beside a result shaped like the probe's
//!   (`raw_record`), each synchronously and as the host calls, async on a
//!   fiber (`*_async`).
//! - `instantiate/fresh_pooling`: a fresh store + instance from the
//!   `InstancePre` with the pooling allocator, dropped at once.
//! - `load/*`: a new `PluginHost` plus `load` of the signed probe with an
//!   empty compile cache against a warm one, and the parts of that apart.
//!
//! Run: `cargo bench -p osb-tests --bench plugin_host -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use osb_plugin_host::engine::new_engine;
use osb_plugin_host::wit::latest::{PluginError, TimeInterval, TimeSample, Timestamp};
use osb_plugin_host::{CacheOutcome, HostSettings, PluginHost, PluginName};
use osb_tests::{Fixture, component, name, plugin_settings};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

const PROBE: &str = "osb-test-probe";

/// `osb-bench:shapes`, called synchronously (`TypedFunc::call`).
mod shapes_sync {
    wasmtime::component::bindgen!({
        path: "plugins/call-shapes/wit",
        world: "shapes",
    });
}

/// The same, called as the host calls plugins: `call_async`, on a fiber.
mod shapes_async {
    wasmtime::component::bindgen!({
        path: "plugins/call-shapes/wit",
        world: "shapes",
        exports: { default: async },
    });
}

/// The native baseline: what a time source compiled into the runtime would
/// look like, called through a trait object as the host calls plugins.
trait TimeSourceLike {
    fn sample(&mut self) -> Result<TimeSample, PluginError>;
}

/// Answers what the probe answers in `const` mode.
struct NativeConst;

impl TimeSourceLike for NativeConst {
    #[inline(never)]
    fn sample(&mut self) -> Result<TimeSample, PluginError> {
        let instant = Timestamp {
            seconds: black_box(1_700_000_000),
            nanoseconds: black_box(0),
        };
        Ok(TimeSample {
            interval: TimeInterval {
                earliest: Some(instant),
                latest: Some(instant),
            },
            detail: String::new(),
        })
    }
}

/// A host running the signed probe with the given `mode`; the instance is
/// warmed (the first `sample` reads `mode` from the host).
fn probe_host(fx: &Fixture, mode: &str, sub: &str) -> (PluginHost, PluginName) {
    let pkg = fx.signed(PROBE, sub);
    let mut settings = fx.settings();
    settings.plugins.insert(
        name(PROBE),
        plugin_settings("", &[("mode", mode), ("tag", "bench")]),
    );
    // A benchmark calls as fast as it can: a whole core, which the default
    // CPU budget would (rightly) call a misbehaving plugin.
    settings.limits.cpu_percent = 100;
    let host = PluginHost::new(settings).expect("host");
    host.load(&pkg).expect("load probe");
    let probe = name(PROBE);
    let first = host.sample(&probe).expect("call").expect("sample");
    let expected = if mode == "host-call" { "bench" } else { "" };
    assert_eq!(
        first.detail, expected,
        "probe in mode {mode} answered an unexpected detail"
    );
    (host, probe)
}

/// A store for the bench component on `engine`, set up as the host sets up
/// a plugin's: guest code checks the epoch, and its deadline is far off (no
/// ticker advances this engine's epoch, so it is never reached).
fn shapes_store(engine: &wasmtime::Engine) -> Store<()> {
    let mut store = Store::new(engine, ());
    store.epoch_deadline_trap();
    store.set_epoch_deadline(1 << 40);
    store
}

/// Polls `call` once: a call that waits on nothing finishes in its first
/// poll, so no executor is needed, and none is measured.
fn ready<F: Future>(call: F) -> F::Output {
    match pin!(call).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a call that waits on nothing did not finish"),
    }
}

/// What the probe answers in `const` mode, which `sample` must answer too.
fn is_probe_answer(earliest: Option<i64>, latest: Option<i64>, detail: &str) -> bool {
    earliest == Some(1_700_000_000) && latest == Some(1_700_000_000) && detail.is_empty()
}

fn calls(c: &mut Criterion) {
    let fx = Fixture::new();
    let (trivial_host, probe) = probe_host(&fx, "const", "const");
    let (host_call_host, _) = probe_host(&fx, "host-call", "host-call");

    // Like with like: the host's own engine configuration (pool, epoch
    // interruption, limits) and default pool sizes, so that the raw rows
    // differ from `plugin_trivial` only in the path around the call.
    let engine = new_engine(&fx.settings().pool).expect("engine");
    let shapes = Component::from_file(&engine, component("osb-test-call-shapes"))
        .expect("compile osb-test-call-shapes");
    // The component imports nothing: an empty linker.
    let linker = Linker::new(&engine);
    let mut sync_store = shapes_store(&engine);
    let sync_shapes =
        shapes_sync::Shapes::instantiate(&mut sync_store, &shapes, &linker).expect("instantiate");
    let sync = sync_shapes.osb_bench_shapes_calls();
    let mut async_store = shapes_store(&engine);
    let async_shapes = ready(shapes_async::Shapes::instantiate_async(
        &mut async_store,
        &shapes,
        &linker,
    ))
    .expect("instantiate");
    let asynch = async_shapes.osb_bench_shapes_calls();
    let first = sync.call_ticks(&mut sync_store).expect("ticks");
    assert_eq!(sync.call_ticks(&mut sync_store).expect("ticks"), first + 1);
    assert_eq!(
        ready(asynch.call_ticks(&mut async_store)).expect("ticks"),
        1
    );
    let sample = sync
        .call_sample(&mut sync_store)
        .expect("call")
        .expect("sample");
    let interval = sample.interval;
    assert!(is_probe_answer(
        interval.earliest.map(|t| t.seconds),
        interval.latest.map(|t| t.seconds),
        &sample.detail
    ));
    let sample = ready(asynch.call_sample(&mut async_store))
        .expect("call")
        .expect("sample");
    let interval = sample.interval;
    assert!(is_probe_answer(
        interval.earliest.map(|t| t.seconds),
        interval.latest.map(|t| t.seconds),
        &sample.detail
    ));

    let mut group = c.benchmark_group("call");
    let mut native: Box<dyn TimeSourceLike> = Box::new(NativeConst);
    group.bench_function("native_trait", |b| {
        b.iter(|| black_box(black_box(&mut native).sample()))
    });
    group.bench_function("raw_u64", |b| {
        b.iter(|| black_box(sync.call_ticks(&mut sync_store)))
    });
    group.bench_function("raw_record", |b| {
        b.iter(|| black_box(sync.call_sample(&mut sync_store)))
    });
    group.bench_function("raw_u64_async", |b| {
        b.iter(|| black_box(ready(asynch.call_ticks(&mut async_store))))
    });
    group.bench_function("raw_record_async", |b| {
        b.iter(|| black_box(ready(asynch.call_sample(&mut async_store))))
    });
    group.bench_function("plugin_trivial", |b| {
        b.iter(|| black_box(trivial_host.sample(black_box(&probe))))
    });
    group.bench_function("plugin_one_host_call", |b| {
        b.iter(|| black_box(host_call_host.sample(black_box(&probe))))
    });
    group.finish();
}

fn instantiate(c: &mut Criterion) {
    let fx = Fixture::new();
    let (host, probe) = probe_host(&fx, "const", "plugins");
    let mut group = c.benchmark_group("instantiate");
    group.bench_function("fresh_pooling", |b| {
        b.iter(|| {
            host.instantiate_fresh(black_box(&probe))
                .expect("instantiate")
        })
    });
    group.finish();
}

/// Settings with a compile cache in `state`.
fn cached(fx: &Fixture, state: &Path) -> HostSettings {
    HostSettings {
        state_dir: Some(state.to_owned()),
        ..fx.settings()
    }
}

fn load(c: &mut Criterion) {
    let fx = Fixture::new();
    let pkg: PathBuf = fx.signed(PROBE, "plugins");
    let warm_state = fx.path().join("warm-state");
    let first = PluginHost::new(cached(&fx, &warm_state))
        .expect("host")
        .load(&pkg)
        .expect("load");
    assert_eq!(first.cache, CacheOutcome::Miss);

    let mut group = c.benchmark_group("load");
    // Each iteration takes milliseconds to a second: few, flat samples.
    group.sampling_mode(SamplingMode::Flat).sample_size(10);

    // The fixed part of both: engine + pool, key-value store, epoch ticker.
    group.bench_function("host_new", |b| {
        b.iter_batched(
            || cached(&fx, &warm_state),
            |settings| PluginHost::new(settings).expect("host"),
            BatchSize::PerIteration,
        )
    });
    // New host + load, compile cache empty (a fresh state dir each time).
    group.bench_function("compile", |b| {
        b.iter_batched(
            || tempfile::tempdir_in(fx.path()).expect("state dir"),
            |state| {
                let host = PluginHost::new(cached(&fx, state.path())).expect("host");
                let report = host.load(&pkg).expect("load");
                assert_eq!(report.cache, CacheOutcome::Miss);
                (host, state)
            },
            BatchSize::PerIteration,
        )
    });
    // New host + load, compile cache warm.
    group.bench_function("cache_hit", |b| {
        b.iter_batched(
            || cached(&fx, &warm_state),
            |settings| {
                let host = PluginHost::new(settings).expect("host");
                let report = host.load(&pkg).expect("load");
                assert_eq!(report.cache, CacheOutcome::Hit);
                host
            },
            BatchSize::PerIteration,
        )
    });
    // `load` alone, host made beforehand: empty cache.
    group.bench_function("compile_load_only", |b| {
        b.iter_batched(
            || {
                let state = tempfile::tempdir_in(fx.path()).expect("state dir");
                let host = PluginHost::new(cached(&fx, state.path())).expect("host");
                (host, state)
            },
            |(host, state)| {
                let report = host.load(&pkg).expect("load");
                assert_eq!(report.cache, CacheOutcome::Miss);
                (host, state)
            },
            BatchSize::PerIteration,
        )
    });
    // `load` alone into a running host, cache warm: what a restart of one
    // plugin (or a hot swap of an unchanged component) costs. The probe is
    // unloaded first, untimed: a host may skip reloading a package it
    // already runs unchanged.
    let host = PluginHost::new(cached(&fx, &warm_state)).expect("host");
    let probe = name(PROBE);
    group.bench_function("cache_hit_load_only", |b| {
        b.iter_batched(
            || {
                host.unload(&probe);
            },
            |()| {
                let report = host.load(&pkg).expect("load");
                assert_eq!(report.cache, CacheOutcome::Hit);
                report
            },
            BatchSize::PerIteration,
        )
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
    targets = calls, instantiate, load
}
criterion_main!(benches);
