//! Checking a holder's signature with the key of its certificate: challenge answers in every
//! form devices produce, and TLS CertificateVerify signatures by scheme.

use base64ct::{Base64, Base64Unpadded, Base64Url, Base64UrlUnpadded, Encoding};

use crate::algorithms::{Hash, PublicKey, SignatureAlgorithm};
use crate::cert::Cert;
use crate::error::{Error, Failure};

/// Largest signature accepted, in bytes: an RSA-8192 signature (the largest key the core takes).
pub const MAX_SIGNATURE_BYTES: usize = crate::algorithms::MAX_RSA_BITS / 8;

/// Largest signature text accepted (hex of [`MAX_SIGNATURE_BYTES`] plus a prefix and spaces).
pub const MAX_SIGNATURE_TEXT: usize = 4 * MAX_SIGNATURE_BYTES;

/// How an ECDSA signature is encoded. Other key types have one encoding each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum SignatureEncoding {
    /// Accept either form: raw when the length is exactly 2 × the field size, else DER (a raw
    /// signature that does not verify is retried as DER when it also parses as DER).
    #[default]
    Auto,
    /// ASN.1 DER `Ecdsa-Sig-Value` (OpenSSL, X.509, TLS).
    Der,
    /// Fixed-size `r || s`, each big-endian and as long as the field (secure elements such as
    /// the ATECC608, WebCrypto, JOSE).
    Raw,
}

/// How a challenge answer verified, for reports and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum PopSignatureKind {
    /// ECDSA P-256 with SHA-256, DER.
    EcdsaP256Sha256Der,
    /// ECDSA P-256 with SHA-256, raw r||s.
    EcdsaP256Sha256Raw,
    /// ECDSA P-384 with SHA-384, DER.
    EcdsaP384Sha384Der,
    /// ECDSA P-384 with SHA-384, raw r||s.
    EcdsaP384Sha384Raw,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt.
    RsaPssSha256,
    /// Ed25519 (pure).
    Ed25519,
}

impl PopSignatureKind {
    /// Plain-words name, e.g. `ECDSA P-256 with SHA-256, raw r||s`.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256Der => "ECDSA P-256 with SHA-256, DER",
            Self::EcdsaP256Sha256Raw => "ECDSA P-256 with SHA-256, raw r||s",
            Self::EcdsaP384Sha384Der => "ECDSA P-384 with SHA-384, DER",
            Self::EcdsaP384Sha384Raw => "ECDSA P-384 with SHA-384, raw r||s",
            Self::RsaPkcs1Sha256 => "RSA PKCS#1 v1.5 with SHA-256",
            Self::RsaPssSha256 => "RSA-PSS with SHA-256 (MGF1-SHA-256, 32-byte salt)",
            Self::Ed25519 => "Ed25519",
        }
    }
}

fn describe_found(sig: &[u8]) -> String {
    if sig.first() == Some(&0x30) {
        format!("{} bytes (it looks like DER)", sig.len())
    } else {
        format!("{} bytes", sig.len())
    }
}

fn format_error(key: &PublicKey, expected: String, found: String) -> Error {
    Error::PopSignatureFormat {
        expected: format!("{expected} (for the certificate's {} key)", key.kind()),
        found,
    }
}

/// One ECDSA curve's raw and DER parsers, so P-256 and P-384 share the logic below.
struct Curve {
    field: usize,
    hash: Hash,
    der: PopSignatureKind,
    raw: PopSignatureKind,
    /// Raw r||s to DER; `None` when r or s is zero or not below the group order.
    raw_to_der: fn(&[u8]) -> Option<Vec<u8>>,
    /// Whether the bytes are a DER signature with r and s in range.
    der_ok: fn(&[u8]) -> bool,
}

const P256: Curve = Curve {
    field: 32,
    hash: Hash::Sha256,
    der: PopSignatureKind::EcdsaP256Sha256Der,
    raw: PopSignatureKind::EcdsaP256Sha256Raw,
    raw_to_der: |b| {
        p256::ecdsa::Signature::from_slice(b)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec())
    },
    der_ok: |b| p256::ecdsa::Signature::from_der(b).is_ok(),
};

