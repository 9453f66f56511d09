//! Ordinary least squares and ridge regression, with an intercept, by the normal equations.
//!
//! The features and target are centred (when fitting an intercept), `X'X + alpha I` and `X'y` are
//! summed over fixed chunks of rows in parallel and added in chunk order, and the system is solved
//! by Cholesky. A singular system (a constant or duplicated feature with `alpha = 0`) is solved
//! with a tiny ridge jitter instead, reported in [`LinearModel::jitter`]. The intercept is never
//! penalised, as in scikit-learn's `LinearRegression` and `Ridge`.

use serde::{Deserialize, Serialize};

use crate::linalg::cholesky_solve;
use crate::par::{add_into, chunked};
use crate::{Dataset, MlError, Schema, Task};

/// Parameters of [`LinearParams::fit`]; the defaults are scikit-learn's `LinearRegression`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearParams {
    /// L2 penalty on the coefficients: `0` for ordinary least squares, positive for ridge.
    pub alpha: f64,
    pub fit_intercept: bool,
}

impl Default for LinearParams {
    fn default() -> Self {
        LinearParams {
            alpha: 0.0,
            fit_intercept: true,
        }
    }
}

/// A fitted linear regression: `y = intercept + coefficients . x`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    pub(crate) coefficients: Vec<f64>,
    pub(crate) intercept: f64,
    /// The ridge added to make a singular system solvable, if one was needed.
    pub(crate) jitter: Option<f64>,
    #[serde(skip)]
    pub(crate) schema: Schema,
}

impl LinearParams {
    /// Fits a regression dataset without missing values.
    pub fn fit(&self, data: &Dataset) -> Result<LinearModel, MlError> {
        crate::par::in_pool(|| self.fit_in_pool(data))
    }

    fn fit_in_pool(&self, data: &Dataset) -> Result<LinearModel, MlError> {
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(MlError::param(
                "alpha",
                format!("must be finite and >= 0, got {}", self.alpha),
            ));
        }
        if data.task() != Some(Task::Regression) {
            return Err(MlError::task("linear", Task::Regression, data.task()));
        }
        if data.n_rows() == 0 {
            return Err(MlError::Data("no rows to fit".to_owned()));
        }
        if let Some((j, i)) = data.first_non_finite() {
            return Err(MlError::Data(format!(
                "feature `{}` is missing or infinite at row {i}",
                data.feature_names()[j]
            )));
        }
        let n = data.n_rows();
        let p = data.n_features();
        let columns = data.features();
        let y = data.target();

        let (means, y_mean) = if self.fit_intercept {
            let sums = chunked(
                n,
                |rows| {
                    let mut s: Vec<f64> = columns
                        .iter()
                        .map(|c| c[rows.clone()].iter().sum())
                        .collect();
                    s.push(y[rows].iter().sum());
                    s
                },
                add_into,
            )
            .unwrap_or_default();
            let n = n as f64;
            (
                sums[..p].iter().map(|s| s / n).collect::<Vec<_>>(),
                sums[p] / n,
            )
        } else {
            (vec![0.0; p], 0.0)
        };

        // Upper triangle of the centred X'X, then the centred X'y.
        let sums = chunked(
            n,
            |rows| {
                let centred: Vec<Vec<f64>> = columns
                    .iter()
                    .zip(&means)
                    .map(|(c, m)| c[rows.clone()].iter().map(|x| x - m).collect())
                    .collect();
                let yc: Vec<f64> = y[rows].iter().map(|v| v - y_mean).collect();
                let mut out = vec![0.0; p * p + p];
                for a in 0..p {
                    for b in a..p {
                        out[a * p + b] = dot(&centred[a], &centred[b]);
                    }
                    out[p * p + a] = dot(&centred[a], &yc);
                }
                out
            },
            add_into,
        )
        .unwrap_or_default();
        let mut gram = sums[..p * p].to_vec();
        let xty = &sums[p * p..];
        for a in 0..p {
            for b in 0..a {
                gram[a * p + b] = gram[b * p + a];
            }
            gram[a * p + a] += self.alpha;
        }

        let (coefficients, jitter) = solve_with_jitter(&gram, xty, p);
        let intercept = if self.fit_intercept {
            y_mean - dot(&coefficients, &means)
        } else {
            0.0
        };
        Ok(LinearModel {
            coefficients,
            intercept,
            jitter,
            schema: Schema::of(data, Task::Regression),
        })
    }
}

