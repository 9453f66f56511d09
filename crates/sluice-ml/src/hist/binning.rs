//! Features binned once to `u8`: up to 255 bins by quantiles, and bin 255 for missing values.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// The bin of a missing (`NaN`) value, in every feature.
pub(crate) const MISSING_BIN: u8 = 255;
/// At most this many bins for non-missing values, `0..=254`.
pub(crate) const MAX_BINS: usize = 255;
/// Quantiles are taken on at most this many rows, as scikit-learn does.
const QUANTILE_SAMPLE: usize = 200_000;

/// The bin edges of every feature, fitted on the training data and saved with the model so that
/// prediction bins raw `f64` features exactly as training did.
///
/// A value `x` falls in bin `b`, the number of edges strictly below `x` (so `x <= edges[b]`), and a
/// missing value in bin 255.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinMapper {
    edges: Vec<Vec<f64>>,
}

/// Column-major binned features.
pub(crate) struct Binned {
    pub(crate) columns: Vec<Vec<u8>>,
    /// Bins in use for non-missing values, per feature.
    pub(crate) n_bins: Vec<u8>,
}

impl BinMapper {
    /// Edges for every column: midpoints between distinct values when there are at most
    /// `max_bins` of them, else `max_bins`-quantiles (midpoint interpolation), deduplicated.
    pub(crate) fn fit(columns: &[Vec<f64>], max_bins: usize, seed: u64) -> Self {
        let n = columns.first().map_or(0, Vec::len);
        let sample: Option<Vec<usize>> = (n > QUANTILE_SAMPLE).then(|| {
            let mut order: Vec<usize> = (0..n).collect();
            let mut rng = Rng::new(seed);
            for i in 0..QUANTILE_SAMPLE {
                let j = i + rng.below(n - i);
                order.swap(i, j);
            }
            // The chosen rows in ascending order, without sorting them.
            let mut taken = vec![false; n];
            for &i in &order[..QUANTILE_SAMPLE] {
                taken[i] = true;
            }
            (0..n).filter(|&i| taken[i]).collect()
        });
        let edges = columns
            .par_iter()
            .map(|column| {
                let values: Vec<f64> = match &sample {
                    Some(rows) => rows.iter().map(|&i| column[i]).collect(),
                    None => column.clone(),
                };
                edges_for(values, max_bins)
            })
            .collect();
        BinMapper { edges }
    }

    pub(crate) fn from_edges(edges: Vec<Vec<f64>>) -> Self {
        BinMapper { edges }
    }

    #[must_use]
    pub fn n_features(&self) -> usize {
        self.edges.len()
    }

    /// The edges of feature `feature`, ascending.
    #[must_use]
    pub fn edges(&self, feature: usize) -> &[f64] {
        &self.edges[feature]
    }

    /// The bin of `x` in feature `feature`, one value at a time (`transform` bins side by side).
    #[cfg(test)]
    #[expect(
        clippy::cast_possible_truncation,
        reason = "at most 254 edges, so the bin is at most 254"
    )]
    pub(crate) fn bin(&self, feature: usize, x: f64) -> u8 {
        if x.is_nan() {
            MISSING_BIN
        } else {
            self.edges[feature].partition_point(|&e| e < x) as u8
        }
    }

    pub(crate) fn transform(&self, columns: &[Vec<f64>]) -> Binned {
        let columns: Vec<Vec<u8>> = columns
            .par_iter()
            .enumerate()
            .map(|(j, column)| {
                let search = Search::new(&self.edges[j]);
                let mut out = vec![0u8; column.len()];
                let (outs, out_rest) = out.as_chunks_mut::<LANES>();
                let (values, rest) = column.as_chunks::<LANES>();
                for (o, x) in outs.iter_mut().zip(values) {
                    *o = search.bins(x);
                }
                for (o, &x) in out_rest.iter_mut().zip(rest) {
                    *o = search.bins(&[x; LANES])[0];
                }
                out
            })
            .collect();
        Binned {
            columns,
            n_bins: self
                .edges
                .iter()
                .map(|e| u8::try_from(e.len() + 1).unwrap_or(u8::MAX))
                .collect(),
        }
    }

    /// Checks a loaded mapper: at most 254 edges per feature, ascending and not `NaN`.
    pub(crate) fn validate(&self, n_features: usize) -> Result<(), String> {
        if self.edges.len() != n_features {
            return Err(format!(
                "bin edges for {} features, the model has {n_features}",
                self.edges.len()
            ));
        }
        for (j, e) in self.edges.iter().enumerate() {
            if e.len() >= MAX_BINS
                || e.iter().any(|x| x.is_nan())
                || e.windows(2).any(|w| w[0] >= w[1])
            {
                return Err(format!(
                    "the bin edges of feature {j} are not ascending or too many"
                ));
            }
        }
        Ok(())
    }
}

