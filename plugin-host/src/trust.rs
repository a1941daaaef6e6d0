//! Package signatures: ed25519 over the manifest and the component.
//!
//! The signed message is a domain tag followed by the SHA-256 of
//! `plugin.toml` and of `<name>.wasm`, so neither file can be swapped for
//! another signed one. The signature file is text:
//!
//! ```text
//! osb-plugin-signature v1
//! key ed25519:<64 hex digits>
//! sig <128 hex digits>
//! ```

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"osb-plugin-signature-v1\0";
const HEADER: &str = "osb-plugin-signature v1";

/// A trusted signer, written `ed25519:<hex>` in the device config.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// A signing key, kept by the vendor; its file holds 64 hex digits.
pub struct SecretKey(SigningKey);

/// SHA-256 digests of a package's two signed files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PackageDigest {
    /// SHA-256 of the bytes of `plugin.toml`.
    pub manifest: [u8; 32],
    /// SHA-256 of the component; it also names the compile cache entry.
    pub component: [u8; 32],
}

/// Why a signature file does not vouch for a package.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    /// The file does not follow the format in the module docs; the text
    /// says what is wrong.
    #[error("signature file is malformed: {0}")]
    Malformed(String),
    /// A well-formed signature by a key the device does not trust (checked
    /// before the signature itself); the key as `ed25519:<hex>`.
    #[error("signed by {0}, which is not a trusted key")]
    UntrustedKey(String),
    /// A trusted key, but the signature does not verify against the package
    /// digest: a file changed after signing.
    #[error(
        "signature does not match the manifest and component (tampered or re-built after signing)"
    )]
    BadSignature,
}

impl PackageDigest {
    /// The digest of a manifest's bytes and a component's.
    pub fn of(manifest: &[u8], component: &[u8]) -> PackageDigest {
        PackageDigest {
            manifest: Sha256::digest(manifest).into(),
            component: Sha256::digest(component).into(),
        }
    }

    fn message(&self) -> Vec<u8> {
        [DOMAIN, &self.manifest, &self.component].concat()
    }

    /// The component's SHA-256 as 64 lowercase hex digits.
    pub fn component_hex(&self) -> String {
        hex::encode(self.component)
    }
}

impl SecretKey {
    /// A new key from the OS's random source; fails only when that source
    /// does.
    pub fn generate() -> Result<SecretKey, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// The key that verifies this one's signatures: what devices list as
    /// trusted.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The secret itself, as the key file holds it (64 hex digits, read
    /// back by `FromStr`); write it nowhere else.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The text of a `.sig` file for a package with this digest.
    pub fn sign(&self, digest: &PackageDigest) -> String {
        let sig = self.0.sign(&digest.message());
        format!(
            "{HEADER}\nkey {}\nsig {}\n",
            self.public(),
            hex::encode(sig.to_bytes())
        )
    }
}

impl FromStr for SecretKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bytes: [u8; 32] = hex::decode(s.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("a secret key is 64 hex digits")?;
        Ok(SecretKey(SigningKey::from_bytes(&bytes)))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for PublicKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let hex_part = s
            .trim()
            .strip_prefix("ed25519:")
            .ok_or_else(|| format!("'{s}' must start with 'ed25519:'"))?;
        let bytes: [u8; 32] = hex::decode(hex_part)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("'{s}' must hold 64 hex digits after 'ed25519:'"))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| format!("'{s}' is not a valid ed25519 public key"))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a `.sig` file's text against the package digest and the trusted
/// keys; returns the key that signed it.
pub fn verify(
    sig_text: &str,
    digest: &PackageDigest,
    trusted: &[PublicKey],
) -> Result<PublicKey, TrustError> {
    let mut lines = sig_text.lines();
    if lines.next() != Some(HEADER) {
        return Err(TrustError::Malformed(format!(
            "first line must be '{HEADER}'"
        )));
    }
    let key: PublicKey = field(lines.next(), "key")?
        .parse()
        .map_err(TrustError::Malformed)?;
    let sig_bytes: [u8; 64] = hex::decode(field(lines.next(), "sig")?)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| TrustError::Malformed("'sig' must be 128 hex digits".into()))?;
    if !trusted.contains(&key) {
        return Err(TrustError::UntrustedKey(key.to_string()));
    }
    key.0
        .verify(&digest.message(), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| TrustError::BadSignature)?;
    Ok(key)
}

fn field<'a>(line: Option<&'a str>, name: &str) -> Result<&'a str, TrustError> {
    line.and_then(|l| l.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix(' '))
        .map(str::trim)
        .ok_or_else(|| TrustError::Malformed(format!("missing '{name}' line")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_every_tamper_is_caught() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let digest = PackageDigest::of(b"name = \"a\"", b"\0asm");
        let sig = key.sign(&digest);
        let trusted = [key.public()];

        assert_eq!(verify(&sig, &digest, &trusted), Ok(key.public()));
        // Another manifest or component.
        let changed = PackageDigest::of(b"name = \"b\"", b"\0asm");
        assert_eq!(
            verify(&sig, &changed, &trusted),
            Err(TrustError::BadSignature)
        );
        let changed = PackageDigest::of(b"name = \"a\"", b"\0asm!");
        assert_eq!(
            verify(&sig, &changed, &trusted),
            Err(TrustError::BadSignature)
        );
        // A key the device does not trust.
        assert!(matches!(
            verify(&other.sign(&digest), &digest, &trusted),
            Err(TrustError::UntrustedKey(_))
        ));
        // Garbage.
        for bad in [
            "",
            "hello",
            &sig[..sig.len() - 20],
            &sig.replace("sig ", "sig zz"),
        ] {
            assert!(
                matches!(
                    verify(bad, &digest, &trusted),
                    Err(TrustError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_round_trip_through_text() {
        let key = SecretKey::generate().unwrap();
        let again: SecretKey = key.to_hex().parse().unwrap();
        assert_eq!(again.public(), key.public());
        let public: PublicKey = key.public().to_string().parse().unwrap();
        assert_eq!(public, key.public());
        assert!("ed25519:00".parse::<PublicKey>().is_err());
        assert!("rsa:00".parse::<PublicKey>().is_err());
    }
}
