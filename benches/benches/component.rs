//! The validator component in wasmtime against the core linked natively (issue 5).
//!
//! - a three-tier P-256 chain (`verify_chain` vs `Validator::verify`), cold (the trust stores
//!   remember nothing) and seen before (both signatures remembered),
//! - a single proof-of-possession check (`verify_tls_signature`, one ECDSA P-256 signature with
//!   the leaf's key),
//! - making an instance with and without `InstancePre`.
//!
//! Needs the component: `cargo build --release --target wasm32-wasip2 -p chainproof-component`.
//! `cargo bench -p chainproof-benches --bench component -- --quick`

use std::hint::black_box;

use chainproof::{
    TlsScheme, TrustStore, UnixTime, VerifyOptions, verify_chain, verify_tls_signature,
};
use chainproof_gateway::engine::{Limits, TrustSource, Validator};
use chainproof_testkit::iot_fixture;
use criterion::{Criterion, criterion_group, criterion_main};
use p256::pkcs8::DecodePrivateKey as _;
use signature::Signer as _;

/// 2026-01-01T00:00:00Z, the fixtures' reference time.
const NOW: i64 = 1_767_225_600;

fn benches(c: &mut Criterion) {
    let f = iot_fixture("p256-three-tier", NOW).expect("the p256-three-tier fixture");
    let (runtime, compiled) = chainproof_benches::compiled_component();
    let source = TrustSource::Anchors {
        anchors: vec![f.anchors_pem().into_bytes()],
        crls: Vec::new(),
    };
    let validator = Validator::new(
        runtime.clone(),
        compiled.clone(),
        source.clone(),
        Limits::default(),
    )
    .expect("validator");
    let cold_validator = Validator::new(
        runtime.clone(),
        compiled.clone(),
        source,
        Limits {
            verify_cache: false,
            ..Limits::default()
        },
    )
    .expect("validator");
    let mut store = TrustStore::new();
    store
        .add_anchors(f.anchors_pem().as_bytes())
        .expect("anchors");
    let mut cold_store = store.clone();
    cold_store.set_cache(false);
    let bag: Vec<Vec<u8>> = f.intermediates.iter().map(|c| c.der.clone()).collect();
    let opts = VerifyOptions::new(UnixTime(f.validation_time));

    // Cold: both signatures checked on every call (the stores remember nothing).
    let mut g = c.benchmark_group("three-tier P-256 chain, cold");
    g.bench_function("native", |b| {
        b.iter(|| verify_chain(&cold_store, black_box(&f.leaf.der), &bag, &opts).expect("valid"))
    });
    g.bench_function("component", |b| {
        b.iter(|| {
            cold_validator
                .verify(black_box(&f.leaf.der), &bag, &opts)
                .expect("engine")
                .expect("valid")
        })
    });
    g.finish();

    // The same chain again: the stores remember both signatures (parsing, path checks and
    // the report remain).
    let mut g = c.benchmark_group("three-tier P-256 chain, seen before");
    g.bench_function("native", |b| {
        b.iter(|| verify_chain(&store, black_box(&f.leaf.der), &bag, &opts).expect("valid"))
    });
    g.bench_function("component", |b| {
        b.iter(|| {
            validator
                .verify(black_box(&f.leaf.der), &bag, &opts)
                .expect("engine")
                .expect("valid")
        })
    });
    g.finish();

    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&f.leaf_key_pem()).expect("leaf key");
    let message = b"TLS 1.3, client CertificateVerify transcript hash stand-in";
    let sig: p256::ecdsa::Signature = key.sign(message);
    let sig = sig.to_der().as_bytes().to_vec();
    let scheme = TlsScheme::EcdsaSecp256r1Sha256;
    let mut g = c.benchmark_group("proof of possession (one P-256 signature)");
    g.bench_function("native", |b| {
        b.iter(|| verify_tls_signature(&f.leaf.der, scheme, message, black_box(&sig)).expect("ok"))
    });
    g.bench_function("component", |b| {
        b.iter(|| {
            cold_validator
                .verify_tls_signature(&f.leaf.der, scheme, message, black_box(&sig))
                .expect("engine")
                .expect("ok")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("instantiation");
    g.bench_function("with InstancePre", |b| {
        b.iter(|| runtime.instantiate_prepared(&compiled).expect("instance"))
    });
    g.bench_function("without InstancePre", |b| {
        b.iter(|| runtime.instantiate_unprepared(&compiled).expect("instance"))
    });
    g.finish();
}

criterion_group!(component, benches);
criterion_main!(component);
