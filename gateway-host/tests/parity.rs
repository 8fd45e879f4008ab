//! Same verdict everywhere: every IoT fixture and every x509-limbo testcase through the native
//! core and through the validator component, requiring identical verdicts, codes and reports
//! (the whole `Report` or rejection, field for field).
//!
//! The limbo suite is found at `$LIMBO_JSON` or `<workspace>/../shared/limbo/limbo.json.gz`; a
//! missing suite or component fails the test.

mod common;

use std::io::Read as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chainproof::{IdentitySource, PeerName, Purpose, UnixTime, VerifyOptions, parse_certificates};
use chainproof_gateway::engine::native::NativeTrust;
use chainproof_gateway::engine::{
    Accepted, EngineError, Limits, Rejection, TrustSource, Validator,
};
use chainproof_testkit::iot_fixtures;
use const_oid::ObjectIdentifier;
use serde::Deserialize;

/// Threads running limbo cases: the CI machines have two cores.
const THREADS: usize = 2;

/// Both engines' answer for one input: the trust store may already be refused.
fn both(
    source: &TrustSource,
    leaf: &[u8],
    bag: &[Vec<u8>],
    opts: &VerifyOptions,
) -> (Result<Accepted, Rejection>, Result<Accepted, Rejection>) {
    let native = NativeTrust::new(source).and_then(|t| t.verify(leaf, bag, opts));
    let (runtime, compiled) = common::component();
    let limits = Limits {
        pool_size: 1,
        ..Limits::default()
    };
    let wasm = match Validator::new(runtime, compiled, source.clone(), limits) {
        Ok(v) => v
            .verify(leaf, bag, opts)
            .unwrap_or_else(|e| panic!("the component failed: {e}")),
        Err(EngineError::Trust(r)) => Err(r),
        Err(e) => panic!("the component failed: {e}"),
    };
    (native, wasm)
}

#[test]
fn every_iot_fixture_gets_the_same_report_from_both_engines() {
    let fixtures = iot_fixtures(common::NOW);
    assert!(
        fixtures.len() > 10,
        "the testkit generated too few fixtures"
    );
    let (mut accepted, mut rejected) = (0, 0);
    for f in &fixtures {
        let (native, wasm) = both(
            &common::source(f),
            &f.leaf.der,
            &common::bag(f),
            &common::options(f),
        );
        assert_eq!(native, wasm, "fixture {}: the engines disagree", f.name);
        assert_eq!(native.is_ok(), f.expect_valid, "fixture {}", f.name);
        if native.is_ok() {
            accepted += 1;
        } else {
            rejected += 1;
        }
    }
    assert!(
        accepted > 0 && rejected > 0,
        "{accepted} accepted, {rejected} rejected"
    );
}

// ---------------------------------------------------------------------------------------------
// x509-limbo (the fields a validator needs, as in core/tests/limbo.rs).

#[derive(Deserialize)]
struct Suite {
    testcases: Vec<Testcase>,
}

#[derive(Deserialize)]
struct Testcase {
    id: String,
    validation_kind: String,
    trusted_certs: Vec<String>,
    untrusted_intermediates: Vec<String>,
    peer_certificate: String,
    validation_time: Option<String>,
    #[serde(default)]
    key_usage: Vec<String>,
    #[serde(default)]
    extended_key_usage: Vec<String>,
    expected_peer_name: Option<LimboName>,
    #[serde(default)]
    expected_peer_names: Vec<LimboName>,
    max_chain_depth: Option<u64>,
    #[serde(default)]
    crls: Vec<String>,
}

#[derive(Deserialize)]
struct LimboName {
    kind: String,
    value: String,
}

fn suite() -> Suite {
    let path = match std::env::var_os("LIMBO_JSON") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/limbo/limbo.json.gz"),
    };
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "the x509-limbo suite is missing: cannot open {} ({e}); set LIMBO_JSON",
            path.display()
        )
    });
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn eku_oid(name: &str) -> ObjectIdentifier {
    let oid = match name {
        "serverAuth" => "1.3.6.1.5.5.7.3.1",
        "clientAuth" => "1.3.6.1.5.5.7.3.2",
        "codeSigning" => "1.3.6.1.5.5.7.3.3",
        "emailProtection" => "1.3.6.1.5.5.7.3.4",
        "timeStamping" => "1.3.6.1.5.5.7.3.8",
        "OCSPSigning" => "1.3.6.1.5.5.7.3.9",
        "anyExtendedKeyUsage" => "2.5.29.37.0",
        other => panic!("unknown extended_key_usage name {other:?}"),
    };
    ObjectIdentifier::new(oid).expect("a valid OID")
}

