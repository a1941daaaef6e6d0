//! Importing a compose file into an app's blocks.
//!
//! Reads the part of the compose spec balena users write (see
//! `docs/target-state.md` for the list). `build` is refused: a device pulls,
//! it does not build. Every other key this importer does not know is
//! reported as a [`ComposeWarning`] with its path, never dropped silently;
//! `x-` extension keys are the exception, as the compose spec reserves them
//! for tools, and `x-osb` is this one's (update strategy, time, contract
//! requirements, plugins). A service key one edit away from a known one
//! (`restrat`) is refused as the misspelling it most likely is.
//!
//! Before anything is read, `${VAR}` is interpolated in every string value
//! from the environment an [`ImportContext`] gives, and a service's
//! `env_file` is read through the context's [`ComposeFiles`]: this crate
//! does no IO, so the caller decides what the compose environment is and
//! where the files are.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::name::{AppName, BlockName, NetworkName, VolumeName};
use super::target::{
    App, AppClass, Block, NetworkConfig, Release, ReleaseStatus, UpdateStrategy, VolumeConfig,
};
use super::validate::{self, ReleaseError, Scope};

mod devices;
pub mod env_file;
mod interpolate;
mod network;
mod resources;
mod service;
mod spelling;
#[cfg(test)]
mod tests;
mod update_labels;
mod values;

use values::{
    boolean, byte_size, each, integer, integer_in, invalid, key_values, kind, list, mapping,
    name_or_number, one_or_many, parsed, scalar, string, string_map,
};

/// A compose file read into blocks, with what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposeImport {
    /// The project name (`name:`), if the file gives one.
    pub name: Option<AppName>,
    /// One block per service.
    pub blocks: BTreeMap<BlockName, Block>,
    /// The top-level `volumes`.
    pub volumes: BTreeMap<VolumeName, VolumeConfig>,
    /// The top-level `networks`.
    pub networks: BTreeMap<NetworkName, NetworkConfig>,
    /// Keys that were not imported, each with its path and why.
    pub warnings: Vec<ComposeWarning>,
}

/// A part of the compose file that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeWarning {
    /// Where: `services.web.cap_add`.
    pub path: String,
    /// Why it was left out.
    pub message: String,
}

impl fmt::Display for ComposeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a compose file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// Not YAML (or YAML the reader refuses: repeated keys, alias bombs).
    #[error("not a valid compose file: {0}")]
    Yaml(String),
    /// A service to be built rather than pulled.
    #[error(
        "{path}: 'build' is not supported: build and push the image, then name it with 'image'"
    )]
    Build {
        /// `services.<name>.build`.
        path: String,
    },
    /// A value of the wrong shape or out of range.
    #[error("{path}: {message}")]
    Invalid {
        /// Where: `services.web.ports[0]`.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// Services that refer to what is not there, depend on each other in a
    /// ring, publish a port twice, ...
    #[error(transparent)]
    Release(#[from] ReleaseError),
}

/// The files beside a compose file that it names (a service's
/// `env_file`), as the caller reaches them.
pub trait ComposeFiles {
    /// The text of `relative`, a path beneath the compose file's directory
    /// (relative, normalised, never leaving it: the importer refuses
    /// absolute paths and `..` beyond the directory before it asks).
    /// `Ok(None)` when there is no such file; `Err` says why it could not
    /// be read (a symbolic link out of the directory, not a regular file,
    /// too large, ...).
    fn read(&self, relative: &str) -> Result<Option<String>, String>;
}

/// The empty environment: interpolation with nothing set.
static EMPTY: BTreeMap<String, String> = BTreeMap::new();

/// What an import may use besides the compose text: the environment
/// `${VAR}` is interpolated from, and the files `env_file` names.
///
/// [`ImportContext::new`] interpolates from an empty environment and reads
/// no file (an `env_file` is refused); [`ImportContext::as_written`] takes
/// every string as written, for documents some other tool has already
/// resolved.
#[derive(Clone, Copy)]
pub struct ImportContext<'a> {
    files: Option<&'a dyn ComposeFiles>,
    /// `None`: no interpolation.
    environment: Option<&'a BTreeMap<String, String>>,
}

impl Default for ImportContext<'_> {
    fn default() -> Self {
        ImportContext::new()
    }
}

impl<'a> ImportContext<'a> {
    /// Interpolation from an empty environment (`${VAR:-default}` gives
    /// its default, `${VAR}` nothing, with a warning), and no files.
    pub fn new() -> Self {
        ImportContext {
            files: None,
            environment: Some(&EMPTY),
        }
    }

    /// No interpolation: `$` is kept as written everywhere. For a document
    /// already resolved (a balena release's composition: the balena
    /// supervisor passes it to the engine as it is). No files either.
    pub fn as_written() -> Self {
        ImportContext {
            files: None,
            environment: None,
        }
    }

