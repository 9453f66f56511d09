//! Parquet files.
//!
//! Reading maps each column by its Parquet type, ignoring any Arrow schema stored in the file:
//! integers, floats and decimals become numbers, booleans become numbers 1 and 0 (a ready
//! binary feature), strings (and binary values that are UTF-8) become text, and dates and
//! timestamps become ISO 8601 text (`2016-01-05`, `2016-01-05T08:23:11`, with a `Z` when the
//! file marks the timestamp as UTC). Nulls are missing values. Other types (lists, structs, ...)
//! are an error naming the column.
//!
//! Writing stores numbers as nullable `DOUBLE` (`Float64`, `NaN` as null) and text as nullable
//! UTF-8 strings, Snappy-compressed, with a fixed `created_by`: the same table always gives the
//! same bytes.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Date32Type, Date64Type, Decimal32Type, Decimal64Type, Decimal128Type,
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::time::{format_date, format_datetime, split_seconds};
use crate::{Column, ColumnKind, DataError, Table};

/// Rows per Arrow batch, read or written.
pub(crate) const BATCH_ROWS: usize = 65_536;

/// Rows per row group written: a writer holds a row group's encoded columns until it is full,
/// so this bounds a writer's memory (Parquet's default, 1,048,576, held ~120 MB for the
/// taxi data's train split).
const ROW_GROUP_ROWS: usize = 2 * BATCH_ROWS;

/// The `created_by` of every file we write: fixed, so bytes do not change with the build.
const CREATED_BY: &str = "sluice";

/// The kind of column a Parquet column of this Arrow type becomes, if it is one we read.
fn kind_of(data_type: &DataType) -> Option<ColumnKind> {
    use DataType as D;
    match data_type {
        D::Float16
        | D::Float32
        | D::Float64
        | D::Int8
        | D::Int16
        | D::Int32
        | D::Int64
        | D::UInt8
        | D::UInt16
        | D::UInt32
        | D::UInt64
        | D::Decimal32(..)
        | D::Decimal64(..)
        | D::Decimal128(..)
        | D::Boolean
        | D::Null => Some(ColumnKind::Number),
        D::Utf8
        | D::LargeUtf8
        | D::Utf8View
        | D::Binary
        | D::LargeBinary
        | D::BinaryView
        | D::Date32
        | D::Date64
        | D::Timestamp(..) => Some(ColumnKind::Text),
        _ => None,
    }
}

/// A Parquet file's columns, as [`open`] finds them in its footer.
pub(crate) struct ParquetColumns {
    pub(crate) names: Vec<String>,
    pub(crate) kinds: Vec<ColumnKind>,
    pub(crate) rows: usize,
}

fn parquet_error(path: &Path, e: &dyn std::fmt::Display) -> DataError {
    DataError::Parquet {
        path: path.into(),
        message: e.to_string(),
    }
}

fn reader_builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        .map_err(|e| parquet_error(path, &e))
}

/// Reads a Parquet file's footer: its columns' names and kinds, and its row count.
pub(crate) fn open(path: &Path) -> Result<ParquetColumns, DataError> {
    let builder = reader_builder(path)?;
    let mut names: Vec<String> = Vec::with_capacity(builder.schema().fields().len());
    let mut kinds = Vec::with_capacity(names.capacity());
    for field in builder.schema().fields() {
        let kind = kind_of(field.data_type()).ok_or_else(|| DataError::UnsupportedType {
            path: path.into(),
            column: field.name().clone(),
            data_type: field.data_type().to_string(),
        })?;
        if names.contains(field.name()) {
            return Err(DataError::DuplicateColumn {
                path: Some(path.into()),
                column: field.name().clone(),
            });
        }
        names.push(field.name().clone());
        kinds.push(kind);
    }
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    Ok(ParquetColumns { names, kinds, rows })
}

/// A Parquet file's rows in batches of at most [`BATCH_ROWS`], each column of the kind
/// [`open`] gave it.
pub(crate) struct Batches {
    path: std::path::PathBuf,
    /// All the file's columns, as its footer names them.
    file_names: Vec<String>,
    names: Vec<String>,
    kinds: Vec<ColumnKind>,
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
}

