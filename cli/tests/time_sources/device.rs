//! A device for `osb time`: a plugin directory of real time-source
//! packages, renamed and pointed at the test's servers, and the device
//! config that grants them those servers; and running the real `osb`
//! binary over it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use osb_plugin_host::{Package, SecretKey};
use serde_json::Value;
use toml::{Table, Value as Toml};

use crate::dates;

/// How long one plugin call may take. The plugins' own budgets stay their
/// defaults (800 ms): this only keeps a test machine busy with other tests
/// from turning a slow call into a deadline failure.
const CALL_TIMEOUT_MS: i64 = 5000;

pub struct Device {
    dir: tempfile::TempDir,
    plugins: PathBuf,
    config: Table,
}

/// One `osb time` run, with the machine's clock read around it.
pub struct Run {
    pub success: bool,
    /// Parsed from stdout (`--json`); `Null` when nothing was printed.
    pub report: Value,
    pub stderr: String,
    /// The system clock just before the process started and just after it
    /// ended, in nanoseconds since the epoch.
    pub before: i128,
    pub after: i128,
}

fn string_array<I: IntoIterator<Item = String>>(items: I) -> Toml {
    Toml::Array(items.into_iter().map(Toml::String).collect())
}

fn table<const N: usize>(entries: [(&str, Toml); N]) -> Table {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// `https://127.0.0.1:4443/time` → `https://127.0.0.1:4443/`.
fn url_prefix(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}/")
}