fn peer_name(n: &LimboName) -> PeerName {
    match n.kind.as_str() {
        "DNS" => PeerName::Dns(n.value.clone()),
        "IP" => PeerName::Ip(n.value.parse::<IpAddr>().expect("an IP address")),
        "RFC822" => PeerName::Email(n.value.clone()),
        other => panic!("unknown peer name kind {other:?}"),
    }
}

fn options(tc: &Testcase, now: UnixTime) -> VerifyOptions {
    let time = tc
        .validation_time
        .as_deref()
        .map_or(now, |t| UnixTime::parse(t).expect("validation_time"));
    let mut opts = VerifyOptions::new(time);
    opts.identity = IdentitySource::None;
    let (purpose, eku) = match tc.validation_kind.as_str() {
        "SERVER" => (Purpose::Server, "serverAuth"),
        _ => (Purpose::Client, "clientAuth"),
    };
    opts.purpose = match tc.extended_key_usage.as_slice() {
        [] => purpose,
        [only] if only == eku => purpose,
        names => Purpose::Ekus(names.iter().map(|n| eku_oid(n)).collect()),
    };
    opts.peer_names = if tc.validation_kind == "SERVER" {
        tc.expected_peer_name.iter().map(peer_name).collect()
    } else {
        tc.expected_peer_names.iter().map(peer_name).collect()
    };
    opts.required_key_usage = tc.key_usage.clone();
    opts.max_intermediates = tc
        .max_chain_depth
        .map(|d| usize::try_from(d).unwrap_or(usize::MAX));
    opts
}

/// One case through both engines: `None` when they agree.
fn disagreement(tc: &Testcase, now: UnixTime) -> Option<String> {
    let source = TrustSource::Anchors {
        anchors: tc
            .trusted_certs
            .iter()
            .map(|p| p.clone().into_bytes())
            .collect(),
        crls: tc.crls.iter().map(|p| p.clone().into_bytes()).collect(),
    };
    let Ok(Some(leaf)) = parse_certificates(tc.peer_certificate.as_bytes()).map(|mut d| d.pop())
    else {
        // A leaf the harness cannot read is not an engine question (the same in both).
        return None;
    };
    let bag: Vec<Vec<u8>> = tc
        .untrusted_intermediates
        .iter()
        .filter_map(|pem| parse_certificates(pem.as_bytes()).ok())
        .flatten()
        .collect();
    let (native, wasm) = both(&source, &leaf, &bag, &options(tc, now));
    (native != wasm).then(|| format!("{}:\n  native {native:?}\n  wasm   {wasm:?}", tc.id))
}

#[test]
fn the_whole_limbo_suite_gets_the_same_verdicts_from_both_engines() {
    let suite = suite();
    assert!(
        suite.testcases.len() > 9000,
        "the limbo suite looks truncated"
    );
    let now = UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    );
    let next = AtomicUsize::new(0);
    let cases = &suite.testcases;
    let mut found: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    while let Some(tc) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                        mine.extend(disagreement(tc, now));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker thread"))
            .collect()
    });
    found.sort();
    assert!(
        found.is_empty(),
        "{} limbo cases differ between the engines:\n{}",
        found.len(),
        found.join("\n")
    );
}

/// The pathological cases (path-building and name-constraint blow-ups) end the same way in the
/// component: the core's own budget answers, not the host's fuel.
#[test]
fn limbo_pathological_cases_agree_and_stay_within_the_default_fuel() {
    let suite = suite();
    let now = UnixTime(0);
    let cases: Vec<&Testcase> = suite
        .testcases
        .iter()
        .filter(|t| t.id.starts_with("pathological::"))
        .collect();
    assert!(
        cases.len() >= 10,
        "limbo has {} pathological cases",
        cases.len()
    );
    for tc in cases {
        assert_eq!(disagreement(tc, now), None);
    }
}
