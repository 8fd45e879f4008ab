//! chainproof in the browser: the core behind a wasm-bindgen interface for the technician's
//! page (`web/`).
//!
//! Translation only. Every verdict, code, message and hint comes from `chainproof-core`; this
//! crate turns JavaScript values into core arguments and core results into plain objects (via
//! serde-wasm-bindgen, with `null` for absent fields so `JSON.stringify` of a verdict equals the
//! CLI's `--json` output). The page supplies what the core never reads itself: the time
//! (`Date.now()`) and the challenge nonce (`crypto.getRandomValues`).
//!
//! `verifyAsync` and `verifyPossessionAsync` give the same verdicts with the certificate
//! signature checks answered by the browser's WebCrypto ([`webcrypto`]).
//!
//! Failures to *use* an input (bytes that are not certificates, a policy file that does not
//! parse) are thrown as `{code, message, hint}` objects, as the CLI exits 2 for them; a chain
//! that is rejected is a normal result with `valid: false`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod convert;
pub mod webcrypto;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use chainproof::cert::Cert;
use chainproof::pop::verify_answer;
use chainproof::revocation::Crl;
use chainproof::{
    Challenge, Failure, FleetPolicy, IdentitySource, PeerName, Proof, Purpose, ReplayGuard,
    SignatureEncoding, TrustStore, UnixTime, VerifyOptions, decode_signature_text,
    parse_certificates, parse_crls, verify_chain, verify_verification_certificate,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use webcrypto::{Answer, SignatureStats, WebCrypto, in_rounds};

pub use convert::{JsonVerdict, UsageFailure};

/// What a chain is judged by: trust anchors with CRLs, or a fleet policy.
enum Trust {
    Store(TrustStore),
    Policy(Box<FleetPolicy>),
}

/// A loaded trust configuration (anchors and CRLs, or a fleet policy), decoded once; verify as
/// many devices against it as needed. It keeps a replay guard, so each issued challenge is
/// accepted at most once per loaded verifier, and the keys it imported into WebCrypto.
#[wasm_bindgen]
pub struct Verifier {
    // Shared with the pending promises of the async methods, which outlive any borrow.
    shared: Rc<Shared>,
}

struct Shared {
    trust: Trust,
    guard: RefCell<ReplayGuard>,
    webcrypto: WebCrypto,
}

/// Options of one verification, as the page passes them (camelCase; every field optional except
/// `at`). Mirrors `chainproof verify`'s options.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// Validation time, Unix seconds (the page's clock).
    pub at: Option<i64>,
    /// `client` (default), `server` or `any`.
    pub purpose: Option<String>,
    /// `cn` (default), `san-uri`, `san-dns` or `none`.
    pub identity: Option<String>,
    /// Reject unless the device ID is exactly this.
    pub device_id: Option<String>,
    /// Warn when the device certificate expires within this many days.
    pub renewal_days: Option<u32>,
    /// Most intermediate CAs between the device and the anchor.
    pub max_depth: Option<usize>,
    /// Names the device certificate must carry in subjectAltName (`dns:NAME`, `ip:ADDR`,
    /// `email:ADDR`; every one must match), as the CLI's `--peer-name`.
    pub peer_names: Vec<String>,
    /// Extended key usages required instead of `purpose` (names such as `serverAuth`, or
    /// dotted OIDs), as the CLI's `--eku`.
    pub eku: Vec<String>,
    /// keyUsage bits the device certificate must assert when it has a keyUsage (RFC 5280
    /// names, e.g. `digitalSignature`).
    pub key_usage: Vec<String>,
}

/// A challenge as the page shows and sends it (the fields of `chainproof pop challenge --json`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ChallengeInfo {
    /// The token the device signs (unpadded base64url of the blob).
    pub token: String,
    /// The verifier's name bound into the challenge.
    pub audience: String,
    /// The nonce, lower-case hex.
    pub nonce: String,
    /// Issue time, Unix seconds.
    pub issued_at: i64,
    /// Lifetime, seconds.
    pub ttl: u32,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// The exact bytes the device signs, lower-case hex.
    pub blob_hex: String,
}

/// An accepted chain's report: the core's `Report` with anchors, its `Verdict` (report,
/// enrollment, tags, route, warnings) with a policy; serialized as the inner value, as the CLI.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ChainReport {
    /// Judged by trust anchors.
    Chain(chainproof::Report),
    /// Admitted by a fleet policy.
    Policy(Box<chainproof::Verdict>),
}

