//! The best threshold of one feature, from its bins' summed statistics in bin order.
//!
//! A split at bin `t` sends bins `0..=t` left and the rest right; missing values go to the side
//! that scores better (both are tried when the node has missing values for the feature), else to
//! the side with more rows, as scikit-learn does.

use super::binning::MISSING_BIN;
use super::histogram::{Layout, N_BINS};

/// How splits are scored and which are allowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitRules {
    pub(crate) layout: Layout,
    /// Scores by the decrease of squared error (regression) or Gini impurity (classification,
    /// one channel per class) when true; by the gradient-boosting gain with `l2` otherwise.
    pub(crate) impurity: bool,
    pub(crate) l2: f64,
    pub(crate) min_samples_leaf: f64,
    /// Each side needs at least this hessian (weight).
    pub(crate) min_hessian: f64,
}

/// `G_L² / D_L + G_R² / D_R` (the boosting gain's two sides, one output) with one division.
#[expect(
    clippy::inline_always,
    reason = "in the loop over every bin's gain, which must stay vectorizable"
)]
#[inline(always)]
fn one_division(gl: f64, gr: f64, dl: f64, dr: f64) -> f64 {
    (gl * gl * dr + gr * gr * dl) / (dl * dr)
}

/// The two sides' score from its one-division form `one`, or with two divisions where that
/// form's products overflowed.
#[expect(
    clippy::inline_always,
    reason = "called for every bin of every scanned histogram"
)]
#[inline(always)]
fn sides_score(gl: f64, gr: f64, dl: f64, dr: f64, one: f64) -> f64 {
    if one.is_finite() {
        one
    } else {
        gl * gl / dl + gr * gr / dr
    }
}

/// The best split of one feature in one node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeatureBest {
    /// Positive for a valid split; `0` when none was found.
    pub(crate) gain: f64,
    pub(crate) bin: u8,
    pub(crate) missing_left: bool,
    /// Whether the node's rows all share one bin of this feature.
    pub(crate) constant: bool,
}

impl FeatureBest {
    pub(crate) fn found(&self) -> bool {
        self.gain > 0.0
    }

    /// No split yet, before a scan.
    fn none() -> Self {
        FeatureBest {
            gain: 0.0,
            bin: 0,
            missing_left: false,
            constant: false,
        }
    }

    /// Ends a scan that saw `n_groups` non-empty bins, its best split sending `left_count` of
    /// `count` rows left: the feature is constant with at most one bin in use (missing values
    /// counting as one), and without missing values they would follow the larger side.
    fn finish(mut self, n_groups: usize, has_missing: bool, left_count: f64, count: f64) -> Self {
        self.constant = n_groups + usize::from(has_missing) <= 1;
        if self.found() && !has_missing {
            self.missing_left = left_count >= count - left_count;
        }
        self
    }
}

impl SplitRules {
    /// The parent's part of the gradient-boosting gain, `Σ G² / (H + l2)`.
    pub(crate) fn parent_score(&self, total: &[f64]) -> f64 {
        let h = total[self.layout.hess()] + self.l2;
        total[..self.layout.channels]
            .iter()
            .map(|g| g * g / h)
            .sum()
    }

