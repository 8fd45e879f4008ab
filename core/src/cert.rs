//! One certificate, decoded once: the x509-cert structure plus everything path building and
//! the profile checks need (raw TBS bytes, name bytes, decoded key, decoded extensions,
//! thumbprints). Decoding is strict DER through `x509-cert`; nothing is parsed by hand.

use std::sync::OnceLock;

use const_oid::ObjectIdentifier as Oid;
use der::{Decode, Encode, Reader, SliceReader};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, NameConstraints,
    SubjectAltName, SubjectKeyIdentifier, name::GeneralName,
};

use crate::algorithms::{KeyTable, PublicKey, SignatureAlgorithm, SignatureCheck};
use crate::error::Error;
use crate::input::MAX_CERT_BYTES;
use crate::report::CertSummary;
use crate::time::UnixTime;

/// Extension OIDs (RFC 5280 section 4.2).
pub mod ext_oid {
    use const_oid::ObjectIdentifier as Oid;
    /// subjectKeyIdentifier
    pub const SKI: Oid = Oid::new_unwrap("2.5.29.14");
    /// keyUsage
    pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
    /// subjectAltName
    pub const SAN: Oid = Oid::new_unwrap("2.5.29.17");
    /// issuerAltName
    pub const IAN: Oid = Oid::new_unwrap("2.5.29.18");
    /// basicConstraints
    pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
    /// nameConstraints
    pub const NAME_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.30");
    /// cRLDistributionPoints
    pub const CRL_DP: Oid = Oid::new_unwrap("2.5.29.31");
    /// certificatePolicies
    pub const POLICIES: Oid = Oid::new_unwrap("2.5.29.32");
    /// policyMappings
    pub const POLICY_MAPPINGS: Oid = Oid::new_unwrap("2.5.29.33");
    /// authorityKeyIdentifier
    pub const AKI: Oid = Oid::new_unwrap("2.5.29.35");
    /// policyConstraints
    pub const POLICY_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.36");
    /// extKeyUsage
    pub const EKU: Oid = Oid::new_unwrap("2.5.29.37");
    /// freshestCRL
    pub const FRESHEST_CRL: Oid = Oid::new_unwrap("2.5.29.46");
    /// inhibitAnyPolicy
    pub const INHIBIT_ANY_POLICY: Oid = Oid::new_unwrap("2.5.29.54");
    /// authorityInfoAccess
    pub const AIA: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
    /// subjectInfoAccess
    pub const SIA: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.11");
    /// CT precertificate SCTs
    pub const SCT: Oid = Oid::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
}

/// commonName attribute type.
pub const CN: Oid = Oid::new_unwrap("2.5.4.3");

/// Extensions decoded from a certificate, with the first profile problem found.
#[derive(Clone, Debug, Default)]
pub struct Extensions {
    /// basicConstraints, and whether it was critical.
    pub basic_constraints: Option<(BasicConstraints, bool)>,
    /// keyUsage.
    pub key_usage: Option<KeyUsage>,
    /// extKeyUsage.
    pub eku: Option<Vec<Oid>>,
    /// subjectAltName entries, and whether it was critical.
    pub san: Option<(Vec<GeneralName>, bool)>,
    /// nameConstraints, and whether it was critical.
    pub name_constraints: Option<(NameConstraints, bool)>,
    /// subjectKeyIdentifier bytes.
    pub ski: Option<Vec<u8>>,
    /// authorityKeyIdentifier, and whether it was critical.
    pub aki: Option<(AuthorityKeyIdentifier, bool)>,
    /// OIDs of every extension, in order.
    pub present: Vec<Oid>,
    /// First critical extension not understood.
    pub unknown_critical: Option<Oid>,
    /// First structural problem (duplicate or undecodable extension).
    pub problem: Option<Error>,
}

