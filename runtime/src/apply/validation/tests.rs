use super::*;

use osb_state::ImageRef;
use osb_state::target::{Block, Release};

fn name(text: &str) -> BlockName {
    BlockName::new(text).unwrap_or_else(|e| panic!("{e}"))
}

fn app_name() -> AppName {
    AppName::new("main").unwrap_or_else(|e| panic!("{e}"))
}

/// An app of release `version` with a block `web`, a one-shot `migrate`
/// and the test blocks named, in a 10 s window.
fn app(version: &str, tests: &[&str]) -> App {
    let image = ImageRef::parse("busybox:stable").unwrap_or_else(|e| panic!("{e}"));
    let mut blocks = std::collections::BTreeMap::new();
    blocks.insert(name("web"), Block::new(image.clone()));
    let mut migrate = Block::new(image.clone());
    migrate.restart = Some(RestartPolicy::No);
    blocks.insert(name("migrate"), migrate);
    for test in tests {
        let mut block = Block::new(image.clone());
        block.role = BlockRole::Test;
        block.restart = Some(RestartPolicy::No);
        blocks.insert(name(test), block);
    }
    App {
        class: osb_state::target::AppClass::App,
        release: Release {
            version: semver::Version::parse(version).unwrap_or_else(|e| panic!("{e}")),
            status: ReleaseStatus::Draft,
            blocks,
            requires: Vec::new(),
            validation_window: Some("10s".parse().unwrap_or_else(|e| panic!("{e:?}"))),
        },
        volumes: Default::default(),
        networks: Default::default(),
    }
}

fn at(ms: u64) -> Now {
    Now {
        boot_id: "boot-1".into(),
        mono_ms: ms,
        unix: 1_800_000_000 + ms / 1000,
    }
}

const RUNNING: ContainerStatus = ContainerStatus::Running {
    health: Health::NoCheck,
};

fn exited(code: i64) -> Option<ContainerStatus> {
    Some(ContainerStatus::Exited { code })
}

/// What was seen: `web` and `migrate` as given, each test as given (with
/// `out:<block>` as its output once exited).
fn seen(
    web: Option<ContainerStatus>,
    migrate: Option<ContainerStatus>,
    tests: &[(&str, Option<ContainerStatus>)],
) -> Vec<Seen> {
    let mut all = vec![
        Seen {
            block: name("web"),
            runs_once: false,
            status: web,
            started: Some("s1".into()),
            output: None,
        },
        Seen {
            block: name("migrate"),
            runs_once: true,
            status: migrate,
            started: None,
            output: None,
        },
    ];
    for (test, status) in tests {
        all.push(Seen {
            block: name(test),
            runs_once: true,
            status: *status,
            started: None,
            output: matches!(status, Some(ContainerStatus::Exited { .. }))
                .then(|| format!("out:{test}")),
        });
    }
    all
}

/// Each check as `name=state`, in order.
fn checks(v: &Validation) -> Vec<String> {
    v.checks
        .iter()
        .map(|c| format!("{}={}", c.block, c.state.as_str()))
        .collect()
}

#[test]
fn a_release_passes_when_its_blocks_are_up_and_its_tests_exit_0() {
    let released = app("2.0.0", &["smoke"]);
    let mut v = begin(&app_name(), &released, &at(0));
    assert_eq!(
        checks(&v),
        ["migrate=pending", "web=pending", "smoke=pending"]
    );

    // (what is seen, at ms, the phase after, whether it changed)
    let steps: Vec<(Vec<Seen>, u64, Phase, bool)> = vec![
        (seen(None, None, &[]), 100, Phase::Blocks, false),
        (
            seen(Some(ContainerStatus::Created), exited(0), &[]),
            500,
            Phase::Blocks,
            true,
        ),
        // Running: up once it has run from that start for 5 s (half the
        // 10 s window).
        (
            seen(Some(RUNNING), exited(0), &[]),
            1000,
            Phase::Blocks,
            true,
        ),
        (
            seen(Some(RUNNING), exited(0), &[]),
            4000,
            Phase::Blocks,
            false,
        ),
        (
            seen(Some(RUNNING), exited(0), &[]),
            6000,
            Phase::Tests,
            true,
        ),
        // The test block's container comes and runs.
        (
            seen(Some(RUNNING), exited(0), &[("smoke", Some(RUNNING))]),
            6500,
            Phase::Tests,
            false,
        ),
        (
            seen(Some(RUNNING), exited(0), &[("smoke", exited(0))]),
            8000,
            Phase::Passed,
            true,
        ),
        // Over: nothing moves it.
        (seen(None, None, &[]), 20_000, Phase::Passed, false),
    ];
    for (seen, ms, phase, changed) in steps {
        assert_eq!(advance(&mut v, &seen, None, &at(ms)), changed, "at {ms}");
        assert_eq!(v.phase, phase, "at {ms}");
    }
    assert_eq!(checks(&v), ["migrate=passed", "web=passed", "smoke=passed"]);
    let smoke = &v.checks[2];
    assert_eq!(
        (smoke.duration_ms, smoke.detail.as_str()),
        (2000, "out:smoke")
    );
    assert_eq!(v.checks[0].detail, "completed");
    assert_eq!(v.finished, Some(1_800_000_008));
}

