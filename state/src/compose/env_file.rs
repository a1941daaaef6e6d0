//! Environment files in compose's `.env` syntax, and a service's
//! `env_file` key, which names such files beside the compose file.
//!
//! The syntax, as compose reads it: one `KEY=VALUE` per line, an optional
//! `export ` before the key; blank lines and lines starting with `#` are
//! skipped. A value is
//!
//! - unquoted: up to the end of the line, trimmed, up to a `#` that
//!   follows a space (`a#b` keeps its `#`); interpolated;
//! - in double quotes: may span lines; `\n`, `\r`, `\t`, `\\`, `\"` and
//!   `\$` are escapes; interpolated;
//! - in single quotes: may span lines; taken as written (`\'` is a quote).
//!
//! After a closing quote only a comment may follow. A line holding only a
//! key takes the variable from the environment, and is left out when the
//! environment has none. Interpolation (`${VAR}`, by the compose rules the
//! whole compose file is interpolated by) looks in the environment first,
//! then at the keys earlier in the same file, as compose does.

use std::collections::BTreeMap;

use serde_json::Value;

use super::interpolate::{self, Lookup};
use super::{ComposeError, Walker, boolean, invalid, kind, string};

/// An environment file read: its variables, in the order written (a key
/// written twice keeps its last value), and the variables its values used
/// that were not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    /// The variables.
    pub variables: BTreeMap<String, String>,
    /// Warnings, each naming its line: a variable used but not set (it was
    /// substituted by nothing), or a key-only line whose variable the
    /// environment does not have.
    pub warnings: Vec<String>,
}

/// Why an environment file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct EnvFileError {
    /// Where, from 1.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

/// Reads `text` in compose's `.env` syntax; `environment` is where
/// `${VAR}` and key-only lines look first.
pub fn parse(text: &str, environment: &BTreeMap<String, String>) -> Result<EnvFile, EnvFileError> {
    let mut parser = Parser {
        text,
        at: 0,
        file: EnvFile::default(),
        environment,
    };
    parser.run()?;
    Ok(parser.file)
}

struct Parser<'t> {
    text: &'t str,
    at: usize,
    file: EnvFile,
    environment: &'t BTreeMap<String, String>,
}

/// The environment, then the file's own earlier keys.
struct Layered<'l> {
    environment: &'l BTreeMap<String, String>,
    file: &'l BTreeMap<String, String>,
}

impl Lookup for Layered<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.environment
            .get(name)
            .or_else(|| self.file.get(name))
            .map(String::as_str)
    }
}

