//! Deterministic key pairs and the signature algorithms the fixtures sign with.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5912, rfc8410};
use der::Decode;
use der::asn1::{AnyRef, BitString};
use der::pem::LineEnding;
use p256::elliptic_curve::Generate;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::Signer;
use signature::hazmat::PrehashSigner;
use spki::{AlgorithmIdentifierOwned, EncodePublicKey, SubjectPublicKeyInfoOwned};

/// `ecdsa-with-SHA1` (RFC 3279 section 2.2.3); const-oid's database has no name for it.
const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");

/// The kind of key a certificate subject (or signer) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    /// NIST P-256 (secp256r1) for ECDSA.
    P256,
    /// NIST P-384 (secp384r1) for ECDSA.
    P384,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 4096-bit modulus (slow to generate: a few per process at most).
    Rsa4096,
    /// RSA with a 1024-bit modulus: deliberately weak, for `weak-key` fixtures.
    Rsa1024,
    /// Ed25519 (RFC 8410).
    Ed25519,
}

impl KeyKind {
    /// The signature algorithm a CA holding this kind of key signs with by default.
    pub fn default_sig_alg(self) -> SigAlg {
        match self {
            KeyKind::P256 => SigAlg::EcdsaSha256,
            KeyKind::P384 => SigAlg::EcdsaSha384,
            KeyKind::Rsa2048 | KeyKind::Rsa4096 | KeyKind::Rsa1024 => SigAlg::RsaPkcs1Sha256,
            KeyKind::Ed25519 => SigAlg::Ed25519,
        }
    }

    /// A short stable name (`p256`, `rsa4096`, ...), used in labels and manifests.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::P256 => "p256",
            KeyKind::P384 => "p384",
            KeyKind::Rsa2048 => "rsa2048",
            KeyKind::Rsa4096 => "rsa4096",
            KeyKind::Rsa1024 => "rsa1024",
            KeyKind::Ed25519 => "ed25519",
        }
    }

    fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyKind::Rsa1024 => Some(1024),
            KeyKind::Rsa2048 => Some(2048),
            KeyKind::Rsa4096 => Some(4096),
            _ => None,
        }
    }
}

/// A signature algorithm: the hash and padding a signer uses and the `AlgorithmIdentifier`
/// written into the certificate or CRL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigAlg {
    /// `ecdsa-with-SHA256` (any EC key).
    EcdsaSha256,
    /// `ecdsa-with-SHA384` (any EC key).
    EcdsaSha384,
    /// `ecdsa-with-SHA1`: weak, for `weak-signature-algorithm` fixtures.
    EcdsaSha1,
    /// `sha256WithRSAEncryption` (PKCS#1 v1.5).
    RsaPkcs1Sha256,
    /// `sha384WithRSAEncryption` (PKCS#1 v1.5).
    RsaPkcs1Sha384,
    /// `sha512WithRSAEncryption` (PKCS#1 v1.5).
    RsaPkcs1Sha512,
    /// `sha1WithRSAEncryption`: weak, for `weak-signature-algorithm` fixtures.
    RsaPkcs1Sha1,
    /// `id-RSASSA-PSS` with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    RsaPssSha256,
    /// `id-Ed25519` (pure Ed25519, no prehash).
    Ed25519,
}

impl SigAlg {
    /// Whether a key of `kind` can produce this signature.
    pub fn fits(self, kind: KeyKind) -> bool {
        match self {
            SigAlg::EcdsaSha256 | SigAlg::EcdsaSha384 | SigAlg::EcdsaSha1 => {
                matches!(kind, KeyKind::P256 | KeyKind::P384)
            }
            SigAlg::RsaPkcs1Sha256
            | SigAlg::RsaPkcs1Sha384
            | SigAlg::RsaPkcs1Sha512
            | SigAlg::RsaPkcs1Sha1
            | SigAlg::RsaPssSha256 => kind.rsa_bits().is_some(),
            SigAlg::Ed25519 => kind == KeyKind::Ed25519,
        }
    }

