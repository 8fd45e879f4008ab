//! chainproof against the validators users would pick instead (issue 8), on the same chains in
//! the same run:
//!
//! - full validation of a three-tier chain (root anchor, intermediate, device; clientAuth) from
//!   DER bytes, for P-256, P-384 and RSA (4096-bit root and intermediate, 2048-bit device):
//!   chainproof native (`verify_chain`) and as a component in wasmtime, each cold (the trust
//!   store's verification memory off: every call checks both signatures, as OpenSSL does) and
//!   with a warm store (the same chain again: both signatures remembered), rustls-webpki with
//!   ring (`EndEntityCert::verify_for_usage`) and OpenSSL's `X509_verify_cert` (a fresh
//!   `X509StoreContext` each time);
//! - proof of possession alone (one P-256 signature over a TLS 1.3 CertificateVerify-sized
//!   message): chainproof native and component, OpenSSL (`openssl::sign::Verifier`), ring;
//! - the steady state a gateway sees: [`DEVICES`] different device certificates under the same
//!   intermediate, verified in turn (round-robin) against one trust store with its memory on:
//!   more devices than the store remembers, so each device's own signature is checked every
//!   time and only the intermediate's is remembered. The time per device;
//! - last, not criterion: the component against native in those three P-256 cases (cold
//!   chain, one signature, steady state) in paired rounds (alternating batches,
//!   `chainproof_benches::paired`), written to `target/bench-results/paired.json`; `cargo xtask
//!   bench-report` takes issue 8's "component at most 1.2× native" figures from there
//!   (benches/README.md § Paired rounds), and instantiation from `InstancePre` paired with one
//!   cold chain and one steady-state call in the component (the "under 5%" targets).
//!
//! Every peer parses the DER it is given in every iteration; trust stores and anchors are built
//! once. Before timing, each peer must accept every chain at the fixtures' time and reject it two
//! years later (so the verdict being timed is the intended one and every peer honours the time).
//!
//! `cargo xtask bench-report` reads these group and function names from criterion's output:
//! rename them there too.
//!
//! Needs the component: `cargo build --release --target wasm32-wasip2 -p chainproof-component`.
//! `cargo bench -p chainproof-benches --bench chains -- --warm-up-time 1 --measurement-time 2`

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use chainproof::trust::VERIFIED_SIGNATURES_CAPACITY;
use chainproof::{
    TlsScheme, TrustStore, UnixTime, VerifyOptions, verify_chain, verify_tls_signature,
};
use chainproof_benches::paired;
use chainproof_gateway::engine::{Compiled, Limits, Runtime, TrustSource, Validator};
use chainproof_testkit::{
    CertSpec, DAY, DEFAULT_SEED, Fixture, KeyKind, KeyPair, SigAlg, YEAR, iot_fixture,
};
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509, X509PurposeId, X509StoreContext};
use rustls_pki_types::{CertificateDer, TrustAnchor};

/// 2026-01-01T00:00:00Z, the fixtures' reference time.
const NOW: i64 = 1_767_225_600;

/// Devices in the steady-state group: a quarter more than the trust store remembers verified
/// signatures, so that round-robin never finds a device's own signature remembered (a gateway
/// meets each device once per connection; a returning one would cost less).
const DEVICES: usize = VERIFIED_SIGNATURES_CAPACITY + VERIFIED_SIGNATURES_CAPACITY / 4;

/// The chains of item 1: (group name, testkit fixture).
const CHAINS: &[(&str, &str)] = &[
    ("chain P-256", "p256-three-tier"),
    ("chain P-384", "p384-three-tier"),
    ("chain RSA-4096/4096/2048", "rsa4096-ca-rsa2048-device"),
];

/// A validator under test.
#[derive(Clone, Copy, Debug)]
enum Peer {
    /// `verify_chain` with the store's verification memory off: all signature work every call.
    Native,
    /// `verify_chain` with the memory on (the default): remembered signatures are not redone.
    NativeWarm,
    /// The validator component in wasmtime, its stores' memory off.
    Component,
    /// The component with its instances' stores keeping their memory (the default).
    ComponentWarm,
    Webpki,
    OpenSsl,
}

