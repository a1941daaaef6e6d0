//! A host running the hostile test plugin (`tests/plugins/hostile`) beside
//! an honest one (the probe), as a device would: signed packages, a device
//! config trusting the key, grants and limits set per test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use osb_plugin_host::{
    CallError, HostSettings, LimitOverrides, PluginHost, PluginLimits, PluginSettings,
};
use serde_json::Value;

use crate::{Fixture, name, plugin_settings};

/// The hostile plugin as a migration step, and as a time source.
pub const HOSTILE: &str = "osb-test-hostile";
pub const HOSTILE_SOURCE: &str = "osb-test-hostile-source";
pub const PROBE: &str = "osb-test-probe";

/// The arguments of a migration step's `apply`.
pub fn migration() -> Value {
    serde_json::json!({"from_version": "1.0.0", "to_version": "2.0.0"})
}

/// How to set up one test's host.
pub struct Setup<'a> {
    pub mode: &'a str,
    /// The device's grants for the hostile plugin, as TOML.
    pub grants: &'a str,
    /// More config for the hostile plugin.
    pub config: &'a [(&'a str, &'a str)],
    pub limits: LimitOverrides,
    /// The package to load (default: the hostile plugin, signed).
    pub package: Option<PathBuf>,
}

impl<'a> Setup<'a> {
    pub fn mode(mode: &'a str) -> Setup<'a> {
        Setup {
            mode,
            grants: "",
            config: &[],
            limits: LimitOverrides::default(),
            package: None,
        }
    }

    pub fn grants(mut self, grants: &'a str) -> Setup<'a> {
        self.grants = grants;
        self
    }

    pub fn config(mut self, config: &'a [(&'a str, &'a str)]) -> Setup<'a> {
        self.config = config;
        self
    }

    pub fn limits(mut self, limits: LimitOverrides) -> Setup<'a> {
        self.limits = limits;
        self
    }

    pub fn package(mut self, package: PathBuf) -> Setup<'a> {
        self.package = Some(package);
        self
    }

    /// The host settings: the fixture's trust, a state directory, the
    /// hostile plugin's grants, config and limits.
    pub fn settings(&self, fx: &Fixture) -> HostSettings {
        let mut settings = fx.settings();
        settings.state_dir = Some(fx.path().join("state"));
        let mut config = vec![("mode", self.mode)];
        config.extend_from_slice(self.config);
        let hostile = PluginSettings {
            limits: self.limits,
            ..plugin_settings(self.grants, &config)
        };
        settings.plugins.insert(name(HOSTILE), hostile.clone());
        settings.plugins.insert(name(HOSTILE_SOURCE), hostile);
        settings
    }

    /// A host with the hostile plugin (its package, signed, loaded) and the
    /// probe, both loaded.
    pub fn start(self, fx: &Fixture) -> PluginHost {
        let host = PluginHost::new(self.settings(fx)).expect("host");
        let package = self
            .package
            .clone()
            .unwrap_or_else(|| fx.signed(HOSTILE, "plugins"));
        host.load(&package).expect("the hostile plugin loads");
        host.load(&fx.signed(PROBE, "plugins"))
            .expect("the probe loads");
        host
    }
}

/// Limits with a short deadline, for tests of things that take it.
pub fn quick() -> LimitOverrides {
    LimitOverrides {
        call_timeout_ms: Some(300),
        ..LimitOverrides::default()
    }
}

/// The defaults, for reading a default limit in an assertion.
pub fn defaults() -> PluginLimits {
    PluginLimits::default()
}

/// The hostile migration step's `apply`.
pub fn apply(host: &PluginHost) -> Result<Value, CallError> {
    host.call_json(&name(HOSTILE), "apply", &migration())
}

/// The honest plugin beside it still answers.
pub fn probe_answers(host: &PluginHost) {
    let sample = host.sample(&name(PROBE)).expect("probe call");
    assert!(sample.is_ok(), "the probe should still answer: {sample:?}");
}

/// The plugin's own error message, from `{"error": {...}}`.
pub fn plugin_error(v: &Value) -> String {
    v.get("error")
        .unwrap_or_else(|| panic!("expected a plugin error, got {v}"))
        .to_string()
}

/// The hostile package, signed, with its manifest edited by `edit`.
pub fn edited(fx: &Fixture, sub: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let pkg = crate::copy_package(HOSTILE, &fx.path().join(sub));
    crate::edit_manifest(&pkg, edit);
    crate::sign(&pkg, &fx.key);
    pkg
}

/// The manifest's requested grant directory, replaced by `dir`.
pub fn requesting(dir: &Path) -> impl FnOnce(String) -> String {
    let dir = dir.display().to_string();
    move |t| t.replace("/tmp/osb-hostile", &dir)
}

/// `grants` for one read-write directory.
pub fn rw_grant(dir: &Path) -> String {
    format!(
        "fs = [{{ host = \"{}\", guest = \"/ignored\", mode = \"rw\" }}]",
        dir.display()
    )
}

/// Asserts `took` is at most `most` (a deadline held).
pub fn within(took: Duration, most: Duration, what: &str) {
    assert!(took <= most, "{what} took {took:?}, more than {most:?}");
}

/// `component` with `count` more core instances, each of a module holding
/// one linear memory of `pages` 64 KiB pages: memories the plugin's own
/// code never touches, which a cap per memory would let through.
pub fn with_extra_memories(component: &[u8], count: u32, pages: u64) -> Vec<u8> {
    use wasm_encoder::{
        InstanceSection, MemorySection, MemoryType, Module, ModuleArg, ModuleSection,
    };
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: pages,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut module = Module::new();
    module.section(&memory);
    let mut instances = InstanceSection::new();
    let index = top_level_core_modules(component);
    for _ in 0..count {
        instances.instantiate(index, Vec::<(&str, ModuleArg)>::new());
    }
    let mut extra = wasm_encoder::Component::new();
    extra.section(&ModuleSection(&module));
    extra.section(&instances);
    let extra = extra.finish();
    // A component is its header and a sequence of sections: the new ones
    // go at the end, after the 8 bytes of their own header.
    let mut out = component.to_vec();
    out.extend_from_slice(&extra[8..]);
    out
}

/// The number of core modules a component defines at its top level: the
/// index the next one gets.
fn top_level_core_modules(component: &[u8]) -> u32 {
    use wasmparser::{ComponentAlias, ComponentOuterAliasKind, Payload};
    let mut depth = 0i32;
    let mut count = 0;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.expect("a valid component") {
            Payload::ModuleSection { .. } => {
                if depth == 0 {
                    count += 1;
                }
                depth += 1;
            }
            Payload::ComponentSection { .. } => depth += 1,
            Payload::ComponentAliasSection(aliases) if depth == 0 => {
                for alias in aliases {
                    if let ComponentAlias::Outer {
                        kind: ComponentOuterAliasKind::CoreModule,
                        ..
                    } = alias.expect("a valid alias")
                    {
                        count += 1;
                    }
                }
            }
            Payload::End(_) => depth -= 1,
            _ => {}
        }
    }
    count
}
