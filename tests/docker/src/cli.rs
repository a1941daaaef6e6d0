//! Running the `docker` command line.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `docker <args>` and returns its standard output, trimmed; panics
/// with the command and its error output if it fails.
pub fn run(args: &[&str]) -> String {
    try_run(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `docker <args>`: its standard output, trimmed, or a message naming
/// the command and carrying its error output.
pub fn try_run(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", shown(args)))?;
    checked(args, output)
}

/// [`try_run`] that gives up (and kills the command) after `timeout`; for
/// commands with little output, which waits in the pipes until they end.
pub(super) fn run_with_timeout(args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", shown(args)))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{}` did not finish in {timeout:?}", shown(args)));
            }
            Err(e) => return Err(format!("waiting for `{}`: {e}", shown(args))),
        }
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_end(&mut stdout);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_end(&mut stderr);
    }
    checked(
        args,
        Output {
            status,
            stdout,
            stderr,
        },
    )
}

fn checked(args: &[&str], output: Output) -> Result<String, String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            shown(args),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

pub(super) fn shown(args: &[&str]) -> String {
    std::iter::once("docker")
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}
