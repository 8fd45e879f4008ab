//! Same verdict everywhere: every IoT fixture and every x509-limbo testcase through the native
//! core and through the validator component, requiring identical verdicts, codes and reports
//! (the whole `Report` or rejection, field for field).
//!
//! The limbo suite is found at `$LIMBO_JSON` or `<workspace>/../shared/limbo/limbo.json.gz`; a
//! missing suite or component fails the test.

mod common;
// The limbo suite file and its options, as the conformance runner reads them.
#[path = "../../core/tests/common/limbo_suite.rs"]
#[allow(dead_code)]
mod limbo_suite;
// The conformance runner's exceptions file (core/tests/exceptions.txt), read the same way.
#[path = "../../core/tests/common/exceptions.rs"]
#[allow(dead_code)]
mod exceptions;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use chainproof::{UnixTime, VerifyOptions, parse_certificates};
use chainproof_gateway::engine::native::NativeTrust;
use chainproof_gateway::engine::{
    Accepted, EngineError, Limits, Rejection, TrustSource, Validator,
};
use chainproof_testkit::iot_fixtures;
use exceptions::{Action, Exceptions, Oracle};
use limbo_suite::{Testcase, intermediates, load_suite, namespace, now, options, suite_path};

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

/// One limbo case through both engines.
struct Compared {
    /// The component accepted the chain (a leaf the harness cannot read is a rejection, as in
    /// the conformance runner).
    wasm_accepted: bool,
    /// Set when the engines' answers differ.
    differs: Option<String>,
}

fn compare(tc: &Testcase, now: UnixTime) -> Compared {
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
        return Compared {
            wasm_accepted: false,
            differs: None,
        };
    };
    let bag = intermediates(tc);
    let opts = options(tc, now).unwrap_or_else(|e| panic!("{}: {e}", tc.id));
    let (native, wasm) = both(&source, &leaf, &bag, &opts);
    Compared {
        wasm_accepted: wasm.is_ok(),
        differs: (native != wasm)
            .then(|| format!("{}:\n  native {native:?}\n  wasm   {wasm:?}", tc.id)),
    }
}

/// Per namespace, the component's verdicts against limbo's expectations.
#[derive(Default)]
struct Tally {
    total: usize,
    agreed: usize,
    false_accepts: usize,
    false_rejects: usize,
    skipped: usize,
}

/// The conformance table for the component engine: the same classification as
/// core/tests/limbo.rs (skips from the exceptions file, listed disagreements), printed, with
/// the cases that would fail it.
fn wasm_conformance(cases: &[Testcase], results: &[Compared]) -> (String, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/exceptions.txt");
    let exceptions = Exceptions::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut rows: BTreeMap<String, Tally> = BTreeMap::new();
    let mut problems = Vec::new();
    for (tc, r) in cases.iter().zip(results) {
        let t = rows.entry(namespace(&tc.id)).or_default();
        t.total += 1;
        let skip = |oracle, subject: &str| {
            exceptions
                .get(oracle, subject)
                .is_some_and(|e| e.action == Action::Skip)
        };
        if skip(Oracle::Limbo, &tc.id) || tc.features.iter().any(|f| skip(Oracle::LimboFeature, f))
        {
            t.skipped += 1;
            continue;
        }
        let expect_success = tc.expected_result == "SUCCESS";
        if r.wasm_accepted == expect_success {
            t.agreed += 1;
        } else if r.wasm_accepted {
            t.false_accepts += 1;
            problems.push(format!("FALSE ACCEPT in the component: {}", tc.id));
        } else {
            t.false_rejects += 1;
            if exceptions.get(Oracle::Limbo, &tc.id).is_none() {
                problems.push(format!("unlisted false reject in the component: {}", tc.id));
            }
        }
    }
    let mut table = String::from(
        "namespace                     total agreed false-accepts false-rejects skipped\n",
    );
    let mut sum = Tally::default();
    for (ns, t) in &rows {
        table.push_str(&format!(
            "{ns:<29} {:>5} {:>6} {:>13} {:>13} {:>7}\n",
            t.total, t.agreed, t.false_accepts, t.false_rejects, t.skipped
        ));
        sum.total += t.total;
        sum.agreed += t.agreed;
        sum.false_accepts += t.false_accepts;
        sum.false_rejects += t.false_rejects;
        sum.skipped += t.skipped;
    }
    table.push_str(&format!(
        "{:<29} {:>5} {:>6} {:>13} {:>13} {:>7}\n",
        "total", sum.total, sum.agreed, sum.false_accepts, sum.false_rejects, sum.skipped
    ));
    (table, problems)
}

#[test]
fn the_whole_limbo_suite_gets_the_same_verdicts_from_both_engines() {
    let suite = load_suite(&suite_path());
    assert!(
        suite.testcases.len() > 9000,
        "the limbo suite looks truncated"
    );
    let now = now();
    let next = AtomicUsize::new(0);
    let cases = &suite.testcases;
    let mut results: Vec<(usize, Compared)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(tc) = cases.get(i) else { break };
                        mine.push((i, compare(tc, now)));
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
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<Compared> = results.into_iter().map(|(_, r)| r).collect();
    // The limbo runner with the component as the engine.
    let (table, problems) = wasm_conformance(cases, &results);
    println!("x509-limbo through the validator component:\n{table}");
    assert!(
        problems.is_empty(),
        "the component's conformance:\n{}",
        problems.join("\n")
    );
    let mut found: Vec<String> = results.into_iter().filter_map(|r| r.differs).collect();
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
    let suite = load_suite(&suite_path());
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
        assert_eq!(compare(tc, now).differs, None);
    }
}
