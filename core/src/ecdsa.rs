//! ECDSA verification for public data (P-256 and P-384).
//!
//! Everything a verifier touches is public: the key, the message and the signature. So unlike
//! signing, verification may run in variable time, and this module trades the curve crates'
//! constant-time general-purpose scalar multiplication for:
//! - the generator's multiple from a fixed table of signed 7-bit windows (no doublings),
//!   computed once per process;
//! - the key's multiple by width-5 wNAF over Jacobian coordinates with the `a = -3` doubling,
//!   or, for a CA key that verifies many signatures, from the same kind of fixed table
//!   ([`KeyTable`], cached by the trust store);
//! - variable-time inversions, and the final x-coordinate compared in Jacobian form (X = r·Z²),
//!   with no inversion.
//!
//! It is built only on the crates' public field and group types (`FieldArithmetic`, the
//! scalar types, `AffinePoint`); no field arithmetic is written here. The result must equal
//! the crates' own `verify_prehash` on every input: `tests/ecdsa_differential.rs` checks that
//! over random and adversarial signatures.

use std::sync::OnceLock;

use p256::elliptic_curve::bigint::Invert as _;
use p256::elliptic_curve::ff::{Field, PrimeField};
use p256::elliptic_curve::hazmat::FieldArithmetic;
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::{CurveArithmetic, FieldBytes};
use primeorder::{AffinePoint, PrimeCurveParams};

type Fe<C> = <C as FieldArithmetic>::FieldElement;
type Scalar<C> = <C as CurveArithmetic>::Scalar;

/// Width of the signed windows of the fixed tables: 2^(7-1) = 64 points per window. For P-256
/// that is 37 windows (152 KB, built once in about 4 ms); each multiplication is then about 37
/// additions and no doubling.
const TABLE_WINDOW: usize = 7;

/// Width of the wNAF of a key without a table: 8 precomputed odd multiples, one addition per
/// 6 bits on average.
const WNAF_WIDTH: usize = 5;

/// The curves this module serves.
pub trait VerifyCurve: PrimeCurveParams<Scalar: Reduce<FieldBytes<Self>>> {
    /// The generator's table, built on first use.
    fn generator_table() -> &'static KeyTable<Self>;
}

impl VerifyCurve for p256::NistP256 {
    fn generator_table() -> &'static KeyTable<Self> {
        static TABLE: OnceLock<KeyTable<p256::NistP256>> = OnceLock::new();
        TABLE.get_or_init(|| KeyTable::new(&AffinePoint::GENERATOR))
    }
}

impl VerifyCurve for p384::NistP384 {
    fn generator_table() -> &'static KeyTable<Self> {
        static TABLE: OnceLock<KeyTable<p384::NistP384>> = OnceLock::new();
        TABLE.get_or_init(|| KeyTable::new(&AffinePoint::GENERATOR))
    }
}

/// A finite point in affine coordinates.
#[derive(Clone, Copy)]
struct Affine<C: PrimeCurveParams> {
    x: Fe<C>,
    y: Fe<C>,
}

impl<C: PrimeCurveParams> Affine<C> {
    /// `None` for the identity.
    fn from_point(p: &AffinePoint<C>) -> Option<Self> {
        if bool::from(p.is_identity()) {
            return None;
        }
        let x = Option::from(Fe::<C>::from_repr(p.x()))?;
        let y = Option::from(Fe::<C>::from_repr(p.y()))?;
        Some(Self { x, y })
    }
}

/// Jacobian coordinates: (X, Y, Z) is the affine (X/Z², Y/Z³); Z = 0 is the identity.
#[derive(Clone, Copy)]
struct Jacobian<C: PrimeCurveParams> {
    x: Fe<C>,
    y: Fe<C>,
    z: Fe<C>,
}

impl<C: PrimeCurveParams> Jacobian<C> {
    fn identity() -> Self {
        Self {
            x: Fe::<C>::ONE,
            y: Fe::<C>::ONE,
            z: Fe::<C>::ZERO,
        }
    }

    fn from_affine(p: &Affine<C>) -> Self {
        Self {
            x: p.x,
            y: p.y,
            z: Fe::<C>::ONE,
        }
    }

    fn is_identity(&self) -> bool {
        self.z.is_zero().into()
    }

