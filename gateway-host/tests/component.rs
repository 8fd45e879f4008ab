//! The validator component in wasmtime: what it imports, the trust-store resource's lifecycle,
//! fuel and memory exhaustion, hot swap under concurrent calls, and broken components.
//! A missing component fails these tests with the command that builds it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chainproof::{ErrorCode, SignatureEncoding, UnixTime};
use chainproof_gateway::engine::{
    Accepted, EngineError, Limits, ProofInput, Rejection, TrustSource, Validator,
};
use chainproof_testkit::{Fixture, iot_fixture};

fn fixture(name: &str) -> Fixture {
    iot_fixture(name, common::NOW).unwrap_or_else(|| panic!("the testkit has no {name} fixture"))
}

fn validator(f: &Fixture, limits: Limits) -> Validator {
    let (runtime, compiled) = common::component();
    Validator::new(runtime, compiled, common::source(f), limits).expect("a validator")
}

fn verify(v: &Validator, f: &Fixture) -> Result<Accepted, Rejection> {
    v.verify(&f.leaf.der, &common::bag(f), &common::options(f))
        .expect("the engine answers")
}

/// What `wasm-tools component wit` lists as the component's imports: only the WASI interfaces
/// Rust's standard library for wasm32-wasip2 declares. The host links
/// `wasi:random/insecure-seed` (std's HashMap seeds) and makes every other one trap.
#[test]
fn the_component_imports_only_what_std_declares_and_exports_the_validator() {
    let (runtime, compiled) = common::component();
    let mut imports = compiled.imports(&runtime);
    imports.sort();
    println!("imports: {imports:#?}");
    // Exactly these (recorded in docs/component.md): no clock, filesystem, network or other
    // randomness.
    let expected = [
        "wasi:cli/environment@0.2.6",
        "wasi:cli/exit@0.2.6",
        "wasi:cli/stderr@0.2.6",
        "wasi:cli/stdin@0.2.6",
        "wasi:cli/stdout@0.2.6",
        "wasi:cli/terminal-input@0.2.6",
        "wasi:cli/terminal-output@0.2.6",
        "wasi:cli/terminal-stderr@0.2.6",
        "wasi:cli/terminal-stdin@0.2.6",
        "wasi:cli/terminal-stdout@0.2.6",
        "wasi:io/error@0.2.6",
        "wasi:io/poll@0.2.6",
        "wasi:io/streams@0.2.6",
        "wasi:random/insecure-seed@0.2.6",
    ];
    assert_eq!(imports, expected, "the component's imports changed");
    let exports = compiled.exports(&runtime);
    assert!(
        exports.contains(&"chainproof:validator/validator@0.1.0".to_owned()),
        "exports: {exports:?}"
    );
    println!("component size: {} bytes", compiled.size());
}

#[test]
fn a_trust_store_serves_many_calls_and_is_replaced_by_set_trust() {
    let good = fixture("p256-three-tier");
    let v = validator(&good, Limits::default());
    assert_eq!(v.ready_instances(), 1, "one instance is made up front");
    for _ in 0..3 {
        match verify(&v, &good) {
            Ok(Accepted::Chain(r)) => assert_eq!(r.chain.len(), 3),
            other => panic!("expected a valid three-tier chain, got {other:?}"),
        }
    }
    assert_eq!(
        v.ready_instances(),
        1,
        "the instance is reused, not recreated"
    );

    // Another anchor: the same chain now has no known issuer.
    let other = fixture("p384-three-tier");
    v.set_trust(common::source(&other)).expect("new trust");
    let r = verify(&v, &good).expect_err("different anchors");
    assert_eq!(r.code, ErrorCode::UnknownIssuer);

    // A trust store the core refuses leaves the last one serving, with the error kept.
    let bad = TrustSource::Anchors {
        anchors: vec![b"not a certificate".to_vec()],
        crls: Vec::new(),
    };
    match v.set_trust(bad) {
        Err(EngineError::Trust(r)) => assert_eq!(r.code, ErrorCode::MalformedInput),
        other => panic!("expected a refused trust store, got {other:?}"),
    }
    assert!(v.last_error().is_some());
    assert_eq!(
        verify(&v, &good).expect_err("still the P-384 anchors").code,
        ErrorCode::UnknownIssuer
    );
}

