//! Knowing what runs: every plugin file is identified by its SHA-256, and
//! may be required to match a pinned digest (`--plugin-sha256`) or to carry
//! a signature by a trusted key (`--trusted-key`).
//!
//! The checks run on the bytes read once from disk, before anything else
//! looks at them: the bytes checked are the bytes compiled, and content that
//! fails is never handed to the compiler. At start a failure stops the
//! server; at a swap it is logged and the serving generation stays. The
//! compile cache holds machine code by digest, so it is trusted as the
//! binary is: it lives in a directory only the server's user can open.
//!
//! A signature is ed25519 over the file's 32-byte SHA-256 digest, kept next
//! to the plugin as `X.wasm.sig`: 128 hex digits (what `yell-host sign`
//! writes) or the raw 64 bytes (what `openssl pkeyutl -sign -rawin` writes
//! for the digest). Keys are the PEM files openssl uses: a PKCS#8 private
//! key to sign, its SubjectPublicKeyInfo public key to trust.
//!
//! Owns: [`TrustPolicy`], [`TrustedKey`], [`SignerKey`], [`Provenance`]. Uses: the digest
//! and the signature's place.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey, SIGNATURE_LENGTH};

use crate::cache::Digest256;
use crate::source::DetachedSignature;

/// A SHA-256 digest as people read and write it: 64 lowercase hex digits.
pub fn digest_hex(digest: &Digest256) -> String {
    hex::encode(digest)
}

/// Parses 64 hex digits (either case) into a digest.
pub fn parse_digest(raw: &str) -> Result<Digest256> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(raw.trim(), &mut digest).with_context(|| {
        format!("expected a SHA-256 digest (64 hex digits, as `sha256sum` prints), got {raw:?}")
    })?;
    Ok(digest)
}

/// A public key whose signatures are trusted, with a short name for logs.
#[derive(Clone)]
pub struct TrustedKey {
    key: VerifyingKey,
    /// The first 8 bytes of the key's SHA-256, in hex: what logs call it.
    id: String,
}

impl TrustedKey {
    /// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`), as written by
    /// `yell-host keygen` (`K.pub`) or `openssl pkey -pubout`.
    pub fn read(path: &Path) -> Result<TrustedKey> {
        let shown = path.display();
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("trusted key {shown}: cannot read it"))?;
        if pem.contains("PRIVATE KEY") {
            bail!(
                "trusted key {shown}: is a private key; give its public key (`yell-host keygen` writes it next to the private key, as .pub)"
            );
        }
        let key = VerifyingKey::from_public_key_pem(&pem).map_err(|error| {
            anyhow::anyhow!(
                "trusted key {shown}: is not an ed25519 public key in PEM (-----BEGIN PUBLIC KEY-----): {error}"
            )
        })?;
        Ok(TrustedKey::new(key))
    }

    /// Trusts `key`.
    pub fn new(key: VerifyingKey) -> TrustedKey {
        let fingerprint = crate::cache::digest(key.as_bytes());
        TrustedKey {
            key,
            id: hex::encode(&fingerprint[..8]),
        }
    }

    /// The short name logs give the key.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedKey({})", self.id)
    }
}

/// What a plugin file must prove before it is loaded.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// When not empty, a plugin loads only with a signature by one of them.
    pub trusted_keys: Vec<TrustedKey>,
}

/// How a loaded plugin's content was vouched for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provenance {
    /// The digest matched `--plugin-sha256`.
    pub pinned: bool,
    /// The id of the trusted key whose signature verified, if one was asked for.
    pub signed_by: Option<String>,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.pinned, &self.signed_by) {
            (false, None) => write!(f, "not pinned, not signed"),
            (true, None) => write!(f, "matches its pin"),
            (false, Some(key)) => write!(f, "signed by key {key}"),
            (true, Some(key)) => write!(f, "matches its pin, signed by key {key}"),
        }
    }
}

impl TrustPolicy {
    /// Checks the plugin `origin` names, whose content has `digest` and
    /// whose signature is at `signature`, against its pin (if any) and the
    /// trusted keys (if any). The error says what is wrong and what would
    /// make it right.
    pub fn check(
        &self,
        origin: &str,
        signature: &DetachedSignature,
        digest: &Digest256,
        pin: Option<&Digest256>,
    ) -> Result<Provenance> {
        let mut provenance = Provenance::default();
        if let Some(pin) = pin {
            if pin != digest {
                bail!(
                    "content refused: its sha256 is {}, but --plugin-sha256 pins {}",
                    digest_hex(digest),
                    digest_hex(pin)
                );
            }
            provenance.pinned = true;
        }
        if !self.trusted_keys.is_empty() {
            let key = self.verify_signature(origin, signature, digest)?;
            provenance.signed_by = Some(key.id.clone());
        }
        Ok(provenance)
    }