impl Device {
    /// Development mode, so the unsigned test packages load.
    pub fn new() -> Device {
        let dir = tempfile::tempdir().expect("device directory");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).expect("plugin directory");
        let config = table([("development", Toml::Boolean(true))]);
        Device {
            dir,
            plugins,
            config,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a CA certificate file to `[http] ca_files`.
    pub fn trust_ca(&mut self, file: &Path) -> &mut Device {
        let http = self
            .config
            .entry("http")
            .or_insert_with(|| Toml::Table(Table::new()))
            .as_table_mut()
            .expect("[http] is a table");
        http.entry("ca_files")
            .or_insert_with(|| Toml::Array(Vec::new()))
            .as_array_mut()
            .expect("ca_files is an array")
            .push(Toml::String(file.display().to_string()));
        self
    }

    /// Copies the built package `package` into the plugin directory as
    /// `name` (the manifest's `name` and the component's file name follow),
    /// with `capabilities` requested in place of the manifest's, and the
    /// same granted by the device config with `config`.
    fn install(&mut self, package: &str, name: &str, capabilities: Table, config: Table) {
        let from = osb_test_artifacts::package(package);
        let to = self.plugins.join(name);
        std::fs::create_dir_all(&to).expect("package directory");
        let manifest_text =
            std::fs::read_to_string(from.join("plugin.toml")).expect("read the manifest");
        let mut manifest: Table = toml::from_str(&manifest_text).expect("parse the manifest");
        manifest.insert("name".to_owned(), Toml::String(name.to_owned()));
        manifest.insert("capabilities".to_owned(), Toml::Table(capabilities.clone()));
        std::fs::write(
            to.join("plugin.toml"),
            toml::to_string(&manifest).expect("serialise the manifest"),
        )
        .expect("write the manifest");
        std::fs::copy(
            from.join(format!("{package}.wasm")),
            to.join(format!("{name}.wasm")),
        )
        .expect("copy the component");
        let settings = table([
            ("grants", Toml::Table(capabilities)),
            ("config", Toml::Table(config)),
            (
                "limits",
                Toml::Table(table([("call_timeout_ms", Toml::Integer(CALL_TIMEOUT_MS))])),
            ),
        ]);
        self.config
            .entry("plugins")
            .or_insert_with(|| Toml::Table(Table::new()))
            .as_table_mut()
            .expect("[plugins] is a table")
            .insert(name.to_owned(), Toml::Table(settings));
    }

    /// `time-https` as `name`, asking `urls` (each also requested and
    /// granted, as its scheme, host and port).
    pub fn https(&mut self, name: &str, urls: &[String]) -> &mut Device {
        let mut prefixes: Vec<String> = urls.iter().map(|u| url_prefix(u)).collect();
        prefixes.dedup();
        self.install(
            "time-https",
            name,
            table([("http", string_array(prefixes))]),
            table([("urls", Toml::String(urls.join(" ")))]),
        );
        self
    }

    /// `time-ntp` as `name`, asking `servers` over UDP.
    pub fn ntp(&mut self, name: &str, servers: &[SocketAddr]) -> &mut Device {
        let net = servers
            .iter()
            .map(|addr| {
                Toml::Table(table([
                    ("addr", Toml::String(addr.to_string())),
                    ("protocol", Toml::String("udp".to_owned())),
                ]))
            })
            .collect();
        let list: Vec<String> = servers.iter().map(SocketAddr::to_string).collect();
        self.install(
            "time-ntp",
            name,
            table([("net", Toml::Array(net))]),
            table([("servers", Toml::String(list.join(" ")))]),
        );
        self
    }

    /// `time-fake-hwclock` as `name`, with `saved` (Unix seconds) in its
    /// state file; returns the state file.
    pub fn fake_hwclock(&mut self, name: &str, saved: i64) -> PathBuf {
        let state = self.dir.path().join(format!("{name}-state"));
        std::fs::create_dir_all(&state).expect("state directory");
        let file = state.join("fake-hwclock");
        std::fs::write(&file, format!("{saved}\n")).expect("write the saved time");
        let fs = Toml::Array(vec![Toml::Table(table([
            ("host", Toml::String(state.display().to_string())),
            ("guest", Toml::String("/data".to_owned())),
            ("mode", Toml::String("rw".to_owned())),
        ]))]);
        self.install("time-fake-hwclock", name, table([("fs", fs)]), Table::new());
        file
    }

    /// `time-build-floor` as `name`, built at `build_time` (Unix seconds),
    /// from its config: it needs no file.
    pub fn build_floor(&mut self, name: &str, build_time: i64) -> &mut Device {
        self.install(
            "time-build-floor",
            name,
            Table::new(),
            table([("build_time", Toml::String(build_time.to_string()))]),
        );
        self
    }

    /// The test probe as `name`, answering `[earliest, latest]` (whole Unix
    /// seconds, `None` unbounded) whatever the time: a source that lies as
    /// told.
    pub fn probe(&mut self, name: &str, earliest: Option<i64>, latest: Option<i64>) -> &mut Device {
        let mut config = table([("mode", Toml::String("interval".to_owned()))]);
        for (key, end) in [("earliest", earliest), ("latest", latest)] {
            if let Some(seconds) = end {
                config.insert(key.to_owned(), Toml::String(seconds.to_string()));
            }
        }
        self.install("osb-test-probe", name, Table::new(), config);
        self
    }

    /// Signs the installed package `name` with `key`, and trusts the key:
    /// the package's origin is then the key, as for a vendor's packages.
    pub fn sign(&mut self, name: &str, key: &SecretKey) -> &mut Device {
        let package = Package::read(&self.plugins.join(name)).expect("an installed package");
        std::fs::write(package.signature_path(), key.sign(&package.digest))
            .expect("write the signature");
        let public = Toml::String(key.public().to_string());
        let keys = self
            .config
            .entry("trusted_keys")
            .or_insert_with(|| Toml::Array(Vec::new()))
            .as_array_mut()
            .expect("trusted_keys is an array");
        if !keys.contains(&public) {
            keys.push(public);
        }
        self
    }

    /// Sets `key` in the device config's `[time]` section.
    pub fn time_setting(&mut self, key: &str, value: Toml) -> &mut Device {
        self.config
            .entry("time")
            .or_insert_with(|| Toml::Table(Table::new()))
            .as_table_mut()
            .expect("[time] is a table")
            .insert(key.to_owned(), value);
        self
    }

    /// Writes the device config; returns its path.
    fn write_config(&self) -> PathBuf {
        let config = self.dir.path().join("device.toml");
        std::fs::write(
            &config,
            toml::to_string(&self.config).expect("serialise the device config"),
        )
        .expect("write the device config");
        config
    }

    /// `osb daemon` over this device, its state in `state` (also the
    /// device config's `state_dir`, where `osb time` looks for it), its log
    /// (at `info`) in `state/daemon.log`, started through `wrapper` (a
    /// command and its arguments, the daemon's command line after them) if
    /// any.
    pub fn daemon(&mut self, state: &Path, wrapper: &[&str]) -> Daemon {
        self.config.insert(
            "state_dir".to_owned(),
            Toml::String(state.display().to_string()),
        );
        let config = self.write_config();
        std::fs::create_dir_all(state).expect("state directory");
        let log = state.join("daemon.log");
        let osb = env!("CARGO_BIN_EXE_osb");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(osb);
                c
            }
            None => Command::new(osb),
        };
        let child = command
            .arg("--config")
            .arg(&config)
            .arg("daemon")
            .arg("--plugin-dir")
            .arg(&self.plugins)
            .arg("--state-dir")
            .arg(state)
            .arg("--instance")
            .arg(format!("osb-test-{}", std::process::id()))
            .env_remove("OSB_CONFIG")
            .env_remove("OSB_DEVELOPMENT")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("daemon log file"))
            .spawn()
            .expect("spawn osb daemon");
        Daemon {
            child,
            log,
            report: state.join("time.json"),
        }
    }

    /// Runs `osb time --json` with `args` over this device, with the log
    /// at `warn` on stderr. Whatever the outcome, the process must have
    /// exited by itself and without a panic.
    pub fn time(&self, args: &[&str]) -> Run {
        let config = self.write_config();
        let before = dates::now();
        let out = Command::new(env!("CARGO_BIN_EXE_osb"))
            .arg("--config")
            .arg(&config)
            .arg("time")
            .arg("--plugin-dir")
            .arg(&self.plugins)
            .arg("--json")
            .args(args)
            .env_remove("OSB_CONFIG")
            .env_remove("OSB_DEVELOPMENT")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .output()
            .expect("run osb time");
        let after = dates::now();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.code().is_some() && !stderr.contains("panicked"),
            "osb time {args:?} crashed ({}):\n{stderr}",
            out.status
        );
        let report = if stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("osb time printed no JSON ({e}):\n{stdout}"))
        };
        Run {
            success: out.status.success(),
            report,
            stderr,
            before,
            after,
        }
    }
}

