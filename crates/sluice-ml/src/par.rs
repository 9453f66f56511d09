//! Deterministic parallel reductions and the crate's few numeric conversions.

use std::ops::Range;

use rayon::prelude::*;

/// Rows per chunk of a parallel reduction. Fixed, so that the order of additions (and so every
/// bit of the result) does not depend on the number of threads.
pub(crate) const CHUNK: usize = 4096;

/// Maps every chunk of `0..n` in parallel and folds the results in chunk order.
pub(crate) fn chunked<T, M, F>(n: usize, map: M, mut fold: F) -> Option<T>
where
    T: Send,
    M: Fn(Range<usize>) -> T + Sync,
    F: FnMut(T, T) -> T,
{
    let parts: Vec<T> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| map(c * CHUNK..((c + 1) * CHUNK).min(n)))
        .collect();
    parts.into_iter().reduce(&mut fold)
}

/// Runs `f` on a worker of the current rayon pool (the global one outside any pool), so that the
/// parallel loops inside it are scheduled from a worker rather than each handed over from an
/// outside thread.
pub(crate) fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// Adds `b` into `a`, element by element.
pub(crate) fn add_into(mut a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}

/// A non-negative, integral `f64` (a class index, a rounded count) as an index.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "callers pass small non-negative integral values; negatives and NaN map to 0"
)]
pub(crate) fn to_index(x: f64) -> usize {
    x as usize
}

/// `x` rounded to the nearest count.
pub(crate) fn round_count(x: f64) -> usize {
    to_index(x.round().max(0.0))
}

/// A row index as stored in the tree learners' row lists.
#[expect(
    clippy::cast_possible_truncation,
    reason = "tree learners refuse more than u32::MAX rows"
)]
pub(crate) fn row_u32(i: usize) -> u32 {
    i as u32
}
