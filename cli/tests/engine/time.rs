//! Blocks that need a good clock: held back while the clock is not good
//! enough (and `osb status` says why), started by the daemon as soon as its
//! time service reaches the state.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Osb, eventually, target};

/// A plugin directory with two probes, each its own origin in development
/// mode, one answering exactly a day after the runtime's build and the
/// other a second either side of that (two answers of one instant, each
/// carried from its own call, would not overlap), the fake hardware clock
/// saved before that, and a device config running them in development
/// mode.
fn synced_sources(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    osb_test_artifacts::copy_package("osb-test-probe", &plugins);
    // The same probe under another name: the manifest's name and the
    // component's file name follow.
    let other = plugins.join("other-probe");
    std::fs::create_dir_all(&other).expect("other probe dir");
    let probe = plugins.join("osb-test-probe");
    let manifest = std::fs::read_to_string(probe.join("plugin.toml"))
        .expect("probe manifest")
        .replace("name = \"osb-test-probe\"", "name = \"other-probe\"");
    std::fs::write(other.join("plugin.toml"), manifest).expect("other manifest");
    std::fs::copy(
        probe.join("osb-test-probe.wasm"),
        other.join("other-probe.wasm"),
    )
    .expect("other component");
    let hwclock = osb_test_artifacts::copy_package("time-fake-hwclock", &plugins);
    let clock = dir.join("clock");
    std::fs::create_dir_all(&clock).expect("clock dir");
    std::fs::write(clock.join("fake-hwclock"), "1600000000\n").expect("saved time");
    let manifest_path = hwclock.join("plugin.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .expect("manifest")
        .replace("/var/lib/osb/fake-hwclock", clock.to_str().expect("utf-8"));
    std::fs::write(&manifest_path, manifest).expect("manifest");
    let built = osb_runtime::time::runtime_build_time().unix_nanos() / 1_000_000_000;
    let instant = built + 86_400;
    let probe_config = |earliest: i128, latest: i128| {
        format!(
            "config = {{ mode = \"interval\", earliest = \"{earliest}\", latest = \"{latest}\" }}"
        )
    };
    let (exact, around) = (
        probe_config(instant, instant),
        probe_config(instant - 1, instant + 1),
    );
    let config = dir.join("device.toml");
    std::fs::write(
        &config,
        format!(
            "development = true\n[plugins.time-fake-hwclock]\ngrants = {{ fs = [{{ host = \"{}\", guest = \"/data\", mode = \"rw\" }}] }}\n[plugins.osb-test-probe]\n{exact}\n[plugins.other-probe]\n{around}\n",
            clock.display()
        ),
    )
    .expect("config");
    (config, plugins)
}

/// A daemon that must not outlive its test, whatever the test does: it
/// would keep the test's blocks alive after the scope removed them.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn waiting(status: &Value) -> Option<String> {
    status["blocks"][0]["waiting"].as_str().map(str::to_owned)
}

#[test]
fn a_block_needing_synced_time_waits_then_the_daemon_starts_it() {
    let Some(osb) = Osb::new("timegate") else {
        return;
    };
    let t = target(
        "timegate",
        "1.0.0",
        json!({
            "app": {"image": osb.engine.busybox_image("1"), "time": "synced"},
            "free": {"image": osb.engine.busybox_image("1")}
        }),
        json!({}),
    );

    // Without a time service the clock is unsynced: held back, and said so.
    // The apply cannot converge, so it runs to its timeout: long enough for
    // the engine to create and start the other block on a loaded machine
    // (a start alone took up to 2.8 s here).
    let out = osb.apply_with(&t, &["--timeout", "10s", "--time-status", "unsynced"]);
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("needs synced time, clock is unsynced"),
        "{report:#}"
    );
    let status = osb.status();
    assert_eq!(status["time"], "unsynced", "{status:#}");
    assert_eq!(
        waiting(&status).as_deref(),
        Some("needs synced time, clock is unsynced"),
        "{status:#}"
    );
    let block = |c: &osb_test_docker::ContainerInfo| {
        c.labels.get("io.osb.block").cloned().unwrap_or_default()
    };
    let containers = osb.scope.containers();
    assert!(
        containers
            .iter()
            .filter(|c| block(c) == "app")
            .all(|c| c.state != "running"),
        "started before the clock was synced: {containers:#?}"
    );
    // A block with no time requirement is not held back by the clock.
    assert!(
        containers
            .iter()
            .any(|c| block(c) == "free" && c.state == "running"),
        "an unrelated block was held back: {containers:#?}"
    );

    // The daemon's time service reaches synced; the block starts.
    let (config, plugins) = synced_sources(osb.dir.path());
    let mut daemon = KillOnDrop(
        osb.command(
            "daemon",
            &[
                "--config",
                config.to_str().expect("utf-8"),
                "--plugin-dir",
                plugins.to_str().expect("utf-8"),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn osb daemon"),
    );
    let mut containers: Vec<osb_test_docker::ContainerInfo> = Vec::new();
    let up = eventually(Duration::from_secs(60), || {
        containers = osb.scope.containers();
        containers.len() == 2 && containers.iter().all(|c| c.state == "running")
    });
    // While the daemon runs, `osb status` plans with its clock state.
    let running = osb.status();
    let time_report: Value = std::fs::read(osb.state().join("time.json"))
        .ok()
        .and_then(|text| serde_json::from_slice(&text).ok())
        .unwrap_or(Value::Null);
    let _ = std::process::Command::new("kill")
        .args(["-INT", &daemon.0.id().to_string()])
        .status();
    let stopped = eventually(Duration::from_secs(10), || {
        matches!(daemon.0.try_wait(), Ok(Some(_)))
    });
    assert!(up, "the daemon did not start the block: {containers:#?}");
    assert!(stopped, "the daemon did not stop on SIGINT");
    assert_eq!(running["time"], "synced", "{running:#}");
    assert_eq!(running["time_daemon_pid"], daemon.0.id(), "{running:#}");
    assert_eq!(time_report["state"], "synced", "{time_report:#}");
    assert_eq!(
        time_report["writer"]["pid"],
        daemon.0.id(),
        "{time_report:#}"
    );
    // The daemon withdrew its report on the way out: `osb status` runs no
    // time service, so the clock is unsynced again for it, and a running
    // block waits for nothing.
    assert!(!osb.state().join("time.json").exists());
    let status = osb.status();
    assert_eq!(status["time"], "unsynced", "{status:#}");
    assert_eq!(status["time_daemon_pid"], Value::Null, "{status:#}");
    assert_eq!(waiting(&status), None, "{status:#}");
    assert_eq!(status["converged"], true, "{status:#}");
}
