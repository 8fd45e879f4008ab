//! x509-limbo conformance: every testcase of `shared/limbo/limbo.json.gz` through `verify_chain`.
//!
//! Run with `cargo test -p chainproof-core --test limbo -- --nocapture`. The suite file is found
//! at `$LIMBO_JSON` or `<workspace>/../shared/limbo/limbo.json.gz`; a missing file fails the test
//! (it never passes vacuously). Deliberate divergences are listed in `tests/exceptions.txt`; see
//! `docs/conformance.md`.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chainproof::{TrustStore, parse_certificates, verify_chain};
use common::exceptions::{Action, Exceptions, Oracle};
use common::limbo_suite::{
    Testcase, intermediates, load_suite, namespace, now, options, suite_path,
};

/// Floor for agreed cases over the whole suite (9,780 cases, a handful skipped or listed).
const MIN_AGREED_TOTAL: usize = 9750;
/// Floor for agreed cases outside BetterTLS (289 cases): the hand-written RFC 5280 / Web PKI /
/// path-length / CRL cases are the ones that find real bugs.
const MIN_AGREED_NON_BETTERTLS: usize = 190;
/// Threads running cases: the CI machines have two cores.
const THREADS: usize = 2;
/// Disagreement lines printed to stdout; the report file always has all of them.
const MAX_PRINTED_DISAGREEMENTS: usize = 60;
/// A case slower than this is listed in the report: it hints at a path-building blow-up.
const SLOW_CASE: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// One testcase -> one verdict.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expected {
    Success,
    Failure,
}

/// What chainproof said about a case.
enum Verdict {
    Accepted,
    /// Rejected while building the trust store or reading the leaf, or by `verify_chain`.
    Rejected {
        code: String,
        message: String,
    },
    /// The core panicked: always a defect.
    Panicked(String),
    /// The case could not be translated into chainproof's inputs: a harness defect.
    HarnessError(String),
}

impl Verdict {
    fn code(&self) -> &str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Rejected { code, .. } => code,
            Verdict::Panicked(_) => "PANIC",
            Verdict::HarnessError(_) => "HARNESS-ERROR",
        }
    }

    fn message(&self) -> &str {
        match self {
            Verdict::Accepted => "",
            Verdict::Rejected { message, .. } => message,
            Verdict::Panicked(m) | Verdict::HarnessError(m) => m,
        }
    }
}

struct CaseResult {
    verdict: Verdict,
    elapsed: Duration,
}

fn rejected(code: impl ToString, stage: &str, message: impl std::fmt::Display) -> Verdict {
    Verdict::Rejected {
        code: code.to_string(),
        message: format!("{stage}: {message}"),
    }
}

fn evaluate(tc: &Testcase) -> Verdict {
    let opts = match options(tc, now()) {
        Ok(o) => o,
        Err(e) => return Verdict::HarnessError(e),
    };
    // A trust store or leaf that chainproof refuses to read counts as a rejection.
    let mut store = TrustStore::new();
    for pem in &tc.trusted_certs {
        if let Err(e) = store.add_anchors(pem.as_bytes()) {
            return rejected(e.code(), "trust anchor", e);
        }
    }
    for pem in &tc.crls {
        if let Err(e) = store.add_crls(pem.as_bytes()) {
            return rejected(e.code(), "CRL", e);
        }
    }
    let leaf = match parse_certificates(tc.peer_certificate.as_bytes()) {
        Ok(mut ders) if !ders.is_empty() => ders.swap_remove(0),
        Ok(_) => return Verdict::HarnessError("peer_certificate holds no certificate".into()),
        Err(e) => return rejected(e.code(), "leaf", e),
    };
    let bag = intermediates(tc);
    match verify_chain(&store, &leaf, &bag, &opts) {
        Ok(_) => Verdict::Accepted,
        Err(f) => Verdict::Rejected {
            code: f.code().as_str().to_owned(),
            message: f.message(),
        },
    }
}

thread_local! {
    /// Set while a case runs on this thread: the panic hook then records instead of printing.
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    /// Where and why the last case on this thread panicked.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Route panics inside cases to `LAST_PANIC` (with their location) instead of printing a
/// backtrace per case; panics elsewhere go to the previous hook as usual.
fn install_panic_recorder() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_CASE.with(Cell::get) {
            let text = info.to_string().replace('\n', " ");
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
        } else {
            previous(info);
        }
    }));
}

