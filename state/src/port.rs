//! Published ports: the typed form of the target state and the compose short
//! syntax (`"8080:80"`, `"127.0.0.1:8080:80/udp"`) that reads into it.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU16;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A container port, optionally published on the host.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    /// The port inside the container.
    pub target: NonZeroU16,
    /// The host port. Absent: the port is exposed to the block's networks,
    /// not published on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<NonZeroU16>,
    /// The host address to bind. Absent: every address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
    /// The transport protocol (`tcp` unless said).
    #[serde(default)]
    pub protocol: Protocol,
}

/// A port's transport protocol.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP, the default.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The protocol's name as the engine spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a port string is not a port mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port '{input}': {reason}")]
pub struct PortError {
    /// The string as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Ranges longer than this are refused: each port is one engine binding.
const RANGE_MAX: u32 = 1024;

impl PortMapping {
    /// Reads the compose short syntax,
    /// `[[host_ip:][published[-end]]:]target[-end][/protocol]`, expanding a
    /// range into one mapping per port.
    pub fn parse_short(input: &str) -> Result<Vec<PortMapping>, PortError> {
        parse_short(input).map_err(|reason| PortError {
            input: input.to_owned(),
            reason,
        })
    }

    /// Whether two mappings would bind the same host port: same port and
    /// protocol, and host addresses that overlap (no address means all).
    pub fn conflicts_with(&self, other: &PortMapping) -> bool {
        match (self.published, other.published) {
            (Some(a), Some(b)) => {
                a == b
                    && self.protocol == other.protocol
                    && match (self.host_ip, other.host_ip) {
                        (Some(x), Some(y)) => x == y || x.is_unspecified() || y.is_unspecified(),
                        _ => true,
                    }
            }
            _ => false,
        }
    }
}

fn parse_short(input: &str) -> Result<Vec<PortMapping>, String> {
    let (ports, protocol) = match input.rsplit_once('/') {
        Some((ports, "tcp")) => (ports, Protocol::Tcp),
        Some((ports, "udp")) => (ports, Protocol::Udp),
        Some((ports, "sctp")) => (ports, Protocol::Sctp),
        Some((_, other)) => return Err(format!("unknown protocol '{other}' (tcp, udp or sctp)")),
        None => (input, Protocol::Tcp),
    };
    // From the right: target, then published, then whatever is left is the
    // host address, which may itself hold ':' (IPv6).
    let mut parts = ports.rsplitn(3, ':');
    let target = parts.next().unwrap_or_default();
    let published = parts.next();
    let host_ip = match parts.next() {
        None => None,
        Some(ip) => {
            let bare = ip
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .unwrap_or(ip);
            Some(
                bare.parse::<IpAddr>()
                    .map_err(|_| format!("host address '{ip}' is not an IP address"))?,
            )
        }
    };
    let (target_start, target_len) = range(target, "container port")?;
    let published = match published {
        None | Some("") => None,
        Some(p) => Some(range(p, "host port")?),
    };
    if let Some((_, published_len)) = published
        && published_len != target_len
    {
        return Err("host and container port ranges differ in length".to_owned());
    }
    let mut out = Vec::new();
    for i in 0..target_len {
        let port = |start: u16| {
            u16::try_from(u32::from(start) + i)
                .ok()
                .and_then(NonZeroU16::new)
                .ok_or_else(|| "port out of range".to_owned())
        };
        let target = port(target_start)?;
        let published = match published {
            Some((start, _)) => Some(port(start)?),
            None => None,
        };
        out.push(PortMapping {
            target,
            published,
            host_ip,
            protocol,
        });
    }
    Ok(out)
}

/// `N` or `N-M`, as (start, count).
fn range(text: &str, what: &str) -> Result<(u16, u32), String> {
    let number = |s: &str| match s.parse::<u16>() {
        Ok(n) if n > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("{what} '{s}' is not a number from 1 to 65535")),
    };
    match text.split_once('-') {
        None => Ok((number(text)?, 1)),
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            if b < a {
                return Err(format!("{what} range '{text}' runs backwards"));
            }
            let count = u32::from(b - a) + 1;
            if count > RANGE_MAX {
                return Err(format!(
                    "{what} range '{text}' is longer than {RANGE_MAX} ports"
                ));
            }
            Ok((a, count))
        }
    }
}

