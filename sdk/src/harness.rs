//! Host-side test harness: `cargo test` a plugin against a fake device.
//!
//! The harness builds the calling crate for `wasm32-wasip2`, packages it
//! with its own `plugin.toml`, and runs it under the real OSB plugin host
//! (the same sandbox, deadlines and grants as on a device). Each `fs`
//! request gets a fresh temporary directory, or a directory the test
//! prepared ([`Harness::grant_dir`]), HTTP answers come from a table
//! and devices follow a script, so the test controls everything the plugin
//! can see; a test may instead give a device a real endpoint (a simulator
//! it started, with [`Harness::device_endpoint`]). UDP goes out for real, to addresses the manifest lists or the
//! test grants with [`Harness::grant_udp`] (a test server on loopback).
//!
//! ```no_run
//! # fn main() -> Result<(), String> {
//! use osb_sdk::harness::Harness;
//! let plugin = Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
//!     .config("path", "/data/clock")
//!     .start()?;
//! let saved = plugin.call("observe", serde_json::json!({"seconds": 1_700_000_000, "nanoseconds": 0}))?;
//! assert_eq!(saved["ok"], serde_json::Value::Null);
//! let clock_dir = plugin.fs_dir("/data").expect("the manifest asks for /data");
//! assert!(clock_dir.join("clock").exists());
//! # Ok(()) }
//! ```

pub mod conformance;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use osb_plugin_host::host_api::device::{DeviceProvider, DeviceTable, DeviceTransport};

/// Where a device lives, for [`Harness::device_endpoint`]: the device
/// config's `[devices]` entry.
pub use osb_plugin_host::host_api::device::DeviceEndpoint;
use osb_plugin_host::host_api::http::HttpTransport;
use osb_plugin_host::manifest::NetCapability;
use osb_plugin_host::wit::latest::host::osb::plugin::http::{HttpError, Request, Response};
use osb_plugin_host::{
    HostSettings, LimitOverrides, Manifest, NetProtocol, PluginHost, PluginName, PluginSettings,
    TrustPolicy,
};

/// One canned HTTP answer, for URLs starting with `prefix`.
struct CannedAnswer {
    prefix: String,
    reply: CannedReply,
}

/// Status and headers computed when a request arrives.
type ReplyFn = dyn Fn() -> (u16, Vec<(String, String)>) + Send + Sync;

enum CannedReply {
    Fixed {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Computed(Box<ReplyFn>),
}

/// Expected commands and their responses, in order.
type DeviceScript = VecDeque<(Vec<u8>, Vec<u8>)>;

/// A plugin under test, before it starts.
pub struct Harness {
    source: Source,
    config: BTreeMap<String, String>,
    http: Vec<CannedAnswer>,
    devices: BTreeMap<String, DeviceScript>,
    endpoints: BTreeMap<String, DeviceEndpoint>,
    udp: Vec<SocketAddr>,
    timeout: Option<Duration>,
    dirs: BTreeMap<String, PathBuf>,
}

enum Source {
    Crate { dir: PathBuf, package: String },
    Package(PathBuf),
}

/// A running plugin under test.
pub struct Running {
    host: PluginHost,
    name: PluginName,
    fs: BTreeMap<String, PathBuf>,
    // What `restart` needs to start the same package on the same state.
    package: PathBuf,
    settings: HostSettings,
    http: Arc<CannedHttp>,
    devices: Arc<ScriptedDevices>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// The plugin crate at `manifest_dir` (pass `env!("CARGO_MANIFEST_DIR")`
    /// and `env!("CARGO_PKG_NAME")`), built for wasm32-wasip2 on first use.
    pub fn for_crate(manifest_dir: &str, package: &str) -> Harness {
        Harness::new(Source::Crate {
            dir: manifest_dir.into(),
            package: package.to_owned(),
        })
    }

    /// An already built package directory (`plugin.toml` + `<name>.wasm`).
    pub fn for_package(dir: &Path) -> Harness {
        Harness::new(Source::Package(dir.to_owned()))
    }

