//! Histograms of per-row statistics over the 256 bins of one feature.
//!
//! Each row carries `stride` statistics: `channels` sums (gradients, or target values, or
//! one-hot class weights), then a hessian (or weight), then optionally a row count. Without the
//! count, the hessian is the count (every row has hessian 1).

use rayon::prelude::*;

use super::binning::MISSING_BIN;

/// Bins per feature in a histogram: 255 for values and the last for missing values.
pub(crate) const N_BINS: usize = 256;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) channels: usize,
    /// Whether a separate count follows the hessian.
    pub(crate) count: bool,
}

impl Layout {
    pub(crate) fn stride(self) -> usize {
        self.channels + 1 + usize::from(self.count)
    }

    /// The index of the hessian (or weight) in a row's statistics.
    pub(crate) fn hess(self) -> usize {
        self.channels
    }

    /// The index of the row count (the hessian when there is no separate count).
    pub(crate) fn count(self) -> usize {
        self.stride() - 1
    }
}

/// Adds the statistics of `rows` (`stats` holding theirs in the same order) into `hist`
/// (`N_BINS * stride` values) by their bin in `column`.
pub(crate) fn accumulate(
    hist: &mut [f64],
    column: &[u8],
    rows: &[u32],
    stats: &[f64],
    stride: usize,
) {
    match stride {
        1 => fixed::<1>(hist, column, rows, stats),
        2 => fixed::<2>(hist, column, rows, stats),
        3 => fixed::<3>(hist, column, rows, stats),
        4 => fixed::<4>(hist, column, rows, stats),
        5 => fixed::<5>(hist, column, rows, stats),
        6 => fixed::<6>(hist, column, rows, stats),
        _ => {
            for (&r, s) in rows.iter().zip(stats.chunks_exact(stride)) {
                let b = usize::from(column[r as usize]);
                for (h, v) in hist[b * stride..(b + 1) * stride].iter_mut().zip(s) {
                    *h += v;
                }
            }
        }
    }
}

fn fixed<const S: usize>(hist: &mut [f64], column: &[u8], rows: &[u32], stats: &[f64]) {
    let (hist, _) = hist.as_chunks_mut::<S>();
    let hist: &mut [[f64; S]; N_BINS] = hist.try_into().expect("a histogram has 256 bins");
    let (stats, _) = stats.as_chunks::<S>();
    for (&r, s) in rows.iter().zip(stats) {
        let h = &mut hist[usize::from(column[r as usize])];
        for j in 0..S {
            h[j] += s[j];
        }
    }
}

/// The statistics of `rows` (by row index in `stats`), in order, into `out`.
pub(crate) fn gather(out: &mut Vec<f64>, stats: &[f64], rows: &[u32], stride: usize) {
    out.clear();
    out.resize(rows.len() * stride, 0.0);
    if rows.len() >= PARALLEL_GATHER {
        out.par_chunks_mut(PARALLEL_GATHER * stride)
            .zip(rows.par_chunks(PARALLEL_GATHER))
            .for_each(|(o, r)| gather_into(o, stats, r, stride));
    } else {
        gather_into(out, stats, rows, stride);
    }
}

/// Rows per parallel task when gathering many rows.
const PARALLEL_GATHER: usize = 1 << 13;

fn gather_into(out: &mut [f64], stats: &[f64], rows: &[u32], stride: usize) {
    match stride {
        1 => gather_fixed::<1>(out, stats, rows),
        2 => gather_fixed::<2>(out, stats, rows),
        3 => gather_fixed::<3>(out, stats, rows),
        4 => gather_fixed::<4>(out, stats, rows),
        5 => gather_fixed::<5>(out, stats, rows),
        6 => gather_fixed::<6>(out, stats, rows),
        _ => {
            for (o, &r) in out.chunks_exact_mut(stride).zip(rows) {
                let r = r as usize;
                o.copy_from_slice(&stats[r * stride..(r + 1) * stride]);
            }
        }
    }
}

fn gather_fixed<const S: usize>(out: &mut [f64], stats: &[f64], rows: &[u32]) {
    let (out, _) = out.as_chunks_mut::<S>();
    let (stats, _) = stats.as_chunks::<S>();
    for (o, &r) in out.iter_mut().zip(rows) {
        *o = stats[r as usize];
    }
}

/// A sort key: the bin above bit 32, the row's position in its node below.
pub(crate) fn pack(bin: u8, position: usize) -> u64 {
    (u64::from(bin) << 32) | position as u64
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "unpacks what `pack` stored: a u8 above bit 32, a u32 below"
)]
fn unpack(key: u64) -> (u8, usize) {
    ((key >> 32) as u8, (key as u32) as usize)
}

