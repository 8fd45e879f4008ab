//! What a successful validation reports: the device, the chain, the anchor, warnings.

/// Summary of one certificate, as shown by every host.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CertSummary {
    /// Position in the chain: 0 is the leaf; the anchor is last.
    pub depth: usize,
    /// Subject, RFC 4514 text.
    pub subject: String,
    /// Issuer, RFC 4514 text.
    pub issuer: String,
    /// Serial number, upper-case hex without separators.
    pub serial: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Key type, e.g. `ECDSA P-256`, `RSA`, `Ed25519`.
    pub key_type: String,
    /// Key size in bits.
    pub key_bits: u32,
    /// Signature algorithm name, e.g. `ecdsa-with-SHA256`.
    pub signature_algorithm: String,
    /// SHA-1 thumbprint of the DER, upper-case hex (as cloud consoles show it).
    pub sha1: String,
    /// SHA-256 thumbprint of the DER, upper-case hex.
    pub sha256: String,
    /// Subject key identifier, upper-case hex.
    pub subject_key_id: Option<String>,
    /// Authority key identifier, upper-case hex.
    pub authority_key_id: Option<String>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// Whether this certificate is the trust anchor of the path.
    pub trust_anchor: bool,
}

/// Something that does not reject the chain but deserves attention.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Warning {
    /// Stable kebab-case code, e.g. `renewal-due`.
    pub code: &'static str,
    /// Plain-words message.
    pub message: String,
}

/// A valid chain, explained.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Report {
    /// The device ID, when identity extraction was asked for.
    pub device_id: Option<String>,
    /// Leaf first, trust anchor last.
    pub chain: Vec<CertSummary>,
    /// Validation time used, Unix seconds.
    pub validated_at: i64,
    /// Seconds until the leaf expires (notAfter - validation time).
    pub seconds_to_expiry: i64,
    /// The leaf expires within the renewal window.
    pub renewal_due: bool,
    /// Warnings, e.g. renewal due.
    pub warnings: Vec<Warning>,
    /// Candidate paths explored before this one was accepted (1 = first try).
    pub paths_tried: usize,
    /// Signature verifications performed.
    pub signatures_checked: usize,
}

impl Report {
    /// The trust anchor that ended the path.
    pub fn anchor(&self) -> Option<&CertSummary> {
        self.chain.last()
    }

    /// The leaf.
    pub fn leaf(&self) -> Option<&CertSummary> {
        self.chain.first()
    }
}
