//! Revocation by CRL: decoded once into a serial index, checked per certificate in O(1).
//!
//! Fail closed: when a CRL is supplied for an issuer in the path and it cannot be trusted
//! (bad signature, issuer without cRLSign, out of date, unsupported critical extension), the
//! chain is rejected rather than the CRL ignored.

use std::collections::HashMap;

use der::{Decode, Encode};
use x509_cert::crl::CertificateList;

use crate::algorithms::SignatureAlgorithm;
use crate::cert::{Cert, hex_upper};
use crate::error::Error;
use crate::time::UnixTime;

/// CRL extension OIDs (RFC 5280 section 5.2).
mod crl_oid {
    use const_oid::ObjectIdentifier as Oid;
    pub const CRL_NUMBER: Oid = Oid::new_unwrap("2.5.29.20");
    pub const DELTA_CRL_INDICATOR: Oid = Oid::new_unwrap("2.5.29.27");
    pub const ISSUING_DISTRIBUTION_POINT: Oid = Oid::new_unwrap("2.5.29.28");
    pub const AKI: Oid = Oid::new_unwrap("2.5.29.35");
    pub const FRESHEST_CRL: Oid = Oid::new_unwrap("2.5.29.46");
    pub const AIA: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
    pub const REASON_CODE: Oid = Oid::new_unwrap("2.5.29.21");
    pub const INVALIDITY_DATE: Oid = Oid::new_unwrap("2.5.29.24");
    pub const CERTIFICATE_ISSUER: Oid = Oid::new_unwrap("2.5.29.29");
}

/// One revoked entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// revocationDate, Unix seconds.
    pub revoked_at: i64,
    /// reasonCode name, when present.
    pub reason: Option<String>,
}

/// A decoded CRL.
#[derive(Clone, Debug)]
pub struct Crl {
    issuer_der: Vec<u8>,
    issuer: String,
    tbs_der: Vec<u8>,
    signature: Vec<u8>,
    sig_alg: Result<SignatureAlgorithm, Error>,
    this_update: i64,
    next_update: Option<i64>,
    number: Option<String>,
    revoked: HashMap<Vec<u8>, RevokedEntry>,
    /// First reason this CRL cannot be relied on, found while decoding.
    problem: Option<Error>,
}

/// A short description of a CRL, for `inspect` and policy summaries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CrlSummary {
    /// Issuer, RFC 4514 text.
    pub issuer: String,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
    /// cRLNumber, upper-case hex.
    pub number: Option<String>,
    /// Number of revoked entries.
    pub revoked: usize,
    /// Why this CRL cannot be used, if it cannot.
    pub problem: Option<String>,
}

fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unknown reason",
    }
}