impl FromStr for PortMapping {
    type Err = PortError;

    /// One mapping in the short syntax; a range is refused (list each port).
    fn from_str(input: &str) -> Result<Self, PortError> {
        let mut all = PortMapping::parse_short(input)?;
        match (all.pop(), all.is_empty()) {
            (Some(one), true) => Ok(one),
            _ => Err(PortError {
                input: input.to_owned(),
                reason: "a range where one port was expected".to_owned(),
            }),
        }
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            Some(ip) => write!(f, "{ip}:")?,
            None => {}
        }
        match self.published {
            Some(p) => write!(f, "{p}:")?,
            None if self.host_ip.is_some() => f.write_str(":")?,
            None => {}
        }
        write!(f, "{}/{}", self.target, self.protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let got = match PortMapping::parse_short(input) {
            Ok(all) => all
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "input {input:?}");
    }

    #[test]
    fn short_syntax() {
        check("80", "80/tcp");
        check("8080:80", "8080:80/tcp");
        check("8080:80/udp", "8080:80/udp");
        check("127.0.0.1:8080:80", "127.0.0.1:8080:80/tcp");
        check("127.0.0.1:8080:80/udp", "127.0.0.1:8080:80/udp");
        check("127.0.0.1::80", "127.0.0.1::80/tcp");
        check("[::1]:8080:80", "[::1]:8080:80/tcp");
        check("::1:8080:80", "[::1]:8080:80/tcp");
        check("3000-3002", "3000/tcp 3001/tcp 3002/tcp");
        check("9090-9091:8080-8081", "9090:8080/tcp 9091:8081/tcp");
        check(
            "0",
            "invalid port '0': container port '0' is not a number from 1 to 65535",
        );
        check(
            "70000",
            "invalid port '70000': container port '70000' is not a number from 1 to 65535",
        );
        check(
            "8080:",
            "invalid port '8080:': container port '' is not a number from 1 to 65535",
        );
        check(
            "x:80",
            "invalid port 'x:80': host port 'x' is not a number from 1 to 65535",
        );
        check(
            "+80",
            "invalid port '+80': container port '+80' is not a number from 1 to 65535",
        );
        check(
            "80/icmp",
            "invalid port '80/icmp': unknown protocol 'icmp' (tcp, udp or sctp)",
        );
        check(
            "localhost:8080:80",
            "invalid port 'localhost:8080:80': host address 'localhost' is not an IP address",
        );
        check(
            "90-80",
            "invalid port '90-80': container port range '90-80' runs backwards",
        );
        check(
            "1-2000",
            "invalid port '1-2000': container port range '1-2000' is longer than 1024 ports",
        );
        check(
            "9090-9092:8080-8081",
            "invalid port '9090-9092:8080-8081': host and container port ranges differ in length",
        );
        check(
            "8000-8010:80",
            "invalid port '8000-8010:80': host and container port ranges differ in length",
        );
    }

    #[test]
    fn conflicts() {
        let p = |s: &str| s.parse::<PortMapping>().unwrap_or_else(|e| panic!("{e}"));
        assert!(p("80:80").conflicts_with(&p("80:81")));
        assert!(p("127.0.0.1:80:80").conflicts_with(&p("80:81")));
        assert!(!p("127.0.0.1:80:80").conflicts_with(&p("127.0.0.2:80:81")));
        assert!(p("0.0.0.0:80:80").conflicts_with(&p("127.0.0.2:80:81")));
        assert!(!p("80:80").conflicts_with(&p("80:80/udp")));
        assert!(!p("80").conflicts_with(&p("80")));
    }
}
