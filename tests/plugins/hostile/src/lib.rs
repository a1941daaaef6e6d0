//! `osb-test-hostile`: a migration step whose `apply` misbehaves in the way
//! config `mode` asks, so tests can check that the host contains it. Not
//! for devices.
//!
//! | `mode`          | `apply` does                                              |
//! |-----------------|-----------------------------------------------------------|
//! | `ok`            | returns `Ok`                                              |
//! | `loop`          | spins forever (the deadline must stop it)                 |
//! | `grow`          | allocates and touches 1 MiB chunks forever (memory cap)   |
//! | `trap`          | panics, which traps (`panic = "abort"`)                   |
//! | `open-parent`   | opens `/data/../escape`                                   |
//! | `open-absolute` | opens `/etc/passwd`                                       |
//! | `open-symlink`  | opens `/data/link` (the test points it outside `/data`)   |
//! | `connect`       | opens a TCP connection to config `addr`                   |
//! | `http`          | GETs config `url` through the host; `Ok` only on a 2xx    |
//! | `device`        | sends config `command` to device `device`; `Ok` if the answer is config `expect` |
//! | `kv`            | checks key `k` holds config `expect` (if set), stores `value` |
//!
//! The `open-*` and `connect` modes return `Ok` if the operation succeeds,
//! which is the sandbox failing; otherwise an error whose message carries the
//! I/O error's text and kind, e.g. `open-absolute: failed to open
//! '/etc/passwd': ... (kind: PermissionDenied)`. `check` always answers
//! `needed` and `rollback` always succeeds.

use std::fs::File;
use std::hint::black_box;
use std::io;
use std::net::{SocketAddr, TcpStream};

use osb_sdk::{CheckOutcome, ErrorCode, Migration, MigrationStep, PluginError, Result};

#[derive(Default)]
struct Hostile;

impl MigrationStep for Hostile {
    fn check(&mut self, _: &Migration) -> Result<CheckOutcome> {
        Ok(CheckOutcome::Needed)
    }

    fn apply(&mut self, _: &Migration) -> Result<()> {
        let mode = osb_sdk::config::get("mode").unwrap_or_default();
        match mode.as_str() {
            "ok" => Ok(()),
            "loop" => spin(),
            "grow" => grow(),
            "trap" => panic!("hostile plugin: trap requested"),
            "open-parent" => open(&mode, "/data/../escape"),
            "open-absolute" => open(&mode, "/etc/passwd"),
            "open-symlink" => open(&mode, "/data/link"),
            "connect" => connect(&mode),
            "http" => http(),
            "kv" => kv(),
            "device" => device(),
            other => Err(PluginError::invalid_input(format!(
                "invalid config 'mode' = {other:?}"
            ))),
        }
    }

    fn rollback(&mut self, _: &Migration) -> Result<()> {
        Ok(())
    }
}

/// Never returns. `black_box` keeps the optimiser from proving the loop
/// does nothing; the host's epoch deadline is what must end it.
fn spin() -> ! {
    let mut count = 0u64;
    loop {
        count = black_box(count.wrapping_add(1));
    }
}

/// Never returns normally: grows memory until the host's cap makes an
/// allocation fail, which aborts (traps).
fn grow() -> ! {
    const CHUNK: usize = 1 << 20;
    const PAGE: usize = 4096;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        // Write every page so the memory is really used, not just reserved.
        for byte in chunk.iter_mut().step_by(PAGE) {
            *byte = 1;
        }
        chunks.push(black_box(chunk));
    }
}

fn open(mode: &str, path: &str) -> Result<()> {
    File::open(path)
        .map(drop)
        .map_err(|error| io_error(mode, &format!("failed to open '{path}'"), &error))
}

fn connect(mode: &str) -> Result<()> {
    let addr = osb_sdk::config::get("addr").unwrap_or_default();
    let addr: SocketAddr = addr.parse().map_err(|error| {
        PluginError::invalid_input(format!("invalid config 'addr' = {addr:?}: {error}"))
    })?;
    TcpStream::connect(addr)
        .map(drop)
        .map_err(|error| io_error(mode, &format!("failed to connect to {addr}"), &error))
}

fn http() -> Result<()> {
    let url = osb_sdk::config::get("url").unwrap_or_default();
    let response = osb_sdk::http::send(&osb_sdk::http::Request::get(&url))
        .map_err(|e| PluginError::new(ErrorCode::Unavailable, format!("http: {e:?}")))?;
    if response.is_success() {
        Ok(())
    } else {
        Err(PluginError::unavailable(format!(
            "http: status {}",
            response.status
        )))
    }
}

fn device() -> Result<()> {
    let get = |key: &str| osb_sdk::config::get(key).unwrap_or_default();
    let dev_err = |e: osb_sdk::device::DeviceError| {
        PluginError::new(ErrorCode::Unavailable, format!("device: {e:?}"))
    };
    let channel = osb_sdk::device::open(&get("device")).map_err(dev_err)?;
    let answer = channel
        .transact(get("command").as_bytes(), 1000)
        .map_err(dev_err)?;
    if answer == get("expect").as_bytes() {
        Ok(())
    } else {
        Err(PluginError::invalid_input(format!(
            "device: answered {:?}",
            String::from_utf8_lossy(&answer)
        )))
    }
}

fn kv() -> Result<()> {
    let value = osb_sdk::config::get("value").unwrap_or_default();
    let kv_err = |e: osb_sdk::kv::KvError| {
        PluginError::new(ErrorCode::PermissionDenied, format!("kv: {e:?}"))
    };
    let before = osb_sdk::kv::get("k").map_err(kv_err)?;
    osb_sdk::kv::set("k", value.as_bytes()).map_err(kv_err)?;
    let after = osb_sdk::kv::get("k").map_err(kv_err)?;
    if after.as_deref() != Some(value.as_bytes()) {
        return Err(PluginError::internal("kv: value not read back"));
    }
    // With config `expect`, the value found first must be that one: a test
    // sees persistence across restarts this way.
    match osb_sdk::config::get("expect") {
        Some(expect) if before.as_deref() != Some(expect.as_bytes()) => Err(PluginError::internal(
            format!("kv: previous value {before:?}, expected {expect:?}"),
        )),
        _ => Ok(()),
    }
}

/// Keeps the I/O error's own text and kind in the message: tests match on
/// words like "denied" or "not permitted".
fn io_error(mode: &str, what: &str, error: &io::Error) -> PluginError {
    PluginError::new(
        ErrorCode::from(error.kind()),
        format!("{mode}: {what}: {error} (kind: {:?})", error.kind()),
    )
}

osb_sdk::export_plugin!(MigrationStep for Hostile);
