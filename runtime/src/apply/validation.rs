//! Validation of a release once it is in place, and rollback when it fails.
//!
//! A release is validated once per app and version: within its window
//! (`validation_window`) every block must be up (healthy where it has a
//! health check; running without a restart for [`steady_for`] where it has
//! none, so a block that crashes at once and is restarted by the engine is
//! not taken for up; exited 0 where it runs once) and every plugin a
//! block is paired with loaded (which means verified and self-checked),
//! then each of its `role: test` blocks runs once and must exit 0. A release that passes is
//! marked final and becomes the app's rollback point; one that fails is
//! rolled back to the app's last release that passed, and stays rolled back
//! until a target with another release of the app arrives: a failed
//! release is never tried again in a loop.
//!
//! Pure: the executor observes (containers, their output) and keeps the
//! records in the store; [`advance`] decides, [`effective`] says what to
//! plan for. Because the rollback is a record and the planned target is
//! derived from it every cycle, a runtime killed in the middle of a
//! rollback completes it when it starts again.

use serde::{Deserialize, Serialize};

use osb_state::current::{ContainerStatus, Health};
use osb_state::target::{App, BlockRole, ReleaseStatus, RestartPolicy};
use osb_state::{AppName, BlockName, TargetState};

/// At most this much of a test block's output is kept in its check.
pub const OUTPUT_TAIL_BYTES: usize = 4096;

/// One app's validation of one release, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// The app.
    pub app: String,
    /// The release validated.
    pub version: semver::Version,
    /// `draft` or `final`, as the target said.
    pub status: ReleaseStatus,
    /// Where it is.
    pub phase: Phase,
    /// When it began (Unix seconds, by the device clock: for people).
    pub started: u64,
    /// When it ended, if it has (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<u64>,
    /// The window, in milliseconds.
    pub window_ms: u64,
    /// The boot the window is counted in, and where in it the window
    /// began (milliseconds of the boot-time clock): the wall clock may be
    /// stepped by the time service meanwhile. After a reboot the window
    /// starts again.
    pub boot_id: String,
    /// See [`Validation::boot_id`].
    pub started_mono_ms: u64,
    /// When the test blocks were let run (boot-time milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_mono_ms: Option<u64>,
    /// Each check, the blocks' first, then the tests'.
    pub checks: Vec<Check>,
    /// Why it failed: the first check that did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The release the app was rolled back to, when it failed and one had
    /// passed before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<semver::Version>,
}

/// Where a validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Waiting for every block to be up.
    Blocks,
    /// The test blocks run.
    Tests,
    /// Every check passed: the release is final.
    Passed,
    /// A check failed.
    Failed,
}

impl Phase {
    /// The word reports print.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Blocks => "waiting for blocks",
            Phase::Tests => "running tests",
            Phase::Passed => "passed",
            Phase::Failed => "failed",
        }
    }

    /// Whether the validation is over.
    pub fn is_over(self) -> bool {
        matches!(self, Phase::Passed | Phase::Failed)
    }
}

/// One check of a validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The block checked.
    pub block: BlockName,
    /// A block up, or a test passed.
    pub kind: CheckKind,
    /// Its verdict so far.
    pub state: CheckState,
    /// From the start of its phase to its verdict, in milliseconds.
    pub duration_ms: u64,
    /// What was seen: the block's state, the plugin's version, or the
    /// test's output tail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The paired plugin, for a [`CheckKind::Plugin`] check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// For a block without a health check seen running: when the engine
    /// started it (its own words), and since when (boot-time ms) it has
    /// been seen running from that start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<(String, u64)>,
}

impl Check {
    /// `block main/web up` or `test main/smoke`.
    pub fn name(&self, app: &str) -> String {
        match self.kind {
            CheckKind::Up => format!("block {app}/{} up", self.block),
            CheckKind::Plugin => format!(
                "plugin {} loaded (paired with {app}/{})",
                self.plugin.as_deref().unwrap_or_default(),
                self.block
            ),
            CheckKind::Test => format!("test {app}/{}", self.block),
        }
    }
}

