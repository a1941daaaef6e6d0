//! `osb daemon` keeps the blocks converged: a block removed behind its back
//! comes back, reacting to the engine's events.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use super::{Osb, eventually, target};

#[test]
fn the_daemon_brings_back_a_block_removed_behind_its_back() {
    let Some(osb) = Osb::new("daemon") else {
        return;
    };
    let t = target(
        "daemon",
        "1.0.0",
        json!({"app": {"image": osb.engine.busybox_image("1")}}),
        json!({}),
    );
    let path = osb.write(&t);
    let plugins = osb.dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let mut daemon = osb
        .command(
            "daemon",
            &[
                "--target",
                path.to_str().expect("utf-8"),
                "--plugin-dir",
                plugins.to_str().expect("utf-8"),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn osb daemon");
    let running = |c: &Vec<osb_test_docker::ContainerInfo>| c.len() == 1 && c[0].state == "running";
    let mut first = Vec::new();
    let up = eventually(Duration::from_secs(60), || {
        first = osb.scope.containers();
        running(&first)
    });
    assert!(up, "the daemon did not start the block: {first:#?}");
    // `osb status` reads the block store while the daemon runs.
    let status = osb.status();
    assert_eq!(status["blocks"][0]["state"], "running", "{status:#}");

    osb.engine.run(&["rm", "-f", &first[0].id]);
    let mut again = Vec::new();
    let back = eventually(Duration::from_secs(20), || {
        again = osb.scope.containers();
        running(&again) && again[0].id != first[0].id
    });
    // The daemon's own recheck is 30 s: coming back sooner means it reacted
    // to the engine's event.
    assert!(back, "the block did not come back within 20 s: {again:#?}");

    let _ = std::process::Command::new("kill")
        .args(["-INT", &daemon.id().to_string()])
        .status();
    let stopped = eventually(Duration::from_secs(10), || {
        matches!(daemon.try_wait(), Ok(Some(_)))
    });
    if !stopped {
        let _ = daemon.kill();
    }
    assert!(stopped, "the daemon did not stop on SIGINT");
}
