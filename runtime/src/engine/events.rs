//! The engine's event stream, narrowed to the runtime instance's objects:
//! what wakes a reconcile when a block dies, turns healthy or is removed
//! behind the runtime's back.

use std::collections::HashMap;
use std::pin::Pin;

use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::{Stream, StreamExt};

use super::{Engine, EngineError, RUNTIME_LABEL};

type EventStream = Pin<
    Box<dyn Stream<Item = Result<bollard::models::EventMessage, bollard::errors::Error>> + Send>,
>;

/// A subscription to the engine's events about this instance's objects.
pub struct EngineEvents {
    stream: EventStream,
}

/// One event, reduced to what a log line needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEvent {
    /// `container`, `volume`, `network`.
    pub kind: String,
    /// `die`, `start`, `health_status: healthy`, `destroy`...
    pub action: String,
    /// The object's name, when the engine gives one.
    pub name: Option<String>,
}

impl Engine {
    /// Subscribes to events about the instance's objects.
    pub fn events(&self) -> EngineEvents {
        let filter = HashMap::from([("label", vec![format!("{RUNTIME_LABEL}={}", self.instance)])]);
        let options = EventsOptionsBuilder::new().filters(&filter).build();
        EngineEvents {
            stream: Box::pin(self.docker.events(Some(options))),
        }
    }
}

impl EngineEvents {
    /// The next event; an error when the stream broke (the engine stopped),
    /// `None` when it ended.
    pub async fn next(&mut self) -> Option<Result<EngineEvent, EngineError>> {
        let item = self.stream.next().await?;
        Some(
            item.map(|m| EngineEvent {
                kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
                action: m.action.unwrap_or_default(),
                name: m
                    .actor
                    .and_then(|a| a.attributes)
                    .and_then(|mut a| a.remove("name")),
            })
            .map_err(|e| EngineError::from_bollard("watch engine events", e)),
        )
    }
}
