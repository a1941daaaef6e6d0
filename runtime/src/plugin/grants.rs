//! Every permission decision about a plugin is made here.
//!
//! The effective grant is what the manifest requests AND what the device
//! configuration grants: asking is not getting, and a device grant the plugin
//! did not ask for is not handed out either. The rest of the host only
//! consults an [`EffectiveGrants`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::manifest::{Capabilities, FsCapability, NetCapability, PluginName};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FsMode {
    #[serde(rename = "ro")]
    ReadOnly,
    #[serde(rename = "rw")]
    ReadWrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetProtocol {
    Tcp,
    Udp,
}

/// A directory preopened for the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preopen {
    pub host: PathBuf,
    pub guest: String,
    pub mode: FsMode,
}

/// What a plugin may actually use, decided once per loaded version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EffectiveGrants {
    pub fs: Vec<Preopen>,
    pub net: Vec<NetCapability>,
    pub http: Vec<String>,
    pub device: Vec<String>,
    pub kv: bool,
    /// Requests that were not granted, for the log and `osb plugin inspect`.
    pub denied: Vec<String>,
}

impl EffectiveGrants {
    /// Intersects a manifest's request with the device's grant.
    pub fn decide(requested: &Capabilities, granted: &Capabilities) -> EffectiveGrants {
        let mut out = EffectiveGrants::default();
        for req in &requested.fs {
            match granted.fs.iter().find_map(|g| fs_within(req, g)) {
                Some(mode) => out.fs.push(Preopen {
                    host: req.host.clone(),
                    guest: req.guest.clone(),
                    mode,
                }),
                None => out.denied.push(format!("fs {}", req.host.display())),
            }
        }
        for req in &requested.net {
            if granted.net.contains(req) {
                out.net.push(req.clone());
            } else {
                out.denied
                    .push(format!("net {} {}", protocol_name(req.protocol), req.addr));
            }
        }
        for req in &requested.http {
            if granted.http.iter().any(|g| url_within(req, g)) {
                out.http.push(req.clone());
            } else {
                out.denied.push(format!("http {req}"));
            }
        }
        for req in &requested.device {
            if granted.device.contains(req) {
                out.device.push(req.clone());
            } else {
                out.denied.push(format!("device {req}"));
            }
        }
        out.kv = requested.kv && granted.kv;
        if requested.kv && !granted.kv {
            out.denied.push("kv".to_owned());
        }
        out
    }

    /// May the guest use this socket address in this way?
    pub fn allows_socket(&self, addr: SocketAddr, protocol: NetProtocol, binding: bool) -> bool {
        if binding {
            // Connecting needs a local address; let the OS choose an
            // ephemeral one, but never a chosen port (no listening plugins).
            return addr.ip().is_unspecified()
                && addr.port() == 0
                && self.net.iter().any(|n| n.protocol == protocol);
        }
        self.net
            .iter()
            .any(|n| n.protocol == protocol && n.addr == addr)
    }

    pub fn allows_url(&self, url: &str) -> bool {
        self.http.iter().any(|prefix| url_within(url, prefix))
    }

    pub fn allows_device(&self, name: &str) -> bool {
        self.device.iter().any(|d| d == name)
    }

    pub fn uses_tcp(&self) -> bool {
        self.net.iter().any(|n| n.protocol == NetProtocol::Tcp)
    }

    pub fn uses_udp(&self) -> bool {
        self.net.iter().any(|n| n.protocol == NetProtocol::Udp)
    }
}

/// Logs each request the device config did not grant.
pub fn log_denials(name: &PluginName, grants: &EffectiveGrants) {
    for denied in &grants.denied {
        tracing::warn!(plugin = %name, capability = %denied, "requested capability not granted by the device config");
    }
}

fn protocol_name(p: NetProtocol) -> &'static str {
    match p {
        NetProtocol::Tcp => "tcp",
        NetProtocol::Udp => "udp",
    }
}

/// A requested directory is granted when it lies inside a granted one, by
/// path components (so `/data2` is not inside `/data`); the mode is the
/// lesser of the two.
fn fs_within(req: &FsCapability, grant: &FsCapability) -> Option<FsMode> {
    let inside = req.host.starts_with(&grant.host) && no_parent_components(&req.host);
    inside.then(|| req.mode.min(grant.mode))
}

