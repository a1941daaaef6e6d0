//! `time-fake-hwclock` end to end: signed package, fs grant, atomic save,
//! lower bound across a restart, and bad state files refused cleanly.

use std::path::Path;
use std::time::SystemTime;

use osb_plugin_host::PluginHost;
use osb_tests::{Fixture, edit_manifest, name, plugin_settings, sign};
use serde_json::{Value, json};

fn host(fx: &Fixture, state: &Path) -> PluginHost {
    let pkg = fx.path().join("plugins/time-fake-hwclock");
    if !pkg.exists() {
        let pkg = fx.signed("time-fake-hwclock", "plugins");
        // Point the manifest's request at this test's directory.
        edit_manifest(&pkg, |t| {
            t.replace("/var/lib/osb/fake-hwclock", state.to_str().unwrap())
        });
        sign(&pkg, &fx.key);
    }
    let mut settings = fx.settings();
    let grants = format!(
        "fs = [{{ host = \"{}\", guest = \"/\", mode = \"rw\" }}]",
        state.display()
    );
    settings
        .plugins
        .insert(name("time-fake-hwclock"), plugin_settings(&grants, &[]));
    let host = PluginHost::new(settings).unwrap();
    host.load(&pkg).unwrap();
    host
}

fn sample(host: &PluginHost) -> Value {
    host.call_json(&name("time-fake-hwclock"), "sample", &Value::Null)
        .unwrap()
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn saves_atomically_and_gives_a_lower_bound_across_restarts() {
    let fx = Fixture::new();
    let state = fx.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let clock = host(&fx, &state);

    // Nothing saved yet: unavailable, naming the file.
    let first = sample(&clock);
    assert_eq!(first["error"]["code"], json!("Unavailable"), "{first}");
    assert!(
        first["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fake-hwclock"),
        "{first}"
    );

    let now = now_seconds();
    let saved = clock
        .call_json(
            &name("time-fake-hwclock"),
            "observe",
            &json!({ "seconds": now, "nanoseconds": 0 }),
        )
        .unwrap();
    assert_eq!(saved, json!({ "ok": null }));
    assert_eq!(
        std::fs::read_to_string(state.join("fake-hwclock")).unwrap(),
        format!("{now}\n")
    );
    let leftovers: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "temporary files left behind: {leftovers:?}"
    );

    // An older time never lowers the floor.
    clock
        .call_json(
            &name("time-fake-hwclock"),
            "observe",
            &json!({ "seconds": now - 3600, "nanoseconds": 0 }),
        )
        .unwrap();
    drop(clock);

    // After a restart the saved time is a lower bound that holds the true time.
    let clock = host(&fx, &state);
    let out = sample(&clock);
    let interval = &out["ok"]["interval"];
    assert_eq!(interval["earliest"]["seconds"], json!(now), "{out}");
    assert_eq!(interval["latest"], Value::Null, "{out}");
    assert!(interval["earliest"]["seconds"].as_i64().unwrap() <= now_seconds());
}

#[test]
fn bad_state_files_are_refused_without_a_panic() {
    let fx = Fixture::new();
    let state = fx.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let clock = host(&fx, &state);
    for (content, expect) in [
        ("", "InvalidInput"),
        ("17000", "InvalidInput"),
        ("yesterday\n", "InvalidInput"),
        ("1700000000", "InvalidInput"),
        ("1700000000\n", "Ok"),
    ] {
        std::fs::write(state.join("fake-hwclock"), content).unwrap();
        let out = sample(&clock);
        let got = if out.get("ok").is_some() {
            "Ok".to_owned()
        } else {
            out["error"]["code"].as_str().unwrap().to_owned()
        };
        // The file is written by rename and ends in a newline: one without
        // it is torn or damaged, and its number is not believed.
        assert_eq!(got, expect, "{content:?}: {out}");
    }
    // A time from the future is kept as a lower bound and reported as such.
    let future = now_seconds() + 86_400;
    std::fs::write(state.join("fake-hwclock"), format!("{future}\n")).unwrap();
    let out = sample(&clock);
    assert!(
        out["ok"]["detail"].as_str().unwrap().contains("ahead"),
        "{out}"
    );
    // The plugin still answers after every bad file.
    assert!(clock.sample(&name("time-fake-hwclock")).unwrap().is_ok());
}
