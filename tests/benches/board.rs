//! The board adapters' calls in process, side by side in one run (see
//! BENCHMARKS.md, section 12): what `osb device` and the daemon pay for a
//! reading or a control, without starting a process.
//!
//! - `tpm/*`: `hw-x86-tpm` against a real swtpm on loopback, loaded as
//!   `osb device` loads it (device config parsed, development mode) and
//!   read through the runtime's `Adapter` (the plausibility checks
//!   included): sensor `random` (TPM2_GetRandom of 6 bytes) and sensor
//!   `pcr:0:0` (one TPM2_PCR_Read of the sha256 bank). Beside each, the
//!   same command's bytes written natively to the simulator: on a new
//!   connection per command, as the plugin's channel does
//!   (`*_native_connect`), and on one connection kept open
//!   (`*_native_kept`); and `get_random_32_native_kept`, the 32 bytes
//!   `tpm2_getrandom 32` asks for.
//! - `tx2/power_mode`: `hw-jetson-tx2` on a copy of its fixture tree (a
//!   TX2's sysfs, nvpmodel.conf included), switching between MAXN and MAXQ:
//!   each switch parses nvpmodel.conf, writes the mode's sysfs values in
//!   their safe order and keeps the mode in the plugin's key-value store.
//!
//! Needs swtpm (`scripts/services` installs it); without it the `tpm`
//! group is left out, saying so.
//!
//! Run: `cargo bench -p osb-tests --bench board -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use osb_plugin_host::PluginHost;
use osb_runtime::adapter::Adapter;
use osb_runtime::config::DeviceConfig;
use osb_tests::{copy_package, edit_manifest};

/// TPM2_GetRandom of 6 bytes: what sensor `random` asks for.
const GET_RANDOM_6: [u8; 12] = [
    0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 6, //
];

/// TPM2_GetRandom of 32 bytes, as `tpm2_getrandom 32` asks.
const GET_RANDOM_32: [u8; 12] = [
    0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 32, //
];

/// TPM2_PCR_Read of sha256 PCR 0: one selection, sha256 (0x000b), three
/// bytes of select with bit 0 set.
const PCR_READ_0: [u8; 20] = [
    0x80, 0x01, 0, 0, 0, 20, 0, 0, 0x01, 0x7e, //
    0, 0, 0, 1, 0, 0x0b, 3, 1, 0, 0,
];

/// A swtpm on loopback, killed when dropped.
struct Swtpm {
    child: Child,
    addr: SocketAddr,
    _state: tempfile::TempDir,
}

