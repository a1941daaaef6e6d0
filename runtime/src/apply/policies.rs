//! The contract-policy plugins, asked before a release new to the device is
//! applied (`policy-contract`, `policy-maintenance-window`,
//! `policy-thermal`, or a vendor's own).
//!
//! Every loaded policy is asked, in name order; the release is applied
//! only when each allows it. A deny, or a policy that gives no decision (it
//! traps, runs past its deadline, answers an error: it fails closed), holds
//! the app as a contract rejection does: nothing of the new release is
//! fetched or started, and what runs of the app runs on. An allow is
//! remembered for the app's release, so the policies are not asked again
//! while it is applied; a hold is asked again at every reconcile, and
//! lifts when the policies allow (the window opens, the board cools).
//!
//! A release is *new* when no container of its app carries its version:
//! a block of the running release restarted or recreated after a crash is
//! not an update, and no policy holds it back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use osb_plugin_host::PluginHost;
pub use osb_plugin_host::kinds::contract_policy::Release;
use osb_state::current::CurrentState;
use osb_state::{App, AppName, TargetState};

/// Who is asked.
#[derive(Clone)]
pub enum Policies {
    /// The contract-policy plugins this plugin host has loaded, asked
    /// afresh at each question (hot-swapped ones included).
    Host(Arc<PluginHost>),
    /// Policies are installed but cannot be asked (their plugin host could
    /// not be set up): every new release is held, with this reason. Fail
    /// closed, as for a policy that traps.
    Unavailable(String),
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Policies::Host(host) => f
                .debug_tuple("Host")
                .field(&host.contract_policies())
                .finish(),
            Policies::Unavailable(why) => f.debug_tuple("Unavailable").field(why).finish(),
        }
    }
}

/// What the policies said of one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every policy allows it (with what each said, if anything).
    Allowed(Vec<String>),
    /// Held: each line a deny with its reasons, or a policy that did not
    /// decide.
    Held(Vec<String>),
}

/// The allows given, by app and release: asked once per release.
#[derive(Debug, Default)]
pub struct Allowed(Mutex<BTreeSet<(AppName, semver::Version)>>);

impl Allowed {
    fn contains(&self, app: &AppName, version: &semver::Version) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(app.clone(), version.clone()))
    }

    fn insert(&self, app: &AppName, version: &semver::Version) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((app.clone(), version.clone()));
    }
}

/// The apps of `target` whose release is new to the device and not yet
/// allowed: the ones to ask about.
pub fn to_ask<'a>(
    target: &'a TargetState,
    current: &CurrentState,
    skip: &BTreeSet<AppName>,
    allowed: &Allowed,
) -> Vec<(&'a AppName, &'a App)> {
    target
        .apps
        .iter()
        .filter(|(name, _)| !skip.contains(*name))
        .filter(|(name, app)| {
            let version = &app.release.version;
            let running = current.containers.iter().any(|c| {
                c.owner
                    .as_ref()
                    .is_some_and(|o| &o.app == *name && &o.release == version)
            });
            !running && !allowed.contains(name, version)
        })
        .collect()
}

/// The release as a policy sees it: its app, its version, and a contract
/// whose `requires` are the release's and every block's it runs with.
pub fn release(name: &AppName, app: &App) -> Release {
    let requires: Vec<&serde_json::Map<String, serde_json::Value>> = app
        .release
        .requires
        .iter()
        .chain(app.release.blocks.values().flat_map(|b| &b.requires))
        .map(|r| &r.0)
        .collect();
    let contract = serde_json::json!({
        "type": "sw.release",
        "slug": name.as_str(),
        "version": app.release.version.to_string(),
        "requires": requires,
    });
    Release {
        app: name.to_string(),
        version: app.release.version.to_string(),
        contract: contract.to_string(),
    }
}

/// The type of the child that tells policies what the time service says
/// of the clock (`data.status`: `unsynced`, `coarse`, `synced`).
pub const CLOCK_TYPE: &str = "sw.time";

/// The device as the policies are told it: its contract, and a child
/// [`CLOCK_TYPE`] with the clock's state, so that a policy that decides
/// on the time (a maintenance window) can wait until the clock is good.
pub fn device(contract: &osb_contract::Contract, time: osb_state::TimeStatus) -> String {
    let mut json = contract.to_json();
    let clock = serde_json::json!({
        "type": CLOCK_TYPE,
        "slug": "clock",
        "data": {"status": time.as_str()},
    });
    if let Some(map) = json.as_object_mut() {
        match map.get_mut("children").and_then(|c| c.as_array_mut()) {
            Some(children) => children.push(clock),
            None => {
                map.insert("children".into(), serde_json::Value::Array(vec![clock]));
            }
        }
    }
    json.to_string()
}

