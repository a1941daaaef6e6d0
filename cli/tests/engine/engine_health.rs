//! `osb daemon` watches the engine's health: an engine stopped under it is
//! reported unhealthy by `osb status` (which says so instead of failing
//! with only a connection error), the configured recovery command runs
//! after the configured number of failed pings and brings the engine back,
//! and the daemon converges the blocks again.
//!
//! Stopping the engine that the other tests share would break them, so
//! this test runs a dockerd of its own, on a socket and data root in a
//! temporary directory, and points the daemon at it with `DOCKER_HOST`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Osb, eventually, target};

/// A dockerd of this test's own: started and restarted by a script (the
/// recovery command runs the same one), stopped through its pid file.
struct PrivateEngine {
    dir: tempfile::TempDir,
}

impl PrivateEngine {
    /// `None` (after a notice) when this is not root or there is no
    /// dockerd, outside CI; a panic under CI.
    fn start() -> Option<PrivateEngine> {
        let dockerd = which("dockerd").or_else(|| {
            let sbin = PathBuf::from("/usr/sbin/dockerd");
            sbin.is_file().then_some(sbin)
        });
        let dockerd = match (is_root(), dockerd) {
            (true, Some(path)) => path,
            (root, _) => {
                let why = if root {
                    "no dockerd on this machine"
                } else {
                    "a private dockerd needs root"
                };
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{why}: the engine health test cannot run under CI"
                );
                eprintln!("skipping the engine health test: {why}");
                return None;
            }
        };
        // Short: the engine's sockets live under it, and a Unix socket's
        // path has at most 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("osbh")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let d = dir.path().display();
        let dockerd = dockerd.display();
        // In a network namespace of its own: a second engine started with
        // `--bridge none` removes the host's `docker0`, and with it the
        // network of every container the shared engine starts for the
        // other tests.
        let script = format!(
            "#!/bin/sh\n\
             unshare --net {dockerd} --host unix://{d}/d.sock --data-root {d}/data --exec-root {d}/x \
             --pidfile {d}/d.pid --bridge none --iptables=false --ip-masq=false \
             </dev/null >>{d}/dockerd.log 2>&1 &\n"
        );
        write_script(&dir.path().join("start-engine"), &script);
        write_script(
            &dir.path().join("recover"),
            &format!("#!/bin/sh\necho ran >> {d}/recovered\nexec {d}/start-engine\n"),
        );
        let engine = PrivateEngine { dir };
        engine.run_start();
        Some(engine)
    }

    fn run_start(&self) {
        let started = Command::new(self.dir.path().join("start-engine"))
            .status()
            .expect("run start-engine");
        assert!(started.success());
        let up = eventually(Duration::from_secs(60), || {
            self.docker(&["version"]).status.success()
        });
        assert!(up, "the private dockerd did not start:\n{}", self.log());
    }

    fn host(&self) -> String {
        format!("unix://{}/d.sock", self.dir.path().display())
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// Copies `image` from the shared engine into this one (it has none,
    /// and no registry to pull from).
    fn load(&self, image: &str) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker save {image} | docker -H {} load",
                self.host()
            ))
            .output()
            .expect("docker save | docker load");
        assert!(
            out.status.success(),
            "loading {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The recovery command: marks that it ran, then starts the engine.
    fn recover_command(&self) -> PathBuf {
        self.dir.path().join("recover")
    }

    fn recovery_runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("recovered"))
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("d.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops the engine as a service manager does (SIGTERM: it stops its
    /// containers) and waits until it is gone; whether it went.
    fn stop(&self) -> bool {
        let Some(pid) = self.pid() else {
            return true;
        };
        let alive = || Path::new(&format!("/proc/{pid}")).exists();
        signal("TERM", pid);
        if eventually(Duration::from_secs(40), || !alive()) {
            return true;
        }
        signal("KILL", pid);
        eventually(Duration::from_secs(10), || !alive());
        false
    }

    /// `state` of each container of `instance`, in this engine.
    fn states(&self, instance: &str) -> Vec<String> {
        let out = self.docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=io.osb.runtime={instance}"),
            "--format",
            "{{.State}}",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn log(&self) -> String {
        tail(&self.dir.path().join("dockerd.log"))
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        self.stop();
    }
}

/// Whether this process's real uid is 0.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

/// The last 4000 bytes of a log, for a failure message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let from = text.len().saturating_sub(4000);
    let from = (from..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text[from..].to_owned()
}

/// `osb status --json` against the private engine: whether it succeeded,
/// its stdout as JSON (`Null` if none), and its stderr.
fn status(osb: &Osb, engine: &PrivateEngine, config: &Path) -> (bool, Value, String) {
    let out = osb
        .command("status", &["--json"])
        .arg("--config")
        .arg(config)
        .env("DOCKER_HOST", engine.host())
        .output()
        .expect("run osb status");
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_stopped_engine_is_reported_unhealthy_recovered_and_converged_again() {
    let Some(osb) = Osb::new("engine-health") else {
        return;
    };
    let bridge = Path::new("/sys/class/net/docker0");
    let had_bridge = bridge.exists();
    let Some(engine) = PrivateEngine::start() else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    engine.load(&image);
    let config = osb.dir.path().join("device.toml");
    std::fs::write(
        &config,
        format!(
            "[engine]\n\
             health_interval = \"1s\"\n\
             ping_timeout = \"500ms\"\n\
             failures_before_recovery = 4\n\
             recovery_command = [\"{}\"]\n\
             recovery_timeout = \"30s\"\n",
            engine.recover_command().display()
        ),
    )
    .expect("write device config");
    let t = target(
        "enghealth",
        "1.0.0",
        json!({"app": {
            "image": image,
            "command": ["sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"]
        }}),
        json!({}),
    );
    let path = osb.write(&t);
    let plugins = osb.dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let log_path = osb.dir.path().join("daemon.log");
    let daemon = osb
        .command(
            "daemon",
            &[
                "--plugin-dir",
                plugins.to_str().expect("utf-8"),
                "--target",
                path.to_str().expect("utf-8"),
            ],
        )
        .arg("--config")
        .arg(&config)
        .env("DOCKER_HOST", engine.host())
        .env("RUST_LOG", "osb_runtime=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("daemon log"))
        .spawn()
        .expect("spawn osb daemon");
    let instance = osb.scope.instance().to_owned();
    let running = || engine.states(&instance) == ["running"];
    let daemon_log = || tail(&log_path);

    // Converged, and the engine healthy in the daemon's eyes.
    let mut seen = Value::Null;
    let up = eventually(Duration::from_secs(60), || {
        let (ok, report, _) = status(&osb, &engine, &config);
        seen = report;
        ok && running() && seen["engine"]["state"] == "healthy"
    });
    if !up {
        super::daemon::stop(daemon);
        panic!(
            "the daemon did not converge on the private engine: {seen:#}\n{}",
            daemon_log()
        );
    }
    assert!(seen["engine"]["daemon_pid"].is_u64(), "{seen:#}");
    assert_eq!(seen["engine"]["consecutive_failures"], 0, "{seen:#}");

    // The engine stops under the daemon: `osb status` fails, naming the
    // engine, and shows the daemon's count of failed pings.
    let stopped = engine.stop();
    let mut down = (true, Value::Null, String::new());
    let reported = eventually(Duration::from_secs(30), || {
        down = status(&osb, &engine, &config);
        let (ok, report, _) = &down;
        !ok && report["engine"]["state"] == "unhealthy"
            && report["engine"]["consecutive_failures"].as_u64() >= Some(2)
    });
    // The recovery command runs after four failures, brings the engine
    // back, and the daemon converges again.
    let mut again = Value::Null;
    let back = eventually(Duration::from_secs(120), || {
        let (ok, report, _) = status(&osb, &engine, &config);
        again = report;
        ok && running() && again["converged"] == true && again["engine"]["state"] == "healthy"
    });
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let runs = engine.recovery_runs();
    let daemon_stopped = super::daemon::stop(daemon);
    assert!(stopped, "the private dockerd did not stop on SIGTERM");
    let (_, down_report, down_err) = &down;
    assert!(
        reported,
        "osb status did not report the engine unhealthy: {down_report:#}\n{down_err}\n{}",
        daemon_log()
    );
    assert!(
        down_err.contains("the container engine does not answer") && down_err.contains("unhealthy"),
        "{down_err}"
    );
    assert!(
        down_report["error"]
            .as_str()
            .is_some_and(|e| e.contains("d.sock")),
        "{down_report:#}"
    );
    assert!(
        down_report["engine"]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{down_report:#}"
    );
    assert!(
        back,
        "the daemon did not converge again: {again:#}\n{}\n{}",
        daemon_log(),
        engine.log()
    );
    assert!(
        runs >= 1,
        "the recovery command never ran:\n{}",
        daemon_log()
    );
    let recovery = &again["engine"]["last_recovery"];
    assert_eq!(recovery["outcome"], "exited 0", "{again:#}");
    assert_eq!(recovery["success"], true, "{again:#}");
    assert_eq!(
        again["engine"]["recovery_runs"].as_u64(),
        Some(runs as u64),
        "{again:#}"
    );
    // Said on each change, not on each ping.
    for (line, times) in [
        ("engine: unhealthy", 1),
        ("engine: running the recovery command", runs),
        ("engine: healthy", 2),
    ] {
        assert_eq!(
            log.matches(line).count(),
            times,
            "'{line}':\n{}",
            daemon_log()
        );
    }
    assert!(daemon_stopped, "the daemon did not stop on SIGINT");
    assert!(
        !had_bridge || bridge.exists(),
        "the private engine removed the shared engine's docker0 bridge"
    );
}
