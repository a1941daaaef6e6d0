//! The plugin under the real host, through the SDK harness: the host's
//! `http` import answers from a table, with `Date` headers made when each
//! request arrives, from honest, skewed, captive-portal and broken servers.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use osb_sdk::harness::{Harness, Running, unix_nanos};
use serde_json::Value;
use time_bounds::civil::DateTime;

// URLs within the manifest's `http` capability.
const GOOGLE: &str = "https://www.google.com/generate_204";
const CLOUDFLARE: &str = "https://www.cloudflare.com/cdn-cgi/trace";
const APPLE: &str = "https://www.apple.com/library/test/success.html";

const SECOND: i128 = 1_000_000_000;

/// The host clock plus `skew_s`, as an HTTP `Date`.
fn http_date(skew_s: i64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let seconds = (unix_nanos() / SECOND) as i64 + skew_s;
    let date = DateTime::from_unix_seconds(seconds);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[date.weekday() as usize],
        date.day,
        MONTHS[date.month as usize - 1],
        date.year,
        date.hour,
        date.minute,
        date.second
    )
}

type Headers = Vec<(String, String)>;

/// A server whose clock is the host's plus `skew_s`.
fn skewed(skew_s: i64) -> impl Fn() -> (u16, Headers) + Send + Sync + 'static {
    move || (200, vec![("Date".to_owned(), http_date(skew_s))])
}

fn harness() -> Harness {
    Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
}

fn start(harness: Harness, urls: &[&str]) -> Running {
    harness
        .config("urls", &urls.join(" "))
        .start()
        .expect("plugin starts under the harness")
}

fn detail(answer: &Value) -> &str {
    answer["ok"]["detail"].as_str().expect("a sample")
}

fn unavailable(answer: &Value) -> &str {
    assert_eq!(answer["error"]["code"], "Unavailable", "{answer}");
    answer["error"]["message"].as_str().expect("message")
}

/// The Date's one-second truncation, plus the host-clock slack and room for
/// a busy machine descheduling the plugin between its clock readings.
const ONE_SECOND_AND_SLACK_MS: i128 = 1_250;

#[test]
fn honest_servers_bound_the_time_to_a_second() {
    let plugin = start(
        harness()
            .http_answer_with(GOOGLE, skewed(0))
            .http_answer_with(CLOUDFLARE, skewed(0))
            .http_answer_with(APPLE, skewed(0)),
        &[GOOGLE, CLOUDFLARE, APPLE],
    );
    let sample = plugin.sample_timed().expect("no trap");
    let answer = &sample.answer;
    sample.assert_holds(0, ONE_SECOND_AND_SLACK_MS);
    assert!(detail(answer).contains("2 of 3 HTTPS servers"), "{answer}");
    assert!(detail(answer).contains("3 answer(s)"), "{answer}");
}

#[test]
fn a_server_an_hour_ahead_is_believed_when_alone() {
    let plugin = start(harness().http_answer_with(GOOGLE, skewed(3_600)), &[GOOGLE]);
    let sample = plugin.sample_timed().expect("no trap");
    sample.assert_holds(3_600 * 1000, ONE_SECOND_AND_SLACK_MS);
}

#[test]
fn one_lying_server_among_three_cannot_move_the_answer() {
    let plugin = start(
        harness()
            .http_answer_with(GOOGLE, skewed(0))
            .http_answer_with(CLOUDFLARE, skewed(3_600))
            .http_answer_with(APPLE, skewed(0)),
        &[GOOGLE, CLOUDFLARE, APPLE],
    );
    let sample = plugin.sample_timed().expect("no trap");
    sample.assert_holds(0, ONE_SECOND_AND_SLACK_MS);
}

#[test]
fn with_two_servers_a_liar_widens_but_never_misleads() {
    let plugin = start(
        harness()
            .http_answer_with(GOOGLE, skewed(0))
            .http_answer_with(CLOUDFLARE, skewed(-3_600)),
        &[GOOGLE, CLOUDFLARE],
    );
    let sample = plugin.sample_timed().expect("no trap");
    // Either may be the liar: the answer spans both.
    sample.assert_holds(0, 3_602_000);
    sample.assert_holds(-3_600 * 1000, 3_602_000);
}

