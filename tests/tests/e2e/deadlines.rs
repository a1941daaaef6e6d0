//! Every call ends at its deadline, whatever the guest or the host import
//! it called is doing, and a stuck call holds up nothing else.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use osb_plugin_host::{CallError, LimitOverrides, LoadError};
use osb_tests::hostile::{
    HOSTILE, PROBE, Setup, apply, plugin_error, probe_answers, quick, within,
};
use osb_tests::{Fixture, name};

fn timeout(ms: u32) -> LimitOverrides {
    LimitOverrides {
        call_timeout_ms: Some(ms),
        ..LimitOverrides::default()
    }
}

/// Asserts a call waiting on something that never answers gave up in
/// time: either its deadline stopped it, or the import gave up first and
/// the plugin said so (`plugin_says`), within a margin over 300 ms.
fn gave_up(host: &osb_plugin_host::PluginHost, plugin_says: &str, what: &str) {
    let (outcome, took) = timed_apply(host);
    match &outcome {
        Ok(message) => assert!(message.contains(plugin_says), "{what}: {message}"),
        Err(e) => assert!(matches!(e, CallError::Deadline { .. }), "{what}: {e}"),
    }
    within(took, Duration::from_millis(2000), what);
    probe_answers(host);
}

/// The call's outcome: `Err` for a deadline, or the plugin's own error
/// (an import that gave up in time); and how long it took.
fn timed_apply(host: &osb_plugin_host::PluginHost) -> (Result<String, CallError>, Duration) {
    let started = Instant::now();
    let outcome = apply(host).map(|v| plugin_error(&v));
    (outcome, started.elapsed())
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline_however_long_it_is() {
    // 1.5 s: longer than the second after which the epoch ticker sleeps
    // when no call is in progress; a call running that long keeps it awake.
    for ms in [200, 1500] {
        let fx = Fixture::new();
        let host = Setup::mode("loop").limits(timeout(ms)).start(&fx);
        let started = Instant::now();
        let err = apply(&host).unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(err, CallError::Deadline { timeout_ms, .. } if timeout_ms == u64::from(ms)),
            "{err}"
        );
        assert!(took >= Duration::from_millis(ms.into()), "{took:?}");
        within(
            took,
            Duration::from_millis(u64::from(ms) + 2000),
            "the deadline",
        );
        // The instance was discarded; the next call starts fresh and is
        // stopped again.
        assert!(matches!(
            apply(&host).unwrap_err(),
            CallError::Deadline { .. }
        ));
        probe_answers(&host);
    }
}

#[test]
fn a_guest_sleeping_through_wasi_clocks_is_stopped_at_its_deadline() {
    // No capability at all: `thread::sleep` is WASI's monotonic clock.
    let fx = Fixture::new();
    let host = Setup::mode("sleep")
        .config(&[("ms", "8000")])
        .limits(quick())
        .start(&fx);
    let (outcome, took) = timed_apply(&host);
    assert!(
        matches!(
            outcome,
            Err(CallError::Deadline {
                timeout_ms: 300,
                ..
            })
        ),
        "{outcome:?}"
    );
    within(
        took,
        Duration::from_millis(2000),
        "an 8 s sleep under 300 ms",
    );
    probe_answers(&host);
}

#[test]
fn an_http_server_that_never_answers_costs_the_deadline() {
    let fx = Fixture::new();
    // Accepts, reads, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let pkg = osb_tests::hostile::edited(&fx, "pkg", |t| t.replace("http://127.0.0.1:9", &base));
    let grants = format!("http = [\"{base}/allowed/\"]");
    let url = format!("{base}/allowed/slow");
    let host = Setup::mode("http")
        .grants(&grants)
        .config(&[("url", &url), ("timeout-ms", "30000")])
        .limits(quick())
        .package(pkg)
        .start(&fx);
    gave_up(&host, "Timeout", "a 30 s request under 300 ms");
}

/// A device on a Unix socket that accepts and never answers.
fn silent_socket(fx: &Fixture) -> std::path::PathBuf {
    let path = fx.path().join("silent.sock");
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 64];
            let _ = stream.read(&mut buf);
            held.push(stream);
        }
    });
    path
}

/// A host whose `tpm0` is `endpoint`, granted to the hostile plugin,
/// which asks with a timeout of its own of ~49 days.
fn device_host(
    fx: &Fixture,
    endpoint: osb_plugin_host::host_api::device::DeviceEndpoint,
) -> osb_plugin_host::PluginHost {
    let setup = Setup::mode("device")
        .grants("device = [\"tpm0\"]")
        .config(&[
            ("device", "tpm0"),
            ("command", "ping"),
            ("timeout-ms", "4294967295"),
        ])
        .limits(quick());
    let mut settings = setup.settings(fx);
    settings.devices.0.insert("tpm0".to_owned(), endpoint);
    let host = osb_plugin_host::PluginHost::new(settings).unwrap();
    host.load(&fx.signed(HOSTILE, "plugins")).unwrap();
    host.load(&fx.signed(PROBE, "plugins")).unwrap();
    host
}

#[test]
fn a_device_socket_that_never_answers_costs_the_deadline() {
    use osb_plugin_host::host_api::device::DeviceEndpoint;
    let fx = Fixture::new();
    let host = device_host(&fx, DeviceEndpoint::Socket(silent_socket(&fx)));
    gave_up(&host, "did not answer", "a silent socket under 300 ms");
}

#[test]
fn a_character_device_that_never_answers_costs_the_deadline() {
    use osb_plugin_host::host_api::device::DeviceEndpoint;
    // A pseudo-terminal's other end: it takes the command, and nobody
    // ever writes an answer.
    let fx = Fixture::new();
    let (_master, terminal) = osb_tests::pty();
    let host = device_host(&fx, DeviceEndpoint::Path(terminal));
    gave_up(&host, "did not answer", "a silent device under 300 ms");
}

#[test]
fn a_self_check_that_sleeps_fails_at_its_deadline_and_others_still_load() {
    let fx = Fixture::new();
    let setup = Setup::mode("ok")
        .config(&[("self-check", "sleep"), ("ms", "8000")])
        .limits(quick());
    let host = osb_plugin_host::PluginHost::new(setup.settings(&fx)).unwrap();
    let started = Instant::now();
    let err = host.load(&fx.signed(HOSTILE, "plugins")).unwrap_err();
    assert!(
        matches!(&err, LoadError::SelfCheck { reason, .. } if reason.contains("deadline")),
        "{err}"
    );
    host.load(&fx.signed(PROBE, "plugins")).unwrap();
    within(started.elapsed(), Duration::from_millis(2500), "both loads");
    probe_answers(&host);
    assert!(host.get(&name(HOSTILE)).is_none());
}
