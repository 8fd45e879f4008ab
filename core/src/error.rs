//! Why a chain was rejected: one error type, a stable code per variant, plain words and a hint.
//!
//! The code (`ErrorCode::as_str`) is the contract with scripts, audit logs and the other hosts:
//! it never changes meaning once released. `Error`'s `Display` is the plain-words message and
//! [`Error::hint`] says what to do about it; the CLI, the browser page and the gateway all show
//! exactly these words.

use core::fmt;

/// Every stable error code. `as_str` gives the kebab-case form used in JSON and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[allow(missing_docs)] // each variant is documented by `ErrorCode::describe`
pub enum ErrorCode {
    // Input
    MalformedInput,
    MalformedCertificate,
    MalformedCrl,
    PrivateKeyInInput,
    InputTooLarge,
    NoCertificate,
    // Algorithms and keys
    UnsupportedSignatureAlgorithm,
    WeakSignatureAlgorithm,
    UnsupportedKeyType,
    WeakKey,
    ExplicitCurveParameters,
    AlgorithmMismatch,
    BadSignature,
    // Path building
    UnknownIssuer,
    BudgetExceeded,
    SignatureChecksPending,
    PathTooLong,
    PathLenExceeded,
    // Profile
    Expired,
    NotYetValid,
    NotACa,
    MissingKeyCertSign,
    KeyUsageNotAllowed,
    EkuNotAllowed,
    UnknownCriticalExtension,
    DuplicateExtension,
    InvalidExtension,
    NameConstraintViolation,
    InvalidSerial,
    InvalidVersion,
    InvalidName,
    NameMismatch,
    CaUsedAsLeaf,
    // Identity
    MissingDeviceId,
    InvalidDeviceId,
    DeviceIdMismatch,
    // Revocation
    Revoked,
    CrlExpired,
    CrlNotYetValid,
    CrlBadSignature,
    CrlUnsupported,
    // Proof of possession (challenge-response and TLS)
    PopBadSignature,
    PopSignatureFormat,
    PopUnsupportedScheme,
    PopExpired,
    PopNotYetValid,
    PopReplayed,
    PopReplayGuardFull,
    PopWrongAudience,
    PopKeyUsage,
    PopMalformedChallenge,
    // Proof of possession of a CA key (verification certificates)
    PopCodeMismatch,
    PopCodeNotInCn,
    PopCaUploaded,
    PopWrongIssuer,
    PopWrongCaKey,
    // Fleet policy (enrollments and deny lists)
    PolicyInvalid,
    EnrollmentDisabled,
    DeviceDisabled,
    DeviceIdPattern,
    ThumbprintMismatch,
    IssuerCompromised,
    KeyTypeNotAllowed,
}

