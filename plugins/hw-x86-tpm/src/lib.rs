//! `hw-x86-tpm`: a generic x86-64 board with a TPM 2.0, spoken to over the
//! host's `device` channel. Commands are marshalled here with the pure-Rust
//! `tpm2-protocol` crate; the host only carries bytes, with a deadline.
//!
//! # What an operator sees
//!
//! The hardware-adapter interface (WIT 0.1.0) reads a sensor as one `f64`
//! and sets a control from a string, so bytes travel as numbers an `f64`
//! holds exactly (integers below 2^53):
//!
//! - sensor `random`: 48 bits from the TPM's generator (six bytes, big
//!   endian), an integer in `[0, 2^48)`;
//! - sensor `pcr:N:W`: word `W` (0 to 7) of PCR `N` (0 to 23) in the
//!   sha256 bank, the digest's bytes `4W..4W+4` as a big-endian `u32`;
//!   eight reads give the whole digest (each a PCR_Read of its own, so a
//!   digest read while something extends the PCR may mix two values);
//! - control `pcr-extend`, value `N:HEX`: extends PCR `N` of the sha256
//!   bank with the 32-byte digest `HEX` (64 hex digits);
//! - sensor `disk-key`: what NV index 0x01500000 holds: 0 no key, 1 a key
//!   sealed to the current boot chain, 2 a key staged for an update;
//! - control `disk-key`: `seal` a new 32-byte key from the TPM's
//!   generator to the current values of PCRs 0, 2, 3 and 7 (replacing any
//!   key), keep it in NV and write it to `/keys/disk.key`; `unseal` it
//!   there (refused, and the key file removed, when the PCRs differ);
//!   `commit` a staged key to the new boot chain once it runs (a key that
//!   is not staged is left as it is); `forget` the key file;
//! - control `stage-update`, value `N=HEX[,N=HEX...]`: re-seal the key so
//!   that the current boot chain and an update's unseal it, the update's
//!   being the current values with PCR `N` (0, 2, 3 or 7) holding `HEX`.
//!
//! A later API version should let a sensor answer bytes (a digest, a
//! sealed blob), so none of this splitting is needed.
//!
//! # The disk key
//!
//! Sealed much as balenaOS seals its disk key: a data object created
//! under the owner hierarchy's storage key (ECC P-256, created again from
//! a fixed template for each use, never persisted), whose policy is
//! PolicyPCR over PCRs 0, 2, 3 and 7 of the sha256 bank, computed here in
//! software. Across an OS update the policy is PolicyOR of the old and the
//! new chain's PolicyPCR, until `commit` narrows it to the new one. The
//! object's public and private areas live in NV (owner read and write,
//! empty owner password), so the key outlives the plugin and a reboot;
//! only this TPM, with these PCRs, can load and unseal them. Every handle
//! a call loads is flushed before it returns, on success or error; one it
//! never learned (its answer was malformed) cannot be, and the kernel's
//! resource manager flushes it when the channel closes. The key file is
//! written under a temporary name and renamed; WASI sets no file mode, so
//! the granted directory must itself be private.
//!
//! # Configuration
//!
//! - `device` (default `tpm0`): the device name, granted by the device.
//! - `timeout_ms` (default 500, 1 to 60000): how long one command waits.

mod command;
mod disk_key;
mod error;
mod ids;
mod nv;
mod pcr;
mod policy;
mod random;
mod record;
mod seal;

use osb_sdk::{ControlInfo, HardwareAdapter, PluginError, Result, SensorInfo};

use command::Tpm;
use ids::{Control, DiskKeyAction, Sensor};

/// The unit of a plain number (UCUM's "1"): every sensor here reads one,
/// bytes or a state rather than a measurement.
const DIMENSIONLESS: &str = "1";

/// How many random bytes the `random` sensor reads: 48 bits, which an
/// `f64` holds exactly.
const RANDOM_BYTES: usize = 6;

/// The adapter: the TPM it speaks to, or why the config is bad.
struct TpmAdapter {
    // A `Result` because `Default` cannot fail: a bad setting fails the
    // self-check and every call instead.
    tpm: Result<Tpm>,
}

impl Default for TpmAdapter {
    fn default() -> Self {
        TpmAdapter { tpm: settings() }
    }
}

fn settings() -> Result<Tpm> {
    let device = osb_sdk::config::get_or("device", "tpm0");
    let timeout = osb_sdk::config::get_or("timeout_ms", "500");
    let timeout_ms =
        osb_sdk::config::number_in("timeout_ms", &timeout, 1..=60_000, "milliseconds")?;
    Ok(Tpm::new(device, timeout_ms))
}

