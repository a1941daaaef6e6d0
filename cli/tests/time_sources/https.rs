//! A real HTTPS server on loopback, with a certificate from a test CA, whose
//! `Date` header says what the test chooses: the truth, a skewed clock, a
//! captive portal's answer, or garbage.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::dates;

/// What the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 with the machine's clock as the `Date`.
    Honest,
    /// 200 with a `Date` this many seconds off the machine's clock.
    Skewed(i64),
    /// A captive portal: 302 to its login page (with an honest `Date`, as
    /// real portals send).
    Redirect,
    /// A captive portal's own page: 200 without a `Date`.
    NoDate,
    /// 200 with a `Date` that is not a date.
    MalformedDate,
}

/// A certificate authority that the device config trusts through
/// `[http] ca_files`, and that no public root knows.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    file: PathBuf,
}

impl TestCa {
    /// A new CA, its certificate written to `dir/test-ca.pem`.
    pub fn new(dir: &Path) -> TestCa {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "osb time-source test CA");
        let issuer = rcgen::CertifiedIssuer::self_signed(params, key).expect("self-signed CA");
        let file = dir.join("test-ca.pem");
        std::fs::write(&file, issuer.pem()).expect("write the CA certificate");
        TestCa { issuer, file }
    }

    /// The PEM file for `[http] ca_files`.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// A server on a free port of 127.0.0.1 with a certificate this CA
    /// signed for `127.0.0.1` and `localhost`.
    pub fn serve(&self, answer: Answer) -> HttpsServer {
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params")
                .signed_by(&key, &self.issuer)
                .expect("server certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server TLS config");
        HttpsServer::start(Arc::new(config), answer)
    }
}

/// What the server's threads share with the test.
struct Shared {
    answer: Mutex<Answer>,
    /// Requests answered, by method: `HEAD` and `GET`.
    heads: AtomicUsize,
    gets: AtomicUsize,
    stop: AtomicBool,
}

/// Serves until dropped; every connection on a thread of its own, one
/// request per connection (`Connection: close`), as the runtime's client
/// makes them.
pub struct HttpsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl HttpsServer {
    fn start(config: Arc<rustls::ServerConfig>, answer: Answer) -> HttpsServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let shared = Arc::new(Shared {
            answer: Mutex::new(answer),
            heads: AtomicUsize::new(0),
            gets: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for tcp in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(tcp) = tcp else { continue };
                    let (config, shared) = (config.clone(), shared.clone());
                    std::thread::spawn(move || serve_one(tcp, config, &shared));
                }
            })
        };
        HttpsServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The URL the time-https plugin asks.
    pub fn url(&self) -> String {
        format!("https://{}/time", self.addr)
    }

    /// From now on, answer this.
    pub fn set(&self, answer: Answer) {
        *self.shared.answer.lock().expect("answer lock") = answer;
    }

    /// `HEAD` requests answered so far.
    pub fn heads(&self) -> usize {
        self.shared.heads.load(Ordering::SeqCst)
    }

    /// `GET` requests answered so far.
    pub fn gets(&self) -> usize {
        self.shared.gets.load(Ordering::SeqCst)
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor blocked in accept(), which then sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve_one(tcp: TcpStream, config: Arc<rustls::ServerConfig>, shared: &Shared) {
    // A client that stalls must not keep a thread for ever.
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // The request head; a client refusing the certificate ends the
    // handshake with an error here.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match tls.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let method = head.split(' ').next().unwrap_or_default();
    let with_body = match method {
        "HEAD" => false,
        "GET" => true,
        _ => {
            let _ = tls.write_all(
                b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
    };
    let answer = *shared.answer.lock().expect("answer lock");
    // Read as late as possible: the Date must be the clock when answering.
    let now = dates::now().div_euclid(dates::SECOND) as i64;
    let (status, headers, body) = match answer {
        Answer::Honest => (
            "200 OK",
            format!("Date: {}\r\n", dates::http_date(now)),
            "ok\n",
        ),
        Answer::Skewed(by) => (
            "200 OK",
            format!("Date: {}\r\n", dates::http_date(now + by)),
            "ok\n",
        ),
        Answer::Redirect => (
            "302 Found",
            format!(
                "Date: {}\r\nLocation: http://portal.example/login?continue=/time\r\n",
                dates::http_date(now)
            ),
            "",
        ),
        Answer::NoDate => (
            "200 OK",
            "Content-Type: text/html\r\n".to_owned(),
            "<html><body>Log in to use the Wi-Fi</body></html>\n",
        ),
        Answer::MalformedDate => (
            "200 OK",
            "Date: yesterday at noonish\r\n".to_owned(),
            "ok\n",
        ),
    };
    let counter = if with_body {
        &shared.gets
    } else {
        &shared.heads
    };
    counter.fetch_add(1, Ordering::SeqCst);
    let mut response = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if with_body {
        response.push_str(body);
    }
    let _ = tls.write_all(response.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
}
