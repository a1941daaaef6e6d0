//! The compile cache: a second start loads compiled code; a damaged entry is
//! recompiled, never trusted.

use osb_plugin_host::{CacheOutcome, PluginHost};
use osb_tests::{Fixture, name};

#[test]
fn second_start_hits_the_cache_and_a_damaged_entry_is_recompiled() {
    let fx = Fixture::new();
    let pkg = fx.signed("osb-test-probe", "plugins");
    let mut settings = fx.settings();
    settings.state_dir = Some(fx.path().join("state"));

    let first = PluginHost::new(settings.clone())
        .unwrap()
        .load(&pkg)
        .unwrap();
    assert_eq!(first.cache, CacheOutcome::Miss);
    let second = PluginHost::new(settings.clone()).unwrap();
    assert_eq!(second.load(&pkg).unwrap().cache, CacheOutcome::Hit);
    // The same package again: nothing to compile or swap.
    assert_eq!(second.load(&pkg).unwrap().cache, CacheOutcome::Unchanged);
    assert!(second.sample(&name("osb-test-probe")).unwrap().is_ok());

    let entries: Vec<_> = std::fs::read_dir(fx.path().join("state/cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1);
    drop(second);
    std::fs::write(&entries[0], b"not compiled code").unwrap();
    let third = PluginHost::new(settings).unwrap();
    assert_eq!(third.load(&pkg).unwrap().cache, CacheOutcome::Miss);
    assert!(third.sample(&name("osb-test-probe")).unwrap().is_ok());
}
