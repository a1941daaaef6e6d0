//! Versions of the `osb:plugin` WIT API the host serves, and the version a
//! component says it was built against.
//!
//! A plugin names its version twice: `api` in `plugin.toml`, and the
//! `osb:plugin-api` custom section the SDK writes into the component. The
//! host reads both and refuses a package where they differ, so a manifest
//! edited by hand cannot make the host bind a component to the wrong
//! version's types. [`Api`] is the one place a version is chosen: each
//! plugin kind matches on it to pick that version's bindings (`kinds/`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The custom section the SDK writes: the version as UTF-8, nothing else.
pub const API_SECTION: &str = "osb:plugin-api";

/// The `osb:plugin` WIT package version a plugin targets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiVersion(pub semver::Version);

/// A version this host has bindings for: what the plugin kinds dispatch on.
/// A released version stays here for good; a draft (the next version, still
/// open to change) is served only with the `next-api` feature, which no
/// release build has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `osb:plugin@0.1.0` (`sdk/wit/v0.1.0`), released.
    V0_1_0,
    /// `osb:plugin@0.2.0` (`sdk/wit/v0.2.0`), released: the hardware
    /// adapter's bootloader side.
    V0_2_0,
    /// `osb:plugin@0.3.0` (`sdk/wit/v0.3.0`), the draft of the next version.
    #[cfg(feature = "next-api")]
    V0_3_0,
}

/// Every version this host serves, oldest first.
pub const SUPPORTED: &[Api] = &[
    Api::V0_1_0,
    Api::V0_2_0,
    #[cfg(feature = "next-api")]
    Api::V0_3_0,
];

impl Api {
    /// The version's number.
    pub fn version(self) -> ApiVersion {
        let v = |minor| ApiVersion(semver::Version::new(0, minor, 0));
        match self {
            Api::V0_1_0 => v(1),
            Api::V0_2_0 => v(2),
            #[cfg(feature = "next-api")]
            Api::V0_3_0 => v(3),
        }
    }
}

impl ApiVersion {
    /// The newest version this host serves.
    pub fn latest() -> ApiVersion {
        // SUPPORTED is a non-empty constant.
        SUPPORTED.last().map_or(Api::V0_1_0, |a| *a).version()
    }

    /// The bindings for this version, or why there are none: the plugin is
    /// too new (update the runtime) or of a line this host does not serve.
    pub fn supported(&self) -> Result<Api, String> {
        if let Some(api) = SUPPORTED.iter().find(|a| a.version() == *self) {
            return Ok(*api);
        }
        let latest = ApiVersion::latest();
        if *self > latest {
            Err(format!(
                "api {self} is newer than this runtime supports (latest {latest}); update the runtime"
            ))
        } else {
            Err(format!(
                "api {self} is not supported; this runtime serves {}",
                SUPPORTED
                    .iter()
                    .map(|a| a.version().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }

    /// [`supported`](Self::supported), for callers that only need the
    /// verdict.
    pub fn check_supported(&self) -> Result<(), String> {
        self.supported().map(drop)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The version in a component's `osb:plugin-api` section, wherever it sits
/// (the SDK's lands in the core module nested inside the component).
/// Refused: no section, two of them, or one that is not a version.
pub fn component_api(component: &[u8]) -> Result<ApiVersion, String> {
    let mut found: Option<&[u8]> = None;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| format!("not a valid component: {e}"))?;
        if let wasmparser::Payload::CustomSection(section) = payload
            && section.name() == API_SECTION
        {
            if found.is_some() {
                return Err(format!(
                    "the component has more than one '{API_SECTION}' section"
                ));
            }
            found = Some(section.data());
        }
    }
    let data = found.ok_or_else(|| {
        format!(
            "the component has no '{API_SECTION}' section naming its API version \
             (build it with osb-sdk, or add the section)"
        )
    })?;
    let text = std::str::from_utf8(data)
        .map_err(|_| format!("the component's '{API_SECTION}' section is not UTF-8"))?;
    semver::Version::parse(text.trim())
        .map(ApiVersion)
        .map_err(|e| {
            format!("the component's '{API_SECTION}' section '{text}' is not a version: {e}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ApiVersion {
        ApiVersion(semver::Version::parse(s).unwrap())
    }

    #[test]
    fn newer_and_unknown_versions_are_refused_with_a_reason() {
        assert_eq!(v("0.1.0").supported(), Ok(Api::V0_1_0));
        assert_eq!(v("0.2.0").supported(), Ok(Api::V0_2_0));
        assert!(v("0.4.0").check_supported().unwrap_err().contains("newer"));
        assert!(v("1.0.0").check_supported().unwrap_err().contains("newer"));
        assert!(
            v("0.0.9")
                .check_supported()
                .unwrap_err()
                .contains("not supported")
        );
    }

    #[cfg(not(feature = "next-api"))]
    #[test]
    fn the_draft_is_not_served_without_the_feature() {
        assert!(v("0.3.0").check_supported().unwrap_err().contains("newer"));
    }

    #[cfg(feature = "next-api")]
    #[test]
    fn the_draft_is_served_with_the_feature() {
        assert_eq!(v("0.3.0").supported(), Ok(Api::V0_3_0));
    }

    /// A core module with the given custom sections, wrapped in a component
    /// the way wit-component nests the program's module.
    fn component_with(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut module = wasm_encoder::Module::new();
        for (name, data) in sections {
            module.section(&wasm_encoder::CustomSection {
                name: (*name).into(),
                data: (*data).into(),
            });
        }
        let mut component = wasm_encoder::Component::new();
        component.section(&wasm_encoder::ModuleSection(&module));
        component.finish()
    }

    #[test]
    fn the_version_is_read_from_a_nested_module() {
        let c = component_with(&[("producers", b"x"), (API_SECTION, b"0.1.0")]);
        assert_eq!(component_api(&c), Ok(v("0.1.0")));
    }

    #[test]
    fn a_missing_doubled_or_malformed_section_is_refused_naming_it() {
        let none = component_with(&[("producers", b"x")]);
        assert!(
            component_api(&none)
                .unwrap_err()
                .contains("no 'osb:plugin-api'")
        );
        let two = component_with(&[(API_SECTION, b"0.1.0"), (API_SECTION, b"0.1.0")]);
        assert!(component_api(&two).unwrap_err().contains("more than one"));
        let bad = component_with(&[(API_SECTION, b"zero")]);
        assert!(
            component_api(&bad)
                .unwrap_err()
                .contains("'zero' is not a version")
        );
        let binary = component_with(&[(API_SECTION, &[0xff, 0xfe])]);
        assert!(component_api(&binary).unwrap_err().contains("not UTF-8"));
        assert!(component_api(b"\0asm junk").is_err());
    }
}
