//! Reading the runtime's objects back from the engine.
//!
//! One list call per kind of object, filtered on the runtime label: this is
//! what every reconcile cycle costs when nothing changed, so it never
//! inspects containers one by one. Health and exit codes come from the
//! list's status text (`Up 3 minutes (healthy)`, `Exited (137) 2 seconds
//! ago`), which engines have printed the same way since the first API
//! version that had healthchecks.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder,
};

use super::{Engine, EngineError, RUNTIME_LABEL};
use osb_state::current::{
    Container, ContainerId, ContainerStatus, Health, Image, ImageId, Network, Volume,
};
use osb_state::labels::{self, BlockLabels};
use osb_state::validate::RESERVED_LABEL_PREFIX;
use osb_state::{AppName, ImageRef, NetworkName, VolumeName};

/// What the engine has of this runtime instance, and every image it has.
#[derive(Debug, Clone, Default)]
pub struct EngineState {
    /// The instance's containers.
    pub containers: Vec<Container>,
    /// Every image, with its tags and repo digests. Which of them the
    /// runtime counts as its own is the caller's decision.
    pub images: Vec<Image>,
    /// The instance's volumes.
    pub volumes: Vec<Volume>,
    /// The instance's networks.
    pub networks: Vec<Network>,
    /// The engine's container names, by id, for messages.
    pub names: BTreeMap<ContainerId, String>,
}

impl Engine {
    /// Lists the instance's objects (and all images) in four calls.
    pub async fn read(&self) -> Result<EngineState, EngineError> {
        let filter = HashMap::from([("label", vec![format!("{RUNTIME_LABEL}={}", self.instance)])]);
        let containers = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filter)
            .build();
        let (containers, images, volumes, networks) = tokio::join!(
            self.docker.list_containers(Some(containers)),
            self.docker
                .list_images(Some(ListImagesOptionsBuilder::new().build())),
            self.docker.list_volumes(Some(
                ListVolumesOptionsBuilder::new().filters(&filter).build()
            )),
            self.docker.list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filter).build()
            )),
        );
        let fail =
            |what: &'static str| move |e| EngineError::from_bollard(format!("list {what}"), e);
        let containers = containers.map_err(fail("containers"))?;
        let images = images.map_err(fail("images"))?;
        let volumes = volumes.map_err(fail("volumes"))?;
        let networks = networks.map_err(fail("networks"))?;

        let mut state = EngineState::default();
        for summary in containers {
            if let Some((container, name)) = container(summary) {
                state.names.insert(container.id.clone(), name);
                state.containers.push(container);
            }
        }
        state.images = images
            .into_iter()
            .map(|i| Image {
                id: ImageId(i.id),
                references: i
                    .repo_tags
                    .iter()
                    .chain(&i.repo_digests)
                    // `<none>:<none>` and `<none>@sha256:..` are not references.
                    .filter_map(|r| ImageRef::parse(r).ok())
                    .collect(),
                class_labels: i
                    .labels
                    .into_iter()
                    .filter(|(k, _)| osb_state::kind::is_class_label(k))
                    .collect(),
            })
            .collect();
        for v in volumes.volumes.unwrap_or_default() {
            let (Some(app), Some(volume)) = (
                v.labels.get(labels::APP).and_then(|a| AppName::new(a).ok()),
                v.labels
                    .get(labels::VOLUME)
                    .and_then(|n| VolumeName::new(n).ok()),
            ) else {
                continue;
            };
            state.volumes.push(Volume {
                name: v.name,
                app,
                volume,
                config_hash: v.labels.get(labels::CONFIG_HASH).cloned(),
                labels: v
                    .labels
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with(RESERVED_LABEL_PREFIX))
                    .collect(),
            });
        }
        for n in networks {
            let labels = n.labels.unwrap_or_default();
            let (Some(name), Some(app), Some(network)) = (
                n.name,
                labels.get(labels::APP).and_then(|a| AppName::new(a).ok()),
                labels
                    .get(labels::NETWORK)
                    .and_then(|n| NetworkName::new(n).ok()),
            ) else {
                continue;
            };
            state.networks.push(Network {
                name,
                app,
                network,
                config_hash: labels.get(labels::CONFIG_HASH).cloned(),
            });
        }
        Ok(state)
    }
}

