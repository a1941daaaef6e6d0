use super::*;

/// Parses `input`; expects `ok`, or the error's text. An expectation ending
/// in `...` matches a prefix (serde's messages end with long lists of
/// expected fields and a line and column).
fn check(input: &str, expect: &str) {
    let got = match TargetState::from_json(input) {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    match expect.strip_suffix("...") {
        Some(prefix) => assert!(
            got.starts_with(prefix),
            "input {input}\n got: {got}\nwant: {expect}"
        ),
        None => assert_eq!(got, expect, "input {input}"),
    }
}

/// A target whose app `main` has the volume `data`, the network `backend`
/// and the blocks in `blocks` (the inside of a JSON object).
fn app(blocks: &str) -> String {
    format!(
        r#"{{"version": 1, "apps": {{"main": {{"class": "app",
            "release": {{"version": "1.0.0", "blocks": {{{blocks}}}}},
            "volumes": {{"data": {{}}}}, "networks": {{"backend": {{}}}}}}}}}}"#
    )
}

/// `app` with one block `web` made of `image` plus the fields in `rest`.
fn web(rest: &str) -> String {
    let sep = if rest.is_empty() { "" } else { ", " };
    app(&format!(
        r#""web": {{"image": "localhost:5000/web:1"{sep}{rest}}}"#
    ))
}

