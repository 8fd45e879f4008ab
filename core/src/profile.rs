//! The certificate profile: RFC 5280 rules per certificate (validity, version, serial, basic
//! constraints, key usage, extended key usage, key identifiers, critical extensions) and the
//! stricter Web PKI rules that apply when validating TLS server certificates.

use const_oid::ObjectIdentifier as Oid;
use x509_cert::certificate::Version;

use crate::algorithms::describe_oid;
use crate::cert::Cert;
use crate::error::Error;
use crate::name;

/// Extended key usage OIDs (RFC 5280 4.2.1.12).
pub mod eku {
    use const_oid::ObjectIdentifier as Oid;
    /// anyExtendedKeyUsage
    pub const ANY: Oid = Oid::new_unwrap("2.5.29.37.0");
    /// id-kp-serverAuth
    pub const SERVER_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.1");
    /// id-kp-clientAuth
    pub const CLIENT_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.2");
    /// id-kp-codeSigning
    pub const CODE_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.3");
    /// id-kp-emailProtection
    pub const EMAIL_PROTECTION: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.4");
    /// id-kp-timeStamping
    pub const TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
    /// id-kp-OCSPSigning
    pub const OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");

    /// Parse an EKU by name (`serverAuth`, `clientAuth`, ...) or dotted OID.
    pub fn parse(s: &str) -> Option<Oid> {
        match s {
            "serverAuth" => Some(SERVER_AUTH),
            "clientAuth" => Some(CLIENT_AUTH),
            "codeSigning" => Some(CODE_SIGNING),
            "emailProtection" => Some(EMAIL_PROTECTION),
            "timeStamping" => Some(TIME_STAMPING),
            "OCSPSigning" => Some(OCSP_SIGNING),
            "anyExtendedKeyUsage" => Some(ANY),
            _ => Oid::new(s).ok(),
        }
    }
}

/// What the leaf certificate must be good for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Purpose {
    /// TLS client / device authentication (clientAuth). The default: devices are clients.
    #[default]
    Client,
    /// TLS server authentication (serverAuth), with the Web PKI rules.
    Server,
    /// No extended key usage requirement.
    Any,
    /// Every one of these EKUs must be present in the leaf (and allowed by the CAs).
    Ekus(Vec<Oid>),
}

impl Purpose {
    /// Parse `client`, `server` or `any`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client" => Some(Purpose::Client),
            "server" => Some(Purpose::Server),
            "any" => Some(Purpose::Any),
            _ => None,
        }
    }

    fn wanted(&self) -> Vec<Oid> {
        match self {
            Purpose::Client => vec![eku::CLIENT_AUTH],
            Purpose::Server => vec![eku::SERVER_AUTH],
            Purpose::Any => vec![],
            Purpose::Ekus(v) => v.clone(),
        }
    }

    /// Whether the Web PKI (CA/Browser Forum) rules apply.
    pub fn is_server(&self) -> bool {
        matches!(self, Purpose::Server)
            || matches!(self, Purpose::Ekus(v) if v.contains(&eku::SERVER_AUTH))
    }
}

fn eku_names(list: &[Oid]) -> Vec<String> {
    list.iter().map(|o| describe_oid(*o)).collect()
}

/// Rules for every certificate in a path, anchors included. Anchors are trusted as configured,
/// so the issuance rules that concern how their own issuer made them (serial number form,
/// authority key identifier) are not applied to them.
pub fn check_common(cert: &Cert, time: i64, is_anchor: bool) -> Result<(), Error> {
    let ext = cert.extensions();
    if let Some(problem) = &ext.problem {
        return Err(problem.clone());
    }
    if let Some(oid) = ext.unknown_critical {
        return Err(Error::UnknownCriticalExtension {
            oid: describe_oid(oid),
        });
    }
    if cert.version() != Version::V3 {
        return Err(Error::InvalidVersion {
            detail: "only X.509 v3 certificates are accepted",
        });
    }
    if !is_anchor {
        check_serial(cert.serial())?;
    }
    if cert.not_before() > time {
        return Err(Error::NotYetValid {
            not_before: cert.not_before(),
            time,
        });
    }
    if cert.not_after() < time {
        return Err(Error::Expired {
            not_after: cert.not_after(),
            time,
        });
    }
    if cert.x509().tbs_certificate().issuer().is_empty() {
        return Err(Error::InvalidName {
            detail: "the issuer name is empty".into(),
        });
    }
    // RFC 5280 4.2.1.6: with an empty subject the SAN MUST be present and critical.
    if cert.x509().tbs_certificate().subject().is_empty() {
        match &ext.san {
            Some((_, true)) => {}
            Some((_, false)) => {
                return Err(Error::InvalidExtension {
                    name: "subjectAltName",
                    detail: "it must be critical when the subject is empty".into(),
                });
            }
            None => {
                return Err(Error::InvalidName {
                    detail: "the subject is empty and there is no subjectAltName".into(),
                });
            }
        }
    }
    if let Some((aki, _)) = &ext.aki {
        if aki.key_identifier.is_none() {
            return Err(Error::InvalidExtension {
                name: "authorityKeyIdentifier",
                detail: "it has no keyIdentifier".into(),
            });
        }
        if aki.authority_cert_issuer.is_some() || aki.authority_cert_serial_number.is_some() {
            return Err(Error::InvalidExtension {
                name: "authorityKeyIdentifier",
                detail: "it names the issuer and serial instead of only a key identifier".into(),
            });
        }
    }
    if !is_anchor && !cert.is_self_issued() && ext.aki.is_none() {
        // RFC 5280 4.2.1.1: MUST be present in all but self-signed certificates.
        return Err(Error::InvalidExtension {
            name: "authorityKeyIdentifier",
            detail: "it is missing".into(),
        });
    }
    cert.public_key()?;
    name::check_san_syntax(cert)?;
    Ok(())
}

