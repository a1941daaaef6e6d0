//! Builds every plugin crate for wasm32-wasip2 and lays each out as an
//! unsigned package (`plugin.toml` + `<name>.wasm`), and the benchmarks'
//! bare components beside them, so `cargo test` needs no manual step. Like
//! wasmtime's test-programs, this runs a nested cargo with its own target
//! directory (the outer build holds the main one's lock).

use std::path::{Path, PathBuf};
use std::process::Command;

/// One package to build.
struct Plugin {
    /// The cargo package.
    package: &'static str,
    /// Its crate directory, relative to the workspace root.
    dir: &'static str,
    /// Cargo features to build it with.
    features: &'static str,
    /// Its `plugin.toml`, relative to the crate directory.
    manifest: &'static str,
}

const fn plugin(package: &'static str, dir: &'static str) -> Plugin {
    Plugin {
        package,
        dir,
        features: "",
        manifest: "plugin.toml",
    }
}

const PLUGINS: &[Plugin] = &[
    plugin("time-fake-hwclock", "plugins/time-fake-hwclock"),
    plugin("time-build-floor", "plugins/time-build-floor"),
    plugin("time-rtc", "plugins/time-rtc"),
    plugin("time-https", "plugins/time-https"),
    plugin("time-ntp", "plugins/time-ntp"),
    plugin("policy-contract", "plugins/policy-contract"),
    plugin(
        "policy-maintenance-window",
        "plugins/policy-maintenance-window",
    ),
    plugin("policy-thermal", "plugins/policy-thermal"),
    plugin("policy-drafts", "plugins/policy-drafts"),
    plugin("hw-jetson-tx2", "plugins/hw-jetson-tx2"),
    plugin("hw-x86-tpm", "plugins/hw-x86-tpm"),
    plugin("osb-test-probe", "tests/plugins/probe"),
    // The probe built against the draft next API version and the older
    // released one, for the host's dispatch on the version.
    Plugin {
        features: "next-api",
        manifest: "next-api/plugin.toml",
        ..plugin("osb-test-probe", "tests/plugins/probe")
    },
    Plugin {
        features: "api-0-1-0",
        manifest: "api-0-1-0/plugin.toml",
        ..plugin("osb-test-probe", "tests/plugins/probe")
    },
    plugin("osb-test-hostile", "tests/plugins/hostile"),
    plugin("osb-test-board", "tests/plugins/board"),
    // The board as an adapter of an older SDK: no bootloader side.
    Plugin {
        features: "api-0-1-0",
        manifest: "api-0-1-0/plugin.toml",
        ..plugin("osb-test-board", "tests/plugins/board")
    },
    // The same crate as a time source, for the daemon's time service.
    Plugin {
        features: "time-source",
        manifest: "time-source/plugin.toml",
        ..plugin("osb-test-hostile", "tests/plugins/hostile")
    },
];

/// Components that are no plugin (no manifest, their own WIT package), for
/// benchmarks that call wasmtime without the host: (cargo package, crate
/// directory). Each is copied as `components/<package>.wasm`.
const COMPONENTS: &[(&str, &str)] = &[("osb-test-call-shapes", "tests/plugins/call-shapes")];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..").canonicalize().unwrap();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let target_dir = root.join("target").join("wasm-plugins");
    for watched in [
        "sdk/src",
        "sdk/wit",
        "sdk/Cargo.toml",
        // Not a plugin: the bound arithmetic the time plugins link.
        "plugins/time-bounds/src",
        "plugins/time-bounds/Cargo.toml",
        // Not a plugin: the contract model policy-contract links.
        "contract/src",
        "contract/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let packages = out.join("packages");
    for Plugin {
        package,
        dir,
        features,
        manifest,
    } in PLUGINS
    {
        let crate_dir = root.join(dir);
        println!(
            "cargo:rerun-if-changed={}",
            crate_dir.join(manifest).display()
        );
        let wasm = build(&root, &target_dir, package, dir, features);
        let manifest = std::fs::read_to_string(crate_dir.join(manifest)).unwrap();
        let name = plugin_name(&manifest);
        let dest = packages.join(&name);
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("plugin.toml"), &manifest).unwrap();
        std::fs::copy(&wasm, dest.join(format!("{name}.wasm"))).unwrap();
        let _ = std::fs::remove_file(dest.join(format!("{name}.wasm.sig")));
    }
    let components = out.join("components");
    std::fs::create_dir_all(&components).unwrap();
    for (package, dir) in COMPONENTS {
        println!(
            "cargo:rerun-if-changed={}",
            root.join(dir).join("wit").display()
        );
        let wasm = build(&root, &target_dir, package, dir, "");
        std::fs::copy(&wasm, components.join(format!("{package}.wasm"))).unwrap();
    }
    println!("cargo:rustc-env=OSB_TEST_PACKAGES={}", packages.display());
    println!(
        "cargo:rustc-env=OSB_TEST_COMPONENTS={}",
        components.display()
    );
}

/// Builds `package` (in `dir`, relative to `root`) for wasm32-wasip2 with
/// `features`; returns the component's path.
fn build(root: &Path, target_dir: &Path, package: &str, dir: &str, features: &str) -> PathBuf {
    let crate_dir = root.join(dir);
    for watched in ["src", "Cargo.toml"] {
        println!(
            "cargo:rerun-if-changed={}",
            crate_dir.join(watched).display()
        );
    }
    // One cargo call per crate: a plugin's features select one WIT world
    // of the SDK.
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
            "--features",
            features,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .status()
        .expect("cannot run cargo to build the plugins");
    assert!(
        status.success(),
        "building {package} for wasm32-wasip2 failed"
    );
    target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}

/// The `name = "..."` line of a plugin.toml (the runtime does the real parsing).
fn plugin_name(manifest: &str) -> String {
    manifest
        .lines()
        .find_map(|l| {
            let rest = l
                .trim()
                .strip_prefix("name")?
                .trim_start()
                .strip_prefix('=')?;
            Some(rest.trim().trim_matches('"').to_owned())
        })
        .expect("plugin.toml without a name")
}
