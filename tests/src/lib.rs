//! Fixtures shared by the end-to-end tests and the benchmarks.

pub use osb_test_docker as docker;

pub mod hostile;

use std::path::{Path, PathBuf};
use std::time::Instant;

use osb_plugin_host::{HostSettings, Package, PluginName, PluginSettings, SecretKey, TrustPolicy};

pub use osb_test_artifacts::{component, copy_package, package};

/// A signing key the fixture's hosts trust.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub key: SecretKey,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
            key: SecretKey::generate().expect("key"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Production settings trusting only this fixture's key.
    pub fn settings(&self) -> HostSettings {
        HostSettings {
            trust: TrustPolicy {
                trusted_keys: vec![self.key.public()],
                development: false,
            },
            ..HostSettings::default()
        }
    }

    /// A signed copy of a built package under `<fixture>/<sub>/<name>`.
    pub fn signed(&self, name: &str, sub: &str) -> PathBuf {
        let dir = copy_package(name, &self.path().join(sub));
        sign(&dir, &self.key);
        dir
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// Writes `<name>.wasm.sig` for the package in `dir`.
pub fn sign(dir: &Path, key: &SecretKey) {
    let package = Package::read(dir).expect("readable package");
    std::fs::write(package.signature_path(), key.sign(&package.digest)).expect("write signature");
}

pub fn name(s: &str) -> PluginName {
    PluginName::new(s).expect("valid plugin name")
}

/// Device settings for one plugin: grants as TOML, config pairs.
pub fn plugin_settings(grants_toml: &str, config: &[(&str, &str)]) -> PluginSettings {
    PluginSettings {
        grants: toml_grants(grants_toml),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..PluginSettings::default()
    }
}

/// Parses grants with the same parser the device config uses.
fn toml_grants(text: &str) -> osb_plugin_host::Capabilities {
    let wrapped = format!("[plugins.x.grants]\n{text}");
    let config = osb_runtime::config::DeviceConfig::parse(&wrapped, Path::new("test.toml"))
        .expect("valid grants");
    config
        .plugins
        .into_values()
        .next()
        .map(|p| p.grants)
        .unwrap_or_default()
}

/// Rewrites a package's manifest with `edit` (and drops its signature).
pub fn edit_manifest(dir: &Path, edit: impl FnOnce(String) -> String) {
    let path = dir.join("plugin.toml");
    let text = std::fs::read_to_string(&path).expect("manifest");
    std::fs::write(&path, edit(text)).expect("write manifest");
}

/// Publishes version `version` of the probe plugin, answering `tag` (its
/// `host-call` mode), into `dest` as an update agent would: each file
/// replaced by rename, the signature last. `spoil` truncates the component
/// (signed anyway). Returns when the last rename happened.
pub fn publish_probe(fx: &Fixture, dest: &Path, version: &str, tag: &str, spoil: bool) -> Instant {
    let staging = fx.path().join(format!("staging-{version}"));
    let pkg = copy_package("osb-test-probe", &staging);
    edit_manifest(&pkg, |t| {
        t.replace("version = \"0.1.0\"", &format!("version = \"{version}\""))
            .replace(
                "mode = \"const\"",
                &format!("mode = \"host-call\"\ntag = \"{tag}\""),
            )
    });
    if spoil {
        let wasm = pkg.join("osb-test-probe.wasm");
        let bytes = std::fs::read(&wasm).expect("component");
        std::fs::write(&wasm, &bytes[..bytes.len() - 100]).expect("truncate component");
    }
    sign(&pkg, &fx.key);
    std::fs::create_dir_all(dest).expect("package dir");
    let mut last = Instant::now();
    for file in [
        "plugin.toml",
        "osb-test-probe.wasm",
        "osb-test-probe.wasm.sig",
    ] {
        let tmp = dest.join(format!(".{file}.tmp"));
        std::fs::copy(pkg.join(file), &tmp).expect("copy package file");
        std::fs::rename(&tmp, dest.join(file)).expect("rename package file");
        last = Instant::now();
    }
    last
}

/// A pseudo-terminal: its controlling end (keep it open) and the path of
/// the other end, a character device that takes what is written to it and
/// answers nothing until the controlling end writes.
pub fn pty() -> (std::os::fd::OwnedFd, PathBuf) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("open a pseudo-terminal");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let path = PathBuf::from(name.to_str().expect("a UTF-8 terminal name"));
    (master, path)
}
