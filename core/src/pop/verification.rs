//! Proof of possession of a CA key, as cloud IoT hubs ask for it: the hub hands out a one-time
//! verification code, the CA's owner signs a certificate whose subject CN is that code with the
//! CA key, and the hub checks it. Each way this goes wrong has its own code and hint.

use crate::cert::Cert;
use crate::error::{Error, Failure};
use crate::input::parse_certificates;
use crate::report::CertSummary;
use crate::time::UnixTime;

/// Random bytes in a verification code: 160 bits, beyond guessing for the code's short life.
pub const VERIFICATION_CODE_BYTES: usize = 20;

/// A verification code from caller-supplied random bytes: upper-case hex, 40 characters (well
/// under the 64-character limit on a CN, and safe in a shell and in `-subj "/CN=..."`).
pub fn verification_code(random: &[u8; VERIFICATION_CODE_BYTES]) -> String {
    random.iter().map(|b| format!("{b:02X}")).collect()
}

/// An accepted verification certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct VerificationReport {
    /// The CA whose key possession was shown.
    pub ca: CertSummary,
    /// The verification certificate.
    pub verification_certificate: CertSummary,
    /// The code found in its CN.
    pub code: String,
    /// Time the check was made at, Unix seconds.
    pub verified_at: i64,
}

const CA_AT: usize = 1;
const VCERT_AT: usize = 0;

fn first_cert(input: &[u8], depth: usize, what: &str) -> Result<Cert, Failure> {
    let ders = parse_certificates(input).map_err(|e| Failure::at(e, depth, what))?;
    let der = ders
        .first()
        .ok_or_else(|| Failure::at(Error::NoCertificate, depth, what))?;
    Cert::from_der(der).map_err(|e| Failure::at(e, depth, what))
}

/// Short name of a subject attribute, for "the code is in the O field".
fn attr_name(oid: const_oid::ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "2.5.4.3" => "CN".into(),
        "2.5.4.5" => "serialNumber".into(),
        "2.5.4.6" => "C".into(),
        "2.5.4.7" => "L".into(),
        "2.5.4.8" => "ST".into(),
        "2.5.4.10" => "O".into(),
        "2.5.4.11" => "OU".into(),
        "1.2.840.113549.1.9.1" => "emailAddress".into(),
        _ => crate::algorithms::describe_oid(oid),
    }
}

/// Check a verification certificate (`cert`, PEM or DER) against the CA certificate (`ca`, PEM
/// or DER; the first certificate is used) and the one-time `code`, at `time`.
///
/// In order: the inputs hold certificates and no private key (`private-key-in-input`); the
/// "verification certificate" is not the CA itself (`pop-ca-uploaded`); its subject CN is
/// exactly the code (`pop-code-not-in-cn`, `pop-code-mismatch`); its issuer name is the CA's
/// subject (`pop-wrong-issuer`); the CA's key signed it (`pop-wrong-ca-key`); both are within
/// their validity at `time` (`expired`, `not-yet-valid`). Depth 0 is the verification
/// certificate, depth 1 the CA.
pub fn verify_verification_certificate(
    ca: &[u8],
    code: &str,
    cert: &[u8],
    time: UnixTime,
) -> Result<VerificationReport, Failure> {
    let ca = first_cert(ca, CA_AT, "the CA certificate")?;
    let v = first_cert(cert, VCERT_AT, "the verification certificate")?;
    let at_v = |e: Error| Failure::at(e, VCERT_AT, v.subject().to_owned());
    let at_ca = |e: Error| Failure::at(e, CA_AT, ca.subject().to_owned());

    if v.der() == ca.der() || (v.subject_der() == ca.subject_der() && v.spki_der() == ca.spki_der())
    {
        return Err(at_v(Error::PopCaUploaded));
    }

    let code = code.trim();
    let cn = v.common_name().map_err(at_v)?;
    match cn.as_deref() {
        Some(found) if found == code => {}
        found => {
            // Where is the code, if not in the CN? Say so: it is the most common slip.
            let elsewhere = v.x509().tbs_certificate().subject().iter().find_map(|atv| {
                let text = crate::cert::directory_string(&atv.value)?;
                (atv.oid != crate::cert::CN && text.trim() == code).then(|| attr_name(atv.oid))
            });
            return Err(at_v(match (found, elsewhere) {
                (_, Some(field)) => Error::PopCodeNotInCn { field: Some(field) },
                (None, None) => Error::PopCodeNotInCn { field: None },
                (Some(found), None) => Error::PopCodeMismatch {
                    expected: code.to_owned(),
                    found: found.to_owned(),
                },
            }));
        }
    }

    if v.issuer_der() != ca.subject_der() {
        return Err(at_v(Error::PopWrongIssuer {
            issuer: v.issuer().to_owned(),
            ca_subject: ca.subject().to_owned(),
        }));
    }

    let ca_key = ca.public_key().map_err(at_ca)?;
    match v.verify_signed_by(ca_key) {
        Ok(()) => {}
        // A refused algorithm (SHA-1, ...) is the certificate's problem, not the key's.
        Err(Error::BadSignature | Error::AlgorithmMismatch { .. }) => {
            return Err(at_v(Error::PopWrongCaKey));
        }
        Err(e) => return Err(at_v(e)),
    }

    for (c, at) in [(&v, VCERT_AT), (&ca, CA_AT)] {
        if time.0 > c.not_after() {
            return Err(Failure::at(
                Error::Expired {
                    not_after: c.not_after(),
                    time: time.0,
                },
                at,
                c.subject().to_owned(),
            ));
        }
        if time.0 < c.not_before() {
            return Err(Failure::at(
                Error::NotYetValid {
                    not_before: c.not_before(),
                    time: time.0,
                },
                at,
                c.subject().to_owned(),
            ));
        }
    }

    Ok(VerificationReport {
        ca: ca.summary(CA_AT, true),
        verification_certificate: v.summary(VCERT_AT, false),
        code: code.to_owned(),
        verified_at: time.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upper_hex() {
        let code = verification_code(&[0xab; VERIFICATION_CODE_BYTES]);
        assert_eq!(code.len(), 40);
        assert!(
            code.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
    }
}
