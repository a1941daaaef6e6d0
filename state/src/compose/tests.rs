use super::*;

/// Imports `yaml` and renders it: the name, one line per block, volume and
/// network as compact JSON, one per warning; or the error.
fn check(yaml: &str, expect: &str) {
    check_with(yaml, &ImportContext::new(), expect);
}

/// [`check`], with `context`.
fn check_with(yaml: &str, context: &ImportContext<'_>, expect: &str) {
    let got = match import_with(yaml, context) {
        Ok(import) => render(&import),
        Err(e) => format!("error: {e}"),
    };
    let expect: Vec<&str> = expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let got_lines: Vec<&str> = got.lines().collect();
    assert_eq!(got_lines, expect, "\n--- got ---\n{got}\n");
}

fn render(import: &ComposeImport) -> String {
    let json = |v: &dyn erased::Json| v.json();
    let mut out = Vec::new();
    if let Some(name) = &import.name {
        out.push(format!("name {name}"));
    }
    for (name, volume) in &import.volumes {
        out.push(format!("volume {name} {}", json(volume)));
    }
    for (name, network) in &import.networks {
        out.push(format!("network {name} {}", json(network)));
    }
    for (name, block) in &import.blocks {
        out.push(format!("block {name} {}", json(block)));
    }
    for warning in &import.warnings {
        out.push(format!("warning {warning}"));
    }
    out.join("\n")
}

mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

#[test]
fn a_balena_style_file() {
    check(
        r#"
version: "2.1"
name: homeassistant

x-defaults: &defaults
  restart: unless-stopped

volumes:
  ha-config:
  influx-data:
    driver: local
    driver_opts: {type: none, o: bind, device: /mnt/data/influx}

networks:
  backend:
    internal: true

services:
  homeassistant:
    <<: *defaults
    image: homeassistant/home-assistant:2024.6
    network_mode: host
    privileged: true
    volumes:
      - ha-config:/config
      - /run/dbus:/host/run/dbus:ro
    environment:
      TZ: Europe/Amsterdam
      DEBUG: 1
    labels:
      io.balena.features.dbus: '1'
    depends_on:
      influxdb:
        condition: service_healthy
    x-osb:
      time: synced
      update_strategy: kill-then-download

  influxdb:
    image: influxdb:2.7
    volumes:
      - type: volume
        source: influx-data
        target: /var/lib/influxdb2
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 64m}
    networks: [backend, default]
    ports:
      - "127.0.0.1:8086:8086"
      - 8088
    healthcheck:
      test: ["CMD", "influx", "ping"]
      interval: 30s
      timeout: 10s
      retries: 3
      start_period: 1m
    cap_add: [SYS_ADMIN]
"#,
        r#"
        name homeassistant
        volume ha-config {}
        volume influx-data {"driver":"local","driver_opts":{"device":"/mnt/data/influx","o":"bind","type":"none"}}
        network backend {"internal":true}
        block homeassistant {"image":"homeassistant/home-assistant:2024.6","environment":{"DEBUG":"1","TZ":"Europe/Amsterdam"},"labels":{"io.balena.features.dbus":"1"},"volumes":[{"type":"volume","source":"ha-config","target":"/config"},{"type":"bind","source":"/run/dbus","target":"/host/run/dbus","read_only":true}],"depends_on":{"influxdb":"healthy"},"restart":"unless-stopped","update_strategy":"kill-then-download","time":"synced","privileged":true,"network_mode":"host"}
        block influxdb {"image":"influxdb:2.7","volumes":[{"type":"volume","source":"influx-data","target":"/var/lib/influxdb2"},{"type":"tmpfs","target":"/tmp","size":67108864}],"networks":["backend","default"],"ports":[{"target":8086,"published":8086,"host_ip":"127.0.0.1","protocol":"tcp"},{"target":8088,"protocol":"tcp"}],"healthcheck":{"test":{"cmd":["influx","ping"]},"interval":"30s","timeout":"10s","retries":3,"start_period":"1m"},"cap_add":["SYS_ADMIN"]}
        warning services.influxdb.ports[1]: no host port: exposed to the block's networks, not published (write 'HOST:CONTAINER' to publish it)
        "#,
    );
}