impl ErrorCode {
    /// All codes, in documentation order.
    pub const ALL: &'static [ErrorCode] = &[
        Self::MalformedInput,
        Self::MalformedCertificate,
        Self::MalformedCrl,
        Self::PrivateKeyInInput,
        Self::InputTooLarge,
        Self::NoCertificate,
        Self::UnsupportedSignatureAlgorithm,
        Self::WeakSignatureAlgorithm,
        Self::UnsupportedKeyType,
        Self::WeakKey,
        Self::ExplicitCurveParameters,
        Self::AlgorithmMismatch,
        Self::BadSignature,
        Self::UnknownIssuer,
        Self::BudgetExceeded,
        Self::SignatureChecksPending,
        Self::PathTooLong,
        Self::PathLenExceeded,
        Self::Expired,
        Self::NotYetValid,
        Self::NotACa,
        Self::MissingKeyCertSign,
        Self::KeyUsageNotAllowed,
        Self::EkuNotAllowed,
        Self::UnknownCriticalExtension,
        Self::DuplicateExtension,
        Self::InvalidExtension,
        Self::NameConstraintViolation,
        Self::InvalidSerial,
        Self::InvalidVersion,
        Self::InvalidName,
        Self::NameMismatch,
        Self::CaUsedAsLeaf,
        Self::MissingDeviceId,
        Self::InvalidDeviceId,
        Self::DeviceIdMismatch,
        Self::Revoked,
        Self::CrlExpired,
        Self::CrlNotYetValid,
        Self::CrlBadSignature,
        Self::CrlUnsupported,
        Self::PopBadSignature,
        Self::PopSignatureFormat,
        Self::PopUnsupportedScheme,
        Self::PopExpired,
        Self::PopNotYetValid,
        Self::PopReplayed,
        Self::PopReplayGuardFull,
        Self::PopWrongAudience,
        Self::PopKeyUsage,
        Self::PopMalformedChallenge,
        Self::PopCodeMismatch,
        Self::PopCodeNotInCn,
        Self::PopCaUploaded,
        Self::PopWrongIssuer,
        Self::PopWrongCaKey,
        Self::PolicyInvalid,
        Self::EnrollmentDisabled,
        Self::DeviceDisabled,
        Self::DeviceIdPattern,
        Self::ThumbprintMismatch,
        Self::IssuerCompromised,
        Self::KeyTypeNotAllowed,
    ];

    /// The stable kebab-case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedInput => "malformed-input",
            Self::MalformedCertificate => "malformed-certificate",
            Self::MalformedCrl => "malformed-crl",
            Self::PrivateKeyInInput => "private-key-in-input",
            Self::InputTooLarge => "input-too-large",
            Self::NoCertificate => "no-certificate",
            Self::UnsupportedSignatureAlgorithm => "unsupported-signature-algorithm",
            Self::WeakSignatureAlgorithm => "weak-signature-algorithm",
            Self::UnsupportedKeyType => "unsupported-key-type",
            Self::WeakKey => "weak-key",
            Self::ExplicitCurveParameters => "explicit-curve-parameters",
            Self::AlgorithmMismatch => "algorithm-mismatch",
            Self::BadSignature => "bad-signature",
            Self::UnknownIssuer => "unknown-issuer",
            Self::BudgetExceeded => "budget-exceeded",
            Self::SignatureChecksPending => "signature-checks-pending",
            Self::PathTooLong => "path-too-long",
            Self::PathLenExceeded => "path-len-exceeded",
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::NotACa => "not-a-ca",
            Self::MissingKeyCertSign => "missing-key-cert-sign",
            Self::KeyUsageNotAllowed => "key-usage-not-allowed",
            Self::EkuNotAllowed => "eku-not-allowed",
            Self::UnknownCriticalExtension => "unknown-critical-extension",
            Self::DuplicateExtension => "duplicate-extension",
            Self::InvalidExtension => "invalid-extension",
            Self::NameConstraintViolation => "name-constraint-violation",
            Self::InvalidSerial => "invalid-serial",
            Self::InvalidVersion => "invalid-version",
            Self::InvalidName => "invalid-name",
            Self::NameMismatch => "name-mismatch",
            Self::CaUsedAsLeaf => "ca-used-as-leaf",
            Self::MissingDeviceId => "missing-device-id",
            Self::InvalidDeviceId => "invalid-device-id",
            Self::DeviceIdMismatch => "device-id-mismatch",
            Self::Revoked => "revoked",
            Self::CrlExpired => "crl-expired",
            Self::CrlNotYetValid => "crl-not-yet-valid",
            Self::CrlBadSignature => "crl-bad-signature",
            Self::CrlUnsupported => "crl-unsupported",
            Self::PopBadSignature => "pop-bad-signature",
            Self::PopSignatureFormat => "pop-signature-format",
            Self::PopUnsupportedScheme => "pop-unsupported-scheme",
            Self::PopExpired => "pop-expired",
            Self::PopNotYetValid => "pop-not-yet-valid",
            Self::PopReplayed => "pop-replayed",
            Self::PopReplayGuardFull => "pop-replay-guard-full",
            Self::PopWrongAudience => "pop-wrong-audience",
            Self::PopKeyUsage => "pop-key-usage",
            Self::PopMalformedChallenge => "pop-malformed-challenge",
            Self::PopCodeMismatch => "pop-code-mismatch",
            Self::PopCodeNotInCn => "pop-code-not-in-cn",
            Self::PopCaUploaded => "pop-ca-uploaded",
            Self::PopWrongIssuer => "pop-wrong-issuer",
            Self::PopWrongCaKey => "pop-wrong-ca-key",
            Self::PolicyInvalid => "policy-invalid",
            Self::EnrollmentDisabled => "enrollment-disabled",
            Self::DeviceDisabled => "device-disabled",
            Self::DeviceIdPattern => "device-id-pattern",
            Self::ThumbprintMismatch => "thumbprint-mismatch",
            Self::IssuerCompromised => "issuer-compromised",
            Self::KeyTypeNotAllowed => "key-type-not-allowed",
        }
    }

    /// Parse a code from its kebab-case form.
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// One line describing when this code is returned (for `docs/errors.md` and `--help`).
    pub fn describe(self) -> &'static str {
        match self {
            Self::MalformedInput => "the input is neither PEM nor DER, or a PEM block is damaged",
            Self::MalformedCertificate => "a certificate is not strict DER X.509",
            Self::MalformedCrl => "a CRL is not strict DER X.509",
            Self::PrivateKeyInInput => "a PRIVATE KEY block was given where certificates belong",
            Self::InputTooLarge => "a size, count or depth limit was exceeded",
            Self::NoCertificate => "the input holds no certificate",
            Self::UnsupportedSignatureAlgorithm => {
                "a signature algorithm chainproof does not support"
            }
            Self::WeakSignatureAlgorithm => "SHA-1 or MD5 signatures, refused as forgeable",
            Self::UnsupportedKeyType => {
                "a public key type chainproof does not support (DSA, P-192, ...)"
            }
            Self::WeakKey => "an RSA key under 2048 bits, or a malformed key size",
            Self::ExplicitCurveParameters => {
                "an EC key with explicit curve parameters instead of a named curve"
            }
            Self::AlgorithmMismatch => {
                "the signature algorithm does not fit the issuer's key, or the two signature fields differ"
            }
            Self::BadSignature => "a signature does not verify with the issuer's key",
            Self::UnknownIssuer => "no path from the certificate to a trusted anchor",
            Self::BudgetExceeded => "path building gave up after its work budget",
            Self::SignatureChecksPending => {
                "a verification round with signature checks still to be answered by an outside verifier"
            }
            Self::PathTooLong => "the chain is longer than the allowed maximum depth",
            Self::PathLenExceeded => "a CA's pathLenConstraint is exceeded",
            Self::Expired => "a certificate's notAfter is before the validation time",
            Self::NotYetValid => "a certificate's notBefore is after the validation time",
            Self::NotACa => "an issuing certificate is not a CA (basicConstraints)",
            Self::MissingKeyCertSign => "an issuing certificate's keyUsage lacks keyCertSign",
            Self::KeyUsageNotAllowed => "the leaf's keyUsage does not allow the required use",
            Self::EkuNotAllowed => "an extendedKeyUsage does not allow the requested purpose",
            Self::UnknownCriticalExtension => "a critical extension chainproof does not understand",
            Self::DuplicateExtension => "an extension appears twice",
            Self::InvalidExtension => "an extension's value is malformed or violates the profile",
            Self::NameConstraintViolation => "a name is outside a CA's name constraints",
            Self::InvalidSerial => "a serial number is zero, negative or longer than 20 bytes",
            Self::InvalidVersion => "a certificate version other than v3 where extensions need it",
            Self::InvalidName => {
                "an issuer or subject name is malformed or empty where it must not be"
            }
            Self::NameMismatch => "the expected peer name is not among the leaf's names",
            Self::CaUsedAsLeaf => "a CA certificate presented as the end-entity certificate",
            Self::MissingDeviceId => "the leaf carries no device ID where one was expected",
            Self::InvalidDeviceId => {
                "the device ID has control characters, whitespace at its ends, or is not text"
            }
            Self::DeviceIdMismatch => "the device ID differs from the expected one",
            Self::Revoked => "a certificate is listed in its issuer's CRL",
            Self::CrlExpired => "a CRL for an issuer in the path is past its nextUpdate",
            Self::CrlNotYetValid => "a CRL's thisUpdate is after the validation time",
            Self::CrlBadSignature => "a CRL is not signed by the issuer it names",
            Self::CrlUnsupported => {
                "a CRL uses a critical extension or scope chainproof cannot honour"
            }
            Self::PopBadSignature => {
                "a proof-of-possession signature does not verify with the certificate's key"
            }
            Self::PopSignatureFormat => {
                "a proof-of-possession signature is not in a form the certificate's key type uses"
            }
            Self::PopUnsupportedScheme => "a TLS signature scheme chainproof does not support",
            Self::PopExpired => "the challenge's lifetime ended before the verification time",
            Self::PopNotYetValid => "the challenge's issue time is after the verification time",
            Self::PopReplayed => "the challenge was already answered (its nonce was used)",
            Self::PopReplayGuardFull => {
                "the replay guard holds its maximum of unexpired nonces and refuses new ones"
            }
            Self::PopWrongAudience => "the challenge names another verifier as its audience",
            Self::PopKeyUsage => "the leaf's keyUsage does not allow digitalSignature",
            Self::PopMalformedChallenge => {
                "the challenge token or blob is damaged, or its fields are out of range"
            }
            Self::PopCodeMismatch => {
                "the verification certificate's CN is not the verification code"
            }
            Self::PopCodeNotInCn => {
                "the verification code is in another subject field than the CN, or the CN is missing"
            }
            Self::PopCaUploaded => {
                "the CA certificate itself was given instead of a verification certificate"
            }
            Self::PopWrongIssuer => {
                "the verification certificate's issuer is not the CA (e.g. it is self-signed)"
            }
            Self::PopWrongCaKey => {
                "the verification certificate is not signed by the CA certificate's key"
            }
            Self::PolicyInvalid => {
                "the fleet policy file is malformed or names something that cannot be used"
            }
            Self::EnrollmentDisabled => {
                "the device chains only through an enrollment group that is disabled"
            }
            Self::DeviceDisabled => "the device's individual enrollment is disabled",
            Self::DeviceIdPattern => {
                "the device ID does not match the enrollment group's device_id_pattern"
            }
            Self::ThumbprintMismatch => {
                "the certificate's thumbprint is not one pinned by the device's individual enrollment"
            }
            Self::IssuerCompromised => {
                "the certificate was issued by a CA marked compromised, on or after the cutoff"
            }
            Self::KeyTypeNotAllowed => "the device key type is not allowed by its enrollment group",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong, with the context needed to explain it.
///
/// Times are Unix seconds. Strings are already human-readable (DN as RFC 4514 text, names as
/// given).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // fields are self-describing; variants are documented.
pub enum Error {
    /// Input that is not PEM or DER at all.
    MalformedInput { detail: String },
    /// A certificate that does not decode as strict DER X.509.
    MalformedCertificate { detail: String },
    /// A CRL that does not decode as strict DER X.509.
    MalformedCrl { detail: String },
    /// A PEM block labelled as a private key.
    PrivateKeyInInput { label: String },
    /// A limit was exceeded.
    InputTooLarge { what: &'static str, limit: usize },
    /// Nothing usable in the input.
    NoCertificate,
    /// Signature algorithm OID not supported.
    UnsupportedSignatureAlgorithm { oid: String },
    /// SHA-1 or MD5 signature.
    WeakSignatureAlgorithm { name: &'static str },
    /// Key type not supported (DSA, unknown curve...).
    UnsupportedKeyType { detail: String },
    /// RSA modulus too small or odd-sized.
    WeakKey { bits: usize },
    /// EC key with explicit curve parameters.
    ExplicitCurveParameters,
    /// Signature algorithm does not match key, or tbs/outer algorithm differ.
    AlgorithmMismatch { detail: String },
    /// Signature does not verify.
    BadSignature,
    /// No issuer found. `same_name_wrong_key` counts candidates with the right name whose key did
    /// not verify; `candidates` counts all candidates seen.
    UnknownIssuer {
        issuer: String,
        candidates: usize,
        same_name_wrong_key: usize,
    },
    /// Work budget exhausted.
    BudgetExceeded { what: &'static str, limit: usize },
    /// A round of verification with outside signature checks ([`crate::ExternalSignatures`])
    /// still unanswered: never a verdict.
    SignatureChecksPending { pending: usize },
    /// Chain longer than allowed.
    PathTooLong { max_intermediates: usize },
    /// pathLenConstraint violated.
    PathLenExceeded { path_len: u64, below: usize },
    /// notAfter < time.
    Expired { not_after: i64, time: i64 },
    /// notBefore > time.
    NotYetValid { not_before: i64, time: i64 },
    /// Issuer lacks basicConstraints cA=TRUE.
    NotACa,
    /// Issuer keyUsage lacks keyCertSign.
    MissingKeyCertSign,
    /// Leaf keyUsage lacks a required bit.
    KeyUsageNotAllowed { required: &'static str },
    /// EKU does not permit the purpose.
    EkuNotAllowed {
        wanted: String,
        present: Vec<String>,
    },
    /// Critical extension not understood.
    UnknownCriticalExtension { oid: String },
    /// Extension present twice.
    DuplicateExtension { oid: String },
    /// Extension malformed or against the profile.
    InvalidExtension { name: &'static str, detail: String },
    /// Name constraint violated.
    NameConstraintViolation { name: String, detail: String },
    /// Bad serial number.
    InvalidSerial { detail: &'static str },
    /// Bad version.
    InvalidVersion { detail: &'static str },
    /// Bad issuer/subject name.
    InvalidName { detail: String },
    /// Expected peer name not present.
    NameMismatch {
        expected: String,
        present: Vec<String>,
    },
    /// A CA certificate given as the end entity.
    CaUsedAsLeaf,
    /// No device ID could be extracted.
    MissingDeviceId { source: &'static str },
    /// Device ID malformed (control chars, whitespace at ends...).
    InvalidDeviceId { id: String, detail: &'static str },
    /// Device ID differs from the expected one.
    DeviceIdMismatch { expected: String, found: String },
    /// Serial listed in a CRL.
    Revoked {
        serial: String,
        revoked_at: i64,
        reason: Option<String>,
    },
    /// CRL nextUpdate < time.
    CrlExpired { next_update: i64, time: i64 },
    /// CRL thisUpdate > time.
    CrlNotYetValid { this_update: i64, time: i64 },
    /// CRL signature does not verify with the issuer key.
    CrlBadSignature,
    /// CRL has features we cannot honour.
    CrlUnsupported { detail: String },
    /// A proof-of-possession signature does not verify. `key` is the key type, `algorithm` what
    /// was tried (e.g. `ECDSA P-256 with SHA-256, DER`).
    PopBadSignature {
        key: &'static str,
        algorithm: String,
    },
    /// A proof-of-possession signature cannot be in the form needed: `expected` names the form
    /// and what requires it (the key type, or the text encoding), `found` what was given.
    PopSignatureFormat { expected: String, found: String },
    /// A TLS signature scheme that is unknown or not supported.
    PopUnsupportedScheme { scheme: String },
    /// The challenge expired: `time >= expires_at`.
    PopExpired {
        issued_at: i64,
        expires_at: i64,
        time: i64,
    },
    /// The challenge was issued after the verification time.
    PopNotYetValid { issued_at: i64, time: i64 },
    /// The challenge's nonce was already used; it is remembered until `expires_at`.
    PopReplayed { expires_at: i64 },
    /// The replay guard holds `capacity` unexpired nonces.
    PopReplayGuardFull { capacity: usize },
    /// The challenge was issued for another verifier.
    PopWrongAudience { expected: String, found: String },
    /// The leaf's keyUsage lacks digitalSignature.
    PopKeyUsage,
    /// The challenge token or blob cannot be decoded, or a field is out of range.
    PopMalformedChallenge { detail: String },
    /// The verification certificate's CN is not the code.
    PopCodeMismatch { expected: String, found: String },
    /// The code is not in the CN: `field` names where it was found (e.g. `O`), or is `None` when
    /// the subject has no CN and the code is nowhere.
    PopCodeNotInCn { field: Option<String> },
    /// The "verification certificate" is the CA certificate itself.
    PopCaUploaded,
    /// The verification certificate's issuer is not the CA's subject.
    PopWrongIssuer { issuer: String, ca_subject: String },
    /// The verification certificate names the CA but another key signed it.
    PopWrongCaKey,
    /// The fleet policy file is wrong; `line`/`column` are 1-based positions in the file, 0
    /// when the problem has no position.
    PolicyInvalid {
        line: u32,
        column: u32,
        field: Option<&'static str>,
        detail: String,
    },
    /// The only enrollment group whose anchors validate the chain is disabled.
    EnrollmentDisabled { group: String },
    /// The device's individual enrollment is disabled.
    DeviceDisabled { device: String },
    /// The device ID is outside the group's pattern.
    DeviceIdPattern {
        id: Box<str>,
        pattern: Box<str>,
        group: Box<str>,
    },
    /// The leaf is not one of the thumbprints pinned for the device; `kind` is `SHA-256` or
    /// `SHA-1`, the kind of the pinned thumbprint(s) it was compared with.
    ThumbprintMismatch {
        device: Box<str>,
        kind: &'static str,
        found: Box<str>,
    },
    /// Issued by a compromised CA at or after the cutoff.
    IssuerCompromised {
        ca_sha256: String,
        since: i64,
        not_before: i64,
    },
    /// The leaf's key type is not in the group's allowed list.
    KeyTypeNotAllowed {
        key_type: &'static str,
        /// Comma-separated policy spellings.
        allowed: Box<str>,
        group: Box<str>,
    },
    /// Listed in one of the fleet policy's deny lists (code `revoked`); `list` names it.
    DeniedByPolicy { list: &'static str, value: String },
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MalformedInput { .. } => ErrorCode::MalformedInput,
            Self::MalformedCertificate { .. } => ErrorCode::MalformedCertificate,
            Self::MalformedCrl { .. } => ErrorCode::MalformedCrl,
            Self::PrivateKeyInInput { .. } => ErrorCode::PrivateKeyInInput,
            Self::InputTooLarge { .. } => ErrorCode::InputTooLarge,
            Self::NoCertificate => ErrorCode::NoCertificate,
            Self::UnsupportedSignatureAlgorithm { .. } => ErrorCode::UnsupportedSignatureAlgorithm,
            Self::WeakSignatureAlgorithm { .. } => ErrorCode::WeakSignatureAlgorithm,
            Self::UnsupportedKeyType { .. } => ErrorCode::UnsupportedKeyType,
            Self::WeakKey { .. } => ErrorCode::WeakKey,
            Self::ExplicitCurveParameters => ErrorCode::ExplicitCurveParameters,
            Self::AlgorithmMismatch { .. } => ErrorCode::AlgorithmMismatch,
            Self::BadSignature => ErrorCode::BadSignature,
            Self::UnknownIssuer { .. } => ErrorCode::UnknownIssuer,
            Self::BudgetExceeded { .. } => ErrorCode::BudgetExceeded,
            Self::SignatureChecksPending { .. } => ErrorCode::SignatureChecksPending,
            Self::PathTooLong { .. } => ErrorCode::PathTooLong,
            Self::PathLenExceeded { .. } => ErrorCode::PathLenExceeded,
            Self::Expired { .. } => ErrorCode::Expired,
            Self::NotYetValid { .. } => ErrorCode::NotYetValid,
            Self::NotACa => ErrorCode::NotACa,
            Self::MissingKeyCertSign => ErrorCode::MissingKeyCertSign,
            Self::KeyUsageNotAllowed { .. } => ErrorCode::KeyUsageNotAllowed,
            Self::EkuNotAllowed { .. } => ErrorCode::EkuNotAllowed,
            Self::UnknownCriticalExtension { .. } => ErrorCode::UnknownCriticalExtension,
            Self::DuplicateExtension { .. } => ErrorCode::DuplicateExtension,
            Self::InvalidExtension { .. } => ErrorCode::InvalidExtension,
            Self::NameConstraintViolation { .. } => ErrorCode::NameConstraintViolation,
            Self::InvalidSerial { .. } => ErrorCode::InvalidSerial,
            Self::InvalidVersion { .. } => ErrorCode::InvalidVersion,
            Self::InvalidName { .. } => ErrorCode::InvalidName,
            Self::NameMismatch { .. } => ErrorCode::NameMismatch,
            Self::CaUsedAsLeaf => ErrorCode::CaUsedAsLeaf,
            Self::MissingDeviceId { .. } => ErrorCode::MissingDeviceId,
            Self::InvalidDeviceId { .. } => ErrorCode::InvalidDeviceId,
            Self::DeviceIdMismatch { .. } => ErrorCode::DeviceIdMismatch,
            Self::Revoked { .. } => ErrorCode::Revoked,
            Self::CrlExpired { .. } => ErrorCode::CrlExpired,
            Self::CrlNotYetValid { .. } => ErrorCode::CrlNotYetValid,
            Self::CrlBadSignature => ErrorCode::CrlBadSignature,
            Self::CrlUnsupported { .. } => ErrorCode::CrlUnsupported,
            Self::PopBadSignature { .. } => ErrorCode::PopBadSignature,
            Self::PopSignatureFormat { .. } => ErrorCode::PopSignatureFormat,
            Self::PopUnsupportedScheme { .. } => ErrorCode::PopUnsupportedScheme,
            Self::PopExpired { .. } => ErrorCode::PopExpired,
            Self::PopNotYetValid { .. } => ErrorCode::PopNotYetValid,
            Self::PopReplayed { .. } => ErrorCode::PopReplayed,
            Self::PopReplayGuardFull { .. } => ErrorCode::PopReplayGuardFull,
            Self::PopWrongAudience { .. } => ErrorCode::PopWrongAudience,
            Self::PopKeyUsage => ErrorCode::PopKeyUsage,
            Self::PopMalformedChallenge { .. } => ErrorCode::PopMalformedChallenge,
            Self::PopCodeMismatch { .. } => ErrorCode::PopCodeMismatch,
            Self::PopCodeNotInCn { .. } => ErrorCode::PopCodeNotInCn,
            Self::PopCaUploaded => ErrorCode::PopCaUploaded,
            Self::PopWrongIssuer { .. } => ErrorCode::PopWrongIssuer,
            Self::PopWrongCaKey => ErrorCode::PopWrongCaKey,
            Self::PolicyInvalid { .. } => ErrorCode::PolicyInvalid,
            Self::EnrollmentDisabled { .. } => ErrorCode::EnrollmentDisabled,
            Self::DeviceDisabled { .. } => ErrorCode::DeviceDisabled,
            Self::DeviceIdPattern { .. } => ErrorCode::DeviceIdPattern,
            Self::ThumbprintMismatch { .. } => ErrorCode::ThumbprintMismatch,
            Self::IssuerCompromised { .. } => ErrorCode::IssuerCompromised,
            Self::KeyTypeNotAllowed { .. } => ErrorCode::KeyTypeNotAllowed,
            Self::DeniedByPolicy { .. } => ErrorCode::Revoked,
        }
    }

    /// What the user can do about it, in one sentence.
    pub fn hint(&self) -> String {
        match self {
            Self::MalformedInput { .. } => "Give the certificates as PEM (-----BEGIN CERTIFICATE-----) or raw DER.".into(),
            Self::MalformedCertificate { .. } => "The file is damaged or not a certificate; export it again from its source, in PEM or DER.".into(),
            Self::MalformedCrl { .. } => "Download the CRL again from the CA; it must be a DER or PEM X.509 CRL.".into(),
            Self::PrivateKeyInInput { .. } => "Remove the private key from this file and keep it secret: only certificates are needed here.".into(),
            Self::InputTooLarge { .. } => "Send only the device certificate and its intermediates; the input is larger than any real device chain.".into(),
            Self::NoCertificate => "The input holds no certificate; check that you picked the right file.".into(),
            Self::UnsupportedSignatureAlgorithm { .. } => "Re-issue the certificate with ECDSA (P-256/P-384), RSA PKCS#1 v1.5 or PSS with SHA-256 or better, or Ed25519.".into(),
            Self::WeakSignatureAlgorithm { .. } => "SHA-1 and MD5 signatures can be forged; re-issue the certificate with SHA-256 or better.".into(),
            Self::UnsupportedKeyType { .. } => "Use an ECDSA P-256/P-384, RSA (2048 to 8192 bits) or Ed25519 key.".into(),
            Self::WeakKey { .. } => "RSA keys must be at least 2048 bits (and a multiple of 8); re-key the device or CA.".into(),
            Self::ExplicitCurveParameters => "Encode EC keys with a named curve (e.g. openssl ... -param_enc named_curve).".into(),
            Self::AlgorithmMismatch { .. } => "The certificate was signed with a key or algorithm other than the one it declares; re-issue it.".into(),
            Self::BadSignature => "The certificate was altered or was not signed by this issuer's key; get an untouched copy, or check which CA issued it.".into(),
            Self::UnknownIssuer { candidates: 0, .. } => "No certificate with the issuer's name was found: the device probably did not send its intermediate (manufacturing CA), or the root is not in the trust store.".into(),
            Self::UnknownIssuer { same_name_wrong_key, .. } if *same_name_wrong_key > 0 => "A CA with the right name was found but its key did not sign this certificate: the CA was probably re-keyed (rollover); supply the CA certificate that matches this device's authority key identifier.".into(),
            Self::UnknownIssuer { .. } => "Every candidate issuer was rejected; see the paths tried below for each reason.".into(),
            Self::BudgetExceeded { what, .. } if what.contains("name-constraint") => "A CA's name constraints times the certificate's names need too many comparisons; such a chain is built to exhaust validators. Ask the CA operator for a certificate with fewer names or constraints.".into(),
            Self::BudgetExceeded { what, .. } if what.contains("validator component") => "The validation needed more CPU or memory than the host allows it; the chain is oversized or built to exhaust validators. Send only the device's own chain; if that chain is genuine, raise the validator's limits.".into(),
            Self::BudgetExceeded { .. } => "The bag of intermediates is pathological (too many candidates or loops); send only the device's own chain.".into(),
            Self::SignatureChecksPending { .. } => "This is not a verdict: answer the pending checks (ExternalSignatures::take_pending, then answer) and verify again. A host that shows it has a bug.".into(),
            Self::PathTooLong { .. } => "The chain has more intermediates than allowed; raise --max-depth if the hierarchy really is this deep.".into(),
            Self::PathLenExceeded { .. } => "A CA issued sub-CAs deeper than its pathLenConstraint allows; the hierarchy must be re-issued.".into(),
            Self::Expired { .. } => "The certificate has expired: renew it (or check the device's or this computer's clock).".into(),
            Self::NotYetValid { .. } => "The certificate is not valid yet: check the clock of the device that issued it and of this check.".into(),
            Self::NotACa => "This certificate is not a CA (basicConstraints CA:FALSE or missing) yet signs others; issue devices from a real CA certificate.".into(),
            Self::MissingKeyCertSign => "The CA's keyUsage must include keyCertSign; re-issue the CA certificate.".into(),
            Self::KeyUsageNotAllowed { .. } => "The device certificate's keyUsage must include digitalSignature to authenticate; re-issue it.".into(),
            Self::EkuNotAllowed { .. } => "Device certificates need the clientAuth extended key usage (1.3.6.1.5.5.7.3.2); re-issue, or check the purpose you asked for.".into(),
            Self::UnknownCriticalExtension { .. } => "A critical extension chainproof does not understand must be rejected by RFC 5280; re-issue without it or mark it non-critical.".into(),
            Self::DuplicateExtension { .. } => "Each extension may appear once; the issuing tool is broken, re-issue the certificate.".into(),
            Self::InvalidExtension { .. } => "An extension is malformed; re-issue the certificate with a standards-compliant tool.".into(),
            Self::NameConstraintViolation { .. } => "The CA may only issue for names inside its constraints; the device name is outside them.".into(),
            Self::InvalidSerial { .. } => "Serial numbers must be positive and at most 20 bytes; re-issue the certificate.".into(),
            Self::InvalidVersion { .. } => "Certificates with extensions must be X.509 v3; re-issue the certificate.".into(),
            Self::InvalidName { .. } => "The issuer or subject name is malformed; re-issue the certificate.".into(),
            Self::NameMismatch { .. } => "The certificate was not issued for this name; connect to the right device or re-issue with the name in subjectAltName.".into(),
            Self::CaUsedAsLeaf => "A CA certificate cannot authenticate a device; the device must send its own certificate first.".into(),
            Self::MissingDeviceId { .. } => "The device certificate's subject must carry the device ID in its CN.".into(),
            Self::InvalidDeviceId { detail, .. } => format!("The device ID {detail}; fix the provisioning script that wrote the CN and re-issue."),
            Self::DeviceIdMismatch { .. } => "This certificate belongs to another device: check the label on the device and its provisioning.".into(),
            Self::Revoked { .. } => "The CA revoked this certificate; the device must be re-provisioned with a new identity.".into(),
            Self::CrlExpired { .. } => "The revocation list is out of date; download the current CRL from the CA.".into(),
            Self::CrlNotYetValid { .. } => "The revocation list is from the future; check the clock here and at the CA.".into(),
            Self::CrlBadSignature => "The CRL was not signed by this CA's key (wrong CRL, or altered); download it again.".into(),
            Self::CrlUnsupported { .. } => "This CRL uses a feature chainproof cannot honour (delta or partitioned CRL); supply a full CRL.".into(),
            Self::PopBadSignature { .. } => "The signature was not made by this certificate's private key over this challenge: the device may hold a copied certificate, or it signed another challenge or something else than the challenge bytes.".into(),
            Self::PopSignatureFormat { expected, .. } => format!("Send {expected}; signatures travel as base64 or hex text (see docs/pop.md)."),
            Self::PopUnsupportedScheme { .. } => "Use ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, rsa_pss_rsae_sha256/384/512, rsa_pkcs1_sha256/384/512 or ed25519.".into(),
            Self::PopExpired { .. } => "The device answered too late: issue a new challenge and have the device sign it at once (or check the verifier's clock).".into(),
            Self::PopNotYetValid { .. } => "The challenge is dated in the future: check the clock of the verifier that issued it.".into(),
            Self::PopReplayed { .. } => "Each challenge may be answered once; issue a fresh challenge for every attempt. A repeated answer may be a replay attack.".into(),
            Self::PopReplayGuardFull { .. } => "Too many challenges are outstanding: wait for some to expire, shorten their lifetime, or raise the guard's capacity.".into(),
            Self::PopWrongAudience { .. } => "The device answered a challenge issued by another verifier: request a challenge from this verifier and sign that one.".into(),
            Self::PopKeyUsage => "This certificate's keyUsage forbids signing, so it cannot prove possession; re-issue it with digitalSignature.".into(),
            Self::PopMalformedChallenge { .. } => "Pass the challenge token exactly as `chainproof pop challenge` printed it (one line of base64url).".into(),
            Self::PopCodeMismatch { expected, found } if found.trim().eq_ignore_ascii_case(expected.trim()) => "The CN differs from the code only in case or spaces: the code must be copied exactly; re-create the verification certificate with -subj \"/CN=CODE\".".into(),
            Self::PopCodeMismatch { .. } => "The CN must be the current verification code (codes are one-time; an older or another CA's code does not work). Re-create the CSR with -subj \"/CN=CODE\" and sign it with the CA.".into(),
            Self::PopCodeNotInCn { field: Some(f) } => format!("The code is in the {f} field; it must be the Common Name: re-create the CSR with -subj \"/CN=CODE\"."),
            Self::PopCodeNotInCn { field: None } => "The subject has no Common Name: re-create the CSR with -subj \"/CN=CODE\" and sign it with the CA.".into(),
            Self::PopCaUploaded => "This is the CA certificate itself. Create a new certificate with CN=CODE signed by the CA key (openssl req ... -subj \"/CN=CODE\", then openssl x509 -req -CA ca.pem -CAkey ca.key) and upload that.".into(),
            Self::PopWrongIssuer { issuer, .. } => format!("It was issued by {issuer} (self-signed, or by another CA): sign the CSR with the CA you are registering (openssl x509 -req -in v.csr -CA ca.pem -CAkey ca.key ...)."),
            Self::PopWrongCaKey => "The CA key that signed it does not belong to this CA certificate: use the key that matches ca.pem (compare `openssl x509 -pubkey` with `openssl pkey -pubout`), or upload the CA certificate of that key.".into(),
            Self::PolicyInvalid { .. } => "Fix the policy file at the position shown; docs/policy.md describes every field.".into(),
            Self::EnrollmentDisabled { group } => format!("The enrollment group {group:?} is disabled in the fleet policy; enable it, or enroll the device in another group or individually."),
            Self::DeviceDisabled { device } => format!("The individual enrollment of {device:?} is disabled (this overrides any group); set enabled = true in its [[device]] entry to let it in again."),
            Self::DeviceIdPattern { pattern, group, .. } => format!("Group {group:?} only admits device IDs matching {pattern:?} (* any run, ? one character); re-issue with a matching CN or widen the pattern."),
            Self::ThumbprintMismatch { kind, .. } => format!("Compare the device certificate's {kind} fingerprint (openssl x509 -noout -fingerprint -{}) with the enrollment's thumbprints; the device may have been re-provisioned with a new certificate.", if *kind == "SHA-1" { "sha1" } else { "sha256" }),
            Self::IssuerCompromised { .. } => "The issuing CA is marked compromised: certificates it issued after the cutoff are refused. Re-issue the device from the replacement CA.".into(),
            Self::KeyTypeNotAllowed { allowed, .. } => format!("The enrollment group allows only [{allowed}]; re-key the device with an allowed key type."),
            Self::DeniedByPolicy { list, .. } => format!("The fleet policy's [revocation] {list} list blocks this; remove the entry there if that is a mistake, otherwise re-provision the device."),
        }
    }
}

fn fmt_time(t: i64) -> String {
    crate::time::UnixTime(t).to_rfc3339()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedInput { detail } => write!(f, "the input is not PEM or DER: {detail}"),
            Self::MalformedCertificate { detail } => {
                write!(f, "the certificate could not be decoded: {detail}")
            }
            Self::MalformedCrl { detail } => write!(f, "the CRL could not be decoded: {detail}"),
            Self::PrivateKeyInInput { label } => {
                write!(f, "the input contains a private key ({label})")
            }
            Self::InputTooLarge { what, limit } => write!(f, "too large: {what} (limit {limit})"),
            Self::NoCertificate => write!(f, "no certificate found in the input"),
            Self::UnsupportedSignatureAlgorithm { oid } => {
                write!(f, "unsupported signature algorithm {oid}")
            }
            Self::WeakSignatureAlgorithm { name } => {
                write!(f, "signed with {name}, which is no longer secure")
            }
            Self::UnsupportedKeyType { detail } => write!(f, "unsupported public key: {detail}"),
            Self::WeakKey { bits } => write!(
                f,
                "the RSA key has {bits} bits; at least 2048 (a multiple of 8) are required"
            ),
            Self::ExplicitCurveParameters => write!(
                f,
                "the EC key uses explicit curve parameters, not a named curve"
            ),
            Self::AlgorithmMismatch { detail } => {
                write!(f, "signature algorithm mismatch: {detail}")
            }
            Self::BadSignature => write!(
                f,
                "the signature does not verify with the issuer's public key"
            ),
            Self::UnknownIssuer {
                issuer,
                candidates,
                same_name_wrong_key,
            } => {
                if *candidates == 0 {
                    write!(
                        f,
                        "the issuer \"{issuer}\" is neither trusted nor among the supplied intermediates"
                    )
                } else if *same_name_wrong_key > 0 {
                    write!(
                        f,
                        "{same_name_wrong_key} certificate(s) named \"{issuer}\" were found, but none has the key that signed this one"
                    )
                } else {
                    write!(
                        f,
                        "no path to a trusted anchor through the {candidates} candidate issuer(s) named \"{issuer}\""
                    )
                }
            }
            Self::BudgetExceeded { what, limit } => {
                write!(f, "path building stopped after {limit} {what}")
            }
            Self::SignatureChecksPending { pending } => write!(
                f,
                "the verification is not finished: {pending} signature check(s) handed to an outside verifier have no answer yet"
            ),
            Self::PathTooLong { max_intermediates } => write!(
                f,
                "the chain needs more than {max_intermediates} intermediate(s)"
            ),
            Self::PathLenExceeded { path_len, below } => write!(
                f,
                "pathLenConstraint {path_len} allows {path_len} CA(s) below, but {below} follow"
            ),
            Self::Expired { not_after, time } => write!(
                f,
                "expired at {} (checked at {})",
                fmt_time(*not_after),
                fmt_time(*time)
            ),
            Self::NotYetValid { not_before, time } => write!(
                f,
                "not valid before {} (checked at {})",
                fmt_time(*not_before),
                fmt_time(*time)
            ),
            Self::NotACa => write!(f, "this certificate signs others but is not a CA"),
            Self::MissingKeyCertSign => write!(
                f,
                "this CA's keyUsage does not allow signing certificates (keyCertSign)"
            ),
            Self::KeyUsageNotAllowed { required } => {
                write!(f, "keyUsage does not include {required}")
            }
            Self::EkuNotAllowed { wanted, present } => write!(
                f,
                "extendedKeyUsage allows [{}], not {wanted}",
                present.join(", ")
            ),
            Self::UnknownCriticalExtension { oid } => write!(f, "unknown critical extension {oid}"),
            Self::DuplicateExtension { oid } => write!(f, "extension {oid} appears more than once"),
            Self::InvalidExtension { name, detail } => {
                write!(f, "invalid {name} extension: {detail}")
            }
            Self::NameConstraintViolation { name, detail } => {
                write!(f, "name {name} violates name constraints: {detail}")
            }
            Self::InvalidSerial { detail } => write!(f, "invalid serial number: {detail}"),
            Self::InvalidVersion { detail } => write!(f, "invalid version: {detail}"),
            Self::InvalidName { detail } => write!(f, "invalid name: {detail}"),
            Self::NameMismatch { expected, present } => {
                if present.is_empty() {
                    write!(
                        f,
                        "expected name {expected}, but the certificate carries no subjectAltName"
                    )
                } else {
                    write!(
                        f,
                        "expected name {expected}, but the certificate is for [{}]",
                        present.join(", ")
                    )
                }
            }
            Self::CaUsedAsLeaf => write!(
                f,
                "a CA certificate was given as the end-entity certificate"
            ),
            Self::MissingDeviceId { source } => write!(f, "no device ID in the {source}"),
            Self::InvalidDeviceId { id, detail } => write!(f, "the device ID {id:?} {detail}"),
            Self::DeviceIdMismatch { expected, found } => write!(
                f,
                "the certificate is for device {found:?}, not {expected:?}"
            ),
            Self::Revoked {
                serial,
                revoked_at,
                reason,
            } => {
                write!(
                    f,
                    "serial {serial} was revoked at {}",
                    fmt_time(*revoked_at)
                )?;
                if let Some(r) = reason {
                    write!(f, " ({r})")?;
                }
                Ok(())
            }
            Self::CrlExpired { next_update, time } => write!(
                f,
                "the CRL's nextUpdate {} is before {}",
                fmt_time(*next_update),
                fmt_time(*time)
            ),
            Self::CrlNotYetValid { this_update, time } => write!(
                f,
                "the CRL's thisUpdate {} is after {}",
                fmt_time(*this_update),
                fmt_time(*time)
            ),
            Self::CrlBadSignature => write!(
                f,
                "the CRL's signature does not verify with the issuer's key"
            ),
            Self::CrlUnsupported { detail } => write!(f, "unsupported CRL: {detail}"),
            Self::PopBadSignature { key, algorithm } => write!(
                f,
                "the proof-of-possession signature does not verify with the certificate's {key} key ({algorithm})"
            ),
            Self::PopSignatureFormat { expected, found } => {
                write!(f, "the signature must be {expected}, but it is {found}")
            }
            Self::PopUnsupportedScheme { scheme } => {
                write!(f, "unsupported TLS signature scheme {scheme}")
            }
            Self::PopExpired {
                expires_at, time, ..
            } => write!(
                f,
                "the challenge expired at {} (checked at {})",
                fmt_time(*expires_at),
                fmt_time(*time)
            ),
            Self::PopNotYetValid { issued_at, time } => write!(
                f,
                "the challenge is issued at {}, after the verification time {}",
                fmt_time(*issued_at),
                fmt_time(*time)
            ),
            Self::PopReplayed { expires_at } => write!(
                f,
                "this challenge was already answered (its nonce is remembered until {})",
                fmt_time(*expires_at)
            ),
            Self::PopReplayGuardFull { capacity } => write!(
                f,
                "the replay guard already holds {capacity} unexpired challenges"
            ),
            Self::PopWrongAudience { expected, found } => write!(
                f,
                "the challenge was issued for {found:?}, not for this verifier ({expected:?})"
            ),
            Self::PopKeyUsage => write!(
                f,
                "the certificate's keyUsage does not include digitalSignature"
            ),
            Self::PopMalformedChallenge { detail } => write!(f, "malformed challenge: {detail}"),
            Self::PopCodeMismatch { expected, found } => write!(
                f,
                "the verification certificate's CN is {found:?}, not the code {expected:?}"
            ),
            Self::PopCodeNotInCn { field: Some(field) } => write!(
                f,
                "the verification code is in the subject's {field} field, not in its CN"
            ),
            Self::PopCodeNotInCn { field: None } => write!(
                f,
                "the verification certificate's subject has no CN (and no verification code)"
            ),
            Self::PopCaUploaded => write!(
                f,
                "the CA certificate itself was given, not a verification certificate"
            ),
            Self::PopWrongIssuer {
                issuer, ca_subject, ..
            } => write!(
                f,
                "the verification certificate is issued by \"{issuer}\", not by the CA \"{ca_subject}\""
            ),
            Self::PopWrongCaKey => write!(
                f,
                "the verification certificate names the CA as issuer but is not signed by the CA certificate's key"
            ),
            Self::PolicyInvalid {
                line,
                column,
                field,
                detail,
            } => {
                f.write_str("invalid fleet policy")?;
                if *line > 0 {
                    write!(f, " at line {line}")?;
                    if *column > 0 {
                        write!(f, ", column {column}")?;
                    }
                }
                if let Some(field) = field {
                    write!(f, " (field `{field}`)")?;
                }
                write!(f, ": {detail}")
            }
            Self::EnrollmentDisabled { group } => {
                write!(f, "the enrollment group {group:?} is disabled")
            }
            Self::DeviceDisabled { device } => {
                write!(
                    f,
                    "the individual enrollment of device {device:?} is disabled"
                )
            }
            Self::DeviceIdPattern { id, pattern, group } => write!(
                f,
                "the device ID {id:?} does not match the pattern {pattern:?} of group {group:?}"
            ),
            Self::ThumbprintMismatch {
                device,
                kind,
                found,
            } => write!(
                f,
                "the certificate's {kind} thumbprint {found} matches neither the primary nor the secondary {kind} thumbprint enrolled for device {device:?}"
            ),
            Self::IssuerCompromised {
                ca_sha256,
                since,
                not_before,
            } => write!(
                f,
                "issued at {} by CA {ca_sha256}, which is marked compromised since {}",
                fmt_time(*not_before),
                fmt_time(*since)
            ),
            Self::KeyTypeNotAllowed {
                key_type,
                allowed,
                group,
            } => write!(
                f,
                "the key type {key_type} is not allowed by group {group:?} (allowed: {allowed})"
            ),
            Self::DeniedByPolicy { list, value } => {
                write!(f, "{value} is listed in the fleet policy's {list}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// One path that was tried and why it ended (for "paths tried" summaries).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PathAttempt {
    /// Subjects from the leaf up to where the attempt stopped.
    pub subjects: Vec<String>,
    /// The code it stopped with.
    pub code: ErrorCode,
    /// Plain-words reason.
    pub message: String,
}

/// A rejection: the error, the certificate at fault and the paths tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong.
    pub error: Error,
    /// Depth of the certificate at fault (0 = leaf), when one is at fault.
    pub depth: Option<usize>,
    /// Subject (RFC 4514) of the certificate at fault.
    pub subject: Option<String>,
    /// Every path that was tried, when path building failed.
    pub attempts: Vec<PathAttempt>,
}

impl Failure {
    /// A failure not tied to a certificate.
    pub fn new(error: Error) -> Self {
        Self {
            error,
            depth: None,
            subject: None,
            attempts: Vec::new(),
        }
    }

    /// A failure at a certificate.
    pub fn at(error: Error, depth: usize, subject: impl Into<String>) -> Self {
        Self {
            error,
            depth: Some(depth),
            subject: Some(subject.into()),
            attempts: Vec::new(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.error.code()
    }

    /// Plain-words message, naming the certificate at fault.
    pub fn message(&self) -> String {
        match (&self.depth, &self.subject) {
            (Some(d), Some(s)) => format!("certificate at depth {d} ({s}): {}", self.error),
            _ => self.error.to_string(),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        self.error.hint()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for Failure {}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::new(e)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Failure", 6)?;
        st.serialize_field("code", &self.code())?;
        st.serialize_field("message", &self.message())?;
        st.serialize_field("hint", &self.hint())?;
        st.serialize_field("depth", &self.depth)?;
        st.serialize_field("subject", &self.subject)?;
        st.serialize_field("paths_tried", &self.attempts)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {c}");
            assert_eq!(ErrorCode::from_code(c.as_str()), Some(*c));
            assert!(
                c.as_str()
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '-')
            );
        }
    }

    #[test]
    fn budget_hints_name_what_ran_out() {
        let hint = |what| Error::BudgetExceeded { what, limit: 1 }.hint();
        assert!(hint("signature checks").contains("intermediates"));
        assert!(hint("name-constraint comparisons").contains("name constraints"));
        assert!(hint("fuel units in the validator component").contains("limits"));
    }

    #[test]
    fn missing_intermediate_hint_says_so() {
        let e = Error::UnknownIssuer {
            issuer: "CN=Factory CA".into(),
            candidates: 0,
            same_name_wrong_key: 0,
        };
        assert!(e.hint().contains("did not send its intermediate"));
        let e = Error::UnknownIssuer {
            issuer: "CN=Factory CA".into(),
            candidates: 1,
            same_name_wrong_key: 1,
        };
        assert!(e.hint().contains("right name"));
    }
}