    /// Interpolates from `environment`, which also gives the values of
    /// variables listed without one (`environment: [FOO]`) and of `${VAR}`
    /// in the `env_file` files.
    pub fn with_environment(self, environment: &'a BTreeMap<String, String>) -> Self {
        ImportContext {
            environment: Some(environment),
            ..self
        }
    }

    /// Reads `env_file` files through `files`.
    pub fn with_files(self, files: &'a dyn ComposeFiles) -> Self {
        ImportContext {
            files: Some(files),
            ..self
        }
    }
}

impl ComposeImport {
    /// The app this compose file describes, as a release of `version`.
    pub fn into_app(self, class: AppClass, version: semver::Version, status: ReleaseStatus) -> App {
        App {
            class,
            release: Release {
                version,
                status,
                blocks: self.blocks,
                requires: Vec::new(),
                validation_window: None,
            },
            volumes: self.volumes,
            networks: self.networks,
        }
    }
}

/// Reads a compose file, interpolating from an empty environment, without
/// files (an `env_file` is refused): [`import_with`] with
/// [`ImportContext::new`].
pub fn import(yaml: &str) -> Result<ComposeImport, ComposeError> {
    import_with(yaml, &ImportContext::new())
}

/// Reads a compose file with what `context` gives: the interpolation
/// environment and the files beside it.
pub fn import_with(yaml: &str, context: &ImportContext<'_>) -> Result<ComposeImport, ComposeError> {
    // The YAML reader refuses repeated keys and bounds alias expansion; a
    // generic tree then lets each key be judged (and reported) by path.
    let document: Value = serde_saphyr::from_str(yaml).map_err(yaml_error)?;
    import_document_with(&document, context)
}

/// Reads a compose document already parsed and resolved (a balena
/// release's `composition` arrives as JSON inside the target state): every
/// string as written, no files ([`ImportContext::as_written`]).
pub fn import_document(document: &Value) -> Result<ComposeImport, ComposeError> {
    import_document_with(document, &ImportContext::as_written())
}

/// Reads a compose document already parsed, with what `context` gives.
pub fn import_document_with(
    document: &Value,
    context: &ImportContext<'_>,
) -> Result<ComposeImport, ComposeError> {
    let mut walker = Walker {
        warnings: Vec::new(),
        context,
    };
    let interpolated;
    let document = match context.environment {
        Some(environment) if document.is_object() => {
            interpolated = interpolate::document(&mut walker, document, environment)?;
            &interpolated
        }
        _ => document,
    };
    let top = match document {
        Value::Object(top) => top,
        other => {
            return Err(ComposeError::Yaml(format!(
                "expected a mapping at the top, found {}",
                kind(other)
            )));
        }
    };

    let mut import = ComposeImport {
        name: None,
        blocks: BTreeMap::new(),
        volumes: BTreeMap::new(),
        networks: BTreeMap::new(),
        warnings: Vec::new(),
    };
    for (key, value) in top {
        match key.as_str() {
            // Read below, in an order that does not depend on the file's.
            "services" | "volumes" | "networks" => {}
            // Obsolete in the compose spec; it says nothing about the file.
            "version" => {}
            "name" => {
                let name = string(value, "name")?;
                import.name = Some(AppName::new(&name).map_err(|e| invalid("name", e))?);
            }
            key if key.starts_with("x-") => {}
            key => walker.ignored(key),
        }
    }
    if let Some(volumes) = top.get("volumes") {
        import.volumes = top_volumes(&mut walker, volumes)?;
    }
    if let Some(networks) = top.get("networks") {
        import.networks = top_networks(&mut walker, networks)?;
    }
    let Some(services) = top.get("services") else {
        return Err(invalid(
            "services",
            "missing: a compose file needs at least one service",
        ));
    };
    for (name, definition) in mapping(services, "services")? {
        let path = format!("services.{name}");
        let block_name = BlockName::new(name).map_err(|e| invalid(&path, e))?;
        let block = service::read(&mut walker, &path, definition)?;
        import.blocks.insert(block_name, block);
    }

    let scope = Scope {
        blocks: "services".to_owned(),
        volumes: "volumes".to_owned(),
        networks: "networks".to_owned(),
        name: "the compose file".to_owned(),
    };
    validate::settle(&mut import.blocks);
    validate::check_app(&scope, &import.blocks, &import.volumes, &import.networks)?;
    // By path, so the order does not hang on how the YAML tree orders keys.
    walker.warnings.sort_by(|a, b| a.path.cmp(&b.path));
    import.warnings = walker.warnings;
    Ok(import)
}

