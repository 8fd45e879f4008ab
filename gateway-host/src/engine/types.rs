//! What both engines answer: the core's own values, or a rejection as every host shows it.

use chainproof::{ErrorCode, Failure, PathAttempt, Report, Verdict};

/// A rejection exactly as the core words it: `chainproof::Failure`'s code, message, hint,
/// certificate at fault and paths tried. The component returns this shape (it cannot return the
/// core's `Error` value itself), so the native engine is reduced to it too and both compare
/// equal when the core decided the same. Serialises like `Failure`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// The stable code (docs/errors.md).
    pub code: ErrorCode,
    /// Plain-words message naming the certificate at fault (`Failure::message`).
    pub message: String,
    /// What to do about it (`Failure::hint`).
    pub hint: String,
    /// Depth of the certificate at fault (0 = leaf).
    pub depth: Option<usize>,
    /// Subject of the certificate at fault.
    pub subject: Option<String>,
    /// Every path tried, when path building failed.
    #[serde(rename = "paths_tried")]
    pub attempts: Vec<PathAttempt>,
}

impl From<&Failure> for Rejection {
    fn from(f: &Failure) -> Self {
        Rejection {
            code: f.code(),
            message: f.message(),
            hint: f.hint(),
            depth: f.depth,
            subject: f.subject.clone(),
            attempts: f.attempts.clone(),
        }
    }
}

impl From<Failure> for Rejection {
    fn from(f: Failure) -> Self {
        Rejection::from(&f)
    }
}

impl From<chainproof::Error> for Rejection {
    fn from(e: chainproof::Error) -> Self {
        Rejection::from(&Failure::new(e))
    }
}

/// A device accepted: a chain report (anchors and CRLs) or an admission (fleet policy).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Accepted {
    /// The chain is valid against the anchors.
    Chain(Report),
    /// The fleet policy admitted the device.
    Admitted(Verdict),
}

/// What a trust store is built from. Bytes only: the host reads files, the core decodes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustSource {
    /// Trust anchors and CRLs, each item PEM or DER (possibly several objects).
    Anchors {
        /// Anchor files' contents.
        anchors: Vec<Vec<u8>>,
        /// CRL files' contents.
        crls: Vec<Vec<u8>>,
    },
    /// A fleet policy (TOML) and the files it references, by the names it uses.
    Policy {
        /// The policy text.
        text: String,
        /// `(name as written in the policy, contents)`.
        files: Vec<(String, Vec<u8>)>,
    },
}

/// An issued device challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedChallenge {
    /// The token sent to the device (and returned with its answer).
    pub token: String,
    /// Exactly the bytes the device signs.
    pub signed_bytes: Vec<u8>,
    /// When the challenge expires, Unix seconds.
    pub expires_at: i64,
}
