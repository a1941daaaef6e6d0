//! Importing a compose file into an app's blocks.
//!
//! Reads the part of the compose spec balena users write (see
//! `docs/target-state.md` for the list). `build` is refused: a device pulls,
//! it does not build. Every other key this importer does not know is
//! reported as a [`ComposeWarning`] with its path, never dropped silently;
//! `x-` extension keys are the exception, as the compose spec reserves them
//! for tools, and `x-osb` is this one's (update strategy, time, contract
//! requirements, plugins).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::name::{AppName, BlockName, NetworkName, VolumeName};
use super::target::{App, AppClass, Block, NetworkConfig, Release, ReleaseStatus, VolumeConfig};
use super::validate::{self, ReleaseError, Scope};

mod service;
#[cfg(test)]
mod tests;

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

impl ComposeImport {
    /// The app this compose file describes, as a release of `version`.
    pub fn into_app(self, class: AppClass, version: semver::Version, status: ReleaseStatus) -> App {
        App {
            class,
            release: Release {
                version,
                status,
                blocks: self.blocks,
            },
            volumes: self.volumes,
            networks: self.networks,
        }
    }
}

/// Reads a compose file.
pub fn import(yaml: &str) -> Result<ComposeImport, ComposeError> {
    // The YAML reader refuses repeated keys and bounds alias expansion; a
    // generic tree then lets each key be judged (and reported) by path.
    let document: Value = serde_saphyr::from_str(yaml).map_err(yaml_error)?;
    let top = match &document {
        Value::Object(top) => top,
        other => {
            return Err(ComposeError::Yaml(format!(
                "expected a mapping at the top, found {}",
                kind(other)
            )));
        }
    };

    let mut walker = Walker::default();
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
    validate::check_app(&scope, &import.blocks, &import.volumes, &import.networks)?;
    // By path, so the order does not hang on how the YAML tree orders keys.
    walker.warnings.sort_by(|a, b| a.path.cmp(&b.path));
    import.warnings = walker.warnings;
    Ok(import)
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

/// Collects warnings while the file is read.
#[derive(Default)]
struct Walker {
    warnings: Vec<ComposeWarning>,
}

impl Walker {
    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(ComposeWarning {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn ignored(&mut self, path: &str) {
        self.warn(path, "not supported, ignored");
    }

    /// A scalar as a string, with a warning for `${VAR}`: compose would
    /// substitute it from the environment of whoever runs it, and a device
    /// has no such environment.
    fn text(&mut self, value: &Value, path: &str) -> Result<String, ComposeError> {
        let text = scalar(value, path)?;
        if text.contains("${") {
            self.warn(path, "'${...}' is not interpolated: kept as written");
        }
        Ok(text)
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
                        self.text(value, &here)?
                    };
                    out.insert(key.clone(), value);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let here = format!("{path}[{i}]");
                    let item = self.text(item, &here)?;
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

fn invalid(path: &str, message: impl fmt::Display) -> ComposeError {
    ComposeError::Invalid {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn mapping<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ComposeError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(invalid(
            path,
            format!("expected a mapping, found {}", kind(other)),
        )),
    }
}

fn list<'a>(value: &'a Value, path: &str) -> Result<&'a [Value], ComposeError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(invalid(
            path,
            format!("expected a list, found {}", kind(other)),
        )),
    }
}

fn string(value: &Value, path: &str) -> Result<String, ComposeError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(invalid(
            path,
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

/// A string, number or boolean, as text (compose writes `DEBUG: 1`).
fn scalar(value: &Value, path: &str) -> Result<String, ComposeError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(invalid(
            path,
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

fn boolean(value: &Value, path: &str) -> Result<bool, ComposeError> {
    match value {
        Value::Bool(b) => Ok(*b),
        other => Err(invalid(
            path,
            format!("expected true or false, found {}", kind(other)),
        )),
    }
}

fn string_map(value: &Value, path: &str) -> Result<BTreeMap<String, String>, ComposeError> {
    mapping(value, path)?
        .iter()
        .map(|(key, value)| Ok((key.clone(), scalar(value, &format!("{path}.{key}"))?)))
        .collect()
}