const P384: Curve = Curve {
    field: 48,
    hash: Hash::Sha384,
    der: PopSignatureKind::EcdsaP384Sha384Der,
    raw: PopSignatureKind::EcdsaP384Sha384Raw,
    raw_to_der: |b| {
        p384::ecdsa::Signature::from_slice(b)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec())
    },
    der_ok: |b| p384::ecdsa::Signature::from_der(b).is_ok(),
};

fn verify_ecdsa(
    key: &PublicKey,
    curve: &Curve,
    msg: &[u8],
    sig: &[u8],
    encoding: SignatureEncoding,
) -> Result<PopSignatureKind, Error> {
    let raw_len = 2 * curve.field;
    let expected = match encoding {
        SignatureEncoding::Der => "a DER ECDSA signature (SEQUENCE of INTEGER r, s)".to_owned(),
        SignatureEncoding::Raw => {
            format!("a raw r||s signature of exactly {raw_len} bytes with r and s in 1..n-1")
        }
        SignatureEncoding::Auto => format!(
            "a DER ECDSA signature (SEQUENCE of INTEGER r, s) or raw r||s of exactly {raw_len} bytes, with r and s in 1..n-1"
        ),
    };
    // Candidate encodings in the order they are tried, each as DER for the common verifier.
    let mut candidates: Vec<(PopSignatureKind, Vec<u8>)> = Vec::new();
    if encoding != SignatureEncoding::Der
        && sig.len() == raw_len
        && let Some(der) = (curve.raw_to_der)(sig)
    {
        candidates.push((curve.raw, der));
    }
    if encoding != SignatureEncoding::Raw && (curve.der_ok)(sig) {
        candidates.push((curve.der, sig.to_vec()));
    }
    if candidates.is_empty() {
        let found = if sig.len() == raw_len {
            format!("{raw_len} bytes with r or s out of range")
        } else {
            describe_found(sig)
        };
        return Err(format_error(key, expected, found));
    }
    let alg = SignatureAlgorithm::Ecdsa(curve.hash);
    for (kind, der) in &candidates {
        if key.verify(alg, msg, der).is_ok() {
            return Ok(*kind);
        }
    }
    let tried: Vec<&str> = candidates.iter().map(|(k, _)| k.name()).collect();
    Err(Error::PopBadSignature {
        key: key.kind(),
        algorithm: tried.join(", then "),
    })
}

/// Verify a challenge answer `sig` over `msg` with `key`.
///
/// Which algorithm is used follows from the key, so a device needs no negotiation:
/// ECDSA P-256 with SHA-256 and P-384 with SHA-384 (DER or raw r||s, per `encoding`);
/// RSA PKCS#1 v1.5 with SHA-256, then RSA-PSS with SHA-256 (MGF1-SHA-256, salt of 32 bytes);
/// Ed25519 (pure). A signature that cannot have the key's form is `pop-signature-format`
/// (naming the form expected); one that has it but does not verify is `pop-bad-signature`.
pub fn verify_signature(
    key: &PublicKey,
    msg: &[u8],
    sig: &[u8],
    encoding: SignatureEncoding,
) -> Result<PopSignatureKind, Error> {
    if sig.len() > MAX_SIGNATURE_BYTES {
        return Err(Error::InputTooLarge {
            what: "signature bytes",
            limit: MAX_SIGNATURE_BYTES,
        });
    }
    let not_ecdsa = |expected: String| {
        if encoding == SignatureEncoding::Raw {
            // Asking for raw r||s only makes sense for ECDSA; say what this key needs instead.
            Some(format_error(
                key,
                expected,
                "declared as raw ECDSA r||s".into(),
            ))
        } else {
            None
        }
    };
    match key {
        PublicKey::P256(_) => verify_ecdsa(key, &P256, msg, sig, encoding),
        PublicKey::P384(_) => verify_ecdsa(key, &P384, msg, sig, encoding),
        PublicKey::Rsa(_, bits) => {
            let len = bits / 8;
            let expected = format!("an RSA signature of exactly {len} bytes (the modulus size)");
            if let Some(e) = not_ecdsa(expected.clone()) {
                return Err(e);
            }
            if sig.len() != len {
                return Err(format_error(key, expected, describe_found(sig)));
            }
            let tries = [
                (
                    SignatureAlgorithm::RsaPkcs1(Hash::Sha256),
                    PopSignatureKind::RsaPkcs1Sha256,
                ),
                (
                    SignatureAlgorithm::RsaPss(Hash::Sha256),
                    PopSignatureKind::RsaPssSha256,
                ),
            ];
            for (alg, kind) in tries {
                if key.verify(alg, msg, sig).is_ok() {
                    return Ok(kind);
                }
            }
            Err(Error::PopBadSignature {
                key: key.kind(),
                algorithm: "RSA PKCS#1 v1.5 with SHA-256, then RSA-PSS with SHA-256".into(),
            })
        }
        PublicKey::Ed25519(_) => {
            let expected = "an Ed25519 signature of exactly 64 bytes (R || S)".to_owned();
            if let Some(e) = not_ecdsa(expected.clone()) {
                return Err(e);
            }
            if sig.len() != 64 {
                return Err(format_error(key, expected, describe_found(sig)));
            }
            key.verify(SignatureAlgorithm::Ed25519, msg, sig)
                .map(|()| PopSignatureKind::Ed25519)
                .map_err(|_| Error::PopBadSignature {
                    key: key.kind(),
                    algorithm: "Ed25519".into(),
                })
        }
    }
}

