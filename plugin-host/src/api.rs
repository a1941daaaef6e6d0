//! Versions of the `osb:plugin` WIT API the host serves.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The `osb:plugin` WIT package version a plugin targets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiVersion(pub semver::Version);

/// Every WIT snapshot this host links, oldest first. A new minor version
/// adds a snapshot under `sdk/wit/` and a module under `plugin/wit/`; older
/// ones stay, so plugins built against them keep working.
pub const SUPPORTED: &[ApiVersion] = &[ApiVersion(semver::Version::new(0, 1, 0))];

impl ApiVersion {
    pub fn latest() -> &'static ApiVersion {
        // SUPPORTED is a non-empty constant.
        &SUPPORTED[SUPPORTED.len() - 1]
    }

    /// Refuses versions this host has no snapshot for, saying whether the
    /// plugin is too new (update the runtime) or of an unknown line.
    pub fn check_supported(&self) -> Result<(), String> {
        if SUPPORTED.contains(self) {
            return Ok(());
        }
        let latest = ApiVersion::latest();
        if self > latest {
            Err(format!(
                "api {self} is newer than this runtime supports (latest {latest}); update the runtime"
            ))
        } else {
            Err(format!(
                "api {self} is not supported; this runtime serves {}",
                SUPPORTED
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_and_unknown_versions_are_refused_with_a_reason() {
        let v = |s: &str| ApiVersion(semver::Version::parse(s).unwrap());
        assert!(v("0.1.0").check_supported().is_ok());
        assert!(v("0.2.0").check_supported().unwrap_err().contains("newer"));
        assert!(v("1.0.0").check_supported().unwrap_err().contains("newer"));
        assert!(
            v("0.0.9")
                .check_supported()
                .unwrap_err()
                .contains("not supported")
        );
    }
}