    fn new(source: Source) -> Harness {
        Harness {
            source,
            config: BTreeMap::new(),
            http: Vec::new(),
            devices: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            udp: Vec::new(),
            timeout: None,
            dirs: BTreeMap::new(),
        }
    }

    /// Sets a config key, as the device config would.
    pub fn config(mut self, key: &str, value: &str) -> Harness {
        self.config.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Answers requests whose URL starts with `url_prefix` with this
    /// status, headers and body (first matching prefix wins).
    pub fn http_answer(
        mut self,
        url_prefix: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Harness {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.http.push(CannedAnswer {
            prefix: url_prefix.to_owned(),
            reply: CannedReply::Fixed {
                status,
                headers,
                body: body.to_vec(),
            },
        });
        self
    }

    /// Answers requests whose URL starts with `url_prefix` with the status
    /// and headers `answer` gives when the request arrives, and an empty
    /// body: for answers that depend on the moment, such as a server's
    /// `Date` (first matching prefix wins, among these and
    /// [`http_answer`](Harness::http_answer)'s). The response's `sent-at`
    /// is read just before `answer` runs and `received-at` just after, as a
    /// real exchange brackets the server's work.
    pub fn http_answer_with(
        mut self,
        url_prefix: &str,
        answer: impl Fn() -> (u16, Vec<(String, String)>) + Send + Sync + 'static,
    ) -> Harness {
        self.http.push(CannedAnswer {
            prefix: url_prefix.to_owned(),
            reply: CannedReply::Computed(Box::new(answer)),
        });
        self
    }

    /// Lets the plugin exchange UDP datagrams with `addr`, as if its
    /// manifest's `net` capability listed it and the device granted it: a
    /// test server binds an ephemeral port that no manifest can name.
    pub fn grant_udp(mut self, addr: SocketAddr) -> Harness {
        self.udp.push(addr);
        self
    }

    /// A device that expects these commands in order and gives these
    /// responses, across all the channels the plugin opens on it.
    pub fn device(mut self, name: &str, script: &[(&[u8], &[u8])]) -> Harness {
        let script = script
            .iter()
            .map(|(c, r)| (c.to_vec(), r.to_vec()))
            .collect();
        self.devices.insert(name.to_owned(), script);
        self
    }

    /// Grants the manifest's `fs` request for `guest` as the existing
    /// directory `host`, instead of a fresh empty one: for a plugin that
    /// must find a prepared tree (a fake sysfs) when it loads. The test
    /// keeps `host`; what lies beside it stays out of the plugin's reach.
    /// `start` fails if the manifest asks for no such guest path.
    pub fn grant_dir(mut self, guest: &str, host: &Path) -> Harness {
        self.dirs.insert(guest.to_owned(), host.to_owned());
        self
    }

    /// The device `name` at a real endpoint, as the device config's
    /// `[devices]` table would map it: the host's own transport (deadlines,
    /// framing, the loopback rule) speaks to whatever listens there, such
    /// as a TPM simulator the test started. A script for the same name
    /// ([`device`](Harness::device)) wins.
    pub fn device_endpoint(mut self, name: &str, endpoint: DeviceEndpoint) -> Harness {
        self.endpoints.insert(name.to_owned(), endpoint);
        self
    }

    /// The call deadline (default: the runtime's, one second).
    pub fn timeout(mut self, timeout: Duration) -> Harness {
        self.timeout = Some(timeout);
        self
    }

    /// Builds (if needed), packages and loads the plugin, granting all it
    /// requests: `fs` as fresh temporary directories (or those given to
    /// [`grant_dir`](Harness::grant_dir)), the rest as asked.
    pub fn start(self) -> Result<Running, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (manifest_path, wasm) = match &self.source {
            Source::Package(p) => {
                let m = p.join("plugin.toml");
                let text =
                    std::fs::read_to_string(&m).map_err(|e| format!("{}: {e}", m.display()))?;
                let manifest =
                    Manifest::parse(&text).map_err(|e| format!("{}: {e}", m.display()))?;
                (m, p.join(format!("{}.wasm", manifest.name)))
            }
            Source::Crate { dir, package } => (dir.join("plugin.toml"), build_crate(dir, package)?),
        };
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        let mut manifest =
            Manifest::parse(&text).map_err(|e| format!("{}: {e}", manifest_path.display()))?;

        let mut fs = BTreeMap::new();
        for (i, req) in manifest.capabilities.fs.iter_mut().enumerate() {
            let host = match self.dirs.get(&req.guest) {
                Some(prepared) => prepared.clone(),
                None => {
                    let fresh = dir.path().join(format!("fs{i}"));
                    std::fs::create_dir_all(&fresh).map_err(|e| e.to_string())?;
                    fresh
                }
            };
            req.host = host.clone();
            fs.insert(req.guest.clone(), host);
        }
        if let Some(guest) = self.dirs.keys().find(|guest| !fs.contains_key(*guest)) {
            return Err(format!("grant_dir: the manifest asks for no fs '{guest}'"));
        }
        manifest
            .capabilities
            .net
            .extend(self.udp.iter().map(|&addr| NetCapability {
                addr,
                protocol: NetProtocol::Udp,
            }));
        let pkg = dir.path().join("package");
        std::fs::create_dir_all(&pkg).map_err(|e| e.to_string())?;
        let manifest_text = toml::to_string(&manifest).map_err(|e| e.to_string())?;
        std::fs::write(pkg.join("plugin.toml"), manifest_text).map_err(|e| e.to_string())?;
        std::fs::copy(&wasm, pkg.join(format!("{}.wasm", manifest.name)))
            .map_err(|e| format!("{}: {e}", wasm.display()))?;

        let settings = PluginSettings {
            grants: manifest.capabilities.clone(),
            config: self.config.clone(),
            limits: LimitOverrides {
                call_timeout_ms: self.timeout.map(|t| t.as_millis() as u32),
                ..LimitOverrides::default()
            },
            ..PluginSettings::default()
        };
        let host_settings = HostSettings {
            trust: TrustPolicy {
                trusted_keys: Vec::new(),
                development: true,
            },
            plugins: [(manifest.name.clone(), settings)].into(),
            state_dir: Some(dir.path().join("state")),
            ..HostSettings::default()
        };
        let http = Arc::new(CannedHttp(self.http));
        let devices = Arc::new(ScriptedDevices {
            scripts: Mutex::new(
                self.devices
                    .into_iter()
                    .map(|(name, script)| (name, Arc::new(Mutex::new(script))))
                    .collect(),
            ),
            real: DeviceTable(self.endpoints),
        });
        let host = load(&host_settings, &http, &devices, &pkg)?;
        Ok(Running {
            host,
            name: manifest.name,
            fs,
            package: pkg,
            settings: host_settings,
            http,
            devices,
            _dir: dir,
        })
    }
}

/// A new host with these settings, with `package` loaded (and so
/// self-checked).
fn load(
    settings: &HostSettings,
    http: &Arc<CannedHttp>,
    devices: &Arc<ScriptedDevices>,
    package: &Path,
) -> Result<PluginHost, String> {
    let host = PluginHost::with_transports(settings.clone(), http.clone(), devices.clone())
        .map_err(|e| e.to_string())?;
    host.load(package).map_err(|e| e.to_string())?;
    Ok(host)
}

impl Running {
    /// Calls an export by name with JSON arguments, as `osb plugin call`
    /// does: `{"ok": ...}` or `{"error": {"code", "message"}}`. A trap,
    /// deadline or memory cap is the `Err`.
    pub fn call(
        &self,
        function: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.host
            .call_json(&self.name, function, &args)
            .map_err(|e| e.to_string())
    }

