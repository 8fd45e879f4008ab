//! Who decides whether a device is accepted: the validator behind a small trait, so the gateway
//! runs on the wasm component by default and on the natively linked core where asked. Both
//! answer with the core's own verdicts ([`Accepted`], [`Rejection`]); this module only carries
//! them.

use std::sync::{Arc, PoisonError, RwLock};

use chainproof::{TlsScheme, VerifyOptions};

use chainproof_gateway::engine::native::NativeTrust;
use chainproof_gateway::engine::{Accepted, EngineError, Rejection, TrustSource, Validator};

/// The two decisions a device's TLS handshake needs: is the chain admitted, and did the holder
/// of the leaf's key sign the handshake (CertificateVerify).
pub trait DeviceAuthenticator: Send + Sync {
    /// Validate the presented chain (and the fleet policy, when the trust is a policy).
    fn verify_device(
        &self,
        leaf: &[u8],
        intermediates: &[Vec<u8>],
        opts: &VerifyOptions,
    ) -> Result<Result<Accepted, Rejection>, EngineError>;

    /// Verify a TLS CertificateVerify signature over `message` with the leaf's key.
    fn verify_tls_signature(
        &self,
        leaf: &[u8],
        scheme: TlsScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<Result<(), Rejection>, EngineError>;

    /// Replace the trust (reload). On failure the previous trust keeps serving.
    fn set_trust(&self, trust: TrustSource) -> Result<(), EngineError>;

    /// Swap in another component file (hot swap). On failure the previous one keeps serving.
    /// The native validator has no component.
    fn load_component_file(&self, path: &std::path::Path) -> Result<(), EngineError> {
        Err(EngineError::Load(format!(
            "{}: the native validator runs no component",
            path.display()
        )))
    }

    /// `wasm` or `native`, for logs and metrics.
    fn name(&self) -> &'static str;
}

impl DeviceAuthenticator for Validator {
    fn verify_device(
        &self,
        leaf: &[u8],
        intermediates: &[Vec<u8>],
        opts: &VerifyOptions,
    ) -> Result<Result<Accepted, Rejection>, EngineError> {
        self.verify(leaf, intermediates, opts)
    }

    fn verify_tls_signature(
        &self,
        leaf: &[u8],
        scheme: TlsScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<Result<(), Rejection>, EngineError> {
        Validator::verify_tls_signature(self, leaf, scheme, message, signature)
    }

    fn set_trust(&self, trust: TrustSource) -> Result<(), EngineError> {
        Validator::set_trust(self, trust)
    }

    fn load_component_file(&self, path: &std::path::Path) -> Result<(), EngineError> {
        Validator::load_component_file(self, path)
    }

    fn name(&self) -> &'static str {
        "wasm"
    }
}

/// The core linked natively, with swappable trust.
#[derive(Debug)]
pub struct NativeAuthenticator {
    trust: RwLock<Arc<NativeTrust>>,
}

impl NativeAuthenticator {
    /// Build the trust now; a trust the core refuses is an error here.
    pub fn new(source: &TrustSource) -> Result<Self, EngineError> {
        let trust = NativeTrust::new(source).map_err(EngineError::Trust)?;
        Ok(NativeAuthenticator {
            trust: RwLock::new(Arc::new(trust)),
        })
    }

    fn current(&self) -> Arc<NativeTrust> {
        self.trust
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl DeviceAuthenticator for NativeAuthenticator {
    fn verify_device(
        &self,
        leaf: &[u8],
        intermediates: &[Vec<u8>],
        opts: &VerifyOptions,
    ) -> Result<Result<Accepted, Rejection>, EngineError> {
        Ok(self.current().verify(leaf, intermediates, opts))
    }

    fn verify_tls_signature(
        &self,
        leaf: &[u8],
        scheme: TlsScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<Result<(), Rejection>, EngineError> {
        Ok(
            chainproof::verify_tls_signature(leaf, scheme, message, signature)
                .map_err(Rejection::from),
        )
    }

    fn set_trust(&self, trust: TrustSource) -> Result<(), EngineError> {
        let new = NativeTrust::new(&trust).map_err(EngineError::Trust)?;
        *self.trust.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(new);
        Ok(())
    }

    fn name(&self) -> &'static str {
        "native"
    }
}

/// What the gateway keeps about an accepted device (for topics, the audit log and upstream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The device ID the core read from the certificate.
    pub device_id: String,
    /// The leaf's serial number (hex).
    pub serial: String,
    /// The leaf's issuer.
    pub issuer: String,
    /// SHA-256 thumbprint of the leaf (hex).
    pub sha256: String,
    /// The enrollment that admitted it (`group:ID` or `device:ID`), with a fleet policy.
    pub enrollment: Option<String>,
}

impl DeviceIdentity {
    /// The identity in an accepted verdict; `None` when the core reported no device ID.
    pub fn of(accepted: &Accepted) -> Option<Self> {
        let (report, enrollment) = match accepted {
            Accepted::Chain(r) => (r, None),
            Accepted::Admitted(v) => (
                &v.report,
                Some(match &v.enrollment {
                    chainproof::Enrollment::Group(g) => format!("group:{g}"),
                    chainproof::Enrollment::Device(d) => format!("device:{d}"),
                }),
            ),
        };
        let leaf = report.leaf()?;
        Some(DeviceIdentity {
            device_id: report.device_id.clone()?,
            serial: leaf.serial.clone(),
            issuer: leaf.issuer.clone(),
            sha256: leaf.sha256.clone(),
            enrollment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainproof::UnixTime;

    /// The native authenticator gives the demo PKI's expected codes (the engine's parity with
    /// it is the engine's own test, `tests/parity.rs`, and `tests/gateway.rs` runs the wasm one).
    #[test]
    fn native_verdicts_follow_the_fixtures() {
        let pki = chainproof_testkit::demo_pki(1_767_225_600);
        for fx in &pki.devices {
            let source = TrustSource::Anchors {
                anchors: vec![fx.anchors_pem().into_bytes()],
                crls: fx.crls.iter().map(|c| c.der.clone()).collect(),
            };
            let auth = NativeAuthenticator::new(&source).expect("trust");
            let bag: Vec<Vec<u8>> = fx.intermediates.iter().map(|c| c.der.clone()).collect();
            let got = auth
                .verify_device(
                    &fx.leaf.der,
                    &bag,
                    &VerifyOptions::new(UnixTime(fx.validation_time)),
                )
                .expect("native never fails to answer");
            match (&got, fx.expected_code) {
                (Ok(a), None) => {
                    let id = DeviceIdentity::of(a).expect("identity");
                    assert_eq!(id.device_id, fx.device_id);
                    assert_eq!(id.sha256, fx.leaf.sha256_hex().to_uppercase());
                }
                (Err(r), Some(code)) => assert_eq!(r.code.as_str(), code, "{}", fx.name),
                other => panic!("{}: unexpected {other:?}", fx.name),
            }
        }
    }
}
