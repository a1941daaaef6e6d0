//! Reading a thermal zone's `temp`: millidegrees Celsius in decimal, maybe
//! negative, then `\n`.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use thiserror::Error;

/// Longest valid file: a sign, 19 digits and the newline. Reading stops
/// just past this, so a huge file costs no memory.
const MAX_LEN: usize = 21;

/// Colder than absolute zero, or hotter than any board survives: a sensor
/// fault (some drivers report `-273200` or `i32::MAX` then).
pub const PLAUSIBLE: std::ops::RangeInclusive<i64> = -273_150..=500_000;

/// Why there is no temperature to decide on.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReadingError {
    #[error("no temperature at '{0}' (is the sensor's directory granted?)")]
    Missing(String),
    #[error("failed to read '{path}': {error}")]
    Io { path: String, error: String },
    #[error("'{path}' is not a temperature: {error}")]
    Garbage { path: String, error: ContentError },
}

/// Why a file's contents are not a plausible temperature.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ContentError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("expected one line of millidegrees Celsius, found {0:?}")]
    NotMillidegrees(String),
    #[error("{0} millidegrees Celsius is no board temperature (a sensor fault?)")]
    Implausible(i64),
}

/// The millidegrees in `contents`: an optional `-`, digits, and a final
/// newline or not.
pub fn parse(contents: &[u8]) -> Result<i64, ContentError> {
    if contents.is_empty() {
        return Err(ContentError::Empty);
    }
    if contents.len() > MAX_LEN {
        return Err(ContentError::TooLong);
    }
    let line = contents.strip_suffix(b"\n").unwrap_or(contents);
    let found = || ContentError::NotMillidegrees(String::from_utf8_lossy(line).into_owned());
    let digits = line.strip_prefix(b"-").unwrap_or(line);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(found());
    }
    // A sign and ASCII digits, so valid UTF-8; only overflow can fail.
    let value: i64 = std::str::from_utf8(line)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(found)?;
    if !PLAUSIBLE.contains(&value) {
        return Err(ContentError::Implausible(value));
    }
    Ok(value)
}

/// The temperature in `path`, in millidegrees Celsius.
pub fn read(path: &Path) -> Result<i64, ReadingError> {
    let shown = || path.display().to_string();
    let io_error = |error: io::Error| match error.kind() {
        io::ErrorKind::NotFound => ReadingError::Missing(shown()),
        _ => ReadingError::Io {
            path: shown(),
            error: error.to_string(),
        },
    };
    let file = File::open(path).map_err(io_error)?;
    let mut contents = Vec::with_capacity(MAX_LEN + 1);
    file.take(MAX_LEN as u64 + 1)
        .read_to_end(&mut contents)
        .map_err(io_error)?;
    parse(&contents).map_err(|error| ReadingError::Garbage {
        path: shown(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expect: Result<i64, ContentError>) {
        assert_eq!(
            parse(input),
            expect,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn accepts_millidegrees_with_or_without_the_newline() {
        check(b"83000\n", Ok(83_000));
        check(b"41500", Ok(41_500));
        check(b"-5000\n", Ok(-5_000));
        check(b"0\n", Ok(0));
        check(b"500000\n", Ok(500_000));
        check(b"-273150\n", Ok(-273_150));
    }

    #[test]
    fn rejects_everything_else() {
        let not = |found: &str| Err(ContentError::NotMillidegrees(found.into()));
        check(b"", Err(ContentError::Empty));
        check(b"\n", not(""));
        check(b"-\n", not("-"));
        check(b"garbage\n", not("garbage"));
        check(b"83.5\n", not("83.5"));
        check(b"+83000\n", not("+83000"));
        check(b" 83000\n", not(" 83000"));
        check(b"83000\n\n", not("83000\n"));
        check(b"--5\n", not("--5"));
        check(b"\xff\n", not("\u{fffd}"));
        check(b"-273200\n", Err(ContentError::Implausible(-273_200)));
        check(
            b"2147483647\n",
            Err(ContentError::Implausible(2_147_483_647)),
        );
        check(b"99999999999999999999\n", not("99999999999999999999"));
        check(b"1234567890123456789012\n", Err(ContentError::TooLong));
    }
}