/// RFC 5280 4.1.2.2: positive, at most 20 octets.
fn check_serial(serial: &[u8]) -> Result<(), Error> {
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(Error::InvalidSerial {
            detail: "it is negative",
        });
    }
    if serial.iter().all(|b| *b == 0) {
        return Err(Error::InvalidSerial {
            detail: "it is zero",
        });
    }
    let content = if serial.len() > 1 && serial[0] == 0 {
        &serial[1..]
    } else {
        serial
    };
    if content.len() > 20 {
        return Err(Error::InvalidSerial {
            detail: "it is longer than 20 octets",
        });
    }
    Ok(())
}

/// Rules for a certificate that issues others (intermediates and anchors).
pub fn check_ca(cert: &Cert, is_anchor: bool, purpose: &Purpose) -> Result<(), Error> {
    let ext = cert.extensions();
    match &ext.basic_constraints {
        Some((bc, critical)) if bc.ca => {
            if !critical {
                return Err(Error::InvalidExtension {
                    name: "basicConstraints",
                    detail: "it must be critical in a CA certificate".into(),
                });
            }
        }
        _ => return Err(Error::NotACa),
    }
    if let Some(ku) = &ext.key_usage
        && !ku.key_cert_sign()
    {
        return Err(Error::MissingKeyCertSign);
    }
    if ext.ski.is_none() {
        return Err(Error::InvalidExtension {
            name: "subjectKeyIdentifier",
            detail: "a CA certificate must carry one".into(),
        });
    }
    if cert.x509().tbs_certificate().subject().is_empty() {
        return Err(Error::InvalidName {
            detail: "a CA's subject must not be empty".into(),
        });
    }
    if let Some((nc, _)) = &ext.name_constraints {
        name::check_constraints_syntax(nc)?;
    }
    // A self-signed root's AKI, when present, must point at its own key.
    if is_anchor
        && cert.is_self_issued()
        && let (Some((aki, _)), Some(ski)) = (&ext.aki, &ext.ski)
        && aki.key_identifier.as_ref().map(|k| k.as_bytes()) != Some(ski.as_slice())
    {
        return Err(Error::InvalidExtension {
            name: "authorityKeyIdentifier",
            detail: "a self-signed root's key identifier differs from its own".into(),
        });
    }
    if let Some(list) = &ext.eku {
        // CA/B Forum: roots carry no EKU.
        if is_anchor && purpose.is_server() && cert.is_self_issued() {
            return Err(Error::EkuNotAllowed {
                wanted: "no extendedKeyUsage in a root".into(),
                present: eku_names(list),
            });
        }
        // An EKU in a CA restricts what it may issue for (the common reading of RFC 5280).
        for want in purpose.wanted() {
            if !list.contains(&want) && !list.contains(&eku::ANY) {
                return Err(Error::EkuNotAllowed {
                    wanted: describe_oid(want),
                    present: eku_names(list),
                });
            }
        }
    }
    Ok(())
}

