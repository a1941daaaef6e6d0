//! Sealing a secret to a policy, and unsealing it in a policy session:
//! CreatePrimary of the storage key, Create, Load, StartAuthSession,
//! PolicyPCR, PolicyOR, Unseal and FlushContext.
//!
//! Every handle a sequence loads is flushed before it returns, whether it
//! succeeded or not: a simulator's raw port has no resource manager, and
//! a TPM holds only a few objects and sessions (three of each on swtpm),
//! so one leak per call would soon refuse every call.

use tpm2_protocol::basic::{TpmBuffer, TpmHandle, TpmUint16};
use tpm2_protocol::data::{
    Tpm2bPrivate, Tpm2bPublic, Tpm2bSensitiveCreate, TpmAlgId, TpmCc, TpmEccCurve, TpmRh, TpmSe,
    TpmaObject, TpmaSession, TpmlDigest, TpmsAuthCommand, TpmsEccParms, TpmsEccPoint,
    TpmsKeyedhashParms, TpmsSensitiveCreate, TpmtEccScheme, TpmtKdfScheme, TpmtKeyedhashScheme,
    TpmtPublic, TpmtSymDef, TpmuKeyedhashScheme, TpmuPublicId, TpmuPublicParms, TpmuSymKeyBits,
    TpmuSymMode,
};
use tpm2_protocol::frame::{
    TpmCreateCommand, TpmCreatePrimaryCommand, TpmCreatePrimaryResponse, TpmCreateResponse,
    TpmFlushContextCommand, TpmFlushContextResponse, TpmLoadCommand, TpmLoadResponse,
    TpmPolicyOrCommand, TpmPolicyOrResponse, TpmPolicyPcrCommand, TpmPolicyPcrResponse,
    TpmStartAuthSessionCommand, TpmStartAuthSessionResponse, TpmUnsealCommand, TpmUnsealResponse,
};

use crate::command::{Link, command_name};
use crate::error::TpmError;
use crate::pcr::{self, Digest, password_session};
use crate::policy::{MAX_BRANCHES, SEALED_PCRS};

/// A sealed object as Create returns it: what Load takes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Its public area (the policy it needs is in it).
    pub public: Tpm2bPublic,
    /// Its private area, encrypted by the storage key.
    pub private: Tpm2bPrivate,
}

/// How a sealed object is unsealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy<'a> {
    /// PolicyPCR over [`SEALED_PCRS`] holding their current values.
    Pcr,
    /// PolicyPCR, then PolicyOR of these branch digests: one of them
    /// must be the PolicyPCR digest of the current values.
    PcrOr(&'a [Digest]),
}

/// Seals `secret` under the storage key, to be unsealed only in a session
/// whose policy digest is `policy`.
pub fn seal(link: &mut Link, secret: &[u8], policy: &Digest) -> Result<Sealed, TpmError> {
    let name = command_name(TpmCc::Create);
    let marshal = |e: tpm2_protocol::TpmError| TpmError::Marshal {
        command: name.clone(),
        reason: e.to_string(),
    };
    let in_sensitive = Tpm2bSensitiveCreate {
        inner: TpmsSensitiveCreate {
            user_auth: TpmBuffer::new(),
            data: TpmBuffer::try_from(secret).map_err(marshal)?,
        },
    };
    let in_public = Tpm2bPublic {
        inner: sealed_template(TpmBuffer::try_from(&policy[..]).map_err(marshal)?),
    };
    scoped(link, |link, loaded| {
        let primary = primary(link, loaded)?;
        let command = TpmCreateCommand {
            handles: [primary],
            in_sensitive,
            in_public,
            outside_info: TpmBuffer::new(),
            creation_pcr: Default::default(),
        };
        let response: TpmCreateResponse = link.run(&command, &[password_session()])?;
        Ok(Sealed {
            public: response.out_public,
            private: response.out_private,
        })
    })
}

