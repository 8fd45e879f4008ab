//! The device-facing TLS: rustls on the `ring` provider, TLS 1.2 and 1.3, a client certificate
//! required, and a client-certificate verifier that hands both the chain and the handshake's
//! CertificateVerify signature to the [`DeviceAuthenticator`]. Nothing else accepts a device:
//! a session starts only from a [`HandshakeOutcome`] where both answered yes.
//!
//! Each connection gets its own `ServerConfig` (and verifier), so the verdict belongs to that
//! connection, and no session resumption can skip the checks.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chainproof::{Error as CoreError, TlsScheme, UnixTime, VerifyOptions};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::NoServerSessionStorage;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::auth::DeviceAuthenticator;
use chainproof_gateway::engine::{Accepted, EngineError, Rejection};

/// What the verifier learned during one handshake.
#[derive(Debug, Default)]
pub struct HandshakeOutcome {
    /// The leaf the device presented.
    pub leaf: Option<Vec<u8>>,
    /// The other certificates it presented (the bag the validator judged with the leaf).
    pub intermediates: Vec<Vec<u8>>,
    /// The chain verdict.
    pub chain: Option<Result<Accepted, Rejection>>,
    /// The CertificateVerify verdict.
    pub signature: Option<Result<(), Rejection>>,
    /// The validator could not answer at all.
    pub engine_error: Option<EngineError>,
    /// Time spent in the validator.
    pub validation_time: Duration,
}

impl HandshakeOutcome {
    /// The accepted verdict, only when the chain was admitted and the signature verified
    /// for the same leaf.
    pub fn accepted(&self) -> Option<&Accepted> {
        match (&self.chain, &self.signature) {
            (Some(Ok(a)), Some(Ok(()))) => Some(a),
            _ => None,
        }
    }

    /// The rejection, if the validator refused the chain or the signature.
    pub fn rejection(&self) -> Option<&Rejection> {
        match (&self.chain, &self.signature) {
            (Some(Err(r)), _) | (_, Some(Err(r))) => Some(r),
            _ => None,
        }
    }
}

/// The verifier of one connection.
pub struct DeviceVerifier {
    auth: Arc<dyn DeviceAuthenticator>,
    provider: Arc<CryptoProvider>,
    outcome: Mutex<HandshakeOutcome>,
}

impl std::fmt::Debug for DeviceVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceVerifier").finish_non_exhaustive()
    }
}

impl DeviceVerifier {
    /// A verifier for one handshake.
    pub fn new(auth: Arc<dyn DeviceAuthenticator>, provider: Arc<CryptoProvider>) -> Self {
        DeviceVerifier {
            auth,
            provider,
            outcome: Mutex::new(HandshakeOutcome::default()),
        }
    }

    /// Take what the handshake decided (once).
    pub fn take_outcome(&self) -> HandshakeOutcome {
        std::mem::take(&mut *self.outcome.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn with<R>(&self, f: impl FnOnce(&mut HandshakeOutcome) -> R) -> R {
        f(&mut self.outcome.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn check_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The signature must be by the very leaf the chain check admitted.
        let same_leaf = self.with(|o| o.leaf.as_deref() == Some(cert.as_ref()));
        if !same_leaf {
            return Err(rustls::Error::General(
                "CertificateVerify for a certificate that was not verified".into(),
            ));
        }
        let code = u16::from(dss.scheme);
        let started = Instant::now();
        let answer = if provider_accepts_ecdsa(
            &self.provider,
            message,
            cert.as_ref(),
            dss.scheme,
            dss.signature(),
        ) {
            Ok(Ok(()))
        } else {
            match TlsScheme::from_code(code) {
                Ok(scheme) => {
                    self.auth
                        .verify_tls_signature(cert.as_ref(), scheme, message, dss.signature())
                }
                Err(e) => Ok(Err(Rejection::from(e))),
            }
        };
        self.with(|o| {
            o.validation_time += started.elapsed();
            match answer {
                Ok(Ok(())) => {
                    o.signature = Some(Ok(()));
                    Ok(HandshakeSignatureValid::assertion())
                }
                Ok(Err(r)) => {
                    o.signature = Some(Err(r));
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::BadSignature,
                    ))
                }
                Err(e) => {
                    o.engine_error = Some(e);
                    Err(rustls::Error::General("validator unavailable".into()))
                }
            }
        })
    }
}

/// The TLS alert a rejection maps to, so a device's TLS stack reports something close.
fn alert_for(r: &Rejection) -> CertificateError {
    match r.code.as_str() {
        "expired" => CertificateError::Expired,
        "not-yet-valid" => CertificateError::NotValidYet,
        "revoked" => CertificateError::Revoked,
        "unknown-issuer" => CertificateError::UnknownIssuer,
        "bad-signature" => CertificateError::BadSignature,
        _ => CertificateError::ApplicationVerificationFailure,
    }
}

impl ClientCertVerifier for DeviceVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Devices carry one certificate; hints would only reveal the fleet's CAs.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls_pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let bag: Vec<Vec<u8>> = intermediates.iter().map(|c| c.to_vec()).collect();
        let time = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let opts = VerifyOptions::new(UnixTime(time));
        let started = Instant::now();
        let answer = self.auth.verify_device(end_entity.as_ref(), &bag, &opts);
        self.with(|o| {
            o.validation_time += started.elapsed();
            o.leaf = Some(end_entity.to_vec());
            o.intermediates = bag;
            match answer {
                Ok(Ok(a)) => {
                    o.chain = Some(Ok(a));
                    Ok(ClientCertVerified::assertion())
                }
                Ok(Err(r)) => {
                    let alert = alert_for(&r);
                    o.chain = Some(Err(r));
                    Err(rustls::Error::InvalidCertificate(alert))
                }
                Err(e) => {
                    o.engine_error = Some(e);
                    Err(rustls::Error::General("validator unavailable".into()))
                }
            }
        })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // What the core verifies, in the provider's order of preference.
        let ours: Vec<u16> = TlsScheme::ALL.iter().map(|s| s.code()).collect();
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
            .into_iter()
            .filter(|s| ours.contains(&u16::from(*s)))
            .collect()
    }
}

