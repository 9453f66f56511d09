//! Histogram gradient boosting, as scikit-learn's `HistGradientBoostingRegressor` (squared error)
//! and `HistGradientBoostingClassifier` (log loss: one tree per round for two classes, one tree
//! per class per round for more).
//!
//! Features are binned once (and, when their histograms are small, also packed row by row
//! beside each row's gradient and hessian: a [`RowMatrix`], from which the histograms are then
//! built); each round computes every row's gradient and hessian, grows a tree leaf-wise (best
//! gain first, at most `max_leaf_nodes` leaves) over gradient/hessian histograms (the smaller
//! child's built, the sibling's subtracted), sets each leaf to
//! `-learning_rate * G / (H + l2_regularization)`, and adds it to its rows' raw predictions.
//! With the squared loss a row's gradient (prediction minus target) moves by exactly that value,
//! so the gradients are computed from the predictions in the first round only and then shifted
//! by each tree's leaves, and the root's histograms likewise (built from the rows once, when a
//! tree's leaves' histograms fit [`KEEP_BYTES`]).
//! Early stopping, off by default, holds out `validation_fraction` of the rows and stops when the
//! validation loss has not improved by `tol` in `n_iter_no_change` rounds.
//!
//! Deterministic: per-row computations are independent, histograms add rows in order, and every
//! sum over rows is reduced in fixed chunks.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::hist::{
    BinMapper, Binned, GrowParams, HistTree, Histograms, Layout, MAX_BINS, N_BINS, Purity,
    RowMatrix, Scratch, SplitRules, TreeNodes, fill_stats, grow,
};
use crate::logistic::{argmax_rows, sigmoid, softmax};
use crate::par::{CHUNK, chunked, row_u32};
use crate::rng::Rng;
use crate::tree::{check_data, rows_of};
use crate::{Dataset, MlError, Schema, Task};

/// Parameters of [`BoostingParams::fit`]; the defaults are scikit-learn's, except that early
/// stopping is off (scikit-learn turns it on above 10 000 rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoostingParams {
    /// Boosting rounds at most.
    pub max_iter: usize,
    pub learning_rate: f64,
    /// Edges from the root to the deepest leaf at most; `None` for no limit.
    pub max_depth: Option<usize>,
    /// Leaves per tree at most, grown best first; `None` grows depth first without a budget.
    pub max_leaf_nodes: Option<usize>,
    pub min_samples_leaf: usize,
    /// L2 penalty on leaf values.
    pub l2_regularization: f64,
    /// Bins for non-missing values per feature, at most 255.
    pub max_bins: usize,
    pub early_stopping: bool,
    pub validation_fraction: f64,
    pub n_iter_no_change: usize,
    pub tol: f64,
    /// Seeds the binning subsample (above 200 000 rows) and the early-stopping split.
    pub seed: u64,
}

impl Default for BoostingParams {
    fn default() -> Self {
        BoostingParams {
            max_iter: 100,
            learning_rate: 0.1,
            max_depth: None,
            max_leaf_nodes: Some(31),
            min_samples_leaf: 20,
            l2_regularization: 0.0,
            max_bins: MAX_BINS,
            early_stopping: false,
            validation_fraction: 0.1,
            n_iter_no_change: 10,
            tol: 1e-7,
            seed: 0,
        }
    }
}

/// A fitted gradient-boosting model: raw prediction = `baseline[k]` plus, over rounds, the leaf
/// value of tree `trees[round][k]`; for classification the raw predictions are logits (one for
/// two classes, one per class otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostingModel {
    pub(crate) bins: BinMapper,
    pub(crate) baseline: Vec<f64>,
    pub(crate) trees: Vec<Vec<HistTree>>,
    #[serde(skip)]
    pub(crate) schema: Schema,
}

/// The scikit-learn hessian floor below which a child is not allowed.
const MIN_HESSIAN: f64 = 1e-3;
/// Probabilities are clipped to `[EPS, 1 - EPS]` for the baseline and the validation loss.
const EPS: f64 = 1e-15;

