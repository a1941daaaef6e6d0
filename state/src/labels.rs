//! The `io.osb.*` labels the runtime puts on engine objects, and the names
//! it gives them.
//!
//! Current state is re-derived from the engine after a restart, so these
//! labels are the runtime's memory of what each container, volume and
//! network is for. Identity comes from the labels, never from the names: a
//! name only has to be unique and readable.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::name::{AppName, BlockName, NetworkName, VolumeName};
use super::target::{ConfigHash, NetworkConfig, VolumeConfig};

/// The app an object belongs to. Its presence marks an object as the runtime's.
pub const APP: &str = "io.osb.app";
/// The block a container runs.
pub const BLOCK: &str = "io.osb.block";
/// The release version the container was created for.
pub const RELEASE: &str = "io.osb.release";
/// What an object was created from: on a container, the [`ConfigHash`] of
/// its block's definition; on a network, [`network_hash`]; on a volume,
/// [`volume_hash`]. An object whose hash differs from its target's is
/// recreated.
pub const CONFIG_HASH: &str = "io.osb.config-hash";
/// The volume's name within its app.
pub const VOLUME: &str = "io.osb.volume";
/// The network's name within its app.
pub const NETWORK: &str = "io.osb.network";
/// On a container created only to export an image's files (never
/// started), the image. Without [`APP`] it is a stray to the planner, so
/// one a crash left is removed at the next reconcile.
pub const EXPORT: &str = "io.osb.export";

/// What a container's labels say it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockLabels {
    /// The app.
    pub app: AppName,
    /// The block.
    pub block: BlockName,
    /// The release it was created for.
    pub release: semver::Version,
    /// The hash of the definition it was created from.
    pub config_hash: ConfigHash,
}

/// Labels that mark an object as the runtime's but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label '{label}': {reason}")]
pub struct LabelError {
    /// The label.
    pub label: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl BlockLabels {
    /// Reads a container's labels: `Ok(None)` if it is not the runtime's
    /// (no `io.osb.app`), an error if it is but the rest cannot be read
    /// (such a container is a stray, to be removed).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Option<Self>, LabelError> {
        let Some(app) = labels.get(APP) else {
            return Ok(None);
        };
        let get = |label: &'static str| {
            labels.get(label).ok_or_else(|| LabelError {
                label,
                reason: "missing".to_owned(),
            })
        };
        let bad = |label: &'static str, reason: String| LabelError { label, reason };
        Ok(Some(BlockLabels {
            app: AppName::new(app).map_err(|e| bad(APP, e.to_string()))?,
            block: BlockName::new(get(BLOCK)?).map_err(|e| bad(BLOCK, e.to_string()))?,
            release: get(RELEASE)?
                .parse()
                .map_err(|e: semver::Error| bad(RELEASE, e.to_string()))?,
            config_hash: ConfigHash::parse(get(CONFIG_HASH)?)
                .ok_or_else(|| bad(CONFIG_HASH, "not 64 lowercase hex digits".to_owned()))?,
        }))
    }

    /// The labels to put on a container created for this block.
    pub fn to_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (APP.to_owned(), self.app.to_string()),
            (BLOCK.to_owned(), self.block.to_string()),
            (RELEASE.to_owned(), self.release.to_string()),
            (CONFIG_HASH.to_owned(), self.config_hash.to_string()),
        ])
    }

    /// The container's name: `<app>.<block>.<hash prefix>`. Names may hold
    /// `_` and `-` but never `.`, so the parts cannot run into each other;
    /// the hash lets an old and a new container of one block coexist during
    /// a hand-over.
    pub fn container_name(&self) -> String {
        format!("{}.{}.{}", self.app, self.block, self.config_hash.short())
    }
}

/// The engine name of an app's volume: `<app>.<volume>`.
pub fn volume_name(app: &AppName, volume: &VolumeName) -> String {
    format!("{app}.{volume}")
}

/// The engine name of an app's network: `<app>.<network>`.
pub fn network_name(app: &AppName, network: &NetworkName) -> String {
    format!("{app}.{network}")
}

/// The labels to put on an app's volume created with `config`.
pub fn volume_labels(
    app: &AppName,
    volume: &VolumeName,
    config: &VolumeConfig,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (APP.to_owned(), app.to_string()),
        (VOLUME.to_owned(), volume.to_string()),
        (CONFIG_HASH.to_owned(), volume_hash(config)),
    ])
}