impl Peer {
    const ALL: [Peer; 6] = [
        Peer::Native,
        Peer::NativeWarm,
        Peer::Component,
        Peer::ComponentWarm,
        Peer::Webpki,
        Peer::OpenSsl,
    ];

    /// The criterion function name (bench-report looks these up).
    fn name(self) -> &'static str {
        match self {
            Peer::Native => "chainproof native",
            Peer::NativeWarm => "chainproof native, warm store",
            Peer::Component => "chainproof component",
            Peer::ComponentWarm => "chainproof component, warm store",
            Peer::Webpki => "rustls-webpki",
            Peer::OpenSsl => "OpenSSL",
        }
    }
}

/// One trust anchor as every peer holds it, built once, and the validation time.
struct Peers {
    native: TrustStore,
    native_warm: TrustStore,
    component: Validator,
    component_warm: Validator,
    webpki: Vec<TrustAnchor<'static>>,
    openssl: X509Store,
    opts: VerifyOptions,
    time: rustls_pki_types::UnixTime,
}

/// A leaf and its bag, as DER.
struct Presented<'a> {
    leaf: &'a [u8],
    bag: &'a [Vec<u8>],
}

impl Peers {
    fn new(runtime: &Arc<Runtime>, compiled: &Compiled, root: &[u8], pem: &str, time: i64) -> Self {
        let mut native_warm = TrustStore::new();
        native_warm.add_anchors(pem.as_bytes()).expect("anchors");
        let mut native = native_warm.clone();
        native.set_cache(false);
        let source = TrustSource::Anchors {
            anchors: vec![pem.as_bytes().to_vec()],
            crls: Vec::new(),
        };
        let validator = |limits| {
            Validator::new(runtime.clone(), compiled.clone(), source.clone(), limits)
                .expect("validator")
        };
        let component = validator(Limits {
            verify_cache: false,
            ..Limits::default()
        });
        let component_warm = validator(Limits::default());
        let webpki = vec![
            webpki::anchor_from_trusted_cert(&CertificateDer::from(root))
                .expect("webpki anchor")
                .to_owned(),
        ];
        Peers {
            native,
            native_warm,
            component,
            component_warm,
            webpki,
            openssl: openssl_store(root, time),
            opts: VerifyOptions::new(UnixTime(time)),
            time: rustls_pki_types::UnixTime::since_unix_epoch(Duration::from_secs(
                time.unsigned_abs(),
            )),
        }
    }

    /// Whether `peer` accepts the chain, every input parsed from DER.
    fn accepts(&self, peer: Peer, p: &Presented) -> bool {
        let leaf = black_box(p.leaf);
        match peer {
            Peer::Native => verify_chain(&self.native, leaf, p.bag, &self.opts).is_ok(),
            Peer::NativeWarm => verify_chain(&self.native_warm, leaf, p.bag, &self.opts).is_ok(),
            Peer::Component => matches!(self.component.verify(leaf, p.bag, &self.opts), Ok(Ok(_))),
            Peer::ComponentWarm => {
                matches!(
                    self.component_warm.verify(leaf, p.bag, &self.opts),
                    Ok(Ok(_))
                )
            }
            Peer::Webpki => self.webpki(leaf, p.bag),
            Peer::OpenSsl => openssl_verify(&self.openssl, leaf, p.bag).unwrap_or(false),
        }
    }

    fn webpki(&self, leaf: &[u8], bag: &[Vec<u8>]) -> bool {
        let leaf = CertificateDer::from(leaf);
        let Ok(ee) = webpki::EndEntityCert::try_from(&leaf) else {
            return false;
        };
        let bag: Vec<CertificateDer> = bag.iter().map(|d| CertificateDer::from(&d[..])).collect();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &self.webpki,
            &bag,
            self.time,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .is_ok()
    }

    /// Each peer's verdict, in [`Peer::ALL`]'s order.
    fn verdicts(&self, p: &Presented) -> [bool; 6] {
        Peer::ALL.map(|peer| self.accepts(peer, p))
    }
}

