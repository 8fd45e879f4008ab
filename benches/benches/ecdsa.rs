//! One ECDSA verification: chainproof's verification path for public data
//! (`chainproof::ecdsa::verify_prehash`, without and with the key's table) against the curve
//! crates' own `verify_prehash`, P-256 and P-384 (issue 8).
//!
//! `cargo bench -p chainproof-benches --bench ecdsa -- --quick`

use std::hint::black_box;

use chainproof::ecdsa::{KeyTable, verify_prehash};
use criterion::{Criterion, criterion_group, criterion_main};
use signature::hazmat::{PrehashSigner, PrehashVerifier};

macro_rules! curve_bench {
    ($c:expr, $name:literal, $krate:ident, $digest:expr) => {{
        let key = $krate::ecdsa::SigningKey::from_slice(&[0x42; $digest]).expect("key");
        let digest = [0x17u8; $digest];
        let sig: $krate::ecdsa::Signature = key.sign_prehash(&digest).expect("signature");
        let vk = *key.verifying_key();
        let (r, s) = sig.split_scalars();
        let table = KeyTable::new(vk.as_affine());
        assert!(vk.verify_prehash(&digest, &sig).is_ok());
        assert!(verify_prehash(vk.as_affine(), None, &digest, &r, &s));
        assert!(verify_prehash(
            vk.as_affine(),
            Some(&table),
            &digest,
            &r,
            &s
        ));
        let mut g = $c.benchmark_group(concat!("ecdsa verify ", $name));
        g.bench_function("crate verify_prehash", |b| {
            b.iter(|| vk.verify_prehash(black_box(&digest), &sig).is_ok())
        });
        g.bench_function("chainproof", |b| {
            b.iter(|| verify_prehash(vk.as_affine(), None, black_box(&digest), &r, &s))
        });
        g.bench_function("chainproof with key table", |b| {
            b.iter(|| verify_prehash(vk.as_affine(), Some(&table), black_box(&digest), &r, &s))
        });
        g.bench_function("key table build", |b| {
            b.iter(|| KeyTable::new(black_box(vk.as_affine())))
        });
        g.finish();
    }};
}

fn benches(c: &mut Criterion) {
    curve_bench!(c, "P-256", p256, 32);
    curve_bench!(c, "P-384", p384, 48);
}

criterion_group!(ecdsa, benches);
criterion_main!(ecdsa);
