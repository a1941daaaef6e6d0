//! `policy-thermal`: updates wait while the board is hot. Above config
//! `max_celsius` (default 80) a release is held, and held releases wait
//! until the board is back at or below `resume_celsius` (default 75): the
//! hysteresis keeps a board hovering at the limit from flapping between
//! yes and no. Whether a release is being held is kept in the plugin's
//! key-value store, so it survives a new instance, a new version and a
//! restart.
//!
//! The temperature is read from config `path` (default `/thermal/temp`,
//! the thermal zone's sysfs directory granted read-only at `/thermal`),
//! millidegrees Celsius as Linux writes it; or, with config `sensor` set,
//! it is the hardware adapter's sensor of that id as the runtime tells it
//! with the device (a child `hw.sensor`, present only when the device
//! config grants this policy that sensor). No file, no reading, a read
//! that fails, or anything but a plausible reading is a deny with the
//! reason: without a temperature the policy fails closed.
//!
//! Bad configuration, or no `kv` grant, fails the self-check, so the plugin
//! does not load (and a running version keeps serving).

mod device;
mod hold;
mod reading;
mod settings;

use osb_sdk::{ContractPolicy, Decision, Release, Result, kv};

use settings::{Settings, Source};

/// The key-value entry present while a release is held.
const HOLDING: &str = "holding";

/// The plugin value: the settings read at creation, or why they are bad.
struct Thermal {
    // Kept as a `Result` because `Default` cannot fail: a bad setting is
    // reported by `self_check` and by every call instead.
    settings: Result<Settings>,
}

impl Default for Thermal {
    fn default() -> Self {
        Thermal {
            settings: Settings::from_lookup(osb_sdk::config::get),
        }
    }
}

impl ContractPolicy for Thermal {
    fn evaluate(&mut self, device: &str, _release: &Release) -> Result<Decision> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        let reading = match &settings.source {
            Source::File(path) => reading::read(path).map_err(|e| e.to_string()),
            Source::Sensor(id) => device::temperature(device, id).map_err(|e| e.to_string()),
        };
        let reading = match reading {
            Ok(reading) => reading,
            Err(error) => {
                return Ok(Decision::reject(format!(
                    "the board's temperature is unknown, so updates wait: {error}"
                )));
            }
        };
        let holding = kv::get(HOLDING)?.is_some();
        let (decision, hold) = hold::decide(reading, holding, &settings.limits);
        match (holding, hold) {
            (false, true) => kv::set(HOLDING, b"1")?,
            (true, false) => kv::delete(HOLDING)?,
            _ => {}
        }
        Ok(decision)
    }

    fn self_check(&mut self) -> Result<()> {
        self.settings.as_ref().map_err(Clone::clone)?;
        // Without its store the hysteresis cannot work: refuse to load
        // rather than decide on half the rule.
        kv::get(HOLDING)?;
        Ok(())
    }
}

osb_sdk::export_plugin!(ContractPolicy for Thermal);
