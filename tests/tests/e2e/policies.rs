//! The policy plugins (`contract-policy` kind) end to end: the real
//! components of `plugins/policy-*`, signed, under a real host, called
//! typed (`PluginHost::evaluate_policy`). What a policy cannot decide
//! (a trap, a deadline, a limit, an error) comes back as an error naming
//! it, which the runtime takes as "wait"; a policy swapped in while
//! decisions are being made answers with one version or the other.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use osb_plugin_host::kinds::contract_policy::{Decision, PolicyError, Release};
use osb_plugin_host::{
    CallError, HostSettings, LimitOverrides, LoadError, PluginHost, PluginSettings, PluginWatcher,
};
use osb_runtime::time::utc::UtcTime;
use osb_tests::hostile::within;
use osb_tests::{Fixture, copy_package, edit_manifest, name, plugin_settings, sign};
use serde_json::{Value, json};

const CONTRACT: &str = "policy-contract";
const WINDOW: &str = "policy-maintenance-window";
const THERMAL: &str = "policy-thermal";

/// A balena contract fixture (`contract/tests/fixtures/`).
fn fixture(kind: &str, slug: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contract/tests/fixtures")
        .join(kind)
        .join(slug)
        .join("contract.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// A Jetson TX2 with an aarch64 userland, as the device's contract.
fn jetson() -> String {
    json!({
        "type": "meta.context", "slug": "device",
        "children": [fixture("hw.device-type", "jetson-tx2"), fixture("arch.sw", "aarch64")]
    })
    .to_string()
}

fn release(contract: Value) -> Release {
    Release {
        app: "app".into(),
        version: "1.0.0".into(),
        contract: contract.to_string(),
    }
}

/// A release needing a device type of `arch`.
fn requiring(arch: &str) -> Release {
    release(json!({
        "type": "sw.release", "slug": "app", "version": "1.0.0",
        "requires": [{"type": "hw.device-type", "data": {"arch": arch}}]
    }))
}

fn any_release() -> Release {
    release(json!({"type": "sw.release", "slug": "app"}))
}

/// The fixture's trust, a state directory (compile cache, kv), and
/// `plugins`' device settings.
fn settings(fx: &Fixture, plugins: &[(&str, PluginSettings)]) -> HostSettings {
    let mut settings = fx.settings();
    settings.state_dir = Some(fx.path().join("state"));
    for (plugin, p) in plugins {
        settings.plugins.insert(name(plugin), p.clone());
    }
    settings
}

fn evaluate(host: &PluginHost, plugin: &str) -> Result<Decision, PolicyError> {
    host.evaluate_policy(&name(plugin), &jetson(), &any_release())
}

fn allowed(host: &PluginHost, plugin: &str) -> Vec<String> {
    match evaluate(host, plugin) {
        Ok(Decision {
            allow: true,
            reasons,
            ..
        }) => reasons,
        other => panic!("expected an allow, got {other:?}"),
    }
}

fn denied(host: &PluginHost, plugin: &str) -> String {
    match evaluate(host, plugin) {
        Ok(Decision {
            allow: false,
            reasons,
            ..
        }) => reasons.join("; "),
        other => panic!("expected a deny, got {other:?}"),
    }
}

#[test]
fn policies_are_listed_and_only_policies_decide() {
    let fx = Fixture::new();
    let host = PluginHost::new(settings(&fx, &[])).unwrap();
    for plugin in [CONTRACT, WINDOW, "osb-test-probe"] {
        host.load(&fx.signed(plugin, "plugins")).unwrap();
    }
    assert_eq!(host.contract_policies(), [name(CONTRACT), name(WINDOW)]);

    let error = evaluate(&host, "osb-test-probe").unwrap_err();
    assert!(
        matches!(
            &error,
            PolicyError::Call {
                source: CallError::NoSuchFunction { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("policy 'osb-test-probe' did not decide: "),
        "{error}"
    );
    let error = evaluate(&host, THERMAL).unwrap_err();
    assert_eq!(
        error.to_string(),
        "policy 'policy-thermal' did not decide: plugin 'policy-thermal' is not loaded"
    );
}

#[test]
fn policy_contract_allows_aarch64_on_a_jetson_and_denies_amd64_naming_the_requirement() {
    let fx = Fixture::new();
    let host = PluginHost::new(settings(&fx, &[])).unwrap();
    host.load(&fx.signed(CONTRACT, "plugins")).unwrap();
    let policy = name(CONTRACT);

    let yes = host
        .evaluate_policy(&policy, &jetson(), &requiring("aarch64"))
        .unwrap();
    assert_eq!(
        yes,
        Decision {
            allow: true,
            reasons: vec![
                r#"held: sw.release app@1.0.0 requires[0]: hw.device-type with data.arch "aarch64": matched by jetson-tx2@1"#
                    .into()
            ],
            drafts: false,
        }
    );

    let no = host
        .evaluate_policy(&policy, &jetson(), &requiring("amd64"))
        .unwrap();
    assert_eq!(
        no,
        Decision {
            allow: false,
            reasons: vec![
                r#"FAILED: sw.release app@1.0.0 requires[0]: hw.device-type with data.arch "amd64": no hw.device-type with data.arch "amd64" among: jetson-tx2@1 (data.arch "aarch64")"#
                    .into()
            ],
            drafts: false,
        }
    );

    // Nothing required: allowed, and the policy has nothing to say.
    assert_eq!(allowed(&host, CONTRACT), Vec::<String>::new());

    // Bad JSON is the policy's error naming the argument: no decision.
    let error = host
        .evaluate_policy(&policy, "{not json", &requiring("aarch64"))
        .unwrap_err();
    assert!(
        error.to_string().starts_with(
            "policy 'policy-contract' could not decide: invalid-input: invalid argument 'device': "
        ),
        "{error}"
    );
    let error = host
        .evaluate_policy(&policy, &jetson(), &release(json!([])))
        .unwrap_err();
    assert!(
        error.to_string().contains(
            "invalid-input: invalid argument 'release.contract' of app 1.0.0: not a contract"
        ),
        "{error}"
    );
}

/// `HH:MM` of a minute of the day.
fn hhmm(minute: i64) -> String {
    let minute = minute.rem_euclid(1_440);
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rfc3339(seconds: i64) -> String {
    UtcTime::from_system(UNIX_EPOCH + Duration::from_secs(seconds as u64)).rfc3339(0)
}

/// A host with the maintenance-window policy under `config`, or why it
/// does not load.
fn window_host(fx: &Fixture, config: &[(&str, &str)]) -> Result<PluginHost, LoadError> {
    let host = PluginHost::new(settings(fx, &[(WINDOW, plugin_settings("", config))])).unwrap();
    host.load(&fx.path().join("plugins").join(WINDOW))?;
    Ok(host)
}

#[test]
fn maintenance_window_allows_inside_and_names_the_next_opening_outside() {
    let fx = Fixture::new();
    fx.signed(WINDOW, "plugins");
    // Local time at UTC+02:00; windows built around the current minute.
    let now = unix_now();
    let local = now / 60 + 120;
    let around = format!("daily {}-{}", hhmm(local - 60), hhmm(local + 60));
    let later = format!("daily {}-{}", hhmm(local + 180), hhmm(local + 240));
    let offset = ("utc_offset_minutes", "120");

    let host = window_host(&fx, &[("windows", &around), offset]).unwrap();
    let reasons = allowed(&host, WINDOW);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with(&format!(
            "inside the maintenance window {around} (UTC+02:00), which closes at "
        )),
        "{reasons:?}"
    );
    drop(host);

    let host = window_host(&fx, &[("windows", &later), offset]).unwrap();
    let opens = rfc3339((now / 60 + 180) * 60);
    assert_eq!(
        denied(&host, WINDOW),
        format!("outside the maintenance windows; the next opens at {opens} ({later}, UTC+02:00)")
    );
    drop(host);

    // Both: inside one is enough.
    let both = format!("{later}; {around}");
    let host = window_host(&fx, &[("windows", &both), offset]).unwrap();
    allowed(&host, WINDOW);
    drop(host);

    // The device's clock unsynced, as the runtime tells it: wait, however
    // right the wall clock looks; coarse is enough to decide.
    let host = window_host(&fx, &[("windows", &around), offset]).unwrap();
    let with_clock = |status: &str| {
        let mut device: Value = serde_json::from_str(&jetson()).unwrap();
        device["children"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "sw.time", "slug": "clock", "data": {"status": status}}));
        device.to_string()
    };
    let unsynced = host
        .evaluate_policy(&name(WINDOW), &with_clock("unsynced"), &any_release())
        .unwrap();
    assert_eq!(
        (unsynced.allow, unsynced.reasons),
        (
            false,
            vec![
                "time not trustworthy yet: the device's clock is unsynced; \
                 waiting until it is at least coarse"
                    .to_owned()
            ]
        )
    );
    let coarse = host
        .evaluate_policy(&name(WINDOW), &with_clock("coarse"), &any_release())
        .unwrap();
    assert!(coarse.allow, "{:?}", coarse.reasons);
    drop(host);

    // A clock the policy does not believe yet: wait, whatever the windows.
    let host = window_host(&fx, &[("windows", &around), ("min_year", "9999")]).unwrap();
    let reason = denied(&host, WINDOW);
    assert!(
        reason.starts_with("time not trustworthy yet: the clock reads ")
            && reason.ends_with(", before 9999; wait until it is set"),
        "{reason}"
    );
    drop(host);

    // A window that does not parse keeps the plugin from loading.
    let error = window_host(&fx, &[("windows", "weekdays 02:00-04:00")])
        .err()
        .unwrap();
    assert!(
        matches!(&error, LoadError::SelfCheck { reason, .. }
            if reason.contains("invalid config 'windows'") && reason.contains("\"weekdays\" is not a day")),
        "{error}"
    );
}

/// The thermal policy's package, signed, asking for `sensor` as its
/// thermal zone; `edit` changes its manifest further.
fn thermal_package(
    fx: &Fixture,
    sub: &str,
    sensor: &Path,
    edit: impl FnOnce(String) -> String,
) -> PathBuf {
    let pkg = copy_package(THERMAL, &fx.path().join(sub));
    edit_manifest(&pkg, |t| {
        edit(t.replace("/sys/class/thermal/thermal_zone0", sensor.to_str().unwrap()))
    });
    sign(&pkg, &fx.key);
    pkg
}

/// The device grants the sensor's directory read-only, and the kv store.
fn thermal_settings(sensor: &Path, limits: LimitOverrides) -> PluginSettings {
    let grants = format!(
        "fs = [{{ host = \"{}\", guest = \"/thermal\", mode = \"ro\" }}]\nkv = true",
        sensor.display()
    );
    PluginSettings {
        limits,
        ..plugin_settings(&grants, &[])
    }
}

fn thermal_host(fx: &Fixture, sensor: &Path, limits: LimitOverrides) -> PluginHost {
    let host =
        PluginHost::new(settings(fx, &[(THERMAL, thermal_settings(sensor, limits))])).unwrap();
    let pkg = fx.path().join("plugins").join(THERMAL);
    let pkg = if pkg.exists() {
        pkg
    } else {
        thermal_package(fx, "plugins", sensor, |t| t)
    };
    host.load(&pkg).unwrap();
    host
}

fn sensor_dir(fx: &Fixture) -> PathBuf {
    let sensor = fx.path().join("thermal_zone0");
    std::fs::create_dir_all(&sensor).unwrap();
    sensor
}

#[test]
fn thermal_holds_above_max_until_the_board_cools_to_resume() {
    let fx = Fixture::new();
    let sensor = sensor_dir(&fx);
    let temp = sensor.join("temp");
    let host = thermal_host(&fx, &sensor, LimitOverrides::default());

    let reason = denied(&host, THERMAL);
    assert_eq!(
        reason,
        "the board's temperature is unknown, so updates wait: \
         no temperature at '/thermal/temp' (is the sensor's directory granted?)"
    );

    let steps = [
        ("78000\n", Some("board at 78.0 °C, not above 80 °C")),
        ("83000\n", None),
        ("78000\n", None),
        (
            "74000\n",
            Some("board at 74.0 °C, cooled to 75 °C or below"),
        ),
        ("78000\n", Some("board at 78.0 °C, not above 80 °C")),
    ];
    let held = [
        "board at 83.0 °C, above 80 °C",
        "board at 78.0 °C, still above 75 °C since it went above 80 °C",
    ];
    let mut holds = held.iter();
    for (reading, allow) in steps {
        std::fs::write(&temp, reading).unwrap();
        match allow {
            Some(reason) => assert_eq!(allowed(&host, THERMAL), [reason], "{reading}"),
            None => assert_eq!(denied(&host, THERMAL), *holds.next().unwrap(), "{reading}"),
        }
    }

    std::fs::write(&temp, "garbage\n").unwrap();
    assert_eq!(
        denied(&host, THERMAL),
        "the board's temperature is unknown, so updates wait: '/thermal/temp' is not a \
         temperature: expected one line of millidegrees Celsius, found \"garbage\""
    );

    // The hold is the plugin's to keep: a restart still holds.
    std::fs::write(&temp, "81000\n").unwrap();
    denied(&host, THERMAL);
    drop(host);
    std::fs::write(&temp, "78000\n").unwrap();
    let host = thermal_host(&fx, &sensor, LimitOverrides::default());
    assert_eq!(
        denied(&host, THERMAL),
        "board at 78.0 °C, still above 75 °C since it went above 80 °C"
    );
}

/// A sensor file that never answers (a wedged driver; here a FIFO nobody
/// writes): the policy is stopped at its deadline, and that is an error,
/// never an allow. The next call gets a fresh instance.
#[test]
fn a_policy_stuck_past_its_deadline_fails_closed() {
    let fx = Fixture::new();
    let sensor = sensor_dir(&fx);
    let temp = sensor.join("temp");
    rustix::fs::mkfifoat(rustix::fs::CWD, &temp, rustix::fs::Mode::from(0o600)).unwrap();
    let quick = LimitOverrides {
        call_timeout_ms: Some(300),
        ..LimitOverrides::default()
    };
    let host = thermal_host(&fx, &sensor, quick);

    let started = Instant::now();
    let error = evaluate(&host, THERMAL).unwrap_err();
    within(
        started.elapsed(),
        Duration::from_millis(2500),
        "a stuck policy",
    );
    assert!(
        matches!(
            &error,
            PolicyError::Call {
                source: CallError::Deadline { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "policy 'policy-thermal' did not decide: \
         plugin 'policy-thermal' was stopped at its 300 ms deadline"
    );

    // Let the abandoned open finish (a writer arrives, then leaves).
    let _ = rustix::fs::open(
        &temp,
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    );
    std::fs::remove_file(&temp).unwrap();
    std::fs::write(&temp, "70000\n").unwrap();
    assert_eq!(
        allowed(&host, THERMAL),
        ["board at 70.0 °C, not above 80 °C"]
    );
}

/// A policy stopped at its memory cap (a device contract larger than the
/// plugin may hold) gives an error, never a decision.
#[test]
fn a_policy_stopped_at_its_memory_cap_fails_closed() {
    let fx = Fixture::new();
    let capped = PluginSettings {
        limits: LimitOverrides {
            memory_mb: Some(4),
            ..LimitOverrides::default()
        },
        ..PluginSettings::default()
    };
    let host = PluginHost::new(settings(&fx, &[(CONTRACT, capped)])).unwrap();
    host.load(&fx.signed(CONTRACT, "plugins")).unwrap();

    let huge = format!("{}{}", " ".repeat(8 << 20), jetson());
    let error = host
        .evaluate_policy(&name(CONTRACT), &huge, &requiring("aarch64"))
        .unwrap_err();
    assert!(
        matches!(
            &error,
            PolicyError::Call {
                source: CallError::MemoryCap { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "policy 'policy-contract' did not decide: \
         plugin 'policy-contract' was stopped at its memory cap of 4194304 bytes"
    );
    // The same policy decides the next, reasonable, call.
    let decision = host
        .evaluate_policy(&name(CONTRACT), &jetson(), &requiring("aarch64"))
        .unwrap();
    assert!(decision.allow, "{decision:?}");
}

/// Publishes the thermal policy's `version` into `dest` as an update agent
/// would: each file replaced by rename, the signature last.
fn publish_thermal(
    fx: &Fixture,
    dest: &Path,
    sensor: &Path,
    version: &str,
    edit: impl FnOnce(String) -> String,
) {
    let staging = thermal_package(fx, &format!("staging-{version}"), sensor, |t| {
        edit(t.replace("version = \"0.1.0\"", &format!("version = \"{version}\"")))
    });
    std::fs::create_dir_all(dest).unwrap();
    for file in [
        "plugin.toml",
        "policy-thermal.wasm",
        "policy-thermal.wasm.sig",
    ] {
        let tmp = dest.join(format!(".{file}.tmp"));
        std::fs::copy(staging.join(file), &tmp).unwrap();
        std::fs::rename(&tmp, dest.join(file)).unwrap();
    }
}

#[test]
fn thermal_swapped_while_deciding_answers_with_one_version_then_the_new_one() {
    let fx = Fixture::new();
    let sensor = sensor_dir(&fx);
    std::fs::write(sensor.join("temp"), "78000\n").unwrap();
    let plugins = fx.path().join("plugins");
    let pkg = plugins.join(THERMAL);
    publish_thermal(&fx, &pkg, &sensor, "0.1.0", |t| t);
    let host = Arc::new(
        PluginHost::new(settings(
            &fx,
            &[(
                THERMAL,
                thermal_settings(&sensor, LimitOverrides::default()),
            )],
        ))
        .unwrap(),
    );
    let loads = host.load_all(&plugins);
    assert!(loads.iter().all(|(_, r)| r.is_ok()), "{loads:?}");
    let v1 = "board at 78.0 °C, not above 80 °C";
    // The hold is in the store both versions share: a call on the old
    // version still in flight when the new one first holds answers this.
    let v1_held = "board at 78.0 °C, still above 75 °C since it went above 80 °C";
    assert_eq!(allowed(&host, THERMAL), [v1]);
    let _watcher = PluginWatcher::start(host.clone(), &plugins).unwrap();

    // A caller deciding all along: each answer is one version's, whole.
    let stop = Arc::new(AtomicBool::new(false));
    let caller = {
        let (host, stop) = (host.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                answers.push(evaluate(&host, THERMAL));
                std::thread::sleep(Duration::from_millis(5));
            }
            answers
        })
    };

    // The new version holds updates from 70 °C, resuming at 65 °C.
    publish_thermal(&fx, &pkg, &sensor, "0.2.0", |t| {
        t.replace("max_celsius = \"80\"", "max_celsius = \"70\"")
            .replace("resume_celsius = \"75\"", "resume_celsius = \"65\"")
    });
    let v2 = "board at 78.0 °C, above 70 °C";
    let started = Instant::now();
    while evaluate(&host, THERMAL).is_ok_and(|d| d.allow) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the new version did not answer within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(denied(&host, THERMAL), v2);
    assert_eq!(
        host.info(&name(THERMAL)).unwrap().version.to_string(),
        "0.2.0"
    );

    stop.store(true, Ordering::Relaxed);
    let answers = caller.join().unwrap();
    assert!(answers.len() > 10, "the caller made too few calls");
    for answer in &answers {
        match answer {
            Ok(Decision {
                allow: true,
                reasons,
                ..
            }) if reasons == &[v1] => {}
            Ok(Decision {
                allow: false,
                reasons,
                ..
            }) if reasons == &[v2] || reasons == &[v1_held] => {}
            other => panic!("an answer of neither version, or a failed call: {other:?}"),
        }
    }
}

const DRAFTS: &str = "policy-drafts";

/// A draft (or final) release of `app`, as the runtime describes it.
fn with_status(app: &str, status: &str) -> Release {
    Release {
        app: app.into(),
        version: "2.0.0".into(),
        contract: json!({
            "type": "sw.release", "slug": app, "version": "2.0.0",
            "data": {"status": status}
        })
        .to_string(),
    }
}

#[test]
fn a_policy_lets_drafts_through_only_with_the_drafts_grant_of_the_version_that_decided() {
    let fx = Fixture::new();
    let pkg = fx.signed(DRAFTS, "plugins");
    let decide = |grants: &str, release: &Release| {
        let host = PluginHost::new(settings(
            &fx,
            &[(DRAFTS, plugin_settings(grants, &[("apps", "main")]))],
        ))
        .unwrap();
        host.load(&pkg).unwrap();
        host.evaluate_policy(&name(DRAFTS), &jetson(), release)
            .unwrap()
    };

    let granted = decide("drafts = true", &with_status("main", "draft"));
    assert_eq!(
        granted,
        Decision {
            allow: true,
            reasons: vec![
                "draft 2.0.0 of app 'main' may run on this device (config apps = main)".into()
            ],
            drafts: true,
        }
    );
    // The same allow without the device's grant lets no draft through.
    let ungranted = decide("", &with_status("main", "draft"));
    assert!(ungranted.allow && !ungranted.drafts, "{ungranted:?}");
    // A draft of another app is denied; a final is not its business.
    let other = decide("drafts = true", &with_status("web", "draft"));
    assert!(!other.allow, "{other:?}");
    let final_release = decide("drafts = true", &with_status("web", "final"));
    assert!(final_release.allow && final_release.reasons.is_empty());
    // A release whose status it cannot read is no decision (fail closed).
    let host = PluginHost::new(settings(
        &fx,
        &[(DRAFTS, plugin_settings("drafts = true", &[]))],
    ))
    .unwrap();
    host.load(&pkg).unwrap();
    let error = host
        .evaluate_policy(&name(DRAFTS), &jetson(), &any_release())
        .unwrap_err();
    assert!(error.to_string().contains("no data.status"), "{error}");

    // A new version that no longer asks for `drafts`, swapped in: its
    // answers carry no permission, although the device still grants it.
    let quiet = copy_package(DRAFTS, &fx.path().join("quiet"));
    edit_manifest(&quiet, |t| {
        t.replace("version = \"0.1.0\"", "version = \"0.2.0\"")
            .replace("drafts = true", "")
    });
    sign(&quiet, &fx.key);
    host.load(&quiet).unwrap();
    let after = host
        .evaluate_policy(&name(DRAFTS), &jetson(), &with_status("main", "draft"))
        .unwrap();
    assert!(after.allow && !after.drafts, "{after:?}");
}

/// A TX2's contract as the runtime tells it to a policy, with the readings
/// of `sensors` (`id`, °C) as `hw.sensor` children.
fn jetson_with(sensors: &[(&str, f64)]) -> String {
    let mut children = vec![
        fixture("hw.device-type", "jetson-tx2"),
        fixture("arch.sw", "aarch64"),
    ];
    children.extend(sensors.iter().map(|(id, value)| {
        json!({"type": "hw.sensor", "slug": id, "data": {"value": value, "unit": "°C"}})
    }));
    json!({"type": "meta.context", "slug": "device", "children": children}).to_string()
}

#[test]
fn thermal_reads_its_granted_sensor_from_the_device_with_the_same_hysteresis() {
    let fx = Fixture::new();
    // No fs grant: in sensor mode the policy needs only its sensor and kv.
    let pkg = fx.signed(THERMAL, "plugins");
    let host = PluginHost::new(settings(
        &fx,
        &[(
            THERMAL,
            plugin_settings(
                "sensors = [\"Tboard_tegra\"]\nkv = true",
                &[("sensor", "Tboard_tegra")],
            ),
        )],
    ))
    .unwrap();
    host.load(&pkg).unwrap();
    let decide = |device: String| {
        host.evaluate_policy(&name(THERMAL), &device, &any_release())
            .unwrap()
    };

    // Its manifest asks for `*`: it gets what the device grants, by id.
    let granted: Vec<String> = host
        .get(&name(THERMAL))
        .unwrap()
        .grants()
        .sensors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(granted, ["Tboard_tegra"]);

    let unknown = decide(jetson());
    assert!(!unknown.allow);
    assert_eq!(
        unknown.reasons,
        [
            "the board's temperature is unknown, so updates wait: no reading of sensor \
          'Tboard_tegra' (is it granted to this policy in the device config, and does the \
          hardware adapter list it?)"
        ]
    );
    // Another sensor's reading is not its own.
    assert!(!decide(jetson_with(&[("GPU-therm", 40.0)])).allow);

    let steps: [(f64, bool, &str); 5] = [
        (78.0, true, "board at 78.0 °C, not above 80 °C"),
        (83.5, false, "board at 83.5 °C, above 80 °C"),
        (
            78.0,
            false,
            "board at 78.0 °C, still above 75 °C since it went above 80 °C",
        ),
        (74.0, true, "board at 74.0 °C, cooled to 75 °C or below"),
        (78.0, true, "board at 78.0 °C, not above 80 °C"),
    ];
    for (celsius, allow, reason) in steps {
        let decision = decide(jetson_with(&[
            ("GPU-therm", 20.0),
            ("Tboard_tegra", celsius),
        ]));
        assert_eq!(
            (decision.allow, decision.reasons.join("; ")),
            (allow, reason.to_owned()),
            "{celsius} °C"
        );
    }
    let fault = decide(jetson_with(&[("Tboard_tegra", 900.0)]));
    assert!(
        !fault.allow && fault.reasons[0].contains("no board temperature"),
        "{fault:?}"
    );
}

#[test]
fn a_policy_is_told_the_device_made_from_the_grants_of_the_version_that_decides() {
    let fx = Fixture::new();
    let pkg = fx.signed(THERMAL, "plugins");
    let host = PluginHost::new(settings(
        &fx,
        &[(
            THERMAL,
            plugin_settings(
                "sensors = [\"Tboard_tegra\", \"GPU-therm\"]\nkv = true",
                &[("sensor", "Tboard_tegra")],
            ),
        )],
    ))
    .unwrap();
    host.load(&pkg).unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let told = |grants: &osb_plugin_host::EffectiveGrants| {
        let ids: Vec<String> = grants.sensors.iter().map(ToString::to_string).collect();
        seen.lock().unwrap().push(ids);
        jetson_with(&[("Tboard_tegra", 50.0)])
    };
    let first = host
        .evaluate_policy_told(&name(THERMAL), &told, &any_release())
        .unwrap();
    assert!(first.allow, "{first:?}");

    // A new version asking for one sensor by id: from then on the device
    // it is told is made from its grant, not the old version's.
    let narrow = copy_package(THERMAL, &fx.path().join("narrow"));
    edit_manifest(&narrow, |t| {
        t.replace("version = \"0.1.0\"", "version = \"0.2.0\"")
            .replace(
                "sensors = [\"*\"]",
                "sensors = [\"Tboard_tegra\", \"BCPU-therm\"]",
            )
    });
    sign(&narrow, &fx.key);
    host.load(&narrow).unwrap();
    host.evaluate_policy_told(&name(THERMAL), &told, &any_release())
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            vec!["Tboard_tegra".to_owned(), "GPU-therm".to_owned()],
            vec!["Tboard_tegra".to_owned()]
        ]
    );
    let loaded = host.get(&name(THERMAL)).unwrap();
    let denied: Vec<&String> = loaded
        .grants()
        .denied
        .iter()
        .filter(|d| d.starts_with("sensor"))
        .collect();
    assert_eq!(denied, ["sensor BCPU-therm"]);
}