#[derive(Clone, Copy, PartialEq)]
enum Loss {
    Squared,
    Binary,
    Multinomial(usize),
}

impl Loss {
    fn outputs(self) -> usize {
        match self {
            Loss::Squared | Loss::Binary => 1,
            Loss::Multinomial(k) => k,
        }
    }

    fn layout(self) -> Layout {
        Layout {
            channels: 1,
            count: self != Loss::Squared,
        }
    }

    fn baseline(self, y: &[f64]) -> Vec<f64> {
        let n = y.len() as f64;
        match self {
            Loss::Squared => vec![sum(y) / n],
            Loss::Binary => {
                let p = (sum(y) / n).clamp(EPS, 1.0 - EPS);
                vec![(p / (1.0 - p)).ln()]
            }
            Loss::Multinomial(k) => {
                let mut counts = vec![0.0; k];
                for &c in y {
                    counts[crate::par::to_index(c)] += 1.0;
                }
                let logs: Vec<f64> = counts
                    .iter()
                    .map(|c| (c / n).clamp(EPS, 1.0 - EPS).ln())
                    .collect();
                let mean = logs.iter().sum::<f64>() / k as f64;
                logs.iter().map(|l| l - mean).collect()
            }
        }
    }

    /// The gradient and hessian (and count, 1) of one row with one output into `s`.
    fn row_stats(self, y: f64, raw: f64, s: &mut [f64]) {
        match self {
            Loss::Squared => {
                s[0] = raw - y;
                s[1] = 1.0;
            }
            Loss::Binary => {
                let p = sigmoid(raw);
                s[0] = p - y;
                s[1] = p * (1.0 - p);
                s[2] = 1.0;
            }
            // Several outputs are computed together by `gradients`.
            Loss::Multinomial(_) => unreachable!("a multinomial loss has more than one output"),
        }
    }

    /// Gradient and hessian of every row and class of the multinomial loss, into `grad` and
    /// `hess` (`n` x classes). A loss with one output fills them row by row instead
    /// ([`Loss::row_stats`]).
    fn gradients(self, y: &[f64], raw: &[f64], grad: &mut [f64], hess: &mut [f64]) {
        let k = self.outputs();
        grad.par_chunks_mut(CHUNK * k)
            .zip(hess.par_chunks_mut(CHUNK * k))
            .enumerate()
            .for_each(|(c, (g, h))| {
                let first = c * CHUNK;
                for (i, (gi, hi)) in g.chunks_exact_mut(k).zip(h.chunks_exact_mut(k)).enumerate() {
                    let row = first + i;
                    gi.copy_from_slice(&raw[row * k..(row + 1) * k]);
                    softmax(gi);
                    let yk = crate::par::to_index(y[row]);
                    for (j, (g, h)) in gi.iter_mut().zip(hi.iter_mut()).enumerate() {
                        *h = *g * (1.0 - *g);
                        if j == yk {
                            *g -= 1.0;
                        }
                    }
                }
            });
    }

    /// Mean loss of raw predictions (half squared error, or cross-entropy).
    fn mean_loss(self, y: &[f64], raw: &[f64]) -> f64 {
        let outputs = self.outputs();
        let total = chunked(
            y.len(),
            |rows| {
                let mut total = 0.0;
                for row in rows {
                    let r = &raw[row * outputs..(row + 1) * outputs];
                    total += match self {
                        Loss::Squared => 0.5 * (r[0] - y[row]).powi(2),
                        Loss::Binary => {
                            let p = sigmoid(r[0]).clamp(EPS, 1.0 - EPS);
                            if y[row] > 0.5 {
                                -p.ln()
                            } else {
                                -(1.0 - p).ln()
                            }
                        }
                        Loss::Multinomial(_) => {
                            let mut p = r.to_vec();
                            softmax(&mut p);
                            -p[crate::par::to_index(y[row])].clamp(EPS, 1.0).ln()
                        }
                    };
                }
                total
            },
            |a, b| a + b,
        )
        .unwrap_or(0.0);
        total / y.len().max(1) as f64
    }
}