#[test]
fn command_forms() {
    let with =
        |command: &str| format!("services:\n  web:\n    image: web\n    command: {command}\n");
    let block = r#"block web {"image":"web","command":"#;
    let tail = r#"}"#;
    check(
        &with(r#"["nginx", "-g", "daemon off;"]"#),
        &format!(r#"{block}["nginx","-g","daemon off;"]{tail}"#),
    );
    check(
        &with(r#"nginx -g 'daemon off;'"#),
        &format!(r#"{block}["nginx","-g","daemon off;"]{tail}"#),
    );
    check(
        &with(r#"sh -c "echo \"hi there\"""#).replace(r#"\"hi there\""#, r#"'hi there'"#),
        &format!(r#"{block}["sh","-c","echo 'hi there'"]{tail}"#),
    );
    check(
        &with(r#"'echo "unbalanced'"#),
        "error: services.web.command: unbalanced quotes",
    );
    check(
        &with("[]"),
        "error: services.web.command: an empty command; leave it out to run the image's own",
    );
}

#[test]
fn environment_and_labels_forms() {
    check(
        r#"
services:
  web:
    image: web
    environment:
      - A=1
      - B=x=y
      - FROM_HOST
      - URL=http://${HOST}/
    labels: ["com.example.a=1", "com.example.flag"]
"#,
        r#"
        block web {"image":"web","environment":{"A":"1","B":"x=y","URL":"http:///"},"labels":{"com.example.a":"1","com.example.flag":""}}
        warning services.web.environment[2]: no value, and 'FROM_HOST' is not in the environment the file is imported with; left out
        warning services.web.environment[3]: variable 'HOST' is not set: substituted an empty string
        "#,
    );
    check(
        "services:\n  web:\n    image: web\n    environment:\n      A:\n      B: true\n",
        r#"
        block web {"image":"web","environment":{"B":"true"}}
        warning services.web.environment.A: no value, and 'A' is not in the environment the file is imported with; left out
        "#,
    );
    check(
        "services:\n  web:\n    image: web\n    environment: [A=1, A=2]\n",
        "error: services.web.environment[1]: variable 'A' is given twice",
    );
    check(
        "services:\n  web:\n    image: web\n    labels: {io.osb.block: x}\n",
        "error: services.web.labels: label 'io.osb.block' is reserved: names starting with 'io.osb.' are the runtime's (but for the feature labels 'io.osb.features.*')",
    );
    check(
        "services:\n  web:\n    image: web\n    environment: A=1\n",
        "error: services.web.environment: expected a mapping or a list, found a string",
    );
}

#[test]
fn volume_forms() {
    check(
        r#"
volumes: {data: {}}
services:
  web:
    image: web
    volumes:
      - data:/data:ro
      - /cache
      - type: volume
        target: /anon
      - type: bind
        source: /etc/hosts
        target: /etc/hosts
        read_only: true
        bind: {propagation: rshared}
      - type: volume
        source: data
        target: /data2
        volume: {nocopy: true}
"#,
        r#"
        volume data {}
        block web {"image":"web","volumes":[{"type":"volume","source":"data","target":"/data","read_only":true},{"type":"bind","source":"/etc/hosts","target":"/etc/hosts","read_only":true},{"type":"volume","source":"data","target":"/data2"}]}
        warning services.web.volumes[1]: anonymous volume '/cache': name it ('name:/cache') so its data outlives an update; ignored
        warning services.web.volumes[2]: anonymous volume '/anon': name it with 'source' so its data outlives an update; ignored
        warning services.web.volumes[3].bind: not supported, ignored
        warning services.web.volumes[4].volume: not supported, ignored
        "#,
    );
    check(
        r#"
services:
  web:
    image: web
    volumes: [/srv:/srv]
    tmpfs: [/run, "/tmp:size=64m,mode=1777"]
  one:
    image: one
    tmpfs: /run
"#,
        r#"
        block one {"image":"one","volumes":[{"type":"tmpfs","target":"/run"}]}
        block web {"image":"web","volumes":[{"type":"tmpfs","target":"/run"},{"type":"tmpfs","target":"/tmp","size":67108864},{"type":"bind","source":"/srv","target":"/srv"}]}
        warning services.web.tmpfs[1]: option 'mode=1777' is not supported, ignored
        "#,
    );
    check(
        "services:\n  web:\n    image: web\n    volumes: [data:/data]\n",
        "error: services.web.volumes[0]: no volume named 'data' in the compose file",
    );
    check(
        "services:\n  web:\n    image: web\n    volumes: ['./conf:/etc/conf']\n",
        "error: services.web.volumes[0]: invalid volume './conf:/etc/conf': relative host path './conf': a device has no project directory; use an absolute path",
    );
    check(
        "services:\n  web:\n    image: web\n    volumes: [{type: npipe, source: x, target: /x}]\n",
        "error: services.web.volumes[0].type: type 'npipe' is not supported (volume, bind or tmpfs)",
    );
    check(
        "services:\n  web:\n    image: web\n    volumes: [{type: tmpfs, target: /t, tmpfs: {size: lots}}]\n",
        "error: services.web.volumes[0].tmpfs.size: expected a size in bytes, e.g. 65536 or '64m'",
    );
}

#[test]
fn port_forms() {
    check(
        r#"
services:
  web:
    image: web
    ports:
      - "8080:80"
      - "127.0.0.1:5353:53/udp"
      - "9000-9001:9000-9001"
      - target: 443
        published: "8443"
        protocol: tcp
        mode: host
"#,
        r#"
        block web {"image":"web","ports":[{"target":80,"published":8080,"protocol":"tcp"},{"target":53,"published":5353,"host_ip":"127.0.0.1","protocol":"udp"},{"target":9000,"published":9000,"protocol":"tcp"},{"target":9001,"published":9001,"protocol":"tcp"},{"target":443,"published":8443,"protocol":"tcp"}]}
        warning services.web.ports[3].mode: not supported, ignored
        "#,
    );
    check(
        "services:\n  web:\n    image: web\n    ports: ['80:80:80:80']\n",
        "error: services.web.ports[0]: invalid port '80:80:80:80': host address '80:80' is not an IP address",
    );
    check(
        "services:\n  web:\n    image: web\n    ports: [{published: 80}]\n",
        "error: services.web.ports[0]: no 'target'",
    );
    check(
        "services:\n  a:\n    image: a\n    ports: ['80:80']\n  b:\n    image: b\n    ports: ['80:8080']\n",
        "error: services.b.ports[0]: host port 80:8080/tcp is already published by services.a.ports[0]",
    );
}

#[test]
fn depends_on_forms() {
    let tail = "}";
    check(
        r#"
services:
  db: {image: db}
  init: {image: init, restart: "no"}
  web:
    image: web
    depends_on:
      db: {condition: service_healthy, restart: true}
      init: {condition: service_completed_successfully}
  worker:
    image: worker
    depends_on: [db]
"#,
        &format!(
            r#"
            block db {{"image":"db"{tail}
            block init {{"image":"init","restart":"no"}}
            block web {{"image":"web","depends_on":{{"db":"healthy","init":"completed"}}{tail}
            block worker {{"image":"worker","depends_on":{{"db":"started"}}{tail}
            warning services.web.depends_on.db.restart: not supported, ignored
            "#
        ),
    );
    check(
        "services:\n  web:\n    image: web\n    depends_on: [db]\n",
        "error: services.web.depends_on.db: no block named 'db' in the compose file",
    );
    check(
        "services:\n  a: {image: a, depends_on: [b]}\n  b: {image: b, depends_on: [a]}\n",
        "error: services.a.depends_on: dependency cycle a -> b -> a",
    );
    check(
        "services:\n  a: {image: a, depends_on: {b: {condition: service_ready}}}\n  b: {image: b}\n",
        "error: services.a.depends_on.b.condition: unknown condition 'service_ready' (service_started, service_healthy or service_completed_successfully)",
    );
}

#[test]
fn restart_and_healthcheck_forms() {
    let restart =
        |policy: &str| format!("services:\n  web:\n    image: web\n    restart: {policy}\n");
    let block = |policy: &str| format!(r#"block web {{"image":"web","restart":"{policy}"}}"#);
    check(&restart("no"), &block("no"));
    check(&restart("\"no\""), &block("no"));
    check(&restart("on-failure"), &block("on-failure"));
    check(
        &restart("on-failure:3"),
        &format!(
            "{}\nwarning services.web.restart: the retry limit is not supported, ignored: the engine retries without limit",
            block("on-failure")
        ),
    );
    check(
        &restart("sometimes"),
        "error: services.web.restart: unknown restart policy 'sometimes' (no, always, on-failure or unless-stopped)",
    );

    let health =
        |check: &str| format!("services:\n  web:\n    image: web\n    healthcheck: {check}\n");
    let block = |check: &str| format!(r#"block web {{"image":"web","healthcheck":{check}}}"#);
    check(
        &health(r#"{test: "curl -f http://localhost/"}"#),
        &block(r#"{"test":{"shell":"curl -f http://localhost/"}}"#),
    );
    check(
        &health(r#"{test: [CMD-SHELL, "curl -f http://localhost/"]}"#),
        &block(r#"{"test":{"shell":"curl -f http://localhost/"}}"#),
    );
    check(&health("{test: [NONE]}"), &block(r#"{"test":"none"}"#));
    check(&health("{disable: true}"), &block(r#"{"test":"none"}"#));
    check(
        &health("{interval: 5s, start_interval: 1s}"),
        &format!(
            "{}\nwarning services.web.healthcheck.start_interval: not supported, ignored",
            block(r#"{"interval":"5s"}"#)
        ),
    );
    check(
        &health("{test: [curl, x]}"),
        "error: services.web.healthcheck.test: a list must start with CMD, CMD-SHELL or NONE",
    );
    check(
        &health("{interval: 5}"),
        "error: services.web.healthcheck.interval: expected a string, found a number",
    );
    check(
        &health("{interval: 5 seconds}"),
        "error: services.web.healthcheck.interval: invalid duration '5 seconds': expected <number><unit>... with units h, m, s, ms, us (e.g. '1m30s')",
    );
    check(
        &health("{retries: -1}"),
        "error: services.web.healthcheck.retries: -1 is out of range (0 to 4294967295)",
    );
}

#[test]
fn refused_and_reported() {
    check(
        "services:\n  web:\n    build: .\n    image: web\n",
        "error: services.web.build: 'build' is not supported: build and push the image, then name it with 'image'",
    );
    check(
        "services:\n  web:\n    build: {context: .}\n",
        "error: services.web.build: 'build' is not supported: build and push the image, then name it with 'image'",
    );
    check(
        "services:\n  web:\n    command: x\n",
        "error: services.web: no 'image': a block runs an image pulled from a registry",
    );
    check(
        "services:\n  web:\n    image: Web\n",
        "error: services.web.image: invalid image reference 'Web': path component 'Web' must be lowercase",
    );
    check(
        "services:\n  Web:\n    image: web\n",
        "error: services.Web: invalid block name 'Web': may hold only a-z, 0-9, '-' and '_'",
    );
    check(
        "name: My App\nservices: {}\n",
        "error: name: invalid app name 'My App': may hold only a-z, 0-9, '-' and '_'",
    );
    check(
        "volumes: {}\n",
        "error: services: missing: a compose file needs at least one service",
    );
    check(
        "- a\n- b\n",
        "error: not a valid compose file: expected a mapping at the top, found a list",
    );
    check(
        r#"
secrets: {token: {file: ./token}}
x-anchors: {a: 1}
volumes:
  data: {external: true, name: shared}
networks:
  default: {driver: bridge, ipam: {config: [{subnet: 10.0.0.0/24}]}}
services:
  web:
    image: web
    x-notes: free text
    networks:
      default: {aliases: [www], ipv4_address: 10.0.0.2}
    container_name: web1
"#,
        r#"
        volume data {}
        network default {"driver":"bridge"}
        block web {"image":"web","networks":["default"]}
        warning networks.default.ipam: not supported, ignored
        warning secrets: not supported, ignored
        warning services.web.container_name: not supported, ignored
        warning services.web.networks.default.aliases: not supported, ignored
        warning services.web.networks.default.ipv4_address: not supported, ignored
        warning volumes.data.external: not supported, ignored
        warning volumes.data.name: not supported, ignored
        "#,
    );
}

#[test]
fn yaml_the_reader_refuses() {
    check(
        "services:\n  web: {image: a}\n  web: {image: b}\n",
        "error: not a valid compose file: duplicate mapping key `web` is not allowed here at line 3, column 3",
    );
    check(
        "services: [\n",
        "error: not a valid compose file: unclosed bracket '[' at line 1, column 11",
    );
    // A billion laughs stops at the alias budget instead of exhausting memory.
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..12 {
        let prev = level - 1;
        bomb.push_str(&format!(
            "l{level}: &l{level} [*{}, *{0}, *{0}, *{0}, *{0}, *{0}, *{0}, *{0}, *{0}, *{0}]\n",
            if prev == 0 {
                "a".to_owned()
            } else {
                format!("l{prev}")
            }
        ));
    }
    bomb.push_str("services: {}\n");
    assert!(matches!(import(&bomb), Err(ComposeError::Yaml(_))));
}

#[test]
fn osb_extension() {
    check(
        r#"
services:
  ntp:
    image: ntp
    x-osb:
      update_strategy: kill-then-download
      time: coarse
      plugins: [time-ntp]
      requires: [{type: hw.device-type, slug: raspberrypi4-64}]
"#,
        r#"block ntp {"image":"ntp","update_strategy":"kill-then-download","requires":[{"slug":"raspberrypi4-64","type":"hw.device-type"}],"time":"coarse","plugins":["time-ntp"]}"#,
    );
    check(
        "services:\n  ntp:\n    image: ntp\n    x-osb: {time: exact}\n",
        "error: services.ntp.x-osb.time: unknown variant `exact`, expected `coarse` or `synced`",
    );
    check(
        "services:\n  ntp:\n    image: ntp\n    x-osb: {clock: synced}\n",
        "error: services.ntp.x-osb.clock: unknown field `clock`, expected one of `update_strategy`, `time`, `requires`, `plugins`",
    );
}

#[test]
fn into_app_makes_a_valid_target() {
    let import = import(
        "services:\n  db: {image: 'postgres:16', healthcheck: {test: [CMD, pg_isready]}}\n  web: {image: web, depends_on: {db: {condition: service_healthy}}}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let version = semver::Version::new(1, 0, 0);
    let app = import.into_app(AppClass::App, version, ReleaseStatus::Final);
    let mut apps = BTreeMap::new();
    apps.insert(AppName::new("main").unwrap_or_else(|e| panic!("{e}")), app);
    let target = crate::target::TargetState {
        version: crate::target::FormatVersion,
        apps,
    };
    let again =
        crate::target::TargetState::from_json(&target.to_json()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, target);
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!(
        "services: {{web: {{image: web, x-deep: {}{}}}}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(matches!(import(&deep), Err(ComposeError::Yaml(_))));
}

/// A compose file with one service, `web`, of image `web` and `keys`
/// (YAML lines at the service's level).
fn web(keys: &str) -> String {
    let mut yaml = "services:\n  web:\n    image: web\n".to_owned();
    for line in keys.lines() {
        yaml.push_str("    ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml
}

/// The line of block `web` with `fields` after its image.
fn web_block(fields: &str) -> String {
    format!(r#"block web {{"image":"web",{fields}}}"#)
}

#[test]
fn container_settings_in_every_syntax() {
    for (keys, fields) in [
        ("privileged: true", r#""privileged":true"#),
        ("privileged: 'TRUE'", r#""privileged":true"#),
        ("privileged: false", ""),
        ("network_mode: host", r#""network_mode":"host""#),
        ("network_mode: none", r#""network_mode":"none""#),
        ("pid: host", r#""pid":"host""#),
        ("ipc: shareable", r#""ipc":"shareable""#),
        (
            "cap_add: [net_admin, CAP_SYS_TIME]\ncap_drop: [ALL]",
            r#""cap_add":["NET_ADMIN","SYS_TIME"],"cap_drop":["ALL"]"#,
        ),
        (
            "devices: ['/dev/ttyUSB0:/dev/ttyUSB0:rwm', /dev/snd, '/dev/a:/dev/b:r']",
            r#""devices":[{"source":"/dev/ttyUSB0","target":"/dev/ttyUSB0"},{"source":"/dev/snd"},{"source":"/dev/a","target":"/dev/b","permissions":"r"}]"#,
        ),
        (
            "devices:\n  - {source: /dev/ttyUSB0, target: /dev/zigbee, permissions: rw}\n  - {source: /dev/i2c-1}",
            r#""devices":[{"source":"/dev/ttyUSB0","target":"/dev/zigbee","permissions":"rw"},{"source":"/dev/i2c-1"}]"#,
        ),
        (
            "device_cgroup_rules: ['c 189:* rmw', 'a *:* r']",
            r#""device_cgroup_rules":["c 189:* rmw","a *:* r"]"#,
        ),
        (
            "security_opt: [no-new-privileges, 'apparmor=unconfined', 'seccomp:unconfined']",
            r#""security_opt":["no-new-privileges","apparmor=unconfined","seccomp:unconfined"]"#,
        ),
        (
            "sysctls: {net.core.somaxconn: 1024, kernel.shmmax: '65536'}",
            r#""sysctls":{"kernel.shmmax":"65536","net.core.somaxconn":"1024"}"#,
        ),
        (
            "sysctls: [net.ipv4.ip_forward=1, 'net.ipv4.ping_group_range=0 1000']",
            r#""sysctls":{"net.ipv4.ip_forward":"1","net.ipv4.ping_group_range":"0 1000"}"#,
        ),
        (
            "ulimits: {nofile: 20000}",
            r#""ulimits":{"nofile":{"soft":20000,"hard":20000}}"#,
        ),
        (
            "ulimits:\n  nofile: {soft: 1024, hard: '4096'}\n  memlock: -1",
            r#""ulimits":{"memlock":{"soft":-1,"hard":-1},"nofile":{"soft":1024,"hard":4096}}"#,
        ),
        ("shm_size: 64m", r#""shm_size":67108864"#),
        ("shm_size: 1073741824", r#""shm_size":1073741824"#),
        ("shm_size: 1.5gb", r#""shm_size":1610612736"#),
        ("read_only: true", r#""read_only":true"#),
        ("user: '1000:1000'", r#""user":"1000:1000""#),
        ("user: 1000", r#""user":"1000""#),
        (
            "group_add: [dialout, 20]",
            r#""group_add":["dialout","20"]"#,
        ),
        ("working_dir: /app", r#""working_dir":"/app""#),
        (
            "entrypoint: /bin/sh -c 'echo hi'",
            r#""entrypoint":["/bin/sh","-c","echo hi"]"#,
        ),
        ("entrypoint: [/tini, --]", r#""entrypoint":["/tini","--"]"#),
        ("entrypoint: []", r#""entrypoint":[]"#),
        ("entrypoint: ''", r#""entrypoint":[]"#),
        (
            "hostname: gateway\ndomainname: example.local",
            r#""hostname":"gateway","domainname":"example.local""#,
        ),
        ("dns: 8.8.8.8", r#""dns":["8.8.8.8"]"#),
        (
            "dns: [1.1.1.1, '2606:4700::1111']\ndns_search: example.local\ndns_opt: ['ndots:2', timeout:1]",
            r#""dns":["1.1.1.1","2606:4700::1111"],"dns_search":["example.local"],"dns_opt":["ndots:2","timeout:1"]"#,
        ),
        (
            "dns_search: [a.local, b.local]",
            r#""dns_search":["a.local","b.local"]"#,
        ),
        (
            "extra_hosts: ['somehost:162.242.195.82', 'other=50.31.209.229', 'six:::1', 'sixb=[::2]', 'gw:host-gateway']",
            r#""extra_hosts":{"gw":"host-gateway","other":"50.31.209.229","six":"::1","sixb":"::2","somehost":"162.242.195.82"}"#,
        ),
        (
            "extra_hosts: {gw: host-gateway, db: ['10.0.0.2']}",
            r#""extra_hosts":{"db":"10.0.0.2","gw":"host-gateway"}"#,
        ),
        (
            "mac_address: '02:42:AC:11:00:02'",
            r#""mac_address":"02:42:ac:11:00:02""#,
        ),
        (
            "init: true\ntty: true\nstdin_open: true",
            r#""init":true,"tty":true,"stdin_open":true"#,
        ),
        ("stop_signal: term", r#""stop_signal":"SIGTERM""#),
        ("stop_signal: SIGRTMIN+3", r#""stop_signal":"SIGRTMIN+3""#),
        ("stop_grace_period: 1m30s", r#""stop_grace_period":"1m30s""#),
        ("stop_grace_period: 90s", r#""stop_grace_period":"1m30s""#),
        ("oom_score_adj: -500", r#""oom_score_adj":-500"#),
        (
            "mem_limit: 1g\nmem_reservation: 512m\nmemswap_limit: -1\noom_kill_disable: true",
            r#""oom_kill_disable":true,"mem_limit":1073741824,"mem_reservation":536870912,"memswap_limit":-1"#,
        ),
        (
            "mem_limit: 67108864\nmemswap_limit: 128m",
            r#""mem_limit":67108864,"memswap_limit":134217728"#,
        ),
        ("cpus: 1.5", r#""cpus":"1.5""#),
        ("cpus: '0.25'", r#""cpus":"0.25""#),
        ("cpus: 2", r#""cpus":"2""#),
        (
            "cpu_shares: 512\ncpu_quota: 50000\ncpuset: 0-1,3",
            r#""cpu_shares":512,"cpu_quota":50000,"cpuset":"0-1,3""#,
        ),
        ("runtime: nvidia", r#""runtime":"nvidia""#),
        (
            "logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}",
            r#""logging":{"driver":"json-file","options":{"max-file":"3","max-size":"10m"}}"#,
        ),
        ("logging: {driver: none}", r#""logging":{"driver":"none"}"#),
        (
            "expose: ['3000', '8000/udp', 9000, '7000-7001']",
            r#""ports":[{"target":3000,"protocol":"tcp"},{"target":8000,"protocol":"udp"},{"target":9000,"protocol":"tcp"},{"target":7000,"protocol":"tcp"},{"target":7001,"protocol":"tcp"}]"#,
        ),
        (
            "expose: ['80', '81', '81']\nports: ['8080:80']",
            r#""ports":[{"target":80,"published":8080,"protocol":"tcp"},{"target":81,"protocol":"tcp"}]"#,
        ),
        (
            "labels: {com.example.tier: front}",
            r#""labels":{"com.example.tier":"front"}"#,
        ),
    ] {
        let expect = if fields.is_empty() {
            r#"block web {"image":"web"}"#.to_owned()
        } else {
            web_block(fields)
        };
        check(&web(keys), &expect);
    }
}

#[test]
fn container_settings_refused_with_their_path() {
    for (keys, error) in [
        (
            "devices: [ttyUSB0]",
            "services.web.devices[0]: path 'ttyUSB0' is not absolute",
        ),
        (
            "devices: ['/dev/a:/dev/b:rx']",
            "services.web.devices[0]: invalid device permissions 'rx' (some of r, w and m, each once)",
        ),
        (
            "devices: [{source: dev/ttyUSB0}]",
            "services.web.devices[0].source: path 'dev/ttyUSB0' is not absolute",
        ),
        (
            "devices: [{target: /dev/zigbee}]",
            "services.web.devices[0]: no 'source' (the device on the host)",
        ),
        (
            "devices: [{source: /dev/a, permissions: rwx}]",
            "services.web.devices[0].permissions: invalid device permissions 'rwx' (some of r, w and m, each once)",
        ),
        (
            "cap_add: [NET_ADMIN, NET_ADMINN]",
            "services.web.cap_add[1]: unknown capability 'NET_ADMINN' (a name from capabilities(7), e.g. NET_ADMIN, or ALL)",
        ),
        (
            "cap_drop: NET_RAW",
            "services.web.cap_drop: expected a list, found a string",
        ),
        (
            "device_cgroup_rules: ['c 189 rmw']",
            "services.web.device_cgroup_rules[0]: invalid device cgroup rule 'c 189 rmw' (expected 'TYPE MAJOR:MINOR PERMS', e.g. 'c 189:* rmw')",
        ),
        (
            "security_opt: [privileged]",
            "services.web.security_opt[0]: invalid security option 'privileged' (label=..., apparmor=..., seccomp=..., no-new-privileges or systempaths=unconfined)",
        ),
        (
            "sysctls: {kernel.panic: 1}",
            "services.web.sysctls.kernel.panic: not a sysctl of the container's own namespaces (net.*, fs.mqueue.* and the IPC kernel.* ones): it would change the host's",
        ),
        (
            "sysctls: [vm.swappiness=10]",
            "services.web.sysctls.vm.swappiness: not a sysctl of the container's own namespaces (net.*, fs.mqueue.* and the IPC kernel.* ones): it would change the host's",
        ),
        (
            "sysctls: [net.core.somaxconn]",
            "services.web.sysctls[0]: expected 'NAME=VALUE', found 'net.core.somaxconn'",
        ),
        (
            "network_mode: host\nsysctls: {net.core.somaxconn: 1}",
            "services.web.sysctls.net.core.somaxconn: a net.* sysctl needs the block's own network namespace",
        ),
        (
            "ulimits: {nofile: {soft: 2000, hard: 1000}}",
            "services.web.ulimits.nofile: the soft limit 2000 is above the hard limit 1000",
        ),
        (
            "ulimits: {nofile: {soft: 1}}",
            "services.web.ulimits.nofile: expected both 'soft' and 'hard'",
        ),
        (
            "ulimits: {nofiles: 1}",
            "services.web.ulimits.nofiles: unknown resource limit (one of as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)",
        ),
        (
            "ulimits: {nofile: lots}",
            "services.web.ulimits.nofile: expected a whole number, found 'lots'",
        ),
        (
            "network_mode: 'container:abc'",
            "services.web.network_mode: 'container:abc' is not supported ('container:' names a container outside the release; use 'service:<block>') (one of host, none, service:<block>)",
        ),
        (
            "network_mode: 'service:db'",
            "services.web.network_mode: no block named 'db' in the release",
        ),
        (
            "network_mode: host\nnetworks: [default]",
            "services.web.networks: a block with network_mode 'host' joins no network of its app",
        ),
        (
            "pid: none",
            "services.web.pid: 'none' is not supported (one of host, service:<block>)",
        ),
        (
            "mem_limit: lots",
            "services.web.mem_limit: expected a size in bytes, e.g. 65536 or '64m'",
        ),
        (
            "mem_limit: 1k",
            "services.web.mem_limit: 1024 bytes is under the engine's minimum of 6 MiB",
        ),
        (
            "mem_limit: 16777216t",
            "services.web.mem_limit: '16777216t' is too large a size",
        ),
        (
            "memswap_limit: 1g",
            "services.web.memswap_limit: needs mem_limit: it is memory plus swap",
        ),
        (
            "mem_limit: 1g\nmem_reservation: 2g",
            "services.web.mem_reservation: above mem_limit: the soft limit must be at most the hard one",
        ),
        (
            "oom_kill_disable: true",
            "services.web.oom_kill_disable: without mem_limit, a block the kernel may not kill can take the device's memory",
        ),
        (
            "shm_size: 0",
            "services.web.shm_size: from 1 byte to 2^63-1",
        ),
        (
            "shm_size: 9223372036854775808",
            "services.web.shm_size: from 1 byte to 2^63-1",
        ),
        (
            "cpus: 0",
            "services.web.cpus: invalid cpus '0' (a positive number, e.g. 0.5 or 2)",
        ),
        (
            "cpus: [1]",
            "services.web.cpus: expected a number of CPUs, found a list",
        ),
        (
            "cpu_shares: -1",
            "services.web.cpu_shares: -1 is out of range (2 to 4294967295)",
        ),
        ("cpu_shares: 1", "services.web.cpu_shares: at least 2"),
        (
            "cpu_quota: 10",
            "services.web.cpu_quota: under the engine's minimum of 1000 microseconds",
        ),
        (
            "cpuset: 3-1",
            "services.web.cpuset: invalid cpuset '3-1' (numbers and ranges, e.g. '0-3,5')",
        ),
        (
            "oom_score_adj: 5000000",
            "services.web.oom_score_adj: 5000000 is out of range (-1000 to 1000)",
        ),
        (
            "oom_score_adj: 1001",
            "services.web.oom_score_adj: from -1000 to 1000",
        ),
        (
            "stop_grace_period: 90",
            "services.web.stop_grace_period: expected a string, found a number",
        ),
        (
            "stop_grace_period: soon",
            "services.web.stop_grace_period: invalid duration 'soon': expected <number><unit>... with units h, m, s, ms, us (e.g. '1m30s')",
        ),
        (
            "stop_signal: SIGFOO",
            "services.web.stop_signal: unknown signal 'SIGFOO' (e.g. SIGTERM, SIGINT or 15)",
        ),
        (
            "extra_hosts: [nohost]",
            "services.web.extra_hosts[0]: expected 'host:address' or 'host=address', found 'nohost'",
        ),
        (
            "extra_hosts: ['db:10.0.0.300']",
            "services.web.extra_hosts[0]: invalid address '10.0.0.300' (an IP address or 'host-gateway')",
        ),
        (
            "extra_hosts: ['db:10.0.0.2', 'db=10.0.0.3']",
            "services.web.extra_hosts[1]: 'db' is given twice (first as 10.0.0.2): one address per host name",
        ),
        (
            "extra_hosts: {db: [10.0.0.2, 10.0.0.3]}",
            "services.web.extra_hosts.db: one address per host name",
        ),
        (
            "dns: [8.8.8.8, resolver]",
            "services.web.dns[1]: 'resolver' is not an IP address",
        ),
        (
            "hostname: bad_host",
            "services.web.hostname: invalid host name 'bad_host' (letters, digits and '-', in dot-separated labels of 1 to 63)",
        ),
        (
            "working_dir: app",
            "services.web.working_dir: path 'app' is not absolute",
        ),
        (
            "mac_address: '02:42'",
            "services.web.mac_address: invalid MAC address '02:42' (six hex pairs, e.g. 02:42:ac:11:00:02)",
        ),
        (
            "network_mode: 'service:web'",
            "services.web.network_mode: a block cannot join its own namespace",
        ),
        (
            "logging: {options: {max-size: 10m}}",
            "services.web.logging: no 'driver': name the log driver (json-file, local, journald, ...), as the engine's default is not known here",
        ),
        (
            "expose: ['8080:80']",
            "services.web.expose[0]: '8080:80': expose takes container ports ('3000', '8000/udp'); publish with 'ports'",
        ),
        (
            "expose: ['80/icmp']",
            "services.web.expose[0]: invalid port '80/icmp': unknown protocol 'icmp' (tcp, udp or sctp)",
        ),
        (
            "privileged: 'yes'",
            "services.web.privileged: expected true or false, found 'yes'",
        ),
        (
            "read_only: 1",
            "services.web.read_only: expected true or false, found a number",
        ),
        (
            "user: [root]",
            "services.web.user: expected a string or a number, found a list",
        ),
        (
            "volumes: [{type: tmpfs, target: /t, tmpfs: {size: 0}}]",
            "services.web.volumes[0].size: 0 bytes is not a size the engine takes (1 to 9223372036854775807)",
        ),
        (
            "volumes: [{type: tmpfs, target: /t, tmpfs: {size: 9223372036854775808}}]",
            "services.web.volumes[0].size: 9223372036854775808 bytes is not a size the engine takes (1 to 9223372036854775807)",
        ),
        (
            "volumes: [{type: tmpfs, target: /t, tmpfs: {size: 99999999999999999999}}]",
            "services.web.volumes[0].tmpfs.size: too large a size",
        ),
        (
            "volumes: [{type: tmpfs, target: /t, tmpfs: {size: '99999999999999999999'}}]",
            "services.web.volumes[0].tmpfs.size: '99999999999999999999' is too large a size",
        ),
    ] {
        check(&web(keys), &format!("error: {error}"));
    }
}

#[test]
fn namespaces_shared_with_another_block() {
    check(
        "services:\n  vpn: {image: vpn, cap_add: [NET_ADMIN], devices: [/dev/net/tun]}\n  web: {image: web, network_mode: 'service:vpn', pid: 'service:vpn'}\n",
        r#"
        block vpn {"image":"vpn","cap_add":["NET_ADMIN"],"devices":[{"source":"/dev/net/tun"}]}
        block web {"image":"web","depends_on":{"vpn":"started"},"network_mode":"service:vpn","pid":"service:vpn"}
        "#,
    );
    // `bridge` asks for the engine's shared network; the app's own default
    // network is what the block gets.
    check(
        &web("network_mode: bridge\nports: ['8080:80']"),
        &format!(
            "{}\nwarning services.web.network_mode: 'bridge' is read as the app's default network (a bridge network of the app's own, not the engine's shared one)",
            web_block(r#""ports":[{"target":80,"published":8080,"protocol":"tcp"}]"#)
        ),
    );
}

#[test]
fn image_is_a_string() {
    check(
        "services:\n  x:\n    image: 12345\n",
        "error: services.x.image: expected a string, found a number",
    );
    check(
        "services:\n  x:\n    image: '12345'\n",
        r#"block x {"image":"12345"}"#,
    );
}

#[test]
fn a_key_one_edit_from_a_known_one_is_a_misspelling() {
    for (keys, error) in [
        (
            "restrat: 'no'",
            "services.web.restrat: unknown key 'restrat': did you mean 'restart'?",
        ),
        (
            "imgae: web",
            "services.web.imgae: unknown key 'imgae': did you mean 'image'?",
        ),
        (
            "enviroment: {A: 1}",
            "services.web.enviroment: unknown key 'enviroment': did you mean 'environment'?",
        ),
        (
            "netwrok_mode: host",
            "services.web.netwrok_mode: unknown key 'netwrok_mode': did you mean 'network_mode'?",
        ),
        (
            "port: ['80']",
            "services.web.port: unknown key 'port': did you mean 'ports'?",
        ),
        (
            "cpu_perod: 100000",
            "services.web.cpu_perod: unknown key 'cpu_perod': did you mean 'cpu_period'?",
        ),
    ] {
        check(&web(keys), &format!("error: {error}"));
    }
    // Further away, or known but not imported: reported, not refused.
    check(
        &web(
            "restart_policy: 'no'\ncpu_period: 100000\npids_limit: 100\nblkio_config: {weight: 300}\nx-restrat: 1",
        ),
        &format!(
            "{}\n{}\n{}\n{}",
            r#"block web {"image":"web"}"#,
            "warning services.web.blkio_config: not supported, ignored",
            "warning services.web.cpu_period: not supported, ignored\nwarning services.web.pids_limit: not supported, ignored",
            "warning services.web.restart_policy: not supported, ignored",
        ),
    );
}

#[test]
fn balena_update_labels() {
    let labels = |labels: &str| web(&format!("labels: {{{labels}}}"));
    check(
        &labels("io.balena.update.strategy: hand-over, io.balena.update.handover-timeout: '30000'"),
        &web_block(
            r#""labels":{"io.balena.update.handover-timeout":"30000","io.balena.update.strategy":"hand-over"},"update_strategy":{"hand-over":{"timeout":"30s"}}"#,
        ),
    );
    check(
        &labels("io.balena.update.strategy: hand-over"),
        &web_block(
            r#""labels":{"io.balena.update.strategy":"hand-over"},"update_strategy":{"hand-over":{"timeout":"1m"}}"#,
        ),
    );
    for (balena, ours) in [
        ("download-then-kill", ""),
        (
            "kill-then-download",
            r#","update_strategy":"kill-then-download""#,
        ),
        (
            "delete-then-download",
            r#","update_strategy":"kill-then-download""#,
        ),
    ] {
        check(
            &labels(&format!("io.balena.update.strategy: {balena}")),
            &web_block(&format!(
                r#""labels":{{"io.balena.update.strategy":"{balena}"}}{ours}"#
            )),
        );
    }
    check(
        &web(
            "labels: [io.balena.update.strategy=kill-then-download, io.balena.update.handover-timeout=5000]",
        ),
        &format!(
            "{}\nwarning services.web.labels.io.balena.update.handover-timeout: applies to the hand-over strategy only, not 'kill-then-download'; ignored",
            web_block(
                r#""labels":{"io.balena.update.handover-timeout":"5000","io.balena.update.strategy":"kill-then-download"},"update_strategy":"kill-then-download""#
            )
        ),
    );
    check(
        &labels("io.balena.update.handover-timeout: '5000'"),
        &format!(
            "{}\nwarning services.web.labels.io.balena.update.handover-timeout: applies to the hand-over strategy only, which the labels do not choose; ignored",
            web_block(r#""labels":{"io.balena.update.handover-timeout":"5000"}"#)
        ),
    );
    check(
        &format!(
            "{}    x-osb: {{update_strategy: download-then-kill}}\n",
            labels("io.balena.update.strategy: kill-then-download")
        ),
        &format!(
            "{}\nwarning services.web.labels.io.balena.update.strategy: overridden by x-osb.update_strategy",
            web_block(r#""labels":{"io.balena.update.strategy":"kill-then-download"}"#)
        ),
    );
    for (value, reboot) in [("'1'", true), ("'On'", true), ("'false'", false)] {
        let json = format!(r#""labels":{{"io.balena.update.requires-reboot":{}}}"#, {
            let v = value.trim_matches('\'');
            format!("\"{v}\"")
        });
        let json = if reboot {
            format!(r#"{json},"requires_reboot":true"#)
        } else {
            json
        };
        check(
            &labels(&format!("io.balena.update.requires-reboot: {value}")),
            &web_block(&json),
        );
    }
    check(
        &labels("io.balena.features.optional: '1'"),
        &web_block(r#""labels":{"io.balena.features.optional":"1"},"optional":true"#),
    );
    check(
        &labels("io.osb.features.optional: 'maybe'"),
        "error: services.web.labels.io.osb.features.optional: 'maybe' is neither on ('1', 'true', 'on') nor off ('0', 'false', 'off')",
    );
    check(
        &labels("io.balena.update.requires-reboot: 'yes'"),
        "error: services.web.labels.io.balena.update.requires-reboot: 'yes' is neither on ('1', 'true', 'on') nor off ('0', 'false', 'off')",
    );
    check(
        &labels("io.balena.update.strategy: sometimes"),
        "error: services.web.labels.io.balena.update.strategy: unknown update strategy 'sometimes' (download-then-kill, kill-then-download, delete-then-download or hand-over)",
    );
    check(
        &labels("io.balena.update.strategy: hand-over, io.balena.update.handover-timeout: 1m"),
        "error: services.web.labels.io.balena.update.handover-timeout: expected a number of milliseconds, found '1m'",
    );
    check(
        &labels("io.balena.update.strategy: hand-over")
            .replace("image: web", "image: web\n    ports: ['80:80']"),
        "error: services.web.update_strategy: hand-over runs the new container beside the old one, and both cannot bind host port 80:80/tcp (services.web.ports[0]): use download-then-kill",
    );
}

fn environment(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn interpolation_from_the_given_environment() {
    let env = environment(&[
        ("TAG", "1.2"),
        ("PORT", "8080"),
        ("CPUS", "1.5"),
        ("PRIVILEGED", "true"),
        ("EMPTY", ""),
        ("FROM_ENV", "passed"),
    ]);
    let context = ImportContext::new().with_environment(&env);
    check_with(
        r#"
services:
  web:
    image: "registry.local/web:${TAG}"
    ports: ["${PORT}:80", "${OTHER_PORT:-9090}:90"]
    cpus: $CPUS
    privileged: ${PRIVILEGED}
    mem_limit: ${MEM:-64m}
    command: ["sh", "-c", "echo $$HOME ${EMPTY:-fallback} ${EMPTY-kept}"]
    environment: [FROM_ENV, "URL=http://${HOST}/", "PLAIN=${TAG:+v$TAG}"]
    labels: {"${NOT_A_KEY}": x}
    x-osb: {time: "${TIME:-synced}"}
"#,
        &context,
        r#"
        block web {"image":"registry.local/web:1.2","command":["sh","-c","echo $HOME fallback "],"environment":{"FROM_ENV":"passed","PLAIN":"v1.2","URL":"http:///"},"labels":{"${NOT_A_KEY}":"x"},"ports":[{"target":80,"published":8080,"protocol":"tcp"},{"target":90,"published":9090,"protocol":"tcp"}],"time":"synced","privileged":true,"mem_limit":67108864,"cpus":"1.5"}
        warning services.web.environment[1]: variable 'HOST' is not set: substituted an empty string
        "#,
    );
    for (value, error) in [
        (
            "\"${REGISTRY:?set REGISTRY to your registry}/web\"",
            "services.web.image: required variable 'REGISTRY' is missing a value: set REGISTRY to your registry",
        ),
        (
            "\"web:${EMPTY:?}\"",
            "services.web.image: required variable 'EMPTY' is missing a value",
        ),
        (
            "\"web:$1\"",
            "services.web.image: '$' in 'web:$1' is followed by neither a name, '{' nor '$' (write '$$' for a literal '$')",
        ),
        (
            "\"web:${TAG\"",
            "services.web.image: '${' is not closed in 'web:${TAG' (write '$$' for a literal '$')",
        ),
    ] {
        check_with(
            &format!("services:\n  web:\n    image: {value}\n"),
            &context,
            &format!("error: {error}"),
        );
    }
    // Everywhere in the document, extension fields included, as compose.
    check_with(
        "x-price: 5$\nservices:\n  web: {image: web}\n",
        &context,
        "error: x-price: '$' in '5$' is followed by neither a name, '{' nor '$' (write '$$' for a literal '$')",
    );
}

#[test]
fn a_document_taken_as_written_is_not_interpolated() {
    let document = serde_json::json!({
        "services": {"web": {"image": "web", "command": "sh -c 'echo $HOME ${X}'"}}
    });
    let imported = import_document(&document).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        render(&imported),
        r#"block web {"image":"web","command":["sh","-c","echo $HOME ${X}"]}"#
    );
    // The same through the compose rules: `$HOME` is the compose file's.
    let imported =
        import_document_with(&document, &ImportContext::new()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        render(&imported),
        "block web {\"image\":\"web\",\"command\":[\"sh\",\"-c\",\"echo  \"]}\n\
         warning services.web.command: variable 'HOME' is not set: substituted an empty string\n\
         warning services.web.command: variable 'X' is not set: substituted an empty string"
    );
}

/// Files in memory, as a caller's reader would give them.
struct Files(BTreeMap<&'static str, Result<&'static str, &'static str>>);

impl ComposeFiles for Files {
    fn read(&self, relative: &str) -> Result<Option<String>, String> {
        match self.0.get(relative) {
            Some(Ok(text)) => Ok(Some((*text).to_owned())),
            Some(Err(reason)) => Err((*reason).to_owned()),
            None => Ok(None),
        }
    }
}

#[test]
fn env_files_are_read_beside_the_compose_file() {
    let files = Files(
        [
            (
                "web.env",
                Ok("# settings\nA=from file\nB=file\nURL=\"http://${HOST}:${PORT:-80}/\"\n"),
            ),
            ("conf/extra.env", Ok("export B=extra\nC='literal $HOST'\n")),
            ("bad.env", Ok("A=1\nB=\"open\n")),
            ("link.env", Err("a path led outside of the directory")),
        ]
        .into_iter()
        .collect(),
    );
    let env = environment(&[("HOST", "example.com")]);
    let context = ImportContext::new()
        .with_environment(&env)
        .with_files(&files);
    check_with(
        &web("env_file: web.env\nenvironment: {B: service}"),
        &context,
        &web_block(
            r#""environment":{"A":"from file","B":"service","URL":"http://example.com:80/"}"#,
        ),
    );
    check_with(
        &web("env_file: [./web.env, conf/../conf/extra.env, {path: missing.env, required: false}]"),
        &context,
        &web_block(
            r#""environment":{"A":"from file","B":"extra","C":"literal $HOST","URL":"http://example.com:80/"}"#,
        ),
    );
    for (keys, error) in [
        (
            "env_file: [web.env, missing.env]",
            "services.web.env_file[1]: 'missing.env' not found beside the compose file (say 'required: false' if it may be missing)",
        ),
        (
            "env_file: [{path: missing.env}]",
            "services.web.env_file[0]: 'missing.env' not found beside the compose file (say 'required: false' if it may be missing)",
        ),
        (
            "env_file: [/etc/environment]",
            "services.web.env_file[0]: '/etc/environment' is absolute: an env_file is read from the compose file's directory, relative to it",
        ),
        (
            "env_file: ../secrets.env",
            "services.web.env_file: '../secrets.env' leaves the compose file's directory, which an env_file may not",
        ),
        (
            "env_file: [conf/../../x.env]",
            "services.web.env_file[0]: 'conf/../../x.env' leaves the compose file's directory, which an env_file may not",
        ),
        (
            "env_file: [bad.env]",
            "services.web.env_file[0]: 'bad.env' line 2: the \" quote is not closed",
        ),
        (
            "env_file: [link.env]",
            "services.web.env_file[0]: cannot read 'link.env': a path led outside of the directory",
        ),
        (
            "env_file: [{path: web.env, format: raw}]",
            "services.web.env_file[0].format: format 'raw' is not supported: leave it out for the .env format",
        ),
        (
            "env_file: [{required: false}]",
            "services.web.env_file[0]: no 'path'",
        ),
        (
            "env_file: {path: web.env}",
            "services.web.env_file: expected a path or a list, found a mapping",
        ),
    ] {
        check_with(&web(keys), &context, &format!("error: {error}"));
    }
    // Without a directory to read from, `env_file` cannot be honoured.
    check(
        &web("env_file: web.env"),
        "error: services.web.env_file: 'env_file' cannot be read: this import was given no directory to read it from (it is read at import, beside the compose file)",
    );
}

/// The settings of the engine test that compares osb with docker-compose
/// (`cli/tests/engine/settings.rs`), as a compose file writes them, read
/// into the block that test gives osb as JSON.
#[test]
fn compose_settings_read_as_the_target_state_writes_them() {
    let idle = "trap 'exit 0' TERM INT; sleep 2147483647 & wait";
    let yaml = include_str!("../../../cli/tests/engine/device-settings.compose.yml")
        .replace("${IMAGE}", "busybox:1");
    let mut block = serde_json::json!({
        "image": "busybox:1",
        "entrypoint": ["sh", "-c"],
        "command": [idle],
        "restart": "always",
        "pid": "host",
        "ipc": "shareable",
        "cap_add": ["NET_ADMIN", "SYS_TIME"],
        "cap_drop": ["CHOWN"],
        "devices": [{"source": "/dev/null", "target": "/dev/mydev", "permissions": "rw"}],
        "device_cgroup_rules": ["c 42:* rmw"],
        "security_opt": ["no-new-privileges"],
        "sysctls": {"net.core.somaxconn": "1024"},
        "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": {"soft": 512, "hard": 512}},
        "shm_size": 33_554_432,
        "read_only": true,
        "user": "0",
        "group_add": ["20"],
        "working_dir": "/tmp",
        "hostname": "box",
        "domainname": "example.org",
        "dns": ["192.0.2.53"],
        "dns_search": ["example.org"],
        "dns_opt": ["ndots:2"],
        "extra_hosts": {"gateway.local": "10.1.2.3"},
        "mac_address": "02:42:ac:11:00:98",
        "init": true,
        "tty": true,
        "stdin_open": true
    });
    let resources = serde_json::json!({
        "stop_signal": "SIGINT",
        "stop_grace_period": "2s",
        "oom_kill_disable": true,
        "oom_score_adj": 500,
        "mem_limit": 67_108_864,
        "mem_reservation": 33_554_432,
        "memswap_limit": 134_217_728,
        "cpus": 0.5,
        "cpu_shares": 512,
        "cpuset": "0",
        "runtime": "runc",
        "logging": {"driver": "json-file", "options": {"max-size": "1m", "max-file": "2"}}
    });
    if let (Some(block), Some(resources)) = (block.as_object_mut(), resources.as_object()) {
        block.extend(resources.clone());
    }
    let expected: Block = serde_json::from_value(block).unwrap_or_else(|e| panic!("{e}"));
    let imported = import(&yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(imported.warnings, []);
    let name = BlockName::new("s").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(imported.blocks.get(&name), Some(&expected));
}
