//! The conformance suite every hardware adapter passes: the counterpart,
//! for a board plugin, of an OS test suite run per device type. A vendor
//! runs it in `cargo test` against the adapter under the harness, with a
//! fixture of the board (no board needed):
//!
//! ```no_run
//! # fn main() -> Result<(), String> {
//! use osb_sdk::harness::{Harness, conformance};
//! let adapter = Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME")).start()?;
//! let report = conformance::hardware_adapter(&adapter);
//! assert!(report.passed(), "{report}");
//! # Ok(()) }
//! ```
//!
//! What it checks (each a line of the [`Report`]):
//! - `device-contract` answers a valid contract of type `hw.device-type`
//!   with a slug and a `data.arch`;
//! - every sensor has a unique id, a unit and a description, and reads a
//!   finite number; an unknown sensor is an error, not a reading;
//! - every control with a list of values refuses a value outside it with
//!   an `invalid-input` error, and accepts each listed value, twice
//!   (idempotent); a free-form control is listed as not checked;
//! - where the adapter has a bootloader side (`boot-state` answers
//!   anything but `unsupported`): the state is consistent; `stage-boot`
//!   refuses the booted slot and a boot limit of 0 with `invalid-input`;
//!   unless the running system is itself unconfirmed, staging the other
//!   slot shows in `boot-state` (next boot, unconfirmed, not counted yet)
//!   and `commit-boot` is refused until the staged slot has booted; an
//!   adapter without one is listed as not checked;
//! - nothing outside the plugin's grants changes (a decoy beside them);
//! - no call runs past the plugin's deadline.
//!
//! Setting every listed value, and staging the other slot, changes the
//! board: run it on a fixture.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Running;

/// A value no control lists: what every listed control must refuse.
pub const NOT_A_VALUE: &str = "osb-conformance: not a value";

/// An id no sensor has.
pub const NO_SENSOR: &str = "osb-conformance: no such sensor";

/// One check and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `None`: passed; else why not.
    pub failure: Option<String>,
}

/// Every check of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// In the order they ran.
    pub checks: Vec<Check>,
    /// What could not be checked, and why (a free-form control).
    pub not_checked: Vec<String>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.failure.is_none())
    }

    /// The checks that failed, as `name: why`.
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter_map(|c| c.failure.as_ref().map(|f| format!("{}: {f}", c.name)))
            .collect()
    }

    fn check(&mut self, name: impl Into<String>, outcome: Result<(), String>) {
        self.checks.push(Check {
            name: name.into(),
            failure: outcome.err(),
        });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            match &c.failure {
                None => writeln!(f, "ok      {}", c.name)?,
                Some(why) => writeln!(f, "FAILED  {}: {why}", c.name)?,
            }
        }
        for n in &self.not_checked {
            writeln!(f, "skipped {n}")?;
        }
        Ok(())
    }
}

