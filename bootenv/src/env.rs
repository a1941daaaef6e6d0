//! The environment file's format: [`Env`] read from and written as text.

use std::fmt;

/// The environment's file name in the directory the adapter is granted.
pub const FILE_NAME: &str = "boot.env";

/// The most a reader takes: an environment is a few hundred bytes, and
/// U-Boot's own is at most a flash sector of this order.
pub const MAX_BYTES: usize = 64 * 1024;

/// A root filesystem slot: one runs, the other takes an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// The first slot.
    A,
    /// The second slot.
    B,
}

impl Slot {
    /// The slot as the file spells it: `a` or `b`.
    pub fn name(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    /// The slot spelled `text`, if any.
    pub fn from_name(text: &str) -> Option<Slot> {
        match text {
            "a" => Some(Slot::A),
            "b" => Some(Slot::B),
            _ => None,
        }
    }

    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The boot environment: the keys the reference bootloader acts on, and
/// the rest kept as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// `boot_slot`: the slot the next boot takes.
    pub boot_slot: Slot,
    /// `fallback_slot`: the slot booted once an unconfirmed update's boots
    /// run out.
    pub fallback_slot: Slot,
    /// `upgrade_available`: an update is unconfirmed, so boots are counted.
    pub upgrade_available: bool,
    /// `bootcount`: boots of the unconfirmed update so far.
    pub bootcount: u32,
    /// `bootlimit`: boots an unconfirmed update gets before the fallback.
    pub bootlimit: u32,
    /// `booted_slot`: the slot the last boot took.
    pub booted_slot: Slot,
    /// `rolled_back_from`: an update the bootloader gave up on.
    pub rolled_back_from: Option<Slot>,
    /// Keys this crate does not own, in the order read.
    pub other: Vec<(String, String)>,
}

/// Why a text is no boot environment. Each names the line and the key
/// where there is one; the caller adds the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// Longer than [`MAX_BYTES`].
    #[error("larger than {max} bytes")]
    TooLarge {
        /// [`MAX_BYTES`].
        max: usize,
    },
    /// A line that is not `key=value`.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A value its key does not take.
    #[error("line {line}: {key}: {reason}")]
    Value {
        /// 1-based.
        line: usize,
        /// The key.
        key: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// A key set twice: which one counts would be a guess.
    #[error("line {line}: {key} is set again (first on line {first})")]
    Repeated {
        /// 1-based, the second setting.
        line: usize,
        /// 1-based, the first.
        first: usize,
        /// The key.
        key: String,
    },
    /// A key the bootloader needs is absent.
    #[error("{key} is not set")]
    Missing {
        /// The key.
        key: &'static str,
    },
}

/// The keys this crate owns, in the order they are written.
const KEYS: [&str; 7] = [
    "boot_slot",
    "fallback_slot",
    "upgrade_available",
    "bootcount",
    "bootlimit",
    "booted_slot",
    "rolled_back_from",
];

impl Env {
    /// A device's first environment: everything boots `slot`, no update.
    pub fn fresh(slot: Slot) -> Env {
        Env {
            boot_slot: slot,
            fallback_slot: slot,
            upgrade_available: false,
            bootcount: 0,
            bootlimit: crate::rules::DEFAULT_BOOT_LIMIT,
            booted_slot: slot,
            rolled_back_from: None,
            other: Vec::new(),
        }
    }

    /// Reads an environment from the file's bytes: [`parse`](Env::parse),
    /// and refused if they are not UTF-8.
    pub fn from_bytes(bytes: &[u8]) -> Result<Env, EnvError> {
        if bytes.len() > MAX_BYTES {
            return Err(EnvError::TooLarge { max: MAX_BYTES });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| EnvError::Line {
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
            reason: "not UTF-8 text".to_owned(),
        })?;
        Env::parse(text)
    }