fn sum(values: &[f64]) -> f64 {
    chunked(
        values.len(),
        |r| values[r].iter().sum::<f64>(),
        |a, b| a + b,
    )
    .unwrap_or(0.0)
}

impl BoostingParams {
    fn validate(&self) -> Result<(), MlError> {
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(MlError::param(
                "learning_rate",
                format!("must be finite and > 0, got {}", self.learning_rate),
            ));
        }
        if self.min_samples_leaf == 0 {
            return Err(MlError::param("min_samples_leaf", "must be >= 1, got 0"));
        }
        if self.max_depth == Some(0) {
            return Err(MlError::param("max_depth", "must be >= 1 or absent, got 0"));
        }
        if self.max_leaf_nodes.is_some_and(|m| m < 2) {
            return Err(MlError::param("max_leaf_nodes", "must be >= 2 or absent"));
        }
        if !(self.l2_regularization >= 0.0 && self.l2_regularization.is_finite()) {
            return Err(MlError::param(
                "l2_regularization",
                "must be finite and >= 0",
            ));
        }
        if !(2..=MAX_BINS).contains(&self.max_bins) {
            return Err(MlError::param(
                "max_bins",
                format!("must be in 2..=255, got {}", self.max_bins),
            ));
        }
        if self.early_stopping
            && !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0)
        {
            return Err(MlError::param(
                "validation_fraction",
                format!("must be in (0, 1), got {}", self.validation_fraction),
            ));
        }
        if self.early_stopping && self.n_iter_no_change == 0 {
            return Err(MlError::param("n_iter_no_change", "must be >= 1, got 0"));
        }
        Ok(())
    }

    /// Fits a regression or classification dataset; features may have missing values (`NaN`).
    pub fn fit(&self, data: &Dataset) -> Result<BoostingModel, MlError> {
        crate::par::in_pool_awake(|| self.fit_in_pool(data))
    }

    fn fit_in_pool(&self, data: &Dataset) -> Result<BoostingModel, MlError> {
        self.validate()?;
        let task = check_data(data, "gradient_boosting")?;
        let loss = match (task, data.classes().len()) {
            (Task::Regression, _) => Loss::Squared,
            (Task::Classification, 0..=2) => Loss::Binary,
            (Task::Classification, k) => Loss::Multinomial(k),
        };
        if task == Task::Classification && data.classes().len() < 2 {
            return Err(MlError::Data(format!(
                "gradient boosting needs at least 2 classes, the dataset has {}",
                data.classes().len()
            )));
        }
        let (train, validation) = if self.early_stopping {
            let (t, v) = data.train_test_split(self.validation_fraction, self.seed)?;
            if t.n_rows() == 0 || v.n_rows() == 0 {
                return Err(MlError::Data(
                    "too few rows to hold out a validation set".to_owned(),
                ));
            }
            (std::borrow::Cow::Owned(t), Some(v))
        } else {
            (std::borrow::Cow::Borrowed(data), None)
        };
        let bins = BinMapper::fit(train.features(), self.max_bins, self.seed);
        let binned = bins.transform(train.features());
        let validation = validation.map(|v| {
            let b = bins.transform(v.features());
            (v, b)
        });

        let y = train.target();
        let n = train.n_rows();
        let k = loss.outputs();
        let baseline = loss.baseline(y);
        let mut raw: Vec<f64> = baseline.iter().copied().cycle().take(n * k).collect();
        let mut val_raw: Vec<f64> = validation.as_ref().map_or_else(Vec::new, |(v, _)| {
            baseline
                .iter()
                .copied()
                .cycle()
                .take(v.n_rows() * k)
                .collect()
        });
        let mut scores: Vec<f64> = Vec::new();
        if let Some((v, _)) = &validation {
            scores.push(-loss.mean_loss(v.target(), &val_raw));
        }

        let layout = loss.layout();
        let stride = layout.stride();
        let grow_params = GrowParams {
            max_depth: self.max_depth,
            max_leaf_nodes: self.max_leaf_nodes,
            min_samples_split: 2,
            max_features: data.n_features(),
            rules: SplitRules {
                layout,
                impurity: false,
                l2: self.l2_regularization,
                min_samples_leaf: self.min_samples_leaf as f64,
                min_hessian: MIN_HESSIAN,
            },
        };
        let mut rng = Rng::stream(self.seed, 1);
        // Only more than one output computes every gradient apart first.
        let mut grad = vec![0.0; if k > 1 { n * k } else { 0 }];
        let mut hess = vec![0.0; if k > 1 { n * k } else { 0 }];
        let mut trees: Vec<Vec<HistTree>> = Vec::with_capacity(self.max_iter);
        let mut packed = RowMatrix::new(&binned, stride);
        // The statistics live in the packed rows when there are some.
        let mut stats = vec![0.0; if packed.is_some() { 0 } else { n * stride }];
        // With the squared loss a row's gradient moves by its leaf's value each round, and the
        // root's histograms with it: both are shifted by each tree's leaves, the gradients
        // computed from the predictions in the first round only (`raw` is not kept after it).
        let shift = loss == Loss::Squared;
        // Shifting the root's histograms keeps every leaf's to the end of its tree.
        let hist_bytes = data.n_features() * N_BINS * stride * size_of::<f64>();
        let keep = shift
            && self
                .max_leaf_nodes
                .is_some_and(|leaves| leaves.saturating_mul(hist_bytes) <= KEEP_BYTES);
        let mut root_hist: Option<Vec<f64>> = None;
        let mut rows: Vec<u32> = Vec::with_capacity(n);
        // Each tree's buffers, handed to the next.
        let mut scratch = Scratch::default();
        for iteration in 0..self.max_iter {
            if k > 1 {
                loss.gradients(y, &raw, &mut grad, &mut hess);
            }
            let mut round = Vec::with_capacity(k);
            for class in 0..k {
                if k == 1 {
                    if !shift || iteration == 0 {
                        fill_stats(&mut stats, stride, packed.as_mut(), |row, s| {
                            loss.row_stats(y[row], raw[row], s);
                        });
                    }
                } else {
                    fill_stats(&mut stats, stride, packed.as_mut(), |row, s| {
                        let at = row * k + class;
                        s[0] = grad[at];
                        s[1] = hess[at];
                        s[2] = 1.0;
                    });
                }
                rows.clear();
                rows.extend((0..n).map(row_u32));
                let mut grown = grow(
                    &binned,
                    &grow_params,
                    Purity::ByGain,
                    &mut rng,
                    std::mem::take(&mut rows),
                    &stats,
                    Histograms {
                        packed: packed.as_ref(),
                        root: root_hist.take(),
                        keep,
                        scratch: std::mem::take(&mut scratch),
                    },
                );
                let (lr, l2) = (self.learning_rate, self.l2_regularization);
                let tree = HistTree::from_grown(&grown, 1, |s, out| {
                    out[0] = -lr * s[0] / (s[1] + l2);
                });
                let leaves: Vec<(f64, &[u32])> = grown
                    .leaves()
                    .map(|(leaf, rows)| {
                        debug_assert!(rows.is_sorted(), "a leaf's rows are ascending");
                        (tree.value(leaf)[0], rows)
                    })
                    .collect();
                if shift {
                    shift_stats(&mut stats, stride, packed.as_mut(), &leaves);
                } else {
                    add_leaves(&leaves, &mut raw, k, class);
                }
                drop(leaves);
                if let Some(mut root) = grown.root_hist.take() {
                    grown.shift_root(&binned, &mut root, layout.count(), |leaf| {
                        tree.value(leaf)[0]
                    });
                    root_hist = Some(root);
                }
                rows = std::mem::take(&mut grown.rows);
                scratch = grown.into_scratch();
                if let Some((_, vb)) = &validation {
                    add_tree(&tree, vb, &mut val_raw, k, class);
                }
                round.push(tree);
            }
            trees.push(round);
            if let Some((v, _)) = &validation {
                scores.push(-loss.mean_loss(v.target(), &val_raw));
                if should_stop(&scores, self.n_iter_no_change, self.tol) {
                    break;
                }
            }
        }
        Ok(BoostingModel {
            bins,
            baseline,
            trees,
            schema: Schema::of(data, task),
        })
    }
}

