//! A service's `devices`: host device nodes made visible in the container.

use serde_json::Value;

use super::{ComposeError, Walker, invalid, kind, list, string};
use crate::mount::AbsPath;
use crate::settings::{DeviceMapping, DevicePermissions};

/// Each item short (`/dev/ttyUSB0:/dev/zigbee:rw`) or long (`{source,
/// target, permissions}`).
pub(super) fn devices(
    walker: &mut Walker,
    value: &Value,
    path: &str,
) -> Result<Vec<DeviceMapping>, ComposeError> {
    list(value, path)?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let here = format!("{path}[{i}]");
            match item {
                Value::String(short) => {
                    DeviceMapping::parse_short(short).map_err(|e| invalid(&here, e))
                }
                Value::Object(long) => {
                    let Some(source) = long.get("source") else {
                        return Err(invalid(&here, "no 'source' (the device on the host)"));
                    };
                    let field = |key: &str, value: &Value| -> Result<String, ComposeError> {
                        string(value, &format!("{here}.{key}"))
                    };
                    let at = |key: &str| format!("{here}.{key}");
                    let mut device = DeviceMapping {
                        source: AbsPath::new(&field("source", source)?)
                            .map_err(|e| invalid(&at("source"), e))?,
                        target: None,
                        permissions: DevicePermissions::default(),
                    };
                    for (key, value) in long {
                        match key.as_str() {
                            "source" => {}
                            "target" => {
                                device.target = Some(
                                    AbsPath::new(&field(key, value)?)
                                        .map_err(|e| invalid(&at(key), e))?,
                                );
                            }
                            "permissions" => {
                                device.permissions = DevicePermissions::new(&field(key, value)?)
                                    .map_err(|e| invalid(&at(key), e))?;
                            }
                            _ => walker.ignored(&at(key)),
                        }
                    }
                    Ok(device)
                }
                other => Err(invalid(
                    &here,
                    format!("expected a string or a mapping, found {}", kind(other)),
                )),
            }
        })
        .collect()
}
