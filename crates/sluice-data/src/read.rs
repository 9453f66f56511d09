//! Reading a table from a file or a folder of files, and writing one.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::csv_file::{self, RawCsv};
use crate::{Column, ColumnKind, DataError, Table, parquet_file};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Parquet,
}

/// The format of `path` by its extension (`csv`, `parquet`, `pq`, any case).
fn format_by_name(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" => Some(Format::Csv),
        "parquet" | "pq" => Some(Format::Parquet),
        _ => None,
    }
}

/// The format of a file given by name: by extension, else Parquet if it starts with `PAR1`.
fn format_of_file(path: &Path) -> Result<Format, DataError> {
    if let Some(format) = format_by_name(path) {
        return Ok(format);
    }
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
    if read.is_ok() && &magic == b"PAR1" {
        Ok(Format::Parquet)
    } else {
        Err(DataError::UnknownFormat { path: path.into() })
    }
}

impl Table {
    /// Reads a CSV or Parquet file, or a folder of them.
    ///
    /// A file is CSV or Parquet by its extension (`.csv`; `.parquet` or `.pq`), or Parquet when
    /// it starts with Parquet's magic bytes. A folder is read as one table: all its `*.csv` and
    /// `*.parquet` (or `*.pq`) files, in sorted name order, concatenated; subfolders, hidden
    /// files and other files are ignored. They must have the same columns (in any order; the first file's
    /// order is kept) of the same kinds; a column that is entirely missing in a file fits either
    /// kind. The kinds of CSV columns are inferred over all the folder's CSV files together.
    ///
    /// See [the crate documentation](crate) for how CSV and Parquet values become columns.
    ///
    /// # Errors
    /// A [`DataError`] naming the file, and the column where there is one.
    pub fn read_path(path: impl AsRef<Path>) -> Result<Table, DataError> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                DataError::NotFound { path: path.into() }
            } else {
                DataError::Io {
                    path: path.into(),
                    source,
                }
            }
        })?;
        if meta.is_dir() {
            read_folder(path)
        } else {
            match format_of_file(path)? {
                Format::Csv => csv_file::read(path),
                Format::Parquet => parquet_file::read(path),
            }
        }
    }

    /// Writes the table as one Parquet file (see [the crate documentation](crate)); the same
    /// table always gives the same bytes.
    ///
    /// # Errors
    /// [`DataError::Io`], [`DataError::Parquet`] or [`DataError::NoColumns`].
    pub fn write_parquet(&self, path: impl AsRef<Path>) -> Result<(), DataError> {
        parquet_file::write(self, path.as_ref())
    }

    /// Writes the table as one CSV file with a header row; missing values are empty cells.
    ///
    /// # Errors
    /// [`DataError::Io`] or [`DataError::Csv`].
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<(), DataError> {
        csv_file::write(self, path.as_ref())
    }
}

/// A file of a folder, read but for the kinds of its CSV columns.
enum Part {
    Csv(RawCsv),
    Parquet(Table),
}

impl Part {
    fn names(&self) -> &[String] {
        match self {
            Part::Csv(raw) => &raw.names,
            Part::Parquet(table) => table.names(),
        }
    }
}