    /// Stops the plugin and its host, then starts both again as a device
    /// restart would: a new host and a new instance (self-checked again)
    /// on the same state directory (the same kv data), grants, config and
    /// fakes. The device scripts are not rewound.
    pub fn restart(self) -> Result<Running, String> {
        let Running {
            host,
            name,
            fs,
            package,
            settings,
            http,
            devices,
            _dir,
        } = self;
        // The old host holds the kv store open: it goes before the new one
        // opens it.
        drop(host);
        let host = load(&settings, &http, &devices, &package)?;
        Ok(Running {
            host,
            name,
            fs,
            package,
            settings,
            http,
            devices,
            _dir,
        })
    }

    /// The host directory behind a guest path the manifest asked for.
    pub fn fs_dir(&self, guest: &str) -> Option<&Path> {
        self.fs.get(guest).map(PathBuf::as_path)
    }

    /// The directory holding the grants' directories, the package and the
    /// host's state: what the plugin must never reach beyond its grants.
    fn root(&self) -> &Path {
        self._dir.path()
    }

    /// The plugin's call deadline.
    fn call_timeout(&self) -> Duration {
        let ms = self
            .host
            .get(&self.name)
            .map_or(0, |p| p.limits().call_timeout_ms);
        Duration::from_millis(u64::from(ms))
    }

