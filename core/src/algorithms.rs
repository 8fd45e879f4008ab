//! Public keys and signature verification, per algorithm.
//!
//! Supported: ECDSA P-256 (SHA-256/384), ECDSA P-384 (SHA-384/256), RSA PKCS#1 v1.5
//! (SHA-256/384/512, 2048 to 8192 bits), RSA-PSS (SHA-256/384/512, MGF1 with the same hash,
//! salt length equal to the hash length), Ed25519. Everything else is refused with a specific
//! error: SHA-1 and MD5 as weak, DSA and other curves as unsupported keys.

use const_oid::ObjectIdentifier as Oid;
use der::{Decode, Encode, Tagged, asn1::UintRef};
use sha2::Digest;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::ecdsa;
use crate::error::Error;
use crate::rsa_pkcs1;

/// Precomputed multiples of a CA's ECDSA key: see [`PublicKey::table`].
#[derive(Debug)]
pub enum KeyTable {
    /// A P-256 key's table.
    P256(ecdsa::KeyTable<p256::NistP256>),
    /// A P-384 key's table.
    P384(ecdsa::KeyTable<p384::NistP384>),
}

impl KeyTable {
    /// Heap bytes the table holds.
    pub fn bytes(&self) -> usize {
        match self {
            KeyTable::P256(t) => t.bytes(),
            KeyTable::P384(t) => t.bytes(),
        }
    }
}

/// Object identifiers used here (RFC 3279, 4055, 5480, 5758, 8410).
pub mod oid {
    use const_oid::ObjectIdentifier as Oid;
    /// id-ecPublicKey
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    /// prime256v1 / secp256r1
    pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    /// secp384r1
    pub const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
    /// secp521r1
    pub const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
    /// prime192v1
    pub const P192: Oid = Oid::new_unwrap("1.2.840.10045.3.1.1");
    /// secp224r1
    pub const P224: Oid = Oid::new_unwrap("1.3.132.0.33");
    /// rsaEncryption
    pub const RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    /// id-RSASSA-PSS
    pub const RSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    /// id-Ed25519
    pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    /// id-Ed448
    pub const ED448: Oid = Oid::new_unwrap("1.3.101.113");
    /// id-dsa
    pub const DSA: Oid = Oid::new_unwrap("1.2.840.10040.4.1");
    /// ecdsa-with-SHA1
    pub const ECDSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    /// ecdsa-with-SHA224
    pub const ECDSA_SHA224: Oid = Oid::new_unwrap("1.2.840.10045.4.3.1");
    /// ecdsa-with-SHA256
    pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    /// ecdsa-with-SHA384
    pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    /// ecdsa-with-SHA512
    pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    /// md2WithRSAEncryption
    pub const RSA_MD2: Oid = Oid::new_unwrap("1.2.840.113549.1.1.2");
    /// md5WithRSAEncryption
    pub const RSA_MD5: Oid = Oid::new_unwrap("1.2.840.113549.1.1.4");
    /// sha1WithRSAEncryption
    pub const RSA_SHA1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    /// sha256WithRSAEncryption
    pub const RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    /// sha384WithRSAEncryption
    pub const RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    /// sha512WithRSAEncryption
    pub const RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    /// sha224WithRSAEncryption
    pub const RSA_SHA224: Oid = Oid::new_unwrap("1.2.840.113549.1.1.14");
    /// dsa-with-sha1
    pub const DSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10040.4.3");
    /// dsa-with-sha256
    pub const DSA_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.2");
    /// id-sha256
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    /// id-sha384
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    /// id-sha512
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    /// id-sha1
    pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
    /// id-mgf1
    pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
}

/// Smallest RSA modulus accepted, in bits (NIST SP 800-131A; cloud IoT services require it).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits: bounds the cost of one verification.
pub const MAX_RSA_BITS: usize = 8192;

