//! chainproof: X.509 device-chain validation for IoT fleets.
//!
//! One deterministic core, shared by the CLI, the gateway, the WASI component and the browser
//! module. The caller passes the validation time (and proof-of-possession nonces): nothing here reads a
//! clock, the filesystem or an OS random source, so the same inputs give the same verdict on
//! every host.
//!
//! ```text
//! TrustStore (anchors + CRLs, decoded once) ─┐
//! leaf DER + untrusted intermediates ────────┼─> verify_chain() ─> Ok(Report) | Err(Failure)
//! VerifyOptions (time, purpose, names, ...) ─┘
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod algorithms;
pub mod cert;
pub mod ecdsa;
pub mod error;
pub mod fleet;
pub mod identity;
pub mod input;
pub mod name;
pub mod path;
pub mod pop;
pub mod profile;
pub mod report;
pub mod revocation;
pub mod rsa_pkcs1;
pub mod time;
pub mod trust;

pub use algorithms::{ExternalScheme, SignatureCheck};
pub use error::{Error, ErrorCode, Failure, PathAttempt};
pub use fleet::{Enrollment, FleetPolicy, PolicyCell, Verdict};
pub use identity::IdentitySource;
pub use input::{InputError, parse_certificates, parse_crls};
pub use name::PeerName;
pub use path::{VerifyOptions, verify_chain};
pub use pop::{
    Challenge, PopSignatureKind, PossessionReport, Proof, ReplayGuard, SignatureEncoding,
    TlsScheme, VerificationReport, decode_signature_text, verification_code, verify_possession,
    verify_tls_signature, verify_verification_certificate,
};
pub use profile::Purpose;
pub use report::{CertSummary, Report, Warning};
pub use time::UnixTime;
pub use trust::{ExternalSignatures, TrustStore};
