//! The shared WIT types (`osb:plugin/types`) and helpers on them.

use std::fmt;
use std::io;
use std::time::{Duration, SystemTime};

use crate::__private::bindings::host::osb::plugin::types as wit;

/// A UTC timestamp, ordered chronologically.
///
/// `nanoseconds` is below 1 000 000 000 in a well-formed timestamp, and the
/// constructors here keep it so; times before 1970 have negative `seconds`
/// and still non-negative `nanoseconds`.
pub use wit::Timestamp;

/// An interval of time, from a source's point of view.
///
/// Build one with [`TimeInterval::at_least`], [`TimeInterval::between`] and
/// friends.
pub use wit::TimeInterval;

/// Why a plugin call failed: the class of failure the host acts on.
pub use wit::ErrorCode;

/// The error every plugin operation returns: an [`ErrorCode`] for the host
/// and a message for the operator.
///
/// Build one with [`PluginError::new`] or a shorthand such as
/// [`PluginError::unavailable`]. Messages follow the house style: lowercase,
/// no final period, naming the thing that failed (the file, the key, the
/// device).
pub use wit::PluginError;

/// The result of a plugin operation.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;

const NANOS_PER_SECOND: u32 = 1_000_000_000;

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp {
        seconds: 0,
        nanoseconds: 0,
    };

    /// A timestamp from seconds and nanoseconds since the Unix epoch.
    ///
    /// Whole seconds in `nanoseconds` are carried into `seconds` (saturating),
    /// so the result is always well-formed.
    pub const fn new(seconds: i64, nanoseconds: u32) -> Self {
        let carry = (nanoseconds / NANOS_PER_SECOND) as i64;
        Timestamp {
            seconds: seconds.saturating_add(carry),
            nanoseconds: nanoseconds % NANOS_PER_SECOND,
        }
    }

    /// A timestamp at a whole second since the Unix epoch.
    pub const fn from_unix_seconds(seconds: i64) -> Self {
        Timestamp {
            seconds,
            nanoseconds: 0,
        }
    }

    /// The time as a [`SystemTime`], or `None` if this platform's
    /// `SystemTime` cannot represent it.
    pub fn to_system_time(self) -> Option<SystemTime> {
        let nanos = Duration::from_nanos(u64::from(self.nanoseconds % NANOS_PER_SECOND));
        let whole = Duration::from_secs(self.seconds.unsigned_abs());
        let at_second = if self.seconds >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(whole)?
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(whole)?
        };
        at_second.checked_add(nanos)
    }
}

impl From<SystemTime> for Timestamp {
    /// Converts exactly; times beyond ±292 billion years saturate.
    fn from(time: SystemTime) -> Self {
        match time.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => Timestamp::new(saturating_i64(after.as_secs()), after.subsec_nanos()),
            Err(before) => {
                // `before` is how far before the epoch: step back whole seconds
                // and express the rest as a positive fraction of a second.
                let before = before.duration();
                let seconds = saturating_i64(before.as_secs());
                match before.subsec_nanos() {
                    0 => Timestamp::new(seconds.saturating_neg(), 0),
                    nanos => Timestamp::new(
                        seconds.saturating_neg().saturating_sub(1),
                        NANOS_PER_SECOND - nanos,
                    ),
                }
            }
        }
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    /// Chronological for well-formed timestamps (see [`Timestamp::new`]).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.seconds, self.nanoseconds).cmp(&(other.seconds, other.nanoseconds))
    }
}

impl TimeInterval {
    /// Says nothing about the time: both sides unbounded.
    pub const UNBOUNDED: TimeInterval = TimeInterval {
        earliest: None,
        latest: None,
    };

    /// The true time is at or after `earliest`, with no upper bound: what a
    /// saved last-known time gives.
    pub const fn at_least(earliest: Timestamp) -> Self {
        TimeInterval {
            earliest: Some(earliest),
            latest: None,
        }
    }

    /// The true time is at or before `latest`, with no lower bound.
    pub const fn at_most(latest: Timestamp) -> Self {
        TimeInterval {
            earliest: None,
            latest: Some(latest),
        }
    }

    /// The true time lies in `[earliest, latest]`.
    ///
    /// Not checked here: the host rejects an interval whose `earliest` is
    /// after its `latest`.
    pub const fn between(earliest: Timestamp, latest: Timestamp) -> Self {
        TimeInterval {
            earliest: Some(earliest),
            latest: Some(latest),
        }
    }

    /// The true time is exactly `at` (an interval of width zero).
    pub const fn exactly(at: Timestamp) -> Self {
        TimeInterval::between(at, at)
    }

