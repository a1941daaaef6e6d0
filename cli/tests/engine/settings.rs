//! Container settings (`cap_add`, `devices`, `network_mode`, `ulimits`,
//! ...): what the engine holds once `osb apply` has created the block, what
//! the process inside sees, and what docker-compose creates from the same
//! settings.
//!
//! Few containers, each holding many settings that do not interfere, so
//! that these tests cost seconds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use osb_test_docker::ContainerInfo;
use serde_json::{Value, json};

use super::{Osb, inspect, target};

/// The shell command of the test images: idle, and stop at once on SIGTERM
/// or SIGINT.
const IDLE: &str = "trap 'exit 0' TERM INT; sleep 2147483647 & wait";

/// Capability bits, from capabilities(7).
const CAP_CHOWN: u32 = 0;
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// The engine's container of `block`.
fn container(osb: &Osb, block: &str) -> ContainerInfo {
    osb.scope
        .containers()
        .into_iter()
        .find(|c| c.labels.get("io.osb.block").map(String::as_str) == Some(block))
        .unwrap_or_else(|| panic!("no container of block {block}"))
}

/// Runs each `(key, shell command)` in `container`, in one `docker exec`,
/// and gives each command's output (lines joined by spaces) by key.
fn probe(container: &str, checks: &[(&str, &str)]) -> BTreeMap<String, String> {
    let script: String = checks
        .iter()
        .map(|(key, command)| format!("echo \"{key}=$( {{ {command} ; }} 2>&1 | tr '\\n' ' ')\"\n"))
        .collect();
    osb_test_docker::exec(container, &["sh", "-c", &script])
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.trim().to_owned()))
        .collect()
}

/// A `/proc/<pid>/status` capability mask.
fn caps(status_line: &str) -> u64 {
    u64::from_str_radix(status_line, 16)
        .unwrap_or_else(|e| panic!("capability mask {status_line:?}: {e}"))
}

fn has(mask: u64, cap: u32) -> bool {
    mask & (1 << cap) != 0
}

/// This process's namespace of `kind`: the engine runs on this host, so a
/// container in the host's namespace shares it.
fn host_namespace(kind: &str) -> String {
    let link = format!("/proc/self/ns/{kind}");
    std::fs::read_link(&link)
        .unwrap_or_else(|e| panic!("{link}: {e}"))
        .display()
        .to_string()
}

/// What the engine reports it can enforce (`docker info`): a limit it
/// cannot is dropped at create time, with a warning.
fn engine_supports(field: &str) -> bool {
    osb_test_docker::run(&["info", "--format", &format!("{{{{.{field}}}}}")]) == "true"
}

