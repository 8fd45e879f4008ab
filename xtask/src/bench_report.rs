//! `cargo xtask bench-report`: run the criterion benchmarks with short settings and the browser
//! benchmark, read their medians, add the results other benchmarks left in
//! `target/bench-results/*.json` (the gateway's, from `cargo xtask bench-gateway`), and write `benches/REPORT.md`: one table per group with each
//! peer's median and the ratios within the same run, issue 8's targets met or not as computed
//! from those figures, and the machine, versions and date (issue 8).
//!
//! `--no-run` only rewrites the report from the results of the last run on disk.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use serde_json::Value;

use super::{build_component, root, setup};

/// The benches this command runs (others in benches/ are left to `cargo bench`), in order.
const BENCHES: &[&str] = &["chains", "component", "ecdsa", "policy"];

/// Short criterion settings: the whole run fits in a few minutes on two cores. The figure that
/// matters is the ratio between peers of the same run, not the absolute time.
const CRITERION_ARGS: &[&str] = &["--warm-up-time", "1", "--measurement-time", "2"];

/// Where other benchmarks leave their results, and the ones the report has a section for:
/// (file stem, title, how to produce it).
const RESULTS_DIR: &str = "target/bench-results";
const EXTERNAL: &[(&str, &str, &str)] = &[
    (
        "browser",
        "Browser (headless Chromium)",
        "`node web/bench/run.mjs` after the module is built (docs/web.md)",
    ),
    (
        "gateway",
        "Gateway under load",
        "`cargo xtask bench-gateway`",
    ),
    (
        "paired",
        "Component against native and instantiation, paired rounds",
        "the `chains` bench, its last step (`cargo bench -p chainproof-benches --bench chains`)",
    ),
];

const REPORT: &str = "benches/REPORT.md";
/// Touched when a run starts; `--no-run` reports the results written since.
const RUN_STAMP: &str = "target/criterion/.bench-report-start";

/// One criterion result.
struct Measured {
    group: String,
    function: String,
    median_ns: f64,
    low_ns: f64,
    high_ns: f64,
}

/// A row of an external result file (see benches/README.md for the shape).
struct Row {
    id: Option<String>,
    name: String,
    /// Nanoseconds (`median_ns`) or `value` in `unit`.
    value: f64,
    unit: String,
    note: String,
}

struct External {
    group: String,
    rows: Vec<Row>,
    ratios: Vec<(String, f64, String)>,
    extra: Value,
    modified: Option<SystemTime>,
}

/// Everything one report is made of.
struct Results {
    criterion: Vec<Measured>,
    external: BTreeMap<String, External>,
    notes: Vec<String>,
    /// Whether the criterion figures are from this run (or the last run on disk).
    fresh: bool,
    /// When that run started, and [`run_facts`] as it wrote them then.
    started: Option<SystemTime>,
    run_facts: String,
}

impl Results {
    fn median(&self, group: &str, function: &str) -> Option<f64> {
        self.criterion
            .iter()
            .find(|m| m.group == group && m.function == function)
            .map(|m| m.median_ns)
    }

    /// The first group whose name starts with `prefix`.
    fn group_like(&self, prefix: &str) -> Option<&str> {
        self.criterion
            .iter()
            .map(|m| m.group.as_str())
            .find(|g| g.starts_with(prefix))
    }

    fn external_value(&self, file: &str, id: &str) -> Result<f64, String> {
        let ext = self
            .external
            .get(file)
            .ok_or_else(|| format!("{RESULTS_DIR}/{file}.json: not run"))?;
        ext.rows
            .iter()
            .find(|r| r.id.as_deref() == Some(id))
            .map(|r| r.value)
            .ok_or_else(|| format!("{RESULTS_DIR}/{file}.json has no row with id `{id}`"))
    }
}