/// The labels to put on an app's network created with `config`.
pub fn network_labels(
    app: &AppName,
    network: &NetworkName,
    config: &NetworkConfig,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (APP.to_owned(), app.to_string()),
        (NETWORK.to_owned(), network.to_string()),
        (CONFIG_HASH.to_owned(), network_hash(config)),
    ])
}

/// The hash of a network's settings, all of them (driver, options,
/// `internal`, labels): the engine changes none of them on an existing
/// network, so any change means a new network. 64 lowercase hex digits.
pub fn network_hash(config: &NetworkConfig) -> String {
    hash_of(config)
}

/// The hash of what a volume's data lives on: its driver and driver
/// options. Its labels are left out: the engine cannot relabel a volume, and
/// a label is no reason to throw its data away. 64 lowercase hex digits.
pub fn volume_hash(config: &VolumeConfig) -> String {
    #[derive(Serialize)]
    struct Storage<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        driver: &'a Option<String>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        driver_opts: &'a BTreeMap<String, String>,
    }
    hash_of(&Storage {
        driver: &config.driver,
        driver_opts: &config.driver_opts,
    })
}

/// SHA-256 of `value`'s JSON. Its maps are `BTreeMap`s and fields at their
/// default are not serialized, so the hash is deterministic and a field
/// added later changes no existing object's hash (an upgrade of the runtime
/// recreates nothing).
fn hash_of(value: &impl Serialize) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(labels: &[(&str, &str)], expect: &str) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let got = match BlockLabels::from_labels(&labels) {
            Ok(Some(l)) => format!("{} {}", l.container_name(), l.release),
            Ok(None) => "not ours".to_owned(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect);
    }

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn reading_labels() {
        check(&[("com.example", "x")], "not ours");
        check(
            &[
                (APP, "main"),
                (BLOCK, "web"),
                (RELEASE, "1.2.0"),
                (CONFIG_HASH, HASH),
            ],
            "main.web.0123456789ab 1.2.0",
        );
        check(
            &[(APP, "main"), (RELEASE, "1.2.0"), (CONFIG_HASH, HASH)],
            "label 'io.osb.block': missing",
        );
        check(
            &[
                (APP, "Main"),
                (BLOCK, "web"),
                (RELEASE, "1.2.0"),
                (CONFIG_HASH, HASH),
            ],
            "label 'io.osb.app': invalid app name 'Main': may hold only a-z, 0-9, '-' and '_'",
        );
        check(
            &[
                (APP, "main"),
                (BLOCK, "web"),
                (RELEASE, "one"),
                (CONFIG_HASH, HASH),
            ],
            "label 'io.osb.release': unexpected character 'o' while parsing major version number",
        );
        check(
            &[
                (APP, "main"),
                (BLOCK, "web"),
                (RELEASE, "1.0.0"),
                (CONFIG_HASH, "abc"),
            ],
            "label 'io.osb.config-hash': not 64 lowercase hex digits",
        );
    }

    #[test]
    fn settings_hashes() {
        let network = |json: &str| {
            let config: NetworkConfig =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
            network_hash(&config)
        };
        let base = network("{}");
        assert_eq!(base.len(), 64);
        assert_eq!(base, network(r#"{"internal": false, "labels": {}}"#));
        for changed in [
            r#"{"internal": true}"#,
            r#"{"driver": "bridge"}"#,
            r#"{"driver_opts": {"com.docker.network.bridge.enable_icc": "false"}}"#,
            r#"{"labels": {"tier": "back"}}"#,
        ] {
            assert_ne!(network(changed), base, "{changed}");
        }

        let volume = |json: &str| {
            let config: VolumeConfig = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
            volume_hash(&config)
        };
        let base = volume("{}");
        assert_eq!(base, volume(r#"{"labels": {"backup": "daily"}}"#));
        assert_ne!(base, volume(r#"{"driver": "local"}"#));
        assert_ne!(base, volume(r#"{"driver_opts": {"type": "tmpfs"}}"#));
    }

    #[test]
    fn labels_round_trip() {
        let labels = BlockLabels {
            app: AppName::new("main").unwrap_or_else(|e| panic!("{e}")),
            block: BlockName::new("web").unwrap_or_else(|e| panic!("{e}")),
            release: semver::Version::new(1, 0, 0),
            config_hash: ConfigHash::parse(HASH).unwrap_or_else(|| panic!("hash")),
        };
        assert_eq!(
            BlockLabels::from_labels(&labels.to_labels()),
            Ok(Some(labels))
        );
    }
}