/// Decode a signature given as text: hex (`3045...`, case-insensitive) or base64 (standard or
/// URL-safe alphabet, padded or not). A `hex:` or `base64:` prefix forces the reading; without
/// one, text made only of an even number of hex digits is hex. Whitespace is ignored.
pub fn decode_signature_text(text: &str) -> Result<Vec<u8>, Error> {
    let bad = |found: &str| Error::PopSignatureFormat {
        expected: "base64 or hex text".into(),
        found: found.into(),
    };
    if text.len() > MAX_SIGNATURE_TEXT {
        return Err(Error::InputTooLarge {
            what: "signature text",
            limit: MAX_SIGNATURE_TEXT,
        });
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (forced, body) = if let Some(rest) = compact.strip_prefix("hex:") {
        (Some(true), rest)
    } else if let Some(rest) = compact.strip_prefix("base64:") {
        (Some(false), rest)
    } else {
        (None, compact.as_str())
    };
    if body.is_empty() {
        return Err(bad("empty"));
    }
    let looks_hex = body.len() % 2 == 0 && body.bytes().all(|b| b.is_ascii_hexdigit());
    if forced.unwrap_or(looks_hex) {
        return decode_hex(body).ok_or_else(|| bad("not valid hex"));
    }
    Base64::decode_vec(body)
        .or_else(|_| Base64Unpadded::decode_vec(body))
        .or_else(|_| Base64Url::decode_vec(body))
        .or_else(|_| Base64UrlUnpadded::decode_vec(body))
        .map_err(|_| bad("neither hex nor base64"))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let text = core::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

/// A TLS 1.2/1.3 `SignatureScheme` (RFC 8446 section 4.2.3) that chainproof verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // named as in RFC 8446; see `TlsScheme::name`
pub enum TlsScheme {
    EcdsaSecp256r1Sha256,
    EcdsaSecp384r1Sha384,
    RsaPssRsaeSha256,
    RsaPssRsaeSha384,
    RsaPssRsaeSha512,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    Ed25519,
}

impl TlsScheme {
    /// Every supported scheme.
    pub const ALL: &'static [TlsScheme] = &[
        Self::EcdsaSecp256r1Sha256,
        Self::EcdsaSecp384r1Sha384,
        Self::RsaPssRsaeSha256,
        Self::RsaPssRsaeSha384,
        Self::RsaPssRsaeSha512,
        Self::RsaPkcs1Sha256,
        Self::RsaPkcs1Sha384,
        Self::RsaPkcs1Sha512,
        Self::Ed25519,
    ];

    /// The RFC 8446 name, e.g. `ecdsa_secp256r1_sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaSecp256r1Sha256 => "ecdsa_secp256r1_sha256",
            Self::EcdsaSecp384r1Sha384 => "ecdsa_secp384r1_sha384",
            Self::RsaPssRsaeSha256 => "rsa_pss_rsae_sha256",
            Self::RsaPssRsaeSha384 => "rsa_pss_rsae_sha384",
            Self::RsaPssRsaeSha512 => "rsa_pss_rsae_sha512",
            Self::RsaPkcs1Sha256 => "rsa_pkcs1_sha256",
            Self::RsaPkcs1Sha384 => "rsa_pkcs1_sha384",
            Self::RsaPkcs1Sha512 => "rsa_pkcs1_sha512",
            Self::Ed25519 => "ed25519",
        }
    }

    /// The IANA code point, e.g. `0x0403`.
    pub fn code(self) -> u16 {
        match self {
            Self::EcdsaSecp256r1Sha256 => 0x0403,
            Self::EcdsaSecp384r1Sha384 => 0x0503,
            Self::RsaPssRsaeSha256 => 0x0804,
            Self::RsaPssRsaeSha384 => 0x0805,
            Self::RsaPssRsaeSha512 => 0x0806,
            Self::RsaPkcs1Sha256 => 0x0401,
            Self::RsaPkcs1Sha384 => 0x0501,
            Self::RsaPkcs1Sha512 => 0x0601,
            Self::Ed25519 => 0x0807,
        }
    }

    /// The scheme with this code point (`pop-unsupported-scheme` otherwise).
    pub fn from_code(code: u16) -> Result<Self, Error> {
        Self::ALL
            .iter()
            .copied()
            .find(|s| s.code() == code)
            .ok_or_else(|| Error::PopUnsupportedScheme {
                scheme: format!("0x{code:04x}"),
            })
    }

    /// The scheme with this RFC 8446 name (also accepts rustls' upper-case names such as
    /// `ECDSA_NISTP256_SHA256`, and `0x0403`-style code points).
    pub fn from_name(name: &str) -> Result<Self, Error> {
        let n = name.trim();
        if let Some(hex) = n.strip_prefix("0x").or_else(|| n.strip_prefix("0X"))
            && let Ok(code) = u16::from_str_radix(hex, 16)
        {
            return Self::from_code(code);
        }
        let lower = n.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "ecdsa_nistp256_sha256" => "ecdsa_secp256r1_sha256",
            "ecdsa_nistp384_sha384" => "ecdsa_secp384r1_sha384",
            "rsa_pss_sha256" => "rsa_pss_rsae_sha256",
            "rsa_pss_sha384" => "rsa_pss_rsae_sha384",
            "rsa_pss_sha512" => "rsa_pss_rsae_sha512",
            other => other,
        };
        Self::ALL
            .iter()
            .copied()
            .find(|s| s.name() == alias)
            .ok_or_else(|| Error::PopUnsupportedScheme {
                scheme: n.to_owned(),
            })
    }

    fn algorithm(self) -> SignatureAlgorithm {
        match self {
            Self::EcdsaSecp256r1Sha256 => SignatureAlgorithm::Ecdsa(Hash::Sha256),
            Self::EcdsaSecp384r1Sha384 => SignatureAlgorithm::Ecdsa(Hash::Sha384),
            Self::RsaPssRsaeSha256 => SignatureAlgorithm::RsaPss(Hash::Sha256),
            Self::RsaPssRsaeSha384 => SignatureAlgorithm::RsaPss(Hash::Sha384),
            Self::RsaPssRsaeSha512 => SignatureAlgorithm::RsaPss(Hash::Sha512),
            Self::RsaPkcs1Sha256 => SignatureAlgorithm::RsaPkcs1(Hash::Sha256),
            Self::RsaPkcs1Sha384 => SignatureAlgorithm::RsaPkcs1(Hash::Sha384),
            Self::RsaPkcs1Sha512 => SignatureAlgorithm::RsaPkcs1(Hash::Sha512),
            Self::Ed25519 => SignatureAlgorithm::Ed25519,
        }
    }

    /// Whether the scheme may be used with this key (TLS 1.3 binds ECDSA schemes to a curve).
    fn fits(self, key: &PublicKey) -> bool {
        matches!(
            (self, key),
            (Self::EcdsaSecp256r1Sha256, PublicKey::P256(_))
                | (Self::EcdsaSecp384r1Sha384, PublicKey::P384(_))
                | (
                    Self::RsaPssRsaeSha256
                        | Self::RsaPssRsaeSha384
                        | Self::RsaPssRsaeSha512
                        | Self::RsaPkcs1Sha256
                        | Self::RsaPkcs1Sha384
                        | Self::RsaPkcs1Sha512,
                    PublicKey::Rsa(..)
                )
                | (Self::Ed25519, PublicKey::Ed25519(_))
        )
    }
}

