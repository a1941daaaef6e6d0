//! `osb:plugin/http`: the host makes the request, for granted URL prefixes
//! only, and never follows redirects (a redirect could leave the allow-list).
//!
//! TLS is always verified: against the Mozilla roots, plus the CA
//! certificates the device config adds (`[http] ca_files`, e.g. a company
//! or test-lab CA). There is no way to turn verification off.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use super::StoreState;
use crate::wit::latest::Timestamp;
use crate::wit::latest::host::osb::plugin::http::{Host, HttpError, Request, Response};

/// A response body larger than this fails the request (`transport`), rather
/// than reach the plugin cut short.
pub const MAX_BODY: u64 = 1 << 20;
const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers the host sets itself: `Host` comes from the granted URL, never
/// from the plugin, and the message framing is the host's (a plugin's own
/// `Content-Length` or `Transfer-Encoding` could smuggle a second request).
const HOST_SET_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
];

/// Sends an allowed request, whose URL is already normalised and checked,
/// within `timeout`. The real one speaks HTTP(S); the SDK harness answers
/// from a table.
pub trait HttpTransport: Send + Sync {
    /// Sends `request` and returns the response, all within `timeout`
    /// (already bounded by the host's cap and the call's deadline). Must not
    /// follow redirects: the target could lie outside the grant. An `Err`
    /// reaches the guest as is.
    fn send(&self, request: &Request, timeout: Duration) -> Result<Response, HttpError>;
}

impl Host for StoreState {
    fn send(&mut self, mut request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let url = match self.plugin.grants.check_url(&request.url) {
            Ok(url) => url,
            Err(reason) => {
                tracing::warn!(plugin = %self.plugin.name, url = %request.url, reason, "http request outside the plugin's grant refused");
                return Ok(Err(HttpError::Denied(reason)));
            }
        };
        request.url = url.into();
        request
            .headers
            .retain(|(name, _)| !HOST_SET_HEADERS.contains(&name.to_ascii_lowercase().as_str()));
        // The plugin's own timeout, within the host's cap and what is left
        // of the call's deadline.
        let timeout = Duration::from_millis(request.timeout_ms.max(1).into())
            .min(MAX_TIMEOUT)
            .min(self.remaining());
        if timeout.is_zero() {
            return Ok(Err(HttpError::Timeout));
        }
        let _span =
            tracing::debug_span!("http", plugin = %self.plugin.name, url = %request.url).entered();
        let started = std::time::Instant::now();
        let response = self.plugin.services.http.send(&request, timeout);
        self.waited += started.elapsed();
        Ok(response)
    }
}

/// `t` as a WIT timestamp: seconds since the Unix epoch, and nanoseconds
/// in `0..1_000_000_000` even before 1970, where the seconds go negative
/// (1.5 s before the epoch is -2 s and 500 000 000 ns).
pub fn timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => Timestamp {
            seconds: d.as_secs() as i64,
            nanoseconds: d.subsec_nanos(),
        },
        Err(e) => {
            // Before 1970: a device with no clock. Negative seconds, positive nanos.
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos());
            if n == 0 {
                Timestamp {
                    seconds: -s,
                    nanoseconds: 0,
                }
            } else {
                Timestamp {
                    seconds: -s - 1,
                    nanoseconds: 1_000_000_000 - n,
                }
            }
        }
    }
}

/// `[http]` in the device config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// PEM files of CA certificates trusted in addition to the Mozilla
    /// roots, for every plugin's HTTPS requests. Absolute paths.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
}

impl HttpSettings {
    /// What the types cannot say; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        match self.ca_files.iter().find(|p| !p.is_absolute()) {
            Some(p) => Err(format!(
                "http.ca_files: '{}' is not an absolute path",
                p.display()
            )),
            None => Ok(()),
        }
    }
}

/// A CA file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("CA file '{}': {reason}", path.display())]
pub struct CaFileError {
    /// The file, as `[http] ca_files` names it.
    pub path: PathBuf,
    /// Why it cannot be used: unreadable, not valid PEM, or holding no
    /// certificate.
    pub reason: String,
}

/// HTTP(S) with rustls: the webpki (Mozilla) roots, plus any extra CAs.
pub struct UreqTransport {
    roots: RootCerts,
}

impl Default for UreqTransport {
    fn default() -> Self {
        UreqTransport {
            roots: RootCerts::WebPki,
        }
    }
}

impl UreqTransport {
    /// Reads the extra CA certificates of `settings`. With none, the
    /// Mozilla roots as ureq builds them in; with some, the same roots from
    /// their certificates (ureq cannot add to its own set) and the extras.
    pub fn new(settings: &HttpSettings) -> Result<UreqTransport, CaFileError> {
        if settings.ca_files.is_empty() {
            return Ok(UreqTransport::default());
        }
        let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        for path in &settings.ca_files {
            let extra = read_ca_file(path)?;
            tracing::info!(file = %path.display(), certificates = extra.len(), "trusting extra CA certificates for plugin HTTPS");
            roots.extend(extra);
        }
        Ok(UreqTransport {
            roots: RootCerts::Specific(Arc::new(roots)),
        })
    }
}

/// Every certificate in a PEM file; at least one.
fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, CaFileError> {
    let err = |reason: String| CaFileError {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        // A key or anything else next to the certificates is skipped.
        if let PemItem::Certificate(c) = item.map_err(|e| err(format!("not valid PEM: {e}")))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(err("holds no PEM certificate".to_owned()));
    }
    Ok(certs)
}