/// Blanks within a line: a line break ends a statement.
fn is_blank(c: char) -> bool {
    c.is_whitespace() && c != '\n'
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    /// The line `at` is on, from 1.
    fn line(&self, at: usize) -> usize {
        self.text[..at].matches('\n').count() + 1
    }

    fn fail(&self, at: usize, message: impl Into<String>) -> EnvFileError {
        EnvFileError {
            line: self.line(at),
            message: message.into(),
        }
    }

    fn skip(&mut self, keep: impl Fn(char) -> bool) {
        let skipped = self
            .rest()
            .find(|c: char| !keep(c))
            .unwrap_or(self.rest().len());
        self.at += skipped;
    }

    fn skip_line(&mut self) {
        self.at += self.rest().find('\n').unwrap_or(self.rest().len());
    }

    fn run(&mut self) -> Result<(), EnvFileError> {
        loop {
            self.skip(char::is_whitespace);
            if self.rest().is_empty() {
                return Ok(());
            }
            if self.rest().starts_with('#') {
                self.skip_line();
                continue;
            }
            self.statement()?;
        }
    }

    fn statement(&mut self) -> Result<(), EnvFileError> {
        let start = self.at;
        if let Some(after) = self.rest().strip_prefix("export")
            && after.starts_with(is_blank)
        {
            self.at += "export".len();
            self.skip(is_blank);
        }
        let key_length = self
            .rest()
            .find(|c: char| c == '=' || c.is_whitespace() || c == '#')
            .unwrap_or(self.rest().len());
        let key = self.rest()[..key_length].to_owned();
        if let Some(bad) = key
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(self.fail(
                start,
                format!("unexpected character '{bad}' in the variable name '{key}'"),
            ));
        }
        if key.is_empty() {
            return Err(self.fail(start, "a line starting with '=' names no variable"));
        }
        self.at += key_length;
        self.skip(is_blank);
        if !self.rest().starts_with('=') {
            // Nothing but the key (and perhaps a comment): from the
            // environment, if it is there.
            if !(self.rest().is_empty() || self.rest().starts_with(['\n', '#'])) {
                return Err(self.fail(
                    start,
                    format!("expected '=' after '{key}' (variable names hold no spaces)"),
                ));
            }
            match self.environment.get(&key) {
                Some(value) => {
                    self.file.variables.insert(key, value.clone());
                }
                None => {
                    let line = self.line(start);
                    self.file.warnings.push(format!(
                        "line {line}: '{key}' has no value, and the environment has none; left out"
                    ));
                }
            }
            self.skip_line();
            return Ok(());
        }
        self.at += 1;
        self.skip(is_blank);
        let value = self.value(start)?;
        self.file.variables.insert(key, value);
        Ok(())
    }

    fn value(&mut self, start: usize) -> Result<String, EnvFileError> {
        let quote = self
            .rest()
            .chars()
            .next()
            .filter(|c| matches!(c, '"' | '\''));
        let Some(quote) = quote else {
            let end = self.rest().find('\n').unwrap_or(self.rest().len());
            let line = &self.rest()[..end];
            // A comment starts at a `#` after a blank; `a#b` is a value.
            let cut = line
                .char_indices()
                .find(|(i, c)| *c == '#' && (*i == 0 || line[..*i].ends_with(is_blank)))
                .map_or(line.len(), |(i, _)| i);
            let raw = line[..cut].trim_end().to_owned();
            self.at += end;
            return self.expand(&raw, start);
        };
        let body_start = self.at + 1;
        let mut body = String::new();
        let mut chars = self.text[body_start..].char_indices();
        let mut closed = None;
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => {
                    closed = Some(body_start + i + 1);
                    break;
                }
                '\\' => match (quote, chars.next()) {
                    ('\'', Some((_, '\''))) => body.push('\''),
                    ('\'', Some((_, other))) => {
                        body.push('\\');
                        if other == '$' {
                            body.push_str("$$");
                        } else {
                            body.push(other);
                        }
                    }
                    (_, Some((_, 'n'))) => body.push('\n'),
                    (_, Some((_, 'r'))) => body.push('\r'),
                    (_, Some((_, 't'))) => body.push('\t'),
                    (_, Some((_, '\\'))) => body.push('\\'),
                    (_, Some((_, '"'))) => body.push('"'),
                    // `$$` is interpolation's literal `$`.
                    (_, Some((_, '$'))) => body.push_str("$$"),
                    (_, Some((_, other))) => {
                        body.push('\\');
                        body.push(other);
                    }
                    (_, None) => body.push('\\'),
                },
                // Literal `$` in single quotes: interpolation must leave it.
                '$' if quote == '\'' => body.push_str("$$"),
                c => body.push(c),
            }
        }
        let Some(after) = closed else {
            return Err(self.fail(start, format!("the {quote} quote is not closed")));
        };
        self.at = after;
        self.skip(is_blank);
        if !(self.rest().is_empty() || self.rest().starts_with(['\n', '#'])) {
            return Err(self.fail(
                self.at,
                "unexpected text after the closing quote (only a '# comment' may follow)",
            ));
        }
        self.skip_line();
        self.expand(&body, start)
    }

    fn expand(&mut self, raw: &str, start: usize) -> Result<String, EnvFileError> {
        let mut unset = Vec::new();
        let lookup = Layered {
            environment: self.environment,
            file: &self.file.variables,
        };
        let value = interpolate::interpolate(raw, &lookup, &mut unset)
            .map_err(|e| self.fail(start, e.to_string()))?;
        let line = self.line(start);
        for name in unset {
            self.file.warnings.push(format!(
                "line {line}: variable '{name}' is not set: substituted an empty string"
            ));
        }
        Ok(value)
    }
}

/// One entry of a service's `env_file`.
struct Entry {
    /// `services.web.env_file[0]`.
    path: String,
    /// The file, as written.
    file: String,
    required: bool,
}

