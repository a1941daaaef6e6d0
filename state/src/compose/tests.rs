use super::*;

/// Imports `yaml` and renders it: the name, one line per block, volume and
/// network as compact JSON, one per warning; or the error.
fn check(yaml: &str, expect: &str) {
    let got = match import(yaml) {
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
      update_strategy: {hand-over: {timeout: 30s}}

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
        block homeassistant {"image":"homeassistant/home-assistant:2024.6","environment":{"DEBUG":"1","TZ":"Europe/Amsterdam"},"labels":{"io.balena.features.dbus":"1"},"volumes":[{"type":"volume","source":"ha-config","target":"/config"},{"type":"bind","source":"/run/dbus","target":"/host/run/dbus","read_only":true}],"depends_on":{"influxdb":"healthy"},"restart":"unless-stopped","update_strategy":{"hand-over":{"timeout":"30s"}},"time":"synced"}
        block influxdb {"image":"influxdb:2.7","volumes":[{"type":"volume","source":"influx-data","target":"/var/lib/influxdb2"},{"type":"tmpfs","target":"/tmp","size":67108864}],"networks":["backend","default"],"ports":[{"target":8086,"published":8086,"host_ip":"127.0.0.1","protocol":"tcp"},{"target":8088,"protocol":"tcp"}],"restart":"always","healthcheck":{"test":{"cmd":["influx","ping"]},"interval":"30s","timeout":"10s","retries":3,"start_period":"1m"},"update_strategy":"download-then-kill"}
        warning services.homeassistant.network_mode: not supported, ignored
        warning services.homeassistant.privileged: not supported, ignored
        warning services.influxdb.cap_add: not supported, ignored
        "#,
    );
}

#[test]
fn command_forms() {
    let with =
        |command: &str| format!("services:\n  web:\n    image: web\n    command: {command}\n");
    let block = r#"block web {"image":"web","command":"#;
    let tail = r#","restart":"always","update_strategy":"download-then-kill"}"#;
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
        block web {"image":"web","environment":{"A":"1","B":"x=y","URL":"http://${HOST}/"},"labels":{"com.example.a":"1","com.example.flag":""},"restart":"always","update_strategy":"download-then-kill"}
        warning services.web.environment[2]: no value: compose would take it from the host's environment; ignored
        warning services.web.environment[3]: '${...}' is not interpolated: kept as written
        "#,
    );
    check(
        "services:\n  web:\n    image: web\n    environment:\n      A:\n      B: true\n",
        r#"
        block web {"image":"web","environment":{"B":"true"},"restart":"always","update_strategy":"download-then-kill"}
        warning services.web.environment.A: no value: compose would take it from the host's environment; ignored
        "#,
    );
    check(
        "services:\n  web:\n    image: web\n    environment: [A=1, A=2]\n",
        "error: services.web.environment[1]: variable 'A' is given twice",
    );
    check(
        "services:\n  web:\n    image: web\n    labels: {io.osb.block: x}\n",
        "error: services.web.labels: label 'io.osb.block' is reserved: names starting with 'io.osb.' are the runtime's",
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
        block web {"image":"web","volumes":[{"type":"volume","source":"data","target":"/data","read_only":true},{"type":"bind","source":"/etc/hosts","target":"/etc/hosts","read_only":true},{"type":"volume","source":"data","target":"/data2"}],"restart":"always","update_strategy":"download-then-kill"}
        warning services.web.volumes[1]: anonymous volume '/cache': name it ('name:/cache') so its data outlives an update; ignored
        warning services.web.volumes[2]: anonymous volume '/anon': name it with 'source' so its data outlives an update; ignored
        warning services.web.volumes[3].bind: not supported, ignored
        warning services.web.volumes[4].volume: not supported, ignored
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
        block web {"image":"web","ports":[{"target":80,"published":8080,"protocol":"tcp"},{"target":53,"published":5353,"host_ip":"127.0.0.1","protocol":"udp"},{"target":9000,"published":9000,"protocol":"tcp"},{"target":9001,"published":9001,"protocol":"tcp"},{"target":443,"published":8443,"protocol":"tcp"}],"restart":"always","update_strategy":"download-then-kill"}
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
    let tail = r#""restart":"always","update_strategy":"download-then-kill"}"#;
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
            block db {{"image":"db",{tail}
            block init {{"image":"init","restart":"no","update_strategy":"download-then-kill"}}
            block web {{"image":"web","depends_on":{{"db":"healthy","init":"completed"}},{tail}
            block worker {{"image":"worker","depends_on":{{"db":"started"}},{tail}
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
    let block = |policy: &str| {
        format!(
            r#"block web {{"image":"web","restart":"{policy}","update_strategy":"download-then-kill"}}"#
        )
    };
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
    let block = |check: &str| {
        format!(
            r#"block web {{"image":"web","restart":"always","healthcheck":{check},"update_strategy":"download-then-kill"}}"#
        )
    };
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
        "error: services.web.healthcheck.retries: expected a whole number",
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
        block web {"image":"web","networks":["default"],"restart":"always","update_strategy":"download-then-kill"}
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
        r#"block ntp {"image":"ntp","restart":"always","update_strategy":"kill-then-download","requires":[{"slug":"raspberrypi4-64","type":"hw.device-type"}],"time":"coarse","plugins":["time-ntp"]}"#,
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