#[test]
fn a_release_fails_by_its_first_failing_check() {
    // (tests of the release, what is seen at 1 s and 7 s, then at 11 s (past the
    // 10 s window), the reason)
    type Case = (&'static [&'static str], Vec<Seen>, Vec<Seen>, &'static str);
    let table: Vec<Case> = vec![
        (
            &[],
            seen(Some(ContainerStatus::Restarting), exited(0), &[]),
            seen(exited(1), exited(0), &[]),
            "block main/web up: not up within the 10s window: exited with code 1",
        ),
        (
            &[],
            seen(Some(RUNNING), exited(3), &[]),
            seen(Some(RUNNING), exited(3), &[]),
            "block main/migrate up: not up within the 10s window: exited with code 3",
        ),
        (
            &[],
            seen(
                Some(ContainerStatus::Running {
                    health: Health::Unhealthy,
                }),
                exited(0),
                &[],
            ),
            seen(
                Some(ContainerStatus::Running {
                    health: Health::Starting,
                }),
                exited(0),
                &[],
            ),
            "block main/web up: not up within the 10s window: running, health check not passed yet",
        ),
        (
            &["smoke"],
            seen(Some(RUNNING), exited(0), &[]),
            seen(Some(RUNNING), exited(0), &[("smoke", exited(2))]),
            "test main/smoke: exited with code 2",
        ),
        // A test that never exits fails at the window.
        (
            &["smoke"],
            seen(Some(RUNNING), exited(0), &[]),
            seen(Some(RUNNING), exited(0), &[("smoke", Some(RUNNING))]),
            "test main/smoke: did not exit within the 10s window (running)",
        ),
        // A block that goes down while the tests run.
        (
            &["smoke"],
            seen(Some(RUNNING), exited(0), &[]),
            seen(exited(137), exited(0), &[("smoke", Some(RUNNING))]),
            "block main/web up: went down while the tests ran: exited with code 137",
        ),
    ];
    for (tests, first, then, reason) in table {
        let mut v = begin(&app_name(), &app("2.0.0", tests), &at(0));
        advance(&mut v, &first, None, &at(1000));
        advance(&mut v, &first, None, &at(7000));
        assert!(!v.phase.is_over(), "{reason}: over at 7 s");
        assert!(advance(&mut v, &then, None, &at(11_000)), "{reason}");
        assert_eq!((v.phase, v.reason.as_str()), (Phase::Failed, reason));
    }
}

#[test]
fn the_window_starts_again_after_a_reboot() {
    let mut v = begin(&app_name(), &app("2.0.0", &[]), &at(0));
    advance(&mut v, &seen(None, None, &[]), None, &at(9_000));
    let mut rebooted = at(500);
    rebooted.boot_id = "boot-2".into();
    assert!(advance(&mut v, &seen(None, None, &[]), None, &rebooted));
    assert_eq!(v.phase, Phase::Blocks);
    // 9 s into the new boot is inside the window again.
    let mut later = at(9_000);
    later.boot_id = "boot-2".into();
    advance(&mut v, &seen(None, None, &[]), None, &later);
    assert_eq!(v.phase, Phase::Blocks);
}

