//! What one plugin may use: its deadline, memory, CPU, and quotas on
//! everything it can make the host keep or do (log lines, key-value
//! bytes, files under its rw grants, open handles, device channels).
//!
//! The device config's `[limits]` sets the defaults and
//! `[plugins.<name>.limits]` overrides them key by key; both spell the keys
//! the same way, so the fields are listed once, in the macro below.

use std::time::Duration;

use serde::{Deserialize, Serialize};

macro_rules! plugin_limits {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty = $default:expr ),* $(,)?) => {
        /// Every limit of one plugin (`[limits]` in the device config).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct PluginLimits {
            $( $(#[$doc])* pub $field: $ty, )*
        }

        impl Default for PluginLimits {
            fn default() -> Self {
                PluginLimits { $( $field: $default, )* }
            }
        }

        /// One plugin's overrides of the defaults
        /// (`[plugins.<name>.limits]`); an absent key keeps the default.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct LimitOverrides {
            $(
                $(#[$doc])*
                ///
                /// `None` keeps the default.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl PluginLimits {
            /// These defaults with `overrides` applied.
            pub fn overridden(&self, overrides: &LimitOverrides) -> PluginLimits {
                PluginLimits { $( $field: overrides.$field.unwrap_or(self.$field), )* }
            }

            /// What the types cannot say; the message names the key.
            pub fn validate(&self) -> Result<(), String> {
                $( check_positive(stringify!($field), u64::from(self.$field))?; )*
                if self.cpu_percent > 100 {
                    return Err(format!(
                        "cpu_percent: {} is more than one core (at most 100)",
                        self.cpu_percent
                    ));
                }
                Ok(())
            }
        }
    };
}

plugin_limits! {
    /// Every call ends at this deadline, whatever the guest or a host
    /// import it called is doing.
    call_timeout_ms: u32 = 1000,
    /// All of the plugin's linear memories and tables together.
    memory_mb: u32 = 32,
    /// CPU time over the last ten seconds, in percent of one core. A plugin
    /// over it fails the call that went over, like a trap.
    cpu_percent: u32 = 25,
    /// Log bytes per second (messages and stdout/stderr lines); what goes
    /// over is dropped and counted.
    log_bytes_per_sec: u32 = 4096,
    /// Log bytes the plugin may send at once before the rate applies.
    log_burst_bytes: u32 = 65536,
    /// Bytes of keys and values in its key-value namespace.
    kv_bytes: u32 = 1 << 20,
    /// Keys in its key-value namespace.
    kv_keys: u32 = 1024,
    /// Bytes the files under its read-write grants may hold in all.
    fs_bytes: u32 = 16 << 20,
    /// Files, directories and links under its read-write grants.
    fs_entries: u32 = 1024,
    /// Open handles at once: files, directories, sockets, streams, device
    /// channels. Each may hold a descriptor of the runtime's own.
    handles: u32 = 64,
    /// Device channels open at once.
    channels: u32 = 4,
}

impl PluginLimits {
    /// `call_timeout_ms` as a duration: how long each call may run.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms.into())
    }

    /// `memory_mb` in bytes (MiB, so `memory_mb << 20`): the cap the store
    /// limiter holds an instance's memories and tables to.
    pub fn memory_bytes(&self) -> usize {
        (self.memory_mb as usize) << 20
    }
}

fn check_positive(key: &str, value: u64) -> Result<(), String> {
    if value == 0 {
        return Err(format!("{key}: must be at least 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_the_keys_they_name() {
        let base = PluginLimits::default();
        let overrides: LimitOverrides = toml::from_str("memory_mb = 8\nkv_keys = 3").unwrap();
        let limits = base.overridden(&overrides);
        assert_eq!(limits.memory_mb, 8);
        assert_eq!(limits.kv_keys, 3);
        assert_eq!(limits.call_timeout_ms, base.call_timeout_ms);
        assert_eq!(limits.fs_bytes, base.fs_bytes);
    }

    #[test]
    fn bad_limits_are_refused_naming_the_key() {
        let zero: PluginLimits = toml::from_str("handles = 0").unwrap();
        assert!(zero.validate().unwrap_err().contains("handles"));
        let cpu: PluginLimits = toml::from_str("cpu_percent = 150").unwrap();
        assert!(cpu.validate().unwrap_err().contains("cpu_percent"));
        let unknown = toml::from_str::<LimitOverrides>("handels = 3").unwrap_err();
        assert!(unknown.to_string().contains("handels"), "{unknown}");
        assert!(PluginLimits::default().validate().is_ok());
    }
}
