//! Missing values: dropping the rows that have them, or filling them in.

use std::collections::BTreeMap;

use super::PrepError;
use super::columns::Feature;
use crate::Table;

/// The rows without a missing feature or target value, in order.
pub(super) fn complete_rows(
    table: &Table,
    target: &str,
    features: &[Feature],
) -> Result<Vec<usize>, PrepError> {
    let columns: Vec<(&str, &crate::Column)> = features
        .iter()
        .map(|f| f.name.as_str())
        .chain([target])
        .filter_map(|name| Some((name, table.column(name)?)))
        .collect();
    let rows: Vec<usize> = (0..table.n_rows())
        .filter(|&r| columns.iter().all(|(_, c)| !c.is_missing(r)))
        .collect();
    if rows.is_empty() {
        // Name the column that explains the most.
        let (column, missing) = columns
            .iter()
            .map(|(name, c)| (*name, c.missing_count()))
            .fold(
                ("", 0),
                |best, next| if next.1 > best.1 { next } else { best },
            );
        return Err(PrepError::NoRows {
            rows: table.n_rows(),
            column: column.to_owned(),
            missing,
        });
    }
    Ok(rows)
}

/// Checks that the target has no missing value (targets are never imputed).
pub(super) fn check_target(table: &Table, target: &str) -> Result<(), PrepError> {
    let count = table.column(target).map_or(0, crate::Column::missing_count);
    if count > 0 {
        return Err(PrepError::TargetMissing {
            target: target.to_owned(),
            count,
            rows: table.n_rows(),
        });
    }
    Ok(())
}

/// The median of the values that are not missing.
pub(super) fn median(values: &[f64]) -> Option<f64> {
    let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if present.is_empty() {
        return None;
    }
    present.sort_unstable_by(f64::total_cmp);
    let mid = present.len() / 2;
    Some(if present.len().is_multiple_of(2) {
        f64::midpoint(present[mid - 1], present[mid])
    } else {
        present[mid]
    })
}

/// The most frequent value that is not missing; on a tie, the first in sorted order.
pub(super) fn most_frequent(values: &[Option<String>]) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in values.iter().flatten() {
        *counts.entry(v).or_default() += 1;
    }
    let mut best: Option<(&str, usize)> = None;
    for (value, count) in counts {
        if best.is_none_or(|(_, c)| count > c) {
            best = Some((value, count));
        }
    }
    best.map(|(v, _)| v.to_owned())
}

/// Replaces missing numbers with `value`; returns how many.
pub(super) fn fill_numbers(values: &mut [f64], value: f64) -> usize {
    let mut filled = 0;
    for v in values.iter_mut().filter(|v| v.is_nan()) {
        *v = value;
        filled += 1;
    }
    filled
}

/// Replaces missing text with `value`; returns how many.
pub(super) fn fill_text(values: &mut [Option<String>], value: &str) -> usize {
    let mut filled = 0;
    for v in values.iter_mut().filter(|v| v.is_none()) {
        *v = Some(value.to_owned());
        filled += 1;
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|s| s.map(str::to_owned)).collect()
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN]), None);
    }

    #[test]
    fn most_frequent_breaks_ties_by_order() {
        assert_eq!(
            most_frequent(&text(&[Some("b"), Some("a"), None, Some("b")])),
            Some("b".into())
        );
        assert_eq!(
            most_frequent(&text(&[Some("b"), Some("a")])),
            Some("a".into())
        );
        assert_eq!(most_frequent(&text(&[None])), None);
    }

    #[test]
    fn fills_count() {
        let mut n = vec![1.0, f64::NAN, f64::NAN];
        assert_eq!(fill_numbers(&mut n, 5.0), 2);
        assert_eq!(n, [1.0, 5.0, 5.0]);
        let mut t = text(&[None, Some("x")]);
        assert_eq!(fill_text(&mut t, "y"), 1);
        assert_eq!(t, text(&[Some("y"), Some("x")]));
    }
}