/// Rules for the end-entity certificate.
pub fn check_leaf(
    cert: &Cert,
    purpose: &Purpose,
    required_key_usage: &[String],
) -> Result<(), Error> {
    let ext = cert.extensions();
    if cert.is_ca() {
        // A device presenting a CA certificate as its identity is a provisioning mistake or an
        // attack. For other purposes RFC 5280 allows a CA in leaf position, but only a
        // consistent one (cA=TRUE goes with keyCertSign, 4.2.1.3 and 4.2.1.9).
        if matches!(purpose, Purpose::Client)
            || ext.key_usage.as_ref().is_some_and(|ku| !ku.key_cert_sign())
        {
            return Err(Error::CaUsedAsLeaf);
        }
    }
    if ext.name_constraints.is_some() {
        return Err(Error::InvalidExtension {
            name: "nameConstraints",
            detail: "only CA certificates may carry it".into(),
        });
    }
    if let Some(ku) = &ext.key_usage {
        if ku.key_cert_sign() && !cert.is_ca() {
            return Err(Error::InvalidExtension {
                name: "keyUsage",
                detail: "keyCertSign is set in an end-entity certificate".into(),
            });
        }
        if matches!(purpose, Purpose::Client) && !ku.digital_signature() {
            return Err(Error::KeyUsageNotAllowed {
                required: "digitalSignature",
            });
        }
    }
    for bit in required_key_usage {
        let has = match (bit.as_str(), &ext.key_usage) {
            (_, None) => true,
            ("digitalSignature", Some(ku)) => ku.digital_signature(),
            ("nonRepudiation" | "contentCommitment", Some(ku)) => ku.non_repudiation(),
            ("keyEncipherment", Some(ku)) => ku.key_encipherment(),
            ("dataEncipherment", Some(ku)) => ku.data_encipherment(),
            ("keyAgreement", Some(ku)) => ku.key_agreement(),
            ("keyCertSign", Some(ku)) => ku.key_cert_sign(),
            ("cRLSign", Some(ku)) => ku.crl_sign(),
            (_, Some(_)) => false,
        };
        if !has {
            return Err(Error::KeyUsageNotAllowed {
                required: static_bit(bit),
            });
        }
    }
    if let Some(list) = &ext.eku {
        for want in purpose.wanted() {
            // anyExtendedKeyUsage does not stand in for a named purpose: devices and servers
            // must be issued for what they do.
            if !list.contains(&want) {
                return Err(Error::EkuNotAllowed {
                    wanted: describe_oid(want),
                    present: eku_names(list),
                });
            }
        }
    }
    if purpose.is_server() {
        // CA/B Forum Baseline Requirements 7.1.2.7: subscriber certificates.
        if cert.x509().tbs_certificate().extensions().is_some_and(|e| {
            e.iter()
                .any(|x| x.extn_id == crate::cert::ext_oid::EKU && x.critical)
        }) {
            return Err(Error::InvalidExtension {
                name: "extKeyUsage",
                detail: "it must not be critical in a server certificate".into(),
            });
        }
        if ext.eku.as_ref().is_some_and(|l| l.contains(&eku::ANY)) {
            return Err(Error::EkuNotAllowed {
                wanted: "no anyExtendedKeyUsage in a server certificate".into(),
                present: eku_names(ext.eku.as_deref().unwrap_or(&[])),
            });
        }
        match &ext.san {
            None => {
                return Err(Error::NameMismatch {
                    expected: "a subjectAltName".into(),
                    present: vec![],
                });
            }
            Some((_, true)) if !cert.x509().tbs_certificate().subject().is_empty() => {
                return Err(Error::InvalidExtension {
                    name: "subjectAltName",
                    detail: "it must not be critical when the subject is not empty".into(),
                });
            }
            _ => {}
        }
        name::check_cn_ip_form(cert)?;
    }
    Ok(())
}

fn static_bit(bit: &str) -> &'static str {
    match bit {
        "digitalSignature" => "digitalSignature",
        "keyEncipherment" => "keyEncipherment",
        "keyAgreement" => "keyAgreement",
        "dataEncipherment" => "dataEncipherment",
        "keyCertSign" => "keyCertSign",
        "cRLSign" => "cRLSign",
        _ => "a required key usage",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_rules() {
        assert!(check_serial(&[1]).is_ok());
        assert!(check_serial(&[0, 0x80]).is_ok());
        assert_eq!(
            check_serial(&[0]),
            Err(Error::InvalidSerial {
                detail: "it is zero"
            })
        );
        assert_eq!(
            check_serial(&[0x80]),
            Err(Error::InvalidSerial {
                detail: "it is negative"
            })
        );
        assert!(check_serial(&[0x01; 21]).is_err());
        let mut twenty_one = vec![0];
        twenty_one.extend([0x80; 20]);
        assert!(check_serial(&twenty_one).is_ok());
    }

    #[test]
    fn purposes_parse() {
        assert_eq!(Purpose::parse("client"), Some(Purpose::Client));
        assert_eq!(Purpose::parse("nope"), None);
        assert_eq!(eku::parse("clientAuth"), Some(eku::CLIENT_AUTH));
        assert_eq!(eku::parse("1.2.3"), Some(Oid::new_unwrap("1.2.3")));
    }
}
