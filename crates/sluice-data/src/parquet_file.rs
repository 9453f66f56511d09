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
const BATCH_ROWS: usize = 65_536;

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

/// Reads one Parquet file.
pub(crate) fn read(path: &Path) -> Result<Table, DataError> {
    let parquet_error = |e: &dyn std::fmt::Display| DataError::Parquet {
        path: path.into(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        .map_err(|e| parquet_error(&e))?;
    let schema = Arc::clone(builder.schema());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let kind = kind_of(field.data_type()).ok_or_else(|| DataError::UnsupportedType {
            path: path.into(),
            column: field.name().clone(),
            data_type: field.data_type().to_string(),
        })?;
        columns.push(Column::missing(kind, 0));
    }
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| parquet_error(&e))?;
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(&e))?;
        for ((field, array), column) in schema
            .fields()
            .iter()
            .zip(batch.columns())
            .zip(&mut columns)
        {
            append(column, array.as_ref()).map_err(|NotUtf8| DataError::NotText {
                path: path.into(),
                column: field.name().clone(),
            })?;
        }
    }
    let names = schema.fields().iter().map(|f| f.name().clone());
    Table::new(names.zip(columns)).map_err(|e| match e {
        DataError::DuplicateColumn { column, .. } => DataError::DuplicateColumn {
            path: Some(path.into()),
            column,
        },
        other => other,
    })
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
    if table.n_columns() == 0 {
        return Err(DataError::NoColumns { path: path.into() });
    }
    let parquet_error = |e: &dyn std::fmt::Display| DataError::Parquet {
        path: path.into(),
        message: e.to_string(),
    };
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
        .set_created_by(CREATED_BY.to_owned())
        .build();
    let file = File::create(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    let mut writer =
        ArrowWriter::try_new(BufWriter::new(file), Arc::clone(&schema), Some(properties))
            .map_err(|e| parquet_error(&e))?;
    let rows = table.n_rows();
    let mut start = 0;
    while start < rows {
        let end = rows.min(start + BATCH_ROWS);
        let arrays: Vec<ArrayRef> = table
            .columns()
            .map(|(_, column)| -> ArrayRef {
                match column {
                    Column::Number(v) => Arc::new(
                        v[start..end]
                            .iter()
                            .map(|&x| (!x.is_nan()).then_some(x))
                            .collect::<Float64Array>(),
                    ),
                    Column::Text(v) => Arc::new(
                        v[start..end]
                            .iter()
                            .map(Option::as_deref)
                            .collect::<StringArray>(),
                    ),
                }
            })
            .collect();
        let batch =
            RecordBatch::try_new(Arc::clone(&schema), arrays).map_err(|e| parquet_error(&e))?;
        writer.write(&batch).map_err(|e| parquet_error(&e))?;
        start = end;
    }
    let mut out = writer.into_inner().map_err(|e| parquet_error(&e))?;
    out.flush().map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
