//! The plugin's configuration.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use osb_sdk::{PluginError, Result, config};

/// The NTP port, when a server is given without one.
pub const NTP_PORT: u16 = 123;
/// How long to wait for replies when config `timeout_ms` is not set.
pub const DEFAULT_TIMEOUT_MS: u64 = 800;
/// More servers than this is a configuration mistake, not redundancy.
pub const MAX_SERVERS: usize = 16;
const MAX_TIMEOUT_MS: u64 = 10_000;

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// In the order configured.
    pub servers: Vec<SocketAddr>,
    /// How long one sample waits for all replies (they are awaited together).
    pub timeout: Duration,
}

impl Settings {
    /// Reads the settings through `get` (config key to value).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        let servers = get("servers").unwrap_or_default();
        let servers = parse_servers(&servers)?;
        let timeout_ms = match get("timeout_ms") {
            None => DEFAULT_TIMEOUT_MS,
            Some(value) => {
                config::number_in("timeout_ms", &value, 1..=MAX_TIMEOUT_MS, "milliseconds")?
            }
        };
        Ok(Settings {
            servers,
            timeout: Duration::from_millis(timeout_ms),
        })
    }
}

/// `servers`: addresses separated by commas or white space, each an IP
/// address with an optional port (`192.0.2.1`, `192.0.2.1:123`,
/// `[2001:db8::1]:123`). No names: a plugin cannot look them up, and the
/// `net` grant lists addresses anyway.
fn parse_servers(value: &str) -> Result<Vec<SocketAddr>> {
    let invalid =
        |why: String| PluginError::invalid_input(format!("invalid config 'servers': {why}"));
    let mut servers: Vec<SocketAddr> = Vec::new();
    for item in value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
    {
        let server = item
            .parse::<SocketAddr>()
            .or_else(|_| {
                item.parse::<IpAddr>()
                    .map(|ip| SocketAddr::new(ip, NTP_PORT))
            })
            .map_err(|_| {
                invalid(format!(
                    "{item:?} is not an IP address with an optional port \
                     (plugins cannot look names up: give addresses)"
                ))
            })?;
        if servers.contains(&server) {
            // Listed twice, a lying server would count twice.
            return Err(invalid(format!("{server} is listed twice")));
        }
        servers.push(server);
    }
    if servers.is_empty() {
        return Err(invalid("no server is set".to_owned()));
    }
    if servers.len() > MAX_SERVERS {
        return Err(invalid(format!(
            "{} servers, at most {MAX_SERVERS}",
            servers.len()
        )));
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(servers: Option<&str>, timeout: Option<&str>) -> Result<Settings> {
        Settings::from_lookup(|key| match key {
            "servers" => servers.map(str::to_owned),
            "timeout_ms" => timeout.map(str::to_owned),
            other => panic!("unexpected key {other}"),
        })
    }

    fn refused(servers: Option<&str>, timeout: Option<&str>, expect: &str) {
        let error = settings(servers, timeout).expect_err("refused");
        assert!(error.message.contains(expect), "{}", error.message);
    }

    #[test]
    fn servers_are_addresses_with_optional_ports() {
        let got = settings(
            Some(" 192.0.2.1, 192.0.2.2:1123\n[2001:db8::1]:123\t2001:db8::2 "),
            None,
        )
        .unwrap();
        let want: Vec<SocketAddr> = [
            "192.0.2.1:123",
            "192.0.2.2:1123",
            "[2001:db8::1]:123",
            "[2001:db8::2]:123",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(got.servers, want);
        assert_eq!(got.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        assert_eq!(
            settings(Some("192.0.2.1"), Some("250")).unwrap().timeout,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        refused(None, None, "invalid config 'servers': no server");
        refused(Some(" , "), None, "no server");
        refused(
            Some("pool.ntp.org"),
            None,
            "\"pool.ntp.org\" is not an IP address",
        );
        refused(Some("192.0.2.1:ntp"), None, "not an IP address");
        refused(Some("192.0.2.1 192.0.2.1:123"), None, "listed twice");
        let many: Vec<String> = (1..=17).map(|i| format!("192.0.2.{i}")).collect();
        refused(Some(&many.join(",")), None, "17 servers");
        for timeout in ["0", "-1", "soon", "10001", ""] {
            refused(
                Some("192.0.2.1"),
                Some(timeout),
                "invalid config 'timeout_ms'",
            );
        }
    }
}
