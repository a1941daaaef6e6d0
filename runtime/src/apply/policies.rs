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
//!
//! A draft release runs on a device in development mode, or when a policy
//! holding the `drafts` grant allows it (and every other policy allows it
//! too): a test fleet's policy saying "drafts of this app run here". A
//! policy's plain allow is no permission for a draft: `policy-contract`
//! allows whatever the device can run, draft or not. The release's contract
//! tells the policies its status (`data.status`).
//!
//! A policy granted sensors (`sensors` in its manifest and in the device
//! config) is told their readings with the device ([`told`]). Before a
//! round of questions the sensors every loaded policy was granted are
//! read, each once, through the hardware adapter; a sensor no policy was
//! granted is not read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

pub use osb_plugin_host::kinds::contract_policy::Release;
use osb_plugin_host::kinds::contract_policy::{Decision, PolicyError};
use osb_plugin_host::{PluginHost, PluginName, SensorId};
use osb_state::current::CurrentState;
use osb_state::{App, AppName, TargetState};

use crate::sensors::Readings;

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

/// One release to ask about.
#[derive(Debug, Clone)]
pub struct Ask {
    /// Its app.
    pub app: AppName,
    /// The release as the policies see it ([`release`]).
    pub release: Release,
    /// A draft on a device outside development mode: it runs only if a
    /// policy holding the `drafts` grant allows it.
    pub needs_draft_allow: bool,
}

/// Why a draft is held when every policy allows it but none may let a
/// draft through.
pub const NO_DRAFT_ALLOW: &str = "a draft: drafts run only in development mode, or when a \
    policy holding the `drafts` grant allows them, and none did";

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
        "data": {"status": app.release.status.as_str()},
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

/// The type of a child that tells a policy one of its granted sensors'
/// readings: slug the sensor's id, `data.value` the reading (a finite
/// number), `data.unit` its unit as the adapter lists it (`°C`).
pub const SENSOR_TYPE: &str = "hw.sensor";

/// What the policies are told of the device in one round, before each
/// policy's grant picks its sensors: the device's contract, the clock's
/// state, and the readings of every sensor some policy was granted.
#[derive(Debug, Clone)]
pub struct Device {
    /// The device's contract.
    pub contract: osb_contract::Contract,
    /// What the time service says of the clock.
    pub time: osb_state::TimeStatus,
    /// This round's readings (each sensor read once).
    pub readings: Readings,
}

/// The device as the policies are told it, without sensors.
pub fn device(contract: &osb_contract::Contract, time: osb_state::TimeStatus) -> String {
    told(contract, time, &Readings::new(), &[])
}

/// The device as a policy granted `granted` is told it: its contract, a
/// child [`CLOCK_TYPE`] with the clock's state (a policy that decides on
/// the time, a maintenance window, can wait until the clock is good), and
/// a child [`SENSOR_TYPE`] per granted sensor that was read, in the grant's
/// order. A sensor granted but not read (it failed, or read implausibly)
/// is absent: the policy sees no reading rather than a stale or made-up
/// one. A sensor read for another policy is never told to this one.
pub fn told(
    contract: &osb_contract::Contract,
    time: osb_state::TimeStatus,
    readings: &Readings,
    granted: &[SensorId],
) -> String {
    let mut json = contract.to_json();
    let clock = serde_json::json!({
        "type": CLOCK_TYPE,
        "slug": "clock",
        "data": {"status": time.as_str()},
    });
    let sensors = granted.iter().filter_map(|id| {
        let reading = readings.get(id)?;
        Some(serde_json::json!({
            "type": SENSOR_TYPE,
            "slug": id.as_str(),
            "data": {"value": reading.value, "unit": reading.unit},
        }))
    });
    let added: Vec<serde_json::Value> = std::iter::once(clock).chain(sensors).collect();
    if let Some(map) = json.as_object_mut() {
        match map.get_mut("children").and_then(|c| c.as_array_mut()) {
            Some(children) => children.extend(added),
            None => {
                map.insert("children".into(), serde_json::Value::Array(added));
            }
        }
    }
    json.to_string()
}

impl Policies {
    /// Whether a loaded policy holds the `drafts` grant, so that a draft
    /// may be put to the policies rather than rejected by gating.
    pub fn may_allow_drafts(&self) -> bool {
        match self {
            Policies::Host(host) => host
                .contract_policies()
                .iter()
                .any(|name| host.get(name).is_some_and(|p| p.grants().drafts)),
            Policies::Unavailable(_) => false,
        }
    }

