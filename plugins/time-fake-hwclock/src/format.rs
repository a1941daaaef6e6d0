//! The state file format: one line, whole Unix seconds in decimal, then
//! `\n`. Nothing else is accepted, so a torn or foreign file is reported
//! instead of being read as some other time.

use thiserror::Error;

/// Longest valid file: `i64::MAX` has 19 digits, plus the newline. Reading
/// stops just past this, so a huge file costs no memory.
pub const MAX_LEN: usize = 20;

/// Why a state file's contents are not a saved time.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("file is empty")]
    Empty,
    #[error("file is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("missing the final newline (torn write?)")]
    MissingNewline,
    #[error("expected one line of Unix seconds, found {found:?}")]
    NotSeconds { found: String },
    #[error("{found} is too large for a time")]
    OutOfRange { found: String },
}

/// The saved Unix seconds in `contents`.
pub fn parse(contents: &[u8]) -> Result<i64, FormatError> {
    if contents.is_empty() {
        return Err(FormatError::Empty);
    }
    if contents.len() > MAX_LEN {
        return Err(FormatError::TooLong);
    }
    let (line, terminated) = match contents.strip_suffix(b"\n") {
        Some(line) => (line, true),
        None => (contents, false),
    };
    let found = || String::from_utf8_lossy(line).into_owned();
    // Digits only: `i64::from_str` would also take a sign, and a negative
    // or signed value is not something this plugin writes.
    if line.is_empty() || !line.iter().all(u8::is_ascii_digit) {
        return Err(FormatError::NotSeconds { found: found() });
    }
    // Digits without the newline are a prefix of what was written, so a
    // wrong number: only a whole line is trusted.
    if !terminated {
        return Err(FormatError::MissingNewline);
    }
    // All ASCII digits, so valid UTF-8; only overflow can fail the parse.
    std::str::from_utf8(line)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| FormatError::OutOfRange { found: found() })
}

/// The file contents for `seconds`.
pub fn render(seconds: i64) -> String {
    format!("{seconds}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expect: Result<i64, FormatError>) {
        assert_eq!(
            parse(input),
            expect,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn accepts_one_line_of_seconds() {
        check(b"1700000000\n", Ok(1_700_000_000));
        check(b"0\n", Ok(0));
        check(b"0001\n", Ok(1));
        check(b"9223372036854775807\n", Ok(i64::MAX));
    }

    #[test]
    fn rejects_everything_else() {
        let not = |found: &str| {
            Err(FormatError::NotSeconds {
                found: found.into(),
            })
        };
        check(b"", Err(FormatError::Empty));
        check(b"1700000000", Err(FormatError::MissingNewline));
        check(b"17000", Err(FormatError::MissingNewline));
        check(b"garbage", not("garbage"));
        check(b"\n", not(""));
        check(b"-5\n", not("-5"));
        check(b"+5\n", not("+5"));
        check(b" 5\n", not(" 5"));
        check(b"5\n\n", not("5\n"));
        check(b"17000\r\n", not("17000\r"));
        check(b"2023-11-14 22:13:20\n", not("2023-11-14 22:13:20"));
        check(b"\xff\xfe\n", not("\u{fffd}\u{fffd}"));
        check(
            b"9223372036854775808\n",
            Err(FormatError::OutOfRange {
                found: "9223372036854775808".into(),
            }),
        );
        check(b"123456789012345678901\n", Err(FormatError::TooLong));
    }

    #[test]
    fn render_round_trips() {
        for seconds in [0, 1, 1_700_000_000, i64::MAX] {
            check(render(seconds).as_bytes(), Ok(seconds));
        }
    }
}