/// scikit-learn's rule: stop when none of the last `n` scores beats the one before them by `tol`.
fn should_stop(scores: &[f64], n: usize, tol: f64) -> bool {
    if scores.len() <= n {
        return false;
    }
    let reference = scores[scores.len() - n - 1] + tol;
    !scores[scores.len() - n..].iter().any(|&s| s > reference)
}

/// The most memory a tree's kept leaf histograms may take for the root's to be shifted from
/// round to round (at most `max_leaf_nodes` leaves keep theirs); more leaves (or none set) build
/// the root's from the rows each round.
const KEEP_BYTES: usize = 64 << 20;

/// Rows of `raw` a task of [`add_leaves`] updates.
const LEAF_CHUNK: usize = 1 << 13;

/// Adds each leaf's value (`leaves`: the value and the rows of each) to output `class` of its
/// rows' raw predictions (row-major, `k` outputs), in parallel over fixed chunks of rows.
fn add_leaves(leaves: &[(f64, &[u32])], raw: &mut [f64], k: usize, class: usize) {
    for_leaf_rows(raw, k, class, leaves, |r, v| *r += v);
}

/// Moves the gradient (the first statistic) of every row by its leaf's value, in `packed` when
/// given, else in `stats` (`stride` values a row), in parallel over fixed chunks of rows.
fn shift_stats(
    stats: &mut [f64],
    stride: usize,
    packed: Option<&mut RowMatrix>,
    leaves: &[(f64, &[u32])],
) {
    match packed.and_then(RowMatrix::words_mut) {
        Some((words, width)) => for_leaf_rows(words, width, 0, leaves, |w, v| {
            *w = (f64::from_bits(*w) + v).to_bits();
        }),
        None => for_leaf_rows(stats, stride, 0, leaves, |s, v| *s += v),
    }
}