/// The device's answer checked: how its signature verified.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PossessionInfo {
    /// The audience the challenge was for.
    pub audience: String,
    /// The challenge's nonce, lower-case hex.
    pub nonce: String,
    /// When the challenge was issued, Unix seconds.
    pub issued_at: i64,
    /// When it expires, Unix seconds.
    pub expires_at: i64,
    /// The signature kind the core recognised (e.g. `ecdsa-p256-sha256-der`).
    pub signature: chainproof::PopSignatureKind,
}

/// A summary of what a verifier trusts, for the page's trust panel.
#[derive(Debug, Serialize)]
pub struct TrustInfo {
    /// `anchors` or `policy`.
    pub kind: &'static str,
    /// The trust anchors (store mode only; a policy's anchors are listed per group).
    pub anchors: Vec<chainproof::CertSummary>,
    /// The CRLs held (store mode only).
    pub crls: Vec<chainproof::revocation::CrlSummary>,
    /// The policy's enrollment groups (policy mode only).
    pub groups: Vec<GroupInfo>,
    /// Number of individual enrollments (policy mode only).
    pub devices: usize,
}

/// One enrollment group of a policy.
#[derive(Debug, Serialize)]
pub struct GroupInfo {
    /// Group ID.
    pub id: String,
    /// Whether the group admits devices.
    pub enabled: bool,
    /// Number of trust anchors.
    pub anchors: usize,
    /// Route of admitted devices.
    pub route: String,
    /// Tags of admitted devices.
    pub tags: Vec<String>,
}

/// Everything found in a file: certificates (leaf first, as sent) and CRLs.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// Certificates in file order; `depth` is the position in the file.
    pub certificates: Vec<chainproof::CertSummary>,
    /// CRLs in file order.
    pub crls: Vec<chainproof::revocation::CrlSummary>,
}

fn time_of(options: &Options) -> Result<UnixTime, UsageFailure> {
    options.at.map(UnixTime).ok_or_else(|| {
        UsageFailure::usage("options.at (the validation time, Unix seconds) is required")
    })
}

/// The core's options for `options`. Names are the CLI's.
pub fn verify_options(options: &Options) -> Result<VerifyOptions, UsageFailure> {
    let mut o = VerifyOptions::new(time_of(options)?);
    if let Some(p) = &options.purpose {
        o.purpose = match p.as_str() {
            "client" => Purpose::Client,
            "server" => Purpose::Server,
            "any" => Purpose::Any,
            other => {
                return Err(UsageFailure::usage(format!(
                    "purpose {other:?} is not client, server or any"
                )));
            }
        };
    }
    if let Some(i) = &options.identity {
        o.identity = IdentitySource::parse(i).ok_or_else(|| {
            UsageFailure::usage(format!(
                "identity {i:?} is not cn, san-uri, san-dns or none"
            ))
        })?;
    }
    o.expected_device_id = options.device_id.clone();
    if let Some(days) = options.renewal_days {
        o.renewal_window_secs = i64::from(days) * 86_400;
    }
    if options.max_depth.is_some() {
        o.max_intermediates = options.max_depth;
    }
    if !options.eku.is_empty() {
        if options.purpose.is_some() {
            return Err(UsageFailure::usage("give purpose or eku, not both"));
        }
        o.purpose = Purpose::Ekus(
            options
                .eku
                .iter()
                .map(|e| {
                    chainproof::profile::eku::parse(e).ok_or_else(|| {
                        UsageFailure::usage(format!("eku {e:?} is not a known name or an OID"))
                    })
                })
                .collect::<Result<_, _>>()?,
        );
    }
    o.peer_names = options
        .peer_names
        .iter()
        .map(|n| PeerName::parse(n).map_err(|e| UsageFailure::usage(format!("peer name {e}"))))
        .collect::<Result<_, _>>()?;
    o.required_key_usage = options.key_usage.clone();
    Ok(o)
}