    /// The `AlgorithmIdentifier` for this algorithm, with the parameters RFC 5754 / RFC 4055 /
    /// RFC 8410 require (absent for ECDSA and Ed25519, NULL for PKCS#1 v1.5, full PSS params).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        let absent = |oid| AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        };
        let null = |oid| AlgorithmIdentifierOwned {
            oid,
            parameters: Some(AnyRef::NULL.into()),
        };
        match self {
            SigAlg::EcdsaSha256 => absent(rfc5912::ECDSA_WITH_SHA_256),
            SigAlg::EcdsaSha384 => absent(rfc5912::ECDSA_WITH_SHA_384),
            SigAlg::EcdsaSha1 => absent(ECDSA_WITH_SHA_1),
            SigAlg::RsaPkcs1Sha256 => null(rfc5912::SHA_256_WITH_RSA_ENCRYPTION),
            SigAlg::RsaPkcs1Sha384 => null(rfc5912::SHA_384_WITH_RSA_ENCRYPTION),
            SigAlg::RsaPkcs1Sha512 => null(rfc5912::SHA_512_WITH_RSA_ENCRYPTION),
            SigAlg::RsaPkcs1Sha1 => null(rfc5912::SHA_1_WITH_RSA_ENCRYPTION),
            SigAlg::RsaPssSha256 => rsa::pss::get_default_pss_signature_algo_id::<Sha256>()
                .expect("RSASSA-PSS parameters for SHA-256 always encode"),
            SigAlg::Ed25519 => absent(rfc8410::ID_ED_25519),
        }
    }

    /// A short stable name (`ecdsa-sha256`, `rsa-pkcs1-sha1`, ...), used in manifests.
    pub fn name(self) -> &'static str {
        match self {
            SigAlg::EcdsaSha256 => "ecdsa-sha256",
            SigAlg::EcdsaSha384 => "ecdsa-sha384",
            SigAlg::EcdsaSha1 => "ecdsa-sha1",
            SigAlg::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            SigAlg::RsaPkcs1Sha384 => "rsa-pkcs1-sha384",
            SigAlg::RsaPkcs1Sha512 => "rsa-pkcs1-sha512",
            SigAlg::RsaPkcs1Sha1 => "rsa-pkcs1-sha1",
            SigAlg::RsaPssSha256 => "rsa-pss-sha256",
            SigAlg::Ed25519 => "ed25519",
        }
    }
}