/// Reads the files a service's `env_file` names (a path, a list of paths,
/// or a list of `{path, required}`) into one set of variables, a later
/// file's winning over an earlier one's.
pub(super) fn read(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let entries = match value {
        Value::String(file) => vec![Entry {
            path: path.to_owned(),
            file: file.clone(),
            required: true,
        }],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| entry(walker, item, &format!("{path}[{i}]")))
            .collect::<Result<_, _>>()?,
        other => {
            return Err(invalid(
                path,
                format!("expected a path or a list, found {}", kind(other)),
            ));
        }
    };
    let mut variables = BTreeMap::new();
    for entry in entries {
        variables.extend(read_one(walker, &entry)?);
    }
    Ok(variables)
}

fn entry(walker: &mut Walker, item: &Value, path: &str) -> Result<Entry, ComposeError> {
    match item {
        Value::String(file) => Ok(Entry {
            path: path.to_owned(),
            file: file.clone(),
            required: true,
        }),
        Value::Object(map) => {
            let Some(file) = map.get("path") else {
                return Err(invalid(path, "no 'path'"));
            };
            let mut entry = Entry {
                path: path.to_owned(),
                file: string(file, &format!("{path}.path"))?,
                required: true,
            };
            for (key, value) in map {
                let here = format!("{path}.{key}");
                match key.as_str() {
                    "path" => {}
                    "required" => entry.required = boolean(value, &here)?,
                    // `raw` would pass values without unquoting or
                    // interpolation: refused, not read another way.
                    "format" => {
                        let format = string(value, &here)?;
                        if !format.is_empty() {
                            return Err(invalid(
                                &here,
                                format!(
                                    "format '{format}' is not supported: leave it out for the .env format"
                                ),
                            ));
                        }
                    }
                    _ => walker.ignored(&here),
                }
            }
            Ok(entry)
        }
        other => Err(invalid(
            path,
            format!("expected a path or a mapping, found {}", kind(other)),
        )),
    }
}

fn read_one(walker: &mut Walker, entry: &Entry) -> Result<BTreeMap<String, String>, ComposeError> {
    let Some(files) = walker.context.files else {
        return Err(invalid(
            &entry.path,
            "'env_file' cannot be read: this import was given no directory to read it from \
             (it is read at import, beside the compose file)",
        ));
    };
    let relative = beneath(&entry.file).map_err(|reason| invalid(&entry.path, reason))?;
    let text = match files.read(&relative) {
        Ok(Some(text)) => text,
        Ok(None) if entry.required => {
            return Err(invalid(
                &entry.path,
                format!(
                    "'{}' not found beside the compose file (say 'required: false' if it may be missing)",
                    entry.file
                ),
            ));
        }
        Ok(None) => return Ok(BTreeMap::new()),
        Err(reason) => {
            return Err(invalid(
                &entry.path,
                format!("cannot read '{}': {reason}", entry.file),
            ));
        }
    };
    let environment = walker.context.environment.unwrap_or(&super::EMPTY);
    let file = parse(&text, environment)
        .map_err(|e| invalid(&entry.path, format!("'{}' {e}", entry.file)))?;
    for warning in file.warnings {
        walker.warn(&entry.path, format!("'{}' {warning}", entry.file));
    }
    Ok(file.variables)
}