/// What a check asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// A block is up within the window.
    Up,
    /// A plugin a block is paired with is loaded within the window.
    Plugin,
    /// A test block exits 0 within the window.
    Test,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckState {
    /// Not decided yet.
    Pending,
    /// Passed.
    Passed,
    /// Failed.
    Failed,
}

impl CheckState {
    /// The word reports print.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Pending => "pending",
            CheckState::Passed => "passed",
            CheckState::Failed => "failed",
        }
    }
}

/// The app's last release that passed validation: what a failed one is
/// rolled back to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackPoint {
    /// Its version.
    pub version: semver::Version,
    /// The app as that release's target had it.
    pub app: App,
}

/// The clock a validation is counted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Now {
    /// The boot.
    pub boot_id: String,
    /// The boot-time clock, in milliseconds.
    pub mono_ms: u64,
    /// The wall clock, Unix seconds.
    pub unix: u64,
}

/// What the executor saw of one block of the release in validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The block.
    pub block: BlockName,
    /// Whether it runs once (`restart: no` or `on-failure`): then exiting
    /// 0 is being up.
    pub runs_once: bool,
    /// Its container of this release, if there is one.
    pub status: Option<ContainerStatus>,
    /// When the engine last started that container, if it says.
    pub started: Option<String>,
    /// A test block's output tail, once it has exited.
    pub output: Option<String>,
}

impl Seen {
    /// Whether a block with `restart` runs once.
    pub fn runs_once(restart: RestartPolicy) -> bool {
        matches!(restart, RestartPolicy::No | RestartPolicy::OnFailure)
    }
}

impl Validation {
    /// What it waits for, for a report: `main@2.0.0: running tests:
    /// test main/smoke, 95s left`.
    pub fn waiting_for(&self) -> String {
        let pending: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.state == CheckState::Pending)
            .filter(|c| match c.kind {
                CheckKind::Up => self.phase == Phase::Blocks,
                CheckKind::Plugin => true,
                CheckKind::Test => self.phase == Phase::Tests,
            })
            .map(|c| c.name(&self.app))
            .collect();
        format!(
            "{}@{}: {}: {} (window {})",
            self.app,
            self.version,
            self.phase.as_str(),
            pending.join(", "),
            humanize(self.window_ms)
        )
    }

    /// How long until it needs a look with nothing else to wake on, at
    /// `now`: its window ending, or a block seen running becoming steady.
    pub fn next_look(&self, now: &Now) -> std::time::Duration {
        let end = self.started_mono_ms.saturating_add(self.window_ms);
        let steady = steady_for(self.window_ms);
        let due = self
            .checks
            .iter()
            .filter(|c| c.state == CheckState::Pending)
            .filter_map(|c| c.running.as_ref())
            .map(|(_, since)| since.saturating_add(steady))
            .chain([end])
            .min()
            .unwrap_or(end);
        std::time::Duration::from_millis(due.saturating_sub(now.mono_ms))
    }

    /// Whether it has tests still to pass.
    pub fn tests_pending(&self) -> bool {
        !self.phase.is_over()
            && self
                .checks
                .iter()
                .any(|c| c.kind == CheckKind::Test && c.state == CheckState::Pending)
    }

    /// The line a failure is reported by.
    pub fn failure_line(&self) -> String {
        let then = match &self.rolled_back_to {
            Some(to) => format!("rolled back to {to}"),
            None => "no validated release to roll back to: it runs on, marked failed".into(),
        };
        format!(
            "{}: release {} failed validation ({}); {then}",
            self.app, self.version, self.reason
        )
    }

    /// What it made of the release, once over.
    pub fn outcome(&self) -> Option<super::releases::Validated> {
        match self.phase {
            Phase::Passed => Some(super::releases::Validated::Passed {
                version: self.version.clone(),
            }),
            Phase::Failed => Some(super::releases::Validated::Failed {
                version: self.version.clone(),
                status: self.status,
                reason: self.reason.clone(),
                rolled_back: self.rolled_back_to.is_some(),
            }),
            Phase::Blocks | Phase::Tests => None,
        }
    }
}

