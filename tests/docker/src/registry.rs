//! A throwaway image registry on loopback: Debian's `docker-registry`, run
//! as a child process, so a test can stop it mid-pull and start it again,
//! or start it again wanting a login ([`RegistryAuth`]).

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cli::{run, try_run};
use super::free_port;

/// The response header by which a registry fixture knows its own process.
const IDENTITY_HEADER: &str = "X-Osb-Test-Registry";

/// How long a registry may take to answer after it is started.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A registry serving `http://127.0.0.1:<port>/`, which the engine reaches
/// without TLS (it treats registries on 127.0.0.0/8 as insecure). Its
/// storage lives in a temporary directory that outlives [`Registry::stop`].
///
/// Dropping it kills the registry and removes the local image references
/// under its address, so the engine does not collect one set per test run.
/// Declare it before the test's [`super::Scope`]: locals drop in reverse,
/// so the scope's containers are gone by then and their images can go.
#[derive(Debug)]
pub struct Registry {
    port: u16,
    dir: tempfile::TempDir,
    auth: RegistryAuth,
    child: Option<Child>,
    /// Whether it ever answered: until then, the port and the local images
    /// under its address may be another registry's.
    answered: bool,
}

/// Who the registry serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Anyone.
    #[default]
    Open,
    /// One user, by Basic auth (distribution's `htpasswd`).
    Htpasswd {
        /// The user.
        username: String,
        /// The password.
        password: String,
    },
    /// Holders of a token from a token server (distribution's `token`
    /// auth), such as [`super::TokenIssuer`].
    Token {
        /// Where clients get tokens.
        realm: String,
        /// The `service` tokens are for.
        service: String,
        /// The `iss` of the tokens.
        issuer: String,
        /// The certificate (PEM) whose key signs them.
        certificate: PathBuf,
    },
}

impl Registry {
    /// Wants `auth` from the next start on ([`Registry::restart`]): push
    /// while it is open, then restart it closed.
    pub fn set_auth(&mut self, auth: RegistryAuth) {
        self.auth = auth;
        self.write_config();
    }

    /// Starts a registry on `port` and waits until it answers; panics,
    /// with the registry's log, if it does not.
    pub fn start(port: u16) -> Registry {
        let mut registry = Registry::unstarted(port);
        if let Err(e) = registry.spawn() {
            panic!("{e}");
        }
        registry
    }

    /// Starts a registry on a free port: tries a few, since another process
    /// may take a port between [`free_port`] and the registry's bind.
    pub fn start_any() -> Registry {
        let mut last = String::new();
        for _ in 0..5 {
            let mut registry = Registry::unstarted(free_port());
            match registry.spawn() {
                Ok(()) => return registry,
                Err(e) => last = e,
            }
        }
        panic!("no registry started on a free port: {last}");
    }

    fn unstarted(port: u16) -> Registry {
        let registry = Registry {
            port,
            dir: tempfile::Builder::new()
                .prefix("osb-test-registry-")
                .tempdir()
                .expect("create the registry's directory"),
            auth: RegistryAuth::Open,
            child: None,
            answered: false,
        };
        registry.write_config();
        registry
    }

    /// `127.0.0.1:<port>`, the registry part of an image reference.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `<addr>/<repo_tag>`.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.addr())
    }

    /// The registry's storage root (the `docker/registry/v2` tree), for
    /// tests that damage or inspect what it serves.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Whether the registry process is running (it may still be starting).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the registry (SIGKILL: no goodbye to clients mid-transfer) and
    /// waits for it to exit. Stopping a stopped registry does nothing.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the registry if it runs, then starts it again on the same port
    /// and storage, and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("{e}");
        }
    }

    /// Tags `local_image` as `<addr>/<repo_tag>`, pushes it, then removes
    /// that tag (only that one), so that a later pull of the returned
    /// reference really pulls.
    pub fn push(&self, local_image: &str, repo_tag: &str) -> String {
        let reference = self.reference(repo_tag);
        run(&["tag", local_image, &reference]);
        let pushed = try_run(&["push", &reference]);
        run(&["rmi", &reference]);
        if let Err(e) = pushed {
            panic!("{e}\nregistry log:\n{}", self.log_tail());
        }
        reference
    }

    fn write_config(&self) {
        // Without `delete`, the registry refuses to delete manifests, which
        // tests of a registry losing an image need.
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  headers:\n    {IDENTITY_HEADER}: [\"{identity}\"]\n",
            storage = self.storage().display(),
            port = self.port,
            identity = self.identity(),
        );
        match &self.auth {
            RegistryAuth::Open => {}
            RegistryAuth::Htpasswd { username, password } => {
                let path = self.dir.path().join("htpasswd");
                let hash = bcrypt::hash(password, 4).expect("hash the password");
                std::fs::write(&path, format!("{username}:{hash}\n")).expect("write htpasswd");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: osb-test\n    path: {}\n",
                    path.display()
                ));
            }
            RegistryAuth::Token {
                realm,
                service,
                issuer,
                certificate,
            } => config.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    \
                 issuer: {issuer}\n    rootcertbundle: {}\n",
                certificate.display()
            )),
        }
        std::fs::write(self.config_path(), config).expect("write the registry config");
    }

    /// What this registry, and no other, says in [`IDENTITY_HEADER`]: the
    /// name of its unique temporary directory.
    fn identity(&self) -> String {
        self.dir
            .path()
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Starts the process and waits until `GET /v2/` answers 200.
    fn spawn(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("share the registry log"))
            .stderr(log)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start docker-registry ({e}): scripts/services installs it \
                     (Debian package docker-registry)"
                )
            })?;
        let identity = self.identity();
        let child = self.child.insert(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!(
                    "the registry on port {} exited ({status}):\n{}",
                    self.port,
                    self.log_tail()
                ));
            }
            if answers(self.port, &identity) {
                self.answered = true;
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "the registry on port {} did not answer in {READY_TIMEOUT:?}:\n{}",
                    self.port,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Removes the local references to images from this registry, the
    /// tagged and the pulled-by-digest ones.
    fn forget_local_images(&self) {
        let prefix = format!("{}/", self.addr());
        let Ok(listed) = try_run(&[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Digest}}",
        ]) else {
            return;
        };
        for line in listed.lines() {
            let mut fields = line.split_whitespace();
            let (Some(repo), Some(tag), Some(digest)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !repo.starts_with(&prefix) {
                continue;
            }
            let reference = if tag != "<none>" {
                format!("{repo}:{tag}")
            } else if digest != "<none>" {
                format!("{repo}@{digest}")
            } else {
                continue;
            };
            // Still used by a container: not this fixture's business.
            let _ = try_run(&["rmi", &reference]);
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        if self.answered {
            self.forget_local_images();
        }
    }
}

/// Whether `GET /v2/` on the port answers 200, the registry API's "I am
/// here" (or 401, the same from a registry that wants a login), with this
/// registry's `identity`: a registry that failed to bind must not pass for
/// ready because another test's took the port first.
/// HTTP/1.0 by hand: the registry closes the connection after one answer.
fn answers(port: u16, identity: &str) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = BufReader::new(stream).lines().map_while(Result::ok);
    let ok = head.next().is_some_and(|status| {
        status.starts_with("HTTP/1.")
            && matches!(status.split_whitespace().nth(1), Some("200" | "401"))
    });
    let header = IDENTITY_HEADER.to_ascii_lowercase();
    ok && head
        .take_while(|line| !line.is_empty())
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        })
        .any(|(name, value)| name == header && value == identity)
}