/// What balena's update labels (`io.balena.update.*`) of a service say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateLabels {
    /// The update strategy, if the labels choose one.
    pub strategy: Option<UpdateStrategy>,
    /// Whether the device reboots once the service is updated, if they say.
    pub requires_reboot: Option<bool>,
}

/// What balena's update labels (`io.balena.update.*`) ask for, with what
/// they leave out as warnings; `path` is where the labels' owner is
/// (`...services.web`). For formats whose labels arrive beside the compose
/// part: a balena service's own labels win over its composition's.
pub fn update_labels(
    labels: &BTreeMap<String, String>,
    path: &str,
) -> Result<(UpdateLabels, Vec<ComposeWarning>), ComposeError> {
    let context = ImportContext::as_written();
    let mut walker = Walker {
        warnings: Vec::new(),
        context: &context,
    };
    let asked = UpdateLabels {
        strategy: update_labels::strategy(&mut walker, labels, path, false)?,
        requires_reboot: update_labels::requires_reboot(labels, path)?,
    };
    Ok((asked, walker.warnings))
}

/// The reader's message for a person who writes compose files, not for a
/// developer of this crate: on one line, with its place, without a snippet.
fn yaml_error(error: serde_saphyr::Error) -> ComposeError {
    let options = serde_saphyr::render_options! {
        formatter: &serde_saphyr::UserMessageFormatter,
        snippets: serde_saphyr::SnippetMode::Off,
    };
    ComposeError::Yaml(error.render_with_options(options))
}

fn top_volumes(
    walker: &mut Walker,
    value: &Value,
) -> Result<BTreeMap<VolumeName, VolumeConfig>, ComposeError> {
    let mut out = BTreeMap::new();
    for (name, definition) in mapping(value, "volumes")? {
        let path = format!("volumes.{name}");
        let volume_name = VolumeName::new(name).map_err(|e| invalid(&path, e))?;
        let mut config = VolumeConfig::default();
        // `data:` with nothing after it is a volume with every default.
        if !definition.is_null() {
            for (key, value) in mapping(definition, &path)? {
                let here = format!("{path}.{key}");
                match key.as_str() {
                    "driver" => config.driver = Some(string(value, &here)?),
                    "driver_opts" => config.driver_opts = string_map(value, &here)?,
                    "labels" => config.labels = walker.labels(value, &here)?,
                    key if key.starts_with("x-") => {}
                    _ => walker.ignored(&here),
                }
            }
        }
        out.insert(volume_name, config);
    }
    Ok(out)
}

fn top_networks(
    walker: &mut Walker,
    value: &Value,
) -> Result<BTreeMap<NetworkName, NetworkConfig>, ComposeError> {
    let mut out = BTreeMap::new();
    for (name, definition) in mapping(value, "networks")? {
        let path = format!("networks.{name}");
        let network_name = NetworkName::new(name).map_err(|e| invalid(&path, e))?;
        let mut config = NetworkConfig::default();
        if !definition.is_null() {
            for (key, value) in mapping(definition, &path)? {
                let here = format!("{path}.{key}");
                match key.as_str() {
                    "driver" => config.driver = Some(string(value, &here)?),
                    "driver_opts" => config.driver_opts = string_map(value, &here)?,
                    "internal" => config.internal = boolean(value, &here)?,
                    "labels" => config.labels = walker.labels(value, &here)?,
                    key if key.starts_with("x-") => {}
                    _ => walker.ignored(&here),
                }
            }
        }
        out.insert(network_name, config);
    }
    Ok(out)
}

/// Collects warnings while the file is read, and carries the context.
struct Walker<'c> {
    warnings: Vec<ComposeWarning>,
    context: &'c ImportContext<'c>,
}

impl Walker<'_> {
    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(ComposeWarning {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn ignored(&mut self, path: &str) {
        self.warn(path, "not supported, ignored");
    }

    /// `labels` as a map (`{k: v}`) or a list (`["k=v"]`).
    fn labels(
        &mut self,
        value: &Value,
        path: &str,
    ) -> Result<BTreeMap<String, String>, ComposeError> {
        let mut out = BTreeMap::new();
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    let here = format!("{path}.{key}");
                    let value = if value.is_null() {
                        String::new()
                    } else {
                        scalar(value, &here)?
                    };
                    out.insert(key.clone(), value);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let here = format!("{path}[{i}]");
                    let item = scalar(item, &here)?;
                    let (key, value) = item.split_once('=').unwrap_or((&item, ""));
                    if out.insert(key.to_owned(), value.to_owned()).is_some() {
                        return Err(invalid(&here, format!("label '{key}' is given twice")));
                    }
                }
            }
            other => {
                return Err(invalid(
                    path,
                    format!("expected a mapping or a list, found {}", kind(other)),
                ));
            }
        }
        Ok(out)
    }
}
