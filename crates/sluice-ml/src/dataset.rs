//! The tabular data every learner fits on and predicts from.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::MlError;
use crate::rng::Rng;

/// What a dataset's target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// A real-valued target.
    Regression,
    /// A target of class indices `0..k` into the dataset's class labels.
    Classification,
}

impl Task {
    /// `regression` or `classification`, as written in `model.json`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Regression => "regression",
            Task::Classification => "classification",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Dense, column-major features (one `Vec<f64>` per feature, `NaN` for a missing value), their
/// names, and optionally a target.
///
/// For classification the target holds class indices `0..k` (as `f64`) and the dataset keeps the
/// class labels they index. A dataset without a target is what predictions are made on.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    feature_names: Vec<String>,
    features: Vec<Vec<f64>>,
    n_rows: usize,
    target: Vec<f64>,
    classes: Vec<String>,
    task: Option<Task>,
}

impl Dataset {
    /// Features only, one column per name; every column must have the same length.
    pub fn new(feature_names: Vec<String>, features: Vec<Vec<f64>>) -> Result<Self, MlError> {
        if feature_names.len() != features.len() {
            return Err(MlError::Data(format!(
                "{} feature names for {} feature columns",
                feature_names.len(),
                features.len()
            )));
        }
        let Some(first) = features.first() else {
            return Err(MlError::Data(
                "a dataset needs at least one feature".to_owned(),
            ));
        };
        let n_rows = first.len();
        let mut seen = HashSet::new();
        for (name, column) in feature_names.iter().zip(&features) {
            if column.len() != n_rows {
                return Err(MlError::Data(format!(
                    "feature `{name}` has {} rows, feature `{}` has {n_rows}",
                    column.len(),
                    feature_names[0]
                )));
            }
            if !seen.insert(name.as_str()) {
                return Err(MlError::Data(format!("feature `{name}` appears twice")));
            }
        }
        Ok(Dataset {
            feature_names,
            features,
            n_rows,
            target: Vec::new(),
            classes: Vec::new(),
            task: None,
        })
    }

    /// Features given row by row (`rows[i][j]` is feature `j` of row `i`).
    pub fn from_rows(feature_names: Vec<String>, rows: &[Vec<f64>]) -> Result<Self, MlError> {
        let mut features: Vec<Vec<f64>> = feature_names
            .iter()
            .map(|_| Vec::with_capacity(rows.len()))
            .collect();
        for (i, row) in rows.iter().enumerate() {
            if row.len() != feature_names.len() {
                return Err(MlError::Data(format!(
                    "row {i} has {} values for {} features",
                    row.len(),
                    feature_names.len()
                )));
            }
            for (column, &value) in features.iter_mut().zip(row) {
                column.push(value);
            }
        }
        Dataset::new(feature_names, features)
    }

    /// Adds a real-valued target, one finite value per row.
    pub fn with_regression_target(mut self, target: Vec<f64>) -> Result<Self, MlError> {
        self.check_target_len(target.len())?;
        if let Some(i) = target.iter().position(|y| !y.is_finite()) {
            return Err(MlError::Data(format!(
                "target value {} at row {i} is not finite",
                target[i]
            )));
        }
        self.target = target;
        self.classes = Vec::new();
        self.task = Some(Task::Regression);
        Ok(self)
    }

    /// Adds a class target as indices into `classes`.
    pub fn with_class_indices(
        mut self,
        target: &[usize],
        classes: Vec<String>,
    ) -> Result<Self, MlError> {
        self.check_target_len(target.len())?;
        let unique: HashSet<&str> = classes.iter().map(String::as_str).collect();
        if unique.len() != classes.len() {
            return Err(MlError::Data("class labels must be distinct".to_owned()));
        }
        if let Some(i) = target.iter().position(|&c| c >= classes.len()) {
            return Err(MlError::Data(format!(
                "class index {} at row {i} is out of range for {} classes",
                target[i],
                classes.len()
            )));
        }
        self.target = target.iter().map(|&c| c as f64).collect();
        self.classes = classes;
        self.task = Some(Task::Classification);
        Ok(self)
    }