/// Calls `add(value, leaf value)` on value `at` of every leaf row in `values` (`width` a row),
/// in parallel over fixed chunks of rows.
fn for_leaf_rows<T: Send>(
    values: &mut [T],
    width: usize,
    at: usize,
    leaves: &[(f64, &[u32])],
    add: impl Fn(&mut T, f64) + Sync,
) {
    values
        .par_chunks_mut(LEAF_CHUNK * width)
        .enumerate()
        .for_each(|(c, chunk)| {
            let first = c * LEAF_CHUNK;
            for (v, rows) in rows_within(leaves, first, first + chunk.len() / width) {
                for &r in rows {
                    add(&mut chunk[(r as usize - first) * width + at], v);
                }
            }
        });
}

/// Each leaf's value and its rows among `first..end` (a leaf's rows are ascending).
fn rows_within<'a>(
    leaves: &'a [(f64, &'a [u32])],
    first: usize,
    end: usize,
) -> impl Iterator<Item = (f64, &'a [u32])> {
    leaves.iter().map(move |&(v, rows)| {
        let a = rows.partition_point(|&r| (r as usize) < first);
        let b = rows.partition_point(|&r| (r as usize) < end);
        (v, &rows[a..b])
    })
}

/// Adds `tree`'s leaf values to output `class` of `raw` (row-major, `k` outputs).
fn add_tree(tree: &HistTree, binned: &Binned, raw: &mut [f64], k: usize, class: usize) {
    raw.par_chunks_mut(CHUNK * k)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (i, r) in chunk.chunks_exact_mut(k).enumerate() {
                r[class] += tree.value(tree.leaf(binned, c * CHUNK + i))[0];
            }
        });
}

