//! `osb:plugin/device`: command/response transports to named devices.
//!
//! The device config maps a name to a character device, a Unix socket or a
//! loopback TCP port (swtpm's raw data port, for instance); a plugin can
//! open only names it was granted,
//! at most `channels` at once, and every exchange ends within the
//! plugin's own timeout and what is left of the call's deadline, whichever
//! is sooner: a device that never answers costs the call, not the host.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
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

/// A TPM 2.0 response header: tag (2 bytes), size (4, big endian, the
/// whole response), response code (4).
const TPM_HEADER: usize = 10;

/// How long a TCP connect may take. Only loopback is allowed, where a
/// listener answers at once or refuses; a full backlog must not hold the
/// call.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

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
    /// A Unix stream socket (e.g. swtpm's `--server type=unixio`). A
    /// stream has no message boundaries, so a response is read as a TPM
    /// 2.0 response: exactly the size its header gives.
    Socket(PathBuf),
    /// A TCP port on a loopback address (e.g. swtpm's `--server
    /// type=tcp`, which tpm2-tools' `swtpm` TCTI also reaches), framed as
    /// `Socket` is. Any other address is refused when opened: a device is
    /// on this machine.
    Tcp(SocketAddr),
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
                    Ok(Box::new(StreamTransport(s)) as Box<dyn DeviceTransport>)
                })
                .map_err(|e| format!("cannot connect to '{}': {e}", path.display())),
            Some(DeviceEndpoint::Tcp(addr)) if !addr.ip().is_loopback() => Err(format!(
                "device '{name}' is at {addr}, not a loopback address; devices are local"
            )),
            Some(DeviceEndpoint::Tcp(addr)) => TcpStream::connect_timeout(addr, CONNECT_TIMEOUT)
                .and_then(|s| {
                    // A command is one write; waiting to batch it only
                    // delays the answer.
                    s.set_nodelay(true)?;
                    s.set_nonblocking(true)?;
                    Ok(Box::new(StreamTransport(s)) as Box<dyn DeviceTransport>)
                })
                .map_err(|e| format!("cannot connect to {addr}: {e}")),
        }
    }
}

struct FileTransport(std::fs::File);

impl DeviceTransport for FileTransport {
    fn transact(&mut self, command: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
        let until = Instant::now() + timeout;
        send(&mut self.0, command, until, timeout)?;
        read_once(&mut self.0, until, timeout)
    }
}

/// A Unix or TCP stream: one response is read by the size its header
/// declares.
struct StreamTransport<S>(S);

impl<S: Read + Write + AsFd + Send> DeviceTransport for StreamTransport<S> {
    fn transact(&mut self, command: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
        let until = Instant::now() + timeout;
        send(&mut self.0, command, until, timeout)?;
        read_tpm_response(&mut self.0, until, timeout)
    }
}

/// Writes all of `command` on a non-blocking descriptor, waiting with
/// `poll` and never past `until`.
fn send(
    io: &mut (impl Write + AsFd),
    command: &[u8],
    until: Instant,
    timeout: Duration,
) -> Result<(), String> {
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
    Ok(())
}