/// The device contract: a generic x86-64 board (GPT), as balena's
/// `generic-amd64` describes it, with a TPM 2.0.
const CONTRACT: &str = r#"{
  "type": "hw.device-type",
  "slug": "generic-amd64",
  "version": "1",
  "name": "Generic x86_64 (GPT)",
  "aliases": [],
  "data": {
    "arch": "amd64",
    "hdmi": true,
    "led": false,
    "connectivity": { "bluetooth": false, "wifi": false },
    "storage": { "internal": true },
    "media": { "defaultBoot": "internal", "altBoot": ["usb_mass_storage"] },
    "is_private": false,
    "tpm": { "version": "2.0" }
  }
}"#;

impl TpmAdapter {
    fn tpm(&self) -> Result<&Tpm> {
        self.tpm.as_ref().map_err(Clone::clone)
    }
}

impl HardwareAdapter for TpmAdapter {
    fn device_contract(&mut self) -> Result<String> {
        Ok(CONTRACT.to_owned())
    }

    fn sensors(&mut self) -> Vec<SensorInfo> {
        let mut sensors = vec![
            SensorInfo::new(
                "random",
                "48 bits from the TPM's random number generator, an integer below 2^48",
                DIMENSIONLESS,
            ),
            SensorInfo::new(
                "disk-key",
                "the disk key in NV: 0 none sealed, 1 sealed to the current boot chain, \
                 2 staged for an update (the old and the new chain unseal it)",
                DIMENSIONLESS,
            ),
        ];
        for n in 0..pcr::PCRS {
            for w in 0..8 {
                sensors.push(SensorInfo::new(
                    format!("pcr:{n}:{w}"),
                    format!(
                        "sha256 PCR {n}, bytes {}..{} as a big-endian u32",
                        4 * w,
                        4 * w + 4
                    ),
                    DIMENSIONLESS,
                ));
            }
        }
        sensors
    }

    fn read_sensor(&mut self, id: &str) -> Result<f64> {
        let tpm = self.tpm()?;
        match Sensor::parse(id)? {
            Sensor::Random => {
                let bytes = random::random(tpm, RANDOM_BYTES)?;
                Ok(bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)) as f64)
            }
            Sensor::DiskKey => Ok(disk_key::status(tpm)?.reading()),
            Sensor::PcrWord { index, word } => {
                let digest = pcr::read(tpm, index)?;
                ids::word(&digest, word)
                    .map(f64::from)
                    .ok_or_else(|| PluginError::internal(format!("no word {word} in a digest")))
            }
        }
    }

    fn controls(&mut self) -> Vec<ControlInfo> {
        vec![
            ControlInfo::new(
                "pcr-extend",
                "extend a sha256 PCR: 'N:HEX', N 0 to 23, HEX the 32-byte digest in 64 hex digits",
                Vec::<String>::new(),
            ),
            ControlInfo::new(
                "disk-key",
                "the disk key: 'seal' a new one to PCRs 0, 2, 3, 7 and write it to /keys/disk.key, \
                 'unseal' it there, 'commit' a staged update once its boot chain runs, \
                 'forget' the key file",
                DiskKeyAction::VALUES.to_vec(),
            ),
            ControlInfo::new(
                "stage-update",
                "seal the disk key to the current boot chain or an update's: 'N=HEX[,N=HEX...]', \
                 the PCRs of 0, 2, 3, 7 the update changes and their new values",
                Vec::<String>::new(),
            ),
        ]
    }

    fn set_control(&mut self, id: &str, value: &str) -> Result<()> {
        let tpm = self.tpm()?;
        match Control::parse(id, value)? {
            Control::PcrExtend { index, digest } => Ok(pcr::extend(tpm, index, &digest)?),
            Control::DiskKey(DiskKeyAction::Seal) => Ok(disk_key::seal_new(tpm)?),
            Control::DiskKey(DiskKeyAction::Unseal) => Ok(disk_key::unseal(tpm)?),
            Control::DiskKey(DiskKeyAction::Commit) => Ok(disk_key::commit(tpm)?),
            Control::DiskKey(DiskKeyAction::Forget) => Ok(disk_key::forget()?),
            Control::StageUpdate(changes) => Ok(disk_key::stage(tpm, &changes)?),
        }
    }

    fn self_check(&mut self) -> Result<()> {
        self.tpm().map(|_| ())
    }
}

osb_sdk::export_plugin!(HardwareAdapter for TpmAdapter);
