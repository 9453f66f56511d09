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
            let mut chosen = order[..QUANTILE_SAMPLE].to_vec();
            chosen.sort_unstable();
            chosen
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

    /// The bin of `x` in feature `feature`.
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
            .map(|(j, column)| column.iter().map(|&x| self.bin(j, x)).collect())
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
    values.sort_unstable_by(f64::total_cmp);
    let mut distinct = values.clone();
    distinct.dedup_by(|a, b| a.total_cmp(b).is_eq());
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
    fn infinities_bin_at_the_ends() {
        let m = BinMapper::fit(&[vec![f64::NEG_INFINITY, 0.0, 1.0, f64::INFINITY]], 255, 0);
        let b = m.transform(&[vec![f64::NEG_INFINITY, f64::INFINITY]]);
        assert_eq!(b.columns[0], [0, 3]);
    }
}
