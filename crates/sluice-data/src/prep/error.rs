//! Why `prep` refused a table or its options.

/// Why [`prep`](super::prep) refused a table or its options.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrepError {
    /// A split ratio that is negative, above 1 or not a number.
    #[error("split ratio `{name}` is {value}; a ratio is a number from 0 to 1")]
    InvalidRatio { name: &'static str, value: f64 },
    /// A train or test ratio of 0.
    #[error("split ratio `{name}` is 0, but the {name} split needs rows")]
    ZeroRatio { name: &'static str },
    /// Ratios that do not sum to 1.
    #[error(
        "split ratios must sum to 1, but train {train} + validation {validation} + test {test} = {sum}"
    )]
    RatioSum {
        train: f64,
        validation: f64,
        test: f64,
        sum: f64,
    },
    /// The target column is not in the table.
    #[error(
        "target column `{target}` is not in the table; its columns are {}",
        list(available)
    )]
    MissingTarget {
        target: String,
        available: Vec<String>,
    },
    /// A column named in `features`, `drop` or `categorical` that is not in the table.
    #[error(
        "column `{column}` in `{option}` is not in the table; its columns are {}",
        list(available)
    )]
    UnknownColumn {
        column: String,
        option: &'static str,
        available: Vec<String>,
    },
    /// The target named in `features`, `drop` or `categorical`.
    #[error("the target `{target}` is also listed in `{option}`")]
    TargetListed {
        target: String,
        option: &'static str,
    },
    /// A text feature that is not declared categorical.
    #[error("feature `{column}` is text, not numbers")]
    TextFeature { column: String },
    /// No feature left once the target and the dropped columns are set aside.
    #[error("no feature columns are left besides the target `{target}`")]
    NoFeatures { target: String },
    /// A table without rows.
    #[error("the table has no rows")]
    EmptyTable,
    /// The rows kept differed from one read of the input to the next.
    #[error(
        "the input changed while prep read it: {counted} rows were kept when it counted them, a different number when it read them again"
    )]
    InputChanged { counted: usize },
    /// Every row has a missing value (`missing: drop`).
    #[error(
        "no rows are left after dropping the {rows} rows with missing values; column `{column}` alone is missing in {missing} of them"
    )]
    NoRows {
        rows: usize,
        column: String,
        missing: usize,
    },
    /// A target with missing values (`missing: impute`).
    #[error("target `{target}` is missing in {count} of {rows} rows")]
    TargetMissing {
        target: String,
        count: usize,
        rows: usize,
    },
    /// A split that would get no rows.
    #[error(
        "the {split} split would be empty: {rows} rows × {ratio} = {}, which rounds to 0 rows",
        rounded(*rows as f64 * ratio)
    )]
    EmptySplit {
        split: &'static str,
        rows: usize,
        ratio: f64,
    },
    /// A column to impute without a value in the train split.
    #[error("column `{column}` has no values in the train split to impute from")]
    NothingToImpute { column: String },
    /// A one-hot output column whose name another column already has.
    #[error("one-hot column `{column}` has the name of another column")]
    NameClash { column: String },
}

/// `x` to 9 decimals, as shown to people: `0.3`, not `0.30000000000000004`.
pub(super) fn rounded(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PrepError {
    /// A line telling the user what to do about the error.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PrepError::InvalidRatio { .. } | PrepError::ZeroRatio { .. } | PrepError::RatioSum { .. } => {
                "set `split` to train, validation and test ratios that sum to 1, such as 0.7, 0.15, 0.15; only validation may be 0".to_owned()
            }
            PrepError::MissingTarget { target, available } => {
                match available.iter().find(|a| a.eq_ignore_ascii_case(target)) {
                    Some(close) => format!("did you mean `{close}`? Column names are case-sensitive"),
                    None => "set `target` to one of the table's columns".to_owned(),
                }
            }
            PrepError::UnknownColumn { column, option, .. } => {
                format!("check the spelling of `{column}`, or remove it from `{option}`")
            }
            PrepError::TargetListed { target, option } => {
                format!("remove `{target}` from `{option}`: the target is kept apart from the features")
            }
            PrepError::TextFeature { column } => format!(
                "declare it categorical (`categorical: [{column}]`) to one-hot encode it, or drop it (`drop: [{column}]`)"
            ),
            PrepError::NoFeatures { .. } => {
                "keep at least one feature: check `features` and `drop`".to_owned()
            }
            PrepError::EmptyTable => "check that the input data has rows below its header".to_owned(),
            PrepError::InputChanged { .. } => {
                "prep reads its input more than once; do not write to it while a step reads it, and run again".to_owned()
            }
            PrepError::NoRows { column, .. } => format!(
                "set `missing` to `impute` to fill missing values instead, or drop column `{column}`"
            ),
            PrepError::TargetMissing { .. } => {
                "set `missing` to `drop` to drop the rows without a target: a target is never imputed".to_owned()
            }
            PrepError::EmptySplit { split, .. } => {
                if *split == "validation" {
                    "use more rows, raise the `validation` ratio, or set it to 0".to_owned()
                } else {
                    format!("use more rows, or raise the `{split}` ratio")
                }
            }
            PrepError::NothingToImpute { column } => {
                format!("drop column `{column}`: there is no value to learn a fill value from")
            }
            PrepError::NameClash { column } => format!(
                "rename the column `{column}`, or the categorical column whose category makes that name"
            ),
        })
    }
}
