//! One round of requests over UDP: a request to every server at once, then
//! replies until each server has answered or the timeout has passed.
//!
//! All requests go out before any reply is awaited, so a sample takes at
//! most the timeout however many servers are silent. One socket per address
//! family, bound to the unspecified address and an ephemeral port (the only
//! binding the host allows), sends to each server with `send_to`.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use thiserror::Error;
use time_bounds::Nanos;
use time_bounds::clock::wall_now;

use crate::packet::{self, Refusal, Reply, WireTime};
use crate::udp::{Family, Socket};

/// Larger datagrams are cut here: a reply is 48 bytes plus extensions the
/// plugin does not read.
const MAX_DATAGRAM: usize = 1_024;

/// An accepted reply with our clock readings around it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    pub reply: Reply,
    /// T1, the host's wall clock just before sending.
    pub sent: Nanos,
    /// T4, the host's wall clock just after receiving.
    pub received: Nanos,
}

/// Why a server gave no accepted reply.
#[derive(Debug, Error)]
pub enum Failure {
    #[error("cannot send to it: {0}")]
    Send(io::Error),
    #[error("cannot receive: {0}")]
    Receive(io::Error),
    #[error("no reply within {} ms", .0.as_millis())]
    Silent(Duration),
    #[error("{0}")]
    Refused(Refusal),
}

/// Asks every server in `servers` once and waits up to `timeout` for the
/// replies. Returns one outcome per server, in order.
pub fn query(
    servers: &[SocketAddr],
    timeout: Duration,
) -> Vec<(SocketAddr, Result<Exchange, Failure>)> {
    let deadline = Instant::now() + timeout;
    let mut outcomes: BTreeMap<SocketAddr, Result<Exchange, Failure>> = BTreeMap::new();
    for family in [Family::V4, Family::V6] {
        let ours: Vec<SocketAddr> = servers
            .iter()
            .copied()
            .filter(|server| Family::of(*server) == family)
            .collect();
        if !ours.is_empty() {
            outcomes.extend(query_family(family, &ours, timeout, deadline));
        }
    }
    servers
        .iter()
        .filter_map(|server| outcomes.remove(server).map(|outcome| (*server, outcome)))
        .collect()
}

/// A request in flight.
struct Pending {
    transmit: WireTime,
    sent: Nanos,
    /// The last datagram from the server that was refused before it could
    /// be told apart from a forgery; reported if nothing better arrives.
    refused: Option<Refusal>,
}

fn query_family(
    family: Family,
    servers: &[SocketAddr],
    timeout: Duration,
    deadline: Instant,
) -> Vec<(SocketAddr, Result<Exchange, Failure>)> {
    let mut outcomes = Vec::new();
    let socket = match Socket::bind(family) {
        Ok(socket) => socket,
        Err(error) => {
            // Shared by every server of the family: each reports it.
            for server in servers {
                let error = io::Error::new(error.kind(), error.to_string());
                outcomes.push((*server, Err(Failure::Send(error))));
            }
            return outcomes;
        }
    };
    let mut pending: BTreeMap<SocketAddr, Pending> = BTreeMap::new();
    for server in servers {
        let sent = wall_now();
        let transmit = WireTime::from_unix(sent);
        match socket.send_to(&packet::request(transmit), *server) {
            Ok(()) => {
                pending.insert(
                    *server,
                    Pending {
                        transmit,
                        sent,
                        refused: None,
                    },
                );
            }
            Err(error) => outcomes.push((*server, Err(Failure::Send(error)))),
        }
    }
    // Past the deadline, replies that came while the other family's socket
    // was read may still wait in this one: read what is there, but no more
    // datagrams than there are servers, so a flood cannot keep us here.
    let mut late_reads = servers.len();
    while !pending.is_empty() {
        if Instant::now() >= deadline {
            if late_reads == 0 {
                break;
            }
            late_reads -= 1;
        }
        let (datagram, from) = match socket.receive_until(MAX_DATAGRAM, deadline) {
            Ok(Some(received)) => received,
            Ok(None) => break,
            Err(error) => {
                return fail_pending(outcomes, pending, |_| Failure::Receive(clone_error(&error)));
            }
        };
        let received = wall_now();
        let Some(request) = pending.get_mut(&from) else {
            continue; // Not a server we are waiting for.
        };
        match packet::parse_reply(&datagram, request.transmit) {
            Ok(reply) => {
                let exchange = Exchange {
                    reply,
                    sent: request.sent,
                    received,
                };
                pending.remove(&from);
                outcomes.push((from, Ok(exchange)));
            }
            Err(refusal) if refusal.is_authentic() => {
                pending.remove(&from);
                outcomes.push((from, Err(Failure::Refused(refusal))));
            }
            // Possibly forged: keep waiting for the real reply.
            Err(refusal) => request.refused = Some(refusal),
        }
    }
    fail_pending(outcomes, pending, |request| match request.refused {
        Some(refusal) => Failure::Refused(refusal),
        None => Failure::Silent(timeout),
    })
}

fn fail_pending(
    mut outcomes: Vec<(SocketAddr, Result<Exchange, Failure>)>,
    pending: BTreeMap<SocketAddr, Pending>,
    failure: impl Fn(&Pending) -> Failure,
) -> Vec<(SocketAddr, Result<Exchange, Failure>)> {
    outcomes.extend(
        pending
            .iter()
            .map(|(server, request)| (*server, Err(failure(request)))),
    );
    outcomes
}

fn clone_error(error: &io::Error) -> io::Error {
    io::Error::new(error.kind(), error.to_string())
}
