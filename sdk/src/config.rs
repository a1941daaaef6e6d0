//! The plugin's configuration: the manifest's `[config]` defaults overlaid
//! with what the device configuration sets for this plugin.
//!
//! Values are strings; [`parse`] turns one into a typed value with an error
//! that names the key.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;

use crate::__private::bindings::host::osb::plugin::config as wit;
use crate::{PluginError, Result};

/// The value of `key`, or `None` if neither the manifest nor the device
/// configuration sets it.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// The value of `key`, or `default` if it is not set.
pub fn get_or(key: &str, default: &str) -> String {
    get(key).unwrap_or_else(|| default.to_owned())
}

/// The value of `key` parsed as `T`, or `None` if it is not set.
///
/// A value that does not parse is an [`ErrorCode::InvalidInput`] error naming
/// the key and the value.
///
/// [`ErrorCode::InvalidInput`]: crate::ErrorCode::InvalidInput
pub fn parse<T>(key: &str) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: Display,
{
    get(key).map(|value| parse_value(key, &value)).transpose()
}

/// Every configured `(key, value)` pair.
pub fn entries() -> Vec<(String, String)> {
    wit::entries()
}

/// `value`, set for `key`, as a file path inside one of the plugin's
/// preopened directories: absolute (a WASI path always is), naming a file
/// (no trailing `/`), no NUL. The error names the key and shows `example`.
pub fn file_path(key: &str, value: &str, example: &str) -> Result<PathBuf> {
    if value.starts_with('/') && !value.ends_with('/') && !value.contains('\0') {
        Ok(PathBuf::from(value))
    } else {
        Err(PluginError::invalid_input(format!(
            "invalid config '{key}' = {value:?}: expected an absolute file path such as {example:?}"
        )))
    }
}

/// `value`, set for `key`, as a whole number in `range` (surrounding white
/// space allowed). The error names the key and says what is expected:
/// `what` (`"milliseconds"`, `"a whole number"`) from the range's start to
/// its end.
pub fn number_in<T>(key: &str, value: &str, range: RangeInclusive<T>, what: &str) -> Result<T>
where
    T: FromStr + PartialOrd + Display,
{
    match value.trim().parse::<T>() {
        Ok(number) if range.contains(&number) => Ok(number),
        _ => Err(PluginError::invalid_input(format!(
            "invalid config '{key}' = {value:?}: expected {what} from {} to {}",
            range.start(),
            range.end()
        ))),
    }
}

fn parse_value<T>(key: &str, value: &str) -> Result<T>
where
    T: FromStr,
    T::Err: Display,
{
    value.parse().map_err(|error| {
        PluginError::invalid_input(format!("invalid config '{key}' = {value:?}: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn parse_error_names_key_and_value() {
        let error = parse_value::<u32>("timeout-ms", "soon").expect_err("not a number");
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(
            error
                .message
                .starts_with("invalid config 'timeout-ms' = \"soon\": "),
            "{}",
            error.message
        );
        assert_eq!(parse_value::<u32>("timeout-ms", "250"), Ok(250));
    }

    #[test]
    fn file_paths_are_absolute_files() {
        assert_eq!(
            file_path("path", "/data/x", "/data/x"),
            Ok(PathBuf::from("/data/x"))
        );
        for bad in ["data/x", "/data/", "", "/da\0ta"] {
            let error = file_path("path", bad, "/data/x").expect_err(bad);
            assert_eq!(
                error.message,
                format!(
                    "invalid config 'path' = {bad:?}: expected an absolute file path such as \"/data/x\""
                )
            );
        }
    }

    #[test]
    fn numbers_are_whole_and_in_range() {
        assert_eq!(number_in("n", " 5\n", 1..=10u64, "a whole number"), Ok(5));
        assert_eq!(number_in("n", "10", 1..=10u64, "a whole number"), Ok(10));
        for bad in ["0", "11", "-1", "1.5", "five", ""] {
            let error = number_in("n", bad, 1..=10u64, "milliseconds").expect_err(bad);
            assert_eq!(
                error.message,
                format!("invalid config 'n' = {bad:?}: expected milliseconds from 1 to 10")
            );
        }
    }
}
