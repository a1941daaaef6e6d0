//! TPM2_GetRandom.

use tpm2_protocol::basic::TpmUint16;
use tpm2_protocol::frame::{TpmGetRandomCommand, TpmGetRandomResponse};

use crate::command::{Link, Tpm, command_name};
use crate::error::TpmError;

/// How many commands one request may take: a TPM gives at most its
/// largest digest's size per command (32 bytes for sha256), and may give
/// fewer.
const MAX_ROUNDS: usize = 8;

/// `count` bytes from the TPM's random number generator.
pub fn random(tpm: &Tpm, count: usize) -> Result<Vec<u8>, TpmError> {
    random_on(&mut tpm.link(), count)
}

/// `count` bytes from the TPM's random number generator, on `link`.
pub fn random_on(link: &mut Link, count: usize) -> Result<Vec<u8>, TpmError> {
    let mut bytes = Vec::with_capacity(count);
    for _ in 0..MAX_ROUNDS {
        let wanted = count - bytes.len();
        if wanted == 0 {
            break;
        }
        let requested = u16::try_from(wanted).unwrap_or(u16::MAX);
        let command = TpmGetRandomCommand {
            handles: [],
            bytes_requested: TpmUint16::new(requested),
        };
        let response: TpmGetRandomResponse = link.run(&command, &[])?;
        let got: &[u8] = &response.random_bytes;
        if got.is_empty() || got.len() > wanted {
            return Err(TpmError::Malformed {
                command: command_name(tpm2_protocol::data::TpmCc::GetRandom),
                reason: format!("{} bytes for {wanted} requested", got.len()),
            });
        }
        bytes.extend_from_slice(got);
    }
    if bytes.len() != count {
        return Err(TpmError::Malformed {
            command: command_name(tpm2_protocol::data::TpmCc::GetRandom),
            reason: format!(
                "{} of {count} bytes after {MAX_ROUNDS} commands",
                bytes.len()
            ),
        });
    }
    Ok(bytes)
}