#[test]
fn the_planned_target_follows_validation_and_rollback() {
    let app_name = app_name();
    let target = TargetState {
        version: Default::default(),
        apps: [(app_name.clone(), app("2.0.0", &["smoke", "soak"]))].into(),
    };
    let point = RollbackPoint {
        version: semver::Version::new(1, 0, 0),
        app: app("1.0.0", &["old-test"]),
    };
    let blocks = |t: &TargetState| -> (String, Vec<String>) {
        let a = &t.apps[&app_name];
        (
            a.release.version.to_string(),
            a.release.blocks.keys().map(ToString::to_string).collect(),
        )
    };
    let mut v = begin(&app_name, &target.apps[&app_name], &at(0));

    // Not validated, or waiting for blocks: no tests.
    for validation in [None, Some(&v)] {
        let planned = effective(&target, |_, _| validation, |_| Some(&point));
        assert_eq!(
            blocks(&planned),
            ("2.0.0".into(), vec!["migrate".into(), "web".into()])
        );
    }
    // The tests phase: the pending tests are due.
    advance(
        &mut v,
        &seen(Some(RUNNING), exited(0), &[]),
        None,
        &at(1000),
    );
    advance(
        &mut v,
        &seen(Some(RUNNING), exited(0), &[]),
        None,
        &at(6000),
    );
    advance(
        &mut v,
        &seen(
            Some(RUNNING),
            exited(0),
            &[("smoke", exited(0)), ("soak", Some(RUNNING))],
        ),
        None,
        &at(7000),
    );
    let planned = effective(&target, |_, _| Some(&v), |_| Some(&point));
    assert_eq!(
        blocks(&planned).1,
        ["migrate", "soak", "web"],
        "the finished test is not due"
    );
    // Failed and rolled back: the rollback point, without its tests.
    v.phase = Phase::Failed;
    v.rolled_back_to = Some(point.version.clone());
    let planned = effective(&target, |_, _| Some(&v), |_| Some(&point));
    assert_eq!(
        blocks(&planned),
        ("1.0.0".into(), vec!["migrate".into(), "web".into()])
    );
    // Failed with nothing to roll back to: it runs on, without tests.
    v.rolled_back_to = None;
    let planned = effective(&target, |_, _| Some(&v), |_| None);
    assert_eq!(blocks(&planned).0, "2.0.0");
    // A validation of another version says nothing of this one.
    let planned = effective(
        &target,
        |_, version| (version == &semver::Version::new(3, 0, 0)).then_some(&v),
        |_| Some(&point),
    );
    assert_eq!(blocks(&planned).0, "2.0.0");
}

#[test]
fn paired_plugins_must_be_loaded_where_a_plugin_host_can_say() {
    let mut released = app("2.0.0", &[]);
    let web = released
        .release
        .blocks
        .get_mut(&name("web"))
        .unwrap_or_else(|| panic!("web"));
    web.plugins = vec![osb_state::PluginRef::new("hw-probe").unwrap_or_else(|e| panic!("{e}"))];
    let up = seen(Some(RUNNING), exited(0), &[]);
    let loaded: PluginsSeen = [("hw-probe".to_owned(), Ok("version 1.2.0".to_owned()))].into();
    let missing: PluginsSeen = [("hw-probe".to_owned(), Err("not loaded".to_owned()))].into();

    // No plugin host to ask: the check waits, and never fails by it.
    let mut v = begin(&app_name(), &released, &at(0));
    assert_eq!(
        checks(&v),
        ["migrate=pending", "web=pending", "web=pending"]
    );
    assert_eq!(
        v.checks[2].name("main"),
        "plugin hw-probe loaded (paired with main/web)"
    );
    advance(&mut v, &up, None, &at(1000));
    advance(&mut v, &up, None, &at(20_000));
    assert_eq!(
        (v.phase, v.checks[2].state),
        (Phase::Tests, CheckState::Pending)
    );
    // A host that has it: passed.
    advance(&mut v, &up, Some(&loaded), &at(21_000));
    assert_eq!(v.phase, Phase::Passed);
    assert_eq!(v.checks[2].detail, "version 1.2.0");

    // A host that does not have it by the end of the window: failed.
    let mut v = begin(&app_name(), &released, &at(0));
    advance(&mut v, &up, Some(&missing), &at(1_000));
    advance(&mut v, &up, Some(&missing), &at(6_000));
    assert_eq!(v.phase, Phase::Tests);
    advance(&mut v, &up, Some(&missing), &at(10_000));
    assert_eq!(
        (v.phase, v.reason.as_str()),
        (
            Phase::Failed,
            "plugin hw-probe loaded (paired with main/web): not loaded within the 10s window: not loaded"
        )
    );
}

#[test]
fn a_block_the_engine_keeps_restarting_is_never_up() {
    let mut v = begin(&app_name(), &app("2.0.0", &[]), &at(0));
    // Seen running every time, but from a new start each time.
    for (ms, start) in [(1000, "s1"), (4000, "s2"), (7000, "s3"), (10_500, "s4")] {
        let mut now = seen(Some(RUNNING), exited(0), &[]);
        now[0].started = Some(start.into());
        advance(&mut v, &now, None, &at(ms));
    }
    assert_eq!(
        (v.phase, v.reason.as_str()),
        (
            Phase::Failed,
            "block main/web up: not up within the 10s window: running for 0s, not yet 5s without a restart"
        )
    );
    // The next look is due when a block seen running would be steady, or
    // the window ends.
    let mut v = begin(&app_name(), &app("2.0.0", &[]), &at(0));
    advance(&mut v, &seen(Some(RUNNING), None, &[]), None, &at(1000));
    assert_eq!(v.next_look(&at(1000)), std::time::Duration::from_secs(5));
    advance(&mut v, &seen(Some(RUNNING), None, &[]), None, &at(6000));
    assert_eq!(v.next_look(&at(6000)), std::time::Duration::from_secs(4));
}