/// Cholesky, then, if the system is singular, Cholesky again with a growing ridge jitter.
fn solve_with_jitter(gram: &[f64], rhs: &[f64], p: usize) -> (Vec<f64>, Option<f64>) {
    if let Some(x) = cholesky_solve(gram, rhs, p) {
        return (x, None);
    }
    let trace: f64 = (0..p).map(|i| gram[i * p + i]).sum();
    let scale = if trace > 0.0 { trace / p as f64 } else { 1.0 };
    let mut jitter = scale * 1e-10;
    loop {
        let mut a = gram.to_vec();
        for i in 0..p {
            a[i * p + i] += jitter;
        }
        if let Some(x) = cholesky_solve(&a, rhs, p) {
            return (x, Some(jitter));
        }
        if jitter > scale {
            // Cannot happen for a Gram matrix plus a jitter this large; keep the model defined.
            return (vec![0.0; p], Some(jitter));
        }
        jitter *= 10.0;
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl LinearModel {
    #[must_use]
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    #[must_use]
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// The ridge jitter the fit had to add to a singular system, if any.
    #[must_use]
    pub fn jitter(&self) -> Option<f64> {
        self.jitter
    }

    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Predictions for every row; a missing feature value gives a `NaN` prediction.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<f64>, MlError> {
        self.schema.check(data)?;
        Ok(self.predict_columns(data.features()))
    }

    pub(crate) fn predict_columns(&self, columns: &[Vec<f64>]) -> Vec<f64> {
        let n = columns.first().map_or(0, Vec::len);
        let mut out = vec![self.intercept; n];
        for (column, w) in columns.iter().zip(&self.coefficients) {
            for (o, x) in out.iter_mut().zip(column) {
                *o += w * x;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_feature() -> Dataset {
        Dataset::new(vec!["x".into()], vec![vec![1.0, 2.0, 3.0, 4.0, 5.0]])
            .unwrap()
            .with_regression_target(vec![2.1, 3.9, 6.2, 7.8, 10.1])
            .unwrap()
    }

    #[test]
    fn ols_matches_the_closed_form() {
        // By hand: x̄ = 3, ȳ = 6.02, Sxy = 19.9, Sxx = 10, so slope 1.99 and intercept 0.05.
        let m = LinearParams::default().fit(&one_feature()).unwrap();
        assert!((m.coefficients()[0] - 1.99).abs() < 1e-9);
        assert!((m.intercept() - 0.05).abs() < 1e-9);
        assert_eq!(m.jitter(), None);
    }

    #[test]
    fn ridge_matches_the_closed_form() {
        // Slope Sxy / (Sxx + alpha) = 19.9 / 20, intercept ȳ - slope x̄.
        let params = LinearParams {
            alpha: 10.0,
            ..LinearParams::default()
        };
        let m = params.fit(&one_feature()).unwrap();
        assert!((m.coefficients()[0] - 0.995).abs() < 1e-9);
        assert!((m.intercept() - (6.02 - 0.995 * 3.0)).abs() < 1e-9);
    }

    #[test]
    fn without_intercept() {
        // Through the origin: slope = Σxy / Σx² = 110.2 / 55.
        let params = LinearParams {
            fit_intercept: false,
            ..LinearParams::default()
        };
        let m = params.fit(&one_feature()).unwrap();
        assert!((m.coefficients()[0] - 110.2 / 55.0).abs() < 1e-9);
        assert!(m.intercept().abs() < f64::EPSILON);
    }

    #[test]
    fn singular_system_gets_a_reported_jitter() {
        let x = vec![1.0, 2.0, 3.0, 4.0];
        let d = Dataset::new(vec!["a".into(), "b".into()], vec![x.clone(), x])
            .unwrap()
            .with_regression_target(vec![3.0, 5.0, 7.0, 9.0])
            .unwrap();
        let m = LinearParams::default().fit(&d).unwrap();
        assert!(m.jitter().is_some());
        let pred = m.predict(&d).unwrap();
        for (p, y) in pred.iter().zip(d.target()) {
            assert!((p - y).abs() < 1e-6, "{p} vs {y}");
        }
        // The minimum-norm split of the slope 2 between the two equal columns.
        assert!((m.coefficients()[0] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn refuses_missing_values_and_classification() {
        let d = Dataset::new(vec!["x".into()], vec![vec![1.0, f64::NAN]])
            .unwrap()
            .with_regression_target(vec![1.0, 2.0])
            .unwrap();
        assert!(matches!(
            LinearParams::default().fit(&d),
            Err(MlError::Data(_))
        ));
        let c = Dataset::new(vec!["x".into()], vec![vec![1.0, 2.0]])
            .unwrap()
            .with_class_labels(&["a", "b"])
            .unwrap();
        assert!(matches!(
            LinearParams::default().fit(&c),
            Err(MlError::Task { .. })
        ));
    }
}
