//! Sensor and control ids, and the values they take, read strictly.

use osb_sdk::{PluginError, Result};

use crate::pcr::{Digest, PCRS};
use crate::policy::SEALED_PCRS;

/// Words of 32 bits in a sha256 digest.
const WORDS: u32 = 8;

/// A sensor this adapter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensor {
    /// `random`
    Random,
    /// `disk-key`
    DiskKey,
    /// `pcr:N:W`
    PcrWord {
        /// The PCR, 0 to 23.
        index: u32,
        /// The word of its digest, 0 to 7.
        word: u32,
    },
}

impl Sensor {
    /// Reads a sensor id; anything else is `invalid-input`, naming it (as
    /// the SDK's conformance suite asks of an unknown sensor).
    pub fn parse(id: &str) -> Result<Sensor> {
        match id {
            "random" => return Ok(Sensor::Random),
            "disk-key" => return Ok(Sensor::DiskKey),
            _ => {}
        }
        let unknown = || {
            PluginError::invalid_input(format!(
                "no sensor '{id}': sensors are 'random', 'disk-key' and 'pcr:N:W' (N 0 to 23, W 0 to 7)"
            ))
        };
        let rest = id.strip_prefix("pcr:").ok_or_else(unknown)?;
        let (index, word) = rest.split_once(':').ok_or_else(unknown)?;
        let index = small(index, PCRS).ok_or_else(unknown)?;
        let word = small(word, WORDS).ok_or_else(unknown)?;
        Ok(Sensor::PcrWord { index, word })
    }
}

/// A control this adapter sets, with its value read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// `pcr-extend` = `N:HEX`
    PcrExtend {
        /// The PCR, 0 to 23.
        index: u32,
        /// The sha256 digest to extend it with.
        digest: Digest,
    },
    /// `disk-key` = one of [`DiskKeyAction::VALUES`]
    DiskKey(DiskKeyAction),
    /// `stage-update` = `N=HEX[,N=HEX...]`: the PCRs of [`SEALED_PCRS`]
    /// an update changes, and the values they will hold; in the order
    /// given, each PCR once.
    StageUpdate(Vec<(u32, Digest)>),
}

/// What the `disk-key` control does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskKeyAction {
    /// `seal`: a new key, sealed to the current PCRs.
    Seal,
    /// `unseal`: the key into the key file.
    Unseal,
    /// `commit`: a staged key narrowed to the current (new) boot chain.
    Commit,
    /// `forget`: the key file removed.
    Forget,
}