/// An OpenSSL store holding `root`, checking at `time` for the TLS client purpose.
fn openssl_store(root: &[u8], time: i64) -> X509Store {
    let mut b = X509StoreBuilder::new().expect("X509_STORE");
    b.add_cert(X509::from_der(root).expect("root DER"))
        .expect("add root");
    let mut param = X509VerifyParam::new().expect("X509_VERIFY_PARAM");
    param.set_time(time);
    param
        .set_purpose(X509PurposeId::SSL_CLIENT)
        .expect("sslclient purpose");
    // As the testkit's OpenSSL oracle: refuse SHA-1 and RSA-1024, as chainproof does.
    param.set_auth_level(2);
    b.set_param(&param).expect("store parameters");
    b.build()
}

/// `X509_verify_cert` with a fresh store context, parsing the leaf and the bag from DER.
fn openssl_verify(store: &X509Store, leaf: &[u8], bag: &[Vec<u8>]) -> Result<bool, String> {
    let e = |e: openssl::error::ErrorStack| e.to_string();
    let leaf = X509::from_der(leaf).map_err(e)?;
    let mut chain = Stack::new().map_err(e)?;
    for der in bag {
        chain.push(X509::from_der(der).map_err(e)?).map_err(e)?;
    }
    let mut ctx = X509StoreContext::new().map_err(e)?;
    ctx.init(store, &leaf, &chain, |c| c.verify_cert())
        .map_err(e)
}

/// The verdicts must be the intended ones: all accept at the fixture's time, all reject two
/// years later (the device certificates are valid for one).
fn assert_verdicts(
    runtime: &Arc<Runtime>,
    compiled: &Compiled,
    f: &Fixture,
    peers: &Peers,
    p: &Presented,
) {
    assert_eq!(
        peers.verdicts(p),
        [true; 6],
        "{}: every peer accepts",
        f.name
    );
    let later = Peers::new(
        runtime,
        compiled,
        &f.anchors[0].der,
        &f.anchors_pem(),
        f.validation_time + 2 * YEAR,
    );
    assert_eq!(
        later.verdicts(p),
        [false; 6],
        "{}: every peer rejects once the device certificate has expired",
        f.name
    );
}

/// One criterion function per peer in `which`, each verifying `next()` per iteration.
fn bench_peers<'a>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    peers: &Peers,
    which: &[Peer],
    next: impl Fn() -> Presented<'a>,
) {
    for &peer in which {
        g.bench_function(peer.name(), |b| {
            b.iter(|| assert!(peers.accepts(peer, &next())))
        });
    }
}

