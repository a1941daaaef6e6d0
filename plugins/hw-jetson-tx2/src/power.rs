//! Switching power mode: the mode's writes are all worked out first (from
//! the configuration and the files' current values), every path checked
//! against the grants, and only then written, in an order the kernel
//! accepts at each step. A write that fails undoes those before it, so the
//! board is never left between two modes.
//!
//! The order: cores coming online first (a clock's files belong to its
//! cores), then each clock's limits, then other files, then cores going
//! offline last (the load moves to the cores that stay before they go).
//! Within a clock, the minimum goes first when it stays at or below the
//! current maximum, else the maximum does, so that at no step is the
//! minimum above the maximum. A file already holding its value is not
//! written.

use std::io;
use std::path::Path;

use thiserror::Error;

use crate::grants;
use crate::nvpmodel::{self, Conf, ConfError, Mode, Value};

/// The kv key holding the mode chosen last.
pub const MODE_KEY: &str = "power-mode";

/// More than any sysfs file the configuration names holds (a frequency
/// table is about 150 bytes).
const MAX_BYTES: u64 = 4096;

/// One planned write and what the file held before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub path: String,
    pub value: String,
    pub previous: String,
    /// The configuration's line that asks for it.
    pub line: usize,
}

/// Why a mode was not applied. Everything but `Failed` is found before
/// anything is written.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PowerError {
    #[error("failed to read nvpmodel's configuration '{file}': {error}")]
    Unreadable { file: String, error: String },
    #[error("nvpmodel's configuration '{file}' {error}")]
    Conf { file: String, error: ConfError },
    #[error(
        "nvpmodel's configuration '{file}' line {line}: '{path}' is outside the sysfs directories this plugin may write ({granted})",
        granted = grants::WRITABLE.join(", ")
    )]
    OutsideGrant {
        file: String,
        line: usize,
        path: String,
    },
    #[error("no power mode '{name}' in '{file}' (its modes are {modes})")]
    UnknownMode {
        name: String,
        file: String,
        modes: String,
    },
    #[error("line {line} of '{file}' asks for '{path}', which cannot be read: {error}")]
    Current {
        file: String,
        line: usize,
        path: String,
        error: String,
    },
    #[error(
        "line {line} of '{file}' takes a core offline through '{path}', which does not exist: that core cannot go offline"
    )]
    CannotOffline {
        file: String,
        line: usize,
        path: String,
    },
    #[error(
        "line {line} of '{file}' asks for {param}'s highest frequency (-1), but {param} has no FREQ_TABLE"
    )]
    NoFrequencyTable {
        file: String,
        line: usize,
        param: String,
    },
    #[error("'{path}' holds {found:?}, not frequencies")]
    NotFrequencies { path: String, found: String },
    #[error("failed to write {value} to '{path}' (line {line}): {error}; {undo}")]
    Failed {
        path: String,
        value: String,
        line: usize,
        error: String,
        undo: Undo,
    },
}

/// What became of the writes before one that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// All were written back: the board is in the mode it was in.
    Restored(usize),
    /// These could not be written back.
    Incomplete(Vec<String>),
}

impl std::fmt::Display for Undo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undo::Restored(0) => write!(f, "nothing had been written"),
            Undo::Restored(n) => write!(
                f,
                "the {n} write(s) before it were undone, the board is in the mode it was in"
            ),
            Undo::Incomplete(paths) => write!(
                f,
                "undoing the earlier writes failed for {}: the board may be between modes",
                paths.join(", ")
            ),
        }
    }
}

/// Reads, parses and checks the configuration at `file`: every path it
/// names must be writable.
pub fn load(file: &Path) -> Result<Conf, PowerError> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| PowerError::Unreadable {
        file: name.clone(),
        error: e.to_string(),
    })?;
    let conf = nvpmodel::parse(&text).map_err(|error| PowerError::Conf {
        file: name.clone(),
        error,
    })?;
    check_grants(&conf, &name)?;
    Ok(conf)
}

/// Applies mode `name` of the configuration at `file`; returns the number
/// of files written.
pub fn switch(file: &Path, name: &str) -> Result<usize, PowerError> {
    let conf = load(file)?;
    let file = file.display().to_string();
    let mode = conf.mode(name).ok_or_else(|| PowerError::UnknownMode {
        name: name.to_owned(),
        file: file.clone(),
        modes: conf.mode_names().join(", "),
    })?;
    let writes = plan(&conf, mode, &file, &read_value)?;
    apply(&writes, &mut |path, value| std::fs::write(path, value))?;
    Ok(writes.len())
}

