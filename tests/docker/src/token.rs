//! A token server on loopback for a registry with distribution's `token`
//! auth: the flow Docker Hub and GHCR use. A client asks it for a token
//! (anonymously or with a Basic login), it answers a JWT signed RS256 by a
//! key made here, whose certificate the registry trusts and which travels
//! in the token's `x5c` header. Signing is `openssl dgst`: the fixture
//! shares no crypto code with what it tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

use super::registry::RegistryAuth;

/// Who gets a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenPolicy {
    /// Anyone asking, with or without a login: Docker Hub's public images.
    Anyone,
    /// Only this login, by Basic auth.
    Login {
        /// The user.
        username: String,
        /// The password.
        password: String,
    },
}

/// The token server; stops when dropped.
#[derive(Debug)]
pub struct TokenIssuer {
    port: u16,
    dir: tempfile::TempDir,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Counts {
    issued: AtomicUsize,
    refused: AtomicUsize,
}

/// The `service` the tokens are for.
const SERVICE: &str = "osb-test-registry";
/// The tokens' `iss`.
const ISSUER: &str = "osb-test-issuer";

impl TokenIssuer {
    /// Makes a signing key and certificate, and starts serving tokens on a
    /// free loopback port.
    pub fn start(policy: TokenPolicy) -> TokenIssuer {
        let dir = tempfile::Builder::new()
            .prefix("osb-test-token-")
            .tempdir()
            .expect("create the token server's directory");
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=osb-test-issuer",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ],
            dir.path(),
        );
        openssl(
            &[
                "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
            ],
            dir.path(),
        );
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the token server");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("its address").port();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let signer = Signer {
            dir: dir.path().to_owned(),
            certificate: STANDARD
                .encode(std::fs::read(dir.path().join("cert.der")).expect("read the certificate")),
            policy,
        };
        let thread = {
            let (counts, stop) = (counts.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => signer.serve(stream, &counts),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        TokenIssuer {
            port,
            dir,
            counts,
            stop,
            thread: Some(thread),
        }
    }

    /// Where clients ask for tokens.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The registry settings that trust this server's tokens.
    pub fn registry_auth(&self) -> RegistryAuth {
        RegistryAuth::Token {
            realm: self.realm(),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            certificate: self.dir.path().join("cert.pem"),
        }
    }

    /// Tokens given so far.
    pub fn issued(&self) -> usize {
        self.counts.issued.load(Ordering::SeqCst)
    }

    /// Requests refused so far (no login, or a wrong one).
    pub fn refused(&self) -> usize {
        self.counts.refused.load(Ordering::SeqCst)
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Signer {
    dir: PathBuf,
    /// The DER certificate, standard base64, for `x5c`.
    certificate: String,
    policy: TokenPolicy,
}

impl Signer {
    fn serve(&self, stream: TcpStream, counts: &Counts) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(stream.take(16 << 10));
        let mut target = String::new();
        let mut authorization = None;
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if target.is_empty() {
                target = trimmed.split_whitespace().nth(1).unwrap_or("").to_owned();
            } else if let Some((name, value)) = trimmed.split_once(':')
                && name.eq_ignore_ascii_case("authorization")
            {
                authorization = Some(value.trim().to_owned());
            }
            line.clear();
        }
        let mut stream = reader.into_inner().into_inner();
        let (status, body) = match self.answer(&target, authorization.as_deref()) {
            Some(token) => {
                counts.issued.fetch_add(1, Ordering::SeqCst);
                (
                    "200 OK",
                    json!({"token": token, "access_token": token, "expires_in": 300}),
                )
            }
            None => {
                counts.refused.fetch_add(1, Ordering::SeqCst);
                (
                    "401 Unauthorized",
                    json!({"errors": [{"code": "UNAUTHORIZED"}]}),
                )
            }
        };
        let body = body.to_string();
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
             WWW-Authenticate: Basic realm=\"osb-test\"\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// A token for the request to `target` (`/token?service=..&scope=..`),
    /// or `None` when the policy refuses it.
    fn answer(&self, target: &str, authorization: Option<&str>) -> Option<String> {
        let login = authorization
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let subject = match &self.policy {
            TokenPolicy::Anyone => login
                .as_deref()
                .and_then(|l| l.split_once(':'))
                .map_or(String::new(), |(user, _)| user.to_owned()),
            TokenPolicy::Login { username, password } => {
                if login.as_deref() != Some(&format!("{username}:{password}")) {
                    return None;
                }
                username.clone()
            }
        };
        // Every scope asked for (`repository:<name>:pull,push`), granted for
        // pulls only.
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let access: Vec<_> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(key, _)| key == "scope")
            .filter_map(|(_, scope)| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                actions
                    .split(',')
                    .any(|a| a == "pull")
                    .then(|| json!({"type": kind, "name": name, "actions": ["pull"]}))
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [self.certificate]});
        let claims = json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("{now}-{}", access.len()), "access": access,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.sign(input.as_bytes());
        Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `input`: what RS256 is.
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign", "key.pem"])
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run openssl dgst");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input);
        }
        let out = child.wait_with_output().expect("openssl dgst output");
        assert!(out.status.success(), "openssl dgst failed");
        out.stdout
    }
}
