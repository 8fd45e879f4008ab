//! The chainproof core behind the WIT world `chainproof:validator/validator-component`
//! (`wit/validator.wit`).
//!
//! This crate decides nothing: each export converts its arguments into the core's types, calls
//! the core, and converts the answer back field for field. Times and randomness are arguments,
//! so the component needs no clock, no random source, no filesystem and no network.

#![deny(missing_docs)]
// The export signatures (and so the size of their error type, the WIT `failure` record) are
// dictated by the bindings generated from the WIT.
#![allow(clippy::result_large_err)]

mod convert;

use std::cell::RefCell;

use chainproof::pop::{Challenge, NONCE_LEN, TlsScheme};
use chainproof::{Error, Failure, FleetPolicy, ReplayGuard, TrustStore, UnixTime};

use bindings::exports::chainproof::validator::types as wit;
use bindings::exports::chainproof::validator::validator::{
    Guest, GuestReplayGuard, GuestTrustStore, ReplayGuardBorrow, TrustStore as TrustStoreHandle,
};
use convert::{failure, from_options, report, summary, to_encoding};

/// Generated from `wit/validator.wit` (its doc comments are the documentation).
#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "validator-component",
    });
}

/// The component's implementation of the `validator` interface.
struct Component;

bindings::export!(Component with_types_in bindings);

/// What a trust-store resource holds: anchors and CRLs, or a whole fleet policy.
enum Trust {
    Anchors(TrustStore),
    Policy(Box<FleetPolicy>),
}

/// The `trust-store` resource. Its methods take `&self`; `set-cache` needs `&mut`.
pub struct StoreResource(RefCell<Trust>);

/// The `replay-guard` resource. A resource's methods take `&self`; the guard needs `&mut`.
pub struct GuardResource(RefCell<ReplayGuard>);

fn usize_to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl GuestTrustStore for StoreResource {
    fn from_anchors(
        anchors: Vec<Vec<u8>>,
        crls: Vec<Vec<u8>>,
    ) -> Result<TrustStoreHandle, wit::Failure> {
        let mut store = TrustStore::new();
        for a in &anchors {
            store
                .add_anchors(a)
                .map_err(|e| failure(&Failure::new(e)))?;
        }
        for c in &crls {
            store.add_crls(c).map_err(|e| failure(&Failure::new(e)))?;
        }
        Ok(TrustStoreHandle::new(StoreResource(RefCell::new(
            Trust::Anchors(store),
        ))))
    }

    fn from_policy(
        policy: String,
        files: Vec<wit::NamedFile>,
    ) -> Result<TrustStoreHandle, wit::Failure> {
        let resolve = |name: &str| -> Result<Vec<u8>, String> {
            files
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.contents.clone())
                .ok_or_else(|| format!("{name}: not among the files passed with the policy"))
        };
        let policy =
            FleetPolicy::from_toml(&policy, &resolve).map_err(|e| failure(&Failure::new(e)))?;
        Ok(TrustStoreHandle::new(StoreResource(RefCell::new(
            Trust::Policy(Box::new(policy)),
        ))))
    }

    fn anchor_count(&self) -> u32 {
        match &*self.0.borrow() {
            Trust::Anchors(store) => usize_to_u32(store.anchors().len()),
            Trust::Policy(policy) => usize_to_u32(policy.counts().anchors),
        }
    }

    fn set_cache(&self, enabled: bool) {
        match &mut *self.0.borrow_mut() {
            Trust::Anchors(store) => store.set_cache(enabled),
            Trust::Policy(policy) => policy.set_cache(enabled),
        }
    }

    fn verify(
        &self,
        leaf: Vec<u8>,
        intermediates: Vec<Vec<u8>>,
        options: wit::VerifyOptions,
    ) -> Result<wit::Verdict, wit::Failure> {
        let opts = from_options(options).map_err(|e| failure(&Failure::new(e)))?;
        match &*self.0.borrow() {
            Trust::Anchors(store) => chainproof::verify_chain(store, &leaf, &intermediates, &opts)
                .map(|r| wit::Verdict::Chain(report(r)))
                .map_err(|f| failure(&f)),
            Trust::Policy(policy) => policy
                .verify(&leaf, &intermediates, &opts)
                .map(|v| wit::Verdict::Admitted(convert::admission(v)))
                .map_err(|f| failure(&f)),
        }
    }

    fn verify_possession(
        &self,
        leaf: Vec<u8>,
        intermediates: Vec<Vec<u8>>,
        options: wit::VerifyOptions,
        proof: wit::Proof,
        guard: ReplayGuardBorrow<'_>,
    ) -> Result<wit::PossessionReport, wit::Failure> {
        let as_failure = |e: Error| failure(&Failure::new(e));
        let opts = from_options(options).map_err(as_failure)?;
        let trust = self.0.borrow();
        let Trust::Anchors(store) = &*trust else {
            return Err(as_failure(Error::MalformedInput {
                detail: "proof of possession is checked against an anchors store, not a policy"
                    .into(),
            }));
        };
        let challenge = Challenge::from_token(&proof.challenge_token).map_err(as_failure)?;
        let core_proof = chainproof::Proof {
            audience: &proof.audience,
            challenge: &challenge,
            signature: &proof.signature,
            encoding: to_encoding(proof.encoding),
        };
        let guard = guard.get::<GuardResource>();
        let mut guard = guard.0.borrow_mut();
        chainproof::verify_possession(store, &leaf, &intermediates, &opts, &core_proof, &mut guard)
            .map(convert::possession)
            .map_err(|f| failure(&f))
    }
}

