use std::process::ExitCode;

fn main() -> ExitCode {
    match osb_runtime::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
