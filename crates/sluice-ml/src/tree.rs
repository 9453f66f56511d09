//! A decision tree on histogram-binned features: squared error for regression, Gini impurity for
//! classification, as scikit-learn's `DecisionTreeRegressor` and `DecisionTreeClassifier` but with
//! thresholds between the 255 quantile bins of each feature rather than between every pair of
//! distinct values.
//!
//! Missing values (`NaN`) are allowed: they have their own bin, and each split sends them to the
//! side that scores better. Prediction bins raw features with the saved edges.
//!
//! Also the shared parts of [`crate::forest`]: per-row statistics, leaf values and prediction.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::hist::{
    BinMapper, Binned, GrowParams, HistTree, Histograms, Layout, MAX_BINS, Purity, SplitRules,
    TreeNodes, grow,
};
use crate::logistic::argmax_rows;
use crate::rng::Rng;
use crate::{Dataset, MaxFeatures, MlError, Schema, Task};

/// Parameters of [`TreeParams::fit`]; the defaults are scikit-learn's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreeParams {
    /// Edges from the root to the deepest leaf at most; `None` grows until leaves are pure.
    pub max_depth: Option<usize>,
    /// A node needs this many rows to be split.
    pub min_samples_split: usize,
    /// Each side of a split needs this many rows.
    pub min_samples_leaf: usize,
    /// Features drawn at random for each split; `None` uses all of them.
    pub max_features: Option<MaxFeatures>,
    /// Seeds the feature draws (and nothing else: with all features the tree is the same for
    /// every seed).
    pub seed: u64,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            max_features: None,
            seed: 0,
        }
    }
}

/// A fitted decision tree: its bin edges and its nodes. Leaves hold the mean target
/// (regression) or the class proportions (classification).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeModel {
    pub(crate) bins: BinMapper,
    pub(crate) tree: HistTree,
    #[serde(skip)]
    pub(crate) schema: Schema,
}

/// What the tree learners check of a dataset before fitting; returns its task.
pub(crate) fn check_data(data: &Dataset, learner: &'static str) -> Result<Task, MlError> {
    let Some(task) = data.task() else {
        return Err(MlError::Data(format!(
            "`{learner}` needs a target: the dataset has none"
        )));
    };
    if data.n_rows() == 0 {
        return Err(MlError::Data("no rows to fit".to_owned()));
    }
    if u32::try_from(data.n_rows()).is_err() {
        return Err(MlError::Data(format!(
            "{} rows is more than the tree learners handle ({})",
            data.n_rows(),
            u32::MAX
        )));
    }
    if task == Task::Classification && data.classes().is_empty() {
        return Err(MlError::Data(
            "a classification dataset needs classes".to_owned(),
        ));
    }
    Ok(task)
}

pub(crate) fn check_sizes(
    min_samples_split: usize,
    min_samples_leaf: usize,
    max_depth: Option<usize>,
) -> Result<(), MlError> {
    if min_samples_split < 2 {
        return Err(MlError::param(
            "min_samples_split",
            format!("must be >= 2, got {min_samples_split}"),
        ));
    }
    if min_samples_leaf < 1 {
        return Err(MlError::param("min_samples_leaf", "must be >= 1, got 0"));
    }
    if max_depth == Some(0) {
        return Err(MlError::param("max_depth", "must be >= 1 or absent, got 0"));
    }
    Ok(())
}

/// Outputs per leaf: 1 for regression, one probability per class otherwise.
pub(crate) fn n_outputs(task: Task, n_classes: usize) -> usize {
    match task {
        Task::Regression => 1,
        Task::Classification => n_classes,
    }
}

/// The layout and per-row statistics (indexed by row, filled for `rows`) for an impurity tree: the
/// target (regression) or a one-hot class indicator (classification), times the row's weight,
/// then the weight, then, with weights, a count of 1.
pub(crate) fn row_stats(
    task: Task,
    data: &Dataset,
    rows: &[u32],
    weights: Option<&[u32]>,
) -> (Layout, Vec<f64>) {
    let channels = n_outputs(task, data.classes().len());
    let layout = Layout {
        channels,
        count: weights.is_some(),
    };
    let stride = layout.stride();
    let y = data.target();
    let mut stats = vec![0.0; data.n_rows() * stride];
    for &r in rows {
        let r = r as usize;
        let s = &mut stats[r * stride..(r + 1) * stride];
        let w = weights.map_or(1.0, |w| f64::from(w[r]));
        match task {
            Task::Regression => s[0] = w * y[r],
            Task::Classification => s[crate::par::to_index(y[r])] = w,
        }
        s[channels] = w;
        if layout.count {
            s[channels + 1] = 1.0;
        }
    }
    (layout, stats)
}

pub(crate) fn impurity_rules(layout: Layout, min_samples_leaf: usize) -> SplitRules {
    SplitRules {
        layout,
        impurity: true,
        l2: 0.0,
        min_samples_leaf: min_samples_leaf as f64,
        min_hessian: f64::MIN_POSITIVE,
    }
}

