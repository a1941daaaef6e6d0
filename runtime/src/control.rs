//! The daemon's control socket: how `osb device` reaches the board's
//! adapter while the daemon runs, and how `osb mode` learns the mode the
//! daemon runs in. The daemon owns the plugins (their
//! key-value store is open in it alone), so a command that needs a plugin
//! asks the daemon rather than loading a second copy.
//!
//! One JSON request a line, one JSON response a line, then the connection
//! closes. The socket is `<state dir>/control.sock`, mode 0600: only root
//! (who runs the daemon) may ask. What comes in is bounded like anything
//! from outside: a request line of at most [`MAX_REQUEST`] bytes, read
//! within [`READ_WITHIN`], at most [`CONNECTIONS`] served at once (the rest
//! are told so and closed); the answer comes from plugin calls that end at
//! their own deadlines.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use osb_plugin_host::PluginHost;

use crate::adapter::{Adapter, AdapterError, Sensor, escaped};
use crate::mode::{Mode, ModeHandle};

/// The socket's name in the state directory.
pub const SOCKET: &str = "control.sock";

/// A longer request line is refused.
pub const MAX_REQUEST: usize = 64 * 1024;

/// A longer answer line is cut (and then not read as an answer): the
/// largest is a device contract, at most `MAX_CONTRACT_BYTES`.
pub const MAX_ANSWER: usize = 2 * osb_contract::MAX_CONTRACT_BYTES;

/// A client that has not sent its whole request by then is dropped.
pub const READ_WITHIN: Duration = Duration::from_secs(5);

/// Connections served at once.
pub const CONNECTIONS: usize = 4;

/// Where the daemon of `state_dir` listens.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET)
}

/// A question for the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    // Empty braces, not unit variants: serde ignores unknown fields
    // beside the tag of a unit variant, and a request is parsed strictly.
    /// The adapter and its device contract.
    DeviceInfo {},
    /// The adapter's sensors, each with its reading; only those named in
    /// `ids`, in that order, when it is not empty, so that a script
    /// polling one sensor does not read them all.
    Sensors {
        /// The sensors to read; empty for all.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ids: Vec<String>,
    },
    /// The adapter's controls.
    Controls {},
    /// Sets a control.
    SetControl {
        /// The control.
        id: String,
        /// Its new value.
        value: String,
    },
    /// The mode the daemon runs in, and the plugins it runs unsigned
    /// ([`ModeAnswer`]).
    Mode {},
}

/// The answer to [`Request::Mode`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeAnswer {
    /// The mode everything the daemon governs has switched to.
    pub mode: Mode,
    /// The loaded plugins that run unsigned, in name order: none in
    /// production.
    pub unsigned_plugins: Vec<String>,
}

/// What the socket answers from besides the adapter: the daemon's own
/// state.
#[derive(Clone)]
pub struct DaemonState {
    /// The daemon's mode.
    pub mode: ModeHandle,
    /// The daemon's plugins.
    pub host: Arc<PluginHost>,
}

impl std::fmt::Debug for DaemonState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonState")
            .field("mode", &self.mode.current())
            .field("plugins", &self.host.names())
            .finish()
    }
}