/// A container from the engine's list, and its name; `None` if the engine
/// left out its id (never seen; nothing could be done with it anyway).
fn container(summary: ContainerSummary) -> Option<(Container, String)> {
    let id = ContainerId(summary.id?);
    let labels: BTreeMap<String, String> = summary.labels.unwrap_or_default().into_iter().collect();
    // Unreadable labels make it a stray, which the planner removes.
    let owner = BlockLabels::from_labels(&labels).ok().flatten();
    let status = status(
        summary.state.unwrap_or(ContainerSummaryStateEnum::EMPTY),
        summary.status.as_deref().unwrap_or(""),
    );
    let name = summary
        .names
        .and_then(|n| n.into_iter().next())
        .map(|n| n.trim_start_matches('/').to_owned())
        .unwrap_or_else(|| id.to_string());
    let volumes = summary
        .mounts
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| m.name)
        .collect();
    let networks = summary
        .network_settings
        .and_then(|n| n.networks)
        .map(|n| n.into_keys().collect())
        .unwrap_or_default();
    Some((
        Container {
            id,
            owner,
            image: ImageId(summary.image_id.unwrap_or_default()),
            status,
            volumes,
            networks,
        },
        name,
    ))
}

/// A container's state from the list's `State` and `Status` fields.
fn status(state: ContainerSummaryStateEnum, text: &str) -> ContainerStatus {
    use ContainerSummaryStateEnum as S;
    match state {
        S::CREATED => ContainerStatus::Created,
        S::RUNNING => ContainerStatus::Running {
            health: health(text),
        },
        S::RESTARTING => ContainerStatus::Restarting,
        S::PAUSED => ContainerStatus::Paused,
        // Still winding down: treated as dead so it is only removed.
        S::DEAD | S::REMOVING => ContainerStatus::Dead,
        S::EXITED | S::STOPPING | S::EMPTY => ContainerStatus::Exited {
            code: exit_code(text).unwrap_or(-1),
        },
    }
}

/// `Up 5 seconds (healthy)`, `Up 1 second (health: starting)`.
fn health(text: &str) -> Health {
    if text.ends_with("(healthy)") {
        Health::Healthy
    } else if text.ends_with("(unhealthy)") {
        Health::Unhealthy
    } else if text.ends_with("(health: starting)") {
        Health::Starting
    } else {
        Health::NoCheck
    }
}

/// `Exited (137) 2 seconds ago`.
fn exit_code(text: &str) -> Option<i64> {
    let rest = text.strip_prefix("Exited (")?;
    rest.split_once(')')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContainerSummaryStateEnum as S;

    #[test]
    fn status_from_the_list_fields() {
        let table = [
            (S::CREATED, "Created", ContainerStatus::Created),
            (
                S::RUNNING,
                "Up 3 minutes",
                ContainerStatus::Running {
                    health: Health::NoCheck,
                },
            ),
            (
                S::RUNNING,
                "Up 3 minutes (healthy)",
                ContainerStatus::Running {
                    health: Health::Healthy,
                },
            ),
            (
                S::RUNNING,
                "Up 2 seconds (health: starting)",
                ContainerStatus::Running {
                    health: Health::Starting,
                },
            ),
            (
                S::RUNNING,
                "Up 40 seconds (unhealthy)",
                ContainerStatus::Running {
                    health: Health::Unhealthy,
                },
            ),
            (
                S::EXITED,
                "Exited (0) 5 seconds ago",
                ContainerStatus::Exited { code: 0 },
            ),
            (
                S::EXITED,
                "Exited (137) About a minute ago",
                ContainerStatus::Exited { code: 137 },
            ),
            (S::EXITED, "Exited", ContainerStatus::Exited { code: -1 }),
            (
                S::RESTARTING,
                "Restarting (1) 1 second ago",
                ContainerStatus::Restarting,
            ),
            (S::PAUSED, "Up 1 minute (Paused)", ContainerStatus::Paused),
            (S::DEAD, "Dead", ContainerStatus::Dead),
            (S::REMOVING, "Removal In Progress", ContainerStatus::Dead),
        ];
        for (state, text, expect) in table {
            assert_eq!(status(state, text), expect, "{state} / {text}");
        }
    }
}
