//! `Socket` on `std::net`, for native builds.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::Family;

pub struct Socket(UdpSocket);

impl Socket {
    /// A socket on the unspecified address of `family` and an ephemeral port.
    pub fn bind(family: Family) -> io::Result<Socket> {
        let any: SocketAddr = match family {
            Family::V4 => (Ipv4Addr::UNSPECIFIED, 0).into(),
            Family::V6 => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        UdpSocket::bind(any).map(Socket)
    }

    pub fn send_to(&self, datagram: &[u8], to: SocketAddr) -> io::Result<()> {
        self.0.send_to(datagram, to).map(drop)
    }

    /// The next datagram (cut at `max` bytes) and its source, or `None` if
    /// none arrived before `deadline`.
    pub fn receive_until(
        &self,
        max: usize,
        deadline: Instant,
    ) -> io::Result<Option<(Vec<u8>, SocketAddr)>> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        // A zero read timeout is refused; a millisecond is the least wait.
        self.0
            .set_read_timeout(Some(remaining.max(Duration::from_millis(1))))?;
        let mut buffer = vec![0u8; max];
        match self.0.recv_from(&mut buffer) {
            Ok((length, from)) => {
                buffer.truncate(length);
                Ok(Some((buffer, from)))
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }
}