    /// The sensors some loaded policy was granted: the ones to read before
    /// asking, each once.
    pub fn granted_sensors(&self) -> BTreeSet<SensorId> {
        match self {
            Policies::Host(host) => host
                .contract_policies()
                .iter()
                .filter_map(|name| host.get(name))
                .flat_map(|p| p.grants().sensors.clone())
                .collect(),
            Policies::Unavailable(_) => BTreeSet::new(),
        }
    }

    /// Whether there is anything to ask: a policy loaded, or policies that
    /// cannot be asked (which hold everything).
    pub fn any(&self) -> bool {
        match self {
            Policies::Host(host) => !host.contract_policies().is_empty(),
            Policies::Unavailable(_) => true,
        }
    }
}

/// Asks every loaded policy about each release in `asks`, on a blocking
/// thread (a plugin call blocks); the verdict per app. Allows are
/// remembered in `allowed`.
pub async fn ask(
    policies: &Policies,
    device: Device,
    asks: Vec<Ask>,
    allowed: &Allowed,
) -> BTreeMap<AppName, Verdict> {
    let host = match policies {
        Policies::Host(host) => host.clone(),
        Policies::Unavailable(why) => {
            return asks
                .into_iter()
                .map(|ask| (ask.app, Verdict::Held(vec![why.clone()])))
                .collect();
        }
    };
    let asked: Vec<(AppName, semver::Version)> = asks
        .iter()
        .filter_map(|ask| {
            let version = semver::Version::parse(&ask.release.version).ok()?;
            Some((ask.app.clone(), version))
        })
        .collect();
    let verdicts = tokio::task::spawn_blocking(move || {
        let names = host.contract_policies();
        asks.into_iter()
            .map(|ask| {
                let answers = names
                    .iter()
                    .map(|policy| {
                        let answer = host.evaluate_policy_told(
                            policy,
                            &|grants| {
                                told(
                                    &device.contract,
                                    device.time,
                                    &device.readings,
                                    &grants.sensors,
                                )
                            },
                            &ask.release,
                        );
                        (policy.clone(), answer)
                    })
                    .collect();
                let verdict = verdict(answers, ask.needs_draft_allow);
                (ask.app, verdict)
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

/// The verdict on a release from each policy's answer, in name order: held
/// by every deny and every policy that did not decide; a draft that needs
/// one, also held unless an allow came from a policy with the `drafts`
/// grant.
fn verdict(
    answers: Vec<(PluginName, Result<Decision, PolicyError>)>,
    needs_draft_allow: bool,
) -> Verdict {
    let mut said = Vec::new();
    let mut held = Vec::new();
    let mut draft_allowed = false;
    for (policy, answer) in answers {
        match answer {
            Ok(d) if d.allow => {
                draft_allowed |= d.drafts;
                said.extend(
                    d.reasons
                        .iter()
                        .map(|r| format!("policy '{policy}' allows: {r}")),
                );
            }
            Ok(d) => held.push(format!(
                "policy '{policy}' denies: {}",
                d.reasons.join("; ")
            )),
            Err(e) => held.push(e.to_string()),
        }
    }
    if held.is_empty() && needs_draft_allow && !draft_allowed {
        held.push(NO_DRAFT_ALLOW.to_owned());
    }
    if held.is_empty() {
        Verdict::Allowed(said)
    } else {
        Verdict::Held(held)
    }
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
                "version": "2.0.0", "status": "draft",
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
                "data": {"status": "draft"},
                "requires": [
                    {"type": "sw.os", "version": ">=6"},
                    {"type": "arch.sw", "slug": "aarch64"}
                ]
            })
        );
    }

    #[test]
    fn a_policy_is_told_the_clock_and_only_its_granted_sensors_that_were_read() {
        use crate::sensors::Reading;
        let contract = osb_contract::Contract::from_json_str(
            r#"{"type": "hw.device-type", "slug": "jetson-tx2", "children": [{"type": "arch.sw", "slug": "aarch64"}]}"#,
        )
        .unwrap();
        let bare = osb_contract::Contract::from_json_str(
            r#"{"type": "hw.device-type", "slug": "test-board"}"#,
        )
        .unwrap();
        let id = |s: &str| SensorId::new(s).unwrap();
        let celsius = |value: f64| Reading {
            value,
            unit: "°C".into(),
        };
        let readings: Readings = [
            (id("Tboard_tegra"), celsius(45.5)),
            (id("GPU-therm"), celsius(39.0)),
        ]
        .into();
        let clock = |status: &str| serde_json::json!({"type": "sw.time", "slug": "clock", "data": {"status": status}});
        let sensor = |slug: &str, value: f64| serde_json::json!({"type": "hw.sensor", "slug": slug, "data": {"value": value, "unit": "°C"}});
        let arch = serde_json::json!({"type": "arch.sw", "slug": "aarch64"});
        use osb_state::TimeStatus::{Synced, Unsynced};
        let cases: Vec<(
            &osb_contract::Contract,
            osb_state::TimeStatus,
            Vec<SensorId>,
            Vec<serde_json::Value>,
        )> = vec![
            // No grant: the contract's own children and the clock.
            (
                &contract,
                Synced,
                vec![],
                vec![arch.clone(), clock("synced")],
            ),
            // Its grant, in the grant's order; another's reading untold.
            (
                &contract,
                Unsynced,
                vec![id("Tboard_tegra")],
                vec![
                    arch.clone(),
                    clock("unsynced"),
                    sensor("Tboard_tegra", 45.5),
                ],
            ),
            (
                &bare,
                Synced,
                vec![id("GPU-therm"), id("Tboard_tegra")],
                vec![
                    clock("synced"),
                    sensor("GPU-therm", 39.0),
                    sensor("Tboard_tegra", 45.5),
                ],
            ),
            // Granted but not read this round (failed, implausible): absent.
            (&bare, Synced, vec![id("BCPU-therm")], vec![clock("synced")]),
        ];
        for (contract, time, granted, children) in cases {
            let text = told(contract, time, &readings, &granted);
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(json["type"], "hw.device-type", "{text}");
            assert_eq!(
                json["children"],
                serde_json::Value::Array(children),
                "{granted:?}"
            );
        }
        // Without sensors, as before.
        assert_eq!(device(&bare, Synced), told(&bare, Synced, &readings, &[]));
    }

    #[test]
    fn a_release_is_allowed_by_every_policy_and_a_draft_also_by_one_granted_drafts() {
        let allow = |drafts: bool, reason: &str| {
            Ok(Decision {
                allow: true,
                reasons: [reason]
                    .into_iter()
                    .filter(|r| !r.is_empty())
                    .map(Into::into)
                    .collect(),
                drafts,
            })
        };
        let deny = |reason: &str| {
            Ok(Decision {
                allow: false,
                reasons: vec![reason.into()],
                drafts: true,
            })
        };
        let n = |s: &str| PluginName::new(s).unwrap();
        let held = |lines: &[&str]| Verdict::Held(lines.iter().map(|l| l.to_string()).collect());
        let contract_ok = || (n("policy-contract"), allow(false, "held: arch"));
        type Answers = Vec<(PluginName, Result<Decision, PolicyError>)>;
        let cases: Vec<(Answers, bool, Verdict)> = vec![
            // A final release: every allow counts.
            (
                vec![contract_ok()],
                false,
                Verdict::Allowed(vec!["policy 'policy-contract' allows: held: arch".into()]),
            ),
            // No policy at all: a final release has nothing holding it...
            (vec![], false, Verdict::Allowed(vec![])),
            // ...and a draft has nothing letting it through.
            (vec![], true, held(&[NO_DRAFT_ALLOW])),
            // Plain allows are no permission for a draft.
            (vec![contract_ok()], true, held(&[NO_DRAFT_ALLOW])),
            // A granted allow is, beside the others' allows.
            (
                vec![contract_ok(), (n("policy-drafts"), allow(true, "draft ok"))],
                true,
                Verdict::Allowed(vec![
                    "policy 'policy-contract' allows: held: arch".into(),
                    "policy 'policy-drafts' allows: draft ok".into(),
                ]),
            ),
            // A deny holds it all the same, and then only the deny is said:
            // a granted policy's deny carries no permission either.
            (
                vec![
                    (n("policy-drafts"), allow(true, "")),
                    (n("policy-thermal"), deny("too hot")),
                ],
                true,
                held(&["policy 'policy-thermal' denies: too hot"]),
            ),
            (
                vec![(n("policy-drafts"), deny("not this app"))],
                true,
                held(&["policy 'policy-drafts' denies: not this app"]),
            ),
        ];
        for (answers, needs_draft_allow, expected) in cases {
            let shown = format!("{answers:?} draft: {needs_draft_allow}");
            assert_eq!(verdict(answers, needs_draft_allow), expected, "{shown}");
        }
    }
}
