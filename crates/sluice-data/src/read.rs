//! Reading a table from a file or a folder of files, and writing one.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::csv_file;
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
    /// See [the crate documentation](crate) for how CSV and Parquet values become columns, and
    /// [`TableReader`] to read a table larger than memory in parts.
    ///
    /// # Errors
    /// A [`DataError`] naming the file, and the column where there is one.
    pub fn read_path(path: impl AsRef<Path>) -> Result<Table, DataError> {
        TableReader::open(path)?.read_all()
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

/// The rows of each part [`TableReader::parts`] gives (the last of each file may hold fewer).
pub const PART_ROWS: usize = parquet_file::BATCH_ROWS;

/// A table in a file or a folder of files (as [`Table::read_path`] reads it), read in parts of
/// at most [`PART_ROWS`] rows so that a table larger than memory can be gone through, as often
/// as needed.
///
/// Opening it reads what the kinds of its columns need — each CSV file once, each Parquet
/// file's footer — so a malformed row or a clash of kinds between files is found before any
/// part is read.
#[derive(Debug)]
pub struct TableReader {
    files: Vec<SourceFile>,
    names: Vec<String>,
    kinds: Vec<ColumnKind>,
    rows: usize,
}

/// One file of a [`TableReader`].
#[derive(Debug)]
struct SourceFile {
    path: PathBuf,
    format: Format,
    /// The file's columns, as opening it found them.
    columns: Vec<String>,
    /// For each of the table's columns, its index in this file.
    order: Vec<usize>,
    /// For each of the table's columns, the kind this file's values make (for CSV, the kind
    /// inferred over all the CSV files); it differs from the table's only where this file's
    /// values are all missing.
    own: Vec<ColumnKind>,
}

/// What opening one file found.
enum Found {
    Csv(csv_file::CsvScan),
    Parquet(parquet_file::ParquetColumns),
}

impl Found {
    fn names(&self) -> &[String] {
        match self {
            Found::Csv(scan) => &scan.names,
            Found::Parquet(columns) => &columns.names,
        }
    }

    fn rows(&self) -> usize {
        match self {
            Found::Csv(scan) => scan.rows,
            Found::Parquet(columns) => columns.rows,
        }
    }
}

impl TableReader {
    /// Opens a CSV or Parquet file, or a folder of them (see [`Table::read_path`]).
    ///
    /// # Errors
    /// A [`DataError`] naming the file, and the column where there is one.
    pub fn open(path: impl AsRef<Path>) -> Result<TableReader, DataError> {
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
        let files = if meta.is_dir() {
            folder_files(path)?
        } else {
            vec![(path.to_path_buf(), format_of_file(path)?)]
        };
        let found = files
            .iter()
            .map(|(path, format)| match format {
                Format::Csv => csv_file::scan(path).map(Found::Csv),
                Format::Parquet => parquet_file::open(path).map(Found::Parquet),
            })
            .collect::<Result<Vec<Found>, DataError>>()?;

        let first = &files[0].0;
        let names: Vec<String> = found[0].names().to_vec();
        // For each file, the index of each of the first file's columns in it.
        let mut orders: Vec<Vec<usize>> = Vec::with_capacity(found.len());
        for (part, (file, _)) in found.iter().zip(&files) {
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
                let numeric = found.iter().zip(&orders).all(|(part, order)| match part {
                    Found::Csv(scan) => scan.numeric[order[i]],
                    Found::Parquet(_) => true,
                });
                if numeric {
                    ColumnKind::Number
                } else {
                    ColumnKind::Text
                }
            })
            .collect();
        let sources: Vec<SourceFile> = found
            .iter()
            .zip(orders)
            .zip(&files)
            .map(|((part, order), (path, format))| SourceFile {
                own: match part {
                    Found::Csv(_) => csv_kinds.clone(),
                    Found::Parquet(columns) => order.iter().map(|&j| columns.kinds[j]).collect(),
                },
                columns: part.names().to_vec(),
                path: path.clone(),
                format: *format,
                order,
            })
            .collect();

        // Each column's kind: the first file's, unless a file's values are all missing (it
        // then fits the kind of the files that have values). Files in order, so the first clash
        // found is in the earliest file.
        let mut kinds: Vec<ColumnKind> = sources[0].own.clone();
        // Per column, the file its kind comes from, and whether every file so far is all
        // missing (`None`: not known yet).
        let mut since = vec![0; names.len()];
        let mut all_missing_so_far: Vec<Option<bool>> = vec![None; names.len()];
        for (f, source) in sources.iter().enumerate().skip(1) {
            for (i, name) in names.iter().enumerate() {
                let found_kind = source.own[i];
                if found_kind == kinds[i] {
                    all_missing_so_far[i] = None;
                    continue;
                }
                if all_missing(&found[f], source, i)? {
                    continue;
                }
                let before_all_missing = match all_missing_so_far[i] {
                    Some(known) => known,
                    None => {
                        let mut all = true;
                        for (g, earlier) in sources.iter().enumerate().take(f) {
                            if !all_missing(&found[g], earlier, i)? {
                                all = false;
                                break;
                            }
                        }
                        all
                    }
                };
                if !before_all_missing {
                    return Err(DataError::TypeMismatch {
                        file: source.path.clone(),
                        first: sources[since[i]].path.clone(),
                        column: name.clone(),
                        found: found_kind,
                        expected: kinds[i],
                    });
                }
                kinds[i] = found_kind;
                since[i] = f;
                all_missing_so_far[i] = Some(false);
            }
        }
        let rows = found.iter().map(Found::rows).sum();
        Ok(TableReader {
            files: sources,
            names,
            kinds,
            rows,
        })
    }

    /// The columns' names, in order (the first file's).
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The kind of the column named `name`.
    #[must_use]
    pub fn kind(&self, name: &str) -> Option<ColumnKind> {
        let i = self.names.iter().position(|n| n == name)?;
        Some(self.kinds[i])
    }

    /// How many rows the table has, as the files said when it was opened (each CSV file's rows
    /// as read; each Parquet file's footer).
    #[must_use]
    pub fn n_rows(&self) -> usize {
        self.rows
    }

    /// The table's rows, in order, in parts of at most [`PART_ROWS`] rows with all the
    /// table's columns.
    #[must_use]
    pub fn parts(&self) -> Parts<'_> {
        Parts {
            reader: self,
            wanted: (0..self.names.len()).collect(),
            next_file: 0,
            open: None,
        }
    }

    /// Like [`parts`](Self::parts), with only the named columns (those the table has, each
    /// once, in the order given): a Parquet file's other columns are not decoded at all, a CSV file's
    /// other cells not kept.
    #[must_use]
    pub fn parts_of(&self, names: &[&str]) -> Parts<'_> {
        Parts {
            reader: self,
            wanted: {
                let mut wanted: Vec<usize> = Vec::with_capacity(names.len());
                for i in names
                    .iter()
                    .filter_map(|name| self.names.iter().position(|n| n == name))
                {
                    if !wanted.contains(&i) {
                        wanted.push(i);
                    }
                }
                wanted
            },
            next_file: 0,
            open: None,
        }
    }

    /// The whole table in memory.
    ///
    /// # Errors
    /// A [`DataError`] naming the file.
    pub fn read_all(&self) -> Result<Table, DataError> {
        // Sized for the rows the files said they have, so appending never copies a column.
        let mut columns: Vec<Column> = self
            .kinds
            .iter()
            .map(|&kind| {
                // A footer's count is only a hint: a reservation it makes fail is skipped.
                let mut column = Column::missing(kind, 0);
                let _ = match &mut column {
                    Column::Number(v) => v.try_reserve_exact(self.rows),
                    Column::Text(v) => v.try_reserve_exact(self.rows),
                };
                column
            })
            .collect();
        for part in self.parts() {
            for (all, (_, column)) in columns.iter_mut().zip(part?.into_columns()) {
                all.append(column)
                    .unwrap_or_else(|_| unreachable!("parts have the table's kinds"));
            }
        }
        Table::new(self.names.iter().cloned().zip(columns))
    }
}

