//! Fleet policy at scale: 100,000 revoked serials and 10,000 individual enrollments.
//!
//! Measures `FleetPolicy::from_toml` (load), `FleetPolicy::verify` for a device admitted by a
//! group and for an individually enrolled device (against the big policy and against a policy
//! with no entries, to show look-ups do not grow with the lists), and, with a counting global
//! allocator, the heap bytes held per revoked serial and per enrollment.
//!
//! `cargo bench -p chainproof-benches --bench policy -- --quick`

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chainproof::{FleetPolicy, UnixTime, VerifyOptions};
use chainproof_testkit::{DemoPki, demo_pki};
use criterion::{Criterion, criterion_group, criterion_main};

/// Counts live heap bytes so the bench can report memory per policy entry.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `dealloc` and `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const REVOKED_SERIALS: usize = 100_000;
const ENROLLMENTS: usize = 10_000;
/// Devices of the demo fleet enrolled individually with their real thumbprints.
const REAL_ENROLLED: [&str; 1] = ["sensor-0001"];

/// The policy text: one group (the demo root), `serials` revoked serials under the demo
/// manufacturing CA, `enrollments` individual enrollments with synthetic SHA-256 thumbprints
/// plus the real ones.
fn policy_text(demo: &DemoPki, serials: usize, enrollments: usize, form: SerialForm) -> String {
    let mut t = String::from(
        "version = 1\n\n[[group]]\nid = \"acme\"\nanchors_file = \"root.pem\"\nroute = \"eu\"\n\n",
    );
    for i in 0..enrollments {
        let _ = write!(
            t,
            "[[device]]\nid = \"meter-{i:06}\"\nprimary_thumbprint = \"{:064X}\"\n\n",
            0x5EED_0000_u64 + i as u64
        );
    }
    if enrollments > 0 {
        for d in demo
            .devices
            .iter()
            .filter(|d| REAL_ENROLLED.contains(&d.name))
        {
            let _ = write!(
                t,
                "[[device]]\nid = \"{}\"\nprimary_thumbprint = \"{}\"\nroute = \"pinned\"\n\n",
                d.device_id,
                d.leaf.sha256_hex()
            );
        }
    }
    let ca = demo.manufacturing_ca.sha256_hex();
    match form {
        SerialForm::Batch => {
            let _ = write!(
                t,
                "[[revocation.deny_serial_batch]]\nissuer_sha256 = \"{ca}\"\nserials = [\n"
            );
            for i in 0..serials {
                let _ = writeln!(t, "  \"{:08X}\",", 0x1000_0000 + i);
            }
        }
        SerialForm::Tables => {
            t.push_str("[revocation]\ndeny_serials = [\n");
            for i in 0..serials {
                let _ = writeln!(
                    t,
                    "  {{ issuer_sha256 = \"{ca}\", serial = \"{:08X}\" }},",
                    0x1000_0000 + i
                );
            }
        }
    }
    t.push_str("]\n");
    t
}

/// How the revoked serials are written: one `[[revocation.deny_serial_batch]]` of the
/// manufacturing CA (the compact form), or one `deny_serials` table per serial.
#[derive(Clone, Copy)]
enum SerialForm {
    Batch,
    Tables,
}

fn load(demo: &DemoPki, text: &str) -> FleetPolicy {
    let root = demo.root.pem().into_bytes();
    let resolve = move |name: &str| match name {
        "root.pem" => Ok(root.clone()),
        other => Err(format!("no file {other}")),
    };
    match FleetPolicy::from_toml(text, &resolve) {
        Ok(p) => p,
        Err(e) => panic!("the generated policy is valid: {e}"),
    }
}

/// Heap bytes the loaded policy keeps (the text and parse temporaries are freed first).
fn retained_bytes(demo: &DemoPki, text: &str) -> (FleetPolicy, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    let p = load(demo, text);
    let after = LIVE.load(Ordering::Relaxed);
    (p, after.saturating_sub(before))
}

