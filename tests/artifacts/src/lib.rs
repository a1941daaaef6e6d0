//! Paths of the plugin packages and benchmark components built by this
//! crate's build script.

use std::path::{Path, PathBuf};

/// The directory holding one unsigned package per plugin, by plugin name.
pub fn packages_dir() -> &'static Path {
    Path::new(env!("OSB_TEST_PACKAGES"))
}

/// The built, unsigned package of `name` (e.g. `time-fake-hwclock`).
pub fn package(name: &str) -> PathBuf {
    let dir = packages_dir().join(name);
    assert!(
        dir.is_dir(),
        "no built package '{name}' in {}",
        packages_dir().display()
    );
    dir
}

/// Copies a built package into `dest/<name>` (tests sign and modify copies).
pub fn copy_package(name: &str, dest: &Path) -> PathBuf {
    let target = dest.join(name);
    std::fs::create_dir_all(&target).expect("create package copy");
    for entry in std::fs::read_dir(package(name)).expect("read package") {
        let entry = entry.expect("package entry");
        std::fs::copy(entry.path(), target.join(entry.file_name())).expect("copy package file");
    }
    target
}

/// The built component of `package`, a benchmark component that is no
/// plugin (e.g. `osb-test-call-shapes`).
pub fn component(package: &str) -> PathBuf {
    let path = Path::new(env!("OSB_TEST_COMPONENTS")).join(format!("{package}.wasm"));
    assert!(path.is_file(), "no built component {}", path.display());
    path
}
