//! The boot stack: which directories overlayfs stacks at boot, in which
//! order, as balenaOS orders its host extensions. Pure: the caller reads
//! the store and the kernel, this decides.
//!
//! From the uppermost down: override extensions by priority (highest
//! first; equal priorities by digest, so the order never depends on the
//! listing), then the host OS, then plain extensions (by digest). An
//! extension built for another kernel release or ABI id is left out. The
//! whole `lowerdir=` option must fit the kernel's mount option page; when
//! it does not, plain extensions go first (the last stacked first), then
//! overrides from the lowest priority up. The host is never left out.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::extensions::{ExtensionKind, ImageDigest};

/// One extension as the stack sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its digest.
    pub digest: ImageDigest,
    /// Its image reference, for people.
    pub image: String,
    /// How it is stacked.
    pub kind: ExtensionKind,
    /// The kernel release it is built for, if it says.
    pub kernel_version: Option<String>,
    /// The kernel ABI id it is built for, if it says.
    pub kernel_abi: Option<String>,
    /// Its files: a lower directory.
    pub root: PathBuf,
}

/// What the device boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The running kernel release (`uname -r`).
    pub kernel_version: String,
    /// The kernel's ABI id, where the host OS says it.
    pub kernel_abi: Option<String>,
    /// The host OS's root: the lowest layer but the plain extensions.
    pub host: PathBuf,
    /// The most bytes the mount options may take: the kernel copies them
    /// into one page.
    pub option_limit: usize,
    /// Extensions are disabled: boot the bare host.
    pub disabled: bool,
}

/// One layer of the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layer {
    /// The directory.
    pub dir: PathBuf,
    /// `host`, or the extension's digest.
    pub source: String,
    /// The extension's image; `None` for the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Why an extension is not in the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum LeftOut {
    /// Extensions are disabled.
    Disabled,
    /// Built for another kernel release.
    Kernel {
        /// What it is built for.
        wants: String,
        /// What runs.
        runs: String,
    },
    /// Built for another kernel ABI.
    Abi {
        /// What it is built for.
        wants: String,
        /// What runs; `None`: the host OS does not say.
        runs: Option<String>,
    },
    /// The mount options would not fit.
    OptionLimit {
        /// The limit.
        limit: usize,
    },
    /// Its directory cannot be named in a mount option (a `:`, `,` or `\`
    /// in its path, or not UTF-8).
    Unmountable,
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeftOut::Disabled => f.write_str("extensions are disabled"),
            LeftOut::Kernel { wants, runs } => {
                write!(f, "built for kernel {wants}, the device runs {runs}")
            }
            LeftOut::Abi {
                wants,
                runs: Some(runs),
            } => {
                write!(f, "built for kernel ABI {wants}, the device's is {runs}")
            }
            LeftOut::Abi { wants, runs: None } => write!(
                f,
                "built for kernel ABI {wants}, and the host OS does not say its own"
            ),
            LeftOut::OptionLimit { limit } => write!(
                f,
                "the stack's mount options would exceed {limit} bytes (plain extensions go first, \
                 then overrides from the lowest priority)"
            ),
            LeftOut::Unmountable => f.write_str("its directory cannot be named in a mount option"),
        }
    }
}

/// One extension not stacked, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// The extension.
    pub digest: String,
    /// Its image.
    pub image: String,
    /// Why.
    #[serde(flatten)]
    pub why: LeftOut,
}

/// The next boot's stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackPlan {
    /// The lower directories, uppermost first (overlayfs's `lowerdir`
    /// order).
    pub lower: Vec<Layer>,
    /// What is left out, and why.
    pub left_out: Vec<Dropped>,
}

impl StackPlan {
    /// The `lowerdir=` option overlayfs mounts it with, if every directory
    /// can be named in it.
    pub fn lowerdir(&self) -> Option<String> {
        let dirs: Option<Vec<&str>> = self.lower.iter().map(|l| mountable(&l.dir)).collect();
        Some(format!("lowerdir={}", dirs?.join(":")))
    }
}

/// A directory as a mount option names it: UTF-8, none of the option
/// separators.
fn mountable(dir: &std::path::Path) -> Option<&str> {
    dir.to_str()
        .filter(|d| !d.is_empty() && !d.contains([':', ',', '\\', '\0']))
}

