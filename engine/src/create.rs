//! A block's definition turned into the engine's container configuration.
//!
//! [`ContainerPlan::new`] is pure, so what a block becomes is unit-tested
//! without an engine; [`Engine::create_container`] sends it.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount, MountTmpfsOptions,
    MountType, NetworkConnectRequest, NetworkingConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::CreateContainerOptionsBuilder;

use super::{Engine, EngineError, RUNTIME_LABEL, scoped_name};
use osb_state::current::ContainerId;
use osb_state::labels::{self, BlockLabels};
use osb_state::mount::VolumeMount;
use osb_state::target::{HealthTest, RestartPolicy as Restart};
use osb_state::{Block, HumanDuration};

/// Where a block sees its update-lock directory.
pub const LOCK_MOUNT: &str = "/tmp/osb";

/// Everything needed to create one block's container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerPlan {
    /// The engine name.
    pub name: String,
    /// The create request.
    pub body: ContainerCreateBody,
    /// Networks to join after creation, with the block's name as alias: the
    /// create call takes only one on older engines.
    pub more_networks: Vec<String>,
    /// The block's name, its alias on every network.
    pub alias: String,
}

impl ContainerPlan {
    /// The container for `block`, labelled `owner`, for runtime `instance`.
    /// `lock_dir` is the host directory of the block's update lock.
    pub fn new(owner: &BlockLabels, block: &Block, instance: &str, lock_dir: &Path) -> Self {
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

        let networks: Vec<String> = block
            .effective_networks()
            .iter()
            .map(|n| scoped_name(instance, labels::network_name(app, n)))
            .collect();
        let alias = owner.block.to_string();
        let (first, more) = match networks.split_first() {
            Some((first, more)) => (Some(first.clone()), more.to_vec()),
            None => (None, Vec::new()),
        };

        let host_config = HostConfig {
            mounts: Some(mounts),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            restart_policy: Some(RestartPolicy {
                name: Some(match block.restart {
                    Restart::No => RestartPolicyNameEnum::NO,
                    Restart::Always => RestartPolicyNameEnum::ALWAYS,
                    Restart::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
                    Restart::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
                }),
                maximum_retry_count: None,
            }),
            network_mode: first.clone(),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(block.image.as_str().to_owned()),
            cmd: block.command.clone(),
            env: (!block.environment.is_empty()).then(|| {
                block
                    .environment
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect()
            }),
            labels: Some(all_labels.into_iter().collect()),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
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
            host_config: Some(host_config),
            networking_config: first.map(|network| NetworkingConfig {
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
            body,
            more_networks: more,
            alias,
        }
    }
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
        let id = match self
            .docker
            .create_container(Some(options), plan.body.clone())
            .await
        {
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
        let text = format!(
            r#"{{"version": 1, "apps": {{"main": {{"class": "app",
                "volumes": {{"data": {{}}}}, "networks": {{"back": {{}}}},
                "release": {{"version": "1.0.0", "blocks": {{"web": {block_json}}}}}}}}}}}"#
        );
        let target = TargetState::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
        let app = &target.apps.values().next().unwrap_or_else(|| panic!("app"));
        let (name, block) = app
            .release
            .blocks
            .iter()
            .next()
            .unwrap_or_else(|| panic!("block"));
        let owner = BlockLabels {
            app: target
                .apps
                .keys()
                .next()
                .cloned()
                .unwrap_or_else(|| panic!()),
            block: name.clone(),
            release: app.release.version.clone(),
            config_hash: block.config_hash(),
        };
        ContainerPlan::new(
            &owner,
            block,
            instance,
            Path::new("/var/lib/osb/locks/main/web"),
        )
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
}