impl GuestReplayGuard for GuardResource {
    fn new(capacity: u32) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        GuardResource(RefCell::new(ReplayGuard::new(capacity)))
    }

    fn len(&self) -> u32 {
        usize_to_u32(self.0.borrow().len())
    }
}

impl Guest for Component {
    type TrustStore = StoreResource;
    type ReplayGuard = GuardResource;

    fn issue_challenge(
        nonce: Vec<u8>,
        audience: String,
        issued_at: i64,
        ttl_secs: u32,
    ) -> Result<wit::IssuedChallenge, wit::Failure> {
        let nonce: [u8; NONCE_LEN] = nonce.as_slice().try_into().map_err(|_| {
            failure(&Failure::new(Error::PopMalformedChallenge {
                detail: format!(
                    "a challenge nonce is {NONCE_LEN} bytes, not {}",
                    nonce.len()
                ),
            }))
        })?;
        let c = Challenge::new(nonce, &audience, UnixTime(issued_at), ttl_secs)
            .map_err(|e| failure(&Failure::new(e)))?;
        Ok(wit::IssuedChallenge {
            token: c.to_token(),
            signed_bytes: c.signed_bytes(),
            expires_at: c.expires_at(),
        })
    }

    fn verify_tls_signature(
        leaf: Vec<u8>,
        scheme: u16,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<(), wit::Failure> {
        let scheme = TlsScheme::from_code(scheme).map_err(|e| failure(&Failure::new(e)))?;
        chainproof::verify_tls_signature(&leaf, scheme, &message, &signature)
            .map_err(|f| failure(&f))
    }

    fn verify_verification_certificate(
        ca: Vec<u8>,
        code: String,
        cert: Vec<u8>,
        time: i64,
    ) -> Result<wit::VerificationReport, wit::Failure> {
        chainproof::verify_verification_certificate(&ca, &code, &cert, UnixTime(time))
            .map(|r| wit::VerificationReport {
                ca: summary(r.ca),
                verification_certificate: summary(r.verification_certificate),
                code: r.code,
                verified_at: r.verified_at,
            })
            .map_err(|f| failure(&f))
    }

    fn inspect(input: Vec<u8>) -> Result<Vec<wit::CertSummary>, wit::Failure> {
        let ders = chainproof::parse_certificates(&input).map_err(|e| failure(&Failure::new(e)))?;
        ders.iter()
            .enumerate()
            .map(|(depth, der)| {
                chainproof::cert::Cert::from_der(der)
                    .map(|c| summary(c.summary(depth, false)))
                    .map_err(|e| failure(&Failure::at(e, depth, "a certificate in the input")))
            })
            .collect()
    }
}
