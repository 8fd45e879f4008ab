//! Certificates built from typed structures: a [`CertSpec`] says what to put in, [`Cert`] is the
//! signed result.
//!
//! x509-cert 0.3 keeps the fields of its `TbsCertificate` private (it wants its builder used),
//! so this module declares the same ASN.1 shape with `der`'s derive and x509-cert's field types.
//! That keeps every byte typed while allowing what a builder refuses: a wrong version, a
//! signature by another key, an algorithm the issuer's key would not pick, a corrupted value.

use std::net::IpAddr;
use std::time::Duration;

use const_oid::AssociatedOid;
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc4519, rfc5280};
use der::asn1::{
    Any, BitString, GeneralizedTime, Ia5String, OctetString, PrintableStringRef, UtcTime,
    Utf8StringRef,
};
use der::flagset::FlagSet;
use der::pem::LineEnding;
use der::{DateTime, Decode, Encode, Sequence};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::constraints::name::{GeneralSubtree, NameConstraints};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, Extensions};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::keys::{KeyPair, SigAlg};

/// Seconds in a day, for readable validity windows.
pub const DAY: i64 = 86_400;
/// Seconds in a (365-day) year.
pub const YEAR: i64 = 365 * DAY;

/// One attribute of a distinguished name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnAttr {
    /// `countryName` (2.5.4.6), encoded as PrintableString.
    Country,
    /// `organizationName` (2.5.4.10).
    Organization,
    /// `organizationalUnitName` (2.5.4.11).
    OrganizationalUnit,
    /// `commonName` (2.5.4.3).
    CommonName,
    /// `serialNumber` (2.5.4.5), encoded as PrintableString.
    SerialNumber,
}

impl DnAttr {
    fn oid(self) -> ObjectIdentifier {
        match self {
            DnAttr::Country => rfc4519::C,
            DnAttr::Organization => rfc4519::O,
            DnAttr::OrganizationalUnit => rfc4519::OU,
            DnAttr::CommonName => rfc4519::CN,
            DnAttr::SerialNumber => rfc4519::SERIAL_NUMBER,
        }
    }
}

/// A distinguished name as an ordered list of attributes, one per RDN, in the order added.
/// Values are UTF8String except `C` and `serialNumber` (PrintableString); nothing is escaped
/// or checked, so a value may hold characters a validator should reject (e.g. `"\n"`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dn {
    attrs: Vec<(DnAttr, String)>,
}

impl Dn {
    /// An empty name.
    pub fn new() -> Dn {
        Dn::default()
    }

    /// Append an attribute.
    pub fn with(mut self, attr: DnAttr, value: impl Into<String>) -> Dn {
        self.attrs.push((attr, value.into()));
        self
    }

    /// Append `C=`.
    pub fn c(self, v: impl Into<String>) -> Dn {
        self.with(DnAttr::Country, v)
    }

    /// Append `O=`.
    pub fn o(self, v: impl Into<String>) -> Dn {
        self.with(DnAttr::Organization, v)
    }

    /// Append `OU=`.
    pub fn ou(self, v: impl Into<String>) -> Dn {
        self.with(DnAttr::OrganizationalUnit, v)
    }

    /// Append `CN=`.
    pub fn cn(self, v: impl Into<String>) -> Dn {
        self.with(DnAttr::CommonName, v)
    }

    /// The first common name, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| *a == DnAttr::CommonName)
            .map(|(_, v)| v.as_str())
    }

    /// The attributes in order.
    pub fn attrs(&self) -> &[(DnAttr, String)] {
        &self.attrs
    }

    /// The typed x509-cert `Name`.
    ///
    /// # Panics
    /// If a PrintableString attribute holds characters PrintableString cannot carry.
    pub fn to_name(&self) -> Name {
        let mut rdns = RdnSequence::default();
        for (attr, value) in &self.attrs {
            let any = match attr {
                DnAttr::Country | DnAttr::SerialNumber => Any::encode_from(
                    &PrintableStringRef::new(value).expect("PrintableString value"),
                ),
                _ => Any::encode_from(&Utf8StringRef::new(value).expect("UTF8String value")),
            }
            .expect("attribute value encodes");
            let atv = AttributeTypeAndValue {
                oid: attr.oid(),
                value: any,
            };
            rdns.push(RelativeDistinguishedName::try_from(vec![atv]).expect("one-element RDN"));
        }
        // `Name` has no public constructor outside x509-cert's `hazmat`; an RDNSequence has the
        // same encoding, so round-trip it through DER.
        let der = rdns.to_der().expect("RDNSequence encodes");
        Name::from_der(&der).expect("RDNSequence decodes as Name")
    }
}

