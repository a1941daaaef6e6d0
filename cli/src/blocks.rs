//! What `osb apply`, `osb status` and `osb daemon` share: where the block
//! state lives, which runtime instance this is, and reading a target file
//! (target-state JSON, a balena target state, or a compose file).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use osb_runtime::apply::ApplySettings;
use osb_runtime::config::DeviceConfig;
use osb_runtime::mode::{Mode, ModeHandle};
use osb_runtime::time::published::{self, DaemonTime};
use osb_state::target::{AppClass, FormatVersion, ReleaseStatus};
use osb_state::{AppName, MAX_TARGET_BYTES, TargetState, balena, compose};

mod compose_files;
use compose_files::ComposeDir;

#[derive(Debug, Args)]
pub struct BlockArgs {
    /// Where the runtime keeps its state (block store, update locks,
    /// compile cache, plugin key-value store). Default: the device config's
    /// `state_dir`.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// The runtime instance: engine objects carry it in `io.osb.runtime`,
    /// so two runtimes can share an engine without touching each other's
    /// blocks.
    /// Engine object names carry it too (`<instance>.<app>...`), except
    /// for the default.
    #[arg(long, env = "OSB_INSTANCE", default_value = osb_engine::DEFAULT_INSTANCE, value_parser = parse_instance)]
    pub instance: String,
    /// Steps run at once (creates, starts, pulls...): the engine, not the
    /// runtime, is what limits how many help.
    #[arg(long, default_value_t = 16)]
    pub parallel: usize,
    /// Disk space, in MiB, a pull must leave free beyond the image itself.
    #[arg(long, default_value_t = 256)]
    pub disk_reserve_mb: u64,
}

fn parse_instance(instance: &str) -> Result<String, String> {
    osb_engine::check_instance(instance).map(|()| instance.to_owned())
}

impl BlockArgs {
    pub fn settings(&self, config: &DeviceConfig) -> ApplySettings {
        let mut settings = ApplySettings::new(
            self.state_dir
                .clone()
                .unwrap_or_else(|| config.state_dir.clone()),
        );
        settings.instance = self.instance.clone();
        settings.concurrency = self.parallel.max(1);
        settings.disk_reserve = self.disk_reserve_mb.saturating_mul(1 << 20);
        settings.registries = config.registries.clone();
        settings.policy = config.policy.clone();
        settings.reboot_command = config.device.reboot_command.clone();
        settings.device_contract = config.device.contract.clone();
        settings.mode = ModeHandle::fixed(Mode::from_development(config.development));
        settings
    }
}

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// For a compose file: the app's name. Default: the file's `name:`,
    /// else its directory's name.
    #[arg(long)]
    pub app: Option<String>,
    /// For a compose file: the release version.
    #[arg(long, default_value = "0.0.0")]
    pub release: semver::Version,
    /// For a compose file: the variables `${VAR}` is interpolated from, in
    /// compose's .env syntax. Default: the `.env` beside the compose file,
    /// if there is one.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// For a compose file: interpolate from this process's environment
    /// too, which wins over the env file (as in compose). Off by default,
    /// so what a device's own environment holds does not end up in its
    /// blocks.
    #[arg(long)]
    pub env_from_process: bool,
}

/// Reads a target: JSON in the target-state format, a balena target state
/// (v3, or v2 local mode: JSON without `version`, see `docs/balena.md`), or
/// a compose file (`.yml`/`.yaml`) taken as the whole target, one app of
/// class `app`. None is read past [`MAX_TARGET_BYTES`].
pub fn read_target(path: &Path, compose_args: &ComposeArgs) -> anyhow::Result<TargetState> {
    let text = read_file_capped(path, MAX_TARGET_BYTES)
        .with_context(|| format!("cannot read '{}'", path.display()))?;
    let is_compose = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yml" || e == "yaml");
    if !is_compose {
        // Text that is not JSON at all is left to the target-state reader,
        // whose error says where.
        let is_balena = serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|value| balena::is_balena_document(&value));
        if is_balena {
            return read_balena(path, &text);
        }
        return TargetState::from_json(&text)
            .with_context(|| format!("target '{}' refused", path.display()));
    }
    let files = ComposeDir::open(path)?;
    let environment = compose_files::interpolation_environment(
        &files,
        compose_args.env_file.as_deref(),
        compose_args.env_from_process,
    )?;
    let context = compose::ImportContext::new()
        .with_environment(&environment)
        .with_files(&files);
    let import = compose::import_with(&text, &context)
        .with_context(|| format!("compose file '{}' refused", path.display()))?;
    for warning in &import.warnings {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    let name = match (&compose_args.app, &import.name) {
        (Some(name), _) => AppName::new(name).context("--app")?,
        (None, Some(name)) => name.clone(),
        (None, None) => app_name_from_dir(path),
    };
    let app = import.into_app(
        AppClass::App,
        compose_args.release.clone(),
        ReleaseStatus::Final,
    );
    let target = TargetState {
        version: FormatVersion,
        apps: [(name, app)].into(),
    };
    target
        .validate()
        .with_context(|| format!("compose file '{}' refused", path.display()))?;
    Ok(target)
}

