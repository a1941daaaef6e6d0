//! Bad packages are refused with an error naming the file and the reason,
//! and the version already running keeps running.

use std::path::Path;

use osb_runtime::plugin::{PluginHost, SecretKey};
use osb_tests::{Fixture, edit_manifest, name, sign};

/// Loads a good probe, then tries `bad` (a function that spoils a signed
/// copy) and checks the error mentions each of `expect`.
fn check(label: &str, spoil: impl FnOnce(&Path, &SecretKey), expect: &[&str]) {
    let fx = Fixture::new();
    let host = PluginHost::new(fx.settings()).unwrap();
    host.load(&fx.signed("osb-test-probe", "good")).unwrap();

    let bad = fx.signed("osb-test-probe", "bad");
    spoil(&bad, &fx.key);
    let err = host.load(&bad).expect_err(label).to_string();
    for e in expect {
        assert!(
            err.contains(e),
            "{label}: error {err:?} does not mention {e:?}"
        );
    }
    let probe = name("osb-test-probe");
    assert_eq!(
        host.info(&probe).unwrap().version.to_string(),
        "0.1.0",
        "{label}"
    );
    assert!(
        host.sample(&probe).unwrap().is_ok(),
        "{label}: the running version must keep answering"
    );
}

fn bump_version(dir: &Path) {
    edit_manifest(dir, |t| {
        t.replace("version = \"0.1.0\"", "version = \"0.2.0\"")
    });
}

#[test]
fn newer_api_version_is_refused() {
    check(
        "newer api",
        |d, _| {
            bump_version(d);
            edit_manifest(d, |t| t.replace("api = \"0.1.0\"", "api = \"0.2.0\""));
        },
        &["plugin.toml", "api 0.2.0 is newer"],
    );
}

#[test]
fn component_of_the_wrong_world_is_refused() {
    check(
        "wrong world",
        |d, k| {
            bump_version(d);
            edit_manifest(d, |t| {
                t.replace("kind = \"time-source\"", "kind = \"migration-step\"")
            });
            sign(d, k);
        },
        &["osb-test-probe.wasm", "migration-step", "migration-step"],
    );
}

#[test]
fn truncated_component_is_refused() {
    check(
        "truncated wasm",
        |d, k| {
            bump_version(d);
            let wasm = d.join("osb-test-probe.wasm");
            let bytes = std::fs::read(&wasm).unwrap();
            std::fs::write(&wasm, &bytes[..bytes.len() / 2]).unwrap();
            sign(d, k);
        },
        &["osb-test-probe.wasm", "not a valid component"],
    );
}

#[test]
fn malformed_manifest_is_refused() {
    check(
        "malformed toml",
        |d, _| {
            std::fs::write(
                d.join("plugin.toml"),
                "name = \"osb-test-probe\"\nversion = [\n",
            )
            .unwrap()
        },
        &["plugin.toml", "invalid"],
    );
    check(
        "unknown capability",
        |d, _| edit_manifest(d, |t| t.replace("kv = false", "kv = false\ncamera = true")),
        &["plugin.toml", "camera"],
    );
}

#[test]
fn missing_component_is_refused() {
    check(
        "missing wasm",
        |d, _| std::fs::remove_file(d.join("osb-test-probe.wasm")).unwrap(),
        &["osb-test-probe.wasm", "cannot read"],
    );
}

#[test]
fn missing_signature_is_refused() {
    check(
        "unsigned",
        |d, _| std::fs::remove_file(d.join("osb-test-probe.wasm.sig")).unwrap(),
        &["osb-test-probe.wasm.sig", "unsigned packages are refused"],
    );
}

#[test]
fn signature_by_an_untrusted_key_is_refused() {
    check(
        "untrusted key",
        |d, _| {
            bump_version(d);
            sign(d, &SecretKey::generate().unwrap());
        },
        &["osb-test-probe.wasm.sig", "not a trusted key"],
    );
}

#[test]
fn package_changed_after_signing_is_refused() {
    check(
        "tampered manifest",
        |d, _| bump_version(d),
        &["osb-test-probe.wasm.sig", "does not match"],
    );
    check(
        "tampered component",
        |d, _| {
            let wasm = d.join("osb-test-probe.wasm");
            let mut bytes = std::fs::read(&wasm).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            std::fs::write(&wasm, bytes).unwrap();
        },
        &["osb-test-probe.wasm.sig", "does not match"],
    );
}

#[test]
fn development_mode_accepts_unsigned_packages() {
    let fx = Fixture::new();
    let mut settings = fx.settings();
    settings.trust.development = true;
    let host = PluginHost::new(settings).unwrap();
    let dir = osb_tests::copy_package("osb-test-probe", fx.path());
    let report = host.load(&dir).unwrap();
    assert_eq!(report.signed_by, None);
    assert!(host.sample(&name("osb-test-probe")).unwrap().is_ok());
}
