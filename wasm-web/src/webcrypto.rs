//! Certificate signature checks answered by the browser's WebCrypto (`crypto.subtle`), which
//! runs natively, while the core runs as wasm without wide multiplication.
//!
//! The core still decides everything but the arithmetic ([`chainproof::ExternalSignatures`]):
//! it decodes and range-checks algorithm, key and signature, hands out the checks left, and
//! gives the verdict from a round that needed no new answer. This file only carries bytes to
//! `crypto.subtle` and its booleans back; whatever WebCrypto cannot do (no `crypto.subtle` in an
//! insecure context, a key it refuses to import, an exception) is answered by the core's own
//! verification, never by `true`.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use chainproof::{ExternalScheme, ExternalSignatures, Failure, SignatureCheck, VerifyOptions};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::UsageFailure;

/// Rounds of one verification: one per signature check the path builder may make (each round
/// but the last answers at least one more), plus the final round.
pub const MAX_ROUNDS: usize = chainproof::path::MAX_SIGNATURE_CHECKS + 1;

/// Imported keys a verifier keeps. A page sees a handful of CA keys; the bound only matters for
/// adversarial bags of many CAs, and the cache is emptied when full.
const MAX_KEYS: usize = 64;

/// Who answers a round's signature checks: one answer per check, in order.
pub(crate) trait Answer {
    async fn answer(&self, checks: &[SignatureCheck]) -> Vec<bool>;
}

/// Verify in rounds ([`ExternalSignatures`]): `verify` runs the core with the options given,
/// `answerer` answers what a round left pending. The inner result is the core's verdict from
/// the final round; the outer error says the rounds did not end (a bug, never a verdict).
pub(crate) async fn in_rounds<T>(
    opts: &VerifyOptions,
    verify: impl Fn(&VerifyOptions) -> Result<T, Failure>,
    answerer: &impl Answer,
) -> Result<Result<T, Failure>, UsageFailure> {
    let external = Arc::new(ExternalSignatures::new());
    let mut opts = opts.clone();
    opts.external = Some(Arc::clone(&external));
    for _ in 0..MAX_ROUNDS {
        let verdict = verify(&opts);
        if external.is_complete() {
            return Ok(verdict);
        }
        let checks = external.take_pending();
        let answers = answerer.answer(&checks).await;
        // A check left without an answer is asked for again in the next round.
        for (check, valid) in checks.into_iter().zip(answers) {
            external.answer(check, valid);
        }
    }
    Err(UsageFailure::internal(format!(
        "no final verdict after {MAX_ROUNDS} rounds of signature checks"
    )))
}

/// The core's own verification as the answerer (no WebCrypto).
pub(crate) struct Software;

impl Answer for Software {
    async fn answer(&self, checks: &[SignatureCheck]) -> Vec<bool> {
        checks
            .iter()
            .map(SignatureCheck::verify_in_software)
            .collect()
    }
}

/// How a verifier's signature checks were answered, for tests and the benchmark.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct SignatureStats {
    /// Checks answered by `crypto.subtle.verify`.
    pub webcrypto: u32,
    /// Checks answered by the core's own verification because WebCrypto could not do them.
    pub software: u32,
    /// Keys imported into WebCrypto (`importKey` calls; a kept verifier reuses them).
    pub keys_imported: u32,
}

/// WebCrypto as the answerer, with the imported keys of one verifier.
#[derive(Default)]
pub(crate) struct WebCrypto {
    /// `importKey` promises by (SubjectPublicKeyInfo, scheme): WebCrypto binds the hash to an
    /// RSA key, so the scheme is part of the key. A rejected import stays rejected. A list
    /// searched in order: at most [`MAX_KEYS`], and smaller in the module than a hash map.
    keys: RefCell<Vec<(Vec<u8>, ExternalScheme, Promise)>>,
    stats: Cell<SignatureStats>,
}

impl WebCrypto {
    pub(crate) fn stats(&self) -> SignatureStats {
        self.stats.get()
    }

