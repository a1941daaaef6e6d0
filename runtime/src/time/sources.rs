//! Where samples come from: [`TimeSources`], implemented by the plugin
//! host (every loaded plugin of kind `time-source`) and, in tests, by
//! scripted fakes.

use super::interval::{Interval, IntervalError};
use super::utc::UtcTime;
use osb_plugin_host::wit::latest::PluginError;
use osb_plugin_host::{CallError, PluginHost, PluginKind, PluginName, Provenance};

/// One answer of a source, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSample {
    /// Where the true time lay at some moment during the call.
    pub interval: Interval,
    /// The plugin's free text for logs and `osb time`: server, stratum,
    /// file, ...
    pub detail: String,
}

/// Why a source gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The call itself failed: not loaded, quarantined, deadline, trap.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The plugin answered with an error.
    #[error("{code}: {message}")]
    Plugin {
        /// The WIT error code, kebab-case (`unavailable`, `internal`, ...).
        code: &'static str,
        /// The plugin's own words.
        message: String,
    },
    /// The plugin answered something that is not an interval.
    #[error("invalid interval: {0}")]
    Invalid(#[from] IntervalError),
    /// The thread asking it panicked (a bug in the host, not the plugin).
    #[error("the sample call panicked")]
    Panicked,
}

impl From<PluginError> for SourceError {
    fn from(e: PluginError) -> Self {
        SourceError::Plugin {
            code: e.code.name(),
            message: e.message,
        }
    }
}

/// The time sources the service can ask. Calls block (plugin calls are
/// synchronous), so the service makes them off any async executor.
pub trait TimeSources: Send + Sync {
    /// Every source there is now (the service's default selection).
    fn time_sources(&self) -> Vec<PluginName>;
    /// Where the true time lies, by this source.
    fn sample(&self, name: &PluginName) -> Result<RawSample, SourceError>;
    /// Tells the source a time the true time is known to be past.
    fn observe(&self, name: &PluginName, now: UtcTime) -> Result<(), SourceError>;
    /// The key that signed the source's package (`ed25519:…`), its origin
    /// unless the device config names one; `None` when unsigned or not
    /// loaded. Taken from the host's verification, never from the plugin.
    fn signer(&self, _name: &PluginName) -> Option<String> {
        None
    }
}

impl TimeSources for PluginHost {
    fn time_sources(&self) -> Vec<PluginName> {
        self.names()
            .into_iter()
            .filter(|n| {
                self.get(n)
                    .is_some_and(|p| p.kind() == PluginKind::TimeSource)
            })
            .collect()
    }

    fn sample(&self, name: &PluginName) -> Result<RawSample, SourceError> {
        let sample = PluginHost::sample(self, name)??;
        Ok(RawSample {
            interval: Interval::from_wit(&sample.interval)?,
            detail: sample.detail,
        })
    }

    fn observe(&self, name: &PluginName, now: UtcTime) -> Result<(), SourceError> {
        PluginHost::observe(self, name, now.to_timestamp())??;
        Ok(())
    }

    fn signer(&self, name: &PluginName) -> Option<String> {
        match &self.get(name)?.provenance {
            Provenance::Signed(key) => Some(key.to_string()),
            Provenance::Unsigned { .. } => None,
        }
    }
}
