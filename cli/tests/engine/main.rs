//! `osb apply`, `osb status` and `osb daemon` against a real Docker engine
//! and a real registry on loopback.
//!
//! Each test runs as its own runtime instance (the `io.osb.runtime` label)
//! with its own app names, so tests run in parallel on one engine; the
//! scope removes what a test left, passed or failed.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apply;
mod balena;
mod bsp;
mod contract;
mod daemon;
mod device;
mod engine_health;
mod faults;
mod hostos;
mod mode;
mod policies;
mod policy;
mod registries;
mod sensors;
mod settings;
mod time;
mod updates;
mod validation;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use osb_test_docker::{Engine, Scope};
use serde_json::{Value, json};

/// The shell command of a block that appends `line` to `/data/log`, then
/// idles until stopped (and stops at once on SIGTERM).
fn log_then_idle(line: &str) -> Value {
    json!([
        "sh",
        "-c",
        format!("echo {line} >> /data/log; trap 'exit 0' TERM INT; sleep 2147483647 & wait")
    ])
}

/// A target of one app.
fn target(app: &str, version: &str, blocks: Value, volumes: Value) -> Value {
    json!({
        "version": 1,
        "apps": { app: {
            "class": "app",
            "volumes": volumes,
            "release": { "version": version, "blocks": blocks }
        }}
    })
}

/// One test's runtime: a state directory and an engine scope.
struct Osb {
    dir: tempfile::TempDir,
    scope: Scope,
    engine: Engine,
    files: std::cell::Cell<u32>,
}

impl Osb {
    /// `None` (after a notice) when no engine answers outside CI.
    fn new(test: &str) -> Option<Osb> {
        let engine = osb_test_docker::engine()?;
        Some(Osb {
            dir: tempfile::tempdir().expect("temp dir"),
            scope: engine.scope(test),
            engine,
            files: std::cell::Cell::new(0),
        })
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `osb <sub> <args> --state-dir .. --instance ..`.
    fn command(&self, sub: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_osb"));
        c.arg(sub)
            .args(args)
            .arg("--state-dir")
            .arg(self.state())
            .arg("--instance")
            .arg(self.scope.instance())
            .env_remove("OSB_CONFIG")
            .env_remove("OSB_INSTANCE")
            .env("RUST_LOG", "info");
        c
    }

    fn write(&self, target: &Value) -> PathBuf {
        let n = self.files.get();
        self.files.set(n + 1);
        let path = self.dir.path().join(format!("target-{n}.json"));
        std::fs::write(&path, target.to_string()).expect("write target");
        path
    }

    /// `osb apply` of `target`, with `extra` arguments.
    fn apply_with(&self, target: &Value, extra: &[&str]) -> Output {
        let path = self.write(target);
        let mut args = vec![
            path.to_str().expect("utf-8 path"),
            "--json",
            "--no-progress",
        ];
        args.extend_from_slice(extra);
        self.command("apply", &args)
            .output()
            .expect("run osb apply")
    }

    /// `osb apply`, which must converge; its report.
    fn apply(&self, target: &Value) -> Value {
        let out = self.apply_with(target, &["--timeout", "90s"]);
        assert!(
            out.status.success(),
            "osb apply failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("apply report is JSON")
    }

    /// `osb apply --log-json` in the background, its stderr lines on a channel.
    fn spawn_apply(&self, target: &Value) -> (Child, mpsc::Receiver<String>) {
        let path = self.write(target);
        let mut child = self
            .command(
                "apply",
                &[
                    path.to_str().expect("utf-8 path"),
                    "--no-progress",
                    "--log-json",
                    "--timeout",
                    "90s",
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn osb apply");
        let stderr = child.stderr.take().expect("piped stderr");
        (child, lines(stderr))
    }

    /// `osb apply --json` of `target` under the device config `config`
    /// (TOML, written to `device.toml` in the test's directory).
    fn apply_under(&self, target: &Value, config: &str) -> Output {
        let config_path = self.dir.path().join("device.toml");
        std::fs::write(&config_path, config).expect("write device config");
        let path = self.write(target);
        self.command(
            "apply",
            &[
                path.to_str().expect("utf-8 path"),
                "--json",
                "--no-progress",
                "--timeout",
                "60s",
            ],
        )
        .arg("--config")
        .arg(&config_path)
        .output()
        .expect("run osb apply")
    }

    /// The executor as a library caller drives it: an `Applier` over this
    /// test's state and instance, its settings changed by `adjust`,
    /// handed to `run` on a runtime of its own.
    fn with_applier<T>(
        &self,
        adjust: impl FnOnce(&mut osb_runtime::apply::ApplySettings),
        run: impl AsyncFnOnce(&osb_runtime::apply::Applier) -> T,
    ) -> T {
        use osb_runtime::apply::{Applier, ApplySettings, progress::ProgressOutput};
        let mut settings = ApplySettings::new(self.state());
        settings.instance = self.scope.instance().to_owned();
        adjust(&mut settings);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(async {
                let applier = Applier::connect(settings, ProgressOutput::Log)
                    .await
                    .expect("the engine");
                run(&applier).await
            })
    }

    fn status(&self) -> Value {
        let out = self
            .command("status", &["--json"])
            .output()
            .expect("run osb status");
        assert!(
            out.status.success(),
            "osb status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status is JSON")
    }
}

/// Reads a child's output lines on a thread, so a test can wait for one
/// with a timeout.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits up to `limit` for `check` to hold, polling.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    check()
}

/// `docker inspect` of one container.
fn inspect(container: &str) -> Value {
    let out = osb_test_docker::run(&["inspect", "--type", "container", container]);
    let mut described: Vec<Value> = serde_json::from_str(&out).expect("docker inspect gives JSON");
    assert_eq!(described.len(), 1, "{container}: {out}");
    described.remove(0)
}

/// The steps of an apply report, in order.
fn steps(report: &Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The position of the first step starting with `prefix`.
fn position(steps: &[String], prefix: &str) -> usize {
    steps
        .iter()
        .position(|s| s.starts_with(prefix))
        .unwrap_or_else(|| panic!("no step '{prefix}' in {steps:#?}"))
}

/// `<app>/<block>@<release> <state>` of each of the scope's containers,
/// sorted.
fn running(osb: &Osb) -> Vec<String> {
    let mut all: Vec<String> = osb
        .scope
        .containers()
        .iter()
        .map(|c| {
            format!(
                "{}/{}@{} {}",
                c.labels.get("io.osb.app").map_or("?", String::as_str),
                c.labels.get("io.osb.block").map_or("?", String::as_str),
                c.labels.get("io.osb.release").map_or("?", String::as_str),
                c.state
            )
        })
        .collect();
    all.sort();
    all
}
