//! `osb:plugin/device`: command/response transports to named devices.
//!
//! The device config maps a name to a character device or a Unix socket
//! (swtpm's, for instance); a plugin can open only names it was granted,
//! at most `channels` at once, and every exchange ends within the
//! plugin's own timeout and what is left of the call's deadline, whichever
//! is sooner: a device that never answers costs the call, not the host.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use serde::{Deserialize, Serialize};
use wasmtime::component::Resource;

use super::StoreState;
use crate::wit::latest::host::osb::plugin::device::{DeviceError, Host, HostChannel};

const MAX_RESPONSE: usize = 64 * 1024;

/// One command in, one response out.
pub trait DeviceTransport: Send {
    /// Sends `command` and returns the response, waiting `timeout` at most
    /// in all. An `Err` reaches the guest as the `io` device error.
    fn transact(&mut self, command: &[u8], timeout: Duration) -> Result<Vec<u8>, String>;
}

/// Opens transports by device name.
pub trait DeviceProvider: Send + Sync {
    /// A transport to the device `name`. The grant and the channel quota
    /// are checked before this is called; an `Err` (say, a name not
    /// configured on this device) reaches the guest as the `io` device
    /// error.
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
            // Non-blocking, so that every wait is a poll with a timeout.
            Some(DeviceEndpoint::Path(path)) => std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(path)
                .map(|f| Box::new(FileTransport(f)) as Box<dyn DeviceTransport>)
                .map_err(|e| format!("cannot open '{}': {e}", path.display())),
            // A listener that does not accept in time (its backlog full)
            // answers at once rather than holding the call.
            Some(DeviceEndpoint::Socket(path)) => UnixStream::connect(path)
                .and_then(|s| {
                    s.set_nonblocking(true)?;
                    Ok(Box::new(SocketTransport(s)) as Box<dyn DeviceTransport>)
                })
                .map_err(|e| format!("cannot connect to '{}': {e}", path.display())),
        }
    }
}

struct FileTransport(std::fs::File);

impl DeviceTransport for FileTransport {
    fn transact(&mut self, command: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
        exchange(&mut self.0, command, timeout)
    }
}

struct SocketTransport(UnixStream);

impl DeviceTransport for SocketTransport {
    fn transact(&mut self, command: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
        exchange(&mut self.0, command, timeout)
    }
}

/// Writes `command` and reads one response, on a non-blocking descriptor,
/// waiting with `poll` and never past `timeout` in all.
fn exchange(
    io: &mut (impl Read + Write + AsFd),
    command: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let until = Instant::now() + timeout;
    let mut written = 0;
    while written < command.len() {
        match io.write(&command[written..]) {
            Ok(0) => return Err("the device accepts no more input".to_owned()),
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait(io, PollFlags::OUT, until, timeout)?
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut buf = vec![0u8; MAX_RESPONSE];
    loop {
        match io.read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => wait(io, PollFlags::IN, until, timeout)?,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Waits until `fd` is ready for `events`, or `until` (the end of the
/// exchange's `timeout`) passes.
fn wait(
    fd: &impl AsFd,
    events: PollFlags,
    until: Instant,
    timeout: Duration,
) -> Result<(), String> {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(format!(
            "the device did not answer within {} ms",
            timeout.as_millis()
        ));
    }
    let timeout = rustix::time::Timespec::try_from(left).map_err(|e| e.to_string())?;
    let mut fds = [PollFd::new(fd, events)];
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(_) => Ok(()),
        Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

impl Host for StoreState {
    fn open(&mut self, name: String) -> wasmtime::Result<Result<Resource<Channel>, DeviceError>> {
        if !self.plugin.grants.allows_device(&name) {
            tracing::warn!(plugin = %self.plugin.name, device = %name, "device outside the plugin's grant refused");
            return Ok(Err(DeviceError::Denied(format!(
                "device '{name}' is not granted to this plugin"
            ))));
        }
        let limit = self.plugin.limits.channels;
        if self.channels >= limit {
            tracing::warn!(plugin = %self.plugin.name, device = %name, limit, "plugin channel quota reached; device open refused");
            return Ok(Err(DeviceError::Denied(format!(
                "{limit} device channels are open already (the plugin's channels limit)"
            ))));
        }
        match self.plugin.services.devices.open(&name) {
            Ok(transport) => {
                let channel = self.table.push(Channel { name, transport })?;
                self.channels += 1;
                Ok(Ok(channel))
            }
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
        let timeout = Duration::from_millis(timeout_ms.into()).min(self.remaining());
        let channel = self.table.get_mut(&channel)?;
        let started = Instant::now();
        let answer = channel.transport.transact(&command, timeout);
        self.waited += started.elapsed();
        Ok(answer.map_err(DeviceError::Io))
    }

    fn drop(&mut self, channel: Resource<Channel>) -> wasmtime::Result<()> {
        self.table.delete(channel)?;
        self.channels = self.channels.saturating_sub(1);
        Ok(())
    }
}
