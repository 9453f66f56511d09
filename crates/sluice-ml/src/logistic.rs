//! Logistic regression: binary (sigmoid) and multinomial (softmax), with an L2 penalty.
//!
//! Minimises scikit-learn's objective for `LogisticRegression(penalty="l2", solver="lbfgs")`:
//! the mean log loss plus `||W||² / (2 C n)`, the intercepts unpenalised. The optimiser works on
//! standardised features (each centred and scaled to unit variance) for conditioning, with the
//! penalty still on the coefficients of the original features, so the optimum is scikit-learn's;
//! the fitted coefficients are reported on the original scale.
//!
//! The loss and gradient are summed over fixed chunks of rows in parallel and added in chunk
//! order, so the fit is bit-identical whatever the number of threads.

use serde::{Deserialize, Serialize};

use crate::lbfgs::{self, Options};
use crate::par::{add_into, chunked};
use crate::{Dataset, MlError, Schema, Task};

/// Parameters of [`LogisticParams::fit`]; the defaults are scikit-learn's `LogisticRegression`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticParams {
    /// Inverse of the L2 penalty's strength, as scikit-learn's `C`: smaller penalises more.
    pub c: f64,
    pub fit_intercept: bool,
    /// L-BFGS iterations at most.
    pub max_iter: usize,
    /// Stop when every component of the gradient is at most `tol`.
    pub tol: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            c: 1.0,
            fit_intercept: true,
            max_iter: 100,
            tol: 1e-4,
        }
    }
}

/// A fitted logistic regression.
///
/// Binary: one row of coefficients, `P(class 1) = sigmoid(intercept + w . x)`. Multinomial: one
/// row per class, probabilities by softmax.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    pub(crate) coefficients: Vec<Vec<f64>>,
    pub(crate) intercepts: Vec<f64>,
    pub(crate) n_iter: usize,
    pub(crate) converged: bool,
    #[serde(skip)]
    pub(crate) schema: Schema,
}

struct Problem<'a> {
    /// Standardised feature columns.
    xs: Vec<Vec<f64>>,
    y: &'a [f64],
    /// Class count; 2 means the binary (one-output) model.
    k: usize,
    /// `1 / (C n sigma_j²)`: the penalty's curvature per standardised coefficient.
    penalty: Vec<f64>,
    fit_intercept: bool,
}

impl Problem<'_> {
    fn outputs(&self) -> usize {
        if self.k == 2 { 1 } else { self.k }
    }

    #[expect(
        clippy::many_single_char_names,
        reason = "textbook notation: n rows, p features, margins z, targets y"
    )]
    fn objective(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let p = self.xs.len();
        let n = self.y.len();
        let outputs = self.outputs();
        let sums = chunked(
            n,
            |rows| {
                let len = rows.len();
                let mut z = vec![0.0; outputs * len];
                for k in 0..outputs {
                    let block = &theta[k * (p + 1)..(k + 1) * (p + 1)];
                    let zk = &mut z[k * len..(k + 1) * len];
                    zk.fill(block[p]);
                    for (column, &w) in self.xs.iter().zip(block) {
                        for (zi, x) in zk.iter_mut().zip(&column[rows.clone()]) {
                            *zi += w * x;
                        }
                    }
                }
                let y = &self.y[rows.clone()];
                let mut loss = 0.0;
                if outputs == 1 {
                    for (zi, &yi) in z.iter_mut().zip(y) {
                        loss += softplus(*zi) - yi * *zi;
                        *zi = sigmoid(*zi) - yi;
                    }
                } else {
                    for (i, &yi) in y.iter().enumerate() {
                        let max =
                            (0..outputs).fold(f64::NEG_INFINITY, |m, k| m.max(z[k * len + i]));
                        let sum: f64 = (0..outputs).map(|k| (z[k * len + i] - max).exp()).sum();
                        let lse = max + sum.ln();
                        let yk = crate::par::to_index(yi);
                        loss += lse - z[yk * len + i];
                        for k in 0..outputs {
                            let pk = (z[k * len + i] - lse).exp();
                            z[k * len + i] = pk - if k == yk { 1.0 } else { 0.0 };
                        }
                    }
                }
                let mut out = vec![0.0; 1 + outputs * (p + 1)];
                out[0] = loss;
                for k in 0..outputs {
                    let r = &z[k * len..(k + 1) * len];
                    for (j, column) in self.xs.iter().enumerate() {
                        out[1 + k * (p + 1) + j] = crate::linear::dot(r, &column[rows.clone()]);
                    }
                    out[1 + k * (p + 1) + p] = r.iter().sum();
                }
                out
            },
            add_into,
        )
        .unwrap_or_default();
        let inv_n = 1.0 / n as f64;
        let mut value = sums[0] * inv_n;
        for k in 0..outputs {
            for j in 0..p {
                let idx = k * (p + 1) + j;
                let w = theta[idx];
                value += 0.5 * self.penalty[j] * w * w;
                grad[idx] = sums[1 + idx] * inv_n + self.penalty[j] * w;
            }
            let idx = k * (p + 1) + p;
            grad[idx] = if self.fit_intercept {
                sums[1 + idx] * inv_n
            } else {
                0.0
            };
        }
        value
    }
}

fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Softmax of `z` in place.
pub(crate) fn softmax(z: &mut [f64]) {
    let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in z.iter_mut() {
        *v /= sum;
    }
}

impl LogisticParams {
    /// Fits a classification dataset (two or more classes) without missing values.
    pub fn fit(&self, data: &Dataset) -> Result<LogisticModel, MlError> {
        crate::par::in_pool(|| self.fit_in_pool(data))
    }

    fn fit_in_pool(&self, data: &Dataset) -> Result<LogisticModel, MlError> {
        if !(self.c > 0.0 && self.c.is_finite()) {
            return Err(MlError::param(
                "c",
                format!("must be finite and > 0, got {}", self.c),
            ));
        }
        if self.tol.is_nan() || self.tol < 0.0 {
            return Err(MlError::param(
                "tol",
                format!("must be >= 0, got {}", self.tol),
            ));
        }
        if data.task() != Some(Task::Classification) {
            return Err(MlError::task("logistic", Task::Classification, data.task()));
        }
        let k = data.classes().len();
        if k < 2 {
            return Err(MlError::Data(format!(
                "logistic regression needs at least 2 classes, the dataset has {k}"
            )));
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
        let n = data.n_rows() as f64;
        let p = data.n_features();
        let mut means = Vec::with_capacity(p);
        let mut scales = Vec::with_capacity(p);
        let mut xs = Vec::with_capacity(p);
        for column in data.features() {
            let mean = if self.fit_intercept {
                column.iter().sum::<f64>() / n
            } else {
                0.0
            };
            let var = column.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
            let scale = if var.sqrt() > 1e-12 * (mean.abs() + 1.0) {
                var.sqrt()
            } else {
                1.0
            };
            xs.push(column.iter().map(|x| (x - mean) / scale).collect());
            means.push(mean);
            scales.push(scale);
        }
        let penalty = scales.iter().map(|s| 1.0 / (self.c * n * s * s)).collect();
        let problem = Problem {
            xs,
            y: data.target(),
            k,
            penalty,
            fit_intercept: self.fit_intercept,
        };
        let outputs = problem.outputs();
        let out = lbfgs::minimize(
            |theta, grad| problem.objective(theta, grad),
            vec![0.0; outputs * (p + 1)],
            &Options {
                max_iter: self.max_iter,
                gtol: self.tol,
                memory: 10,
            },
        );
        let mut coefficients = Vec::with_capacity(outputs);
        let mut intercepts = Vec::with_capacity(outputs);
        for block in out.x.chunks(p + 1) {
            let w: Vec<f64> = block[..p].iter().zip(&scales).map(|(w, s)| w / s).collect();
            intercepts.push(block[p] - crate::linear::dot(&w, &means));
            coefficients.push(w);
        }
        Ok(LogisticModel {
            coefficients,
            intercepts,
            n_iter: out.n_iter,
            converged: out.converged,
            schema: Schema::of(data, Task::Classification),
        })
    }
}

impl LogisticModel {
    /// One row of coefficients for a binary model, one per class otherwise.
    #[must_use]
    pub fn coefficients(&self) -> &[Vec<f64>] {
        &self.coefficients
    }

    #[must_use]
    pub fn intercepts(&self) -> &[f64] {
        &self.intercepts
    }

    /// L-BFGS iterations the fit took.
    #[must_use]
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }

    /// Whether the gradient reached `tol` within `max_iter` iterations.
    #[must_use]
    pub fn converged(&self) -> bool {
        self.converged
    }

    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Class probabilities of every row, `[row][class]`.
    pub fn predict_proba(&self, data: &Dataset) -> Result<Vec<Vec<f64>>, MlError> {
        self.schema.check(data)?;
        Ok(self.proba_columns(data.features()))
    }

