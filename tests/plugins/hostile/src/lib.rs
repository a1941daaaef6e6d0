//! `osb-test-hostile`: a plugin that misbehaves in the way config `mode`
//! asks, so tests can check that the host contains it. Not for devices.
//!
//! Built twice (see `tests/artifacts/build.rs`): as a migration step
//! (`plugin.toml`), whose `apply` misbehaves, and with feature
//! `time-source` as a time source (`time-source/plugin.toml`), whose
//! `sample` misbehaves and then answers a harmless lower bound, so that a
//! daemon's time service meets it.
//!
//! | `mode`          | the call does                                             |
//! |-----------------|-----------------------------------------------------------|
//! | `ok`            | returns `Ok`                                              |
//! | `loop`          | spins forever (the deadline must stop it)                 |
//! | `spin`          | spins for config `ms` of wall time, then returns `Ok`     |
//! | `sleep`         | sleeps config `ms` (default 8000) through WASI clocks     |
//! | `grow`          | allocates and touches 1 MiB chunks forever (memory cap)   |
//! | `trap`          | panics, which traps (`panic = "abort"`)                   |
//! | `open-parent`   | opens `/data/../escape`                                   |
//! | `open-absolute` | opens `/etc/passwd`                                       |
//! | `open-symlink`  | opens `/data/link` (the test points it outside `/data`)   |
//! | `read`          | reads config `path`; `Ok` only if that works              |
//! | `symlink`       | makes a symlink at config `path` to config `target`       |
//! | `swap-dir`      | replaces the empty directory config `path` by a symlink to config `target` |
//! | `fill`          | writes config `bytes` into `/data/fill` in 64 KiB pieces  |
//! | `files`         | creates empty files `/data/f<N>` until refused            |
//! | `open-many`     | opens files `/data/h<N>` and keeps them open, forever     |
//! | `connect`       | opens a TCP connection to config `addr`                   |
//! | `http`          | GETs config `url` through the host (with config `host` as its `Host` header, if set); `Ok` only on a 2xx |
//! | `device`        | sends config `command` to device `device` with config `timeout-ms` (default 1000); `Ok` if the answer is config `expect` |
//! | `channels`      | opens device `device` and keeps the channels, until refused |
//! | `kv`            | checks key `k` holds config `expect` (if set), stores `value` |
//! | `kv-fill`       | stores 4 KiB values under new keys until refused          |
//! | `log`           | logs config `message` once                                |
//! | `log-flood`     | logs config `bytes` in 4 KiB messages                     |
//!
//! Modes that test a refusal return an error whose message says how far
//! they got and the error's own text, e.g. `fill: wrote 16777216 bytes,
//! then: ...`, or for I/O errors its kind, e.g. `open-absolute: failed to
//! open '/etc/passwd': ... (kind: PermissionDenied)`. Config
//! `self-check = "sleep"` makes `self-check` sleep config `ms` too. `check`
//! always answers `needed` and `rollback` always succeeds.

use std::fs::File;
use std::hint::black_box;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use osb_sdk::{ErrorCode, PluginError, Result};

/// Handles and channels the `open-many` and `channels` modes keep open
/// across calls, as a leaking plugin would.
static KEPT_FILES: Mutex<Vec<File>> = Mutex::new(Vec::new());
static KEPT_CHANNELS: Mutex<Vec<osb_sdk::device::Channel>> = Mutex::new(Vec::new());

#[derive(Default)]
struct Hostile;

