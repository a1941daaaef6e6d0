//! The NTP packet (RFC 5905 §7.3) in client mode: the request, and a reply
//! checked before anything in it is believed.

use std::fmt;

use thiserror::Error;
use time_bounds::Nanos;
use time_bounds::offset::SECOND;

/// The NTP header without extensions: all a client sends and needs back.
pub const LEN: usize = 48;

/// NTP era 0 began at 1900-01-01T00:00:00Z, this long before the Unix epoch.
const NTP_TO_UNIX_SECONDS: i128 = 2_208_988_800;

/// One NTP era: the 32-bit seconds field wraps after this many seconds
/// (first on 2036-02-07T06:28:16Z).
const ERA: i128 = 1 << 32;

/// No reply can be from before this (2025-01-01T00:00:00Z, before this
/// plugin existed), whatever the host's clock says; see [`WireTime::resolve`].
const NOT_BEFORE_UNIX_SECONDS: i128 = 1_735_689_600;

const MODE_CLIENT: u8 = 3;
const MODE_SERVER: u8 = 4;
const VERSION: u8 = 4;

/// A 64-bit NTP timestamp as on the wire: 32 bits of seconds since the
/// start of the era, 32 bits of fraction. The era is not on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireTime(pub u64);

impl WireTime {
    /// The wire form of `unix` (nanoseconds since the Unix epoch), fraction
    /// rounded down.
    pub fn from_unix(unix: Nanos) -> WireTime {
        let since_1900 = unix + NTP_TO_UNIX_SECONDS * SECOND;
        let seconds = since_1900.div_euclid(SECOND).rem_euclid(ERA);
        let fraction = (since_1900.rem_euclid(SECOND) << 32) / SECOND;
        // Both halves are below 2^32 by construction.
        WireTime(((seconds as u64) << 32) | fraction as u64)
    }

    /// The time this wire value means, in nanoseconds since the Unix epoch
    /// (fraction rounded down), taking the era that puts it within 68 years
    /// of `host_now`.
    ///
    /// A host clock before [`NOT_BEFORE_UNIX_SECONDS`] is known to be wrong
    /// (a board without an RTC boots in 1970), so then the era is the one
    /// that puts the time in the 136 years from that date instead. Either
    /// way this is right across the 2036 rollover: it never assumes era 0.
    pub fn resolve(self, host_now: Nanos) -> Nanos {
        let window_start = (host_now - ERA / 2 * SECOND).max(NOT_BEFORE_UNIX_SECONDS * SECOND);
        // In units of 2^-32 s since 1900-01-01 (era 0), where the wire value
        // is the residue modulo 2^64.
        let start = to_fixed(window_start + NTP_TO_UNIX_SECONDS * SECOND);
        let after_start = (i128::from(self.0) - start).rem_euclid(1 << 64);
        from_fixed(start + after_start) - NTP_TO_UNIX_SECONDS * SECOND
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    fn read(bytes: &[u8; LEN], at: usize) -> WireTime {
        let mut field = [0u8; 8];
        field.copy_from_slice(&bytes[at..at + 8]);
        WireTime(u64::from_be_bytes(field))
    }
}

/// Nanoseconds to units of 2^-32 s, rounded down.
fn to_fixed(nanos: Nanos) -> i128 {
    (nanos << 32).div_euclid(SECOND)
}

/// Units of 2^-32 s to nanoseconds, rounded down.
fn from_fixed(fixed: i128) -> Nanos {
    (fixed * SECOND) >> 32
}

/// A client request whose transmit timestamp is `transmit`: the server
/// copies it into its reply's origin timestamp, which is how the reply is
/// matched to this request.
pub fn request(transmit: WireTime) -> [u8; LEN] {
    let mut packet = [0u8; LEN];
    packet[0] = (VERSION << 3) | MODE_CLIENT; // leap indicator 0
    packet[40..48].copy_from_slice(&transmit.0.to_be_bytes());
    packet
}

/// A server's reply that passed every check in [`parse_reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub leap: Leap,
    pub stratum: u8,
    /// log2 of the server clock's precision in seconds (-20 is about 1 µs).
    pub precision: i8,
    /// Round trip to the primary reference, NTP short format (16.16 s).
    pub root_delay: u32,
    /// Error bound relative to the primary reference, NTP short format.
    pub root_dispersion: u32,
    pub reference_id: [u8; 4],
    /// T2: when the server received the request.
    pub receive: WireTime,
    /// T3: when the server sent the reply.
    pub transmit: WireTime,
}