fn report_memory(demo: &DemoPki) {
    let base = policy_text(demo, 0, 0, SerialForm::Batch);
    let serials = policy_text(demo, REVOKED_SERIALS, 0, SerialForm::Batch);
    let devices = policy_text(demo, 0, ENROLLMENTS, SerialForm::Batch);
    let (_p0, b0) = retained_bytes(demo, &base);
    let (_p1, b1) = retained_bytes(demo, &serials);
    let (_p2, b2) = retained_bytes(demo, &devices);
    let full = policy_text(demo, REVOKED_SERIALS, ENROLLMENTS, SerialForm::Batch);
    let tables = policy_text(demo, REVOKED_SERIALS, ENROLLMENTS, SerialForm::Tables);
    let start = Instant::now();
    let (_p3, b3) = retained_bytes(demo, &full);
    let once = start.elapsed();
    println!(
        "memory: policy text {:.1} MB ({:.1} MB with one table per serial); loaded policy {:.1} MB; {:.0} bytes per revoked serial, \
         {:.0} bytes per individual enrollment (baseline {} bytes); one cold load {:.0} ms",
        full.len() as f64 / 1e6,
        tables.len() as f64 / 1e6,
        b3 as f64 / 1e6,
        b1.saturating_sub(b0) as f64 / REVOKED_SERIALS as f64,
        b2.saturating_sub(b0) as f64 / (ENROLLMENTS + REAL_ENROLLED.len()) as f64,
        b0,
        once.as_secs_f64() * 1e3,
    );
}

fn bench_policy(c: &mut Criterion) {
    let demo = demo_pki(demo_now());
    report_memory(&demo);
    let full = policy_text(&demo, REVOKED_SERIALS, ENROLLMENTS, SerialForm::Batch);
    let tables = policy_text(&demo, REVOKED_SERIALS, ENROLLMENTS, SerialForm::Tables);
    let small = policy_text(&demo, 0, 0, SerialForm::Batch);
    let big = load(&demo, &full);
    let empty = load(&demo, &small);

    let mut g = c.benchmark_group("policy");
    g.sample_size(10);
    g.bench_function("load 100k serials (one batch) + 10k enrollments", |b| {
        b.iter(|| load(&demo, black_box(&full)))
    });
    g.bench_function("load 100k serials (a table each) + 10k enrollments", |b| {
        b.iter(|| load(&demo, black_box(&tables)))
    });
    g.finish();

    let opts = VerifyOptions::new(UnixTime(demo.validation_time));
    let device = |name: &str| {
        demo.devices
            .iter()
            .find(|d| d.name == name)
            .map(|d| {
                (
                    d.leaf.der.clone(),
                    d.intermediates
                        .iter()
                        .map(|c| c.der.clone())
                        .collect::<Vec<_>>(),
                )
            })
            .unwrap_or_default()
    };
    let (group_leaf, group_bag) = device("sensor-0002");
    let (pinned_leaf, pinned_bag) = device("sensor-0001");
    // The verdicts being timed are the intended ones.
    assert_eq!(
        big.verify(&group_leaf, &group_bag, &opts)
            .map(|v| v.route)
            .ok()
            .as_deref(),
        Some("eu")
    );
    assert_eq!(
        big.verify(&pinned_leaf, &pinned_bag, &opts)
            .map(|v| v.route)
            .ok()
            .as_deref(),
        Some("pinned")
    );

    let mut g = c.benchmark_group("verify");
    g.bench_function("group device, big policy", |b| {
        b.iter(|| big.verify(black_box(&group_leaf), &group_bag, &opts))
    });
    g.bench_function("group device, empty policy", |b| {
        b.iter(|| empty.verify(black_box(&group_leaf), &group_bag, &opts))
    });
    g.bench_function("individually enrolled device, big policy", |b| {
        b.iter(|| big.verify(black_box(&pinned_leaf), &pinned_bag, &opts))
    });
    g.bench_function("enrollment look-up only, big policy", |b| {
        b.iter(|| big.device(black_box("meter-004242")).is_some())
    });
    g.finish();
}

/// 2026-01-01T00:00:00Z: a fixed time so runs compare.
fn demo_now() -> i64 {
    1_767_225_600
}

criterion_group!(benches, bench_policy);
criterion_main!(benches);