/// Split what a device sent (PEM or DER, one or many certificates) into the leaf and the rest,
/// plus any extra intermediates, as the CLI does with `LEAF.pem` and `--untrusted`.
pub fn leaf_and_bag(chain: &[u8], extra: &[u8]) -> Result<(Vec<u8>, Vec<Vec<u8>>), UsageFailure> {
    let mut sent = parse_certificates(chain)
        .map_err(|e| UsageFailure::input("the device chain", &e))?
        .into_iter();
    let leaf = sent
        .next()
        .ok_or_else(|| UsageFailure::usage("the device chain holds no certificate"))?;
    let mut bag: Vec<Vec<u8>> = sent.collect();
    if !extra.is_empty() {
        bag.extend(
            parse_certificates(extra).map_err(|e| UsageFailure::input("intermediates", &e))?,
        );
    }
    Ok((leaf, bag))
}

impl Verifier {
    /// A verifier over trust anchors and CRLs (PEM or DER bytes; CRLs may be empty).
    pub fn with_anchors(anchors: &[u8], crls: &[u8]) -> Result<Self, UsageFailure> {
        let mut store = TrustStore::new();
        store
            .add_anchors(anchors)
            .map_err(|e| UsageFailure::input("trust anchors", &e))?;
        if !crls.is_empty() {
            store
                .add_crls(crls)
                .map_err(|e| UsageFailure::input("CRLs", &e))?;
        }
        Ok(Self::new(Trust::Store(store)))
    }

    /// A verifier over a fleet policy; `files` holds the bytes of the files it names.
    pub fn with_policy(text: &str, files: &HashMap<String, Vec<u8>>) -> Result<Self, UsageFailure> {
        let resolve = |name: &str| {
            files
                .get(name)
                .cloned()
                .ok_or_else(|| format!("{name}: not loaded with the policy"))
        };
        let policy = FleetPolicy::from_toml(text, &resolve)
            .map_err(|e| UsageFailure::input("policy", &e))?;
        Ok(Self::new(Trust::Policy(Box::new(policy))))
    }

    fn new(trust: Trust) -> Self {
        Self {
            shared: Rc::new(Shared {
                trust,
                guard: RefCell::new(ReplayGuard::default()),
                webcrypto: WebCrypto::default(),
            }),
        }
    }

    /// How this verifier's signature checks were answered so far (async methods only).
    pub fn signature_stats(&self) -> SignatureStats {
        self.shared.webcrypto.stats()
    }

    /// What this verifier trusts.
    pub fn trust_info(&self) -> TrustInfo {
        match &self.shared.trust {
            Trust::Store(store) => TrustInfo {
                kind: "anchors",
                anchors: store
                    .anchors()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| c.summary(i, true))
                    .collect(),
                crls: store.crls().iter().map(Crl::summary).collect(),
                groups: Vec::new(),
                devices: 0,
            },
            Trust::Policy(p) => TrustInfo {
                kind: "policy",
                anchors: Vec::new(),
                crls: Vec::new(),
                groups: p
                    .groups()
                    .iter()
                    .map(|g| GroupInfo {
                        id: g.id.clone(),
                        enabled: g.enabled,
                        anchors: g.anchor_count(),
                        route: g.route.clone(),
                        tags: g.tags.clone(),
                    })
                    .collect(),
                devices: p.device_count(),
            },
        }
    }

    /// The verdict on a device chain, in the CLI's `--json` shape.
    pub fn verify_json(
        &self,
        chain: &[u8],
        extra: &[u8],
        options: &Options,
    ) -> Result<JsonVerdict<ChainReport>, UsageFailure> {
        let (leaf, bag) = leaf_and_bag(chain, extra)?;
        let opts = verify_options(options)?;
        Ok(JsonVerdict::of(
            self.shared.chain_verdict(&leaf, &bag, &opts),
        ))
    }

    /// The chain verdict, then the device's answer to `token`: the core's
    /// [`chainproof::verify_possession`] (the chain, then [`verify_answer`]) with anchors or
    /// with a policy. The report is a [`PossessionInfo`].
    pub fn possession_json(
        &self,
        chain: &[u8],
        options: &Options,
        audience: &str,
        token: &str,
        signature: &str,
    ) -> Result<JsonVerdict<PossessionInfo>, UsageFailure> {
        let call = PossessionCall::new(chain, options, audience, token, signature)?;
        let chain = match &call.signature {
            Ok(_) => self
                .shared
                .chain_verdict(&call.leaf, &call.bag, &call.opts)
                .map(drop),
            Err(f) => Err(f.clone()),
        };
        Ok(self.shared.possession(&call, chain))
    }
}

