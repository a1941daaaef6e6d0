//! The sha256 PCR bank: TPM2_PCR_Read and TPM2_PCR_Extend.

use tpm2_protocol::basic::{TpmBuffer, TpmHandle};
use tpm2_protocol::data::{
    TpmAlgId, TpmCc, TpmRh, TpmaSession, TpmlDigestValues, TpmlPcrSelection, TpmsAuthCommand,
    TpmsPcrSelect, TpmsPcrSelection, TpmtHa, TpmuHa,
};
use tpm2_protocol::frame::{
    TpmPcrExtendCommand, TpmPcrExtendResponse, TpmPcrReadCommand, TpmPcrReadResponse,
};

use crate::command::{Tpm, command_name};
use crate::error::TpmError;

/// PCRs a PC client TPM has: 0 to 23.
pub const PCRS: u32 = 24;

/// A sha256 digest.
pub type Digest = [u8; 32];

/// PCR `index` of the sha256 bank.
pub fn read(tpm: &Tpm, index: u32) -> Result<Digest, TpmError> {
    let name = command_name(TpmCc::PcrRead);
    let malformed = |reason: String| TpmError::Malformed {
        command: name.clone(),
        reason,
    };
    let selection = selection(index).map_err(|reason| TpmError::Marshal {
        command: name.clone(),
        reason,
    })?;
    let command = TpmPcrReadCommand {
        handles: [],
        pcr_selection_in: selection,
    };
    let response: TpmPcrReadResponse = tpm.run(&command, &[])?;
    // A TPM leaves out what it does not have (the bank, the PCR): the
    // selection it answers for must be the one asked.
    if response.pcr_selection_out != selection {
        return Err(malformed(format!(
            "the TPM answered for another selection than sha256 PCR {index} (is the bank allocated?)"
        )));
    }
    match &response.pcr_values[..] {
        [value] => Digest::try_from(&value[..])
            .map_err(|_| malformed(format!("a {}-byte sha256 digest", value.len()))),
        values => Err(malformed(format!("{} digests for one PCR", values.len()))),
    }
}

/// Extends PCR `index` of the sha256 bank with `digest`, authorised by
/// the PCR's empty password (its default: PCRs have no auth value).
pub fn extend(tpm: &Tpm, index: u32, digest: &Digest) -> Result<(), TpmError> {
    let name = command_name(TpmCc::PcrExtend);
    check_index(index).map_err(|reason| TpmError::Marshal {
        command: name.clone(),
        reason,
    })?;
    let marshal = |e: tpm2_protocol::TpmError| TpmError::Marshal {
        command: name.clone(),
        reason: e.to_string(),
    };
    let mut value = TpmBuffer::new();
    value.try_extend_from_slice(digest).map_err(marshal)?;
    let mut digests = TpmlDigestValues::new();
    digests
        .try_push(TpmtHa {
            hash_alg: TpmAlgId::Sha256,
            digest: TpmuHa::Digest(value),
        })
        .map_err(marshal)?;
    let command = TpmPcrExtendCommand {
        handles: [TpmHandle::new(index)],
        digests,
    };
    let _: TpmPcrExtendResponse = tpm.run(&command, &[password_session()])?;
    Ok(())
}

/// The password session with an empty password (TPM_RS_PW).
fn password_session() -> TpmsAuthCommand {
    TpmsAuthCommand {
        session_handle: TpmHandle::new(TpmRh::Pw.value()),
        nonce: TpmBuffer::new(),
        session_attributes: TpmaSession::default(),
        hmac: TpmBuffer::new(),
    }
}

/// The selection of PCR `index` in the sha256 bank: a 3-byte bitmap,
/// PCR n at bit n % 8 of byte n / 8.
fn selection(index: u32) -> Result<TpmlPcrSelection, String> {
    check_index(index)?;
    let mut bitmap = [0u8; 3];
    let byte = (index / 8) as usize;
    if let Some(b) = bitmap.get_mut(byte) {
        *b = 1 << (index % 8);
    }
    let pcr_select = TpmsPcrSelect::try_from(&bitmap[..]).map_err(|e| e.to_string())?;
    let mut list = TpmlPcrSelection::new();
    list.try_push(TpmsPcrSelection {
        hash: TpmAlgId::Sha256,
        pcr_select,
    })
    .map_err(|e| e.to_string())?;
    Ok(list)
}

fn check_index(index: u32) -> Result<(), String> {
    if index < PCRS {
        Ok(())
    } else {
        Err(format!("no PCR {index}: PCRs are 0 to {}", PCRS - 1))
    }
}