impl DaemonState {
    /// What [`Request::Mode`] is answered.
    pub fn mode(&self) -> ModeAnswer {
        ModeAnswer {
            mode: self.mode.current(),
            unsigned_plugins: self
                .host
                .unsigned()
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    /// What was asked for.
    Ok(Value),
    /// Why not, in words.
    Error(String),
}

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No daemon listens on the state directory's socket.
    #[error("no daemon listens on '{}'", path.display())]
    NoDaemon {
        /// The socket.
        path: PathBuf,
    },
    /// The exchange failed.
    #[error("asking the daemon on '{}': {reason}", path.display())]
    Exchange {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Answers `request` from `adapter` (blocking: plugin calls). The daemon
/// and a command run without a daemon answer alike; only the daemon has a
/// mode to tell ([`DaemonState::mode`]).
pub fn answer(adapter: &Adapter, request: &Request) -> Response {
    let result = match request {
        Request::Mode {} => {
            return Response::Error("only a running daemon answers its mode".to_owned());
        }
        Request::DeviceInfo {} => adapter.version().and_then(|(name, version)| {
            let contract = adapter.contract()?;
            Ok(json!({
                "adapter": name.to_string(),
                "version": version.to_string(),
                "contract": contract.to_json(),
            }))
        }),
        Request::Sensors { ids } => adapter
            .sensors()
            .and_then(|sensors| chosen(sensors, ids))
            .map(|sensors| {
                let readings: Vec<Value> = sensors
                    .into_iter()
                    .map(|s| {
                        let reading = match adapter.read(&s.id) {
                            Ok(value) => json!({ "value": value }),
                            Err(e) => json!({ "error": e.to_string() }),
                        };
                        let mut entry =
                            json!({ "id": s.id, "description": s.description, "unit": s.unit });
                        if let (Some(entry), Some(reading)) =
                            (entry.as_object_mut(), reading.as_object())
                        {
                            entry.extend(reading.clone());
                        }
                        entry
                    })
                    .collect();
                Value::Array(readings)
            }),
        Request::Controls {} => adapter.controls().map(|c| json!(c)),
        Request::SetControl { id, value } => adapter.set(id, value).map(|()| Value::Null),
    };
    match result {
        Ok(value) => Response::Ok(value),
        Err(e) => Response::Error(e.to_string()),
    }
}

/// The sensors named in `ids`, in that order (all of them when `ids` is
/// empty); an id the adapter does not list is an error naming it, before
/// anything is read.
fn chosen(sensors: Vec<Sensor>, ids: &[String]) -> Result<Vec<Sensor>, AdapterError> {
    if ids.is_empty() {
        return Ok(sensors);
    }
    ids.iter()
        .map(|id| {
            sensors
                .iter()
                .find(|s| &s.id == id)
                .cloned()
                .ok_or_else(|| AdapterError::UnknownSensor { id: escaped(id) })
        })
        .collect()
}

/// Listens on `state_dir`'s socket: a stale socket file (a daemon killed)
/// is replaced, and the new one is made root's alone before anyone is
/// served.
pub fn bind(state_dir: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(state_dir);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the socket for as long as the daemon runs.
pub async fn serve(listener: UnixListener, adapter: Adapter, daemon: DaemonState) {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "control socket: cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let adapter = adapter.clone();
        tokio::spawn(serve_one(stream, adapter, daemon.clone(), slot));
    }
}

async fn refuse(mut stream: UnixStream) {
    let busy = Response::Error(format!(
        "the daemon is answering {CONNECTIONS} requests already; ask again"
    ));
    let _ = write_line(&mut stream, &busy).await;
    drain(&mut stream).await;
}

/// Answers one connection; `slot` is given back before the answer is
/// written, so a client that has its answer finds the slot free.
async fn serve_one(
    mut stream: UnixStream,
    adapter: Adapter,
    daemon: DaemonState,
    slot: tokio::sync::OwnedSemaphorePermit,
) {
    let response = match tokio::time::timeout(READ_WITHIN, read_request(&mut stream)).await {
        Err(_) => Response::Error(format!(
            "no whole request within {} s",
            READ_WITHIN.as_secs()
        )),
        Ok(Err(reason)) => Response::Error(reason),
        Ok(Ok(Request::Mode {})) => match serde_json::to_value(daemon.mode()) {
            Ok(value) => Response::Ok(value),
            Err(e) => Response::Error(format!("cannot write the mode: {e}")),
        },
        Ok(Ok(request)) => {
            let span = tracing::info_span!("control", request = ?request);
            let _enter = span.enter();
            tokio::task::spawn_blocking(move || answer(&adapter, &request))
                .await
                .unwrap_or_else(|e| Response::Error(format!("the request failed: {e}")))
        }
    };
    // The work is done: the slot is free before the client can see the
    // answer (and ask again at once).
    drop(slot);
    if let Err(e) = write_line(&mut stream, &response).await {
        tracing::debug!(error = %e, "control socket: the client left before its answer");
    }
    drain(&mut stream).await;
}

/// Reads and drops what the client sent beyond what was read, briefly,
/// before the connection closes: a socket closed with unread input resets
/// the connection, and the client could lose the answer (a refusal, or
/// that the daemon is busy).
async fn drain(stream: &mut UnixStream) {
    let cap = u64::try_from(MAX_REQUEST).unwrap_or(u64::MAX);
    let mut rest = stream.take(cap);
    let mut sink = tokio::io::sink();
    let copy = tokio::io::copy(&mut rest, &mut sink);
    let _ = tokio::time::timeout(Duration::from_millis(100), copy).await;
}

/// One request line, bounded.
async fn read_request(stream: &mut UnixStream) -> Result<Request, String> {
    let mut line = Vec::new();
    let cap = u64::try_from(MAX_REQUEST).unwrap_or(u64::MAX);
    let mut reader = tokio::io::BufReader::new(stream.take(cap.saturating_add(1)));
    reader
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("cannot read the request: {e}"))?;
    if line.len() > MAX_REQUEST {
        return Err(format!("a request is at most {MAX_REQUEST} bytes"));
    }
    serde_json::from_slice(&line).map_err(|e| format!("not a request: {e}"))
}

async fn write_line(stream: &mut UnixStream, response: &Response) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(response).map_err(std::io::Error::other)?;
    text.push(b'\n');
    stream.write_all(&text).await?;
    stream.shutdown().await
}

/// Asks the daemon of `state_dir`, waiting `timeout` at most for the
/// answer. [`ControlError::NoDaemon`] when nothing listens there.
pub fn ask(
    state_dir: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, ControlError> {
    let path = socket_path(state_dir);
    let exchange = |reason: String| ControlError::Exchange {
        path: path.clone(),
        reason,
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ControlError::NoDaemon { path });
        }
        Err(e) => return Err(exchange(e.to_string())),
    };
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| exchange(e.to_string()))?;
    let mut line = serde_json::to_vec(request).map_err(|e| exchange(e.to_string()))?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| exchange(e.to_string()))?;
    let mut answer = String::new();
    BufReader::new(stream)
        .take(u64::try_from(MAX_ANSWER).unwrap_or(u64::MAX))
        .read_line(&mut answer)
        .map_err(|e| exchange(format!("no answer: {e}")))?;
    serde_json::from_str(&answer).map_err(|e| exchange(format!("not an answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_tagged_json_object_and_nothing_else() {
        let set: Request =
            serde_json::from_str(r#"{"call": "set-control", "id": "fan", "value": "180"}"#)
                .unwrap();
        assert_eq!(
            set,
            Request::SetControl {
                id: "fan".into(),
                value: "180".into()
            }
        );
        let some: Request =
            serde_json::from_str(r#"{"call": "sensors", "ids": ["GPU-therm"]}"#).unwrap();
        assert_eq!(
            some,
            Request::Sensors {
                ids: vec!["GPU-therm".into()]
            }
        );
        let all: Request = serde_json::from_str(r#"{"call": "sensors"}"#).unwrap();
        assert_eq!(all, Request::Sensors { ids: vec![] });
        let mode: Request = serde_json::from_str(r#"{"call": "mode"}"#).unwrap();
        assert_eq!(mode, Request::Mode {});
        for bad in [
            r#"{"call": "call-json", "plugin": "x"}"#,
            r#"{"call": "sensors", "extra": 1}"#,
            r#"{"call": "sensors", "ids": "GPU-therm"}"#,
            r#"{"call": "set-control", "id": "fan"}"#,
            r#"{"call": "mode", "mode": "development"}"#,
            "[]",
        ] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sensors_named_are_chosen_in_their_order_and_an_unknown_one_is_named() {
        let sensor = |id: &str| Sensor {
            id: id.into(),
            description: String::new(),
            unit: "°C".into(),
        };
        let listed = vec![sensor("a"), sensor("b"), sensor("c")];
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let picked = |want: &[&str]| {
            chosen(listed.clone(), &ids(want))
                .map(|s| s.into_iter().map(|s| s.id).collect::<Vec<_>>())
        };
        assert_eq!(picked(&[]).unwrap(), ids(&["a", "b", "c"]));
        assert_eq!(picked(&["c", "a"]).unwrap(), ids(&["c", "a"]));
        assert_eq!(
            picked(&["b", "nope\n"]).unwrap_err().to_string(),
            "the adapter has no sensor 'nope\\n' ('osb device sensors' lists them)"
        );
    }

    /// The daemon's side, served on a temporary state directory by a host
    /// with no adapter loaded, asked as a hostile client would.
    #[test]
    fn the_socket_answers_bounded_requests_and_refuses_the_rest() {
        use std::io::{Read, Write};
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::net::UnixStream as Client;

        let dir = tempfile::tempdir().unwrap();
        let host =
            osb_plugin_host::PluginHost::new(osb_plugin_host::HostSettings::default()).unwrap();
        let host = Arc::new(host);
        let adapter = Adapter::on(host.clone());
        let switch = crate::mode::ModeSwitch::new(Mode::Production);
        let daemon = DaemonState {
            mode: switch.handle(),
            host,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = {
            let _context = runtime.enter();
            bind(dir.path()).unwrap()
        };
        runtime.spawn(serve(listener, adapter, daemon));
        let path = socket_path(dir.path());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the socket is root's alone");

        let exchange = |bytes: &[u8]| {
            let mut client = Client::connect(&path).unwrap();
            // The server may answer (and close) before all is written.
            let _ = client.write_all(bytes);
            let mut answer = String::new();
            client.read_to_string(&mut answer).unwrap();
            serde_json::from_str::<Response>(&answer).unwrap()
        };
        // A request the daemon can answer: here, that there is no adapter.
        assert_eq!(
            ask(
                dir.path(),
                &Request::Sensors { ids: vec![] },
                Duration::from_secs(5)
            )
            .unwrap(),
            Response::Error("no hardware-adapter plugin is loaded".into())
        );
        let said = |r: Response| match r {
            Response::Error(e) => e,
            Response::Ok(v) => panic!("answered {v}"),
        };
        assert!(said(exchange(b"{\"call\": \"call-json\"}\n")).starts_with("not a request: "));
        let huge = vec![b' '; MAX_REQUEST + 10];
        assert_eq!(
            said(exchange(&huge)),
            format!("a request is at most {MAX_REQUEST} bytes")
        );

        // Clients that never finish their request hold their slot only
        // until READ_WITHIN; meanwhile one more is told the daemon is busy.
        let slow: Vec<Client> = (0..CONNECTIONS)
            .map(|_| {
                let mut c = Client::connect(&path).unwrap();
                c.write_all(b"{").unwrap();
                c
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let busy = said(exchange(b"{\"call\": \"sensors\"}\n"));
        assert!(busy.contains("ask again"), "{busy}");
        for mut c in slow {
            let mut answer = String::new();
            c.read_to_string(&mut answer).unwrap();
            assert!(answer.contains("no whole request within 5 s"), "{answer}");
        }
        // The mode, as switched.
        let mode = |request| match ask(dir.path(), &request, Duration::from_secs(5)).unwrap() {
            Response::Ok(v) => serde_json::from_value::<ModeAnswer>(v).unwrap(),
            Response::Error(e) => panic!("{e}"),
        };
        let production = ModeAnswer {
            mode: Mode::Production,
            unsigned_plugins: vec![],
        };
        assert_eq!(mode(Request::Mode {}), production);
        switch.set(Mode::Development);
        assert_eq!(mode(Request::Mode {}).mode, Mode::Development);
        // And then the daemon answers again.
        assert_eq!(
            ask(dir.path(), &Request::Controls {}, Duration::from_secs(5)).unwrap(),
            Response::Error("no hardware-adapter plugin is loaded".into())
        );
        let gone = tempfile::tempdir().unwrap();
        assert!(matches!(
            ask(gone.path(), &Request::Controls {}, Duration::from_secs(1)),
            Err(ControlError::NoDaemon { .. })
        ));
    }
}