/// The leap indicator of a synchronised server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leap {
    None,
    /// A leap second is announced for the end of the month (61 or 59
    /// seconds in its last minute).
    Announced,
}

/// A kiss code (RFC 5905 §7.4): four ASCII letters in the reference id of
/// a stratum-0 reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KissCode(pub [u8; 4]);

impl KissCode {
    /// `DENY` and `RSTR`: the server refuses us access; asking again is
    /// abuse.
    pub fn is_final(self) -> bool {
        &self.0 == b"DENY" || &self.0 == b"RSTR"
    }

    /// `RATE`: we asked too often.
    pub fn is_rate(self) -> bool {
        &self.0 == b"RATE"
    }
}

impl fmt::Display for KissCode {
    /// The code as text; anything but printable ASCII is escaped, since it
    /// comes from the network.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &byte in self.0.iter().take_while(|&&b| b != 0) {
            if byte.is_ascii_graphic() {
                write!(f, "{}", char::from(byte))?;
            } else {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// Why a reply is not believed.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("NTP reply of {0} bytes, expected at least {LEN}")]
    TooShort(usize),
    #[error("reply in mode {0}, expected 4 (server)")]
    Mode(u8),
    #[error("reply in NTP version {0}, expected 1 to 4")]
    Version(u8),
    #[error("reply does not answer our request (its origin timestamp is not ours)")]
    NotOurs,
    #[error("kiss-of-death {0}")]
    Kiss(KissCode),
    #[error("server's clock is unsynchronised (leap indicator 3)")]
    Unsynchronised,
    #[error("server at stratum {0}: unsynchronised")]
    Stratum(u8),
    #[error("reply without a {0} timestamp")]
    ZeroTimestamp(&'static str),
    #[error(
        "server's timestamps contradict the round trip (it held the request longer than the exchange took)"
    )]
    Inconsistent,
}

impl Refusal {
    /// Whether the reply passed the origin check, so that it is known to
    /// come from the server we asked. Anything refused before that may be
    /// a stray or forged datagram, and must not stop us from waiting for
    /// the real reply.
    pub fn is_authentic(self) -> bool {
        !matches!(
            self,
            Refusal::TooShort(_) | Refusal::Mode(_) | Refusal::Version(_) | Refusal::NotOurs
        )
    }
}

