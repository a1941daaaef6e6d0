//! Applying targets: dependency order, idempotence, updates under each
//! strategy, volumes kept across updates.

use serde_json::json;

use super::{Osb, log_then_idle, position, steps, target};

#[test]
fn apply_starts_in_dependency_order_and_a_second_apply_does_nothing() {
    let Some(osb) = Osb::new("converge") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let t = target(
        "conv",
        "1.0.0",
        json!({
            "db": {
                "image": image,
                "command": log_then_idle("db-up"),
                "volumes": [{"type": "volume", "source": "data", "target": "/data"}],
                "healthcheck": {"test": {"shell": "test -f /data/log"}, "interval": "1s"}
            },
            "web": {"image": image, "depends_on": {"db": "healthy"}, "networks": ["default", "back"]}
        }),
        json!({"data": {}}),
    );
    let mut t = t;
    t["apps"]["conv"]["networks"] = json!({"back": {}});
    let report = osb.apply(&t);
    let s = steps(&report);
    assert!(
        position(&s, "start conv/db@1.0.0") < position(&s, "start conv/web@1.0.0"),
        "web started before db was healthy: {s:#?}"
    );
    let containers = osb.scope.containers();
    assert_eq!(containers.len(), 2, "{containers:#?}");
    assert!(
        containers.iter().all(|c| c.state == "running"),
        "{containers:#?}"
    );
    let db = containers
        .iter()
        .find(|c| c.labels.get("io.osb.block").map(String::as_str) == Some("db"))
        .expect("db container");
    assert_eq!(db.health.as_deref(), Some("healthy"));
    assert_eq!(
        db.labels.get("io.osb.app").map(String::as_str),
        Some("conv")
    );
    let web = containers
        .iter()
        .find(|c| c.labels.get("io.osb.block").map(String::as_str) == Some("web"))
        .expect("web container");
    let networks = osb.engine.run(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{join $v.Aliases \",\"}} {{end}}",
        &web.id,
    ]);
    assert!(
        networks.contains("conv.back=") && networks.contains("conv.default="),
        "{networks}"
    );
    // Other blocks reach it by its block name on every network.
    assert_eq!(networks.matches("web").count(), 2, "{networks}");

    let again = osb.apply(&t);
    assert_eq!(
        steps(&again),
        Vec::<String>::new(),
        "a converged device changed"
    );
    let ids: Vec<_> = osb.scope.containers().into_iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        containers.iter().map(|c| c.id.clone()).collect::<Vec<_>>()
    );

    let status = osb.status();
    assert_eq!(status["converged"], json!(true), "{status:#}");
    let states: Vec<_> = status["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|b| {
            format!(
                "{} {}",
                b["block"].as_str().unwrap_or(""),
                b["state"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(states, ["conv/db healthy", "conv/web running"]);
}

#[test]
fn an_update_replaces_each_container_once_and_keeps_volume_data() {
    let Some(osb) = Osb::new("update") else {
        return;
    };
    let block = |tag: &str, line: &str| {
        json!({
            "image": osb.engine.busybox_image(tag),
            "command": log_then_idle(line),
            "volumes": [{"type": "volume", "source": "data", "target": "/data"}]
        })
    };
    osb.apply(&target(
        "upd",
        "1.0.0",
        json!({"app": block("1", "v1")}),
        json!({"data": {}}),
    ));
    let before = osb.scope.containers();
    let report = osb.apply(&target(
        "upd",
        "2.0.0",
        json!({"app": block("2", "v2")}),
        json!({"data": {}}),
    ));
    let s = steps(&report);
    // Download-then-kill, image present: the new container is created
    // first (a refusal would leave the old one running), then the lock is
    // taken and the old one stopped; the new one starts once it is stopped,
    // and the lock is released once the old one is removed (nothing of the
    // block is left to stop).
    let order = [
        "create upd/app@2.0.0",
        "lock upd/app",
        "stop upd/app@1.0.0",
        "remove upd/app@1.0.0",
    ];
    let at: Vec<usize> = order.iter().map(|p| position(&s, p)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "order {s:#?}");
    assert!(position(&s, "start upd/app@2.0.0") > position(&s, "stop upd/app@1.0.0"));
    assert!(position(&s, "unlock upd/app") > position(&s, "remove upd/app@1.0.0"));

    let after = osb.scope.containers();
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_ne!(after[0].id, before[0].id);
    assert_eq!(
        after[0].labels.get("io.osb.release").map(String::as_str),
        Some("2.0.0")
    );
    assert_eq!(after[0].image, osb.engine.busybox_image("2"));
    let log = osb_test_docker::exec(&after[0].name, &["cat", "/data/log"]);
    assert_eq!(log, "v1\nv2", "the volume lost data");
    assert!(
        !osb.state().join("locks/upd/app/updates.lock").exists(),
        "the update lock was not released"
    );
}

#[test]
fn update_strategies_order_fetch_stop_and_start_as_documented() {
    let Some(osb) = Osb::new("strategies") else {
        return;
    };
    let registry = osb.engine.registry();
    // One image per block, so each block's fetch is its own step.
    let image = |block: &str, version: &str| {
        registry.push(
            &osb.engine.busybox_image(version),
            &format!("strat/{block}:{version}"),
        )
    };
    let blocks = |version: &str| {
        json!({
            "dtk": {"image": image("dtk", version)},
            "ktd": {"image": image("ktd", version), "update_strategy": "kill-then-download"},
            "ho": {"image": image("ho", version), "update_strategy": {"hand-over": {"timeout": "1s"}}}
        })
    };
    osb.apply(&target("strat", "1.0.0", blocks("1"), json!({})));
    let report = osb.apply(&target("strat", "2.0.0", blocks("2"), json!({})));
    let s = steps(&report);
    let fetch = |block: &str| {
        position(
            &s,
            &format!("fetch {}", registry.reference(&format!("strat/{block}:2"))),
        )
    };
    // Download-then-kill: the new image is there before the old one stops.
    assert!(
        fetch("dtk") < position(&s, "stop strat/dtk@1.0.0"),
        "{s:#?}"
    );
    // Kill-then-download: the old one is gone before the fetch.
    assert!(
        position(&s, "remove strat/ktd@1.0.0") < fetch("ktd"),
        "{s:#?}"
    );
    // Hand-over: the new container starts before the old one stops.
    assert!(
        position(&s, "start strat/ho@2.0.0") < position(&s, "stop strat/ho@1.0.0"),
        "{s:#?}"
    );
    let containers = osb.scope.containers();
    assert_eq!(containers.len(), 3, "{containers:#?}");
    assert!(
        containers
            .iter()
            .all(|c| c.image.ends_with(":2") && c.state == "running"),
        "{containers:#?}"
    );
    drop(osb);
    drop(registry);
}