/// Starts reading `path`'s batches: all its columns, or the ones at `only` (indexes into
/// [`open`]'s columns, in that order).
pub(crate) fn batches(path: &Path, only: Option<&[usize]>) -> Result<Batches, DataError> {
    let ParquetColumns { names, kinds, .. } = open(path)?;
    let file_names = names.clone();
    let mut builder = reader_builder(path)?.with_batch_size(BATCH_ROWS);
    let (names, kinds) = match only {
        Some(only) => {
            let mask = parquet::arrow::ProjectionMask::roots(
                builder.parquet_schema(),
                only.iter().copied(),
            );
            builder = builder.with_projection(mask);
            // A projection keeps the file's order of columns.
            let mut sorted = only.to_vec();
            sorted.sort_unstable();
            (
                sorted.iter().map(|&i| names[i].clone()).collect(),
                sorted.iter().map(|&i| kinds[i]).collect(),
            )
        }
        None => (names, kinds),
    };
    let reader = builder.build().map_err(|e| parquet_error(path, &e))?;
    Ok(Batches {
        path: path.into(),
        file_names,
        names,
        kinds,
        reader,
    })
}

impl Batches {
    /// All the file's columns (not only those read), as its footer names them.
    pub(crate) fn file_names(&self) -> &[String] {
        &self.file_names
    }
}

impl Iterator for Batches {
    type Item = Result<Vec<Column>, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.reader.next()? {
            Ok(batch) => batch,
            Err(e) => return Some(Err(parquet_error(&self.path, &e))),
        };
        let mut columns = Vec::with_capacity(self.kinds.len());
        for ((kind, array), name) in self.kinds.iter().zip(batch.columns()).zip(&self.names) {
            let mut column = Column::missing(*kind, 0);
            if append(&mut column, array.as_ref()).is_err() {
                return Some(Err(DataError::NotText {
                    path: self.path.clone(),
                    column: name.clone(),
                }));
            }
            columns.push(column);
        }
        Some(Ok(columns))
    }
}

/// A binary value that is not UTF-8 text.
struct NotUtf8;

fn numbers<T: ArrowPrimitiveType>(
    out: &mut Vec<f64>,
    array: &dyn Array,
    to_f64: impl Fn(T::Native) -> f64,
) {
    out.extend(
        array
            .as_primitive::<T>()
            .iter()
            .map(|v| v.map_or(f64::NAN, &to_f64)),
    );
}

fn texts<T: ArrowPrimitiveType>(
    out: &mut Vec<Option<String>>,
    array: &dyn Array,
    to_text: impl Fn(T::Native) -> String,
) {
    out.extend(array.as_primitive::<T>().iter().map(|v| v.map(&to_text)));
}

fn utf8<'a>(
    out: &mut Vec<Option<String>>,
    values: impl Iterator<Item = Option<&'a [u8]>>,
) -> Result<(), NotUtf8> {
    for v in values {
        out.push(match v {
            Some(bytes) => Some(String::from_utf8(bytes.to_vec()).map_err(|_| NotUtf8)?),
            None => None,
        });
    }
    Ok(())
}

fn timestamp(value: i64, per_second: i64, utc: bool) -> String {
    let (seconds, nanos) = split_seconds(value, per_second);
    let mut text = format_datetime(seconds, nanos);
    if utc {
        text.push('Z');
    }
    text
}