/// A decoded certificate.
#[derive(Clone, Debug)]
pub struct Cert {
    der: Vec<u8>,
    tbs_der: Vec<u8>,
    inner: x509_cert::Certificate,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    spki_der: Vec<u8>,
    subject: String,
    issuer: String,
    not_before: i64,
    not_after: i64,
    ext: Extensions,
    key: Result<PublicKey, Error>,
    sig_alg: Result<SignatureAlgorithm, Error>,
    sha256: [u8; 32],
    sha1: [u8; 20],
    spki_sha256: OnceLock<[u8; 32]>,
    summary: OnceLock<CertSummary>,
}

impl Cert {
    /// Decode a DER certificate. Fails only when the bytes are not an X.509 certificate at all;
    /// profile problems (bad extensions, unsupported keys) are kept and reported when the
    /// certificate is used.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        if der.len() > MAX_CERT_BYTES {
            return Err(Error::InputTooLarge {
                what: "certificate bytes",
                limit: MAX_CERT_BYTES,
            });
        }
        let malformed = |e: der::Error| Error::MalformedCertificate {
            detail: e.to_string(),
        };
        let inner = x509_cert::Certificate::from_der(der).map_err(malformed)?;
        let tbs_der = raw_tbs(der).map_err(malformed)?.to_vec();
        let tbs = inner.tbs_certificate();
        let subject_der = tbs.subject().to_der().map_err(malformed)?;
        let issuer_der = tbs.issuer().to_der().map_err(malformed)?;
        let spki_der = tbs.subject_public_key_info().to_der().map_err(malformed)?;
        let ext = decode_extensions(tbs.extensions().map(|e| e.as_slice()).unwrap_or(&[]));
        let key = PublicKey::from_spki(tbs.subject_public_key_info());
        let sig_alg = if inner.signature_algorithm() != tbs.signature() {
            Err(Error::AlgorithmMismatch {
                detail: "signatureAlgorithm differs from the TBS signature field".into(),
            })
        } else {
            SignatureAlgorithm::from_identifier(inner.signature_algorithm())
        };
        let validity = tbs.validity();
        Ok(Cert {
            subject: crate::name::dn_text(tbs.subject()),
            issuer: crate::name::dn_text(tbs.issuer()),
            not_before: UnixTime::from_x509(&validity.not_before).0,
            not_after: UnixTime::from_x509(&validity.not_after).0,
            sha256: Sha256::digest(der).into(),
            sha1: Sha1::digest(der).into(),
            der: der.to_vec(),
            tbs_der,
            inner,
            subject_der,
            issuer_der,
            spki_der,
            ext,
            key,
            sig_alg,
            spki_sha256: OnceLock::new(),
            summary: OnceLock::new(),
        })
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The decoded x509-cert structure.
    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.inner
    }
    /// The exact TBSCertificate bytes the signature covers.
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }
    /// Subject name DER.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }
    /// Issuer name DER.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }
    /// SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }
    /// Subject, RFC 4514 text.
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// Issuer, RFC 4514 text.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// notBefore, Unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }
    /// notAfter, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }
    /// Decoded extensions.
    pub fn extensions(&self) -> &Extensions {
        &self.ext
    }
    /// The decoded public key, or why it is unusable.
    pub fn public_key(&self) -> Result<&PublicKey, Error> {
        self.key.as_ref().map_err(Clone::clone)
    }
    /// The signature algorithm, or why it is refused.
    pub fn signature_algorithm(&self) -> Result<SignatureAlgorithm, Error> {
        self.sig_alg.clone()
    }
    /// SHA-256 of the DER.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
    /// SHA-1 of the DER.
    pub fn sha1(&self) -> &[u8; 20] {
        &self.sha1
    }
    /// SHA-256 of the SubjectPublicKeyInfo DER: the key's identity in the trust store's key
    /// tables. Computed on first use and kept, so a CA certificate the store holds (an anchor
    /// or a remembered intermediate) hashes its key once, not once per device it signed.
    pub fn spki_sha256(&self) -> &[u8; 32] {
        self.spki_sha256
            .get_or_init(|| Sha256::digest(&self.spki_der).into())
    }
    /// Serial number bytes (two's complement, as encoded).
    pub fn serial(&self) -> &[u8] {
        self.inner.tbs_certificate().serial_number().as_bytes()
    }
    /// X.509 version.
    pub fn version(&self) -> Version {
        self.inner.tbs_certificate().version()
    }
    /// Whether subject and issuer names are byte-identical.
    pub fn is_self_issued(&self) -> bool {
        self.subject_der == self.issuer_der
    }
    /// basicConstraints cA.
    pub fn is_ca(&self) -> bool {
        self.ext
            .basic_constraints
            .as_ref()
            .is_some_and(|(bc, _)| bc.ca)
    }

    /// Verify that `self` was signed by `issuer`'s key.
    pub fn verify_signed_by(&self, issuer_key: &PublicKey) -> Result<(), Error> {
        self.verify_signed_by_with_table(issuer_key, None)
    }

    /// [`Cert::verify_signed_by`] with the issuer key's precomputed table, if any.
    pub fn verify_signed_by_with_table(
        &self,
        issuer_key: &PublicKey,
        table: Option<&KeyTable>,
    ) -> Result<(), Error> {
        let (alg, sig) = self.signature()?;
        issuer_key.verify_with_table(alg, &self.tbs_der, sig, table)
    }

    /// This certificate's signature by `issuer_key` (from `issuer`) as a check for a verifier
    /// outside the core: see [`PublicKey::external_check`].
    pub fn external_check(
        &self,
        issuer: &Cert,
        issuer_key: &PublicKey,
    ) -> Result<Option<SignatureCheck>, Error> {
        let (alg, sig) = self.signature()?;
        issuer_key.external_check(issuer.spki_der(), alg, &self.tbs_der, sig)
    }

    /// The signature algorithm and the signature's bytes.
    fn signature(&self) -> Result<(SignatureAlgorithm, &[u8]), Error> {
        let alg = self.signature_algorithm()?;
        let sig = self
            .inner
            .signature()
            .as_bytes()
            .ok_or(Error::BadSignature)?;
        Ok((alg, sig))
    }

    /// The subject's commonName as text, if exactly one is present. Several CNs are an error:
    /// which one is the device would be ambiguous.
    pub fn common_name(&self) -> Result<Option<String>, Error> {
        let mut found: Option<String> = None;
        for atv in self.inner.tbs_certificate().subject().iter() {
            if atv.oid != CN {
                continue;
            }
            let text = directory_string(&atv.value).ok_or_else(|| Error::InvalidDeviceId {
                id: "<undecodable>".into(),
                detail: "is not a text string (UTF8String, PrintableString or IA5String)",
            })?;
            if found.is_some() {
                return Err(Error::InvalidDeviceId {
                    id: text,
                    detail: "appears in more than one CN",
                });
            }
            found = Some(text);
        }
        Ok(found)
    }

    /// subjectAltName dNSName entries.
    pub fn san_dns_names(&self) -> Vec<String> {
        self.sans()
            .iter()
            .filter_map(|n| match n {
                GeneralName::DnsName(s) => Some(s.to_string()),
                _ => None,
            })
            .collect()
    }

    /// subjectAltName URI entries.
    pub fn san_uris(&self) -> Vec<String> {
        self.sans()
            .iter()
            .filter_map(|n| match n {
                GeneralName::UniformResourceIdentifier(s) => Some(s.to_string()),
                _ => None,
            })
            .collect()
    }

    /// All subjectAltName entries.
    pub fn sans(&self) -> &[GeneralName] {
        self.ext
            .san
            .as_ref()
            .map(|(v, _)| v.as_slice())
            .unwrap_or(&[])
    }

    /// A summary for reports; `trust_anchor` marks the path's anchor.
    pub fn summary(&self, depth: usize, trust_anchor: bool) -> CertSummary {
        // Built once per decoded certificate: anchors and remembered intermediates appear in
        // every report, and their thumbprints need not be written out again each time.
        let mut summary = self.summary.get_or_init(|| self.make_summary()).clone();
        summary.depth = depth;
        summary.trust_anchor = trust_anchor;
        summary
    }

    fn make_summary(&self) -> CertSummary {
        let (key_type, key_bits) = match &self.key {
            Ok(k) => (k.kind().to_string(), k.bits()),
            Err(e) => (format!("unsupported ({e})"), 0),
        };
        CertSummary {
            depth: 0,
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            serial: hex_upper(self.serial()),
            not_before: self.not_before,
            not_after: self.not_after,
            key_type,
            key_bits,
            signature_algorithm: match &self.sig_alg {
                Ok(a) => a.name(),
                Err(_) => crate::algorithms::describe_oid(self.inner.signature_algorithm().oid),
            },
            sha1: hex_upper(&self.sha1),
            sha256: hex_upper(&self.sha256),
            subject_key_id: self.ext.ski.as_deref().map(hex_upper),
            authority_key_id: self
                .ext
                .aki
                .as_ref()
                .and_then(|(a, _)| a.key_identifier.as_ref())
                .map(|k| hex_upper(k.as_bytes())),
            is_ca: self.is_ca(),
            trust_anchor: false,
        }
    }
}