/// A hash function used by a signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hash {
    /// SHA-256
    Sha256,
    /// SHA-384
    Sha384,
    /// SHA-512
    Sha512,
}

impl Hash {
    fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(msg).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(msg).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(msg).to_vec(),
        }
    }

    fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    fn from_oid(oid: Oid) -> Option<Self> {
        match oid {
            oid::SHA256 => Some(Hash::Sha256),
            oid::SHA384 => Some(Hash::Sha384),
            oid::SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SHA256",
            Hash::Sha384 => "SHA384",
            Hash::Sha512 => "SHA512",
        }
    }
}

/// A supported signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// ECDSA with the given hash (curve from the key).
    Ecdsa(Hash),
    /// RSASSA-PKCS1-v1_5 with the given hash.
    RsaPkcs1(Hash),
    /// RSASSA-PSS, MGF1 with the same hash, salt length = hash length.
    RsaPss(Hash),
    /// Ed25519 (pure).
    Ed25519,
}

impl SignatureAlgorithm {
    /// Decode and check an AlgorithmIdentifier from a certificate or CRL.
    pub fn from_identifier(alg: &AlgorithmIdentifierOwned) -> Result<Self, Error> {
        let params_absent = alg.parameters.is_none();
        let params_null = alg
            .parameters
            .as_ref()
            .is_some_and(|p| p.tag() == der::Tag::Null && p.value().is_empty());
        let bad_params = |what: &str| Error::AlgorithmMismatch {
            detail: format!("{what} with unexpected parameters"),
        };
        let ecdsa = |h| {
            if params_absent {
                Ok(SignatureAlgorithm::Ecdsa(h))
            } else {
                Err(bad_params("ECDSA"))
            }
        };
        // RFC 4055: the parameters of the PKCS#1 v1.5 algorithms MUST be NULL; some encoders omit
        // them, which RFC 4055 asks verifiers to accept.
        let rsa = |h| {
            if params_absent || params_null {
                Ok(SignatureAlgorithm::RsaPkcs1(h))
            } else {
                Err(bad_params("RSA PKCS#1"))
            }
        };
        match alg.oid {
            oid::ECDSA_SHA256 => ecdsa(Hash::Sha256),
            oid::ECDSA_SHA384 => ecdsa(Hash::Sha384),
            oid::ECDSA_SHA512 => ecdsa(Hash::Sha512),
            oid::RSA_SHA256 => rsa(Hash::Sha256),
            oid::RSA_SHA384 => rsa(Hash::Sha384),
            oid::RSA_SHA512 => rsa(Hash::Sha512),
            oid::RSA_PSS => Self::pss(alg),
            oid::ED25519 if params_absent => Ok(SignatureAlgorithm::Ed25519),
            oid::ED25519 => Err(bad_params("Ed25519")),
            oid::ECDSA_SHA1 | oid::RSA_SHA1 | oid::DSA_SHA1 => {
                Err(Error::WeakSignatureAlgorithm { name: "SHA-1" })
            }
            oid::RSA_MD5 => Err(Error::WeakSignatureAlgorithm { name: "MD5" }),
            oid::RSA_MD2 => Err(Error::WeakSignatureAlgorithm { name: "MD2" }),
            oid::DSA_SHA256 => Err(Error::UnsupportedKeyType {
                detail: "DSA signatures are not supported".into(),
            }),
            other => Err(Error::UnsupportedSignatureAlgorithm {
                oid: describe_oid(other),
            }),
        }
    }

