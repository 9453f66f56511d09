//! Deterministic parallel reductions and the crate's few numeric conversions.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Pauses (`spin_loop` hints, a few nanoseconds each) between a spinning worker's looks for work.
const SPIN_PAUSES: usize = 16;
/// Looks without work (about a millisecond) after which a spinning worker also offers its CPU to
/// the system's other threads at each look (it stays runnable: nothing has to wake it).
const LOOKS_BEFORE_YIELDING: u32 = 1 << 12;

/// [`in_pool`], with the pool's other workers kept awake until `f` returns: each spins, taking
/// the pool's work as soon as there is some, instead of going to sleep when it runs out, as
/// OpenMP's threads do between parallel loops. Boosting opens several short parallel loops at
/// every split; a worker asleep between them must be woken for each (on a virtual machine, an
/// interrupt to an idle virtual CPU), which cost more than its half of the loop gained.
pub(crate) fn in_pool_awake<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let done = AtomicBool::new(false);
    rayon::scope(|s| {
        let owner = rayon::current_thread_index();
        let done = &done;
        for _ in 1..rayon::current_num_threads() {
            s.spawn(move |_| {
                // Taken by the worker running `f` itself (when it waits with nothing else to
                // do), spinning would never let `f` go on.
                if rayon::current_thread_index() == owner {
                    return;
                }
                let mut idle = 0u32;
                while !done.load(Ordering::Acquire) {
                    if rayon::yield_now() == Some(rayon::Yield::Executed) {
                        idle = 0;
                        continue;
                    }
                    // A pause before looking again, so that looking does not slow the worker
                    // whose queue it reads.
                    for _ in 0..SPIN_PAUSES {
                        std::hint::spin_loop();
                    }
                    idle = idle.saturating_add(1);
                    if idle > LOOKS_BEFORE_YIELDING {
                        std::thread::yield_now();
                    }
                }
            });
        }
        // Set however `f` ends: a panic in it must reach the caller, not leave the spinners
        // spinning and the scope waiting for them.
        let _stop = SetOnDrop(done);
        f()
    })
}

/// Sets its flag when dropped.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Parallel work nested in parallel work, with a known sum.
    fn work() -> u64 {
        (0..64u64)
            .into_par_iter()
            .map(|i| (0..1000u64).into_par_iter().map(|j| i * j).sum::<u64>())
            .sum()
    }

    #[test]
    fn awake_workers_let_the_work_finish_alone_side_by_side_and_nested() {
        let expected: u64 = (0..64u64).map(|i| i * 999 * 1000 / 2).sum();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            assert_eq!(pool.install(|| in_pool_awake(work)), expected);
            // Two fits at once in one pool, and one inside another.
            let (a, b) =
                pool.install(|| rayon::join(|| in_pool_awake(work), || in_pool_awake(work)));
            assert_eq!((a, b), (expected, expected), "{threads} threads");
            let nested = pool.install(|| in_pool_awake(|| in_pool_awake(work) + work()));
            assert_eq!(nested, 2 * expected, "{threads} threads");
        }
        // From outside any pool.
        assert_eq!(in_pool_awake(work), expected);
    }

    #[test]
    fn a_panic_inside_reaches_the_caller_and_stops_the_spinners() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let caught = pool.install(|| {
            std::panic::catch_unwind(|| {
                in_pool_awake(|| {
                    work();
                    panic!("inside the fit");
                })
            })
        });
        assert!(caught.is_err());
        // The pool is free again: its workers stopped spinning.
        let expected: u64 = (0..64u64).map(|i| i * 999 * 1000 / 2).sum();
        assert_eq!(pool.install(work), expected);
    }
}
