//! `time-https`: the time from the `Date` headers of several HTTPS servers.
//!
//! Each sample asks every configured URL (`HEAD`, through the host's `http`
//! import) up to `requests_per_url` times, a round at a time so that every
//! server gets its first request before any gets a second. Each believed
//! answer bounds the offset of the true time from the host's clock by its
//! one-second resolution and its round trip (see `answer.rs`); one server's
//! answers are intersected, which narrows the range when they straddle a
//! second boundary. Answers from one server that contradict each other drop
//! that server. The servers' ranges are then combined so that a minority of
//! lying servers cannot push the truth out of the answer, as NTP does (see
//! `time_bounds::select`): with three or more servers one liar is outvoted,
//! with two the answer spans both. The result is an interval around the
//! host's clock at the moment the sample answers.
//!
//! # Configuration
//!
//! - `urls`: https URLs, comma- or white-space-separated, one per
//!   independent server, each within the plugin's `http` capability.
//! - `requests_per_url` (default 3): at most this many requests per URL and
//!   sample.
//! - `timeout_ms` (default 500): one request's timeout.
//! - `budget_ms` (default 800): no request starts once a sample has spent
//!   this long, and none may run past it. Keep it below the plugin's call
//!   deadline (1 s by default).
//! - `allow_http` (default false): accept `http://` URLs, whose answers
//!   anyone on the path can forge.
//!
//! A server that answers anything but a believable `Date` (a captive
//! portal's redirect or page, an error, a cached or malformed answer) is
//! logged and not asked again in that sample.

mod answer;
mod date;
mod settings;

use std::time::Instant;

use osb_sdk::http::{self, HttpError, Request};
use osb_sdk::{PluginError, Result, TimeSample, TimeSource};
use time_bounds::select::{self, SelectError};
use time_bounds::{Measurement, OffsetRange, RepeatError, SampleClock, Settled};

use settings::Settings;

/// The plugin value: the settings read at creation, or why they are bad.
struct Https {
    // Kept as a `Result` because `Default` cannot fail: a bad setting is
    // reported by `self_check` and by every sample instead.
    settings: Result<Settings>,
}

impl Default for Https {
    fn default() -> Self {
        Https {
            settings: Settings::from_lookup(osb_sdk::config::get),
        }
    }
}

/// One URL over a sample.
struct Server<'a> {
    url: &'a str,
    measurements: Vec<Measurement>,
    /// Why it is not asked again in this sample.
    stopped: Option<String>,
}

impl TimeSource for Https {
    fn sample(&mut self) -> Result<TimeSample> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        let clock = SampleClock::start();
        let mut servers: Vec<Server> = settings
            .urls
            .iter()
            .map(|url| Server {
                url,
                measurements: Vec::new(),
                stopped: None,
            })
            .collect();
        ask(settings, &mut servers);
        let settled = clock
            .settle()
            .map_err(|stepped| PluginError::unavailable(stepped.to_string()))?;
        conclude(&servers, settled)
    }

    fn self_check(&mut self) -> Result<()> {
        self.settings.as_ref().map(drop).map_err(Clone::clone)
    }
}

/// Sends the requests, round by round, within the budget.
fn ask(settings: &Settings, servers: &mut [Server]) {
    let started = Instant::now();
    for _round in 0..settings.requests_per_url {
        for server in servers.iter_mut().filter(|s| s.stopped.is_none()) {
            let remaining = settings.budget.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                server.stopped = Some(format!(
                    "not asked again: the sample's budget of {} ms is spent",
                    settings.budget.as_millis()
                ));
                continue;
            }
            // HEAD: the Date is in the head. no-cache: a cache must ask the
            // server, so the Date is the server's clock now.
            let request = Request::new("HEAD", server.url)
                .with_header("Cache-Control", "no-cache")
                .with_timeout(settings.timeout.min(remaining));
            let outcome = http::send(&request)
                .map_err(|error| describe(&error))
                .and_then(|response| {
                    answer::judge(&response).map_err(|ignored| ignored.to_string())
                });
            match outcome {
                Ok(measurement) => server.measurements.push(measurement),
                Err(why) => {
                    osb_sdk::warn!("ignoring {}: {why}", server.url);
                    server.stopped = Some(why);
                }
            }
        }
    }
}

/// Combines the servers' answers into the sample.
fn conclude(servers: &[Server], settled: Settled) -> Result<TimeSample> {
    let mut usable: Vec<(&str, OffsetRange)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for server in servers {
        let answers = server.measurements.len();
        match time_bounds::offset::intersect_repeats(
            &server.measurements,
            settled.now,
            settled.slack,
        ) {
            Ok(range) => {
                usable.push((server.url, range));
                notes.push(format!(
                    "{}: {answers} answer(s), offset {range}",
                    server.url
                ));
            }
            Err(RepeatError::Contradictory) => {
                osb_sdk::warn!(
                    "dropping {}: its {answers} answers contradict each other (is its clock jumping?)",
                    server.url
                );
                notes.push(format!(
                    "{}: answers contradict each other, dropped",
                    server.url
                ));
            }
            Err(RepeatError::NoMeasurement) => {
                let why = server.stopped.as_deref().unwrap_or("not asked");
                notes.push(format!("{}: {why}", server.url));
            }
        }
    }
    let ranges: Vec<OffsetRange> = usable.iter().map(|(_, range)| *range).collect();
    match select::select(&ranges) {
        Ok(agreement) => {
            for (url, range) in &usable {
                if range.intersect(agreement.range).is_none() {
                    osb_sdk::warn!(
                        "{url} disagrees with the others: offset {range}, agreed {}",
                        agreement.range
                    );
                }
            }
            Ok(TimeSample::new(
                agreement.range.interval_at(settled.now),
                format!(
                    "offset {} from the host clock, the range of {} of {} HTTPS servers ({})",
                    agreement.range,
                    agreement.needed,
                    agreement.of,
                    notes.join("; ")
                ),
            ))
        }
        Err(SelectError::Empty) => Err(PluginError::unavailable(format!(
            "no HTTPS server gave a usable Date: {}",
            notes.join("; ")
        ))),
        Err(disagree @ SelectError::Disagree { .. }) => Err(PluginError::unavailable(format!(
            "HTTPS servers disagree, {disagree}: {}",
            notes.join("; ")
        ))),
    }
}

/// A failed request, for the log and the sample's error.
fn describe(error: &HttpError) -> String {
    match error {
        HttpError::Denied(why) => format!("request denied by the host: {why}"),
        HttpError::InvalidRequest(why) => format!("invalid request: {why}"),
        HttpError::Transport(why) => format!("request failed: {why}"),
        HttpError::Timeout => "timed out".to_owned(),
    }
}

osb_sdk::export_plugin!(TimeSource for Https);
