//! Version dispatch: one host serves plugins built against different
//! versions of the `osb:plugin` API side by side. The probe is built twice
//! from one source, against the released `osb:plugin@0.1.0` and against the
//! draft `osb:plugin@0.2.0`, which differs only in its number (the tests
//! enable the draft with the `next-api` feature). Each component names its
//! version in the `osb:plugin-api` section, and a manifest that names
//! another one is refused.

use osb_plugin_host::PluginHost;
use osb_tests::{Fixture, edit_manifest, name, plugin_settings, sign};
use serde_json::json;

#[test]
fn plugins_built_against_two_api_versions_run_side_by_side() {
    let fx = Fixture::new();
    let mut settings = fx.settings();
    for plugin in ["osb-test-probe", "osb-test-probe-next"] {
        // `host-call`: each sample goes through the `config` import, which
        // the draft links by converting to the released version's.
        let config = [("mode", "host-call"), ("tag", plugin)];
        settings
            .plugins
            .insert(name(plugin), plugin_settings("", &config));
    }
    let host = PluginHost::new(settings).unwrap();
    host.load(&fx.signed("osb-test-probe", "old")).unwrap();
    host.load(&fx.signed("osb-test-probe-next", "next"))
        .unwrap();

    for (plugin, api) in [
        ("osb-test-probe", "0.1.0"),
        ("osb-test-probe-next", "0.2.0"),
    ] {
        let n = name(plugin);
        assert_eq!(host.info(&n).unwrap().api, api, "{plugin}");
        // Typed, as the time service calls it: the draft's answer arrives
        // as the latest types.
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
    // Neither disturbed the other.
    assert_eq!(host.names().len(), 2);
}

#[test]
fn a_manifest_naming_another_version_than_the_component_is_refused() {
    let fx = Fixture::new();
    let host = PluginHost::new(fx.settings()).unwrap();
    for (plugin, claimed, built) in [
        ("osb-test-probe", "0.2.0", "0.1.0"),
        ("osb-test-probe-next", "0.1.0", "0.2.0"),
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