/// The fast path for an ECDSA CertificateVerify (the IoT case): whether the TLS provider's own
/// verification (ring) accepts it, after the core's checks that come before any arithmetic.
///
/// The device's key verifies one signature per connection, so the core gets no key table for
/// it, and a P-256 verification costs it about 230 µs in the component against about 60 µs in
/// ring; the handshake signature is the TLS stack's to check like the record protection. The
/// verdict stays the core's: this only ever says yes to a signature the core accepts too (the
/// same key, the curve bound to the scheme as in TLS 1.3, a keyUsage that allows
/// digitalSignature, the signature's size limit, strict DER in both), and every other case —
/// a signature ring refuses, RSA, Ed25519 — goes to the validator, which gives the refusal in
/// its own words. `tests::the_fast_path_agrees_with_the_core` compares the two.
fn provider_accepts_ecdsa(
    provider: &CryptoProvider,
    message: &[u8],
    leaf_der: &[u8],
    scheme: SignatureScheme,
    signature: &[u8],
) -> bool {
    use chainproof::algorithms::PublicKey;
    let curve_fits = |key: &PublicKey| match scheme {
        SignatureScheme::ECDSA_NISTP256_SHA256 => matches!(key, PublicKey::P256(_)),
        SignatureScheme::ECDSA_NISTP384_SHA384 => matches!(key, PublicKey::P384(_)),
        _ => false,
    };
    if signature.len() > chainproof::pop::signature::MAX_SIGNATURE_BYTES {
        return false;
    }
    let Ok(leaf) = chainproof::cert::Cert::from_der(leaf_der) else {
        return false;
    };
    if leaf
        .extensions()
        .key_usage
        .as_ref()
        .is_some_and(|ku| !ku.digital_signature())
    {
        return false;
    }
    if !leaf.public_key().is_ok_and(curve_fits) {
        return false;
    }
    // The scheme's first algorithm is the one on its own curve (ring: ECDSA_P256_SHA256 for
    // ecdsa_secp256r1_sha256), as TLS 1.3 binds it; the key is the SPKI's point.
    let Some((_, algorithms)) = provider
        .signature_verification_algorithms
        .mapping
        .iter()
        .find(|(s, _)| *s == scheme)
    else {
        return false;
    };
    let point = leaf
        .x509()
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    algorithms
        .first()
        .is_some_and(|alg| alg.verify_signature(point, message, signature).is_ok())
}

/// The gateway's own certificate and key, loaded and checked once: every connection shares the
/// parsed signing key instead of decoding the key file's DER again.
#[derive(Debug)]
pub struct ServerIdentity {
    certified: Arc<SingleCertAndKey>,
    provider: Arc<CryptoProvider>,
}

impl ServerIdentity {
    /// Load a PEM chain and key; errors name the file. A key that does not match the
    /// certificate is refused now, not at the first device.
    pub fn load(cert: &std::path::Path, key: &std::path::Path) -> Result<Self, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| format!("listen.cert: {}: {e}", cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("listen.cert: {}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("listen.cert: {}: no certificate", cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("listen.key: {}: {e}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = CertifiedKey::from_der(chain, key, &provider)
            .map_err(|e| format!("listen.cert/listen.key: {e}"))?;
        Ok(ServerIdentity {
            certified: Arc::new(SingleCertAndKey::from(certified)),
            provider,
        })
    }

    /// The crypto provider.
    pub fn provider(&self) -> Arc<CryptoProvider> {
        self.provider.clone()
    }

    /// A server configuration for one connection, with `verifier` deciding the client.
    pub fn config(&self, verifier: Arc<dyn ClientCertVerifier>) -> Result<ServerConfig, String> {
        let mut cfg = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.certified.clone());
        // Every connection is verified from scratch: no resumption.
        cfg.session_storage = Arc::new(NoServerSessionStorage {});
        cfg.send_tls13_tickets = 0;
        Ok(cfg)
    }
}

