//! A real NTP server: Debian's chronyd, serving its host's clock on a free
//! port of 127.0.0.1. With `-x` it never touches the system clock, and
//! `local stratum 8` makes it answer as synchronised without any upstream.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long chronyd may take to answer its first query.
const START_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Chronyd {
    child: Child,
    addr: SocketAddr,
    // Dropped after the process is killed: it holds the config and log.
    dir: tempfile::TempDir,
}

/// The chronyd binary, if installed.
fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["/usr/sbin".into(), "/sbin".into()]
        .into_iter()
        .chain(std::env::split_paths(&path))
        .map(|dir: PathBuf| dir.join("chronyd"))
        .find(|candidate| candidate.is_file())
}

impl Chronyd {
    /// A running chronyd that has answered an SNTP query. Without chronyd:
    /// `None` after a notice, so the test can return early; but a panic
    /// when `CI` is set, so that CI cannot pass by skipping.
    pub fn start() -> Option<Chronyd> {
        let Some(binary) = binary() else {
            if std::env::var_os("CI").is_some() {
                panic!("these tests need chrony's chronyd; scripts/services installs it");
            }
            let test = std::thread::current().name().unwrap_or("a test").to_owned();
            eprintln!("skipping {test}: chronyd is not installed; scripts/services installs it");
            return None;
        };
        // The free port is found by binding and letting go, so another
        // process may take it before chronyd does: then try another.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Chronyd::try_start(&binary) {
                Ok(chronyd) => return Some(chronyd),
                Err(why) => failures.push(why),
            }
        }
        panic!("chronyd did not start:\n{}", failures.join("\n---\n"));
    }

    fn try_start(binary: &std::path::Path) -> Result<Chronyd, String> {
        let dir = tempfile::tempdir().expect("chronyd's directory");
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free UDP port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let d = dir.path().display();
        // cmdport 0 and bindcmdaddress /: no command sockets, so nothing
        // is shared with a system chronyd (or another test's).
        let conf = format!(
            "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\n\
             cmdport 0\nbindcmdaddress /\npidfile {d}/chronyd.pid\ndriftfile {d}/drift\n"
        );
        let conf_path = dir.path().join("chrony.conf");
        std::fs::write(&conf_path, conf).expect("write chrony.conf");
        let log_path = dir.path().join("chronyd.log");
        let log = std::fs::File::create(&log_path).expect("chronyd's log");
        let mut command = Command::new(binary);
        command.arg("-d").arg("-x").arg("-f").arg(&conf_path);
        // As root it would switch to its own user, which cannot write to
        // this private directory; as anyone else it must be told not to
        // insist on root.
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if root {
            command.args(["-u", "root"]);
        } else {
            command.arg("-U");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut chronyd = Chronyd { child, addr, dir };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if sntp_answers(addr) {
                return Ok(chronyd);
            }
            if let Ok(Some(status)) = chronyd.child.try_wait() {
                return Err(format!(
                    "chronyd exited ({status}):\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                // Drop kills it.
                return Err(format!(
                    "chronyd did not answer on {addr} within {START_TIMEOUT:?}:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where it answers (UDP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// chronyd's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chronyd.log")).unwrap_or_default()
    }
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a synchronised NTP server answers an SNTP client request at
/// `addr` within 200 ms.
pub fn sntp_answers(addr: SocketAddr) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let mut request = [0u8; 48];
    // LI 0, version 4, mode 3 (client).
    request[0] = 0x23;
    // The transmit timestamp, which the reply must echo as its origin.
    let transmit = *b"osb-test";
    request[40..48].copy_from_slice(&transmit);
    if socket.send_to(&request, addr).is_err() {
        return false;
    }
    let mut reply = [0u8; 512];
    match socket.recv_from(&mut reply) {
        Ok((len, from)) => {
            len >= 48
                && from == addr
                && reply[0] & 0x07 == 4
                && (1..=15).contains(&reply[1])
                && reply[24..32] == transmit
        }
        Err(_) => false,
    }
}