/// Asks every loaded policy about each release in `asks`, on a blocking
/// thread (a plugin call blocks); the verdict per app. Allows are
/// remembered in `allowed`.
pub async fn ask(
    policies: &Policies,
    device: String,
    asks: Vec<(AppName, Release)>,
    allowed: &Allowed,
) -> BTreeMap<AppName, Verdict> {
    let host = match policies {
        Policies::Host(host) => host.clone(),
        Policies::Unavailable(why) => {
            return asks
                .into_iter()
                .map(|(app, _)| (app, Verdict::Held(vec![why.clone()])))
                .collect();
        }
    };
    let asked: Vec<(AppName, semver::Version)> = asks
        .iter()
        .filter_map(|(app, r)| Some((app.clone(), semver::Version::parse(&r.version).ok()?)))
        .collect();
    let verdicts = tokio::task::spawn_blocking(move || {
        let names = host.contract_policies();
        asks.into_iter()
            .map(|(app, release)| {
                let mut said = Vec::new();
                let mut held = Vec::new();
                for policy in &names {
                    match host.evaluate_policy(policy, &device, &release) {
                        Ok(d) if d.allow => said.extend(
                            d.reasons
                                .iter()
                                .map(|r| format!("policy '{policy}' allows: {r}")),
                        ),
                        Ok(d) => held.push(format!(
                            "policy '{policy}' denies: {}",
                            d.reasons.join("; ")
                        )),
                        Err(e) => held.push(e.to_string()),
                    }
                }
                let verdict = if held.is_empty() {
                    Verdict::Allowed(said)
                } else {
                    Verdict::Held(held)
                };
                (app, verdict)
            })
            .collect::<BTreeMap<_, _>>()
    })
    .await;
    let verdicts = match verdicts {
        Ok(verdicts) => verdicts,
        // The blocking task itself failed (it panicked): no decision,
        // which holds every release asked about.
        Err(e) => asked
            .iter()
            .map(|(app, _)| {
                (
                    app.clone(),
                    Verdict::Held(vec![format!("the policies could not be asked: {e}")]),
                )
            })
            .collect(),
    };
    for (app, version) in &asked {
        if matches!(verdicts.get(app), Some(Verdict::Allowed(_))) {
            allowed.insert(app, version);
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_releases_new_to_the_device_and_not_yet_allowed_are_asked_about() {
        use osb_state::current::{Container, ContainerId, ContainerStatus, ImageId};
        use osb_state::labels::BlockLabels;
        let target = TargetState::from_json(
            r#"{"version": 1, "apps": {
                "new": {"class": "app", "release": {"version": "2.0.0", "blocks": {"a": {"image": "busybox"}}}},
                "same": {"class": "app", "release": {"version": "1.0.0", "blocks": {"a": {"image": "busybox"}}}},
                "held": {"class": "app", "release": {"version": "3.0.0", "blocks": {"a": {"image": "busybox"}}}},
                "allowed": {"class": "app", "release": {"version": "4.0.0", "blocks": {"a": {"image": "busybox"}}}}
            }}"#,
        )
        .unwrap();
        let name = |n: &str| AppName::new(n).unwrap();
        // `same` runs its target release already (a container of another
        // configuration: a block of it restarted or changed is no update);
        // `new` runs an older one.
        let container = |app: &str, version: &str| Container {
            id: ContainerId(format!("{app}-{version}")),
            owner: Some(BlockLabels {
                app: name(app),
                block: osb_state::BlockName::new("a").unwrap(),
                release: semver::Version::parse(version).unwrap(),
                config_hash: osb_state::Block::new(osb_state::ImageRef::parse("other").unwrap())
                    .config_hash(),
            }),
            image: ImageId("sha256:x".into()),
            status: ContainerStatus::Exited { code: 1 },
            volumes: Vec::new(),
            networks: Vec::new(),
        };
        let current = CurrentState {
            containers: vec![container("same", "1.0.0"), container("new", "1.0.0")],
            ..CurrentState::default()
        };
        let allowed = Allowed::default();
        allowed.insert(&name("allowed"), &semver::Version::new(4, 0, 0));
        let skip = BTreeSet::from([name("held")]);
        let asked: Vec<&str> = to_ask(&target, &current, &skip, &allowed)
            .into_iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(asked, ["new"]);
    }

    #[test]
    fn a_release_is_asked_about_with_every_requirement_it_runs_with() {
        let target = TargetState::from_json(
            r#"{"version": 1, "apps": {"main": {"class": "app", "release": {
                "version": "2.0.0",
                "requires": [{"type": "sw.os", "version": ">=6"}],
                "blocks": {
                    "a": {"image": "busybox", "requires": [{"type": "arch.sw", "slug": "aarch64"}]},
                    "b": {"image": "busybox"}
                }}}}}"#,
        )
        .unwrap();
        let (name, app) = target.apps.iter().next().unwrap();
        let release = release(name, app);
        assert_eq!(
            (release.app.as_str(), release.version.as_str()),
            ("main", "2.0.0")
        );
        let contract: serde_json::Value = serde_json::from_str(&release.contract).unwrap();
        assert_eq!(
            contract,
            serde_json::json!({
                "type": "sw.release", "slug": "main", "version": "2.0.0",
                "requires": [
                    {"type": "sw.os", "version": ">=6"},
                    {"type": "arch.sw", "slug": "aarch64"}
                ]
            })
        );
    }
}
