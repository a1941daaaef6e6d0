//! The plugin's configuration: where the build time comes from.

use std::path::PathBuf;

use osb_sdk::{PluginError, Result, config};

use crate::build_time;

/// Where the build time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Config `build_time`, already parsed: Unix seconds.
    Config(i64),
    /// Config `path`: a file to read at each sample.
    File(PathBuf),
}

impl Source {
    /// Reads the settings through `get` (config key to value). `build_time`
    /// wins over `path`, so a device config can override the image's file.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Source> {
        if let Some(value) = get("build_time") {
            return build_time::parse(&value)
                .map(Source::Config)
                .map_err(|error| {
                    PluginError::invalid_input(format!(
                        "invalid config 'build_time' = {value:?}: {error}"
                    ))
                });
        }
        match get("path") {
            Some(path) => Ok(Source::File(config::file_path(
                "path",
                &path,
                "/release/build-time",
            )?)),
            None => Err(PluginError::invalid_input(
                "neither config 'build_time' nor 'path' is set: the plugin has no build time to give",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(build_time: Option<&str>, path: Option<&str>) -> Result<Source> {
        Source::from_lookup(|key| match key {
            "build_time" => build_time.map(str::to_owned),
            "path" => path.map(str::to_owned),
            other => panic!("unexpected key {other}"),
        })
    }

    #[test]
    fn build_time_wins_over_path() {
        assert_eq!(
            source(Some("2026-11-01T00:00:00Z"), Some("/release/build-time")),
            Ok(Source::Config(1_793_491_200))
        );
        assert_eq!(
            source(None, Some("/release/build-time")),
            Ok(Source::File("/release/build-time".into()))
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        for (build_time, path, expect) in [
            (
                Some("garbage"),
                None,
                "invalid config 'build_time' = \"garbage\": expected Unix seconds",
            ),
            (
                Some(""),
                Some("/release/build-time"),
                "invalid config 'build_time' = \"\"",
            ),
            (None, Some("release/build-time"), "invalid config 'path'"),
            (None, Some("/release/"), "invalid config 'path'"),
            (None, None, "neither config 'build_time' nor 'path' is set"),
        ] {
            let error = source(build_time, path).expect_err("refused");
            assert!(error.message.starts_with(expect), "{}", error.message);
        }
    }
}
