//! One TPM command: marshalled with tpm2-protocol, sent over the device
//! channel, and its response checked (size, code, shape) before a field
//! of it is read. Nothing in a response can panic the plugin: every length
//! is checked here or by tpm2-protocol, which refuses malformed input.

use tpm2_protocol::TpmWriter;
use tpm2_protocol::data::{TpmCc, TpmRc, TpmSt, TpmsAuthCommand};
use tpm2_protocol::frame::{TpmFrame, TpmResponse, TpmUnmarshalBody, tpm_marshal_command};

use crate::error::TpmError;

/// The largest command this plugin sends: NV_Write of one chunk
/// ([`crate::nv::CHUNK`] bytes) and its header, handles and session are
/// under 600 bytes; Create of a sealed key under 200.
const MAX_COMMAND: usize = 1024;

/// A TPM 2.0 response header: tag, size, response code.
const HEADER: usize = 10;

/// The TPM behind one device name.
///
/// A channel is opened per operation, not kept between calls: a
/// simulator's raw port serves one connection at a time, and another
/// client (tpm2-tools, the OS) may need it between two calls of this
/// plugin.
#[derive(Debug, Clone)]
pub struct Tpm {
    device: String,
    timeout_ms: u32,
}

impl Tpm {
    /// The TPM at device `device`, each command answered within `timeout_ms`.
    pub fn new(device: impl Into<String>, timeout_ms: u32) -> Tpm {
        Tpm {
            device: device.into(),
            timeout_ms,
        }
    }

    /// Sends `command` (with `sessions`, if any) on a channel of its own
    /// and returns its response.
    pub fn run<C: TpmFrame, R: TpmUnmarshalBody>(
        &self,
        command: &C,
        sessions: &[TpmsAuthCommand],
    ) -> Result<R, TpmError> {
        self.link().run(command, sessions)
    }

    /// A channel for a sequence of commands, opened with its first one.
    ///
    /// A sequence that loads objects keeps one channel: the kernel's
    /// resource manager (`/dev/tpmrm0`) flushes what a channel loaded when
    /// it closes, so a handle is only good on the channel that made it.
    pub fn link(&self) -> Link<'_> {
        Link {
            tpm: self,
            channel: None,
        }
    }
}

/// One channel to the TPM, opened when its first command is sent.
pub struct Link<'t> {
    tpm: &'t Tpm,
    channel: Option<osb_sdk::device::Channel>,
}

impl Link<'_> {
    /// Sends `command` (with `sessions`, if any) and returns its response.
    pub fn run<C: TpmFrame, R: TpmUnmarshalBody>(
        &mut self,
        command: &C,
        sessions: &[TpmsAuthCommand],
    ) -> Result<R, TpmError> {
        let name = command_name(command.cc());
        let bytes = marshal(command, sessions).map_err(|reason| TpmError::Marshal {
            command: name.clone(),
            reason,
        })?;
        let device_error = |error: osb_sdk::device::DeviceError| {
            let (reason, denied) = match error {
                osb_sdk::device::DeviceError::Denied(reason) => (reason, true),
                osb_sdk::device::DeviceError::Io(reason) => (reason, false),
                osb_sdk::device::DeviceError::Closed => ("channel closed".to_owned(), false),
            };
            TpmError::Device {
                command: name.clone(),
                reason,
                denied,
            }
        };
        let channel = match &mut self.channel {
            Some(channel) => channel,
            empty => empty.insert(osb_sdk::device::open(&self.tpm.device).map_err(device_error)?),
        };
        let response = channel
            .transact(&bytes, self.tpm.timeout_ms)
            .map_err(device_error)?;
        parse(&name, &response)
    }
}

/// The TCG name of a command code (`TPM_CC_PCR_Read`).
pub fn command_name(cc: TpmCc) -> String {
    cc.to_string()
}

fn marshal<C: TpmFrame>(command: &C, sessions: &[TpmsAuthCommand]) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; MAX_COMMAND];
    let tag = if sessions.is_empty() {
        TpmSt::NoSessions
    } else {
        TpmSt::Sessions
    };
    let mut writer = TpmWriter::new(&mut buf);
    tpm_marshal_command(command, tag, sessions, &mut writer).map_err(|e| e.to_string())?;
    let len = writer.len();
    buf.truncate(len);
    Ok(buf)
}

/// Checks a response to command `name` and reads it as `R`.
pub fn parse<R: TpmUnmarshalBody>(name: &str, bytes: &[u8]) -> Result<R, TpmError> {
    let malformed = |reason: String| TpmError::Malformed {
        command: name.to_owned(),
        reason,
    };
    let (size, code) = header(bytes).ok_or_else(|| {
        malformed(format!(
            "{} bytes, shorter than a response header",
            bytes.len()
        ))
    })?;
    if size as usize != bytes.len() {
        return Err(malformed(format!(
            "the header says {size} bytes, {} arrived",
            bytes.len()
        )));
    }
    if code != 0 {
        return Err(TpmError::Code {
            command: name.to_owned(),
            code,
            name: code_name(code),
        });
    }
    TpmResponse::cast(bytes)
        .and_then(|response| response.unmarshal::<R>())
        .map_err(|e| malformed(e.to_string()))
}

/// The size and response code of a response header, if there is one.
fn header(bytes: &[u8]) -> Option<(u32, u32)> {
    let head: &[u8; HEADER] = bytes.get(..HEADER)?.try_into().ok()?;
    let [_, _, s0, s1, s2, s3, c0, c1, c2, c3] = *head;
    Some((
        u32::from_be_bytes([s0, s1, s2, s3]),
        u32::from_be_bytes([c0, c1, c2, c3]),
    ))
}

/// The TCG name of a response code (`TPM_RC_OBJECT_MEMORY`), or `unknown`.
pub fn code_name(code: u32) -> String {
    TpmRc::try_from(code).map_or_else(|_| "unknown".to_owned(), |rc| rc.to_string())
}
