//! `osb:plugin/log`: guest messages become `tracing` events tagged with the
//! plugin name, within the plugin's log quota.
//!
//! A plugin's text is hostile: control characters are escaped (a newline
//! must not start a forged log line in the text format), messages are cut
//! at [`MAX_MESSAGE`], and a token bucket ([`LogBudget`]) bounds the bytes
//! per second. What the bucket refuses is dropped and counted; the count is
//! reported once the plugin may log again, and the first drop of a burst is
//! reported at once.

use std::sync::Mutex;
use std::time::Instant;

use super::StoreState;
use crate::PluginName;
use crate::limits::PluginLimits;
use crate::wit::latest::host::osb::plugin::log::{Host, Level};

/// Longer messages are cut, so a plugin cannot flood the journal in one call.
pub const MAX_MESSAGE: usize = 4096;

/// What a message costs beyond its bytes: an event's own fields. Keeps
/// a flood of empty messages from being free.
const MESSAGE_OVERHEAD: u64 = 64;

impl Host for StoreState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.plugin.log.emit(&self.plugin.name, level, &message);
        Ok(())
    }
}

/// A plugin's log allowance: `rate` bytes a second, up to `burst` saved.
pub struct LogBudget {
    rate: u64,
    burst: u64,
    state: Mutex<Bucket>,
}

struct Bucket {
    tokens: u64,
    refilled: Instant,
    /// Messages and bytes dropped since the last report.
    dropped: u64,
    dropped_bytes: u64,
}

/// What the bucket says about one message.
#[derive(Debug, PartialEq, Eq)]
enum Admission {
    /// Log it; first report this many earlier messages (and bytes) dropped.
    Log { dropped: u64, dropped_bytes: u64 },
    /// Drop it; `first` when it starts a run of drops.
    Drop { first: bool },
}

impl LogBudget {
    /// A full bucket of `log_burst_bytes`, refilled at `log_bytes_per_sec`.
    pub fn new(limits: &PluginLimits) -> LogBudget {
        let burst = u64::from(limits.log_burst_bytes);
        LogBudget {
            rate: u64::from(limits.log_bytes_per_sec),
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                refilled: Instant::now(),
                dropped: 0,
                dropped_bytes: 0,
            }),
        }
    }

    /// Logs `message` at `level` if the budget allows, escaped and cut.
    pub fn emit(&self, plugin: &PluginName, level: Level, message: &str) {
        let message = truncate(message);
        let cost = message.len() as u64 + MESSAGE_OVERHEAD;
        let admission = match self.state.lock() {
            Ok(mut bucket) => bucket.admit(Instant::now(), cost, self.rate, self.burst),
            Err(_) => return,
        };
        match admission {
            Admission::Log {
                dropped,
                dropped_bytes,
            } => {
                if dropped > 0 {
                    tracing::warn!(
                        plugin = plugin.as_str(),
                        dropped,
                        dropped_bytes,
                        "plugin log quota: messages were dropped"
                    );
                }
                emit(plugin, level, &escape(message));
            }
            Admission::Drop { first: true } => {
                tracing::warn!(
                    plugin = plugin.as_str(),
                    rate_bytes_per_sec = self.rate,
                    burst_bytes = self.burst,
                    "plugin log quota reached; dropping its messages until the rate allows"
                );
            }
            Admission::Drop { first: false } => {}
        }
    }
}

impl Bucket {
    fn admit(&mut self, now: Instant, cost: u64, rate: u64, burst: u64) -> Admission {
        let elapsed = now.saturating_duration_since(self.refilled);
        let earned = (elapsed.as_nanos() * u128::from(rate) / 1_000_000_000) as u64;
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned).min(burst);
            self.refilled = now;
        }
        if cost <= self.tokens {
            self.tokens -= cost;
            let (dropped, dropped_bytes) = (self.dropped, self.dropped_bytes);
            self.dropped = 0;
            self.dropped_bytes = 0;
            return Admission::Log {
                dropped,
                dropped_bytes,
            };
        }
        let first = self.dropped == 0;
        self.dropped += 1;
        self.dropped_bytes = self
            .dropped_bytes
            .saturating_add(cost.saturating_sub(MESSAGE_OVERHEAD));
        Admission::Drop { first }
    }
}

fn emit(plugin: &PluginName, level: Level, message: &str) {
    let plugin = plugin.as_str();
    match level {
        Level::Trace => tracing::trace!(target: "osb::guest", plugin, "{message}"),
        Level::Debug => tracing::debug!(target: "osb::guest", plugin, "{message}"),
        Level::Info => tracing::info!(target: "osb::guest", plugin, "{message}"),
        Level::Warn => tracing::warn!(target: "osb::guest", plugin, "{message}"),
        Level::Error => tracing::error!(target: "osb::guest", plugin, "{message}"),
    }
}

/// The message with every control character escaped (`\n`, `\u{1b}`, ...):
/// text logs keep one event per line and no terminal escapes.
fn escape(message: &str) -> std::borrow::Cow<'_, str> {
    if !message.chars().any(char::is_control) {
        return message.into();
    }
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// `message` cut to at most [`MAX_MESSAGE`] bytes, at a character boundary.
fn truncate(message: &str) -> &str {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn control_characters_are_escaped() {
        for (raw, shown) in [
            ("plain text, ünïcode", "plain text, ünïcode"),
            ("one\nINFO forged line", "one\\nINFO forged line"),
            ("cr\r and esc\u{1b}[31m", "cr\\r and esc\\u{1b}[31m"),
            ("tab\tnul\0", "tab\\tnul\\u{0}"),
        ] {
            assert_eq!(escape(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn the_bucket_admits_its_burst_then_its_rate_and_counts_drops() {
        let t0 = Instant::now();
        let mut bucket = Bucket {
            tokens: 1000,
            refilled: t0,
            dropped: 0,
            dropped_bytes: 0,
        };
        let (rate, burst) = (100, 1000);
        let log = |dropped, dropped_bytes| Admission::Log {
            dropped,
            dropped_bytes,
        };
        // The burst: 1000 tokens, messages of 500 (436 bytes + overhead).
        assert_eq!(bucket.admit(t0, 500, rate, burst), log(0, 0));
        assert_eq!(bucket.admit(t0, 500, rate, burst), log(0, 0));
        assert_eq!(
            bucket.admit(t0, 500, rate, burst),
            Admission::Drop { first: true }
        );
        assert_eq!(
            bucket.admit(t0, 100, rate, burst),
            Admission::Drop { first: false }
        );
        // One second earns 100 tokens: one small message, reporting the two
        // dropped (436 + 36 bytes of text).
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(bucket.admit(t1, 100, rate, burst), log(2, 472));
        assert_eq!(
            bucket.admit(t1, 100, rate, burst),
            Admission::Drop { first: true }
        );
        // A long quiet period refills to the burst, no more.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!(bucket.admit(t2, 1000, rate, burst), log(1, 36));
        assert_eq!(
            bucket.admit(t2, 1, rate, burst),
            Admission::Drop { first: true }
        );
    }
}
