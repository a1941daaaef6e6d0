//! One NV index of the owner hierarchy, holding bytes that outlive the
//! plugin and a TPM reset: NV_ReadPublic, NV_DefineSpace,
//! NV_UndefineSpace (to define it again at another size), NV_Write and
//! NV_Read, each authorised by the owner's
//! (empty) password.

use tpm2_protocol::basic::{TpmHandle, TpmUint16};
use tpm2_protocol::data::{
    Tpm2bMaxNvBuffer, Tpm2bNvPublic, TpmAlgId, TpmCc, TpmRh, TpmaNv, TpmsNvPublic,
};
use tpm2_protocol::frame::{
    TpmNvDefineSpaceCommand, TpmNvDefineSpaceResponse, TpmNvReadCommand, TpmNvReadPublicCommand,
    TpmNvReadPublicResponse, TpmNvReadResponse, TpmNvUndefineSpaceCommand,
    TpmNvUndefineSpaceResponse, TpmNvWriteCommand, TpmNvWriteResponse,
};

use crate::command::{Link, command_name};
use crate::error::TpmError;
use crate::pcr::password_session;

/// How many bytes one NV_Read or NV_Write carries: the least a PC client
/// TPM must take (its TPM_PT_NV_BUFFER_MAX is at least 512; swtpm's is
/// 1024), so no GetCapability is needed first.
pub const CHUNK: usize = 512;

/// TPM_RC_HANDLE for the first handle: the index is not defined.
const RC_HANDLE_1: u32 = 0x18b;

/// An NV index, by its handle (`0x01500000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvIndex(pub u32);

impl NvIndex {
    /// The defined size of the index, or `None` when it is not defined.
    pub fn size(self, link: &mut Link) -> Result<Option<u16>, TpmError> {
        let command = TpmNvReadPublicCommand {
            handles: [TpmHandle::new(self.0)],
        };
        match link.run::<_, TpmNvReadPublicResponse>(&command, &[]) {
            Ok(response) => Ok(Some(response.nv_public.inner.data_size.value())),
            Err(TpmError::Code { code, .. }) if code == RC_HANDLE_1 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The whole contents of the index, `None` when it is not defined.
    pub fn read(self, link: &mut Link) -> Result<Option<Vec<u8>>, TpmError> {
        let Some(size) = self.size(link)? else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(usize::from(size));
        while bytes.len() < usize::from(size) {
            let want = (usize::from(size) - bytes.len()).min(CHUNK);
            let command = TpmNvReadCommand {
                handles: [owner(), TpmHandle::new(self.0)],
                size: TpmUint16::new(want as u16),
                offset: TpmUint16::new(bytes.len() as u16),
            };
            let response: TpmNvReadResponse = link.run(&command, &[password_session()])?;
            if response.data.len() != want {
                return Err(TpmError::Malformed {
                    command: command_name(TpmCc::NvRead),
                    reason: format!("{} bytes for {want} asked", response.data.len()),
                });
            }
            bytes.extend_from_slice(&response.data);
        }
        Ok(Some(bytes))
    }

    /// Stores `bytes` as the index's whole contents, defining it (or
    /// defining it again, when its size differs) to their size.
    pub fn write(self, link: &mut Link, bytes: &[u8]) -> Result<(), TpmError> {
        let name = command_name(TpmCc::NvDefineSpace);
        let size = u16::try_from(bytes.len()).map_err(|_| TpmError::Marshal {
            command: name.clone(),
            reason: format!("{} bytes do not fit an NV index", bytes.len()),
        })?;
        match self.size(link)? {
            Some(defined) if defined == size => {}
            Some(_) => {
                self.undefine(link)?;
                self.define(link, size)?;
            }
            None => self.define(link, size)?,
        }
        for (n, chunk) in bytes.chunks(CHUNK).enumerate() {
            let data = Tpm2bMaxNvBuffer::try_from(chunk).map_err(|e| TpmError::Marshal {
                command: command_name(TpmCc::NvWrite),
                reason: e.to_string(),
            })?;
            let command = TpmNvWriteCommand {
                handles: [owner(), TpmHandle::new(self.0)],
                data,
                offset: TpmUint16::new((n * CHUNK) as u16),
            };
            let _: TpmNvWriteResponse = link.run(&command, &[password_session()])?;
        }
        Ok(())
    }

    fn define(self, link: &mut Link, size: u16) -> Result<(), TpmError> {
        let public = TpmsNvPublic {
            nv_index: TpmHandle::new(self.0),
            name_alg: TpmAlgId::Sha256,
            // Read and written with the owner's authorisation only; no
            // dictionary-attack lockout, since the owner's password is
            // empty on a device that never took ownership.
            attributes: TpmaNv::OWNERWRITE | TpmaNv::OWNERREAD | TpmaNv::NO_DA,
            auth_policy: Default::default(),
            data_size: TpmUint16::new(size),
        };
        let command = TpmNvDefineSpaceCommand {
            handles: [owner()],
            auth: Default::default(),
            public_info: Tpm2bNvPublic { inner: public },
        };
        let _: TpmNvDefineSpaceResponse = link.run(&command, &[password_session()])?;
        Ok(())
    }

    fn undefine(self, link: &mut Link) -> Result<(), TpmError> {
        let command = TpmNvUndefineSpaceCommand {
            handles: [owner(), TpmHandle::new(self.0)],
        };
        let _: TpmNvUndefineSpaceResponse = link.run(&command, &[password_session()])?;
        Ok(())
    }
}

fn owner() -> TpmHandle {
    TpmHandle::new(TpmRh::Owner.value())
}
