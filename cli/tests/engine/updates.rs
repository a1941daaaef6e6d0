//! Updates the engine has a say in: a new container it refuses (the old
//! one must keep running), networks and volumes whose settings change
//! (recreated, or for a volume's labels, reported), and a bind mount of a
//! host directory that does not exist yet.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use super::{Osb, log_then_idle, position, running, steps, target};

/// `osb apply --json` that must fail; its error.
fn refused(osb: &Osb, target: &Value) -> String {
    let out = osb.apply_with(target, &["--timeout", "60s"]);
    assert!(
        !out.status.success(),
        "osb apply succeeded:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("the error is JSON");
    report["error"].as_str().expect("an error").to_owned()
}

#[test]
fn a_new_container_the_engine_refuses_leaves_the_old_one_running() {
    let Some(osb) = Osb::new("refused") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let block = |extra: Value| {
        let mut block = json!({"image": image});
        if let (Some(block), Some(extra)) = (block.as_object_mut(), extra.as_object()) {
            block.extend(extra.clone());
        }
        json!({ "app": block })
    };
    osb.apply(&target("refuse", "1.0.0", block(json!({})), json!({})));
    let before = osb.scope.containers();
    assert_eq!(running(&osb), ["refuse/app@1.0.0 running"]);

    // Validation cannot know the engine's runtimes: the engine refuses the
    // container when it is created.
    let error = refused(
        &osb,
        &target(
            "refuse",
            "2.0.0",
            block(json!({"runtime": "no-such-runtime"})),
            json!({}),
        ),
    );
    assert!(
        error.starts_with("the engine refused to create refuse/app@2.0.0 (attempts: 3): ")
            && error.contains("no-such-runtime")
            && error.ends_with("; refuse/app@1.0.0 keeps running"),
        "{error}"
    );
    let after = osb.scope.containers();
    assert_eq!(running(&osb), ["refuse/app@1.0.0 running"]);
    assert_eq!(after[0].id, before[0].id, "the old container was replaced");
    assert!(
        !osb.state().join("locks/refuse/app/updates.lock").exists(),
        "the update lock was taken for an update that never began"
    );

    // A release the engine takes goes through as usual.
    osb.apply(&target(
        "refuse",
        "3.0.0",
        block(json!({"environment": {"V": "3"}})),
        json!({}),
    ));
    assert_eq!(running(&osb), ["refuse/app@3.0.0 running"]);
}

#[test]
fn under_kill_then_download_a_refused_create_is_reported() {
    let Some(osb) = Osb::new("refused-ktd") else {
        return;
    };
    let registry = osb.engine.registry();
    let image = |version: &str| {
        registry.push(
            &osb.engine.busybox_image(version),
            &format!("refused-ktd/app:{version}"),
        )
    };
    let blocks = |version: &str, runtime: Option<&str>| {
        let mut block = json!({"image": image(version), "update_strategy": "kill-then-download"});
        if let Some(runtime) = runtime {
            block["runtime"] = json!(runtime);
        }
        json!({ "app": block })
    };
    osb.apply(&target("ktd", "1.0.0", blocks("1", None), json!({})));
    // The new image must be fetched, which this strategy does only once the
    // old container is gone: the refusal comes with the block down, and
    // says so.
    let error = refused(
        &osb,
        &target(
            "ktd",
            "2.0.0",
            blocks("2", Some("no-such-runtime")),
            json!({}),
        ),
    );
    assert!(
        error.starts_with("the engine refused to create ktd/app@2.0.0")
            && error.contains("no-such-runtime")
            && error.ends_with("; no container of ktd/app is running"),
        "{error}"
    );
    assert_eq!(running(&osb), Vec::<String>::new());
    // Refused again, not forgotten: the next apply tries anew.
    let again = refused(
        &osb,
        &target(
            "ktd",
            "2.0.0",
            blocks("2", Some("no-such-runtime")),
            json!({}),
        ),
    );
    assert!(again.contains("no-such-runtime"), "{again}");
    osb.apply(&target("ktd", "2.0.1", blocks("2", None), json!({})));
    assert_eq!(running(&osb), ["ktd/app@2.0.1 running"]);
    drop(osb);
    drop(registry);
}

/// The engine's view of network `name`: `internal=<bool> labels=<map>`.
fn network(osb: &Osb, name: &str) -> String {
    osb.engine.run(&[
        "network",
        "inspect",
        "-f",
        "internal={{.Internal}} tier={{index .Labels \"tier\"}} hash={{index .Labels \"io.osb.config-hash\"}}",
        name,
    ])
}

#[test]
fn a_network_whose_settings_change_is_recreated_and_its_blocks_reattached() {
    let Some(osb) = Osb::new("network-change") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let t = |back: Value| {
        let mut t = target(
            "netc",
            "1.0.0",
            json!({
                "web": {"image": image, "networks": ["back"]},
                "db": {"image": image}
            }),
            json!({}),
        );
        t["apps"]["netc"]["networks"] = json!({ "back": back });
        t
    };
    let back = format!("{}.netc.back", osb.scope.instance());
    osb.apply(&t(json!({"internal": true})));
    let first = network(&osb, &back);
    assert!(first.starts_with("internal=true tier= hash="), "{first}");
    let db = osb
        .scope
        .containers()
        .into_iter()
        .find(|c| c.labels.get("io.osb.block").map(String::as_str) == Some("db"))
        .expect("db");

    for (settings, expect) in [
        (json!({"internal": false}), "internal=false tier= hash="),
        (
            json!({"internal": false, "labels": {"tier": "back"}}),
            "internal=false tier=back hash=",
        ),
    ] {
        let report = osb.apply(&t(settings));
        let s = steps(&report);
        let order = [
            "stop netc/web@1.0.0",
            "remove netc/web@1.0.0",
            "remove network netc/back to recreate it (settings changed)",
            "create network netc/back",
            "create netc/web@1.0.0",
            "start netc/web@1.0.0",
        ];
        let at: Vec<usize> = order.iter().map(|p| position(&s, p)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "order {s:#?}");
        assert!(
            !s.iter().any(|s| s.contains("netc/db")),
            "db touched: {s:#?}"
        );
        let now = network(&osb, &back);
        assert!(now.starts_with(expect), "{now}");
        assert_ne!(now, first);
    }
    assert_eq!(
        running(&osb),
        ["netc/db@1.0.0 running", "netc/web@1.0.0 running"]
    );
    let web = osb
        .scope
        .containers()
        .into_iter()
        .find(|c| c.labels.get("io.osb.block").map(String::as_str) == Some("web"))
        .expect("web");
    let networks = osb.engine.run(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{join $v.Aliases \",\"}} {{end}}",
        &web.id,
    ]);
    assert!(networks.contains(&format!("{back}=")), "{networks}");
    assert!(networks.contains("web"), "{networks}");
    // The block on the other network ran through it all.
    assert!(
        osb.scope.containers().iter().any(|c| c.id == db.id),
        "db was recreated"
    );
    // Settled: nothing more to do.
    let again = osb.apply(&t(json!({"internal": false, "labels": {"tier": "back"}})));
    assert_eq!(steps(&again), Vec::<String>::new());
}

#[test]
fn a_volume_whose_driver_settings_change_is_recreated_and_a_relabelling_reported() {
    let Some(osb) = Osb::new("volume-change") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let t = |line: &str, data: Value| {
        target(
            "volc",
            "1.0.0",
            json!({"app": {
                "image": image,
                "command": log_then_idle(line),
                "volumes": [{"type": "volume", "source": "data", "target": "/data"}]
            }}),
            json!({ "data": data }),
        )
    };
    let name = format!("{}.volc.data", osb.scope.instance());
    let options = || {
        osb.engine.run(&[
            "volume",
            "inspect",
            "-f",
            "{{.Options}} backup={{index .Labels \"backup\"}}",
            &name,
        ])
    };
    osb.apply(&t("v1", json!({})));
    let app = |osb: &Osb| osb.scope.containers().remove(0).name;
    assert_eq!(
        osb_test_docker::exec(&app(&osb), &["cat", "/data/log"]),
        "v1"
    );

    // Another driver option: a new volume, and the data is gone, as the
    // report and the log say.
    let report = osb.apply(&t(
        "v2",
        json!({"driver_opts": {"type": "tmpfs", "device": "tmpfs"}}),
    ));
    let s = steps(&report);
    assert!(
        position(&s, "remove volc/app@1.0.0")
            < position(
                &s,
                "remove volume volc/data to recreate it (driver or driver_opts changed: its data is lost)"
            )
            && position(&s, "remove volume volc/data") < position(&s, "create volume volc/data")
            && position(&s, "create volume volc/data") < position(&s, "create volc/app@1.0.0"),
        "{s:#?}"
    );
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("the data it held is lost"), "{warnings}");
    let now = options();
    assert!(now.contains("type:tmpfs"), "{now}");
    assert_eq!(
        osb_test_docker::exec(&app(&osb), &["cat", "/data/log"]),
        "v2"
    );

    // Labels alone: the engine cannot relabel a volume; nothing is
    // recreated, and the apply says the labels were left.
    let report = osb.apply(&t(
        "v2",
        json!({"driver_opts": {"type": "tmpfs", "device": "tmpfs"}, "labels": {"backup": "daily"}}),
    ));
    assert_eq!(steps(&report), Vec::<String>::new());
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("volume volc/data keeps its labels"),
        "{warnings}"
    );
    assert!(options().ends_with("backup="), "{}", options());
    assert_eq!(
        osb_test_docker::exec(&app(&osb), &["cat", "/data/log"]),
        "v2"
    );
}

