//! The board's hardware adapter: the loaded `hardware-adapter` plugin, as
//! the runtime uses it. Its device contract becomes the device's hardware
//! contract (instead of the `[device] contract` file), and `osb device`
//! reads its sensors and sets its controls.
//!
//! What the plugin answers is checked before it is believed: the contract
//! must be a contract of type `hw.device-type` within the contract limits,
//! a reading a finite number, the lists bounded, every text escaped (a
//! plugin's newline must not forge a line of `osb device` output or of the
//! log). One adapter per device: with two loaded, neither is chosen and
//! the error names both.

use std::sync::{Arc, Mutex};

use osb_contract::Contract;
use osb_plugin_host::{PluginHost, PluginKind, PluginName};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The contract type an adapter's contract must have.
pub const DEVICE_TYPE: &str = "hw.device-type";

/// More sensors or controls than this is no board's: the answer is refused.
pub const MAX_ENTRIES: usize = 256;

/// A longer id, description, unit or value is refused.
pub const MAX_TEXT: usize = 256;

/// Why the adapter gave no usable answer. Each message names the plugin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdapterError {
    /// No `hardware-adapter` plugin is loaded.
    #[error("no hardware-adapter plugin is loaded")]
    None,
    /// More than one is loaded; the device has one board.
    #[error("more than one hardware-adapter plugin is loaded ({}): a device has one board", names.join(", "))]
    Several {
        /// The loaded adapters, in name order.
        names: Vec<String>,
    },
    /// A sensor asked for by id that the adapter does not list.
    #[error("the adapter has no sensor '{id}' ('osb device sensors' lists them)")]
    UnknownSensor {
        /// The id asked for, escaped.
        id: String,
    },
    /// The call failed in the host (not loaded, deadline, trap, limit).
    #[error("{0}")]
    Call(String),
    /// The plugin answered an error.
    #[error("plugin '{plugin}' answered {code}: {message}")]
    Plugin {
        /// The adapter.
        plugin: PluginName,
        /// Its error code, as the WIT names it.
        code: String,
        /// Its message, escaped.
        message: String,
    },
    /// The answer is not believable; names what is wrong with it.
    #[error("plugin '{plugin}' answered an implausible {function}: {reason}")]
    Implausible {
        /// The adapter.
        plugin: PluginName,
        /// The function called.
        function: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A sensor as the adapter lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sensor {
    /// What `read` takes.
    pub id: String,
    /// For people.
    pub description: String,
    /// The reading's unit (`°C`, `rpm`, ...).
    pub unit: String,
}

/// A control as the adapter lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// What `set` takes.
    pub id: String,
    /// For people.
    pub description: String,
    /// The values it accepts; empty when free-form (the adapter checks).
    pub values: Vec<String>,
}

/// The board's adapter on a plugin host, looked up afresh at each call
/// (a hot-swapped adapter answers the next call).
#[derive(Clone)]
pub struct Adapter {
    host: Arc<PluginHost>,
    /// The contract last read, and the package version it came from: read
    /// again only when the adapter changes.
    contract: Arc<Mutex<Option<(String, Contract)>>>,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("adapters", &self.host.names())
            .finish_non_exhaustive()
    }
}

impl Adapter {
    /// The adapter among `host`'s plugins.
    pub fn on(host: Arc<PluginHost>) -> Adapter {
        Adapter {
            host,
            contract: Arc::new(Mutex::new(None)),
        }
    }

    /// The loaded adapter's name: exactly one must be loaded.
    pub fn name(&self) -> Result<PluginName, AdapterError> {
        let mut adapters: Vec<PluginName> = self
            .host
            .names()
            .into_iter()
            .filter(|name| {
                self.host
                    .get(name)
                    .is_some_and(|p| p.kind() == PluginKind::HardwareAdapter)
            })
            .collect();
        match adapters.len() {
            0 => Err(AdapterError::None),
            1 => Ok(adapters.remove(0)),
            _ => Err(AdapterError::Several {
                names: adapters.iter().map(ToString::to_string).collect(),
            }),
        }
    }

    /// The adapter's name and package version, for `osb device info`.
    pub fn version(&self) -> Result<(PluginName, semver::Version), AdapterError> {
        let name = self.name()?;
        let plugin = self
            .host
            .get(&name)
            .ok_or_else(|| AdapterError::Call(format!("plugin '{name}' is not loaded")))?;
        Ok((name, plugin.manifest.version.clone()))
    }