impl BoostingModel {
    /// Boosting rounds fitted (fewer than `max_iter` after early stopping).
    #[must_use]
    pub fn n_iter(&self) -> usize {
        self.trees.len()
    }

    #[must_use]
    pub fn trees(&self) -> &[Vec<HistTree>] {
        &self.trees
    }

    #[must_use]
    pub fn baseline(&self) -> &[f64] {
        &self.baseline
    }

    #[must_use]
    pub fn bins(&self) -> &BinMapper {
        &self.bins
    }

    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Raw predictions, row-major with one value per output.
    pub(crate) fn raw(&self, columns: &[Vec<f64>]) -> Vec<f64> {
        let binned = self.bins.transform(columns);
        boosted_raw(&Rounds(&self.trees), &self.baseline, &binned)
    }

    /// The prediction (regression) or the most probable class index of every row.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<f64>, MlError> {
        self.schema.check(data)?;
        Ok(self.predict_columns(data.features()))
    }

    /// Class probabilities of every row, `[row][class]`.
    pub fn predict_proba(&self, data: &Dataset) -> Result<Vec<Vec<f64>>, MlError> {
        self.schema.check(data)?;
        if self.schema.task != Task::Classification {
            return Err(MlError::NotClassifier {
                algorithm: crate::model::GRADIENT_BOOSTING,
            });
        }
        Ok(self.proba_columns(data.features()))
    }

    pub(crate) fn predict_columns(&self, columns: &[Vec<f64>]) -> Vec<f64> {
        finish_raw(self.schema.task, self.raw(columns), self.baseline.len())
    }

    pub(crate) fn proba_columns(&self, columns: &[Vec<f64>]) -> Vec<Vec<f64>> {
        proba_of_raw(&self.raw(columns), self.baseline.len())
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let p = self.schema.feature_names.len();
        self.bins.validate(p)?;
        let k = outputs(&self.schema)?;
        if self.baseline.len() != k {
            return Err(format!(
                "{} baseline values, expected {k}",
                self.baseline.len()
            ));
        }
        for round in &self.trees {
            if round.len() != k {
                return Err(format!("a round of {} trees, expected {k}", round.len()));
            }
            round.iter().try_for_each(|t| t.validate(p, 1))?;
        }
        Ok(())
    }
}

/// Raw outputs (trees a round) of a boosting model of `schema`: one for regression and two
/// classes, one per class for more; a classifier of fewer than two classes is refused (its
/// single logit would be read as a second class's).
pub(crate) fn outputs(schema: &Schema) -> Result<usize, String> {
    match (schema.task, schema.n_classes()) {
        (Task::Regression, _) | (Task::Classification, 2) => Ok(1),
        (Task::Classification, k) if k < 2 => Err(format!(
            "a gradient-boosting classifier needs at least 2 classes, the model has {k}"
        )),
        (Task::Classification, k) => Ok(k),
    }
}

/// The trees of a fitted model's rounds, one after another (`k` a round).
struct Rounds<'a>(&'a [Vec<HistTree>]);

impl TreeNodes for Rounds<'_> {
    fn n_trees(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    fn add_leaves(
        &self,
        tree: usize,
        binned: &Binned,
        first: usize,
        out: &mut [f64],
        width: usize,
        at: usize,
    ) {
        let k = self.0.first().map_or(1, Vec::len);
        std::slice::from_ref(&self.0[tree / k][tree % k])
            .add_leaves(0, binned, first, out, width, at);
    }
}

