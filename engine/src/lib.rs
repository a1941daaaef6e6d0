//! The container engine client: the only module that imports bollard.
//!
//! It speaks to a Docker-compatible engine over its local socket
//! (`DOCKER_HOST` honoured), reads the runtime's objects back into a
//! [`CurrentState`](osb_state::CurrentState) ([`read`]), turns a block
//! into a container ([`create`]), and pulls images with progress ([`pull`]),
//! with the device's login for the image's registry, and exports an
//! image's files as a tar stream ([`export`]). It also reads image
//! manifests from registries ([`registry`]), with the same logins, for the
//! free-disk check before a pull. Everything else in the runtime sees engine
//! state and registries only through these types.
//!
//! Every object the runtime creates carries [`RUNTIME_LABEL`] with the
//! runtime instance's name, and every listing filters on it: two runtimes
//! (a device's and a test's) can share one engine without touching each
//! other's blocks.

mod create;
mod events;
mod export;
mod host_access;
mod pull;
mod read;
mod registry;

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    InspectContainerOptions, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use osb_state::current::{ContainerId, ImageId};
use osb_state::target::{NetworkConfig, VolumeConfig};
use osb_state::{AppName, ImageRef, NetworkName, VolumeName, labels};

pub use create::ContainerPlan;
pub use events::{EngineEvent, EngineEvents};
pub use export::{ExportReader, ImageExport};
pub use host_access::HostContext;
pub use pull::{LayerProgress, PullEvent};
pub use read::EngineState;
pub use registry::{Registries, RegistryCredentials, RegistryError};

/// The label naming the runtime instance an object belongs to.
pub const RUNTIME_LABEL: &str = "io.osb.runtime";

/// The instance whose engine objects carry no prefix in their names: a
/// device's one runtime.
pub const DEFAULT_INSTANCE: &str = "osb";

/// `name` as instance `instance` names an engine object: as it is for the
/// default instance; `<instance>.<name>` for any other, so that two
/// instances running apps of the same name share no container, volume or
/// network (names are the engine's keys; labels alone do not keep them
/// apart).
pub fn scoped_name(instance: &str, name: String) -> String {
    if instance == DEFAULT_INSTANCE {
        name
    } else {
        format!("{instance}.{name}")
    }
}

/// Checks an instance name: it becomes the first part of engine object
/// names, so it holds what those may, less `.` (the parts' separator: they
/// must never run together): a letter or digit, then letters, digits, `_`
/// or `-`, at most 32 characters.
pub fn check_instance(instance: &str) -> Result<(), String> {
    let mut chars = instance.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if first_ok && rest_ok && instance.len() <= 32 {
        Ok(())
    } else {
        Err(format!(
            "instance '{instance}': a letter or digit, then letters, digits, '_' or '-', at most 32 characters"
        ))
    }
}

/// How long the engine may take to answer its first request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// bollard's per-request timeout, in seconds: long enough for a slow stop.
const REQUEST_TIMEOUT_SECS: u64 = 300;

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Nothing answers at the engine's address.
    #[error(
        "cannot reach the container engine at {address}: {reason} (is dockerd running? DOCKER_HOST selects another engine)"
    )]
    Unreachable {
        /// Where it was looked for.
        address: String,
        /// What happened.
        reason: String,
    },
    /// The engine answered with an error.
    #[error("{action}: {message}")]
    Refused {
        /// What was being done: `create main.web.0123abcd`.
        action: String,
        /// What the engine said.
        message: String,
        /// The HTTP status, when the engine gave one.
        status: Option<u16>,
    },
}

impl EngineError {
    fn from_bollard(action: impl Into<String>, error: bollard::errors::Error) -> Self {
        use bollard::errors::Error as E;
        let (message, status) = match error {
            E::DockerResponseServerError {
                status_code,
                message,
            } => (message, Some(status_code)),
            other => (other.to_string(), None),
        };
        EngineError::Refused {
            action: action.into(),
            message,
            status,
        }
    }

