//! End-to-end tests of the plugin host with real components built from the
//! workspace's plugin crates (see `tests/artifacts/build.rs`).

mod bad_packages;
mod cache;
mod fake_hwclock;
mod harness;
mod hot_swap;
mod sandbox;
