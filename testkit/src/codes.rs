//! The error codes fixtures expect, spelled as chainproof's `core` reports them.

/// The certificate's notAfter is before the validation time.
pub const EXPIRED: &str = "expired";
/// The certificate's notBefore is after the validation time.
pub const NOT_YET_VALID: &str = "not-yet-valid";
/// A signature does not verify under the issuer's key.
pub const BAD_SIGNATURE: &str = "bad-signature";
/// No candidate issuer chains to a trust anchor.
pub const UNKNOWN_ISSUER: &str = "unknown-issuer";
/// An issuing certificate is not a CA (basicConstraints cA absent or FALSE).
pub const NOT_A_CA: &str = "not-a-ca";
/// A pathLenConstraint is exceeded.
pub const PATH_LEN_EXCEEDED: &str = "path-len-exceeded";
/// An issuing CA's keyUsage lacks keyCertSign.
pub const MISSING_KEY_CERT_SIGN: &str = "missing-key-cert-sign";
/// The leaf's extendedKeyUsage does not allow client authentication.
pub const EKU_NOT_ALLOWED: &str = "eku-not-allowed";
/// A critical extension the validator does not understand.
pub const UNKNOWN_CRITICAL_EXTENSION: &str = "unknown-critical-extension";
/// A name falls outside a CA's nameConstraints.
pub const NAME_CONSTRAINT_VIOLATION: &str = "name-constraint-violation";
/// The certificate is listed on its issuer's CRL.
pub const REVOKED: &str = "revoked";
/// The CRL's nextUpdate is before the validation time.
pub const CRL_EXPIRED: &str = "crl-expired";
/// The signature algorithm is too weak (SHA-1).
pub const WEAK_SIGNATURE_ALGORITHM: &str = "weak-signature-algorithm";
/// The key is too small (RSA below 2048 bits).
pub const WEAK_KEY: &str = "weak-key";
/// The device ID in the CN is malformed (control characters, whitespace).
pub const INVALID_DEVICE_ID: &str = "invalid-device-id";

/// Every code above.
pub const ALL: &[&str] = &[
    EXPIRED,
    NOT_YET_VALID,
    BAD_SIGNATURE,
    UNKNOWN_ISSUER,
    NOT_A_CA,
    PATH_LEN_EXCEEDED,
    MISSING_KEY_CERT_SIGN,
    EKU_NOT_ALLOWED,
    UNKNOWN_CRITICAL_EXTENSION,
    NAME_CONSTRAINT_VIOLATION,
    REVOKED,
    CRL_EXPIRED,
    WEAK_SIGNATURE_ALGORITHM,
    WEAK_KEY,
    INVALID_DEVICE_ID,
];
