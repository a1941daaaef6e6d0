//! An image's files as one tar stream: what the host OS side unpacks into
//! an extension or a root filesystem slot.
//!
//! The engine exports containers, not images, so a container is created
//! from the image and never started, exported, and removed. It carries the
//! runtime label and [`labels::EXPORT`]: one a crash left is a stray,
//! which the planner removes at the next reconcile, and
//! [`Engine::remove_export_leftovers`] finds them outside one.

use std::collections::HashMap;
use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptions, ListContainersOptionsBuilder};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use tokio::runtime::Handle;

use super::{Engine, EngineError, RUNTIME_LABEL};
use osb_state::current::ContainerId;
use osb_state::labels;

/// The command of an export's container: the engine wants one at create
/// time when the image has none, and the container is never started.
const PLACEHOLDER: &str = "/.osb-export-never-started";

/// How long a read waits for the engine's next chunk: an export that
/// stalls ends the unpack reading it, rather than holding the executor's
/// step (and its turn) for ever. A whole export may take longer.
const CHUNK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// An image's export stream, in chunks. Its container is removed by
/// [`ImageExport::finish`], or, when it is dropped unfinished, by a task
/// on the runtime it was made on.
pub struct ImageExport {
    engine: Engine,
    image: String,
    container: Option<ContainerId>,
    handle: Handle,
    stream: BoxStream<'static, Result<Vec<u8>, EngineError>>,
}

impl std::fmt::Debug for ImageExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageExport")
            .field("image", &self.image)
            .field("container", &self.container)
            .finish()
    }
}

impl Engine {
    /// Starts exporting `image`'s files (the image must be present): a
    /// container created from it, never started, whose export is the
    /// stream. Within a tokio runtime, which removes the container should
    /// the export be dropped unfinished.
    pub async fn export_image(&self, image: &str) -> Result<ImageExport, EngineError> {
        let handle = Handle::try_current().map_err(|e| EngineError::Refused {
            action: format!("export {image}"),
            message: format!("not within a tokio runtime: {e}"),
            status: None,
        })?;
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            entrypoint: Some(vec![PLACEHOLDER.to_owned()]),
            cmd: Some(Vec::new()),
            network_disabled: Some(true),
            labels: Some(HashMap::from([
                (RUNTIME_LABEL.to_owned(), self.instance.clone()),
                (labels::EXPORT.to_owned(), image.to_owned()),
            ])),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(|e| {
                EngineError::from_bollard(format!("create a container to export {image}"), e)
            })?;
        let id = ContainerId(created.id);
        let action = format!("export {image}");
        let stream = self
            .docker
            .export_container(&id.0)
            .map(move |chunk| {
                chunk
                    .map(Vec::from)
                    .map_err(|e| EngineError::from_bollard(action.clone(), e))
            })
            .boxed();
        Ok(ImageExport {
            engine: self.clone(),
            image: image.to_owned(),
            container: Some(id),
            handle,
            stream,
        })
    }

    /// Removes the export containers of this instance that are left (a
    /// crash during an export); how many there were. Only while no export
    /// is under way: it cannot tell a leftover from a live one.
    pub async fn remove_export_leftovers(&self) -> Result<usize, EngineError> {
        let filters = HashMap::from([(
            "label",
            vec![
                format!("{RUNTIME_LABEL}={}", self.instance),
                labels::EXPORT.to_owned(),
            ],
        )]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| EngineError::from_bollard("list export containers", e))?;
        let mut removed = 0;
        for id in listed.into_iter().filter_map(|c| c.id) {
            self.remove_container(&ContainerId(id)).await?;
            removed += 1;
        }
        Ok(removed)
    }
}

impl ImageExport {
    /// The image exported.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// Removes the export's container, read to the end or not.
    pub async fn finish(mut self) -> Result<(), EngineError> {
        match self.container.take() {
            Some(id) => self.engine.remove_container(&id).await,
            None => Ok(()),
        }
    }

    /// The stream as a blocking reader, for an unpack on a blocking thread
    /// (`spawn_blocking`): each read waits on the runtime the export was
    /// made on. Never call its reads from within that runtime's tasks.
    pub fn into_reader(self) -> ExportReader {
        ExportReader {
            export: self,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl Stream for ImageExport {
    type Item = Result<Vec<u8>, EngineError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.poll_next_unpin(cx)
    }
}

impl Drop for ImageExport {
    fn drop(&mut self) {
        if let Some(id) = self.container.take() {
            let engine = self.engine.clone();
            // If the runtime is gone before the task runs, the container is
            // a labelled leftover: removed by the planner or
            // `remove_export_leftovers`.
            self.handle.spawn(async move {
                let _best_effort = engine.remove_container(&id).await;
            });
        }
    }
}

/// An [`ImageExport`] read as a blocking [`Read`].
#[derive(Debug)]
pub struct ExportReader {
    export: ImageExport,
    chunk: Vec<u8>,
    at: usize,
}

impl ExportReader {
    /// Removes the export's container, waiting for it on the export's
    /// runtime (from a blocking thread, as reads are).
    pub fn finish(self) -> Result<(), EngineError> {
        let handle = self.export.handle.clone();
        handle.block_on(self.export.finish())
    }
}

impl Read for ExportReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            let handle = self.export.handle.clone();
            let next = tokio::time::timeout(CHUNK_DEADLINE, self.export.stream.next());
            match handle.block_on(next) {
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the engine sent nothing for {} s while exporting {}",
                            CHUNK_DEADLINE.as_secs(),
                            self.export.image
                        ),
                    ));
                }
                Ok(None) => return Ok(0),
                Ok(Some(Ok(chunk))) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(Some(Err(e))) => return Err(io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
