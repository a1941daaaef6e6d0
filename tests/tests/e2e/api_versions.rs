//! Version dispatch: one host serves plugins built against different
//! versions of the `osb:plugin` API side by side. The probe is built three
//! times from one source: against the released `osb:plugin@0.2.0` (the
//! SDK's default), the older released `0.1.0` (as an older SDK built it)
//! and the draft `0.3.0`, which differs from 0.2.0 only in its number (the
//! tests enable the draft with the `next-api` feature). Each component
//! names its version in the `osb:plugin-api` section, and a manifest that
//! names another one is refused.

use osb_plugin_host::PluginHost;
use osb_tests::{Fixture, edit_manifest, name, plugin_settings, sign};
use serde_json::json;

/// The probe built against 0.2.0, 0.1.0 and the draft 0.3.0.
const PROBES: [&str; 3] = [
    "osb-test-probe",
    "osb-test-probe-api-0-1-0",
    "osb-test-probe-next",
];

#[test]
fn plugins_built_against_three_api_versions_run_side_by_side() {
    let fx = Fixture::new();
    let mut settings = fx.settings();
    for plugin in PROBES {
        // `host-call`: each sample goes through the `config` import, which
        // the other versions link by converting to the latest's.
        let config = [("mode", "host-call"), ("tag", plugin)];
        settings
            .plugins
            .insert(name(plugin), plugin_settings("", &config));
    }
    let host = PluginHost::new(settings).unwrap();
    for plugin in PROBES {
        host.load(&fx.signed(plugin, plugin)).unwrap();
    }

    for (plugin, api) in PROBES.into_iter().zip(["0.2.0", "0.1.0", "0.3.0"]) {
        let n = name(plugin);
        assert_eq!(host.info(&n).unwrap().api, api, "{plugin}");
        // Typed, as the time service calls it: the other versions' answers
        // arrive as the latest types.
        let sample = host.sample(&n).unwrap().unwrap();
        assert_eq!(sample.detail, plugin, "{plugin}");
        assert!(
            host.observe(&n, sample.interval.earliest.unwrap())
                .unwrap()
                .is_ok()
        );
        // By name with JSON, as `osb plugin call` does: the same shape.
        let answer = host.call_json(&n, "sample", &json!(null)).unwrap();
        assert_eq!(answer["ok"]["detail"], plugin, "{plugin}: {answer}");
        let refused = host
            .call_json(&n, "observe", &json!({"seconds": "soon"}))
            .unwrap_err()
            .to_string();
        assert!(refused.contains("bad arguments for 'observe'"), "{refused}");
    }
    // None disturbed another.
    assert_eq!(host.names().len(), PROBES.len());
}

#[test]
fn a_manifest_naming_another_version_than_the_component_is_refused() {
    let fx = Fixture::new();
    let host = PluginHost::new(fx.settings()).unwrap();
    for (plugin, claimed, built) in [
        ("osb-test-probe", "0.1.0", "0.2.0"),
        ("osb-test-probe-api-0-1-0", "0.2.0", "0.1.0"),
        ("osb-test-probe-next", "0.2.0", "0.3.0"),
    ] {
        let dir = fx.signed(plugin, plugin);
        edit_manifest(&dir, |t| {
            t.replace(
                &format!("api = \"{built}\""),
                &format!("api = \"{claimed}\""),
            )
        });
        sign(&dir, &fx.key);
        let err = host.load(&dir).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{plugin}.wasm"))
                && err.contains(&format!(
                    "plugin.toml says api {claimed}, but the component was built against {built}"
                )),
            "{err}"
        );
        assert!(host.get(&name(plugin)).is_none(), "{plugin} must not run");
    }
}

#[test]
fn a_component_that_names_no_api_version_is_refused() {
    let fx = Fixture::new();
    let host = PluginHost::new(fx.settings()).unwrap();
    let dir = fx.signed("osb-test-probe", "unnamed");
    let wasm = dir.join("osb-test-probe.wasm");
    // Renamed in place (same length, so the component stays well formed):
    // the component no longer says which version it was built against.
    let mut bytes = std::fs::read(&wasm).unwrap();
    let at = bytes
        .windows(b"osb:plugin-api".len())
        .position(|w| w == b"osb:plugin-api")
        .expect("the SDK writes the section");
    bytes[at..at + b"osb:plugin-api".len()].copy_from_slice(b"osb:plugin-xyz");
    std::fs::write(&wasm, bytes).unwrap();
    sign(&dir, &fx.key);
    let err = host.load(&dir).unwrap_err().to_string();
    assert!(
        err.contains("osb-test-probe.wasm") && err.contains("no 'osb:plugin-api' section"),
        "{err}"
    );
}
