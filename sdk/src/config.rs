//! The plugin's configuration: the manifest's `[config]` defaults overlaid
//! with what the device configuration sets for this plugin.
//!
//! Values are strings; [`parse`] turns one into a typed value with an error
//! that names the key.

use std::fmt::Display;
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
}
