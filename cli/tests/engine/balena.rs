//! A balena target state through `osb apply`: a v3 document of one fleet
//! app, its images on a loopback registry, runs with the labels and the
//! environment it maps to; a document refused changes nothing.

use serde_json::{Value, json};

use super::{Osb, position, steps};

const DEVICE: &str = "b7f3c2a19e8d4f60a5c4e3d2b1a09f8e";
const FLEET: &str = "f1e2d3c4b5a6978877665544332211aa";
const COMMIT: &str = "c23e5a0f49d31ea8ca2a4866e1ba8482";
const RELEASE: &str = "0.0.0+c23e5a0f49d3";

/// A v3 state of one device running the fleet app `BalFleet` with
/// `services` in its release.
fn state(services: Value) -> Value {
    json!({ DEVICE: {
        "name": "kitchen",
        "config": {"RESIN_SUPERVISOR_POLL_INTERVAL": "900000"},
        "apps": { FLEET: {
            "id": 1623449,
            "name": "BalFleet",
            "class": "fleet",
            "releases": { COMMIT: {
                "id": 1551563,
                "services": services,
                "volumes": {"data": {}}
            }}
        }}
    }})
}

#[test]
fn a_balena_v3_state_runs_as_mapped_and_a_refused_one_changes_nothing() {
    let Some(osb) = Osb::new("balena-v3") else {
        return;
    };
    let registry = osb.engine.registry();
    let web_image = registry.push(&osb.engine.busybox_image("1"), "balena/web:1");
    let db_image = registry.push(&osb.engine.busybox_image("2"), "balena/db:1");
    let services = json!({
        "web": {
            "id": 482142,
            "image_id": 2781426,
            "image": web_image,
            "environment": {"GREETING": "hello", "LEVEL": "info"},
            "labels": {"com.example.tier": "front", "io.balena.features.optional": "1"},
            "composition": {
                "environment": {"LEVEL": "debug", "FROM_COMPOSE": "yes"},
                "labels": {"com.example.tier": "web"},
                "depends_on": ["db"]
            }
        },
        "db": {
            "id": 482141,
            "image_id": 2781425,
            "image": db_image,
            "environment": {},
            "labels": {},
            "composition": {"volumes": ["data:/data"]}
        }
    });
    let out = osb.apply_with(&state(services.clone()), &["--timeout", "90s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "osb apply failed:\n{stderr}");
    for warned in [
        "read a balena target state",
        "config.RESIN_SUPERVISOR_POLL_INTERVAL: device configuration: not carried over",
        "'BalFleet' is named 'balfleet'",
    ] {
        assert!(stderr.contains(warned), "no '{warned}' in:\n{stderr}");
    }
    // The optional label is read (into the block's `optional`), not
    // reported as something left out.
    assert!(!stderr.contains("io.balena.features.optional"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("apply report is JSON");
    let s = steps(&report);
    assert!(
        position(&s, &format!("start balfleet/db@{RELEASE}"))
            < position(&s, &format!("start balfleet/web@{RELEASE}")),
        "{s:#?}"
    );

    let containers = osb.scope.containers();
    assert_eq!(containers.len(), 2, "{containers:#?}");
    assert!(
        containers.iter().all(|c| c.state == "running"),
        "{containers:#?}"
    );
    let web = containers
        .iter()
        .find(|c| c.labels.get("io.osb.block").map(String::as_str) == Some("web"))
        .expect("web container");
    let label = |key: &str| web.labels.get(key).map(String::as_str);
    assert_eq!(label("io.osb.app"), Some("balfleet"));
    assert_eq!(label("io.osb.release"), Some(RELEASE));
    // The service's labels win over the composition's.
    assert_eq!(label("com.example.tier"), Some("front"));
    assert_eq!(label("io.balena.features.optional"), Some("1"));
    assert_eq!(web.image, web_image);
    let env = osb_test_docker::exec(&web.name, &["env"]);
    for variable in ["GREETING=hello", "LEVEL=info", "FROM_COMPOSE=yes"] {
        assert!(
            env.lines().any(|l| l == variable),
            "no {variable} in:\n{env}"
        );
    }

    // Refused documents: nothing of them is applied, and the error names
    // where.
    let release = format!("{DEVICE}.apps.{FLEET}.releases.{COMMIT}");
    let mut second_fleet = state(services.clone());
    // Keyed after the first fleet, in document and in sorted order alike.
    second_fleet[DEVICE]["apps"]["ffffffff0000000000000000000000aa"] = json!({
        "id": 2, "name": "other", "releases": {"c0ffee": {"services": {}}}
    });
    let mut build = services.clone();
    build["web"]["composition"]["build"] = json!(".");
    let mut hostapp = services;
    hostapp["web"]["labels"]["io.balena.image.class"] = json!("hostapp");
    let cases = [
        (
            second_fleet,
            format!(
                "{DEVICE}.apps.ffffffff0000000000000000000000aa: a second fleet app ('other'); \
                 the first is {DEVICE}.apps.{FLEET}: a device runs one fleet"
            ),
        ),
        (
            state(build),
            format!("{release}.services.web.composition.build: 'build' is not supported"),
        ),
        (
            state(hostapp),
            format!(
                "{release}.services.web.labels.io.balena.image.class: a hostapp (the host OS image) is not yet supported"
            ),
        ),
    ];
    let before = osb.scope.containers();
    for (document, expect) in cases {
        let out = osb.apply_with(&document, &["--timeout", "30s"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted:\n{document:#}");
        assert!(
            stderr.contains("refused") && stderr.contains(&expect),
            "the error does not say '{expect}':\n{stderr}"
        );
    }
    let after = osb.scope.containers();
    assert_eq!(
        after.iter().map(|c| (&c.id, &c.state)).collect::<Vec<_>>(),
        before.iter().map(|c| (&c.id, &c.state)).collect::<Vec<_>>()
    );
    let status = osb.status();
    assert_eq!(status["converged"], json!(true), "{status:#}");
    assert_eq!(status["blocks"][0]["release"], json!(RELEASE));
    drop(osb);
    drop(registry);
}