    fn pss(alg: &AlgorithmIdentifierOwned) -> Result<Self, Error> {
        let bad = |detail: &str| Error::UnsupportedSignatureAlgorithm {
            oid: format!("RSASSA-PSS ({detail})"),
        };
        let params = alg
            .parameters
            .as_ref()
            .ok_or_else(|| bad("parameters missing"))?;
        let der = params.to_der().map_err(|_| bad("parameters unreadable"))?;
        let p = rsa::pkcs1::RsaPssParams::<der::Any>::from_der(&der)
            .map_err(|_| bad("parameters malformed"))?;
        let hash = Hash::from_oid(p.hash.oid)
            .ok_or_else(|| bad("hash must be SHA-256, SHA-384 or SHA-512"))?;
        if p.mask_gen.oid != oid::MGF1
            || p.mask_gen.parameters.as_ref().map(|h| h.oid) != Some(p.hash.oid)
        {
            return Err(bad("MGF1 must use the same hash"));
        }
        if usize::from(p.salt_len) != hash.len() {
            return Err(bad("salt length must equal the hash length"));
        }
        Ok(SignatureAlgorithm::RsaPss(hash))
    }

    /// Human-readable name, e.g. `ecdsa-with-SHA256`.
    pub fn name(self) -> String {
        match self {
            SignatureAlgorithm::Ecdsa(h) => format!("ecdsa-with-{}", h.name()),
            SignatureAlgorithm::RsaPkcs1(h) => {
                format!("{}WithRSAEncryption", h.name().to_ascii_lowercase())
            }
            SignatureAlgorithm::RsaPss(h) => format!("rsassa-pss-{}", h.name()),
            SignatureAlgorithm::Ed25519 => "Ed25519".into(),
        }
    }
}

/// Name an OID for messages: the registered name when known, else dotted form.
pub fn describe_oid(oid: Oid) -> String {
    match const_oid::db::DB.by_oid(&oid) {
        Some(name) => format!("{name} ({oid})"),
        None => oid.to_string(),
    }
}

/// A decoded, supported public key. Decoded once per certificate and reused for every
/// signature it verifies.
#[derive(Clone, Debug)]
pub enum PublicKey {
    /// ECDSA P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// RSA with its modulus size in bits.
    Rsa(Box<rsa_pkcs1::RsaKey>, usize),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Decode a SubjectPublicKeyInfo, refusing unsupported and weak keys with specific errors.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, Error> {
        let key_bytes =
            spki.subject_public_key
                .as_bytes()
                .ok_or_else(|| Error::UnsupportedKeyType {
                    detail: "public key bit string has unused bits".into(),
                })?;
        let malformed = |what: &str| Error::UnsupportedKeyType {
            detail: format!("malformed {what} public key"),
        };
        match spki.algorithm.oid {
            oid::EC_PUBLIC_KEY => {
                let params = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .ok_or_else(|| malformed("EC (no curve)"))?;
                if params.tag() != der::Tag::ObjectIdentifier {
                    return Err(Error::ExplicitCurveParameters);
                }
                let curve = params
                    .decode_as::<Oid>()
                    .map_err(|_| malformed("EC curve"))?;
                match curve {
                    oid::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                        .map(PublicKey::P256)
                        .map_err(|_| malformed("P-256")),
                    oid::P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                        .map(PublicKey::P384)
                        .map_err(|_| malformed("P-384")),
                    oid::P192 => Err(Error::UnsupportedKeyType {
                        detail: "P-192 is too weak".into(),
                    }),
                    oid::P224 => Err(Error::UnsupportedKeyType {
                        detail: "P-224 is not supported".into(),
                    }),
                    oid::P521 => Err(Error::UnsupportedKeyType {
                        detail: "P-521 is not supported".into(),
                    }),
                    other => Err(Error::UnsupportedKeyType {
                        detail: format!("curve {}", describe_oid(other)),
                    }),
                }
            }
            oid::RSA | oid::RSA_PSS => {
                let k = rsa::pkcs1::RsaPublicKey::<UintRef<'_>>::from_der(key_bytes)
                    .map_err(|_| malformed("RSA"))?;
                let bits = modulus_bits(k.modulus.as_bytes());
                if bits < MIN_RSA_BITS || !bits.is_multiple_of(8) {
                    return Err(Error::WeakKey { bits });
                }
                if bits > MAX_RSA_BITS {
                    return Err(Error::UnsupportedKeyType {
                        detail: format!("RSA keys over {MAX_RSA_BITS} bits ({bits})"),
                    });
                }
                let key = rsa_pkcs1::RsaKey::from_pkcs1(&k).ok_or_else(|| malformed("RSA"))?;
                Ok(PublicKey::Rsa(Box::new(key), bits))
            }
            oid::ED25519 => {
                if spki.algorithm.parameters.is_some() {
                    return Err(malformed("Ed25519"));
                }
                let bytes: &[u8; 32] = key_bytes.try_into().map_err(|_| malformed("Ed25519"))?;
                ed25519_dalek::VerifyingKey::from_bytes(bytes)
                    .map(PublicKey::Ed25519)
                    .map_err(|_| malformed("Ed25519"))
            }
            oid::DSA => Err(Error::UnsupportedKeyType {
                detail: "DSA keys are not supported".into(),
            }),
            oid::ED448 => Err(Error::UnsupportedKeyType {
                detail: "Ed448 keys are not supported".into(),
            }),
            other => Err(Error::UnsupportedKeyType {
                detail: describe_oid(other),
            }),
        }
    }

