//! A UDP socket that can wait for a datagram until a deadline.
//!
//! On `wasm32-wasip2`, `std::net::UdpSocket` binds, sends and receives, but
//! cannot time a receive out: `set_read_timeout` fails with `ENOPROTOOPT`
//! (wasi-libc has no `SO_RCVTIMEO` for UDP), and a receive without a timeout
//! would block past the call deadline when a server stays silent. So the
//! component talks to `wasi:sockets/udp` directly and waits on the
//! datagram stream's pollable together with a monotonic-clock pollable.
//! Native builds (unit tests, `cargo clippy`) use `std::net` instead, where
//! read timeouts work.

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(target_arch = "wasm32")]
mod wasi;

#[cfg(not(target_arch = "wasm32"))]
pub use native::Socket;
#[cfg(target_arch = "wasm32")]
pub use wasi::Socket;

/// The IP version of a socket, which must match every address it talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: std::net::SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}