/// `cargo xtask bench-report [--no-run]`.
pub fn bench_report(args: &[String]) -> Result<(), String> {
    let run_benches = !args.iter().any(|a| a == "--no-run");
    if let Some(other) = args.iter().find(|a| *a != "--no-run") {
        return Err(format!(
            "bench-report: unknown option {other:?} (only --no-run)"
        ));
    }
    let stamp = root().join(RUN_STAMP);
    let (since, notes) = if run_benches {
        setup()?;
        build_component()?;
        // Criterion keeps every group it ever ran: only this run's results go in the report.
        let _ = fs::create_dir_all(root().join("target/criterion"));
        fs::write(&stamp, run_facts()).map_err(|e| format!("{}: {e}", stamp.display()))?;
        let start = fs::metadata(&stamp).and_then(|m| m.modified()).ok();
        let notes = run_criterion()?;
        // The browser benchmark fits in about a minute: the module as the page ships it, then
        // chainproof against PKI.js and @peculiar/x509 in Chromium (target/bench-results/
        // browser.json). The gateway's takes longer: `cargo xtask bench-gateway`.
        super::build_web()?;
        super::run(Command::new("node").arg("web/bench/run.mjs"))?;
        (start, notes)
    } else {
        let last_run = fs::metadata(&stamp).and_then(|m| m.modified()).ok();
        (last_run, Vec::new())
    };
    let results = Results {
        criterion: read_criterion(&root().join("target/criterion"), since)?,
        external: read_external(&root().join(RESULTS_DIR))?,
        notes,
        fresh: run_benches,
        started: since,
        run_facts: read_text(&stamp),
    };
    if results.criterion.is_empty() {
        return Err("no criterion results in target/criterion: run without --no-run".into());
    }
    let text = report(&results);
    let path = root().join(REPORT);
    fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("xtask: wrote {}", path.display());
    Ok(())
}

/// Run [`BENCHES`] (those that exist) in one cargo invocation, echoing its output, and keep
/// the lines benches print about themselves (such as the policy bench's memory figures).
fn run_criterion() -> Result<Vec<String>, String> {
    let mut cmd = Command::new("cargo");
    cmd.args(["bench", "-p", "chainproof-benches"]);
    for b in BENCHES {
        if root().join(format!("benches/benches/{b}.rs")).is_file() {
            cmd.args(["--bench", b]);
        }
    }
    cmd.arg("--").args(CRITERION_ARGS);
    let line = format!("{cmd:?}");
    println!("xtask: {line}");
    let mut child = cmd
        .current_dir(root())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {line}: {e}"))?;
    let mut notes = Vec::new();
    if let Some(out) = child.stdout.take() {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{l}");
            if l.starts_with("memory:") {
                notes.push(l);
            }
        }
    }
    let status = child.wait().map_err(|e| format!("{line}: {e}"))?;
    if status.success() {
        Ok(notes)
    } else {
        Err(format!("{line} failed ({status})"))
    }
}

fn read_text(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Criterion's saved estimates (`<group>/<function>/new/{benchmark,estimates}.json`), only
/// those written since `since` when given.
fn read_criterion(dir: &Path, since: Option<SystemTime>) -> Result<Vec<Measured>, String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if !p.is_dir() {
                continue;
            }
            if p.file_name().is_some_and(|n| n == "new") {
                if let Some(m) = read_measured(&p, since)? {
                    found.push(m);
                }
            } else {
                stack.push(p);
            }
        }
    }
    Ok(found)
}

fn read_measured(dir: &Path, since: Option<SystemTime>) -> Result<Option<Measured>, String> {
    let estimates = dir.join("estimates.json");
    let modified = fs::metadata(&estimates).and_then(|m| m.modified()).ok();
    if since.is_some_and(|s| modified.is_none_or(|m| m < s)) || !estimates.is_file() {
        return Ok(None);
    }
    let id = read_json(&dir.join("benchmark.json"))?;
    let est = read_json(&estimates)?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let median = &est["median"];
    Ok(Some(Measured {
        group: text(&id["group_id"]),
        function: text(&id["function_id"]),
        median_ns: num(&median["point_estimate"]),
        low_ns: num(&median["confidence_interval"]["lower_bound"]),
        high_ns: num(&median["confidence_interval"]["upper_bound"]),
    }))
}

/// The elements of a JSON array (none when it is missing or not an array).
fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Every `*.json` in `dir`, by file stem.
fn read_external(dir: &Path) -> Result<BTreeMap<String, External>, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let v = read_json(&p)?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let rows = items(&v["rows"])
            .iter()
            .map(|r| {
                let (value, unit) = match r["median_ns"].as_f64() {
                    Some(ns) => (ns, "ns".to_owned()),
                    None => (r["value"].as_f64().unwrap_or(f64::NAN), text(&r["unit"])),
                };
                Row {
                    id: r["id"].as_str().map(str::to_owned),
                    name: text(&r["name"]),
                    value,
                    unit,
                    note: text(&r["note"]),
                }
            })
            .collect();
        let ratios = items(&v["ratios"])
            .iter()
            .map(|r| {
                (
                    text(&r["name"]),
                    r["value"].as_f64().unwrap_or(f64::NAN),
                    text(&r["note"]),
                )
            })
            .collect();
        let group = match text(&v["group"]) {
            g if g.is_empty() => stem.clone(),
            g => g,
        };
        out.insert(
            stem,
            External {
                group,
                rows,
                ratios,
                extra: v["extra"].clone(),
                modified: fs::metadata(&p).and_then(|m| m.modified()).ok(),
            },
        );
    }
    Ok(out)
}

