//! Logging to the host.
//!
//! A plugin has no stdio: each message becomes a `tracing` event on the host
//! carrying the plugin's name. The macros ([`trace!`](crate::trace),
//! [`debug!`](crate::debug), [`info!`](crate::info), [`warn!`](crate::warn),
//! [`error!`](crate::error)) take `format!` arguments; the functions here take
//! a ready string.

use crate::__private::bindings::host::osb::plugin::log as wit;

/// The severity of a log message, as `tracing` levels.
pub use wit::Level;

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    wit::log(level, message);
}

/// Logs `message` at [`Level::Trace`].
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs `message` at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at [`Level::Error`].
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Logs a `format!` message at [`Level::Trace`](crate::log::Level::Trace).
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Trace, &::std::format!($($arg)+))
    };
}

/// Logs a `format!` message at [`Level::Debug`](crate::log::Level::Debug).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)+))
    };
}

/// Logs a `format!` message at [`Level::Info`](crate::log::Level::Info).
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)+))
    };
}

/// Logs a `format!` message at [`Level::Warn`](crate::log::Level::Warn).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)+))
    };
}

/// Logs a `format!` message at [`Level::Error`](crate::log::Level::Error).
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)+))
    };
}