/// Runs the configured misbehaviour.
fn misbehave() -> Result<()> {
    let mode = config("mode");
    match mode.as_str() {
        "ok" => Ok(()),
        "loop" => spin(Duration::MAX),
        "spin" => spin(Duration::from_millis(number("ms", 0))),
        "sleep" => {
            std::thread::sleep(Duration::from_millis(number("ms", 8000)));
            Ok(())
        }
        "grow" => grow(),
        "trap" => panic!("hostile plugin: trap requested"),
        "open-parent" => open(&mode, "/data/../escape"),
        "open-absolute" => open(&mode, "/etc/passwd"),
        "open-symlink" => open(&mode, "/data/link"),
        "read" => read(&mode),
        "symlink" => symlink(&mode, &config("path")),
        "swap-dir" => {
            let path = config("path");
            std::fs::remove_dir(&path)
                .map_err(|e| io_error(&mode, &format!("failed to remove '{path}'"), &e))?;
            symlink(&mode, &path)
        }
        "fill" => fill(&mode),
        "files" => files(&mode),
        "open-many" => open_many(&mode),
        "connect" => connect(&mode),
        "http" => http(),
        "kv" => kv(),
        "kv-fill" => kv_fill(&mode),
        "device" => device(),
        "channels" => channels(&mode),
        "log" => {
            osb_sdk::log::info(&config("message"));
            Ok(())
        }
        "log-flood" => {
            let piece = "x".repeat(4096);
            for _ in 0..number("bytes", 64 << 20).div_ceil(4096) {
                osb_sdk::log::info(&piece);
            }
            Ok(())
        }
        other => Err(PluginError::invalid_input(format!(
            "invalid config 'mode' = {other:?}"
        ))),
    }
}

fn self_check() -> Result<()> {
    if config("self-check") == "sleep" {
        std::thread::sleep(Duration::from_millis(number("ms", 8000)));
    }
    Ok(())
}

fn config(key: &str) -> String {
    osb_sdk::config::get(key).unwrap_or_default()
}