/// Every validation and rollback point the store keeps.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The validations.
    pub validations: Vec<Validation>,
    /// Each app's rollback point, by app name.
    pub points: std::collections::BTreeMap<String, RollbackPoint>,
}

impl Progress {
    /// `app`'s validation of `version`.
    pub fn of(&self, app: &AppName, version: &semver::Version) -> Option<&Validation> {
        self.validations
            .iter()
            .find(|v| v.app == app.as_str() && &v.version == version)
    }

    /// `app`'s rollback point.
    pub fn point(&self, app: &AppName) -> Option<&RollbackPoint> {
        self.points.get(app.as_str())
    }

    /// [`effective`] with these records.
    pub fn effective(&self, target: &TargetState) -> TargetState {
        effective(target, |app, v| self.of(app, v), |app| self.point(app))
    }
}

/// A validation of `app`'s release `version`, beginning `now`.
pub fn begin(app: &AppName, released: &App, now: &Now) -> Validation {
    let release = &released.release;
    let check = |block: &BlockName, kind, plugin: Option<String>| Check {
        block: block.clone(),
        kind,
        state: CheckState::Pending,
        duration_ms: 0,
        detail: String::new(),
        plugin,
        running: None,
    };
    let mut checks = Vec::new();
    for (name, block) in &release.blocks {
        match block.role {
            BlockRole::Service => {
                checks.push(check(name, CheckKind::Up, None));
                for plugin in &block.plugins {
                    checks.push(check(name, CheckKind::Plugin, Some(plugin.to_string())));
                }
            }
            BlockRole::Test => checks.push(check(name, CheckKind::Test, None)),
        }
    }
    let mut validation = Validation {
        app: app.to_string(),
        version: release.version.clone(),
        status: release.status,
        phase: Phase::Blocks,
        started: now.unix,
        finished: None,
        window_ms: u64::try_from(release.validation_window().as_millis()).unwrap_or(u64::MAX),
        boot_id: now.boot_id.clone(),
        started_mono_ms: now.mono_ms,
        tests_mono_ms: None,
        checks,
        reason: String::new(),
        rolled_back_to: None,
    };
    // The blocks checked first, then the plugins, the tests last, each
    // group by name.
    validation.checks.sort_by_key(|c| {
        let order = match c.kind {
            CheckKind::Up => 0,
            CheckKind::Plugin => 1,
            CheckKind::Test => 2,
        };
        (order, c.block.clone(), c.plugin.clone())
    });
    validation
}

/// Each paired plugin's state, by name: loaded (with what to report of it)
/// or why not. `None` where no plugin host can be asked (an `osb apply`
/// beside no daemon): those checks wait for a runtime that can.
pub type PluginsSeen = std::collections::BTreeMap<String, Result<String, String>>;

