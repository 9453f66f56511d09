//! Which columns are the target and the features, and how each feature is encoded.

use super::Source;
use super::{PrepError, PrepOptions};
use crate::ColumnKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Numeric,
    Categorical,
}

#[derive(Debug)]
pub(super) struct Feature {
    pub(super) name: String,
    pub(super) encoding: Encoding,
}

/// Checks the options' column names against the table and picks the features.
pub(super) fn features(
    table: &dyn Source,
    options: &PrepOptions,
) -> Result<Vec<Feature>, PrepError> {
    let names = table.names();
    let target = &options.target;
    if !names.contains(target) {
        return Err(PrepError::MissingTarget {
            target: target.clone(),
            available: names.to_vec(),
        });
    }
    let listed: [(&'static str, &[String]); 3] = [
        ("features", options.features.as_deref().unwrap_or_default()),
        ("drop", &options.drop),
        ("categorical", &options.categorical),
    ];
    for (option, columns) in listed {
        for column in columns {
            if column == target {
                return Err(PrepError::TargetListed {
                    target: target.clone(),
                    option,
                });
            }
            if !names.contains(column) {
                return Err(PrepError::UnknownColumn {
                    column: column.clone(),
                    option,
                    available: names.to_vec(),
                });
            }
        }
    }
    let candidates = options.features.as_deref().unwrap_or(names);
    let mut features: Vec<Feature> = Vec::new();
    for name in candidates {
        if name == target || options.drop.contains(name) || features.iter().any(|f| &f.name == name)
        {
            continue;
        }
        let encoding = if options.categorical.contains(name) {
            Encoding::Categorical
        } else if table.kind(name) == Some(ColumnKind::Number) {
            Encoding::Numeric
        } else {
            return Err(PrepError::TextFeature {
                column: name.clone(),
            });
        };
        features.push(Feature {
            name: name.clone(),
            encoding,
        });
    }
    if features.is_empty() {
        return Err(PrepError::NoFeatures {
            target: target.clone(),
        });
    }
    Ok(features)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Column, Table};

    fn table() -> Table {
        Table::new([
            ("a".to_owned(), Column::Number(vec![1.0])),
            ("t".to_owned(), Column::Text(vec![Some("x".into())])),
            ("y".to_owned(), Column::Number(vec![1.0])),
        ])
        .unwrap()
    }

    fn names(features: &[Feature]) -> Vec<(&str, Encoding)> {
        features
            .iter()
            .map(|f| (f.name.as_str(), f.encoding))
            .collect()
    }

    #[test]
    fn all_but_target_and_dropped_by_default() {
        let mut options = PrepOptions::new("y");
        options.categorical = vec!["t".into()];
        let f = features(&table(), &options).unwrap();
        assert_eq!(
            names(&f),
            [("a", Encoding::Numeric), ("t", Encoding::Categorical)]
        );
        options.drop = vec!["t".into()];
        let f = features(&table(), &options).unwrap();
        assert_eq!(names(&f), [("a", Encoding::Numeric)]);
    }

    #[test]
    fn explicit_features_keep_their_order_once() {
        let mut options = PrepOptions::new("y");
        options.features = Some(vec!["t".into(), "a".into(), "t".into()]);
        options.categorical = vec!["t".into()];
        let f = features(&table(), &options).unwrap();
        assert_eq!(
            names(&f),
            [("t", Encoding::Categorical), ("a", Encoding::Numeric)]
        );
    }

    #[test]
    fn undeclared_text_feature_is_an_error() {
        let err = features(&table(), &PrepOptions::new("y")).unwrap_err();
        assert_eq!(err, PrepError::TextFeature { column: "t".into() });
        let mut options = PrepOptions::new("y");
        options.categorical = vec!["y".into()];
        assert_eq!(
            features(&table(), &options).unwrap_err().to_string(),
            "the target `y` is also listed in `categorical`"
        );
    }
}
