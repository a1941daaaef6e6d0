//! `osb:plugin/device`: command/response transports to named devices.
//!
//! The device config maps a name to a character device or a Unix socket
//! (swtpm's, for instance); a plugin can open only names it was granted.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::component::Resource;

use super::StoreState;
use crate::plugin::wit::latest::host::osb::plugin::device::{DeviceError, Host, HostChannel};

const MAX_RESPONSE: usize = 64 * 1024;

/// One command in, one response out.
pub trait DeviceTransport: Send {
    fn transact(&mut self, command: &[u8], timeout: Duration) -> Result<Vec<u8>, String>;
}

/// Opens transports by device name.
pub trait DeviceProvider: Send + Sync {
    fn open(&self, name: &str) -> Result<Box<dyn DeviceTransport>, String>;
}

/// An open channel held in the instance's resource table.
pub struct Channel {
    name: String,
    transport: Box<dyn DeviceTransport>,
}

/// Where a named device lives, from the device config's `[devices]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum DeviceEndpoint {
    /// A character device, written then read (e.g. `/dev/tpmrm0`).
    Path(PathBuf),
    /// A Unix stream socket (e.g. swtpm's `--server type=unixio`).
    Socket(PathBuf),
}

/// The real devices of this machine.
#[derive(Debug, Clone, Default)]
pub struct DeviceTable(pub BTreeMap<String, DeviceEndpoint>);

impl DeviceProvider for DeviceTable {
    fn open(&self, name: &str) -> Result<Box<dyn DeviceTransport>, String> {
        match self.0.get(name) {
            None => Err(format!("device '{name}' is not configured on this device")),
            Some(DeviceEndpoint::Path(path)) => std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map(|f| Box::new(FileTransport(f)) as Box<dyn DeviceTransport>)
                .map_err(|e| format!("cannot open '{}': {e}", path.display())),
            Some(DeviceEndpoint::Socket(path)) => UnixStream::connect(path)
                .map(|s| Box::new(SocketTransport(s)) as Box<dyn DeviceTransport>)
                .map_err(|e| format!("cannot connect to '{}': {e}", path.display())),
        }
    }
}

struct FileTransport(std::fs::File);

impl DeviceTransport for FileTransport {
    fn transact(&mut self, command: &[u8], _timeout: Duration) -> Result<Vec<u8>, String> {
        self.0.write_all(command).map_err(|e| e.to_string())?;
        read_response(&mut self.0)
    }
}

struct SocketTransport(UnixStream);

impl DeviceTransport for SocketTransport {
    fn transact(&mut self, command: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        self.0
            .set_read_timeout(timeout)
            .map_err(|e| e.to_string())?;
        self.0
            .set_write_timeout(timeout)
            .map_err(|e| e.to_string())?;
        self.0.write_all(command).map_err(|e| e.to_string())?;
        read_response(&mut self.0)
    }
}

fn read_response(r: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; MAX_RESPONSE];
    let n = r.read(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(n);
    Ok(buf)
}

impl Host for StoreState {
    fn open(&mut self, name: String) -> wasmtime::Result<Result<Resource<Channel>, DeviceError>> {
        if !self.plugin.grants.allows_device(&name) {
            tracing::warn!(plugin = %self.plugin.name, device = %name, "device outside the plugin's grant refused");
            return Ok(Err(DeviceError::Denied(format!(
                "device '{name}' is not granted to this plugin"
            ))));
        }
        match self.plugin.services.devices.open(&name) {
            Ok(transport) => Ok(Ok(self.table.push(Channel { name, transport })?)),
            Err(e) => Ok(Err(DeviceError::Io(e))),
        }
    }
}

impl HostChannel for StoreState {
    fn name(&mut self, channel: Resource<Channel>) -> wasmtime::Result<String> {
        Ok(self.table.get(&channel)?.name.clone())
    }

    fn transact(
        &mut self,
        channel: Resource<Channel>,
        command: Vec<u8>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, DeviceError>> {
        let channel = self.table.get_mut(&channel)?;
        let timeout = Duration::from_millis(timeout_ms.into());
        Ok(channel
            .transport
            .transact(&command, timeout)
            .map_err(DeviceError::Io))
    }

    fn drop(&mut self, channel: Resource<Channel>) -> wasmtime::Result<()> {
        self.table.delete(channel)?;
        Ok(())
    }
}