#[test]
fn captive_portals_and_broken_answers_are_ignored() {
    let portal = || {
        (
            302,
            vec![
                ("Date".to_owned(), http_date(-86_400)),
                (
                    "Location".to_owned(),
                    "http://portal.example/login".to_owned(),
                ),
            ],
        )
    };
    let urls = [
        &format!("{GOOGLE}?portal-redirect")[..],
        &format!("{GOOGLE}?portal-page")[..],
        &format!("{GOOGLE}?bad-date")[..],
        &format!("{GOOGLE}?cached")[..],
        CLOUDFLARE,
    ];
    let plugin = start(
        harness()
            .http_answer_with(urls[0], portal)
            .http_answer(
                urls[1],
                200,
                &[("Content-Type", "text/html")],
                b"<html>log in</html>",
            )
            .http_answer(
                urls[2],
                200,
                &[("Date", "Tue, 14 Nov 2023 25:13:20 GMT")],
                b"",
            )
            .http_answer_with(urls[3], || {
                let date = http_date(-3_600);
                (
                    200,
                    vec![
                        ("Date".to_owned(), date),
                        ("Age".to_owned(), "3600".to_owned()),
                    ],
                )
            })
            .http_answer_with(CLOUDFLARE, skewed(0)),
        &urls,
    );
    let sample = plugin.sample_timed().expect("no trap");
    let answer = &sample.answer;
    // Only Cloudflare is believed, so it is trusted alone.
    sample.assert_holds(0, ONE_SECOND_AND_SLACK_MS);
    let detail = detail(answer);
    for expect in [
        "portal-redirect: status 302, not 2xx",
        "portal-page: no Date header",
        "bad-date: malformed Date header \"Tue, 14 Nov 2023 25:13:20 GMT\": no such date",
        "cached: served from a cache (Age: 3600)",
        "1 of 1 HTTPS servers",
    ] {
        assert!(detail.contains(expect), "expected {expect:?} in {detail}");
    }
}

#[test]
fn no_usable_answer_is_unavailable_naming_each_server() {
    let plugin = start(
        harness()
            .http_answer(GOOGLE, 302, &[("Location", "http://portal.example/")], b"")
            .http_answer(CLOUDFLARE, 200, &[("Date", "soon")], b""),
        &[GOOGLE, CLOUDFLARE, APPLE],
    );
    let sample = plugin.sample_timed().expect("no trap");
    let answer = &sample.answer;
    let message = unavailable(answer);
    for expect in [
        "no HTTPS server gave a usable Date",
        &format!("{GOOGLE}: status 302"),
        &format!("{CLOUDFLARE}: malformed Date header \"soon\""),
        &format!("{APPLE}: request failed: no canned answer"),
    ] {
        assert!(message.contains(expect), "expected {expect:?} in {message}");
    }
}

#[test]
fn repeats_are_bounded_and_a_jumping_server_is_dropped() {
    let asked = Arc::new(AtomicUsize::new(0));
    let jumping = {
        let asked = asked.clone();
        move || {
            // Each answer ten seconds later than the last.
            let n = asked.fetch_add(1, Ordering::Relaxed) as i64;
            (200, vec![("Date".to_owned(), http_date(10 * n))])
        }
    };
    let plugin = start(
        harness()
            .config("requests_per_url", "2")
            .http_answer_with(GOOGLE, jumping)
            .http_answer_with(CLOUDFLARE, skewed(0)),
        &[GOOGLE, CLOUDFLARE],
    );
    let sample = plugin.sample_timed().expect("no trap");
    let answer = &sample.answer;
    assert_eq!(asked.load(Ordering::Relaxed), 2, "requests_per_url");
    sample.assert_holds(0, ONE_SECOND_AND_SLACK_MS);
    assert!(
        detail(answer).contains("answers contradict each other, dropped"),
        "{answer}"
    );
}

#[test]
fn plain_http_needs_allow_http() {
    let refused = harness().config("urls", "http://time.example/").start();
    let error = refused.err().expect("self-check refuses the load");
    assert!(error.contains("set allow_http = true"), "{error}");

    // Allowed, the plugin asks; the host still refuses a URL outside the
    // manifest's grant.
    let plugin = start(
        harness().config("allow_http", "true"),
        &["http://time.example/"],
    );
    let sample = plugin.sample_timed().expect("no trap");
    let answer = &sample.answer;
    let message = unavailable(answer);
    assert!(message.contains("request denied by the host"), "{message}");
}