impl Swtpm {
    fn start() -> Option<Swtpm> {
        let state = tempfile::tempdir().expect("state dir");
        let port = free_port_pair();
        let child = Command::new("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(format!("dir={}", state.path().display()))
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
            .arg("--flags")
            .arg("not-need-init,startup-clear")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!("tpm: left out, swtpm is not installed (scripts/services installs it)");
            return None;
        };
        let tpm = Swtpm {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _state: state,
        };
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(tpm.addr).is_err() {
            assert!(
                Instant::now() < until,
                "swtpm did not listen on {}",
                tpm.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(tpm)
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port whose next one (swtpm's control port) is free too.
fn free_port_pair() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// One command and its whole response on `stream`; the response code must
/// be success.
fn transact(stream: &mut TcpStream, command: &[u8]) -> Vec<u8> {
    stream.write_all(command).expect("write command");
    let mut response = vec![0u8; 10];
    stream.read_exact(&mut response).expect("response header");
    let size = u32::from_be_bytes(response[2..6].try_into().expect("4 bytes")) as usize;
    let code = u32::from_be_bytes(response[6..10].try_into().expect("4 bytes"));
    assert_eq!(code, 0, "TPM response code {code:#x}");
    response.resize(size, 0);
    stream
        .read_exact(&mut response[10..])
        .expect("response body");
    response
}

/// The adapter in `package`, its manifest passed through `edit`, loaded as
/// `osb device` loads it without a daemon: the device config parsed, its
/// host settings, the package unsigned in development mode.
fn adapter(
    dir: &Path,
    package: &str,
    edit: impl FnOnce(String) -> String,
    config: &str,
) -> Adapter {
    let plugins = dir.join("plugins");
    let pkg = copy_package(package, &plugins);
    edit_manifest(&pkg, edit);
    let text = format!(
        "development = true\nplugin_dir = {plugins:?}\nstate_dir = {:?}\n{config}",
        dir.join("state")
    );
    let config = DeviceConfig::parse(&text, &dir.join("device.toml")).expect("device config");
    let mut settings = config.host_settings();
    // A benchmark calls as fast as it can: a whole core, which the default
    // CPU budget would (rightly) call a misbehaving plugin.
    settings.limits.cpu_percent = 100;
    let host = PluginHost::new(settings).expect("host");
    host.load(&pkg).expect("load the adapter");
    Adapter::on(Arc::new(host))
}

fn tpm(c: &mut Criterion) {
    let Some(swtpm) = Swtpm::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let adapter = adapter(
        dir.path(),
        "hw-x86-tpm",
        |manifest| manifest,
        &format!(
            "[devices]\ntpm0 = {{ tcp = \"{}\" }}\n\n[plugins.hw-x86-tpm]\ngrants = {{ device = [\"tpm0\"] }}\n",
            swtpm.addr
        ),
    );
    // Each first call also makes the instance, untimed; PCR 0 of a fresh
    // simulator is all zeros, so its first word reads 0.
    assert!(adapter.read("random").expect("random") >= 0.0);
    assert_eq!(adapter.read("pcr:0:0").expect("pcr:0:0"), 0.0);

    // swtpm serves one connection at a time: the connection kept open is
    // opened after the plugin's benchmarks and closed before anything
    // else connects.
    let mut group = c.benchmark_group("tpm");
    group.bench_function("random_plugin", |b| {
        b.iter(|| adapter.read(black_box("random")).expect("random"))
    });
    group.bench_function("pcr_read_plugin", |b| {
        b.iter(|| adapter.read(black_box("pcr:0:0")).expect("pcr"))
    });
    group.bench_function("get_random_6_native_connect", |b| {
        b.iter(|| {
            let mut stream = TcpStream::connect(swtpm.addr).expect("connect");
            transact(&mut stream, black_box(&GET_RANDOM_6))
        })
    });
    group.bench_function("pcr_read_native_connect", |b| {
        b.iter(|| {
            let mut stream = TcpStream::connect(swtpm.addr).expect("connect");
            transact(&mut stream, black_box(&PCR_READ_0))
        })
    });
    let mut kept = TcpStream::connect(swtpm.addr).expect("connect");
    assert_eq!(transact(&mut kept, &GET_RANDOM_32).len(), 10 + 2 + 32);
    group.bench_function("get_random_6_native_kept", |b| {
        b.iter(|| transact(&mut kept, black_box(&GET_RANDOM_6)))
    });
    group.bench_function("get_random_32_native_kept", |b| {
        b.iter(|| transact(&mut kept, black_box(&GET_RANDOM_32)))
    });
    group.bench_function("pcr_read_native_kept", |b| {
        b.iter(|| transact(&mut kept, black_box(&PCR_READ_0)))
    });
    group.finish();
    drop(kept);
}

/// Copies the directory tree `from` to `to`, its symbolic links as links
/// (the fixture's thermal zones are links, as in sysfs).
fn copy_tree(from: &Path, to: &Path) {
    let copied = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(
        copied.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

fn tx2(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let board = dir.path().join("tx2");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/hw-jetson-tx2/tests/fixture/tx2"),
        &board,
    );
    // Each of the manifest's grants, the host side moved into the copied
    // tree, and granted as such.
    let root = board.to_str().expect("a UTF-8 path");
    let grants: Vec<String> = [
        ("/sys/firmware/devicetree/base", "ro"),
        ("/sys/devices/virtual/thermal", "ro"),
        ("/etc/nvpmodel", "ro"),
        ("/sys/devices/system/cpu", "rw"),
        ("/sys/devices/17000000.gp10b/devfreq/17000000.gp10b", "rw"),
        ("/sys/kernel/nvpmodel_emc_cap", "rw"),
        ("/sys/devices/pwm-fan", "rw"),
    ]
    .iter()
    .map(|(guest, mode)| {
        format!("{{ host = \"{root}{guest}\", guest = {guest:?}, mode = {mode:?} }}")
    })
    .collect();
    let adapter = adapter(
        dir.path(),
        "hw-jetson-tx2",
        |manifest| manifest.replace("host = \"/", &format!("host = \"{root}/")),
        &format!(
            "[plugins.hw-jetson-tx2]\ngrants = {{ fs = [{}], kv = true }}\n",
            grants.join(", ")
        ),
    );
    let mode = |m: &str| adapter.set("power-mode", m).expect("power mode");
    mode("MAXN");
    let online = board.join("sys/devices/system/cpu/cpu1/online");
    assert_eq!(std::fs::read_to_string(&online).expect("cpu1").trim(), "1");
    mode("MAXQ");
    // MAXQ turns the Denver cores off.
    assert_eq!(std::fs::read_to_string(&online).expect("cpu1").trim(), "0");

    let mut group = c.benchmark_group("tx2");
    let mut next = ["MAXN", "MAXQ"].iter().cycle();
    group.bench_function("power_mode", |b| {
        b.iter(|| mode(black_box(next.next().expect("endless"))))
    });
    group.finish();
}

fn config() -> Criterion {
    // Modest defaults for a small, shared machine; the command line overrides.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = tpm, tx2
}
criterion_main!(benches);
