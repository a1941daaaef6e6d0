//! Every permission decision about a plugin is made here.
//!
//! The effective grant is what the manifest requests AND what the device
//! configuration grants: asking is not getting, and a device grant the plugin
//! did not ask for is not handed out either. The rest of the host only
//! consults an [`EffectiveGrants`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::http_url::{normalised_url, url_within};
use super::manifest::{Capabilities, FsCapability, FsMode, NetCapability, NetProtocol, PluginName};
use super::sensor::{SensorId, SensorPattern};

/// A directory preopened for the guest: `beneath` (relative, no `..`)
/// inside the directory the device config granted, `grant`. The grant is
/// trusted as the device config wrote it; `beneath` is resolved without
/// following links (`host_api/preopens.rs`), since a plugin with a
/// read-write grant may have put links there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preopen {
    /// The directory the device config granted, as written there.
    pub grant: PathBuf,
    /// The requested directory relative to `grant`; empty when the request
    /// is the grant itself.
    pub beneath: PathBuf,
    /// Where the guest sees the directory (the manifest's `guest`).
    pub guest: String,
    /// The lesser of the requested and the granted mode.
    pub mode: FsMode,
}

impl Preopen {
    /// The host path, for messages.
    pub fn host(&self) -> PathBuf {
        self.grant.join(&self.beneath)
    }
}

/// What a plugin may actually use, decided once per loaded version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EffectiveGrants {
    /// Directories to preopen, each beneath the outermost grant holding it.
    pub fs: Vec<Preopen>,
    /// Addresses the guest may connect or send to, each requested and
    /// granted exactly.
    pub net: Vec<NetCapability>,
    /// URL prefixes the guest may request, as the manifest wrote them; each
    /// lies within a granted prefix.
    pub http: Vec<String>,
    /// Device names the guest may open channels to.
    pub device: Vec<String>,
    /// Whether the guest may use its key-value namespace.
    pub kv: bool,
    /// Whether the plugin's allow may let a draft release run (a
    /// `contract-policy` plugin's; see [`Capabilities::drafts`]).
    pub drafts: bool,
    /// The sensors whose readings the plugin is told (a `contract-policy`
    /// plugin's; see [`Capabilities::sensors`]): each granted by id and
    /// asked for by id or by `*`, in the device config's order.
    pub sensors: Vec<SensorId>,
    /// Requests that were not granted, for the log and `osb plugin inspect`.
    pub denied: Vec<String>,
}

