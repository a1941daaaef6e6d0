//! `hw-jetson-tx2`: the hardware adapter of the NVIDIA Jetson TX2.
//!
//! - The device contract is the `jetson-tx2` device type's.
//! - Sensors are the thermal zones, by their `type` (`thermal.rs`).
//! - Controls: `power-mode`, one of the modes of nvpmodel's configuration
//!   (`nvpmodel.rs`), applied by writing the sysfs files it names
//!   (`power.rs`); and `fan`, a PWM duty from 0 to 255 (`fan.rs`).
//!
//! The self-check identifies the board from the device tree (`board.rs`),
//! so the plugin does not load on another one, and re-applies the power
//! mode chosen last, which the plugin's kv store keeps: a board restarts in
//! the mode nvpmodel's configuration makes its default, and the runtime
//! takes it back to the chosen one. Without a chosen mode the plugin leaves
//! the board's power settings alone.

mod board;
mod fan;
mod grants;
mod nvpmodel;
mod power;
mod sysfs;
mod thermal;

use std::path::PathBuf;

use osb_sdk::{ControlInfo, HardwareAdapter, PluginError, Result, SensorInfo, kv};

use board::BoardError;
use fan::FanError;
use power::{MODE_KEY, PowerError};
use thermal::ThermalError;

/// The `jetson-tx2` device type's contract.
const CONTRACT: &str = include_str!("contract.json");

/// The plugin value: where nvpmodel's configuration is, or why that is bad.
struct Tx2 {
    // A `Result` because `Default` cannot fail: a bad setting is reported
    // by `self_check` and by the calls that need it.
    nvpmodel_conf: Result<PathBuf>,
}

impl Default for Tx2 {
    fn default() -> Self {
        let value = osb_sdk::config::get_or("nvpmodel_conf", "/etc/nvpmodel/nvpmodel_t186.conf");
        Tx2 {
            nvpmodel_conf: osb_sdk::config::file_path(
                "nvpmodel_conf",
                &value,
                "/etc/nvpmodel/nvpmodel_t186.conf",
            ),
        }
    }
}

impl Tx2 {
    fn conf(&self) -> Result<&PathBuf> {
        self.nvpmodel_conf.as_ref().map_err(Clone::clone)
    }

    fn set_power_mode(&self, name: &str) -> Result<()> {
        let written = power::switch(self.conf()?, name).map_err(power_error)?;
        // Only a mode the board is in is remembered.
        kv::set(MODE_KEY, name.as_bytes())?;
        osb_sdk::info!("power mode {name} applied ({written} file(s) written)");
        Ok(())
    }
}

impl HardwareAdapter for Tx2 {
    fn device_contract(&mut self) -> Result<String> {
        Ok(CONTRACT.to_owned())
    }

    fn sensors(&mut self) -> Vec<SensorInfo> {
        thermal::present()
            .into_iter()
            .map(|(name, what)| {
                SensorInfo::new(name, format!("temperature of {what}"), thermal::UNIT)
            })
            .collect()
    }

    fn read_sensor(&mut self, id: &str) -> Result<f64> {
        thermal::read(id).map_err(|e| match e {
            ThermalError::Missing(_) | ThermalError::Io { .. } => {
                PluginError::unavailable(e.to_string())
            }
            ThermalError::Unknown(_) | ThermalError::Garbage { .. } => {
                PluginError::invalid_input(e.to_string())
            }
        })
    }

    fn controls(&mut self) -> Vec<ControlInfo> {
        let mut controls = Vec::new();
        match self
            .conf()
            .and_then(|c| power::load(c).map_err(power_error))
        {
            Ok(conf) => controls.push(ControlInfo::new(
                "power-mode",
                "nvpmodel power mode: cores online and CPU, GPU and memory clock limits",
                conf.mode_names(),
            )),
            // Listing it would offer modes that cannot be applied.
            Err(error) => osb_sdk::warn!("no power-mode control: {}", error.message),
        }
        controls.push(ControlInfo::new(
            "fan",
            "fan PWM duty, 0 (off) to 255 (full)",
            Vec::<String>::new(),
        ));
        controls
    }

    fn set_control(&mut self, id: &str, value: &str) -> Result<()> {
        match id {
            "power-mode" => self.set_power_mode(value),
            "fan" => {
                fan::set(value).map_err(|e| match e {
                    FanError::NotADuty(_) => PluginError::invalid_input(e.to_string()),
                    FanError::Write { .. } => PluginError::unavailable(e.to_string()),
                })?;
                Ok(())
            }
            _ => Err(PluginError::invalid_input(format!(
                "no control '{id}' (the controls are power-mode and fan)"
            ))),
        }
    }

    fn self_check(&mut self) -> Result<()> {
        board::identify().map_err(|e| match e {
            BoardError::Unreadable(_) => PluginError::unavailable(e.to_string()),
            BoardError::NotTx2(_) => PluginError::unsupported(e.to_string()),
        })?;
        let conf = self.conf()?;
        power::load(conf).map_err(power_error)?;
        // Without its store the chosen mode would be lost at the next
        // start: refuse to load rather than forget it silently.
        if let Some(mode) = kv::get(MODE_KEY)? {
            let mode = String::from_utf8(mode).map_err(|_| {
                PluginError::internal(format!("the kv entry '{MODE_KEY}' is not text"))
            })?;
            self.set_power_mode(&mode).map_err(|e| {
                PluginError::new(
                    e.code,
                    format!("re-applying power mode {mode}: {}", e.message),
                )
            })?;
        }
        Ok(())
    }
}

fn power_error(error: PowerError) -> PluginError {
    match error {
        PowerError::Unreadable { .. } | PowerError::Current { .. } | PowerError::Failed { .. } => {
            PluginError::unavailable(error.to_string())
        }
        PowerError::OutsideGrant { .. } => PluginError::permission_denied(error.to_string()),
        PowerError::Conf { .. }
        | PowerError::UnknownMode { .. }
        | PowerError::CannotOffline { .. }
        | PowerError::NoFrequencyTable { .. }
        | PowerError::NotFrequencies { .. } => PluginError::invalid_input(error.to_string()),
    }
}

osb_sdk::export_plugin!(HardwareAdapter for Tx2);