    #[expect(
        clippy::inline_always,
        reason = "called for every bin of every scanned histogram; measured faster inlined"
    )]
    #[inline(always)]
    fn gain(&self, left: &[f64], total: &[f64], parent_score: f64) -> Option<f64> {
        let c = self.layout.count();
        let count_left = left[c];
        let count_right = total[c] - count_left;
        if count_left < self.min_samples_leaf || count_right < self.min_samples_leaf {
            return None;
        }
        let hi = self.layout.hess();
        let h_left = left[hi];
        let h_right = total[hi] - h_left;
        if h_left < self.min_hessian || h_right < self.min_hessian {
            return None;
        }
        let channels = self.layout.channels;
        if self.impurity {
            // n_L n_R / n · Σ (mean_L - mean_R)², never negative, written with one division:
            // Σ (G_L H_R - G_R H_L)² / (H_L H_R H).
            let sum: f64 = if channels == 1 {
                let d = left[0] * h_right - (total[0] - left[0]) * h_left;
                d * d
            } else {
                left[..channels]
                    .iter()
                    .zip(&total[..channels])
                    .map(|(l, t)| {
                        let d = l * h_right - (t - l) * h_left;
                        d * d
                    })
                    .sum()
            };
            Some(sum / (h_left * h_right * total[hi]))
        } else if channels == 1 {
            let (dl, dr) = (h_left + self.l2, h_right + self.l2);
            let (gl, gr) = (left[0], total[0] - left[0]);
            Some(sides_score(gl, gr, dl, dr, one_division(gl, gr, dl, dr)) - parent_score)
        } else {
            let (dl, dr) = (h_left + self.l2, h_right + self.l2);
            let sum: f64 = left[..channels]
                .iter()
                .zip(&total[..channels])
                .map(|(l, t)| l * l / dl + (t - l) * (t - l) / dr)
                .sum();
            Some(sum - parent_score)
        }
    }

    /// The best split of one feature from its histogram (`N_BINS` bins of one stride, the last
    /// for missing values), of which the first `n_bins` hold values.
    pub(crate) fn scan_hist(
        &self,
        hist: &[f64],
        n_bins: u8,
        total: &[f64],
        parent_score: f64,
    ) -> FeatureBest {
        let c = self.layout.count();
        if self.layout.stride() == 2 && !self.impurity {
            let (h, _) = hist.as_chunks::<2>();
            let total: &[f64; 2] = total.try_into().expect("one stride");
            return self.scan_unit(h, n_bins, total, parent_score);
        }
        macro_rules! fixed {
            ($s:literal) => {{
                let (h, _) = hist.as_chunks::<$s>();
                let groups = (0..n_bins)
                    .map(|b| (b, &h[usize::from(b)]))
                    .filter(|(_, s)| s[c] > 0.0);
                let total: &[f64; $s] = total.try_into().expect("one stride");
                let mut left = [0.0; $s];
                self.scan(
                    &groups,
                    total,
                    &h[usize::from(MISSING_BIN)],
                    parent_score,
                    &mut left,
                )
            }};
        }
        match self.layout.stride() {
            2 => fixed!(2),
            3 => fixed!(3),
            4 => fixed!(4),
            5 => fixed!(5),
            stride => {
                let groups = (0..n_bins)
                    .map(|b| {
                        (
                            b,
                            &hist[usize::from(b) * stride..(usize::from(b) + 1) * stride],
                        )
                    })
                    .filter(|(_, s)| s[c] > 0.0);
                let missing = &hist[usize::from(MISSING_BIN) * stride..];
                self.scan(
                    &groups,
                    total,
                    missing,
                    parent_score,
                    &mut vec![0.0; stride][..],
                )
            }
        }
    }

    /// [`Self::scan`] of a histogram of one gradient whose hessian is the row count (stride 2,
    /// the gradient-boosting gain): the same candidates (the non-empty bins), sums and gains, the
    /// sums first and then every bin's gain in a loop of its own, so that their divisions run
    /// side by side rather than one after another.
    fn scan_unit(
        &self,
        h: &[[f64; 2]],
        n_bins: u8,
        total: &[f64; 2],
        parent_score: f64,
    ) -> FeatureBest {
        let n = usize::from(n_bins);
        let bins = &h[..n];
        let missing = h[usize::from(MISSING_BIN)];
        let [g_total, h_total] = *total;
        let l2 = self.l2;
        // Count and hessian are one: both minimums apply to it.
        let least = self.min_samples_leaf.max(self.min_hessian);
        let has_missing = missing[1] > 0.0;
        let mut best = FeatureBest::none();
        let mut best_left_count = 0.0;
        let (mut g_left, mut h_left, mut one) = ([0.0; N_BINS], [0.0; N_BINS], [0.0; N_BINS]);
        for missing_left in [false, true] {
            if missing_left && !has_missing {
                break;
            }
            let (mut g, mut w) = if missing_left {
                (missing[0], missing[1])
            } else {
                (0.0, 0.0)
            };
            // Empty bins add nothing (a subtracted one may hold a rounding residue).
            for ((s, gl), hl) in bins.iter().zip(&mut g_left).zip(&mut h_left) {
                let full = s[1] > 0.0;
                g += if full { s[0] } else { 0.0 };
                w += if full { s[1] } else { 0.0 };
                *gl = g;
                *hl = w;
            }
            for ((o, &gl), &hl) in one[..n].iter_mut().zip(&g_left).zip(&h_left) {
                let (dl, dr) = (hl + l2, (h_total - hl) + l2);
                *o = one_division(gl, g_total - gl, dl, dr);
            }
            for (b, s) in bins.iter().enumerate() {
                let (gl, hl) = (g_left[b], h_left[b]);
                let hr = h_total - hl;
                if !(s[1] > 0.0 && hl >= least && hr >= least) {
                    continue;
                }
                let gain = sides_score(gl, g_total - gl, hl + l2, hr + l2, one[b]) - parent_score;
                if gain > best.gain {
                    best.gain = gain;
                    best.bin = u8::try_from(b).expect("at most 255 bins of values");
                    best.missing_left = missing_left;
                    best_left_count = hl;
                }
            }
        }
        let n_groups = bins.iter().filter(|s| s[1] > 0.0).count();
        best.finish(n_groups, has_missing, best_left_count, h_total)
    }

    /// The best split of one feature from its non-empty bins `bins` (ascending) with their sums
    /// (one stride each), and the missing values' sums.
    pub(crate) fn scan_sparse(
        &self,
        bins: &[u8],
        sums: &[f64],
        missing: &[f64],
        total: &[f64],
        parent_score: f64,
    ) -> FeatureBest {
        macro_rules! fixed {
            ($s:literal) => {{
                let (g, _) = sums.as_chunks::<$s>();
                let groups = bins.iter().copied().zip(g);
                let total: &[f64; $s] = total.try_into().expect("one stride");
                let missing: &[f64; $s] = missing.try_into().expect("one stride");
                let mut left = [0.0; $s];
                self.scan(&groups, total, missing, parent_score, &mut left)
            }};
        }
        match self.layout.stride() {
            2 => fixed!(2),
            3 => fixed!(3),
            4 => fixed!(4),
            5 => fixed!(5),
            stride => {
                let groups = bins.iter().copied().zip(sums.chunks_exact(stride));
                self.scan(
                    &groups,
                    total,
                    missing,
                    parent_score,
                    &mut vec![0.0; stride][..],
                )
            }
        }
    }

    /// Scans the non-empty bins `groups` (ascending, missing excluded) of one feature; `T` is
    /// one stride of statistics, an array where the stride is known at compile time.
    #[inline]
    fn scan<'a, T, I>(
        &self,
        groups: &I,
        total: &T,
        missing: &T,
        parent_score: f64,
        left: &mut T,
    ) -> FeatureBest
    where
        T: AsRef<[f64]> + AsMut<[f64]> + ?Sized + 'a,
        I: Iterator<Item = (u8, &'a T)> + Clone,
    {
        let c = self.layout.count();
        let (total_ref, missing_ref) = (total.as_ref(), missing.as_ref());
        let has_missing = missing_ref[c] > 0.0;
        let mut best = FeatureBest::none();
        let mut best_left_count = 0.0;
        let mut n_groups = 0usize;
        for missing_left in [false, true] {
            if missing_left && !has_missing {
                break;
            }
            if missing_left {
                left.as_mut().copy_from_slice(missing_ref);
            } else {
                left.as_mut().fill(0.0);
            }
            for (bin, sums) in groups.clone() {
                if !missing_left {
                    n_groups += 1;
                }
                for (l, s) in left.as_mut().iter_mut().zip(sums.as_ref()) {
                    *l += s;
                }
                if let Some(gain) = self.gain(left.as_ref(), total_ref, parent_score)
                    && gain > best.gain
                {
                    best.gain = gain;
                    best.bin = bin;
                    best.missing_left = missing_left;
                    best_left_count = left.as_ref()[c];
                }
            }
        }
        best.finish(n_groups, has_missing, best_left_count, total_ref[c])
    }

    /// The left side's sums of `best`, added in the same order as [`Self::scan`] did.
    pub(crate) fn left_sums<'a, I>(
        &self,
        groups: I,
        missing: &[f64],
        best: FeatureBest,
        out: &mut [f64],
    ) where
        I: Iterator<Item = (u8, &'a [f64])>,
    {
        let has_missing = missing[self.layout.count()] > 0.0;
        if best.missing_left && has_missing {
            out.copy_from_slice(missing);
        } else {
            out.fill(0.0);
        }
        for (bin, sums) in groups {
            if bin > best.bin {
                break;
            }
            for (l, s) in out.iter_mut().zip(sums) {
                *l += s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(impurity: bool) -> SplitRules {
        SplitRules {
            layout: Layout {
                channels: 1,
                count: false,
            },
            impurity,
            l2: 0.0,
            min_samples_leaf: 1.0,
            min_hessian: f64::MIN_POSITIVE,
        }
    }

    #[test]
    fn finds_the_step_and_its_variance_reduction() {
        // Bins 0, 1 hold target 1.0 (2 rows each); bins 2, 3 hold target 5.0: split at bin 1.
        let bins = [0, 1, 2, 3];
        let sums = [2.0, 2.0, 2.0, 2.0, 10.0, 2.0, 10.0, 2.0];
        let total = [24.0, 8.0];
        let best = rules(true).scan_sparse(&bins, &sums, &[0.0, 0.0], &total, 0.0);
        assert_eq!(best.bin, 1);
        // 4 * 4 / 8 * (1 - 5)² = 32: the total squared error, all removed.
        assert!((best.gain - 32.0).abs() < 1e-12);
        // No missing values: they follow the larger side (a tie goes left).
        assert!(best.missing_left);
        let boosting = rules(false).scan_sparse(
            &bins,
            &sums,
            &[0.0, 0.0],
            &total,
            rules(false).parent_score(&total),
        );
        // G_L²/H_L + G_R²/H_R - G²/H = 4 + 100 - 72.
        assert!((boosting.gain - 32.0).abs() < 1e-12);
    }

    #[test]
    fn missing_values_go_to_the_better_side() {
        // Missing rows have target 5.0, like bins 2 and 3: they belong on the right...
        let bins = [0, 1];
        let sums = [2.0, 2.0, 10.0, 2.0];
        let missing = [10.0, 2.0];
        let total = [22.0, 6.0];
        let r = rules(true);
        let best = r.scan_sparse(&bins, &sums, &missing, &total, 0.0);
        assert_eq!((best.bin, best.missing_left), (0, false));
        // ...and with target 1.0 on the left.
        let missing = [2.0, 2.0];
        let total = [14.0, 6.0];
        let best = r.scan_sparse(&bins, &sums, &missing, &total, 0.0);
        assert_eq!((best.bin, best.missing_left), (0, true));
        let mut out = [0.0; 2];
        let groups = bins.iter().copied().zip(sums.chunks_exact(2));
        r.left_sums(groups, &missing, best, &mut out);
        assert!(out.iter().all(|&v| (v - 4.0).abs() < f64::EPSILON));
    }

    /// Every kind of bin a boosting histogram holds: empty ones (some with a subtraction's
    /// rounding residue in their gradient), sparse and dense ones, and missing values or none.
    fn boosting_histogram(rng: &mut crate::rng::Rng, n_bins: usize, missing: bool) -> Vec<f64> {
        let mut h = vec![0.0; N_BINS * 2];
        let unit = |rng: &mut crate::rng::Rng| rng.below(1 << 20) as f64 / f64::from(1 << 20);
        for b in (0..n_bins).chain(missing.then_some(usize::from(MISSING_BIN))) {
            match rng.below(6) {
                0 => {}
                1 => h[2 * b] = (unit(rng) - 0.5) * 1e-12,
                _ => {
                    let most = if rng.below(2) == 0 { 5 } else { 400 };
                    let count = 1 + rng.below(most);
                    h[2 * b] = (unit(rng) - 0.4) * 3.0 * count as f64;
                    h[2 * b + 1] = count as f64;
                }
            }
        }
        h
    }

    #[test]
    fn the_unit_hessian_scan_equals_the_general_one() {
        let mut rng = crate::rng::Rng::new(7);
        let mut found = 0;
        for case in 0..3000 {
            let n_bins = 1 + rng.below(255);
            let missing = case % 3 == 0;
            let mut h = boosting_histogram(&mut rng, n_bins, missing);
            if case % 5 == 0 {
                // Gradients so large that the one-division gain overflows and falls back.
                for g in h.iter_mut().step_by(2) {
                    *g *= 1e150;
                }
            }
            let mut total = [0.0; 2];
            for s in h.chunks_exact(2).filter(|s| s[1] > 0.0) {
                total[0] += s[0];
                total[1] += s[1];
            }
            let mut r = rules(false);
            r.l2 = [0.0, 1.0, 0.25][(case / 18) % 3];
            r.min_samples_leaf = [1.0, 20.0, 100.0][(case / 3) % 3];
            r.min_hessian = [1e-3, 30.0][(case / 9) % 2];
            let parent = r.parent_score(&total);
            let n = u8::try_from(n_bins).unwrap();
            let fast = r.scan_hist(&h, n, &total, parent);
            // The general scan, as `scan_hist` runs it for other layouts.
            let (bins, _) = h.as_chunks::<2>();
            let groups = (0..n)
                .map(|b| (b, &bins[usize::from(b)]))
                .filter(|(_, s)| s[1] > 0.0);
            let general = r.scan(
                &groups,
                &total,
                &bins[usize::from(MISSING_BIN)],
                parent,
                &mut [0.0; 2],
            );
            assert_eq!(
                (
                    fast.gain.to_bits(),
                    fast.bin,
                    fast.missing_left,
                    fast.constant
                ),
                (
                    general.gain.to_bits(),
                    general.bin,
                    general.missing_left,
                    general.constant
                ),
                "case {case}: {n_bins} bins, missing {missing}"
            );
            found += usize::from(general.found());
        }
        // Most cases have a split, and some have none.
        assert!(
            (1500..3000).contains(&found),
            "{found} of 3000 with a split"
        );
    }

    #[test]
    fn min_samples_leaf_and_constant_features() {
        let mut r = rules(true);
        r.min_samples_leaf = 3.0;
        let best = r.scan_sparse(
            &[0, 1],
            &[2.0, 2.0, 10.0, 2.0],
            &[0.0, 0.0],
            &[12.0, 4.0],
            0.0,
        );
        assert!(!best.found() && !best.constant);
        let best = r.scan_sparse(&[4], &[3.0, 3.0], &[0.0, 0.0], &[3.0, 3.0], 0.0);
        assert!(!best.found() && best.constant);
    }
}
