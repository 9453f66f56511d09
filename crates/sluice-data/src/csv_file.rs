//! CSV files: a header row with the column names, then one row per line.
//!
//! Empty (or blank) cells are missing values. A column is numbers if every value that is not
//! missing parses as an `f64` (so a column with no values at all is numbers), otherwise text.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::Path;

use crate::{Column, ColumnKind, DataError, Table, number_to_text};

/// A CSV file's cells before their columns' kinds are decided; `None` is an empty cell.
pub(crate) struct RawCsv {
    pub(crate) names: Vec<String>,
    pub(crate) columns: Vec<Vec<Option<String>>>,
}

impl RawCsv {
    /// Whether every value of column `i` that is not missing parses as a number.
    pub(crate) fn is_numeric(&self, i: usize) -> bool {
        self.columns[i]
            .iter()
            .flatten()
            .all(|s| parse_number(s).is_some())
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

/// The cells of one column as a column of the given kind.
pub(crate) fn into_column(values: Vec<Option<String>>, kind: ColumnKind) -> Column {
    match kind {
        ColumnKind::Number => Column::Number(
            values
                .iter()
                .map(|v| v.as_deref().and_then(parse_number).unwrap_or(f64::NAN))
                .collect(),
        ),
        ColumnKind::Text => Column::Text(values),
    }
}

/// Reads the header and the cells of a CSV file.
pub(crate) fn read_raw(path: &Path) -> Result<RawCsv, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(BufReader::new(file));
    let header = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    if header.is_empty() {
        return Err(DataError::NoHeader { path: path.into() });
    }
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        if name.is_empty() {
            return Err(DataError::UnnamedColumn {
                path: path.into(),
                number: i + 1,
            });
        }
        if names.iter().any(|n| n == name) {
            return Err(DataError::DuplicateColumn {
                path: Some(path.into()),
                column: name.to_owned(),
            });
        }
        names.push(name.to_owned());
    }
    let mut columns = vec![Vec::new(); names.len()];
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        for (column, cell) in columns.iter_mut().zip(record.iter()) {
            column.push((!cell.trim().is_empty()).then(|| cell.to_owned()));
        }
    }
    Ok(RawCsv { names, columns })
}

/// Reads one CSV file, deciding each column's kind from its own values.
pub(crate) fn read(path: &Path) -> Result<Table, DataError> {
    let raw = read_raw(path)?;
    let kinds: Vec<ColumnKind> = (0..raw.names.len())
        .map(|i| {
            if raw.is_numeric(i) {
                ColumnKind::Number
            } else {
                ColumnKind::Text
            }
        })
        .collect();
    Table::new(
        raw.names
            .into_iter()
            .zip(raw.columns)
            .zip(kinds)
            .map(|((name, values), kind)| (name, into_column(values, kind))),
    )
}

fn csv_error(path: &Path, error: csv::Error) -> DataError {
    let line = error.position().map(csv::Position::line);
    let message = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the row has {len} fields, but the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "a value is not UTF-8 text".to_owned(),
        csv::ErrorKind::Io(_) => {
            let csv::ErrorKind::Io(source) = error.into_kind() else {
                unreachable!("matched above")
            };
            return DataError::Io {
                path: path.into(),
                source,
            };
        }
        _ => error.to_string(),
    };
    DataError::Csv {
        path: path.into(),
        line,
        message,
    }
}

/// Writes `table` as CSV: a header row, numbers in their shortest exact form, missing values
/// (and empty strings) as empty cells.
pub(crate) fn write(table: &Table, path: &Path) -> Result<(), DataError> {
    let io = |source| DataError::Io {
        path: path.into(),
        source,
    };
    let file = File::create(path).map_err(io)?;
    let mut writer = csv::Writer::from_writer(BufWriter::new(file));
    let result = (|| {
        writer.write_record(table.names())?;
        let mut record = csv::StringRecord::new();
        for row in 0..table.n_rows() {
            record.clear();
            for (_, column) in table.columns() {
                match column {
                    Column::Number(v) => record.push_field(&number_to_text(v[row])),
                    Column::Text(v) => record.push_field(v[row].as_deref().unwrap_or("")),
                }
            }
            writer.write_record(&record)?;
        }
        Ok(())
    })();
    result.map_err(|e| csv_error(path, e))?;
    let mut inner = writer
        .into_inner()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    inner.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn infers_numbers_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(
            dir.path(),
            "a.csv",
            "x,s,e,m\n1,a,,1e3\n 2.5 ,b,,\n,3,, NaN\n",
        );
        let t = read(&path).unwrap();
        assert_eq!(
            t.column("x"),
            Some(&Column::Number(vec![1.0, 2.5, f64::NAN]))
        );
        assert_eq!(
            t.column("s"),
            Some(&Column::Text(vec![
                Some("a".into()),
                Some("b".into()),
                Some("3".into())
            ]))
        );
        assert_eq!(t.column("e"), Some(&Column::Number(vec![f64::NAN; 3])));
        assert_eq!(
            t.column("m"),
            Some(&Column::Number(vec![1000.0, f64::NAN, f64::NAN]))
        );
    }

    #[test]
    fn byte_order_mark_and_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "bom.csv", "\u{feff}a,b\r\n1,x\r\n");
        let t = read(&path).unwrap();
        assert_eq!(t.names(), ["a", "b"]);
        assert_eq!(t.column("b"), Some(&Column::Text(vec![Some("x".into())])));
    }

    #[test]
    fn header_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = write_file(dir.path(), "empty.csv", "");
        assert!(matches!(read(&empty), Err(DataError::NoHeader { .. })));
        let unnamed = write_file(dir.path(), "unnamed.csv", ",a\n0,1\n");
        let err = read(&unnamed).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("unnamed.csv`: column 1 of the header has no name"),
            "{err}"
        );
        assert!(err.hint().unwrap().contains("index=False"));
        let dup = write_file(dir.path(), "dup.csv", "a,a\n0,1\n");
        assert!(
            read(&dup)
                .unwrap_err()
                .to_string()
                .starts_with("column `a` appears twice in `")
        );
    }

    #[test]
    fn ragged_row_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "r.csv", "a,b\n1,2\n3\n");
        let err = read(&path).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "r.csv` line 3: invalid CSV: the row has 1 fields, but the header has 2"
            ),
            "{err}"
        );
    }

    #[test]
    fn writes_quoted_text_and_empty_missing_cells() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.csv");
        let t = Table::new([
            ("x".into(), Column::Number(vec![1.0, f64::NAN])),
            (
                "s".into(),
                Column::Text(vec![Some("a, \"b\"".into()), None]),
            ),
        ])
        .unwrap();
        write(&t, &path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "x,s\n1,\"a, \"\"b\"\"\"\n,\n"
        );
        assert_eq!(read(&path).unwrap(), t);
    }
}
