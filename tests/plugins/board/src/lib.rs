//! `osb-test-board`: a hardware adapter whose board is its config. It
//! answers the device contract in config `contract` as written, reads the
//! sensors of config `sensors` (`id=value unit;...`), and sets the controls
//! of config `controls` (`id=a|b;...`) by writing the value to
//! `/board/<id>`, refusing a value outside the list. A test makes it an
//! honest board, or one that lies (a contract of another type, a reading
//! of NaN, an id with control characters).
//!
//! Two files in `/board` let a test watch and move the board: if
//! `/board/reads` exists, each read appends the sensor's id to it; if
//! `/board/sensor-<id>` exists, it holds that sensor's reading instead of
//! the config's.
//!
//! With config `boot_env` naming a file (`/boot/boot.env`), the board has a
//! bootloader side over the file-based boot environment (`osb-bootenv`),
//! the reference a test boots by (`osb_hostos::bootenv::boot`); without
//! it, the board has none (`unsupported`). Built with feature `api-0-1-0`
//! it is an adapter of the older API, which has no bootloader side at all.

use std::io::{Read, Write};

use osb_bootenv::Env;
use osb_sdk::{BootStatus, ControlInfo, HardwareAdapter, PluginError, Result, SensorInfo, Slot};

#[derive(Default)]
struct Board;

fn config(key: &str) -> String {
    osb_sdk::config::get(key).unwrap_or_default()
}

fn entries(key: &str) -> Vec<(String, String)> {
    config(key)
        .split(';')
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

impl HardwareAdapter for Board {
    fn device_contract(&mut self) -> Result<String> {
        Ok(config("contract"))
    }

    fn sensors(&mut self) -> Vec<SensorInfo> {
        entries("sensors")
            .into_iter()
            .map(|(id, reading)| {
                let unit = reading.split_once(' ').map(|(_, u)| u).unwrap_or_default();
                SensorInfo::new(&id, format!("sensor {id}"), unit)
            })
            .collect()
    }

    fn read_sensor(&mut self, id: &str) -> Result<f64> {
        let reading = entries("sensors")
            .into_iter()
            .find(|(s, _)| s == id)
            .map(|(_, r)| r)
            .ok_or_else(|| PluginError::invalid_input(format!("no sensor '{id}'")))?;
        // Every read is logged, so a test sees which sensors were read and
        // how often; where the directory is not there, nobody is counting.
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .append(true)
            .open("/board/reads")
        {
            let _ = writeln!(log, "{id}");
        }
        // A test changes the board's reading while it runs.
        let live = std::fs::read_to_string(format!("/board/sensor-{id}")).ok();
        let value = live
            .as_deref()
            .map(str::trim)
            .unwrap_or_else(|| reading.split(' ').next().unwrap_or_default());
        value
            .parse()
            .map_err(|_| PluginError::invalid_input(format!("sensor '{id}' reads {value:?}")))
    }

    fn controls(&mut self) -> Vec<ControlInfo> {
        entries("controls")
            .into_iter()
            .map(|(id, values)| {
                let values: Vec<&str> = values.split('|').filter(|v| !v.is_empty()).collect();
                ControlInfo::new(&id, format!("control {id}"), values)
            })
            .collect()
    }

    fn set_control(&mut self, id: &str, value: &str) -> Result<()> {
        let values = entries("controls")
            .into_iter()
            .find(|(c, _)| c == id)
            .map(|(_, v)| v)
            .ok_or_else(|| PluginError::invalid_input(format!("no control '{id}'")))?;
        if !values.is_empty() && !values.split('|').any(|v| v == value) {
            return Err(PluginError::invalid_input(format!(
                "control '{id}' takes {values}, not {value:?}"
            )));
        }
        std::fs::write(format!("/board/{id}"), value)
            .map_err(|e| PluginError::unavailable(format!("cannot set '{id}': {e}")))
    }

    fn boot_state(&mut self) -> Result<BootStatus> {
        Ok(read_env(&env_path()?)?.state())
    }

    fn stage_boot(&mut self, slot: Slot, boot_limit: u32) -> Result<()> {
        let path = env_path()?;
        let mut env = read_env(&path)?;
        env.stage(slot, boot_limit)
            .map_err(|e| PluginError::invalid_input(format!("cannot stage slot: {e}")))?;
        write_env(&path, &env)
    }

    fn commit_boot(&mut self) -> Result<()> {
        let path = env_path()?;
        let mut env = read_env(&path)?;
        env.commit()
            .map_err(|e| PluginError::invalid_input(format!("cannot commit: {e}")))?;
        write_env(&path, &env)
    }
}

/// The boot environment's path, or `unsupported`: no bootloader side.
fn env_path() -> Result<String> {
    let path = config("boot_env");
    if path.is_empty() {
        return Err(PluginError::unsupported(
            "this board has no bootloader side (config 'boot_env' is not set)",
        ));
    }
    Ok(path)
}

/// The environment at `path`: a regular file, read no further than the
/// format allows, so a huge or endless file costs nothing.
fn read_env(path: &str) -> Result<Env> {
    let io = |e: std::io::Error| PluginError::io(format!("boot environment {path}"), &e);
    let file = std::fs::File::open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(PluginError::invalid_input(format!(
            "boot environment {path}: not a regular file"
        )));
    }
    let mut bytes = Vec::new();
    file.take(osb_bootenv::MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Env::from_bytes(&bytes)
        .map_err(|e| PluginError::invalid_input(format!("boot environment {path}: {e}")))
}

/// Writes `env` to `path` whole or not at all: a temporary file beside it,
/// flushed to disk, renamed over it. A power cut leaves the old or the new
/// environment, never half of one: the bootloader reads it next.
fn write_env(path: &str, env: &Env) -> Result<()> {
    let io = |e: std::io::Error| PluginError::io(format!("boot environment {path}"), &e);
    let temporary = format!("{path}.new");
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(env.to_text().as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io)?;
    // The rename itself is made durable by syncing the directory, where
    // WASI lets a directory be opened; the host's power-on reads the file
    // either way.
    if let Some(dir) = std::path::Path::new(path).parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

osb_sdk::export_plugin!(HardwareAdapter for Board);