/// A possession check's inputs, decoded before any verification (in the order the CLI
/// reports their failures).
struct PossessionCall {
    leaf: Vec<u8>,
    bag: Vec<Vec<u8>>,
    opts: VerifyOptions,
    audience: String,
    challenge: Challenge,
    /// The device's signature, or why its text is not one (reported before the chain).
    signature: Result<Vec<u8>, Failure>,
}

impl PossessionCall {
    fn new(
        chain: &[u8],
        options: &Options,
        audience: &str,
        token: &str,
        signature: &str,
    ) -> Result<Self, UsageFailure> {
        let (leaf, bag) = leaf_and_bag(chain, &[])?;
        let opts = verify_options(options)?;
        let challenge = Challenge::from_token(token.trim())
            .map_err(|e| UsageFailure::input("the challenge token", &e))?;
        Ok(Self {
            leaf,
            bag,
            opts,
            audience: audience.to_owned(),
            challenge,
            signature: decode_signature_text(signature).map_err(Failure::new),
        })
    }
}

impl Shared {
    /// The core's verdict on a chain with these options (anchors or policy).
    fn chain_verdict(
        &self,
        leaf: &[u8],
        bag: &[Vec<u8>],
        opts: &VerifyOptions,
    ) -> Result<ChainReport, Failure> {
        match &self.trust {
            Trust::Store(store) => verify_chain(store, leaf, bag, opts).map(ChainReport::Chain),
            Trust::Policy(policy) => policy
                .verify(leaf, bag, opts)
                .map(|v| ChainReport::Policy(Box::new(v))),
        }
    }

    /// The chain verdict in rounds, its signature checks answered by `answerer`.
    async fn chain_verdict_in_rounds(
        &self,
        leaf: &[u8],
        bag: &[Vec<u8>],
        opts: &VerifyOptions,
        answerer: &impl Answer,
    ) -> Result<Result<ChainReport, Failure>, UsageFailure> {
        in_rounds(opts, |o| self.chain_verdict(leaf, bag, o), answerer).await
    }

    /// [`Verifier::verify_json`] with the signature checks answered by `answerer`.
    async fn verify_in_rounds(
        &self,
        chain: &[u8],
        extra: &[u8],
        options: &Options,
        answerer: &impl Answer,
    ) -> Result<JsonVerdict<ChainReport>, UsageFailure> {
        let (leaf, bag) = leaf_and_bag(chain, extra)?;
        let opts = verify_options(options)?;
        Ok(JsonVerdict::of(
            self.chain_verdict_in_rounds(&leaf, &bag, &opts, answerer)
                .await?,
        ))
    }

    /// [`Verifier::possession_json`] with the chain's signature checks answered by `answerer`
    /// (the device's signature over the challenge is checked by the core).
    async fn possession_in_rounds(
        &self,
        call: PossessionCall,
        answerer: &impl Answer,
    ) -> Result<JsonVerdict<PossessionInfo>, UsageFailure> {
        let chain = match &call.signature {
            Ok(_) => self
                .chain_verdict_in_rounds(&call.leaf, &call.bag, &call.opts, answerer)
                .await?
                .map(drop),
            Err(f) => Err(f.clone()),
        };
        Ok(self.possession(&call, chain))
    }

    /// After the chain's verdict `chain`: the device's answer, through the replay guard.
    fn possession(
        &self,
        call: &PossessionCall,
        chain: Result<(), Failure>,
    ) -> JsonVerdict<PossessionInfo> {
        let result = chain.and_then(|()| {
            let signature = call.signature.as_ref().map_err(Clone::clone)?;
            let proof = Proof {
                audience: &call.audience,
                challenge: &call.challenge,
                signature,
                encoding: SignatureEncoding::Auto,
            };
            verify_answer(
                &call.leaf,
                call.opts.time,
                &proof,
                &mut self.guard.borrow_mut(),
            )
        });
        let challenge = &call.challenge;
        JsonVerdict::of(result.map(|signature| PossessionInfo {
            audience: challenge.audience().to_owned(),
            nonce: hex(challenge.nonce()),
            issued_at: challenge.issued_at(),
            expires_at: challenge.expires_at(),
            signature,
        }))
    }
}

/// The verdict in rounds answered by the core itself, for native tests of the round logic.
#[cfg(test)]
fn verify_with_software(
    v: &Verifier,
    chain: &[u8],
    extra: &[u8],
    options: &Options,
) -> Result<JsonVerdict<ChainReport>, UsageFailure> {
    block_on(
        v.shared
            .verify_in_rounds(chain, extra, options, &webcrypto::Software),
    )
}

