//! What a block mounts: named volumes of its app, host paths, tmpfs; and the
//! compose short syntax (`data:/var/lib/data:ro`) that reads into them.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

use super::name::VolumeName;

/// One mount of a block.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum VolumeMount {
    /// A named volume of the block's app (declared in the app's `volumes`).
    Volume {
        /// The volume's name within the app.
        source: VolumeName,
        /// Where it appears in the container.
        target: AbsPath,
        /// Mount read-only.
        #[serde(default, skip_serializing_if = "is_false")]
        read_only: bool,
    },
    /// A host path.
    Bind {
        /// The path on the host.
        source: AbsPath,
        /// Where it appears in the container.
        target: AbsPath,
        /// Mount read-only.
        #[serde(default, skip_serializing_if = "is_false")]
        read_only: bool,
    },
    /// A tmpfs: memory-backed, empty at each start.
    Tmpfs {
        /// Where it appears in the container.
        target: AbsPath,
        /// Its size limit in bytes. Absent: the engine's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl VolumeMount {
    /// Where the mount appears in the container.
    pub fn target(&self) -> &AbsPath {
        match self {
            VolumeMount::Volume { target, .. }
            | VolumeMount::Bind { target, .. }
            | VolumeMount::Tmpfs { target, .. } => target,
        }
    }

    /// The named volume it mounts, if it mounts one.
    pub fn volume(&self) -> Option<&VolumeName> {
        match self {
            VolumeMount::Volume { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a mount string is not a mount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    /// A bare container path: the engine would make a volume no one can name,
    /// and its data would be lost when the block is recreated.
    #[error("anonymous volume '{0}': name it ('name:{0}') so its data outlives an update")]
    Anonymous(String),
    /// Anything else wrong with it.
    #[error("invalid volume '{input}': {reason}")]
    Invalid {
        /// The string as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl FromStr for VolumeMount {
    type Err = MountError;

    /// The compose short syntax: `name:/path[:ro|rw]` for a named volume,
    /// `/host/path:/path[:ro|rw]` for a bind mount.
    fn from_str(input: &str) -> Result<Self, MountError> {
        let invalid = |reason: String| MountError::Invalid {
            input: input.to_owned(),
            reason,
        };
        let parts: Vec<&str> = input.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [target] => {
                AbsPath::new(target).map_err(invalid)?;
                return Err(MountError::Anonymous((*target).to_owned()));
            }
            [source, target] => (*source, *target, None),
            [source, target, mode] => (*source, *target, Some(*mode)),
            _ => return Err(invalid("expected source:target[:mode]".to_owned())),
        };
        let read_only = match mode {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "mode '{other}' is not supported (only 'ro' or 'rw')"
                )));
            }
        };
        let target = AbsPath::new(target).map_err(invalid)?;
        if source.starts_with('/') {
            let source = AbsPath::new(source).map_err(invalid)?;
            return Ok(VolumeMount::Bind {
                source,
                target,
                read_only,
            });
        }
        if source.starts_with('.') || source.starts_with('~') {
            return Err(invalid(format!(
                "relative host path '{source}': a device has no project directory; use an absolute path"
            )));
        }
        let source = VolumeName::new(source).map_err(|e| invalid(e.to_string()))?;
        Ok(VolumeMount::Volume {
            source,
            target,
            read_only,
        })
    }
}

impl fmt::Display for VolumeMount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ro = |read_only: bool| if read_only { ":ro" } else { "" };
        match self {
            VolumeMount::Volume {
                source,
                target,
                read_only,
            } => write!(f, "{source}:{target}{}", ro(*read_only)),
            VolumeMount::Bind {
                source,
                target,
                read_only,
            } => write!(f, "{source}:{target}{}", ro(*read_only)),
            VolumeMount::Tmpfs { target, .. } => write!(f, "tmpfs:{target}"),
        }
    }
}

/// An absolute path: starts with `/`, has no `..` component and no NUL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AbsPath(String);

impl AbsPath {
    /// Checks that `path` is absolute, without `..` and NUL.
    pub fn new(path: &str) -> Result<Self, String> {
        if !path.starts_with('/') {
            return Err(format!("path '{path}' is not absolute"));
        }
        if path.contains('\0') {
            return Err("path holds a NUL byte".to_owned());
        }
        if path.split('/').any(|c| c == "..") {
            return Err(format!("path '{path}' has a '..' component"));
        }
        Ok(AbsPath(path.to_owned()))
    }

    /// The path as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AbsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AbsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        AbsPath::new(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for AbsPath {
    fn schema_name() -> Cow<'static, str> {
        "AbsPath".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^/",
            "description": "An absolute path, without '..' components.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let got = match input.parse::<VolumeMount>() {
            Ok(m) => format!("{m} ({})", serde_json::to_string(&m).unwrap_or_default()),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "input {input:?}");
    }

    #[test]
    fn short_syntax() {
        check(
            "data:/var/lib/data",
            r#"data:/var/lib/data ({"type":"volume","source":"data","target":"/var/lib/data"})"#,
        );
        check(
            "data:/var/lib/data:ro",
            r#"data:/var/lib/data:ro ({"type":"volume","source":"data","target":"/var/lib/data","read_only":true})"#,
        );
        check(
            "/run/dbus:/host/run/dbus:rw",
            r#"/run/dbus:/host/run/dbus ({"type":"bind","source":"/run/dbus","target":"/host/run/dbus"})"#,
        );
        check(
            "/data",
            "anonymous volume '/data': name it ('name:/data') so its data outlives an update",
        );
        check("data", "invalid volume 'data': path 'data' is not absolute");
        check(
            "data:var",
            "invalid volume 'data:var': path 'var' is not absolute",
        );
        check(
            "data:/x:z",
            "invalid volume 'data:/x:z': mode 'z' is not supported (only 'ro' or 'rw')",
        );
        check(
            "a:/b:ro:x",
            "invalid volume 'a:/b:ro:x': expected source:target[:mode]",
        );
        check(
            "./conf:/etc/conf",
            "invalid volume './conf:/etc/conf': relative host path './conf': a device has no project directory; use an absolute path",
        );
        check(
            "Data:/x",
            "invalid volume 'Data:/x': invalid volume name 'Data': may hold only a-z, 0-9, '-' and '_'",
        );
        check(
            "data:/x/../etc",
            "invalid volume 'data:/x/../etc': path '/x/../etc' has a '..' component",
        );
    }
}