/// Reads one response from a character device: the kernel hands over a
/// whole response in one read (`/dev/tpmrm0`), as a sysfs-style file does.
fn read_once(
    io: &mut (impl Read + AsFd),
    until: Instant,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
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

/// Reads exactly one TPM 2.0 response from a stream: the header, then the
/// rest of the size it declares, and not a byte more (the next response's
/// bytes stay in the stream). A size below the header or above
/// `MAX_RESPONSE`, or the peer closing early, is an error.
fn read_tpm_response(
    io: &mut (impl Read + AsFd),
    until: Instant,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; TPM_HEADER];
    let mut got = 0;
    while got < buf.len() {
        match io.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(format!(
                    "the device closed the connection after {got} of {} bytes",
                    buf.len()
                ));
            }
            Ok(n) => {
                got += n;
                if got == TPM_HEADER {
                    let size = declared_size(&buf)?;
                    buf.resize(size, 0);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => wait(io, PollFlags::IN, until, timeout)?,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(buf)
}

/// The size a TPM response header declares, checked against the header
/// itself and `MAX_RESPONSE`.
fn declared_size(header: &[u8]) -> Result<usize, String> {
    let bytes: [u8; 4] = header
        .get(2..6)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "a TPM response header is 10 bytes".to_owned())?;
    let size = u32::from_be_bytes(bytes) as usize;
    if !(TPM_HEADER..=MAX_RESPONSE).contains(&size) {
        return Err(format!(
            "the device's response declares {size} bytes, outside {TPM_HEADER}..={MAX_RESPONSE}"
        ));
    }
    Ok(size)
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::os::unix::net::UnixListener;
    use std::thread;

    use super::*;

    /// A TPM-shaped response of `size` bytes: tag, size, code 0, filler.
    fn response(size: u32, fill: u8) -> Vec<u8> {
        let mut r = vec![0x80, 0x01];
        r.extend_from_slice(&size.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0]);
        r.resize(size as usize, fill);
        r
    }

    fn table(name: &str, endpoint: DeviceEndpoint) -> DeviceTable {
        DeviceTable([(name.to_owned(), endpoint)].into())
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_socket_response_is_read_by_its_declared_size_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tpm.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let first = response(30, 0xaa);
        let second = response(12, 0xbb);
        let (a, b) = (first.clone(), second.clone());
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut command = [0u8; 4];
            s.read_exact(&mut command).unwrap();
            // The header split, the body late, the next response's bytes
            // right behind it: only the first 30 bytes are this answer.
            s.write_all(&a[..3]).unwrap();
            thread::sleep(Duration::from_millis(30));
            s.write_all(&a[3..20]).unwrap();
            thread::sleep(Duration::from_millis(30));
            let mut rest = a[20..].to_vec();
            rest.extend_from_slice(&b);
            s.write_all(&rest).unwrap();
            s.read_exact(&mut command).unwrap();
        });
        let mut t = table("tpm0", DeviceEndpoint::Socket(path))
            .open("tpm0")
            .unwrap();
        assert_eq!(t.transact(b"cmd1", SECOND).unwrap(), first);
        assert_eq!(t.transact(b"cmd2", SECOND).unwrap(), second);
        server.join().unwrap();
    }

    #[test]
    fn a_declared_size_outside_the_bounds_is_refused() {
        for (size, expect) in [(9u32, "declares 9 bytes"), (1 << 20, "declares 1048576")] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut command = [0u8; 4];
                s.read_exact(&mut command).unwrap();
                let mut header = vec![0x80, 0x01];
                header.extend_from_slice(&size.to_be_bytes());
                header.extend_from_slice(&[0, 0, 0, 0]);
                let _ = s.write_all(&header);
                thread::sleep(Duration::from_millis(200));
            });
            let mut t = table("tpm0", DeviceEndpoint::Tcp(addr))
                .open("tpm0")
                .unwrap();
            let err = t.transact(b"cmd1", SECOND).unwrap_err();
            assert!(err.contains(expect), "{err}");
        }
    }

    #[test]
    fn a_peer_that_closes_mid_response_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut command = [0u8; 4];
            s.read_exact(&mut command).unwrap();
            s.write_all(&response(30, 1)[..6]).unwrap();
        });
        let mut t = table("tpm0", DeviceEndpoint::Tcp(addr))
            .open("tpm0")
            .unwrap();
        let err = t.transact(b"cmd1", SECOND).unwrap_err();
        assert!(err.contains("closed the connection after 6 of 10"), "{err}");
    }

    #[test]
    fn a_tcp_device_that_accepts_and_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming().flatten() {
                held.push(s);
            }
        });
        let mut t = table("tpm0", DeviceEndpoint::Tcp(addr))
            .open("tpm0")
            .unwrap();
        let started = Instant::now();
        let err = t.transact(b"cmd1", Duration::from_millis(200)).unwrap_err();
        let took = started.elapsed();
        assert!(err.contains("did not answer within 200 ms"), "{err}");
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_millis(700),
            "{took:?}"
        );
    }

    #[test]
    fn a_tcp_device_off_loopback_is_refused_without_connecting() {
        for addr in ["192.0.2.1:2321", "[2001:db8::1]:2321", "0.0.0.0:2321"] {
            let t = table("tpm0", DeviceEndpoint::Tcp(addr.parse().unwrap()));
            let err = t.open("tpm0").err().unwrap();
            assert!(err.contains("not a loopback address"), "{addr}: {err}");
        }
        let t = table("tpm0", DeviceEndpoint::Tcp("[::1]:1".parse().unwrap()));
        let err = t.open("tpm0").err().unwrap();
        assert!(err.contains("cannot connect"), "{err}");
    }

    #[test]
    fn the_tcp_endpoint_reads_from_the_device_config() {
        let parsed: BTreeMap<String, DeviceEndpoint> =
            toml::from_str("tpm0 = { tcp = \"127.0.0.1:2321\" }").unwrap();
        assert_eq!(
            parsed["tpm0"],
            DeviceEndpoint::Tcp("127.0.0.1:2321".parse().unwrap())
        );
    }
}