/// Upper-case hex without separators, as cloud consoles show thumbprints.
pub fn hex_upper(bytes: &[u8]) -> String {
    // By hand rather than `write!("{b:02X}")`: the formatter was most of a report's cost once
    // signatures are remembered (every summary holds two thumbprints).
    let digit = |n: u8| if n < 10 { b'0' + n } else { b'A' + (n - 10) };
    let mut s = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(digit(b >> 4));
        s.push(digit(b & 0x0f));
    }
    // Only ASCII digits and letters were written, so this never fails.
    String::from_utf8(s).unwrap_or_default()
}

/// Whether `hex` is `bytes` in hex, either case (what [`hex_upper`] writes), without building
/// the text.
pub(crate) fn hex_upper_eq(bytes: &[u8], hex: &str) -> bool {
    let value = |c: u8| char::from(c).to_digit(16);
    hex.len() == bytes.len() * 2
        && hex
            .as_bytes()
            .chunks_exact(2)
            .zip(bytes)
            .all(|(pair, b)| match pair {
                [hi, lo] => value(*hi)
                    .zip(value(*lo))
                    .is_some_and(|(h, l)| h * 16 + l == u32::from(*b)),
                _ => false,
            })
}

/// The exact first element (TBSCertificate / TBSCertList) of a signed SEQUENCE, as encoded.
pub(crate) fn raw_tbs(der: &[u8]) -> der::Result<&[u8]> {
    let mut r = SliceReader::new(der)?;
    r.sequence(|seq| {
        let tbs = seq.tlv_bytes()?;
        seq.tlv_bytes()?; // signatureAlgorithm
        seq.tlv_bytes()?; // signature
        Ok(tbs)
    })
}