/// The sparse histogram of a small node: `keys` (from [`pack`], sorted) grouped by bin into
/// `bins` and `sums` (one stride per bin, rows added in position order) and `missing`.
pub(crate) fn group_sorted(
    keys: &[u64],
    stats: &[f64],
    stride: usize,
    bins: &mut Vec<u8>,
    sums: &mut Vec<f64>,
    missing: &mut [f64],
) {
    bins.clear();
    sums.clear();
    match stride {
        2 => group_fixed::<2>(keys, stats, bins, sums, missing),
        3 => group_fixed::<3>(keys, stats, bins, sums, missing),
        4 => group_fixed::<4>(keys, stats, bins, sums, missing),
        5 => group_fixed::<5>(keys, stats, bins, sums, missing),
        _ => {
            missing.fill(0.0);
            for &key in keys {
                let (bin, i) = unpack(key);
                let s = &stats[i * stride..(i + 1) * stride];
                let target = if bin == MISSING_BIN {
                    &mut missing[..]
                } else {
                    if bins.last() != Some(&bin) {
                        bins.push(bin);
                        sums.resize(sums.len() + stride, 0.0);
                    }
                    let at = sums.len() - stride;
                    &mut sums[at..]
                };
                for (t, v) in target.iter_mut().zip(s) {
                    *t += v;
                }
            }
        }
    }
}

fn group_fixed<const S: usize>(
    keys: &[u64],
    stats: &[f64],
    bins: &mut Vec<u8>,
    sums: &mut Vec<f64>,
    missing: &mut [f64],
) {
    let (stats, _) = stats.as_chunks::<S>();
    let mut miss = [0.0; S];
    // The open group stays in registers until the next bin starts.
    let mut current: Option<(u8, [f64; S])> = None;
    for &key in keys {
        let (bin, i) = unpack(key);
        let s = stats[i];
        if bin == MISSING_BIN {
            for j in 0..S {
                miss[j] += s[j];
            }
            continue;
        }
        match &mut current {
            Some((b, acc)) if *b == bin => {
                for j in 0..S {
                    acc[j] += s[j];
                }
            }
            _ => {
                if let Some((b, acc)) = current {
                    bins.push(b);
                    sums.extend_from_slice(&acc);
                }
                current = Some((bin, s));
            }
        }
    }
    if let Some((b, acc)) = current {
        bins.push(b);
        sums.extend_from_slice(&acc);
    }
    missing.copy_from_slice(&miss);
}

/// [`accumulate`] for every row in order (`stats` holding every row's statistics).
pub(crate) fn accumulate_dense(hist: &mut [f64], column: &[u8], stats: &[f64], stride: usize) {
    fn fixed<const S: usize>(hist: &mut [f64], column: &[u8], stats: &[f64]) {
        let (hist, _) = hist.as_chunks_mut::<S>();
        let hist: &mut [[f64; S]; N_BINS] = hist.try_into().expect("a histogram has 256 bins");
        let (stats, _) = stats.as_chunks::<S>();
        for (&b, s) in column.iter().zip(stats) {
            let h = &mut hist[usize::from(b)];
            for j in 0..S {
                h[j] += s[j];
            }
        }
    }
    match stride {
        2 => fixed::<2>(hist, column, stats),
        3 => fixed::<3>(hist, column, stats),
        4 => fixed::<4>(hist, column, stats),
        _ => {
            for (&b, s) in column.iter().zip(stats.chunks_exact(stride)) {
                let b = usize::from(b);
                for (h, v) in hist[b * stride..(b + 1) * stride].iter_mut().zip(s) {
                    *h += v;
                }
            }
        }
    }
}

/// `parent -= child`, leaving the sibling's histogram in `parent`.
pub(crate) fn subtract(parent: &mut [f64], child: &[f64]) {
    for (p, c) in parent.iter_mut().zip(child) {
        *p -= c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_by_bin_and_subtracts() {
        let column = [0u8, 2, 2, 255];
        let stats = [1.0, 1.0, 2.0, 1.0, 3.0, 1.0, 4.0, 1.0];
        let mut all = vec![0.0; N_BINS * 2];
        accumulate(&mut all, &column, &[0, 1, 2, 3], &stats, 2);
        assert_eq!(&all[..6], [1.0, 1.0, 0.0, 0.0, 5.0, 2.0]);
        assert_eq!(&all[255 * 2..], [4.0, 1.0]);
        let mut part = vec![0.0; N_BINS * 2];
        accumulate(&mut part, &column, &[1, 3], &[2.0, 1.0, 4.0, 1.0], 2);
        subtract(&mut all, &part);
        assert_eq!(&all[..6], [1.0, 1.0, 0.0, 0.0, 3.0, 1.0]);
        assert_eq!(&all[255 * 2..], [0.0, 0.0]);
    }
}
