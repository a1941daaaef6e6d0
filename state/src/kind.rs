//! What a block is to the device: a container (`service`), files stacked
//! over the root filesystem at boot (`overlay`), or the host OS's root
//! filesystem itself (`hostapp`). A target may say it (`kind`); an image
//! may say it in its labels (`io.osb.image.class`, or balena's
//! `io.balena.image.class`), which is how a board vendor ships an overlay
//! without the target having to know. What the target says wins.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// The image label naming the block kind (as balena's
/// `io.balena.image.class`).
pub const IMAGE_CLASS: &str = "io.osb.image.class";
/// balena's spelling of [`IMAGE_CLASS`], read when ours is absent.
pub const BALENA_IMAGE_CLASS: &str = "io.balena.image.class";
/// The image label: the device reboots once the block is installed.
pub const IMAGE_REQUIRES_REBOOT: &str = "io.osb.image.requires-reboot";
/// balena's spelling of [`IMAGE_REQUIRES_REBOOT`].
pub const BALENA_IMAGE_REQUIRES_REBOOT: &str = "io.balena.image.requires-reboot";
/// The image label: an overlay's kernel version (`uname -r`).
pub const IMAGE_KERNEL_VERSION: &str = "io.osb.image.kernel-version";
/// balena's spelling of [`IMAGE_KERNEL_VERSION`].
pub const BALENA_IMAGE_KERNEL_VERSION: &str = "io.balena.image.kernel-version";
/// The image label: an overlay's kernel ABI id.
pub const IMAGE_KERNEL_ABI: &str = "io.osb.image.kernel-abi-id";
/// balena's spelling of [`IMAGE_KERNEL_ABI`].
pub const BALENA_IMAGE_KERNEL_ABI: &str = "io.balena.image.kernel-abi-id";
/// The image label: an overlay stacked above the host OS, at this priority.
pub const IMAGE_OVERRIDE_PRIORITY: &str = "io.osb.image.override-priority";

/// Whether `label` is one [`ImageClass::from_labels`] reads: the only
/// image labels the current state keeps.
pub fn is_class_label(label: &str) -> bool {
    label.starts_with("io.osb.image.") || label.starts_with("io.balena.image.")
}

/// The longest kernel version or ABI id read: `uname -r` is at most 64.
const MAX_KERNEL_TEXT: usize = 64;

/// What a block is to the device.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// A container the engine runs.
    #[default]
    Service,
    /// Files stacked over the root filesystem at boot (kernel modules,
    /// firmware, a board's support files): unpacked into the extension
    /// store, never run.
    Overlay,
    /// The host OS's root filesystem: written into the inactive slot and
    /// booted once before it is committed.
    Hostapp,
}

impl BlockKind {
    /// The kind as targets and labels spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Service => "service",
            BlockKind::Overlay => "overlay",
            BlockKind::Hostapp => "hostapp",
        }
    }

    /// Whether the engine runs it as a container.
    pub fn is_container(self) -> bool {
        self == BlockKind::Service
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "service" => Some(BlockKind::Service),
            "overlay" => Some(BlockKind::Overlay),
            "hostapp" => Some(BlockKind::Hostapp),
            _ => None,
        }
    }
}

impl fmt::Display for BlockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kernel version (`uname -r`) or ABI id, as an overlay is built for:
/// short, printable ASCII, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[schemars(transparent)]
pub struct KernelText(String);

impl KernelText {
    /// Reads `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("is empty".to_owned());
        }
        if text.len() > MAX_KERNEL_TEXT {
            return Err(format!("is longer than {MAX_KERNEL_TEXT} bytes"));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "'{}' holds a character other than printable ASCII",
                text.escape_debug()
            ));
        }
        Ok(KernelText(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KernelText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KernelText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        KernelText::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// How an overlay is stacked, and which kernel it is for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverlaySettings {
    /// Stack the overlay above the host OS, so its files shadow the host's
    /// (a firmware fix, a patched configuration), at this priority: the
    /// highest is uppermost. Absent: a plain extension, below the host
    /// OS, which only adds files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_priority: Option<u32>,
    /// The kernel release (`uname -r`) the overlay's modules are built
    /// for: on any other kernel it is left out of the boot stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_version: Option<KernelText>,
    /// The kernel ABI id the overlay is built for: on a kernel with
    /// another it is left out of the boot stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_abi: Option<KernelText>,
}

impl OverlaySettings {
    /// These settings, with each field absent here taken from `image`'s.
    pub fn or(&self, image: &OverlaySettings) -> OverlaySettings {
        OverlaySettings {
            override_priority: self.override_priority.or(image.override_priority),
            kernel_version: self
                .kernel_version
                .clone()
                .or_else(|| image.kernel_version.clone()),
            kernel_abi: self.kernel_abi.clone().or_else(|| image.kernel_abi.clone()),
        }
    }
}

/// What an image's labels say about the block it is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageClass {
    /// The kind, when a class label names one.
    pub kind: Option<BlockKind>,
    /// The image asks for a reboot once installed.
    pub requires_reboot: bool,
    /// The overlay settings its labels give.
    pub overlay: OverlaySettings,
}

