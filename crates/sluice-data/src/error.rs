//! The error of reading, writing and building tables.

use std::path::PathBuf;

use crate::ColumnKind;

/// What went wrong while reading, writing or building a [`Table`](crate::Table).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The path to read does not exist.
    #[error("`{path}` does not exist")]
    NotFound { path: PathBuf },
    /// A file that is neither CSV nor Parquet.
    #[error("`{path}` is neither a CSV file (`*.csv`) nor a Parquet file (`*.parquet`)")]
    UnknownFormat { path: PathBuf },
    /// A folder without a single `*.csv` or `*.parquet` file.
    #[error("folder `{path}` has no `*.csv` or `*.parquet` files")]
    EmptyFolder { path: PathBuf },
    /// A CSV file that does not parse.
    #[error("`{path}`{}: invalid CSV: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Csv {
        path: PathBuf,
        line: Option<u64>,
        message: String,
    },
    /// A CSV file without a header row.
    #[error("`{path}` is empty: a CSV file needs a header row with the column names")]
    NoHeader { path: PathBuf },
    /// A Parquet file that cannot be read or written.
    #[error("`{path}`: invalid Parquet: {message}")]
    Parquet { path: PathBuf, message: String },
    /// A Parquet column of a type a table cannot hold.
    #[error("`{path}`: column `{column}` has type {data_type}, which Sluice does not read")]
    UnsupportedType {
        path: PathBuf,
        column: String,
        data_type: String,
    },
    /// A Parquet binary column whose values are not UTF-8 text.
    #[error("`{path}`: column `{column}` holds binary values that are not UTF-8 text")]
    NotText { path: PathBuf, column: String },
    /// A CSV header with an empty column name.
    #[error("`{path}`: column {number} of the header has no name")]
    UnnamedColumn { path: PathBuf, number: usize },
    /// Two columns of the same name.
    #[error("column `{column}` appears twice{}", in_file(path.as_ref()))]
    DuplicateColumn {
        path: Option<PathBuf>,
        column: String,
    },
    /// A column whose length differs from the table's.
    #[error("column `{column}` has {len} rows, but the table has {expected}")]
    ColumnLength {
        column: String,
        len: usize,
        expected: usize,
    },
    /// A file of a folder that lacks a column of the folder's first file.
    #[error("`{file}` has no column `{column}`, which `{first}` has")]
    MissingColumn {
        file: PathBuf,
        first: PathBuf,
        column: String,
    },
    /// A file of a folder with a column the folder's first file lacks.
    #[error("`{file}` has a column `{column}` that `{first}` does not have")]
    ExtraColumn {
        file: PathBuf,
        first: PathBuf,
        column: String,
    },
    /// A column that is numbers in one file of a folder and text in another.
    #[error("column `{column}` is {found} in `{file}` but {expected} in `{first}`")]
    TypeMismatch {
        file: PathBuf,
        first: PathBuf,
        column: String,
        found: ColumnKind,
        expected: ColumnKind,
    },
    /// A file that changed between two reads of it (a table is read more than once in parts).
    #[error("`{path}` changed while it was being read")]
    Changed { path: PathBuf },
    /// Writing a table without columns.
    #[error("cannot write `{path}`: the table has no columns")]
    NoColumns { path: PathBuf },
}

fn in_file(path: Option<&PathBuf>) -> String {
    path.map(|p| format!(" in `{}`", p.display()))
        .unwrap_or_default()
}

impl DataError {
    /// A line telling the user what to do about the error, where there is one.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            DataError::NotFound { .. } => {
                Some("check the path: a table is a `*.csv` or `*.parquet` file, or a folder of them".into())
            }
            DataError::UnknownFormat { .. } | DataError::EmptyFolder { .. } => Some(
                "give a `*.csv` file (with a header row), a `*.parquet` file, or a folder of them".into(),
            ),
            DataError::NoHeader { .. } => {
                Some("write the column names on the first line, separated by commas".into())
            }
            DataError::UnsupportedType { .. } => Some(
                "tables hold numbers and text: cast the column to a number or a string, or remove it"
                    .into(),
            ),
            DataError::UnnamedColumn { .. } => Some(
                "name every column; pandas writes an unnamed index column unless `to_csv(..., index=False)`"
                    .into(),
            ),
            DataError::DuplicateColumn { .. } => Some("give every column its own name".into()),
            DataError::MissingColumn { file, .. }
            | DataError::ExtraColumn { file, .. }
            | DataError::TypeMismatch { file, .. } => Some(format!(
                "the files of a folder are read as one table and need the same columns of the same types: fix `{}` or move it out of the folder",
                file.display()
            )),
            DataError::Changed { .. } => Some(
                "the data is read more than once; do not write to it while a step reads it, and run again".into(),
            ),
            _ => None,
        }
    }
}