    /// Reads an environment. Refused: more than [`MAX_BYTES`], a line that
    /// is not `key=value` (blank and `#` lines aside), a key set twice, a
    /// value its key does not take, an owned key missing.
    pub fn parse(text: &str) -> Result<Env, EnvError> {
        if text.len() > MAX_BYTES {
            return Err(EnvError::TooLarge { max: MAX_BYTES });
        }
        // Where each owned key was set, and its value.
        let mut owned: [Option<(usize, &str)>; KEYS.len()] = [None; KEYS.len()];
        let mut other: Vec<(String, String, usize)> = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let Some((key, value)) = raw.split_once('=') else {
                return Err(EnvError::Line {
                    line,
                    reason: format!("'{}' is not key=value", shown(raw)),
                });
            };
            if key.is_empty()
                || !key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
            {
                return Err(EnvError::Line {
                    line,
                    reason: format!("'{}' is not a key", shown(key)),
                });
            }
            if value.chars().any(char::is_control) {
                return Err(EnvError::Value {
                    line,
                    key: key.to_owned(),
                    reason: format!("'{}' holds a control character", shown(value)),
                });
            }
            let first = KEYS
                .iter()
                .position(|k| *k == key)
                .and_then(|i| owned[i].map(|(l, _)| l))
                .or_else(|| other.iter().find(|(k, _, _)| k == key).map(|o| o.2));
            if let Some(first) = first {
                return Err(EnvError::Repeated {
                    line,
                    first,
                    key: key.to_owned(),
                });
            }
            match KEYS.iter().position(|k| *k == key) {
                Some(i) => owned[i] = Some((line, value)),
                None => other.push((key.to_owned(), value.to_owned(), line)),
            }
        }
        // Read in the order written, so the first error is the earliest.
        let field = |i: usize| owned[i].ok_or(EnvError::Missing { key: KEYS[i] });
        let boot_slot = slot(KEYS[0], field(0)?)?;
        let fallback_slot = slot(KEYS[1], field(1)?)?;
        let upgrade_available = flag(KEYS[2], field(2)?)?;
        let bootcount = number(KEYS[3], field(3)?)?;
        let bootlimit = number(KEYS[4], field(4)?)?;
        if !(1..=crate::rules::MAX_BOOT_LIMIT).contains(&bootlimit) {
            let (line, value) = field(4)?;
            return Err(value_error(
                line,
                KEYS[4],
                format!("{value} is not within 1..={}", crate::rules::MAX_BOOT_LIMIT),
            ));
        }
        Ok(Env {
            boot_slot,
            fallback_slot,
            upgrade_available,
            bootcount,
            bootlimit,
            booted_slot: slot(KEYS[5], field(5)?)?,
            rolled_back_from: match field(6)? {
                (_, "") => None,
                f => Some(slot(KEYS[6], f)?),
            },
            other: other.into_iter().map(|(k, v, _)| (k, v)).collect(),
        })
    }

    /// The environment as text: the owned keys in a fixed order, then the
    /// others as read. [`parse`](Env::parse) reads it back equal.
    pub fn to_text(&self) -> String {
        let owned = [
            self.boot_slot.name().to_owned(),
            self.fallback_slot.name().to_owned(),
            u8::from(self.upgrade_available).to_string(),
            self.bootcount.to_string(),
            self.bootlimit.to_string(),
            self.booted_slot.name().to_owned(),
            self.rolled_back_from
                .map_or(String::new(), |s| s.name().to_owned()),
        ];
        let mut text = String::new();
        for (key, value) in KEYS.iter().zip(&owned) {
            text.push_str(&format!("{key}={value}\n"));
        }
        for (key, value) in &self.other {
            text.push_str(&format!("{key}={value}\n"));
        }
        text
    }
}

fn value_error(line: usize, key: &str, reason: String) -> EnvError {
    EnvError::Value {
        line,
        key: key.to_owned(),
        reason,
    }
}

fn slot(key: &str, (line, value): (usize, &str)) -> Result<Slot, EnvError> {
    Slot::from_name(value).ok_or_else(|| {
        value_error(
            line,
            key,
            format!("'{}' is not a slot (a or b)", shown(value)),
        )
    })
}

fn flag(key: &str, (line, value): (usize, &str)) -> Result<bool, EnvError> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(value_error(
            line,
            key,
            format!("'{}' is not 0 or 1", shown(value)),
        )),
    }
}

fn number(key: &str, (line, value): (usize, &str)) -> Result<u32, EnvError> {
    // Digits only: `u32::from_str` would take a leading `+`.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(value_error(
            line,
            key,
            format!("'{}' is not a number", shown(value)),
        ));
    }
    value
        .parse()
        .map_err(|_| value_error(line, key, format!("{value} is too large")))
}

