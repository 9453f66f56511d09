//! What `prep` did, to be written next to its outputs and to transform new data the same way.

use serde::{Deserialize, Serialize};

/// What [`prep`](super::prep) did, with every statistic it learned from the train split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepReport {
    pub target: String,
    /// The input feature columns, in order (before one-hot encoding).
    pub features: Vec<String>,
    pub rows: RowCounts,
    /// Per column with missing values filled (`missing: impute`), in feature order.
    pub imputed: Vec<Imputation>,
    /// Per categorical column, in feature order.
    pub one_hot: Vec<OneHot>,
    /// Per standardised column, in feature order.
    pub standardized: Vec<Scaling>,
}

/// Row counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Rows of the input table.
    pub input: usize,
    /// Rows dropped for missing values.
    pub dropped: usize,
    /// Rows written: `train + validation + test`.
    pub output: usize,
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

/// Missing values filled in one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imputation {
    pub column: String,
    /// Values filled, over all splits.
    pub count: usize,
    /// The value filled in: the train median or the train's most frequent value.
    pub value: FillValue,
}

/// A value filled in for missing ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FillValue {
    Number(f64),
    Text(String),
}

/// One categorical column's one-hot encoding: a `column=category` output column per category
/// seen in the train split, sorted; a value never seen in train is all zeros.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneHot {
    pub column: String,
    pub categories: Vec<String>,
}

/// One standardised column: `(x - mean) / std`, both from the train split (population standard
/// deviation; 1 when the column is constant there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    pub column: String,
    pub mean: f64,
    pub std: f64,
}
