//! The one plugin value of a component.
//!
//! A component exports exactly one plugin, so one slot per instance is
//! enough; it is created with `Default` on the first call into the
//! component, and lives as long as the instance. The host discards an
//! instance after a trap, which also discards this value.

use std::any::Any;
use std::cell::Cell;

thread_local! {
    // `Box<dyn Any>` because a `static` cannot be generic over the plugin
    // type; `Cell` because the value is moved out for the length of a call
    // (see `with`), so no borrow is ever held across plugin code.
    static PLUGIN: Cell<Option<Box<dyn Any>>> = const { Cell::new(None) };
}

/// Runs `f` on the component's plugin value, creating it on first use.
///
/// The value is taken out of the slot while `f` runs and put back after:
/// the component model never re-enters an instance, so nothing else can
/// observe the empty slot, and there is no `RefCell` borrow to fail.
pub fn with<T, R>(f: impl FnOnce(&mut T) -> R) -> R
where
    T: Default + 'static,
{
    let mut plugin = match PLUGIN.take().and_then(|any| any.downcast::<T>().ok()) {
        Some(plugin) => plugin,
        None => {
            install_panic_hook();
            Box::new(T::default())
        }
    };
    let result = f(&mut plugin);
    PLUGIN.set(Some(plugin));
    result
}

/// Sends panic messages to the host log.
///
/// A plugin has no stderr the operator can read, and with `panic = "abort"`
/// the trap that follows carries no message; without this the reason for a
/// crash would be lost. Installed before `T::default()` runs, so a plugin that
/// sets its own hook keeps it.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        crate::log::error(&format!("plugin panicked: {info}"));
    }));
}