    /// The device contract the adapter answers, checked: a `hw.device-type`
    /// contract. Read once per adapter version.
    pub fn contract(&self) -> Result<Contract, AdapterError> {
        let name = self.name()?;
        let key = self
            .host
            .get(&name)
            .map(|p| format!("{name}@{}:{}", p.manifest.version, p.dir.display()))
            .unwrap_or_default();
        let mut cached = self.contract.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((version, contract)) = cached.as_ref()
            && *version == key
        {
            return Ok(contract.clone());
        }
        let answer = self.call(&name, "device-contract", &Value::Null)?;
        let contract = checked_contract(&name, answer)?;
        *cached = Some((key, contract.clone()));
        Ok(contract)
    }

    /// The adapter's sensors, checked.
    pub fn sensors(&self) -> Result<Vec<Sensor>, AdapterError> {
        let name = self.name()?;
        let answer = self.call(&name, "sensors", &Value::Null)?;
        let sensors: Vec<Sensor> = typed(&name, "sensors", answer)?;
        bounded_list(&name, "sensors", &sensors)?;
        for s in &sensors {
            for text in [&s.id, &s.description, &s.unit] {
                plain(&name, "sensors", text)?;
            }
        }
        Ok(sensors)
    }

    /// A reading of sensor `id`, checked to be a finite number.
    pub fn read(&self, id: &str) -> Result<f64, AdapterError> {
        let name = self.name()?;
        let answer = self.call(&name, "read-sensor", &json!({ "id": id }))?;
        // NaN and the infinities reach the JSON answer as `null`.
        let value: Option<f64> = typed(&name, "read-sensor", answer)?;
        match value {
            Some(value) if value.is_finite() => Ok(value),
            _ => Err(AdapterError::Implausible {
                plugin: name,
                function: "read-sensor",
                reason: format!("sensor '{}' read NaN or an infinity", escaped(id)),
            }),
        }
    }

    /// The adapter's controls, checked.
    pub fn controls(&self) -> Result<Vec<Control>, AdapterError> {
        let name = self.name()?;
        let answer = self.call(&name, "controls", &Value::Null)?;
        let controls: Vec<Control> = typed(&name, "controls", answer)?;
        bounded_list(&name, "controls", &controls)?;
        for c in &controls {
            bounded_list(&name, "controls", &c.values)?;
            for text in [&c.id, &c.description].into_iter().chain(&c.values) {
                plain(&name, "controls", text)?;
            }
        }
        Ok(controls)
    }

    /// Sets control `id` to `value`; the adapter refuses what it cannot
    /// take, and says why.
    pub fn set(&self, id: &str, value: &str) -> Result<(), AdapterError> {
        let name = self.name()?;
        tracing::info!(plugin = %name, control = %escaped(id), value = %escaped(value), "setting a control");
        let answer = self.call(&name, "set-control", &json!({ "id": id, "value": value }))?;
        typed::<Value>(&name, "set-control", answer).map(|_| ())
    }

    fn call(&self, name: &PluginName, function: &str, args: &Value) -> Result<Value, AdapterError> {
        self.host
            .call_json(name, function, args)
            .map_err(|e| AdapterError::Call(e.to_string()))
    }
}

/// The `ok` of a call's JSON answer as `T`, or the plugin's error.
fn typed<T: serde::de::DeserializeOwned>(
    plugin: &PluginName,
    function: &'static str,
    answer: Value,
) -> Result<T, AdapterError> {
    #[derive(Deserialize)]
    struct PluginErr {
        code: Value,
        message: String,
    }
    if let Some(error) = answer.get("error") {
        let error: PluginErr =
            serde_json::from_value(error.clone()).map_err(|e| AdapterError::Implausible {
                plugin: plugin.clone(),
                function,
                reason: format!("an unreadable error: {e}"),
            })?;
        let code = match error.code {
            Value::String(code) => code,
            other => other.to_string(),
        };
        return Err(AdapterError::Plugin {
            plugin: plugin.clone(),
            code: escaped(&code),
            message: escaped(&error.message),
        });
    }
    let ok = answer.get("ok").cloned().unwrap_or(Value::Null);
    serde_json::from_value(ok).map_err(|e| AdapterError::Implausible {
        plugin: plugin.clone(),
        function,
        reason: e.to_string(),
    })
}