#[test]
fn stateless_calls_answer_like_the_core() {
    let f = fixture("p256-three-tier");
    let v = validator(&f, Limits::default());
    let summaries = v
        .inspect(f.presented_chain_pem().as_bytes())
        .expect("engine")
        .expect("certificates");
    let native: Vec<_> = chainproof::parse_certificates(f.presented_chain_pem().as_bytes())
        .expect("pem")
        .iter()
        .enumerate()
        .map(|(i, d)| {
            chainproof::cert::Cert::from_der(d)
                .expect("cert")
                .summary(i, false)
        })
        .collect();
    assert_eq!(summaries, native);
    let r = v
        .verify_tls_signature(
            &f.leaf.der,
            chainproof::TlsScheme::EcdsaSecp256r1Sha256,
            b"transcript",
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
        )
        .expect("engine")
        .expect_err("a made-up signature");
    let native = chainproof::verify_tls_signature(
        &f.leaf.der,
        chainproof::TlsScheme::EcdsaSecp256r1Sha256,
        b"transcript",
        &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
    )
    .expect_err("a made-up signature");
    assert_eq!(r, Rejection::from(native));
}

/// A challenge issued by the component for `gateway-1` and the device's DER signature of it.
fn answered_challenge(v: &Validator, f: &Fixture, nonce: u8) -> (String, Vec<u8>) {
    use p256::pkcs8::DecodePrivateKey as _;
    use signature::Signer as _;

    let issued = v
        .issue_challenge(&[nonce; 32], "gateway-1", UnixTime(common::NOW), 300)
        .expect("engine")
        .expect("a challenge");
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&f.leaf_key_pem()).expect("leaf key");
    let sig: p256::ecdsa::Signature = key.sign(&issued.signed_bytes);
    (issued.token, sig.to_der().as_bytes().to_vec())
}

#[test]
fn proof_of_possession_session_keeps_its_replay_guard() {
    let f = fixture("p256-three-tier");
    let v = validator(&f, Limits::default());
    let (token, sig) = answered_challenge(&v, &f, 7);
    let proof = ProofInput {
        audience: "gateway-1",
        challenge_token: &token,
        signature: &sig,
        encoding: SignatureEncoding::Der,
    };
    let opts = common::options(&f);
    let session = v.pop_session(16).expect("a session");
    let first = session
        .verify_possession(&f.leaf.der, &common::bag(&f), &opts, &proof)
        .expect("engine")
        .expect("possession proved");
    assert_eq!(first.audience, "gateway-1");
    let again = session
        .verify_possession(&f.leaf.der, &common::bag(&f), &opts, &proof)
        .expect("engine")
        .expect_err("the same answer twice");
    assert_eq!(again.code, ErrorCode::PopReplayed);
}

#[test]
fn a_tiny_fuel_budget_is_budget_exceeded_and_the_host_keeps_serving() {
    let f = fixture("p256-three-tier");
    let tiny = validator(
        &f,
        Limits {
            fuel: 20_000,
            ..Limits::default()
        },
    );
    for _ in 0..3 {
        let r = verify(&tiny, &f).expect_err("20,000 fuel units cannot check a signature");
        assert_eq!(r.code, ErrorCode::BudgetExceeded, "{r:?}");
        assert!(r.message.contains("fuel"), "{}", r.message);
        assert!(
            r.hint.contains("raise the validator's limits"),
            "{}",
            r.hint
        );
        assert_eq!(
            tiny.ready_instances(),
            0,
            "the exhausted instance is discarded"
        );
    }
    // Same runtime, normal budget: unaffected.
    let normal = validator(&f, Limits::default());
    assert!(verify(&normal, &f).is_ok());
}

#[test]
fn limbo_style_pathological_bag_with_a_small_budget_is_budget_exceeded() {
    // A bag of many same-named CAs makes path building try many signatures; with a budget of
    // a few signature checks the host stops it, not the core.
    let f = fixture("p256-three-tier");
    let tiny = validator(
        &f,
        Limits {
            fuel: 30_000_000,
            ..Limits::default()
        },
    );
    let mut bag = common::bag(&f);
    for _ in 0..50 {
        bag.extend(common::bag(&f));
    }
    let r = tiny
        .verify(&f.leaf.der, &bag, &common::options(&f))
        .expect("engine")
        .expect_err("out of fuel");
    assert_eq!(r.code, ErrorCode::BudgetExceeded);
}

#[test]
fn memory_exhaustion_traps_inside_the_component_and_is_budget_exceeded() {
    let f = fixture("p256-three-tier");
    let v = validator(
        &f,
        Limits {
            memory_bytes: 4 << 20,
            ..Limits::default()
        },
    );
    // 8 MiB of "leaf" cannot even be copied into a 4 MiB instance: the component's allocator
    // fails and aborts (a trap), and the refused growth makes it budget-exceeded.
    let huge = vec![0x30u8; 8 << 20];
    let r = v
        .verify(&huge, &[], &common::options(&f))
        .expect("engine")
        .expect_err("too big");
    assert_eq!(r.code, ErrorCode::BudgetExceeded, "{r:?}");
    assert!(r.message.contains("memory"), "{}", r.message);
    // The next call gets a fresh instance and works.
    assert!(verify(&v, &f).is_ok());
}