    fn verify_signature(
        &self,
        origin: &str,
        signature: &DetachedSignature,
        digest: &Digest256,
    ) -> Result<&TrustedKey> {
        let (raw, sig_shown) = match signature {
            DetachedSignature::File(sig_path) => {
                let sig_shown = sig_path.display().to_string();
                match std::fs::read(sig_path) {
                    Ok(raw) => (raw, sig_shown),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
                        "content refused: not signed (--trusted-key is set and there is no {sig_shown}; `yell-host sign --key KEY {origin}` makes one)"
                    ),
                    Err(error) => {
                        bail!("content refused: cannot read its signature {sig_shown}: {error}")
                    }
                }
            }
            DetachedSignature::Carried { name, bytes } => match bytes {
                Some(raw) => (raw.clone(), name.clone()),
                None => bail!(
                    "content refused: not signed (--trusted-key is set and {name} is missing)"
                ),
            },
        };
        let signature = parse_signature(&raw)
            .with_context(|| format!("content refused: signature {sig_shown}"))?;
        self.trusted_keys
            .iter()
            .find(|trusted| trusted.key.verify_strict(digest, &signature).is_ok())
            .with_context(|| {
                format!(
                    "content refused: signature {sig_shown} is not a signature of this content (sha256 {}) by a trusted key ({})",
                    digest_hex(digest),
                    self.trusted_keys
                        .iter()
                        .map(TrustedKey::id)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

/// Reads a signature file: the raw 64 bytes, or 128 hex digits.
fn parse_signature(raw: &[u8]) -> Result<Signature> {
    if raw.len() == SIGNATURE_LENGTH {
        let bytes: [u8; SIGNATURE_LENGTH] = raw.try_into().expect("length checked");
        return Ok(Signature::from_bytes(&bytes));
    }
    let text = std::str::from_utf8(raw)
        .ok()
        .map(str::trim)
        .context("is neither 64 raw bytes nor 128 hex digits")?;
    let mut bytes = [0u8; SIGNATURE_LENGTH];
    hex::decode_to_slice(text, &mut bytes)
        .ok()
        .context("is neither 64 raw bytes nor 128 hex digits")?;
    Ok(Signature::from_bytes(&bytes))
}

/// A private key that signs plugins.
pub struct SignerKey(SigningKey);

impl SignerKey {
    /// A new random key.
    pub fn generate() -> SignerKey {
        SignerKey(SigningKey::generate(&mut rand_core::OsRng))
    }

    /// Reads a PEM private key (`-----BEGIN PRIVATE KEY-----`), as written
    /// by `yell-host keygen` or `openssl genpkey -algorithm ed25519`.
    pub fn read(path: &Path) -> Result<SignerKey> {
        let shown = path.display();
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("signing key {shown}: cannot read it"))?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|error| {
            anyhow::anyhow!(
                "signing key {shown}: is not an ed25519 private key in PEM (-----BEGIN PRIVATE KEY-----): {error}"
            )
        })?;
        Ok(SignerKey(key))
    }

    /// The private key in PEM.
    pub fn private_pem(&self) -> Result<String> {
        Ok(self
            .0
            .to_pkcs8_pem(LineEnding::LF)
            .context("encoding the private key")?
            .to_string())
    }

    /// The public key in PEM: what `--trusted-key` takes.
    pub fn public_pem(&self) -> Result<String> {
        self.0
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .context("encoding the public key")
    }

    /// The key that verifies this key's signatures.
    pub fn trusted(&self) -> TrustedKey {
        TrustedKey::new(self.0.verifying_key())
    }

    /// The signature file's content for a plugin whose digest is `digest`.
    pub fn sign(&self, digest: &Digest256) -> String {
        format!("{}\n", hex::encode(self.0.sign(digest).to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::signature_path;
    use std::path::PathBuf;

    fn temp_plugin(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("yell-provenance-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(format!("{name}.wasm"))
    }

    #[test]
    fn digests_read_as_sha256sum_prints_them() {
        let digest = crate::cache::digest(b"abc");
        let shown = digest_hex(&digest);
        assert_eq!(
            shown,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_digest(&shown.to_uppercase()).unwrap(), digest);
        assert!(parse_digest("ba7816bf").is_err());
        assert!(parse_digest(&"z".repeat(64)).is_err());
    }

    #[test]
    fn pins_refuse_other_content() {
        let policy = TrustPolicy::default();
        let path = Path::new("x.wasm");
        let digest = crate::cache::digest(b"plugin");
        let other = crate::cache::digest(b"other");
        assert_eq!(
            policy
                .check(
                    "x.wasm",
                    &DetachedSignature::File(signature_path(Path::new(&path))),
                    &digest,
                    None
                )
                .unwrap(),
            Provenance::default()
        );
        assert!(
            policy
                .check(
                    "x.wasm",
                    &DetachedSignature::File(signature_path(Path::new(&path))),
                    &digest,
                    Some(&digest)
                )
                .unwrap()
                .pinned
        );
        let error = policy
            .check(
                "x.wasm",
                &DetachedSignature::File(signature_path(Path::new(&path))),
                &digest,
                Some(&other),
            )
            .unwrap_err();
        assert!(
            error.to_string().contains("--plugin-sha256 pins"),
            "{error}"
        );
    }

    #[test]
    fn signatures_are_checked_against_the_trusted_keys() {
        let path = temp_plugin("signed");
        let digest = crate::cache::digest(b"plugin bytes");
        let signer = SignerKey::generate();
        let stranger = SignerKey::generate();
        let policy = TrustPolicy {
            trusted_keys: vec![stranger.trusted(), signer.trusted()],
        };
        let sig = signature_path(&path);
        let _ = std::fs::remove_file(&sig);
        let missing = policy
            .check(
                "x.wasm",
                &DetachedSignature::File(signature_path(Path::new(&path))),
                &digest,
                None,
            )
            .unwrap_err();
        assert!(missing.to_string().contains("not signed"), "{missing}");

        std::fs::write(&sig, signer.sign(&digest)).unwrap();
        let provenance = policy
            .check(
                "x.wasm",
                &DetachedSignature::File(signature_path(Path::new(&path))),
                &digest,
                None,
            )
            .unwrap();
        assert_eq!(provenance.signed_by.as_deref(), Some(signer.trusted().id()));

        // The raw 64 bytes (openssl's output) verify too.
        let raw = hex::decode(signer.sign(&digest).trim()).unwrap();
        std::fs::write(&sig, &raw).unwrap();
        assert!(policy
            .check(
                "x.wasm",
                &DetachedSignature::File(signature_path(Path::new(&path))),
                &digest,
                None
            )
            .is_ok());

        // A signature of other content, by an untrusted key, or garbage.
        let other = crate::cache::digest(b"other bytes");
        std::fs::write(&sig, signer.sign(&other)).unwrap();
        let wrong = policy
            .check(
                "x.wasm",
                &DetachedSignature::File(signature_path(Path::new(&path))),
                &digest,
                None,
            )
            .unwrap_err();
        assert!(wrong.to_string().contains("is not a signature"), "{wrong}");
        let only_stranger = TrustPolicy {
            trusted_keys: vec![stranger.trusted()],
        };
        std::fs::write(&sig, signer.sign(&digest)).unwrap();
        assert!(only_stranger
            .check(
                "x.wasm",
                &DetachedSignature::File(signature_path(Path::new(&path))),
                &digest,
                None
            )
            .is_err());
        std::fs::write(&sig, "not a signature\n").unwrap();
        let garbage = policy
            .check(
                "x.wasm",
                &DetachedSignature::File(signature_path(Path::new(&path))),
                &digest,
                None,
            )
            .unwrap_err();
        assert!(
            format!("{garbage:#}").contains("128 hex digits"),
            "{garbage:#}"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn keys_round_trip_through_pem() {
        let dir = temp_plugin("keys").parent().unwrap().to_path_buf();
        let signer = SignerKey::generate();
        let (private, public) = (dir.join("k"), dir.join("k.pub"));
        std::fs::write(&private, signer.private_pem().unwrap()).unwrap();
        std::fs::write(&public, signer.public_pem().unwrap()).unwrap();
        let read = SignerKey::read(&private).unwrap();
        assert_eq!(read.trusted().id(), signer.trusted().id());
        assert_eq!(
            TrustedKey::read(&public).unwrap().id(),
            signer.trusted().id()
        );
        let error = TrustedKey::read(&private).unwrap_err();
        assert!(error.to_string().contains("is a private key"), "{error}");
        assert!(SignerKey::read(&public).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
