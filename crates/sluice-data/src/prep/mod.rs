//! Turning a table into train, validation and test tables of numeric features.
//!
//! In order, [`prep`]:
//!
//! 1. checks the options: split ratios, the target and every listed column exist, every
//!    feature is numbers or declared categorical;
//! 2. with [`Missing::Drop`], drops the rows with a missing feature or target value; with
//!    [`Missing::Impute`], refuses a target with missing values;
//! 3. deals the rows to the splits with the seed: exactly the splits' shares of rows, every
//!    such assignment equally likely, each split keeping the input order (the dealing needs
//!    nothing per row, so a table read in parts is dealt again the same way in each pass);
//! 4. learns everything else from the train split alone, and applies it to all three: fill
//!    values ([`Missing::Impute`]), one-hot categories (`column=category`, sorted; a category
//!    unseen in train is all zeros), and standardisation of the numeric features.
//!
//! Each output table holds the feature columns ([`Prepared::feature_names`], all numbers) then
//! the target column, unchanged (numbers or text). The same table and options give the same
//! output tables, and so the same Parquet bytes, whether the table is in memory ([`prep`]) or
//! read in parts from files and written as it goes ([`prep_parts`]).

mod columns;
mod encode;
mod error;
mod missing;
mod options;
mod report;
mod scale;
mod split;

use std::borrow::Cow;
use std::collections::BTreeMap;

pub use error::PrepError;
pub use options::{Missing, PrepOptions, Split};
pub use report::{FillValue, Imputation, OneHot, PrepReport, RowCounts, Scaling};

use crate::{Column, ColumnKind, DataError, PART_ROWS, Table, TableReader, TableWriter};
use columns::{Encoding, Feature};
use split::Dealer;

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

/// Where [`prep_parts`] reads its rows: a [`Table`] in memory, or a [`TableReader`] reading a
/// file or folder in parts.
pub trait Source {
    /// The columns' names, in order.
    fn names(&self) -> &[String];
    /// The kind of the column named `name`.
    fn kind(&self, name: &str) -> Option<ColumnKind>;
    /// The rows, in order, in parts holding the named columns; read once per pass.
    fn parts(&self, columns: &[&str]) -> Box<dyn Iterator<Item = Result<Table, DataError>> + '_>;
}

impl Source for Table {
    fn names(&self) -> &[String] {
        Table::names(self)
    }

    fn kind(&self, name: &str) -> Option<ColumnKind> {
        self.column(name).map(Column::kind)
    }

    fn parts(&self, columns: &[&str]) -> Box<dyn Iterator<Item = Result<Table, DataError>> + '_> {
        let rows = self.n_rows();
        let wanted: Vec<(String, &Column)> = columns
            .iter()
            .filter_map(|&name| Some((name.to_owned(), self.column(name)?)))
            .collect();
        Box::new((0..rows).step_by(PART_ROWS).map(move |start| {
            let range = start..rows.min(start + PART_ROWS);
            Table::new(
                wanted
                    .iter()
                    .map(|(name, column)| (name.clone(), column.slice(range.clone()))),
            )
        }))
    }
}

impl Source for TableReader {
    fn names(&self) -> &[String] {
        TableReader::names(self)
    }

    fn kind(&self, name: &str) -> Option<ColumnKind> {
        TableReader::kind(self, name)
    }

    fn parts(&self, columns: &[&str]) -> Box<dyn Iterator<Item = Result<Table, DataError>> + '_> {
        Box::new(TableReader::parts_of(self, columns))
    }
}

/// Where [`prep_parts`] writes one split's rows: parts of one table, in order.
pub trait Sink {
    /// Appends `part`'s rows (every part has the same columns).
    ///
    /// # Errors
    /// A [`DataError`] naming the file written.
    fn write(&mut self, part: &Table) -> Result<(), DataError>;
}

impl Sink for TableWriter {
    fn write(&mut self, part: &Table) -> Result<(), DataError> {
        TableWriter::write(self, part)
    }
}

/// Keeps nothing: for a split that is not wanted.
pub struct Discard;

impl Sink for Discard {
    fn write(&mut self, _: &Table) -> Result<(), DataError> {
        Ok(())
    }
}