#[test]
fn a_garbage_or_truncated_component_is_refused_and_the_last_known_good_keeps_serving() {
    let f = fixture("p256-three-tier");
    let v = validator(&f, Limits::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm this is not a component").expect("write");
    assert!(matches!(
        v.load_component_file(&garbage),
        Err(EngineError::Load(_))
    ));
    let real = chainproof_gateway::engine::find_component(None).expect("component");
    let bytes = std::fs::read(real).expect("read");
    let truncated = dir.path().join("truncated.wasm");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    assert!(matches!(
        v.load_component_file(&truncated),
        Err(EngineError::Load(_))
    ));
    assert!(matches!(
        v.load_component_file(&dir.path().join("missing.wasm")),
        Err(EngineError::Read(_))
    ));
    assert!(v.last_error().is_some());
    assert!(verify(&v, &f).is_ok(), "last-known-good still answers");
}

#[test]
fn hot_swap_under_concurrent_calls() {
    let a = fixture("p256-three-tier");
    let b = fixture("p384-three-tier");
    let v = Arc::new(validator(&a, Limits::default()));
    let accepted = verify(&v, &a);
    assert!(accepted.is_ok());
    v.set_trust(common::source(&b)).expect("swap");
    let rejected = verify(&v, &a);
    assert!(rejected.is_err());
    v.set_trust(common::source(&a)).expect("swap back");

    // An exclusive session holds an instance of the current generation: calls on it finish
    // on the old trust while new calls see the new one.
    let session = v.pop_session(4).expect("session");

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (v, a, stop) = (v.clone(), a.clone(), stop.clone());
            let (accepted, rejected) = (accepted.clone(), rejected.clone());
            std::thread::spawn(move || {
                let mut calls = 0;
                while !stop.load(Ordering::Relaxed) || calls < 5 {
                    let got = verify(&v, &a);
                    assert!(
                        got == accepted || got == rejected,
                        "a call saw neither generation: {got:?}"
                    );
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let (_, compiled) = common::component();
    for i in 0..6 {
        let next = if i % 2 == 0 { &b } else { &a };
        v.set_trust(common::source(next)).expect("swap trust");
        v.swap_component(compiled.clone()).expect("swap component");
    }
    v.set_trust(common::source(&b)).expect("final swap");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        assert!(w.join().expect("no worker panicked") >= 5);
    }
    assert_eq!(verify(&v, &a), rejected, "new calls use the new trust");
    // The session's instance, in flight since before the swaps, still has the trust it
    // started with: the chain validates there and the proof is accepted.
    let (token, sig) = answered_challenge(&v, &a, 9);
    let report = session
        .verify_possession(
            &a.leaf.der,
            &common::bag(&a),
            &common::options(&a),
            &ProofInput {
                audience: "gateway-1",
                challenge_token: &token,
                signature: &sig,
                encoding: SignatureEncoding::Der,
            },
        )
        .expect("engine")
        .expect("the old anchors still validate the chain in the old instance");
    assert_eq!(report.chain.chain.len(), 3);
}

/// The default build uses wasm's wide-arithmetic proposal. An engine without it refuses that
/// build with words that name the baseline build, and runs the baseline build with the same
/// verdicts; either build gives the same verdicts with the verification memory off.
#[test]
fn the_baseline_build_serves_engines_without_wide_arithmetic() {
    let wide_path = chainproof_gateway::engine::find_component(None).expect("the component");
    let baseline_path = wide_path.with_file_name("chainproof_component_baseline.wasm");
    assert!(
        baseline_path.is_file(),
        "{} is missing: cargo xtask test builds it",
        baseline_path.display()
    );
    let baseline = Arc::new(chainproof_gateway::engine::Runtime::baseline().expect("engine"));
    match baseline.compile_file(&wide_path) {
        Err(EngineError::Load(m)) => assert!(m.contains("baseline build"), "{m}"),
        Ok(_) => panic!("the wide-arithmetic build loaded on an engine without the proposal"),
        Err(other) => panic!("unexpected {other:?}"),
    }
    let compiled = baseline
        .compile_file(&baseline_path)
        .expect("the baseline build");
    for name in [
        "p256-three-tier",
        "missing-intermediate",
        "corrupted-signature",
        "expired",
    ] {
        let f = fixture(name);
        let wide = verify(&validator(&f, Limits::default()), &f);
        for verify_cache in [true, false] {
            let limits = Limits {
                verify_cache,
                ..Limits::default()
            };
            let on_baseline = Validator::new(
                baseline.clone(),
                compiled.clone(),
                common::source(&f),
                limits,
            )
            .expect("a validator");
            assert_eq!(
                verify(&on_baseline, &f),
                wide,
                "{name}, cache {verify_cache}"
            );
            assert_eq!(verify(&validator(&f, limits), &f), wide, "{name}");
        }
    }
}