/// Grows one impurity tree on `rows` (with bootstrap `weights`, if any).
#[expect(clippy::too_many_arguments, reason = "the shared core of two learners")]
pub(crate) fn grow_tree(
    task: Task,
    data: &Dataset,
    binned: &Binned,
    rows: Vec<u32>,
    weights: Option<&[u32]>,
    max_depth: Option<usize>,
    min_samples_split: usize,
    min_samples_leaf: usize,
    max_features: usize,
    rng: &mut Rng,
) -> HistTree {
    let (layout, stats) = row_stats(task, data, &rows, weights);
    let params = GrowParams {
        max_depth,
        max_leaf_nodes: None,
        min_samples_split,
        max_features,
        rules: impurity_rules(layout, min_samples_leaf),
    };
    let purity = match task {
        Task::Regression => Purity::Target(data.target()),
        Task::Classification => Purity::ByGain,
    };
    let grown = grow(
        binned,
        &params,
        purity,
        rng,
        rows,
        &stats,
        Histograms::default(),
    );
    let channels = layout.channels;
    HistTree::from_grown(&grown, channels, |sums, out| {
        let h = sums[channels];
        for (o, g) in out.iter_mut().zip(sums) {
            *o = g / h;
        }
    })
}

/// Rows predicted per parallel task.
const PREDICT_CHUNK: usize = 1024;

/// The mean over `trees` of each row's leaf values, row-major (`n_rows` x `n_outputs`). Each row
/// adds the trees in order, so the result does not depend on the number of threads.
pub(crate) fn mean_leaves(
    trees: &(impl TreeNodes + ?Sized),
    binned: &Binned,
    n_outputs: usize,
) -> Vec<f64> {
    let n_rows = binned.columns.first().map_or(0, Vec::len);
    let mut out = vec![0.0; n_rows * n_outputs];
    let scale = 1.0 / trees.n_trees().max(1) as f64;
    out.par_chunks_mut(PREDICT_CHUNK * n_outputs)
        .enumerate()
        .for_each(|(c, chunk)| {
            let first = c * PREDICT_CHUNK;
            for tree in 0..trees.n_trees() {
                trees.add_leaves(tree, binned, first, chunk, n_outputs, 0);
            }
            for o in chunk.iter_mut() {
                *o *= scale;
            }
        });
    out
}

/// Predictions from mean leaf values: the value itself (regression) or the most probable class.
pub(crate) fn finish(task: Task, mean: Vec<f64>, n_outputs: usize) -> Vec<f64> {
    match task {
        Task::Regression => mean,
        Task::Classification => argmax_rows(&rows_of(&mean, n_outputs)),
    }
}

pub(crate) fn rows_of(flat: &[f64], width: usize) -> Vec<Vec<f64>> {
    flat.chunks_exact(width).map(<[f64]>::to_vec).collect()
}

impl TreeParams {
    /// Fits a regression or classification dataset; features may have missing values (`NaN`).
    pub fn fit(&self, data: &Dataset) -> Result<TreeModel, MlError> {
        crate::par::in_pool_awake(|| self.fit_in_pool(data))
    }

    fn fit_in_pool(&self, data: &Dataset) -> Result<TreeModel, MlError> {
        check_sizes(
            self.min_samples_split,
            self.min_samples_leaf,
            self.max_depth,
        )?;
        let task = check_data(data, "decision_tree")?;
        let max_features = self
            .max_features
            .unwrap_or(MaxFeatures::All)
            .resolve(data.n_features())?;
        let bins = BinMapper::fit(data.features(), MAX_BINS, self.seed);
        let binned = bins.transform(data.features());
        let rows: Vec<u32> = (0..data.n_rows()).map(crate::par::row_u32).collect();
        let mut rng = Rng::stream(self.seed, 0);
        let tree = grow_tree(
            task,
            data,
            &binned,
            rows,
            None,
            self.max_depth,
            self.min_samples_split,
            self.min_samples_leaf,
            max_features,
            &mut rng,
        );
        Ok(TreeModel {
            bins,
            tree,
            schema: Schema::of(data, task),
        })
    }
}

impl TreeModel {
    #[must_use]
    pub fn tree(&self) -> &HistTree {
        &self.tree
    }

    #[must_use]
    pub fn bins(&self) -> &BinMapper {
        &self.bins
    }

    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    fn n_outputs(&self) -> usize {
        n_outputs(self.schema.task, self.schema.n_classes())
    }

