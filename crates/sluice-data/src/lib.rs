//! Tabular data for the built-in steps: a [`Table`] of named number and text columns, read from
//! and written to CSV and Parquet; [`prep`](mod@prep), which turns a table into train,
//! validation and test tables of numeric features; and [`synth`], deterministic synthetic
//! datasets.
//!
//! # Files
//!
//! [`Table::read_path`] reads a CSV file, a Parquet file, or a folder of them.
//!
//! - **CSV**: a header row with the column names, then one row per line. Empty (or blank) cells
//!   are missing. A column is numbers if every value that is not missing parses as an `f64`,
//!   otherwise text.
//! - **Parquet**: integers, floats and decimals become numbers; booleans become numbers 1 and 0;
//!   strings become text; dates and timestamps become ISO 8601 text. Nulls are missing.
//!
//! [`Table::write_parquet`] writes numbers as nullable `Float64` and text as nullable UTF-8,
//! byte for byte the same for the same table. [`Table::write_csv`] writes missing values and
//! empty strings as empty cells, so a text column of number-like values, or an empty string,
//! reads back from CSV as numbers or as missing.

mod csv_file;
mod error;
mod parquet_file;
pub mod prep;
mod read;
pub mod synth;
mod table;
mod time;

pub use csv_file::CsvWriter;
pub use error::DataError;
pub use parquet_file::TableWriter;
pub use prep::{Missing, PrepError, PrepOptions, PrepReport, Prepared, Split, prep};
pub use read::{PART_ROWS, Parts, TableReader};
pub use table::{Column, ColumnKind, Table, number_to_text};
