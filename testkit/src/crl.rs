//! Certificate revocation lists (RFC 5280 section 5) built from x509-cert's CRL types.

use const_oid::AssociatedOid;
use der::asn1::{OctetString, Uint};
use der::pem::LineEnding;
use der::{Decode, Encode};
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason};
use x509_cert::serial_number::SerialNumber;

use crate::cert::{Cert, extension, hex, unix_to_time};
use crate::keys::{KeyPair, SigAlg};

/// One revoked entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial number bytes of the revoked certificate.
    pub serial: Vec<u8>,
    /// revocationDate, Unix seconds.
    pub revoked_at: i64,
    /// Optional reasonCode entry extension.
    pub reason: Option<CrlReason>,
}

/// What goes into one CRL. Finish with [`CrlSpec::sign`].
#[derive(Clone, Debug)]
pub struct CrlSpec {
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds (`None` omits it).
    pub next_update: Option<i64>,
    /// Revoked entries, in order.
    pub revoked: Vec<RevokedEntry>,
    /// cRLNumber extension value (`None` omits it).
    pub crl_number: Option<u64>,
    /// Whether to write authorityKeyIdentifier (default true).
    pub aki: bool,
    /// Extra CRL extensions appended as given.
    pub extra_extensions: Vec<Extension>,
    /// Signature algorithm; the issuer key's default when `None`.
    pub sig_alg: Option<SigAlg>,
    /// Flip a bit of the signature after signing.
    pub corrupt_signature: bool,
    /// Sign with this key instead of the issuer's.
    pub signing_key_override: Option<KeyPair>,
}

/// A signed CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crl {
    /// The CRL DER.
    pub der: Vec<u8>,
    /// Serial numbers it lists, lowercase hex.
    pub revoked_serials_hex: Vec<String>,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
}

impl Crl {
    /// PEM (`-----BEGIN X509 CRL-----`).
    pub fn pem(&self) -> String {
        der::pem::encode_string("X509 CRL", LineEnding::LF, &self.der)
            .expect("PEM encoding of a DER document")
    }

    /// The CRL parsed by x509-cert.
    pub fn parsed(&self) -> CertificateList {
        CertificateList::from_der(&self.der).expect("generated CRL parses")
    }
}

impl CrlSpec {
    /// A v2 CRL with cRLNumber 1 and AKI, valid from `this_update` to `next_update`.
    pub fn new(this_update: i64, next_update: i64) -> CrlSpec {
        CrlSpec {
            this_update,
            next_update: Some(next_update),
            revoked: Vec::new(),
            crl_number: Some(1),
            aki: true,
            extra_extensions: Vec::new(),
            sig_alg: None,
            corrupt_signature: false,
            signing_key_override: None,
        }
    }

    /// List `cert` as revoked at `revoked_at` with reason keyCompromise.
    pub fn revoke(self, cert: &Cert, revoked_at: i64) -> CrlSpec {
        self.revoke_serial(&cert.serial, revoked_at, Some(CrlReason::KeyCompromise))
    }

    /// List a raw serial number as revoked.
    pub fn revoke_serial(
        mut self,
        serial: &[u8],
        revoked_at: i64,
        reason: Option<CrlReason>,
    ) -> CrlSpec {
        self.revoked.push(RevokedEntry {
            serial: serial.to_vec(),
            revoked_at,
            reason,
        });
        self
    }

    /// Set the cRLNumber.
    pub fn with_crl_number(mut self, n: u64) -> CrlSpec {
        self.crl_number = Some(n);
        self
    }

    /// Sign as `issuer` (the CA whose certificates it covers).
    pub fn sign(self, issuer: &Cert) -> Crl {
        let signer = self
            .signing_key_override
            .clone()
            .unwrap_or_else(|| issuer.key.clone());
        let sig_alg = self
            .sig_alg
            .unwrap_or_else(|| signer.kind().default_sig_alg());

        let revoked: Vec<RevokedCert> = self
            .revoked
            .iter()
            .map(|e| RevokedCert {
                serial_number: SerialNumber::new(&e.serial).expect("serial number bytes"),
                revocation_date: unix_to_time(e.revoked_at),
                crl_entry_extensions: e.reason.map(|r| vec![extension(CrlReason::OID, false, &r)]),
            })
            .collect();

        let mut exts = Vec::new();
        if self.aki {
            let aki = AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(issuer.key_id()).expect("AKI octets")),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            exts.push(extension(AuthorityKeyIdentifier::OID, false, &aki));
        }
        if let Some(n) = self.crl_number {
            let number = CrlNumber(Uint::new(&n.to_be_bytes()).expect("CRL number"));
            exts.push(extension(CrlNumber::OID, false, &number));
        }
        exts.extend(self.extra_extensions.iter().cloned());

        let tbs = TbsCertList {
            version: Version::V2,
            signature: sig_alg.algorithm_identifier(),
            issuer: issuer.subject.to_name(),
            this_update: unix_to_time(self.this_update),
            next_update: self.next_update.map(unix_to_time),
            revoked_certificates: (!revoked.is_empty()).then_some(revoked),
            crl_extensions: (!exts.is_empty()).then_some(exts),
        };
        let tbs_der = tbs.to_der().expect("TBSCertList encodes");
        let signature = signer.sign_bits(&tbs_der, sig_alg, self.corrupt_signature);
        let crl = CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: sig_alg.algorithm_identifier(),
            signature,
        };
        Crl {
            der: crl.to_der().expect("CertificateList encodes"),
            revoked_serials_hex: self.revoked.iter().map(|e| hex(&e.serial)).collect(),
            this_update: self.this_update,
            next_update: self.next_update,
        }
    }
}