/// Values binned side by side (their searches' steps interleaved).
const LANES: usize = 8;

/// The bin of values of one feature (the edges strictly below a value; bin 255 for a missing
/// value), as a search of a fixed eight steps without branches: the
/// edges padded to 255 with infinity (never below a value), the bin the edges below the value.
struct Search {
    edges: [f64; MAX_BINS],
}

impl Search {
    fn new(edges: &[f64]) -> Self {
        // Fitted mappers have at most 254 edges and loaded ones are validated.
        assert!(
            edges.len() < MAX_BINS,
            "a feature has {} bin edges, at most {} are possible",
            edges.len(),
            MAX_BINS - 1
        );
        let mut padded = [f64::INFINITY; MAX_BINS];
        padded[..edges.len()].copy_from_slice(edges);
        Search { edges: padded }
    }

    fn bins(&self, x: &[f64; LANES]) -> [u8; LANES] {
        let mut at = [0usize; LANES];
        for step in [128, 64, 32, 16, 8, 4, 2, 1] {
            for (a, &v) in at.iter_mut().zip(x) {
                *a += step * usize::from(self.edges[*a + step - 1] < v);
            }
        }
        let mut out = [0u8; LANES];
        for ((o, &a), &v) in out.iter_mut().zip(&at).zip(x) {
            *o = if v.is_nan() {
                MISSING_BIN
            } else {
                u8::try_from(a).expect("at most 255 edges below")
            };
        }
        out
    }
}

/// `values` in ascending [`f64::total_cmp`] order, by a radix sort of their order-preserving
/// integer keys (11 bits a pass, passes where every key shares the digit skipped).
fn sort_total(values: &mut [f64]) {
    const DIGIT: u32 = 11;
    const SIGN: u64 = 1 << 63;
    let key = |x: f64| {
        let bits = x.to_bits();
        if bits & SIGN == 0 { bits | SIGN } else { !bits }
    };
    let mut keys: Vec<u64> = values.iter().map(|&x| key(x)).collect();
    let mut spare = vec![0u64; keys.len()];
    for shift in (0..64).step_by(DIGIT as usize) {
        let digit = |k: u64| ((k >> shift) & ((1 << DIGIT) - 1)) as usize;
        let mut counts = [0usize; 1 << DIGIT];
        for &k in &keys {
            counts[digit(k)] += 1;
        }
        if counts.contains(&keys.len()) {
            continue;
        }
        let mut next = 0;
        for c in &mut counts {
            (*c, next) = (next, next + *c);
        }
        for &k in &keys {
            let d = digit(k);
            spare[counts[d]] = k;
            counts[d] += 1;
        }
        std::mem::swap(&mut keys, &mut spare);
    }
    for (x, k) in values.iter_mut().zip(keys) {
        *x = f64::from_bits(if k & SIGN == 0 { !k } else { k & !SIGN });
    }
}

/// Halfway between `a <= b`; next to an infinite value, the largest finite value on its side.
fn midpoint(a: f64, b: f64) -> f64 {
    if a.total_cmp(&b).is_eq() {
        a
    } else if a.is_infinite() && a < 0.0 {
        f64::MIN
    } else if b.is_infinite() && b > 0.0 {
        f64::MAX
    } else {
        let m = a + (b - a) / 2.0;
        if m.is_finite() { m } else { a / 2.0 + b / 2.0 }
    }
}

