//! nvpmodel's configuration (`/etc/nvpmodel.conf`), as L4T writes it for
//! the TX2: `< PARAM TYPE=FILE|CLOCK NAME=.. >` sections naming sysfs files
//! (`ARG /path`), `< POWER_MODEL ID=n NAME=.. >` sections giving values
//! (`PARAM ARG value`, `-1` for a clock's highest available frequency) and
//! one `< PM_CONFIG DEFAULT=n >`. Pure: text in, `Conf` or the line at fault
//! out. Anything this parser does not know is refused rather than skipped,
//! since a skipped line would be a mode applied only in part.

use std::collections::BTreeMap;

use thiserror::Error;

/// A parsed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conf {
    pub params: BTreeMap<String, Param>,
    pub modes: Vec<Mode>,
}

/// A `PARAM` section: named sysfs files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub kind: ParamKind,
    /// Argument name to its file, with the line that names it.
    pub args: BTreeMap<String, Located<String>>,
}

/// `TYPE=FILE` takes any word as a value; `TYPE=CLOCK` takes frequencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    File,
    Clock,
}

/// A value and the line it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub line: usize,
}

/// A `POWER_MODEL` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mode {
    pub id: u32,
    pub name: String,
    pub settings: Vec<Setting>,
}

/// One `PARAM ARG value` line of a mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub param: String,
    pub arg: String,
    pub value: Value,
    pub line: usize,
}

/// What a setting writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Written as it stands (a `FILE` parameter).
    Text(String),
    /// A frequency (a `CLOCK` parameter).
    Frequency(u64),
    /// `-1` for a `CLOCK`: the highest its `FREQ_TABLE` lists.
    Highest,
}

/// The line at fault and why.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("line {line}: {what}")]
pub struct ConfError {
    pub line: usize,
    pub what: String,
}

impl Conf {
    /// The mode named `name`.
    pub fn mode(&self, name: &str) -> Option<&Mode> {
        self.modes.iter().find(|mode| mode.name == name)
    }

    /// The modes' names, in the file's order.
    pub fn mode_names(&self) -> Vec<String> {
        self.modes.iter().map(|mode| mode.name.clone()).collect()
    }
}