    /// 2P for a curve with a = -3 (both NIST curves; a unit test checks it): "dbl-2001-b",
    /// 3M + 5S. Prime-order curves have no point with y = 0.
    fn double(&self) -> Self {
        if self.is_identity() {
            return *self;
        }
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x * gamma;
        let t = (self.x - delta) * (self.x + delta);
        let alpha = t.double() + t;
        let beta4 = beta.double().double();
        let x3 = alpha.square() - beta4.double();
        let z3 = (self.y + self.z).square() - gamma - delta;
        let y3 = alpha * (beta4 - x3) - gamma.square().double().double().double();
        Self {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// P + Q, or P - Q when `negate`, for an affine Q: "madd-2004-hmv" with the exceptional
    /// cases (P = ±Q, P = O) handled by branching, which public data allows.
    fn add_affine(&self, q: &Affine<C>, negate: bool) -> Self {
        let qy = if negate { -q.y } else { q.y };
        if self.is_identity() {
            return Self {
                x: q.x,
                y: qy,
                z: Fe::<C>::ONE,
            };
        }
        let z1z1 = self.z.square();
        let u2 = q.x * z1z1;
        let s2 = qy * self.z * z1z1;
        let h = u2 - self.x;
        let r = s2 - self.y;
        if bool::from(h.is_zero()) {
            return if bool::from(r.is_zero()) {
                self.double()
            } else {
                Self::identity()
            };
        }
        let hh = h.square();
        let hhh = h * hh;
        let v = self.x * hh;
        let x3 = r.square() - hhh - v.double();
        let y3 = r * (v - x3) - self.y * hhh;
        Self {
            x: x3,
            y: y3,
            z: self.z * h,
        }
    }

    /// P + Q for two Jacobian points: "add-1998-cmo-2" with the exceptional cases.
    fn add(&self, q: &Self) -> Self {
        if self.is_identity() {
            return *q;
        }
        if q.is_identity() {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x * z2z2;
        let u2 = q.x * z1z1;
        let s1 = self.y * q.z * z2z2;
        let s2 = q.y * self.z * z1z1;
        let h = u2 - u1;
        let r = s2 - s1;
        if bool::from(h.is_zero()) {
            return if bool::from(r.is_zero()) {
                self.double()
            } else {
                Self::identity()
            };
        }
        let hh = h.square();
        let hhh = h * hh;
        let v = u1 * hh;
        let x3 = r.square() - hhh - v.double();
        let y3 = r * (v - x3) - s1 * hhh;
        Self {
            x: x3,
            y: y3,
            z: self.z * q.z * h,
        }
    }
}

/// Affine forms of finite Jacobian points with one inversion (Montgomery's trick). `None` if
/// any is the identity (never the case for the multiples built here).
fn normalize<C: PrimeCurveParams>(points: &[Jacobian<C>]) -> Option<Vec<Affine<C>>> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = Fe::<C>::ONE;
    for p in points {
        if p.is_identity() {
            return None;
        }
        prefix.push(acc);
        acc *= p.z;
    }
    let mut inv: Fe<C> = Option::from(acc.invert_vartime())?;
    let mut out = vec![
        Affine {
            x: Fe::<C>::ZERO,
            y: Fe::<C>::ZERO,
        };
        points.len()
    ];
    for (i, p) in points.iter().enumerate().rev() {
        let zinv = inv * prefix[i];
        inv *= p.z;
        let zinv2 = zinv.square();
        out[i] = Affine {
            x: p.x * zinv2,
            y: p.y * zinv2 * zinv,
        };
    }
    Some(out)
}

/// Bits of a scalar, least significant first, from its big-endian encoding.
struct Bits<'a>(&'a [u8]);

impl Bits<'_> {
    fn len(&self) -> usize {
        self.0.len() * 8
    }

    /// `count` (at most 8) bits starting at bit `at`; bits past the end are zero.
    fn window(&self, at: usize, count: usize) -> u32 {
        let mut v = 0u32;
        for i in (0..count).rev() {
            let bit = at + i;
            let byte = self
                .0
                .len()
                .checked_sub(1 + bit / 8)
                .and_then(|b| self.0.get(b));
            v = (v << 1) | byte.map_or(0, |b| u32::from((b >> (bit % 8)) & 1));
        }
        v
    }
}