impl EffectiveGrants {
    /// Intersects a manifest's request with the device's grant.
    pub fn decide(requested: &Capabilities, granted: &Capabilities) -> EffectiveGrants {
        let mut out = EffectiveGrants::default();
        for req in &requested.fs {
            // The outermost grant holding the request: everything under it
            // is resolved without links, including a granted sub-directory
            // the plugin could have replaced through the outer grant.
            let outermost = granted
                .fs
                .iter()
                .filter_map(|g| fs_within(req, g).map(|mode| (g, mode)))
                .min_by_key(|(g, _)| g.host.components().count());
            match outermost {
                Some((g, mode)) => out.fs.push(Preopen {
                    grant: g.host.clone(),
                    beneath: req
                        .host
                        .strip_prefix(&g.host)
                        .map(Path::to_owned)
                        .unwrap_or_default(),
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
            if granted.http.iter().any(|g| prefix_within(req, g)) {
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
        out.drafts = requested.drafts && granted.drafts;
        if requested.drafts && !granted.drafts {
            out.denied.push("drafts".to_owned());
        }
        // A wildcard in a device grant is refused when the config is read;
        // here one would match only what the manifest names by id.
        for granted in &granted.sensors {
            if let SensorPattern::Id(id) = granted
                && requested.sensors.iter().any(|r| r.matches(id))
                && !out.sensors.contains(id)
            {
                out.sensors.push(id.clone());
            }
        }
        for req in &requested.sensors {
            if let SensorPattern::Id(id) = req
                && !out.sensors.contains(id)
            {
                out.denied.push(format!("sensor {id}"));
            }
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

    /// The URL to send for a request the plugin asked for, or why it is
    /// refused. The URL is normalised first, as a server would (dot
    /// segments, `%2e`, backslashes), so what is checked is what is sent;
    /// encodings that servers decode differently are refused outright.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, String> {
        let url = normalised_url(raw)?;
        if self.http.iter().any(|prefix| url_within(&url, prefix)) {
            Ok(url)
        } else {
            Err(format!("'{url}' is not within the plugin's http grant"))
        }
    }

    /// Whether `name` is one of the granted devices (exact match).
    pub fn allows_device(&self, name: &str) -> bool {
        self.device.iter().any(|d| d == name)
    }

    /// Whether any TCP address is granted: WASI's TCP is enabled only then.
    pub fn uses_tcp(&self) -> bool {
        self.net.iter().any(|n| n.protocol == NetProtocol::Tcp)
    }

    /// Whether any UDP address is granted: WASI's UDP is enabled only then.
    pub fn uses_udp(&self) -> bool {
        self.net.iter().any(|n| n.protocol == NetProtocol::Udp)
    }
}

/// Refuses device grants a plugin could subvert or use to reach the
/// runtime itself:
/// - a directory strictly inside another plugin's read-write grant: that
///   plugin could replace it with a link before this one's instance opens
///   it (a plugin's own nested grants are resolved beneath its outermost
///   one, see [`Preopen`]);
/// - a directory holding the runtime's state directory, or one of
///   `runtime_dirs` (the compile cache is native code the runtime loads;
///   block lock directories are bind-mounted into containers) or lying
///   inside one;
/// - a sensor grant of `*`: the device grants sensors by id.
pub fn check_device_grants<'a>(
    plugins: impl IntoIterator<Item = (&'a PluginName, &'a Capabilities)> + Clone,
    state_dir: Option<&Path>,
    runtime_dirs: &[(&str, PathBuf)],
) -> Result<(), String> {
    for (name, caps) in plugins.clone() {
        if let Some(i) = caps
            .sensors
            .iter()
            .position(|s| matches!(s, SensorPattern::Any))
        {
            return Err(format!(
                "plugins.{name}.grants.sensors[{i}]: '*' is a manifest's request for whatever \
                 the device grants; a device grants sensors by id"
            ));
        }
        for (i, g) in caps.fs.iter().enumerate() {
            let field = format!("plugins.{name}.grants.fs[{i}]");
            let host = g.host.display();
            if let Some(state) = state_dir.filter(|s| s.starts_with(&g.host)) {
                return Err(format!(
                    "{field}: '{host}' holds the runtime's state directory '{}'",
                    state.display()
                ));
            }
            for (what, dir) in runtime_dirs {
                if dir.starts_with(&g.host) || g.host.starts_with(dir) {
                    return Err(format!(
                        "{field}: '{host}' overlaps {what} '{}'",
                        dir.display()
                    ));
                }
            }
            for (other, other_caps) in plugins.clone() {
                let outer = other_caps.fs.iter().find(|o| {
                    other != name
                        && o.mode == FsMode::ReadWrite
                        && g.host.starts_with(&o.host)
                        && g.host != o.host
                });
                if let Some(outer) = outer {
                    return Err(format!(
                        "{field}: '{host}' lies inside plugin '{other}''s read-write grant '{}', \
                         where that plugin could replace it with a link",
                        outer.host.display()
                    ));
                }
            }
        }
    }
    Ok(())
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

/// Whether a manifest's requested prefix lies within a device's granted one.
fn prefix_within(requested: &str, granted: &str) -> bool {
    normalised_url(requested).is_ok_and(|r| url_within(&r, granted))
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
drafts = true
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
                grant: "/var/lib/osb".into(),
                beneath: "a".into(),
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
                "kv",
                "drafts"
            ]
        );
    }

    #[test]
    fn drafts_are_let_through_only_by_a_policy_that_asks_and_is_granted() {
        let asks = caps("drafts = true");
        let grants = caps("drafts = true");
        assert!(EffectiveGrants::decide(&asks, &grants).drafts);
        // Granted by the device but not asked for: a plugin gets no more
        // than it asked, so replacing a policy with one that does not ask
        // takes the grant away with it.
        let quiet = EffectiveGrants::decide(&Capabilities::default(), &grants);
        assert!(!quiet.drafts && quiet.denied.is_empty());
        let refused = EffectiveGrants::decide(&asks, &Capabilities::default());
        assert!(!refused.drafts);
        assert_eq!(refused.denied, ["drafts"]);
    }

    #[test]
    fn sensors_are_those_granted_by_id_and_asked_for_by_id_or_any() {
        let ids = |g: &EffectiveGrants| g.sensors.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let device = caps(r#"sensors = ["Tboard_tegra", "GPU-therm"]"#);
        // `*`: whatever the device grants, in its order.
        let any = EffectiveGrants::decide(&caps(r#"sensors = ["*"]"#), &device);
        assert_eq!(ids(&any), ["Tboard_tegra", "GPU-therm"]);
        assert!(any.denied.is_empty());
        // By id: only what is also granted; the rest is denied, by name.
        let some = EffectiveGrants::decide(
            &caps(r#"sensors = ["GPU-therm", "BCPU-therm", "GPU-therm"]"#),
            &device,
        );
        assert_eq!(ids(&some), ["GPU-therm"]);
        assert_eq!(some.denied, ["sensor BCPU-therm"]);
        // Granted but not asked for: not handed out.
        let quiet = EffectiveGrants::decide(&Capabilities::default(), &device);
        assert!(quiet.sensors.is_empty() && quiet.denied.is_empty());
        // Asked for, nothing granted.
        let none = EffectiveGrants::decide(&caps(r#"sensors = ["*"]"#), &Capabilities::default());
        assert!(none.sensors.is_empty());
    }

    #[test]
    fn a_device_grants_sensors_by_id_only() {
        let name = PluginName::new("policy-thermal").unwrap();
        let wild = caps(r#"sensors = ["Tboard_tegra", "*"]"#);
        let error = check_device_grants([(&name, &wild)], None, &[]).unwrap_err();
        assert!(
            error.starts_with("plugins.policy-thermal.grants.sensors[1]: '*'"),
            "{error}"
        );
        let ids = caps(r#"sensors = ["Tboard_tegra"]"#);
        assert!(check_device_grants([(&name, &ids)], None, &[]).is_ok());
        // A malformed id never gets this far: the TOML is refused, naming it.
        let bad: Result<Capabilities, _> = toml::from_str(r#"sensors = ["temp/x"]"#);
        let bad = bad.unwrap_err().to_string();
        assert!(
            bad.contains("sensors") && bad.contains("is not a sensor id"),
            "{bad}"
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

        let g = EffectiveGrants {
            http: vec![
                "https://a.example/api".to_owned(),
                "http://b.example:8080/allowed/".to_owned(),
            ],
            ..Default::default()
        };
        for (url, sent) in [
            ("https://a.example/api", "https://a.example/api"),
            (
                "https://a.example/api/v1?x=1#frag",
                "https://a.example/api/v1?x=1",
            ),
            ("https://A.EXAMPLE:443/api/./v1", "https://a.example/api/v1"),
            (
                "http://b.example:8080/allowed/x",
                "http://b.example:8080/allowed/x",
            ),
            (
                "http://b.example:8080/allowed/a/../b",
                "http://b.example:8080/allowed/b",
            ),
        ] {
            assert_eq!(
                g.check_url(url).map(String::from).as_deref(),
                Ok(sent),
                "{url}"
            );
        }
        for (url, why) in [
            ("https://a.example/apix", "not within"),
            ("https://a.example.evil/api", "not within"),
            ("http://a.example/api", "not within"),
            ("https://a.example:8443/api", "not within"),
            ("http://b.example:8080/allowed/../secret", "not within"),
            ("http://b.example:8080/allowed/%2e%2e/secret", "not within"),
            ("http://b.example:8080/allowed/%2E./secret", "not within"),
            ("http://b.example:8080/allowed\\..\\secret", "not within"),
            ("http://b.example:8080/allowed/..%2fsecret", "encoded"),
            ("http://b.example:8080/allowed/..%5Csecret", "encoded"),
            ("http://b.example:8080/allowed/%252e%252e/secret", "encoded"),
            ("http://user:pw@b.example:8080/allowed/x", "user info"),
            ("file:///allowed/x", "http(s)"),
            ("allowed/x", "not a URL"),
        ] {
            let e = g.check_url(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn grants_a_plugin_could_subvert_are_refused() {
        let caps = |fs: &[(&str, &str)]| Capabilities {
            fs: fs
                .iter()
                .map(|(host, mode)| FsCapability {
                    host: host.into(),
                    guest: "/d".into(),
                    mode: if *mode == "rw" {
                        FsMode::ReadWrite
                    } else {
                        FsMode::ReadOnly
                    },
                })
                .collect(),
            ..Capabilities::default()
        };
        let (a, b) = (PluginName::new("a").unwrap(), PluginName::new("b").unwrap());
        let state = Path::new("/var/lib/osb");
        let runtime = [
            ("the compile cache", PathBuf::from("/var/lib/osb/cache")),
            ("plugin_dir", PathBuf::from("/var/lib/osb/plugins")),
        ];
        let check = |ga: &[(&str, &str)], gb: &[(&str, &str)]| {
            let (ca, cb) = (caps(ga), caps(gb));
            check_device_grants([(&a, &ca), (&b, &cb)], Some(state), &runtime)
        };
        // Fine: side by side, shared as equals, nested under a read-only
        // grant, nested within one plugin's own grants.
        for (ga, gb) in [
            (
                vec![("/var/lib/osb/a", "rw")],
                vec![("/var/lib/osb/b", "rw")],
            ),
            (vec![("/srv/shared", "rw")], vec![("/srv/shared", "ro")]),
            (vec![("/srv", "ro")], vec![("/srv/b", "rw")]),
            (vec![("/srv/a", "rw"), ("/srv/a/sub", "ro")], vec![]),
        ] {
            assert_eq!(check(&ga, &gb), Ok(()), "{ga:?} {gb:?}");
        }
        for (ga, gb, expect) in [
            (
                vec![("/srv/a", "rw")],
                vec![("/srv/a/sub", "ro")],
                "plugins.b.grants.fs[0]: '/srv/a/sub' lies inside plugin 'a''s read-write grant '/srv/a'",
            ),
            (
                vec![("/var/lib", "ro")],
                vec![],
                "plugins.a.grants.fs[0]: '/var/lib' holds the runtime's state directory",
            ),
            (
                vec![],
                vec![("/var/lib/osb/cache/x", "rw")],
                "plugins.b.grants.fs[0]: '/var/lib/osb/cache/x' overlaps the compile cache",
            ),
            (
                vec![("/var/lib/osb/plugins", "ro")],
                vec![],
                "overlaps plugin_dir",
            ),
        ] {
            let e = check(&ga, &gb).unwrap_err();
            assert!(e.contains(expect), "{e}");
        }
    }

    #[test]
    fn nested_grants_resolve_beneath_the_outermost() {
        let requested = caps(
            r#"
fs = [{ host = "/srv/a/sub/x", guest = "/x", mode = "rw" }]
"#,
        );
        let granted = caps(
            r#"
fs = [{ host = "/srv/a/sub", guest = "/i", mode = "ro" },
      { host = "/srv/a", guest = "/i", mode = "rw" }]
"#,
        );
        let g = EffectiveGrants::decide(&requested, &granted);
        assert_eq!(g.fs[0].grant, Path::new("/srv/a"));
        assert_eq!(g.fs[0].beneath, Path::new("sub/x"));
        assert_eq!(g.fs[0].mode, FsMode::ReadWrite);
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
