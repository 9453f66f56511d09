//! Standardisation: `(x - mean) / std` with the train split's statistics.

/// The mean and population standard deviation of `train` (a standard deviation of 0, or of an
/// empty split, is taken as 1 so a constant column stays finite).
pub(super) fn fit(train: &[f64]) -> (f64, f64) {
    if train.is_empty() {
        return (0.0, 1.0);
    }
    let n = train.len() as f64;
    let mean = train.iter().sum::<f64>() / n;
    let variance = train.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let std = variance.sqrt();
    (
        mean,
        if std > 0.0 && std.is_finite() {
            std
        } else {
            1.0
        },
    )
}

/// Rescales `values` in place.
pub(super) fn apply(values: &mut [f64], mean: f64, std: f64) {
    for v in values {
        *v = (*v - mean) / std;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_and_apply() {
        let (mean, std) = fit(&[1.0, 2.0, 3.0, 4.0]);
        assert!((mean - 2.5).abs() < 1e-12);
        assert!((std - 1.25f64.sqrt()).abs() < 1e-12);
        let mut v = vec![2.5, 5.0];
        apply(&mut v, mean, std);
        assert!(v[0].abs() < 1e-12);
        assert_eq!(fit(&[3.0, 3.0]), (3.0, 1.0));
    }
}