    /// The mean target (regression) or the most probable class index of every row.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<f64>, MlError> {
        self.schema.check(data)?;
        Ok(self.predict_columns(data.features()))
    }

    pub(crate) fn predict_columns(&self, columns: &[Vec<f64>]) -> Vec<f64> {
        let mean = self.leaf_means(columns);
        finish(self.schema.task, mean, self.n_outputs())
    }

    pub(crate) fn leaf_means(&self, columns: &[Vec<f64>]) -> Vec<f64> {
        let binned = self.bins.transform(columns);
        mean_leaves(std::slice::from_ref(&self.tree), &binned, self.n_outputs())
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let p = self.schema.feature_names.len();
        self.bins.validate(p)?;
        self.tree.validate(p, self.n_outputs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step_data() -> Dataset {
        // y = 1 for x < 5, 3 for x >= 5; a second, useless feature.
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let noise: Vec<f64> = (0..10).map(|i| f64::from((i * 7) % 10)).collect();
        let y: Vec<f64> = x.iter().map(|&v| if v < 5.0 { 1.0 } else { 3.0 }).collect();
        Dataset::new(vec!["x".into(), "noise".into()], vec![x, noise])
            .unwrap()
            .with_regression_target(y)
            .unwrap()
    }

    #[test]
    fn a_step_is_one_split() {
        let d = step_data();
        let m = TreeParams::default().fit(&d).unwrap();
        assert_eq!(m.tree().n_nodes(), 3);
        assert_eq!(m.tree().depth(), 1);
        assert_eq!(m.predict(&d).unwrap(), d.target());
        // Between the training values 4 and 5, the threshold is their midpoint.
        let q = Dataset::new(
            vec!["x".into(), "noise".into()],
            vec![vec![4.49, 4.51, f64::NAN], vec![0.0; 3]],
        )
        .unwrap();
        let p = m.predict(&q).unwrap();
        assert_eq!(&p[..2], [1.0, 3.0]);
        // No missing values in training: they follow the larger side (a tie goes left).
        assert!((p[2] - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn max_depth_and_min_samples_leaf_limit_growth() {
        let x: Vec<f64> = (0..64).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| v * v).collect();
        let d = Dataset::new(vec!["x".into()], vec![x])
            .unwrap()
            .with_regression_target(y)
            .unwrap();
        let full = TreeParams::default().fit(&d).unwrap();
        assert_eq!(full.tree().n_leaves(), 64);
        let shallow = TreeParams {
            max_depth: Some(3),
            ..TreeParams::default()
        }
        .fit(&d)
        .unwrap();
        assert_eq!(shallow.tree().depth(), 3);
        assert_eq!(shallow.tree().n_leaves(), 8);
        let wide = TreeParams {
            min_samples_leaf: 10,
            ..TreeParams::default()
        }
        .fit(&d)
        .unwrap();
        assert!(wide.tree().n_leaves() <= 6);
    }

    #[test]
    fn gini_tree_separates_classes_and_learns_missing_values() {
        // Class "b" where x > 2 or x is missing.
        let x = vec![0.0, 1.0, 2.0, 3.0, 4.0, f64::NAN, 5.0, f64::NAN];
        let labels = ["a", "a", "a", "b", "b", "b", "b", "b"];
        let d = Dataset::new(vec!["x".into()], vec![x])
            .unwrap()
            .with_class_labels(&labels)
            .unwrap();
        let m = TreeParams::default().fit(&d).unwrap();
        assert_eq!(m.predict(&d).unwrap(), d.target());
        assert_eq!(m.tree().n_leaves(), 2);
    }

    #[test]
    fn pure_nodes_are_leaves() {
        let d = Dataset::new(vec!["x".into()], vec![vec![1.0, 2.0, 3.0]])
            .unwrap()
            .with_regression_target(vec![0.1, 0.1, 0.1])
            .unwrap();
        assert_eq!(TreeParams::default().fit(&d).unwrap().tree().n_nodes(), 1);
    }

    #[test]
    fn degenerate_data_gives_a_single_leaf() {
        let one = Dataset::new(vec!["x".into()], vec![vec![1.0]])
            .unwrap()
            .with_regression_target(vec![4.0])
            .unwrap();
        let m = TreeParams::default().fit(&one).unwrap();
        assert_eq!(m.tree().n_nodes(), 1);
        assert!((m.predict(&one).unwrap()[0] - 4.0).abs() < f64::EPSILON);
        // Constant and all-missing features cannot split: the leaf is the mean.
        let flat = Dataset::new(
            vec!["c".into(), "m".into()],
            vec![vec![2.0; 4], vec![f64::NAN; 4]],
        )
        .unwrap()
        .with_regression_target(vec![1.0, 2.0, 3.0, 4.0])
        .unwrap();
        let m = TreeParams::default().fit(&flat).unwrap();
        assert_eq!(m.tree().n_nodes(), 1);
        assert!((m.predict(&flat).unwrap()[0] - 2.5).abs() < f64::EPSILON);
    }

    #[test]
    fn refuses_bad_parameters() {
        let d = step_data();
        let bad = TreeParams {
            min_samples_split: 1,
            ..TreeParams::default()
        };
        assert!(matches!(bad.fit(&d), Err(MlError::Param { .. })));
        let unlabelled = Dataset::new(vec!["x".into()], vec![vec![1.0]]).unwrap();
        assert!(TreeParams::default().fit(&unlabelled).is_err());
    }
}
