//! What can go wrong speaking to the TPM, each naming the command.

use osb_sdk::PluginError;

/// A TPM command that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TpmError {
    /// The channel failed: not granted, not configured, closed, or no
    /// answer within the timeout.
    #[error("{command}: the TPM channel failed: {reason}")]
    Device {
        /// The command, as the TCG names it (`TPM_CC_GetRandom`).
        command: String,
        /// The host's reason.
        reason: String,
        /// Whether the device was refused (a grant) rather than failing.
        denied: bool,
    },
    /// The command could not be marshalled (a bug, or an argument out of
    /// what the TPM types hold).
    #[error("{command}: cannot marshal the command: {reason}")]
    Marshal {
        /// The command.
        command: String,
        /// What tpm2-protocol said.
        reason: String,
    },
    /// The TPM answered with a response code other than success.
    #[error("{command}: the TPM answered {code:#010x} ({name})")]
    Code {
        /// The command.
        command: String,
        /// The raw response code.
        code: u32,
        /// Its TCG name, or `unknown` for a code tpm2-protocol does not know.
        name: String,
    },
    /// The answer is not a well-formed response to the command.
    #[error("{command}: malformed response: {reason}")]
    Malformed {
        /// The command.
        command: String,
        /// What was wrong with it.
        reason: String,
    },
}

impl TpmError {
    /// The raw response code, when the TPM answered one.
    pub fn code(&self) -> Option<u32> {
        match self {
            TpmError::Code { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<TpmError> for PluginError {
    fn from(error: TpmError) -> Self {
        let message = error.to_string();
        match error {
            TpmError::Device { denied: true, .. } => PluginError::permission_denied(message),
            TpmError::Device { .. } => PluginError::unavailable(message),
            TpmError::Marshal { .. } => PluginError::internal(message),
            TpmError::Code { .. } | TpmError::Malformed { .. } => {
                PluginError::invalid_input(message)
            }
        }
    }
}
