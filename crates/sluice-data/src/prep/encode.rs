//! One-hot encoding of categorical columns.

/// One 0/1 column per category (`categories` sorted); a value that is not a category (or
/// missing) is all zeros.
pub(super) fn one_hot<'a>(
    values: impl ExactSizeIterator<Item = Option<&'a str>>,
    categories: &[String],
) -> Vec<Vec<f64>> {
    let mut columns = vec![vec![0.0; values.len()]; categories.len()];
    for (row, value) in values.enumerate() {
        if let Some(value) = value
            && let Ok(i) = categories.binary_search_by(|c| c.as_str().cmp(value))
        {
            columns[i][row] = 1.0;
        }
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknowns_and_missing_values_are_zeros() {
        let cats = ["a".to_owned(), "b".to_owned()];
        let values = [Some("b"), Some("c"), None, Some("a")];
        let cols = one_hot(values.into_iter(), &cats);
        assert_eq!(cols, [vec![0.0, 0.0, 0.0, 1.0], vec![1.0, 0.0, 0.0, 0.0]]);
    }
}
