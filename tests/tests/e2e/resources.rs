//! The memory cap is the plugin's as a whole, and no plugin can take the
//! instance pool's slots from the others.

use osb_plugin_host::{LimitOverrides, LoadError, PluginHost};
use osb_tests::hostile::{HOSTILE, PROBE, Setup, probe_answers, with_extra_memories};
use osb_tests::{Fixture, name, sign};

/// The hostile package, signed, its component given `count` extra
/// memories of `mib` MiB each.
fn with_memories(fx: &Fixture, sub: &str, count: u32, mib: u64) -> std::path::PathBuf {
    let pkg = osb_tests::copy_package(HOSTILE, &fx.path().join(sub));
    let wasm = pkg.join(format!("{HOSTILE}.wasm"));
    let bytes = std::fs::read(&wasm).unwrap();
    std::fs::write(&wasm, with_extra_memories(&bytes, count, mib * 16)).unwrap();
    sign(&pkg, &fx.key);
    pkg
}

fn capped(mib: u32) -> Setup<'static> {
    Setup::mode("ok").limits(LimitOverrides {
        memory_mb: Some(mib),
        ..LimitOverrides::default()
    })
}

#[test]
fn every_memory_of_a_plugin_counts_against_its_one_cap() {
    // One extra memory of 15 MiB beside the program's own (about 1 MiB):
    // each is under a 16 MiB cap, together they are over it.
    let fx = Fixture::new();
    let host = PluginHost::new(capped(16).settings(&fx)).unwrap();
    match host.load(&with_memories(&fx, "one", 1, 15)).unwrap_err() {
        LoadError::SelfCheck { reason, .. } => {
            assert!(reason.contains("memory cap of 16777216 bytes"), "{reason}")
        }
        other => panic!("expected a failed self-check, got: {other}"),
    }
    // The same component under a cap that holds both loads and runs.
    let fx = Fixture::new();
    let host = PluginHost::new(capped(32).settings(&fx)).unwrap();
    host.load(&with_memories(&fx, "one", 1, 15)).unwrap();
}

#[test]
fn a_plugin_declaring_many_memories_takes_no_slot_from_others() {
    let fx = Fixture::new();
    let host = PluginHost::new(Setup::mode("ok").settings(&fx)).unwrap();
    // Eight more of 32 MiB (the case that ran at 290 MiB), then 127 more
    // (the case that used up the pool): both refused before they run, by
    // the caps on what one plugin instance may hold.
    for (sub, count, mib, expect) in [
        ("eight", 8, 32, "9 Wasm linear memories, which exceeds"),
        ("many", 127, 1, "core module instances, which exceeds"),
    ] {
        let err = host.load(&with_memories(&fx, sub, count, mib)).unwrap_err();
        assert!(matches!(err, LoadError::Compile { .. }), "{sub}: {err}");
        assert!(err.to_string().contains(expect), "{sub}: {err}");
    }
    // Every other plugin still gets its slots: the probe and the plain
    // hostile plugin load, and the probe answers many instances over.
    host.load(&fx.signed(PROBE, "plugins")).unwrap();
    host.load(&fx.signed(HOSTILE, "plugins")).unwrap();
    for _ in 0..20 {
        host.instantiate_fresh(&name(PROBE)).unwrap();
    }
    probe_answers(&host);
}
