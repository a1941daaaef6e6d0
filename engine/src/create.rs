//! A block's definition turned into the engine's container configuration.
//!
//! [`ContainerPlan::new`] is pure, so what a block becomes is unit-tested
//! without an engine; [`Engine::create_container`] sends it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, Mount, MountTmpfsOptions, MountType, NetworkConnectRequest,
    NetworkingConfig, PortBinding, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bollard::{BollardRequest, ClientVersion};

use super::{Engine, EngineError, RUNTIME_LABEL, scoped_name};
use osb_state::current::ContainerId;
use osb_state::labels::{self, BlockLabels};
use osb_state::mount::VolumeMount;
use osb_state::settings::SharedNamespace;
use osb_state::target::{HealthTest, RestartPolicy as Restart};
use osb_state::{AppName, Block, BlockName, HumanDuration};

/// Where a block sees its update-lock directory (validation keeps the
/// block's own mounts off it).
pub use osb_state::validate::LOCK_MOUNT;

/// The engine's CPU period, in microseconds: `cpu_quota` is documented per
/// 100 ms, so the period is sent with it rather than left to an engine
/// whose default might differ.
const CPU_PERIOD: i64 = 100_000;

/// From this API version on, a container's MAC address is a setting of its
/// network endpoint; before it, of the container config, and the endpoint's
/// is ignored.
const ENDPOINT_MAC_ADDRESS: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 44,
};

/// Everything needed to create one block's container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerPlan {
    /// The engine name.
    pub name: String,
    /// The create request, less the MAC address.
    pub body: ContainerCreateBody,
    /// Networks to join after creation, with the block's name as alias: the
    /// create call takes only one on older engines.
    pub more_networks: Vec<String>,
    /// The block's name, its alias on every network.
    pub alias: String,
    /// The MAC address on the block's first network. Where the request holds
    /// it depends on the engine's API version, so it is placed when the
    /// request is sent ([`ContainerPlan::request`]).
    pub mac_address: Option<String>,
}

/// The create request for one API version.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    /// The body, as bollard types it.
    pub body: ContainerCreateBody,
    /// The body as JSON, when it holds a field bollard's type lacks (the
    /// container config's `MacAddress`, before API 1.44): sent in place of
    /// `body`.
    pub raw: Option<Vec<u8>>,
}