/// Signed base-2^w digits, least significant first, each in [-2^(w-1), 2^(w-1)].
fn signed_windows(k: &Bits<'_>, w: usize, count: usize) -> Vec<i32> {
    let mut digits = Vec::with_capacity(count);
    let mut carry = 0i32;
    let half = 1i32 << (w - 1);
    for i in 0..count {
        // At most 8-bit windows: the value fits in i32.
        let mut d = k.window(i * w, w) as i32 + carry;
        carry = 0;
        if d > half {
            d -= 1 << w;
            carry = 1;
        }
        digits.push(d);
    }
    digits
}

/// Width-w NAF, least significant first: every non-zero digit is odd with |d| < 2^(w-1), and
/// any w consecutive digits hold at most one non-zero.
fn wnaf(k: &Bits<'_>, w: usize) -> Vec<i32> {
    // Past the scalar's bits only a final carry can make a digit.
    let mut naf = vec![0i32; k.len() + w + 1];
    let full = 1i32 << w;
    let half = 1i32 << (w - 1);
    let mut carry = 0i32;
    let mut pos = 0;
    while pos < naf.len() {
        // At most 8-bit windows: the value fits in i32.
        let window = carry + k.window(pos, w) as i32;
        if window & 1 == 0 {
            // Even: this digit is 0. A carry of 1 here met a 1 bit, so it carries on.
            pos += 1;
            continue;
        }
        let (digit, next) = if window < half {
            (window, 0)
        } else {
            (window - full, 1)
        };
        if let Some(slot) = naf.get_mut(pos) {
            *slot = digit;
        }
        carry = next;
        pos += w;
    }
    naf
}

/// Signed-window multiples of one point: window i holds j·2^(7i)·P for j = 1..=64, affine.
/// A multiplication is one mixed addition per non-zero window and no doubling.
pub struct KeyTable<C: PrimeCurveParams> {
    windows: Vec<Vec<Affine<C>>>,
}

impl<C: PrimeCurveParams> std::fmt::Debug for KeyTable<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable")
            .field("windows", &self.windows.len())
            .finish_non_exhaustive()
    }
}

impl<C: PrimeCurveParams> KeyTable<C> {
    /// Number of windows for this curve's scalars (plus one for the last carry).
    fn window_count() -> usize {
        (scalar_bits::<C>() + 1).div_ceil(TABLE_WINDOW)
    }

    /// The table of `point`; empty (unusable, never consulted) for the identity.
    pub fn new(point: &AffinePoint<C>) -> Self {
        let Some(p) = Affine::from_point(point) else {
            return Self {
                windows: Vec::new(),
            };
        };
        let per_window = 1usize << (TABLE_WINDOW - 1);
        let count = Self::window_count();
        let mut all = Vec::with_capacity(count * per_window);
        let mut base = Jacobian::from_affine(&p);
        for _ in 0..count {
            // base = 2^(7i)·P; the window's entries are base, 2·base, ..., 64·base.
            let base_affine = normalize(&[base]).and_then(|v| v.into_iter().next());
            let Some(b) = base_affine else {
                return Self {
                    windows: Vec::new(),
                };
            };
            let mut acc = Jacobian::from_affine(&b);
            for _ in 0..per_window {
                all.push(acc);
                acc = acc.add_affine(&b, false);
            }
            // acc is now 65·base; the next base is 128·base.
            for _ in 0..TABLE_WINDOW {
                base = base.double();
            }
        }
        let Some(affine) = normalize(&all) else {
            return Self {
                windows: Vec::new(),
            };
        };
        Self {
            windows: affine.chunks(per_window).map(<[_]>::to_vec).collect(),
        }
    }

    /// Bytes this table holds (for cache accounting).
    pub fn bytes(&self) -> usize {
        self.windows.iter().map(Vec::len).sum::<usize>() * std::mem::size_of::<Affine<C>>()
    }

    /// k·P, or `None` when the table is empty.
    fn mul(&self, k: &Bits<'_>) -> Option<Jacobian<C>> {
        if self.windows.is_empty() {
            return None;
        }
        let digits = signed_windows(k, TABLE_WINDOW, self.windows.len());
        let mut acc = Jacobian::identity();
        for (window, d) in self.windows.iter().zip(digits) {
            if d != 0 {
                let entry = window.get(d.unsigned_abs() as usize - 1)?;
                acc = acc.add_affine(entry, d < 0);
            }
        }
        Some(acc)
    }
}

fn scalar_bits<C: PrimeCurveParams>() -> usize {
    FieldBytes::<C>::default().len() * 8
}

