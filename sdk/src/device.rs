//! A command/response transport to one named device, such as a TPM
//! (capability `device`: a list of device names).

use crate::__private::bindings::host::osb::plugin::device as wit;
use crate::PluginError;

/// An open channel to a device: [`Channel::transact`] sends one command and
/// waits for its response. Dropping the channel closes it.
pub use wit::Channel;

/// Why a device call failed: `Denied` (device not granted), `Io` or `Closed`.
pub use wit::DeviceError;

/// Opens a channel to the device called `name`.
pub fn open(name: &str) -> Result<Channel, DeviceError> {
    wit::open(name)
}

impl From<DeviceError> for PluginError {
    /// Lets `?` turn a device failure into a plugin error.
    fn from(error: DeviceError) -> Self {
        match error {
            DeviceError::Denied(reason) => {
                PluginError::permission_denied(format!("device access denied: {reason}"))
            }
            DeviceError::Io(reason) => {
                PluginError::unavailable(format!("device i/o failed: {reason}"))
            }
            DeviceError::Closed => PluginError::unavailable("device channel closed"),
        }
    }
}
