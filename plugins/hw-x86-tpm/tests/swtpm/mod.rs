//! A real TPM for the tests: swtpm on a fresh state directory, on
//! loopback ports of its own, killed when dropped; and tpm2-tools to read
//! it the other way.
//!
//! Without swtpm the tests say why and pass, unless `CI` is set: there a
//! missing simulator is a failure (`scripts/services` installs it).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running swtpm, speaking the raw TPM protocol on `addr`.
pub struct Swtpm {
    child: Child,
    addr: SocketAddr,
    state: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// Whether `program` can run here; `false` (after saying why) means skip,
/// and under `CI` a missing program is a failure.
pub fn installed(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is not installed, and CI is set: run scripts/services"
        );
        eprintln!(
            "skipped: {program} is not installed (Debian packages swtpm, swtpm-tools, tpm2-tools, cryptsetup-bin)"
        );
    }
    found
}

impl Swtpm {
    /// swtpm on a fresh state directory, or `None` when it and tpm2-tools
    /// are not installed and this is not CI.
    pub fn start() -> Option<Swtpm> {
        if !installed("swtpm") || !installed("tpm2_pcrread") {
            return None;
        }
        let dir = tempfile::tempdir().expect("a state directory");
        let mut tpm = Swtpm::start_on(dir.path());
        tpm._dir = Some(dir);
        Some(tpm)
    }

    /// Kills this simulator and starts another on the same state directory:
    /// a reboot, as the TPM sees one (PCRs reset, NV kept).
    pub fn restart(mut self) -> Swtpm {
        let dir = self._dir.take();
        let state = self.state.clone();
        drop(self);
        let mut tpm = Swtpm::start_on(&state);
        tpm._dir = dir;
        tpm
    }

    fn start_on(state: &Path) -> Swtpm {
        // A free port may be taken between asking and binding: try again.
        for _ in 0..5 {
            // tpm2-tools' swtpm TCTI finds the control port at the data
            // port + 1.
            let port = free_port();
            let log = std::fs::File::create(state.join("swtpm.log")).expect("swtpm log");
            let mut child = Command::new("swtpm")
                .arg("socket")
                .arg("--tpm2")
                .arg("--tpmstate")
                .arg(format!("dir={}", state.display()))
                .arg("--server")
                .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
                // Started as firmware would leave it: TPM2_Startup(CLEAR)
                // sent, no control-port init needed.
                .arg("--flags")
                .arg("not-need-init,startup-clear")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("swtpm starts");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if wait_listening(&mut child, addr) {
                return Swtpm {
                    child,
                    addr,
                    state: state.to_owned(),
                    _dir: None,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(state.join("swtpm.log")).unwrap_or_default();
        panic!("swtpm did not start; its log:\n{log}");
    }

    /// The raw TPM port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// tpm2-tools' TCTI for this simulator.
    fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.addr.port())
    }

    /// PCR `index` of the sha256 bank, as `tpm2_pcrread` reads it.
    pub fn pcrread(&self, index: u32) -> [u8; 32] {
        let out = tempfile::NamedTempFile::new().unwrap();
        self.tool(&[
            "tpm2_pcrread",
            &format!("sha256:{index}"),
            "-o",
            out.path().to_str().unwrap(),
        ]);
        std::fs::read(out.path())
            .unwrap()
            .try_into()
            .expect("32 bytes")
    }

    /// `tpm2_pcrextend` of sha256 PCR `index` with `digest`.
    pub fn pcrextend(&self, index: u32, digest: &[u8; 32]) {
        self.tool(&["tpm2_pcrextend", &format!("{index}:sha256={}", hex(digest))]);
    }

    /// The defined size of NV index `index`, as `tpm2_nvreadpublic`
    /// reads it, or `None` when it is not defined.
    pub fn nv_size(&self, index: u32) -> Option<u16> {
        let out = Command::new("tpm2_nvreadpublic")
            .arg(format!("{index:#x}"))
            .env("TPM2TOOLS_TCTI", self.tcti())
            .output()
            .unwrap();
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let size = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("size:"))
            .unwrap_or_else(|| panic!("no size in:\n{text}"));
        Some(size.trim().parse().unwrap())
    }

    /// The transient objects and sessions loaded in the TPM, as
    /// `tpm2_getcap` lists them (it loads nothing itself).
    pub fn loaded(&self) -> Vec<String> {
        let mut handles = Vec::new();
        for what in ["handles-transient", "handles-loaded-session"] {
            let out = self.tool(&["tpm2_getcap", what]);
            handles.extend(
                out.lines()
                    .filter_map(|l| l.trim().strip_prefix("- "))
                    .map(str::to_owned),
            );
        }
        handles
    }

    /// Fills the TPM's transient object slots with primary keys made by
    /// `tpm2_createprimary`, which leaves them loaded on a raw port.
    pub fn fill_object_slots(&self) {
        let dir = tempfile::tempdir().unwrap();
        for n in 0.. {
            let ctx = dir.path().join(format!("{n}.ctx"));
            let out = Command::new("tpm2_createprimary")
                .args(["-C", "o", "-G", "ecc", "-c", ctx.to_str().unwrap()])
                .env("TPM2TOOLS_TCTI", self.tcti())
                .output()
                .unwrap();
            if !out.status.success() {
                assert!(n > 0, "{}", String::from_utf8_lossy(&out.stderr));
                return;
            }
        }
    }

    /// Flushes every transient object.
    pub fn flush_objects(&self) {
        self.tool(&["tpm2_flushcontext", "--transient-object"]);
    }

    /// A way to reset this TPM from another thread, as a reboot that
    /// keeps the process would: TPM2_Init on the control port (every
    /// loaded object and session gone, PCRs reset). TPM2_Startup must
    /// follow before any other command.
    pub fn resetter(&self) -> impl Fn() + Send + 'static {
        let ctrl = format!("127.0.0.1:{}", self.addr.port() + 1);
        move || {
            let init = Command::new("swtpm_ioctl")
                .args(["-i", "--tcp", &ctrl])
                .output()
                .unwrap();
            assert!(init.status.success(), "{init:?}");
        }
    }

    fn tool(&self, args: &[&str]) -> String {
        let out = Command::new(args[0])
            .args(&args[1..])
            .env("TPM2TOOLS_TCTI", self.tcti())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port whose next one is free too (the control port).
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Waits until swtpm accepts connections on `addr` (or has exited).
fn wait_listening(child: &mut Child, addr: SocketAddr) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