/// An image label that does not read: named, with its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image label {label}='{}': {message}", value.escape_debug())]
pub struct ImageLabelError {
    /// The label.
    pub label: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong.
    pub message: String,
}

impl ImageClass {
    /// Reads the class labels of an image; ours win over balena's.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Self, ImageLabelError> {
        let read = |ours: &'static str, balena: Option<&'static str>| {
            labels
                .get(ours)
                .map(|v| (ours, v.as_str()))
                .or_else(|| balena.and_then(|b| labels.get(b).map(|v| (b, v.as_str()))))
        };
        let bad = |label: &'static str, value: &str, message: String| ImageLabelError {
            label,
            value: value.to_owned(),
            message,
        };
        let kind = match read(IMAGE_CLASS, Some(BALENA_IMAGE_CLASS)) {
            None => None,
            Some((label, value)) => Some(BlockKind::parse(value).ok_or_else(|| {
                bad(
                    label,
                    value,
                    "not one of service, overlay, hostapp".to_owned(),
                )
            })?),
        };
        let requires_reboot = match read(IMAGE_REQUIRES_REBOOT, Some(BALENA_IMAGE_REQUIRES_REBOOT))
        {
            None => false,
            Some((_, "1" | "true")) => true,
            Some((_, "0" | "false")) => false,
            Some((label, value)) => {
                return Err(bad(label, value, "not 1, 0, true or false".to_owned()));
            }
        };
        let kernel = |ours, balena| match read(ours, Some(balena)) {
            None => Ok(None),
            Some((label, value)) => KernelText::parse(value)
                .map(Some)
                .map_err(|m| bad(label, value, m)),
        };
        let override_priority = match read(IMAGE_OVERRIDE_PRIORITY, None) {
            None => None,
            Some((label, value)) => Some(value.parse::<u32>().map_err(|_| {
                bad(
                    label,
                    value,
                    "not a whole number from 0 to 4294967295".to_owned(),
                )
            })?),
        };
        Ok(ImageClass {
            kind,
            requires_reboot,
            overlay: OverlaySettings {
                override_priority,
                kernel_version: kernel(IMAGE_KERNEL_VERSION, BALENA_IMAGE_KERNEL_VERSION)?,
                kernel_abi: kernel(IMAGE_KERNEL_ABI, BALENA_IMAGE_KERNEL_ABI)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn image_labels_read_ours_over_balenas() {
        let class = ImageClass::from_labels(&labels(&[
            (BALENA_IMAGE_CLASS, "hostapp"),
            (IMAGE_CLASS, "overlay"),
            (BALENA_IMAGE_REQUIRES_REBOOT, "1"),
            (BALENA_IMAGE_KERNEL_VERSION, "5.10.104-tegra"),
            (IMAGE_KERNEL_ABI, "0"),
            (IMAGE_OVERRIDE_PRIORITY, "20"),
        ]))
        .unwrap();
        assert_eq!(class.kind, Some(BlockKind::Overlay));
        assert!(class.requires_reboot);
        assert_eq!(class.overlay.override_priority, Some(20));
        assert_eq!(
            class.overlay.kernel_version.unwrap().as_str(),
            "5.10.104-tegra"
        );
        assert_eq!(class.overlay.kernel_abi.unwrap().as_str(), "0");

        let plain = ImageClass::from_labels(&labels(&[("other", "x")])).unwrap();
        assert_eq!(plain, ImageClass::default());
    }

    #[test]
    fn bad_image_labels_are_named() {
        for (pairs, said) in [
            (
                &[(IMAGE_CLASS, "kernel")][..],
                "io.osb.image.class='kernel': not one of",
            ),
            (
                &[(BALENA_IMAGE_REQUIRES_REBOOT, "yes")][..],
                "io.balena.image.requires-reboot='yes'",
            ),
            (
                &[(IMAGE_OVERRIDE_PRIORITY, "-1")][..],
                "io.osb.image.override-priority='-1'",
            ),
            (
                &[(IMAGE_KERNEL_VERSION, "5.10 tegra")][..],
                "printable ASCII",
            ),
            (
                &[(IMAGE_KERNEL_ABI, "")][..],
                "io.osb.image.kernel-abi-id='': is empty",
            ),
        ] {
            let error = ImageClass::from_labels(&labels(pairs))
                .unwrap_err()
                .to_string();
            assert!(error.contains(said), "{error}");
        }
    }

    #[test]
    fn the_targets_overlay_settings_win_field_by_field() {
        let target = OverlaySettings {
            override_priority: Some(5),
            ..OverlaySettings::default()
        };
        let image = OverlaySettings {
            override_priority: Some(9),
            kernel_version: Some(KernelText::parse("6.1.0").unwrap()),
            kernel_abi: None,
        };
        let merged = target.or(&image);
        assert_eq!(merged.override_priority, Some(5));
        assert_eq!(merged.kernel_version.unwrap().as_str(), "6.1.0");
    }
}