/// Poll a future that never waits (the software answerer) to its end.
#[cfg(test)]
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(t) = f.as_mut().poll(&mut cx) {
            return t;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new challenge from the page's random `nonce` (32 bytes from `crypto.getRandomValues`).
pub fn challenge_info(
    nonce: &[u8],
    audience: &str,
    now: i64,
    ttl: u32,
) -> Result<ChallengeInfo, UsageFailure> {
    let nonce: [u8; chainproof::pop::NONCE_LEN] = nonce.try_into().map_err(|_| {
        UsageFailure::usage(format!(
            "the nonce must be {} random bytes, not {}",
            chainproof::pop::NONCE_LEN,
            nonce.len()
        ))
    })?;
    let c = Challenge::new(nonce, audience, UnixTime(now), ttl)
        .map_err(|e| UsageFailure::input("the challenge", &e))?;
    Ok(ChallengeInfo {
        token: c.to_token(),
        audience: c.audience().to_owned(),
        nonce: hex(c.nonce()),
        issued_at: c.issued_at(),
        ttl: c.ttl_secs(),
        expires_at: c.expires_at(),
        blob_hex: hex(&c.signed_bytes()),
    })
}

/// Every certificate, or every CRL, in `bytes` (PEM or DER), summarised by the core. A file
/// holds one kind, as for `chainproof inspect`.
pub fn inspection(bytes: &[u8]) -> Result<Inspection, UsageFailure> {
    match parse_certificates(bytes) {
        Ok(certs) => Ok(Inspection {
            certificates: certs
                .iter()
                .enumerate()
                .map(|(i, der)| {
                    Cert::from_der(der)
                        .map(|c| c.summary(i, false))
                        .map_err(|e| UsageFailure::input("a certificate", &e))
                })
                .collect::<Result<_, _>>()?,
            crls: Vec::new(),
        }),
        // Not certificates: CRLs, or else the certificate parser's reason (the common case).
        Err(cert_err) => match parse_crls(bytes) {
            Ok(crls) => Ok(Inspection {
                certificates: Vec::new(),
                crls: crls
                    .iter()
                    .map(|der| {
                        Crl::from_der(der)
                            .map(|c| c.summary())
                            .map_err(|e| UsageFailure::input("a CRL", &e))
                    })
                    .collect::<Result<_, _>>()?,
            }),
            Err(_) => Err(UsageFailure::input("the file", &cert_err)),
        },
    }
}

// ---- the JavaScript interface -------------------------------------------------------------

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    convert::to_js(value)
}

fn options_from(options: JsValue) -> Result<Options, JsValue> {
    serde_wasm_bindgen::from_value(options)
        .map_err(|e| JsValue::from(UsageFailure::usage(format!("options: {e}"))))
}

#[wasm_bindgen]
impl Verifier {
    /// Trust these anchors (PEM or DER, one or many) and CRLs (may be empty).
    #[wasm_bindgen(js_name = fromAnchors)]
    pub fn from_anchors(anchors: &[u8], crls: &[u8]) -> Result<Verifier, JsValue> {
        Ok(Self::with_anchors(anchors, crls)?)
    }

    /// Trust a fleet policy (TOML text); `files` maps each file name the policy references
    /// (`anchors_file`, `crl_files`) to its bytes (`Map<string, Uint8Array>`).
    #[wasm_bindgen(js_name = fromPolicy)]
    pub fn from_policy(text: &str, files: &js_sys::Map) -> Result<Verifier, JsValue> {
        let mut map = HashMap::new();
        for entry in files.entries() {
            let pair = js_sys::Array::from(&entry?);
            let name = pair.get(0).as_string().ok_or_else(|| {
                JsValue::from(UsageFailure::usage("policy file names must be strings"))
            })?;
            let bytes = js_sys::Uint8Array::new(&pair.get(1)).to_vec();
            map.insert(name, bytes);
        }
        Ok(Self::with_policy(text, &map)?)
    }

    /// What is trusted: `{kind, anchors, crls, groups, devices}`.
    #[wasm_bindgen(js_name = trust)]
    pub fn trust_js(&self) -> Result<JsValue, JsValue> {
        to_js(&self.trust_info())
    }

