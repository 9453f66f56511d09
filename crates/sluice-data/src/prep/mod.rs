//! Turning a table into train, validation and test tables of numeric features.
//!
//! In order, [`prep`]:
//!
//! 1. checks the options: split ratios, the target and every listed column exist, every
//!    feature is numbers or declared categorical;
//! 2. with [`Missing::Drop`], drops the rows with a missing feature or target value; with
//!    [`Missing::Impute`], refuses a target with missing values;
//! 3. shuffles the rows with the seed and cuts them into the splits (each split keeps the input
//!    order);
//! 4. learns everything else from the train split alone, and applies it to all three: fill
//!    values ([`Missing::Impute`]), one-hot categories (`column=category`, sorted; a category
//!    unseen in train is all zeros), and standardisation of the numeric features.
//!
//! Each output table holds the feature columns ([`Prepared::feature_names`], all numbers) then
//! the target column, unchanged (numbers or text). The same table and options give the same
//! output tables, and so the same Parquet bytes.

mod columns;
mod encode;
mod error;
mod missing;
mod options;
mod report;
mod scale;
mod split;

pub use error::PrepError;
pub use options::{Missing, PrepOptions, Split};
pub use report::{FillValue, Imputation, OneHot, PrepReport, RowCounts, Scaling};

use crate::{Column, DataError, Table};
use columns::Encoding;

/// The output of [`prep`].
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub train: Table,
    pub validation: Table,
    pub test: Table,
    /// The target column's name, the last column of each table.
    pub target: String,
    /// The feature columns of each table, in order.
    pub feature_names: Vec<String>,
    pub report: PrepReport,
}

/// Splits `table` into train, validation and test tables of numeric features and the target;
/// see [the module documentation](self).
///
/// # Errors
/// A [`PrepError`] naming the column or option at fault.
pub fn prep(table: &Table, options: &PrepOptions) -> Result<Prepared, PrepError> {
    split::validate(options.split)?;
    let features = columns::features(table, options)?;
    let target = options.target.as_str();
    if table.n_rows() == 0 {
        return Err(PrepError::EmptyTable);
    }
    let rows = match options.missing {
        Missing::Drop => missing::complete_rows(table, target, &features)?,
        Missing::Impute => {
            missing::check_target(table, target)?;
            (0..table.n_rows()).collect()
        }
    };
    let counts = split::counts(rows.len(), options.split)?;
    let mut report = PrepReport {
        target: target.to_owned(),
        features: features.iter().map(|f| f.name.clone()).collect(),
        rows: RowCounts {
            input: table.n_rows(),
            dropped: table.n_rows() - rows.len(),
            output: rows.len(),
            train: counts[0],
            validation: counts[1],
            test: counts[2],
        },
        imputed: Vec::new(),
        one_hot: Vec::new(),
        standardized: Vec::new(),
    };
    let splits = split::assign(rows, counts, options.seed);
    let impute = options.missing == Missing::Impute;

    let mut outputs: Outputs = Default::default();
    for feature in &features {
        let column = table
            .column(&feature.name)
            .unwrap_or_else(|| unreachable!("features are columns of the table"));
        let parts = splits.each_ref().map(|rows| column.take(rows));
        match feature.encoding {
            Encoding::Categorical => {
                categorical(&feature.name, parts, impute, &mut outputs, &mut report)?;
            }
            Encoding::Numeric => numeric(
                &feature.name,
                parts,
                (impute, options.standardize),
                &mut outputs,
                &mut report,
            )?,
        }
    }

    let feature_names: Vec<String> = outputs[0].iter().map(|(n, _)| n.clone()).collect();
    let target_column = table
        .column(target)
        .unwrap_or_else(|| unreachable!("the target is a column of the table"));
    let finish = |mut output: Vec<(String, Column)>, rows: &[usize]| {
        output.push((target.to_owned(), target_column.take(rows)));
        Table::new(output).map_err(|e| match e {
            DataError::DuplicateColumn { column, .. } => PrepError::NameClash { column },
            other => unreachable!("prep makes columns of equal length: {other}"),
        })
    };
    let [train, validation, test] = outputs;
    let [train_rows, validation_rows, test_rows] = &splits;
    let (train, validation, test) = (
        finish(train, train_rows)?,
        finish(validation, validation_rows)?,
        finish(test, test_rows)?,
    );
    Ok(Prepared {
        train,
        validation,
        test,
        target: target.to_owned(),
        feature_names,
        report,
    })
}

/// The train, validation and test output columns, in order.
type Outputs = [Vec<(String, Column)>; 3];

