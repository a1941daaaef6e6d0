//! The disk-encryption key: sealed to PCRs 0, 2, 3 and 7, kept in NV,
//! unsealed into the granted key directory for cryptsetup, and re-sealed
//! in two stages across an OS update (as balenaOS does): first to either
//! boot chain, then, once the new one has booted, to it alone.
//!
//! The key is never logged and never written anywhere but
//! [`KEY_FILE`], inside the `fs` grant of `/keys`.

use tpm2_protocol::data::TpmCc;

use crate::command::{Link, Tpm, command_name};
use crate::error::TpmError;
use crate::nv::NvIndex;
use crate::pcr::{self, Digest};
use crate::policy::{self, PcrValues, SEALED_PCRS};
use crate::random;
use crate::record::{BadRecord, Record, State};
use crate::seal::{self, Policy};

/// Where the sealed key is kept: the first index of the owner's range
/// (TCG's handle registry gives 0x01500000 onwards to the owner).
pub const NV_INDEX: NvIndex = NvIndex(0x0150_0000);

/// The unsealed key, in the key directory's grant (`/keys`).
pub const KEY_FILE: &str = "/keys/disk.key";

/// Where a key is written before it is renamed into place, so that a
/// reader never finds half a key.
const KEY_FILE_NEW: &str = "/keys/.disk.key.new";

/// Bytes in a disk key: 256 bits, from the TPM's generator.
pub const KEY_BYTES: usize = 32;

/// What the NV index holds, as the `disk-key` sensor says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No key sealed (0).
    None,
    /// Sealed to one set of PCR values (1).
    Sealed,
    /// Staged for an update: either boot chain unseals it (2).
    Staged,
}

impl Status {
    /// The sensor's reading.
    pub fn reading(self) -> f64 {
        match self {
            Status::None => 0.0,
            Status::Sealed => 1.0,
            Status::Staged => 2.0,
        }
    }
}

/// Why a disk-key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A TPM command failed.
    #[error(transparent)]
    Tpm(#[from] TpmError),
    /// The TPM refused to unseal: the PCRs are not what the key was sealed
    /// to (another boot chain, or a PCR extended since boot).
    #[error(
        "the disk key does not unseal: PCRs 0, 2, 3 and 7 do not hold the values it was sealed to ({0})"
    )]
    Refused(TpmError),
    /// Nothing is sealed in the NV index.
    #[error("no disk key is sealed in NV index {index:#010x}: seal one first", index = NV_INDEX.0)]
    NotSealed,
    /// The NV index holds something else.
    #[error("NV index {index:#010x}: {0}", index = NV_INDEX.0)]
    Record(#[from] BadRecord),
    /// The unsealed secret is not a key.
    #[error("the unsealed disk key is {0} bytes, not {KEY_BYTES}")]
    Length(usize),
    /// Commit on the old boot chain.
    #[error(
        "the update is not committed: PCRs 0, 2, 3 and 7 hold the old boot chain's values; boot the update first"
    )]
    OldChain,
    /// The key file could not be written or removed.
    #[error("{path}: {reason}")]
    KeyFile {
        /// The file, as the plugin sees it.
        path: String,
        /// What the host said.
        reason: String,
    },
}

impl From<KeyError> for osb_sdk::PluginError {
    fn from(error: KeyError) -> Self {
        let message = error.to_string();
        match error {
            KeyError::Tpm(e) => e.into(),
            KeyError::Refused(_) => osb_sdk::PluginError::permission_denied(message),
            KeyError::NotSealed | KeyError::OldChain => {
                osb_sdk::PluginError::invalid_input(message)
            }
            KeyError::Record(_) | KeyError::Length(_) => {
                osb_sdk::PluginError::invalid_input(message)
            }
            KeyError::KeyFile { .. } => osb_sdk::PluginError::unavailable(message),
        }
    }
}

/// What the NV index holds.
pub fn status(tpm: &Tpm) -> Result<Status, KeyError> {
    Ok(match load(&mut tpm.link())? {
        None => Status::None,
        Some(Record {
            state: State::Sealed,
            ..
        }) => Status::Sealed,
        Some(Record {
            state: State::Staged { .. },
            ..
        }) => Status::Staged,
    })
}

// Each operation runs on one channel: a simulator's port serves one
// channel at a time, so a second one opened before the first closes
// would wait for it until its timeout.

/// Seals a new random key to the current PCRs, keeps it in NV (replacing
/// any key there) and writes it to the key file.
pub fn seal_new(tpm: &Tpm) -> Result<(), KeyError> {
    let mut link = tpm.link();
    let key = random::random_on(&mut link, KEY_BYTES)?;
    let current = current_values(&mut link)?;
    let sealed = seal::seal(&mut link, &key, &policy::pcr_policy(&current))?;
    store(
        &mut link,
        &Record {
            state: State::Sealed,
            sealed,
        },
    )?;
    write_key(&key)
}

/// Unseals the key into the key file. When the TPM refuses, the key file
/// is removed: a key left from before must not outlive the boot chain
/// that unsealed it.
pub fn unseal(tpm: &Tpm) -> Result<(), KeyError> {
    match unseal_key(&mut tpm.link()) {
        Ok(key) => write_key(&key),
        Err(e) => {
            remove_key()?;
            Err(e)
        }
    }
}

