//! `time-ntp`: an SNTP client (RFC 4330, RFC 5905 client mode).
//!
//! Each sample sends one request to every configured server at once over
//! UDP and waits up to `timeout_ms` for the replies. Each accepted reply
//! bounds the offset of the true time from the host's clock by the round
//! trip and the server's root distance (see `bound.rs`); the servers' ranges
//! are then combined so that a minority of lying servers cannot push the
//! truth out of the answer (see `time_bounds::select`), and the result is
//! an interval around the host's clock at the moment the sample answers.
//!
//! # Configuration
//!
//! - `servers`: IP addresses with optional ports (default 123), separated
//!   by commas or white space. Each must also be in the plugin's `net`
//!   capability with protocol `udp`, granted by the device; the host drops
//!   anything else.
//! - `timeout_ms` (default 800): how long a sample waits for replies. It
//!   must stay below the plugin's call deadline, or a silent server turns a
//!   sample into a trap.
//!
//! # Replies not believed
//!
//! Short, wrong-mode, wrong-version, or not answering our request (origin
//! timestamp): ignored, waiting on for the real reply. Unsynchronised
//! (leap indicator 3, stratum above 15), without timestamps, or with
//! timestamps that contradict the round trip: that server is left out of
//! this sample. A kiss-of-death is logged with its code; after `DENY` or
//! `RSTR` the server is not asked again by this plugin instance, and after
//! `RATE` not for a while (doubling on each repeat).

mod bound;
mod exchange;
mod kiss;
mod packet;
mod settings;
mod udp;

use std::net::SocketAddr;

use osb_sdk::{PluginError, Result, TimeSample, TimeSource};
use time_bounds::select::{self, SelectError};
use time_bounds::{Measurement, SampleClock};

use exchange::{Exchange, Failure};
use kiss::Kisses;
use packet::Refusal;
use settings::Settings;

/// The plugin value: the settings read at creation (or why they are bad),
/// and the servers that told us to go away.
struct Ntp {
    // Kept as a `Result` because `Default` cannot fail: a bad setting is
    // reported by `self_check` and by every sample instead.
    settings: Result<Settings>,
    kisses: Kisses,
}

impl Default for Ntp {
    fn default() -> Self {
        Ntp {
            settings: Settings::from_lookup(osb_sdk::config::get),
            kisses: Kisses::default(),
        }
    }
}

/// What one server contributed to a sample.
struct Answer {
    server: SocketAddr,
    outcome: std::result::Result<(Measurement, String), String>,
}

impl TimeSource for Ntp {
    fn sample(&mut self) -> Result<TimeSample> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?.clone();
        let clock = SampleClock::start();
        let (ask, resting): (Vec<SocketAddr>, Vec<SocketAddr>) = settings
            .servers
            .iter()
            .partition(|server| self.kisses.may_ask(**server));
        if ask.is_empty() {
            return Err(PluginError::unavailable(format!(
                "every NTP server has told us to stop asking: {}",
                self.kisses.describe(&resting)
            )));
        }
        let answers: Vec<Answer> = exchange::query(&ask, settings.timeout)
            .into_iter()
            .map(|(server, outcome)| self.judge(server, outcome))
            .collect();

        let settled = clock
            .settle()
            .map_err(|stepped| PluginError::unavailable(stepped.to_string()))?;
        let ranges: Vec<_> = answers
            .iter()
            .filter_map(|answer| answer.outcome.as_ref().ok())
            .map(|(measurement, _)| measurement.aged(settled.now, settled.slack))
            .collect();
        let summary = || {
            let mut lines: Vec<String> = answers
                .iter()
                .map(|answer| match &answer.outcome {
                    Ok((_, detail)) => format!("{}: {detail}", answer.server),
                    Err(why) => format!("{}: {why}", answer.server),
                })
                .collect();
            if !resting.is_empty() {
                lines.push(self.kisses.describe(&resting));
            }
            lines.join("; ")
        };
        match select::select(&ranges) {
            Ok(agreement) => {
                for (answer, range) in answers.iter().filter(|a| a.outcome.is_ok()).zip(&ranges) {
                    if range.intersect(agreement.range).is_none() {
                        osb_sdk::warn!(
                            "NTP server {} disagrees with the others: offset {range}, agreed {}",
                            answer.server,
                            agreement.range
                        );
                    }
                }
                Ok(TimeSample::new(
                    agreement.range.interval_at(settled.now),
                    format!(
                        "offset {} from the host clock, the range of {} of {} NTP servers ({})",
                        agreement.range,
                        agreement.needed,
                        agreement.of,
                        summary()
                    ),
                ))
            }
            Err(SelectError::Empty) => Err(PluginError::unavailable(format!(
                "no NTP server gave a usable answer: {}",
                summary()
            ))),
            Err(disagree @ SelectError::Disagree { .. }) => Err(PluginError::unavailable(format!(
                "NTP servers disagree, {disagree}: {}",
                summary()
            ))),
        }
    }

    fn self_check(&mut self) -> Result<()> {
        self.settings.as_ref().map(drop).map_err(Clone::clone)
    }
}

impl Ntp {
    /// Turns one server's outcome into a measurement, or a reason logged and
    /// kept for the error message.
    fn judge(
        &mut self,
        server: SocketAddr,
        outcome: std::result::Result<Exchange, Failure>,
    ) -> Answer {
        let outcome = match outcome {
            Ok(exchange) => {
                self.kisses.answered(server);
                bound::offset_range(&exchange.reply, exchange.sent, exchange.received)
                    .map(|range| {
                        let detail =
                            format!("{}, offset {range}", bound::describe(&exchange.reply));
                        (
                            Measurement {
                                range,
                                at: exchange.received,
                            },
                            detail,
                        )
                    })
                    .map_err(|refusal| refusal.to_string())
            }
            Err(Failure::Refused(Refusal::Kiss(code))) => Err(self.kisses.kissed(server, code)),
            Err(failure) => Err(failure.to_string()),
        };
        if let Err(why) = &outcome {
            osb_sdk::warn!("NTP server {server}: {why}");
        }
        Answer { server, outcome }
    }
}

osb_sdk::export_plugin!(TimeSource for Ntp);
