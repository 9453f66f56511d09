//! CSV files: a header row with the column names, then one row per line.
//!
//! Empty (or blank) cells are missing values. A column is numbers if every value that is not
//! missing parses as an `f64` (so a column with no values at all is numbers), otherwise text.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::Path;

use crate::{Column, ColumnKind, DataError, Table, number_to_text};

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

/// A CSV file open past its header.
pub(crate) struct CsvRows {
    path: std::path::PathBuf,
    pub(crate) names: Vec<String>,
    reader: csv::Reader<BufReader<File>>,
    record: csv::StringRecord,
}

/// Opens a CSV file and reads its header.
pub(crate) fn open(path: &Path) -> Result<CsvRows, DataError> {
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
    Ok(CsvRows {
        path: path.into(),
        names,
        reader,
        record: csv::StringRecord::new(),
    })
}

impl CsvRows {
    /// The next row's cells (a blank cell is `None`'s place: see [`is_blank`]), or `None` at
    /// the end of the file.
    fn next_record(&mut self) -> Result<Option<&csv::StringRecord>, DataError> {
        let more = self
            .reader
            .read_record(&mut self.record)
            .map_err(|e| csv_error(&self.path, e))?;
        Ok(more.then_some(&self.record))
    }

    /// The next `rows` rows (fewer at the end of the file) of the columns at `wanted` (this
    /// file's indexes), each read as the kind given; and how many rows that was.
    pub(crate) fn next_columns(
        &mut self,
        rows: usize,
        wanted: &[(usize, ColumnKind)],
    ) -> Result<(usize, Vec<Column>), DataError> {
        let mut columns: Vec<Column> = wanted
            .iter()
            .map(|&(_, kind)| Column::missing(kind, 0))
            .collect();
        let mut read = 0;
        while read < rows {
            let Some(record) = self.next_record()? else {
                break;
            };
            read += 1;
            for (column, &(j, _)) in columns.iter_mut().zip(wanted) {
                let cell = record.get(j).unwrap_or("");
                match column {
                    Column::Number(v) => v.push(if is_blank(cell) {
                        f64::NAN
                    } else {
                        parse_number(cell).unwrap_or(f64::NAN)
                    }),
                    Column::Text(v) => v.push((!is_blank(cell)).then(|| cell.to_owned())),
                }
            }
        }
        Ok((read, columns))
    }
}

/// Whether a cell is a missing value.
fn is_blank(cell: &str) -> bool {
    cell.trim().is_empty()
}

/// What one read of a CSV file tells of each column, before its kind is decided.
pub(crate) struct CsvScan {
    pub(crate) names: Vec<String>,
    pub(crate) rows: usize,
    /// Whether every value that is not missing parses as a number.
    pub(crate) numeric: Vec<bool>,
    /// Whether some cell is not blank (a value, read as text).
    pub(crate) has_text: Vec<bool>,
    /// Whether some cell is a number that is not `NaN` (a value, read as numbers).
    pub(crate) has_number: Vec<bool>,
}

/// Reads a whole CSV file once, keeping only what [`CsvScan`] holds: the kinds of its columns
/// are decided from it, and any malformed row is found before anything is read for good.
pub(crate) fn scan(path: &Path) -> Result<CsvScan, DataError> {
    let mut rows = open(path)?;
    let n = rows.names.len();
    let (mut numeric, mut has_text, mut has_number) =
        (vec![true; n], vec![false; n], vec![false; n]);
    let mut count = 0;
    while let Some(record) = rows.next_record()? {
        count += 1;
        for (i, cell) in record.iter().enumerate() {
            if is_blank(cell) {
                continue;
            }
            has_text[i] = true;
            if numeric[i] {
                match parse_number(cell) {
                    Some(x) => has_number[i] |= !x.is_nan(),
                    None => numeric[i] = false,
                }
            }
        }
    }
    Ok(CsvScan {
        names: rows.names,
        rows: count,
        numeric,
        has_text,
        has_number,
    })
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
    let mut writer = CsvWriter::create(path, table.names())?;
    writer.write(table)?;
    writer.finish()
}

/// Writes a CSV file from tables of the same columns given one after the other (see
/// [`Table::write_csv`]).
pub struct CsvWriter {
    path: std::path::PathBuf,
    writer: csv::Writer<BufWriter<File>>,
    record: csv::StringRecord,
}

impl CsvWriter {
    /// Creates the file and writes its header row.
    ///
    /// # Errors
    /// [`DataError::Io`] or [`DataError::Csv`].
    pub fn create(path: &Path, names: &[String]) -> Result<CsvWriter, DataError> {
        let file = File::create(path).map_err(|source| DataError::Io {
            path: path.into(),
            source,
        })?;
        let mut writer = csv::Writer::from_writer(BufWriter::new(file));
        writer.write_record(names).map_err(|e| csv_error(path, e))?;
        Ok(CsvWriter {
            path: path.into(),
            writer,
            record: csv::StringRecord::new(),
        })
    }

    /// Appends `table`'s rows.
    ///
    /// # Errors
    /// [`DataError::Io`] or [`DataError::Csv`].
    pub fn write(&mut self, table: &Table) -> Result<(), DataError> {
        for row in 0..table.n_rows() {
            self.record.clear();
            for (_, column) in table.columns() {
                match column {
                    Column::Number(v) => self.record.push_field(&number_to_text(v[row])),
                    Column::Text(v) => self.record.push_field(v[row].as_deref().unwrap_or("")),
                }
            }
            self.writer
                .write_record(&self.record)
                .map_err(|e| csv_error(&self.path, e))?;
        }
        Ok(())
    }

    /// Flushes the file.
    ///
    /// # Errors
    /// [`DataError::Io`].
    pub fn finish(self) -> Result<(), DataError> {
        let io = |source| DataError::Io {
            path: self.path.clone(),
            source,
        };
        let mut inner = self
            .writer
            .into_inner()
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        inner.flush().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Result<Table, DataError> {
        Table::read_path(path)
    }

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