/// The leaf's key, refusing certificates whose keyUsage forbids signing.
pub(crate) fn signing_key(leaf: &Cert) -> Result<&PublicKey, Error> {
    if let Some(ku) = &leaf.extensions().key_usage
        && !ku.digital_signature()
    {
        return Err(Error::PopKeyUsage);
    }
    leaf.public_key()
}

/// Verify a TLS `CertificateVerify` signature with the leaf certificate's key.
///
/// `message` is exactly what was signed, which the caller's TLS stack provides (with rustls,
/// the `message` argument of `ServerCertVerifier::verify_tls13_signature` /
/// `ClientCertVerifier::verify_tls13_signature`, i.e. 64 spaces, the context string, a NUL and
/// the transcript hash; for TLS 1.2 the handshake messages). ECDSA signatures are DER, as TLS
/// sends them. ECDSA schemes are bound to their curve as in TLS 1.3.
///
/// This checks possession only: validate the chain with [`crate::verify_chain`] as well.
pub fn verify_tls_signature(
    leaf_der: &[u8],
    scheme: TlsScheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Failure> {
    let leaf = Cert::from_der(leaf_der).map_err(|e| Failure::at(e, 0, "the device certificate"))?;
    let at_leaf = |e: Error| Failure::at(e, 0, leaf.subject().to_owned());
    let key = signing_key(&leaf).map_err(at_leaf)?;
    if !scheme.fits(key) {
        return Err(at_leaf(Error::AlgorithmMismatch {
            detail: format!(
                "TLS scheme {} cannot be used with a {} key",
                scheme.name(),
                key.kind()
            ),
        }));
    }
    if signature.len() > MAX_SIGNATURE_BYTES {
        return Err(at_leaf(Error::InputTooLarge {
            what: "signature bytes",
            limit: MAX_SIGNATURE_BYTES,
        }));
    }
    key.verify(scheme.algorithm(), message, signature)
        .map_err(|_| {
            at_leaf(Error::PopBadSignature {
                key: key.kind(),
                algorithm: format!("TLS {}", scheme.name()),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn signature_text_forms() {
        assert_eq!(decode_signature_text("0a0B").unwrap(), vec![10, 11]);
        assert_eq!(decode_signature_text("hex:0a 0b\n").unwrap(), vec![10, 11]);
        assert_eq!(decode_signature_text("AQI=").unwrap(), vec![1, 2]);
        assert_eq!(decode_signature_text("AQI").unwrap(), vec![1, 2]);
        assert_eq!(decode_signature_text("base64:-_8").unwrap(), vec![251, 255]);
        assert_eq!(
            decode_signature_text("!!").unwrap_err().code(),
            ErrorCode::PopSignatureFormat
        );
        assert!(decode_signature_text("").is_err());
    }

    #[test]
    fn schemes_by_name_and_code() {
        for s in TlsScheme::ALL {
            assert_eq!(TlsScheme::from_code(s.code()).unwrap(), *s);
            assert_eq!(TlsScheme::from_name(s.name()).unwrap(), *s);
        }
        assert_eq!(
            TlsScheme::from_name("ECDSA_NISTP256_SHA256").unwrap(),
            TlsScheme::EcdsaSecp256r1Sha256
        );
        assert_eq!(TlsScheme::from_name("0x0807").unwrap(), TlsScheme::Ed25519);
        assert_eq!(
            TlsScheme::from_code(0x0201).unwrap_err().code(),
            ErrorCode::PopUnsupportedScheme
        );
        assert!(TlsScheme::from_name("rsa_pkcs1_sha1").is_err());
    }
}