/// `osb-test/entrypoint:1`: the busybox test image with an entrypoint that
/// fails, so only a block that clears it runs (its command, the image's,
/// idles).
fn entrypoint_image(osb: &Osb) -> String {
    let image = "osb-test/entrypoint:1";
    if !osb_test_docker::image_exists(image) {
        let base = osb.engine.busybox_image("1");
        let made = osb.engine.run(&["create", &base]);
        osb.engine.run(&[
            "commit",
            "--change",
            r#"ENTRYPOINT ["/bin/false"]"#,
            "--change",
            &format!(r#"CMD ["sh", "-c", "{IDLE}"]"#),
            &made,
            image,
        ]);
        osb.engine.run(&["rm", &made]);
    }
    image.to_owned()
}

#[test]
fn settings_reach_the_engine_and_the_process_inside() {
    let Some(osb) = Osb::new("settings") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let t = target(
        "set",
        "1.0.0",
        json!({
            // Its own namespaces, on its app's network, with most settings.
            "main": {
                "image": image,
                "entrypoint": ["sh", "-c"],
                "command": [IDLE],
                "ipc": "shareable",
                "cap_add": ["net_admin"],
                "cap_drop": ["CAP_CHOWN"],
                "devices": [{"source": "/dev/null", "target": "/dev/mydev", "permissions": "rw"}],
                "device_cgroup_rules": ["c 42:* rmw"],
                "security_opt": ["no-new-privileges"],
                "sysctls": {"net.core.somaxconn": "1024", "kernel.msgmax": "32768"},
                "ulimits": {"nofile": {"soft": 1024, "hard": 2048}},
                "shm_size": 33_554_432,
                "read_only": true,
                "group_add": ["20"],
                "hostname": "box",
                "domainname": "example.org",
                "dns": ["192.0.2.53"],
                "dns_search": ["example.org"],
                "dns_opt": ["ndots:2"],
                "extra_hosts": {"gateway.local": "10.1.2.3"},
                "mac_address": "02:42:AC:11:00:99",
                "init": true,
                "tty": true,
                "stdin_open": true,
                "stop_signal": "SIGINT",
                "stop_grace_period": "1500ms",
                "oom_score_adj": 500,
                "mem_limit": 67_108_864,
                "mem_reservation": 33_554_432,
                "memswap_limit": 134_217_728,
                "cpus": 0.5,
                "cpu_shares": 512,
                "cpuset": "0",
                "runtime": "runc",
                "logging": {"driver": "json-file", "options": {"max-size": "1m", "max-file": "2"}}
            },
            // Inside main's network, process and IPC namespaces.
            "side": {
                "image": image,
                "network_mode": "service:main",
                "pid": "service:main",
                "ipc": "service:main",
                "user": "1000:1000",
                "working_dir": "/tmp",
                "cap_drop": ["ALL"],
                "cpu_quota": 50_000
            },
            // The host's network and processes.
            "hostnet": {
                "image": image,
                "network_mode": "host",
                "pid": "host"
            },
            // No network; the image's entrypoint cleared.
            "isolated": {
                "image": entrypoint_image(&osb),
                "network_mode": "none",
                "entrypoint": [],
                "dns": ["192.0.2.53"],
                "logging": {"driver": "none"}
            }
        }),
        json!({}),
    );
    osb.apply(&t);
    let containers = osb.scope.containers();
    assert_eq!(containers.len(), 4, "{containers:#?}");
    assert!(
        containers.iter().all(|c| c.state == "running"),
        "{containers:#?}"
    );

    // main: what the engine holds.
    let main = container(&osb, "main");
    let held = inspect(&main.id);
    let mut expected = vec![
        ("/Config/Entrypoint", json!(["sh", "-c"])),
        ("/Config/Hostname", json!("box")),
        ("/Config/Domainname", json!("example.org")),
        ("/Config/MacAddress", json!("02:42:ac:11:00:99")),
        ("/Config/Tty", json!(true)),
        ("/Config/OpenStdin", json!(true)),
        ("/Config/StopSignal", json!("SIGINT")),
        ("/Config/StopTimeout", json!(2)),
        ("/HostConfig/IpcMode", json!("shareable")),
        ("/HostConfig/CapAdd", json!(["NET_ADMIN"])),
        ("/HostConfig/CapDrop", json!(["CHOWN"])),
        (
            "/HostConfig/Devices",
            json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mydev", "CgroupPermissions": "rw"}]),
        ),
        ("/HostConfig/DeviceCgroupRules", json!(["c 42:* rmw"])),
        ("/HostConfig/SecurityOpt", json!(["no-new-privileges"])),
        (
            "/HostConfig/Sysctls",
            json!({"net.core.somaxconn": "1024", "kernel.msgmax": "32768"}),
        ),
        (
            "/HostConfig/Ulimits",
            json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}]),
        ),
        ("/HostConfig/ShmSize", json!(33_554_432)),
        ("/HostConfig/ReadonlyRootfs", json!(true)),
        ("/HostConfig/GroupAdd", json!(["20"])),
        ("/HostConfig/Dns", json!(["192.0.2.53"])),
        ("/HostConfig/DnsSearch", json!(["example.org"])),
        ("/HostConfig/DnsOptions", json!(["ndots:2"])),
        ("/HostConfig/ExtraHosts", json!(["gateway.local:10.1.2.3"])),
        ("/HostConfig/Init", json!(true)),
        ("/HostConfig/OomScoreAdj", json!(500)),
        ("/HostConfig/Memory", json!(67_108_864)),
        ("/HostConfig/MemoryReservation", json!(33_554_432)),
        ("/HostConfig/NanoCpus", json!(500_000_000)),
        ("/HostConfig/CpuShares", json!(512)),
        ("/HostConfig/CpusetCpus", json!("0")),
        ("/HostConfig/Runtime", json!("runc")),
        (
            "/HostConfig/LogConfig",
            json!({"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}),
        ),
    ];
    // A kernel without swap accounting has the engine drop the limit.
    if engine_supports("SwapLimit") {
        expected.push(("/HostConfig/MemorySwap", json!(134_217_728)));
    }
    for (pointer, value) in &expected {
        assert_eq!(held.pointer(pointer), Some(value), "main {pointer}");
    }

    // main: what its processes see.
    let seen = probe(
        &main.name,
        &[
            ("capeff", "awk '/^CapEff/ {print $2}' /proc/1/status"),
            ("nnp", "awk '/^NoNewPrivs/ {print $2}' /proc/1/status"),
            (
                "groups",
                "awk '/^Groups/ {$1 = \"\"; print}' /proc/1/status",
            ),
            (
                "cpus",
                "awk '/^Cpus_allowed_list/ {print $2}' /proc/1/status",
            ),
            (
                "nofile",
                "awk '/^Max open files/ {print $4, $5}' /proc/1/limits",
            ),
            ("init", "cat /proc/1/comm"),
            ("oom", "cat /proc/1/oom_score_adj"),
            ("device", "test -c /dev/mydev && echo char-device"),
            ("hostname", "hostname"),
            ("domain", "cat /proc/sys/kernel/domainname"),
            ("hosts", "grep gateway.local /etc/hosts"),
            ("resolv", "grep -E '^(search|options)' /etc/resolv.conf"),
            ("mac", "cat /sys/class/net/eth0/address"),
            (
                "root",
                "touch /x 2>/dev/null && echo writable || echo read-only",
            ),
            ("shm", "df -k /dev/shm | awk 'NR == 2 {print $2}'"),
            ("somaxconn", "cat /proc/sys/net/core/somaxconn"),
            ("msgmax", "cat /proc/sys/kernel/msgmax"),
            ("net", "readlink /proc/self/ns/net"),
            ("pid", "readlink /proc/self/ns/pid"),
            ("ipc", "readlink /proc/self/ns/ipc"),
        ],
    );
    let capeff = caps(&seen["capeff"]);
    assert!(has(capeff, CAP_NET_ADMIN), "cap_add: {seen:#?}");
    assert!(!has(capeff, CAP_CHOWN), "cap_drop: {seen:#?}");
    let want = [
        ("nnp", "1"),
        ("cpus", "0"),
        ("nofile", "1024 2048"),
        ("init", "docker-init"),
        ("oom", "500"),
        ("device", "char-device"),
        ("hostname", "box"),
        ("domain", "example.org"),
        ("hosts", "10.1.2.3\tgateway.local"),
        // On an app network the engine's resolver answers, and forwards to
        // the block's servers; the search list and options are the block's.
        ("resolv", "search example.org options ndots:2"),
        ("mac", "02:42:ac:11:00:99"),
        ("root", "read-only"),
        ("shm", "32768"),
        ("somaxconn", "1024"),
        ("msgmax", "32768"),
    ];
    for (key, value) in want {
        assert_eq!(seen[key], value, "main {key}: {seen:#?}");
    }
    assert!(
        seen["groups"].split(' ').any(|g| g == "20"),
        "group_add: {seen:#?}"
    );
    assert_ne!(seen["net"], host_namespace("net"));

    // side: main's namespaces, its own user and capabilities.
    let side = container(&osb, "side");
    let held = inspect(&side.id);
    // The engine keeps the network mode's name resolved to an ID.
    let joined = [main.name.as_str(), main.id.as_str()].map(|c| json!(format!("container:{c}")));
    for pointer in [
        "/HostConfig/NetworkMode",
        "/HostConfig/PidMode",
        "/HostConfig/IpcMode",
    ] {
        let mode = held.pointer(pointer).expect(pointer);
        assert!(joined.contains(mode), "side {pointer}: {mode}");
    }
    for (pointer, value) in [
        ("/HostConfig/CapDrop", &json!(["ALL"])),
        ("/HostConfig/CpuQuota", &json!(50_000)),
        ("/HostConfig/CpuPeriod", &json!(100_000)),
        ("/Config/User", &json!("1000:1000")),
        ("/Config/WorkingDir", &json!("/tmp")),
    ] {
        assert_eq!(held.pointer(pointer), Some(value), "side {pointer}");
    }
    assert_eq!(
        held.pointer("/NetworkSettings/Networks"),
        Some(&json!({})),
        "side joined a network of its own"
    );
    let side_seen = probe(
        &side.name,
        &[
            ("capbnd", "awk '/^CapBnd/ {print $2}' /proc/self/status"),
            ("uid", "id -u"),
            ("gid", "id -g"),
            ("pwd", "pwd"),
            ("hostname", "hostname"),
            ("net", "readlink /proc/self/ns/net"),
            ("pid", "readlink /proc/self/ns/pid"),
            ("ipc", "readlink /proc/self/ns/ipc"),
        ],
    );
    assert_eq!(
        caps(&side_seen["capbnd"]),
        0,
        "cap_drop ALL: {side_seen:#?}"
    );
    for (key, value) in [
        ("uid", "1000"),
        ("gid", "1000"),
        ("pwd", "/tmp"),
        ("hostname", "box"),
    ] {
        assert_eq!(side_seen[key], value, "side {key}: {side_seen:#?}");
    }
    for key in ["net", "pid", "ipc"] {
        assert_eq!(
            side_seen[key], seen[key],
            "side's {key} namespace is main's"
        );
    }

    // hostnet: the host's namespaces.
    let hostnet = container(&osb, "hostnet");
    let held = inspect(&hostnet.id);
    for (pointer, value) in [
        ("/HostConfig/NetworkMode", json!("host")),
        ("/HostConfig/PidMode", json!("host")),
    ] {
        assert_eq!(held.pointer(pointer), Some(&value), "hostnet {pointer}");
    }
    let host_seen = probe(
        &hostnet.name,
        &[
            ("net", "readlink /proc/self/ns/net"),
            ("pid", "readlink /proc/self/ns/pid"),
        ],
    );
    assert_eq!(host_seen["net"], host_namespace("net"), "{host_seen:#?}");
    assert_eq!(host_seen["pid"], host_namespace("pid"), "{host_seen:#?}");

    // isolated: loopback only; running, so the failing entrypoint is gone.
    let isolated = container(&osb, "isolated");
    let held = inspect(&isolated.id);
    for (pointer, value) in [
        ("/HostConfig/NetworkMode", json!("none")),
        ("/HostConfig/LogConfig/Type", json!("none")),
        ("/Config/Entrypoint", json!([])),
    ] {
        assert_eq!(held.pointer(pointer), Some(&value), "isolated {pointer}");
    }
    let isolated_seen = probe(
        &isolated.name,
        &[
            ("links", "ls /sys/class/net"),
            ("resolv", "grep nameserver /etc/resolv.conf"),
        ],
    );
    assert_eq!(isolated_seen["links"], "lo", "{isolated_seen:#?}");
    // Without the engine's resolver, the servers are the block's own.
    assert_eq!(isolated_seen["resolv"], "nameserver 192.0.2.53");

    assert_eq!(
        super::steps(&osb.apply(&t)),
        Vec::<String>::new(),
        "a converged device changed"
    );
}