/// The core's rejection for a device that sent no certificate at all.
pub fn no_certificate() -> Rejection {
    Rejection::from(CoreError::NoCertificate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainproof_testkit::{CertSpec, Dn, KeyKind, KeyPair};

    /// The ECDSA fast path never accepts a handshake signature the core refuses, and does
    /// accept the valid ones (so the comparison is not vacuous).
    #[test]
    fn the_fast_path_agrees_with_the_core() {
        use chainproof_testkit::{KeyUsages, SigAlg};
        let provider = rustls::crypto::ring::default_provider();
        let cases = [
            (
                KeyKind::P256,
                SignatureScheme::ECDSA_NISTP256_SHA256,
                SigAlg::EcdsaSha256,
            ),
            (
                KeyKind::P384,
                SignatureScheme::ECDSA_NISTP384_SHA384,
                SigAlg::EcdsaSha384,
            ),
        ];
        let (mut fast_yes, mut compared) = (0, 0);
        for (kind, scheme, alg) in cases {
            let key = KeyPair::generate(kind, 7, "tls-fast-path");
            let other = KeyPair::generate(kind, 8, "tls-fast-path-other");
            let device = |usage: Option<&[KeyUsages]>| {
                let spec = CertSpec::device(
                    "dev-1",
                    "Acme",
                    "Sensors",
                    key.clone(),
                    0,
                    i64::from(u32::MAX),
                );
                match usage {
                    Some(bits) => spec.with_key_usage(bits),
                    None => spec.without_key_usage(),
                }
                .self_signed()
                .der
            };
            let leaves = [
                (device(Some(&[KeyUsages::DigitalSignature])), true),
                (device(None), true),
                (device(Some(&[KeyUsages::KeyEncipherment])), false),
            ];
            let wrong_scheme = match scheme {
                SignatureScheme::ECDSA_NISTP256_SHA256 => SignatureScheme::ECDSA_NISTP384_SHA384,
                _ => SignatureScheme::ECDSA_NISTP256_SHA256,
            };
            for i in 0..64u32 {
                let msg = format!("TLS 1.3, client CertificateVerify {i}").into_bytes();
                let sig = key.sign(&msg, alg);
                let mut damaged = sig.clone();
                let last = damaged.len() - 1;
                damaged[last] ^= 1 << (i % 8);
                let variants = [
                    (msg.clone(), sig.clone(), scheme, true),
                    (msg.clone(), damaged, scheme, false),
                    ([&msg[..], b"!"].concat(), sig.clone(), scheme, false),
                    (msg.clone(), other.sign(&msg, alg), scheme, false),
                    (msg.clone(), sig.clone(), wrong_scheme, false),
                ];
                for (leaf, usable) in &leaves {
                    for (m, sg, sc, valid) in &variants {
                        let fast = provider_accepts_ecdsa(&provider, m, leaf, *sc, sg);
                        let core = TlsScheme::from_code(u16::from(*sc)).is_ok_and(|s| {
                            chainproof::verify_tls_signature(leaf, s, m, sg).is_ok()
                        });
                        assert!(
                            !fast || core,
                            "fast path accepted what the core refuses ({i})"
                        );
                        assert_eq!(core, *valid && *usable, "the core's verdict ({i})");
                        assert_eq!(fast, core, "fast path and core disagree ({i})");
                        fast_yes += usize::from(fast);
                        compared += 1;
                    }
                }
            }
        }
        assert_eq!(compared, 2 * 64 * 5 * 3);
        assert_eq!(
            fast_yes,
            2 * 64 * 2,
            "the valid signatures take the fast path"
        );
    }

    #[test]
    fn the_server_key_must_match_its_certificate_at_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = KeyPair::generate(KeyKind::P256, 1, "gateway");
        let other = KeyPair::generate(KeyKind::P256, 2, "another");
        let cert = CertSpec::new(Dn::new().cn("gateway"), key.clone(), 0, i64::from(u32::MAX))
            .self_signed();
        let (cert_path, key_path, other_path) = (
            dir.path().join("server.pem"),
            dir.path().join("server.key"),
            dir.path().join("other.key"),
        );
        std::fs::write(&cert_path, cert.pem()).expect("write");
        std::fs::write(&key_path, key.private_pkcs8_pem()).expect("write");
        std::fs::write(&other_path, other.private_pkcs8_pem()).expect("write");

        assert!(ServerIdentity::load(&cert_path, &key_path).is_ok());
        let refused = ServerIdentity::load(&cert_path, &other_path).expect_err("another key");
        assert!(refused.starts_with("listen.cert/listen.key:"), "{refused}");
    }
}