fn benches(c: &mut Criterion) {
    let (runtime, compiled) = chainproof_benches::compiled_component();
    let peers_for = |f: &Fixture| {
        Peers::new(
            &runtime,
            &compiled,
            &f.anchors[0].der,
            &f.anchors_pem(),
            f.validation_time,
        )
    };

    // ---- 1. full validation of a three-tier chain ------------------------------------------
    for (group, fixture) in CHAINS {
        let f = iot_fixture(fixture, NOW).expect("fixture");
        let peers = peers_for(&f);
        let bag: Vec<Vec<u8>> = f.intermediates.iter().map(|c| c.der.clone()).collect();
        let presented = || Presented {
            leaf: &f.leaf.der,
            bag: &bag,
        };
        assert_verdicts(&runtime, &compiled, &f, &peers, &presented());
        let mut g = c.benchmark_group(*group);
        // RSA-4096 in the component takes milliseconds: keep a short run short.
        g.sample_size(30);
        bench_peers(&mut g, &peers, &Peer::ALL, presented);
        g.finish();
    }

    // ---- 2. proof of possession alone ------------------------------------------------------
    let f = iot_fixture("p256-three-tier", NOW).expect("fixture");
    let peers = peers_for(&f);
    // What a TLS 1.3 client signs in CertificateVerify: 64 spaces, the context string, a NUL
    // and a SHA-256 transcript hash.
    let mut message = vec![b' '; 64];
    message.extend_from_slice(b"TLS 1.3, client CertificateVerify\0");
    message.extend_from_slice(&[0x5a; 32]);
    let sig = f.leaf.key.sign(&message, SigAlg::EcdsaSha256);
    let scheme = TlsScheme::EcdsaSecp256r1Sha256;
    let leaf = &f.leaf.der;
    let native_pop = || verify_tls_signature(black_box(leaf), scheme, &message, &sig).is_ok();
    let component = &peers.component;
    let component_pop = || {
        matches!(
            component.verify_tls_signature(black_box(leaf), scheme, &message, &sig),
            Ok(Ok(()))
        )
    };
    // Parses the certificate each time, as chainproof does.
    let openssl_pop = || {
        X509::from_der(black_box(leaf))
            .and_then(|c| c.public_key())
            .and_then(|k| {
                Verifier::new(MessageDigest::sha256(), &k)?.verify_oneshot(&sig, &message)
            })
            .unwrap_or(false)
    };
    // ring has no certificate parser: the key is taken out of the certificate once.
    let point = f.leaf.key.spki().subject_public_key.raw_bytes().to_vec();
    let ring_key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point);
    let ring_pop = || ring_key.verify(&message, black_box(&sig)).is_ok();
    let pops: [(&str, &dyn Fn() -> bool); 4] = [
        ("chainproof native", &native_pop),
        ("chainproof component", &component_pop),
        ("OpenSSL", &openssl_pop),
        ("ring", &ring_pop),
    ];
    let mut g = c.benchmark_group("proof of possession P-256");
    for (name, pop) in pops {
        assert!(pop(), "{name} accepts the signature");
        g.bench_function(name, |b| b.iter(|| assert!(pop())));
    }
    g.finish();

    // ---- 3. steady state: many devices under one intermediate ------------------------------
    let mfg = &f.intermediates[0];
    // One key for every device: chain validation checks the intermediate's signature over each
    // device certificate, never the device's key, and signing 10,000 certificates stays quick.
    let key = KeyPair::generate(KeyKind::P256, DEFAULT_SEED, "steady/device");
    let devices: Vec<Vec<u8>> = (0..DEVICES)
        .map(|i| {
            let id = format!("meter-{i:05}");
            let (nb, na) = (NOW - 30 * DAY, NOW + YEAR);
            CertSpec::device(&id, "Acme Devices", "Meters", key.clone(), nb, na)
                .issued_by(mfg)
                .der
        })
        .collect();
    let bag = [mfg.der.clone()];
    // Every 100th device through every peer (all of them would take most of a minute).
    for d in devices.iter().step_by(100) {
        let p = Presented { leaf: d, bag: &bag };
        assert_eq!(
            peers.verdicts(&p),
            [true; 6],
            "every peer accepts the device"
        );
    }
    // The next device after `turn`'s, round-robin; each walker keeps its own turn.
    let device = |turn: &Cell<usize>| {
        let i = turn.get();
        turn.set((i + 1) % DEVICES);
        Presented {
            leaf: &devices[i],
            bag: &bag,
        }
    };
    let turn = Cell::new(0usize);
    let next = || device(&turn);
    let mut g = c.benchmark_group(format!("steady state P-256, {DEVICES} devices"));
    let steady = [
        Peer::NativeWarm,
        Peer::ComponentWarm,
        Peer::Webpki,
        Peer::OpenSsl,
    ];
    bench_peers(&mut g, &peers, &steady, next);
    g.finish();

    // ---- the component against native in alternating rounds --------------------------------
    // Fresh stores and validators, each walking the devices on its own from the first, so that
    // neither finds a device remembered from the criterion runs above.
    let fresh = peers_for(&f);
    let chain_bag: Vec<Vec<u8>> = f.intermediates.iter().map(|c| c.der.clone()).collect();
    let chain = || Presented {
        leaf: &f.leaf.der,
        bag: &chain_bag,
    };
    let (native_turn, component_turn, inst_turn) = (Cell::new(0), Cell::new(0), Cell::new(0));
    const NATIVE_SIDE: (&str, &str) = ("native", "chainproof native");
    const COMPONENT_SIDE: (&str, &str) = ("component", "chainproof component");
    const CHAIN_SIDE: (&str, &str) = ("verification", "one verification in the component");
    const INSTANCE_SIDE: (&str, &str) = ("instantiation", "instantiation from InstancePre");
    let instantiate = || runtime.instantiate_prepared(&compiled).is_ok();
    let comparisons = [
        Comparison {
            id: "chain-p256",
            what: "P-256 chain, cold",
            sides: [NATIVE_SIDE, COMPONENT_SIDE],
            p: paired::compare(
                || fresh.accepts(Peer::Native, &chain()),
                || fresh.accepts(Peer::Component, &chain()),
            ),
        },
        Comparison {
            id: "pop-p256",
            what: "one P-256 signature (proof of possession)",
            sides: [NATIVE_SIDE, COMPONENT_SIDE],
            p: paired::compare(native_pop, component_pop),
        },
        Comparison {
            id: "steady-p256",
            what: "steady state, per device (warm stores)",
            sides: [NATIVE_SIDE, COMPONENT_SIDE],
            p: paired::compare(
                || fresh.accepts(Peer::NativeWarm, &device(&native_turn)),
                || fresh.accepts(Peer::ComponentWarm, &device(&component_turn)),
            ),
        },
        Comparison {
            id: "inst-chain",
            what: "instantiation against a cold P-256 chain in the component",
            sides: [CHAIN_SIDE, INSTANCE_SIDE],
            p: paired::compare(|| fresh.accepts(Peer::Component, &chain()), instantiate),
        },
        Comparison {
            id: "inst-steady",
            what: "instantiation against a steady-state call in the component",
            sides: [CHAIN_SIDE, INSTANCE_SIDE],
            p: paired::compare(
                || fresh.accepts(Peer::ComponentWarm, &device(&inst_turn)),
                instantiate,
            ),
        },
    ];
    write_paired(&comparisons);
}