    /// Verify what a device sent (PEM or DER bytes, leaf first) plus optional extra
    /// intermediates. Returns `{valid, reason, report, error}` exactly as `chainproof verify
    /// --json`. `options` needs `at` (Unix seconds).
    #[wasm_bindgen(js_name = verify)]
    pub fn verify_js(
        &self,
        chain: &[u8],
        extra: &[u8],
        options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let options = options_from(options)?;
        to_js(&self.verify_json(chain, extra, &options)?)
    }

    /// `verify` with the certificate signature checks done by the browser's WebCrypto
    /// (`crypto.subtle`, natively) where it can, and by the core elsewhere: a promise of the
    /// same object `verify` returns. Rejects with `{code, message, hint}` where `verify` throws.
    #[wasm_bindgen(js_name = verifyAsync)]
    pub fn verify_async_js(&self, chain: &[u8], extra: &[u8], options: JsValue) -> js_sys::Promise {
        let shared = Rc::clone(&self.shared);
        let (chain, extra) = (chain.to_vec(), extra.to_vec());
        wasm_bindgen_futures::future_to_promise(async move {
            let options = options_from(options)?;
            let verdict = shared
                .verify_in_rounds(&chain, &extra, &options, &shared.webcrypto)
                .await?;
            to_js(&verdict)
        })
    }

    /// Check a device's answer to a challenge: the chain verdict first, then the signature
    /// (base64 or hex; DER or raw r||s for ECDSA) over the token's blob. Returns `{valid,
    /// reason, report, error}`; a challenge is accepted once per verifier.
    #[wasm_bindgen(js_name = verifyPossession)]
    pub fn verify_possession_js(
        &self,
        chain: &[u8],
        options: JsValue,
        audience: &str,
        token: &str,
        signature: &str,
    ) -> Result<JsValue, JsValue> {
        let options = options_from(options)?;
        to_js(&self.possession_json(chain, &options, audience, token, signature)?)
    }

    /// `verifyPossession` with the chain's signature checks done by WebCrypto where it can (the
    /// device's signature over the challenge by the core): a promise of the same object.
    #[wasm_bindgen(js_name = verifyPossessionAsync)]
    pub fn verify_possession_async_js(
        &self,
        chain: &[u8],
        options: JsValue,
        audience: String,
        token: String,
        signature: String,
    ) -> js_sys::Promise {
        let shared = Rc::clone(&self.shared);
        let chain = chain.to_vec();
        wasm_bindgen_futures::future_to_promise(async move {
            let options = options_from(options)?;
            let call = PossessionCall::new(&chain, &options, &audience, &token, &signature)?;
            let verdict = shared.possession_in_rounds(call, &shared.webcrypto).await?;
            to_js(&verdict)
        })
    }

    /// How this verifier's certificate signature checks were answered so far by the async
    /// methods: `{webcrypto, software, keys_imported}` (software: WebCrypto could not do them).
    #[wasm_bindgen(js_name = signatureStats)]
    pub fn signature_stats_js(&self) -> Result<JsValue, JsValue> {
        to_js(&self.signature_stats())
    }
}

/// Issue a challenge: `nonce` is 32 bytes from `crypto.getRandomValues`, `now` the page's
/// clock in Unix seconds, `ttl` the lifetime in seconds (at most 3600).
#[wasm_bindgen(js_name = issueChallenge)]
pub fn issue_challenge(
    nonce: &[u8],
    audience: &str,
    now: f64,
    ttl: u32,
) -> Result<JsValue, JsValue> {
    to_js(&challenge_info(
        nonce,
        audience,
        convert::seconds(now)?,
        ttl,
    )?)
}

/// Summaries of every certificate and CRL in a file: `{certificates, crls}`.
#[wasm_bindgen]
pub fn inspect(bytes: &[u8]) -> Result<JsValue, JsValue> {
    to_js(&inspection(bytes)?)
}

/// Check a CA verification certificate against the CA certificate and the one-time code at
/// `now` (Unix seconds). Returns `{valid, reason, report, error}`.
#[wasm_bindgen(js_name = checkVerificationCertificate)]
pub fn check_verification_certificate(
    ca: &[u8],
    code: &str,
    certificate: &[u8],
    now: f64,
) -> Result<JsValue, JsValue> {
    let now = UnixTime(convert::seconds(now)?);
    to_js(&JsonVerdict::of(verify_verification_certificate(
        ca,
        code.trim(),
        certificate,
        now,
    )))
}

/// The module's version (the workspace version), shown on the page.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

#[cfg(test)]
mod tests;