    /// Whether the engine said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            EngineError::Refused {
                status: Some(404),
                ..
            }
        )
    }

    /// Whether the engine said the registry wants a login it did not have
    /// or refused the one it had. The engine passes the registry's error
    /// codes on as text (`unauthorized: authentication required`,
    /// `denied: requested access to the resource is denied`, or its own
    /// `no basic auth credentials`); a local `permission denied` is not one.
    pub fn is_unauthorized(&self) -> bool {
        match self {
            EngineError::Refused {
                status: Some(401 | 403),
                ..
            } => true,
            EngineError::Refused { message, .. } => {
                let message = message.to_ascii_lowercase();
                [
                    "unauthorized",
                    "denied: requested access",
                    "authentication required",
                    "no basic auth credentials",
                ]
                .iter()
                .any(|code| message.contains(code))
            }
            EngineError::Unreachable { .. } => false,
        }
    }

    /// Whether the engine said the object already exists.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            EngineError::Refused {
                status: Some(409),
                ..
            }
        )
    }
}

/// A connection to the engine, scoped to one runtime instance.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    instance: String,
    address: String,
    registries: std::sync::Arc<Registries>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("address", &self.address)
            .field("instance", &self.instance)
            .finish()
    }
}

/// Where the engine is: `DOCKER_HOST`, else the local socket.
pub fn engine_address() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

/// Asks the engine `DOCKER_HOST` names whether it answers (`GET /_ping`,
/// the engine's own health check: no state read), within `deadline`.
/// Each ping opens its own connection, so an engine restarted since the
/// last one is reached afresh rather than through a pooled, dead one.
pub async fn ping(deadline: Duration) -> Result<(), EngineError> {
    let address = engine_address();
    let unreachable = |reason: String| EngineError::Unreachable {
        address: address.clone(),
        reason,
    };
    let docker = connect_to(&address).map_err(|e| unreachable(e.to_string()))?;
    match tokio::time::timeout(deadline, docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer to a ping within {deadline:?}"
        ))),
    }
}

/// The local socket an engine address names (`unix:///run/docker.sock`),
/// if it names one.
pub fn socket_of(address: &str) -> Option<&std::path::Path> {
    address
        .strip_prefix("unix://")
        .filter(|path| path.starts_with('/'))
        .map(std::path::Path::new)
}

