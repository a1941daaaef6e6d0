//! `${VAR}` interpolation, by compose's rules: `$VAR`, `${VAR}`,
//! `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:?message}`, `${VAR?message}` (an error), `${VAR:+alt}`,
//! `${VAR+alt}` (the alternative when set), and `$$` for a literal `$`.
//! Defaults, messages and alternatives are interpolated in turn, and only
//! when used, so `${A:-${B}}` says nothing about `B` while `A` is set.
//!
//! The values come from the environment the import is given, never from
//! this process's: the state crate reads no environment (the caller
//! decides what a device's compose environment is).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{ComposeError, Walker, invalid};

/// Why a string cannot be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum InterpolationError {
    /// A `$` that starts nothing compose knows, or a `${` never closed.
    Invalid(String),
    /// `${VAR:?message}` or `${VAR?message}` with `VAR` missing.
    Required {
        /// The variable.
        name: String,
        /// The file's message, interpolated.
        message: String,
    },
}

impl std::fmt::Display for InterpolationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpolationError::Invalid(reason) => f.write_str(reason),
            InterpolationError::Required { name, message } if message.is_empty() => {
                write!(f, "required variable '{name}' is missing a value")
            }
            InterpolationError::Required { name, message } => {
                write!(
                    f,
                    "required variable '{name}' is missing a value: {message}"
                )
            }
        }
    }
}

/// Where interpolation looks a variable up.
pub(super) trait Lookup {
    /// The variable's value, if it is set (an empty value is set).
    fn get(&self, name: &str) -> Option<&str>;
}

impl Lookup for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// Interpolates `text`; each variable used but unset (and without a
/// default) is substituted by nothing and its name added to `unset`.
pub(super) fn interpolate(
    text: &str,
    lookup: &dyn Lookup,
    unset: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inside) = after.strip_prefix('{') {
            let end = closing_brace(inside).ok_or_else(|| {
                InterpolationError::Invalid(format!(
                    "'${{' is not closed in '{text}' (write '$$' for a literal '$')"
                ))
            })?;
            out.push_str(&braced(&inside[..end], text, lookup, unset)?);
            rest = &inside[end + 1..];
        } else {
            let length = name_length(after);
            if length == 0 {
                return Err(InterpolationError::Invalid(format!(
                    "'$' in '{text}' is followed by neither a name, '{{' nor '$' (write '$$' \
                     for a literal '$')"
                )));
            }
            let name = &after[..length];
            out.push_str(value_or_unset(name, lookup, unset));
            rest = &after[length..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn value_or_unset<'l>(name: &str, lookup: &'l dyn Lookup, unset: &mut Vec<String>) -> &'l str {
    match lookup.get(name) {
        Some(value) => value,
        None => {
            if !unset.iter().any(|u| u == name) {
                unset.push(name.to_owned());
            }
            ""
        }
    }
}

/// The length of the variable name `text` starts with: a letter or `_`,
/// then letters, digits and `_` (ASCII, as compose reads them).
fn name_length(text: &str) -> usize {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => bytes
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
            .unwrap_or(bytes.len()),
        _ => 0,
    }
}

/// Where the `}` closing a `${` is in `inside` (the text after the `${`),
/// counting the `${` nested in a default.
fn closing_brace(inside: &str) -> Option<usize> {
    let bytes = inside.as_bytes();
    let mut depth = 1usize;
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'$', Some(b'$')) => i += 2,
            (b'$', Some(b'{')) => {
                depth += 1;
                i += 2;
            }
            (b'}', _) => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// The text between `${` and `}`: a name, then nothing or an operator and
/// its word.
fn braced(
    inner: &str,
    text: &str,
    lookup: &dyn Lookup,
    unset: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    let length = name_length(inner);
    let (name, operation) = inner.split_at(length);
    let not_known = || {
        InterpolationError::Invalid(format!(
            "'${{{inner}}}' in '{text}' is not a substitution compose knows (${{VAR}}, \
             ${{VAR:-default}}, ${{VAR-default}}, ${{VAR:?error}}, ${{VAR?error}}, \
             ${{VAR:+alternative}} or ${{VAR+alternative}})"
        ))
    };
    if name.is_empty() {
        return Err(not_known());
    }
    if operation.is_empty() {
        return Ok(value_or_unset(name, lookup, unset).to_owned());
    }
    let (empty_counts, operation) = match operation.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, operation),
    };
    let mut chars = operation.chars();
    let (Some(operator), word) = (chars.next(), chars.as_str()) else {
        return Err(not_known());
    };
    let value = lookup.get(name);
    // `:` makes an empty value count as missing.
    let present = value.filter(|v| !(empty_counts && v.is_empty()));
    match (operator, present) {
        ('-', Some(value)) => Ok(value.to_owned()),
        ('-', None) => interpolate(word, lookup, unset),
        ('?', Some(value)) => Ok(value.to_owned()),
        ('?', None) => Err(InterpolationError::Required {
            name: name.to_owned(),
            message: interpolate(word, lookup, unset)?,
        }),
        ('+', Some(_)) => interpolate(word, lookup, unset),
        ('+', None) => Ok(String::new()),
        _ => Err(not_known()),
    }
}

