//! The SDK harness's fakes: canned HTTP answers and scripted devices reach
//! a real component through the real host.

use osb_sdk::harness::Harness;
use serde_json::{Value, json};

const MIGRATION: &str = r#"{"from_version": "1.0.0", "to_version": "2.0.0"}"#;

fn apply(plugin: &osb_sdk::harness::Running) -> Value {
    plugin
        .call("apply", serde_json::from_str(MIGRATION).unwrap())
        .unwrap()
}

#[test]
fn canned_http_answers_reach_the_plugin() {
    let hostile = osb_tests::package("osb-test-hostile");
    let ok = Harness::for_package(&hostile)
        .config("mode", "http")
        .config("url", "http://127.0.0.1:9/allowed/now")
        .http_answer(
            "http://127.0.0.1:9/allowed/",
            200,
            &[("date", "Thu, 26 Nov 2026 04:00:00 GMT")],
            b"",
        )
        .start()
        .unwrap();
    assert_eq!(apply(&ok), json!({ "ok": null }));

    let failing = Harness::for_package(&hostile)
        .config("mode", "http")
        .config("url", "http://127.0.0.1:9/allowed/now")
        .http_answer("http://127.0.0.1:9/allowed/", 503, &[], b"")
        .start()
        .unwrap();
    assert!(
        apply(&failing)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("503")
    );
}

#[test]
fn scripted_devices_answer_in_order_and_catch_wrong_commands() {
    let hostile = osb_tests::package("osb-test-hostile");
    let start = |command: &str| {
        Harness::for_package(&hostile)
            .config("mode", "device")
            .config("device", "tpm0")
            .config("command", command)
            .config("expect", "pong")
            .device("tpm0", &[(b"ping", b"pong")])
            .start()
            .unwrap()
    };
    assert_eq!(apply(&start("ping")), json!({ "ok": null }));
    let wrong = apply(&start("reset"));
    assert!(
        wrong["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected"),
        "{wrong}"
    );
}

#[test]
fn traps_and_deadlines_surface_as_errors() {
    let hostile = osb_tests::package("osb-test-hostile");
    let looping = Harness::for_package(&hostile)
        .config("mode", "loop")
        .timeout(std::time::Duration::from_millis(100))
        .start()
        .unwrap();
    let err = looping
        .call("apply", serde_json::from_str(MIGRATION).unwrap())
        .unwrap_err();
    assert!(err.contains("deadline"), "{err}");
}