/// A subjectAltName entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    /// `dNSName`.
    Dns(String),
    /// `iPAddress` (4 or 16 octets).
    Ip(IpAddr),
    /// `rfc822Name`.
    Email(String),
    /// `uniformResourceIdentifier`.
    Uri(String),
}

impl San {
    fn general_name(&self) -> GeneralName {
        match self {
            San::Dns(s) => GeneralName::DnsName(ia5(s)),
            San::Email(s) => GeneralName::Rfc822Name(ia5(s)),
            San::Uri(s) => GeneralName::UniformResourceIdentifier(ia5(s)),
            San::Ip(ip) => {
                GeneralName::IpAddress(OctetString::new(ip_octets(ip)).expect("IP address octets"))
            }
        }
    }
}

/// One name-constraints subtree base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subtree {
    /// A DNS domain (`factory-a.example` matches it and every name below it).
    Dns(String),
    /// An IP range: address and prefix length.
    Ip(IpAddr, u8),
    /// A mailbox, host or domain (`rfc822Name` constraint forms of RFC 5280 4.2.1.10).
    Email(String),
    /// A directory-name subtree.
    Dn(Dn),
    /// A URI host or domain.
    Uri(String),
}

impl Subtree {
    fn general_subtree(&self) -> GeneralSubtree {
        let base = match self {
            Subtree::Dns(s) => GeneralName::DnsName(ia5(s)),
            Subtree::Email(s) => GeneralName::Rfc822Name(ia5(s)),
            Subtree::Uri(s) => GeneralName::UniformResourceIdentifier(ia5(s)),
            Subtree::Dn(dn) => GeneralName::DirectoryName(dn.to_name()),
            Subtree::Ip(ip, prefix) => {
                let mut octets = ip_octets(ip);
                let mask = prefix_mask(octets.len(), *prefix);
                octets.extend(mask);
                GeneralName::IpAddress(OctetString::new(octets).expect("IP range octets"))
            }
        };
        GeneralSubtree {
            base,
            minimum: 0,
            maximum: None,
        }
    }
}

fn ia5(s: &str) -> Ia5String {
    Ia5String::new(s).expect("IA5String value (ASCII only)")
}

fn ip_octets(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn prefix_mask(len: usize, prefix: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let bits = (i32::from(prefix) - (i as i32) * 8).clamp(0, 8);
            (0xffu16 << (8 - bits)) as u8
        })
        .collect()
}

/// Permitted and excluded subtrees for a nameConstraints extension.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameConstraintsSpec {
    /// `permittedSubtrees` (empty: field omitted).
    pub permitted: Vec<Subtree>,
    /// `excludedSubtrees` (empty: field omitted).
    pub excluded: Vec<Subtree>,
}

/// basicConstraints contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BasicConstraintsSpec {
    /// `cA`.
    pub ca: bool,
    /// `pathLenConstraint`.
    pub path_len: Option<u8>,
    /// Whether the extension is marked critical (RFC 5280 requires it for CAs).
    pub critical: bool,
}

/// The `version` field to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertVersion {
    /// v1: the field is omitted (DEFAULT), even if extensions are present.
    V1,
    /// v2 (value 1).
    V2,
    /// v3 (value 2), the default.
    V3,
    /// Any raw INTEGER value, written explicitly (e.g. 3 for a non-existent "v4").
    Raw(u8),
}

/// `TBSCertificate` (RFC 5280 section 4.1) with x509-cert's field types. The version is a raw
/// optional INTEGER so that invalid values can be written; unique IDs are never emitted.
#[derive(Clone, Debug, Sequence)]
struct RawTbsCertificate {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// `Certificate` (RFC 5280 section 4.1) around the raw TBS.
#[derive(Clone, Debug, Sequence)]
struct RawCertificate {
    tbs_certificate: RawTbsCertificate,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// Unix seconds to an RFC 5280 `Time` (UTCTime before 2050, GeneralizedTime from 2050 on).
///
/// # Panics
/// For times before 1970 or past 9999.
pub fn unix_to_time(secs: i64) -> Time {
    let secs = u64::try_from(secs).expect("fixture times are after 1970");
    let dt = DateTime::from_unix_duration(Duration::from_secs(secs)).expect("time in range");
    if dt.year() < 2050 {
        Time::UtcTime(UtcTime::from_date_time(dt).expect("UTCTime range"))
    } else {
        Time::GeneralTime(GeneralizedTime::from_date_time(dt))
    }
}

/// DER of an extension value wrapped as an `Extension`.
pub fn extension<T: Encode>(oid: ObjectIdentifier, critical: bool, value: &T) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().expect("extension value encodes"))
            .expect("OCTET STRING"),
    }
}