impl HttpTransport for UreqTransport {
    fn send(&self, request: &Request, timeout: Duration) -> Result<Response, HttpError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .tls_config(TlsConfig::builder().root_certs(self.roots.clone()).build())
            .build()
            .into();
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (k, v) in &request.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let req = builder
            .body(request.body.clone())
            .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
        let sent_at = timestamp(SystemTime::now());
        let response = agent.run(req).map_err(|e| match e {
            ureq::Error::Timeout(_) => HttpError::Timeout,
            other => HttpError::Transport(other.to_string()),
        })?;
        let received_at = timestamp(SystemTime::now());
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        // One byte past the limit tells a body cut off from one that fits.
        response
            .into_body()
            .into_reader()
            .take(MAX_BODY + 1)
            .read_to_end(&mut body)
            .map_err(|e| HttpError::Transport(format!("reading body: {e}")))?;
        if body.len() as u64 > MAX_BODY {
            return Err(HttpError::Transport(format!(
                "the response body is larger than {MAX_BODY} bytes"
            )));
        }
        Ok(Response {
            status,
            headers,
            body,
            sent_at,
            received_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_before_the_epoch_keep_nanoseconds_positive() {
        let t = SystemTime::UNIX_EPOCH - Duration::from_millis(1500);
        let ts = timestamp(t);
        assert_eq!((ts.seconds, ts.nanoseconds), (-2, 500_000_000));
        let ts = timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(5));
        assert_eq!((ts.seconds, ts.nanoseconds), (5, 0));
    }

    #[test]
    fn ca_files_must_be_absolute_and_hold_a_certificate() {
        let relative = HttpSettings {
            ca_files: vec!["ca.pem".into()],
        };
        assert!(relative.validate().unwrap_err().contains("http.ca_files"));

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let key_only = dir.path().join("key.pem");
        std::fs::write(
            &key_only,
            rcgen::KeyPair::generate().unwrap().serialize_pem(),
        )
        .unwrap();
        for (path, expect) in [
            (&missing, "No such file"),
            (&empty, "no PEM certificate"),
            (&key_only, "no PEM certificate"),
        ] {
            let settings = HttpSettings {
                ca_files: vec![path.clone()],
            };
            let e = UreqTransport::new(&settings)
                .err()
                .expect("refused")
                .to_string();
            assert!(
                e.contains(&*path.to_string_lossy()) && e.contains(expect),
                "{e}"
            );
        }
    }

    /// A CA, and a certificate for `localhost` it signed: (CA PEM, server
    /// certificate DER, server key DER).
    fn test_ca() -> (String, Vec<u8>, Vec<u8>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "osb test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (ca.pem(), cert.der().to_vec(), key.serialize_der())
    }

    /// Serves `connections` HTTPS connections on loopback, answering each
    /// request with a `Date` header; returns the port.
    fn serve_https(
        cert: Vec<u8>,
        key: Vec<u8>,
        connections: usize,
    ) -> (u16, std::thread::JoinHandle<()>) {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        use std::io::Write;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for _ in 0..connections {
                let Ok((tcp, _)) = listener.accept() else {
                    return;
                };
                tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // Read the request head; a client refusing the certificate
                // ends the handshake with an error here.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                if head.ends_with(b"\r\n\r\n") {
                    let _ = tls.write_all(
                        b"HTTP/1.1 200 OK\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        (port, server)
    }

    #[test]
    fn a_body_over_the_limit_is_an_error_never_cut_short_silently() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for len in [MAX_BODY, MAX_BODY + 1] {
                let (mut tcp, _) = listener.accept().unwrap();
                let mut head = [0u8; 1024];
                let _ = tcp.read(&mut head);
                let _ = write!(
                    tcp,
                    "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
                );
                let _ = tcp.write_all(&vec![b'x'; len as usize]);
            }
        });
        let request = Request {
            method: "GET".to_owned(),
            url: format!("http://127.0.0.1:{port}/"),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: 5000,
        };
        let transport = UreqTransport::default();
        let fits = transport.send(&request, Duration::from_secs(5)).unwrap();
        assert_eq!(fits.body.len() as u64, MAX_BODY);
        match transport.send(&request, Duration::from_secs(5)) {
            Err(HttpError::Transport(reason)) => {
                assert!(reason.contains("larger than"), "{reason}")
            }
            other => panic!(
                "a body over the limit was accepted: {:?}",
                other.map(|r| r.body.len())
            ),
        }
        server.join().unwrap();
    }

    #[test]
    fn https_trusts_an_extra_ca_and_still_verifies() {
        let (ca_pem, cert, key) = test_ca();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("test-ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let (port, server) = serve_https(cert, key, 2);
        let request = Request {
            method: "GET".to_owned(),
            url: format!("https://localhost:{port}/"),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: 5000,
        };

        // The public roots alone do not know the test CA: refused.
        let timeout = Duration::from_secs(5);
        match UreqTransport::default().send(&request, timeout) {
            Err(HttpError::Transport(reason)) => {
                assert!(reason.to_lowercase().contains("certificate"), "{reason}");
            }
            other => panic!("an unknown CA was accepted: {other:?}"),
        }

        let transport = UreqTransport::new(&HttpSettings {
            ca_files: vec![ca_file],
        })
        .unwrap();
        let response = transport
            .send(&request, timeout)
            .expect("trusted by the extra CA");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"ok");
        assert!(
            response.headers.iter().any(
                |(k, v)| k.eq_ignore_ascii_case("date") && v == "Tue, 14 Nov 2023 22:13:20 GMT"
            )
        );
        server.join().unwrap();
    }
}