/// k·P by width-5 wNAF.
fn mul_wnaf<C: PrimeCurveParams>(p: &Affine<C>, k: &Bits<'_>) -> Option<Jacobian<C>> {
    // Odd multiples P, 3P, ..., 15P, affine.
    let twice = normalize(&[Jacobian::from_affine(p).double()])?;
    let twice = twice.first()?;
    let mut odd = Vec::with_capacity(1 << (WNAF_WIDTH - 2));
    let mut acc = Jacobian::from_affine(p);
    for _ in 0..(1 << (WNAF_WIDTH - 2)) {
        odd.push(acc);
        acc = acc.add_affine(twice, false);
    }
    let odd = normalize(&odd)?;
    let naf = wnaf(k, WNAF_WIDTH);
    let top = naf.iter().rposition(|d| *d != 0);
    let mut r = Jacobian::identity();
    if let Some(top) = top {
        for d in naf[..=top].iter().rev() {
            r = r.double();
            if *d != 0 {
                let entry = odd.get((d.unsigned_abs() as usize) / 2)?;
                r = r.add_affine(entry, *d < 0);
            }
        }
    }
    Some(r)
}

/// Verify an ECDSA signature (r, s) over a message digest with the public key `q`, using
/// `q_table` (the key's [`KeyTable`]) when there is one. `digest` is truncated or zero-padded
/// to the scalar size and reduced, as SEC 1 and the crates' `verify_prehash` do. Returns true
/// only for a valid signature; r and s come from a parsed signature (both in [1, n-1]).
pub fn verify_prehash<C: VerifyCurve>(
    q: &AffinePoint<C>,
    q_table: Option<&KeyTable<C>>,
    digest: &[u8],
    r: &Scalar<C>,
    s: &Scalar<C>,
) -> bool {
    let Some(q_affine) = Affine::from_point(q) else {
        return false;
    };
    if bool::from(r.is_zero()) || bool::from(s.is_zero()) {
        return false;
    }
    let z = digest_scalar::<C>(digest);
    let Some(s_inv) = Option::<Scalar<C>>::from(s.invert_vartime()) else {
        return false;
    };
    let u1 = (z * s_inv).to_repr();
    let u2 = (*r * s_inv).to_repr();
    let Some(g_part) = C::generator_table().mul(&Bits(&u1)) else {
        return false;
    };
    let q_part = match q_table {
        Some(t) => t.mul(&Bits(&u2)),
        None => mul_wnaf(&q_affine, &Bits(&u2)),
    };
    let Some(q_part) = q_part else {
        return false;
    };
    let sum = g_part.add(&q_part);
    if sum.is_identity() {
        return false;
    }
    x_matches(&sum, r)
}

/// Whether the affine x of the finite point `p`, reduced mod n, is `r`, without converting `p`
/// to affine form (no inversion). The affine x is X/Z² in [0, p), and n < p on both curves, so
/// it reduces to r exactly when it is r or r + n; the latter only when r + n < p. Each is
/// checked as X = candidate·Z².
fn x_matches<C: VerifyCurve>(p: &Jacobian<C>, r: &Scalar<C>) -> bool {
    // r < n < p, so r is also a field element.
    let Some(r_fe) = Option::<Fe<C>>::from(Fe::<C>::from_repr(r.to_repr())) else {
        return false;
    };
    let z2 = p.z.square();
    if p.x == r_fe * z2 {
        return true;
    }
    // n - 1 encodes -1 in the scalar field; n < p, so n is a field element too.
    let n_minus_1 = (-Scalar::<C>::ONE).to_repr();
    let Some(n_minus_1_fe) = Option::<Fe<C>>::from(Fe::<C>::from_repr(n_minus_1)) else {
        return false;
    };
    // r + n mod p. Without wrapping it is at least n; wrapped it is r + n - p < r < n. So
    // r + n < p exactly when the field sum is at least n.
    let rn = r_fe + n_minus_1_fe + Fe::<C>::ONE;
    if rn.to_repr().as_slice() <= n_minus_1.as_slice() {
        return false;
    }
    p.x == rn * z2
}