    /// Calls a time source's `sample`, reading the host clock just before
    /// and just after: the true time the answer must hold is in between.
    pub fn sample_timed(&self) -> Result<TimedSample, String> {
        let before = unix_nanos();
        let answer = self.call("sample", serde_json::Value::Null)?;
        Ok(TimedSample {
            answer,
            before,
            after: unix_nanos(),
        })
    }
}

/// A time source's answer (as [`Running::call`] gives it) and the host
/// clock around the call, in nanoseconds since the Unix epoch.
#[derive(Debug, Clone)]
pub struct TimedSample {
    /// `{"ok": {"interval", "detail"}}` or `{"error": ...}`.
    pub answer: serde_json::Value,
    /// The host clock just before the call.
    pub before: i128,
    /// The host clock just after the call.
    pub after: i128,
}

impl TimedSample {
    /// The answer's interval ends, in nanoseconds since the Unix epoch.
    /// Panics, showing the answer, when it holds no interval.
    pub fn interval(&self) -> (i128, i128) {
        let interval = &self.answer["ok"]["interval"];
        assert!(interval.is_object(), "no interval: {}", self.answer);
        (nanos(&interval["earliest"]), nanos(&interval["latest"]))
    }

    /// Asserts that the interval holds the host clock plus `skew_ms` at
    /// some moment of the call, and is at most `max_width_ms` wide.
    pub fn assert_holds(&self, skew_ms: i64, max_width_ms: i128) {
        let (earliest, latest) = self.interval();
        let skew = i128::from(skew_ms) * 1_000_000;
        assert!(
            earliest <= self.after + skew && self.before + skew <= latest,
            "{}: [{earliest}, {latest}] misses [{}, {}]",
            self.answer,
            self.before + skew,
            self.after + skew
        );
        assert!(
            latest - earliest <= max_width_ms * 1_000_000,
            "{}: {} ms wide",
            self.answer,
            (latest - earliest) / 1_000_000
        );
    }
}

/// The host clock, in nanoseconds since the Unix epoch.
pub fn unix_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// A WIT `timestamp` as JSON (`{"seconds", "nanoseconds"}`), in
/// nanoseconds since the Unix epoch. Panics on anything else: it is for
/// tests, like `assert!`.
#[allow(clippy::expect_used)]
pub fn nanos(timestamp: &serde_json::Value) -> i128 {
    let seconds = timestamp["seconds"].as_i64().expect("seconds");
    let nanoseconds = timestamp["nanoseconds"].as_u64().expect("nanoseconds");
    i128::from(seconds) * 1_000_000_000 + i128::from(nanoseconds)
}

/// Builds the crate once per test process into its own target directory
/// (the outer `cargo test` may still hold the main one).
fn build_crate(dir: &Path, package: &str) -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = harness_target_dir(dir);
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(dir)
                .args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip2",
                    "-p",
                    package,
                ])
                .arg("--target-dir")
                .arg(&target)
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_TARGET_DIR")
                .status()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !status.success() {
                return Err(format!("building {package} for wasm32-wasip2 failed"));
            }
            Ok(target
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", package.replace('-', "_"))))
        })
        .clone()
}

/// `<target>/osb-harness`, found from the test binary's own path
/// (`<target>/debug/deps/<test>`), or beside the crate.
fn harness_target_dir(crate_dir: &Path) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_owned))
        .unwrap_or_else(|| crate_dir.join("target"))
        .join("osb-harness")
}

