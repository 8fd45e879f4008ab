//! Core values to WIT values and back, field for field (nothing is decided here).

use chainproof::{
    CertSummary, Enrollment, Error, Failure, IdentitySource, PeerName, PopSignatureKind,
    PossessionReport, Purpose, Report, SignatureEncoding, UnixTime, Verdict, VerifyOptions,
    Warning,
};
use const_oid::ObjectIdentifier;

use crate::bindings::exports::chainproof::validator::types as wit;

fn u32_of(n: usize) -> u32 {
    // Depths, counts and key sizes are far below 2^32 (the core bounds them).
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn usize_of(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// WIT options to the core's. Only text that the host wrote from a core value is accepted.
pub fn from_options(o: wit::VerifyOptions) -> Result<VerifyOptions, Error> {
    let bad = |detail: String| Error::MalformedInput { detail };
    let purpose = match o.purpose {
        wit::Purpose::Client => Purpose::Client,
        wit::Purpose::Server => Purpose::Server,
        wit::Purpose::Any => Purpose::Any,
        wit::Purpose::Ekus(oids) => Purpose::Ekus(
            oids.iter()
                .map(|s| ObjectIdentifier::new(s).map_err(|e| bad(format!("EKU {s:?}: {e}"))))
                .collect::<Result<_, _>>()?,
        ),
    };
    let peer_names = o
        .peer_names
        .into_iter()
        .map(|n| match n {
            wit::PeerName::Dns(s) => Ok(PeerName::Dns(s)),
            wit::PeerName::Email(s) => Ok(PeerName::Email(s)),
            wit::PeerName::Ip(s) => s
                .parse()
                .map(PeerName::Ip)
                .map_err(|e| bad(format!("IP address {s:?}: {e}"))),
        })
        .collect::<Result<_, _>>()?;
    let identity = match o.identity {
        wit::IdentitySource::SubjectCn => IdentitySource::SubjectCn,
        wit::IdentitySource::SanUri => IdentitySource::SanUri,
        wit::IdentitySource::SanDns => IdentitySource::SanDns,
        wit::IdentitySource::None => IdentitySource::None,
    };
    let mut opts = VerifyOptions::new(UnixTime(o.time));
    opts.purpose = purpose;
    opts.max_intermediates = o.max_intermediates.map(usize_of);
    opts.peer_names = peer_names;
    opts.identity = identity;
    opts.expected_device_id = o.expected_device_id;
    opts.required_key_usage = o.required_key_usage;
    opts.renewal_window_secs = o.renewal_window_secs;
    Ok(opts)
}

// Answers are taken by value: their strings move into the WIT values instead of being
// copied once more before the bindings copy them out of the component.

/// `CertSummary` to WIT.
pub fn summary(c: CertSummary) -> wit::CertSummary {
    wit::CertSummary {
        depth: u32_of(c.depth),
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
    }
}

fn warnings(ws: Vec<Warning>) -> Vec<wit::Warning> {
    ws.into_iter()
        .map(|w| wit::Warning {
            code: w.code.to_owned(),
            message: w.message,
        })
        .collect()
}

/// `Report` to WIT.
pub fn report(r: Report) -> wit::Report {
    wit::Report {
        device_id: r.device_id,
        chain: r.chain.into_iter().map(summary).collect(),
        validated_at: r.validated_at,
        seconds_to_expiry: r.seconds_to_expiry,
        renewal_due: r.renewal_due,
        warnings: warnings(r.warnings),
        paths_tried: u32_of(r.paths_tried),
        signatures_checked: u32_of(r.signatures_checked),
    }
}

/// A fleet `Verdict` to WIT.
pub fn admission(v: Verdict) -> wit::Admission {
    wit::Admission {
        report: report(v.report),
        enrollment: match v.enrollment {
            Enrollment::Group(id) => wit::Enrollment::Group(id),
            Enrollment::Device(id) => wit::Enrollment::Device(id),
        },
        tags: v.tags,
        route: v.route,
        warnings: warnings(v.warnings),
    }
}

/// `Failure` to WIT: the code, message and hint exactly as the core words them.
pub fn failure(f: &Failure) -> wit::Failure {
    wit::Failure {
        code: f.code().as_str().to_owned(),
        message: f.message(),
        hint: f.hint(),
        depth: f.depth.map(u32_of),
        subject: f.subject.clone(),
        attempts: f
            .attempts
            .iter()
            .map(|a| wit::PathAttempt {
                subjects: a.subjects.clone(),
                code: a.code.as_str().to_owned(),
                message: a.message.clone(),
            })
            .collect(),
    }
}

/// WIT signature encoding to the core's.
pub fn to_encoding(e: wit::SignatureEncoding) -> SignatureEncoding {
    match e {
        wit::SignatureEncoding::Auto => SignatureEncoding::Auto,
        wit::SignatureEncoding::Der => SignatureEncoding::Der,
        wit::SignatureEncoding::Raw => SignatureEncoding::Raw,
    }
}

/// `PossessionReport` to WIT.
pub fn possession(r: PossessionReport) -> wit::PossessionReport {
    wit::PossessionReport {
        chain: report(r.chain),
        audience: r.audience,
        nonce: r.nonce,
        issued_at: r.issued_at,
        expires_at: r.expires_at,
        signature: match r.signature {
            PopSignatureKind::EcdsaP256Sha256Der => wit::PopSignatureKind::EcdsaP256Sha256Der,
            PopSignatureKind::EcdsaP256Sha256Raw => wit::PopSignatureKind::EcdsaP256Sha256Raw,
            PopSignatureKind::EcdsaP384Sha384Der => wit::PopSignatureKind::EcdsaP384Sha384Der,
            PopSignatureKind::EcdsaP384Sha384Raw => wit::PopSignatureKind::EcdsaP384Sha384Raw,
            PopSignatureKind::RsaPkcs1Sha256 => wit::PopSignatureKind::RsaPkcs1Sha256,
            PopSignatureKind::RsaPssSha256 => wit::PopSignatureKind::RsaPssSha256,
            PopSignatureKind::Ed25519 => wit::PopSignatureKind::Ed25519,
        },
    }
}