/// Every path a PARAM names lies beneath a read-write grant.
pub fn check_grants(conf: &Conf, file: &str) -> Result<(), PowerError> {
    let mut args: Vec<_> = conf.params.values().flat_map(|p| p.args.values()).collect();
    args.sort_by_key(|arg| arg.line);
    match args.into_iter().find(|arg| !grants::writable(&arg.value)) {
        Some(outside) => Err(PowerError::OutsideGrant {
            file: file.to_owned(),
            line: outside.line,
            path: outside.value.clone(),
        }),
        None => Ok(()),
    }
}

/// The writes that take the board to `mode`, in the order to make them,
/// from the files' current contents as `read` gives them.
pub fn plan(
    conf: &Conf,
    mode: &Mode,
    file: &str,
    read: &dyn Fn(&str) -> io::Result<String>,
) -> Result<Vec<Write>, PowerError> {
    let current = |path: &str, line: usize| {
        read(path)
            .map(|text| text.trim_end_matches('\n').to_owned())
            .map_err(|e| PowerError::Current {
                file: file.to_owned(),
                line,
                path: path.to_owned(),
                error: e.to_string(),
            })
    };
    let target = |line: usize, path: &str, value: String| -> Result<Option<Write>, PowerError> {
        let previous = current(path, line)?;
        Ok((previous != value).then(|| Write {
            path: path.to_owned(),
            value,
            previous,
            line,
        }))
    };

    let (mut online, mut offline, mut other) = (Vec::new(), Vec::new(), Vec::new());
    // Clock settings by parameter, in the order the mode first names each.
    let mut clocks: Vec<(&str, Vec<ClockSetting>)> = Vec::new();
    for setting in &mode.settings {
        // `nvpmodel::parse` let through only settings of a defined PARAM
        // and argument.
        let param = &conf.params[&setting.param];
        let path = param.args[&setting.arg].value.as_str();
        let line = setting.line;
        match &setting.value {
            Value::Text(value) if path.ends_with("/online") => {
                match read(path) {
                    // The boot core has no `online`: it is always online.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if value != "1" {
                            return Err(PowerError::CannotOffline {
                                file: file.to_owned(),
                                line,
                                path: path.to_owned(),
                            });
                        }
                    }
                    _ => {
                        let write = target(line, path, value.clone())?;
                        if value == "1" {
                            online.extend(write);
                        } else {
                            offline.extend(write);
                        }
                    }
                }
            }
            Value::Text(value) => other.extend(target(line, path, value.clone())?),
            Value::Frequency(_) | Value::Highest => {
                let hz = match setting.value {
                    Value::Frequency(hz) => hz,
                    _ => {
                        let table = param.args.get("FREQ_TABLE").ok_or_else(|| {
                            PowerError::NoFrequencyTable {
                                file: file.to_owned(),
                                line,
                                param: setting.param.clone(),
                            }
                        })?;
                        highest(&table.value, &current(&table.value, line)?)?
                    }
                };
                let entry = ClockSetting {
                    arg: setting.arg.as_str(),
                    hz,
                    line,
                    path,
                };
                match clocks.iter_mut().find(|(name, _)| *name == setting.param) {
                    Some((_, entries)) => entries.push(entry),
                    None => clocks.push((setting.param.as_str(), vec![entry])),
                }
            }
        }
    }

    let mut writes = online;
    for (_, mut entries) in clocks {
        let min = entries.iter().find(|e| e.arg == "MIN_FREQ").map(|e| e.hz);
        let max = entries.iter().find(|e| e.arg == "MAX_FREQ");
        if let (Some(min), Some(max)) = (min, max) {
            let current_max = current(max.path, max.line)?;
            let current_max: u64 =
                current_max
                    .trim()
                    .parse()
                    .map_err(|_| PowerError::NotFrequencies {
                        path: max.path.to_owned(),
                        found: current_max.clone(),
                    })?;
            let first = if min > current_max {
                // Raising the floor above the ceiling: the ceiling first.
                "MAX_FREQ"
            } else {
                "MIN_FREQ"
            };
            entries.sort_by_key(|e| e.arg != first);
        }
        for entry in entries {
            writes.extend(target(entry.line, entry.path, entry.hz.to_string())?);
        }
    }
    writes.extend(other);
    writes.extend(offline);
    Ok(writes)
}

/// A clock's setting, its value resolved.
struct ClockSetting<'a> {
    arg: &'a str,
    hz: u64,
    line: usize,
    path: &'a str,
}

/// Makes `writes` in order through `write`; when one fails, writes the
/// earlier ones' previous values back, latest first.
pub fn apply(
    writes: &[Write],
    write: &mut dyn FnMut(&str, &str) -> io::Result<()>,
) -> Result<(), PowerError> {
    for (done, next) in writes.iter().enumerate() {
        if let Err(error) = write(&next.path, &next.value) {
            let failed: Vec<String> = writes[..done]
                .iter()
                .rev()
                .filter_map(|earlier| {
                    write(&earlier.path, &earlier.previous)
                        .err()
                        .map(|e| format!("'{}' ({e})", earlier.path))
                })
                .collect();
            return Err(PowerError::Failed {
                path: next.path.clone(),
                value: next.value.clone(),
                line: next.line,
                error: error.to_string(),
                undo: if failed.is_empty() {
                    Undo::Restored(done)
                } else {
                    Undo::Incomplete(failed)
                },
            });
        }
    }
    Ok(())
}