/// Runs the suite against `adapter`, a hardware adapter started by the
/// harness.
pub fn hardware_adapter(adapter: &Running) -> Report {
    let mut report = Report::default();
    let decoy = match plant_decoy(adapter.root()) {
        Ok(decoy) => Some(decoy),
        Err(e) => {
            report.check("a decoy beside the grants", Err(e));
            None
        }
    };
    let deadline = adapter.call_timeout();
    let mut slowest = Duration::ZERO;
    let mut call = |function: &str, args: Value| -> Result<Value, String> {
        let started = Instant::now();
        let answer = adapter.call(function, args);
        slowest = slowest.max(started.elapsed());
        answer.map_err(|e| format!("{function}: {e}"))
    };

    report.check("device-contract is a hw.device-type contract", {
        call("device-contract", Value::Null)
            .and_then(|a| ok(&a))
            .and_then(|c| device_contract(&c))
    });

    match call("sensors", Value::Null).and_then(|a| ok(&a)) {
        Err(e) => report.check("sensors are listed", Err(e)),
        Ok(sensors) => {
            let sensors = sensors.as_array().cloned().unwrap_or_default();
            report.check("sensors are listed with unique ids", unique_ids(&sensors));
            for sensor in &sensors {
                let id = text(sensor, "id");
                report.check(format!("sensor '{id}' says what it is"), {
                    described(sensor, &["description", "unit"])
                });
                report.check(format!("sensor '{id}' reads a finite number"), {
                    call("read-sensor", json!({ "id": id })).and_then(|a| finite(&a))
                });
            }
        }
    }
    report.check("an unknown sensor is an error", {
        call("read-sensor", json!({ "id": NO_SENSOR })).and_then(|a| refused(&a, "read-sensor"))
    });

    match call("controls", Value::Null).and_then(|a| ok(&a)) {
        Err(e) => report.check("controls are listed", Err(e)),
        Ok(controls) => {
            let controls = controls.as_array().cloned().unwrap_or_default();
            report.check("controls are listed with unique ids", unique_ids(&controls));
            for control in &controls {
                let id = text(control, "id");
                report.check(format!("control '{id}' says what it is"), {
                    described(control, &["description"])
                });
                let values: Vec<String> = control["values"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if values.is_empty() {
                    report
                        .not_checked
                        .push(format!("control '{id}': free-form, no values to try"));
                    continue;
                }
                report.check(
                    format!("control '{id}' refuses a value it does not list"),
                    {
                        call("set-control", json!({ "id": id, "value": NOT_A_VALUE }))
                            .and_then(|a| refused(&a, "set-control"))
                    },
                );
                for value in &values {
                    report.check(format!("control '{id}' takes '{value}', twice"), {
                        let set = json!({ "id": id, "value": value });
                        call("set-control", set.clone())
                            .and_then(|a| ok(&a))
                            .and_then(|_| call("set-control", set))
                            .and_then(|a| ok(&a))
                            .map(|_| ())
                    });
                }
            }
        }
    }

    bootloader(&mut report, &mut call);

    if let Some(decoy) = decoy {
        report.check("nothing outside the grants changed", decoy.untouched());
    }
    report.check(
        format!(
            "every call ended within the {} ms deadline",
            deadline.as_millis()
        ),
        if slowest <= deadline {
            Ok(())
        } else {
            Err(format!("the slowest took {} ms", slowest.as_millis()))
        },
    );
    report
}

/// The checks of the bootloader side, if the adapter claims one.
fn bootloader(report: &mut Report, call: &mut impl FnMut(&str, Value) -> Result<Value, String>) {
    let answer = match call("boot-state", Value::Null) {
        Ok(answer) => answer,
        Err(e) => return report.check("boot-state answers", Err(e)),
    };
    if error_code(&answer).as_deref() == Some("unsupported") {
        report
            .not_checked
            .push("bootloader: none (boot-state answers unsupported)".to_owned());
        return;
    }
    let state = ok(&answer).and_then(|s| BootView::read(&s));
    report.check(
        "boot-state is a consistent state",
        state.as_ref().map(drop).map_err(Clone::clone),
    );
    let Ok(state) = state else { return };
    let other = if state.booted == "A" { "B" } else { "A" };
    report.check("stage-boot refuses the booted slot", {
        call(
            "stage-boot",
            json!({ "slot": state.booted, "boot_limit": 3 }),
        )
        .and_then(|a| refused(&a, "stage-boot"))
    });
    report.check("stage-boot refuses a boot limit of 0", {
        call("stage-boot", json!({ "slot": other, "boot_limit": 0 }))
            .and_then(|a| refused(&a, "stage-boot"))
    });
    if state.unconfirmed && state.booted == state.next {
        report.not_checked.push(
            "bootloader: stage and commit (the running system is an unconfirmed update)".to_owned(),
        );
        return;
    }
    report.check("stage-boot of the other slot shows in boot-state", {
        call("stage-boot", json!({ "slot": other, "boot_limit": 3 }))
            .and_then(|a| ok(&a))
            .and_then(|_| call("boot-state", Value::Null))
            .and_then(|a| ok(&a))
            .and_then(|s| BootView::read(&s))
            .and_then(|staged| {
                let expected = BootView {
                    booted: state.booted.clone(),
                    next: other.to_owned(),
                    unconfirmed: true,
                    boot_count: 0,
                    boot_limit: 3,
                };
                if staged == expected {
                    Ok(())
                } else {
                    Err(format!("{staged:?}, expected {expected:?}"))
                }
            })
    });
    report.check("commit-boot is refused before the staged slot booted", {
        call("commit-boot", Value::Null).and_then(|a| refused(&a, "commit-boot"))
    });
}

/// A `boot-state` answer, as far as the checks look at it.
#[derive(Debug, PartialEq, Eq)]
struct BootView {
    booted: String,
    next: String,
    unconfirmed: bool,
    boot_count: u64,
    boot_limit: u64,
}

impl BootView {
    /// The answer, if it is a consistent state: slots named, a limit of
    /// at least 1, no count without an unconfirmed update, and no count
    /// past the limit (the bootloader would have fallen back).
    fn read(state: &Value) -> Result<BootView, String> {
        let slot = |field: &str| match state[field].as_str() {
            Some(s @ ("A" | "B")) => Ok(s.to_owned()),
            _ => Err(format!("{field} is no slot: {state}")),
        };
        let number = |field: &str| {
            state[field]
                .as_u64()
                .ok_or_else(|| format!("{field} is no count: {state}"))
        };
        let view = BootView {
            booted: slot("booted")?,
            next: slot("next")?,
            unconfirmed: state["unconfirmed"]
                .as_bool()
                .ok_or_else(|| format!("unconfirmed is no bool: {state}"))?,
            boot_count: number("boot_count")?,
            boot_limit: number("boot_limit")?,
        };
        if view.boot_limit == 0 {
            return Err("a boot limit of 0: no boot would try the update".to_owned());
        }
        if !view.unconfirmed && view.boot_count != 0 {
            return Err(format!(
                "{} boots counted with no update unconfirmed",
                view.boot_count
            ));
        }
        if view.boot_count > view.boot_limit {
            return Err(format!(
                "{} boots counted past the limit of {}: the bootloader would have fallen back",
                view.boot_count, view.boot_limit
            ));
        }
        Ok(view)
    }
}

/// An answer's error code, if it is an error, lowercase without dashes:
/// `InvalidInput` and `invalid-input` both read `invalidinput`.
fn error_code(answer: &Value) -> Option<String> {
    answer
        .get("error")
        .and_then(|e| e["code"].as_str())
        .map(|c| c.to_ascii_lowercase().replace('-', ""))
}

/// The `ok` of an answer, or its error as text.
fn ok(answer: &Value) -> Result<Value, String> {
    match (answer.get("ok"), answer.get("error")) {
        (_, Some(error)) => Err(format!("answered an error: {error}")),
        (Some(ok), None) => Ok(ok.clone()),
        (None, None) => Err(format!("neither ok nor error: {answer}")),
    }
}

/// An `invalid-input` error, with a message.
fn refused(answer: &Value, function: &str) -> Result<(), String> {
    let Some(error) = answer.get("error") else {
        return Err(format!("{function} took it: {answer}"));
    };
    let code = error["code"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let message = error["message"].as_str().unwrap_or_default();
    if !code.replace('-', "").contains("invalidinput") {
        return Err(format!("refused with {code}, not invalid-input: {message}"));
    }
    if message.trim().is_empty() {
        return Err("refused without saying why".to_owned());
    }
    Ok(())
}

fn finite(answer: &Value) -> Result<(), String> {
    match ok(answer)?.as_f64() {
        Some(v) if v.is_finite() => Ok(()),
        // NaN and the infinities arrive as `null`.
        _ => Err(format!("not a finite number: {answer}")),
    }
}

fn device_contract(answer: &Value) -> Result<(), String> {
    let text = answer.as_str().ok_or("not a string")?;
    let contract = osb_contract::Contract::from_json_str(text).map_err(|e| e.to_string())?;
    if contract.kind != "hw.device-type" {
        return Err(format!(
            "type '{}', expected 'hw.device-type'",
            contract.kind
        ));
    }
    if contract.slug.is_empty() {
        return Err("no slug".to_owned());
    }
    match contract.data.get("arch").and_then(Value::as_str) {
        Some(arch) if !arch.is_empty() => Ok(()),
        _ => Err("no data.arch: the runtime matches releases on it".to_owned()),
    }
}

fn text(entry: &Value, field: &str) -> String {
    entry[field].as_str().unwrap_or_default().to_owned()
}

fn unique_ids(entries: &[Value]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for e in entries {
        let id = text(e, "id");
        if id.trim().is_empty() || id.chars().any(char::is_control) {
            return Err(format!("an id an operator cannot type: {id:?}"));
        }
        if !seen.insert(id.clone()) {
            return Err(format!("'{id}' twice"));
        }
    }
    Ok(())
}

fn described(entry: &Value, fields: &[&str]) -> Result<(), String> {
    let empty: Vec<&str> = fields
        .iter()
        .copied()
        .filter(|f| text(entry, f).trim().is_empty())
        .collect();
    if empty.is_empty() {
        Ok(())
    } else {
        Err(format!("no {}", empty.join(", no ")))
    }
}

/// A file beside the plugin's grants, which nothing the plugin does may
/// change; and the names present there when it was planted.
struct Decoy {
    file: PathBuf,
    root: PathBuf,
    entries: Vec<std::ffi::OsString>,
}

const DECOY_TEXT: &str = "outside every grant\n";

fn plant_decoy(root: &Path) -> Result<Decoy, String> {
    let file = root.join("outside-the-grants");
    std::fs::write(&file, DECOY_TEXT).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(Decoy {
        entries: names(root)?,
        root: root.to_owned(),
        file,
    })
}

fn names(dir: &Path) -> Result<Vec<std::ffi::OsString>, String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort();
    Ok(names)
}

impl Decoy {
    fn untouched(&self) -> Result<(), String> {
        let text = std::fs::read_to_string(&self.file)
            .map_err(|e| format!("{}: {e}", self.file.display()))?;
        if text != DECOY_TEXT {
            return Err(format!("{} was changed", self.file.display()));
        }
        let now = names(&self.root)?;
        if now != self.entries {
            return Err(format!(
                "the directory holding the grants changed: {:?}, was {:?}",
                now, self.entries
            ));
        }
        Ok(())
    }
}
