//! The sealed disk key as it is kept in NV: what Load needs back, and the
//! PolicyOR branches of a staged update.
//!
//! Layout: `OSBK`, a version byte (1), a state byte (1 sealed, 2 staged),
//! a branch count and the branches (32 bytes each; none when sealed, two
//! when staged: the old boot chain's policy, then the new one's), then the
//! object's TPM2B_PUBLIC and TPM2B_PRIVATE as the TPM marshals them.

use tpm2_protocol::data::{Tpm2bPrivate, Tpm2bPublic};
use tpm2_protocol::{TpmMarshal, TpmSized, TpmUnmarshal, TpmWriter};

use crate::pcr::Digest;
use crate::seal::Sealed;

const MAGIC: &[u8; 4] = b"OSBK";
const VERSION: u8 = 1;

/// A sealed key and the policy it was sealed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sealed to one set of PCR values, or staged for an update.
    pub state: State,
    /// The sealed object.
    pub sealed: Sealed,
}

/// The policy a record's object needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// PolicyPCR of one set of values.
    Sealed,
    /// PolicyOR of the PolicyPCR digests of the old boot chain and the
    /// new one.
    Staged {
        /// The old chain's policy.
        old: Digest,
        /// The new chain's policy.
        new: Digest,
    },
}

/// Why NV bytes are not a record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a sealed disk key: {0}")]
pub struct BadRecord(String);

impl Record {
    /// The record as NV keeps it.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BadRecord> {
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        match &self.state {
            State::Sealed => out.extend_from_slice(&[1, 0]),
            State::Staged { old, new } => {
                out.extend_from_slice(&[2, 2]);
                out.extend_from_slice(old);
                out.extend_from_slice(new);
            }
        }
        marshal(&self.sealed.public, &mut out)?;
        marshal(&self.sealed.private, &mut out)?;
        Ok(out)
    }

    /// Reads `bytes` as a record, all of them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Record, BadRecord> {
        let bad = |what: &str| BadRecord(what.to_owned());
        let rest = bytes
            .strip_prefix(&MAGIC[..])
            .ok_or_else(|| bad("no OSBK magic"))?;
        let [version, state, count, rest @ ..] = rest else {
            return Err(bad("shorter than its header"));
        };
        if *version != VERSION {
            return Err(BadRecord(format!("version {version}, expected {VERSION}")));
        }
        let (state, rest) = match (state, count) {
            (1, 0) => (State::Sealed, rest),
            (2, 2) => {
                let (old, rest) = digest(rest).ok_or_else(|| bad("a short branch"))?;
                let (new, rest) = digest(rest).ok_or_else(|| bad("a short branch"))?;
                (State::Staged { old, new }, rest)
            }
            _ => {
                return Err(BadRecord(format!("state {state} with {count} branches")));
            }
        };
        let (public, rest) =
            Tpm2bPublic::unmarshal(rest).map_err(|e| BadRecord(format!("public area: {e}")))?;
        let (private, rest) =
            Tpm2bPrivate::unmarshal(rest).map_err(|e| BadRecord(format!("private area: {e}")))?;
        if !rest.is_empty() {
            return Err(BadRecord(format!("{} bytes after it", rest.len())));
        }
        Ok(Record {
            state,
            sealed: Sealed { public, private },
        })
    }
}

fn digest(bytes: &[u8]) -> Option<(Digest, &[u8])> {
    let (head, rest) = bytes.split_at_checked(32)?;
    Some((head.try_into().ok()?, rest))
}

fn marshal<T: TpmMarshal + TpmSized>(value: &T, out: &mut Vec<u8>) -> Result<(), BadRecord> {
    let mut buf = vec![0u8; value.len()];
    let mut writer = TpmWriter::new(&mut buf);
    value
        .marshal(&mut writer)
        .map_err(|e| BadRecord(format!("cannot marshal: {e}")))?;
    let len = writer.len();
    out.extend_from_slice(buf.get(..len).unwrap_or_default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tpm2_protocol::basic::TpmBuffer;

    fn record(state: State) -> Record {
        let mut public = Tpm2bPublic::default();
        public.inner.object_type = tpm2_protocol::data::TpmAlgId::KeyedHash;
        public.inner.name_alg = tpm2_protocol::data::TpmAlgId::Sha256;
        public.inner.parameters = tpm2_protocol::data::TpmuPublicParms::KeyedHash(
            tpm2_protocol::data::TpmsKeyedhashParms {
                scheme: tpm2_protocol::data::TpmtKeyedhashScheme {
                    scheme: tpm2_protocol::data::TpmAlgId::Null,
                    details: tpm2_protocol::data::TpmuKeyedhashScheme::Null,
                },
            },
        );
        public.inner.unique = tpm2_protocol::data::TpmuPublicId::KeyedHash(TpmBuffer::new());
        Record {
            state,
            sealed: Sealed {
                public,
                private: TpmBuffer::try_from(&[7u8; 100][..]).unwrap(),
            },
        }
    }

    #[test]
    fn records_round_trip() {
        for state in [
            State::Sealed,
            State::Staged {
                old: [1; 32],
                new: [2; 32],
            },
        ] {
            let r = record(state);
            assert_eq!(Record::from_bytes(&r.to_bytes().unwrap()).unwrap(), r);
        }
    }

    #[test]
    fn damaged_records_are_refused_naming_the_damage() {
        let good = record(State::Staged {
            old: [1; 32],
            new: [2; 32],
        })
        .to_bytes()
        .unwrap();
        let check = |bytes: &[u8], expect: &str| {
            let e = Record::from_bytes(bytes).unwrap_err().to_string();
            assert!(e.contains(expect), "{expect}: {e}");
        };
        check(b"", "no OSBK magic");
        check(b"OSBK\x01", "shorter than its header");
        check(&[b"OSBK\x02".as_slice(), &good[5..]].concat(), "version 2");
        check(
            &[&good[..5], b"\x01\x02", &good[7..]].concat(),
            "state 1 with 2",
        );
        check(&good[..40], "a short branch");
        check(&good[..good.len() - 1], "private area");
        check(&[&good[..], b"x"].concat(), "1 bytes after it");
    }
}