impl Engine {
    /// Connects to the engine `DOCKER_HOST` names (the local socket if
    /// unset), agrees on an API version, and checks that it answers.
    pub async fn connect(instance: &str) -> Result<Engine, EngineError> {
        let address = engine_address();
        let unreachable = |reason: String| EngineError::Unreachable {
            address: address.clone(),
            reason,
        };
        let docker = connect_to(&address).map_err(|e| unreachable(e.to_string()))?;
        // An engine older than bollard's API version refuses its requests;
        // negotiating drops to the engine's version. A socket that accepts
        // but never answers must not hang the caller.
        let docker = tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version())
            .await
            .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Engine {
            docker,
            instance: instance.to_owned(),
            address,
            registries: std::sync::Arc::default(),
        })
    }

    /// The registry logins pulls and manifest reads use from now on.
    pub fn with_registries(mut self, registries: Registries) -> Engine {
        self.registries = std::sync::Arc::new(registries);
        self
    }

    /// The compressed size of `image` for this machine (layers and config),
    /// from its registry's manifest, with the device's login for it.
    pub async fn image_size(&self, image: &ImageRef) -> Result<u64, RegistryError> {
        let registries = self.registries.clone();
        let owned = image.clone();
        tokio::task::spawn_blocking(move || {
            registry::image_size(&owned, registries.for_image(&owned))
        })
        .await
        .unwrap_or_else(|e| {
            Err(RegistryError::Unreachable {
                url: image.to_string(),
                reason: format!("the manifest request stopped: {e}"),
            })
        })
    }

    /// The runtime instance this connection is scoped to.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The engine name of `app`'s network `network`, for this instance.
    pub fn network_name(&self, app: &AppName, network: &NetworkName) -> String {
        scoped_name(&self.instance, labels::network_name(app, network))
    }

    /// The engine name of `app`'s volume `volume`, for this instance.
    pub fn volume_name(&self, app: &AppName, volume: &VolumeName) -> String {
        scoped_name(&self.instance, labels::volume_name(app, volume))
    }

    /// Where the engine is.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The engine's socket on this host, when it is reached through a
    /// local one: what the `balena-socket` feature shares.
    pub fn socket_path(&self) -> Option<&std::path::Path> {
        socket_of(&self.address)
    }

    /// Where the engine keeps its images, if it says.
    pub async fn root_dir(&self) -> Option<String> {
        self.docker.info().await.ok()?.docker_root_dir
    }

    /// Starts a container; starting a running one is not an error.
    pub async fn start(&self, id: &ContainerId) -> Result<(), EngineError> {
        self.docker
            .start_container(&id.0, None::<StartContainerOptions>)
            .await
            .map_err(|e| EngineError::from_bollard(format!("start {id}"), e))
    }

    /// Stops a container, giving it `grace` before it is killed.
    pub async fn stop(&self, id: &ContainerId, grace: Duration) -> Result<(), EngineError> {
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(seconds).build();
        match self.docker.stop_container(&id.0, Some(options)).await {
            // 304: already stopped, which is what was asked.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            other => other.map_err(|e| EngineError::from_bollard(format!("stop {id}"), e)),
        }
    }

    /// Waits up to `limit` for a container to exit on its own.
    pub async fn wait_exit(&self, id: &ContainerId, limit: Duration) -> bool {
        let options = WaitContainerOptionsBuilder::new()
            .condition("not-running")
            .build();
        let mut wait = self.docker.wait_container(&id.0, Some(options));
        tokio::time::timeout(limit, wait.next()).await.is_ok()
    }

    /// When the engine last started a container (its `State.StartedAt`,
    /// as the engine writes it); `None` if it cannot say. A container
    /// restarted by the engine's restart policy has a new one: the same
    /// value seen twice means it ran all along.
    pub async fn started_at(&self, id: &ContainerId) -> Option<String> {
        let inspected = self
            .docker
            .inspect_container(&id.0, None::<InspectContainerOptions>)
            .await
            .ok()?;
        inspected.state?.started_at
    }

    /// The last `max_bytes` (at most) of a container's output, stdout and
    /// stderr interleaved as the engine kept them, lossily decoded; within
    /// `limit`, after which what was read so far is the answer. For a
    /// report, never for a decision.
    pub async fn output_tail(&self, id: &ContainerId, max_bytes: usize, limit: Duration) -> String {
        // Lines, not bytes, are what the engine can cut at: a generous
        // count, cut again to `max_bytes` here.
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail("200")
            .build();
        let mut stream = self.docker.logs(&id.0, Some(options));
        let mut bytes: Vec<u8> = Vec::new();
        let read = async {
            while let Some(Ok(chunk)) = stream.next().await {
                bytes.extend_from_slice(&chunk.into_bytes());
                // The head is what is dropped: keep twice the tail so the
                // buffer stays bounded whatever the container wrote.
                if bytes.len() > 2 * max_bytes {
                    bytes.drain(..bytes.len() - max_bytes);
                }
            }
        };
        // At the deadline, what was read so far is the answer.
        let _cut_short = tokio::time::timeout(limit, read).await.is_err();
        let start = bytes.len().saturating_sub(max_bytes);
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// Removes a container; its named volumes stay.
    pub async fn remove_container(&self, id: &ContainerId) -> Result<(), EngineError> {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        already_gone(
            self.docker.remove_container(&id.0, Some(options)).await,
            format!("remove {id}"),
        )
    }

    /// Removes an image by id.
    pub async fn remove_image(&self, id: &ImageId) -> Result<(), EngineError> {
        self.remove_image_named(&id.0).await
    }

    /// Removes one reference (`registry/repo:tag`) of an image: the image
    /// itself goes with its last reference, and stays while another one
    /// (somebody else's tag) is left.
    pub async fn untag_image(&self, reference: &str) -> Result<(), EngineError> {
        self.remove_image_named(reference).await
    }

    async fn remove_image_named(&self, name: &str) -> Result<(), EngineError> {
        let options = RemoveImageOptionsBuilder::new().build();
        already_gone(
            self.docker.remove_image(name, Some(options), None).await,
            format!("remove image {name}"),
        )
    }

    /// Creates an app's named volume, labelled as the runtime's and with
    /// the hash of the settings it is created with.
    pub async fn create_volume(
        &self,
        app: &AppName,
        volume: &VolumeName,
        config: &VolumeConfig,
    ) -> Result<(), EngineError> {
        let name = self.volume_name(app, volume);
        let mut all_labels = config.labels.clone();
        all_labels.extend(labels::volume_labels(app, volume, config));
        all_labels.insert(RUNTIME_LABEL.to_owned(), self.instance.clone());
        let request = bollard::models::VolumeCreateRequest {
            name: Some(name.clone()),
            driver: config.driver.clone(),
            driver_opts: Some(config.driver_opts.clone().into_iter().collect()),
            labels: Some(all_labels.into_iter().collect()),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map(drop)
            .map_err(|e| EngineError::from_bollard(format!("create volume {name}"), e))
    }

    /// Removes a volume and its data.
    pub async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        let options = None::<bollard::query_parameters::RemoveVolumeOptions>;
        already_gone(
            self.docker.remove_volume(name, options).await,
            format!("remove volume {name}"),
        )
    }

    /// Creates an app's network, labelled as the runtime's and with the
    /// hash of the settings it is created with.
    pub async fn create_network(
        &self,
        app: &AppName,
        network: &NetworkName,
        config: &NetworkConfig,
    ) -> Result<(), EngineError> {
        let name = self.network_name(app, network);
        let mut all_labels = config.labels.clone();
        all_labels.extend(labels::network_labels(app, network, config));
        all_labels.insert(RUNTIME_LABEL.to_owned(), self.instance.clone());
        let request = bollard::models::NetworkCreateRequest {
            name: name.clone(),
            driver: config.driver.clone(),
            internal: Some(config.internal),
            options: Some(config.driver_opts.clone().into_iter().collect()),
            labels: Some(all_labels.into_iter().collect()),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .map(drop)
            .map_err(|e| EngineError::from_bollard(format!("create network {name}"), e))
    }

    /// Removes a network.
    pub async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        already_gone(
            self.docker.remove_network(name).await,
            format!("remove network {name}"),
        )
    }
}