/// The highest of the frequencies a FREQ_TABLE file lists.
fn highest(path: &str, table: &str) -> Result<u64, PowerError> {
    let garbage = || PowerError::NotFrequencies {
        path: path.to_owned(),
        found: table.chars().take(64).collect(),
    };
    let mut top = None;
    for word in table.split_whitespace() {
        let hz: u64 = word.parse().map_err(|_| garbage())?;
        top = top.max(Some(hz));
    }
    top.ok_or_else(garbage)
}

/// A sysfs file's contents, no further than any such file runs.
fn read_value(path: &str) -> io::Result<String> {
    crate::sysfs::read_at_most(Path::new(path), MAX_BYTES)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;

    const CONF: &str = include_str!("../tests/fixture/tx2/etc/nvpmodel/nvpmodel_t186.conf");
    const A57: &str = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_";
    const DENVER: &str = "/sys/devices/system/cpu/cpu1/cpufreq/scaling_";
    const GPU: &str = "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b/";
    const EMC: &str = "/sys/kernel/nvpmodel_emc_cap/emc_iso_cap";

    /// A board in MAXN as the fixture has it, with `changes` made.
    fn board(changes: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut files: BTreeMap<String, String> = [
            (format!("{A57}min_freq"), "345600"),
            (format!("{A57}max_freq"), "2035200"),
            (
                format!("{A57}available_frequencies"),
                "345600 2035200 1881600 ",
            ),
            (format!("{DENVER}min_freq"), "345600"),
            (format!("{DENVER}max_freq"), "2035200"),
            (format!("{DENVER}available_frequencies"), "345600 2035200"),
            (format!("{GPU}min_freq"), "114750000"),
            (format!("{GPU}max_freq"), "1300500000"),
            (
                format!("{GPU}available_frequencies"),
                "114750000 1300500000",
            ),
            (EMC.into(), "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k, format!("{v}\n")))
        .collect();
        for n in 1..=5 {
            files.insert(
                format!("/sys/devices/system/cpu/cpu{n}/online"),
                "1\n".into(),
            );
        }
        for (path, value) in changes {
            files.insert((*path).into(), format!("{value}\n"));
        }
        files
    }

    /// The writes (path, value) that take `files` to `mode`.
    fn check(files: &BTreeMap<String, String>, mode: &str, expected: &[(&str, &str)]) {
        let conf = nvpmodel::parse(CONF).unwrap();
        let read = |path: &str| {
            files
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        };
        let writes = plan(&conf, conf.mode(mode).unwrap(), "conf", &read).unwrap();
        let got: Vec<(&str, &str)> = writes
            .iter()
            .map(|w| (w.path.as_str(), w.value.as_str()))
            .collect();
        assert_eq!(got, expected, "{mode}");
    }

    #[test]
    fn modes_write_what_differs_in_a_safe_order() {
        let maxn = board(&[]);
        check(
            &maxn,
            "MAXN",
            &[
                (&format!("{A57}min_freq"), "0"),
                (&format!("{DENVER}min_freq"), "0"),
                (&format!("{GPU}min_freq"), "0"),
            ],
        );
        // Lowering: each floor before its ceiling, cores off last.
        check(
            &maxn,
            "MAXQ",
            &[
                (&format!("{A57}min_freq"), "0"),
                (&format!("{A57}max_freq"), "1200000"),
                (&format!("{GPU}min_freq"), "0"),
                (&format!("{GPU}max_freq"), "850000000"),
                (EMC, "1331200000"),
                ("/sys/devices/system/cpu/cpu1/online", "0"),
                ("/sys/devices/system/cpu/cpu2/online", "0"),
            ],
        );
        // Raising from MAXQ: cores on first, -1 is the table's highest.
        let maxq = board(&[
            (&format!("{A57}max_freq"), "1200000"),
            (&format!("{A57}min_freq"), "0"),
            ("/sys/devices/system/cpu/cpu1/online", "0"),
            ("/sys/devices/system/cpu/cpu2/online", "0"),
        ]);
        check(
            &maxq,
            "MAXN",
            &[
                ("/sys/devices/system/cpu/cpu1/online", "1"),
                ("/sys/devices/system/cpu/cpu2/online", "1"),
                (&format!("{A57}max_freq"), "2035200"),
                (&format!("{DENVER}min_freq"), "0"),
                (&format!("{GPU}min_freq"), "0"),
            ],
        );
    }

    #[test]
    fn a_floor_above_the_ceiling_goes_after_it() {
        let conf = nvpmodel::parse(&CONF.replace(
            "CPU_A57 MIN_FREQ 0\nCPU_A57 MAX_FREQ 1200000",
            "CPU_A57 MIN_FREQ 1500000\nCPU_A57 MAX_FREQ 1881600",
        ))
        .unwrap();
        let files = board(&[(&format!("{A57}max_freq"), "1200000")]);
        let read = |path: &str| Ok(files[path].clone());
        let writes = plan(&conf, conf.mode("MAXQ").unwrap(), "conf", &read).unwrap();
        let a57: Vec<_> = writes
            .iter()
            .filter(|w| w.path.starts_with(A57))
            .map(|w| (w.path.trim_start_matches(A57), w.value.as_str()))
            .collect();
        assert_eq!(a57, [("max_freq", "1881600"), ("min_freq", "1500000")]);
    }

    #[test]
    fn the_boot_core_cannot_go_offline() {
        let conf = nvpmodel::parse(&CONF.replace(
            "< POWER_MODEL ID=1 NAME=MAXQ >\n",
            "< POWER_MODEL ID=1 NAME=MAXQ >\nCPU_ONLINE CORE_0 0\n",
        ))
        .unwrap();
        let files = board(&[]);
        let read = |path: &str| {
            files
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        };
        let error = plan(&conf, conf.mode("MAXQ").unwrap(), "conf", &read).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 56 of 'conf' takes a core offline through '/sys/devices/system/cpu/cpu0/online', which does not exist: that core cannot go offline"
        );
        // Asking it to stay online is no write at all.
        let conf = nvpmodel::parse(&CONF.replace(
            "< POWER_MODEL ID=1 NAME=MAXQ >\n",
            "< POWER_MODEL ID=1 NAME=MAXQ >\nCPU_ONLINE CORE_0 1\n",
        ))
        .unwrap();
        let writes = plan(&conf, conf.mode("MAXQ").unwrap(), "conf", &read).unwrap();
        assert!(writes.iter().all(|w| !w.path.contains("cpu0/online")));
    }

    #[test]
    fn garbage_in_a_frequency_table_is_named() {
        let files = board(&[(&format!("{GPU}available_frequencies"), "fast slow")]);
        let conf = nvpmodel::parse(CONF).unwrap();
        let read = |path: &str| Ok(files[path].clone());
        let error = plan(&conf, conf.mode("MAXN").unwrap(), "conf", &read).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("'{GPU}available_frequencies' holds \"fast slow\", not frequencies")
        );
    }

    #[test]
    fn paths_outside_the_grants_are_refused_by_line() {
        let conf = nvpmodel::parse(&CONF.replace(
            "MAX_FREQ /sys/kernel/nvpmodel_emc_cap/emc_iso_cap",
            "MAX_FREQ /sys/kernel/debug/bpmp/debug/clk/emc/rate",
        ))
        .unwrap();
        assert_eq!(
            check_grants(&conf, "conf"),
            Err(PowerError::OutsideGrant {
                file: "conf".into(),
                line: 34,
                path: "/sys/kernel/debug/bpmp/debug/clk/emc/rate".into(),
            })
        );
        assert_eq!(
            check_grants(&nvpmodel::parse(CONF).unwrap(), "conf"),
            Ok(())
        );
    }

    fn write(path: &str, value: &str) -> Write {
        Write {
            path: path.into(),
            value: value.into(),
            previous: format!("was-{value}"),
            line: 1,
        }
    }

    #[test]
    fn a_failed_write_undoes_the_earlier_ones() {
        let writes = [write("/a", "1"), write("/b", "2"), write("/c", "3")];
        let log = RefCell::new(Vec::new());
        let error = apply(&writes, &mut |path, value| {
            log.borrow_mut().push(format!("{path}={value}"));
            match path {
                "/c" => Err(io::Error::other("device busy")),
                _ => Ok(()),
            }
        })
        .unwrap_err();
        assert_eq!(
            log.into_inner(),
            ["/a=1", "/b=2", "/c=3", "/b=was-2", "/a=was-1"]
        );
        assert_eq!(
            error.to_string(),
            "failed to write 3 to '/c' (line 1): device busy; the 2 write(s) before it were undone, the board is in the mode it was in"
        );

        let error = apply(&writes, &mut |path, value| match (path, value) {
            ("/c", _) | ("/a", "was-1") => Err(io::Error::other("gone")),
            _ => Ok(()),
        })
        .unwrap_err();
        assert!(
            error.to_string().ends_with(
                "undoing the earlier writes failed for '/a' (gone): the board may be between modes"
            ),
            "{error}"
        );
    }
}