/// At most 64 characters of `text`, control characters escaped: an error
/// quotes what it refuses without carrying a line of garbage whole.
fn shown(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "boot_slot=b\nfallback_slot=a\nupgrade_available=1\nbootcount=2\n\
                        bootlimit=3\nbooted_slot=b\nrolled_back_from=\n";

    #[test]
    fn an_environment_reads_back_as_written() {
        let env = Env::parse(GOOD).unwrap();
        assert_eq!(env.boot_slot, Slot::B);
        assert_eq!(env.fallback_slot, Slot::A);
        assert!(env.upgrade_available);
        assert_eq!((env.bootcount, env.bootlimit), (2, 3));
        assert_eq!(env.rolled_back_from, None);
        assert_eq!(env.to_text(), GOOD);
        for slot in [Slot::A, Slot::B] {
            let fresh = Env::fresh(slot);
            assert_eq!(Env::parse(&fresh.to_text()), Ok(fresh));
        }
    }

    #[test]
    fn other_keys_comments_and_blank_lines_are_kept_or_skipped() {
        let text = format!(
            "# written by fw_setenv\n\nbootcmd=run distro_bootcmd\n{GOOD}ethaddr=00:04:4b:aa:bb:cc"
        );
        let env = Env::parse(&text).unwrap();
        assert_eq!(
            env.other,
            [
                ("bootcmd".to_owned(), "run distro_bootcmd".to_owned()),
                ("ethaddr".to_owned(), "00:04:4b:aa:bb:cc".to_owned())
            ]
        );
        assert_eq!(Env::parse(&env.to_text()), Ok(env));
    }

    #[test]
    fn each_bad_environment_is_refused_naming_the_line_and_the_key() {
        let with = |key: &str, value: &str| {
            GOOD.lines()
                .map(|l| match l.split_once('=') {
                    Some((k, _)) if k == key => format!("{key}={value}"),
                    _ => l.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        for (text, expected) in [
            (
                with("bootcount", "x"),
                "line 4: bootcount: 'x' is not a number",
            ),
            (
                with("bootcount", "+1"),
                "line 4: bootcount: '+1' is not a number",
            ),
            (
                with("bootcount", ""),
                "line 4: bootcount: '' is not a number",
            ),
            (
                with("bootcount", "99999999999"),
                "line 4: bootcount: 99999999999 is too large",
            ),
            (
                with("bootlimit", "0"),
                "line 5: bootlimit: 0 is not within 1..=100",
            ),
            (
                with("boot_slot", "c"),
                "line 1: boot_slot: 'c' is not a slot (a or b)",
            ),
            (
                with("upgrade_available", "yes"),
                "line 3: upgrade_available: 'yes' is not 0 or 1",
            ),
            (
                with("rolled_back_from", "a\r"),
                "line 7: rolled_back_from: 'a\\r' holds a control character",
            ),
            (
                format!("{GOOD}bootcount=0\n"),
                "line 8: bootcount is set again (first on line 4)",
            ),
            (
                format!("{GOOD}bootcmd=a\nbootcmd=b"),
                "line 9: bootcmd is set again (first on line 8)",
            ),
            (
                format!("{GOOD}garbage"),
                "line 8: 'garbage' is not key=value",
            ),
            (format!("{GOOD}=1"), "line 8: '' is not a key"),
            (format!("{GOOD}a b=1"), "line 8: 'a b' is not a key"),
            (GOOD.replace("bootlimit=3\n", ""), "bootlimit is not set"),
            (String::new(), "boot_slot is not set"),
            (
                "\u{1b}[31m".to_owned(),
                "line 1: '\\u{1b}[31m' is not key=value",
            ),
            ("x".repeat(MAX_BYTES + 1), "larger than 65536 bytes"),
        ] {
            assert_eq!(
                Env::parse(&text).map_err(|e| e.to_string()),
                Err(expected.to_owned()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn bytes_that_are_not_text_are_refused_naming_the_line() {
        let mut bytes = GOOD.as_bytes().to_vec();
        bytes.extend_from_slice(b"bootcmd=\xff\xfe\n");
        assert_eq!(
            Env::from_bytes(&bytes).unwrap_err().to_string(),
            "line 8: not UTF-8 text"
        );
        assert_eq!(
            Env::from_bytes(&vec![b'#'; MAX_BYTES + 1]).unwrap_err(),
            EnvError::TooLarge { max: MAX_BYTES }
        );
        assert_eq!(Env::from_bytes(GOOD.as_bytes()), Env::parse(GOOD));
    }

    #[test]
    fn a_long_line_is_quoted_cut() {
        let error = Env::parse(&"x".repeat(1000)).unwrap_err().to_string();
        assert!(error.len() < 120, "{error}");
        assert!(error.contains("…"), "{error}");
    }
}
