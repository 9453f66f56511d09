//! One-hot encoding of categorical columns.

use std::collections::BTreeSet;

/// The distinct values of the train split, sorted.
pub(super) fn categories(train: &[Option<String>]) -> Vec<String> {
    let set: BTreeSet<&String> = train.iter().flatten().collect();
    set.into_iter().cloned().collect()
}

/// One 0/1 column per category; a value that is not a category (or missing) is all zeros.
pub(super) fn one_hot(values: &[Option<String>], categories: &[String]) -> Vec<Vec<f64>> {
    let mut columns = vec![vec![0.0; values.len()]; categories.len()];
    for (row, value) in values.iter().enumerate() {
        if let Some(value) = value
            && let Ok(i) = categories.binary_search(value)
        {
            columns[i][row] = 1.0;
        }
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|s| s.map(str::to_owned)).collect()
    }

    #[test]
    fn sorted_categories_and_unknowns_as_zeros() {
        let cats = categories(&text(&[Some("b"), Some("a"), None, Some("b")]));
        assert_eq!(cats, ["a", "b"]);
        let cols = one_hot(&text(&[Some("b"), Some("c"), None, Some("a")]), &cats);
        assert_eq!(cols, [vec![0.0, 0.0, 0.0, 1.0], vec![1.0, 0.0, 0.0, 0.0]]);
    }
}
