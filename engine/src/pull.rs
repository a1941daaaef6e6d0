//! Pulling an image, with per-layer progress.
//!
//! One attempt only: retrying with backoff is the executor's policy, not the
//! engine client's.

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use super::{Engine, EngineError};
use osb_state::ImageRef;
use osb_state::current::ImageId;

/// What the engine reports while pulling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// Bytes of one layer, downloading or extracting.
    Layer(LayerProgress),
    /// A status line without byte counts (`Pulling fs layer`, `Download
    /// complete`, `Digest: sha256:..`).
    Status {
        /// The layer, when the line is about one.
        layer: Option<String>,
        /// What the engine said.
        status: String,
    },
}

/// Progress of one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerProgress {
    /// The layer's short id.
    pub layer: String,
    /// `Downloading` or `Extracting`.
    pub phase: String,
    /// Bytes done.
    pub current: u64,
    /// Bytes in all, when known.
    pub total: Option<u64>,
}

impl Engine {
    /// Pulls `image`, calling `on_event` for each progress report.
    pub async fn pull(
        &self,
        image: &ImageRef,
        mut on_event: impl FnMut(PullEvent),
    ) -> Result<(), EngineError> {
        // The canonical form always names a tag or digest: a bare name
        // would make the engine pull every tag of the repository.
        let reference = image.canonical();
        let options = CreateImageOptionsBuilder::new()
            .from_image(&reference)
            .build();
        // The device's login for the image's registry, if it has one; the
        // engine answers the registry's challenge with it.
        let credentials =
            self.registries
                .for_image(image)
                .map(|login| bollard::auth::DockerCredentials {
                    username: Some(login.username.clone()),
                    password: Some(login.password.clone()),
                    serveraddress: Some(image.registry().to_owned()),
                    ..Default::default()
                });
        let mut stream = self.docker.create_image(Some(options), None, credentials);
        let failed = |message: String| EngineError::Refused {
            action: format!("pull {image}"),
            message,
            status: None,
        };
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| EngineError::from_bollard(format!("pull {image}"), e))?;
            if let Some(detail) = info.error_detail {
                return Err(failed(detail.message.unwrap_or_default()));
            }
            let status = info.status.unwrap_or_default();
            let counts = info
                .progress_detail
                .and_then(|p| Some((p.current?, p.total)));
            match (info.id, counts) {
                (Some(layer), Some((current, total))) => {
                    on_event(PullEvent::Layer(LayerProgress {
                        layer,
                        phase: status,
                        current: u64::try_from(current).unwrap_or(0),
                        total: total.and_then(|t| u64::try_from(t).ok()).filter(|t| *t > 0),
                    }))
                }
                (layer, _) => on_event(PullEvent::Status { layer, status }),
            }
        }
        Ok(())
    }
}

impl Engine {
    /// The id of the local image `image` names.
    pub async fn image_id(&self, image: &ImageRef) -> Result<ImageId, EngineError> {
        let inspected = self
            .docker
            .inspect_image(&image.canonical())
            .await
            .map_err(|e| EngineError::from_bollard(format!("inspect image {image}"), e))?;
        Ok(ImageId(inspected.id.unwrap_or_default()))
    }
}