/// The stack the device boots with `extensions` installed.
pub fn plan(extensions: &[Candidate], device: &Device) -> StackPlan {
    let mut left_out = Vec::new();
    let mut leave_out = |c: &Candidate, why| {
        left_out.push(Dropped {
            digest: c.digest.to_string(),
            image: c.image.clone(),
            why,
        })
    };
    let mut kept: Vec<&Candidate> = Vec::new();
    for c in extensions {
        if device.disabled {
            leave_out(c, LeftOut::Disabled);
        } else if let Some(wants) = c
            .kernel_version
            .as_ref()
            .filter(|w| **w != device.kernel_version)
        {
            leave_out(
                c,
                LeftOut::Kernel {
                    wants: wants.clone(),
                    runs: device.kernel_version.clone(),
                },
            );
        } else if let Some(wants) = c
            .kernel_abi
            .as_ref()
            .filter(|w| device.kernel_abi.as_ref() != Some(*w))
        {
            leave_out(
                c,
                LeftOut::Abi {
                    wants: wants.clone(),
                    runs: device.kernel_abi.clone(),
                },
            );
        } else if mountable(&c.root).is_none() {
            leave_out(c, LeftOut::Unmountable);
        } else {
            kept.push(c);
        }
    }
    // Uppermost first: overrides by priority, then plain extensions; the
    // host goes between them.
    kept.sort_by(|a, b| {
        let rank = |c: &Candidate| match c.kind {
            ExtensionKind::Override { priority } => (0, u32::MAX - priority),
            ExtensionKind::Plain => (1, 0),
        };
        rank(a).cmp(&rank(b)).then_with(|| a.digest.cmp(&b.digest))
    });
    // What goes first when the option is too long: the end of the list
    // (the lowest plain extension), then upwards to the lowest override.
    let host_len = device.host.as_os_str().len();
    let fits = |kept: &[&Candidate]| {
        let dirs: usize = kept.iter().map(|c| c.root.as_os_str().len() + 1).sum();
        "lowerdir=".len() + host_len + dirs <= device.option_limit
    };
    while !kept.is_empty() && !fits(&kept) {
        let victim = match kept.iter().rposition(|c| c.kind == ExtensionKind::Plain) {
            Some(i) => i,
            None => kept.len() - 1,
        };
        let c = kept.remove(victim);
        leave_out(
            c,
            LeftOut::OptionLimit {
                limit: device.option_limit,
            },
        );
    }
    let layer = |c: &Candidate| Layer {
        dir: c.root.clone(),
        source: c.digest.to_string(),
        image: Some(c.image.clone()),
    };
    let host = Layer {
        dir: device.host.clone(),
        source: "host".to_owned(),
        image: None,
    };
    let split = kept
        .iter()
        .position(|c| c.kind == ExtensionKind::Plain)
        .unwrap_or(kept.len());
    let lower = kept[..split]
        .iter()
        .map(|c| layer(c))
        .chain(std::iter::once(host))
        .chain(kept[split..].iter().map(|c| layer(c)))
        .collect();
    StackPlan { lower, left_out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> ImageDigest {
        ImageDigest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    fn ext(n: u8, kind: ExtensionKind, kernel: Option<&str>) -> Candidate {
        Candidate {
            digest: digest(n),
            image: format!("os/ext{n}:1"),
            kind,
            kernel_version: kernel.map(str::to_owned),
            kernel_abi: None,
            root: PathBuf::from(format!("/x/{n}")),
        }
    }

    fn device() -> Device {
        Device {
            kernel_version: "5.10.104-tegra".to_owned(),
            kernel_abi: Some("0".to_owned()),
            host: PathBuf::from("/host"),
            option_limit: 4096,
            disabled: false,
        }
    }

    fn over(priority: u32) -> ExtensionKind {
        ExtensionKind::Override { priority }
    }

    /// The plan as `dir` per layer, then `digest-byte: reason` per drop.
    fn lines(plan: &StackPlan) -> (Vec<String>, Vec<String>) {
        (
            plan.lower
                .iter()
                .map(|l| l.dir.display().to_string())
                .collect(),
            plan.left_out
                .iter()
                .map(|d| format!("{}: {}", &d.digest[7..9], d.why))
                .collect(),
        )
    }

    #[test]
    fn the_stack_is_ordered_and_filtered() {
        let plain = ExtensionKind::Plain;
        let tegra = Some("5.10.104-tegra");
        for (name, extensions, device, lower, left_out) in [
            ("bare host", vec![], device(), vec!["/host"], vec![]),
            (
                "overrides above by priority, plain below",
                vec![
                    ext(1, plain.clone(), None),
                    ext(2, over(5), tegra),
                    ext(3, over(50), None),
                    ext(4, plain.clone(), tegra),
                    ext(5, over(5), None),
                ],
                device(),
                vec!["/x/3", "/x/2", "/x/5", "/host", "/x/1", "/x/4"],
                vec![],
            ),
            (
                "another kernel, another ABI",
                vec![
                    ext(1, plain.clone(), Some("6.1.0")),
                    Candidate {
                        kernel_abi: Some("1".to_owned()),
                        ..ext(2, over(1), tegra)
                    },
                    ext(3, plain.clone(), tegra),
                ],
                device(),
                vec!["/host", "/x/3"],
                vec![
                    "01: built for kernel 6.1.0, the device runs 5.10.104-tegra",
                    "02: built for kernel ABI 1, the device's is 0",
                ],
            ),
            (
                "the host does not say its ABI",
                vec![Candidate {
                    kernel_abi: Some("0".to_owned()),
                    ..ext(1, plain.clone(), None)
                }],
                Device {
                    kernel_abi: None,
                    ..device()
                },
                vec!["/host"],
                vec!["01: built for kernel ABI 0, and the host OS does not say its own"],
            ),
            (
                "disabled: the bare host",
                vec![ext(1, over(9), None), ext(2, plain.clone(), None)],
                Device {
                    disabled: true,
                    ..device()
                },
                vec!["/host"],
                vec!["01: extensions are disabled", "02: extensions are disabled"],
            ),
            (
                // "lowerdir=" (9) + "/host" (5) + 5 bytes a layer: 29 holds
                // three of the four.
                "too long: the last plain first, then the lowest override",
                vec![
                    ext(1, plain.clone(), None),
                    ext(2, over(1), None),
                    ext(3, over(2), None),
                    ext(4, plain.clone(), None),
                ],
                Device {
                    option_limit: 9 + 5 + 5 * 2,
                    ..device()
                },
                vec!["/x/3", "/x/2", "/host"],
                vec![
                    "04: the stack's mount options would exceed 24 bytes (plain extensions go first, then overrides from the lowest priority)",
                    "01: the stack's mount options would exceed 24 bytes (plain extensions go first, then overrides from the lowest priority)",
                ],
            ),
            (
                "no room for any: overrides go lowest first",
                vec![ext(2, over(1), None), ext(3, over(2), None)],
                Device {
                    option_limit: 9 + 5 + 5,
                    ..device()
                },
                vec!["/x/3", "/host"],
                vec![
                    "02: the stack's mount options would exceed 19 bytes (plain extensions go first, then overrides from the lowest priority)",
                ],
            ),
            (
                "a directory a mount option cannot name",
                vec![Candidate {
                    root: PathBuf::from("/x/a:b"),
                    ..ext(1, plain.clone(), None)
                }],
                device(),
                vec!["/host"],
                vec!["01: its directory cannot be named in a mount option"],
            ),
        ] {
            let plan = plan(&extensions, &device);
            let (got_lower, got_left) = lines(&plan);
            assert_eq!(got_lower, lower, "{name}");
            assert_eq!(got_left, left_out, "{name}");
            assert!(
                plan.lowerdir().unwrap().len() <= device.option_limit,
                "{name}"
            );
        }
    }

    #[test]
    fn the_option_names_the_layers_uppermost_first() {
        let plan = plan(
            &[ext(1, over(1), None), ext(2, ExtensionKind::Plain, None)],
            &device(),
        );
        assert_eq!(plan.lowerdir().unwrap(), "lowerdir=/x/1:/host:/x/2");
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(
            json["lower"][1],
            serde_json::json!({"dir": "/host", "source": "host"})
        );
    }
}
