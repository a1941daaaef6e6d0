//! Bad packages are refused with an error naming the file and the reason,
//! and the version already running keeps running.

use std::path::Path;

use osb_plugin_host::{PluginHost, SecretKey};
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
            edit_manifest(d, |t| t.replace("api = \"0.2.0\"", "api = \"0.4.0\""));
        },
        &["plugin.toml", "api 0.4.0 is newer"],
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

/// The device's mode switched while the host runs: leaving development
/// mode unloads what runs unsigned and keeps what is signed; from then on
/// an unsigned package is refused; back in development it loads again.
#[test]
fn leaving_development_mode_unloads_unsigned_plugins() {
    let fx = Fixture::new();
    let mut settings = fx.settings();
    settings.trust.development = true;
    let host = PluginHost::new(settings).unwrap();
    let signed = fx.signed("osb-test-probe", "signed");
    let unsigned = osb_tests::copy_package("osb-test-hostile", &fx.path().join("unsigned"));
    host.load(&signed).unwrap();
    assert_eq!(host.load(&unsigned).unwrap().signed_by, None);
    assert_eq!(host.unsigned(), [name("osb-test-hostile")]);

    assert_eq!(host.set_development(false), [name("osb-test-hostile")]);
    assert!(!host.development());
    assert_eq!(host.names(), [name("osb-test-probe")]);
    assert!(host.unsigned().is_empty());
    let refused = host.load(&unsigned).unwrap_err().to_string();
    assert!(
        refused.contains("unsigned packages are refused outside development mode"),
        "{refused}"
    );
    // Switching to the mode it is in changes nothing.
    assert!(host.set_development(false).is_empty());

    assert!(host.set_development(true).is_empty());
    assert_eq!(host.load(&unsigned).unwrap().signed_by, None);
    assert_eq!(
        host.names(),
        [name("osb-test-hostile"), name("osb-test-probe")]
    );
}

/// The process's peak resident memory, from `/proc/self/status`.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn an_oversized_component_is_refused_before_it_is_read() {
    let peak = peak_rss_kib();
    check(
        "a 1 GiB component",
        |d, _| {
            bump_version(d);
            // Sparse: a gigabyte on paper, nothing on disk.
            let wasm = std::fs::File::options()
                .write(true)
                .open(d.join("osb-test-probe.wasm"))
                .unwrap();
            wasm.set_len(1 << 30).unwrap();
        },
        &["osb-test-probe.wasm", "1073741824 bytes, more than"],
    );
    let grew = peak_rss_kib().saturating_sub(peak);
    assert!(grew < 256 << 10, "peak memory grew by {grew} KiB");
}

#[test]
fn a_component_that_is_not_a_regular_file_is_refused_without_blocking() {
    // A FIFO's open and read would wait for a writer for ever.
    check(
        "a FIFO",
        |d, _| {
            let wasm = d.join("osb-test-probe.wasm");
            std::fs::remove_file(&wasm).unwrap();
            rustix::fs::mkfifoat(rustix::fs::CWD, &wasm, rustix::fs::Mode::from(0o600)).unwrap();
        },
        &["osb-test-probe.wasm", "not a regular file"],
    );
}

#[test]
fn an_older_version_does_not_replace_a_newer_one_even_after_a_restart() {
    let fx = Fixture::new();
    let mut settings = fx.settings();
    settings.state_dir = Some(fx.path().join("state"));
    let newer = fx.signed("osb-test-probe", "newer");
    edit_manifest(&newer, |t| {
        t.replace("version = \"0.1.0\"", "version = \"0.3.0\"")
    });
    sign(&newer, &fx.key);
    let older = fx.signed("osb-test-probe", "older");
    let probe = name("osb-test-probe");
    {
        let host = PluginHost::new(settings.clone()).unwrap();
        host.load(&newer).unwrap();
        let err = host.load(&older).unwrap_err().to_string();
        assert!(
            err.contains("osb-test-probe 0.1.0 is older than 0.3.0")
                && err.contains("allow_downgrade"),
            "{err}"
        );
        assert_eq!(host.info(&probe).unwrap().version.to_string(), "0.3.0");
    }
    // After a restart nothing runs yet, and the older version is still
    // refused: the newest version is kept in the state directory.
    let host = PluginHost::new(settings.clone()).unwrap();
    let err = host.load(&older).unwrap_err().to_string();
    assert!(err.contains("older than 0.3.0"), "{err}");
    assert!(host.get(&probe).is_none());
    drop(host);
    // The device config can allow it, for that plugin.
    settings.plugins.insert(
        probe.clone(),
        osb_plugin_host::PluginSettings {
            allow_downgrade: true,
            ..Default::default()
        },
    );
    let host = PluginHost::new(settings).unwrap();
    host.load(&older).unwrap();
    assert_eq!(host.info(&probe).unwrap().version.to_string(), "0.1.0");
}