struct CannedHttp(Vec<CannedAnswer>);

impl HttpTransport for CannedHttp {
    fn send(&self, request: &Request, _timeout: Duration) -> Result<Response, HttpError> {
        let now = || osb_plugin_host::host_api::http::timestamp(std::time::SystemTime::now());
        let answer = self
            .0
            .iter()
            .find(|a| request.url.starts_with(a.prefix.as_str()))
            .ok_or_else(|| HttpError::Transport(format!("no canned answer for {}", request.url)))?;
        let sent_at = now();
        let (status, headers, body) = match &answer.reply {
            CannedReply::Fixed {
                status,
                headers,
                body,
            } => (*status, headers.clone(), body.clone()),
            CannedReply::Computed(answer) => {
                let (status, headers) = answer();
                (status, headers, Vec::new())
            }
        };
        Ok(Response {
            status,
            headers,
            body,
            sent_at,
            received_at: now(),
        })
    }
}

/// Scripted devices, and real endpoints for names without a script.
struct ScriptedDevices {
    scripts: Mutex<BTreeMap<String, SharedScript>>,
    real: DeviceTable,
}

/// One device's script, consumed across every channel opened on it: a
/// plugin that opens a channel per command still meets the commands in
/// order.
type SharedScript = Arc<Mutex<VecDeque<(Vec<u8>, Vec<u8>)>>>;

impl DeviceProvider for ScriptedDevices {
    fn open(&self, name: &str) -> Result<Box<dyn DeviceTransport>, String> {
        let scripts = self
            .scripts
            .lock()
            .map_err(|_| "device script lock poisoned".to_owned())?;
        match scripts.get(name) {
            Some(script) => Ok(Box::new(Scripted(Arc::clone(script)))),
            None if self.real.0.contains_key(name) => self.real.open(name),
            None => Err(format!("no scripted device '{name}'")),
        }
    }
}

struct Scripted(SharedScript);

impl DeviceTransport for Scripted {
    fn transact(&mut self, command: &[u8], _timeout: Duration) -> Result<Vec<u8>, String> {
        let next = self
            .0
            .lock()
            .map_err(|_| "device script lock poisoned".to_owned())?
            .pop_front();
        match next {
            Some((expected, response)) if expected == command => Ok(response),
            Some((expected, _)) => Err(format!(
                "scripted device expected {expected:02x?}, got {command:02x?}"
            )),
            None => Err("scripted device has no more responses".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// A loopback server answering one TPM-shaped response per command.
    fn tpm_like() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut command = [0u8; 2];
            s.read_exact(&mut command).unwrap();
            s.write_all(&[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0, 0, command[0], command[1]])
                .unwrap();
        });
        addr
    }

    #[test]
    fn a_device_endpoint_serves_names_without_a_script() {
        let devices = ScriptedDevices {
            scripts: Mutex::new(
                [(
                    "scripted".to_owned(),
                    Arc::new(Mutex::new(
                        [
                            (b"a".to_vec(), b"b".to_vec()),
                            (b"c".to_vec(), b"d".to_vec()),
                        ]
                        .into(),
                    )),
                )]
                .into(),
            ),
            real: DeviceTable(
                [
                    ("real".to_owned(), DeviceEndpoint::Tcp(tpm_like())),
                    ("scripted".to_owned(), DeviceEndpoint::Tcp(tpm_like())),
                ]
                .into(),
            ),
        };
        let mut real = devices.open("real").unwrap();
        let answer = real.transact(b"hi", Duration::from_secs(1)).unwrap();
        assert_eq!(&answer[10..], b"hi");
        let mut scripted = devices.open("scripted").unwrap();
        assert_eq!(
            scripted.transact(b"a", Duration::from_secs(1)).unwrap(),
            b"b"
        );
        // The script goes on where the last channel left it.
        drop(scripted);
        let mut again = devices.open("scripted").unwrap();
        assert_eq!(again.transact(b"c", Duration::from_secs(1)).unwrap(), b"d");
        let err = devices.open("other").err().unwrap();
        assert!(err.contains("no scripted device 'other'"), "{err}");
    }
}
