//! What a compose file is imported with: the files beside it (its
//! services' `env_file`), reached only beneath its directory, and the
//! environment `${VAR}` is interpolated from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

use osb_state::compose::{ComposeFiles, env_file};

use super::{read_capped, read_file_capped};

/// The most an env file (`env_file`, `.env`, `--env-file`) may hold:
/// environment files are small, and a device has little memory to spare
/// for one that is not.
const MAX_ENV_FILE: u64 = 1 << 20;

/// The compose file's directory, opened once as a capability: every path
/// is resolved beneath it, so neither `..`, an absolute path nor a
/// symbolic link leads out of it.
pub struct ComposeDir {
    dir: Dir,
    path: PathBuf,
}

impl ComposeDir {
    /// Opens the directory `compose_file` is in.
    pub fn open(compose_file: &Path) -> anyhow::Result<Self> {
        let path = match compose_file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let dir =
            Dir::open_ambient_dir(&path, cap_std::ambient_authority()).with_context(|| {
                format!(
                    "cannot open the compose file's directory '{}'",
                    path.display()
                )
            })?;
        Ok(ComposeDir { dir, path })
    }
}

impl ComposeFiles for ComposeDir {
    fn read(&self, relative: &str) -> Result<Option<String>, String> {
        let mut options = OpenOptions::new();
        // Non-blocking, so a FIFO planted under the name cannot hold the
        // import up; it is refused below as not a regular file.
        options
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
        let file = match self.dir.open_with(relative, &options) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let metadata = file.metadata().map_err(|e| e.to_string())?;
        if !metadata.is_file() {
            return Err("not a regular file".to_owned());
        }
        read_capped(file, MAX_ENV_FILE)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// The environment `${VAR}` is interpolated from, as compose builds it:
/// the variables of `env_file` (`--env-file`), else of the `.env` beside
/// the compose file if there is one; with `from_process`, this process's
/// environment too, which wins over the file's.
pub fn interpolation_environment(
    dir: &ComposeDir,
    env_file: Option<&Path>,
    from_process: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let process: BTreeMap<String, String> = if from_process {
        // A variable that is not UTF-8 cannot be in a compose file's text.
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let (name, text) = match env_file {
        Some(path) => {
            let text = read_file_capped(path, MAX_ENV_FILE)
                .with_context(|| format!("--env-file: cannot read '{}'", path.display()))?;
            (path.display().to_string(), Some(text))
        }
        None => {
            let beside = dir.path.join(".env").display().to_string();
            let text = dir
                .read(".env")
                .map_err(|e| anyhow::anyhow!("cannot read '{beside}': {e}"))?;
            (beside, text)
        }
    };
    let Some(text) = text else {
        return Ok(process);
    };
    let file = env_file::parse(&text, &process)
        .with_context(|| format!("environment file '{name}' refused"))?;
    for warning in &file.warnings {
        tracing::warn!(file = %name, "{warning}");
    }
    let mut environment = file.variables;
    environment.extend(process);
    Ok(environment)
}
