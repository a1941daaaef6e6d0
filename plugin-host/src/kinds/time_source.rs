//! The `time-source` kind: says where the true time lies, as an interval;
//! told the fused good time back. The time service calls it typed
//! ([`PluginHost::sample`], [`PluginHost::observe`]).

use serde_json::Value;
use wasmtime::Store;

use super::{ArgsError, args, no_args, outcome, versions};
use crate::PluginName;
use crate::host::PluginHost;
use crate::host_api::StoreState;
use crate::kinds::Exports;
use crate::loaded::CallError;
use crate::manifest::PluginKind;
use crate::wit::latest::{PluginError, TimeSample, Timestamp};

versions!(time_source, TimeSourcePluginPre, TimeSourcePlugin);

/// The functions, `self-check` first.
pub const FUNCTIONS: &[&str] = &["self-check", "sample", "observe"];

/// A parsed JSON call.
pub enum Call {
    /// `sample()`.
    Sample,
    /// `observe(now)`.
    Observe(Timestamp),
}

impl Call {
    /// `function` with JSON `args`.
    pub fn parse(function: &str, a: &Value) -> Result<Call, ArgsError> {
        match function {
            "sample" => no_args(a).map(|()| Call::Sample),
            "observe" => args(a).map(Call::Observe),
            _ => Err(ArgsError::NoSuchFunction),
        }
    }
}

impl Instance {
    /// `time-source.sample`.
    pub async fn sample(
        &self,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Result<TimeSample, PluginError>> {
        macro_rules! converted {
            ($e:ident) => {
                Ok($e
                    .osb_plugin_time_source()
                    .call_sample(store)
                    .await?
                    .map(Into::into))
            };
        }
        match self {
            Instance::V0_2_0(e) => e.osb_plugin_time_source().call_sample(store).await,
            Instance::V0_1_0(e) => converted!(e),
            #[cfg(feature = "next-api")]
            Instance::V0_3_0(e) => converted!(e),
        }
    }

    /// `time-source.observe`.
    pub async fn observe(
        &self,
        store: &mut Store<StoreState>,
        now: Timestamp,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        match self {
            Instance::V0_1_0(e) => e.osb_plugin_time_source().call_observe(store, now).await,
            Instance::V0_2_0(e) => e.osb_plugin_time_source().call_observe(store, now).await,
            #[cfg(feature = "next-api")]
            Instance::V0_3_0(e) => e.osb_plugin_time_source().call_observe(store, now).await,
        }
    }

    /// Runs a parsed JSON call.
    pub async fn call(&self, store: &mut Store<StoreState>, call: Call) -> wasmtime::Result<Value> {
        Ok(match call {
            Call::Sample => outcome(self.sample(store).await?),
            Call::Observe(now) => outcome(self.observe(store, now).await?),
        })
    }
}

impl PluginHost {
    /// `time-source.sample` on a time-source plugin.
    pub fn sample(&self, name: &PluginName) -> Result<Result<TimeSample, PluginError>, CallError> {
        self.time_source_call(name, "sample", async |store, ts| ts.sample(store).await)
    }

    /// `time-source.observe` on a time-source plugin.
    pub fn observe(
        &self,
        name: &PluginName,
        now: Timestamp,
    ) -> Result<Result<(), PluginError>, CallError> {
        self.time_source_call(name, "observe", async move |store, ts| {
            ts.observe(store, now).await
        })
    }

    fn time_source_call<R: Send>(
        &self,
        name: &PluginName,
        function: &str,
        f: impl AsyncFnOnce(&mut Store<StoreState>, &Instance) -> wasmtime::Result<R> + Send,
    ) -> Result<R, CallError> {
        let plugin = self.current(name)?;
        let _span = tracing::debug_span!("plugin_call", plugin = %name, function).entered();
        if plugin.kind() != PluginKind::TimeSource {
            return Err(plugin.no_such_function(function));
        }
        plugin.call(self.driver(), async |store, exports| match exports {
            Exports::TimeSource(t) => f(store, t).await,
            // Checked above: a time-source plugin has time-source exports.
            _ => Err(wasmtime::Error::msg("not a time-source instance")),
        })
    }
}