/// A balena target state, mapped onto the target (`docs/balena.md`); what
/// it leaves out is logged, as a compose file's is.
fn read_balena(path: &Path, text: &str) -> anyhow::Result<TargetState> {
    let import = balena::import(text)
        .with_context(|| format!("balena target state '{}' refused", path.display()))?;
    tracing::info!(file = %path.display(), format = %import.format, "read a balena target state");
    for warning in &import.warnings {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    Ok(import.target)
}

/// Compose's rule: the project is named after the file's directory,
/// lowercased, with what a name may not hold left out.
fn app_name_from_dir(path: &Path) -> AppName {
    let dir = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let cleaned: String = dir
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    AppName::new(cleaned.trim_start_matches(['-', '_']))
        .or_else(|_| AppName::new("app"))
        .unwrap_or_else(|_| unreachable!("'app' is a valid name"))
}

/// The text of the file at `path`, refused past `limit` bytes (see
/// [`read_capped`]). Any kind of file is taken, as before the bound: a
/// target given as `<(generate-target)` is a pipe.
fn read_file_capped(path: &Path, limit: u64) -> io::Result<String> {
    read_capped(std::fs::File::open(path)?, limit)
}

/// All of `reader` as text, refused (an error of kind `FileTooLarge`
/// naming `limit`) when it holds more than `limit` bytes. Read through a
/// `take`, so a file that grows while it is read, or a pipe or device that
/// never ends, costs at most `limit + 1` bytes; and as bytes, so a
/// character cut at the bound is reported as the size it is, not as bad
/// UTF-8.
fn read_capped(reader: impl Read, limit: u64) -> io::Result<String> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than the {} accepted", size_text(limit)),
        ));
    }
    // `read_to_string`'s words, which this replaces.
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// `4 MiB`, `64 KiB`, `100 bytes`: a limit as it is set.
fn size_text(bytes: u64) -> String {
    if bytes != 0 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes != 0 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// The clock state a running daemon published in `state_dir`, if one
/// runs. A damaged file is reported and treated as no daemon: the
/// command then plans with `unsynced`, which holds blocks back rather than
/// starting them early.
pub fn running_daemon_time(state_dir: &Path) -> Option<DaemonTime> {
    published::read_running(state_dir)
        .inspect_err(|e| tracing::warn!(error = %e, "ignoring the daemon's time report"))
        .ok()
        .flatten()
}

/// A current-thread runtime: the executor's concurrency is IO, not CPU.
pub fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `read_capped` makes of `input` under `limit`: the text's
    /// length, or the error.
    fn check(input: &[u8], limit: u64, expect: &str) {
        let got = match read_capped(input, limit) {
            Ok(text) => format!("ok {}", text.len()),
            Err(e) => format!("{:?}: {e}", e.kind()),
        };
        assert_eq!(got, expect, "{} bytes under {limit}", input.len());
    }

    #[test]
    fn reads_are_capped() {
        check(&[b'a'; 100], 100, "ok 100");
        check(
            &[b'a'; 101],
            100,
            "FileTooLarge: larger than the 100 bytes accepted",
        );
        check(b"", 0, "ok 0");
        check(b"a", 0, "FileTooLarge: larger than the 0 bytes accepted");
        check(
            &[b'a'; 2049],
            2048,
            "FileTooLarge: larger than the 2 KiB accepted",
        );
        // A two-byte character the bound cuts is too large, not bad UTF-8.
        check(
            "aaé".as_bytes(),
            2,
            "FileTooLarge: larger than the 2 bytes accepted",
        );
        check(
            &[0xff],
            2,
            "InvalidData: stream did not contain valid UTF-8",
        );
    }

    #[test]
    fn a_reader_that_never_ends_is_read_only_to_the_cap() {
        let err = read_capped(io::repeat(b'a'), MAX_TARGET_BYTES).unwrap_err();
        assert_eq!(err.to_string(), "larger than the 4 MiB accepted");
    }
}
