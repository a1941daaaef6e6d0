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

use std::io::Write;

use osb_sdk::{ControlInfo, HardwareAdapter, PluginError, Result, SensorInfo};

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
}

osb_sdk::export_plugin!(HardwareAdapter for Board);