fn number(key: &str, default: u64) -> u64 {
    osb_sdk::config::get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Spins for `how_long` of wall time. `black_box` keeps the optimiser from
/// proving the loop does nothing; for `Duration::MAX` the host's epoch
/// deadline is what must end it.
fn spin(how_long: Duration) -> Result<()> {
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < how_long {
        for _ in 0..10_000 {
            count = black_box(count.wrapping_add(1));
        }
    }
    Ok(())
}

/// Never returns normally: grows memory until the host's cap makes an
/// allocation fail, which aborts (traps).
fn grow() -> Result<()> {
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

fn read(mode: &str) -> Result<()> {
    let path = config("path");
    std::fs::read(&path)
        .map(drop)
        .map_err(|error| io_error(mode, &format!("failed to read '{path}'"), &error))
}

/// A symlink at `path` (under `/data`) to config `target`, made through
/// WASI directly: std's `symlink_path` is not stable on WASI. (Native
/// builds, for `cargo clippy`, never run it.)
#[cfg(target_arch = "wasm32")]
fn symlink(mode: &str, path: &str) -> Result<()> {
    let target = config("target");
    let fail = |why: String| {
        PluginError::new(
            ErrorCode::PermissionDenied,
            format!("{mode}: failed to link '{path}' to '{target}': {why}"),
        )
    };
    let name = path
        .strip_prefix("/data/")
        .ok_or_else(|| fail("the path is not under /data".into()))?;
    let (data, _) = wasip2::filesystem::preopens::get_directories()
        .into_iter()
        .find(|(_, guest)| guest == "/data")
        .ok_or_else(|| fail("no /data preopen".into()))?;
    data.symlink_at(&target, name)
        .map_err(|code| fail(format!("{code:?}")))
}

#[cfg(not(target_arch = "wasm32"))]
fn symlink(mode: &str, path: &str) -> Result<()> {
    Err(PluginError::unsupported(format!(
        "{mode}: '{path}': only the wasm build makes links"
    )))
}

fn fill(mode: &str) -> Result<()> {
    let total = number("bytes", 64 << 20);
    let piece = vec![7u8; 64 << 10];
    let mut file =
        File::create("/data/fill").map_err(|e| io_error(mode, "failed to create", &e))?;
    let mut written = 0u64;
    while written < total {
        let n = piece.len().min((total - written) as usize);
        file.write_all(&piece[..n])
            .map_err(|e| io_error(mode, &format!("wrote {written} bytes, then"), &e))?;
        written += n as u64;
    }
    file.flush()
        .map_err(|e| io_error(mode, &format!("wrote {written} bytes, then"), &e))
}

fn files(mode: &str) -> Result<()> {
    for n in 0.. {
        File::create(format!("/data/f{n}"))
            .map_err(|e| io_error(mode, &format!("created {n} files, then"), &e))?;
    }
    Ok(())
}

fn open_many(mode: &str) -> Result<()> {
    let mut kept = KEPT_FILES.lock().unwrap_or_else(|p| p.into_inner());
    for n in 0.. {
        let file = File::create(format!("/data/h{n}"))
            .map_err(|e| io_error(mode, &format!("opened {n} files, then"), &e))?;
        kept.push(file);
    }
    Ok(())
}

fn connect(mode: &str) -> Result<()> {
    let addr = config("addr");
    let addr: SocketAddr = addr.parse().map_err(|error| {
        PluginError::invalid_input(format!("invalid config 'addr' = {addr:?}: {error}"))
    })?;
    TcpStream::connect(addr)
        .map(drop)
        .map_err(|error| io_error(mode, &format!("failed to connect to {addr}"), &error))
}

fn http() -> Result<()> {
    let mut request = osb_sdk::http::Request::get(config("url"))
        .with_timeout(Duration::from_millis(number("timeout-ms", 30_000)));
    let host = config("host");
    if !host.is_empty() {
        request = request.with_header("Host", host);
    }
    let response = osb_sdk::http::send(&request)
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

fn device_error(what: String) -> impl Fn(osb_sdk::device::DeviceError) -> PluginError {
    move |e| PluginError::new(ErrorCode::Unavailable, format!("{what}: {e:?}"))
}

fn device() -> Result<()> {
    let channel =
        osb_sdk::device::open(&config("device")).map_err(device_error("device".into()))?;
    let timeout = u32::try_from(number("timeout-ms", 1000)).unwrap_or(u32::MAX);
    let answer = channel
        .transact(config("command").as_bytes(), timeout)
        .map_err(device_error("device".into()))?;
    if answer == config("expect").as_bytes() {
        Ok(())
    } else {
        Err(PluginError::invalid_input(format!(
            "device: answered {:?}",
            String::from_utf8_lossy(&answer)
        )))
    }
}

fn channels(mode: &str) -> Result<()> {
    let mut kept = KEPT_CHANNELS.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let opened = kept.len();
        let channel = osb_sdk::device::open(&config("device")).map_err(device_error(format!(
            "{mode}: opened {opened} channels, then"
        )))?;
        kept.push(channel);
    }
}

fn kv() -> Result<()> {
    let value = config("value");
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

fn kv_fill(mode: &str) -> Result<()> {
    let value = vec![7u8; 4096];
    for n in 0.. {
        osb_sdk::kv::set(&format!("fill-{n}"), &value).map_err(|e| {
            PluginError::new(
                ErrorCode::PermissionDenied,
                format!("{mode}: stored {n} keys, then: {e:?}"),
            )
        })?;
    }
    Ok(())
}

/// Keeps the I/O error's own text and kind in the message: tests match on
/// words like "denied" or "not permitted".
fn io_error(mode: &str, what: &str, error: &io::Error) -> PluginError {
    PluginError::new(
        ErrorCode::from(error.kind()),
        format!("{mode}: {what}: {error} (kind: {:?})", error.kind()),
    )
}

#[cfg(not(feature = "time-source"))]
mod kind {
    use osb_sdk::{CheckOutcome, Migration, MigrationStep, Result};

    impl MigrationStep for super::Hostile {
        fn check(&mut self, _: &Migration) -> Result<CheckOutcome> {
            Ok(CheckOutcome::Needed)
        }

        fn apply(&mut self, _: &Migration) -> Result<()> {
            super::misbehave()
        }

        fn rollback(&mut self, _: &Migration) -> Result<()> {
            Ok(())
        }

        fn self_check(&mut self) -> Result<()> {
            super::self_check()
        }
    }

    osb_sdk::export_plugin!(MigrationStep for super::Hostile);
}

#[cfg(feature = "time-source")]
mod kind {
    use osb_sdk::{Result, TimeInterval, TimeSample, TimeSource, Timestamp};

    impl TimeSource for super::Hostile {
        /// Misbehaves, then answers a lower bound far in the past: a
        /// source the time service may use, never one that moves it.
        fn sample(&mut self) -> Result<TimeSample> {
            super::misbehave()?;
            let floor = Timestamp::from_unix_seconds(1_000_000_000);
            Ok(TimeSample::new(TimeInterval::at_least(floor), "hostile"))
        }

        fn self_check(&mut self) -> Result<()> {
            super::self_check()
        }
    }

    osb_sdk::export_plugin!(TimeSource for super::Hostile);
}