    /// Key type for reports, e.g. `ECDSA P-256`.
    pub fn kind(&self) -> &'static str {
        match self {
            PublicKey::P256(_) => "ECDSA P-256",
            PublicKey::P384(_) => "ECDSA P-384",
            PublicKey::Rsa(..) => "RSA",
            PublicKey::Ed25519(_) => "Ed25519",
        }
    }

    /// Key size in bits.
    pub fn bits(&self) -> u32 {
        match self {
            PublicKey::P256(_) | PublicKey::Ed25519(_) => 256,
            PublicKey::P384(_) => 384,
            PublicKey::Rsa(_, bits) => u32::try_from(*bits).unwrap_or(u32::MAX),
        }
    }

    /// Verify `sig` over `msg` with this key and algorithm. ECDSA signatures are DER
    /// `Ecdsa-Sig-Value`, as in certificates, CRLs and TLS.
    pub fn verify(&self, alg: SignatureAlgorithm, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        self.verify_with_table(alg, msg, sig, None)
    }

    /// The precomputed multiples of an ECDSA key ([`crate::ecdsa::KeyTable`]), for a CA key
    /// that will verify many signatures; `None` for other key types.
    pub fn table(&self) -> Option<KeyTable> {
        match self {
            PublicKey::P256(k) => Some(KeyTable::P256(ecdsa::KeyTable::new(k.as_affine()))),
            PublicKey::P384(k) => Some(KeyTable::P384(ecdsa::KeyTable::new(k.as_affine()))),
            PublicKey::Rsa(..) | PublicKey::Ed25519(_) => None,
        }
    }

    /// [`PublicKey::verify`], using `table` (from [`PublicKey::table`] of this same key) when
    /// given: the same verdict, faster.
    pub fn verify_with_table(
        &self,
        alg: SignatureAlgorithm,
        msg: &[u8],
        sig: &[u8],
        table: Option<&KeyTable>,
    ) -> Result<(), Error> {
        match (self, alg) {
            (PublicKey::P256(k), SignatureAlgorithm::Ecdsa(h @ (Hash::Sha256 | Hash::Sha384))) => {
                let sig = p256::ecdsa::Signature::from_der(sig).map_err(|_| Error::BadSignature)?;
                let (r, s) = sig.split_scalars();
                let table = match table {
                    Some(KeyTable::P256(t)) => Some(t),
                    _ => None,
                };
                ecdsa::verify_prehash(k.as_affine(), table, &h.digest(msg), &r, &s)
                    .then_some(())
                    .ok_or(Error::BadSignature)
            }
            (PublicKey::P384(k), SignatureAlgorithm::Ecdsa(h @ (Hash::Sha256 | Hash::Sha384))) => {
                let sig = p384::ecdsa::Signature::from_der(sig).map_err(|_| Error::BadSignature)?;
                let (r, s) = sig.split_scalars();
                let table = match table {
                    Some(KeyTable::P384(t)) => Some(t),
                    _ => None,
                };
                ecdsa::verify_prehash(k.as_affine(), table, &h.digest(msg), &r, &s)
                    .then_some(())
                    .ok_or(Error::BadSignature)
            }
            (PublicKey::Rsa(k, _), SignatureAlgorithm::RsaPkcs1(h)) => {
                // The rsa crate's DigestInfo prefix, checked by the verification-only path
                // (rsa_pkcs1.rs), which gives the crate's verdict in about half its time.
                let scheme = match h {
                    Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    Hash::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                rsa_pkcs1::verify(k, &scheme.prefix, &h.digest(msg), sig)
                    .then_some(())
                    .ok_or(Error::BadSignature)
            }
            (PublicKey::Rsa(k, _), SignatureAlgorithm::RsaPss(h)) => {
                let k = k.crate_key().ok_or(Error::BadSignature)?;
                let hashed = h.digest(msg);
                let r = match h {
                    Hash::Sha256 => k.verify(
                        rsa::Pss::<sha2::Sha256>::new_with_salt(h.len()),
                        &hashed,
                        sig,
                    ),
                    Hash::Sha384 => k.verify(
                        rsa::Pss::<sha2::Sha384>::new_with_salt(h.len()),
                        &hashed,
                        sig,
                    ),
                    Hash::Sha512 => k.verify(
                        rsa::Pss::<sha2::Sha512>::new_with_salt(h.len()),
                        &hashed,
                        sig,
                    ),
                };
                r.map_err(|_| Error::BadSignature)
            }
            (PublicKey::Ed25519(k), SignatureAlgorithm::Ed25519) => {
                let sig =
                    ed25519_dalek::Signature::from_slice(sig).map_err(|_| Error::BadSignature)?;
                k.verify_strict(msg, &sig).map_err(|_| Error::BadSignature)
            }
            (key, alg) => Err(Error::AlgorithmMismatch {
                detail: format!("{} cannot be used with a {} key", alg.name(), key.kind()),
            }),
        }
    }
}