/// Re-seals the key so that both the current boot chain and the one
/// whose PCRs differ by `changes` (PCR, value) unseal it.
pub fn stage(tpm: &Tpm, changes: &[(u32, Digest)]) -> Result<(), KeyError> {
    let mut link = tpm.link();
    let key = unseal_key(&mut link)?;
    let current = current_values(&mut link)?;
    let mut next = current;
    for (pcr, value) in changes {
        if let Some(i) = SEALED_PCRS.iter().position(|p| p == pcr)
            && let Some(slot) = next.get_mut(i)
        {
            *slot = *value;
        }
    }
    let old = policy::pcr_policy(&current);
    let new = policy::pcr_policy(&next);
    let sealed = seal::seal(&mut link, &key, &policy::or_policy(&[old, new]))?;
    store(
        &mut link,
        &Record {
            state: State::Staged { old, new },
            sealed,
        },
    )
}

/// Narrows a staged key to the new boot chain, which must be the current
/// one. A key that is not staged is left as it is.
pub fn commit(tpm: &Tpm) -> Result<(), KeyError> {
    let mut link = tpm.link();
    let Some(record) = load(&mut link)? else {
        return Err(KeyError::NotSealed);
    };
    let State::Staged { new, .. } = record.state else {
        return Ok(());
    };
    let key = unseal_record(&mut link, &record)?;
    let current = policy::pcr_policy(&current_values(&mut link)?);
    // Unseal succeeded, so the current values are one branch or the other.
    if current != new {
        return Err(KeyError::OldChain);
    }
    let sealed = seal::seal(&mut link, &key, &current)?;
    store(
        &mut link,
        &Record {
            state: State::Sealed,
            sealed,
        },
    )
}

/// Removes the key file; the sealed key stays in NV.
pub fn forget() -> Result<(), KeyError> {
    remove_key()
}

fn unseal_key(link: &mut Link) -> Result<Vec<u8>, KeyError> {
    let record = load(link)?.ok_or(KeyError::NotSealed)?;
    unseal_record(link, &record)
}

fn unseal_record(link: &mut Link, record: &Record) -> Result<Vec<u8>, KeyError> {
    let branches;
    let policy = match &record.state {
        State::Sealed => Policy::Pcr,
        State::Staged { old, new } => {
            branches = [*old, *new];
            Policy::PcrOr(&branches)
        }
    };
    let key = seal::unseal(link, &record.sealed, policy).map_err(refusal)?;
    if key.len() != KEY_BYTES {
        return Err(KeyError::Length(key.len()));
    }
    Ok(key)
}

/// TPM_RC_POLICY_FAIL at Unseal (the PCRs changed), or TPM_RC_VALUE at
/// PolicyOR (the current values are in no branch): the policy refuses.
fn refusal(error: TpmError) -> KeyError {
    // A format-one code: bit 7 set, the error number in bits 0 to 5, the
    // parameter, handle or session it concerns above them.
    const FORMAT_ONE: u32 = 0x080;
    const POLICY_FAIL: u32 = 0x01d;
    const VALUE: u32 = 0x004;
    let refused = match &error {
        TpmError::Code { command, code, .. } if code & FORMAT_ONE != 0 => {
            let number = code & 0x03f;
            (number == POLICY_FAIL && *command == command_name(TpmCc::Unseal))
                || (number == VALUE && *command == command_name(TpmCc::PolicyOr))
        }
        _ => false,
    };
    if refused {
        KeyError::Refused(error)
    } else {
        KeyError::Tpm(error)
    }
}

fn current_values(link: &mut Link) -> Result<PcrValues, KeyError> {
    let values = pcr::read_set(link, &SEALED_PCRS)?;
    values.try_into().map_err(|values: Vec<Digest>| {
        KeyError::Tpm(TpmError::Malformed {
            command: command_name(TpmCc::PcrRead),
            reason: format!("{} digests for {} PCRs", values.len(), SEALED_PCRS.len()),
        })
    })
}

fn load(link: &mut Link) -> Result<Option<Record>, KeyError> {
    let Some(bytes) = NV_INDEX.read(link)? else {
        return Ok(None);
    };
    Record::from_bytes(&bytes)
        .map(Some)
        .map_err(KeyError::Record)
}

fn store(link: &mut Link, record: &Record) -> Result<(), KeyError> {
    let bytes = record.to_bytes()?;
    Ok(NV_INDEX.write(link, &bytes)?)
}

/// Writes the key file through a temporary name. WASI sets no file mode:
/// the key directory itself must be private to root (a tmpfs with mode
/// 0700, such as /run/osb/keys), which the device config's grant names.
fn write_key(key: &[u8]) -> Result<(), KeyError> {
    let failed = |path: &str, e: std::io::Error| KeyError::KeyFile {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    std::fs::write(KEY_FILE_NEW, key).map_err(|e| failed(KEY_FILE_NEW, e))?;
    std::fs::rename(KEY_FILE_NEW, KEY_FILE).map_err(|e| failed(KEY_FILE, e))
}

fn remove_key() -> Result<(), KeyError> {
    for path in [KEY_FILE, KEY_FILE_NEW] {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(KeyError::KeyFile {
                    path: path.to_owned(),
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(())
}