// ---- formatting -------------------------------------------------------------------------

fn time(ns: f64) -> String {
    if !ns.is_finite() {
        "?".into()
    } else if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn value(v: f64, unit: &str) -> String {
    match unit {
        "ns" => time(v),
        "bytes" if v >= 1e3 => format!("{:.1} KB ({v:.0} bytes)", v / 1e3),
        _ => format!("{v} {unit}"),
    }
}

/// `a ÷ b` as a time ratio with words: below 1 the first is faster.
fn ratio_words(r: f64) -> String {
    if !r.is_finite() {
        "?".into()
    } else if r < 1.0 {
        format!("{r:.2} ({:.2}× faster)", 1.0 / r)
    } else {
        format!("{r:.2} ({r:.2}× slower)")
    }
}

/// A ratio between two criterion results: (label, numerator, denominator), each (group,
/// function). Groups are matched by prefix, so a renamed device count does not break them.
type Pair<'a> = (&'a str, &'a str);

/// The function names the benches use (benches/benches/*.rs).
const NATIVE: &str = "chainproof native";
const NATIVE_WARM: &str = "chainproof native, warm store";
const COMPONENT: &str = "chainproof component";
const COMPONENT_WARM: &str = "chainproof component, warm store";
const WEBPKI: &str = "rustls-webpki";
const OPENSSL: &str = "OpenSSL";

/// The component's time against native with the same kind of store: cold against cold when the
/// chains bench has a cold component row, else warm against warm.
fn component_pair(r: &Results, group: &str) -> Option<(f64, &'static str)> {
    [(COMPONENT, NATIVE), (COMPONENT_WARM, NATIVE_WARM)]
        .iter()
        .find_map(|(c, n)| {
            Some((
                r.median(group, c)? / r.median(group, n)?,
                if *c == COMPONENT {
                    "cold"
                } else {
                    "warm stores"
                },
            ))
        })
}

/// The ratios shown under a group (labels say numerator ÷ denominator, in time).
fn ratios_for(group: &str) -> Vec<(String, Pair<'static>, Pair<'static>)> {
    let same = |label: &str, a: &'static str, b: &'static str| (label.to_owned(), ("", a), ("", b));
    if group.starts_with("chain ") {
        vec![
            same("chainproof native (cold) ÷ OpenSSL", NATIVE, OPENSSL),
            same("chainproof native (cold) ÷ rustls-webpki", NATIVE, WEBPKI),
            same(
                "chainproof native, warm store ÷ OpenSSL",
                NATIVE_WARM,
                OPENSSL,
            ),
            same("component ÷ native (cold)", COMPONENT, NATIVE),
            same(
                "component ÷ native (warm stores)",
                COMPONENT_WARM,
                NATIVE_WARM,
            ),
        ]
    } else if group.starts_with("steady state") {
        vec![
            same("chainproof native ÷ OpenSSL", NATIVE_WARM, OPENSSL),
            same("chainproof native ÷ rustls-webpki", NATIVE_WARM, WEBPKI),
            same("component ÷ native", COMPONENT_WARM, NATIVE_WARM),
        ]
    } else if group.starts_with("proof of possession P-256") {
        vec![
            same("chainproof native ÷ OpenSSL", NATIVE, OPENSSL),
            same("chainproof native ÷ ring", NATIVE, "ring"),
            same("component ÷ native", COMPONENT, NATIVE),
        ]
    } else if group.starts_with("three-tier") || group.starts_with("proof of possession (") {
        vec![same("component ÷ native", "component", "native")]
    } else if group == "instantiation" {
        vec![
            same(
                "without ÷ with InstancePre",
                "without InstancePre",
                "with InstancePre",
            ),
            (
                "with InstancePre ÷ one P-256 chain verification in the component (warm)"
                    .to_owned(),
                ("", "with InstancePre"),
                ("chain P-256", COMPONENT_WARM),
            ),
            (
                "with InstancePre ÷ one P-256 chain verification in the component (cold)"
                    .to_owned(),
                ("", "with InstancePre"),
                ("chain P-256", COMPONENT),
            ),
        ]
    } else if group.starts_with("ecdsa verify") {
        vec![
            same(
                "chainproof ÷ crate verify_prehash",
                "chainproof",
                "crate verify_prehash",
            ),
            same(
                "chainproof with key table ÷ crate verify_prehash",
                "chainproof with key table",
                "crate verify_prehash",
            ),
        ]
    } else if group == "verify" {
        vec![same(
            "group device: big policy ÷ empty policy",
            "group device, big policy",
            "group device, empty policy",
        )]
    } else {
        Vec::new()
    }
}

/// Which row a group's "× chainproof native" column divides by.
fn reference_of(r: &Results, group: &str) -> Option<(&'static str, f64)> {
    [NATIVE, "native", "chainproof", NATIVE_WARM]
        .iter()
        .find_map(|f| Some((*f, r.median(group, f)?)))
}

/// Groups in the order of issue 8's list; others after them by name.
const GROUP_ORDER: &[&str] = &[
    "chain P-256",
    "chain P-384",
    "chain RSA",
    "proof of possession P-256",
    "steady state",
    "three-tier",
    "proof of possession (",
    "instantiation",
    "ecdsa verify",
    "policy",
    "verify",
];

/// Rows within a group: chainproof first, then the peers.
const FUNCTION_ORDER: &[&str] = &[
    NATIVE,
    NATIVE_WARM,
    COMPONENT,
    COMPONENT_WARM,
    "native",
    "component",
    WEBPKI,
    OPENSSL,
    "ring",
];

fn rank(list: &[&str], name: &str, exact: bool) -> usize {
    list.iter()
        .position(|p| {
            if exact {
                name == *p
            } else {
                name.starts_with(p)
            }
        })
        .unwrap_or(list.len())
}

fn criterion_section(r: &Results, out: &mut String) {
    let mut groups: Vec<&str> = r.criterion.iter().map(|m| m.group.as_str()).collect();
    groups.sort_by_key(|g| (rank(GROUP_ORDER, g, false), g.to_string()));
    groups.dedup();
    for group in groups {
        let mut rows: Vec<&Measured> = r.criterion.iter().filter(|m| m.group == group).collect();
        rows.sort_by_key(|m| (rank(FUNCTION_ORDER, &m.function, true), m.function.clone()));
        let reference = reference_of(r, group);
        let _ = writeln!(out, "### {group}\n");
        match reference {
            Some((name, _)) => {
                let _ = writeln!(
                    out,
                    "| | median | 95% interval | time ÷ {name} |\n|---|---:|---:|---:|"
                );
            }
            None => {
                let _ = writeln!(out, "| | median | 95% interval |\n|---|---:|---:|");
            }
        }
        for m in rows {
            let interval = format!("{} – {}", time(m.low_ns), time(m.high_ns));
            let _ = write!(
                out,
                "| {} | {} | {interval} |",
                m.function,
                time(m.median_ns)
            );
            if let Some((_, base)) = reference {
                let _ = write!(out, " {:.2} |", m.median_ns / base);
            }
            out.push('\n');
        }
        let ratios: Vec<String> = ratios_for(group)
            .into_iter()
            .filter_map(|(label, (ga, fa), (gb, fb))| {
                let ga = if ga.is_empty() {
                    group
                } else {
                    r.group_like(ga)?
                };
                let gb = if gb.is_empty() {
                    group
                } else {
                    r.group_like(gb)?
                };
                let v = r.median(ga, fa)? / r.median(gb, fb)?;
                Some(format!("- {label}: {}", ratio_words(v)))
            })
            .collect();
        if !ratios.is_empty() {
            let _ = writeln!(out, "\n{}", ratios.join("\n"));
        }
        out.push('\n');
    }
}

fn external_section(r: &Results, out: &mut String) {
    let known: Vec<&str> = EXTERNAL.iter().map(|(stem, ..)| *stem).collect();
    let others = r
        .external
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| {
            (
                k.as_str(),
                "Other results",
                "a tool that writes the shape in benches/README.md",
            )
        });
    for (stem, title, how) in EXTERNAL.iter().copied().chain(others) {
        let _ = writeln!(out, "## {title} (`{RESULTS_DIR}/{stem}.json`)\n");
        let Some(ext) = r.external.get(stem) else {
            let _ = writeln!(
                out,
                "Not run. Produce it with {how}, then re-run this report.\n"
            );
            continue;
        };
        let when = ext
            .modified
            .map(|m| format!("written {}", utc(m)))
            .unwrap_or_default();
        let _ = writeln!(out, "Group `{}`, {when} (by {how}).\n", ext.group);
        let _ = writeln!(out, "| | median / value | note |\n|---|---:|---|");
        for row in &ext.rows {
            let name = match &row.id {
                Some(id) => format!("{} (`{id}`)", row.name),
                None => row.name.clone(),
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} |",
                value(row.value, &row.unit),
                row.note.replace('|', "/")
            );
        }
        for (name, v, note) in &ext.ratios {
            let _ = writeln!(out, "\n- {name}: {v:.2} {note}");
        }
        if let Some(extra) = ext.extra.as_object() {
            let facts: Vec<String> = extra
                .iter()
                .filter(|(_, v)| v.is_string() || v.is_number())
                .map(|(k, v)| format!("{k}: {}", v.as_str().map_or(v.to_string(), str::to_owned)))
                .collect();
            if !facts.is_empty() {
                let _ = writeln!(out, "\n{}", facts.join("; "));
            }
        }
        out.push('\n');
    }
}