enum Secret {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(rsa::RsaPrivateKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A private key and its public half. Cheap to clone (shared behind an `Arc`).
///
/// Keys are derived from `(seed, kind, label)`: the same triple always gives the same key, in
/// any order and in any thread, so fixtures are reproducible. Generated keys are cached for the
/// life of the process, which keeps RSA-4096 generation to once per label.
#[derive(Clone)]
pub struct KeyPair {
    kind: KeyKind,
    label: Arc<str>,
    secret: Arc<Secret>,
    spki_der: Arc<[u8]>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("kind", &self.kind)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl PartialEq for KeyPair {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for KeyPair {}

type CacheKey = (u64, KeyKind, String);

/// One slot per key so that two threads wanting different RSA keys generate them in parallel,
/// and two threads wanting the same one generate it once.
fn cache_slot(key: CacheKey) -> Arc<OnceLock<KeyPair>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Arc<OnceLock<KeyPair>>>>> = OnceLock::new();
    let mut map = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(key).or_default().clone()
}

/// A ChaCha20 RNG seeded from a domain-separated SHA-256 of the inputs.
pub(crate) fn derived_rng(domain: &str, parts: &[&[u8]]) -> ChaCha20Rng {
    let mut h = Sha256::new();
    h.update(b"chainproof-testkit/");
    h.update(domain.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    ChaCha20Rng::from_seed(h.finalize().into())
}

impl KeyPair {
    /// The key for `(seed, kind, label)`, generated on first use and cached afterwards.
    pub fn generate(kind: KeyKind, seed: u64, label: &str) -> KeyPair {
        let slot = cache_slot((seed, kind, label.to_owned()));
        slot.get_or_init(|| Self::generate_uncached(kind, seed, label))
            .clone()
    }

    fn generate_uncached(kind: KeyKind, seed: u64, label: &str) -> KeyPair {
        let mut rng = derived_rng(
            "key",
            &[
                &seed.to_be_bytes(),
                kind.name().as_bytes(),
                label.as_bytes(),
            ],
        );
        let (secret, spki) = match kind {
            KeyKind::P256 => {
                let sk = p256::ecdsa::SigningKey::generate_from_rng(&mut rng);
                let spki = sk.verifying_key().to_public_key_der();
                (Secret::P256(sk), spki)
            }
            KeyKind::P384 => {
                let sk = p384::ecdsa::SigningKey::generate_from_rng(&mut rng);
                let spki = sk.verifying_key().to_public_key_der();
                (Secret::P384(sk), spki)
            }
            KeyKind::Rsa1024 | KeyKind::Rsa2048 | KeyKind::Rsa4096 => {
                let bits = kind.rsa_bits().expect("RSA kinds have a size");
                let sk = rsa::RsaPrivateKey::new(&mut rng, bits).expect("RSA key generation");
                let spki = sk.to_public_key().to_public_key_der();
                (Secret::Rsa(sk), spki)
            }
            KeyKind::Ed25519 => {
                let mut bytes = [0u8; 32];
                rand_core::Rng::fill_bytes(&mut rng, &mut bytes);
                let sk = ed25519_dalek::SigningKey::from_bytes(&bytes);
                let spki = sk.verifying_key().to_public_key_der();
                (Secret::Ed25519(sk), spki)
            }
        };
        let spki = spki.expect("public keys always encode as SubjectPublicKeyInfo");
        KeyPair {
            kind,
            label: label.into(),
            secret: Arc::new(secret),
            spki_der: spki.as_bytes().into(),
        }
    }

    /// The kind of this key.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The label it was derived from (unique within a fixture set).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// DER of the `SubjectPublicKeyInfo`.
    pub fn public_spki_der(&self) -> Vec<u8> {
        self.spki_der.to_vec()
    }

    /// The `SubjectPublicKeyInfo` as a typed value.
    pub fn spki(&self) -> SubjectPublicKeyInfoOwned {
        SubjectPublicKeyInfoOwned::from_der(&self.spki_der).expect("our own SPKI decodes")
    }

    /// RFC 5280 section 4.2.1.2 method 1 key identifier: SHA-1 of the subjectPublicKey bits.
    pub fn key_identifier(&self) -> Vec<u8> {
        let spki = self.spki();
        Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
    }

    /// The private key as PKCS#8 `PrivateKeyInfo` DER.
    pub fn private_pkcs8_der(&self) -> Vec<u8> {
        use p256::pkcs8::EncodePrivateKey;
        let doc = match &*self.secret {
            Secret::P256(k) => k.to_pkcs8_der(),
            Secret::P384(k) => k.to_pkcs8_der(),
            Secret::Rsa(k) => k.to_pkcs8_der(),
            Secret::Ed25519(k) => k.to_pkcs8_der(),
        };
        doc.expect("private keys always encode as PKCS#8")
            .as_bytes()
            .to_vec()
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn private_pkcs8_pem(&self) -> String {
        der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &self.private_pkcs8_der())
            .expect("PEM encoding of a DER document")
    }

    /// For EC keys, the SEC1 PEM form (`-----BEGIN EC PRIVATE KEY-----`); `None` otherwise.
    pub fn private_sec1_pem(&self) -> Option<String> {
        let pem = match &*self.secret {
            Secret::P256(k) => p256::SecretKey::from(k).to_sec1_pem(LineEnding::LF),
            Secret::P384(k) => p384::SecretKey::from(k).to_sec1_pem(LineEnding::LF),
            _ => return None,
        };
        Some(pem.expect("SEC1 encoding of an EC key").to_string())
    }

    /// Sign `msg` with `alg`. ECDSA signatures come back DER-encoded (`Ecdsa-Sig-Value`), RSA
    /// and Ed25519 signatures as raw bytes: exactly what goes into the signature BIT STRING.
    ///
    /// ECDSA is deterministic (RFC 6979); RSA-PSS takes its salt from an RNG seeded by the key
    /// label and the message, so every signature is reproducible.
    ///
    /// # Panics
    /// If `alg` does not fit this key's kind (see [`SigAlg::fits`]).
    pub fn sign(&self, msg: &[u8], alg: SigAlg) -> Vec<u8> {
        assert!(
            alg.fits(self.kind),
            "{} cannot sign with a {} key",
            alg.name(),
            self.kind.name()
        );
        match (&*self.secret, alg) {
            (Secret::P256(k), _) => {
                let sig: p256::ecdsa::DerSignature = k
                    .sign_prehash(&ecdsa_prehash(msg, alg))
                    .expect("ECDSA P-256 signing of a prehash");
                sig.as_bytes().to_vec()
            }
            (Secret::P384(k), _) => {
                let sig: p384::ecdsa::DerSignature = k
                    .sign_prehash(&ecdsa_prehash(msg, alg))
                    .expect("ECDSA P-384 signing of a prehash");
                sig.as_bytes().to_vec()
            }
            (Secret::Rsa(k), SigAlg::RsaPssSha256) => {
                let mut rng = derived_rng("pss-salt", &[self.label.as_bytes(), msg]);
                k.sign_with_rng(&mut rng, rsa::Pss::<Sha256>::new(), &Sha256::digest(msg))
                    .expect("RSA-PSS signing")
            }
            (Secret::Rsa(k), _) => {
                let (scheme, digest) = match alg {
                    SigAlg::RsaPkcs1Sha1 => {
                        (rsa::Pkcs1v15Sign::new::<Sha1>(), Sha1::digest(msg).to_vec())
                    }
                    SigAlg::RsaPkcs1Sha384 => (
                        rsa::Pkcs1v15Sign::new::<Sha384>(),
                        Sha384::digest(msg).to_vec(),
                    ),
                    SigAlg::RsaPkcs1Sha512 => (
                        rsa::Pkcs1v15Sign::new::<Sha512>(),
                        Sha512::digest(msg).to_vec(),
                    ),
                    _ => (
                        rsa::Pkcs1v15Sign::new::<Sha256>(),
                        Sha256::digest(msg).to_vec(),
                    ),
                };
                k.sign(scheme, &digest).expect("RSA PKCS#1 v1.5 signing")
            }
            (Secret::Ed25519(k), _) => k.sign(msg).to_bytes().to_vec(),
        }
    }

    /// The signature as the BIT STRING that certificates and CRLs carry.
    pub(crate) fn sign_bits(&self, msg: &[u8], alg: SigAlg, corrupt: bool) -> BitString {
        let mut sig = self.sign(msg, alg);
        if corrupt {
            // The last byte sits inside `s` (ECDSA) or the RSA/Ed25519 value, so the DER stays
            // well-formed and only the cryptographic check fails.
            if let Some(last) = sig.last_mut() {
                *last ^= 0x01;
            }
        }
        BitString::from_bytes(&sig).expect("signature fits a BIT STRING")
    }
}

fn ecdsa_prehash(msg: &[u8], alg: SigAlg) -> Vec<u8> {
    match alg {
        SigAlg::EcdsaSha1 => Sha1::digest(msg).to_vec(),
        SigAlg::EcdsaSha384 => Sha384::digest(msg).to_vec(),
        _ => Sha256::digest(msg).to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache would hide non-determinism: derive the same keys twice without it.
    #[test]
    fn key_derivation_is_deterministic_past_the_cache() {
        for kind in [
            KeyKind::P256,
            KeyKind::P384,
            KeyKind::Ed25519,
            KeyKind::Rsa1024,
        ] {
            let a = KeyPair::generate_uncached(kind, 7, "same");
            let b = KeyPair::generate_uncached(kind, 7, "same");
            assert_eq!(a.public_spki_der(), b.public_spki_der(), "{kind:?}");
            assert_eq!(a.private_pkcs8_der(), b.private_pkcs8_der(), "{kind:?}");
            let c = KeyPair::generate_uncached(kind, 7, "other");
            assert_ne!(a.public_spki_der(), c.public_spki_der(), "{kind:?}");
        }
    }

    #[test]
    fn signatures_are_deterministic() {
        let ec = KeyPair::generate(KeyKind::P256, 7, "sig");
        assert_eq!(
            ec.sign(b"m", SigAlg::EcdsaSha256),
            ec.sign(b"m", SigAlg::EcdsaSha256)
        );
        let rsa = KeyPair::generate(KeyKind::Rsa1024, 7, "sig");
        assert_eq!(
            rsa.sign(b"m", SigAlg::RsaPssSha256),
            rsa.sign(b"m", SigAlg::RsaPssSha256)
        );
    }

    #[test]
    #[should_panic(expected = "cannot sign")]
    fn mismatched_algorithm_panics() {
        KeyPair::generate(KeyKind::P256, 7, "sig").sign(b"m", SigAlg::RsaPkcs1Sha256);
    }
}