fn run_guarded(tc: &Testcase) -> CaseResult {
    let start = Instant::now();
    IN_CASE.with(|c| c.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| evaluate(tc)));
    IN_CASE.with(|c| c.set(false));
    let verdict = outcome.unwrap_or_else(|_| {
        let recorded = LAST_PANIC.with(|p| p.borrow_mut().take());
        Verdict::Panicked(recorded.unwrap_or_else(|| "panicked (no message)".to_owned()))
    });
    CaseResult {
        verdict,
        elapsed: start.elapsed(),
    }
}

fn run_all(cases: &[Testcase]) -> Vec<CaseResult> {
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<CaseResult>> = Vec::new();
    slots.resize_with(cases.len(), || None);
    let done: Vec<Vec<(usize, CaseResult)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(tc) = cases.get(i) else { break };
                        mine.push((i, run_guarded(tc)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker thread died"))
            .collect()
    });
    for (i, r) in done.into_iter().flatten() {
        slots[i] = Some(r);
    }
    slots
        .into_iter()
        .map(|r| r.expect("every case ran"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Judging and reporting.

#[derive(Default, Clone, Copy)]
struct Tally {
    total: usize,
    agreed: usize,
    false_accepts: usize,
    false_rejects: usize,
    skipped: usize,
    /// Panics of the core and harness errors: never agreements, always test failures.
    defects: usize,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.total += o.total;
        self.agreed += o.agreed;
        self.false_accepts += o.false_accepts;
        self.false_rejects += o.false_rejects;
        self.skipped += o.skipped;
        self.defects += o.defects;
    }
}

fn table(rows: &BTreeMap<String, Tally>, total: &Tally, markdown: bool) -> String {
    let mut out = String::new();
    let header = [
        "namespace",
        "total",
        "agreed",
        "false accepts",
        "false rejects",
        "skipped",
        "panics",
    ];
    let line = |out: &mut String, cells: [String; 7]| {
        if markdown {
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        } else {
            let _ = writeln!(
                out,
                "{:<28} {:>6} {:>6} {:>13} {:>13} {:>7} {:>6}",
                cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
            );
        }
    };
    line(&mut out, header.map(str::to_owned));
    if markdown {
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
    }
    let cells = |name: &str, t: &Tally| {
        [
            name.to_owned(),
            t.total.to_string(),
            t.agreed.to_string(),
            t.false_accepts.to_string(),
            t.false_rejects.to_string(),
            t.skipped.to_string(),
            t.defects.to_string(),
        ]
    };
    for (ns, t) in rows {
        line(&mut out, cells(ns, t));
    }
    line(
        &mut out,
        cells(if markdown { "**total**" } else { "TOTAL" }, total),
    );
    out
}

fn report_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("limbo-report.md")
}

/// One line per disagreement (or skipped case), for stdout and the report.
fn describe(tc: &Testcase, expected: Expected, r: &CaseResult, note: &str) -> String {
    let exp = if expected == Expected::Success {
        "SUCCESS"
    } else {
        "FAILURE"
    };
    let msg = r.verdict.message().replace('\n', " ");
    let msg = if msg.is_empty() {
        String::new()
    } else {
        format!(": {msg}")
    };
    format!(
        "{} expected {exp}, got {}{msg}{note}",
        tc.id,
        r.verdict.code()
    )
}

#[test]
fn limbo_conformance() {
    let exceptions =
        Exceptions::load(&Exceptions::default_path()).unwrap_or_else(|e| panic!("{e}"));
    let path = suite_path();
    let started = Instant::now();
    let suite = load_suite(&path);
    install_panic_recorder();
    let loaded_in = started.elapsed();
    let results = run_all(&suite.testcases);
    let wall = started.elapsed();

    let mut problems: Vec<String> = Vec::new();
    let mut rows: BTreeMap<String, Tally> = BTreeMap::new();
    let mut disagreements: Vec<(bool, bool, String)> = Vec::new();
    let mut by_code: BTreeMap<(String, &str, String), usize> = BTreeMap::new();
    let mut skipped_lines: Vec<String> = Vec::new();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut slow: Vec<(Duration, &str)> = Vec::new();
    let mut non_bettertls_agreed = 0;

    let known_ids: std::collections::HashSet<&str> =
        suite.testcases.iter().map(|t| t.id.as_str()).collect();
    let known_features: std::collections::HashSet<&str> = suite
        .testcases
        .iter()
        .flat_map(|t| t.features.iter().map(String::as_str))
        .collect();
    for (id, e) in exceptions.for_oracle(Oracle::Limbo) {
        if !known_ids.contains(id) {
            problems.push(format!(
                "exceptions.txt line {}: no limbo case {id:?}",
                e.line
            ));
        }
    }
    for (tag, e) in exceptions.for_oracle(Oracle::LimboFeature) {
        if !known_features.contains(tag) {
            problems.push(format!(
                "exceptions.txt line {}: no limbo feature {tag:?}",
                e.line
            ));
        }
    }

    for (tc, r) in suite.testcases.iter().zip(&results) {
        let ns = namespace(&tc.id);
        let t = rows.entry(ns.clone()).or_default();
        t.total += 1;
        if r.elapsed >= SLOW_CASE {
            slow.push((r.elapsed, &tc.id));
        }
        let expected = match tc.expected_result.as_str() {
            "SUCCESS" => Expected::Success,
            "FAILURE" => Expected::Failure,
            other => {
                problems.push(format!("{}: unknown expected_result {other:?}", tc.id));
                continue;
            }
        };
        if matches!(r.verdict, Verdict::Panicked(_) | Verdict::HarnessError(_)) {
            // Counted apart: a panic is neither an agreement nor a disagreement, it is a bug.
            t.defects += 1;
            problems.push(describe(tc, expected, r, ""));
            continue;
        }
        let false_accept = matches!(r.verdict, Verdict::Accepted);
        let agrees = false_accept == (expected == Expected::Success);
        if let Verdict::Rejected { code, .. } = &r.verdict {
            *codes.entry(code.clone()).or_default() += 1;
        }

        let case_entry = exceptions.get(Oracle::Limbo, &tc.id);
        let skip_feature = tc.features.iter().find(|f| {
            exceptions
                .get(Oracle::LimboFeature, f)
                .is_some_and(|e| e.action == Action::Skip)
        });
        let would = if agrees { "agrees" } else { "disagrees" };
        if let Some(e) = case_entry.filter(|e| e.action == Action::Skip) {
            t.skipped += 1;
            skipped_lines.push(describe(tc, expected, r, &format!(" [skip: {would}]")));
            if agrees {
                problems.push(format!(
                    "{} is listed as skip (exceptions.txt line {}) but now agrees: remove it",
                    tc.id, e.line
                ));
            }
            continue;
        }
        if let Some(tag) = skip_feature {
            t.skipped += 1;
            let note = format!(" [feature {tag}: {would}]");
            skipped_lines.push(describe(tc, expected, r, &note));
            continue;
        }
        if agrees {
            t.agreed += 1;
            if !ns.starts_with("bettertls") {
                non_bettertls_agreed += 1;
            }
            if let Some(e) = case_entry {
                problems.push(format!(
                    "{} is listed as disagree (exceptions.txt line {}) but now agrees: remove it",
                    tc.id, e.line
                ));
            }
            continue;
        }
        let kind = if false_accept {
            t.false_accepts += 1;
            "FALSE ACCEPT"
        } else {
            t.false_rejects += 1;
            "false reject"
        };
        let listed = case_entry.is_some();
        let note = if listed { " [listed]" } else { "" };
        *by_code
            .entry((ns.clone(), kind, r.verdict.code().to_owned()))
            .or_default() += 1;
        disagreements.push((
            !false_accept,
            ns.starts_with("bettertls"),
            format!("{kind}: {}", describe(tc, expected, r, note)),
        ));
        if false_accept {
            let how = if listed {
                "is listed, but a false accept is never tolerated (mark it skip only for a \
                 deliberate conflicts_with choice)"
            } else {
                "is not listed"
            };
            problems.push(format!("false accept of {} {how}", tc.id));
        } else if !listed {
            problems.push(format!(
                "false reject of {} is not listed in exceptions.txt",
                tc.id
            ));
        }
        if !listed && !tc.conflicts_with.is_empty() {
            problems.push(format!(
                "{} conflicts with {}: RFC 5280 and Web PKI disagree, pick a side in \
                 exceptions.txt",
                tc.id,
                tc.conflicts_with.join(", ")
            ));
        }
    }
    // False accepts first, then the hand-written cases before the BetterTLS matrix.
    disagreements.sort();
    let disagreements: Vec<String> = disagreements.into_iter().map(|(_, _, l)| l).collect();

    let mut total = Tally::default();
    for t in rows.values() {
        total.add(t);
    }
    if total.agreed < MIN_AGREED_TOTAL {
        problems.push(format!(
            "only {} cases agree; at least {MIN_AGREED_TOTAL} must",
            total.agreed
        ));
    }
    if non_bettertls_agreed < MIN_AGREED_NON_BETTERTLS {
        problems.push(format!(
            "only {non_bettertls_agreed} non-BetterTLS cases agree; at least \
             {MIN_AGREED_NON_BETTERTLS} must"
        ));
    }
    slow.sort_by_key(|(d, _)| std::cmp::Reverse(*d));

    // stdout: the table, then the first disagreements.
    println!("x509-limbo conformance ({})", path.display());
    print!("{}", table(&rows, &total, false));
    println!(
        "non-BetterTLS agreed: {non_bettertls_agreed}; wall time {:.1}s (load {:.1}s, {THREADS} threads)",
        wall.as_secs_f64(),
        loaded_in.as_secs_f64()
    );
    if !disagreements.is_empty() {
        println!("\n{} disagreement(s):", disagreements.len());
        for d in disagreements.iter().take(MAX_PRINTED_DISAGREEMENTS) {
            println!("  {d}");
        }
        if disagreements.len() > MAX_PRINTED_DISAGREEMENTS {
            println!(
                "  ... {} more in the report",
                disagreements.len() - MAX_PRINTED_DISAGREEMENTS
            );
        }
    }

    // The report file: the same table in markdown and every line.
    let mut md = String::new();
    let _ = writeln!(md, "# x509-limbo conformance report\n");
    let _ = writeln!(
        md,
        "Suite: `{}` ({} cases). Wall time {:.1}s ({THREADS} threads, load {:.1}s). \
         Non-BetterTLS agreed: {non_bettertls_agreed}.\n",
        path.display(),
        suite.testcases.len(),
        wall.as_secs_f64(),
        loaded_in.as_secs_f64()
    );
    md.push_str(&table(&rows, &total, true));
    let mut section = |title: &str, lines: &[String]| {
        let _ = writeln!(md, "\n## {title} ({})\n", lines.len());
        for l in lines {
            let _ = writeln!(md, "- {}", l.replace('|', "\\|"));
        }
    };
    let summary: Vec<String> = by_code
        .iter()
        .map(|((ns, kind, code), n)| format!("{ns}: {kind} `{code}`: {n}"))
        .collect();
    section("Disagreements by namespace and code", &summary);
    section("Disagreements", &disagreements);
    section("Skipped (run, not counted)", &skipped_lines);
    section("Test failures", &problems);
    let code_lines: Vec<String> = codes.iter().map(|(c, n)| format!("`{c}`: {n}")).collect();
    section("Rejection codes (all rejected cases)", &code_lines);
    let slow_lines: Vec<String> = slow
        .iter()
        .map(|(d, id)| format!("{id}: {:.2}s", d.as_secs_f64()))
        .collect();
    section("Cases slower than 1 s", &slow_lines);
    let out = report_path();
    match std::fs::write(&out, md) {
        Ok(()) => println!("\nreport: {}", out.display()),
        Err(e) => println!("\ncould not write {}: {e}", out.display()),
    }

    let shown: Vec<&str> = problems
        .iter()
        .take(MAX_PRINTED_DISAGREEMENTS)
        .map(String::as_str)
        .collect();
    assert!(
        problems.is_empty(),
        "x509-limbo conformance failed ({} problem(s); all of them in {}):\n  {}{}",
        problems.len(),
        report_path().display(),
        shown.join("\n  "),
        if problems.len() > shown.len() {
            "\n  ..."
        } else {
            ""
        }
    );
}

/// The exceptions file parses, and every entry says why.
#[test]
fn exceptions_file_is_well_formed() {
    let path = Exceptions::default_path();
    let ex = Exceptions::load(&path).unwrap_or_else(|e| panic!("{e}"));
    for (oracle, subject, e) in ex.all() {
        assert!(
            !e.reason.trim().is_empty(),
            "{}: line {}: {oracle} {subject} has no reason",
            path.display(),
            e.line
        );
        // A reason is a sentence, not a placeholder.
        assert!(
            e.reason.split_whitespace().count() >= 3,
            "{}: line {}: the reason for {oracle} {subject} is too short to explain anything",
            path.display(),
            e.line
        );
    }
}