// ---- targets ----------------------------------------------------------------------------

/// Whether a target is a ceiling or a floor.
#[derive(Clone, Copy)]
enum Bound {
    AtMost,
    Below,
    AtLeast,
}

struct Target {
    what: &'static str,
    bound: Bound,
    limit: f64,
    unit: &'static str,
    /// The measured figure, or why there is none.
    measured: Result<f64, String>,
    how: String,
    /// Where the profile that explains a miss is written down (issue 8: "where a target is
    /// missed, the report says by how much and a profile says why").
    why: &'static str,
}

fn missing(what: &str) -> String {
    format!("{what} not measured in this run")
}

fn ratio_of(r: &Results, a: Pair, b: Pair) -> Result<f64, String> {
    let get = |(g, f): Pair| {
        r.group_like(g)
            .and_then(|g| r.median(g, f))
            .ok_or_else(|| missing(&format!("`{g}` / `{f}`")))
    };
    Ok(get(a)? / get(b)?)
}

/// A fraction as a percentage for the text, or why there is none.
fn percent(v: Result<f64, String>) -> String {
    v.map_or_else(|e| e, |v| format!("{:.1}%", v * 100.0))
}

fn external_ratio(r: &Results, file: &str, a: &str, b: &str) -> Result<f64, String> {
    Ok(r.external_value(file, a)? / r.external_value(file, b)?)
}