fn append(column: &mut Column, array: &dyn Array) -> Result<(), NotUtf8> {
    use DataType as D;
    let scale = |s: i8| 10f64.powi(i32::from(s));
    match (column, array.data_type()) {
        (Column::Number(out), data_type) => match data_type {
            D::Float64 => numbers::<Float64Type>(out, array, |v| v),
            D::Float32 => numbers::<Float32Type>(out, array, f64::from),
            D::Float16 => numbers::<Float16Type>(out, array, f64::from),
            D::Int8 => numbers::<Int8Type>(out, array, f64::from),
            D::Int16 => numbers::<Int16Type>(out, array, f64::from),
            D::Int32 => numbers::<Int32Type>(out, array, f64::from),
            D::Int64 => numbers::<Int64Type>(out, array, |v| v as f64),
            D::UInt8 => numbers::<UInt8Type>(out, array, f64::from),
            D::UInt16 => numbers::<UInt16Type>(out, array, f64::from),
            D::UInt32 => numbers::<UInt32Type>(out, array, f64::from),
            D::UInt64 => numbers::<UInt64Type>(out, array, |v| v as f64),
            D::Decimal32(_, s) => {
                numbers::<Decimal32Type>(out, array, |v| f64::from(v) / scale(*s));
            }
            D::Decimal64(_, s) => numbers::<Decimal64Type>(out, array, |v| v as f64 / scale(*s)),
            D::Decimal128(_, s) => {
                numbers::<Decimal128Type>(out, array, |v| v as f64 / scale(*s));
            }
            D::Boolean => out.extend(
                array
                    .as_boolean()
                    .iter()
                    .map(|v| v.map_or(f64::NAN, |b| if b { 1.0 } else { 0.0 })),
            ),
            _ => out.extend(std::iter::repeat_n(f64::NAN, array.len())),
        },
        (Column::Text(out), data_type) => match data_type {
            D::Utf8 => out.extend(
                array
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(str::to_owned)),
            ),
            D::LargeUtf8 => {
                out.extend(
                    array
                        .as_string::<i64>()
                        .iter()
                        .map(|v| v.map(str::to_owned)),
                );
            }
            D::Utf8View => out.extend(array.as_string_view().iter().map(|v| v.map(str::to_owned))),
            D::Binary => utf8(out, array.as_binary::<i32>().iter())?,
            D::LargeBinary => utf8(out, array.as_binary::<i64>().iter())?,
            D::BinaryView => utf8(out, array.as_binary_view().iter())?,
            D::Date32 => texts::<Date32Type>(out, array, |d| format_date(i64::from(d))),
            D::Date64 => texts::<Date64Type>(out, array, |ms| timestamp(ms, 1000, false)),
            D::Timestamp(unit, tz) => {
                let utc = tz.is_some();
                match unit {
                    TimeUnit::Second => {
                        texts::<TimestampSecondType>(out, array, |v| timestamp(v, 1, utc));
                    }
                    TimeUnit::Millisecond => {
                        texts::<TimestampMillisecondType>(out, array, |v| timestamp(v, 1000, utc));
                    }
                    TimeUnit::Microsecond => texts::<TimestampMicrosecondType>(out, array, |v| {
                        timestamp(v, 1_000_000, utc)
                    }),
                    TimeUnit::Nanosecond => texts::<TimestampNanosecondType>(out, array, |v| {
                        timestamp(v, 1_000_000_000, utc)
                    }),
                }
            }
            _ => out.extend(std::iter::repeat_n(None, array.len())),
        },
    }
    Ok(())
}

/// Writes `table` as one Parquet file.
pub(crate) fn write(table: &Table, path: &Path) -> Result<(), DataError> {
    let mut writer = TableWriter::create(path);
    writer.write(table)?;
    writer.finish()
}

/// Writes a Parquet file from tables of the same columns given one after the other, in
/// batches of [`BATCH_ROWS`] rows whatever the tables' sizes: the same rows always give the
/// same bytes. The file is created by the first table written.
pub struct TableWriter {
    path: std::path::PathBuf,
    open: Option<(ArrowWriter<BufWriter<File>>, Arc<Schema>)>,
    /// Rows written but not yet in a batch (fewer than [`BATCH_ROWS`]).
    pending: Vec<Column>,
}

impl TableWriter {
    /// A writer of the file at `path`; nothing is created until the first [`write`](Self::write).
    #[must_use]
    pub fn create(path: &Path) -> TableWriter {
        TableWriter {
            path: path.into(),
            open: None,
            pending: Vec::new(),
        }
    }

    /// Appends `table`'s rows; its columns must be those of the first table written.
    ///
    /// # Errors
    /// [`DataError::Io`], [`DataError::Parquet`] or [`DataError::NoColumns`].
    pub fn write(&mut self, table: &Table) -> Result<(), DataError> {
        if self.open.is_none() {
            self.start(table)?;
        }
        if table.n_rows() == 0 {
            return Ok(());
        }
        for (pending, (_, column)) in self.pending.iter_mut().zip(table.columns()) {
            match (pending, column) {
                (Column::Number(a), Column::Number(b)) => a.extend_from_slice(b),
                (Column::Text(a), Column::Text(b)) => a.extend_from_slice(b),
                _ => {
                    return Err(parquet_error(
                        &self.path,
                        &"a column changed kind between two parts of the table",
                    ));
                }
            }
        }
        while self.pending.first().map_or(0, Column::len) >= BATCH_ROWS {
            let rest: Vec<Column> = self
                .pending
                .iter_mut()
                .map(|c| match c {
                    Column::Number(v) => Column::Number(v.split_off(BATCH_ROWS)),
                    Column::Text(v) => Column::Text(v.split_off(BATCH_ROWS)),
                })
                .collect();
            let full = std::mem::replace(&mut self.pending, rest);
            self.write_batch(&full)?;
        }
        Ok(())
    }