#[test]
fn a_missing_bind_source_is_created_as_a_directory() {
    use std::time::{Duration, Instant};

    let Some(osb) = Osb::new("bind-source") else {
        return;
    };
    let source = osb.dir.path().join("host/not/yet");
    assert!(!source.exists());
    let mut t = target(
        "bind",
        "1.0.0",
        json!({"app": {
            "image": osb.engine.busybox_image("1"),
            "volumes": [{"type": "bind", "source": source.to_str().expect("utf-8"), "target": "/mnt/host"}]
        }}),
        json!({}),
    );
    // The device policy lets system apps bind host paths.
    t["apps"]["bind"]["class"] = json!("system");
    let t = osb_state::TargetState::from_json(&t.to_string()).expect("a valid target");
    // The executor itself, as a library caller drives it.
    osb.with_applier(
        |_| {},
        async |applier| {
            applier
                .apply(&t, Some(Instant::now() + Duration::from_secs(90)))
                .await
        },
    )
    .expect("the apply converges");
    assert_eq!(running(&osb), ["bind/app@1.0.0 running"]);
    for dir in [
        osb.dir.path().join("host"),
        osb.dir.path().join("host/not"),
        source.clone(),
    ] {
        let meta = std::fs::metadata(&dir).expect("created");
        assert!(meta.is_dir(), "{}", dir.display());
        assert_eq!(
            meta.permissions().mode() & 0o7777,
            0o755,
            "{}",
            dir.display()
        );
    }
    // It is the container's /mnt/host.
    std::fs::write(source.join("hello"), "from the host").expect("write");
    let name = osb.scope.containers().remove(0).name;
    assert_eq!(
        osb_test_docker::exec(&name, &["cat", "/mnt/host/hello"]),
        "from the host"
    );
}