/// Raw predictions of boosted `trees` (rounds of `baseline.len()` trees, one per output, one
/// after another) on `binned` rows: row-major, one value per output.
pub(crate) fn boosted_raw(
    trees: &(impl TreeNodes + ?Sized),
    baseline: &[f64],
    binned: &Binned,
) -> Vec<f64> {
    let k = baseline.len();
    let n = binned.columns.first().map_or(0, Vec::len);
    let mut raw: Vec<f64> = baseline.iter().copied().cycle().take(n * k).collect();
    raw.par_chunks_mut(CHUNK * k)
        .enumerate()
        .for_each(|(c, chunk)| {
            for tree in 0..trees.n_trees() {
                trees.add_leaves(tree, binned, c * CHUNK, chunk, k, tree % k);
            }
        });
    raw
}

/// Class probabilities from raw predictions with `k` outputs (a logit for two classes).
pub(crate) fn proba_of_raw(raw: &[f64], k: usize) -> Vec<Vec<f64>> {
    if k == 1 {
        raw.iter()
            .map(|&z| {
                let p = sigmoid(z);
                vec![1.0 - p, p]
            })
            .collect()
    } else {
        let mut rows = rows_of(raw, k);
        for r in &mut rows {
            softmax(r);
        }
        rows
    }
}

