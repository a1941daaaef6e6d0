//! Reading the kernel's view of the RTC: sysfs `since_epoch`, the RTC's
//! time as whole Unix seconds in decimal, then `\n`.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use osb_sdk::{PluginError, Result};
use thiserror::Error;

/// Longest valid file: `i64::MAX` has 19 digits, plus the newline. Reading
/// stops just past this, so a huge file costs no memory.
const MAX_LEN: usize = 20;

/// Why a file's contents are not an RTC reading.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReadingError {
    #[error("file is empty")]
    Empty,
    #[error("file is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("expected one line of Unix seconds, found {found:?}")]
    NotSeconds { found: String },
    #[error("{found} is too large for a time")]
    OutOfRange { found: String },
}

/// The Unix seconds in `contents`: digits, and a final newline or not.
pub fn parse(contents: &[u8]) -> Result<i64, ReadingError> {
    if contents.is_empty() {
        return Err(ReadingError::Empty);
    }
    if contents.len() > MAX_LEN {
        return Err(ReadingError::TooLong);
    }
    let line = contents.strip_suffix(b"\n").unwrap_or(contents);
    let found = || String::from_utf8_lossy(line).into_owned();
    if line.is_empty() || !line.iter().all(u8::is_ascii_digit) {
        return Err(ReadingError::NotSeconds { found: found() });
    }
    // All ASCII digits, so valid UTF-8; only overflow can fail the parse.
    std::str::from_utf8(line)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| ReadingError::OutOfRange { found: found() })
}

/// The RTC's Unix seconds, read from `path`.
pub fn read(path: &Path) -> Result<i64> {
    let shown = path.display();
    let file = File::open(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => PluginError::unavailable(format!(
            "no RTC at '{shown}' (does the board have one, and is its sysfs directory granted?)"
        )),
        _ => PluginError::io(format_args!("failed to open '{shown}'"), &error),
    })?;
    let mut contents = Vec::with_capacity(MAX_LEN + 1);
    file.take(MAX_LEN as u64 + 1)
        .read_to_end(&mut contents)
        .map_err(|error| match error.kind() {
            // The kernel fails the read when the RTC holds no valid time
            // (it lost power, or was never set).
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => PluginError::unavailable(format!(
                "the RTC at '{shown}' holds no valid time (the kernel refused to read it: {error})"
            )),
            _ => PluginError::io(format_args!("failed to read '{shown}'"), &error),
        })?;
    parse(&contents).map_err(|error| {
        PluginError::invalid_input(format!("'{shown}' is not an RTC reading: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expect: Result<i64, ReadingError>) {
        assert_eq!(
            parse(input),
            expect,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn accepts_seconds_with_or_without_the_newline() {
        check(b"1780000000\n", Ok(1_780_000_000));
        check(b"1780000000", Ok(1_780_000_000));
        check(b"0\n", Ok(0));
        check(b"9223372036854775807\n", Ok(i64::MAX));
    }

    #[test]
    fn rejects_everything_else() {
        let not = |found: &str| {
            Err(ReadingError::NotSeconds {
                found: found.into(),
            })
        };
        check(b"", Err(ReadingError::Empty));
        check(b"\n", not(""));
        check(b"garbage\n", not("garbage"));
        check(b"-5\n", not("-5"));
        check(b" 5\n", not(" 5"));
        check(b"5\n\n", not("5\n"));
        check(b"2026-11-01 00:00:00\n", not("2026-11-01 00:00:00"));
        check(b"\xff\n", not("\u{fffd}"));
        check(
            b"9223372036854775808\n",
            Err(ReadingError::OutOfRange {
                found: "9223372036854775808".into(),
            }),
        );
        check(b"123456789012345678901\n", Err(ReadingError::TooLong));
    }
}