/// Everything that goes into one certificate. Build with [`CertSpec::new`] or one of the
/// presets, adjust with the `with_*` methods, and finish with [`CertSpec::self_signed`] or
/// [`CertSpec::issued_by`].
#[derive(Clone, Debug)]
pub struct CertSpec {
    /// Subject name.
    pub subject: Dn,
    /// Subject key (its public half goes in the certificate).
    pub key: KeyPair,
    /// Serial number bytes (big-endian, positive); derived from the contents when `None`.
    pub serial: Option<Vec<u8>>,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// basicConstraints; `None` omits the extension.
    pub basic_constraints: Option<BasicConstraintsSpec>,
    /// keyUsage bits (always critical); `None` omits the extension.
    pub key_usage: Option<Vec<KeyUsages>>,
    /// extendedKeyUsage OIDs (not critical); `None` omits the extension.
    pub eku: Option<Vec<ObjectIdentifier>>,
    /// subjectAltName entries (not critical); empty omits the extension.
    pub san: Vec<San>,
    /// nameConstraints (critical); `None` omits the extension.
    pub name_constraints: Option<NameConstraintsSpec>,
    /// Whether to write subjectKeyIdentifier (default true).
    pub ski: bool,
    /// Whether to write authorityKeyIdentifier (default true; never for self-signed).
    pub aki: bool,
    /// Extra extensions appended as given (e.g. an unknown critical one).
    pub extra_extensions: Vec<Extension>,
    /// The version field to write (default v3).
    pub version: CertVersion,
    /// Signature algorithm; the signer's default when `None`.
    pub sig_alg: Option<SigAlg>,
    /// Flip a bit of the signature after signing.
    pub corrupt_signature: bool,
    /// Sign with this key instead of the issuer's (the issuer name and AKI stay the issuer's).
    pub signing_key_override: Option<KeyPair>,
}

/// A signed certificate and what it was made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cert {
    /// The certificate DER.
    pub der: Vec<u8>,
    /// The subject's key pair (private half included, for signing what this cert issues).
    pub key: KeyPair,
    /// The subject name it was built with.
    pub subject: Dn,
    /// The serial number bytes.
    pub serial: Vec<u8>,
    /// The subjectKeyIdentifier written, if any.
    pub ski: Option<Vec<u8>>,
    /// The signature algorithm it was signed with.
    pub sig_alg: SigAlg,
}

impl Cert {
    /// PEM (`-----BEGIN CERTIFICATE-----`, LF line endings, trailing newline).
    pub fn pem(&self) -> String {
        der::pem::encode_string("CERTIFICATE", LineEnding::LF, &self.der)
            .expect("PEM encoding of a DER document")
    }

    /// The certificate parsed by x509-cert.
    ///
    /// # Panics
    /// If the certificate was deliberately built unparseable (e.g. [`CertVersion::Raw`]).
    pub fn parsed(&self) -> x509_cert::Certificate {
        x509_cert::Certificate::from_der(&self.der).expect("generated certificate parses")
    }

    /// The serial number as lowercase hex without separators.
    pub fn serial_hex(&self) -> String {
        hex(&self.serial)
    }

    /// The key identifier that certificates issued by this one put in their AKI.
    pub fn key_id(&self) -> Vec<u8> {
        self.ski
            .clone()
            .unwrap_or_else(|| self.key.key_identifier())
    }