/// The contract in a `device-contract` answer, if it is a device type's.
fn checked_contract(plugin: &PluginName, answer: Value) -> Result<Contract, AdapterError> {
    let text: String = typed(plugin, "device-contract", answer)?;
    let implausible = |reason: String| AdapterError::Implausible {
        plugin: plugin.clone(),
        function: "device-contract",
        reason,
    };
    let contract = Contract::from_json_str(&text).map_err(|e| implausible(e.to_string()))?;
    if contract.kind != DEVICE_TYPE {
        return Err(implausible(format!(
            "its type is '{}', expected '{DEVICE_TYPE}'",
            escaped(&contract.kind)
        )));
    }
    Ok(contract)
}

fn bounded_list<T>(
    plugin: &PluginName,
    function: &'static str,
    list: &[T],
) -> Result<(), AdapterError> {
    if list.len() > MAX_ENTRIES {
        return Err(AdapterError::Implausible {
            plugin: plugin.clone(),
            function,
            reason: format!("{} entries, more than {MAX_ENTRIES}", list.len()),
        });
    }
    Ok(())
}

/// Refuses a text that is too long or holds control characters: an id or
/// a value is something an operator types.
fn plain(plugin: &PluginName, function: &'static str, text: &str) -> Result<(), AdapterError> {
    let reason = if text.len() > MAX_TEXT {
        format!("a text of {} bytes, more than {MAX_TEXT}", text.len())
    } else if text.chars().any(char::is_control) {
        format!("a text with control characters: '{}'", escaped(text))
    } else {
        return Ok(());
    };
    Err(AdapterError::Implausible {
        plugin: plugin.clone(),
        function,
        reason,
    })
}

/// `text` with control characters escaped, cut at [`MAX_TEXT`] bytes.
pub(crate) fn escaped(text: &str) -> String {
    crate::escape::escaped(text, MAX_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin() -> PluginName {
        PluginName::new("hw-test").unwrap()
    }

    #[test]
    fn answers_are_typed_and_errors_named_and_escaped() {
        let ok: f64 = typed(&plugin(), "read-sensor", json!({"ok": 41.5})).unwrap();
        assert_eq!(ok, 41.5);
        let error = typed::<f64>(
            &plugin(),
            "read-sensor",
            json!({"error": {"code": "invalid-input", "message": "no sensor 'x'\nFAKE"}}),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "plugin 'hw-test' answered invalid-input: no sensor 'x'\\nFAKE"
        );
        let wrong = typed::<f64>(&plugin(), "read-sensor", json!({"ok": "hot"})).unwrap_err();
        assert!(
            wrong
                .to_string()
                .starts_with("plugin 'hw-test' answered an implausible read-sensor: "),
            "{wrong}"
        );
    }

    #[test]
    fn only_a_device_type_contract_is_believed() {
        let answer = |text: &str| json!({ "ok": text });
        let tx2 = checked_contract(
            &plugin(),
            answer(
                r#"{"type": "hw.device-type", "slug": "jetson-tx2", "data": {"arch": "aarch64"}}"#,
            ),
        )
        .unwrap();
        assert_eq!(tx2.slug, "jetson-tx2");
        for (text, says) in [
            (
                r#"{"type": "sw.os", "slug": "balenaos"}"#,
                "its type is 'sw.os', expected 'hw.device-type'",
            ),
            ("not json", "implausible device-contract"),
            (r#"{"slug": "x"}"#, "type"),
        ] {
            let error = checked_contract(&plugin(), answer(text))
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn texts_an_operator_types_hold_no_control_characters() {
        assert!(plain(&plugin(), "controls", "power-mode").is_ok());
        assert!(plain(&plugin(), "controls", "°C").is_ok());
        let error = plain(&plugin(), "controls", "fan\u{1b}[2J").unwrap_err();
        assert!(error.to_string().contains("fan\\u{1b}[2J"), "{error}");
        assert!(plain(&plugin(), "sensors", &"x".repeat(MAX_TEXT + 1)).is_err());
        assert!(bounded_list(&plugin(), "sensors", &vec![0; MAX_ENTRIES + 1]).is_err());
    }
}
