//! Contract gating: which releases of a target may run on the device, with
//! the device's contract as the context (`osb contract show` prints it).
//!
//! A release's own `requires`, then each block's, are checked
//! ([`osb_contract::check`]). A block whose requirements fail is left out
//! when it is `optional` and nothing else of the release needs it; any
//! other failure rejects the whole release. A rejected app is *held*: the
//! planner leaves everything of it as it is ([`crate::plan`] with
//! [`crate::Conditions::held_apps`]), so nothing of the new release is
//! pulled or started and the release that runs keeps running.
//!
//! Pure: the caller assembles the device's contract.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use osb_contract::{Contract, ContractError};

use crate::name::{AppName, BlockId, BlockName};
use crate::target::{ReleaseStatus, Requirement, TargetState};

/// The type a release's requirements are read under.
const RELEASE_TYPE: &str = "sw.release";
/// The type a block's requirements are read under.
const BLOCK_TYPE: &str = "sw.block";

/// `requires` as a contract of type `kind` named `slug`, to check or to
/// validate: an entry of the wrong shape is the error, naming it
/// (`requires[1].version: ...`).
pub fn requirements(
    kind: &str,
    slug: &str,
    requires: &[Requirement],
) -> Result<Contract, ContractError> {
    let document = serde_json::json!({
        "type": kind,
        "slug": slug,
        "requires": requires.iter().map(|r| &r.0).collect::<Vec<_>>(),
    });
    Contract::from_json_str(&document.to_string())
}

/// What gating made of a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// The target to plan with: the optional blocks left out removed.
    /// Rejected apps are in it as written; the planner holds them.
    pub target: TargetState,
    /// The apps whose release is rejected, and why.
    pub rejected: BTreeMap<AppName, Rejection>,
    /// The optional blocks left out, each with the requirements that fail.
    pub left_out: BTreeMap<BlockId, Vec<String>>,
}

impl Gate {
    /// The apps the planner must hold.
    pub fn held_apps(&self) -> BTreeSet<AppName> {
        self.rejected.keys().cloned().collect()
    }

    /// One line per rejected release, then per block left out, for a report.
    pub fn lines(&self) -> (Vec<String>, Vec<String>) {
        let rejected = self
            .rejected
            .iter()
            .map(|(app, r)| format!("{app}: {r}"))
            .collect();
        let left_out = self
            .left_out
            .iter()
            .map(|(block, failures)| format!("{block} left out: {}", failures.join("; ")))
            .collect();
        (rejected, left_out)
    }
}

/// Why a release may not run on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The release rejected.
    pub release: semver::Version,
    /// Each requirement that fails, with its field and reason.
    pub failures: Vec<String>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "release {} rejected: {}",
            self.release,
            self.failures.join("; ")
        )
    }
}

/// What gating allows besides contracts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// Whether a release of status `draft` may run (development mode);
    /// otherwise a draft is rejected like a release whose contract fails.
    pub drafts: bool,
}

/// Gates every release of `target` against `device`, the device's
/// contract, under the default [`Rules`] (no drafts).
pub fn gate(target: &TargetState, device: &Contract) -> Gate {
    gate_under(target, device, Rules::default())
}

/// Gates every release of `target` against `device` under `rules`.
pub fn gate_under(target: &TargetState, device: &Contract, rules: Rules) -> Gate {
    let mut gated = Gate {
        target: target.clone(),
        rejected: BTreeMap::new(),
        left_out: BTreeMap::new(),
    };
    for (app_name, app) in &target.apps {
        let at = format!("apps.{app_name}.release");
        let draft = (app.release.status == ReleaseStatus::Draft && !rules.drafts).then(|| {
            format!(
                "{at}.status: a draft: drafts run only on a device in development mode, \
                 or where a policy holding the `drafts` grant allows them \
                 (a final release runs anywhere its contract holds)"
            )
        });
        let mut failed = failures(
            device,
            RELEASE_TYPE,
            app_name.as_str(),
            &app.release.requires,
            &at,
        );
        failed.splice(0..0, draft);
        let mut optional_out: BTreeMap<&BlockName, Vec<String>> = BTreeMap::new();
        // Every cycle gates the whole target: a block without requirements
        // costs no formatting.
        for (block_name, block) in app
            .release
            .blocks
            .iter()
            .filter(|(_, b)| !b.requires.is_empty())
        {
            let slug = format!("{app_name}/{block_name}");
            let found = failures(
                device,
                BLOCK_TYPE,
                &slug,
                &block.requires,
                &format!("{at}.blocks.{block_name}"),
            );
            if found.is_empty() {
                continue;
            }
            if block.optional {
                optional_out.insert(block_name, found);
            } else {
                failed.extend(found);
            }
        }
        // What stays may not need what is left out.
        for (block_name, block) in &app.release.blocks {
            if optional_out.contains_key(block_name) {
                continue;
            }
            let needed = block.depends_on.keys().chain(block.joined_blocks());
            for other in needed {
                if optional_out.contains_key(other) {
                    failed.push(format!(
                        "{at}.blocks.{block_name}: needs '{other}', which is optional and left \
                         out (its requirements do not hold)"
                    ));
                }
            }
        }
        if !failed.is_empty() {
            gated.rejected.insert(
                app_name.clone(),
                Rejection {
                    release: app.release.version.clone(),
                    failures: failed,
                },
            );
            continue;
        }
        if let Some(app) = gated.target.apps.get_mut(app_name) {
            for (block_name, found) in optional_out {
                app.release.blocks.remove(block_name);
                gated
                    .left_out
                    .insert(BlockId::new(app_name, block_name), found);
            }
        }
    }
    gated
}

/// The requirements of `requires` that fail against `device`, each as
/// `<at>.requires[i]: <requirement>: <reason>`.
fn failures(
    device: &Contract,
    kind: &str,
    slug: &str,
    requires: &[Requirement],
    at: &str,
) -> Vec<String> {
    if requires.is_empty() {
        return Vec::new();
    }
    match requirements(kind, slug, requires) {
        Ok(contract) => osb_contract::check(device, &contract)
            .failures()
            .map(|e| format!("{at}.{}: {}: {}", e.path, e.requirement, e.reason))
            .collect(),
        // Validation refuses these when the target is read; a target built
        // by hand is refused here rather than run unchecked.
        Err(e) => vec![format!("{at}.{e}")],
    }
}

#[cfg(test)]
mod tests;