/// Interpolates every string value of `document` (never a key), warning
/// for each variable used but unset, at the path of the value using it.
pub(super) fn document(
    walker: &mut Walker,
    document: &Value,
    environment: &BTreeMap<String, String>,
) -> Result<Value, ComposeError> {
    value(walker, document, "", environment)
}

fn value(
    walker: &mut Walker,
    node: &Value,
    path: &str,
    environment: &BTreeMap<String, String>,
) -> Result<Value, ComposeError> {
    Ok(match node {
        Value::String(text) => {
            let mut unset = Vec::new();
            let done = interpolate(text, environment, &mut unset)
                .map_err(|e| invalid(if path.is_empty() { "." } else { path }, e))?;
            for name in unset {
                walker.warn(
                    path,
                    format!("variable '{name}' is not set: substituted an empty string"),
                );
            }
            Value::String(done)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| value(walker, item, &format!("{path}[{i}]"), environment))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                out.insert(key.clone(), value(walker, item, &here, environment)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [("TAG", "1.2"), ("EMPTY", ""), ("HOST", "example.com")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn run(text: &str) -> Result<(String, Vec<String>), String> {
        let mut unset = Vec::new();
        interpolate(text, &env(), &mut unset)
            .map(|out| (out, unset))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn substitutions() {
        for (input, expect) in [
            ("plain", "plain"),
            ("web:$TAG", "web:1.2"),
            ("web:${TAG}", "web:1.2"),
            ("$TAG.x", "1.2.x"),
            ("${TAG}${TAG}", "1.21.2"),
            ("$$TAG", "$TAG"),
            ("$${TAG}", "${TAG}"),
            ("cost: $$5", "cost: $5"),
            ("${MISSING:-dflt}", "dflt"),
            ("${EMPTY:-dflt}", "dflt"),
            ("${EMPTY-dflt}", ""),
            ("${MISSING-dflt}", "dflt"),
            ("${TAG:-dflt}", "1.2"),
            ("${MISSING:-${TAG}}", "1.2"),
            ("${MISSING:-${ALSO:-deep}}", "deep"),
            ("${MISSING:-a}b}", "ab}"),
            ("${MISSING:-}", ""),
            ("${TAG:?no}", "1.2"),
            ("${EMPTY?no}", ""),
            ("${TAG:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${MISSING+alt}", ""),
            ("${TAG:+v$TAG}", "v1.2"),
            ("http://${HOST}:${PORT:-80}/", "http://example.com:80/"),
            ("ünï${TAG}çödé", "ünï1.2çödé"),
        ] {
            assert_eq!(run(input), Ok((expect.to_owned(), vec![])), "{input}");
        }
    }

    #[test]
    fn unset_variables_become_empty_and_are_named_once() {
        assert_eq!(
            run("${A}-$A-${B}"),
            Ok(("--".to_owned(), vec!["A".to_owned(), "B".to_owned()]))
        );
        // A default that is not used says nothing of what it names.
        assert_eq!(run("${TAG:-$NOPE}"), Ok(("1.2".to_owned(), vec![])));
    }

    #[test]
    fn faults() {
        for (input, expect) in [
            (
                "${MISSING:?set MISSING to the registry}",
                "required variable 'MISSING' is missing a value: set MISSING to the registry",
            ),
            ("${EMPTY:?}", "required variable 'EMPTY' is missing a value"),
            (
                "${MISSING?need $TAG}",
                "required variable 'MISSING' is missing a value: need 1.2",
            ),
            (
                "price 5$",
                "'$' in 'price 5$' is followed by neither a name, '{' nor '$' (write '$$' for a literal '$')",
            ),
            (
                "$1",
                "'$' in '$1' is followed by neither a name, '{' nor '$' (write '$$' for a literal '$')",
            ),
            (
                "${TAG",
                "'${' is not closed in '${TAG' (write '$$' for a literal '$')",
            ),
            (
                "${}",
                "'${}' in '${}' is not a substitution compose knows (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alternative} or ${VAR+alternative})",
            ),
        ] {
            assert_eq!(run(input), Err(expect.to_owned()), "{input}");
        }
        for input in ["${TAG%.*}", "${TAG:}", "${1A}", "${TAG:=x}", "${TAG x}"] {
            let err = run(input).unwrap_err();
            assert!(
                err.contains("is not a substitution compose knows"),
                "{input}: {err}"
            );
        }
    }
}