/// One paired comparison: `p.ratio` is the second side's time ÷ the first's.
struct Comparison {
    /// Prefix of the row ids (`-ratio` and each side's id suffix).
    id: &'static str,
    what: &'static str,
    /// (id suffix, label) of the first and the second side.
    sides: [(&'static str, &'static str); 2],
    p: paired::Paired,
}

/// Where `cargo xtask bench-report` reads results that are not criterion's.
const PAIRED_RESULTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../target/bench-results/paired.json"
);

/// Print the paired comparisons and leave them for `cargo xtask bench-report` (the shape of
/// benches/README.md § Results from other benchmarks).
fn write_paired(comparisons: &[Comparison]) {
    let mut rows = Vec::new();
    for Comparison { id, what, sides, p } in comparisons {
        let [(a_id, a), (b_id, b)] = sides;
        let batches = format!("median of {} batches of {} calls", p.rounds, p.batch);
        println!(
            "paired: {what}: {b} ÷ {a} {:.3} (quartiles {:.3}-{:.3}); {:.1} µs and {:.1} µs",
            p.ratio,
            p.ratio_quartiles.0,
            p.ratio_quartiles.1,
            p.a_ns / 1e3,
            p.b_ns / 1e3
        );
        for (side, label, ns) in [(a_id, a, p.a_ns), (b_id, b, p.b_ns)] {
            rows.push(serde_json::json!({
                "id": format!("{id}-{side}"), "name": format!("{what} / {label}"),
                "median_ns": ns, "note": batches,
            }));
        }
        rows.push(serde_json::json!({
            "id": format!("{id}-ratio"), "name": format!("{what} / {b} ÷ {a}"),
            "value": (p.ratio * 1000.0).round() / 1000.0, "unit": "×",
            "note": format!(
                "median of {} per-round ratios, quartiles {:.3}-{:.3}",
                p.rounds, p.ratio_quartiles.0, p.ratio_quartiles.1
            ),
        }));
    }
    let doc = serde_json::json!({
        "group": "Component against native and instantiation, paired rounds",
        "rows": rows,
        "extra": {
            "method": "the two sides in alternating batches of about 25 ms, the order swapped \
                       every round; each round gives one ratio",
            "rounds": paired::ROUNDS,
        },
    });
    let path = std::path::Path::new(PAIRED_RESULTS);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, format!("{doc:#}\n")));
    // Fatal: bench-report would otherwise read an older run's file as this run's.
    if let Err(e) = written {
        panic!("paired: cannot write {}: {e}", path.display());
    }
}

criterion_group!(chains, benches);
criterion_main!(chains);