/// Collects the parts into one table in memory.
#[derive(Default)]
struct Collect(Option<Table>);

impl Sink for Collect {
    fn write(&mut self, part: &Table) -> Result<(), DataError> {
        match &mut self.0 {
            None => self.0 = Some(part.clone()),
            Some(all) => all.append_rows(part),
        }
        Ok(())
    }
}

/// Why [`prep_parts`] stopped: the table or options ([`PrepError`]), or reading or writing
/// the data.
#[derive(Debug, thiserror::Error)]
pub enum PrepFailure {
    #[error(transparent)]
    Prep(#[from] PrepError),
    #[error(transparent)]
    Data(#[from] DataError),
}

/// What [`prep_parts`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepSummary {
    /// The feature columns of each output, in order (the target follows them).
    pub feature_names: Vec<String>,
    pub report: PrepReport,
}

/// Splits `table` into train, validation and test tables of numeric features and the target;
/// see [the module documentation](self).
///
/// # Errors
/// A [`PrepError`] naming the column or option at fault.
pub fn prep(table: &Table, options: &PrepOptions) -> Result<Prepared, PrepError> {
    let mut sinks = [Collect::default(), Collect::default(), Collect::default()];
    let [train, validation, test] = &mut sinks;
    let summary = prep_parts(table, options, [train, validation, test]).map_err(|e| match e {
        PrepFailure::Prep(e) => e,
        PrepFailure::Data(e) => unreachable!("a table in memory is read and kept whole: {e}"),
    })?;
    let [train, validation, test] = sinks.map(|s| s.0.unwrap_or_default());
    Ok(Prepared {
        train,
        validation,
        test,
        target: options.target.clone(),
        feature_names: summary.feature_names,
        report: summary.report,
    })
}

/// [`prep`] over rows read in parts, each split's rows written in parts to its sink (train,
/// validation, test): memory holds a part and what the train split teaches (the categories,
/// the fill values, the scaling; the train values of a numeric column that needs a median),
/// never the table. The source is read two or three times: to count the rows and missing
/// values, to learn from the train split (when there is something to learn), to write.
///
/// # Errors
/// A [`PrepFailure`]: a [`PrepError`] naming the column or option at fault (found before
/// anything is written, but for a failing read or write), or a [`DataError`] from reading or
/// writing.
pub fn prep_parts(
    source: &dyn Source,
    options: &PrepOptions,
    sinks: [&mut dyn Sink; 3],
) -> Result<PrepSummary, PrepFailure> {
    split::validate(options.split)?;
    let features = columns::features(source, options)?;
    let target = options.target.as_str();
    let impute = options.missing == Missing::Impute;

    let counted = count(source, target, &features, impute)?;
    if counted.input == 0 {
        return Err(PrepError::EmptyTable.into());
    }
    if impute && counted.target_missing > 0 {
        return Err(PrepError::TargetMissing {
            target: target.to_owned(),
            count: counted.target_missing,
            rows: counted.input,
        }
        .into());
    }
    if counted.kept == 0 {
        // Name the column that explains the most.
        let (column, missing) = features
            .iter()
            .map(|f| f.name.as_str())
            .chain([target])
            .zip(&counted.column_missing)
            .fold(("", 0), |best, (name, &missing)| {
                if missing > best.1 {
                    (name, missing)
                } else {
                    best
                }
            });
        return Err(PrepError::NoRows {
            rows: counted.input,
            column: column.to_owned(),
            missing,
        }
        .into());
    }
    let counts = split::counts(counted.kept, options.split)?;
    let plan = learn(source, options, &features, &counted, counts)?;

    let mut report = PrepReport {
        target: target.to_owned(),
        features: features.iter().map(|f| f.name.clone()).collect(),
        rows: RowCounts {
            input: counted.input,
            dropped: counted.input - counted.kept,
            output: counted.kept,
            train: counts[0],
            validation: counts[1],
            test: counts[2],
        },
        imputed: Vec::new(),
        one_hot: Vec::new(),
        standardized: Vec::new(),
    };
    let mut feature_names = Vec::new();
    for (feature, how) in features.iter().zip(&plan) {
        let name = &feature.name;
        match how {
            Transform::Numeric { fill, scale } => {
                if let Some((value, count)) = fill {
                    report.imputed.push(Imputation {
                        column: name.clone(),
                        count: *count,
                        value: FillValue::Number(*value),
                    });
                }
                if let Some((mean, std)) = scale {
                    report.standardized.push(Scaling {
                        column: name.clone(),
                        mean: *mean,
                        std: *std,
                    });
                }
                feature_names.push(name.clone());
            }
            Transform::Categorical { fill, categories } => {
                if let Some((value, count)) = fill {
                    report.imputed.push(Imputation {
                        column: name.clone(),
                        count: *count,
                        value: FillValue::Text(value.clone()),
                    });
                }
                feature_names.extend(categories.iter().map(|c| format!("{name}={c}")));
                report.one_hot.push(OneHot {
                    column: name.clone(),
                    categories: categories.clone(),
                });
            }
        }
    }
    let mut names = feature_names.clone();
    names.push(target.to_owned());
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(PrepError::NameClash {
                column: name.clone(),
            }
            .into());
        }
    }

    write(source, options, &features, &plan, counts, &names, sinks)?;
    Ok(PrepSummary {
        feature_names,
        report,
    })
}