/// Whether file `source`'s values of the table's column `i` are all missing.
fn all_missing(found: &Found, source: &SourceFile, i: usize) -> Result<bool, DataError> {
    let j = source.order[i];
    match found {
        Found::Csv(scan) => Ok(match source.own[i] {
            ColumnKind::Number => !scan.has_number[j],
            ColumnKind::Text => !scan.has_text[j],
        }),
        Found::Parquet(_) => {
            for batch in parquet_file::batches(&source.path, Some(&[j]))? {
                let column = &batch?[0];
                if column.missing_count() < column.len() {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    }
}

/// The parts of a [`TableReader`]'s table, in order; see [`TableReader::parts`].
pub struct Parts<'a> {
    reader: &'a TableReader,
    /// The table's columns each part holds, by index.
    wanted: Vec<usize>,
    next_file: usize,
    open: Option<(usize, OpenFile)>,
}

enum OpenFile {
    Csv(csv_file::CsvRows),
    Parquet(parquet_file::Batches),
}

impl Parts<'_> {
    /// The next part of the open file, if it has one.
    fn next_of(&mut self) -> Result<Option<Table>, DataError> {
        let Some((f, open)) = &mut self.open else {
            return Ok(None);
        };
        let source = &self.reader.files[*f];
        let changed = || DataError::Changed {
            path: source.path.clone(),
        };
        let columns: Vec<Column> = match open {
            OpenFile::Csv(rows) => {
                let wanted: Vec<(usize, ColumnKind)> = self
                    .wanted
                    .iter()
                    .map(|&i| (source.order[i], source.own[i]))
                    .collect();
                let (read, columns) = rows.next_columns(PART_ROWS, &wanted)?;
                if read == 0 {
                    return Ok(None);
                }
                columns
            }
            OpenFile::Parquet(batches) => {
                let Some(batch) = batches.next() else {
                    return Ok(None);
                };
                // The batch holds the wanted columns in the file's order.
                let mut in_file: Vec<usize> =
                    self.wanted.iter().map(|&i| source.order[i]).collect();
                in_file.sort_unstable();
                let mut batch: Vec<Option<Column>> = batch?.into_iter().map(Some).collect();
                let mut columns = Vec::with_capacity(self.wanted.len());
                for &i in &self.wanted {
                    let at = in_file
                        .binary_search(&source.order[i])
                        .unwrap_or_else(|_| unreachable!("every wanted column is read"));
                    let column = take(&mut batch[at]);
                    if column.kind() != source.own[i] {
                        return Err(changed());
                    }
                    columns.push(column);
                }
                columns
            }
        };
        let columns = columns.into_iter().zip(&self.wanted).map(|(column, &i)| {
            let kind = self.reader.kinds[i];
            if column.kind() == kind {
                column
            } else {
                Column::missing(kind, column.len())
            }
        });
        let names = self.wanted.iter().map(|&i| self.reader.names[i].clone());
        Table::new(names.zip(columns)).map(Some)
    }
}

impl Iterator for Parts<'_> {
    type Item = Result<Table, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_of() {
                Ok(Some(part)) => return Some(Ok(part)),
                Ok(None) => {}
                Err(e) => {
                    self.open = None;
                    self.next_file = self.reader.files.len();
                    return Some(Err(e));
                }
            }
            let f = self.next_file;
            let source = self.reader.files.get(f)?;
            self.next_file += 1;
            let opened = match source.format {
                Format::Csv => csv_file::open(&source.path).and_then(|rows| {
                    if rows.names == source.columns {
                        Ok(OpenFile::Csv(rows))
                    } else {
                        Err(DataError::Changed {
                            path: source.path.clone(),
                        })
                    }
                }),
                Format::Parquet => {
                    let only: Vec<usize> = self.wanted.iter().map(|&i| source.order[i]).collect();
                    parquet_file::batches(&source.path, Some(&only)).and_then(|b| {
                        if b.file_names() == source.columns {
                            Ok(OpenFile::Parquet(b))
                        } else {
                            Err(DataError::Changed {
                                path: source.path.clone(),
                            })
                        }
                    })
                }
            };
            match opened {
                Ok(open) => self.open = Some((f, open)),
                Err(e) => {
                    self.next_file = self.reader.files.len();
                    return Some(Err(e));
                }
            }
        }
    }
}

/// A folder's CSV and Parquet files, in name order.
fn folder_files(dir: &Path) -> Result<Vec<(PathBuf, Format)>, DataError> {
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
    Ok(files)
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