impl Crl {
    /// Decode a DER CRL (strict DER through x509-cert) and index its serials.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let malformed = |e: der::Error| Error::MalformedCrl {
            detail: e.to_string(),
        };
        let crl =
            CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der).map_err(malformed)?;
        let tbs_der = crate::cert::raw_tbs(der).map_err(malformed)?.to_vec();
        let tbs = &crl.tbs_cert_list;
        let mut problem = None;
        let unsupported = |detail: String| Some(Error::CrlUnsupported { detail });
        let mut number = None;
        for ext in tbs.crl_extensions.as_deref().unwrap_or(&[]) {
            match ext.extn_id {
                crl_oid::CRL_NUMBER => {
                    if ext.critical {
                        problem = problem.or(unsupported(
                            "the cRLNumber extension is marked critical".into(),
                        ));
                    }
                    match der::asn1::Uint::from_der(ext.extn_value.as_bytes()) {
                        Ok(n) => number = Some(hex_upper(n.as_bytes())),
                        Err(_) => {
                            problem = problem.or(unsupported("the cRLNumber is malformed".into()))
                        }
                    }
                }
                crl_oid::DELTA_CRL_INDICATOR => {
                    problem = problem.or(unsupported("delta CRLs are not supported".into()))
                }
                crl_oid::ISSUING_DISTRIBUTION_POINT => {
                    problem = problem.or(unsupported(
                        "partitioned CRLs (issuingDistributionPoint) are not supported".into(),
                    ))
                }
                crl_oid::AKI | crl_oid::FRESHEST_CRL | crl_oid::AIA => {}
                other if ext.critical => {
                    problem = problem.or(unsupported(format!(
                        "unknown critical CRL extension {other}"
                    )));
                }
                _ => {}
            }
        }
        // RFC 5280 5.2.3: conforming CRL issuers MUST include the CRL number.
        if number.is_none() {
            problem = problem.or(unsupported("the CRL has no cRLNumber".into()));
        }
        if crl.signature_algorithm != tbs.signature {
            problem = problem.or(Some(Error::AlgorithmMismatch {
                detail: "CRL signature algorithm fields differ".into(),
            }));
        }
        let mut revoked = HashMap::new();
        for entry in tbs.revoked_certificates.as_deref().unwrap_or(&[]) {
            let mut reason = None;
            for ext in entry.crl_entry_extensions.as_deref().unwrap_or(&[]) {
                match ext.extn_id {
                    crl_oid::REASON_CODE => {
                        if let Ok(e) = der::asn1::Any::from_der(ext.extn_value.as_bytes()) {
                            reason = e.value().first().map(|c| reason_name(*c).to_owned());
                        }
                    }
                    crl_oid::INVALIDITY_DATE => {}
                    crl_oid::CERTIFICATE_ISSUER if ext.critical => {
                        problem = problem.or(unsupported(
                            "indirect CRLs (certificateIssuer) are not supported".into(),
                        ));
                    }
                    other if ext.critical => {
                        problem = problem.or(unsupported(format!(
                            "unknown critical CRL entry extension {other}"
                        )));
                    }
                    _ => {}
                }
            }
            revoked.insert(
                entry.serial_number.as_bytes().to_vec(),
                RevokedEntry {
                    revoked_at: UnixTime::from_x509(&entry.revocation_date).0,
                    reason,
                },
            );
        }
        Ok(Crl {
            issuer_der: tbs.issuer.to_der().map_err(malformed)?,
            issuer: crate::name::dn_text(&tbs.issuer),
            tbs_der,
            signature: crl
                .signature
                .as_bytes()
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            sig_alg: SignatureAlgorithm::from_identifier(&crl.signature_algorithm),
            this_update: UnixTime::from_x509(&tbs.this_update).0,
            next_update: tbs.next_update.as_ref().map(|t| UnixTime::from_x509(t).0),
            number,
            revoked,
            problem,
        })
    }

    /// Issuer name DER.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// Look a serial up (O(1)).
    pub fn lookup(&self, serial: &[u8]) -> Option<&RevokedEntry> {
        self.revoked.get(serial)
    }

    /// nextUpdate, Unix seconds.
    pub fn next_update(&self) -> Option<i64> {
        self.next_update
    }

    /// A summary for display.
    pub fn summary(&self) -> CrlSummary {
        CrlSummary {
            issuer: self.issuer.clone(),
            this_update: self.this_update,
            next_update: self.next_update,
            number: self.number.clone(),
            revoked: self.revoked.len(),
            problem: self.problem.as_ref().map(ToString::to_string),
        }
    }

    /// Check that this CRL can be relied on for certificates issued by `issuer` at `time`:
    /// signed by the issuer's key, issuer allowed to sign CRLs, current.
    pub fn check_usable(&self, issuer: &Cert, time: i64) -> Result<(), Error> {
        if let Some(p) = &self.problem {
            return Err(p.clone());
        }
        if let Some(ku) = &issuer.extensions().key_usage
            && !ku.crl_sign()
        {
            return Err(Error::CrlUnsupported {
                detail: "the issuer's keyUsage does not allow signing CRLs (cRLSign)".into(),
            });
        }
        let key = issuer.public_key().map_err(|_| Error::CrlBadSignature)?;
        let alg = self.sig_alg.clone()?;
        key.verify(alg, &self.tbs_der, &self.signature)
            .map_err(|_| Error::CrlBadSignature)?;
        if self.this_update > time {
            return Err(Error::CrlNotYetValid {
                this_update: self.this_update,
                time,
            });
        }
        match self.next_update {
            Some(next) if next < time => Err(Error::CrlExpired {
                next_update: next,
                time,
            }),
            _ => Ok(()),
        }
    }
}

/// CRLs indexed by issuer name.
#[derive(Clone, Debug, Default)]
pub struct CrlSet {
    by_issuer: HashMap<Vec<u8>, Vec<Crl>>,
}

impl CrlSet {
    /// Add a CRL.
    pub fn insert(&mut self, crl: Crl) {
        self.by_issuer
            .entry(crl.issuer_der.clone())
            .or_default()
            .push(crl);
    }

    /// CRLs issued under `issuer_name_der`.
    pub fn for_issuer(&self, issuer_name_der: &[u8]) -> &[Crl] {
        self.by_issuer
            .get(issuer_name_der)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Every CRL.
    pub fn iter(&self) -> impl Iterator<Item = &Crl> {
        self.by_issuer.values().flatten()
    }

    /// Whether no CRL is loaded.
    pub fn is_empty(&self) -> bool {
        self.by_issuer.is_empty()
    }

    /// Check `cert`, issued by `issuer`, against every CRL of that issuer.
    pub fn check(&self, cert: &Cert, issuer: &Cert, time: i64) -> Result<(), Error> {
        for crl in self.for_issuer(cert.issuer_der()) {
            crl.check_usable(issuer, time)?;
            if let Some(entry) = crl.lookup(cert.serial()) {
                return Err(Error::Revoked {
                    serial: hex_upper(cert.serial()),
                    revoked_at: entry.revoked_at,
                    reason: entry.reason.clone(),
                });
            }
        }
        Ok(())
    }
}
