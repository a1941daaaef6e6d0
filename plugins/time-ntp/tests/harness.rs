//! The plugin under the real host, through the SDK harness, against NTP
//! servers on loopback: real UDP through the host's socket checks, with
//! each server a thread answering crafted replies.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use osb_sdk::harness::{Harness, Running};
use serde_json::Value;

/// NTP era 0 began this long before the Unix epoch.
const NTP_TO_UNIX: u64 = 2_208_988_800;

/// A server on 127.0.0.1 that answers each request with what `answer`
/// makes of it (nothing, for `None`), until dropped.
struct Server {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

type Answer = dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync;

impl Server {
    fn start(answer: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static) -> Server {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let answer: Box<Answer> = Box::new(answer);
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buffer = [0u8; 512];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((length, from)) = socket.recv_from(&mut buffer) else {
                        continue;
                    };
                    requests.fetch_add(1, Ordering::Relaxed);
                    if let Some(reply) = answer(&buffer[..length]) {
                        socket.send_to(&reply, from).unwrap();
                    }
                }
            })
        };
        Server {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The host clock plus `skew_ms`, as an NTP timestamp.
fn ntp_now(skew_ms: i64) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let nanos = now.as_nanos() as i128 + i128::from(skew_ms) * 1_000_000;
    let seconds = (nanos / 1_000_000_000) as u64 + NTP_TO_UNIX;
    let fraction = (((nanos % 1_000_000_000) as u64) << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

/// A stratum-1 reply to `request` from a server whose clock is the host's
/// plus `skew_ms`, with `edit` applied.
fn reply(request: &[u8], skew_ms: i64, edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut packet = vec![0u8; 48];
    packet[0] = (4 << 3) | 4; // version 4, server
    packet[1] = 1;
    packet[3] = (-20i8) as u8;
    packet[8..12].copy_from_slice(&0x0000_0010u32.to_be_bytes()); // 0.24 ms
    packet[12..16].copy_from_slice(b"GPS\0");
    packet[24..32].copy_from_slice(&request[40..48]);
    let receive = ntp_now(skew_ms);
    packet[32..40].copy_from_slice(&receive.to_be_bytes());
    packet[40..48].copy_from_slice(&ntp_now(skew_ms).to_be_bytes());
    edit(&mut packet);
    packet
}

fn honest(skew_ms: i64) -> Server {
    Server::start(move |request| Some(reply(request, skew_ms, |_| {})))
}

fn plugin(servers: &[&Server]) -> Running {
    let list: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    servers
        .iter()
        .fold(
            Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME")),
            |h, s| h.grant_udp(s.addr),
        )
        .config("servers", &list.join(", "))
        .config("timeout_ms", "300")
        // Far above the timeout: a busy test machine must not turn a slow
        // call into a deadline failure.
        .timeout(Duration::from_secs(5))
        .start()
        .expect("plugin starts under the harness")
}

/// Loopback round trips are well under a millisecond, and the host-clock
/// slack adds about one on each side; the rest is room for a busy machine
/// descheduling the plugin between its clock readings.
const MAX_WIDTH_MS: i128 = 250;

fn error_message(answer: &Value) -> &str {
    assert_eq!(answer["error"]["code"], "Unavailable", "{answer}");
    answer["error"]["message"].as_str().expect("message")
}

#[test]
fn an_honest_server_bounds_the_time_by_its_round_trip() {
    let server = honest(0);
    let plugin = plugin(&[&server]);
    let sample = plugin.sample_timed().expect("no trap");
    let answer = &sample.answer;
    sample.assert_holds(0, MAX_WIDTH_MS);
    let detail = answer["ok"]["detail"].as_str().unwrap();
    assert!(detail.contains("1 of 1 NTP servers"), "{detail}");
    assert!(detail.contains("stratum 1"), "{detail}");
}

#[test]
fn a_server_an_hour_ahead_is_believed_when_alone() {
    let server = honest(3_600_000);
    let plugin = plugin(&[&server]);
    let sample = plugin.sample_timed().expect("no trap");
    sample.assert_holds(3_600_000, MAX_WIDTH_MS);
}

#[test]
fn a_lying_server_among_three_cannot_move_the_answer() {
    let (a, b, liar) = (honest(0), honest(0), honest(3_600_000));
    let plugin = plugin(&[&a, &liar, &b]);
    let sample = plugin.sample_timed().expect("no trap");
    let answer = &sample.answer;
    sample.assert_holds(0, MAX_WIDTH_MS);
    assert!(
        answer["ok"]["detail"].as_str().unwrap().contains("2 of 3"),
        "{answer}"
    );
}

#[test]
fn malformed_replies_are_refused_naming_the_fault() {
    type Edit = Box<dyn Fn(&mut Vec<u8>) + Send + Sync>;
    let cases: [(&str, Edit); 4] = [
        ("NTP reply of 40 bytes", Box::new(|p| p.truncate(40))),
        (
            "reply in mode 3, expected 4",
            Box::new(|p| p[0] = (4 << 3) | 3),
        ),
        ("does not answer our request", Box::new(|p| p[31] ^= 0xff)),
        ("stratum 16", Box::new(|p| p[1] = 16)),
    ];
    for (expect, edit) in cases {
        let server = Server::start(move |request| Some(reply(request, 0, &edit)));
        let plugin = plugin(&[&server]);
        let started = Instant::now();
        let sample = plugin.sample_timed().expect("no trap");
        let answer = &sample.answer;
        let message = error_message(answer);
        assert!(
            message.contains(expect),
            "expected {expect:?} in {message:?}"
        );
        assert!(message.contains(&server.addr.to_string()), "{message}");
        // A possibly forged reply does not end the wait early, but nothing
        // waits much past the timeout either (the deadline is 5 s).
        assert!(started.elapsed() < Duration::from_secs(2), "{expect}");
    }
}

fn kiss(code: &'static [u8; 4]) -> Server {
    Server::start(move |request| {
        Some(reply(request, 0, |p| {
            p[0] = (3 << 6) | (4 << 3) | 4;
            p[1] = 0;
            p[12..16].copy_from_slice(code);
        }))
    })
}

#[test]
fn kiss_of_death_rate_rests_the_server() {
    let server = kiss(b"RATE");
    let plugin = plugin(&[&server]);
    let first = plugin.sample_timed().expect("no trap").answer;
    assert!(
        error_message(&first).contains("kiss-of-death RATE: asked too often"),
        "{first}"
    );
    let second = plugin.sample_timed().expect("no trap").answer;
    assert!(
        error_message(&second).contains("resting after RATE"),
        "{second}"
    );
    assert_eq!(server.requests(), 1, "a resting server is not asked");
}

#[test]
fn kiss_of_death_deny_is_final_but_other_servers_carry_on() {
    let (denying, good) = (kiss(b"DENY"), honest(0));
    let plugin = plugin(&[&denying, &good]);
    plugin
        .sample_timed()
        .expect("no trap")
        .assert_holds(0, MAX_WIDTH_MS);
    let second = plugin.sample_timed().expect("no trap");
    second.assert_holds(0, MAX_WIDTH_MS);
    let detail = second.answer["ok"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("refused us (DENY), not asked again"),
        "{detail}"
    );
    assert_eq!(denying.requests(), 1);
    assert_eq!(good.requests(), 2);
}

#[test]
fn a_silent_server_costs_the_timeout_not_the_deadline() {
    let silent = Server::start(|_| None);
    let plugin = plugin(&[&silent]);
    let started = Instant::now();
    let sample = plugin.sample_timed().expect("no trap");
    let answer = &sample.answer;
    assert!(
        error_message(answer).contains("no reply within 300 ms"),
        "{answer}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_server_outside_the_grant_is_refused_by_the_host() {
    let granted = honest(0);
    let ungranted = honest(0);
    let plugin = Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
        .grant_udp(granted.addr)
        .config("servers", &format!("{} {}", granted.addr, ungranted.addr))
        .config("timeout_ms", "300")
        .timeout(Duration::from_secs(5))
        .start()
        .unwrap();
    let sample = plugin.sample_timed().expect("no trap");
    let answer = &sample.answer;
    // Two servers, one usable: the answer is that one's range.
    sample.assert_holds(0, MAX_WIDTH_MS);
    let detail = answer["ok"]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{}: cannot send to it", ungranted.addr)),
        "{detail}"
    );
    assert_eq!(ungranted.requests(), 0);
}

#[test]
fn bad_config_fails_the_self_check() {
    let plugin = Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
        .config("servers", "pool.ntp.org")
        .start();
    // The host self-checks a new version before it serves it.
    let error = plugin.err().expect("load refused");
    assert!(error.contains("pool.ntp.org"), "{error}");
}
