//! Random forests of histogram trees, as scikit-learn's `RandomForestRegressor` and
//! `RandomForestClassifier`: each tree grows on a bootstrap sample (as row weights), drawing
//! `max_features` features at random for each split; predictions average the trees' leaf values
//! (class probabilities for classification).
//!
//! Features are binned once for the whole forest and the trees grow in parallel. Tree `t` draws
//! from its own generator seeded by `(seed, t)`, so the forest is bit-identical whatever the
//! number of threads.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::hist::{BinMapper, HistTree, MAX_BINS};
use crate::rng::Rng;
use crate::tree::{check_data, check_sizes, finish, grow_tree, mean_leaves, n_outputs, rows_of};
use crate::{Dataset, MaxFeatures, MlError, Schema, Task};

/// Parameters of [`ForestParams::fit`]; the defaults are scikit-learn's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForestParams {
    pub n_estimators: usize,
    /// Grow each tree on a bootstrap sample (`n` rows drawn with replacement) instead of all rows.
    pub bootstrap: bool,
    /// Features drawn at random for each split; `None` means scikit-learn's default for the task:
    /// `sqrt` for classification, all features for regression.
    pub max_features: Option<MaxFeatures>,
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    /// Each side of a split needs this many distinct rows.
    pub min_samples_leaf: usize,
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_estimators: 100,
            bootstrap: true,
            max_features: None,
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            seed: 0,
        }
    }
}

/// A fitted random forest: the shared bin edges and the trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestModel {
    pub(crate) bins: BinMapper,
    pub(crate) trees: Vec<HistTree>,
    #[serde(skip)]
    pub(crate) schema: Schema,
}

impl ForestParams {
    /// Fits a regression or classification dataset; features may have missing values (`NaN`).
    pub fn fit(&self, data: &Dataset) -> Result<ForestModel, MlError> {
        crate::par::in_pool(|| self.fit_in_pool(data))
    }

    fn fit_in_pool(&self, data: &Dataset) -> Result<ForestModel, MlError> {
        if self.n_estimators == 0 {
            return Err(MlError::param("n_estimators", "must be >= 1, got 0"));
        }
        check_sizes(
            self.min_samples_split,
            self.min_samples_leaf,
            self.max_depth,
        )?;
        let task = check_data(data, "random_forest")?;
        let max_features = self
            .max_features
            .unwrap_or(match task {
                Task::Regression => MaxFeatures::All,
                Task::Classification => MaxFeatures::Sqrt,
            })
            .resolve(data.n_features())?;
        let bins = BinMapper::fit(data.features(), MAX_BINS, self.seed);
        let binned = bins.transform(data.features());
        let n = data.n_rows();
        let trees = (0..self.n_estimators)
            .into_par_iter()
            .map(|t| {
                let mut rng = Rng::stream(self.seed, t as u64);
                let (rows, weights) = if self.bootstrap {
                    let mut counts = vec![0u32; n];
                    for _ in 0..n {
                        counts[rng.below(n)] += 1;
                    }
                    let rows = (0..n)
                        .filter(|&i| counts[i] > 0)
                        .map(crate::par::row_u32)
                        .collect();
                    (rows, Some(counts))
                } else {
                    ((0..n).map(crate::par::row_u32).collect(), None)
                };
                grow_tree(
                    task,
                    data,
                    &binned,
                    rows,
                    weights.as_deref(),
                    self.max_depth,
                    self.min_samples_split,
                    self.min_samples_leaf,
                    max_features,
                    &mut rng,
                )
            })
            .collect();
        Ok(ForestModel {
            bins,
            trees,
            schema: Schema::of(data, task),
        })
    }
}

impl ForestModel {
    #[must_use]
    pub fn trees(&self) -> &[HistTree] {
        &self.trees
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

    /// The mean of the trees' predictions (regression) or the class of highest mean probability.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<f64>, MlError> {
        self.schema.check(data)?;
        Ok(self.predict_columns(data.features()))
    }

    /// The mean of the trees' class probabilities, `[row][class]`.
    pub fn predict_proba(&self, data: &Dataset) -> Result<Vec<Vec<f64>>, MlError> {
        self.schema.check(data)?;
        if self.schema.task != Task::Classification {
            return Err(MlError::NotClassifier {
                algorithm: crate::model::RANDOM_FOREST,
            });
        }
        Ok(rows_of(&self.leaf_means(data.features()), self.n_outputs()))
    }

    pub(crate) fn predict_columns(&self, columns: &[Vec<f64>]) -> Vec<f64> {
        finish(self.schema.task, self.leaf_means(columns), self.n_outputs())
    }

    pub(crate) fn leaf_means(&self, columns: &[Vec<f64>]) -> Vec<f64> {
        let binned = self.bins.transform(columns);
        mean_leaves(&self.trees[..], &binned, self.n_outputs())
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let p = self.schema.feature_names.len();
        self.bins.validate(p)?;
        if self.trees.is_empty() {
            return Err("a forest needs at least one tree".to_owned());
        }
        self.trees
            .iter()
            .try_for_each(|t| t.validate(p, self.n_outputs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy_step(n: u32) -> Dataset {
        let mut rng = Rng::new(3);
        let x: Vec<f64> = (0..n).map(|i| f64::from(i) / f64::from(n)).collect();
        let z: Vec<f64> = (0..n).map(|_| rng.below(1000) as f64 / 1000.0).collect();
        let labels: Vec<&str> = x
            .iter()
            .zip(&z)
            .map(|(a, b)| if a + b > 1.0 { "hi" } else { "lo" })
            .collect();
        Dataset::new(vec!["x".into(), "z".into()], vec![x, z])
            .unwrap()
            .with_class_labels(&labels)
            .unwrap()
    }

    #[test]
    fn probabilities_are_averages_and_the_seed_matters() {
        let d = noisy_step(300);
        let params = ForestParams {
            n_estimators: 7,
            ..ForestParams::default()
        };
        let m = params.fit(&d).unwrap();
        assert_eq!(m.trees().len(), 7);
        let proba = m.predict_proba(&d).unwrap();
        for row in &proba {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            // Each probability is a mean of 7 trees' leaf proportions; fully grown leaves are pure.
            assert!((row[0] * 7.0 - (row[0] * 7.0).round()).abs() < 1e-9);
        }
        assert_eq!(params.fit(&d).unwrap(), m);
        let other = ForestParams { seed: 1, ..params }.fit(&d).unwrap();
        assert_ne!(other.trees, m.trees);
    }

    #[test]
    fn without_bootstrap_and_all_features_every_tree_is_the_same() {
        let d = noisy_step(200);
        let params = ForestParams {
            n_estimators: 3,
            bootstrap: false,
            max_features: Some(MaxFeatures::All),
            ..ForestParams::default()
        };
        let m = params.fit(&d).unwrap();
        assert_eq!(m.trees[0], m.trees[1]);
        assert_eq!(m.trees[1], m.trees[2]);
        // Fully grown on every row: the training data is fitted exactly.
        assert_eq!(m.predict(&d).unwrap(), d.target());
    }

    #[test]
    fn regression_forest_is_not_a_classifier() {
        let d = Dataset::new(vec!["x".into()], vec![vec![1.0, 2.0, 3.0]])
            .unwrap()
            .with_regression_target(vec![1.0, 2.0, 3.0])
            .unwrap();
        let m = ForestParams {
            n_estimators: 2,
            ..ForestParams::default()
        }
        .fit(&d)
        .unwrap();
        assert!(matches!(
            m.predict_proba(&d),
            Err(MlError::NotClassifier { .. })
        ));
    }
}
