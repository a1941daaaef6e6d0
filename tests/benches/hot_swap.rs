//! Hot-swap latency under load (see BENCHMARKS.md): not a criterion
//! benchmark but a scripted run printing a table.
//!
//! A host runs the probe v1 (`mode = "host-call"`, `tag = "v1"` in its
//! manifest) with a `PluginWatcher` on its plugin directory while two threads
//! call `sample` in a loop and count failed calls. Then N new versions
//! (0.N.0 answering `vN`) are written into the package directory as an update
//! agent would: file by file, each to a temporary name then renamed, the
//! signature last. Latency runs from the last rename to the first `sample`
//! answering the new tag.
//!
//! Two rounds: without a compile cache (each swap compiles), and with a
//! state dir whose cache already holds the component (the benchmark changes
//! only the manifest, so the component and its cache entry are unchanged).
//!
//! Run: `cargo bench -p osb-tests --bench hot_swap` (`-- --swaps N` to change
//! the number of swaps per round, default 20).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use osb_plugin_host::{CacheOutcome, HostSettings, PluginHost, PluginWatcher};
use osb_tests::{Fixture, name};

const PROBE: &str = "osb-test-probe";
/// Give up on a version that has not answered after this long.
const LIMIT: Duration = Duration::from_secs(10);
/// Quiet time after a swap, so the next write is a separate burst.
const SETTLE: Duration = Duration::from_millis(150);
/// How often the measuring thread asks for the tag.
const POLL: Duration = Duration::from_micros(500);
/// How long to watch for reloads nobody asked for, before the swaps.
const IDLE_WINDOW: Duration = Duration::from_secs(2);

/// Writes version `version` of the probe, answering `tag`, into `dest` file
/// by file (temporary name, then rename; the signature last). Returns the
/// instant of the last rename.
fn publish(fx: &Fixture, dest: &Path, version: &str, tag: &str) -> Instant {
    osb_tests::publish_probe(fx, dest, version, tag, false)
}

/// How many times the current version of the probe was replaced during
/// `window`, polling every millisecond (a lower bound). Nothing is written to
/// the plugin directory meanwhile, so any replacement is a spurious reload.
fn count_reloads(host: &PluginHost, window: Duration) -> usize {
    let probe = name(PROBE);
    let started = Instant::now();
    let mut current = host.get(&probe).expect("probe loaded");
    let mut reloads = 0;
    while started.elapsed() < window {
        std::thread::sleep(Duration::from_millis(1));
        let now = host.get(&probe).expect("probe loaded");
        if !Arc::ptr_eq(&current, &now) {
            reloads += 1;
            current = now;
        }
    }
    reloads
}

fn tag_of(host: &PluginHost) -> Option<String> {
    match host.sample(&name(PROBE)) {
        Ok(Ok(sample)) => Some(sample.detail),
        _ => None,
    }
}

struct Round {
    label: &'static str,
    latencies: Vec<Duration>,
    timeouts: usize,
    calls: u64,
    failures: u64,
    first_load: CacheOutcome,
    /// Versions swapped in during `IDLE_WINDOW` with no package written.
    idle_reloads: usize,
}

fn round(label: &'static str, with_cache: bool, swaps: usize) -> Round {
    let fx = Fixture::new();
    let plugins = fx.path().join("plugins");
    let pkg_dir = plugins.join(PROBE);
    publish(&fx, &pkg_dir, "0.1.0", "v1");

    let mut settings = HostSettings {
        state_dir: with_cache.then(|| fx.path().join("state")),
        ..fx.settings()
    };
    // The callers call as fast as they can: a whole core, which the
    // default CPU budget would (rightly) call a misbehaving plugin.
    settings.limits.cpu_percent = 100;
    if with_cache {
        // Warm the cache as a previous run of the device would have.
        PluginHost::new(settings.clone())
            .expect("host")
            .load(&pkg_dir)
            .expect("load");
    }
    let host = Arc::new(PluginHost::new(settings).expect("host"));
    let first_load = host.load(&pkg_dir).expect("load v1").cache;
    assert_eq!(tag_of(&host).as_deref(), Some("v1"));
    let watcher = PluginWatcher::start(host.clone(), &plugins).expect("watcher");
    std::thread::sleep(Duration::from_millis(500));
    let idle_reloads = count_reloads(&host, IDLE_WINDOW);

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (host, stop, failures, calls) =
                (host.clone(), stop.clone(), failures.clone(), calls.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if tag_of(&host).is_none() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let mut latencies = Vec::with_capacity(swaps);
    let mut timeouts = 0;
    for n in 2..swaps + 2 {
        std::thread::sleep(SETTLE);
        let tag = format!("v{n}");
        let landed = publish(&fx, &pkg_dir, &format!("0.{n}.0"), &tag);
        loop {
            if tag_of(&host).as_deref() == Some(tag.as_str()) {
                latencies.push(landed.elapsed());
                break;
            }
            if landed.elapsed() > LIMIT {
                timeouts += 1;
                eprintln!("{label}: version {tag} did not answer within {LIMIT:?}");
                break;
            }
            std::thread::sleep(POLL);
        }
    }

    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().expect("caller thread");
    }
    drop(watcher);
    Round {
        label,
        latencies,
        timeouts,
        calls: calls.load(Ordering::Relaxed),
        failures: failures.load(Ordering::Relaxed),
        first_load,
        idle_reloads,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let mut swaps = 20;
    let mut args = std::env::args().skip(1);
    // `cargo bench` passes `--bench` and whatever follows `--`; only
    // `--swaps N` means something here.
    while let Some(arg) = args.next() {
        if arg == "--swaps" {
            swaps = args.next().and_then(|n| n.parse().ok()).expect("--swaps N");
        }
    }

    let rounds = [
        round("no cache (compile per swap)", false, swaps),
        round("warm cache (cache hit per swap)", true, swaps),
    ];
    println!();
    println!(
        "hot swap: {swaps} swaps per round, 2 caller threads, latency = last rename -> first sample with the new tag"
    );
    println!(
        "{:<34} {:>11} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "round", "first load", "min ms", "median ms", "p90 ms", "max ms", "calls", "failed"
    );
    for r in &rounds {
        let mut l = r.latencies.clone();
        l.sort();
        let pick = |q: f64| {
            l.get(((l.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .map(ms)
        };
        let median = if l.is_empty() {
            None
        } else if l.len() % 2 == 1 {
            Some(ms(l[l.len() / 2]))
        } else {
            Some((ms(l[l.len() / 2 - 1]) + ms(l[l.len() / 2])) / 2.0)
        };
        let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "{:<34} {:>11} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}",
            r.label,
            format!("{:?}", r.first_load),
            f(pick(0.0)),
            f(median),
            f(pick(0.9)),
            f(pick(1.0)),
            r.calls,
            r.failures
        );
        if r.timeouts > 0 {
            println!("  {} swap(s) never answered within {LIMIT:?}", r.timeouts);
        }
        println!(
            "  idle before the swaps: version replaced {} times in {:?} with no package written",
            r.idle_reloads, IDLE_WINDOW
        );
        let all: Vec<String> = r
            .latencies
            .iter()
            .map(|d| format!("{:.0}", ms(*d)))
            .collect();
        println!("  latencies ms (in order): {}", all.join(" "));
    }
}
