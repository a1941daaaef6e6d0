//! A writer killed mid-way, for the atomicity tests: the test re-runs its
//! own test binary, in which the same test plays the child (selected by an
//! environment variable) and writes from a [`SlowReader`]; the parent
//! SIGKILLs it once the write is visibly under way.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Names the child's role and its directory.
pub(crate) const CHILD: &str = "OSB_HOSTOS_KILLED_CHILD";

/// The directory the child works in, if this process is the child.
pub(crate) fn child_dir() -> Option<std::path::PathBuf> {
    std::env::var_os(CHILD).map(Into::into)
}

/// Reads `bytes` a small chunk at a time, pausing between chunks, so a
/// write from it takes seconds.
pub(crate) struct SlowReader {
    bytes: Vec<u8>,
    at: usize,
}

impl SlowReader {
    pub(crate) fn new(bytes: Vec<u8>) -> SlowReader {
        SlowReader { bytes, at: 0 }
    }
}

impl Read for SlowReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_millis(5));
        let n = buf.len().min(4096).min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Runs test `test` of this binary as the child, working in `dir`, and
/// SIGKILLs it once `under_way` holds (or fails after 60 s).
pub(crate) fn kill_child_when(test: &str, dir: &Path, under_way: impl Fn() -> bool) {
    let mut child: Child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !under_way() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended before it was killed: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the child never got under way"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{status}"
    );
}

/// An archive of `files` files of 64 KiB each: some seconds through a
/// [`SlowReader`].
pub(crate) fn big_archive(files: usize) -> Vec<u8> {
    let mut tar = crate::unpack::tests::Tar::new().file("sbin/init", 0o755, b"init");
    for i in 0..files {
        tar = tar.file(&format!("data/{i}"), 0o644, &[i as u8; 64 * 1024]);
    }
    tar.bytes()
}