/// Moves `validation` on by what was `seen` at `now` (and of its paired
/// plugins, `plugins`); whether it changed.
pub fn advance(
    validation: &mut Validation,
    seen: &[Seen],
    plugins: Option<&PluginsSeen>,
    now: &Now,
) -> bool {
    if validation.phase.is_over() {
        return false;
    }
    let before = validation.clone();
    if validation.boot_id != now.boot_id {
        validation.boot_id = now.boot_id.clone();
        validation.started_mono_ms = now.mono_ms;
        validation.tests_mono_ms = None;
        validation.phase = Phase::Blocks;
        for check in &mut validation.checks {
            check.state = CheckState::Pending;
            check.detail.clear();
        }
    }
    let elapsed = now.mono_ms.saturating_sub(validation.started_mono_ms);
    let expired = elapsed >= validation.window_ms;
    let window = humanize(validation.window_ms);
    let tests_elapsed = validation
        .tests_mono_ms
        .map_or(0, |t| now.mono_ms.saturating_sub(t));
    let in_tests = validation.phase == Phase::Tests;
    let steady_ms = steady_for(validation.window_ms);
    for check in &mut validation.checks {
        let seen = seen.iter().find(|s| s.block == check.block);
        match check.kind {
            CheckKind::Up => {
                let up = seen.map_or(Err("not created".to_owned()), |seen| {
                    steady(check, seen, now.mono_ms, steady_ms)
                });
                match (check.state, up) {
                    (CheckState::Pending, Ok(how)) => {
                        check.state = CheckState::Passed;
                        check.duration_ms = elapsed;
                        check.detail = how;
                    }
                    // Up once is not enough: a block that goes down
                    // while the tests run fails the release.
                    (CheckState::Passed, Err(why)) if in_tests => {
                        check.state = CheckState::Failed;
                        check.duration_ms = elapsed;
                        check.detail = format!("went down while the tests ran: {why}");
                    }
                    (CheckState::Pending, Err(why)) if expired => {
                        check.state = CheckState::Failed;
                        check.duration_ms = elapsed;
                        check.detail = format!("not up within the {window} window: {why}");
                    }
                    _ => {}
                }
            }
            CheckKind::Plugin if check.state == CheckState::Pending => {
                let Some(plugins) = plugins else {
                    continue;
                };
                let name = check.plugin.clone().unwrap_or_default();
                match plugins.get(&name) {
                    Some(Ok(what)) => {
                        check.state = CheckState::Passed;
                        check.duration_ms = elapsed;
                        check.detail.clone_from(what);
                    }
                    found if expired => {
                        let why = match found {
                            Some(Err(why)) => why.clone(),
                            _ => "not loaded".to_owned(),
                        };
                        check.state = CheckState::Failed;
                        check.duration_ms = elapsed;
                        check.detail = format!("not loaded within the {window} window: {why}");
                    }
                    _ => {}
                }
            }
            CheckKind::Plugin => {}
            CheckKind::Test if in_tests && check.state == CheckState::Pending => {
                let status = seen.and_then(|s| s.status);
                let output = seen
                    .and_then(|s| s.output.as_deref())
                    .map(printable)
                    .unwrap_or_default();
                match status {
                    Some(ContainerStatus::Exited { code }) => {
                        check.state = if code == 0 {
                            CheckState::Passed
                        } else {
                            CheckState::Failed
                        };
                        check.duration_ms = tests_elapsed;
                        check.detail = if code == 0 {
                            output
                        } else {
                            format!("exited with code {code}\n{output}")
                        };
                    }
                    _ if expired => {
                        check.state = CheckState::Failed;
                        check.duration_ms = tests_elapsed;
                        check.detail = format!(
                            "did not exit within the {window} window ({})",
                            status.map_or("not created".to_owned(), describe)
                        );
                    }
                    _ => {}
                }
            }
            CheckKind::Test => {}
        }
    }
    let failed = validation
        .checks
        .iter()
        .find(|c| c.state == CheckState::Failed)
        .map(|c| format!("{}: {}", c.name(&validation.app), first_line(&c.detail)));
    let all = |kind: CheckKind| {
        validation
            .checks
            .iter()
            .filter(|c| c.kind == kind)
            .all(|c| c.state == CheckState::Passed)
    };
    if let Some(reason) = failed {
        validation.phase = Phase::Failed;
        validation.reason = reason;
    } else if validation.phase == Phase::Blocks && all(CheckKind::Up) {
        validation.phase = Phase::Tests;
        validation.tests_mono_ms = Some(now.mono_ms);
    }
    if validation.phase == Phase::Tests
        && all(CheckKind::Test)
        && all(CheckKind::Up)
        && all(CheckKind::Plugin)
    {
        validation.phase = Phase::Passed;
    }
    if validation.phase.is_over() {
        validation.finished = Some(now.unix);
    }
    *validation != before
}