/// What the first pass counts.
struct Counted {
    input: usize,
    /// Rows kept: all of them when imputing, else those with no missing feature or target.
    kept: usize,
    /// Per feature then the target, missing values in all rows.
    column_missing: Vec<usize>,
    /// Per feature, missing values in the kept rows.
    feature_missing: Vec<usize>,
    target_missing: usize,
}

/// The columns prep reads: the features, then the target.
fn read_columns<'a>(features: &'a [Feature], target: &'a str) -> Vec<&'a str> {
    features
        .iter()
        .map(|f| f.name.as_str())
        .chain([target])
        .collect()
}

/// The columns a part's rows are judged by: the features', then the target.
fn judged<'a>(part: &'a Table, features: &[Feature], target: &str) -> Vec<&'a Column> {
    read_columns(features, target)
        .into_iter()
        .map(|name| {
            part.column(name)
                .unwrap_or_else(|| unreachable!("features and target are columns of each part"))
        })
        .collect()
}

/// Whether each row of a part is kept (`impute` keeps them all).
fn kept_rows(columns: &[&Column], rows: usize, impute: bool) -> Vec<bool> {
    (0..rows)
        .map(|r| impute || columns.iter().all(|c| !c.is_missing(r)))
        .collect()
}

fn count(
    source: &dyn Source,
    target: &str,
    features: &[Feature],
    impute: bool,
) -> Result<Counted, DataError> {
    let mut counted = Counted {
        input: 0,
        kept: 0,
        column_missing: vec![0; features.len() + 1],
        feature_missing: vec![0; features.len()],
        target_missing: 0,
    };
    for part in source.parts(&read_columns(features, target)) {
        let part = part?;
        let columns = judged(&part, features, target);
        let kept = kept_rows(&columns, part.n_rows(), impute);
        counted.input += part.n_rows();
        counted.kept += kept.iter().filter(|&&k| k).count();
        for (i, column) in columns.iter().enumerate() {
            let mut all = 0;
            for (r, &k) in kept.iter().enumerate() {
                if column.is_missing(r) {
                    all += 1;
                    if k && i < features.len() {
                        counted.feature_missing[i] += 1;
                    }
                }
            }
            counted.column_missing[i] += all;
        }
    }
    counted.target_missing = counted.column_missing[features.len()];
    Ok(counted)
}

/// How one feature becomes output columns, learned from the train split.
enum Transform {
    Numeric {
        /// The fill value and how many values it fills, if the column has missing values.
        fill: Option<(f64, usize)>,
        /// The mean and standard deviation, if standardising.
        scale: Option<(f64, f64)>,
    },
    Categorical {
        fill: Option<(String, usize)>,
        /// Sorted.
        categories: Vec<String>,
    },
}

/// What the train split's values of one feature are gathered into.
enum Learner {
    Numeric {
        /// The present train values, when a median is needed.
        present: Option<Vec<f64>>,
        moments: scale::Moments,
        missing: usize,
    },
    Categorical(BTreeMap<String, usize>),
}