/// The leftmost bits of `digest` as a scalar (SEC 1 4.1.4 step 5), reduced mod n.
fn digest_scalar<C: VerifyCurve>(digest: &[u8]) -> Scalar<C> {
    let mut bytes = FieldBytes::<C>::default();
    let n = bytes.len();
    let take = digest.len().min(n);
    // Shorter digests are right-aligned (leading zeros); longer ones keep their first n bytes.
    if let (Some(dst), Some(src)) = (bytes.get_mut(n - take..), digest.get(..take)) {
        dst.copy_from_slice(src);
    }
    <Scalar<C> as Reduce<FieldBytes<C>>>::reduce(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use primeorder::ProjectivePoint;

    fn a_is_minus_three<C: PrimeCurveParams>() -> bool {
        C::EQUATION_A == -Fe::<C>::from(3u64)
    }

    #[test]
    fn both_curves_have_a_minus_three() {
        assert!(a_is_minus_three::<p256::NistP256>());
        assert!(a_is_minus_three::<p384::NistP384>());
    }

    fn affine_of<C: PrimeCurveParams>(j: &Jacobian<C>) -> Option<(Fe<C>, Fe<C>)> {
        let a = normalize(&[*j])?;
        a.first().map(|p| (p.x, p.y))
    }

    fn crate_affine<C: PrimeCurveParams>(p: &ProjectivePoint<C>) -> Option<(Fe<C>, Fe<C>)> {
        Affine::from_point(&p.to_affine()).map(|a| (a.x, a.y))
    }

    #[test]
    fn point_formulas_match_the_crate() {
        type C = p256::NistP256;
        let g = ProjectivePoint::<C>::GENERATOR;
        let p = g * p256::Scalar::from(7u64);
        let q = g * p256::Scalar::from(11u64);
        let pa = Affine::from_point(&p.to_affine()).expect("finite");
        let qa = Affine::from_point(&q.to_affine()).expect("finite");
        let pj = Jacobian::from_affine(&pa);
        let qj = Jacobian::from_affine(&qa).double(); // a Jacobian point with Z != 1
        assert_eq!(affine_of(&pj.double()), crate_affine(&(p + p)));
        assert_eq!(
            affine_of(&pj.add_affine(&qa, false)),
            crate_affine(&(p + q))
        );
        assert_eq!(affine_of(&pj.add_affine(&qa, true)), crate_affine(&(p - q)));
        assert_eq!(affine_of(&pj.add(&qj)), crate_affine(&(p + q + q)));
        // Exceptional cases: P + P doubles, P - P is the identity, O + Q is Q.
        assert_eq!(
            affine_of(&pj.add_affine(&pa, false)),
            crate_affine(&(p + p))
        );
        assert!(pj.add_affine(&pa, true).is_identity());
        assert!(
            pj.add(&Jacobian::from_affine(&Affine { x: pa.x, y: -pa.y }))
                .is_identity()
        );
        assert_eq!(
            affine_of(&Jacobian::identity().add_affine(&qa, false)),
            Some((qa.x, qa.y))
        );
    }

    /// The value a digit string stands for, as a scalar.
    fn value(digits: &[i32], w: usize) -> p256::Scalar {
        let mut acc = p256::Scalar::ZERO;
        for d in digits.iter().rev() {
            for _ in 0..w {
                acc = acc.double();
            }
            let m = p256::Scalar::from(u64::from(d.unsigned_abs()));
            acc += if *d < 0 { -m } else { m };
        }
        acc
    }

    #[test]
    fn recodings_keep_the_value() {
        let mut k = p256::Scalar::from(0x1234_5678_9abc_def0u64);
        for _ in 0..50 {
            k = k.square() + k + p256::Scalar::ONE;
            for edge in [k, -k, p256::Scalar::ONE, -p256::Scalar::ONE] {
                let repr = edge.to_repr();
                let bits = Bits(&repr);
                let windows = KeyTable::<p256::NistP256>::window_count();
                let signed = signed_windows(&bits, TABLE_WINDOW, windows);
                assert_eq!(value(&signed, TABLE_WINDOW), edge);
                assert!(signed.iter().all(|d| d.unsigned_abs() <= 64));
                let naf = wnaf(&bits, WNAF_WIDTH);
                assert_eq!(value(&naf, 1), edge);
                for (i, d) in naf.iter().enumerate() {
                    if *d != 0 {
                        assert!(d % 2 != 0 && d.unsigned_abs() < 16);
                        assert!(naf[i + 1..].iter().take(WNAF_WIDTH - 1).all(|x| *x == 0));
                    }
                }
            }
        }
    }
}
