//! Hostile plugins: each misbehaviour is contained, and other plugins keep
//! answering.

use std::net::TcpListener;

use osb_plugin_host::{CallError, LimitOverrides, PluginHost};
use osb_tests::hostile::{Setup, apply, plugin_error, probe_answers};
use osb_tests::{Fixture, name, plugin_settings};
use serde_json::{Value, json};

/// A host with the hostile plugin in `mode` (plus extra config) and the
/// probe, with a 200 ms deadline and a 16 MiB memory cap.
fn host_with(fx: &Fixture, mode: &str, grants: &str, extra: &[(&str, &str)]) -> PluginHost {
    Setup::mode(mode)
        .grants(grants)
        .config(extra)
        .limits(LimitOverrides {
            call_timeout_ms: Some(200),
            memory_mb: Some(16),
            ..LimitOverrides::default()
        })
        .start(fx)
}

#[test]
fn growing_memory_is_stopped_at_the_cap() {
    let fx = Fixture::new();
    let host = host_with(&fx, "grow", "", &[]);
    let err = apply(&host).unwrap_err();
    assert!(
        matches!(err, CallError::MemoryCap { limit, .. } if limit == 16 << 20),
        "{err}"
    );
    probe_answers(&host);
}

#[test]
fn a_plugin_that_keeps_trapping_is_quarantined_and_others_keep_answering() {
    let fx = Fixture::new();
    let host = host_with(&fx, "trap", "", &[]);
    for _ in 0..3 {
        let err = apply(&host).unwrap_err();
        assert!(matches!(err, CallError::Trap { .. }), "{err}");
        probe_answers(&host);
    }
    let err = apply(&host).unwrap_err();
    assert!(matches!(err, CallError::Quarantined { .. }), "{err}");
    assert!(err.to_string().contains("osb-test-hostile"), "{err}");
    probe_answers(&host);
}

#[test]
fn file_access_outside_the_preopen_is_refused() {
    let fx = Fixture::new();
    let data = fx.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(fx.path().join("escape"), "secret").unwrap();
    std::os::unix::fs::symlink(fx.path().join("escape"), data.join("link")).unwrap();
    // The manifest asks for /tmp/osb-hostile; grant a parent of a dir we control
    // by rewriting the request to our temp dir.
    let pkg = fx.signed("osb-test-hostile", "plugins");
    osb_tests::edit_manifest(&pkg, |t| {
        t.replace("/tmp/osb-hostile", data.to_str().unwrap())
    });
    osb_tests::sign(&pkg, &fx.key);
    let grants = format!(
        "fs = [{{ host = \"{}\", guest = \"/ignored\", mode = \"rw\" }}]",
        data.display()
    );
    // `..` and a symlink out of the preopen are refused by cap-std; an
    // absolute path outside every preopen does not even exist for the guest.
    for (mode, kind) in [
        ("open-parent", "PermissionDenied"),
        ("open-symlink", "PermissionDenied"),
        ("open-absolute", "NotFound"),
    ] {
        let mut settings = fx.settings();
        settings.plugins.insert(
            name("osb-test-hostile"),
            plugin_settings(&grants, &[("mode", mode)]),
        );
        let host = PluginHost::new(settings).unwrap();
        host.load(&pkg).unwrap();
        let out = apply(&host).unwrap();
        let message = plugin_error(&out);
        assert!(message.contains(mode), "{mode}: {message}");
        assert!(
            message.contains(&format!("kind: {kind}")),
            "{mode}: expected {kind}, got {message}"
        );
        assert!(!message.contains("secret"));
    }
}

#[test]
fn a_socket_that_was_not_granted_is_refused() {
    let fx = Fixture::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let pkg = fx.signed("osb-test-hostile", "plugins");
    osb_tests::edit_manifest(&pkg, |t| t.replace("127.0.0.1:9", &addr));
    osb_tests::sign(&pkg, &fx.key);

    let host = |grants: &str| {
        let mut settings = fx.settings();
        let config = [("mode", "connect"), ("addr", addr.as_str())];
        settings
            .plugins
            .insert(name("osb-test-hostile"), plugin_settings(grants, &config));
        let host = PluginHost::new(settings).unwrap();
        host.load(&pkg).unwrap();
        host
    };

    // Requested by the manifest, not granted by the device: refused.
    let refused = apply(&host("")).unwrap();
    assert!(plugin_error(&refused).contains("connect"), "{refused}");

    // Granted, but for another port: refused.
    let other = "net = [{ addr = \"127.0.0.1:1\", protocol = \"tcp\" }]";
    assert!(apply(&host(other)).unwrap().get("error").is_some());

    // Requested and granted: the same call connects.
    let grant = format!("net = [{{ addr = \"{addr}\", protocol = \"tcp\" }}]");
    assert_eq!(apply(&host(&grant)).unwrap(), json!({ "ok": null }));
}