/// The full example of `docs/target-state.md`: the tests parse and plan
/// against what the documentation shows.
pub(crate) fn realistic() -> &'static str {
    const DOC: &str = include_str!("../../../docs/target-state.md");
    let example = DOC
        .split_once("## Full example")
        .and_then(|(_, rest)| rest.split_once("```json\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(json, _)| json);
    example.unwrap_or_else(|| panic!("docs/target-state.md lost its full example"))
}

#[test]
fn parses_a_realistic_multi_app_target() {
    let state = TargetState::from_json(realistic()).unwrap_or_else(|e| panic!("{e}"));
    let apps: Vec<_> = state.apps.keys().map(|a| a.as_str()).collect();
    assert_eq!(apps, ["main", "os"]);
    let main = &state.apps["main"];
    assert_eq!(main.class, AppClass::App);
    assert_eq!(main.release.version.to_string(), "2.3.0-rc.1");
    assert_eq!(main.release.status, ReleaseStatus::Draft);
    let web = &main.release.blocks["web"];
    assert_eq!(
        main.release.blocks["zigbee"].update_strategy,
        UpdateStrategy::HandOver {
            timeout: HumanDuration::new(std::time::Duration::from_secs(60))
        }
    );
    assert_eq!(web.depends_on.len(), 2);
    assert_eq!(web.restart(), RestartPolicy::Always);
    assert_eq!(web.time, Some(TimeRequirement::Synced));
    assert_eq!(web.ports[1].to_string(), "127.0.0.1:5353:5353/udp");
    assert_eq!(main.release.blocks["migrate"].restart(), RestartPolicy::No);
    assert_eq!(state.apps["os"].release.status, ReleaseStatus::Final);
    assert_eq!(state.apps["os"].release.blocks["chrony"].requires.len(), 1);

    // What is written reads back the same.
    let again = TargetState::from_json(&state.to_json()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, state);
}

#[test]
fn minimal_target() {
    check(r#"{"version": 1, "apps": {}}"#, "ok");
    check(&web(""), "ok");
}

#[test]
fn syntax_errors() {
    check("", "EOF while parsing a value at line 1 column 0");
    check("{", "EOF while parsing an object at line 1 column 1");
    check(
        r#"{"version": 1, "apps": {}} x"#,
        "trailing characters at line 1 column 28",
    );
    check(
        &web(r#""environment": {"A": 1}"#),
        "apps.main.release.blocks.web.environment.A: invalid type: integer `1`, expected a string...",
    );
}

#[test]
fn versions() {
    check(
        r#"{"apps": {}}"#,
        "missing field `version` at line 1 column 12",
    );
    check(
        r#"{"version": 2, "apps": {}, "new_thing": true}"#,
        "unsupported target state version 2 (this runtime reads version 1)",
    );
    check(
        r#"{"version": 0, "apps": {}}"#,
        "unsupported target state version 0 (this runtime reads version 1)",
    );
    check(
        r#"{"version": "1", "apps": {}}"#,
        "version: invalid type: string \"1\", expected u64...",
    );
}

#[test]
fn unknown_fields() {
    check(
        r#"{"version": 1, "apps": {}, "extra": 1}"#,
        "extra: unknown field `extra`, expected `version` or `apps`...",
    );
    check(
        &web(r#""imagee": "x""#),
        "apps.main.release.blocks.web.imagee: unknown field `imagee`, expected one of...",
    );
    check(
        &web(r#""healthcheck": {"test": "none", "every": "1s"}"#),
        "apps.main.release.blocks.web.healthcheck.every: unknown field `every`...",
    );
    check(
        &web(r#""ports": [{"target": 80, "mode": "host"}]"#),
        "apps.main.release.blocks.web.ports[0].mode: unknown field `mode`...",
    );
    check(
        &web(
            r#""volumes": [{"type": "volume", "source": "data", "target": "/d", "nocopy": true}]"#,
        ),
        "apps.main.release.blocks.web.volumes[0]: unknown field `nocopy`...",
    );
    check(
        &web(r#""update_strategy": {"hand-over": {"timeout": "1m", "grace": "1s"}}"#),
        "apps.main.release.blocks.web.update_strategy.hand-over.grace: unknown field `grace`, expected `timeout`...",
    );
}

#[test]
fn missing_and_bad_values() {
    check(
        &app(r#""web": {}"#),
        "apps.main.release.blocks.web: missing field `image`...",
    );
    check(
        &web(r#""restart": "sometimes""#),
        "apps.main.release.blocks.web.restart: unknown variant `sometimes`, expected one of `no`, `always`, `on-failure`, `unless-stopped`...",
    );
    check(
        &web(r#""depends_on": {"db": "ready"}"#),
        "apps.main.release.blocks.web.depends_on.db: unknown variant `ready`, expected one of `started`, `healthy`, `completed`...",
    );
    check(
        &web(r#""time": "exact""#),
        "apps.main.release.blocks.web.time: unknown variant `exact`...",
    );
    check(
        &web(r#""healthcheck": {"test": "none", "interval": "10""#).replace(r#""10""#, r#""10"}"#),
        "apps.main.release.blocks.web.healthcheck.interval: invalid duration '10'...",
    );
    check(
        &web(r#""plugins": ["Time"]"#),
        "apps.main.release.blocks.web.plugins[0]: invalid plugin name 'Time' may hold only a-z, 0-9 and '-'...",
    );
    check(
        &web(r#""requires": ["hw.device-type"]"#),
        "apps.main.release.blocks.web.requires[0]: invalid type: string \"hw.device-type\", expected a map...",
    );
    check(
        r#"{"version": 1, "apps": {"main": {"class": "app", "release": {"version": "1.0", "blocks": {}}}}}"#,
        "apps.main.release.version: unexpected end of input while parsing minor version number...",
    );
    check(
        r#"{"version": 1, "apps": {"main": {"class": "user", "release": {"version": "1.0.0", "blocks": {}}}}}"#,
        "apps.main.class: unknown variant `user`, expected one of `os`, `system`, `app`...",
    );
}

#[test]
fn bad_image_references() {
    check(
        &app(r#""web": {"image": "Web:1"}"#),
        "apps.main.release.blocks.web.image: invalid image reference 'Web:1': path component 'Web' must be lowercase...",
    );
    check(
        &app(r#""web": {"image": "web@sha256:123"}"#),
        "apps.main.release.blocks.web.image: invalid image reference 'web@sha256:123': digest 'sha256:123' must be sha256:<64 lowercase hex digits>...",
    );
    check(
        &app(r#""web": {"image": ""}"#),
        "apps.main.release.blocks.web.image: invalid image reference '': empty...",
    );
}

#[test]
fn bad_names() {
    check(
        r#"{"version": 1, "apps": {"Main": {"class": "app", "release": {"version": "1.0.0", "blocks": {}}}}}"#,
        "apps.Main: invalid app name 'Main': may hold only a-z, 0-9, '-' and '_'...",
    );
    check(
        &app(r#""-web": {"image": "web"}"#),
        "apps.main.release.blocks.-web: invalid block name '-web': must start with a letter or a digit...",
    );
    check(
        &web(r#""networks": ["back.end"]"#),
        "apps.main.release.blocks.web.networks[0]: invalid network name 'back.end': may hold only a-z, 0-9, '-' and '_'...",
    );
}

#[test]
fn duplicate_names() {
    check(
        &app(r#""web": {"image": "a"}, "web": {"image": "b"}"#),
        "apps.main.release.blocks: duplicate key 'web'...",
    );
    check(
        r#"{"version": 1, "apps": {"a": {"class": "app", "release": {"version": "1.0.0", "blocks": {}}},
                                  "a": {"class": "os", "release": {"version": "1.0.0", "blocks": {}}}}}"#,
        "apps: duplicate key 'a'...",
    );
    check(
        &web(r#""environment": {"A": "1", "A": "2"}"#),
        "apps.main.release.blocks.web.environment: duplicate key 'A'...",
    );
    check(
        &web(r#""labels": {"x": "1", "x": "1"}"#),
        "apps.main.release.blocks.web.labels: duplicate key 'x'...",
    );
    check(
        &web(r#""image": "b""#),
        "apps.main.release.blocks.web: duplicate field `image`...",
    );
    check(
        r#"{"version": 1, "version": 1, "apps": {}}"#,
        "duplicate field `version`...",
    );
}

#[test]
fn dependencies() {
    check(
        &web(r#""depends_on": {"db": "started"}"#),
        "apps.main.release.blocks.web.depends_on.db: no block named 'db' in app 'main'",
    );
    check(
        &app(
            r#""a": {"image": "a", "depends_on": {"b": "started"}}, "b": {"image": "b", "depends_on": {"a": "healthy"}}"#,
        ),
        "apps.main.release.blocks.a.depends_on: dependency cycle a -> b -> a",
    );
    check(
        &app(r#""a": {"image": "a", "depends_on": {"a": "started"}}"#),
        "apps.main.release.blocks.a.depends_on: dependency cycle a -> a",
    );
    check(
        &app(r#""a": {"image": "a", "depends_on": {"b": "started"}},
               "b": {"image": "b", "depends_on": {"c": "started"}},
               "c": {"image": "c", "depends_on": {"d": "started"}},
               "d": {"image": "d", "depends_on": {"b": "completed"}}"#),
        "apps.main.release.blocks.b.depends_on: dependency cycle b -> c -> d -> b",
    );
    // A diamond is not a cycle.
    check(
        &app(
            r#""a": {"image": "a", "depends_on": {"b": "started", "c": "started"}},
               "b": {"image": "b", "depends_on": {"d": "started"}},
               "c": {"image": "c", "depends_on": {"d": "started"}},
               "d": {"image": "d"}"#,
        ),
        "ok",
    );
    check(
        &app(
            r#""db": {"image": "db", "healthcheck": {"test": "none"}}, "web": {"image": "w", "depends_on": {"db": "healthy"}}"#,
        ),
        "apps.main.release.blocks.web.depends_on.db: 'db' can never be healthy: its healthcheck is disabled",
    );
}

#[test]
fn ports() {
    check(
        &web(
            r#""ports": [{"target": 80, "published": 8080, "host_ip": "::1", "protocol": "sctp"}]"#,
        ),
        "ok",
    );
    check(
        &web(r#""ports": [{"target": 0}]"#),
        "apps.main.release.blocks.web.ports[0].target: invalid value: integer `0`, expected a nonzero u16...",
    );
    check(
        &web(r#""ports": [{"target": 70000}]"#),
        "apps.main.release.blocks.web.ports[0].target: invalid value: integer `70000`, expected a nonzero u16...",
    );
    check(
        &web(r#""ports": [{"target": 80, "host_ip": "localhost"}]"#),
        "apps.main.release.blocks.web.ports[0].host_ip: invalid IP address syntax...",
    );
    check(
        &web(r#""ports": [{"target": 80, "protocol": "icmp"}]"#),
        "apps.main.release.blocks.web.ports[0].protocol: unknown variant `icmp`...",
    );
    check(
        &web(r#""ports": ["8080:80"]"#),
        "apps.main.release.blocks.web.ports[0]: invalid type: string \"8080:80\", expected struct PortMapping...",
    );
    check(
        &app(
            r#""a": {"image": "a", "ports": [{"target": 80, "published": 8080}]},
               "b": {"image": "b", "ports": [{"target": 81, "published": 8080, "host_ip": "127.0.0.1"}]}"#,
        ),
        "apps.main.release.blocks.b.ports[0]: host port 127.0.0.1:8080:81/tcp is already published by \
         apps.main.release.blocks.a.ports[0]",
    );
    // Across apps too: the host has one port 8080.
    check(
        r#"{"version": 1, "apps": {
            "a": {"class": "app", "release": {"version": "1.0.0", "blocks": {"x": {"image": "x", "ports": [{"target": 1, "published": 8080}]}}}},
            "b": {"class": "app", "release": {"version": "1.0.0", "blocks": {"y": {"image": "y", "ports": [{"target": 2, "published": 8080}]}}}}}}"#,
        "apps.b.release.blocks.y.ports[0]: host port 8080:2/tcp is already published by apps.a.release.blocks.x.ports[0]",
    );
    // Same port number, other protocol: no conflict.
    check(
        &app(
            r#""a": {"image": "a", "ports": [{"target": 53, "published": 53}]},
               "b": {"image": "b", "ports": [{"target": 53, "published": 53, "protocol": "udp"}]}"#,
        ),
        "ok",
    );
}

#[test]
fn volumes() {
    check(
        &web(
            r#""volumes": [{"type": "volume", "source": "data", "target": "/data", "read_only": true}]"#,
        ),
        "ok",
    );
    check(
        &web(r#""volumes": [{"type": "volume", "source": "logs", "target": "/logs"}]"#),
        "apps.main.release.blocks.web.volumes[0]: no volume named 'logs' in app 'main'",
    );
    check(
        &web(r#""volumes": [{"type": "volume", "source": "data", "target": "data"}]"#),
        "apps.main.release.blocks.web.volumes[0]: path 'data' is not absolute...",
    );
    check(
        &web(r#""volumes": [{"type": "bind", "source": "./conf", "target": "/etc/conf"}]"#),
        "apps.main.release.blocks.web.volumes[0]: path './conf' is not absolute...",
    );
    check(
        &web(r#""volumes": [{"type": "npipe", "source": "x", "target": "/x"}]"#),
        "apps.main.release.blocks.web.volumes[0].type: unknown variant `npipe`, expected one of `volume`, `bind`, `tmpfs`...",
    );
    check(
        &web(r#""volumes": ["data:/data"]"#),
        "apps.main.release.blocks.web.volumes[0]: invalid type: string \"data:/data\", expected internally tagged enum VolumeMount...",
    );
    check(
        &web(
            r#""volumes": [{"type": "volume", "source": "data", "target": "/data"},
                           {"type": "tmpfs", "target": "/data"}]"#,
        ),
        "apps.main.release.blocks.web.volumes[1]: two mounts at '/data'",
    );
}

#[test]
fn networks() {
    check(&web(r#""networks": ["backend", "default"]"#), "ok");
    check(
        &web(r#""networks": ["front"]"#),
        "apps.main.release.blocks.web.networks[0]: no network named 'front' in app 'main'",
    );
    check(
        &web(r#""networks": ["backend", "backend"]"#),
        "apps.main.release.blocks.web.networks[1]: network 'backend' is listed twice",
    );
}

#[test]
fn fields_the_engine_could_not_take() {
    check(
        &web(r#""labels": {"io.osb.app": "other"}"#),
        "apps.main.release.blocks.web.labels: label 'io.osb.app' is reserved: names starting with 'io.osb.' are the runtime's (but for the feature labels 'io.osb.features.*')",
    );
    check(
        r#"{"version": 1, "apps": {"main": {"class": "app", "release": {"version": "1.0.0", "blocks": {}},
            "volumes": {"data": {"labels": {"io.osb.volume": "x"}}}}}}"#,
        "apps.main.volumes.data.labels: label 'io.osb.volume' is reserved: names starting with 'io.osb.' are the runtime's (but for the feature labels 'io.osb.features.*')",
    );
    check(
        &web(r#""environment": {"A=B": "1"}"#),
        "apps.main.release.blocks.web.environment.A=B: 'A=B' is not a valid environment variable name",
    );
    check(
        &web(r#""environment": {"A": "x\u0000y"}"#),
        "apps.main.release.blocks.web.environment.A: a NUL byte cannot be passed to a process",
    );
    check(
        &web(r#""command": []"#),
        "apps.main.release.blocks.web.command: an empty command; leave it out to run the image's own",
    );
    check(
        &web(r#""healthcheck": {"test": {"cmd": []}}"#),
        "apps.main.release.blocks.web.healthcheck.test: an empty healthcheck command",
    );
}

#[test]
fn config_hash_covers_the_container_only() {
    let block = |rest: &str| -> Block {
        let state = TargetState::from_json(&web(rest)).unwrap_or_else(|e| panic!("{e}"));
        state.apps["main"].release.blocks["web"].clone()
    };
    let base = block("").config_hash();
    assert_eq!(base, block("").config_hash(), "deterministic");
    assert_eq!(base.as_str().len(), 64);
    assert_ne!(base, block(r#""environment": {"A": "1"}"#).config_hash());
    assert_ne!(base, block(r#""restart": "no""#).config_hash());
    // How and when it runs is not what it is.
    assert_eq!(
        base,
        block(r#""update_strategy": "kill-then-download""#).config_hash()
    );
    assert_eq!(
        base,
        block(r#""time": "synced", "plugins": ["x"]"#).config_hash()
    );

    let respelled = |image: &str| {
        let mut b = block("");
        b.image = ImageRef::parse(image).unwrap_or_else(|e| panic!("{e}"));
        b.config_hash()
    };
    assert_eq!(
        respelled("nginx"),
        respelled("docker.io/library/nginx:latest")
    );
    assert_ne!(respelled("nginx"), respelled("nginx:1"));
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let input = web(&format!(r#""requires": [{{"x": {deep}}}]"#));
    let got = TargetState::from_json(&input)
        .map(|_| ())
        .map_err(|e| e.to_string());
    let refused = matches!(&got, Err(m) if m.starts_with("apps.main.release.blocks.web.requires[0].x[0]")
        && m.contains(": recursion limit exceeded at line"));
    assert!(refused, "deep nesting must be refused");
}

#[test]
fn odd_strings_are_refused_without_panicking() {
    use crate::mount::VolumeMount;
    use crate::port::PortMapping;
    let odd = [
        "",
        ":",
        "::",
        "@",
        "/",
        "//",
        "[",
        "]",
        "[::1",
        "[]:1/a",
        "é",
        "é:1",
        "a@é",
        "ü/ä:ö",
        "1ß",
        "a:b:c:d:e",
        "-",
        "--",
        "a/-/b",
        ".a",
        "a.",
        "1-",
        "-1",
        "1s1",
        "1.5.5s",
        "99999999999999999999999999999999999999s",
        "µs",
        "1µs",
        "\u{0}",
        "a\u{0}b:/x",
        "/x/../y",
        "0.0.0.0:0:0",
        "[::1]::80",
        "8080:80/",
        "/:",
        "x:/:ro",
        "a:/b:RO",
    ];
    for s in odd {
        let _ = ImageRef::parse(s);
        let _ = HumanDuration::parse(s);
        let _ = PortMapping::parse_short(s);
        let _ = s.parse::<VolumeMount>();
        let _ = crate::name::BlockName::new(s);
    }
}

#[test]
fn hashes_of_blocks_written_before_the_container_settings_are_unchanged() {
    // The hash the runtime gave this block before blocks had container
    // settings: an upgrade of the runtime must recreate no container.
    let state = TargetState::from_json(
        r#"{"version": 1, "apps": {"main": {"class": "app", "release": {"version": "1.0.0",
            "blocks": {"web": {"image": "busybox", "environment": {"A": "1"}}}}}}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        state.apps["main"].release.blocks["web"]
            .config_hash()
            .as_str(),
        "f524cb70d474623c06ef60b295ad502e0232b92f18ebe9f8da2fd73b01572084"
    );
}

#[test]
fn container_settings_read_and_round_trip() {
    let text = web(
        r#""privileged": true, "network_mode": "host", "pid": "host", "ipc": "shareable",
           "cap_add": ["net_admin", "CAP_SYS_TIME"], "cap_drop": ["MKNOD"],
           "devices": [{"source": "/dev/ttyUSB0", "target": "/dev/zigbee", "permissions": "rw"}],
           "device_cgroup_rules": ["c 189:* rmw"], "security_opt": ["no-new-privileges"],
           "sysctls": {"kernel.shmmax": "1024"}, "ulimits": {"nofile": {"soft": 1024, "hard": 4096}},
           "shm_size": 67108864, "read_only": true, "user": "1000:1000", "group_add": ["dialout"],
           "working_dir": "/srv", "entrypoint": [], "hostname": "gw", "domainname": "local",
           "dns": ["10.0.0.1"], "dns_search": ["example.com"], "dns_opt": ["ndots:2"],
           "extra_hosts": {"db.local": "10.0.0.2", "host.docker.internal": "host-gateway"},
           "init": true, "tty": true, "stdin_open": true, "stop_signal": "SIGINT",
           "stop_grace_period": "30s", "oom_kill_disable": true, "oom_score_adj": -500,
           "mem_limit": 134217728, "mem_reservation": 67108864, "memswap_limit": -1,
           "cpus": 1.5, "cpu_shares": 512, "cpuset": "0-1", "runtime": "runc",
           "logging": {"driver": "json-file", "options": {"max-size": "10m"}}"#,
    );
    let state = TargetState::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
    let block = &state.apps["main"].release.blocks["web"];
    let caps: Vec<&str> = block.cap_add.iter().map(|c| c.as_str()).collect();
    assert_eq!(caps, ["NET_ADMIN", "SYS_TIME"]);
    assert_eq!(block.cpus.map(|c| c.nanos()), Some(1_500_000_000));
    assert_eq!(block.entrypoint, Some(Vec::new()));
    assert_eq!(block.devices[0].target_path().as_str(), "/dev/zigbee");
    let again = TargetState::from_json(&state.to_json()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, state);
    // Each setting is part of what the container is.
    let plain = TargetState::from_json(&web("")).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        plain.apps["main"].release.blocks["web"].config_hash(),
        block.config_hash()
    );
}

#[test]
fn container_settings_the_engine_would_refuse_are_refused_here() {
    let at = "apps.main.release.blocks.web";
    for (rest, expect) in [
        (
            r#""cap_add": ["NET_ADMINN"]"#,
            format!(
                "{at}.cap_add[0]: unknown capability 'NET_ADMINN' (a name from capabilities(7), e.g. NET_ADMIN, or ALL)..."
            ),
        ),
        (
            r#""devices": [{"source": "ttyUSB0"}]"#,
            format!("{at}.devices[0].source: path 'ttyUSB0' is not absolute..."),
        ),
        (
            r#""devices": [{"source": "/dev/a", "permissions": "rwx"}]"#,
            format!("{at}.devices[0].permissions: invalid device permissions 'rwx'..."),
        ),
        (
            r#""sysctls": {"kernel.panic": "1"}"#,
            format!(
                "{at}.sysctls.kernel.panic: not a sysctl of the container's own namespaces (net.*, fs.mqueue.* and the IPC kernel.* ones): it would change the host's"
            ),
        ),
        (
            r#""network_mode": "host", "sysctls": {"net.ipv4.ip_forward": "1"}"#,
            format!(
                "{at}.sysctls.net.ipv4.ip_forward: a net.* sysctl needs the block's own network namespace"
            ),
        ),
        (
            r#""ulimits": {"nofile": {"soft": 10, "hard": 5}}"#,
            format!("{at}.ulimits.nofile: the soft limit 10 is above the hard limit 5"),
        ),
        (
            r#""ulimits": {"nofile": {"soft": -1, "hard": 5}}"#,
            format!("{at}.ulimits.nofile: the soft limit -1 is above the hard limit 5"),
        ),
        (
            r#""ulimits": {"nofiles": {"soft": 1, "hard": 5}}"#,
            format!("{at}.ulimits.nofiles: unknown resource limit..."),
        ),
        (
            r#""network_mode": "host", "networks": ["backend"]"#,
            format!("{at}.networks: a block with network_mode 'host' joins no network of its app"),
        ),
        (
            r#""network_mode": "host", "ports": [{"target": 80, "published": 8080}]"#,
            format!(
                "{at}.ports[0]: ports are published from the app's networks; under network_mode 'host' the block binds the host's ports itself: leave 'published' out"
            ),
        ),
        (
            r#""network_mode": "service:db""#,
            format!("{at}.network_mode: no block named 'db' in the release"),
        ),
        (
            r#""network_mode": "service:web""#,
            format!("{at}.network_mode: a block cannot join its own namespace"),
        ),
        (
            r#""network_mode": "container:abc""#,
            format!(
                "{at}.network_mode: 'container:abc' is not supported ('container:' names a container outside the release; use 'service:<block>')..."
            ),
        ),
        (
            r#""pid": "private""#,
            format!("{at}.pid: 'private' is not supported (one of host, service:<block>)..."),
        ),
        (
            r#""mem_limit": 1024"#,
            format!("{at}.mem_limit: 1024 bytes is under the engine's minimum of 6 MiB"),
        ),
        (
            r#""mem_limit": 67108864, "mem_reservation": 134217728"#,
            format!(
                "{at}.mem_reservation: above mem_limit: the soft limit must be at most the hard one"
            ),
        ),
        (
            r#""memswap_limit": -1"#,
            format!("{at}.memswap_limit: needs mem_limit: it is memory plus swap"),
        ),
        (
            r#""mem_limit": 67108864, "memswap_limit": 1048576"#,
            format!(
                "{at}.memswap_limit: is memory plus swap: -1 (unlimited swap) or at least mem_limit"
            ),
        ),
        (
            r#""oom_kill_disable": true"#,
            format!(
                "{at}.oom_kill_disable: without mem_limit, a block the kernel may not kill can take the device's memory"
            ),
        ),
        (
            r#""oom_score_adj": 1001"#,
            format!("{at}.oom_score_adj: from -1000 to 1000"),
        ),
        (
            r#""cpus": 0"#,
            format!("{at}.cpus: invalid cpus '0' (a positive number, e.g. 0.5 or 2)..."),
        ),
        (
            r#""cpu_quota": 10"#,
            format!("{at}.cpu_quota: under the engine's minimum of 1000 microseconds"),
        ),
        (
            r#""shm_size": 0"#,
            format!("{at}.shm_size: from 1 byte to 2^63-1"),
        ),
        (
            r#""stop_signal": "SIGFOO""#,
            format!("{at}.stop_signal: unknown signal 'SIGFOO'..."),
        ),
        (
            r#""healthcheck": {"interval": "500us"}"#,
            format!("{at}.healthcheck.interval: 500us is under the engine's minimum of 1ms"),
        ),
        (
            r#""volumes": [{"type": "bind", "source": "/srv", "target": "/"}]"#,
            format!(
                "{at}.volumes[0].target: a mount over the container's root '/' is not possible"
            ),
        ),
        (
            r#""volumes": [{"type": "tmpfs", "target": "/tmp/osb/x"}]"#,
            format!(
                "{at}.volumes[0].target: '/tmp/osb' is where the runtime mounts the block's update lock"
            ),
        ),
        (
            r#""volumes": [{"type": "tmpfs", "target": "/cache", "size": 18446744073709551615}]"#,
            format!(
                "{at}.volumes[0].size: 18446744073709551615 bytes is not a size the engine takes (1 to 9223372036854775807)"
            ),
        ),
        (
            r#""ports": [{"target": 80, "published": 8080}], "update_strategy": {"hand-over": {"timeout": "10s"}}"#,
            format!(
                "{at}.update_strategy: hand-over runs the new container beside the old one, and both cannot bind host port 8080:80/tcp ({at}.ports[0]): use download-then-kill"
            ),
        ),
        (
            r#""extra_hosts": {"db": "300.0.0.1"}"#,
            format!(
                "{at}.extra_hosts.db: invalid address '300.0.0.1' (an IP address or 'host-gateway')..."
            ),
        ),
    ] {
        check(&web(rest), &expect);
    }
}

#[test]
fn a_block_waited_on_to_complete_runs_once() {
    let blocks = |migrate: &str| {
        app(&format!(
            r#""migrate": {{"image": "m"{migrate}}},
               "web": {{"image": "w", "depends_on": {{"migrate": "completed"}}}}"#
        ))
    };
    let state = TargetState::from_json(&blocks("")).unwrap_or_else(|e| panic!("{e}"));
    let release = &state.apps["main"].release;
    assert_eq!(release.blocks["migrate"].restart(), RestartPolicy::No);
    assert_eq!(release.blocks["web"].restart(), RestartPolicy::Always);
    let state = TargetState::from_json(&blocks(r#", "restart": "on-failure""#))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        state.apps["main"].release.blocks["migrate"].restart(),
        RestartPolicy::OnFailure
    );
    check(
        &blocks(r#", "restart": "always""#),
        "apps.main.release.blocks.web.depends_on.migrate: 'migrate' can never stay completed: its restart policy 'always' starts it again when it exits; use 'no' or 'on-failure'",
    );
}

#[test]
fn joining_a_namespace_orders_and_recreates() {
    let text = app(r#""vpn": {"image": "vpn", "cap_add": ["NET_ADMIN"]},
           "web": {"image": "web", "network_mode": "service:vpn"}"#);
    let state = TargetState::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
    let main = &state.apps["main"];
    let vpn = BlockName::new("vpn").unwrap_or_else(|e| panic!("{e}"));
    let web = BlockName::new("web").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        main.release.blocks["web"].depends_on.get(&vpn),
        Some(&DependsCondition::Started)
    );
    // A change to vpn changes web's container hash: web shares vpn's
    // network namespace, which goes with vpn's old container.
    let before = main.container_hash(&web);
    let mut changed = main.clone();
    if let Some(b) = changed.release.blocks.get_mut("vpn") {
        b.environment.insert("X".to_owned(), "1".to_owned());
    }
    assert_ne!(before, changed.container_hash(&web));
    assert_eq!(
        main.release.blocks["web"].config_hash(),
        changed.release.blocks["web"].config_hash()
    );
    // Ports belong to the namespace's owner.
    check(
        &app(r#""vpn": {"image": "vpn"},
                "web": {"image": "web", "network_mode": "service:vpn", "ports": [{"target": 80}]}"#),
        "apps.main.release.blocks.web.ports: the block shares another block's network namespace: its ports are that block's",
    );
    // An IPC donor that says nothing is made shareable; one that keeps its
    // namespace private cannot be joined.
    let state = TargetState::from_json(&app(
        r#""db": {"image": "db"}, "web": {"image": "web", "ipc": "service:db"}"#,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        state.apps["main"].release.blocks["db"]
            .ipc
            .as_ref()
            .map(|m| m.0.as_string()),
        Some("shareable".to_owned())
    );
    check(
        &app(
            r#""db": {"image": "db", "ipc": "private"}, "web": {"image": "web", "ipc": "service:db"}"#,
        ),
        "apps.main.release.blocks.web.ipc: 'db' keeps its IPC namespace to itself (ipc 'private'): it needs ipc 'shareable'",
    );
    // A ring of joins is a dependency cycle.
    check(
        &app(r#""a": {"image": "a", "network_mode": "service:b"},
                "b": {"image": "b", "ipc": "service:a"}"#),
        "apps.main.release.blocks.a.depends_on: dependency cycle a -> b -> a",
    );
}

#[test]
fn test_blocks_run_once_and_nothing_waits_for_them() {
    let state = TargetState::from_json(&app(
        r#""web": {"image": "w"}, "smoke": {"image": "t", "role": "test", "depends_on": {"web": "started"}}"#,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let release = &state.apps["main"].release;
    assert_eq!(release.blocks["smoke"].role, BlockRole::Test);
    assert_eq!(release.blocks["smoke"].restart(), RestartPolicy::No);
    assert_eq!(release.blocks["web"].role, BlockRole::Service);
    assert!(release.has_tests());
    assert_eq!(
        release.validation_window(),
        Release::DEFAULT_VALIDATION_WINDOW
    );
    // The role is not part of the container: a block that becomes a test
    // is not recreated for it.
    let mut test = release.blocks["web"].clone();
    test.role = BlockRole::Test;
    assert_eq!(test.config_hash(), release.blocks["web"].config_hash());

    check(
        &app(r#""smoke": {"image": "t", "role": "test", "restart": "always"}"#),
        "apps.main.release.blocks.smoke.restart: a test block runs once: its restart policy must be 'no', not 'always'",
    );
    check(
        &app(r#""smoke": {"image": "t", "role": "test", "optional": true}"#),
        "apps.main.release.blocks.smoke.optional: a test block cannot be optional: a release is validated by all its tests",
    );
    check(
        &app(
            r#""smoke": {"image": "t", "role": "test"}, "web": {"image": "w", "depends_on": {"smoke": "completed"}}"#,
        ),
        "apps.main.release.blocks.web.depends_on.smoke: 'smoke' is a test block: it runs only while the release is validated, so no block can wait for it",
    );
    check(
        &web(r#""role": "probe""#),
        "apps.main.release.blocks.web.role: unknown variant `probe`...",
    );
}

#[test]
fn the_validation_window_is_bounded() {
    let window = |w: &str| {
        format!(
            r#"{{"version": 1, "apps": {{"main": {{"class": "app", "release": {{"version": "1.0.0",
                "validation_window": "{w}", "blocks": {{"web": {{"image": "w"}}}}}}}}}}}}"#
        )
    };
    let state = TargetState::from_json(&window("90s")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        state.apps["main"].release.validation_window(),
        std::time::Duration::from_secs(90)
    );
    for (w, expect) in [
        (
            "0s",
            "apps.main.release.validation_window: 0s is outside 1s to 24h",
        ),
        (
            "25h",
            "apps.main.release.validation_window: 25h is outside 1s to 24h",
        ),
        ("soon", "apps.main.release.validation_window: ..."),
    ] {
        check(&window(w), expect);
    }
}

/// A target whose app `os` is of class `class` with the blocks in `blocks`.
fn os_app(class: &str, blocks: &str) -> String {
    format!(
        r#"{{"version": 1, "apps": {{"os": {{"class": "{class}",
            "release": {{"version": "2.0.0", "blocks": {{{blocks}}}}}}}}}}}"#
    )
}

#[test]
fn overlays_and_the_hostapp_belong_to_the_os() {
    let host = r#""host": {"image": "os/host:2", "kind": "hostapp"}"#;
    let modules = r#""modules": {"image": "os/modules:2", "kind": "overlay",
        "overlay": {"override_priority": 10, "kernel_version": "5.10.104-tegra", "kernel_abi": "0"}}"#;
    let os = os_app("os", &format!("{host}, {modules}"));
    check(&os, "ok");
    let target = TargetState::from_json(&os).unwrap();
    let block = &target.apps[&AppName::new("os").unwrap()].release.blocks
        [&BlockName::new("modules").unwrap()];
    assert_eq!(block.kind, Some(BlockKind::Overlay));
    let overlay = block.overlay.as_ref().unwrap();
    assert_eq!(overlay.override_priority, Some(10));
    assert_eq!(
        overlay.kernel_version.as_ref().unwrap().as_str(),
        "5.10.104-tegra"
    );
    // What the target says round-trips, and a plain block says nothing new.
    assert_eq!(
        TargetState::from_json(&serde_json::to_string(&target).unwrap()).unwrap(),
        target
    );
    assert!(
        !serde_json::to_string(&TargetState::from_json(&web("")).unwrap())
            .unwrap()
            .contains("kind")
    );

    check(
        &os_app("app", host),
        "apps.os.release.blocks.host.kind: a block of kind 'hostapp' belongs only to an app of class 'os'",
    );
    check(
        &os_app("system", modules),
        "apps.os.release.blocks.modules.kind: a block of kind 'overlay' belongs only to an app of class 'os'",
    );
    check(
        &os_app(
            "os",
            &format!(r#"{host}, "host2": {{"image": "os/host:3", "kind": "hostapp"}}"#),
        ),
        "apps.os.release.blocks.host2.kind: a release holds one hostapp at most, and 'host' is one",
    );
    check(
        &os_app(
            "os",
            r#""x": {"image": "x:1", "kind": "service", "overlay": {}}"#,
        ),
        "apps.os.release.blocks.x.overlay: only an overlay block has overlay settings",
    );
    check(
        &os_app(
            "os",
            &format!(
                r#"{modules}, "agent": {{"image": "a:1", "depends_on": {{"modules": "started"}}}}"#
            ),
        ),
        "apps.os.release.blocks.agent.depends_on.modules: 'modules' is of kind 'overlay': it never runs, so no block can wait for it",
    );
    check(
        &os_app(
            "os",
            r#""t": {"image": "t:1", "kind": "overlay", "role": "test", "restart": "no"}"#,
        ),
        "apps.os.release.blocks.t.role: a block of kind 'overlay' never runs, so it cannot be a test",
    );
    check(
        &os_app("os", r#""m": {"image": "m:1", "kind": "kernel"}"#),
        "apps.os.release.blocks.m.kind: unknown variant `kernel`...",
    );
    check(
        &os_app(
            "os",
            r#""m": {"image": "m:1", "kind": "overlay", "overlay": {"kernel_version": "5.10 x"}}"#,
        ),
        "apps.os.release.blocks.m.overlay.kernel_version: '5.10 x' holds a character other than printable ASCII...",
    );
}
