//! Hot swap through the directory watcher: calls in flight never fail, the
//! new version answers soon after its package lands, and a bad version is
//! refused while the current one keeps serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use osb_plugin_host::{PluginHost, PluginWatcher, SecretKey};
use osb_tests::{Fixture, copy_package, name, publish_probe, sign};

fn tag_of(host: &PluginHost) -> Option<String> {
    match host.sample(&name("osb-test-probe")) {
        Ok(Ok(sample)) => Some(sample.detail),
        _ => None,
    }
}

fn wait_for_tag(host: &PluginHost, tag: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if tag_of(host).as_deref() == Some(tag) {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("version answering '{tag}' did not appear within {limit:?}");
}

#[test]
fn swaps_under_load_with_no_failed_call_and_refuses_a_bad_version() {
    let fx = Fixture::new();
    let plugins = fx.path().join("plugins");
    let pkg_dir = plugins.join("osb-test-probe");
    publish_probe(&fx, &pkg_dir, "0.1.0", "v1", false);

    // The callers call as fast as they can: a whole core, which the
    // default CPU budget would (rightly) call a misbehaving plugin.
    let mut settings = fx.settings();
    settings.limits.cpu_percent = 100;
    let host = Arc::new(PluginHost::new(settings).unwrap());
    let loads = host.load_all(&plugins);
    assert!(loads.iter().all(|(_, r)| r.is_ok()), "{loads:?}");
    assert_eq!(tag_of(&host).as_deref(), Some("v1"));
    let _watcher = PluginWatcher::start(host.clone(), &plugins).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
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

    for (i, tag) in ["v2", "v3", "v4"].iter().enumerate() {
        publish_probe(&fx, &pkg_dir, &format!("0.{}.0", i + 2), tag, false);
        wait_for_tag(&host, tag, Duration::from_secs(10));
    }
    assert_eq!(
        host.info(&name("osb-test-probe"))
            .unwrap()
            .version
            .to_string(),
        "0.4.0"
    );

    // A damaged version is refused; v4 keeps answering.
    publish_probe(&fx, &pkg_dir, "0.5.0", "v5", true);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(tag_of(&host).as_deref(), Some("v4"));

    // A package signed by a stranger is refused too.
    let stranger = SecretKey::generate().unwrap();
    let staging = copy_package("osb-test-probe", &fx.path().join("stranger"));
    sign(&staging, &stranger);
    std::fs::copy(
        staging.join("osb-test-probe.wasm.sig"),
        pkg_dir.join("osb-test-probe.wasm.sig"),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(tag_of(&host).as_deref(), Some("v4"));

    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().unwrap();
    }
    assert!(
        calls.load(Ordering::Relaxed) > 100,
        "callers made too few calls"
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "calls failed during swaps"
    );
}