/// A value of a categorical feature as text (numbers as in a CSV file).
fn text_at(column: &Column, row: usize) -> Option<Cow<'_, str>> {
    match column {
        Column::Text(v) => v[row].as_deref().map(Cow::Borrowed),
        Column::Number(v) => (!v[row].is_nan()).then(|| Cow::Owned(crate::number_to_text(v[row]))),
    }
}

/// A pass over the source after the count: each part's columns (the features, then the
/// target) with the split dealt to each row (`None` for a row dropped for missing values), in
/// order, given to `each`; an error if the rows kept differ from the `counts` the first pass made.
fn deal_pass(
    source: &dyn Source,
    options: &PrepOptions,
    features: &[Feature],
    counts: [usize; 3],
    mut each: impl FnMut(&[&Column], &[Option<u8>]) -> Result<(), PrepFailure>,
) -> Result<(), PrepFailure> {
    let impute = options.missing == Missing::Impute;
    let counted: usize = counts.iter().sum();
    let changed = || PrepError::InputChanged { counted };
    let mut dealer = Dealer::new(counts, options.seed);
    for part in source.parts(&read_columns(features, &options.target)) {
        let part = part?;
        let columns = judged(&part, features, &options.target);
        let dealt = kept_rows(&columns, part.n_rows(), impute)
            .into_iter()
            .map(|kept| {
                if kept {
                    dealer.deal().map(Some).ok_or_else(changed)
                } else {
                    Ok(None)
                }
            })
            .collect::<Result<Vec<Option<u8>>, PrepError>>()?;
        each(&columns, &dealt)?;
    }
    if dealer.left() == 0 {
        Ok(())
    } else {
        Err(changed().into())
    }
}

