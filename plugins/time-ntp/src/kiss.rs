//! What servers told us with a kiss-of-death (RFC 5905 §7.4), kept for the
//! life of the plugin instance.
//!
//! `DENY` and `RSTR` mean the server refuses us: asking again is abuse, so
//! the server is not asked again. `RATE` means we asked too often: the
//! server rests for a while, twice as long on each repeat, as a client
//! would double its polling interval. Other codes only cost the sample.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::packet::KissCode;

/// The first rest after `RATE`: NTP's default minimum polling interval.
const FIRST_REST: Duration = Duration::from_secs(64);
/// The longest rest: NTP's default maximum polling interval.
const LONGEST_REST: Duration = Duration::from_secs(1_024);

#[derive(Debug, Default)]
pub struct Kisses(BTreeMap<SocketAddr, Kiss>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kiss {
    Denied(KissCode),
    Resting { until: Instant, rest: Duration },
}

impl Kisses {
    /// Whether `server` may be asked now.
    pub fn may_ask(&self, server: SocketAddr) -> bool {
        self.may_ask_at(server, Instant::now())
    }

    fn may_ask_at(&self, server: SocketAddr, now: Instant) -> bool {
        match self.0.get(&server) {
            None => true,
            Some(Kiss::Denied(_)) => false,
            Some(Kiss::Resting { until, .. }) => now >= *until,
        }
    }

    /// `server` gave a normal reply: it is no longer asking us to slow down.
    pub fn answered(&mut self, server: SocketAddr) {
        if matches!(self.0.get(&server), Some(Kiss::Resting { .. })) {
            self.0.remove(&server);
        }
    }

    /// Records a kiss-of-death from `server`; returns what happened, for the
    /// log and the sample's error.
    pub fn kissed(&mut self, server: SocketAddr, code: KissCode) -> String {
        self.kissed_at(server, code, Instant::now())
    }

    fn kissed_at(&mut self, server: SocketAddr, code: KissCode, now: Instant) -> String {
        if code.is_final() {
            self.0.insert(server, Kiss::Denied(code));
            return format!("kiss-of-death {code}: the server refuses us, not asking it again");
        }
        if code.is_rate() {
            let rest = match self.0.get(&server) {
                Some(Kiss::Resting { rest, .. }) => (*rest * 2).min(LONGEST_REST),
                _ => FIRST_REST,
            };
            self.0.insert(
                server,
                Kiss::Resting {
                    until: now + rest,
                    rest,
                },
            );
            return format!(
                "kiss-of-death {code}: asked too often, not asking it for {} s",
                rest.as_secs()
            );
        }
        format!("kiss-of-death {code}")
    }

    /// Why each of `servers` is not being asked.
    pub fn describe(&self, servers: &[SocketAddr]) -> String {
        servers
            .iter()
            .map(|server| match self.0.get(server) {
                Some(Kiss::Denied(code)) => {
                    format!("{server}: refused us ({code}), not asked again")
                }
                Some(Kiss::Resting { .. }) => format!("{server}: resting after RATE"),
                None => format!("{server}: not asked"),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_and_rstr_are_for_good_rate_for_a_doubling_while() {
        let server: SocketAddr = "192.0.2.1:123".parse().unwrap();
        let other: SocketAddr = "192.0.2.2:123".parse().unwrap();
        let now = Instant::now();
        let mut kisses = Kisses::default();

        let said = kisses.kissed_at(server, KissCode(*b"RATE"), now);
        assert_eq!(
            said,
            "kiss-of-death RATE: asked too often, not asking it for 64 s"
        );
        assert!(!kisses.may_ask_at(server, now + Duration::from_secs(63)));
        assert!(kisses.may_ask_at(server, now + FIRST_REST));
        assert!(kisses.may_ask_at(other, now));
        let later = now + FIRST_REST;
        kisses.kissed_at(server, KissCode(*b"RATE"), later);
        assert!(!kisses.may_ask_at(server, later + Duration::from_secs(127)));
        kisses.answered(server);
        assert!(kisses.may_ask_at(server, later));

        for code in [*b"DENY", *b"RSTR"] {
            let mut kisses = Kisses::default();
            let said = kisses.kissed_at(server, KissCode(code), now);
            assert!(said.ends_with("not asking it again"), "{said}");
            kisses.answered(server);
            assert!(!kisses.may_ask_at(server, now + Duration::from_secs(1 << 30)));
            assert!(kisses.describe(&[server]).contains("refused us"));
        }

        let mut kisses = Kisses::default();
        assert_eq!(
            kisses.kissed_at(server, KissCode(*b"INIT"), now),
            "kiss-of-death INIT"
        );
        assert!(kisses.may_ask_at(server, now));
    }

    #[test]
    fn rate_rests_are_capped() {
        let server: SocketAddr = "192.0.2.1:123".parse().unwrap();
        let now = Instant::now();
        let mut kisses = Kisses::default();
        for _ in 0..10 {
            kisses.kissed_at(server, KissCode(*b"RATE"), now);
        }
        assert!(kisses.may_ask_at(server, now + LONGEST_REST));
    }
}
