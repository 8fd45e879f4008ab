//! Human-readable text for verdicts and certificates. Pure functions from core types to
//! strings, so the wording is unit-tested and the same everywhere in the CLI.

use std::fmt::Write;

use chainproof::{CertSummary, Failure, Report, UnixTime};
use chainproof_gateway::engine::Rejection;

/// How much of a certificate to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// The fields a technician checks in a verdict: subject, serial, validity, key, SHA-256.
    Chain,
    /// Everything `inspect` shows, including SHA-1, key identifiers and the CA flag.
    Full,
}

fn time(t: i64) -> String {
    UnixTime(t).to_rfc3339()
}

/// "in 3 days", "2 days ago": rough on purpose, the exact times are printed beside it.
fn relative(secs: i64) -> String {
    let (n, unit) = match secs.unsigned_abs() {
        s if s >= 2 * 86_400 => (s / 86_400, "days"),
        s if s >= 2 * 3_600 => (s / 3_600, "hours"),
        s if s >= 2 * 60 => (s / 60, "minutes"),
        s => (s, "seconds"),
    };
    if secs >= 0 {
        format!("in {n} {unit}")
    } else {
        format!("{n} {unit} ago")
    }
}

/// One certificate, indented under a `[depth] subject` line.
pub fn certificate(c: &CertSummary, detail: Detail) -> String {
    let mut s = String::new();
    let anchor = if c.trust_anchor {
        "  (trust anchor)"
    } else {
        ""
    };
    let _ = writeln!(s, "  [{}] {}{anchor}", c.depth, c.subject);
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(s, "      {name:<11}{value}");
    };
    field("issuer", &c.issuer);
    field("serial", &c.serial);
    field(
        "valid",
        &format!("{} to {}", time(c.not_before), time(c.not_after)),
    );
    field("key", &format!("{} ({} bits)", c.key_type, c.key_bits));
    field("signature", &c.signature_algorithm);
    if detail == Detail::Full {
        field("sha-1", &c.sha1);
    }
    field("sha-256", &c.sha256);
    if detail == Detail::Full {
        field("ca", if c.is_ca { "yes" } else { "no" });
        field("ski", c.subject_key_id.as_deref().unwrap_or("(none)"));
        field("aki", c.authority_key_id.as_deref().unwrap_or("(none)"));
    }
    s
}

/// The verdict for a device admitted by a fleet policy: the chain, then the enrollment.
pub fn admitted(v: &chainproof::Verdict) -> String {
    let mut s = accepted(&v.report);
    let enrollment = match &v.enrollment {
        chainproof::Enrollment::Group(id) => format!("group {id}"),
        chainproof::Enrollment::Device(id) => format!("individual enrollment {id}"),
    };
    let _ = writeln!(s, "enrollment: {enrollment}");
    let _ = writeln!(s, "route:      {}", v.route);
    if !v.tags.is_empty() {
        let _ = writeln!(s, "tags:       {}", v.tags.join(", "));
    }
    for w in &v.warnings {
        let _ = writeln!(s, "warning:    [{}] {}", w.code, w.message);
    }
    s
}

/// The verdict for a valid chain.
pub fn accepted(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "ACCEPTED");
    match &r.device_id {
        Some(id) => {
            let _ = writeln!(s, "device ID:  {id}");
        }
        None => {
            let _ = writeln!(s, "device ID:  (not checked)");
        }
    }
    let _ = writeln!(s, "checked at: {}", time(r.validated_at));
    let _ = writeln!(
        s,
        "expires:    {} ({})",
        time(r.validated_at.saturating_add(r.seconds_to_expiry)),
        relative(r.seconds_to_expiry)
    );
    let _ = writeln!(s, "chain, leaf to anchor:");
    for c in &r.chain {
        s.push_str(&certificate(c, Detail::Chain));
    }
    if r.warnings.is_empty() {
        let _ = writeln!(s, "warnings:   none");
    } else {
        let _ = writeln!(s, "warnings:");
        for w in &r.warnings {
            let _ = writeln!(s, "  {}: {}", w.code, w.message);
        }
    }
    s
}

/// The verdict for a rejected chain: code, message, hint and every path tried.
pub fn rejected(f: &Failure) -> String {
    rejection(&Rejection::from(f))
}

/// [`rejected`] for a rejection as both engines give it.
pub fn rejection(f: &Rejection) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "REJECTED: {}", f.code);
    let _ = writeln!(s, "error: {}", f.message);
    let _ = writeln!(s, "hint:  {}", f.hint);
    if !f.attempts.is_empty() {
        let _ = writeln!(s, "paths tried:");
        for (i, a) in f.attempts.iter().enumerate() {
            let _ = writeln!(s, "  {}. {}", i + 1, a.subjects.join(" -> "));
            let _ = writeln!(s, "     stopped: {}: {}", a.code, a.message);
        }
    }
    s
}

/// One JSON object for `--json`: `{"valid", "reason" (the code or "ok"), "report", "error"}`,
/// the same shape for every command that gives a verdict.
pub fn json_verdict<T: serde::Serialize>(
    verdict: &Result<T, Failure>,
) -> Result<String, super::UsageError> {
    let verdict = verdict.as_ref().map_err(Rejection::from);
    json_rejection_verdict(&verdict)
}

/// [`json_verdict`] for a verdict as both engines give it (a `Rejection` serialises like the
/// `Failure` it came from).
pub fn json_rejection_verdict<T: serde::Serialize>(
    verdict: &Result<T, Rejection>,
) -> Result<String, super::UsageError> {
    #[derive(serde::Serialize)]
    struct JsonVerdict<'a, T> {
        valid: bool,
        reason: &'a str,
        report: Option<&'a T>,
        error: Option<&'a Rejection>,
    }
    let json = match verdict {
        Ok(report) => JsonVerdict {
            valid: true,
            reason: "ok",
            report: Some(report),
            error: None,
        },
        Err(failure) => JsonVerdict {
            valid: false,
            reason: failure.code.as_str(),
            report: None,
            error: Some(failure),
        },
    };
    serde_json::to_string_pretty(&json)
        .map(|text| format!("{text}\n"))
        .map_err(|e| super::UsageError(format!("cannot encode the verdict as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(depth: usize, anchor: bool) -> CertSummary {
        CertSummary {
            depth,
            subject: format!("CN=cert-{depth}"),
            issuer: "CN=Root".into(),
            serial: "0A".into(),
            not_before: 0,
            not_after: 86_400,
            key_type: "ECDSA P-256".into(),
            key_bits: 256,
            signature_algorithm: "ecdsa-with-SHA256".into(),
            sha1: "AA".into(),
            sha256: "BB".into(),
            subject_key_id: None,
            authority_key_id: Some("CC".into()),
            is_ca: anchor,
            trust_anchor: anchor,
        }
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(30 * 86_400), "in 30 days");
        assert_eq!(relative(-3 * 3_600), "3 hours ago");
        assert_eq!(relative(5), "in 5 seconds");
    }

    #[test]
    fn certificate_block_shows_thumbprint_and_anchor() {
        let text = certificate(&summary(1, true), Detail::Chain);
        assert!(text.contains("[1] CN=cert-1  (trust anchor)"));
        assert!(text.contains("sha-256    BB"));
        assert!(!text.contains("sha-1"));
        let full = certificate(&summary(0, false), Detail::Full);
        assert!(full.contains("sha-1      AA"));
        assert!(full.contains("ski        (none)"));
        assert!(full.contains("1970-01-01T00:00:00Z to 1970-01-02T00:00:00Z"));
    }
}