/// Imputes (if asked) and one-hot encodes one categorical feature's splits.
fn categorical(
    name: &str,
    parts: [Column; 3],
    impute: bool,
    outputs: &mut Outputs,
    report: &mut PrepReport,
) -> Result<(), PrepError> {
    let mut parts = parts.map(|c| c.to_text());
    if impute && parts.iter().flatten().any(Option::is_none) {
        let value =
            missing::most_frequent(&parts[0]).ok_or_else(|| PrepError::NothingToImpute {
                column: name.to_owned(),
            })?;
        let count = parts
            .iter_mut()
            .map(|p| missing::fill_text(p, &value))
            .sum();
        report.imputed.push(Imputation {
            column: name.to_owned(),
            count,
            value: FillValue::Text(value),
        });
    }
    let categories = encode::categories(&parts[0]);
    for (output, values) in outputs.iter_mut().zip(&parts) {
        let encoded = encode::one_hot(values, &categories);
        for (category, values) in categories.iter().zip(encoded) {
            output.push((format!("{name}={category}"), Column::Number(values)));
        }
    }
    report.one_hot.push(OneHot {
        column: name.to_owned(),
        categories,
    });
    Ok(())
}

/// Imputes and standardises (if asked) one numeric feature's splits.
fn numeric(
    name: &str,
    parts: [Column; 3],
    (impute, standardize): (bool, bool),
    outputs: &mut Outputs,
    report: &mut PrepReport,
) -> Result<(), PrepError> {
    let mut parts = parts.map(|c| match c {
        Column::Number(v) => v,
        Column::Text(_) => unreachable!("numeric features are number columns"),
    });
    if impute && parts.iter().flatten().any(|v| v.is_nan()) {
        let value = missing::median(&parts[0]).ok_or_else(|| PrepError::NothingToImpute {
            column: name.to_owned(),
        })?;
        let count = parts
            .iter_mut()
            .map(|p| missing::fill_numbers(p, value))
            .sum();
        report.imputed.push(Imputation {
            column: name.to_owned(),
            count,
            value: FillValue::Number(value),
        });
    }
    if standardize {
        let (mean, std) = scale::fit(&parts[0]);
        for part in &mut parts {
            scale::apply(part, mean, std);
        }
        report.standardized.push(Scaling {
            column: name.to_owned(),
            mean,
            std,
        });
    }
    for (output, values) in outputs.iter_mut().zip(parts) {
        output.push((name.to_owned(), Column::Number(values)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table::new([
            (
                "a".to_owned(),
                Column::Number((0..10).map(f64::from).collect()),
            ),
            (
                "c".to_owned(),
                Column::Text(
                    (0..10)
                        .map(|i| Some(["p", "q"][i % 2].to_owned()))
                        .collect(),
                ),
            ),
            ("y".to_owned(), Column::Number(vec![1.0; 10])),
        ])
        .unwrap()
    }

    #[test]
    fn outputs_features_then_target() {
        let mut options = PrepOptions::new("y");
        options.categorical = vec!["c".into()];
        options.split = Split::new(0.6, 0.2, 0.2);
        let p = prep(&table(), &options).unwrap();
        assert_eq!(p.feature_names, ["a", "c=p", "c=q"]);
        assert_eq!(p.train.names(), ["a", "c=p", "c=q", "y"]);
        assert_eq!(
            [p.train.n_rows(), p.validation.n_rows(), p.test.n_rows()],
            [6, 2, 2]
        );
        assert_eq!(p.report.features, ["a", "c"]);
        assert_eq!(p.report.one_hot[0].categories, ["p", "q"]);
        assert!(p.report.imputed.is_empty() && p.report.standardized.is_empty());
    }

    #[test]
    fn numbers_declared_categorical_are_encoded_by_their_text() {
        let mut options = PrepOptions::new("y");
        options.features = Some(vec!["a".into()]);
        options.categorical = vec!["a".into()];
        options.split = Split::new(0.5, 0.0, 0.5);
        let p = prep(&table().take_rows(&[0, 1, 2, 3]), &options).unwrap();
        assert_eq!(p.feature_names.len(), 2);
        assert!(p.feature_names.iter().all(|n| n.starts_with("a=")));
    }

    #[test]
    fn options_are_checked_before_rows() {
        let mut options = PrepOptions::new("y");
        options.split = Split::new(0.5, 0.5, 0.5);
        assert!(matches!(
            prep(&Table::default(), &options),
            Err(PrepError::RatioSum { .. })
        ));
        assert!(matches!(
            prep(&Table::default(), &PrepOptions::new("y")),
            Err(PrepError::MissingTarget { .. })
        ));
    }
}