/// Issue 8's targets, each computed from this report's figures.
fn targets(r: &Results) -> Vec<Target> {
    // The component against native: the paired rounds' median ratio (benches/README.md §
    // Paired rounds); criterion's ratio of its two separate blocks is quoted beside it.
    let component = |id: &str, group: &str| {
        let blocks = r
            .group_like(group)
            .and_then(|g| component_pair(r, g))
            .map_or_else(
                || "not measured".to_owned(),
                |(v, kind)| format!("{v:.2} ({kind})"),
            );
        (
            r.external_value("paired", &format!("{id}-ratio")),
            format!(
                "paired rounds: median of the per-round ratios component ÷ native (`{id}-ratio`); \
                 criterion's separate blocks, `{group}`: {blocks}"
            ),
        )
    };
    // The component against native, cold, from criterion's blocks alone: the chains that have
    // no paired rounds.
    let component_blocks = |what: &'static str, group: &str, why: &'static str| Target {
        what,
        bound: Bound::AtMost,
        limit: 1.2,
        unit: "×",
        measured: ratio_of(r, (group, COMPONENT), (group, NATIVE)),
        how: format!(
            "{group}: criterion's blocks, chainproof component ÷ chainproof native (cold); no \
             paired rounds for this chain"
        ),
        why,
    };
    let (chain_component, chain_how) = component("chain-p256", "chain P-256");
    let (pop_component, pop_how) = component("pop-p256", "proof of possession P-256");
    let (steady_component, steady_how) = component("steady-p256", "steady state");
    let with_pre = ("instantiation", "with InstancePre");
    vec![
        Target {
            what: "Native core, full P-256 chain, cold: at most 2× OpenSSL's X509_verify_cert",
            bound: Bound::AtMost,
            limit: 2.0,
            unit: "×",
            measured: ratio_of(r, ("chain P-256", NATIVE), ("chain P-256", OPENSSL)),
            how: "chain P-256: chainproof native ÷ OpenSSL".into(),
            why: "docs/performance.md § 1: the cost is the two P-256 verifications; OpenSSL's field arithmetic is assembly, the core's is the curve crates' portable Rust",
        },
        Target {
            what: "Steady state: at least 1.5× OpenSSL's throughput per device",
            bound: Bound::AtLeast,
            limit: 1.5,
            unit: "×",
            measured: ratio_of(r, ("steady state", OPENSSL), ("steady state", NATIVE_WARM)),
            how: "steady state: OpenSSL's time ÷ chainproof native's".into(),
            why: "docs/performance.md § 2: the trust store's verification memory",
        },
        Target {
            what: "Component: at most 1.2× native time per verification (P-256 chain, cold)",
            bound: Bound::AtMost,
            limit: 1.2,
            unit: "×",
            measured: chain_component,
            how: chain_how,
            why: "docs/component.md § Size and speed: per-call cost outside the signatures (copying the chain in, the report out, parsing in wasm), profiled there",
        },
        component_blocks(
            "Component: at most 1.2× native time per verification (P-384 chain, cold)",
            "chain P-384",
            "docs/component.md § Size and speed",
        ),
        component_blocks(
            "Component: at most 1.2× native time per verification (RSA-4096/4096/2048 chain, cold)",
            "chain RSA-4096/4096/2048",
            "docs/component.md § Size and speed: 78% of the component's time is crypto-bigint's Montgomery multiplication loop, about 50 instructions per step as Cranelift compiles it (six stack reloads, fuel metering) against 22 natively",
        ),
        Target {
            what: "Component: at most 1.2× native time per verification (one P-256 signature)",
            bound: Bound::AtMost,
            limit: 1.2,
            unit: "×",
            measured: pop_component,
            how: pop_how,
            why: "docs/component.md § Size and speed",
        },
        Target {
            what: "Component: at most 1.2× native time per verification (steady state, per device)",
            bound: Bound::AtMost,
            limit: 1.2,
            unit: "×",
            measured: steady_component,
            how: steady_how,
            why: "docs/component.md § Size and speed: with the CA's signature remembered, one verification is one device signature plus the per-call cost of crossing the component boundary; docs/performance.md § Measuring on a shared machine: why the ratio is taken in paired rounds",
        },
        Target {
            what: "Instantiation from InstancePre under 5% of one verification (cold P-256 chain)",
            bound: Bound::Below,
            limit: 0.05,
            unit: "%",
            measured: r.external_value("paired", "inst-chain-ratio"),
            how: format!(
                "paired rounds: median of the per-round ratios instantiation ÷ a cold P-256 \
                 chain in the component (`inst-chain-ratio`); criterion's separate blocks: {}",
                percent(ratio_of(r, with_pre, ("chain P-256", COMPONENT)))
            ),
            why: "docs/component.md § Size and speed: instantiation",
        },
        Target {
            what: "Instantiation from InstancePre under 5% of one verification (steady state)",
            bound: Bound::Below,
            limit: 0.05,
            unit: "%",
            measured: r.external_value("paired", "inst-steady-ratio"),
            how: format!(
                "paired rounds: median of the per-round ratios instantiation ÷ the component's \
                 time per device in the steady state (`inst-steady-ratio`); criterion's \
                 separate blocks: {}",
                percent(ratio_of(r, with_pre, ("steady state", COMPONENT_WARM)))
            ),
            why: "docs/component.md § Size and speed: instantiation against a steady-state call, which is mostly per-call overhead",
        },
        Target {
            what: "Browser: at least 5× faster than PKI.js on the P-256 chain",
            bound: Bound::AtLeast,
            limit: 5.0,
            unit: "×",
            measured: external_ratio(r, "browser", "pkijs-p256", "chainproof-p256"),
            how: "browser: `pkijs-p256` ÷ `chainproof-p256`".into(),
            why: "docs/web.md § Benchmark: the page's time besides WebCrypto is the core's parsing and path building at opt-level z, twice (two rounds)",
        },
        Target {
            what: "Browser: at least 2× faster than PKI.js on the RSA chain",
            bound: Bound::AtLeast,
            limit: 2.0,
            unit: "×",
            measured: external_ratio(r, "browser", "pkijs-rsa", "chainproof-rsa"),
            how: "browser: `pkijs-rsa` ÷ `chainproof-rsa`".into(),
            why: "docs/web.md § Benchmark",
        },
        Target {
            what: "Browser: module at most 150 KB gzipped (150,000 bytes)",
            bound: Bound::AtMost,
            limit: 150_000.0,
            unit: " bytes",
            measured: r.external_value("browser", "module-gzip"),
            how: "browser: `module-gzip`".into(),
            why: "docs/web.md § Size: where the bytes are (twiggy)",
        },
        Target {
            what: "Gateway: at least mosquitto's authentications per second",
            bound: Bound::AtLeast,
            limit: 1.0,
            unit: "×",
            measured: external_ratio(r, "gateway", "mosquitto-auth", "gateway-auth"),
            how: "gateway: `mosquitto-auth` ÷ `gateway-auth` (time per authentication)".into(),
            why: "docs/gateway.md § Load",
        },
        Target {
            what: "Gateway: p99 handshake under 20 ms at 1,000 concurrent connections (1,000 \
                   held open, 10 new handshakes in flight)",
            bound: Bound::Below,
            limit: 20e6,
            unit: " ns",
            measured: r.external_value("gateway", "gateway-p99-held-1000"),
            how: "gateway: `gateway-p99-held-1000`".into(),
            why: "docs/gateway.md § Load: the server's CPU per handshake (perf) and the load tool sharing the two cores",
        },
        Target {
            what: "Gateway: p99 handshake under 20 ms at 1,000 concurrent connections (all \
                   1,000 handshaking in the same instant)",
            bound: Bound::Below,
            limit: 20e6,
            unit: " ns",
            measured: r.external_value("gateway", "gateway-p99-1000"),
            how: "gateway: `gateway-p99-1000`".into(),
            why: "docs/gateway.md § Load: 1,000 handshakes at about 0.8 ms of server CPU each need about 0.4 s of the two cores before the last can finish, for any server on this machine",
        },
    ]
}