#[test]
fn calling_a_function_of_another_kind_is_a_clear_error() {
    let fx = Fixture::new();
    let host = host_with(&fx, "ok", "", &[]);
    let err = host
        .call_json(&name("osb-test-hostile"), "sample", &Value::Null)
        .unwrap_err();
    assert!(
        err.to_string().contains("migration-step") && err.to_string().contains("apply"),
        "{err}"
    );
    let err = host
        .call_json(&name("osb-test-hostile"), "apply", &json!({"from": 1}))
        .unwrap_err();
    assert!(matches!(err, CallError::BadArguments { .. }), "{err}");
    // A caller's mistakes never quarantine the plugin.
    assert_eq!(apply(&host).unwrap(), json!({ "ok": null }));
}

/// Serves every connection one canned HTTP answer: `/allowed/redirect`
/// redirects outside the grant, anything else is 200.
fn http_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let base = format!("http://{addr}");
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { return };
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let answer = if line.contains("/allowed/redirect") {
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://{addr}/secret\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            } else {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_owned()
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    base
}

#[test]
fn http_only_within_the_granted_prefix_and_redirects_are_not_followed() {
    let fx = Fixture::new();
    let base = http_server();
    let pkg = fx.signed("osb-test-hostile", "plugins");
    osb_tests::edit_manifest(&pkg, |t| t.replace("http://127.0.0.1:9", &base));
    osb_tests::sign(&pkg, &fx.key);
    let call = |grant: &str, url: &str| {
        let mut settings = fx.settings();
        let grants = format!("http = [\"{grant}\"]");
        settings.plugins.insert(
            name("osb-test-hostile"),
            plugin_settings(&grants, &[("mode", "http"), ("url", url)]),
        );
        let host = PluginHost::new(settings).unwrap();
        host.load(&pkg).unwrap();
        apply(&host).unwrap()
    };
    let allowed = format!("{base}/allowed/");
    assert_eq!(
        call(&allowed, &format!("{base}/allowed/time")),
        json!({ "ok": null })
    );
    let outside = call(&allowed, &format!("{base}/secret"));
    assert!(plugin_error(&outside).contains("Denied"), "{outside}");
    let tricky = call(&allowed, &format!("{base}/allowedx"));
    assert!(plugin_error(&tricky).contains("Denied"), "{tricky}");
    // The redirect's 302 comes back to the plugin; the host does not follow it.
    let redirected = call(&allowed, &format!("{base}/allowed/redirect"));
    assert!(
        plugin_error(&redirected).contains("status 302"),
        "{redirected}"
    );
    // The device granting nothing means nothing, whatever the manifest asks.
    let ungranted = call(
        "https://elsewhere.example/",
        &format!("{base}/allowed/time"),
    );
    assert!(plugin_error(&ungranted).contains("Denied"), "{ungranted}");
}

#[test]
fn kv_is_private_persistent_and_needs_a_grant() {
    let fx = Fixture::new();
    let pkg = fx.signed("osb-test-hostile", "plugins");
    let host = |grants: &str, config: &[(&str, &str)]| {
        let mut settings = fx.settings();
        settings.state_dir = Some(fx.path().join("state"));
        let mut all = vec![("mode", "kv")];
        all.extend_from_slice(config);
        settings
            .plugins
            .insert(name("osb-test-hostile"), plugin_settings(grants, &all));
        let host = PluginHost::new(settings).unwrap();
        host.load(&pkg).unwrap();
        host
    };
    let denied = apply(&host("", &[("value", "a")])).unwrap();
    assert!(plugin_error(&denied).contains("Denied"), "{denied}");
    assert_eq!(
        apply(&host("kv = true", &[("value", "first")])).unwrap(),
        json!({ "ok": null })
    );
    // A restart (new host, same state dir) finds the value.
    let again = host("kv = true", &[("value", "second"), ("expect", "first")]);
    assert_eq!(apply(&again).unwrap(), json!({ "ok": null }));
    drop(again);
    let wrong = apply(&host(
        "kv = true",
        &[("value", "third"), ("expect", "first")],
    ))
    .unwrap();
    assert!(plugin_error(&wrong).contains("expected"), "{wrong}");
}