/// Text of a DirectoryString-like attribute value.
pub(crate) fn directory_string(value: &der::Any) -> Option<String> {
    use der::{Tag, Tagged};
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::TeletexString
        | Tag::VisibleString => String::from_utf8(bytes.to_vec()).ok(),
        Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

fn decode_extensions(exts: &[x509_cert::ext::Extension]) -> Extensions {
    let mut out = Extensions::default();
    for e in exts {
        if out.present.contains(&e.extn_id) {
            out.problem.get_or_insert(Error::DuplicateExtension {
                oid: crate::algorithms::describe_oid(e.extn_id),
            });
            continue;
        }
        out.present.push(e.extn_id);
        let value = e.extn_value.as_bytes();
        let bad = |name: &'static str, err: der::Error| Error::InvalidExtension {
            name,
            detail: err.to_string(),
        };
        let result: Result<(), Error> = match e.extn_id {
            ext_oid::BASIC_CONSTRAINTS => BasicConstraints::from_der(value)
                .map(|v| out.basic_constraints = Some((v, e.critical)))
                .map_err(|err| bad("basicConstraints", err)),
            ext_oid::KEY_USAGE => KeyUsage::from_der(value)
                .map_err(|err| bad("keyUsage", err))
                .and_then(|v| {
                    if v.0.bits() == 0 {
                        Err(Error::InvalidExtension {
                            name: "keyUsage",
                            detail: "no bit is set".into(),
                        })
                    } else {
                        out.key_usage = Some(v);
                        Ok(())
                    }
                }),
            ext_oid::EKU => ExtendedKeyUsage::from_der(value)
                .map_err(|err| bad("extKeyUsage", err))
                .and_then(|v| {
                    if v.0.is_empty() {
                        Err(Error::InvalidExtension {
                            name: "extKeyUsage",
                            detail: "it lists no purpose".into(),
                        })
                    } else {
                        out.eku = Some(v.0);
                        Ok(())
                    }
                }),
            ext_oid::SAN => SubjectAltName::from_der(value)
                .map_err(|err| bad("subjectAltName", err))
                .and_then(|v| {
                    if v.0.is_empty() {
                        Err(Error::InvalidExtension {
                            name: "subjectAltName",
                            detail: "it is empty".into(),
                        })
                    } else {
                        out.san = Some((v.0, e.critical));
                        Ok(())
                    }
                }),
            ext_oid::NAME_CONSTRAINTS => NameConstraints::from_der(value)
                .map(|v| out.name_constraints = Some((v, e.critical)))
                .map_err(|err| bad("nameConstraints", err)),
            // RFC 5280 4.2.1.1/4.2.1.2: key identifiers MUST be non-critical.
            ext_oid::SKI | ext_oid::AKI | ext_oid::AIA if e.critical => {
                Err(Error::InvalidExtension {
                    name: "key identifier or authorityInfoAccess",
                    detail: "it must not be critical".into(),
                })
            }
            ext_oid::SKI => SubjectKeyIdentifier::from_der(value)
                .map(|v| out.ski = Some(v.0.as_bytes().to_vec()))
                .map_err(|err| bad("subjectKeyIdentifier", err)),
            ext_oid::AKI => AuthorityKeyIdentifier::from_der(value)
                .map(|v| out.aki = Some((v, e.critical)))
                .map_err(|err| bad("authorityKeyIdentifier", err)),
            ext_oid::AIA => x509_cert::ext::pkix::AuthorityInfoAccessSyntax::from_der(value)
                .map(|_| ())
                .map_err(|err| bad("authorityInfoAccess", err)),
            // RFC 5280 4.2.1.11: conforming CAs MUST mark policyConstraints critical.
            ext_oid::POLICY_CONSTRAINTS if !e.critical => Err(Error::InvalidExtension {
                name: "policyConstraints",
                detail: "it must be critical".into(),
            }),
            // Understood well enough to accept when critical: policies are not enforced (no
            // caller asks for an explicit policy), and the others carry no constraint here.
            ext_oid::POLICIES
            | ext_oid::POLICY_MAPPINGS
            | ext_oid::POLICY_CONSTRAINTS
            | ext_oid::INHIBIT_ANY_POLICY => Ok(()),
            _ => {
                if e.critical && out.unknown_critical.is_none() {
                    out.unknown_critical = Some(e.extn_id);
                }
                Ok(())
            }
        };
        if let Err(err) = result {
            out.problem.get_or_insert(err);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{hex_upper, hex_upper_eq};

    #[test]
    fn hex_upper_is_the_formatter_text() {
        let all: Vec<u8> = (0..=255).collect();
        let formatted: String = all.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(hex_upper(&all), formatted);
        assert_eq!(hex_upper(&[]), "");
    }

    #[test]
    fn hex_upper_eq_reads_what_hex_upper_writes() {
        let all: Vec<u8> = (0..=255).collect();
        let text = hex_upper(&all);
        assert!(hex_upper_eq(&all, &text));
        assert!(hex_upper_eq(&all, &text.to_ascii_lowercase()));
        assert!(hex_upper_eq(&[], ""));
        let mut other = all.clone();
        other[200] ^= 1;
        assert!(!hex_upper_eq(&other, &text));
        assert!(!hex_upper_eq(&all[..255], &text));
        assert!(!hex_upper_eq(&[0xAB], "AB0"));
        assert!(!hex_upper_eq(&[0xAB], "AG"));
        assert!(!hex_upper_eq(&[0x0A], "+A"));
    }
}
