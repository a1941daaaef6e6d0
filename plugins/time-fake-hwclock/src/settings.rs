//! The plugin's configuration.

use std::path::PathBuf;

use osb_sdk::{Result, config};

/// Where the state file is when config `path` is not set.
pub const DEFAULT_PATH: &str = "/data/fake-hwclock";

/// Validated configuration.
#[derive(Debug, PartialEq, Eq)]
pub struct Settings {
    /// The state file.
    pub path: PathBuf,
}

impl Settings {
    /// Reads the settings through `get` (config key to value).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        let path = get("path").unwrap_or_else(|| DEFAULT_PATH.to_owned());
        // `<path>.tmp` must be a sibling: a file path, not a directory.
        Ok(Settings {
            path: config::file_path("path", &path, DEFAULT_PATH)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: Option<&str>, expect: std::result::Result<&str, ()>) {
        let got = Settings::from_lookup(|key| {
            assert_eq!(key, "path");
            path.map(str::to_owned)
        });
        match (got, expect) {
            (Ok(settings), Ok(want)) => assert_eq!(settings.path, PathBuf::from(want)),
            (Err(error), Err(())) => {
                assert!(
                    error.message.starts_with("invalid config 'path'"),
                    "{}",
                    error.message
                )
            }
            (got, expect) => panic!("path {path:?}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn path_defaults_and_validates() {
        check(None, Ok(DEFAULT_PATH));
        check(Some("/data/clock"), Ok("/data/clock"));
        check(Some(""), Err(()));
        check(Some("data/clock"), Err(()));
        check(Some("/data/"), Err(()));
        check(Some("/"), Err(()));
        check(Some("/data/a\0b"), Err(()));
    }
}
