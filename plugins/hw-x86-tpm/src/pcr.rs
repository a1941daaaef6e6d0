//! The sha256 PCR bank: TPM2_PCR_Read and TPM2_PCR_Extend.

use tpm2_protocol::basic::{TpmBuffer, TpmHandle};
use tpm2_protocol::data::{
    TpmAlgId, TpmCc, TpmRh, TpmaSession, TpmlDigestValues, TpmlPcrSelection, TpmsAuthCommand,
    TpmsPcrSelect, TpmsPcrSelection, TpmtHa, TpmuHa,
};
use tpm2_protocol::frame::{
    TpmPcrExtendCommand, TpmPcrExtendResponse, TpmPcrReadCommand, TpmPcrReadResponse,
};

use crate::command::{Link, Tpm, command_name};
use crate::error::TpmError;

/// PCRs a PC client TPM has: 0 to 23.
pub const PCRS: u32 = 24;

/// A sha256 digest.
pub type Digest = [u8; 32];

/// PCR `index` of the sha256 bank.
pub fn read(tpm: &Tpm, index: u32) -> Result<Digest, TpmError> {
    let values = read_set(&mut tpm.link(), &[index])?;
    match values[..] {
        [value] => Ok(value),
        // read_set answers one digest per PCR or an error.
        _ => Err(TpmError::Malformed {
            command: command_name(TpmCc::PcrRead),
            reason: format!("{} digests for one PCR", values.len()),
        }),
    }
}

/// PCRs `indices` (ascending, at most 8) of the sha256 bank, read by one
/// PCR_Read so that they are of one moment.
pub fn read_set(link: &mut Link, indices: &[u32]) -> Result<Vec<Digest>, TpmError> {
    let name = command_name(TpmCc::PcrRead);
    let malformed = |reason: String| TpmError::Malformed {
        command: name.clone(),
        reason,
    };
    let selection = selection(indices).map_err(|reason| TpmError::Marshal {
        command: name.clone(),
        reason,
    })?;
    let command = TpmPcrReadCommand {
        handles: [],
        pcr_selection_in: selection,
    };
    let response: TpmPcrReadResponse = link.run(&command, &[])?;
    // A TPM leaves out what it does not have (the bank, the PCR): the
    // selection it answers for must be the one asked.
    if response.pcr_selection_out != selection {
        return Err(malformed(format!(
            "the TPM answered for another selection than sha256 PCRs {indices:?} (is the bank allocated?)"
        )));
    }
    if response.pcr_values.len() != indices.len() {
        return Err(malformed(format!(
            "{} digests for {} PCRs",
            response.pcr_values.len(),
            indices.len()
        )));
    }
    response
        .pcr_values
        .iter()
        .map(|value| {
            Digest::try_from(&value[..])
                .map_err(|_| malformed(format!("a {}-byte sha256 digest", value.len())))
        })
        .collect()
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
pub fn password_session() -> TpmsAuthCommand {
    TpmsAuthCommand {
        session_handle: TpmHandle::new(TpmRh::Pw.value()),
        nonce: TpmBuffer::new(),
        session_attributes: TpmaSession::default(),
        hmac: TpmBuffer::new(),
    }
}

/// The selection of PCRs `indices` in the sha256 bank: a 3-byte bitmap,
/// PCR n at bit n % 8 of byte n / 8.
pub fn selection(indices: &[u32]) -> Result<TpmlPcrSelection, String> {
    let mut bitmap = [0u8; 3];
    for &index in indices {
        check_index(index)?;
        if let Some(b) = bitmap.get_mut((index / 8) as usize) {
            *b |= 1 << (index % 8);
        }
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
