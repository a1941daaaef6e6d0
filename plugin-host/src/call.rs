//! Calls by function name with JSON arguments and results, for the CLI and
//! for scripts. Arguments are parsed before the plugin runs, so a caller's
//! mistake never counts against the plugin. Each kind's functions are in
//! its module under `kinds/`.

use serde_json::Value;
use wasmtime::Store;

use super::deadline::CallDriver;
use super::host_api::StoreState;
use super::kinds::{Exports, Invocation};
use super::loaded::{CallError, LoadedPlugin};
use super::wit::latest::PluginError;

/// Calls `function` on the plugin with JSON arguments: `{"ok": ...}` or
/// `{"error": {"code": ..., "message": ...}}` as the plugin answered.
pub fn call_json(
    plugin: &LoadedPlugin,
    driver: &CallDriver,
    function: &str,
    args: &Value,
) -> Result<Value, CallError> {
    let invocation = Invocation::parse(plugin.kind(), function, args)
        .map_err(|e| e.into_call_error(plugin.name(), plugin.kind(), function))?;
    plugin.call(
        driver,
        async move |store: &mut Store<StoreState>, exports: &Exports| {
            exports.call(store, invocation).await
        },
    )
}

/// `lifecycle.self-check`, whatever the kind.
pub async fn self_check(
    store: &mut Store<StoreState>,
    exports: &Exports,
) -> wasmtime::Result<Result<(), PluginError>> {
    exports.self_check(store).await
}
