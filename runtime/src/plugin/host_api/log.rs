//! `osb:plugin/log`: guest messages become `tracing` events tagged with the
//! plugin name.

use super::StoreState;
use crate::plugin::wit::latest::host::osb::plugin::log::{Host, Level};

/// Longer messages are cut, so a plugin cannot flood the journal in one call.
pub const MAX_MESSAGE: usize = 4096;

impl Host for StoreState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        emit(&self.plugin.name, level, truncate(&message));
        Ok(())
    }
}

pub fn emit(plugin: &crate::plugin::PluginName, level: Level, message: &str) {
    let plugin = plugin.as_str();
    match level {
        Level::Trace => tracing::trace!(target: "osb::guest", plugin, "{message}"),
        Level::Debug => tracing::debug!(target: "osb::guest", plugin, "{message}"),
        Level::Info => tracing::info!(target: "osb::guest", plugin, "{message}"),
        Level::Warn => tracing::warn!(target: "osb::guest", plugin, "{message}"),
        Level::Error => tracing::error!(target: "osb::guest", plugin, "{message}"),
    }
}

pub fn truncate(message: &str) -> &str {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}