fn figure(v: f64, unit: &str) -> String {
    match unit {
        " ns" => time(v),
        " bytes" => format!("{v:.0} bytes"),
        "%" => format!("{:.1}%", v * 100.0),
        u => format!("{v:.2}{u}"),
    }
}

fn targets_section(r: &Results, out: &mut String) {
    let _ = writeln!(
        out,
        "| Target | Measured | Limit | Verdict | From |\n|---|---:|---:|---|---|"
    );
    let mut missed = Vec::new();
    for t in targets(r) {
        let limit = match t.bound {
            Bound::AtMost => format!("≤ {}", figure(t.limit, t.unit)),
            Bound::Below => format!("< {}", figure(t.limit, t.unit)),
            Bound::AtLeast => format!("≥ {}", figure(t.limit, t.unit)),
        };
        let (measured, verdict) = match &t.measured {
            Err(why) => ("-".to_owned(), format!("not measured: {why}")),
            Ok(v) => {
                let met = match t.bound {
                    Bound::AtMost => *v <= t.limit,
                    Bound::Below => *v < t.limit,
                    Bound::AtLeast => *v >= t.limit,
                };
                let verdict = match (met, t.bound) {
                    (true, _) => "**met**".to_owned(),
                    (false, Bound::AtLeast) => {
                        format!("**not met**: needs {} more", excess(t.limit / v))
                    }
                    (false, _) => format!("**not met**: {} over the limit", excess(v / t.limit)),
                };
                (figure(*v, t.unit), verdict)
            }
        };
        let _ = writeln!(
            out,
            "| {} | {measured} | {limit} | {verdict} | {} |",
            t.what, t.how
        );
        if verdict.starts_with("**not met**") {
            missed.push(format!("- {}: {}", t.what, t.why));
        }
    }
    out.push('\n');
    if !missed.is_empty() {
        let _ = writeln!(
            out,
            "Why the missed targets are missed (the profile behind each):\n\n{}\n",
            missed.join("\n")
        );
    }
}