/// The secret `sealed` holds, if the current PCRs satisfy `policy`.
pub fn unseal(link: &mut Link, sealed: &Sealed, policy: Policy) -> Result<Vec<u8>, TpmError> {
    let branches = match policy {
        Policy::Pcr => None,
        Policy::PcrOr(branches) => Some(digest_list(branches)?),
    };
    scoped(link, |link, loaded| {
        let primary = primary(link, loaded)?;
        let command = TpmLoadCommand {
            handles: [primary],
            in_private: sealed.private,
            in_public: sealed.public.clone(),
        };
        let response: TpmLoadResponse = link.run(&command, &[password_session()])?;
        let object = response.handles[0];
        loaded.push(object);

        let session = policy_session(link, loaded)?;
        let selection = pcr::selection(&SEALED_PCRS).map_err(|reason| TpmError::Marshal {
            command: command_name(TpmCc::PolicyPcr),
            reason,
        })?;
        // An empty digest: the TPM takes the PCRs' current values, and a
        // mismatch shows at Unseal (or at PolicyOR) rather than here.
        let command = TpmPolicyPcrCommand {
            handles: [session],
            pcr_digest: TpmBuffer::new(),
            pcrs: selection,
        };
        let _: TpmPolicyPcrResponse = link.run(&command, &[])?;
        if let Some(branches) = branches {
            let command = TpmPolicyOrCommand {
                handles: [session],
                p_hash_list: branches,
            };
            let _: TpmPolicyOrResponse = link.run(&command, &[])?;
        }
        let auth = TpmsAuthCommand {
            session_handle: session,
            nonce: TpmBuffer::new(),
            // Kept open so that it is flushed like every other handle,
            // whether Unseal succeeds or not.
            session_attributes: TpmaSession::CONTINUE_SESSION,
            hmac: TpmBuffer::new(),
        };
        let command = TpmUnsealCommand { handles: [object] };
        let response: TpmUnsealResponse = link.run(&command, &[auth])?;
        Ok(response.out_data.to_vec())
    })
}

/// Runs `body` with a list of the handles it loads, then flushes them
/// all, last first, whatever came of it. A failure of the body wins over
/// one of the flushes; a failed channel skips them (the channel is gone,
/// and a resource manager flushes what it held).
fn scoped<T>(
    link: &mut Link,
    body: impl FnOnce(&mut Link, &mut Vec<TpmHandle>) -> Result<T, TpmError>,
) -> Result<T, TpmError> {
    let mut loaded = Vec::new();
    let result = body(link, &mut loaded);
    if let Err(TpmError::Device { .. }) = result {
        return result;
    }
    let mut flushed = Ok(());
    for handle in loaded.into_iter().rev() {
        let command = TpmFlushContextCommand {
            handles: [],
            flush_handle: handle,
        };
        if let Err(e) = link.run::<_, TpmFlushContextResponse>(&command, &[])
            && flushed.is_ok()
        {
            flushed = Err(e);
        }
    }
    let value = result?;
    flushed.map(|()| value)
}

/// CreatePrimary of the storage key: the same key each time, since the
/// template and the owner hierarchy's seed are the same.
fn primary(link: &mut Link, loaded: &mut Vec<TpmHandle>) -> Result<TpmHandle, TpmError> {
    let command = TpmCreatePrimaryCommand {
        handles: [TpmHandle::new(TpmRh::Owner.value())],
        in_sensitive: Default::default(),
        in_public: Tpm2bPublic {
            inner: storage_template(),
        },
        outside_info: TpmBuffer::new(),
        creation_pcr: Default::default(),
    };
    let response: TpmCreatePrimaryResponse = link.run(&command, &[password_session()])?;
    let handle = response.handles[0];
    loaded.push(handle);
    Ok(handle)
}

