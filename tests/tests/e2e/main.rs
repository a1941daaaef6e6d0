//! End-to-end tests of the plugin host with real components built from the
//! workspace's plugin crates (see `tests/artifacts/build.rs`).

mod api_versions;
mod bad_packages;
mod bootloader;
mod cache;
mod deadlines;
mod escapes;
mod fake_hwclock;
mod harness;
mod hot_swap;
mod http_urls;
mod policies;
mod quotas;
mod resources;
mod sandbox;
