//! What a compose value reads as: a mapping, a list, a string, a number, a
//! boolean, a size in bytes. Each refusal names the path.
//!
//! Numbers and booleans are also read from strings, as compose reads them:
//! interpolation makes strings (`cpus: ${CPUS}` is `"1.5"` by then).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::ComposeError;

pub(super) fn invalid(path: &str, message: impl fmt::Display) -> ComposeError {
    ComposeError::Invalid {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

pub(super) fn mapping<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, ComposeError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(invalid(
            path,
            format!("expected a mapping, found {}", kind(other)),
        )),
    }
}

pub(super) fn list<'a>(value: &'a Value, path: &str) -> Result<&'a [Value], ComposeError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(invalid(
            path,
            format!("expected a list, found {}", kind(other)),
        )),
    }
}

pub(super) fn string(value: &Value, path: &str) -> Result<String, ComposeError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(invalid(
            path,
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

/// A string, number or boolean, as text (compose writes `DEBUG: 1`).
pub(super) fn scalar(value: &Value, path: &str) -> Result<String, ComposeError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(invalid(
            path,
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

/// A string or a number, as text: a user id (`user: 1000`), a group.
pub(super) fn name_or_number(value: &Value, path: &str) -> Result<String, ComposeError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(invalid(
            path,
            format!("expected a string or a number, found {}", kind(other)),
        )),
    }
}

pub(super) fn boolean(value: &Value, path: &str) -> Result<bool, ComposeError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Value::String(s) => Err(invalid(
            path,
            format!("expected true or false, found '{s}'"),
        )),
        other => Err(invalid(
            path,
            format!("expected true or false, found {}", kind(other)),
        )),
    }
}

/// A whole number, written as one or as a string of one.
pub(super) fn integer(value: &Value, path: &str) -> Result<i64, ComposeError> {
    let bad = |found: &str| invalid(path, format!("expected a whole number, found {found}"));
    match value {
        Value::Number(n) => n.as_i64().ok_or_else(|| bad(&format!("{n}"))),
        Value::String(s) => s.trim().parse().map_err(|_| bad(&format!("'{s}'"))),
        other => Err(bad(kind(other))),
    }
}

/// A whole number in the range of `T`, with what the range is.
pub(super) fn integer_in<T: TryFrom<i64>>(
    value: &Value,
    path: &str,
    range: &str,
) -> Result<T, ComposeError> {
    let n = integer(value, path)?;
    T::try_from(n).map_err(|_| invalid(path, format!("{n} is out of range ({range})")))
}

/// A string, or a list of strings: `dns: 8.8.8.8` or `dns: [8.8.8.8]`.
pub(super) fn one_or_many(
    value: &Value,
    path: &str,
) -> Result<Vec<(String, String)>, ComposeError> {
    match value {
        Value::String(one) => Ok(vec![(path.to_owned(), one.clone())]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let here = format!("{path}[{i}]");
                Ok((here.clone(), string(item, &here)?))
            })
            .collect(),
        other => Err(invalid(
            path,
            format!("expected a string or a list, found {}", kind(other)),
        )),
    }
}

pub(super) fn string_map(
    value: &Value,
    path: &str,
) -> Result<BTreeMap<String, String>, ComposeError> {
    mapping(value, path)?
        .iter()
        .map(|(key, value)| Ok((key.clone(), scalar(value, &format!("{path}.{key}"))?)))
        .collect()
}

/// `{k: v}` or `["k=v"]`, as `sysctls` are written, each entry with its
/// path (`sysctls.net.core.somaxconn`) whichever way it was written; a list
/// item without `=` is refused.
pub(super) fn key_values(
    value: &Value,
    path: &str,
    what: &str,
) -> Result<Vec<(String, String, String)>, ComposeError> {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| {
                let here = format!("{path}.{key}");
                Ok((here.clone(), key.clone(), scalar(value, &here)?))
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let here = format!("{path}[{i}]");
                let text = scalar(item, &here)?;
                let Some((key, value)) = text.split_once('=') else {
                    return Err(invalid(
                        &here,
                        format!("expected '{what}=VALUE', found '{text}'"),
                    ));
                };
                Ok((format!("{path}.{key}"), key.to_owned(), value.to_owned()))
            })
            .collect(),
        other => Err(invalid(
            path,
            format!("expected a mapping or a list, found {}", kind(other)),
        )),
    }
}