    /// SHA-256 of the DER, lowercase hex (the usual certificate thumbprint).
    pub fn sha256_hex(&self) -> String {
        hex(&Sha256::digest(&self.der))
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl CertSpec {
    /// A plain v3 end-entity-shaped spec: no basicConstraints, keyUsage, EKU or SAN; SKI and AKI
    /// on.
    pub fn new(subject: Dn, key: KeyPair, not_before: i64, not_after: i64) -> CertSpec {
        CertSpec {
            subject,
            key,
            serial: None,
            not_before,
            not_after,
            basic_constraints: None,
            key_usage: None,
            eku: None,
            san: Vec::new(),
            name_constraints: None,
            ski: true,
            aki: true,
            extra_extensions: Vec::new(),
            version: CertVersion::V3,
            sig_alg: None,
            corrupt_signature: false,
            signing_key_override: None,
        }
    }

    /// A CA: basicConstraints critical `cA=TRUE` with `path_len`, keyUsage keyCertSign|cRLSign.
    pub fn ca(
        subject: Dn,
        key: KeyPair,
        not_before: i64,
        not_after: i64,
        path_len: Option<u8>,
    ) -> CertSpec {
        CertSpec::new(subject, key, not_before, not_after)
            .with_basic_constraints(true, path_len)
            .with_key_usage(&[KeyUsages::KeyCertSign, KeyUsages::CRLSign])
    }

    /// A device certificate: CN = `device_id` under `org`/`unit`, keyUsage digitalSignature,
    /// EKU clientAuth, basicConstraints omitted (as most device CAs issue them).
    pub fn device(
        device_id: &str,
        org: &str,
        unit: &str,
        key: KeyPair,
        not_before: i64,
        not_after: i64,
    ) -> CertSpec {
        let subject = Dn::new().o(org).ou(unit).cn(device_id);
        CertSpec::new(subject, key, not_before, not_after)
            .with_key_usage(&[KeyUsages::DigitalSignature])
            .with_eku(&[rfc5280::ID_KP_CLIENT_AUTH])
    }

    /// Set notBefore / notAfter (Unix seconds).
    pub fn with_validity(mut self, not_before: i64, not_after: i64) -> CertSpec {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// Set basicConstraints (critical).
    pub fn with_basic_constraints(mut self, ca: bool, path_len: Option<u8>) -> CertSpec {
        self.basic_constraints = Some(BasicConstraintsSpec {
            ca,
            path_len,
            critical: true,
        });
        self
    }

    /// Omit basicConstraints.
    pub fn without_basic_constraints(mut self) -> CertSpec {
        self.basic_constraints = None;
        self
    }

    /// Set the keyUsage bits (critical).
    pub fn with_key_usage(mut self, bits: &[KeyUsages]) -> CertSpec {
        self.key_usage = Some(bits.to_vec());
        self
    }

    /// Omit keyUsage.
    pub fn without_key_usage(mut self) -> CertSpec {
        self.key_usage = None;
        self
    }

    /// Set the extendedKeyUsage purposes.
    pub fn with_eku(mut self, purposes: &[ObjectIdentifier]) -> CertSpec {
        self.eku = Some(purposes.to_vec());
        self
    }

    /// Omit extendedKeyUsage.
    pub fn without_eku(mut self) -> CertSpec {
        self.eku = None;
        self
    }

    /// Add a subjectAltName entry.
    pub fn with_san(mut self, san: San) -> CertSpec {
        self.san.push(san);
        self
    }

    /// Set nameConstraints.
    pub fn with_name_constraints(mut self, nc: NameConstraintsSpec) -> CertSpec {
        self.name_constraints = Some(nc);
        self
    }

    /// Set an explicit serial number (big-endian bytes; keep the top bit clear for a positive
    /// INTEGER).
    pub fn with_serial(mut self, serial: &[u8]) -> CertSpec {
        self.serial = Some(serial.to_vec());
        self
    }

    /// Choose whether SKI and AKI are written.
    pub fn with_key_ids(mut self, ski: bool, aki: bool) -> CertSpec {
        self.ski = ski;
        self.aki = aki;
        self
    }

    /// Append a raw extension: `value` is encoded with DER and wrapped in the OCTET STRING.
    pub fn with_extension<T: Encode>(
        mut self,
        oid: ObjectIdentifier,
        critical: bool,
        value: &T,
    ) -> CertSpec {
        self.extra_extensions.push(extension(oid, critical, value));
        self
    }

    /// Override the version field.
    pub fn with_version(mut self, version: CertVersion) -> CertSpec {
        self.version = version;
        self
    }

    /// Override the signature algorithm.
    pub fn with_sig_alg(mut self, alg: SigAlg) -> CertSpec {
        self.sig_alg = Some(alg);
        self
    }

    /// Corrupt the signature after signing.
    pub fn with_corrupt_signature(mut self) -> CertSpec {
        self.corrupt_signature = true;
        self
    }

    /// Sign with `key` instead of the issuer's key.
    pub fn signed_with(mut self, key: KeyPair) -> CertSpec {
        self.signing_key_override = Some(key);
        self
    }

    /// Sign with the subject's own key, issuer = subject, no AKI.
    pub fn self_signed(self) -> Cert {
        let key = self.key.clone();
        let subject = self.subject.clone();
        self.sign(&subject, &key, None)
    }

    /// Sign as `issuer`: issuer name and AKI from its certificate, signed with its key.
    pub fn issued_by(self, issuer: &Cert) -> Cert {
        self.sign(&issuer.subject, &issuer.key, Some(issuer.key_id()))
    }

    fn extensions(&self, aki: Option<Vec<u8>>) -> Extensions {
        let mut exts = Vec::new();
        if let Some(bc) = self.basic_constraints {
            let value = BasicConstraints {
                ca: bc.ca,
                path_len_constraint: bc.path_len,
            };
            exts.push(extension(BasicConstraints::OID, bc.critical, &value));
        }
        if let Some(bits) = &self.key_usage {
            let flags = bits.iter().fold(FlagSet::default(), |acc, b| acc | *b);
            exts.push(extension(KeyUsage::OID, true, &KeyUsage(flags)));
        }
        if let Some(purposes) = &self.eku {
            exts.push(extension(
                ExtendedKeyUsage::OID,
                false,
                &ExtendedKeyUsage(purposes.clone()),
            ));
        }
        if self.ski {
            let ski = SubjectKeyIdentifier(
                OctetString::new(self.key.key_identifier()).expect("SKI octets"),
            );
            exts.push(extension(SubjectKeyIdentifier::OID, false, &ski));
        }
        if let Some(id) = aki.filter(|_| self.aki) {
            let aki = AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(id).expect("AKI octets")),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            exts.push(extension(AuthorityKeyIdentifier::OID, false, &aki));
        }
        if !self.san.is_empty() {
            let names = self.san.iter().map(San::general_name).collect();
            exts.push(extension(
                SubjectAltName::OID,
                false,
                &SubjectAltName(names),
            ));
        }
        if let Some(nc) = &self.name_constraints {
            let subtrees = |list: &[Subtree]| {
                (!list.is_empty()).then(|| list.iter().map(Subtree::general_subtree).collect())
            };
            let value = NameConstraints {
                permitted_subtrees: subtrees(&nc.permitted),
                excluded_subtrees: subtrees(&nc.excluded),
            };
            exts.push(extension(NameConstraints::OID, true, &value));
        }
        exts.extend(self.extra_extensions.iter().cloned());
        exts
    }

    fn sign(self, issuer: &Dn, issuer_key: &KeyPair, aki: Option<Vec<u8>>) -> Cert {
        let signer = self
            .signing_key_override
            .clone()
            .unwrap_or_else(|| issuer_key.clone());
        let sig_alg = self
            .sig_alg
            .unwrap_or_else(|| signer.kind().default_sig_alg());
        let issuer_name = issuer.to_name();
        let subject_name = self.subject.to_name();
        let spki = self.key.spki();
        let serial = self.serial.clone().unwrap_or_else(|| {
            derive_serial(&[
                &issuer_name.to_der().expect("name encodes"),
                &subject_name.to_der().expect("name encodes"),
                &self.key.public_spki_der(),
                &self.not_before.to_be_bytes(),
                &self.not_after.to_be_bytes(),
            ])
        });
        let extensions = self.extensions(aki);
        let version = match self.version {
            CertVersion::V1 => None,
            CertVersion::V2 => Some(1),
            CertVersion::V3 => Some(2),
            CertVersion::Raw(v) => Some(v),
        };
        let tbs = RawTbsCertificate {
            version,
            serial_number: SerialNumber::new(&serial).expect("serial number bytes"),
            signature: sig_alg.algorithm_identifier(),
            issuer: issuer_name,
            validity: Validity::new(unix_to_time(self.not_before), unix_to_time(self.not_after)),
            subject: subject_name,
            subject_public_key_info: spki,
            extensions: (!extensions.is_empty()).then_some(extensions),
        };
        let tbs_der = tbs.to_der().expect("TBSCertificate encodes");
        let signature = signer.sign_bits(&tbs_der, sig_alg, self.corrupt_signature);
        let cert = RawCertificate {
            tbs_certificate: tbs,
            signature_algorithm: sig_alg.algorithm_identifier(),
            signature,
        };
        Cert {
            der: cert.to_der().expect("Certificate encodes"),
            ski: self.ski.then(|| self.key.key_identifier()),
            key: self.key,
            subject: self.subject,
            serial,
            sig_alg,
        }
    }
}

/// A positive 16-byte serial derived from the certificate's contents.
pub(crate) fn derive_serial(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut serial = digest[..16].to_vec();
    // Positive, and no leading zero byte (which DER would strip, changing the length).
    serial[0] = (serial[0] & 0x7f) | 0x10;
    serial
}
