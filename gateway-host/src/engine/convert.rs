//! Core values to WIT values and back, field for field: the mapping is lossless, so a report
//! from the component equals the native one (`tests/parity.rs`).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use chainproof::{
    CertSummary, Enrollment, ErrorCode, IdentitySource, PathAttempt, PeerName, PopSignatureKind,
    PossessionReport, Purpose, Report, SignatureEncoding, Verdict, VerificationReport,
    VerifyOptions, Warning,
};

use super::bindings::exports::chainproof::validator::types as wit;
use super::types::{Accepted, Rejection};

/// Distinct warning codes the host will hold as `&'static str` (the core has three).
const MAX_WARNING_CODES: usize = 64;

fn usize_of(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn u32_of(n: usize) -> u32 {
    // Inputs beyond 2^32 mean the same to the core as 2^32 - 1 (e.g. max intermediates).
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A component's answer that does not fit the core's types (a code the core does not know):
/// a rejection saying so, never a panic.
fn foreign(what: &str) -> Rejection {
    Rejection::from(chainproof::Error::MalformedInput {
        detail: format!("the validator component answered {what}, which this host does not know"),
    })
}

fn code(s: &str) -> Result<ErrorCode, Rejection> {
    ErrorCode::from_code(s).ok_or_else(|| foreign(&format!("error code {s:?}")))
}

/// `Warning::code` is `&'static str`: the few distinct codes are interned once.
fn static_code(s: &str) -> Result<&'static str, Rejection> {
    static CODES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut codes = CODES
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(c) = codes.get(s) {
        return Ok(c);
    }
    if codes.len() >= MAX_WARNING_CODES {
        return Err(foreign(&format!("warning code {s:?}")));
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    codes.insert(leaked);
    Ok(leaked)
}

/// Core options to WIT.
pub fn options(o: &VerifyOptions) -> wit::VerifyOptions {
    wit::VerifyOptions {
        time: o.time.0,
        purpose: match &o.purpose {
            Purpose::Client => wit::Purpose::Client,
            Purpose::Server => wit::Purpose::Server,
            Purpose::Any => wit::Purpose::Any,
            Purpose::Ekus(oids) => wit::Purpose::Ekus(oids.iter().map(|o| o.to_string()).collect()),
        },
        max_intermediates: o.max_intermediates.map(u32_of),
        peer_names: o
            .peer_names
            .iter()
            .map(|n| match n {
                PeerName::Dns(s) => wit::PeerName::Dns(s.clone()),
                PeerName::Ip(ip) => wit::PeerName::Ip(ip.to_string()),
                PeerName::Email(s) => wit::PeerName::Email(s.clone()),
            })
            .collect(),
        identity: match o.identity {
            IdentitySource::SubjectCn => wit::IdentitySource::SubjectCn,
            IdentitySource::SanUri => wit::IdentitySource::SanUri,
            IdentitySource::SanDns => wit::IdentitySource::SanDns,
            IdentitySource::None => wit::IdentitySource::None,
        },
        expected_device_id: o.expected_device_id.clone(),
        required_key_usage: o.required_key_usage.clone(),
        renewal_window_secs: o.renewal_window_secs,
    }
}

/// WIT certificate summary to the core's.
pub fn summary(c: wit::CertSummary) -> Result<CertSummary, Rejection> {
    Ok(CertSummary {
        depth: usize_of(c.depth),
        subject: c.subject,
        issuer: c.issuer,
        serial: c.serial,
        not_before: c.not_before,
        not_after: c.not_after,
        key_type: c.key_type,
        key_bits: c.key_bits,
        signature_algorithm: c.signature_algorithm,
        sha1: c.sha1,
        sha256: c.sha256,
        subject_key_id: c.subject_key_id,
        authority_key_id: c.authority_key_id,
        is_ca: c.is_ca,
        trust_anchor: c.trust_anchor,
    })
}

fn warnings(ws: Vec<wit::Warning>) -> Result<Vec<Warning>, Rejection> {
    ws.into_iter()
        .map(|w| {
            Ok(Warning {
                code: static_code(&w.code)?,
                message: w.message,
            })
        })
        .collect()
}

/// WIT report to the core's.
pub fn report(r: wit::Report) -> Result<Report, Rejection> {
    Ok(Report {
        device_id: r.device_id,
        chain: r.chain.into_iter().map(summary).collect::<Result<_, _>>()?,
        validated_at: r.validated_at,
        seconds_to_expiry: r.seconds_to_expiry,
        renewal_due: r.renewal_due,
        warnings: warnings(r.warnings)?,
        paths_tried: usize_of(r.paths_tried),
        signatures_checked: usize_of(r.signatures_checked),
    })
}

/// WIT verdict to the host's [`Accepted`].
pub fn verdict(v: wit::Verdict) -> Result<Accepted, Rejection> {
    Ok(match v {
        wit::Verdict::Chain(r) => Accepted::Chain(report(r)?),
        wit::Verdict::Admitted(a) => Accepted::Admitted(Verdict {
            report: report(a.report)?,
            enrollment: match a.enrollment {
                wit::Enrollment::Group(id) => Enrollment::Group(id),
                wit::Enrollment::Device(id) => Enrollment::Device(id),
            },
            tags: a.tags,
            route: a.route,
            warnings: warnings(a.warnings)?,
        }),
    })
}

/// WIT failure to a [`Rejection`]; `Err` holds the rejection for an unknown code.
pub fn rejection(f: wit::Failure) -> Result<Rejection, Rejection> {
    Ok(Rejection {
        code: code(&f.code)?,
        message: f.message,
        hint: f.hint,
        depth: f.depth.map(usize_of),
        subject: f.subject,
        attempts: f
            .attempts
            .into_iter()
            .map(|a| {
                Ok(PathAttempt {
                    subjects: a.subjects,
                    code: code(&a.code)?,
                    message: a.message,
                })
            })
            .collect::<Result<_, Rejection>>()?,
    })
}

/// WIT verification report to the core's.
pub fn verification_report(r: wit::VerificationReport) -> Result<VerificationReport, Rejection> {
    Ok(VerificationReport {
        ca: summary(r.ca)?,
        verification_certificate: summary(r.verification_certificate)?,
        code: r.code,
        verified_at: r.verified_at,
    })
}

/// Host proof to WIT.
pub fn proof(p: &super::ProofInput<'_>) -> wit::Proof {
    wit::Proof {
        audience: p.audience.to_owned(),
        challenge_token: p.challenge_token.to_owned(),
        signature: p.signature.to_vec(),
        encoding: match p.encoding {
            SignatureEncoding::Auto => wit::SignatureEncoding::Auto,
            SignatureEncoding::Der => wit::SignatureEncoding::Der,
            SignatureEncoding::Raw => wit::SignatureEncoding::Raw,
        },
    }
}

/// WIT possession report to the core's.
pub fn possession(r: wit::PossessionReport) -> Result<PossessionReport, Rejection> {
    Ok(PossessionReport {
        chain: report(r.chain)?,
        audience: r.audience,
        nonce: r.nonce,
        issued_at: r.issued_at,
        expires_at: r.expires_at,
        signature: match r.signature {
            wit::PopSignatureKind::EcdsaP256Sha256Der => PopSignatureKind::EcdsaP256Sha256Der,
            wit::PopSignatureKind::EcdsaP256Sha256Raw => PopSignatureKind::EcdsaP256Sha256Raw,
            wit::PopSignatureKind::EcdsaP384Sha384Der => PopSignatureKind::EcdsaP384Sha384Der,
            wit::PopSignatureKind::EcdsaP384Sha384Raw => PopSignatureKind::EcdsaP384Sha384Raw,
            wit::PopSignatureKind::RsaPkcs1Sha256 => PopSignatureKind::RsaPkcs1Sha256,
            wit::PopSignatureKind::RsaPssSha256 => PopSignatureKind::RsaPssSha256,
            wit::PopSignatureKind::Ed25519 => PopSignatureKind::Ed25519,
        },
    })
}
