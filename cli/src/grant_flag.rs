//! `--grant` flags of `osb plugin call`: a device grant written on the
//! command line instead of in the device config.

use std::path::PathBuf;

use osb_plugin_host::host_api::device::DeviceEndpoint;
use osb_plugin_host::manifest::{FsCapability, NetCapability};
use osb_plugin_host::{Capabilities, FsMode, NetProtocol};

pub const HELP: &str = "\
Grant a capability for this call (repeatable). The plugin gets what its
plugin.toml requests AND what is granted here:
  fs=HOST_DIR[:ro|rw]          a host directory (and below); default ro
  net=udp:ADDR:PORT            one socket address, udp or tcp
  http=URL_PREFIX              e.g. http=https://time.example.com/
  device=NAME=socket:PATH      a device by name, over a Unix socket
  device=NAME=path:PATH        a device by name, as a character device
  kv                           a private key-value store (needs --state-dir)";

/// Adds one `--grant` to `caps`; a device endpoint is also returned.
pub fn apply(
    flag: &str,
    caps: &mut Capabilities,
) -> Result<Option<(String, DeviceEndpoint)>, String> {
    let (what, value) = flag.split_once('=').unwrap_or((flag, ""));
    match what {
        "kv" if value.is_empty() => caps.kv = true,
        "fs" => {
            let (host, mode) = match value.rsplit_once(':') {
                Some((h, "rw")) => (h, FsMode::ReadWrite),
                Some((h, "ro")) => (h, FsMode::ReadOnly),
                _ => (value, FsMode::ReadOnly),
            };
            let host = PathBuf::from(host);
            if !host.is_absolute() {
                return Err(format!(
                    "--grant {flag}: the host directory must be absolute"
                ));
            }
            caps.fs.push(FsCapability {
                host,
                guest: "/".into(),
                mode,
            });
        }
        "net" => {
            let (proto, addr) = value.split_once(':').ok_or_else(|| {
                format!("--grant {flag}: expected net=udp:ADDR:PORT or net=tcp:ADDR:PORT")
            })?;
            let protocol = match proto {
                "udp" => NetProtocol::Udp,
                "tcp" => NetProtocol::Tcp,
                other => {
                    return Err(format!(
                        "--grant {flag}: protocol '{other}' is not udp or tcp"
                    ));
                }
            };
            let addr = addr
                .parse()
                .map_err(|e| format!("--grant {flag}: '{addr}' is not ADDR:PORT ({e})"))?;
            caps.net.push(NetCapability { addr, protocol });
        }
        "http" if !value.is_empty() => caps.http.push(value.to_owned()),
        "device" => {
            let (name, endpoint) = value
                .split_once('=')
                .ok_or_else(|| format!("--grant {flag}: expected device=NAME=socket:PATH"))?;
            let endpoint = match endpoint.split_once(':') {
                Some(("socket", p)) => DeviceEndpoint::Socket(p.into()),
                Some(("path", p)) => DeviceEndpoint::Path(p.into()),
                _ => {
                    return Err(format!(
                        "--grant {flag}: the endpoint must be socket:PATH or path:PATH"
                    ));
                }
            };
            caps.device.push(name.to_owned());
            return Ok(Some((name.to_owned(), endpoint)));
        }
        _ => return Err(format!("--grant {flag}: unknown capability; see --help")),
    }
    caps.validate()
        .map_err(|e| format!("--grant {flag}: {e}"))?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_flags() {
        let mut caps = Capabilities::default();
        assert!(apply("fs=/var/lib/x:rw", &mut caps).unwrap().is_none());
        assert_eq!(caps.fs[0].mode, FsMode::ReadWrite);
        apply("net=udp:127.0.0.1:123", &mut caps).unwrap();
        assert_eq!(caps.net[0].protocol, NetProtocol::Udp);
        apply("kv", &mut caps).unwrap();
        assert!(caps.kv);
        let dev = apply("device=tpm0=socket:/run/tpm.sock", &mut caps).unwrap();
        assert_eq!(dev.unwrap().0, "tpm0");
        for bad in [
            "fs=relative",
            "net=icmp:1.2.3.4:1",
            "net=udp:nope",
            "http=https://bare.host",
            "toaster",
            "device=x",
        ] {
            let e = apply(bad, &mut Capabilities::default()).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