#[test]
fn a_privileged_block_gets_every_capability() {
    let Some(osb) = Osb::new("privileged") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    let t = target(
        "priv",
        "1.0.0",
        json!({"all": {"image": image, "privileged": true}}),
        json!({}),
    );
    let out = osb.apply_with(&t, &["--timeout", "60s"]);
    let all = container(&osb, "all");
    assert_eq!(
        inspect(&all.id).pointer("/HostConfig/Privileged"),
        Some(&json!(true))
    );
    if !out.status.success() {
        // The engine grants a privileged container every capability it
        // knows; where this host's bounding set lacks one (a CI sandbox),
        // no privileged container starts, osb's or the engine's own.
        let why = String::from_utf8_lossy(&out.stderr);
        assert!(why.contains("unable to apply caps"), "{why}");
        let engine_own = osb_test_docker::try_run(&["run", "--rm", "--privileged", &image, "true"]);
        assert!(
            engine_own.is_err_and(|e| e.contains("unable to apply caps")),
            "osb's privileged block failed where the engine's own starts: {why}"
        );
        eprintln!(
            "a_privileged_block_gets_every_capability: this host cannot start privileged \
             containers (its capability bounding set lacks one the engine grants); checked \
             that the engine holds the setting only"
        );
        return;
    }
    let seen = probe(
        &all.name,
        &[
            ("capeff", "awk '/^CapEff/ {print $2}' /proc/self/status"),
            ("capbnd", "awk '/^CapBnd/ {print $2}' /proc/self/status"),
        ],
    );
    let capeff = caps(&seen["capeff"]);
    assert_eq!(capeff, caps(&seen["capbnd"]), "{seen:#?}");
    assert!(has(capeff, CAP_SYS_ADMIN), "{seen:#?}");
}

