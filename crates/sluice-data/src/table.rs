//! The in-memory table the built-in steps read, transform and write.

use std::fmt;

use crate::DataError;

/// One column's values.
///
/// Equality treats two missing values as equal (`NaN == NaN` here), so that tables compare
/// equal after a round trip through a file.
#[derive(Debug, Clone)]
pub enum Column {
    /// Numbers; `NaN` is a missing value.
    Number(Vec<f64>),
    /// Text; `None` is a missing value.
    Text(Vec<Option<String>>),
}

/// Whether a column holds numbers or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    Number,
    Text,
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnKind::Number => "numbers",
            ColumnKind::Text => "text",
        })
    }
}

impl Column {
    /// An all-missing column of `len` rows.
    #[must_use]
    pub fn missing(kind: ColumnKind, len: usize) -> Column {
        match kind {
            ColumnKind::Number => Column::Number(vec![f64::NAN; len]),
            ColumnKind::Text => Column::Text(vec![None; len]),
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Column::Number(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[must_use]
    pub fn kind(&self) -> ColumnKind {
        match self {
            Column::Number(_) => ColumnKind::Number,
            Column::Text(_) => ColumnKind::Text,
        }
    }

    /// The numbers, if this is a number column.
    #[must_use]
    pub fn as_numbers(&self) -> Option<&[f64]> {
        match self {
            Column::Number(v) => Some(v),
            Column::Text(_) => None,
        }
    }

    /// The text values, if this is a text column.
    #[must_use]
    pub fn as_text(&self) -> Option<&[Option<String>]> {
        match self {
            Column::Number(_) => None,
            Column::Text(v) => Some(v),
        }
    }

    /// Whether the value at `row` is missing.
    #[must_use]
    pub fn is_missing(&self, row: usize) -> bool {
        match self {
            Column::Number(v) => v[row].is_nan(),
            Column::Text(v) => v[row].is_none(),
        }
    }

    /// How many values are missing.
    #[must_use]
    pub fn missing_count(&self) -> usize {
        match self {
            Column::Number(v) => v.iter().filter(|x| x.is_nan()).count(),
            Column::Text(v) => v.iter().filter(|x| x.is_none()).count(),
        }
    }

    /// The values at `rows`, in that order.
    #[must_use]
    pub fn take(&self, rows: &[usize]) -> Column {
        match self {
            Column::Number(v) => Column::Number(rows.iter().map(|&r| v[r]).collect()),
            Column::Text(v) => Column::Text(rows.iter().map(|&r| v[r].clone()).collect()),
        }
    }

    /// The values in `rows`, in order.
    #[must_use]
    pub fn slice(&self, rows: std::ops::Range<usize>) -> Column {
        match self {
            Column::Number(v) => Column::Number(v[rows].to_vec()),
            Column::Text(v) => Column::Text(v[rows].to_vec()),
        }
    }

    /// The values as text: numbers written as in a CSV file, missing values as `None`.
    #[must_use]
    pub fn to_text(&self) -> Vec<Option<String>> {
        match self {
            Column::Number(v) => v
                .iter()
                .map(|&x| (!x.is_nan()).then(|| number_to_text(x)))
                .collect(),
            Column::Text(v) => v.clone(),
        }
    }

    /// Appends `other`'s values. A column whose values are all missing takes the other's kind,
    /// so an empty column of one file does not clash with the same column of another.
    ///
    /// On a clash of kinds, returns the kinds (`self`'s, `other`'s) and leaves `self` as it was.
    pub(crate) fn append(&mut self, other: Column) -> Result<(), (ColumnKind, ColumnKind)> {
        let other = if self.kind() == other.kind() {
            other
        } else if other.missing_count() == other.len() {
            Column::missing(self.kind(), other.len())
        } else if self.missing_count() == self.len() {
            *self = Column::missing(other.kind(), self.len());
            other
        } else {
            return Err((self.kind(), other.kind()));
        };
        match (self, other) {
            (Column::Number(a), Column::Number(b)) => a.extend(b),
            (Column::Text(a), Column::Text(b)) => a.extend(b),
            _ => unreachable!("kinds were made equal above"),
        }
        Ok(())
    }
}

impl PartialEq for Column {
    fn eq(&self, other: &Column) -> bool {
        match (self, other) {
            (Column::Number(a), Column::Number(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
            }
            (Column::Text(a), Column::Text(b)) => a == b,
            _ => false,
        }
    }
}

/// A number as text: the shortest form that reads back as the same `f64`, in plain notation
/// unless that is long (`1e300`), `NaN` as the empty string.
#[must_use]
pub fn number_to_text(x: f64) -> String {
    if x.is_nan() {
        return String::new();
    }
    let plain = format!("{x}");
    if plain.len() > 24 {
        format!("{x:e}")
    } else {
        plain
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    names: Vec<String>,
    columns: Vec<Column>,
}

impl Table {
    /// A table of the given columns, in order.
    ///
    /// # Errors
    /// [`DataError::DuplicateColumn`] or [`DataError::ColumnLength`].
    pub fn new(columns: impl IntoIterator<Item = (String, Column)>) -> Result<Table, DataError> {
        let mut table = Table::default();
        for (name, column) in columns {
            table.push(name, column)?;
        }
        Ok(table)
    }

    /// Adds a column at the end.
    ///
    /// # Errors
    /// [`DataError::DuplicateColumn`] or [`DataError::ColumnLength`].
    pub fn push(&mut self, name: impl Into<String>, column: Column) -> Result<(), DataError> {
        let name = name.into();
        if self.names.contains(&name) {
            return Err(DataError::DuplicateColumn {
                path: None,
                column: name,
            });
        }
        if let Some(first) = self.columns.first()
            && first.len() != column.len()
        {
            return Err(DataError::ColumnLength {
                column: name,
                len: column.len(),
                expected: first.len(),
            });
        }
        self.names.push(name);
        self.columns.push(column);
        Ok(())
    }

    /// The number of rows (0 for a table without columns).
    #[must_use]
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    #[must_use]
    pub fn n_columns(&self) -> usize {
        self.columns.len()
    }

    /// The column names, in order.
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The column called `name`.
    #[must_use]
    pub fn column(&self, name: &str) -> Option<&Column> {
        let i = self.names.iter().position(|n| n == name)?;
        Some(&self.columns[i])
    }

    /// The columns and their names, in order.
    pub fn columns(&self) -> impl ExactSizeIterator<Item = (&str, &Column)> {
        self.names.iter().map(String::as_str).zip(&self.columns)
    }

    /// The rows at `rows`, in that order.
    #[must_use]
    pub fn take_rows(&self, rows: &[usize]) -> Table {
        Table {
            names: self.names.clone(),
            columns: self.columns.iter().map(|c| c.take(rows)).collect(),
        }
    }

    /// Appends `other`'s rows; it has the same columns, of the same kinds.
    pub(crate) fn append_rows(&mut self, other: &Table) {
        for (mine, theirs) in self.columns.iter_mut().zip(&other.columns) {
            match (mine, theirs) {
                (Column::Number(a), Column::Number(b)) => a.extend_from_slice(b),
                (Column::Text(a), Column::Text(b)) => a.extend_from_slice(b),
                _ => unreachable!("the parts of one table have the same kinds"),
            }
        }
    }

    /// The columns and their names, by value.
    #[must_use]
    pub fn into_columns(self) -> Vec<(String, Column)> {
        self.names.into_iter().zip(self.columns).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: &[f64]) -> Column {
        Column::Number(v.to_vec())
    }

    fn text(v: &[Option<&str>]) -> Column {
        Column::Text(v.iter().map(|s| s.map(str::to_owned)).collect())
    }

    #[test]
    fn new_rejects_duplicates_and_ragged_columns() {
        let err = Table::new([("a".into(), num(&[1.0])), ("a".into(), num(&[2.0]))]).unwrap_err();
        assert_eq!(err.to_string(), "column `a` appears twice");
        let err = Table::new([("a".into(), num(&[1.0])), ("b".into(), num(&[]))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "column `b` has 0 rows, but the table has 1"
        );
    }

    #[test]
    fn missing_values_compare_equal() {
        assert_eq!(num(&[1.0, f64::NAN]), num(&[1.0, f64::NAN]));
        assert_ne!(num(&[1.0, f64::NAN]), num(&[1.0, 2.0]));
        assert_ne!(num(&[]), text(&[]));
    }

    #[test]
    fn take_and_missing_count() {
        let t = Table::new([
            ("x".into(), num(&[1.0, f64::NAN, 3.0])),
            ("s".into(), text(&[Some("a"), None, Some("c")])),
        ])
        .unwrap();
        let sub = t.take_rows(&[2, 0]);
        assert_eq!(sub.column("x"), Some(&num(&[3.0, 1.0])));
        assert_eq!(sub.column("s"), Some(&text(&[Some("c"), Some("a")])));
        assert_eq!(t.column("x").unwrap().missing_count(), 1);
        assert!(t.column("s").unwrap().is_missing(1));
        assert_eq!(t.n_rows(), 3);
        assert_eq!(t.names(), ["x", "s"]);
    }

    #[test]
    fn append_adapts_all_missing_columns() {
        let mut a = num(&[1.0]);
        a.append(text(&[None])).unwrap();
        assert_eq!(a, num(&[1.0, f64::NAN]));
        let mut b = num(&[f64::NAN]);
        b.append(text(&[Some("x")])).unwrap();
        assert_eq!(b, text(&[None, Some("x")]));
        let mut c = num(&[1.0]);
        assert_eq!(
            c.append(text(&[Some("x")])),
            Err((ColumnKind::Number, ColumnKind::Text))
        );
    }

    #[test]
    fn numbers_as_text() {
        assert_eq!(number_to_text(1.0), "1");
        assert_eq!(number_to_text(0.1), "0.1");
        assert_eq!(number_to_text(-2.5), "-2.5");
        assert_eq!(number_to_text(f64::NAN), "");
        assert_eq!(number_to_text(1e300), "1e300");
        assert_eq!(number_to_text(1.5e-30), "1.5e-30");
        for x in [1e300, 1.5e-30, 0.1 + 0.2, 123_456.789] {
            assert_eq!(
                number_to_text(x).parse::<f64>().unwrap().to_bits(),
                x.to_bits()
            );
        }
    }
}