    /// Adds a class target from labels; the classes are the distinct labels, sorted numerically
    /// when every label is a number and as text otherwise (as scikit-learn orders them).
    pub fn with_class_labels<S: AsRef<str>>(self, labels: &[S]) -> Result<Self, MlError> {
        let mut classes: Vec<String> = labels
            .iter()
            .map(|l| l.as_ref().to_owned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let numeric: Option<Vec<f64>> = classes.iter().map(|c| c.parse::<f64>().ok()).collect();
        if numeric.is_some() {
            classes.sort_by(|a, b| {
                let (x, y) = (a.parse::<f64>(), b.parse::<f64>());
                match (x, y) {
                    (Ok(x), Ok(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
                    _ => a.cmp(b),
                }
            });
        } else {
            classes.sort();
        }
        let index: std::collections::HashMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let target: Vec<usize> = labels.iter().map(|l| index[l.as_ref()]).collect();
        self.with_class_indices(&target, classes)
    }

    fn check_target_len(&self, len: usize) -> Result<(), MlError> {
        if len == self.n_rows {
            Ok(())
        } else {
            Err(MlError::Data(format!(
                "{len} target values for {} rows",
                self.n_rows
            )))
        }
    }

    #[must_use]
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    #[must_use]
    pub fn n_features(&self) -> usize {
        self.features.len()
    }

    #[must_use]
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The feature columns, `features()[j][i]` being feature `j` of row `i`.
    #[must_use]
    pub fn features(&self) -> &[Vec<f64>] {
        &self.features
    }

    /// The target: real values, or class indices for classification; empty without a target.
    #[must_use]
    pub fn target(&self) -> &[f64] {
        &self.target
    }

    /// The class labels the target indexes; empty unless the task is classification.
    #[must_use]
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The task, or `None` for a dataset without a target.
    #[must_use]
    pub fn task(&self) -> Option<Task> {
        self.task
    }

    /// The rows at `rows`, in that order, with their targets.
    #[must_use]
    pub fn subset(&self, rows: &[usize]) -> Dataset {
        Dataset {
            feature_names: self.feature_names.clone(),
            features: self
                .features
                .iter()
                .map(|column| rows.iter().map(|&i| column[i]).collect())
                .collect(),
            n_rows: rows.len(),
            target: if self.target.is_empty() {
                Vec::new()
            } else {
                rows.iter().map(|&i| self.target[i]).collect()
            },
            classes: self.classes.clone(),
            task: self.task,
        }
    }

    /// A seeded random split into `(train, test)`, the test part holding `test_fraction` of the
    /// rows (rounded); each part keeps the original row order.
    pub fn train_test_split(
        &self,
        test_fraction: f64,
        seed: u64,
    ) -> Result<(Dataset, Dataset), MlError> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(MlError::param(
                "test_fraction",
                format!("must be in (0, 1), got {test_fraction}"),
            ));
        }
        let mut order: Vec<usize> = (0..self.n_rows).collect();
        Rng::new(seed).shuffle(&mut order);
        let n_test = crate::par::round_count(self.n_rows as f64 * test_fraction);
        let (test, train) = order.split_at_mut(n_test.min(self.n_rows));
        test.sort_unstable();
        train.sort_unstable();
        Ok((self.subset(train), self.subset(test)))
    }

    /// The first `(feature, row)` holding a missing or infinite value, if any.
    pub(crate) fn first_non_finite(&self) -> Option<(usize, usize)> {
        self.features
            .iter()
            .enumerate()
            .find_map(|(j, column)| column.iter().position(|x| !x.is_finite()).map(|i| (j, i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("x{i}")).collect()
    }

    #[test]
    fn rows_and_columns_agree() {
        let d = Dataset::from_rows(names(2), &[vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]])
            .unwrap();
        assert_eq!(d.n_rows(), 3);
        assert_eq!(d.features()[1], vec![2.0, 4.0, 6.0]);
        assert_eq!(d.task(), None);
    }

    #[test]
    fn shape_errors_are_reported() {
        assert!(Dataset::new(names(2), vec![vec![1.0], vec![1.0, 2.0]]).is_err());
        assert!(Dataset::new(vec!["a".into(), "a".into()], vec![vec![1.0], vec![2.0]]).is_err());
        assert!(Dataset::new(Vec::new(), Vec::new()).is_err());
        let d = Dataset::new(names(1), vec![vec![1.0, 2.0]]).unwrap();
        assert!(d.clone().with_regression_target(vec![1.0]).is_err());
        assert!(
            d.clone()
                .with_regression_target(vec![1.0, f64::NAN])
                .is_err()
        );
        assert!(
            d.with_class_indices(&[0, 2], vec!["a".into(), "b".into()])
                .is_err()
        );
    }

    #[test]
    fn labels_are_sorted_like_scikit_learn() {
        let d = Dataset::new(names(1), vec![vec![0.0; 4]]).unwrap();
        let numeric = d
            .clone()
            .with_class_labels(&["10", "2", "2", "-1"])
            .unwrap();
        assert_eq!(numeric.classes(), ["-1", "2", "10"]);
        assert_eq!(numeric.target(), [2.0, 1.0, 1.0, 0.0]);
        let text = d.with_class_labels(&["b", "a", "c", "a"]).unwrap();
        assert_eq!(text.classes(), ["a", "b", "c"]);
        assert_eq!(text.task(), Some(Task::Classification));
    }

    #[test]
    fn split_is_seeded_and_complete() {
        let d = Dataset::new(names(1), vec![(0..100).map(f64::from).collect()])
            .unwrap()
            .with_regression_target((0..100).map(f64::from).collect())
            .unwrap();
        let (train, test) = d.train_test_split(0.2, 7).unwrap();
        assert_eq!((train.n_rows(), test.n_rows()), (80, 20));
        let (train2, _) = d.train_test_split(0.2, 7).unwrap();
        assert_eq!(train, train2);
        let mut all: Vec<f64> = train
            .target()
            .iter()
            .chain(test.target())
            .copied()
            .collect();
        all.sort_by(f64::total_cmp);
        assert_eq!(all, d.target());
    }
}