/// A docker-compose project, taken down when dropped, passed or failed.
struct ComposeProject {
    name: String,
    file: PathBuf,
}

impl ComposeProject {
    /// `docker-compose up -d` of `yaml`, as project `name`.
    fn up(dir: &Path, name: &str, yaml: &str) -> ComposeProject {
        let file = dir.join("docker-compose.yml");
        std::fs::write(&file, yaml).expect("write the compose file");
        let project = ComposeProject {
            name: name.to_owned(),
            file,
        };
        let out = project.compose(&["up", "-d"]);
        assert!(
            out.status.success(),
            "docker-compose up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        project
    }

    fn compose(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .arg("--project-name")
            .arg(&self.name)
            .arg("--file")
            .arg(&self.file)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker-compose (scripts/services installs it)")
    }

    /// The ID of `service`'s container.
    fn container(&self, service: &str) -> String {
        let out = self.compose(&["ps", "-q", service]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let out = self.compose(&["down", "--volumes", "--timeout", "1"]);
        if !out.status.success() {
            eprintln!(
                "docker-compose down of {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Arrays sorted, at any depth: the order of `cap_add` or `ulimits` says
/// nothing to the engine, and compose keeps the file's where osb sorts.
fn unordered(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(unordered).collect();
            items.sort_by_key(Value::to_string);
            Value::Array(items)
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), unordered(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn docker_compose_creates_the_same_container_from_the_same_settings() {
    let Some(osb) = Osb::new("compose-settings") else {
        return;
    };
    let image = osb.engine.busybox_image("1");
    // One file, brought up by docker-compose and applied by osb.
    let yaml = include_str!("device-settings.compose.yml").replace("${IMAGE}", &image);
    let project = ComposeProject::up(osb.dir.path(), osb.scope.instance(), &yaml);
    let file = project.file.to_str().expect("utf-8 path");
    let out = osb
        .command(
            "apply",
            &[file, "--app", "cmp", "--no-progress", "--timeout", "90s"],
        )
        .output()
        .expect("run osb apply");
    assert!(
        out.status.success(),
        "osb apply of the compose file failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let theirs = inspect(&project.container("s"));
    let ours = inspect(&container(&osb, "s").id);
    // Everything a setting above decides. Left out, and different by
    // design: names, labels, networks (compose's `<project>_default`,
    // osb's `<app>.default`) and mounts (osb's update-lock directory).
    let compared = [
        "/Config/Image",
        "/Config/Cmd",
        "/Config/Entrypoint",
        "/Config/User",
        "/Config/WorkingDir",
        "/Config/Hostname",
        "/Config/Domainname",
        "/Config/MacAddress",
        "/Config/Tty",
        "/Config/OpenStdin",
        "/Config/StopSignal",
        "/Config/StopTimeout",
        "/HostConfig/RestartPolicy",
        "/HostConfig/Privileged",
        "/HostConfig/PidMode",
        "/HostConfig/IpcMode",
        "/HostConfig/CapAdd",
        "/HostConfig/CapDrop",
        "/HostConfig/Devices",
        "/HostConfig/DeviceCgroupRules",
        "/HostConfig/SecurityOpt",
        "/HostConfig/Sysctls",
        "/HostConfig/Ulimits",
        "/HostConfig/ShmSize",
        "/HostConfig/ReadonlyRootfs",
        "/HostConfig/GroupAdd",
        "/HostConfig/Dns",
        "/HostConfig/DnsSearch",
        "/HostConfig/DnsOptions",
        "/HostConfig/ExtraHosts",
        "/HostConfig/Init",
        "/HostConfig/OomKillDisable",
        "/HostConfig/OomScoreAdj",
        "/HostConfig/Memory",
        "/HostConfig/MemoryReservation",
        "/HostConfig/MemorySwap",
        "/HostConfig/NanoCpus",
        "/HostConfig/CpuShares",
        "/HostConfig/CpuQuota",
        "/HostConfig/CpuPeriod",
        "/HostConfig/CpusetCpus",
        "/HostConfig/Runtime",
        "/HostConfig/LogConfig",
    ];
    let mut differences = Vec::new();
    for pointer in compared {
        let (a, b) = (theirs.pointer(pointer), ours.pointer(pointer));
        if a.map(unordered) != b.map(unordered) {
            differences.push(format!("{pointer}: compose {a:?}, osb {b:?}"));
        }
    }
    assert!(
        differences.is_empty(),
        "docker-compose and osb disagree:\n{}",
        differences.join("\n")
    );
    // Held as written, not at the engine's defaults.
    assert_eq!(
        ours.pointer("/HostConfig/NanoCpus"),
        Some(&json!(500_000_000))
    );
    assert_eq!(ours.pointer("/HostConfig/CapDrop"), Some(&json!(["CHOWN"])));
    drop(project);
}