/// A string read by `parse` (a value type's own check).
pub(super) fn parsed<T>(
    value: &Value,
    path: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ComposeError> {
    parse(&string(value, path)?).map_err(|e| invalid(path, e))
}

/// A list of strings, each read by `parse`.
pub(super) fn each<T>(
    value: &Value,
    path: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ComposeError> {
    list(value, path)?
        .iter()
        .enumerate()
        .map(|(i, item)| parsed(item, &format!("{path}[{i}]"), &parse))
        .collect()
}

/// Bytes, as a number or with a unit, as compose reads sizes: `65536`,
/// `64k`, `10m`, `1.5g`, `1gb`, `512MiB`; units are powers of 1024 (`b`,
/// `k`, `m`, `g`, `t`, `p`), a fraction of a byte is dropped.
pub(super) fn byte_size(value: &Value, path: &str) -> Result<u64, ComposeError> {
    let bad = || invalid(path, "expected a size in bytes, e.g. 65536 or '64m'");
    let text = match value {
        Value::Number(n) => {
            if let Some(bytes) = n.as_u64() {
                return Ok(bytes);
            }
            // A YAML reader makes a float of a number past u64 (or with a
            // fraction): its integer part, if it has one that fits.
            return match n.as_f64() {
                Some(f) if f >= 0.0 && f < u64::MAX as f64 => Ok(f as u64),
                Some(f) if f >= 0.0 => Err(invalid(path, "too large a size")),
                _ => Err(bad()),
            };
        }
        Value::String(s) => s.trim().to_ascii_lowercase(),
        _ => return Err(bad()),
    };
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let scale: u32 = match unit.trim_start() {
        "" | "b" => 0,
        "k" | "kb" | "ki" | "kib" => 1,
        "m" | "mb" | "mi" | "mib" => 2,
        "g" | "gb" | "gi" | "gib" => 3,
        "t" | "tb" | "ti" | "tib" => 4,
        "p" | "pb" | "pi" | "pib" => 5,
        _ => return Err(bad()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || fraction.contains('.') || (number.contains('.') && fraction.is_empty()) {
        return Err(bad());
    }
    let too_large = || invalid(path, format!("'{text}' is too large a size"));
    let multiplier = 1024u128.pow(scale);
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    // Eighteen digits are finer than a byte at every scale.
    let digits = &fraction[..fraction.len().min(18)];
    let fraction_bytes = if digits.is_empty() {
        0
    } else {
        let numerator: u128 = digits.parse().map_err(|_| bad())?;
        numerator * multiplier / 10u128.pow(digits.len() as u32)
    };
    whole
        .checked_mul(multiplier)
        .and_then(|bytes| bytes.checked_add(fraction_bytes))
        .and_then(|bytes| u64::try_from(bytes).ok())
        .ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_compose_reads_them() {
        for (input, expect) in [
            (Value::from(65536), 65536),
            (Value::from("65536"), 65536),
            (Value::from("64k"), 64 << 10),
            (Value::from("64K"), 64 << 10),
            (Value::from("10m"), 10 << 20),
            (Value::from("10mb"), 10 << 20),
            (Value::from("512MiB"), 512 << 20),
            (Value::from("1g"), 1 << 30),
            (Value::from("1.5g"), 3 << 29),
            (Value::from("2 t"), 2 << 40),
            (Value::from("1p"), 1 << 50),
            (Value::from("100b"), 100),
            (Value::from("0.5k"), 512),
        ] {
            assert_eq!(byte_size(&input, "x"), Ok(expect), "{input}");
        }
        for bad in ["lots", "", "-1", "1x", "1.2.3", "1.", ".5m", "1bb", "m"] {
            assert_eq!(
                byte_size(&Value::from(bad), "x").map_err(|e| e.to_string()),
                Err("x: expected a size in bytes, e.g. 65536 or '64m'".to_owned()),
                "{bad}"
            );
        }
        assert_eq!(
            byte_size(&Value::from("99999999999999999999"), "x").map_err(|e| e.to_string()),
            Err("x: '99999999999999999999' is too large a size".to_owned())
        );
        assert_eq!(
            byte_size(&Value::from("16777216t"), "x").map_err(|e| e.to_string()),
            Err("x: '16777216t' is too large a size".to_owned())
        );
        assert!(byte_size(&Value::from(-5), "x").is_err());
    }

    #[test]
    fn numbers_and_booleans_from_strings() {
        assert_eq!(integer(&Value::from("-12"), "x"), Ok(-12));
        assert_eq!(integer(&Value::from(7), "x"), Ok(7));
        assert_eq!(
            integer(&Value::from(1.5), "x").map_err(|e| e.to_string()),
            Err("x: expected a whole number, found 1.5".to_owned())
        );
        assert_eq!(
            integer_in::<u32>(&Value::from(-1), "x", "0 to 4294967295").map_err(|e| e.to_string()),
            Err("x: -1 is out of range (0 to 4294967295)".to_owned())
        );
        assert_eq!(boolean(&Value::from("True"), "x"), Ok(true));
        assert_eq!(boolean(&Value::from("false"), "x"), Ok(false));
        assert_eq!(
            boolean(&Value::from("yes"), "x").map_err(|e| e.to_string()),
            Err("x: expected true or false, found 'yes'".to_owned())
        );
    }
}
