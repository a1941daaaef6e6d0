//! The plugin's configuration.

use std::fmt;

use osb_sdk::{PluginError, Result};

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The apps whose drafts may run here.
    pub apps: Apps,
}

/// Config `apps`: every app, or the ones named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apps {
    /// `*`.
    Every,
    /// Names separated by `,`, in the order written.
    Named(Vec<String>),
}

impl Apps {
    /// Whether drafts of `app` may run.
    pub fn contains(&self, app: &str) -> bool {
        match self {
            Apps::Every => true,
            Apps::Named(names) => names.iter().any(|n| n == app),
        }
    }
}

impl fmt::Display for Apps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Apps::Every => f.write_str("*"),
            Apps::Named(names) => f.write_str(&names.join(",")),
        }
    }
}

impl Settings {
    /// Reads the settings through `get` (config key to value).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        let written = get("apps").ok_or_else(|| {
            PluginError::invalid_input(
                "config 'apps' is not set: expected \"*\" or app names separated by ','",
            )
        })?;
        let bad = |why: &str| {
            PluginError::invalid_input(format!("invalid config 'apps' = {written:?}: {why}"))
        };
        if written.trim() == "*" {
            return Ok(Settings { apps: Apps::Every });
        }
        let mut names = Vec::new();
        for name in written.split(',').map(str::trim) {
            if name.is_empty() {
                return Err(bad(
                    "an empty name; expected \"*\" or names separated by ','",
                ));
            }
            // Checked as the target state checks app names: a name that
            // could never match is a mistake to report, not a silent no.
            if name == "*" {
                return Err(bad("\"*\" stands alone: every app, or names"));
            }
            osb_state::AppName::new(name).map_err(|e| bad(&e.to_string()))?;
            names.push(name.to_owned());
        }
        Ok(Settings {
            apps: Apps::Named(names),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(written: Option<&str>) -> Result<Settings> {
        Settings::from_lookup(|k| (k == "apps").then(|| written.map(str::to_owned)).flatten())
    }

    #[test]
    fn apps_are_every_app_or_the_names_written() {
        assert_eq!(read(Some(" * ")).unwrap().apps, Apps::Every);
        assert_eq!(
            read(Some("main, web-ui")).unwrap().apps,
            Apps::Named(vec!["main".into(), "web-ui".into()])
        );
    }

    #[test]
    fn bad_apps_are_refused_naming_the_key() {
        for (written, says) in [
            (None, "config 'apps' is not set"),
            (Some(""), "an empty name"),
            (Some("main,,web"), "an empty name"),
            (Some("main, *"), "\"*\" stands alone"),
            (Some("Main"), "invalid app name 'Main'"),
            (Some("a/b"), "invalid app name 'a/b'"),
        ] {
            let error = read(written).unwrap_err();
            assert!(
                error.message.contains(says),
                "{written:?}: {}",
                error.message
            );
            assert!(error.message.contains("config 'apps'"), "{written:?}");
        }
    }
}
