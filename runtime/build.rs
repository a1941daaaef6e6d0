//! Embeds the runtime's build time, the lower end of the time service's
//! plausible range (`src/time/plausible.rs`): nothing built now can run
//! before now. `SOURCE_DATE_EPOCH` (whole Unix seconds), when set, is the
//! build time instead, so that a reproducible build embeds the same value
//! every time.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> Result<(), String> {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // Rebuilt sources are a new build: the time follows them. Without this
    // the script would run once and keep its first time for ever.
    println!("cargo:rerun-if-changed=src");
    let seconds: i64 = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|e| format!("SOURCE_DATE_EPOCH {value:?} is not whole Unix seconds: {e}"))?,
        Err(_) => {
            let since = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|e| format!("the build machine's clock is before 1970: {e}"))?;
            i64::try_from(since.as_secs()).map_err(|e| e.to_string())?
        }
    };
    let out = std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?;
    let file = std::path::Path::new(&out).join("build_time.rs");
    std::fs::write(
        &file,
        format!(
            "/// When the runtime was built, in Unix seconds (see `build.rs`).\npub const RUNTIME_BUILD_UNIX_SECONDS: i64 = {seconds};\n"
        ),
    )
    .map_err(|e| format!("cannot write '{}': {e}", file.display()))
}