    /// The most probable class index of every row.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<f64>, MlError> {
        Ok(argmax_rows(&self.predict_proba(data)?))
    }

    pub(crate) fn proba_columns(&self, columns: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let n = columns.first().map_or(0, Vec::len);
        let margins: Vec<Vec<f64>> = self
            .coefficients
            .iter()
            .zip(&self.intercepts)
            .map(|(w, b)| {
                let mut z = vec![*b; n];
                for (column, wj) in columns.iter().zip(w) {
                    for (zi, x) in z.iter_mut().zip(column) {
                        *zi += wj * x;
                    }
                }
                z
            })
            .collect();
        (0..n)
            .map(|i| {
                if margins.len() == 1 {
                    let p = sigmoid(margins[0][i]);
                    vec![1.0 - p, p]
                } else {
                    let mut z: Vec<f64> = margins.iter().map(|m| m[i]).collect();
                    softmax(&mut z);
                    z
                }
            })
            .collect()
    }
}

/// The index of the largest value of each row (the first on ties), as `f64`.
pub(crate) fn argmax_rows(proba: &[Vec<f64>]) -> Vec<f64> {
    proba
        .iter()
        .map(|row| {
            let mut best = 0;
            for (k, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = k;
                }
            }
            best as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(x: Vec<Vec<f64>>, labels: &[&str]) -> Dataset {
        let names = (0..x.len()).map(|j| format!("x{j}")).collect();
        Dataset::new(names, x)
            .unwrap()
            .with_class_labels(labels)
            .unwrap()
    }

    #[test]
    fn binary_optimum_has_zero_gradient_in_original_units() {
        // At the optimum of mean log loss + w²/(2Cn): Σ(p - y) = 0 and Σ(p - y)x + w/C = 0.
        let xs = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let labels = ["0", "0", "1", "0", "1", "0", "1", "1"];
        let data = dataset(vec![xs.clone()], &labels);
        let params = LogisticParams {
            c: 0.5,
            tol: 1e-12,
            max_iter: 1000,
            ..LogisticParams::default()
        };
        let model = params.fit(&data).unwrap();
        assert!(model.converged());
        let (weight, bias) = (model.coefficients()[0][0], model.intercepts()[0]);
        let residuals: Vec<f64> = xs
            .iter()
            .zip(data.target())
            .map(|(xi, yi)| sigmoid(bias + weight * xi) - yi)
            .collect();
        let g_bias: f64 = residuals.iter().sum();
        let g_weight: f64 = residuals
            .iter()
            .zip(&xs)
            .map(|(ri, xi)| ri * xi)
            .sum::<f64>()
            + weight / 0.5;
        assert!(
            g_bias.abs() < 1e-9 && g_weight.abs() < 1e-9,
            "{g_bias} {g_weight}"
        );
        assert!(weight > 0.0);
    }

    #[test]
    fn multinomial_probabilities_sum_to_one_and_classify() {
        let mut x0 = Vec::new();
        let mut x1 = Vec::new();
        let mut labels = Vec::new();
        for i in 0..30 {
            let t = f64::from(i) / 10.0;
            for (cx, cy, label) in [(0.0, 0.0, "a"), (4.0, 0.0, "b"), (0.0, 4.0, "c")] {
                x0.push(cx + t.sin());
                x1.push(cy + t.cos());
                labels.push(label);
            }
        }
        let d = dataset(vec![x0, x1], &labels);
        let m = LogisticParams::default().fit(&d).unwrap();
        assert_eq!(m.coefficients().len(), 3);
        let proba = m.predict_proba(&d).unwrap();
        for row in &proba {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert_eq!(m.predict(&d).unwrap(), d.target());
    }

    #[test]
    fn stronger_penalty_shrinks() {
        let x = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let d = dataset(vec![x], &["0", "0", "1", "0", "1", "1"]);
        let w = |c: f64| {
            let params = LogisticParams {
                c,
                ..LogisticParams::default()
            };
            params.fit(&d).unwrap().coefficients()[0][0]
        };
        assert!(w(0.01) < w(1.0) && w(1.0) < w(100.0));
    }

    #[test]
    fn refuses_one_class() {
        let d = dataset(vec![vec![1.0, 2.0]], &["a", "a"]);
        assert!(LogisticParams::default().fit(&d).is_err());
    }
}
