//! What `prep` is asked to do.

use serde::{Deserialize, Serialize};

/// How [`prep`](super::prep) turns a table into train, validation and test tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepOptions {
    /// The column to predict. Kept as it is (numbers or text), last in each output table.
    pub target: String,
    /// The feature columns, in order; `None` means every column but the target and `drop`.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Columns never used.
    #[serde(default)]
    pub drop: Vec<String>,
    /// Feature columns to one-hot encode. A text feature must be listed here (or dropped); a
    /// number column listed here is encoded by its values written as text (`1`, `2.5`).
    #[serde(default)]
    pub categorical: Vec<String>,
    /// What to do with missing values.
    #[serde(default)]
    pub missing: Missing,
    /// Rescale the numeric (not one-hot) features to mean 0 and standard deviation 1 on the
    /// train split.
    #[serde(default)]
    pub standardize: bool,
    /// The fractions of rows in each split.
    #[serde(default)]
    pub split: Split,
    /// The seed of the dealing that assigns rows to splits.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    42
}

impl PrepOptions {
    /// Options with every default: all other columns are features, rows with missing values
    /// are dropped, no standardisation, a 0.7/0.15/0.15 split, seed 42.
    #[must_use]
    pub fn new(target: impl Into<String>) -> PrepOptions {
        PrepOptions {
            target: target.into(),
            features: None,
            drop: Vec::new(),
            categorical: Vec::new(),
            missing: Missing::default(),
            standardize: false,
            split: Split::default(),
            seed: default_seed(),
        }
    }
}

/// What to do with missing values (`NaN` numbers, `None` text).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Drop every row with a missing feature or target value, before splitting.
    #[default]
    Drop,
    /// Fill missing feature values, learned on the train split: numbers with the median, text
    /// with the most frequent value (the first in sorted order on a tie). A missing target is
    /// an error: targets are never imputed.
    Impute,
}

/// The fractions of rows in the train, validation and test splits, summing to 1. Train and test
/// must be above 0; validation may be 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub train: f64,
    pub validation: f64,
    pub test: f64,
}

impl Split {
    #[must_use]
    pub fn new(train: f64, validation: f64, test: f64) -> Split {
        Split {
            train,
            validation,
            test,
        }
    }

    /// The ratios with their names, in split order.
    pub(crate) fn named(self) -> [(&'static str, f64); 3] {
        [
            ("train", self.train),
            ("validation", self.validation),
            ("test", self.test),
        ]
    }
}

impl Default for Split {
    fn default() -> Split {
        Split::new(0.7, 0.15, 0.15)
    }
}