    fn count(&self, f: impl FnOnce(&mut SignatureStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// The imported key for `check`, from the cache or a new `importKey`; `None` when
    /// `importKey` threw.
    fn key(&self, subtle: &JsValue, check: &SignatureCheck) -> Option<Promise> {
        if let Some((.., p)) = self
            .keys
            .borrow()
            .iter()
            .find(|(spki, scheme, _)| *spki == check.spki && *scheme == check.scheme)
        {
            return Some(p.clone());
        }
        let promise = call(
            subtle,
            "importKey",
            &[
                "spki".into(),
                Uint8Array::from(check.spki.as_slice()).into(),
                import_params(check.scheme).ok()?,
                false.into(),
                Array::of1(&"verify".into()).into(),
            ],
        )
        .ok()?;
        let mut keys = self.keys.borrow_mut();
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.push((check.spki.clone(), check.scheme, promise.clone()));
        self.count(|s| s.keys_imported += 1);
        Some(promise)
    }

    /// Start `verify` for `check` once its key is imported; `None` on any failure.
    async fn start_verify(
        &self,
        subtle: &JsValue,
        check: &SignatureCheck,
        key: Option<Promise>,
    ) -> Option<Promise> {
        let key = JsFuture::from(key?).await.ok()?;
        call(
            subtle,
            "verify",
            &[
                verify_params(check.scheme).ok()?,
                key,
                Uint8Array::from(check.signature.as_slice()).into(),
                Uint8Array::from(check.message.as_slice()).into(),
            ],
        )
        .ok()
    }
}

impl Answer for WebCrypto {
    async fn answer(&self, checks: &[SignatureCheck]) -> Vec<bool> {
        let Some(subtle) = subtle() else {
            self.count(|s| s.software += checks.len() as u32);
            return Software.answer(checks).await;
        };
        // Every import starts, then every verify, then the answers are collected: WebCrypto
        // works on a round's checks concurrently.
        let keys: Vec<Option<Promise>> = checks.iter().map(|c| self.key(&subtle, c)).collect();
        let mut verifies = Vec::with_capacity(checks.len());
        for (check, key) in checks.iter().zip(keys) {
            verifies.push(self.start_verify(&subtle, check, key).await);
        }
        let mut answers = Vec::with_capacity(checks.len());
        for (check, verify) in checks.iter().zip(verifies) {
            let verdict = match verify {
                Some(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_bool()),
                None => None,
            };
            answers.push(match verdict {
                Some(valid) => {
                    self.count(|s| s.webcrypto += 1);
                    valid
                }
                None => {
                    self.count(|s| s.software += 1);
                    check.verify_in_software()
                }
            });
        }
        answers
    }
}

/// `globalThis.crypto.subtle`, when the page has it (secure contexts only).
fn subtle() -> Option<JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok()?;
    if !crypto.is_object() {
        return None;
    }
    let subtle = Reflect::get(&crypto, &"subtle".into()).ok()?;
    subtle.is_object().then_some(subtle)
}

/// `subtle[method](...args)` as a promise; `Err` when it throws.
fn call(subtle: &JsValue, method: &str, args: &[JsValue]) -> Result<Promise, JsValue> {
    let f: Function = Reflect::get(subtle, &method.into())?.dyn_into()?;
    let result = f.apply(subtle, &args.iter().collect::<Array>())?;
    Ok(Promise::resolve(&result))
}

fn object(fields: &[(&str, &str)]) -> Result<JsValue, JsValue> {
    let o = Object::new();
    for (k, v) in fields {
        Reflect::set(&o, &(*k).into(), &(*v).into())?;
    }
    Ok(o.into())
}

/// `importKey`'s algorithm for a scheme.
fn import_params(scheme: ExternalScheme) -> Result<JsValue, JsValue> {
    match scheme {
        ExternalScheme::EcdsaP256(_) => object(&[("name", "ECDSA"), ("namedCurve", "P-256")]),
        ExternalScheme::EcdsaP384(_) => object(&[("name", "ECDSA"), ("namedCurve", "P-384")]),
        ExternalScheme::RsaPkcs1(h) => {
            object(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", h.webcrypto_name())])
        }
    }
}

/// `verify`'s algorithm for a scheme.
fn verify_params(scheme: ExternalScheme) -> Result<JsValue, JsValue> {
    match scheme {
        ExternalScheme::EcdsaP256(h) | ExternalScheme::EcdsaP384(h) => {
            object(&[("name", "ECDSA"), ("hash", h.webcrypto_name())])
        }
        ExternalScheme::RsaPkcs1(_) => object(&[("name", "RSASSA-PKCS1-v1_5")]),
    }
}
