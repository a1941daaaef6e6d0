//! The HTTP grant holds for the URL that is sent: URLs are normalised
//! before the check, encodings servers read differently are refused, and
//! the `Host` header comes from the URL, never from the plugin.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use osb_tests::Fixture;
use osb_tests::hostile::{Setup, apply, edited, plugin_error, probe_answers};
use serde_json::json;

/// A server that normalises paths as many do (`..`, `%2e`, `\`, `%2f`
/// decoded and resolved) and serves `/secret`; `/allowed/host` answers 200
/// only for the `Host` the URL names. Returns its base URL and the request
/// lines it received.
fn normalising_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let expected_host = host.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push(line.trim_end().to_owned());
            }
            let target = head
                .first()
                .and_then(|l| l.split(' ').nth(1))
                .unwrap_or("")
                .to_owned();
            let path = resolve(&target);
            let host_ok = head
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&format!("host: {expected_host}")));
            log.lock().unwrap().push(path.clone());
            let status = match path.as_str() {
                "/secret" => "200 OK",
                "/allowed/host" if host_ok => "200 OK",
                "/allowed/host" => "400 Bad Host",
                p if p.starts_with("/allowed/") => "200 OK",
                _ => "404 Not Found",
            };
            let _ = (&stream).write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (format!("http://{host}"), seen)
}

/// The path as a lenient server reads it.
fn resolve(target: &str) -> String {
    let decoded = target
        .replace("%2e", ".")
        .replace("%2E", ".")
        .replace("%2f", "/")
        .replace("%2F", "/")
        .replace("%5c", "/")
        .replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    for segment in decoded.split('/').skip(1) {
        match segment {
            ".." => {
                parts.pop();
            }
            "." => {}
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[test]
fn paths_that_leave_the_prefix_are_refused_however_they_are_spelt() {
    let fx = Fixture::new();
    let (base, seen) = normalising_server();
    let pkg = edited(&fx, "pkg", |t| t.replace("http://127.0.0.1:9", &base));
    let grants = format!("http = [\"{base}/allowed/\"]");
    let call = |url: String, extra: &[(&str, &str)]| {
        let mut config = vec![("url", url.as_str())];
        config.extend_from_slice(extra);
        let host = Setup::mode("http")
            .grants(&grants)
            .config(&config)
            .package(pkg.clone())
            .start(&fx);
        let out = apply(&host).unwrap();
        probe_answers(&host);
        out
    };
    for path in [
        "/allowed/../secret",
        "/allowed/%2e%2e/secret",
        "/allowed/%2E./secret",
        "/allowed\\..\\secret",
        "/allowed/..%2fsecret",
        "/allowed/..%5Csecret",
    ] {
        let out = call(format!("{base}{path}"), &[]);
        assert!(plugin_error(&out).contains("Denied"), "{path}: {out}");
    }
    assert!(
        !seen.lock().unwrap().iter().any(|p| p == "/secret"),
        "the server was asked for /secret: {:?}",
        seen.lock().unwrap()
    );
    // Within the prefix, a dot segment is resolved before sending.
    let out = call(format!("{base}/allowed/a/../b"), &[]);
    assert_eq!(out, json!({ "ok": null }));
    assert!(seen.lock().unwrap().iter().any(|p| p == "/allowed/b"));
    // The plugin's own `Host` header is not sent.
    let out = call(
        format!("{base}/allowed/host"),
        &[("host", "internal.example")],
    );
    assert_eq!(out, json!({ "ok": null }), "the server saw another Host");
}
