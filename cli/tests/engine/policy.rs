//! What blocks may ask of the host: balena's feature labels bound as balena
//! binds them, the device policy refusing what an app may not hold (and
//! nothing of a refused target created), a device node the host lacks,
//! and `osb status` showing what each block holds.
//!
//! Two containers in all; the refusals create none.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use super::{Osb, inspect, target};

/// The shell command of the test blocks: idle, and stop at once on SIGTERM.
fn idle() -> Value {
    json!([
        "sh",
        "-c",
        "trap 'exit 0' TERM INT; sleep 2147483647 & wait"
    ])
}

/// Asserts that `out` failed with `message` (on stderr, and as the JSON
/// error on stdout), and that nothing of the target reached the engine or
/// the store.
fn refused(osb: &Osb, out: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "applied:\n{stderr}");
    assert!(
        stderr.contains(message),
        "expected {message:?} in:\n{stderr}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("--json error");
    assert_eq!(json["error"].as_str(), Some(message), "{json}");
    let instance = osb.scope.instance();
    assert_eq!(osb.scope.containers(), Vec::new(), "containers created");
    assert_eq!(
        osb_test_docker::volumes(instance),
        Vec::<String>::new(),
        "volumes created"
    );
    assert_eq!(
        osb_test_docker::networks(instance),
        Vec::<String>::new(),
        "networks created"
    );
    let status = osb.command("status", &[]).output().expect("run osb status");
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("no target applied yet"),
        "a refused target was stored: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// The container's mounts, by container path: (host path, writable).
fn mounts(container: &Value) -> Vec<(String, String, bool)> {
    container["Mounts"]
        .as_array()
        .expect("Mounts")
        .iter()
        .map(|m| {
            (
                m["Destination"].as_str().unwrap_or_default().to_owned(),
                m["Source"].as_str().unwrap_or_default().to_owned(),
                m["RW"].as_bool().unwrap_or(true),
            )
        })
        .collect()
}

#[test]
fn balena_feature_labels_bind_the_host_and_status_shows_privileges() {
    let Some(osb) = Osb::new("features") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let t = target(
        "feat",
        "1.0.0",
        json!({
            "web": {
                "image": image,
                "command": idle(),
                "labels": {
                    "io.balena.features.kernel-modules": "1",
                    "io.balena.features.firmware": "1",
                    "io.balena.features.dbus": "1",
                    "io.resin.features.resin-socket": "1",
                    "io.balena.features.supervisor-api": "1"
                },
                "cap_add": ["NET_ADMIN"],
                "devices": [{"source": "/dev/null", "target": "/dev/osb-null"}]
            }
        }),
        json!({}),
    );
    let report = osb.apply(&t);
    assert!(report["steps"].as_array().is_some_and(|s| !s.is_empty()));
    let containers = osb.scope.containers();
    assert_eq!(containers.len(), 1, "{containers:#?}");
    let web = &containers[0];
    let described = inspect(&web.id);
    let mounts = mounts(&described);
    let mount = |target: &str| mounts.iter().find(|(t, _, _)| t == target).cloned();

    assert_eq!(
        mount("/host/run/dbus"),
        Some(("/host/run/dbus".to_owned(), "/run/dbus".to_owned(), true))
    );
    // Read-only, and left out where the host has none (as balena does).
    for (path, host_has) in [
        ("/lib/firmware", Path::new("/lib/firmware").exists()),
        ("/lib/modules", Path::new("/lib/modules").exists()),
    ] {
        if host_has {
            assert_eq!(
                mount(path),
                Some((path.to_owned(), path.to_owned(), false)),
                "{mounts:?}"
            );
        } else {
            assert_eq!(mount(path), None, "{mounts:?}");
        }
    }
    let env: Vec<&str> = described["Config"]["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        env.contains(&"DBUS_SYSTEM_BUS_ADDRESS=unix:path=/host/run/dbus/system_bus_socket"),
        "{env:?}"
    );
    // The engine's socket, where balena puts it (the test engine's is
    // local: a remote one refuses the target).
    assert!(
        env.contains(&"DOCKER_HOST=unix:///host/run/balena-engine.sock"),
        "{env:?}"
    );
    let socket = osb_engine::socket_of(&osb_engine::engine_address())
        .map(|p| p.display().to_string())
        .expect("the test engine is on a local socket");
    for target in [
        "/host/run/balena-engine.sock",
        "/var/run/balena.sock",
        &socket,
    ] {
        assert_eq!(
            mount(target),
            Some((target.to_owned(), socket.clone(), true)),
            "{mounts:?}"
        );
    }
    // Not provided: kept as a label, and no supervisor variables.
    assert!(
        !env.iter().any(|e| e.starts_with("BALENA_SUPERVISOR")),
        "{env:?}"
    );

    // What the process inside sees.
    let seen = osb_test_docker::exec(
        &web.name,
        &[
            "sh",
            "-c",
            "echo \"$DBUS_SYSTEM_BUS_ADDRESS\"; test -d /host/run/dbus && echo dbus-dir; \
             test -S /host/run/balena-engine.sock && echo engine-socket; \
             if [ -d /lib/firmware ]; then touch /lib/firmware/osb-probe 2>/dev/null \
             && echo firmware-writable || echo firmware-read-only; fi",
        ],
    );
    let mut expect =
        "unix:path=/host/run/dbus/system_bus_socket\ndbus-dir\nengine-socket".to_owned();
    if Path::new("/lib/firmware").exists() {
        expect.push_str("\nfirmware-read-only");
    }
    assert_eq!(seen, expect);

    let status = osb.status();
    let block = &status["blocks"][0];
    assert_eq!(block["block"], "feat/web");
    assert_eq!(
        block["privileges"],
        json!(["capabilities", "devices", "engine-socket", "host-features"])
    );
    assert_eq!(
        block["features"],
        json!(["balena-socket", "dbus", "firmware", "kernel-modules"])
    );
    let table = osb.command("status", &[]).output().expect("osb status");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("PRIVILEGES"), "{table}");
    assert!(
        table.contains("capabilities, devices, engine-socket, dbus, firmware, kernel-modules"),
        "{table}"
    );
}