    /// Whether `time` lies inside the interval (bounds included).
    pub fn contains(&self, time: Timestamp) -> bool {
        self.earliest.is_none_or(|earliest| earliest <= time)
            && self.latest.is_none_or(|latest| time <= latest)
    }
}

impl fmt::Display for ErrorCode {
    /// The WIT name, such as `invalid-input`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::InvalidInput => "invalid-input",
            ErrorCode::PermissionDenied => "permission-denied",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Internal => "internal",
        })
    }
}

impl From<io::ErrorKind> for ErrorCode {
    /// The code the host should see for an I/O failure: denied access is
    /// [`ErrorCode::PermissionDenied`], bad data is
    /// [`ErrorCode::InvalidInput`], and anything else is taken as transient
    /// ([`ErrorCode::Unavailable`]).
    fn from(kind: io::ErrorKind) -> Self {
        match kind {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                ErrorCode::PermissionDenied
            }
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => ErrorCode::InvalidInput,
            io::ErrorKind::Unsupported => ErrorCode::Unsupported,
            _ => ErrorCode::Unavailable,
        }
    }
}

impl PluginError {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        PluginError {
            code,
            message: message.into(),
        }
    }

    /// [`ErrorCode::Unavailable`]: not reachable now, trying later may work.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// [`ErrorCode::InvalidInput`]: the config, device answer or request was
    /// not acceptable.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// [`ErrorCode::PermissionDenied`]: a capability was not granted.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }

    /// [`ErrorCode::Unsupported`]: the plugin does not implement this.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unsupported, message)
    }

    /// [`ErrorCode::Internal`]: a bug or unexpected state in the plugin.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// An I/O failure, as `"{context}: {error}"`, with the code chosen from
    /// the error's kind (see `From<io::ErrorKind> for ErrorCode`).
    ///
    /// `context` should name what was being done to what, e.g.
    /// `"failed to read '/data/state'"`: `io::Error` does not name the file.
    pub fn io(context: impl fmt::Display, error: &io::Error) -> Self {
        Self::new(error.kind().into(), format!("{context}: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_carries_whole_seconds_out_of_nanoseconds() {
        assert_eq!(
            Timestamp::new(1, 2_500_000_000),
            Timestamp {
                seconds: 3,
                nanoseconds: 500_000_000
            }
        );
        assert_eq!(Timestamp::new(i64::MAX, 1_000_000_000).seconds, i64::MAX);
    }

    #[test]
    fn system_time_round_trips_on_both_sides_of_the_epoch() {
        for (seconds, nanoseconds) in [(1_700_000_000, 123), (0, 0), (-1, 500_000_000), (-5, 0)] {
            let ts = Timestamp::new(seconds, nanoseconds);
            let system = ts.to_system_time().expect("representable");
            assert_eq!(Timestamp::from(system), ts, "{seconds}s {nanoseconds}ns");
        }
    }

    #[test]
    fn ordering_is_chronological() {
        let mut times = vec![
            Timestamp::new(1, 0),
            Timestamp::new(-1, 999_999_999),
            Timestamp::new(0, 5),
            Timestamp::new(-1, 0),
        ];
        times.sort();
        assert_eq!(
            times,
            [
                Timestamp::new(-1, 0),
                Timestamp::new(-1, 999_999_999),
                Timestamp::new(0, 5),
                Timestamp::new(1, 0)
            ]
        );
    }

    #[test]
    fn interval_contains_respects_open_sides() {
        let (a, b, c) = (
            Timestamp::from_unix_seconds(1),
            Timestamp::from_unix_seconds(2),
            Timestamp::from_unix_seconds(3),
        );
        assert!(TimeInterval::at_least(b).contains(c));
        assert!(!TimeInterval::at_least(b).contains(a));
        assert!(TimeInterval::at_most(b).contains(a));
        assert!(TimeInterval::between(a, c).contains(b));
        assert!(TimeInterval::exactly(b).contains(b));
        assert!(!TimeInterval::exactly(b).contains(c));
        assert!(TimeInterval::UNBOUNDED.contains(a));
    }

    #[test]
    fn io_errors_keep_context_and_map_kind() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let error = PluginError::io("failed to open '/data/x'", &denied);
        assert_eq!(error.code, ErrorCode::PermissionDenied);
        assert!(
            error.message.starts_with("failed to open '/data/x': "),
            "{}",
            error.message
        );

        let missing = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(PluginError::io("x", &missing).code, ErrorCode::Unavailable);
    }
}