fn read_folder(dir: &Path) -> Result<Table, DataError> {
    let io = |source| DataError::Io {
        path: dir.into(),
        source,
    };
    let mut files: Vec<(PathBuf, Format)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if let Some(format) = format_by_name(&path)
            && !hidden
            && entry.file_type().map_err(io)?.is_file()
        {
            files.push((path, format));
        }
    }
    files.sort_by(|a, b| a.0.file_name().cmp(&b.0.file_name()));
    if files.is_empty() {
        return Err(DataError::EmptyFolder { path: dir.into() });
    }
    let parts = files
        .iter()
        .map(|(path, format)| match format {
            Format::Csv => csv_file::read_raw(path).map(Part::Csv),
            Format::Parquet => parquet_file::read(path).map(Part::Parquet),
        })
        .collect::<Result<Vec<Part>, DataError>>()?;

    let first = &files[0].0;
    let names: Vec<String> = parts[0].names().to_vec();
    // For each part, the index of each of the first file's columns in it.
    let mut orders: Vec<Vec<usize>> = Vec::with_capacity(parts.len());
    for (part, (file, _)) in parts.iter().zip(&files) {
        let own = part.names();
        if let Some(extra) = own.iter().find(|n| !names.contains(n)) {
            return Err(DataError::ExtraColumn {
                file: file.clone(),
                first: first.clone(),
                column: extra.clone(),
            });
        }
        let order = names
            .iter()
            .map(|name| {
                own.iter()
                    .position(|n| n == name)
                    .ok_or_else(|| DataError::MissingColumn {
                        file: file.clone(),
                        first: first.clone(),
                        column: name.clone(),
                    })
            })
            .collect::<Result<Vec<usize>, DataError>>()?;
        orders.push(order);
    }

    // A CSV column is numbers if its values parse as numbers in every CSV file.
    let csv_kinds: Vec<ColumnKind> = (0..names.len())
        .map(|i| {
            let numeric = parts.iter().zip(&orders).all(|(part, order)| match part {
                Part::Csv(raw) => raw.is_numeric(order[i]),
                Part::Parquet(_) => true,
            });
            if numeric {
                ColumnKind::Number
            } else {
                ColumnKind::Text
            }
        })
        .collect();

    // Each column, and the file its kind comes from, for the error of a clash.
    let mut columns: Vec<Option<(Column, &Path)>> = vec![None; names.len()];
    for ((part, order), (file, _)) in parts.into_iter().zip(&orders).zip(&files) {
        // This file's columns in the first file's order (`order` is a permutation).
        let own: Vec<Column> = match part {
            Part::Csv(raw) => {
                let mut cells: Vec<Option<Vec<Option<String>>>> =
                    raw.columns.into_iter().map(Some).collect();
                order
                    .iter()
                    .zip(&csv_kinds)
                    .map(|(&j, &kind)| csv_file::into_column(take(&mut cells[j]), kind))
                    .collect()
            }
            Part::Parquet(table) => {
                let mut own: Vec<Option<Column>> = table
                    .into_columns()
                    .into_iter()
                    .map(|(_, c)| Some(c))
                    .collect();
                order.iter().map(|&j| take(&mut own[j])).collect()
            }
        };
        for ((column, slot), name) in own.into_iter().zip(&mut columns).zip(&names) {
            let Some((all, since)) = slot else {
                *slot = Some((column, file));
                continue;
            };
            let (before, found) = (all.kind(), column.kind());
            all.append(column)
                .map_err(|(expected, _)| DataError::TypeMismatch {
                    file: file.clone(),
                    first: since.to_path_buf(),
                    column: name.clone(),
                    found,
                    expected,
                })?;
            if all.kind() != before {
                // The column was all missing so far: its kind comes from this file.
                *since = file;
            }
        }
    }
    Table::new(names.into_iter().zip(columns).map(|(name, column)| {
        let (column, _) = column.unwrap_or_else(|| unreachable!("there is a first file"));
        (name, column)
    }))
}

/// The value of a slot that is taken once.
fn take<T>(slot: &mut Option<T>) -> T {
    slot.take()
        .unwrap_or_else(|| unreachable!("a permutation takes each slot once"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension_then_magic() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(format_by_name(Path::new("a.CSV")), Some(Format::Csv));
        assert_eq!(format_by_name(Path::new("a.pq")), Some(Format::Parquet));
        assert_eq!(format_by_name(Path::new("a.json")), None);
        let magic = dir.path().join("data");
        std::fs::write(&magic, b"PAR1....").unwrap();
        assert_eq!(format_of_file(&magic).unwrap(), Format::Parquet);
        let text = dir.path().join("data.txt");
        std::fs::write(&text, "a,b\n").unwrap();
        let err = format_of_file(&text).unwrap_err();
        assert!(err.to_string().ends_with(
            "data.txt` is neither a CSV file (`*.csv`) nor a Parquet file (`*.parquet`)"
        ));
    }

    #[test]
    fn folder_column_all_missing_in_one_file_takes_the_other_kind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), "x,s\n1,\n").unwrap();
        std::fs::write(dir.path().join("b.csv"), "x,s\n2,hello\n").unwrap();
        let t = Table::read_path(dir.path()).unwrap();
        assert_eq!(
            t.column("s"),
            Some(&Column::Text(vec![None, Some("hello".into())]))
        );
    }
}