    fn start(&mut self, table: &Table) -> Result<(), DataError> {
        if table.n_columns() == 0 {
            return Err(DataError::NoColumns {
                path: self.path.clone(),
            });
        }
        let fields: Vec<Field> = table
            .columns()
            .map(|(name, column)| {
                let data_type = match column.kind() {
                    ColumnKind::Number => DataType::Float64,
                    ColumnKind::Text => DataType::Utf8,
                };
                Field::new(name, data_type, true)
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(CREATED_BY.to_owned())
            .build();
        let file = File::create(&self.path).map_err(|source| DataError::Io {
            path: self.path.clone(),
            source,
        })?;
        let writer =
            ArrowWriter::try_new(BufWriter::new(file), Arc::clone(&schema), Some(properties))
                .map_err(|e| parquet_error(&self.path, &e))?;
        self.pending = table
            .columns()
            .map(|(_, c)| Column::missing(c.kind(), 0))
            .collect();
        self.open = Some((writer, schema));
        Ok(())
    }

    fn write_batch(&mut self, columns: &[Column]) -> Result<(), DataError> {
        let Some((writer, schema)) = &mut self.open else {
            unreachable!("a batch is written after the file is created")
        };
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|column| -> ArrayRef {
                match column {
                    Column::Number(v) => Arc::new(
                        v.iter()
                            .map(|&x| (!x.is_nan()).then_some(x))
                            .collect::<Float64Array>(),
                    ),
                    Column::Text(v) => {
                        Arc::new(v.iter().map(Option::as_deref).collect::<StringArray>())
                    }
                }
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(schema), arrays)
            .map_err(|e| parquet_error(&self.path, &e))?;
        writer
            .write(&batch)
            .map_err(|e| parquet_error(&self.path, &e))
    }

    /// Writes the rows still pending and closes the file.
    ///
    /// # Errors
    /// [`DataError::Io`] or [`DataError::Parquet`]; [`DataError::NoColumns`] if nothing was
    /// written.
    pub fn finish(mut self) -> Result<(), DataError> {
        if self.open.is_none() {
            return Err(DataError::NoColumns { path: self.path });
        }
        if self.pending.first().is_some_and(|c| !c.is_empty()) {
            let last = std::mem::take(&mut self.pending);
            self.write_batch(&last)?;
        }
        let Some((writer, _)) = self.open.take() else {
            unreachable!("checked above")
        };
        let mut out = writer
            .into_inner()
            .map_err(|e| parquet_error(&self.path, &e))?;
        out.flush().map_err(|source| DataError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Result<Table, DataError> {
        Table::read_path(path)
    }

    fn table() -> Table {
        Table::new([
            ("x".into(), Column::Number(vec![1.5, f64::NAN, -3.0])),
            (
                "s".into(),
                Column::Text(vec![Some("a".into()), None, Some(String::new())]),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn round_trip_keeps_missing_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write(&table(), &path).unwrap();
        assert_eq!(read(&path).unwrap(), table());
    }

    #[test]
    fn same_table_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        write(&table(), &a).unwrap();
        write(&table(), &b).unwrap();
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }

    #[test]
    fn reads_other_types() {
        use arrow_array::{BooleanArray, Int64Array, TimestampMillisecondArray};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("types.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int64, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(7), None])),
                Arc::new(BooleanArray::from(vec![Some(true), Some(false)])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(1_451_606_400_500),
                    None,
                ])),
            ],
        )
        .unwrap();
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let t = read(&path).unwrap();
        assert_eq!(t.column("i"), Some(&Column::Number(vec![7.0, f64::NAN])));
        assert_eq!(t.column("b"), Some(&Column::Number(vec![1.0, 0.0])));
        assert_eq!(
            t.column("t"),
            Some(&Column::Text(vec![
                Some("2016-01-01T00:00:00.5".into()),
                None
            ]))
        );
    }

    #[test]
    fn unsupported_type_names_the_column() {
        use arrow_array::ListArray;
        use arrow_array::types::Int32Type;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.parquet");
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
        let schema = Arc::new(Schema::new(vec![Field::new(
            "l",
            list.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(list)]).unwrap();
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let err = read(&path).unwrap_err();
        assert!(
            err.to_string().contains("column `l` has type List("),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_a_parquet_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        std::fs::write(&path, "not parquet").unwrap();
        let err = read(&path).unwrap_err();
        assert!(
            err.to_string().contains("bad.parquet`: invalid Parquet: "),
            "{err}"
        );
    }
}