/// The arithmetic of one signature check, for a verifier outside the core ([`ExternalSignatures`]):
/// the core has already decoded the algorithm, the key and the signature and range-checked
/// them exactly as its own verification does, so only the arithmetic is left to the other
/// verifier. Equality is over the exact bytes.
///
/// [`ExternalSignatures`]: crate::ExternalSignatures
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignatureCheck {
    /// Which verification to run.
    pub scheme: ExternalScheme,
    /// The signer's SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
    /// The signed message, not hashed (a certificate's TBSCertificate).
    pub message: Vec<u8>,
    /// For ECDSA, `r ‖ s` as two big-endian integers of the curve's size (IEEE P1363, the form
    /// WebCrypto takes); for RSA, the signature as it is.
    pub signature: Vec<u8>,
    /// The algorithm and DER signature, for [`SignatureCheck::verify_in_software`].
    algorithm: SignatureAlgorithm,
    der_signature: Vec<u8>,
}

/// The verifications [`SignatureCheck`] hands out: those every WebCrypto implements with the
/// same rules as the core. RSA-PSS and Ed25519 are always checked by the core itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExternalScheme {
    /// ECDSA on P-256; the message is hashed with the given hash.
    EcdsaP256(Hash),
    /// ECDSA on P-384; the message is hashed with the given hash.
    EcdsaP384(Hash),
    /// RSASSA-PKCS1-v1_5 with the given hash.
    RsaPkcs1(Hash),
}

impl Hash {
    /// The WebCrypto name of the hash: `SHA-256`, `SHA-384`, `SHA-512`.
    pub fn webcrypto_name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }
}