/// What `target` comes to on this device: an app whose release was rolled
/// back runs its rollback point instead; a test block is kept only while
/// its test is due (its release validated, in the tests phase, its check
/// pending). `validation_of` gives the app's validation of a version,
/// `rollback_point` the app's rollback point.
pub fn effective<'a>(
    target: &TargetState,
    validation_of: impl Fn(&AppName, &semver::Version) -> Option<&'a Validation>,
    rollback_point: impl Fn(&AppName) -> Option<&'a RollbackPoint>,
) -> TargetState {
    let mut effective = target.clone();
    for (name, app) in &mut effective.apps {
        let validation = validation_of(name, &app.release.version);
        if let Some(v) = validation
            && v.phase == Phase::Failed
            && let Some(to) = &v.rolled_back_to
            && let Some(point) = rollback_point(name)
            && &point.version == to
        {
            *app = point.app.clone();
            // A rollback point passed its tests: they do not run again.
            app.release.blocks.retain(|_, b| b.role != BlockRole::Test);
            continue;
        }
        let due = |block: &BlockName| {
            validation.is_some_and(|v| {
                v.phase == Phase::Tests
                    && v.checks.iter().any(|c| {
                        &c.block == block
                            && c.kind == CheckKind::Test
                            && c.state == CheckState::Pending
                    })
            })
        };
        app.release
            .blocks
            .retain(|name, b| b.role != BlockRole::Test || due(name));
    }
    effective
}

/// How long a block without a health check must run from one start to
/// count as up: 5 s, or half the window if that is shorter.
pub fn steady_for(window_ms: u64) -> u64 {
    (window_ms / 2).min(5000)
}

/// Whether a block is up: how, or why not. One without a health check is
/// up once it has run from one start for `steady_ms`; `check` keeps the
/// start it was first seen running from.
fn steady(check: &mut Check, seen: &Seen, now_ms: u64, steady_ms: u64) -> Result<String, String> {
    let result = up(seen);
    // Steady once is enough: after that, up is being up.
    if check.state != CheckState::Pending {
        return result;
    }
    let plain = matches!(
        seen.status,
        Some(ContainerStatus::Running {
            health: Health::NoCheck
        })
    );
    if !plain {
        check.running = None;
        return result;
    }
    let started = seen.started.clone().unwrap_or_default();
    let since = match &check.running {
        Some((seen_start, since)) if *seen_start == started => *since,
        _ => {
            check.running = Some((started, now_ms));
            now_ms
        }
    };
    let ran = now_ms.saturating_sub(since);
    if ran >= steady_ms {
        result
    } else {
        Err(format!(
            "running for {}, not yet {} without a restart",
            humanize_round(ran),
            humanize(steady_ms)
        ))
    }
}

/// Whether a block is up: how, or why not.
fn up(seen: &Seen) -> Result<String, String> {
    match seen.status {
        Some(ContainerStatus::Running {
            health: Health::Healthy,
        }) => Ok("running, healthy".into()),
        Some(ContainerStatus::Running {
            health: Health::NoCheck,
        }) => Ok("running".into()),
        Some(ContainerStatus::Exited { code: 0 }) if seen.runs_once => Ok("completed".into()),
        Some(status) => Err(describe(status)),
        None => Err("not created".into()),
    }
}

/// A container's state in words.
fn describe(status: ContainerStatus) -> String {
    match status {
        ContainerStatus::Created => "created, not started".into(),
        ContainerStatus::Running { health } => match health {
            Health::Starting => "running, health check not passed yet".into(),
            Health::Unhealthy => "running, unhealthy".into(),
            Health::Healthy | Health::NoCheck => "running".into(),
        },
        ContainerStatus::Restarting => "restarting".into(),
        ContainerStatus::Paused => "paused".into(),
        ContainerStatus::Exited { code } => format!("exited with code {code}"),
        ContainerStatus::Dead => "dead".into(),
    }
}

/// A test's output as it may be printed: the block wrote it, so control
/// characters (a terminal's escape sequences, a carriage return that
/// overwrites a report line) are escaped; lines and tabs stay.
fn printable(output: &str) -> String {
    output
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `90s`, `2m`, `1500ms`.
fn humanize(ms: u64) -> String {
    match ms {
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// `ms` in whole seconds below, for a message: `2s`.
fn humanize_round(ms: u64) -> String {
    format!("{}s", ms / 1000)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests;