/// StartAuthSession of an unsalted, unbound policy session.
fn policy_session(link: &mut Link, loaded: &mut Vec<TpmHandle>) -> Result<TpmHandle, TpmError> {
    let null = TpmHandle::new(TpmRh::Null.value());
    // The caller's nonce feeds HMACs and parameter encryption, and this
    // session does neither; the TPM wants at least 16 bytes of it.
    let nonce_caller = TpmBuffer::try_from(&[0x5a; 32][..]).map_err(|e| TpmError::Marshal {
        command: command_name(TpmCc::StartAuthSession),
        reason: e.to_string(),
    })?;
    let command = TpmStartAuthSessionCommand {
        handles: [null, null],
        nonce_caller,
        encrypted_salt: TpmBuffer::new(),
        session_type: TpmSe::Policy,
        symmetric: TpmtSymDef {
            algorithm: TpmAlgId::Null,
            key_bits: TpmuSymKeyBits::Null,
            mode: TpmuSymMode::Null,
        },
        auth_hash: TpmAlgId::Sha256,
    };
    let response: TpmStartAuthSessionResponse = link.run(&command, &[])?;
    let handle = response.handles[0];
    loaded.push(handle);
    Ok(handle)
}

/// The storage key: ECC P-256, restricted to decrypting (a parent), its
/// children's sensitive parts encrypted with AES-128 in CFB mode; the TCG's
/// storage root key template with an empty unique field.
fn storage_template() -> TpmtPublic {
    TpmtPublic {
        object_type: TpmAlgId::Ecc,
        name_alg: TpmAlgId::Sha256,
        object_attributes: TpmaObject::FIXED_TPM
            | TpmaObject::FIXED_PARENT
            | TpmaObject::SENSITIVE_DATA_ORIGIN
            | TpmaObject::USER_WITH_AUTH
            | TpmaObject::NO_DA
            | TpmaObject::RESTRICTED
            | TpmaObject::DECRYPT,
        auth_policy: TpmBuffer::new(),
        parameters: TpmuPublicParms::Ecc(TpmsEccParms {
            symmetric: TpmtSymDef {
                algorithm: TpmAlgId::Aes,
                key_bits: TpmuSymKeyBits::Aes(TpmUint16::new(128)),
                mode: TpmuSymMode::Aes(TpmAlgId::Cfb),
            },
            scheme: TpmtEccScheme::default(),
            curve_id: TpmEccCurve::NistP256,
            kdf: TpmtKdfScheme::default(),
        }),
        unique: TpmuPublicId::Ecc(TpmsEccPoint::default()),
    }
}

/// A sealed data object: no password (USER_WITH_AUTH clear), so only a
/// session satisfying `policy` unseals it; bound to this TPM and parent.
fn sealed_template(policy: tpm2_protocol::data::Tpm2bDigest) -> TpmtPublic {
    TpmtPublic {
        object_type: TpmAlgId::KeyedHash,
        name_alg: TpmAlgId::Sha256,
        object_attributes: TpmaObject::FIXED_TPM | TpmaObject::FIXED_PARENT | TpmaObject::NO_DA,
        auth_policy: policy,
        parameters: TpmuPublicParms::KeyedHash(TpmsKeyedhashParms {
            scheme: TpmtKeyedhashScheme {
                scheme: TpmAlgId::Null,
                details: TpmuKeyedhashScheme::Null,
            },
        }),
        unique: TpmuPublicId::KeyedHash(TpmBuffer::new()),
    }
}

fn digest_list(branches: &[Digest]) -> Result<TpmlDigest, TpmError> {
    let marshal = |reason: String| TpmError::Marshal {
        command: command_name(TpmCc::PolicyOr),
        reason,
    };
    // PolicyOR takes two branches at least.
    if !(2..=MAX_BRANCHES).contains(&branches.len()) {
        return Err(marshal(format!(
            "{} branches, not 2 to {MAX_BRANCHES}",
            branches.len()
        )));
    }
    let mut list = TpmlDigest::new();
    for branch in branches {
        let digest = TpmBuffer::try_from(&branch[..]).map_err(|e| marshal(e.to_string()))?;
        list.try_push(digest).map_err(|e| marshal(e.to_string()))?;
    }
    Ok(list)
}
