//! `Socket` on `wasi:sockets/udp`, for the component.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Instant;

use wasip2::clocks::monotonic_clock;
use wasip2::io::poll;
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasip2::sockets::udp::{
    IncomingDatagramStream, OutgoingDatagram, OutgoingDatagramStream, UdpSocket,
};
use wasip2::sockets::udp_create_socket::create_udp_socket;

use super::Family;

pub struct Socket {
    // Field order is drop order: the streams are children of the socket
    // and must go first.
    incoming: IncomingDatagramStream,
    outgoing: OutgoingDatagramStream,
    _socket: UdpSocket,
}

impl Socket {
    /// A socket on the unspecified address of `family` and an ephemeral port,
    /// not connected: each datagram names its destination.
    pub fn bind(family: Family) -> io::Result<Socket> {
        let (family, any) = match family {
            Family::V4 => (
                IpAddressFamily::Ipv4,
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            ),
            Family::V6 => (
                IpAddressFamily::Ipv6,
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            ),
        };
        let socket =
            create_udp_socket(family).map_err(|code| error("create a UDP socket", code))?;
        socket
            .start_bind(&instance_network(), wasi_addr(any))
            .map_err(|code| error("bind", code))?;
        loop {
            match socket.finish_bind() {
                Ok(()) => break,
                Err(ErrorCode::WouldBlock) => socket.subscribe().block(),
                Err(code) => return Err(error("bind", code)),
            }
        }
        let (incoming, outgoing) = socket
            .stream(None)
            .map_err(|code| error("open the datagram streams", code))?;
        Ok(Socket {
            incoming,
            outgoing,
            _socket: socket,
        })
    }

    pub fn send_to(&self, datagram: &[u8], to: SocketAddr) -> io::Result<()> {
        // Sending more than `check_send` permits traps: wait for a permit.
        loop {
            match self.outgoing.check_send() {
                Ok(0) => self.outgoing.subscribe().block(),
                Ok(_) => break,
                Err(code) => return Err(error("send", code)),
            }
        }
        let datagram = OutgoingDatagram {
            data: datagram.to_vec(),
            remote_address: Some(wasi_addr(to)),
        };
        match self.outgoing.send(&[datagram]) {
            Ok(1) => Ok(()),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "the datagram was not sent",
            )),
            Err(code) => Err(error("send", code)),
        }
    }

    /// The next datagram (cut at `max` bytes) and its source, or `None` if
    /// none arrived before `deadline`.
    pub fn receive_until(
        &self,
        max: usize,
        deadline: Instant,
    ) -> io::Result<Option<(Vec<u8>, SocketAddr)>> {
        loop {
            let mut datagrams = self
                .incoming
                .receive(1)
                .map_err(|code| error("receive", code))?;
            if let Some(datagram) = datagrams.pop() {
                let mut data = datagram.data;
                data.truncate(max);
                return Ok(Some((data, std_addr(datagram.remote_address))));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(None);
            }
            let arrived = self.incoming.subscribe();
            let timeout = monotonic_clock::subscribe_duration(
                u64::try_from(remaining.as_nanos()).unwrap_or(u64::MAX),
            );
            // Either a datagram is ready (read it above) or the time is up
            // (the next turn finds nothing and no time left).
            poll::poll(&[&arrived, &timeout]);
        }
    }
}

fn wasi_addr(addr: SocketAddr) -> IpSocketAddress {
    match addr {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: v4.port(),
                address: (a, b, c, d),
            })
        }
        SocketAddr::V6(v6) => {
            let [a, b, c, d, e, f, g, h] = v6.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: v6.port(),
                flow_info: v6.flowinfo(),
                address: (a, b, c, d, e, f, g, h),
                scope_id: v6.scope_id(),
            })
        }
    }
}

fn std_addr(addr: IpSocketAddress) -> SocketAddr {
    match addr {
        IpSocketAddress::Ipv4(v4) => {
            let (a, b, c, d) = v4.address;
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), v4.port)
        }
        IpSocketAddress::Ipv6(v6) => {
            let (a, b, c, d, e, f, g, h) = v6.address;
            let ip = Ipv6Addr::new(a, b, c, d, e, f, g, h);
            SocketAddrV6::new(ip, v6.port, v6.flow_info, v6.scope_id).into()
        }
    }
}

/// An `io::Error` of the kind `std` would give, naming what failed.
fn error(what: &str, code: ErrorCode) -> io::Error {
    let kind = match code {
        ErrorCode::AccessDenied => io::ErrorKind::PermissionDenied,
        ErrorCode::NotSupported => io::ErrorKind::Unsupported,
        ErrorCode::InvalidArgument => io::ErrorKind::InvalidInput,
        ErrorCode::WouldBlock => io::ErrorKind::WouldBlock,
        ErrorCode::Timeout => io::ErrorKind::TimedOut,
        ErrorCode::RemoteUnreachable => io::ErrorKind::HostUnreachable,
        ErrorCode::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        _ => io::ErrorKind::Other,
    };
    let why = match code {
        ErrorCode::AccessDenied => {
            "access denied (is the address in the plugin's net grant, protocol udp?)"
        }
        other => other.name(),
    };
    io::Error::new(kind, format!("failed to {what}: {why}"))
}
