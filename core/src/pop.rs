//! Proof of possession: a valid chain proves nothing until its holder shows it has the private
//! key, so a copied certificate must not pass.
//!
//! - Devices answer a [`Challenge`] by signing its blob; [`verify_possession`] validates the
//!   chain (the full [`crate::verify_chain`]), then the leaf's keyUsage, the audience, the
//!   challenge's lifetime and the [`ReplayGuard`], then the signature.
//! - TLS handshakes: [`verify_tls_signature`] checks a CertificateVerify signature against the
//!   leaf, so a gateway delegates both the chain and the handshake's proof to the core.
//! - CA owners prove possession of the CA key with a verification certificate
//!   ([`verification_code`], [`verify_verification_certificate`]).
//!
//! Nothing here reads a clock or a random source: nonces, codes and times are arguments.

pub mod challenge;
pub mod replay;
pub mod signature;
pub mod verification;

pub use challenge::{
    BLOB_PREFIX, Challenge, DEFAULT_TTL_SECS, MAX_AUDIENCE_BYTES, MAX_TTL_SECS, NONCE_LEN,
};
pub use replay::{DEFAULT_REPLAY_CAPACITY, ReplayGuard};
pub use signature::{
    PopSignatureKind, SignatureEncoding, TlsScheme, decode_signature_text, verify_signature,
    verify_tls_signature,
};
pub use verification::{
    VERIFICATION_CODE_BYTES, VerificationReport, verification_code, verify_verification_certificate,
};

use crate::cert::Cert;
use crate::error::{Error, Failure};
use crate::path::{VerifyOptions, verify_chain};
use crate::report::Report;

/// A device's answer to a challenge, and what the verifier expects of it.
#[derive(Clone, Copy, Debug)]
pub struct Proof<'a> {
    /// The verifier's own name: the challenge must carry exactly this audience.
    pub audience: &'a str,
    /// The challenge that was issued (decoded from the token the device returns, or looked up
    /// by the verifier).
    pub challenge: &'a Challenge,
    /// The signature bytes (already decoded from base64/hex, see [`decode_signature_text`]).
    pub signature: &'a [u8],
    /// How an ECDSA signature is encoded; [`SignatureEncoding::Auto`] takes DER and raw r||s.
    pub encoding: SignatureEncoding,
}

/// A valid chain whose holder proved possession of the leaf's key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PossessionReport {
    /// The chain validation report.
    pub chain: Report,
    /// The audience the challenge was for.
    pub audience: String,
    /// The challenge's nonce, lower-case hex.
    pub nonce: String,
    /// When the challenge was issued, Unix seconds.
    pub issued_at: i64,
    /// When it expires (and the replay guard forgets it), Unix seconds.
    pub expires_at: i64,
    /// How the signature verified.
    pub signature: PopSignatureKind,
}

/// Verify that the holder of `leaf_der` possesses its private key.
///
/// Order: the chain ([`verify_chain`] with `opts`, so every chain error keeps its own code; with
/// the default client purpose a leaf without digitalSignature is already `key-usage-not-allowed`
/// there), the leaf's keyUsage allows digitalSignature (`pop-key-usage`), the audience
/// (`pop-wrong-audience`), the challenge's lifetime at `opts.time` (`pop-expired`,
/// `pop-not-yet-valid`), the replay guard (`pop-replayed`, `pop-replay-guard-full`), the
/// signature (`pop-signature-format`, `pop-bad-signature`).
///
/// The nonce is recorded in `guard` only after the signature verifies: a forged or garbled
/// answer does not burn the challenge, so an attacker cannot lock a device out by racing it
/// with bad signatures. `guard` is borrowed mutably from check to record, so two concurrent
/// answers to one challenge cannot both pass.
pub fn verify_possession<B: AsRef<[u8]>>(
    store: &crate::trust::TrustStore,
    leaf_der: &[u8],
    intermediates: &[B],
    opts: &VerifyOptions,
    proof: &Proof<'_>,
    guard: &mut ReplayGuard,
) -> Result<PossessionReport, Failure> {
    let chain = verify_chain(store, leaf_der, intermediates, opts)?;
    let kind = verify_answer(leaf_der, opts.time, proof, guard)?;
    let challenge = proof.challenge;
    Ok(PossessionReport {
        chain,
        audience: challenge.audience().to_owned(),
        nonce: challenge
            .nonce()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        issued_at: challenge.issued_at(),
        expires_at: challenge.expires_at(),
        signature: kind,
    })
}

/// The answer half of [`verify_possession`], for callers that validate the chain another way
/// (a fleet policy's [`crate::FleetPolicy::verify`]): the leaf's keyUsage allows
/// digitalSignature (`pop-key-usage`), the audience, the challenge's lifetime at `time`, the
/// replay guard, then the signature, with the same codes and order as [`verify_possession`].
///
/// It does not validate the chain: an `Ok` only says that whoever answered holds the private key
/// of `leaf_der`. Run the chain check first and report its failure before this one.
pub fn verify_answer(
    leaf_der: &[u8],
    time: crate::time::UnixTime,
    proof: &Proof<'_>,
    guard: &mut ReplayGuard,
) -> Result<PopSignatureKind, Failure> {
    let leaf = Cert::from_der(leaf_der).map_err(|e| Failure::at(e, 0, "the device certificate"))?;
    let at_leaf = |e: Error| Failure::at(e, 0, leaf.subject().to_owned());
    let key = signature::signing_key(&leaf).map_err(at_leaf)?;

    let challenge = proof.challenge;
    if challenge.audience() != proof.audience {
        return Err(Failure::new(Error::PopWrongAudience {
            expected: proof.audience.to_owned(),
            found: challenge.audience().to_owned(),
        }));
    }
    guard.check(challenge, time)?;
    let kind = verify_signature(
        key,
        &challenge.signed_bytes(),
        proof.signature,
        proof.encoding,
    )
    .map_err(at_leaf)?;
    guard.check_and_record(challenge, time)?;
    Ok(kind)
}
