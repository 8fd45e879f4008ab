//! Two implementations timed in alternating batches, for a ratio that the machine's swings do
//! not skew.
//!
//! Criterion measures one function after another, each for a few seconds. On a shared virtual
//! machine the speed of the CPU moves by up to 2× within seconds (other tenants on the same
//! physical core), and it does not move every kind of code alike: wasm code loses more than
//! native code when the core is contended. A ratio of two criterion blocks therefore depends
//! on what the neighbours did in each block. Here both sides run in the same round, one batch
//! each, the order swapped every round; every round gives one ratio, and the figure is the
//! median of those ratios with its quartiles (benches/README.md § Paired rounds).

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Rounds per comparison (odd: the median is one of them).
pub const ROUNDS: usize = 41;
/// Rounds run first and thrown away (caches, lazily built tables, the allocator).
const WARM_UP_ROUNDS: usize = 3;
/// The slower side's batch lasts about this long.
const BATCH: Duration = Duration::from_millis(25);

/// The outcome of one comparison; times are per call.
#[derive(Clone, Debug)]
pub struct Paired {
    /// Median time of side `a`, nanoseconds.
    pub a_ns: f64,
    /// Median time of side `b`, nanoseconds.
    pub b_ns: f64,
    /// Median of the per-round ratios b ÷ a.
    pub ratio: f64,
    /// First and third quartile of those ratios.
    pub ratio_quartiles: (f64, f64),
    /// Calls per batch.
    pub batch: usize,
    /// Rounds measured.
    pub rounds: usize,
}

/// Time `a` and `b` (each one call that must return `true`) in [`ROUNDS`] alternating rounds.
///
/// # Panics
/// When a call returns `false`: the verdict being timed must be the intended one.
pub fn compare(mut a: impl FnMut() -> bool, mut b: impl FnMut() -> bool) -> Paired {
    let batch_of = |f: &mut dyn FnMut() -> bool, n: usize| {
        let t = Instant::now();
        for _ in 0..n {
            assert!(black_box(f()), "the call must succeed");
        }
        t.elapsed().as_secs_f64() * 1e9 / n as f64
    };
    // Calibrate each side on batches of at least 5 ms, after a first call that pays for
    // whatever is built on first use (a CA key's table costs about ten verifications).
    let per_call = |f: &mut dyn FnMut() -> bool| {
        batch_of(f, 1);
        let mut n = 1;
        loop {
            let t = batch_of(f, n);
            if t * n as f64 >= 5e6 || n >= 1 << 20 {
                return t;
            }
            n *= 2;
        }
    };
    let slower = per_call(&mut a).max(per_call(&mut b));
    let batch = ((BATCH.as_secs_f64() * 1e9 / slower) as usize).max(1);
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..WARM_UP_ROUNDS + ROUNDS {
        let (x, y) = if round % 2 == 0 {
            let x = batch_of(&mut a, batch);
            (x, batch_of(&mut b, batch))
        } else {
            let y = batch_of(&mut b, batch);
            (batch_of(&mut a, batch), y)
        };
        if round >= WARM_UP_ROUNDS {
            ta.push(x);
            tb.push(y);
            ratios.push(y / x);
        }
    }
    Paired {
        a_ns: quantile(&mut ta, 0.5),
        b_ns: quantile(&mut tb, 0.5),
        ratio: quantile(&mut ratios, 0.5),
        ratio_quartiles: (quantile(&mut ratios, 0.25), quantile(&mut ratios, 0.75)),
        batch,
        rounds: ROUNDS,
    }
}

/// The `q` quantile by nearest rank (NaN for no values).
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let Some(last) = values.len().checked_sub(1) else {
        return f64::NAN;
    };
    let i = ((last as f64) * q).round() as usize;
    values.get(i.min(last)).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&mut v, 0.5), 3.0);
        assert_eq!(quantile(&mut v, 0.25), 2.0);
        assert_eq!(quantile(&mut v, 0.75), 4.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }
}