/// Predictions from raw predictions: the values (regression) or the most probable class.
pub(crate) fn finish_raw(task: Task, raw: Vec<f64>, k: usize) -> Vec<f64> {
    match task {
        Task::Regression => raw,
        Task::Classification => argmax_rows(&proba_of_raw(&raw, k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Squared-loss gradients and root histograms are shifted from round to round, not
    /// computed again: each round's leaves still hold `-learning_rate` times their rows' mean
    /// residual under the previous rounds' predictions, with histograms built row by row (few
    /// features) and feature by feature (many of 255 bins), trees grown best first (the root's
    /// histograms shifted) and depth first (built each round).
    #[test]
    fn shifted_gradients_are_the_residuals_of_the_previous_rounds() {
        let n = 2000;
        let mut rng = Rng::new(5);
        for n_features in [3, 12] {
            let columns: Vec<Vec<f64>> = (0..n_features)
                .map(|_| (0..n).map(|_| rng.below(1_000_000) as f64 / 1e6).collect())
                .collect();
            let y: Vec<f64> = (0..n)
                .map(|i| {
                    10.0 * columns[0][i]
                        + (6.0 * columns[1][i]).sin() * 3.0
                        + columns[2][i] * columns[0][i]
                })
                .collect();
            let data = Dataset::new((0..n_features).map(|j| format!("x{j}")).collect(), columns)
                .unwrap()
                .with_regression_target(y.clone())
                .unwrap();
            let binned = BinMapper::fit(data.features(), MAX_BINS, 0).transform(data.features());
            assert_eq!(
                RowMatrix::new(&binned, 2).is_some(),
                n_features == 3,
                "both ways of building histograms"
            );
            for (rounds, best_first) in [(1, true), (4, true), (9, true), (4, false)] {
                let fit = |rounds| {
                    let params = BoostingParams {
                        max_iter: rounds,
                        ..BoostingParams::default()
                    };
                    if best_first {
                        params
                    } else {
                        BoostingParams {
                            max_leaf_nodes: None,
                            max_depth: Some(4),
                            ..params
                        }
                    }
                    .fit(&data)
                    .unwrap()
                };
                let before = fit(rounds);
                let after = fit(rounds + 1);
                let pred = before.predict(&data).unwrap();
                let last = &after.trees()[rounds][0];
                let binned = after.bins().transform(data.features());
                let mut sums = vec![(0.0, 0.0); last.n_nodes()];
                for (i, (p, t)) in pred.iter().zip(&y).enumerate() {
                    let s = &mut sums[last.leaf(&binned, i)];
                    s.0 += p - t;
                    s.1 += 1.0;
                }
                for (leaf, &(g, count)) in sums.iter().enumerate().filter(|(_, s)| s.1 > 0.0) {
                    let expected = -0.1 * g / count;
                    let value = last.value(leaf)[0];
                    assert!(
                        (value - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                        "{n_features} features, round {rounds}, leaf {leaf}: {value} against {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn one_round_of_squared_error_is_a_shrunk_mean_shift() {
        // y = 0 for x < 50, 10 for x >= 50: the first tree's leaves are -lr * mean residual.
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|&v| if v < 50.0 { 0.0 } else { 10.0 })
            .collect();
        let d = Dataset::new(vec!["x".into()], vec![x])
            .unwrap()
            .with_regression_target(y)
            .unwrap();
        let params = BoostingParams {
            max_iter: 1,
            max_leaf_nodes: Some(2),
            ..BoostingParams::default()
        };
        let model = params.fit(&d).unwrap();
        assert!((model.baseline()[0] - 5.0).abs() < 1e-12);
        let pred = model.predict(&d).unwrap();
        assert!(
            (pred[0] - 4.5).abs() < 1e-12 && (pred[99] - 5.5).abs() < 1e-12,
            "{pred:?}"
        );
        assert_eq!(model.trees()[0][0].n_leaves(), 2);
    }

    #[test]
    fn leaf_budget_and_min_samples_leaf_hold() {
        let x: Vec<f64> = (0..500).map(|i| f64::from(i % 97)).collect();
        let y: Vec<f64> = x.iter().map(|v| (v / 10.0).sin()).collect();
        let d = Dataset::new(vec!["x".into()], vec![x])
            .unwrap()
            .with_regression_target(y)
            .unwrap();
        let m = BoostingParams {
            max_iter: 5,
            max_leaf_nodes: Some(7),
            ..BoostingParams::default()
        }
        .fit(&d)
        .unwrap();
        for round in m.trees() {
            assert!(round[0].n_leaves() <= 7);
        }
        let deep = BoostingParams {
            max_iter: 2,
            max_depth: Some(2),
            max_leaf_nodes: None,
            ..BoostingParams::default()
        }
        .fit(&d)
        .unwrap();
        assert!(deep.trees()[0][0].depth() <= 2);
    }

    #[test]
    fn multiclass_grows_one_tree_per_class() {
        let x: Vec<f64> = (0..90).map(f64::from).collect();
        let labels: Vec<String> = (0..90).map(|i| format!("c{}", i / 30)).collect();
        let d = Dataset::new(vec!["x".into()], vec![x])
            .unwrap()
            .with_class_labels(&labels)
            .unwrap();
        let m = BoostingParams {
            max_iter: 20,
            min_samples_leaf: 5,
            ..BoostingParams::default()
        }
        .fit(&d)
        .unwrap();
        assert_eq!(m.trees()[0].len(), 3);
        assert_eq!(m.predict(&d).unwrap(), d.target());
        for row in m.predict_proba(&d).unwrap() {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn early_stopping_stops_on_noise() {
        let mut rng = Rng::new(5);
        let x: Vec<f64> = (0..600).map(|_| rng.below(1000) as f64).collect();
        let y: Vec<f64> = (0..600).map(|_| rng.below(1000) as f64).collect();
        let d = Dataset::new(vec!["x".into()], vec![x])
            .unwrap()
            .with_regression_target(y)
            .unwrap();
        let m = BoostingParams {
            max_iter: 200,
            early_stopping: true,
            ..BoostingParams::default()
        }
        .fit(&d)
        .unwrap();
        assert!(m.n_iter() < 200, "{}", m.n_iter());
    }

    #[test]
    fn stop_rule_matches_scikit_learn() {
        assert!(!should_stop(&[1.0, 2.0], 2, 0.0));
        assert!(should_stop(&[3.0, 2.0, 3.0], 2, 0.0));
        assert!(!should_stop(&[3.0, 2.0, 3.5], 2, 0.0));
    }
}
