//! The host access a block's feature labels grant
//! ([`osb_state::features::HostAccess`]), applied to its create request:
//! host paths as bind mounts, environment, a GPU device request.
//!
//! [`apply`] is pure; what it needs to know of the host (the engine's
//! socket, which optional host paths are missing) comes in a
//! [`HostContext`], which [`Engine::host_context`] observes.

use std::collections::BTreeSet;
use std::path::Path;

use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, Mount, MountType};

use super::Engine;
use osb_state::Block;
use osb_state::features::{Features, HostAccess};

/// What the host offers feature labels, as observed before a create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostContext {
    /// The engine's socket on the host, when the engine is reached through
    /// a local one (`unix://` in `DOCKER_HOST`, or the default socket).
    pub engine_socket: Option<String>,
    /// Host paths of optional feature binds that the host lacks: left out,
    /// as balena leaves out a missing `/lib/modules`.
    pub absent: BTreeSet<String>,
}

impl Engine {
    /// The engine's socket and the optional feature paths this host lacks,
    /// looked at now.
    pub fn host_context(&self) -> HostContext {
        HostContext {
            engine_socket: self.socket_path().map(|p| p.display().to_string()),
            absent: HostAccess::optional_sources()
                .into_iter()
                .filter(|source| !Path::new(source).exists())
                .collect(),
        }
    }
}

/// `body` with what `block`'s feature labels grant added: each bind not
/// absent from the host and at a container path the request does not mount
/// already (the block's own mounts win), each variable the request does not
/// set already (the block's own environment wins, as balena lets a
/// service's own `DOCKER_HOST` stand), and a GPU device request. Labels
/// that cannot be read grant nothing (validation refuses them first).
pub(crate) fn apply(
    mut body: ContainerCreateBody,
    block: &Block,
    host: &HostContext,
) -> ContainerCreateBody {
    let Ok(features) = Features::parse(&block.labels) else {
        return body;
    };
    if features.is_empty() {
        return body;
    }
    let access = HostAccess::grant(&features, host.engine_socket.as_deref());

    let env = body.env.get_or_insert_default();
    for (name, value) in &access.environment {
        let set = env
            .iter()
            .any(|e| e.split_once('=').is_some_and(|(k, _)| k == name));
        if !set {
            env.push(format!("{name}={value}"));
        }
    }
    if env.is_empty() {
        body.env = None;
    }

    let host_config = body.host_config.get_or_insert_with(HostConfig::default);
    let mounts = host_config.mounts.get_or_insert_default();
    for bind in &access.binds {
        let taken = mounts
            .iter()
            .any(|m| m.target.as_deref() == Some(bind.target.as_str()));
        if taken || (bind.optional && host.absent.contains(&bind.source)) {
            continue;
        }
        // A mount, not a `Binds` entry: the engine refuses a missing
        // source rather than creating it on the host.
        mounts.push(Mount {
            typ: Some(MountType::BIND),
            source: Some(bind.source.clone()),
            target: Some(bind.target.clone()),
            read_only: Some(bind.read_only),
            ..Default::default()
        });
    }
    if access.gpus > 0 {
        // What `docker run --gpus N` sends (and balena's supervisor): no
        // driver named, the engine picks the one serving `gpu`.
        host_config
            .device_requests
            .get_or_insert_default()
            .push(DeviceRequest {
                driver: Some(String::new()),
                count: Some(i64::from(access.gpus)),
                device_ids: None,
                capabilities: Some(vec![vec!["gpu".to_owned()]]),
                options: None,
            });
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use osb_state::ImageRef;

    fn block(labels: &[(&str, &str)], env: &[(&str, &str)]) -> Block {
        let mut b = Block::new(ImageRef::parse("app:1").unwrap_or_else(|e| panic!("{e}")));
        b.labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        b.environment = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        b
    }

    /// The body a plain create would send for `block`: its environment and
    /// one mount of its own at `/data`.
    fn body_of(block: &Block) -> ContainerCreateBody {
        ContainerCreateBody {
            env: Some(
                block
                    .environment
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            host_config: Some(HostConfig {
                mounts: Some(vec![Mount {
                    typ: Some(MountType::VOLUME),
                    source: Some("main.data".to_owned()),
                    target: Some("/data".to_owned()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn mounts(body: &ContainerCreateBody) -> Vec<String> {
        body.host_config
            .as_ref()
            .and_then(|h| h.mounts.as_ref())
            .map(|m| {
                m.iter()
                    .map(|m| {
                        format!(
                            "{}:{}{}",
                            m.source.as_deref().unwrap_or("-"),
                            m.target.as_deref().unwrap_or("-"),
                            if m.read_only == Some(true) { ":ro" } else { "" }
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn features_become_mounts_and_environment() {
        let b = block(
            &[
                ("io.balena.features.kernel-modules", "1"),
                ("io.balena.features.dbus", "1"),
                ("io.osb.features.balena-socket", "1"),
                ("io.balena.features.firmware", "1"),
            ],
            &[("DOCKER_HOST", "tcp://elsewhere:2375"), ("MODE", "x")],
        );
        let host = HostContext {
            engine_socket: Some("/var/run/docker.sock".to_owned()),
            absent: BTreeSet::from(["/lib/firmware".to_owned()]),
        };
        let body = apply(body_of(&b), &b, &host);
        assert_eq!(
            mounts(&body),
            vec![
                "main.data:/data",
                "/var/run/docker.sock:/host/run/balena-engine.sock",
                "/var/run/docker.sock:/var/run/docker.sock",
                "/var/run/docker.sock:/var/run/balena.sock",
                "/run/dbus:/host/run/dbus",
                "/lib/modules:/lib/modules:ro",
            ]
        );
        // The block's own DOCKER_HOST stands.
        assert_eq!(
            body.env,
            Some(vec![
                "DOCKER_HOST=tcp://elsewhere:2375".to_owned(),
                "MODE=x".to_owned(),
                "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/host/run/dbus/system_bus_socket".to_owned(),
            ])
        );
    }

    #[test]
    fn the_blocks_own_mounts_win_and_no_features_change_nothing() {
        let b = block(&[("io.balena.features.dbus", "0"), ("com.x", "1")], &[]);
        let before = body_of(&b);
        assert_eq!(apply(before.clone(), &b, &HostContext::default()), before);

        let mut b = block(&[("io.osb.features.sysfs", "true")], &[]);
        b.labels
            .insert("io.balena.features.gpu".to_owned(), "1".to_owned());
        let mut body = body_of(&b);
        if let Some(m) = body
            .host_config
            .as_mut()
            .and_then(|h| h.mounts.as_mut())
            .and_then(|m| m.first_mut())
        {
            m.target = Some("/sys".to_owned());
        }
        let body = apply(body, &b, &HostContext::default());
        assert_eq!(mounts(&body), vec!["main.data:/sys"]);
        let requests = body
            .host_config
            .as_ref()
            .and_then(|h| h.device_requests.clone())
            .unwrap_or_default();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].count, Some(1));
        assert_eq!(requests[0].capabilities, Some(vec![vec!["gpu".to_owned()]]));
        assert_eq!(body.env, None);
    }
}