/// Polls `check` every 50 ms until it holds or `limit` passes; whether it
/// held.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `osb daemon`, stopped (SIGINT, then killed) when dropped.
pub struct Daemon {
    child: std::process::Child,
    log: PathBuf,
    report: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The time report it published (`time.json`), once there is one.
    pub fn report(&self) -> Option<Value> {
        let text = std::fs::read(&self.report).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Stops it as a service manager would (SIGINT), then waits up to
    /// 10 s; whether it stopped by itself.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        eventually(Duration::from_secs(10), || self.exited())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Run {
    /// Fails the test, showing everything, unless `osb time` succeeded.
    pub fn ok(self) -> Run {
        assert!(self.success, "osb time failed:\n{}", self.stderr);
        self
    }

    pub fn state(&self) -> &str {
        self.report["state"].as_str().unwrap_or("(none)")
    }

    /// The estimate's ends, nanoseconds since the epoch; `None` when
    /// unbounded (or when there is no estimate).
    pub fn estimate(&self) -> (Option<i128>, Option<i128>) {
        let end = |key: &str| {
            self.report["estimate"][key]
                .as_str()
                .map(|t| dates::parse_rfc3339(t).unwrap_or_else(|| panic!("estimate.{key}: {t:?}")))
        };
        (end("earliest"), end("latest"))
    }

    /// The source named `name` in the report.
    pub fn source(&self, name: &str) -> &Value {
        self.report["sources"]
            .as_array()
            .and_then(|sources| sources.iter().find(|s| s["name"] == name))
            .unwrap_or_else(|| panic!("no source {name} in {:#}", self.report))
    }

    /// The sources' own interval ends, as [`Run::estimate`].
    pub fn source_interval(&self, name: &str) -> (Option<i128>, Option<i128>) {
        let source = self.source(name);
        let end = |key: &str| {
            source[key]
                .as_str()
                .map(|t| dates::parse_rfc3339(t).unwrap_or_else(|| panic!("{key}: {t:?}")))
        };
        (end("earliest"), end("latest"))
    }

    /// The names of the sources rejected as false tickers.
    pub fn rejected(&self) -> Vec<&str> {
        self.report["sources"]
            .as_array()
            .map(|sources| {
                sources
                    .iter()
                    .filter(|s| s["rejected"] == true)
                    .filter_map(|s| s["name"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The estimate holds the true time: the machine's clock (which every
    /// server here serves) at the moment the estimate was made, somewhere
    /// between `before` and `after`. Both ends must be bounded.
    pub fn assert_estimate_holds_the_true_time(&self) {
        let (earliest, latest) = self.estimate();
        let (Some(earliest), Some(latest)) = (earliest, latest) else {
            panic!("the estimate is not bounded: {:#}", self.report);
        };
        assert!(
            earliest <= self.after && latest >= self.before,
            "the estimate [{earliest}, {latest}] misses the true time, somewhere in [{}, {}]: {:#}",
            self.before,
            self.after,
            self.report
        );
    }

    /// The estimate's width in nanoseconds (both ends bounded).
    pub fn width(&self) -> i128 {
        match self.estimate() {
            (Some(earliest), Some(latest)) => latest - earliest,
            _ => panic!("the estimate is not bounded: {:#}", self.report),
        }
    }

    /// The clock's offset from the system clock, in milliseconds.
    pub fn offset_ms(&self) -> f64 {
        self.report["clock"]["offset_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("no clock offset in {:#}", self.report))
    }

    /// The log lines (stderr) holding every one of `needles`.
    pub fn log_lines_with(&self, needles: &[&str]) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .collect()
    }
}