impl SignatureCheck {
    /// Do this check with the core's own verification: the answer to give when the outside
    /// verifier cannot run it (no WebCrypto, a key it refuses to import, an exception).
    pub fn verify_in_software(&self) -> bool {
        let Ok(spki) = SubjectPublicKeyInfoOwned::from_der(&self.spki) else {
            return false;
        };
        let Ok(key) = PublicKey::from_spki(&spki) else {
            return false;
        };
        key.verify(self.algorithm, &self.message, &self.der_signature)
            .is_ok()
    }
}

impl PublicKey {
    /// The check `sig` over `msg` by this key (whose SubjectPublicKeyInfo is `spki`) comes to,
    /// for a verifier outside the core: `Ok(None)` when the core must do it itself (RSA-PSS,
    /// Ed25519), `Err` when it fails before any arithmetic, with the error
    /// [`PublicKey::verify`] would give (an undecodable or out-of-range ECDSA signature, an
    /// algorithm that does not fit the key).
    pub fn external_check(
        &self,
        spki: &[u8],
        alg: SignatureAlgorithm,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<Option<SignatureCheck>, Error> {
        let (scheme, signature) = match (self, alg) {
            (PublicKey::P256(_), SignatureAlgorithm::Ecdsa(h @ (Hash::Sha256 | Hash::Sha384))) => {
                // The same decoding as `verify`: strict DER, 1 <= r, s < n.
                let s = p256::ecdsa::Signature::from_der(sig).map_err(|_| Error::BadSignature)?;
                (ExternalScheme::EcdsaP256(h), s.to_bytes().to_vec())
            }
            (PublicKey::P384(_), SignatureAlgorithm::Ecdsa(h @ (Hash::Sha256 | Hash::Sha384))) => {
                let s = p384::ecdsa::Signature::from_der(sig).map_err(|_| Error::BadSignature)?;
                (ExternalScheme::EcdsaP384(h), s.to_bytes().to_vec())
            }
            (PublicKey::Rsa(..), SignatureAlgorithm::RsaPkcs1(h)) => {
                (ExternalScheme::RsaPkcs1(h), sig.to_vec())
            }
            // RSA-PSS, Ed25519 and every mismatch: the core's own verification.
            _ => return Ok(None),
        };
        Ok(Some(SignatureCheck {
            scheme,
            spki: spki.to_vec(),
            message: msg.to_vec(),
            signature,
            algorithm: alg,
            der_signature: sig.to_vec(),
        }))
    }
}

/// Bit length of a big-endian unsigned integer.
fn modulus_bits(bytes: &[u8]) -> usize {
    let trimmed: &[u8] = {
        let n = bytes.iter().take_while(|b| **b == 0).count();
        &bytes[n..]
    };
    match trimmed.first() {
        None => 0,
        Some(first) => (trimmed.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_bits_counts_leading_bits() {
        assert_eq!(modulus_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(modulus_bits(&[0x01, 0x00]), 9);
        assert_eq!(modulus_bits(&[]), 0);
    }

    #[test]
    fn weak_and_unknown_algorithms_are_named() {
        let alg = |o: Oid| AlgorithmIdentifierOwned {
            oid: o,
            parameters: None,
        };
        assert_eq!(
            SignatureAlgorithm::from_identifier(&alg(oid::ECDSA_SHA1)),
            Err(Error::WeakSignatureAlgorithm { name: "SHA-1" })
        );
        assert_eq!(
            SignatureAlgorithm::from_identifier(&alg(oid::RSA_MD5)),
            Err(Error::WeakSignatureAlgorithm { name: "MD5" })
        );
        assert_eq!(
            SignatureAlgorithm::from_identifier(&alg(oid::ECDSA_SHA256)),
            Ok(SignatureAlgorithm::Ecdsa(Hash::Sha256))
        );
        assert!(matches!(
            SignatureAlgorithm::from_identifier(&alg(oid::RSA_PSS)),
            Err(Error::UnsupportedSignatureAlgorithm { .. })
        ));
    }
}