fn edges_for(mut values: Vec<f64>, max_bins: usize) -> Vec<f64> {
    values.retain(|x| !x.is_nan());
    for x in &mut values {
        // -0.0 becomes 0.0, so that equal values compare equal below.
        *x += 0.0;
    }
    sort_total(&mut values);
    // The distinct values, while there are at most `max_bins` of them.
    let mut distinct: Vec<f64> = Vec::with_capacity(max_bins + 1);
    for &x in &values {
        if distinct.last().is_none_or(|d| d.total_cmp(&x).is_ne()) {
            distinct.push(x);
            if distinct.len() > max_bins {
                break;
            }
        }
    }
    let mut edges: Vec<f64> = if distinct.len() <= max_bins {
        distinct.windows(2).map(|w| midpoint(w[0], w[1])).collect()
    } else {
        let last = (values.len() - 1) as f64;
        (1..max_bins)
            .map(|i| {
                let pos = i as f64 / max_bins as f64 * last;
                let lo = values[crate::par::to_index(pos.floor())];
                let hi = values[crate::par::to_index(pos.ceil())];
                midpoint(lo, hi)
            })
            .collect()
    };
    edges.retain(|e| !e.is_nan());
    for e in &mut edges {
        *e = e.clamp(f64::MIN, f64::MAX);
    }
    edges.dedup_by(|a, b| a.total_cmp(b).is_eq());
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_midpoints() {
        let m = BinMapper::fit(&[vec![3.0, 1.0, 2.0, 2.0, f64::NAN]], 255, 0);
        assert_eq!(m.edges(0), [1.5, 2.5]);
        let b = m.transform(&[vec![0.0, 1.0, 1.5, 1.6, 2.0, 3.0, 9.0, f64::NAN]]);
        assert_eq!(b.columns[0], [0, 0, 0, 1, 1, 2, 2, MISSING_BIN]);
        assert_eq!(b.n_bins, [3]);
    }

    #[test]
    fn many_values_get_quantiles() {
        let column: Vec<f64> = (0..10_000).map(f64::from).collect();
        let m = BinMapper::fit(std::slice::from_ref(&column), 255, 0);
        assert_eq!(m.edges(0).len(), 254);
        let b = m.transform(&[column]);
        let mut counts = [0usize; 256];
        for &x in &b.columns[0] {
            counts[usize::from(x)] += 1;
        }
        // Quantile bins hold about 10_000 / 255 = 39 values each.
        assert!(
            counts[..255].iter().all(|&c| (38..=41).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn the_radix_sort_orders_as_total_cmp() {
        let mut rng = Rng::new(3);
        let special = [
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            1.0,
            -1.0,
        ];
        for n in [0, 1, 2, 3, 100, 5000] {
            let mut values: Vec<f64> = (0..n)
                .map(|i| match i % 4 {
                    0 => f64::from_bits(rng.next_u64()),
                    1 => special[rng.below(special.len())],
                    2 => rng.below(10) as f64 - 5.0,
                    _ => (rng.below(1 << 30) as f64 - f64::from(1 << 29)) / 1024.0,
                })
                .collect();
            let mut expected = values.clone();
            expected.sort_unstable_by(f64::total_cmp);
            sort_total(&mut values);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&values), bits(&expected), "{n} values");
        }
    }

    #[test]
    fn binning_side_by_side_equals_one_value_at_a_time() {
        let mut rng = Rng::new(5);
        for n_edges in [0, 1, 2, 7, 100, 253, 254] {
            let mut edges: Vec<f64> = (0..n_edges)
                .map(|_| (rng.below(1 << 20) as f64 - f64::from(1 << 19)) / 64.0)
                .collect();
            edges.sort_unstable_by(f64::total_cmp);
            edges.dedup();
            if let Some(first) = edges.first_mut() {
                *first = f64::MIN;
            }
            let m = BinMapper::from_edges(vec![edges.clone()]);
            // Values on, between and beyond the edges, missing ones, zeros and infinities; a
            // length that is not a multiple of the lanes.
            let mut column: Vec<f64> = Vec::new();
            for &e in &edges {
                column.extend([e, e - 0.5, e + 1e-9]);
            }
            column.extend([
                f64::NAN,
                0.0,
                -0.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MAX,
                f64::MIN,
            ]);
            column
                .extend((0..1001).map(|_| (rng.below(1 << 21) as f64 - f64::from(1 << 20)) / 64.0));
            let b = m.transform(std::slice::from_ref(&column));
            let expected: Vec<u8> = column.iter().map(|&x| m.bin(0, x)).collect();
            assert_eq!(b.columns[0], expected, "{n_edges} edges");
        }
    }

    #[test]
    fn infinities_bin_at_the_ends() {
        let m = BinMapper::fit(&[vec![f64::NEG_INFINITY, 0.0, 1.0, f64::INFINITY]], 255, 0);
        let b = m.transform(&[vec![f64::NEG_INFINITY, f64::INFINITY]]);
        assert_eq!(b.columns[0], [0, 3]);
    }
}
