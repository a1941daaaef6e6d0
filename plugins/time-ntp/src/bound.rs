//! What one NTP exchange says about the true offset of the host's clock.
//!
//! With T1 our send time, T2 the server's receive time, T3 its send time and
//! T4 our receive time, NTP's offset is θ = ((T2 − T1) + (T3 − T4)) / 2 and
//! the round-trip delay δ = (T4 − T1) − (T3 − T2). The true offset is within
//! θ ± δ/2, which is exactly `[T3 − T4, T2 − T1]`: when the server read T2
//! our clock had passed T1, and when it read T3 ours had not reached T4.
//! That holds however unequal the two legs of the trip are.
//!
//! The server's own clock is only within its root distance
//! λ = root delay / 2 + root dispersion of the primary reference (RFC 5905
//! §11.2), and reads to its precision, so the range grows by both on each
//! side. A leap second announced for tonight may shift either clock by a
//! second around midnight, depending on how each counts it: then the range
//! grows by a second too.

use time_bounds::offset::SECOND;
use time_bounds::{Nanos, OffsetRange};

use crate::packet::{Leap, Refusal, Reply};

/// The offset range of one exchange. `sent` (T1) and `received` (T4) are
/// the host's wall clock in nanoseconds since the Unix epoch; the reply's
/// timestamps are resolved to the era nearest `sent`.
pub fn offset_range(reply: &Reply, sent: Nanos, received: Nanos) -> Result<OffsetRange, Refusal> {
    let server_received = reply.receive.resolve(sent);
    let server_sent = reply.transmit.resolve(sent);
    let margin = root_distance(reply)
        + precision(reply.precision)
        // Resolving a wire time rounds it down by up to a nanosecond.
        + 1
        + match reply.leap {
            Leap::None => 0,
            Leap::Announced => SECOND,
        };
    OffsetRange::new(server_sent - received, server_received - sent)
        .map(|range| range.widen(margin))
        .ok_or(Refusal::Inconsistent)
}

/// λ = root delay / 2 + root dispersion, rounded up.
fn root_distance(reply: &Reply) -> Nanos {
    (short_to_nanos(reply.root_delay) + 1) / 2 + short_to_nanos(reply.root_dispersion)
}

/// NTP short format (16.16 unsigned seconds) in nanoseconds, rounded up.
fn short_to_nanos(short: u32) -> Nanos {
    (Nanos::from(short) * SECOND + 0xffff) >> 16
}

/// 2^`log2` seconds, rounded up to a nanosecond. A server claiming a
/// precision coarser than 2^40 s is broken, but the range only gets wider
/// for it.
fn precision(log2: i8) -> Nanos {
    if log2 >= 0 {
        SECOND << log2.min(40)
    } else {
        let shift = log2.unsigned_abs().min(100);
        (SECOND + (1 << shift) - 1) >> shift
    }
}

/// The detail line of one server's answer.
pub fn describe(reply: &Reply) -> String {
    format!(
        "stratum {}, root distance {} ms",
        reply.stratum,
        root_distance(reply) / 1_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::WireTime;

    const MS: Nanos = 1_000_000;
    const T0: Nanos = 1_780_000_000 * SECOND;

    fn reply(receive: Nanos, transmit: Nanos) -> Reply {
        Reply {
            leap: Leap::None,
            stratum: 1,
            precision: -30, // about a nanosecond: out of the way
            root_delay: 0,
            root_dispersion: 0,
            reference_id: *b"GPS\0",
            receive: WireTime::from_unix(receive),
            transmit: WireTime::from_unix(transmit),
        }
    }

    /// (T1, T2, T3, T4) relative to T0 in ms → the range in ms, before the
    /// precision and rounding margin of a couple of nanoseconds.
    fn check(times: (Nanos, Nanos, Nanos, Nanos), expect: Option<(Nanos, Nanos)>) {
        let (t1, t2, t3, t4) = times;
        let got = offset_range(
            &reply(T0 + t2 * MS, T0 + t3 * MS),
            T0 + t1 * MS,
            T0 + t4 * MS,
        );
        match (got, expect) {
            (Ok(range), Some((lo, hi))) => {
                let close = |got: Nanos, want: Nanos| (got - want * MS).abs() <= 3;
                assert!(
                    close(range.lo(), lo) && close(range.hi(), hi),
                    "{times:?}: {range}"
                );
            }
            (Err(refusal), None) => assert_eq!(refusal, Refusal::Inconsistent),
            (got, expect) => panic!("{times:?}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn range_is_between_t3_minus_t4_and_t2_minus_t1() {
        // In sync, 20 ms each way, 1 ms in the server.
        check((0, 20, 21, 41), Some((-20, 20)));
        // Host 5 s behind: the offset is +5 s.
        check((0, 5_020, 5_021, 41), Some((4_980, 5_020)));
        // Host 5 s ahead.
        check((0, -4_980, -4_979, 41), Some((-5_020, -4_980)));
        // Unequal legs: 1 ms out, 99 ms back, the truth (0) still inside.
        check((0, 1, 1, 100), Some((-99, 1)));
        // The server says it held the request 50 ms of a 41 ms exchange.
        check((0, 0, 50, 41), None);
    }

    #[test]
    fn root_distance_and_leap_widen_the_range() {
        let mut r = reply(T0 + 20 * MS, T0 + 21 * MS);
        r.root_delay = 0x0000_0CCD; // 50 ms
        r.root_dispersion = 0x0000_0290; // 10 ms
        r.precision = -10; // about 1 ms
        let range = offset_range(&r, T0, T0 + 41 * MS).unwrap();
        let margin = 25 * MS + 10 * MS + SECOND / 1024;
        assert!(
            (range.lo() - (-20 * MS - margin)).abs() < 2 * MS / 100,
            "{range}"
        );
        assert!(range.hi() >= 20 * MS + margin, "{range}");
        r.leap = Leap::Announced;
        let leap = offset_range(&r, T0, T0 + 41 * MS).unwrap();
        assert_eq!(leap.width(), range.width() + 2 * SECOND);
    }

    #[test]
    fn conversions_round_outwards() {
        assert_eq!(short_to_nanos(0x0001_0000), SECOND);
        assert_eq!(short_to_nanos(1), 15_259); // 15 258.79 ns, rounded up
        assert_eq!(short_to_nanos(u32::MAX), 65_536 * SECOND - 15_258);
        assert_eq!(precision(0), SECOND);
        assert_eq!(precision(-20), 954);
        assert_eq!(precision(-128), 1);
        assert_eq!(precision(127), SECOND << 40);
    }
}
