//! The engine's event stream, narrowed to the runtime instance's objects
//! and to the events that can change a plan: what wakes a reconcile when a
//! block dies, turns healthy or is removed behind the runtime's back.
//!
//! A healthcheck is an exec in the container: every check makes the engine
//! emit `exec_create`, `exec_start` and `exec_die`. Those change nothing a
//! plan looks at, and waking on them made an idle daemon with four 1 s
//! healthchecks reconcile nine times a second; the engine filters them out.
//! A `health_status` event that repeats the last status is dropped here.

use std::collections::HashMap;
use std::pin::Pin;

use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::{Stream, StreamExt};

use super::{Engine, EngineError, RUNTIME_LABEL};

type EventStream = Pin<
    Box<dyn Stream<Item = Result<bollard::models::EventMessage, bollard::errors::Error>> + Send>,
>;

/// The actions that can change what a plan sees: a container's or other
/// object's life (`create` .. `destroy`), its health, its name, its place
/// on a network. `health_status` matches `health_status: healthy` and the
/// like (the engine matches it by prefix).
const PLAN_ACTIONS: &[&str] = &[
    "create",
    "start",
    "restart",
    "die",
    "destroy",
    "remove",
    "health_status",
    "pause",
    "unpause",
    "rename",
    "update",
    "connect",
    "disconnect",
];

/// A subscription to the engine's events about this instance's objects.
pub struct EngineEvents {
    stream: EventStream,
    /// Last health status per container id, to drop repeats.
    health: HashMap<String, String>,
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
        let filter = HashMap::from([
            ("label", vec![format!("{RUNTIME_LABEL}={}", self.instance)]),
            (
                "event",
                PLAN_ACTIONS.iter().map(|a| a.to_string()).collect(),
            ),
        ]);
        let options = EventsOptionsBuilder::new().filters(&filter).build();
        EngineEvents {
            stream: Box::pin(self.docker.events(Some(options))),
            health: HashMap::new(),
        }
    }
}

impl EngineEvents {
    /// The next event; an error when the stream broke (the engine stopped),
    /// `None` when it ended.
    pub async fn next(&mut self) -> Option<Result<EngineEvent, EngineError>> {
        loop {
            let message = match self.stream.next().await? {
                Ok(message) => message,
                Err(e) => return Some(Err(EngineError::from_bollard("watch engine events", e))),
            };
            let action = message.action.unwrap_or_default();
            let actor = message.actor.unwrap_or_default();
            if !self.is_news(actor.id.as_deref().unwrap_or_default(), &action) {
                continue;
            }
            return Some(Ok(EngineEvent {
                kind: message.typ.map(|t| t.to_string()).unwrap_or_default(),
                action,
                name: actor.attributes.and_then(|mut a| a.remove("name")),
            }));
        }
    }

    /// Whether an event can change a plan: anything the engine let through,
    /// but a health status only when it changed. A container's next life
    /// starts from no status.
    fn is_news(&mut self, id: &str, action: &str) -> bool {
        if let Some(status) = action.strip_prefix("health_status") {
            let status = status.trim_start_matches(':').trim();
            return self
                .health
                .insert(id.to_string(), status.to_string())
                .as_deref()
                != Some(status);
        }
        if matches!(action, "start" | "die" | "destroy") {
            self.health.remove(id);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_health_status_is_news_only_when_it_changes() {
        let mut events = EngineEvents {
            stream: Box::pin(futures_util::stream::empty()),
            health: HashMap::new(),
        };
        let table = [
            ("a", "health_status: starting", true),
            ("a", "health_status: healthy", true),
            ("a", "health_status: healthy", false),
            ("b", "health_status: healthy", true),
            ("a", "health_status: unhealthy", true),
            ("a", "health_status: unhealthy", false),
            ("a", "die", true),
            ("a", "start", true),
            // A new life: the same status is news again.
            ("a", "health_status: unhealthy", true),
            ("b", "health_status: healthy", false),
            ("b", "rename", true),
        ];
        for (i, (id, action, news)) in table.into_iter().enumerate() {
            assert_eq!(events.is_news(id, action), news, "row {i}: {id} {action}");
        }
    }
}