fn no_parent_components(p: &Path) -> bool {
    !p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
}

/// `url` lies within `prefix` when it starts with it and the prefix ends at a
/// path boundary. Manifest validation makes every prefix carry a path, so
/// `https://host/` cannot match `https://host.evil/`.
fn url_within(url: &str, prefix: &str) -> bool {
    if !url.starts_with(prefix) {
        return false;
    }
    let rest = &url[prefix.len()..];
    prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(toml_text: &str) -> Capabilities {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn effective_grant_is_request_and_device_grant() {
        let requested = caps(
            r#"
fs = [{ host = "/var/lib/osb/a", guest = "/data", mode = "rw" },
      { host = "/etc", guest = "/etc", mode = "ro" }]
net = [{ addr = "127.0.0.1:123", protocol = "udp" }, { addr = "10.0.0.1:80", protocol = "tcp" }]
http = ["https://time.example.com/api/", "https://other.example.com/"]
device = ["tpm0", "gpio"]
kv = true
"#,
        );
        let granted = caps(
            r#"
fs = [{ host = "/var/lib/osb", guest = "/ignored", mode = "ro" }]
net = [{ addr = "127.0.0.1:123", protocol = "udp" }]
http = ["https://time.example.com/"]
device = ["tpm0", "camera"]
"#,
        );
        let g = EffectiveGrants::decide(&requested, &granted);
        assert_eq!(
            g.fs,
            vec![Preopen {
                host: "/var/lib/osb/a".into(),
                guest: "/data".into(),
                mode: FsMode::ReadOnly
            }]
        );
        assert_eq!(g.net.len(), 1);
        assert_eq!(g.http, vec!["https://time.example.com/api/".to_owned()]);
        assert_eq!(g.device, vec!["tpm0".to_owned()]);
        assert!(!g.kv);
        assert_eq!(
            g.denied,
            vec![
                "fs /etc",
                "net tcp 10.0.0.1:80",
                "http https://other.example.com/",
                "device gpio",
                "kv"
            ]
        );
    }

    #[test]
    fn nothing_granted_means_nothing() {
        let requested = caps(
            r#"kv = true
device = ["tpm0"]"#,
        );
        let g = EffectiveGrants::decide(&requested, &Capabilities::default());
        assert!(g.fs.is_empty() && g.device.is_empty() && !g.kv);
        assert!(!g.allows_device("tpm0"));
    }

    #[test]
    fn path_and_url_boundaries() {
        let req = |p: &str| FsCapability {
            host: p.into(),
            guest: "/d".into(),
            mode: FsMode::ReadWrite,
        };
        let grant = req("/data");
        assert_eq!(fs_within(&req("/data/x"), &grant), Some(FsMode::ReadWrite));
        assert_eq!(fs_within(&req("/data2"), &grant), None);
        assert_eq!(fs_within(&req("/data/../etc"), &grant), None);

        for (url, prefix, expect) in [
            ("https://a.example/x", "https://a.example/", true),
            ("https://a.example/api/v1", "https://a.example/api", true),
            ("https://a.example/apix", "https://a.example/api", false),
            ("https://a.example.evil/", "https://a.example", false),
            ("http://a.example/", "https://a.example/", false),
        ] {
            assert_eq!(url_within(url, prefix), expect, "{url} within {prefix}");
        }
    }

    #[test]
    fn sockets_only_to_granted_addresses() {
        let g = EffectiveGrants {
            net: vec![NetCapability {
                addr: "127.0.0.1:123".parse().unwrap(),
                protocol: NetProtocol::Udp,
            }],
            ..Default::default()
        };
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(g.allows_socket(a("127.0.0.1:123"), NetProtocol::Udp, false));
        assert!(!g.allows_socket(a("127.0.0.1:123"), NetProtocol::Tcp, false));
        assert!(!g.allows_socket(a("127.0.0.1:124"), NetProtocol::Udp, false));
        assert!(g.allows_socket(a("0.0.0.0:0"), NetProtocol::Udp, true));
        assert!(!g.allows_socket(a("0.0.0.0:8080"), NetProtocol::Udp, true));
        assert!(!g.allows_socket(a("0.0.0.0:0"), NetProtocol::Tcp, true));
    }
}
