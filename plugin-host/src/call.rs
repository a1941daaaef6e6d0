//! Calls by function name with JSON arguments and results, for the CLI and
//! for scripts. Arguments are parsed before the plugin runs, so a caller's
//! mistake never counts against the plugin. Each kind's functions are in
//! its module under `kinds/`.

use serde_json::Value;
use wasmtime::Store;

use super::deadline::CallDriver;
use super::host_api::StoreState;
use super::kinds::{ArgsError, Exports, Invocation};
use super::loaded::{CallError, LoadedPlugin};

/// Calls `function` on the plugin with JSON arguments: `{"ok": ...}` or
/// `{"error": {"code": ..., "message": ...}}` as the plugin answered.
pub fn call_json(
    plugin: &LoadedPlugin,
    driver: &CallDriver,
    function: &str,
    args: &Value,
) -> Result<Value, CallError> {
    let invocation = Invocation::parse(plugin.kind(), function, args).map_err(|e| match e {
        ArgsError::NoSuchFunction => plugin.no_such_function(function),
        ArgsError::Bad(reason) => CallError::BadArguments {
            function: function.to_owned(),
            reason,
        },
    })?;
    plugin.call(
        driver,
        async move |store: &mut Store<StoreState>, exports: &Exports| {
            exports.call(store, invocation).await
        },
    )
}