impl ContainerPlan {
    /// The container for `block`, labelled `owner`, for runtime `instance`.
    /// `peers` are the labels of the blocks whose namespaces it joins
    /// (`network_mode: service:db`), by name, which name their containers.
    /// `lock_dir` is the host directory of the block's update lock. `host`
    /// is what the host offers the block's feature labels.
    pub fn new(
        owner: &BlockLabels,
        block: &Block,
        peers: &BTreeMap<BlockName, BlockLabels>,
        instance: &str,
        lock_dir: &Path,
        host: &super::HostContext,
    ) -> Self {
        let app = &owner.app;
        let mut all_labels = block.labels.clone();
        all_labels.extend(owner.to_labels());
        all_labels.insert(RUNTIME_LABEL.to_owned(), instance.to_owned());

        let mut mounts: Vec<Mount> = block
            .volumes
            .iter()
            .map(|m| mount(instance, app, m))
            .collect();
        mounts.push(Mount {
            typ: Some(MountType::BIND),
            source: Some(lock_dir.display().to_string()),
            target: Some(LOCK_MOUNT.to_owned()),
            ..Default::default()
        });
        let env: Vec<String> = block
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();

        let mut exposed = Vec::new();
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in &block.ports {
            let key = format!("{}/{}", p.target, p.protocol.as_str());
            exposed.push(key.clone());
            if let Some(published) = p.published {
                bindings
                    .entry(key)
                    .or_default()
                    .get_or_insert_default()
                    .push(PortBinding {
                        host_ip: p.host_ip.map(|ip| ip.to_string()),
                        host_port: Some(published.to_string()),
                    });
            }
        }

        let namespace = |ns: &SharedNamespace| engine_namespace(ns, app, peers, instance);
        let alias = owner.block.to_string();
        // A block in another namespace (the host's, none, another block's)
        // joins none of its app's networks: the engine refuses endpoints
        // there.
        let (network_mode, first, more) = match &block.network_mode {
            Some(mode) => (Some(namespace(&mode.0)), None, Vec::new()),
            None => {
                let networks: Vec<String> = block
                    .effective_networks()
                    .iter()
                    .map(|n| scoped_name(instance, labels::network_name(app, n)))
                    .collect();
                match networks.split_first() {
                    Some((first, more)) => {
                        (Some(first.clone()), Some(first.clone()), more.to_vec())
                    }
                    None => (None, None, Vec::new()),
                }
            }
        };

        let host_config = HostConfig {
            mounts: Some(mounts),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            restart_policy: Some(RestartPolicy {
                name: Some(match block.restart() {
                    Restart::No => RestartPolicyNameEnum::NO,
                    Restart::Always => RestartPolicyNameEnum::ALWAYS,
                    Restart::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
                    Restart::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
                }),
                maximum_retry_count: None,
            }),
            network_mode,
            ..settings(block, &namespace)
        };
        let body = ContainerCreateBody {
            image: Some(block.image.as_str().to_owned()),
            cmd: block.command.clone(),
            // `[]` rather than the CLI's `[""]`: both clear the image's
            // entrypoint, but `[""]` also drops the image's command, and a
            // block without one of its own could not be created.
            entrypoint: block.entrypoint.clone(),
            env: non_empty(env),
            labels: Some(all_labels.into_iter().collect()),
            exposed_ports: non_empty(exposed),
            healthcheck: block.healthcheck.as_ref().map(|h| HealthConfig {
                test: h.test.as_ref().map(|t| match t {
                    HealthTest::Cmd(args) => std::iter::once("CMD".to_owned())
                        .chain(args.clone())
                        .collect(),
                    HealthTest::Shell(line) => vec!["CMD-SHELL".to_owned(), line.clone()],
                    HealthTest::Disabled => vec!["NONE".to_owned()],
                }),
                interval: h.interval.map(nanos),
                timeout: h.timeout.map(nanos),
                retries: h.retries.map(i64::from),
                start_period: h.start_period.map(nanos),
                start_interval: None,
            }),
            user: block.user.clone(),
            working_dir: block.working_dir.as_ref().map(|d| d.as_str().to_owned()),
            hostname: block.hostname.as_ref().map(|h| h.as_str().to_owned()),
            domainname: block.domainname.as_ref().map(|h| h.as_str().to_owned()),
            tty: block.tty.then_some(true),
            open_stdin: block.stdin_open.then_some(true),
            stop_signal: block.stop_signal.as_ref().map(|s| s.as_str().to_owned()),
            stop_timeout: block.stop_grace_period.map(whole_seconds),
            host_config: Some(host_config),
            networking_config: first.clone().map(|network| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network,
                    EndpointSettings {
                        aliases: Some(vec![alias.clone()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        ContainerPlan {
            name: scoped_name(instance, owner.container_name()),
            body: super::host_access::apply(body, block, host),
            more_networks: more,
            alias,
            // Only a block on its app's networks has an interface of its own
            // to give an address to.
            mac_address: first
                .and(block.mac_address.as_ref())
                .map(|m| m.as_str().to_owned()),
        }
    }

    /// The create request as an engine speaking API `version` reads it: the
    /// MAC address on the first network's endpoint from 1.44 on, in the
    /// container config before (where bollard's body has no field for it,
    /// so the body goes as JSON).
    pub fn request(&self, version: &ClientVersion) -> CreateRequest {
        let mut body = self.body.clone();
        let Some(mac) = &self.mac_address else {
            return CreateRequest { body, raw: None };
        };
        if *version >= ENDPOINT_MAC_ADDRESS {
            for endpoint in body
                .networking_config
                .iter_mut()
                .flat_map(|n| n.endpoints_config.iter_mut())
                .flat_map(|e| e.values_mut())
            {
                endpoint.mac_address = Some(mac.clone());
            }
            return CreateRequest { body, raw: None };
        }
        let raw = match serde_json::to_value(&body) {
            Ok(serde_json::Value::Object(mut fields)) => {
                fields.insert("MacAddress".to_owned(), mac.clone().into());
                serde_json::to_vec(&fields).ok()
            }
            // bollard's body always serializes to an object.
            _ => None,
        };
        CreateRequest { body, raw }
    }
}

/// What the block is allowed and given, as the engine's host config: every
/// container setting but the network, mounts, ports and restart policy.
fn settings(block: &Block, namespace: &dyn Fn(&SharedNamespace) -> String) -> HostConfig {
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    HostConfig {
        privileged: block.privileged.then_some(true),
        pid_mode: block.pid.as_ref().map(|m| namespace(&m.0)),
        ipc_mode: block.ipc.as_ref().map(|m| namespace(&m.0)),
        // Without `CAP_`: what engines before 20.10 take, and what 20.10
        // takes too.
        cap_add: non_empty(block.cap_add.iter().map(|c| c.to_string()).collect()),
        cap_drop: non_empty(block.cap_drop.iter().map(|c| c.to_string()).collect()),
        devices: non_empty(
            block
                .devices
                .iter()
                .map(|d| DeviceMapping {
                    path_on_host: Some(d.source.as_str().to_owned()),
                    path_in_container: Some(d.target_path().as_str().to_owned()),
                    cgroup_permissions: Some(d.permissions.as_str().to_owned()),
                })
                .collect(),
        ),
        device_cgroup_rules: non_empty(
            block
                .device_cgroup_rules
                .iter()
                .map(|r| r.to_string())
                .collect(),
        ),
        security_opt: non_empty(block.security_opt.iter().map(|o| o.to_string()).collect()),
        sysctls: (!block.sysctls.is_empty()).then(|| block.sysctls.clone().into_iter().collect()),
        ulimits: non_empty(
            block
                .ulimits
                .iter()
                .map(|(name, limit)| ResourcesUlimits {
                    name: Some(name.clone()),
                    soft: Some(limit.soft),
                    hard: Some(limit.hard),
                })
                .collect(),
        ),
        shm_size: block.shm_size.map(to_i64),
        readonly_rootfs: block.read_only.then_some(true),
        group_add: non_empty(block.group_add.clone()),
        dns: non_empty(block.dns.iter().map(|ip| ip.to_string()).collect()),
        dns_search: non_empty(block.dns_search.iter().map(|d| d.to_string()).collect()),
        dns_options: non_empty(block.dns_opt.clone()),
        extra_hosts: non_empty(
            block
                .extra_hosts
                .iter()
                .map(|(host, address)| format!("{host}:{address}"))
                .collect(),
        ),
        init: block.init.then_some(true),
        oom_kill_disable: block.oom_kill_disable.then_some(true),
        oom_score_adj: block.oom_score_adj.map(i64::from),
        memory: block.mem_limit.map(to_i64),
        memory_reservation: block.mem_reservation.map(to_i64),
        memory_swap: block.memswap_limit,
        nano_cpus: block.cpus.map(|c| to_i64(c.nanos())),
        cpu_shares: block.cpu_shares.map(i64::from),
        cpu_quota: block.cpu_quota.map(i64::from),
        cpu_period: block.cpu_quota.map(|_| CPU_PERIOD),
        cpuset_cpus: block.cpuset.as_ref().map(|c| c.to_string()),
        runtime: block.runtime.clone(),
        log_config: block.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: Some(l.driver.clone()),
            config: (!l.options.is_empty()).then(|| l.options.clone().into_iter().collect()),
        }),
        ..Default::default()
    }
}

/// A namespace as the engine names it: another block's is its container's,
/// `container:<name>`.
fn engine_namespace(
    ns: &SharedNamespace,
    app: &AppName,
    peers: &BTreeMap<BlockName, BlockLabels>,
    instance: &str,
) -> String {
    match ns {
        SharedNamespace::Host => "host".to_owned(),
        SharedNamespace::None => "none".to_owned(),
        SharedNamespace::Private => "private".to_owned(),
        SharedNamespace::Shareable => "shareable".to_owned(),
        SharedNamespace::Service(block) => {
            // The planner gives the labels of every block joined; without
            // them the name lacks the hash, and the engine's "no such
            // container" names the block.
            let name = peers
                .get(block)
                .map_or_else(|| format!("{app}.{block}"), BlockLabels::container_name);
            format!("container:{}", scoped_name(instance, name))
        }
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// Whole seconds, rounded up: the engine's stop timeout has no finer unit,
/// and a grace period must not shrink.
fn whole_seconds(d: HumanDuration) -> i64 {
    let d = d.get();
    let up = u64::from(d.subsec_nanos() > 0);
    i64::try_from(d.as_secs().saturating_add(up)).unwrap_or(i64::MAX)
}

fn mount(instance: &str, app: &osb_state::AppName, m: &VolumeMount) -> Mount {
    match m {
        VolumeMount::Volume {
            source,
            target,
            read_only,
        } => Mount {
            typ: Some(MountType::VOLUME),
            source: Some(scoped_name(instance, labels::volume_name(app, source))),
            target: Some(target.as_str().to_owned()),
            read_only: Some(*read_only),
            ..Default::default()
        },
        VolumeMount::Bind {
            source,
            target,
            read_only,
        } => Mount {
            typ: Some(MountType::BIND),
            source: Some(source.as_str().to_owned()),
            target: Some(target.as_str().to_owned()),
            read_only: Some(*read_only),
            ..Default::default()
        },
        VolumeMount::Tmpfs { target, size } => Mount {
            typ: Some(MountType::TMPFS),
            target: Some(target.as_str().to_owned()),
            tmpfs_options: size.map(|s| MountTmpfsOptions {
                size_bytes: i64::try_from(s).ok(),
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

fn nanos(d: HumanDuration) -> i64 {
    i64::try_from(d.get().as_nanos()).unwrap_or(i64::MAX)
}

impl Engine {
    /// Creates the container `plan` describes and joins its other networks.
    /// If a container of that name exists already (created before a crash,
    /// not yet seen by a read), its id is returned: the name holds the
    /// config hash, so it is the same container.
    pub async fn create_container(&self, plan: &ContainerPlan) -> Result<ContainerId, EngineError> {
        let options = CreateContainerOptionsBuilder::new()
            .name(&plan.name)
            .build();
        let request = plan.request(&self.docker.client_version());
        let docker = match request.raw {
            None => self.docker.clone(),
            // bollard sends its typed body; this one call sends the JSON
            // that holds what the type cannot.
            Some(raw) => self.docker.clone().with_request_modifier(move |sent| {
                let (parts, _) = sent.into_parts();
                BollardRequest::from_parts(parts, bollard::body_full(raw.clone().into()))
            }),
        };
        let id = match docker.create_container(Some(options), request.body).await {
            Ok(created) => ContainerId(created.id),
            Err(e) => {
                let e = EngineError::from_bollard(format!("create {}", plan.name), e);
                if !e.is_conflict() {
                    return Err(e);
                }
                let existing = self
                    .docker
                    .inspect_container(&plan.name, None)
                    .await
                    .map_err(|e| EngineError::from_bollard(format!("inspect {}", plan.name), e))?;
                // Only ours if it carries this instance's label: another
                // runtime (or a person) may hold the name.
                let theirs = existing
                    .config
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(RUNTIME_LABEL).cloned());
                if theirs.as_deref() != Some(self.instance.as_str()) {
                    return Err(EngineError::Refused {
                        action: format!("create {}", plan.name),
                        message: format!(
                            "the name is taken by a container that is not this runtime instance's ({})",
                            theirs.map_or_else(
                                || "no io.osb.runtime label".to_owned(),
                                |i| format!("instance '{i}'")
                            )
                        ),
                        status: Some(409),
                    });
                }
                ContainerId(existing.id.unwrap_or_default())
            }
        };
        self.join_networks(&id, &plan.more_networks, &plan.alias)
            .await?;
        Ok(id)
    }
}

impl Engine {
    /// Attaches a container to `networks` with `alias`; a network it is on
    /// already is skipped.
    pub async fn join_networks(
        &self,
        id: &ContainerId,
        networks: &[String],
        alias: &str,
    ) -> Result<(), EngineError> {
        for network in networks {
            let request = NetworkConnectRequest {
                container: id.0.clone(),
                endpoint_config: Some(EndpointSettings {
                    aliases: Some(vec![alias.to_owned()]),
                    ..Default::default()
                }),
            };
            if let Err(e) = self.docker.connect_network(network, request).await {
                let e = EngineError::from_bollard(format!("join {network}"), e);
                // Joined already, before a crash.
                if !matches!(
                    e,
                    EngineError::Refused {
                        status: Some(403 | 409),
                        ..
                    }
                ) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osb_state::TargetState;

    fn plan_for(block_json: &str) -> ContainerPlan {
        plan_for_instance(block_json, "osb")
    }

    fn plan_for_instance(block_json: &str, instance: &str) -> ContainerPlan {
        plan_in(&format!(r#"{{"web": {block_json}}}"#), "web", instance)
    }

    /// The plan of `block` among `blocks_json` (app `main`), with its peers
    /// labelled as the planner labels them.
    fn plan_in(blocks_json: &str, block: &str, instance: &str) -> ContainerPlan {
        let text = format!(
            r#"{{"version": 1, "apps": {{"main": {{"class": "app",
                "volumes": {{"data": {{}}}}, "networks": {{"back": {{}}}},
                "release": {{"version": "1.0.0", "blocks": {blocks_json}}}}}}}}}"#
        );
        let target = TargetState::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
        let app = &target.apps["main"];
        let labels_of = |name: &BlockName| BlockLabels {
            app: "main".parse().unwrap(),
            block: name.clone(),
            release: app.release.version.clone(),
            config_hash: app.container_hash(name).unwrap(),
        };
        let name: BlockName = block.parse().unwrap();
        let spec = &app.release.blocks[&name];
        let peers = spec
            .joined_blocks()
            .into_iter()
            .map(|peer| (peer.clone(), labels_of(peer)))
            .collect();
        ContainerPlan::new(
            &labels_of(&name),
            spec,
            &peers,
            instance,
            Path::new("/var/lib/osb/locks/main/web"),
            &crate::HostContext::default(),
        )
    }

    fn host(plan: &ContainerPlan) -> &HostConfig {
        plan.body.host_config.as_ref().unwrap()
    }

    #[test]
    fn another_instance_names_its_objects_apart() {
        let block = r#"{"image": "web:1", "networks": ["default", "back"],
            "volumes": [{"type": "volume", "source": "data", "target": "/data"}]}"#;
        let default = plan_for_instance(block, "osb");
        let other = plan_for_instance(block, "t-1");
        assert_eq!(other.name, format!("t-1.{}", default.name));
        let source = |p: &ContainerPlan| {
            p.body
                .host_config
                .as_ref()
                .and_then(|h| h.mounts.as_ref())
                .and_then(|m| m[0].source.clone())
        };
        assert_eq!(source(&default).as_deref(), Some("main.data"));
        assert_eq!(source(&other).as_deref(), Some("t-1.main.data"));
        let first_network = |p: &ContainerPlan| {
            p.body
                .networking_config
                .as_ref()
                .and_then(|n| n.endpoints_config.as_ref())
                .and_then(|e| e.keys().next().cloned())
        };
        assert_eq!(first_network(&default).as_deref(), Some("main.default"));
        assert_eq!(first_network(&other).as_deref(), Some("t-1.main.default"));
        assert_eq!(other.more_networks, vec!["t-1.main.back".to_owned()]);
        assert_eq!(
            other
                .body
                .labels
                .as_ref()
                .and_then(|l| l.get(RUNTIME_LABEL))
                .map(String::as_str),
            Some("t-1")
        );
    }

    #[test]
    fn instance_names_hold_what_engine_names_may() {
        for good in ["osb", "t-a-1", "Dev_2", "a"] {
            assert_eq!(super::super::check_instance(good), Ok(()), "{good}");
        }
        for bad in ["", "-x", "a.b", "a/b", "a b", "é", &"x".repeat(33)] {
            let err = super::super::check_instance(bad).unwrap_err();
            assert!(err.contains("instance"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_block_becomes_a_container() {
        let plan = plan_for(
            r#"{"image": "localhost:5000/web:2", "command": ["httpd", "-f"],
                "environment": {"MODE": "prod"}, "labels": {"com.example": "x"},
                "volumes": [{"type": "volume", "source": "data", "target": "/data", "read_only": true},
                            {"type": "tmpfs", "target": "/run", "size": 1048576}],
                "networks": ["default", "back"],
                "ports": [{"target": 80, "published": 8080, "host_ip": "127.0.0.1"}, {"target": 53, "protocol": "udp"}],
                "restart": "on-failure",
                "healthcheck": {"test": {"shell": "wget -q -O- localhost"}, "interval": "5s", "retries": 3}}"#,
        );
        assert!(plan.name.starts_with("main.web."), "{}", plan.name);
        let body = &plan.body;
        assert_eq!(body.image.as_deref(), Some("localhost:5000/web:2"));
        assert_eq!(body.cmd, Some(vec!["httpd".to_owned(), "-f".to_owned()]));
        assert_eq!(body.env, Some(vec!["MODE=prod".to_owned()]));
        let l = body.labels.as_ref().unwrap_or_else(|| panic!("labels"));
        assert_eq!(l.get("com.example").map(String::as_str), Some("x"));
        assert_eq!(l.get("io.osb.app").map(String::as_str), Some("main"));
        assert_eq!(l.get("io.osb.block").map(String::as_str), Some("web"));
        assert_eq!(l.get("io.osb.runtime").map(String::as_str), Some("osb"));
        assert_eq!(
            body.exposed_ports,
            Some(vec!["80/tcp".to_owned(), "53/udp".to_owned()])
        );
        let host = body.host_config.as_ref().unwrap_or_else(|| panic!("host"));
        let binding = &host
            .port_bindings
            .as_ref()
            .unwrap_or_else(|| panic!("ports"))["80/tcp"];
        assert_eq!(
            binding,
            &Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".to_owned()),
                host_port: Some("8080".to_owned())
            }])
        );
        let mounts = host.mounts.as_ref().unwrap_or_else(|| panic!("mounts"));
        assert_eq!(mounts[0].source.as_deref(), Some("main.data"));
        assert_eq!(mounts[0].read_only, Some(true));
        assert_eq!(mounts[1].typ, Some(MountType::TMPFS));
        assert_eq!(mounts[2].target.as_deref(), Some(LOCK_MOUNT));
        assert_eq!(
            host.restart_policy.as_ref().and_then(|r| r.name),
            Some(RestartPolicyNameEnum::ON_FAILURE)
        );
        assert_eq!(host.network_mode.as_deref(), Some("main.default"));
        assert_eq!(plan.more_networks, vec!["main.back".to_owned()]);
        let check = body.healthcheck.as_ref().unwrap_or_else(|| panic!("check"));
        assert_eq!(
            check.test,
            Some(vec![
                "CMD-SHELL".to_owned(),
                "wget -q -O- localhost".to_owned()
            ])
        );
        assert_eq!(check.interval, Some(5_000_000_000));
        assert_eq!(check.retries, Some(3));
    }

    #[test]
    fn defaults_leave_the_image_in_charge() {
        let plan = plan_for(r#"{"image": "busybox"}"#);
        assert_eq!(plan.body.cmd, None);
        assert_eq!(plan.body.env, None);
        assert_eq!(plan.body.healthcheck, None);
        assert_eq!(plan.body.exposed_ports, None);
        let host = plan.body.host_config.unwrap_or_default();
        assert_eq!(host.port_bindings, None);
        assert_eq!(
            host.restart_policy.and_then(|r| r.name),
            Some(RestartPolicyNameEnum::ALWAYS)
        );
    }

    /// The request as the engine reads it, JSON.
    fn wire(plan: &ContainerPlan) -> serde_json::Value {
        serde_json::to_value(&plan.body).unwrap()
    }

    #[test]
    fn each_setting_reaches_the_engine_under_its_own_name() {
        use serde_json::json;
        // (the block's settings, then each field of the request they set).
        let cases = [
            (
                r#""privileged": true"#,
                vec![("/HostConfig/Privileged", json!(true))],
            ),
            (
                r#""pid": "host""#,
                vec![("/HostConfig/PidMode", json!("host"))],
            ),
            (
                r#""ipc": "shareable""#,
                vec![("/HostConfig/IpcMode", json!("shareable"))],
            ),
            (
                r#""ipc": "private""#,
                vec![("/HostConfig/IpcMode", json!("private"))],
            ),
            (
                r#""ipc": "host""#,
                vec![("/HostConfig/IpcMode", json!("host"))],
            ),
            (
                r#""cap_add": ["net_admin", "CAP_SYS_TIME"], "cap_drop": ["ALL"]"#,
                vec![
                    ("/HostConfig/CapAdd", json!(["NET_ADMIN", "SYS_TIME"])),
                    ("/HostConfig/CapDrop", json!(["ALL"])),
                ],
            ),
            (
                r#""devices": [{"source": "/dev/ttyUSB0", "target": "/dev/zigbee", "permissions": "rw"},
                               {"source": "/dev/null"}]"#,
                vec![(
                    "/HostConfig/Devices",
                    json!([
                        {"PathOnHost": "/dev/ttyUSB0", "PathInContainer": "/dev/zigbee", "CgroupPermissions": "rw"},
                        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/null", "CgroupPermissions": "rwm"}
                    ]),
                )],
            ),
            (
                r#""device_cgroup_rules": ["c 189:* rmw"]"#,
                vec![("/HostConfig/DeviceCgroupRules", json!(["c 189:* rmw"]))],
            ),
            (
                r#""security_opt": ["no-new-privileges", "apparmor=unconfined"]"#,
                vec![(
                    "/HostConfig/SecurityOpt",
                    json!(["no-new-privileges", "apparmor=unconfined"]),
                )],
            ),
            (
                r#""sysctls": {"net.core.somaxconn": "1024", "kernel.msgmax": "65536"}"#,
                vec![(
                    "/HostConfig/Sysctls",
                    json!({"net.core.somaxconn": "1024", "kernel.msgmax": "65536"}),
                )],
            ),
            (
                r#""ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "core": {"soft": -1, "hard": -1}}"#,
                vec![(
                    "/HostConfig/Ulimits",
                    json!([
                        {"Name": "core", "Soft": -1, "Hard": -1},
                        {"Name": "nofile", "Soft": 1024, "Hard": 2048}
                    ]),
                )],
            ),
            (
                r#""shm_size": 67108864"#,
                vec![("/HostConfig/ShmSize", json!(67_108_864))],
            ),
            (
                r#""read_only": true"#,
                vec![("/HostConfig/ReadonlyRootfs", json!(true))],
            ),
            (
                r#""user": "1000:1000", "group_add": ["dialout", "20"]"#,
                vec![
                    ("/User", json!("1000:1000")),
                    ("/HostConfig/GroupAdd", json!(["dialout", "20"])),
                ],
            ),
            (
                r#""working_dir": "/srv""#,
                vec![("/WorkingDir", json!("/srv"))],
            ),
            (
                r#""entrypoint": ["/bin/sh", "-c"]"#,
                vec![("/Entrypoint", json!(["/bin/sh", "-c"]))],
            ),
            // Clears the image's entrypoint and keeps its command.
            (r#""entrypoint": []"#, vec![("/Entrypoint", json!([]))]),
            (
                r#""hostname": "box", "domainname": "example.org""#,
                vec![
                    ("/Hostname", json!("box")),
                    ("/Domainname", json!("example.org")),
                ],
            ),
            (
                r#""dns": ["1.1.1.1", "2606:4700:4700::1111"], "dns_search": ["example.org"],
                   "dns_opt": ["ndots:2"]"#,
                vec![
                    (
                        "/HostConfig/Dns",
                        json!(["1.1.1.1", "2606:4700:4700::1111"]),
                    ),
                    ("/HostConfig/DnsSearch", json!(["example.org"])),
                    ("/HostConfig/DnsOptions", json!(["ndots:2"])),
                ],
            ),
            (
                r#""extra_hosts": {"gateway": "10.0.0.1", "host.local": "host-gateway", "v6": "::1"}"#,
                vec![(
                    "/HostConfig/ExtraHosts",
                    json!(["gateway:10.0.0.1", "host.local:host-gateway", "v6:::1"]),
                )],
            ),
            (r#""init": true"#, vec![("/HostConfig/Init", json!(true))]),
            (
                r#""tty": true, "stdin_open": true"#,
                vec![("/Tty", json!(true)), ("/OpenStdin", json!(true))],
            ),
            (
                r#""stop_signal": "int""#,
                vec![("/StopSignal", json!("SIGINT"))],
            ),
            // Rounded up: a grace period never shrinks.
            (
                r#""stop_grace_period": "1500ms""#,
                vec![("/StopTimeout", json!(2))],
            ),
            (
                r#""stop_grace_period": "1m""#,
                vec![("/StopTimeout", json!(60))],
            ),
            (
                r#""stop_grace_period": "0s""#,
                vec![("/StopTimeout", json!(0))],
            ),
            (
                r#""mem_limit": 268435456, "mem_reservation": 134217728, "memswap_limit": -1,
                   "oom_kill_disable": true, "oom_score_adj": -500"#,
                vec![
                    ("/HostConfig/Memory", json!(268_435_456)),
                    ("/HostConfig/MemoryReservation", json!(134_217_728)),
                    ("/HostConfig/MemorySwap", json!(-1)),
                    ("/HostConfig/OomKillDisable", json!(true)),
                    ("/HostConfig/OomScoreAdj", json!(-500)),
                ],
            ),
            (
                r#""cpus": 1.5"#,
                vec![("/HostConfig/NanoCpus", json!(1_500_000_000))],
            ),
            (
                r#""cpus": "0.25""#,
                vec![("/HostConfig/NanoCpus", json!(250_000_000))],
            ),
            (
                r#""cpu_shares": 512, "cpu_quota": 50000, "cpuset": "0-1""#,
                vec![
                    ("/HostConfig/CpuShares", json!(512)),
                    ("/HostConfig/CpuQuota", json!(50_000)),
                    ("/HostConfig/CpuPeriod", json!(100_000)),
                    ("/HostConfig/CpusetCpus", json!("0-1")),
                ],
            ),
            (
                r#""runtime": "runc""#,
                vec![("/HostConfig/Runtime", json!("runc"))],
            ),
            (
                r#""logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}"#,
                vec![(
                    "/HostConfig/LogConfig",
                    json!({"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}),
                )],
            ),
            (
                r#""logging": {"driver": "none"}"#,
                vec![("/HostConfig/LogConfig", json!({"Type": "none"}))],
            ),
        ];
        for (settings, expected) in cases {
            let plan = plan_for(&format!(r#"{{"image": "busybox", {settings}}}"#));
            let sent = wire(&plan);
            for (pointer, value) in expected {
                assert_eq!(sent.pointer(pointer), Some(&value), "{settings}: {pointer}");
            }
        }
    }

    #[test]
    fn a_block_without_settings_leaves_the_engine_its_defaults() {
        let sent = wire(&plan_for(r#"{"image": "busybox"}"#));
        let keys = |pointer: &str| -> Vec<String> {
            let mut keys: Vec<String> = sent
                .pointer(pointer)
                .and_then(|v| v.as_object())
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            keys.sort();
            keys
        };
        assert_eq!(
            keys(""),
            ["HostConfig", "Image", "Labels", "NetworkingConfig"]
        );
        assert_eq!(
            keys("/HostConfig"),
            ["Mounts", "NetworkMode", "RestartPolicy"]
        );
    }

    #[test]
    fn a_block_outside_its_app_networks_joins_none_of_them() {
        // (Validation refuses a MAC address under both.)
        for mode in ["host", "none"] {
            let plan = plan_for(&format!(
                r#"{{"image": "busybox", "network_mode": "{mode}"}}"#
            ));
            assert_eq!(host(&plan).network_mode.as_deref(), Some(mode));
            assert_eq!(plan.body.networking_config, None, "{mode}");
            assert_eq!(plan.more_networks, Vec::<String>::new(), "{mode}");
            // No interface of its own to give the address to.
            assert_eq!(plan.mac_address, None, "{mode}");
        }
    }

    #[test]
    fn a_block_joins_another_blocks_namespaces_by_its_container_name() {
        let blocks = r#"{
            "db": {"image": "busybox", "ipc": "shareable"},
            "web": {"image": "busybox", "network_mode": "service:db", "pid": "service:db",
                    "ipc": "service:db"}}"#;
        for instance in ["osb", "t-1"] {
            let db = plan_in(blocks, "db", instance);
            let web = plan_in(blocks, "web", instance);
            let joined = Some(format!("container:{}", db.name));
            let host = host(&web);
            assert_eq!(host.network_mode, joined, "{instance}");
            assert_eq!(host.pid_mode, joined, "{instance}");
            assert_eq!(host.ipc_mode, joined, "{instance}");
            assert_eq!(web.body.networking_config, None);
            assert_eq!(web.more_networks, Vec::<String>::new());
        }
        assert!(
            plan_in(blocks, "db", "t-1")
                .name
                .starts_with("t-1.main.db."),
            "scoped like the block's own name"
        );
        // The planner always names the peers; without them the engine's
        // "no such container" still names the block.
        let name: BlockName = "db".parse().unwrap();
        assert_eq!(
            engine_namespace(
                &SharedNamespace::Service(name),
                &"main".parse().unwrap(),
                &BTreeMap::new(),
                "t-1"
            ),
            "container:t-1.main.db"
        );
    }

    #[test]
    fn the_mac_address_goes_where_the_engines_api_reads_it() {
        let plan = plan_for(
            r#"{"image": "busybox", "networks": ["back", "default"], "mac_address": "02:42:AC:11:00:02"}"#,
        );
        assert_eq!(plan.mac_address.as_deref(), Some("02:42:ac:11:00:02"));
        let version = |minor_version| ClientVersion {
            major_version: 1,
            minor_version,
        };
        // Before 1.44: the container config's, sent as JSON.
        let old = plan.request(&version(41));
        let raw: serde_json::Value = serde_json::from_slice(&old.raw.unwrap()).unwrap();
        assert_eq!(raw["MacAddress"], "02:42:ac:11:00:02");
        let mut without = raw.clone();
        without.as_object_mut().unwrap().remove("MacAddress");
        assert_eq!(
            without,
            wire(&plan),
            "the rest of the body as bollard sends it"
        );
        // From 1.44: the first network's endpoint's, in the typed body.
        let new = plan.request(&version(44));
        assert_eq!(new.raw, None);
        let endpoints = new
            .body
            .networking_config
            .and_then(|n| n.endpoints_config)
            .unwrap();
        assert_eq!(
            endpoints["main.back"].mac_address.as_deref(),
            Some("02:42:ac:11:00:02")
        );
        // Without an address, the body as is.
        let plain = plan_for(r#"{"image": "busybox"}"#);
        for minor in [41, 44] {
            let request = plain.request(&version(minor));
            assert_eq!((request.raw, request.body), (None, plain.body.clone()));
        }
    }
}