/// The second pass: learns each feature's transform from the train rows.
fn learn(
    source: &dyn Source,
    options: &PrepOptions,
    features: &[Feature],
    counted: &Counted,
    counts: [usize; 3],
) -> Result<Vec<Transform>, PrepFailure> {
    let impute = options.missing == Missing::Impute;
    let needs_fill = |i: usize| impute && counted.feature_missing[i] > 0;
    let mut learners: Vec<Learner> = features
        .iter()
        .enumerate()
        .map(|(i, f)| match f.encoding {
            Encoding::Numeric => Learner::Numeric {
                present: needs_fill(i).then(Vec::new),
                moments: scale::Moments::default(),
                missing: 0,
            },
            Encoding::Categorical => Learner::Categorical(BTreeMap::new()),
        })
        .collect();
    let anything_to_learn = options.standardize
        || features
            .iter()
            .enumerate()
            .any(|(i, f)| f.encoding == Encoding::Categorical || needs_fill(i));
    if anything_to_learn {
        deal_pass(source, options, features, counts, |columns, dealt| {
            let train: Vec<usize> = (0..dealt.len()).filter(|&r| dealt[r] == Some(0)).collect();
            for (learner, column) in learners.iter_mut().zip(columns) {
                match learner {
                    Learner::Numeric {
                        present,
                        moments,
                        missing,
                    } => {
                        let Column::Number(values) = column else {
                            unreachable!("numeric features are number columns")
                        };
                        for &r in &train {
                            let x = values[r];
                            if x.is_nan() {
                                *missing += 1;
                            } else {
                                moments.push(x);
                                if let Some(present) = present {
                                    present.push(x);
                                }
                            }
                        }
                    }
                    Learner::Categorical(seen) => {
                        for &r in &train {
                            if let Some(value) = text_at(column, r) {
                                if let Some(n) = seen.get_mut(value.as_ref()) {
                                    *n += 1;
                                } else {
                                    seen.insert(value.into_owned(), 1);
                                }
                            }
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
    let mut plan = Vec::with_capacity(features.len());
    for (i, (feature, learner)) in features.iter().zip(learners).enumerate() {
        let nothing = || PrepError::NothingToImpute {
            column: feature.name.clone(),
        };
        plan.push(match learner {
            Learner::Numeric {
                present,
                mut moments,
                missing,
            } => {
                let fill = match present {
                    Some(mut present) => {
                        let value = missing::median(&mut present).ok_or_else(nothing)?;
                        moments.push_repeated(value, missing);
                        Some((value, counted.feature_missing[i]))
                    }
                    None => None,
                };
                Transform::Numeric {
                    fill,
                    scale: options.standardize.then(|| moments.fit()),
                }
            }
            Learner::Categorical(seen) => {
                let fill = if needs_fill(i) {
                    let value = missing::most_frequent(&seen).ok_or_else(nothing)?;
                    Some((value, counted.feature_missing[i]))
                } else {
                    None
                };
                Transform::Categorical {
                    fill,
                    categories: seen.into_keys().collect(),
                }
            }
        });
    }
    Ok(plan)
}

/// The last pass: transforms each part's rows and writes them to their split's sink.
fn write(
    source: &dyn Source,
    options: &PrepOptions,
    features: &[Feature],
    plan: &[Transform],
    counts: [usize; 3],
    names: &[String],
    mut sinks: [&mut dyn Sink; 3],
) -> Result<(), PrepFailure> {
    deal_pass(source, options, features, counts, |columns, dealt| {
        for (split, sink) in sinks.iter_mut().enumerate() {
            let rows: Vec<usize> = (0..dealt.len())
                .filter(|&r| dealt[r].map(usize::from) == Some(split))
                .collect();
            let mut out: Vec<Column> = Vec::with_capacity(names.len());
            for (column, how) in columns.iter().zip(plan) {
                match how {
                    Transform::Numeric { fill, scale } => {
                        let Column::Number(values) = column else {
                            unreachable!("numeric features are number columns")
                        };
                        let (mean, std) = scale.unwrap_or((0.0, 1.0));
                        let fill = fill.map_or(f64::NAN, |(v, _)| v);
                        out.push(Column::Number(
                            rows.iter()
                                .map(|&r| {
                                    let x = values[r];
                                    let x = if x.is_nan() { fill } else { x };
                                    if scale.is_some() { (x - mean) / std } else { x }
                                })
                                .collect(),
                        ));
                    }
                    Transform::Categorical { fill, categories } => {
                        let texts: Vec<Option<Cow<'_, str>>> = rows
                            .iter()
                            .map(|&r| {
                                text_at(column, r).or_else(|| {
                                    fill.as_ref().map(|(v, _)| Cow::Borrowed(v.as_str()))
                                })
                            })
                            .collect();
                        out.extend(
                            encode::one_hot(texts.iter().map(Option::as_deref), categories)
                                .into_iter()
                                .map(Column::Number),
                        );
                    }
                }
            }
            out.push(columns[features.len()].take(&rows));
            let table = Table::new(names.iter().cloned().zip(out))
                .unwrap_or_else(|e| unreachable!("names are distinct, columns equal: {e}"));
            sink.write(&table)?;
        }
        Ok(())
    })
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

    /// A source whose table grows by a row each time it is read.
    struct Growing(std::cell::Cell<usize>);

    impl Source for Growing {
        fn names(&self) -> &[String] {
            static NAMES: std::sync::LazyLock<Vec<String>> =
                std::sync::LazyLock::new(|| vec!["a".into(), "c".into(), "y".into()]);
            &NAMES
        }

        fn kind(&self, name: &str) -> Option<ColumnKind> {
            table().column(name).map(Column::kind)
        }

        fn parts(&self, _: &[&str]) -> Box<dyn Iterator<Item = Result<Table, DataError>> + '_> {
            let n = self.0.get();
            self.0.set(n + 1);
            let rows: Vec<usize> = (0..n).collect();
            Box::new(std::iter::once(Ok(table().take_rows(&rows))))
        }
    }

    #[test]
    fn an_input_that_changes_between_reads_is_an_error() {
        let mut options = PrepOptions::new("y");
        options.categorical = vec!["c".into()];
        options.split = Split::new(0.5, 0.0, 0.5);
        let sinks = || [Discard, Discard, Discard];
        let [mut a, mut b, mut c] = sinks();
        let err = prep_parts(&Growing(4.into()), &options, [&mut a, &mut b, &mut c]).unwrap_err();
        assert!(
            matches!(
                err,
                PrepFailure::Prep(PrepError::InputChanged { counted: 4 })
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("the input changed while prep read it")
        );
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