#[test]
fn a_host_bind_is_refused_for_an_app_and_applied_for_the_os() {
    let Some(osb) = Osb::new("host-bind") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let blocks = json!({
        "web": {
            "image": image,
            "command": idle(),
            "volumes": [
                {"type": "bind", "source": "/etc", "target": "/host-etc", "read_only": true},
                {"type": "volume", "source": "data", "target": "/data"}
            ],
            "networks": ["default", "back"]
        }
    });
    let mut t = target("hostbind", "1.0.0", blocks, json!({"data": {}}));
    t["apps"]["hostbind"]["networks"] = json!({"back": {}});
    let out = osb.apply_with(&t, &["--timeout", "60s"]);
    refused(
        &osb,
        &out,
        "apps.hostbind.release.blocks.web.volumes[0]: binds host path '/etc': apps of class \
         'app' reach the host only through feature labels (policy 'default')",
    );

    // The same app as the OS's own: applied, the host's /etc read-only.
    t["apps"]["hostbind"]["class"] = json!("os");
    osb.apply(&t);
    let containers = osb.scope.containers();
    assert_eq!(containers.len(), 1, "{containers:#?}");
    let seen = osb_test_docker::exec(
        &containers[0].name,
        &[
            "sh",
            "-c",
            "test -f /host-etc/passwd && echo host-etc; touch /host-etc/osb-probe 2>/dev/null \
             && echo writable || echo read-only",
        ],
    );
    assert_eq!(seen, "host-etc\nread-only");
    assert_eq!(osb.status()["blocks"][0]["holds"], "host-binds");
}

#[test]
fn the_strict_profile_refuses_a_privileged_app() {
    let Some(osb) = Osb::new("strict") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let t = target(
        "strict",
        "1.0.0",
        json!({"web": {"image": image, "command": idle(), "privileged": true}}),
        json!({"data": {}}),
    );
    let out = osb.apply_under(&t, "[policy]\nprofile = \"strict\"\n");
    refused(
        &osb,
        &out,
        "apps.strict.release.blocks.web.privileged: a privileged container: apps of class 'app' \
         may not ask for 'privileged' (policy 'strict')",
    );
    // A policy the runtime cannot read is refused as such, naming the key.
    let out = osb.apply_under(&t, "[policy]\nprofile = \"lax\"\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("device.toml") && stderr.contains("lax"),
        "{stderr}"
    );
}

#[test]
fn a_device_the_host_lacks_is_refused_naming_the_field() {
    let Some(osb) = Osb::new("missing-device") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let t = target(
        "dev",
        "1.0.0",
        json!({"web": {
            "image": image,
            "command": idle(),
            "devices": [{"source": "/dev/null"}, {"source": "/dev/ttyUSB9"}]
        }}),
        json!({}),
    );
    let message =
        "apps.dev.release.blocks.web.devices[1].source: /dev/ttyUSB9 does not exist on this device";
    let out = osb.apply_with(&t, &["--timeout", "60s"]);
    refused(&osb, &out, message);

    // The daemon refuses it before it starts.
    let path = osb.write(&t);
    let plugins = osb.dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let out = osb
        .command(
            "daemon",
            &[
                "--target",
                path.to_str().expect("utf-8 path"),
                "--plugin-dir",
                plugins.to_str().expect("utf-8 path"),
            ],
        )
        .output()
        .expect("run osb daemon");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
    assert_eq!(osb.scope.containers(), Vec::new());
}

#[test]
fn the_executor_itself_refuses_what_the_policy_refuses() {
    use osb_runtime::apply::ApplyError;
    use osb_state::policy::{Policy, Profile};
    use std::time::{Duration, Instant};

    let Some(osb) = Osb::new("executor-policy") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let t = target(
        "lib",
        "1.0.0",
        json!({"web": {"image": image, "command": idle(), "privileged": true}}),
        json!({"data": {}}),
    );
    let t = osb_state::TargetState::from_json(&t.to_string()).expect("a valid target");
    // A library caller that never ran the command line's checks: the
    // executor's own entry refuses, before the store or the engine holds
    // anything of the target, under `apply` and under a daemon's `settle`.
    let (applied, settled, stored) = osb.with_applier(
        |settings| {
            settings.policy = Policy {
                profile: Profile::Strict,
                ..Policy::default()
            }
        },
        async |applier| {
            let applied = applier
                .apply(&t, Some(Instant::now() + Duration::from_secs(60)))
                .await;
            let settled = applier.settle(&t).await;
            (
                applied,
                settled,
                applier.store().target().expect("the store"),
            )
        },
    );
    for (what, result) in [("apply", applied), ("settle", settled)] {
        match result {
            Err(ApplyError::Refused(e)) => assert_eq!(
                e.to_string(),
                "apps.lib.release.blocks.web.privileged: a privileged container: apps of class \
                 'app' may not ask for 'privileged' (policy 'strict')",
                "{what}"
            ),
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(stored, None, "a refused target was stored");
    assert_eq!(osb.scope.containers(), Vec::new(), "containers created");
    assert_eq!(
        osb_test_docker::volumes(osb.scope.instance()),
        Vec::<String>::new(),
        "volumes created"
    );
}