/// Checks `bytes` as the reply to the request sent with transmit timestamp
/// `sent`.
///
/// The origin check comes before anything the reply says about the server
/// is acted on, a kiss-of-death included: otherwise anyone who can send a
/// datagram could silence a server with a forged `DENY`.
pub fn parse_reply(bytes: &[u8], sent: WireTime) -> Result<Reply, Refusal> {
    let header: &[u8; LEN] = bytes
        .get(..LEN)
        .and_then(|header| header.try_into().ok())
        .ok_or(Refusal::TooShort(bytes.len()))?;
    let leap = header[0] >> 6;
    let version = (header[0] >> 3) & 0b111;
    let mode = header[0] & 0b111;
    if mode != MODE_SERVER {
        return Err(Refusal::Mode(mode));
    }
    if !(1..=4).contains(&version) {
        return Err(Refusal::Version(version));
    }
    if WireTime::read(header, 24) != sent {
        return Err(Refusal::NotOurs);
    }
    let stratum = header[1];
    let reference_id = [header[12], header[13], header[14], header[15]];
    if stratum == 0 {
        return Err(Refusal::Kiss(KissCode(reference_id)));
    }
    if leap == 3 {
        return Err(Refusal::Unsynchronised);
    }
    if stratum > 15 {
        return Err(Refusal::Stratum(stratum));
    }
    let receive = WireTime::read(header, 32);
    let transmit = WireTime::read(header, 40);
    if receive.is_zero() {
        return Err(Refusal::ZeroTimestamp("receive"));
    }
    if transmit.is_zero() {
        return Err(Refusal::ZeroTimestamp("transmit"));
    }
    let short = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    Ok(Reply {
        leap: if leap == 0 {
            Leap::None
        } else {
            Leap::Announced
        },
        stratum,
        precision: i8::from_be_bytes([header[3]]),
        root_delay: short(4),
        root_dispersion: short(8),
        reference_id,
        receive,
        transmit,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const UNIX_2026: Nanos = 1_780_000_000 * SECOND;

    /// A valid server reply to `sent`, for tests to spoil.
    pub(crate) fn reply_to(sent: WireTime, receive: WireTime, transmit: WireTime) -> [u8; LEN] {
        let mut packet = [0u8; LEN];
        packet[0] = (4 << 3) | MODE_SERVER;
        packet[1] = 2; // stratum
        packet[3] = (-20i8).to_be_bytes()[0];
        packet[4..8].copy_from_slice(&0x0000_0100u32.to_be_bytes()); // ~3.9 ms
        packet[8..12].copy_from_slice(&0x0000_0080u32.to_be_bytes()); // ~2 ms
        packet[12..16].copy_from_slice(b"GPS\0");
        packet[24..32].copy_from_slice(&sent.0.to_be_bytes());
        packet[32..40].copy_from_slice(&receive.0.to_be_bytes());
        packet[40..48].copy_from_slice(&transmit.0.to_be_bytes());
        packet
    }

    fn check(packet: &[u8], sent: WireTime, expect: Result<(), Refusal>) {
        assert_eq!(parse_reply(packet, sent).map(drop), expect, "{packet:02x?}");
    }

    #[test]
    fn request_is_version_4_client_mode_with_our_transmit_time() {
        let sent = WireTime::from_unix(UNIX_2026);
        let packet = request(sent);
        assert_eq!(packet[0], 0x23);
        assert!(packet[1..40].iter().all(|&b| b == 0));
        assert_eq!(WireTime::read(&packet, 40), sent);
    }

    #[test]
    fn reply_checks() {
        let sent = WireTime::from_unix(UNIX_2026);
        let t2 = WireTime::from_unix(UNIX_2026 + SECOND);
        let good = reply_to(sent, t2, t2);
        let spoil = |f: &dyn Fn(&mut [u8; LEN])| {
            let mut packet = good;
            f(&mut packet);
            packet
        };
        check(&good, sent, Ok(()));
        // Extension fields or a MAC may follow the header.
        check(&[&good[..], &[0u8; 20][..]].concat(), sent, Ok(()));
        check(&good[..47], sent, Err(Refusal::TooShort(47)));
        check(&[], sent, Err(Refusal::TooShort(0)));
        check(
            &spoil(&|p| p[0] = (4 << 3) | 3),
            sent,
            Err(Refusal::Mode(3)),
        );
        check(
            &spoil(&|p| p[0] = (4 << 3) | 5),
            sent,
            Err(Refusal::Mode(5)),
        );
        check(&spoil(&|p| p[0] = 4), sent, Err(Refusal::Version(0)));
        check(
            &spoil(&|p| p[0] = (5 << 3) | 4),
            sent,
            Err(Refusal::Version(5)),
        );
        check(&spoil(&|p| p[0] = (3 << 3) | 4), sent, Ok(()));
        check(&spoil(&|p| p[31] ^= 1), sent, Err(Refusal::NotOurs));
        check(&good, WireTime(sent.0 + 1), Err(Refusal::NotOurs));
        check(
            &spoil(&|p| {
                p[0] = (3 << 6) | (4 << 3) | 4;
                p[1] = 0;
                p[12..16].copy_from_slice(b"RATE");
            }),
            sent,
            Err(Refusal::Kiss(KissCode(*b"RATE"))),
        );
        check(
            &spoil(&|p| p[0] = (3 << 6) | (4 << 3) | 4),
            sent,
            Err(Refusal::Unsynchronised),
        );
        check(&spoil(&|p| p[0] = (1 << 6) | (4 << 3) | 4), sent, Ok(()));
        check(&spoil(&|p| p[1] = 16), sent, Err(Refusal::Stratum(16)));
        check(&spoil(&|p| p[1] = 15), sent, Ok(()));
        check(
            &spoil(&|p| p[40..48].fill(0)),
            sent,
            Err(Refusal::ZeroTimestamp("transmit")),
        );
        check(
            &spoil(&|p| p[32..40].fill(0)),
            sent,
            Err(Refusal::ZeroTimestamp("receive")),
        );
    }

    #[test]
    fn a_forged_kiss_is_not_believed() {
        let sent = WireTime::from_unix(UNIX_2026);
        let mut forged = reply_to(WireTime(12345), sent, sent);
        forged[1] = 0;
        forged[12..16].copy_from_slice(b"DENY");
        assert_eq!(parse_reply(&forged, sent), Err(Refusal::NotOurs));
        assert!(!Refusal::NotOurs.is_authentic());
        assert!(Refusal::Kiss(KissCode(*b"DENY")).is_authentic());
    }

    #[test]
    fn kiss_codes() {
        assert!(KissCode(*b"DENY").is_final() && KissCode(*b"RSTR").is_final());
        assert!(!KissCode(*b"RATE").is_final() && KissCode(*b"RATE").is_rate());
        assert_eq!(KissCode(*b"RATE").to_string(), "RATE");
        assert_eq!(KissCode(*b"AB\0\0").to_string(), "AB");
        assert_eq!(KissCode(*b"\x01\"\n ").to_string(), "\\x01\"\\x0a\\x20");
    }

    #[test]
    fn wire_times_resolve_to_the_era_near_the_host_clock() {
        let era = ERA * SECOND;
        let rollover = (ERA - NTP_TO_UNIX_SECONDS) * SECOND; // 2036-02-07T06:28:16Z
        let half = SECOND / 2;
        for (time, host) in [
            (UNIX_2026 + half, UNIX_2026),
            // Both sides of the 2036 rollover, seen from either side.
            (rollover - SECOND, rollover + SECOND),
            (rollover + SECOND, rollover - SECOND),
            (rollover + half, rollover),
            // Era 1 and 2, decades in.
            (
                rollover + 40 * 365 * 86_400 * SECOND,
                rollover + 39 * 365 * 86_400 * SECOND,
            ),
            (rollover + era + 7 * SECOND, rollover + era),
            // A board that booted in 1970 still lands after 2025.
            (UNIX_2026, 0),
            (rollover + 5 * SECOND, 0),
            // The host clock 60 years behind the server.
            (UNIX_2026, UNIX_2026 - 60 * 365 * 86_400 * SECOND),
        ] {
            let wire = WireTime::from_unix(time);
            let resolved = wire.resolve(host);
            // The wire keeps 2^-32 s: within a nanosecond, rounded down.
            assert!(
                resolved <= time && time - resolved <= 1,
                "time {time} seen at {host}: resolved {resolved}"
            );
        }
        // The era after 0 starts at wire seconds 0.
        assert_eq!(WireTime::from_unix(rollover), WireTime(0));
        assert_eq!(WireTime(0).resolve(rollover), rollover);
    }
}