/// `file` as a path beneath the compose file's directory, `.` and inner
/// `..` resolved: refused when absolute or when it would leave.
fn beneath(file: &str) -> Result<String, String> {
    if file.is_empty() {
        return Err("an empty path".to_owned());
    }
    if file.starts_with('/') {
        return Err(format!(
            "'{file}' is absolute: an env_file is read from the compose file's directory, \
             relative to it"
        ));
    }
    if file.contains('\0') {
        return Err("the path holds a NUL byte".to_owned());
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in file.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!(
                        "'{file}' leaves the compose file's directory, which an env_file may not"
                    ));
                }
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(format!("'{file}' names the directory, not a file"));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Result<Vec<(String, String)>, String> {
        let environment: BTreeMap<String, String> = [("FROM_ENV", "env"), ("SHARED", "env")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        parse(text, &environment)
            .map(|f| f.variables.into_iter().collect())
            .map_err(|e| e.to_string())
    }

    fn one(text: &str) -> String {
        match vars(text) {
            Ok(found) => match found.as_slice() {
                [(_, value)] => value.clone(),
                other => panic!("{text:?}: {other:?}"),
            },
            Err(e) => panic!("{text:?}: {e}"),
        }
    }

    #[test]
    fn values_as_compose_reads_them() {
        for (line, expect) in [
            ("A=plain", "plain"),
            ("A = spaced  ", "spaced"),
            ("export A=exported", "exported"),
            ("A=", ""),
            ("A=x=y", "x=y"),
            ("A=val # comment", "val"),
            ("A=val# not a comment", "val# not a comment"),
            ("A=\"quoted # kept\" # comment", "quoted # kept"),
            ("A='single $FROM_ENV ${X}'", "single $FROM_ENV ${X}"),
            ("A='let\\'s go'", "let's go"),
            ("A='no\\tescape'", "no\\tescape"),
            ("A=\"tab\\there\"", "tab\there"),
            ("A=\"line\\nbreak\"", "line\nbreak"),
            ("A=\"{\\\"json\\\": 1}\"", "{\"json\": 1}"),
            ("A=\"cost \\$5\"", "cost $5"),
            ("A=unquoted\\tstays", "unquoted\\tstays"),
            ("A=\"two\nlines\"", "two\nlines"),
            ("A='two\nlines'", "two\nlines"),
            ("A=${FROM_ENV}-$FROM_ENV", "env-env"),
            ("A=\"${MISSING:-fallback}\"", "fallback"),
            ("A=$$literal", "$literal"),
            ("A=crlf\r", "crlf"),
            ("A=ünïcödé", "ünïcödé"),
        ] {
            assert_eq!(one(line), expect, "{line:?}");
        }
    }

    #[test]
    fn files_as_compose_reads_them() {
        let text = "# a comment\n\n  export ONE=1\nTWO=\"${ONE}2\"\nFROM_ENV\nSHARED=file\nSEE=$SHARED\nONE=again\n";
        assert_eq!(
            vars(text),
            Ok(vec![
                ("FROM_ENV".to_owned(), "env".to_owned()),
                ("ONE".to_owned(), "again".to_owned()),
                ("SEE".to_owned(), "env".to_owned()),
                ("SHARED".to_owned(), "file".to_owned()),
                ("TWO".to_owned(), "12".to_owned()),
            ])
        );
        let file = parse("NOT_SET\nA=$GONE\n", &BTreeMap::new()).unwrap_or_default();
        assert!(!file.variables.contains_key("NOT_SET"));
        assert_eq!(
            file.warnings,
            [
                "line 1: 'NOT_SET' has no value, and the environment has none; left out",
                "line 2: variable 'GONE' is not set: substituted an empty string",
            ]
        );
    }

    #[test]
    fn faults_name_their_line() {
        for (text, expect) in [
            ("A=1\nB=\"open\n", "line 2: the \" quote is not closed"),
            (
                "A='x' y",
                "line 1: unexpected text after the closing quote (only a '# comment' may follow)",
            ),
            ("=x", "line 1: a line starting with '=' names no variable"),
            (
                "\nMY KEY=x",
                "line 2: expected '=' after 'MY' (variable names hold no spaces)",
            ),
            (
                "A:b",
                "line 1: unexpected character ':' in the variable name 'A:b'",
            ),
            (
                "A=${NEED:?set it}",
                "line 1: required variable 'NEED' is missing a value: set it",
            ),
            (
                "A=5$",
                "line 1: '$' in '5$' is followed by neither a name, '{' nor '$' (write '$$' for a literal '$')",
            ),
        ] {
            assert_eq!(vars(text), Err(expect.to_owned()), "{text:?}");
        }
    }

    #[test]
    fn paths_stay_beneath_the_directory() {
        assert_eq!(beneath("web.env"), Ok("web.env".to_owned()));
        assert_eq!(beneath("./env/../web.env"), Ok("web.env".to_owned()));
        assert_eq!(beneath("env//a.env"), Ok("env/a.env".to_owned()));
        for bad in [
            "",
            "/etc/passwd",
            "../secrets.env",
            "a/../../b",
            ".",
            "a/..",
        ] {
            assert!(beneath(bad).is_err(), "{bad}");
        }
    }
}
