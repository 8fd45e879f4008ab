//! Differential test of chainproof's ECDSA verification for public data (`chainproof::ecdsa`)
//! against the curve crates' own `verify_prehash`, for P-256 and P-384, with and without a
//! key table: valid signatures, damaged ones, random (r, s) pairs, edge scalars and digests,
//! signatures built to hit the exceptional cases of point addition (u1·G = ±u2·Q), and valid
//! signatures whose point R has x >= n (r = x - n).
//!
//! `cargo test -p chainproof-core --test ecdsa_differential` runs 5,000 cases per curve (what
//! CI runs). `CHAINPROOF_ECDSA_CASES=1000000 cargo test --release -p chainproof-core --test
//! ecdsa_differential` runs a million per curve, by hand (about 20 minutes per curve on two
//! cores); docs/performance.md records the last such run.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use chainproof::ecdsa::{KeyTable, VerifyCurve, verify_prehash};
use common::rng::Rng;
use p256::elliptic_curve::ff::{Field, PrimeField};
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::{CurveArithmetic, FieldBytes};
use primeorder::{AffinePoint, ProjectivePoint};

fn cases() -> usize {
    std::env::var("CHAINPROOF_ECDSA_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

type Scalar<C> = <C as CurveArithmetic>::Scalar;

/// What one curve needs from its crate: the reference verifier and signing.
trait TestCurve: VerifyCurve {
    /// The crate's own verdict on (r, s) over `digest` with key `q`.
    fn reference(q: &AffinePoint<Self>, digest: &[u8], r: &Scalar<Self>, s: &Scalar<Self>) -> bool;
}

macro_rules! test_curve {
    ($curve:ty, $krate:ident) => {
        impl TestCurve for $curve {
            fn reference(
                q: &AffinePoint<Self>,
                digest: &[u8],
                r: &Scalar<Self>,
                s: &Scalar<Self>,
            ) -> bool {
                use signature::hazmat::PrehashVerifier;
                let Ok(key) = $krate::ecdsa::VerifyingKey::from_affine(*q) else {
                    return false;
                };
                let Ok(sig) = $krate::ecdsa::Signature::from_scalars(r.to_repr(), s.to_repr())
                else {
                    return false;
                };
                key.verify_prehash(digest, &sig).is_ok()
            }
        }
    };
}
test_curve!(p256::NistP256, p256);
test_curve!(p384::NistP384, p384);

fn scalar<C: TestCurve>(rng: &mut Rng) -> Scalar<C> {
    let mut bytes = FieldBytes::<C>::default();
    let random = rng.bytes(bytes.len());
    bytes.copy_from_slice(&random);
    <Scalar<C> as Reduce<FieldBytes<C>>>::reduce(&bytes)
}

/// Scalars at the edges: 1, 2, small, n-1, n-2, (n±1)/2, powers of two near the top.
fn edge_scalars<C: TestCurve>() -> Vec<Scalar<C>> {
    let one = Scalar::<C>::ONE;
    let two = one.double();
    let half = two.invert().unwrap_or(one);
    let mut out = vec![
        one,
        two,
        Scalar::<C>::from(3u64),
        Scalar::<C>::from(0xFFFF_FFFFu64),
        -one,
        -two,
        half,
        half + one,
        -half,
    ];
    let mut p = one;
    for i in 0..(FieldBytes::<C>::default().len() * 8) {
        if i % 61 == 0 || i + 3 >= FieldBytes::<C>::default().len() * 8 {
            out.push(p);
            out.push(-p);
            out.push(p - one);
        }
        p = p.double();
    }
    out
}

/// Digests at the edges: zeros, ones, shorter and longer than the scalar, equal to n, n+1.
fn edge_digests<C: TestCurve>(rng: &mut Rng) -> Vec<Vec<u8>> {
    let n = FieldBytes::<C>::default().len();
    let order_minus_one = (-Scalar::<C>::ONE).to_repr().to_vec();
    let mut order = order_minus_one.clone();
    // n = (n-1) + 1, byte-wise: n-1 is even (n is odd), so the last byte does not overflow.
    if let Some(last) = order.last_mut() {
        *last += 1;
    }
    let mut order_plus_one = order.clone();
    if let Some(last) = order_plus_one.last_mut() {
        *last += 1;
    }
    vec![
        vec![0; n],
        vec![0xFF; n],
        vec![0xFF; 64],
        vec![0; 20],
        rng.bytes(32),
        rng.bytes(48),
        rng.bytes(64),
        order_minus_one,
        order,
        order_plus_one,
        Vec::new(),
    ]
}

struct Tally {
    cases: AtomicUsize,
    accepted: AtomicUsize,
}

/// One comparison: ours without a table, ours with the key's table, the crate's own.
fn check<C: TestCurve>(
    tally: &Tally,
    what: &str,
    q: &AffinePoint<C>,
    table: Option<&KeyTable<C>>,
    digest: &[u8],
    r: &Scalar<C>,
    s: &Scalar<C>,
) {
    let want = C::reference(q, digest, r, s);
    let plain = verify_prehash(q, None, digest, r, s);
    let tabled = table.map_or(want, |t| verify_prehash(q, Some(t), digest, r, s));
    assert!(
        plain == want && tabled == want,
        "{what}: reference {want}, ours {plain} (no table) / {tabled} (table)\n\
         q.x = {:02x?}\ndigest = {digest:02x?}\nr = {:02x?}\ns = {:02x?}",
        q.x(),
        r.to_repr(),
        s.to_repr()
    );
    tally.cases.fetch_add(1, Ordering::Relaxed);
    if want {
        tally.accepted.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sign `z` (a digest reduced to a scalar) with private key `d` and nonce `k`: (r, s), or None
/// for the degenerate nonces a signer would retry.
fn sign<C: TestCurve>(
    d: &Scalar<C>,
    k: &Scalar<C>,
    z: &Scalar<C>,
) -> Option<(Scalar<C>, Scalar<C>)> {
    let big_r = (ProjectivePoint::<C>::GENERATOR * k).to_affine();
    let r = <Scalar<C> as Reduce<FieldBytes<C>>>::reduce(&big_r.x());
    let s = Option::<Scalar<C>>::from(k.invert())? * (*z + r * d);
    (!bool::from(r.is_zero()) && !bool::from(s.is_zero())).then_some((r, s))
}

fn digest_scalar<C: TestCurve>(digest: &[u8]) -> Scalar<C> {
    let mut bytes = FieldBytes::<C>::default();
    let n = bytes.len();
    let take = digest.len().min(n);
    bytes[n - take..].copy_from_slice(&digest[..take]);
    <Scalar<C> as Reduce<FieldBytes<C>>>::reduce(&bytes)
}

/// A batch of cases from one seed: one key (random, or an edge key), then signatures.
fn batch<C: TestCurve>(seed: u64, per_key: usize, tally: &Tally) {
    let mut rng = Rng(seed);
    let edges = edge_scalars::<C>();
    // Private key: mostly random, sometimes an edge (1 = the generator itself, n-1 = -G, ...).
    let mut d = if seed.is_multiple_of(4) {
        edges[(seed / 4) as usize % edges.len()]
    } else {
        scalar::<C>(&mut rng)
    };
    while bool::from(d.is_zero()) {
        d = scalar::<C>(&mut rng);
    }
    let q = (ProjectivePoint::<C>::GENERATOR * d).to_affine();
    let table = KeyTable::new(&q);
    let mut done = 0;
    while done < per_key {
        let digest = match rng.below(8) {
            0 => {
                let e = edge_digests::<C>(&mut rng);
                e[rng.below(e.len() as u64) as usize].clone()
            }
            1 => rng.bytes(32),
            2 => rng.bytes(48),
            _ => rng.bytes(FieldBytes::<C>::default().len()),
        };
        let z = digest_scalar::<C>(&digest);
        let k = if rng.below(16) == 0 {
            edges[rng.below(edges.len() as u64) as usize]
        } else {
            scalar::<C>(&mut rng)
        };
        let Some((r, s)) = sign::<C>(&d, &k, &z) else {
            continue;
        };
        // The valid signature, and s negated (also valid for ECDSA without low-s rules).
        check(tally, "valid", &q, Some(&table), &digest, &r, &s);
        check(tally, "valid, -s", &q, Some(&table), &digest, &r, &(-s));
        // Damaged: r, s or the digest changed; another key.
        let delta = Scalar::<C>::from(1 + rng.below(1 << 20));
        check(
            tally,
            "r changed",
            &q,
            Some(&table),
            &digest,
            &(r + delta),
            &s,
        );
        check(
            tally,
            "s changed",
            &q,
            Some(&table),
            &digest,
            &r,
            &(s + delta),
        );
        let mut other = digest.clone();
        if let Some(b) = other.first_mut() {
            *b ^= 1 << rng.below(8);
        } else {
            other.push(1);
        }
        check(tally, "digest changed", &q, Some(&table), &other, &r, &s);
        let other_q = (ProjectivePoint::<C>::GENERATOR * (d + Scalar::<C>::ONE)).to_affine();
        check(tally, "other key", &other_q, None, &digest, &r, &s);
        // Random (r, s), and edge (r, s).
        let (rr, rs) = (scalar::<C>(&mut rng), scalar::<C>(&mut rng));
        if !bool::from(rr.is_zero()) && !bool::from(rs.is_zero()) {
            check(tally, "random r, s", &q, Some(&table), &digest, &rr, &rs);
        }
        let (er, es) = (
            edges[rng.below(edges.len() as u64) as usize],
            edges[rng.below(edges.len() as u64) as usize],
        );
        check(tally, "edge r, s", &q, Some(&table), &digest, &er, &es);
        // u1·G = -u2·Q: the sum is the identity, which must be refused (z = -r·d).
        let z_cancel = -(r * d);
        check(
            tally,
            "sum is identity",
            &q,
            Some(&table),
            &z_cancel.to_repr(),
            &r,
            &s,
        );
        // u1·G = u2·Q and valid: z = r·d and s = 2·r·d/k, so the final addition doubles.
        if let Some(kinv) = Option::<Scalar<C>>::from(k.invert()) {
            let s_double = (r * d).double() * kinv;
            if !bool::from(s_double.is_zero()) {
                check(
                    tally,
                    "sum doubles",
                    &q,
                    Some(&table),
                    &(r * d).to_repr(),
                    &r,
                    &s_double,
                );
            }
        }
        done += 10;
    }
    x_above_order::<C>(&mut rng, tally);
}

/// A valid signature whose point R has an affine x in [n, p), so that r = x - n: the one case
/// where comparing x with r needs the second candidate r + n. It cannot come from random
/// signing (about 2^-128 of them), so the key is solved for: choose R, s and z, then
/// Q = (s·R - z·G)/r makes (r, s) valid. Both r and its neighbour r + 1 are compared.
fn x_above_order<C: TestCurve>(rng: &mut Rng, tally: &Tally) {
    use p256::elliptic_curve::point::DecompressPoint;
    use p256::elliptic_curve::subtle::Choice;
    let order_minus_one = (-Scalar::<C>::ONE).to_repr();
    let mut step = 1 + rng.below(1 << 16);
    let big_r = loop {
        // x = (n - 1) + step, big-endian, with carry (n + 2^16 < p on both curves).
        let mut x = order_minus_one;
        let mut carry = step;
        for b in x.iter_mut().rev() {
            let sum = u64::from(*b) + (carry & 0xFF);
            *b = sum as u8;
            carry = (carry >> 8) + (sum >> 8);
        }
        let point = AffinePoint::<C>::decompress(&x, Choice::from((step & 1) as u8));
        if let Some(p) = Option::<AffinePoint<C>>::from(point) {
            break p;
        }
        step += 1;
    };
    let r = <Scalar<C> as Reduce<FieldBytes<C>>>::reduce(&big_r.x());
    let Some((q, s, digest)) = solve_key::<C>(rng, &big_r, &r) else {
        return;
    };
    assert!(
        C::reference(&q, &digest, &r, &s),
        "the constructed signature with x(R) >= n is valid for the crate"
    );
    let table = KeyTable::new(&q);
    check(tally, "x(R) >= n", &q, Some(&table), &digest, &r, &s);
    check(
        tally,
        "x(R) >= n, r + 1",
        &q,
        Some(&table),
        &digest,
        &(r + Scalar::<C>::ONE),
        &s,
    );
    wrapped_r_plus_n::<C>(rng, tally);
}

/// An invalid signature that a check of X = (r + n)·Z² computed mod p without its bound would
/// accept: R has a small affine x, and r = x + p - n (so r + n = x + p, which wraps to x). The
/// crate refuses it (x mod n = x is not r); so must the core.
fn wrapped_r_plus_n<C: TestCurve>(rng: &mut Rng, tally: &Tally) {
    use p256::elliptic_curve::point::DecompressPoint;
    use p256::elliptic_curve::subtle::Choice;
    type Fe<C> = <C as p256::elliptic_curve::hazmat::FieldArithmetic>::FieldElement;
    let mut x = 1 + rng.below(1 << 16);
    let big_r = loop {
        let x_bytes = Fe::<C>::from(x).to_repr();
        let point = AffinePoint::<C>::decompress(&x_bytes, Choice::from((x & 1) as u8));
        if let Some(p) = Option::<AffinePoint<C>>::from(point) {
            break p;
        }
        x += 1;
    };
    // x + p - n = x - n in the field (no wrap: x < n); it is below n, so also a scalar.
    let n_minus_1 = Option::<Fe<C>>::from(Fe::<C>::from_repr((-Scalar::<C>::ONE).to_repr()))
        .expect("n - 1 < p");
    let r_bytes = (Fe::<C>::from(x) - n_minus_1 - Fe::<C>::ONE).to_repr();
    let r = Option::<Scalar<C>>::from(Scalar::<C>::from_repr(r_bytes)).expect("x + p - n < n");
    let Some((q, s, digest)) = solve_key::<C>(rng, &big_r, &r) else {
        return;
    };
    assert!(
        !C::reference(&q, &digest, &r, &s),
        "the crate refuses r = x(R) + p - n"
    );
    check(tally, "r = x(R) + p - n", &q, None, &digest, &r, &s);
}

/// A key Q, an s and a digest z for which u1·G + u2·Q is the chosen point `big_r` with this
/// r (s and z random): Q = (s·R - z·G)/r. `None` when s or r is zero.
fn solve_key<C: TestCurve>(
    rng: &mut Rng,
    big_r: &AffinePoint<C>,
    r: &Scalar<C>,
) -> Option<(AffinePoint<C>, Scalar<C>, FieldBytes<C>)> {
    let (s, z) = (scalar::<C>(rng), scalar::<C>(rng));
    if bool::from(s.is_zero()) {
        return None;
    }
    let r_inv = Option::<Scalar<C>>::from(r.invert())?;
    let q = (ProjectivePoint::<C>::from(*big_r) * (s * r_inv)
        - ProjectivePoint::<C>::GENERATOR * (z * r_inv))
        .to_affine();
    Some((q, s, z.to_repr()))
}

fn run<C: TestCurve>(name: &str, seed_base: u64) {
    let total = cases();
    let tally = Tally {
        cases: AtomicUsize::new(0),
        accepted: AtomicUsize::new(0),
    };
    // A key table costs about as much as a few dozen verifications: share one over many cases.
    let per_key = 400;
    let batches = total.div_ceil(per_key);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        break;
                    }
                    batch::<C>(seed_base + b as u64, per_key, &tally);
                }
            });
        }
    });
    let cases = tally.cases.load(Ordering::Relaxed);
    let accepted = tally.accepted.load(Ordering::Relaxed);
    println!(
        "{name}: {cases} cases agreed ({accepted} valid, {} invalid)",
        cases - accepted
    );
    assert!(cases >= total, "{name}: only {cases} of {total} cases ran");
    // Both kinds must be well represented, or the comparison proves little.
    assert!(
        accepted * 5 > cases,
        "{name}: too few valid signatures ({accepted})"
    );
    assert!(
        (cases - accepted) * 2 > cases,
        "{name}: too few invalid ones"
    );
}

#[test]
fn p256_agrees_with_the_crate() {
    run::<p256::NistP256>("P-256", 0x5eed_0256_0000_0000);
}

#[test]
fn p384_agrees_with_the_crate() {
    run::<p384::NistP384>("P-384", 0x5eed_0384_0000_0000);
}