impl DiskKeyAction {
    /// The values, in the order an operator (and the conformance suite)
    /// would use them.
    pub const VALUES: [&'static str; 4] = ["seal", "unseal", "commit", "forget"];
}

impl Control {
    /// Reads a control id and its value.
    pub fn parse(id: &str, value: &str) -> Result<Control> {
        match id {
            "pcr-extend" => {
                let bad = || {
                    PluginError::invalid_input(format!(
                        "pcr-extend: '{value}' is not 'N:HEX' (N 0 to 23, HEX 64 hex digits)"
                    ))
                };
                let (index, hex) = value.split_once(':').ok_or_else(bad)?;
                let index = small(index, PCRS).ok_or_else(bad)?;
                let digest = digest(hex).ok_or_else(bad)?;
                Ok(Control::PcrExtend { index, digest })
            }
            "disk-key" => match value {
                "seal" => Ok(Control::DiskKey(DiskKeyAction::Seal)),
                "unseal" => Ok(Control::DiskKey(DiskKeyAction::Unseal)),
                "commit" => Ok(Control::DiskKey(DiskKeyAction::Commit)),
                "forget" => Ok(Control::DiskKey(DiskKeyAction::Forget)),
                _ => Err(PluginError::invalid_input(format!(
                    "disk-key: '{value}' is not one of {}",
                    DiskKeyAction::VALUES.join(", ")
                ))),
            },
            "stage-update" => stage_update(value).map(Control::StageUpdate),
            _ => Err(PluginError::unsupported(format!(
                "no control '{id}': the controls are 'pcr-extend', 'disk-key' and 'stage-update'"
            ))),
        }
    }
}

fn stage_update(value: &str) -> Result<Vec<(u32, Digest)>> {
    let sealed = SEALED_PCRS.map(|p| p.to_string()).join(", ");
    let mut changes: Vec<(u32, Digest)> = Vec::new();
    for entry in value.split(',') {
        let bad = |why: String| {
            PluginError::invalid_input(format!("stage-update: '{entry}' in '{value}': {why}"))
        };
        let (index, hex) = entry
            .split_once('=')
            .ok_or_else(|| bad("not 'N=HEX'".to_owned()))?;
        let index = small(index, PCRS)
            .filter(|n| SEALED_PCRS.contains(n))
            .ok_or_else(|| bad(format!("'{index}' is not a sealed PCR ({sealed})")))?;
        let digest = digest(hex).ok_or_else(|| bad(format!("'{hex}' is not 64 hex digits")))?;
        if changes.iter().any(|(seen, _)| *seen == index) {
            return Err(bad(format!("PCR {index} twice")));
        }
        changes.push((index, digest));
    }
    Ok(changes)
}

/// Word `word` of `digest`, big endian.
pub fn word(digest: &Digest, word: u32) -> Option<u32> {
    let start = usize::try_from(word).ok()?.checked_mul(4)?;
    let bytes: [u8; 4] = digest.get(start..start + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// A decimal below `limit`, in its plain form (no sign, no leading zero).
fn small(text: &str, limit: u32) -> Option<u32> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&n| n < limit)
}

/// 64 hex digits, either case.
fn digest(hex: &str) -> Option<Digest> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2)?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    // from_str_radix takes a leading '+'; a digest has none.
    hex.bytes().all(|b| b.is_ascii_hexdigit()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_ids() {
        assert_eq!(Sensor::parse("random").unwrap(), Sensor::Random);
        assert_eq!(
            Sensor::parse("pcr:23:7").unwrap(),
            Sensor::PcrWord { index: 23, word: 7 }
        );
        for bad in [
            "pcr:24:0", "pcr:0:8", "pcr:01:0", "pcr:+1:0", "pcr:1", "pcr::", "rand", "",
        ] {
            let e = Sensor::parse(bad).unwrap_err();
            assert!(e.message.contains("no sensor"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn extend_values() {
        let hex = "00".repeat(31) + "Ff";
        let Control::PcrExtend { index, digest } =
            Control::parse("pcr-extend", &format!("16:{hex}")).unwrap()
        else {
            panic!("not an extend");
        };
        assert_eq!(index, 16);
        assert_eq!(digest[31], 0xff);
        for bad in [
            format!("24:{hex}"),
            format!("16:{}", &hex[..62]),
            format!("16:+{}", &hex[1..]),
            format!("16:{}g", &hex[..63]),
            "16".to_owned(),
        ] {
            assert!(Control::parse("pcr-extend", &bad).is_err(), "{bad}");
        }
        assert!(Control::parse("reboot", "1").is_err());
    }

    #[test]
    fn disk_key_values() {
        for (value, action) in DiskKeyAction::VALUES.iter().zip([
            DiskKeyAction::Seal,
            DiskKeyAction::Unseal,
            DiskKeyAction::Commit,
            DiskKeyAction::Forget,
        ]) {
            assert_eq!(
                Control::parse("disk-key", value).unwrap(),
                Control::DiskKey(action)
            );
        }
        for bad in ["", "Seal", "seal ", "open"] {
            let e = Control::parse("disk-key", bad).unwrap_err();
            assert!(e.message.contains(&format!("'{bad}'")), "{e:?}");
        }
        assert_eq!(Sensor::parse("disk-key").unwrap(), Sensor::DiskKey);
    }

    #[test]
    fn staged_values_are_sealed_pcrs_each_once() {
        let a = "ab".repeat(32);
        let b = "CD".repeat(32);
        assert_eq!(
            Control::parse("stage-update", &format!("7={a},0={b}")).unwrap(),
            Control::StageUpdate(vec![(7, [0xab; 32]), (0, [0xcd; 32])])
        );
        let check = |value: String, expect: &str| {
            let e = Control::parse("stage-update", &value).unwrap_err();
            assert!(
                e.message.contains(expect) && e.message.contains("stage-update"),
                "{value}: {e:?}"
            );
        };
        check(format!("1={a}"), "'1' is not a sealed PCR (0, 2, 3, 7)");
        check(format!("24={a}"), "'24' is not a sealed PCR");
        check(format!("07={a}"), "'07' is not a sealed PCR");
        check(format!("7={a},7={b}"), "PCR 7 twice");
        check(format!("7={}", &a[..62]), "is not 64 hex digits");
        check(format!("7={}zz", &a[..62]), "is not 64 hex digits");
        check(format!("7:{a}"), "not 'N=HEX'");
        check(String::new(), "not 'N=HEX'");
        check(format!("7={a},"), "'' in");
    }

    #[test]
    fn words_are_big_endian() {
        let mut d = [0u8; 32];
        d[28..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(word(&d, 7), Some(0xdead_beef));
        assert_eq!(word(&d, 0), Some(0));
        assert_eq!(word(&d, 8), None);
    }
}
