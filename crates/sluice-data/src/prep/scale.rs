//! Standardisation: `(x - mean) / std` with the train split's statistics.

/// The count, mean and sum of squared deviations of the values seen so far (Welford's
/// updates), so the statistics come from one pass over rows read in parts.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Moments {
    n: usize,
    mean: f64,
    m2: f64,
}

#[expect(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
impl Moments {
    pub(super) fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Adds `count` values all equal to `x` (the filled-in missing values).
    pub(super) fn push_repeated(&mut self, x: f64, count: usize) {
        if count == 0 {
            return;
        }
        let n = self.n + count;
        let delta = x - self.mean;
        self.mean += delta * count as f64 / n as f64;
        self.m2 += delta * delta * (self.n as f64) * (count as f64) / n as f64;
        self.n = n;
    }

    /// The mean and population standard deviation (a standard deviation of 0, or of no
    /// values, is taken as 1 so a constant column stays finite).
    pub(super) fn fit(&self) -> (f64, f64) {
        if self.n == 0 {
            return (0.0, 1.0);
        }
        let std = (self.m2 / self.n as f64).sqrt();
        (
            self.mean,
            if std > 0.0 && std.is_finite() {
                std
            } else {
                1.0
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_matches_the_two_pass_formula() {
        let mut m = Moments::default();
        for x in [1.0, 2.0, 3.0, 4.0] {
            m.push(x);
        }
        let (mean, std) = m.fit();
        assert!((mean - 2.5).abs() < 1e-12);
        assert!((std - 1.25f64.sqrt()).abs() < 1e-12);
        let mut constant = Moments::default();
        constant.push(3.0);
        constant.push_repeated(3.0, 5);
        assert_eq!(constant.fit(), (3.0, 1.0));
    }

    #[test]
    fn repeated_values_count_as_single_pushes() {
        let (mut a, mut b) = (Moments::default(), Moments::default());
        for x in [0.5, 7.0, -2.0] {
            a.push(x);
            b.push(x);
        }
        for _ in 0..4 {
            a.push(1.5);
        }
        b.push_repeated(1.5, 4);
        let ((ma, sa), (mb, sb)) = (a.fit(), b.fit());
        assert!((ma - mb).abs() < 1e-12 && (sa - sb).abs() < 1e-12);
    }
}