// ---- machine and versions ---------------------------------------------------------------

fn output_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// `YYYY-MM-DD HH:MM UTC` of a time, through `date` (no date crate for one line).
fn utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    output_of(
        "date",
        &["-u", "-d", &format!("@{secs}"), "+%Y-%m-%d %H:%M UTC"],
    )
}

/// Versions of packages in Cargo.lock: name -> every locked version. Where a crate is locked
/// at several versions, the one the benches depend on (Cargo.lock names it as `name version`
/// in their dependency list) is the one given.
fn lock_versions() -> HashMap<String, Vec<String>> {
    let lock = read_text(root().join("Cargo.lock"));
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let mut bench_deps: Vec<(String, String)> = Vec::new();
    for block in lock.split("[[package]]") {
        let field = |key: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim_matches('"').to_owned())
        };
        let (Some(name), Some(version)) = (field("name = "), field("version = ")) else {
            continue;
        };
        if name == "chainproof-benches" {
            bench_deps = block
                .lines()
                .filter_map(|l| l.trim().trim_matches([',', '"']).split_once(' '))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .filter(|(n, _)| !n.contains('='))
                .collect();
        }
        out.entry(name).or_default().push(version);
    }
    for (name, version) in bench_deps {
        out.insert(name, vec![version]);
    }
    out
}

