//! The plugin's configuration.

use std::time::Duration;

use osb_sdk::{PluginError, Result, config};

/// Requests to each URL per sample when config `requests_per_url` is not set.
pub const DEFAULT_REQUESTS_PER_URL: u32 = 3;
/// One request's timeout when config `timeout_ms` is not set.
pub const DEFAULT_TIMEOUT_MS: u64 = 500;
/// A whole sample's time when config `budget_ms` is not set: below the
/// runtime's default call deadline of one second.
pub const DEFAULT_BUDGET_MS: u64 = 800;
/// More URLs than this is a configuration mistake, not redundancy.
pub const MAX_URLS: usize = 16;

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// In the order configured; each one server.
    pub urls: Vec<String>,
    pub requests_per_url: u32,
    /// The longest one request may take.
    pub timeout: Duration,
    /// The longest a sample may spend on requests; none starts after it.
    pub budget: Duration,
}

impl Settings {
    /// Reads the settings through `get` (config key to value).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        let allow_http = match get("allow_http").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(PluginError::invalid_input(format!(
                    "invalid config 'allow_http' = {other:?}: expected true or false"
                )));
            }
        };
        Ok(Settings {
            urls: parse_urls(&get("urls").unwrap_or_default(), allow_http)?,
            requests_per_url: number(
                &get,
                "requests_per_url",
                DEFAULT_REQUESTS_PER_URL.into(),
                1..=10,
            )? as u32,
            timeout: Duration::from_millis(number(
                &get,
                "timeout_ms",
                DEFAULT_TIMEOUT_MS,
                1..=30_000,
            )?),
            budget: Duration::from_millis(number(
                &get,
                "budget_ms",
                DEFAULT_BUDGET_MS,
                1..=60_000,
            )?),
        })
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64> {
    match get(key) {
        None => Ok(default),
        Some(value) => config::number_in(key, &value, range, "a whole number"),
    }
}

/// `urls`: separated by commas or white space. `https://` always; `http://`
/// only with `allow_http`, since anyone on the path can forge its answer.
fn parse_urls(value: &str, allow_http: bool) -> Result<Vec<String>> {
    let invalid = |why: String| PluginError::invalid_input(format!("invalid config 'urls': {why}"));
    let mut urls: Vec<String> = Vec::new();
    for url in value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|url| !url.is_empty())
    {
        let host = if let Some(rest) = url.strip_prefix("https://") {
            rest
        } else if let Some(rest) = url.strip_prefix("http://") {
            if !allow_http {
                return Err(invalid(format!(
                    "{url:?} is plain http, whose answers anyone on the path can forge; \
                     set allow_http = true to accept it anyway"
                )));
            }
            rest
        } else {
            return Err(invalid(format!("{url:?} is not an https:// URL")));
        };
        if host.is_empty() || host.starts_with('/') {
            return Err(invalid(format!("{url:?} has no host")));
        }
        if urls.iter().any(|seen| seen == url) {
            // Listed twice, a lying server would count twice.
            return Err(invalid(format!("{url:?} is listed twice")));
        }
        urls.push(url.to_owned());
    }
    if urls.is_empty() {
        return Err(invalid("no URL is set".to_owned()));
    }
    if urls.len() > MAX_URLS {
        return Err(invalid(format!("{} URLs, at most {MAX_URLS}", urls.len())));
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings> {
        Settings::from_lookup(|key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    fn refused(pairs: &[(&str, &str)], expect: &str) {
        let error = settings(pairs).expect_err("refused");
        assert!(error.message.contains(expect), "{}", error.message);
    }

    #[test]
    fn defaults_and_lists() {
        let got = settings(&[(
            "urls",
            " https://a.example/, https://b.example/x\nhttps://c.example/ ",
        )])
        .unwrap();
        assert_eq!(
            got.urls,
            [
                "https://a.example/",
                "https://b.example/x",
                "https://c.example/"
            ]
        );
        assert_eq!(got.requests_per_url, DEFAULT_REQUESTS_PER_URL);
        assert_eq!(got.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        assert_eq!(got.budget, Duration::from_millis(DEFAULT_BUDGET_MS));
        let got = settings(&[
            ("urls", "http://a.example/"),
            ("allow_http", "true"),
            ("requests_per_url", "1"),
            ("timeout_ms", "250"),
            ("budget_ms", "2000"),
        ])
        .unwrap();
        assert_eq!(got.urls, ["http://a.example/"]);
        assert_eq!(
            (got.requests_per_url, got.timeout, got.budget),
            (1, Duration::from_millis(250), Duration::from_secs(2))
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        refused(&[], "invalid config 'urls': no URL is set");
        refused(&[("urls", "http://a.example/")], "plain http");
        refused(
            &[("urls", "http://a.example/"), ("allow_http", "false")],
            "set allow_http = true",
        );
        refused(
            &[("urls", "https://a.example/"), ("allow_http", "yes")],
            "invalid config 'allow_http'",
        );
        refused(&[("urls", "ftp://a.example/")], "not an https:// URL");
        refused(&[("urls", "a.example")], "not an https:// URL");
        refused(&[("urls", "https://")], "has no host");
        refused(&[("urls", "https:///path")], "has no host");
        refused(
            &[("urls", "https://a.example/ https://a.example/")],
            "listed twice",
        );
        let many: Vec<String> = (0..17).map(|i| format!("https://{i}.example/")).collect();
        refused(&[("urls", &many.join(" "))], "17 URLs");
        for (key, value) in [
            ("requests_per_url", "0"),
            ("requests_per_url", "11"),
            ("timeout_ms", "0"),
            ("timeout_ms", "fast"),
            ("budget_ms", "-5"),
            ("budget_ms", "60001"),
        ] {
            refused(
                &[("urls", "https://a.example/"), (key, value)],
                &format!("invalid config '{key}'"),
            );
        }
    }
}
