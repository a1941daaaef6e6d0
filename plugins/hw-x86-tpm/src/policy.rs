//! Policy digests, computed in software as a trial session would: the
//! sealed key's `authPolicy` is fixed before any session runs, and the
//! digests of an update's new boot chain cannot come from a TPM that is
//! still on the old one.
//!
//! The TPM's rules (TPM 2.0 part 3, PolicyPCR and PolicyOR), every digest
//! sha256 and every policy starting from 32 zero bytes:
//! - PolicyPCR: `H(old || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || H(PCR values in selection order))`;
//! - PolicyOR: `H(32 zero bytes || TPM_CC_PolicyOR || branch digests)`.

use sha2::{Digest as _, Sha256};

use crate::pcr::Digest;

/// The PCRs a disk key is sealed to: firmware (0), option ROMs (2),
/// their configuration (3) and Secure Boot's state (7). PCRs the boot
/// loader and kernel extend are left out, so that an OS update changes
/// only what it stages.
pub const SEALED_PCRS: [u32; 4] = [0, 2, 3, 7];

/// How many branches PolicyOR takes at most (a TPML_DIGEST of 8).
pub const MAX_BRANCHES: usize = 8;

const TPM_CC_POLICY_PCR: u32 = 0x0000_017f;
const TPM_CC_POLICY_OR: u32 = 0x0000_0171;
const TPM_ALG_SHA256: u16 = 0x000b;

/// The values of [`SEALED_PCRS`], in that order.
pub type PcrValues = [Digest; SEALED_PCRS.len()];

/// The selection of [`SEALED_PCRS`] in the sha256 bank: the bitmap of a
/// TPMS_PCR_SELECT, PCR n at bit n % 8 of byte n / 8.
pub fn selection_bitmap() -> [u8; 3] {
    let mut bitmap = [0u8; 3];
    for pcr in SEALED_PCRS {
        if let Some(byte) = bitmap.get_mut((pcr / 8) as usize) {
            *byte |= 1 << (pcr % 8);
        }
    }
    bitmap
}

/// The digest after PolicyPCR over [`SEALED_PCRS`] holding `values`,
/// from a fresh session.
pub fn pcr_policy(values: &PcrValues) -> Digest {
    let mut composite = Sha256::new();
    for value in values {
        composite.update(value);
    }
    let composite = composite.finalize();
    let mut policy = Sha256::new();
    policy.update([0u8; 32]);
    policy.update(TPM_CC_POLICY_PCR.to_be_bytes());
    // TPML_PCR_SELECTION: one selection, sha256, three bytes of bitmap.
    policy.update(1u32.to_be_bytes());
    policy.update(TPM_ALG_SHA256.to_be_bytes());
    policy.update([3u8]);
    policy.update(selection_bitmap());
    policy.update(composite);
    policy.finalize().into()
}

/// The digest after PolicyOR of `branches`: any one of them satisfies it.
pub fn or_policy(branches: &[Digest]) -> Digest {
    let mut policy = Sha256::new();
    policy.update([0u8; 32]);
    policy.update(TPM_CC_POLICY_OR.to_be_bytes());
    for branch in branches {
        policy.update(branch);
    }
    policy.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_selection_is_pcrs_0_2_3_7() {
        assert_eq!(selection_bitmap(), [0b1000_1101, 0, 0]);
    }

    #[test]
    fn a_pcr_policy_of_zeroed_pcrs_is_what_tpm2_createpolicy_computes() {
        // `tpm2_createpolicy --policy-pcr -l sha256:0,2,3,7 -f zeros.bin`
        // with four zeroed PCRs (a trial session on a TPM).
        assert_eq!(
            hex(&pcr_policy(&[[0; 32]; 4])),
            "e80f83a509887e187778fbffe413c1970edfc29841443b011c6de067f2e5ac0c"
        );
    }

    #[test]
    fn each_pcr_value_changes_the_policy() {
        let base = pcr_policy(&[[0; 32]; 4]);
        for i in 0..4 {
            let mut values = [[0u8; 32]; 4];
            values[i][31] = 1;
            assert_ne!(pcr_policy(&values), base, "PCR {}", SEALED_PCRS[i]);
        }
    }

    #[test]
    fn an_or_policy_depends_on_its_branches_and_their_order() {
        let a = pcr_policy(&[[0; 32]; 4]);
        let b = pcr_policy(&[[1; 32]; 4]);
        assert_ne!(or_policy(&[a, b]), or_policy(&[b, a]));
        assert_ne!(or_policy(&[a, b]), or_policy(&[a, a]));
        assert_ne!(or_policy(&[a, b]), a);
    }
}