/// What is true of the work tree and the machine when a run starts (kept in [`RUN_STAMP`]
/// for `--no-run`): the commit, whether the tree had changes, the load average.
fn run_facts() -> String {
    let dirty = if output_of("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " (with uncommitted changes in the work tree)"
    };
    let load = read_text("/proc/loadavg");
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{}{dirty}\n{}\n",
        output_of("git", &["rev-parse", "--short", "HEAD"]),
        load.join(" ")
    )
}

fn machine_section(r: &Results, out: &mut String) {
    let cpuinfo = read_text("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']))
        .unwrap_or("unknown");
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let os = read_text("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "unknown".into());
    let memory = read_text("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or("unknown".to_owned(), |kb| {
            format!("{:.1} GiB", kb / 1024.0 / 1024.0)
        });
    let locked = lock_versions();
    let crates: Vec<String> = [
        "wasmtime",
        "openssl",
        "openssl-sys",
        "rustls-webpki",
        "ring",
        "p256",
        "p384",
        "rsa",
        "x509-cert",
        "criterion",
    ]
    .iter()
    .map(|c| {
        let v = locked.get(*c).map(|v| v.join(", ")).unwrap_or_default();
        format!("{c} {v}")
    })
    .collect();
    let mut facts = r.run_facts.lines();
    let commit = facts.next().unwrap_or("unknown");
    let load = facts.next().unwrap_or("unknown");
    let _ = writeln!(
        out,
        "- Run started: {}; commit {commit}; report written {}\n\
         - CPU: {cpu}, {cores} logical cores; memory {memory}\n\
         - OS: {os}, kernel {}\n\
         - Load average when the run started: {load}\n\
         - rustc: {}\n\
         - OpenSSL (Debian's libssl, the `openssl` peer): {}\n\
         - Crates (Cargo.lock): {}\n\
         - Criterion: {}; bench profile (release: thin LTO, 4 codegen units)",
        r.started.map_or("unknown".to_owned(), utc),
        utc(SystemTime::now()),
        output_of("uname", &["-r"]),
        output_of("rustc", &["--version"]),
        output_of("openssl", &["version"]),
        crates.join(", "),
        if r.fresh {
            format!("`{}`, medians of this run", CRITERION_ARGS.join(" "))
        } else {
            format!(
                "`{}`, medians of the last run on disk (`--no-run`)",
                CRITERION_ARGS.join(" ")
            )
        },
    );
    for note in &r.notes {
        let _ = writeln!(out, "- Printed by a bench: {note}");
    }
    out.push('\n');
}

fn report(r: &Results) -> String {
    let mut out = String::from(
        "# chainproof benchmark report\n\n\
         Written by `cargo xtask bench-report` (issue 8); do not edit by hand, re-run it. \
         Times are criterion medians; a ratio compares two figures of the same run, which is \
         the figure to read on a noisy machine. `a ÷ b` below 1 means `a` takes less time.\n\n",
    );
    out.push_str("## Machine and versions\n\n");
    machine_section(r, &mut out);
    out.push_str("## Targets (issue 8)\n\n");
    targets_section(r, &mut out);
    out.push_str(
        "## Native and component (criterion, `benches/benches/`)\n\n\
         Cold: the trust store's verification memory is off, every call checks every \
         signature. Warm store: the store remembers verified signatures and CA key tables \
         (the default; a gateway's case).\n\n",
    );
    criterion_section(r, &mut out);
    external_section(r, &mut out);
    out
}

/// How far a missed target is from its limit (`ratio` > 1): as a factor, or in per cent when
/// the factor would print as 1.00× or 1.01×.
fn excess(ratio: f64) -> String {
    if ratio < 1.015 {
        format!("{:.1}%", (ratio - 1.0) * 100.0)
    } else {
        format!("{ratio:.2}×")
    }
}