/// A removal's outcome, where "not found" counts as done: the object went
/// already (a crash between the removal and the next read).
fn already_gone<T>(
    result: Result<T, bollard::errors::Error>,
    action: String,
) -> Result<(), EngineError> {
    match result.map_err(|e| EngineError::from_bollard(action, e)) {
        Err(e) if !e.is_not_found() => Err(e),
        _ => Ok(()),
    }
}

fn connect_to(address: &str) -> Result<Docker, bollard::errors::Error> {
    let version = bollard::API_DEFAULT_VERSION;
    if let Some(path) = address.strip_prefix("unix://") {
        Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, version)
    } else {
        Docker::connect_with_http(address, REQUEST_TIMEOUT_SECS, version)
    }
}

#[cfg(test)]
mod tests {
    use super::EngineError;

    #[test]
    fn a_refused_login_is_told_from_a_local_permission_error() {
        let refused = |message: &str, status| EngineError::Refused {
            action: "pull x".to_owned(),
            message: message.to_owned(),
            status,
        };
        for (error, login) in [
            (refused("unauthorized: authentication required", None), true),
            (
                refused(
                    "Head \"http://r/v2/a/manifests/1\": no basic auth credentials",
                    None,
                ),
                true,
            ),
            (
                refused(
                    "pull access denied for a, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
                    None,
                ),
                true,
            ),
            (refused("anything", Some(401)), true),
            (
                refused(
                    "failed to register layer: open /var/lib/docker/x: permission denied",
                    None,
                ),
                false,
            ),
            (refused("manifest unknown", Some(404)), false),
        ] {
            assert_eq!(error.is_unauthorized(), login, "{error}");
        }
    }
}