/// Reads a configuration.
pub fn parse(text: &str) -> Result<Conf, ConfError> {
    let mut params: BTreeMap<String, Param> = BTreeMap::new();
    let mut modes: Vec<Mode> = Vec::new();
    let mut default: Option<Located<u32>> = None;
    let mut section = Section::None;

    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let fail = |what: String| ConfError { line, what };
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if let Some(header) = content.strip_prefix('<') {
            let header = header
                .strip_suffix('>')
                .ok_or_else(|| fail(format!("a section header must end with '>': {content:?}")))?;
            section = match Header::parse(header).map_err(fail)? {
                Header::Param { kind, name } => {
                    if params.contains_key(&name) {
                        return Err(fail(format!("PARAM {name} is defined twice")));
                    }
                    params.insert(
                        name.clone(),
                        Param {
                            kind,
                            args: BTreeMap::new(),
                        },
                    );
                    Section::Param(name)
                }
                Header::PowerModel { id, name } => {
                    if modes.iter().any(|mode| mode.id == id || mode.name == name) {
                        return Err(fail(format!(
                            "POWER_MODEL ID={id} NAME={name} repeats an earlier mode's id or name"
                        )));
                    }
                    modes.push(Mode {
                        id,
                        name,
                        settings: Vec::new(),
                    });
                    Section::PowerModel
                }
                Header::PmConfig { default: id } => {
                    if default.is_some() {
                        return Err(fail("PM_CONFIG is given twice".into()));
                    }
                    default = Some(Located { value: id, line });
                    Section::PmConfig
                }
            };
            continue;
        }
        let words: Vec<&str> = content.split_whitespace().collect();
        match &section {
            Section::None => {
                return Err(fail(format!("{content:?} is outside any section")));
            }
            Section::PmConfig => {
                return Err(fail(format!("PM_CONFIG takes no lines: {content:?}")));
            }
            Section::Param(name) => {
                let [arg, path] = words[..] else {
                    return Err(fail(format!(
                        "expected 'ARG_NAME /sysfs/path' in PARAM {name}: {content:?}"
                    )));
                };
                let param = params
                    .get_mut(name)
                    .ok_or_else(|| fail(format!("PARAM {name} vanished")))?;
                if param.args.contains_key(arg) {
                    return Err(fail(format!("{arg} is defined twice in PARAM {name}")));
                }
                if !path.starts_with('/') {
                    return Err(fail(format!("{arg}'s path {path:?} is not absolute")));
                }
                param.args.insert(
                    arg.to_owned(),
                    Located {
                        value: path.to_owned(),
                        line,
                    },
                );
            }
            Section::PowerModel => {
                let [param_name, arg, value] = words[..] else {
                    return Err(fail(format!(
                        "expected 'PARAM_NAME ARG_NAME value': {content:?}"
                    )));
                };
                let param = params.get(param_name).ok_or_else(|| {
                    fail(format!(
                        "no PARAM {param_name} is defined above (in {content:?})"
                    ))
                })?;
                if !param.args.contains_key(arg) {
                    return Err(fail(format!("PARAM {param_name} has no {arg}")));
                }
                let value = match param.kind {
                    ParamKind::File => Value::Text(value.to_owned()),
                    ParamKind::Clock => match value {
                        "-1" => Value::Highest,
                        _ => Value::Frequency(value.parse().map_err(|_| {
                            fail(format!(
                                "{param_name} {arg} takes a frequency or -1, not {value:?}"
                            ))
                        })?),
                    },
                };
                let mode = modes
                    .last_mut()
                    .ok_or_else(|| fail("a setting outside any POWER_MODEL".into()))?;
                mode.settings.push(Setting {
                    param: param_name.to_owned(),
                    arg: arg.to_owned(),
                    value,
                    line,
                });
            }
        }
    }

    let Some(default) = default else {
        return Err(ConfError {
            line: text.lines().count(),
            what: "no '< PM_CONFIG DEFAULT=id >' section".into(),
        });
    };
    if !modes.iter().any(|mode| mode.id == default.value) {
        return Err(ConfError {
            line: default.line,
            what: format!(
                "PM_CONFIG DEFAULT={} names no POWER_MODEL (ids: {})",
                default.value,
                modes
                    .iter()
                    .map(|mode| mode.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(Conf { params, modes })
}

/// The section the lines being read belong to.
enum Section {
    None,
    Param(String),
    PowerModel,
    PmConfig,
}

/// A section header, between `<` and `>`.
enum Header {
    Param { kind: ParamKind, name: String },
    PowerModel { id: u32, name: String },
    PmConfig { default: u32 },
}

impl Header {
    fn parse(header: &str) -> Result<Header, String> {
        let mut words = header.split_whitespace();
        let kind = words.next().unwrap_or_default();
        let mut attributes = BTreeMap::new();
        for word in words {
            let (key, value) = word.split_once('=').ok_or_else(|| {
                format!("expected KEY=VALUE in the {kind} header, found {word:?}")
            })?;
            if attributes.insert(key, value).is_some() {
                return Err(format!("{key} is given twice in the {kind} header"));
            }
        }
        let mut take = |key: &str| {
            attributes
                .remove(key)
                .ok_or_else(|| format!("the {kind} header has no {key}="))
        };
        let id = |value: &str| {
            value
                .parse::<u32>()
                .map_err(|_| format!("{kind} id {value:?} is not a number"))
        };
        let header = match kind {
            "PARAM" => {
                let kind = match take("TYPE")? {
                    "FILE" => ParamKind::File,
                    "CLOCK" => ParamKind::Clock,
                    other => return Err(format!("PARAM TYPE={other} is neither FILE nor CLOCK")),
                };
                Header::Param {
                    kind,
                    name: take("NAME")?.to_owned(),
                }
            }
            "POWER_MODEL" => Header::PowerModel {
                id: id(take("ID")?)?,
                name: take("NAME")?.to_owned(),
            },
            "PM_CONFIG" => Header::PmConfig {
                default: id(take("DEFAULT")?)?,
            },
            other => return Err(format!("unknown section {other:?}")),
        };
        match attributes.keys().next() {
            Some(extra) => Err(format!("unknown {extra}= in the {kind} header")),
            None => Ok(header),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "\
< PARAM TYPE=FILE NAME=CPU_ONLINE >
CORE_1 /sys/devices/system/cpu/cpu1/online
< PARAM TYPE=CLOCK NAME=GPU >
FREQ_TABLE /sys/gpu/available_frequencies
MAX_FREQ /sys/gpu/max_freq
";

    /// The error for `HEAD` followed by `rest`, as "line N: what".
    fn check_error(rest: &str, expected: &str) {
        let error = parse(&format!("{HEAD}{rest}")).expect_err(rest).to_string();
        assert_eq!(error, expected, "for {rest:?}");
    }

    #[test]
    fn the_tx2_configuration_reads_whole() {
        let conf = parse(include_str!(
            "../tests/fixture/tx2/etc/nvpmodel/nvpmodel_t186.conf"
        ))
        .expect("the real configuration parses");
        assert_eq!(
            conf.mode_names(),
            [
                "MAXN",
                "MAXQ",
                "MAXP_CORE_ALL",
                "MAXP_CORE_ARM",
                "MAXP_CORE_DENVER"
            ]
        );
        assert_eq!(conf.params.len(), 5);
        let maxq = conf.mode("MAXQ").unwrap();
        assert_eq!(maxq.id, 1);
        assert_eq!(maxq.settings.len(), 10);
        assert_eq!(
            maxq.settings[0],
            Setting {
                param: "CPU_ONLINE".into(),
                arg: "CORE_1".into(),
                value: Value::Text("0".into()),
                line: maxq.settings[0].line,
            }
        );
        let maxn = conf.mode("MAXN").unwrap();
        assert!(
            maxn.settings
                .iter()
                .any(|s| s.param == "GPU" && s.value == Value::Highest)
        );
        assert_eq!(
            conf.params["EMC"].args["MAX_FREQ"].value,
            "/sys/kernel/nvpmodel_emc_cap/emc_iso_cap"
        );
    }

    #[test]
    fn a_minimal_configuration_reads() {
        let conf = parse(&format!(
            "{HEAD}# comment\n\n< POWER_MODEL ID=7 NAME=LOW >\nCPU_ONLINE CORE_1 0\nGPU MAX_FREQ 5\n< PM_CONFIG DEFAULT=7 >\n"
        ))
        .unwrap();
        let low = conf.mode("LOW").unwrap();
        assert_eq!(low.settings[1].value, Value::Frequency(5));
        assert_eq!(low.settings[1].line, 10);
        assert_eq!(conf.params["GPU"].kind, ParamKind::Clock);
    }

    #[test]
    fn faults_name_their_line() {
        let mode = "< POWER_MODEL ID=0 NAME=A >\n";
        let end = "< PM_CONFIG DEFAULT=0 >\n";
        for (rest, expected) in [
            (
                format!("{mode}CPU_BIG MAX_FREQ 1\n{end}"),
                "line 7: no PARAM CPU_BIG is defined above (in \"CPU_BIG MAX_FREQ 1\")",
            ),
            (
                format!("{mode}GPU MIN_FREQ 1\n{end}"),
                "line 7: PARAM GPU has no MIN_FREQ",
            ),
            (
                format!("{mode}GPU MAX_FREQ fast\n{end}"),
                "line 7: GPU MAX_FREQ takes a frequency or -1, not \"fast\"",
            ),
            (
                format!("{mode}GPU MAX_FREQ -2\n{end}"),
                "line 7: GPU MAX_FREQ takes a frequency or -1, not \"-2\"",
            ),
            (
                format!("{mode}GPU MAX_FREQ\n{end}"),
                "line 7: expected 'PARAM_NAME ARG_NAME value': \"GPU MAX_FREQ\"",
            ),
            (
                format!("{mode}< PM_CONFIG DEFAULT=3 >\n"),
                "line 7: PM_CONFIG DEFAULT=3 names no POWER_MODEL (ids: 0)",
            ),
            (
                mode.to_string(),
                "line 6: no '< PM_CONFIG DEFAULT=id >' section",
            ),
            (
                format!("{mode}{end}{end}"),
                "line 8: PM_CONFIG is given twice",
            ),
            (
                format!("{mode}< POWER_MODEL ID=0 NAME=B >\n{end}"),
                "line 7: POWER_MODEL ID=0 NAME=B repeats an earlier mode's id or name",
            ),
            (
                format!("< FAN_CONFIG ID=0 >\n{end}"),
                "line 6: unknown section \"FAN_CONFIG\"",
            ),
            (
                format!("< PARAM TYPE=DEBUGFS NAME=X >\n{end}"),
                "line 6: PARAM TYPE=DEBUGFS is neither FILE nor CLOCK",
            ),
            (
                format!("< PARAM TYPE=FILE NAME=X >\nA relative/path\n{end}"),
                "line 7: A's path \"relative/path\" is not absolute",
            ),
            (
                format!("< POWER_MODEL ID=x NAME=A >\n{end}"),
                "line 6: POWER_MODEL id \"x\" is not a number",
            ),
            (
                format!("< POWER_MODEL ID=1 >\n{end}"),
                "line 6: the POWER_MODEL header has no NAME=",
            ),
            (
                format!("< POWER_MODEL ID=1 NAME=A\n{end}"),
                "line 6: a section header must end with '>': \"< POWER_MODEL ID=1 NAME=A\"",
            ),
        ] {
            check_error(&rest, expected);
        }
        assert_eq!(
            parse("CORE_1 /x\n").unwrap_err().to_string(),
            "line 1: \"CORE_1 /x\" is outside any section"
        );
    }
}
