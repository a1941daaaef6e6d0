//! Unpacks the tar stream on stdin beneath DIR with a hostapp's rules (or
//! an extension's, with `--extension`) and prints the report as JSON:
//! what `tests/benches/hostos.sh` times against `tar -x` on the same
//! `docker export`.
//!
//!     docker export CONTAINER | unpack_stdin DIR [--extension]

use std::process::ExitCode;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use osb_hostos::unpack::{UnpackRules, unpack};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), rest) = (args.first(), args.get(1..).unwrap_or_default()) else {
        eprintln!("usage: unpack_stdin DIR [--extension]");
        return ExitCode::from(2);
    };
    let rules = if rest.iter().any(|a| a == "--extension") {
        UnpackRules::extension()
    } else {
        UnpackRules::hostapp()
    };
    let root = match Dir::open_ambient_dir(dir, ambient_authority()) {
        Ok(root) => root,
        Err(e) => {
            eprintln!("{dir}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match unpack(std::io::stdin().lock(), &root, &rules) {
        Ok(report) => {
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
