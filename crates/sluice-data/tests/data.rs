//! Tables through files, `prep` end to end, and the synthetic taxi data.

use std::path::{Path, PathBuf};

use sluice_data::prep::{FillValue, prep_parts};
use sluice_data::{
    Column, DataError, Missing, PrepError, PrepOptions, Prepared, Split, Table, TableReader,
    TableWriter, prep, synth,
};

fn num(v: &[f64]) -> Column {
    Column::Number(v.to_vec())
}

fn text(v: &[Option<&str>]) -> Column {
    Column::Text(v.iter().map(|s| s.map(str::to_owned)).collect())
}

fn table(columns: Vec<(&str, Column)>) -> Table {
    Table::new(columns.into_iter().map(|(n, c)| (n.to_owned(), c))).unwrap()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn numbers<'a>(t: &'a Table, name: &str) -> &'a [f64] {
    t.column(name).unwrap().as_numbers().unwrap()
}

/// A small table with every kind of value, missing ones included.
fn mixed() -> Table {
    table(vec![
        ("x", num(&[1.0, -2.5, f64::NAN, 1e-9, 12_345_678.0])),
        (
            "s",
            text(&[
                Some("a"),
                None,
                Some("with, comma"),
                Some("\"q\""),
                Some("é"),
            ]),
        ),
        ("all_missing", num(&[f64::NAN; 5])),
    ])
}

// ---------------------------------------------------------------------------------------------
// Files

#[test]
fn csv_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    mixed().write_csv(&path).unwrap();
    assert_eq!(Table::read_path(&path).unwrap(), mixed());
}

#[test]
fn parquet_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    mixed().write_parquet(&path).unwrap();
    assert_eq!(Table::read_path(&path).unwrap(), mixed());
    let taxi = synth::taxi(300, 3);
    taxi.write_parquet(&path).unwrap();
    assert_eq!(Table::read_path(&path).unwrap(), taxi);
}

#[test]
fn parquet_bytes_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    synth::taxi(200, 1).write_parquet(&a).unwrap();
    synth::taxi(200, 1).write_parquet(&b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn csv_columns_are_numbers_only_if_every_value_parses() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.csv",
        "id,price,code,empty\n1,2.5,007,\n2,,A1,\n3,1e2,12,\n",
    );
    let t = Table::read_path(&path).unwrap();
    assert_eq!(t.column("id"), Some(&num(&[1.0, 2.0, 3.0])));
    assert_eq!(t.column("price"), Some(&num(&[2.5, f64::NAN, 100.0])));
    assert_eq!(
        t.column("code"),
        Some(&text(&[Some("007"), Some("A1"), Some("12")]))
    );
    assert_eq!(t.column("empty"), Some(&num(&[f64::NAN; 3])));
}

#[test]
fn folder_concatenates_files_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.csv", "x,s\n3,c\n");
    // Another column order: the first file's order wins.
    write(dir.path(), "a.csv", "s,x\na,1\nb,2\n");
    table(vec![("x", num(&[4.0])), ("s", text(&[None]))])
        .write_parquet(dir.path().join("c.parquet"))
        .unwrap();
    write(dir.path(), "notes.txt", "ignored");
    write(dir.path(), ".hidden.csv", "ignored\n");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(&dir.path().join("sub"), "d.csv", "ignored\n");

    let t = Table::read_path(dir.path()).unwrap();
    assert_eq!(t.names(), ["s", "x"]);
    assert_eq!(t.column("x"), Some(&num(&[1.0, 2.0, 3.0, 4.0])));
    assert_eq!(
        t.column("s"),
        Some(&text(&[Some("a"), Some("b"), Some("c"), None]))
    );
}

#[test]
fn folder_infers_csv_kinds_over_all_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1.csv", "zip\n10001\n");
    write(dir.path(), "2.csv", "zip\nA1\n");
    let t = Table::read_path(dir.path()).unwrap();
    assert_eq!(t.column("zip"), Some(&text(&[Some("10001"), Some("A1")])));
}

#[test]
fn folder_schema_mismatches_name_the_file_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.csv", "x,y\n1,2\n");
    let b = write(dir.path(), "b.csv", "x\n1\n");
    let err = Table::read_path(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::MissingColumn { .. }));
    assert!(
        err.to_string()
            .contains("b.csv` has no column `y`, which `"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("b.csv"));

    write(dir.path(), "b.csv", "x,y,z\n1,2,3\n");
    let err = Table::read_path(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("b.csv` has a column `z` that `"),
        "{err}"
    );

    std::fs::remove_file(&b).unwrap();
    table(vec![("x", num(&[1.0])), ("y", text(&[Some("t")]))])
        .write_parquet(dir.path().join("c.parquet"))
        .unwrap();
    let err = Table::read_path(dir.path()).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("column `y` is text in `"), "{message}");
    assert!(message.contains("c.parquet` but numbers in `"), "{message}");
    assert!(message.ends_with("a.csv`"), "{message}");

    // Of two clashes, the one in the earlier file is named, whatever the columns' order.
    table(vec![("x", text(&[Some("t")])), ("y", num(&[1.0]))])
        .write_parquet(dir.path().join("d.parquet"))
        .unwrap();
    table(vec![("x", num(&[1.0])), ("y", num(&[1.0]))])
        .write_parquet(dir.path().join("c.parquet"))
        .unwrap();
    table(vec![("x", num(&[1.0])), ("y", text(&[Some("t")]))])
        .write_parquet(dir.path().join("b.parquet"))
        .unwrap();
    let message = Table::read_path(dir.path()).unwrap_err().to_string();
    assert!(message.starts_with("column `y` is text in `"), "{message}");
    assert!(message.contains("b.parquet` but numbers in `"), "{message}");
}

#[test]
fn path_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = Table::read_path(dir.path()).unwrap_err();
    assert!(err.to_string().starts_with("folder `"), "{err}");
    assert!(
        err.to_string()
            .ends_with("` has no `*.csv` or `*.parquet` files")
    );

    let err = Table::read_path(dir.path().join("nope.csv")).unwrap_err();
    assert!(
        err.to_string().ends_with("nope.csv` does not exist"),
        "{err}"
    );

    let txt = write(dir.path(), "data.txt", "a,b\n");
    let err = Table::read_path(&txt).unwrap_err();
    assert!(matches!(err, DataError::UnknownFormat { .. }), "{err}");

    // A Parquet file without the extension is recognised by its magic bytes.
    let bare = dir.path().join("data");
    mixed().write_parquet(&bare).unwrap();
    assert_eq!(Table::read_path(&bare).unwrap(), mixed());
}

// ---------------------------------------------------------------------------------------------
// prep

/// 40 rows: an id, a number with a missing value, a rare category per row, a common category
/// with a missing value, and a numeric target.
fn prep_table() -> Table {
    let n = 40_usize;
    let id: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let x: Vec<f64> = (0..n)
        .map(|i| {
            if i == 5 {
                f64::NAN
            } else {
                (i * i % 17) as f64
            }
        })
        .collect();
    let unique: Vec<Option<String>> = (0..n).map(|i| Some(format!("u{i:02}"))).collect();
    let colour: Vec<Option<String>> = (0..n)
        .map(|i| (i != 7).then(|| ["red", "green", "red", "blue"][i % 4].to_owned()))
        .collect();
    let y: Vec<f64> = (0..n).map(|i| i as f64 * 2.0 + 1.0).collect();
    Table::new([
        ("id".to_owned(), Column::Number(id)),
        ("x".to_owned(), Column::Number(x)),
        ("unique".to_owned(), Column::Text(unique)),
        ("colour".to_owned(), Column::Text(colour)),
        ("y".to_owned(), Column::Number(y)),
    ])
    .unwrap()
}

/// The row of `prep_table` that an output row came from, by its `id`.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "ids are small non-negative integers"
)]
fn index(id: f64) -> usize {
    id as usize
}

fn options() -> PrepOptions {
    let mut opts = PrepOptions::new("y");
    opts.categorical = vec!["unique".into(), "colour".into()];
    opts.split = Split::new(0.6, 0.2, 0.2);
    opts.seed = 7;
    opts
}

fn prep_err(t: &Table, opts: &PrepOptions) -> PrepError {
    prep(t, opts).unwrap_err()
}

#[test]
fn prep_drops_rows_and_splits() {
    let p = prep(&prep_table(), &options()).unwrap();
    let r = &p.report.rows;
    assert_eq!((r.input, r.dropped, r.output), (40, 2, 38));
    assert_eq!((r.train, r.validation, r.test), (22, 8, 8));
    assert_eq!(p.train.n_rows(), 22);
    assert_eq!(p.validation.n_rows(), 8);
    assert_eq!(p.test.n_rows(), 8);
    assert_eq!(p.train.names().last().map(String::as_str), Some("y"));
    assert_eq!(&p.train.names()[..p.feature_names.len()], p.feature_names);
    assert_eq!(p.feature_names[..2], ["id", "x"]);
    // Every row lands in exactly one split; the dropped rows (5 and 7) in none.
    let mut ids: Vec<f64> = [&p.train, &p.validation, &p.test]
        .iter()
        .flat_map(|t| numbers(t, "id").to_vec())
        .collect();
    ids.sort_by(f64::total_cmp);
    let expected: Vec<f64> = (0..40)
        .filter(|i| ![5, 7].contains(i))
        .map(f64::from)
        .collect();
    assert_eq!(ids, expected);
    for t in [&p.train, &p.validation, &p.test] {
        for (_, c) in t.columns() {
            assert_eq!(c.missing_count(), 0);
        }
    }
}

fn parquet_bytes(p: &Prepared, dir: &Path, tag: &str) -> Vec<Vec<u8>> {
    [
        ("train", &p.train),
        ("validation", &p.validation),
        ("test", &p.test),
    ]
    .iter()
    .map(|(name, t)| {
        let path = dir.join(format!("{tag}-{name}.parquet"));
        t.write_parquet(&path).unwrap();
        std::fs::read(path).unwrap()
    })
    .collect()
}

#[test]
fn prep_is_deterministic_and_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.missing = Missing::Impute;
    opts.standardize = true;
    let t = synth::taxi(120, 5);
    let mut taxi_options = PrepOptions::new("fare_amount");
    taxi_options.categorical = vec!["vendor".into(), "store_and_fwd_flag".into()];
    taxi_options.drop = vec!["pickup_datetime".into()];
    taxi_options.standardize = true;
    for (table, options) in [(prep_table(), opts), (t, taxi_options)] {
        let a = prep(&table, &options).unwrap();
        let b = prep(&table, &options).unwrap();
        assert_eq!(
            parquet_bytes(&a, dir.path(), "a"),
            parquet_bytes(&b, dir.path(), "b")
        );
        let mut other = options.clone();
        other.seed += 1;
        let c = prep(&table, &other).unwrap();
        assert_ne!(a.train, c.train);
        assert_eq!(a.train.n_rows(), c.train.n_rows());
    }
}

#[test]
#[expect(
    clippy::float_cmp,
    reason = "the values compared are copied or 0/1, not computed"
)]
fn one_hot_categories_come_from_train_only() {
    let source = prep_table();
    let p = prep(&source, &options()).unwrap();
    let original = |id: f64, column: &str| -> Option<String> {
        source.column(column).unwrap().as_text().unwrap()[index(id)].clone()
    };
    let train_ids = numbers(&p.train, "id");
    let mut train_unique: Vec<String> = train_ids
        .iter()
        .filter_map(|&id| original(id, "unique"))
        .collect();
    train_unique.sort();
    let report = &p.report.one_hot;
    assert_eq!(report[0].column, "unique");
    assert_eq!(report[0].categories, train_unique);
    assert_eq!(report[1].categories, ["blue", "green", "red"]);
    for category in &train_unique {
        assert!(p.feature_names.contains(&format!("unique={category}")));
    }
    // Every `unique` value of the test split is unseen in train: all zeros.
    for row in 0..p.test.n_rows() {
        let id = numbers(&p.test, "id")[row];
        assert!(!train_unique.contains(&original(id, "unique").unwrap()));
        for category in &train_unique {
            assert_eq!(numbers(&p.test, &format!("unique={category}"))[row], 0.0);
        }
        let colour = original(id, "colour").unwrap();
        for known in ["blue", "green", "red"] {
            let expected = if known == colour { 1.0 } else { 0.0 };
            assert_eq!(numbers(&p.test, &format!("colour={known}"))[row], expected);
        }
    }
}

#[test]
#[expect(
    clippy::float_cmp,
    reason = "the values compared are copied or 0/1, not computed"
)]
fn impute_fills_with_train_statistics() {
    let source = prep_table();
    let mut opts = options();
    opts.missing = Missing::Impute;
    let p = prep(&source, &opts).unwrap();
    assert_eq!(p.report.rows.dropped, 0);
    assert_eq!(p.report.rows.output, 40);
    let imputed = &p.report.imputed;
    assert_eq!(imputed.len(), 2);
    assert_eq!((imputed[0].column.as_str(), imputed[0].count), ("x", 1));
    assert_eq!(
        (imputed[1].column.as_str(), imputed[1].count),
        ("colour", 1)
    );
    // The fill value is the median of x over the train rows.
    let mut train_x: Vec<f64> = numbers(&p.train, "id")
        .iter()
        .map(|&id| numbers(&source, "x")[index(id)])
        .filter(|v| !v.is_nan())
        .collect();
    train_x.sort_by(f64::total_cmp);
    let n = train_x.len();
    let median = if n.is_multiple_of(2) {
        f64::midpoint(train_x[n / 2 - 1], train_x[n / 2])
    } else {
        train_x[n / 2]
    };
    assert_eq!(imputed[0].value, FillValue::Number(median));
    assert_eq!(imputed[1].value, FillValue::Text("red".into()));
    // Row 5 (x missing) and row 7 (colour missing) got those values.
    for t in [&p.train, &p.validation, &p.test] {
        let ids = numbers(t, "id");
        if let Some(row) = ids.iter().position(|&id| index(id) == 5) {
            assert_eq!(numbers(t, "x")[row], median);
        }
        if let Some(row) = ids.iter().position(|&id| index(id) == 7) {
            assert_eq!(numbers(t, "colour=red")[row], 1.0);
        }
        for (_, c) in t.columns() {
            assert_eq!(c.missing_count(), 0);
        }
    }
}

#[test]
fn standardize_uses_train_statistics() {
    let mut opts = PrepOptions::new("fare_amount");
    opts.categorical = vec!["vendor".into(), "store_and_fwd_flag".into()];
    opts.drop = vec!["pickup_datetime".into()];
    opts.standardize = true;
    let source = synth::taxi(300, 2);
    let p = prep(&source, &opts).unwrap();
    assert_eq!(p.report.standardized.len(), 8);
    for scaling in &p.report.standardized {
        let v = numbers(&p.train, &scaling.column);
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 1e-9, "{}: mean {mean}", scaling.column);
        assert!((std - 1.0).abs() < 1e-9, "{}: std {std}", scaling.column);
    }
    // The test split is scaled with the train statistics, not its own.
    let distance = &p.report.standardized[5];
    assert_eq!(distance.column, "trip_distance");
    let first_test_id_raw = numbers(&p.test, "trip_distance")[0] * distance.std + distance.mean;
    assert!(
        numbers(&source, "trip_distance")
            .iter()
            .any(|d| (d - first_test_id_raw).abs() < 1e-9)
    );
    // One-hot columns and the target are left as they are.
    assert!(
        numbers(&p.train, "vendor=CMT")
            .iter()
            .all(|v| [0.0, 1.0].contains(v))
    );
    assert!(numbers(&p.train, "fare_amount").iter().all(|&f| f >= 2.5));
}

#[test]
fn text_target_is_kept() {
    let t = table(vec![
        ("x", num(&[1.0, 2.0, 3.0, 4.0])),
        ("label", text(&[Some("a"), Some("b"), Some("a"), Some("b")])),
    ]);
    let mut opts = PrepOptions::new("label");
    opts.split = Split::new(0.5, 0.0, 0.5);
    let p = prep(&t, &opts).unwrap();
    assert_eq!(p.feature_names, ["x"]);
    assert_eq!(p.train.column("label").unwrap().as_text().unwrap().len(), 2);
    assert_eq!(p.validation.n_rows(), 0);
}

#[test]
fn prep_report_serializes() {
    let p = prep(&prep_table(), &options()).unwrap();
    let json = serde_json::to_value(&p.report).unwrap();
    assert_eq!(json["rows"]["train"], 22);
    assert_eq!(json["one_hot"][1]["categories"][0], "blue");
    let options: PrepOptions = serde_json::from_str(
        r#"{"target": "y", "categorical": ["colour"], "missing": "impute",
            "split": {"train": 0.8, "validation": 0, "test": 0.2}}"#,
    )
    .unwrap();
    assert_eq!(options.missing, Missing::Impute);
    assert_eq!(options.seed, 42);
    assert!(serde_json::from_str::<PrepOptions>(r#"{"target": "y", "typo": 1}"#).is_err());
}

#[test]
fn prep_error_missing_target_lists_columns() {
    let err = prep_err(&prep_table(), &PrepOptions::new("Y"));
    assert_eq!(
        err.to_string(),
        "target column `Y` is not in the table; its columns are `id`, `x`, `unique`, `colour`, `y`"
    );
    assert_eq!(
        err.hint().unwrap(),
        "did you mean `y`? Column names are case-sensitive"
    );
}

#[test]
fn prep_error_text_feature_hints_to_declare_or_drop() {
    let mut opts = options();
    opts.categorical = vec!["unique".into()];
    let err = prep_err(&prep_table(), &opts);
    assert_eq!(err.to_string(), "feature `colour` is text, not numbers");
    assert_eq!(
        err.hint().unwrap(),
        "declare it categorical (`categorical: [colour]`) to one-hot encode it, or drop it (`drop: [colour]`)"
    );
    opts.drop = vec!["colour".into()];
    assert!(prep(&prep_table(), &opts).is_ok());
}

#[test]
fn prep_error_empty_split() {
    let t = prep_table().take_rows(&(0..10).collect::<Vec<_>>());
    let mut opts = options();
    opts.split = Split::new(0.89, 0.1, 0.01);
    let err = prep_err(&t, &opts);
    assert!(
        err.to_string()
            .starts_with("the test split would be empty: "),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("`test` ratio"));
}

#[test]
fn prep_error_ratios_must_sum_to_one() {
    let mut opts = options();
    opts.split = Split::new(0.7, 0.2, 0.2);
    assert_eq!(
        prep_err(&prep_table(), &opts).to_string(),
        "split ratios must sum to 1, but train 0.7 + validation 0.2 + test 0.2 = 1.1"
    );
}

#[test]
fn prep_error_no_rows_after_dropping_missing_values() {
    let t = table(vec![
        ("a", num(&[1.0, f64::NAN, 3.0])),
        ("b", num(&[f64::NAN, f64::NAN, f64::NAN])),
        ("y", num(&[1.0, 2.0, 3.0])),
    ]);
    let err = prep_err(&t, &PrepOptions::new("y"));
    assert_eq!(
        err.to_string(),
        "no rows are left after dropping the 3 rows with missing values; column `b` alone is missing in 3 of them"
    );
    assert_eq!(
        err.hint().unwrap(),
        "set `missing` to `impute` to fill missing values instead, or drop column `b`"
    );
}

#[test]
fn prep_error_missing_target_values() {
    let t = table(vec![
        ("a", num(&[1.0, 2.0, 3.0])),
        ("y", num(&[1.0, f64::NAN, 3.0])),
    ]);
    let mut opts = PrepOptions::new("y");
    opts.missing = Missing::Impute;
    let err = prep_err(&t, &opts);
    assert_eq!(err.to_string(), "target `y` is missing in 1 of 3 rows");
    assert!(err.hint().unwrap().contains("never imputed"));
}

#[test]
fn prep_error_options_naming_columns() {
    let t = prep_table();
    let mut opts = options();
    opts.drop = vec!["nope".into()];
    assert_eq!(
        prep_err(&t, &opts).to_string(),
        "column `nope` in `drop` is not in the table; its columns are `id`, `x`, `unique`, `colour`, `y`"
    );
    let mut opts = options();
    opts.features = Some(vec!["x".into(), "y".into()]);
    assert_eq!(
        prep_err(&t, &opts).to_string(),
        "the target `y` is also listed in `features`"
    );
    let mut opts = options();
    opts.features = Some(vec!["x".into()]);
    opts.drop = vec!["x".into()];
    assert_eq!(
        prep_err(&t, &opts).to_string(),
        "no feature columns are left besides the target `y`"
    );
    assert_eq!(
        prep_err(&t.take_rows(&[]), &options()).to_string(),
        "the table has no rows"
    );
}

#[test]
fn prep_error_nothing_to_impute_and_name_clash() {
    let t = table(vec![
        ("a", num(&[f64::NAN; 4])),
        ("y", num(&[1.0, 2.0, 3.0, 4.0])),
    ]);
    let mut opts = PrepOptions::new("y");
    opts.missing = Missing::Impute;
    opts.split = Split::new(0.5, 0.0, 0.5);
    assert_eq!(
        prep_err(&t, &opts).to_string(),
        "column `a` has no values in the train split to impute from"
    );
    let t = table(vec![
        ("c", text(&[Some("x"), Some("x")])),
        ("c=x", num(&[1.0, 2.0])),
        ("y", num(&[1.0, 2.0])),
    ]);
    let mut opts = PrepOptions::new("y");
    opts.categorical = vec!["c".into()];
    opts.split = Split::new(0.5, 0.0, 0.5);
    assert_eq!(
        prep_err(&t, &opts).to_string(),
        "one-hot column `c=x` has the name of another column"
    );
}

// ---------------------------------------------------------------------------------------------
// synth

#[test]
fn taxi_is_deterministic() {
    assert_eq!(synth::taxi(200, 7), synth::taxi(200, 7));
    assert_ne!(synth::taxi(200, 7), synth::taxi(200, 8));
    assert_eq!(synth::taxi(0, 1).n_rows(), 0);
}

#[test]
#[expect(
    clippy::float_cmp,
    reason = "the values compared are copied or 0/1, not computed"
)]
fn taxi_values_are_in_range() {
    let t = synth::taxi(2_000, 11);
    assert_eq!(
        t.names(),
        [
            "vendor",
            "pickup_datetime",
            "passenger_count",
            "pickup_longitude",
            "pickup_latitude",
            "dropoff_longitude",
            "dropoff_latitude",
            "trip_distance",
            "pickup_hour",
            "pickup_weekday",
            "store_and_fwd_flag",
            "fare_amount",
        ]
    );
    let texts = |name: &str| -> Vec<String> {
        t.column(name)
            .unwrap()
            .as_text()
            .unwrap()
            .iter()
            .map(|v| v.clone().unwrap())
            .collect()
    };
    let in_range = |name: &str, lo: f64, hi: f64| {
        for &v in numbers(&t, name) {
            assert!((lo..=hi).contains(&v), "{name} = {v}");
        }
    };
    assert!(texts("vendor").iter().all(|v| v == "CMT" || v == "VTS"));
    let flags = texts("store_and_fwd_flag");
    let yes = flags.iter().filter(|f| *f == "Y").count();
    assert!(flags.iter().all(|f| f == "Y" || f == "N"));
    assert!((1..100).contains(&yes), "{yes} Y flags");
    let times = texts("pickup_datetime");
    for (i, time) in times.iter().enumerate() {
        assert!(time.starts_with("2016-01-") && time.len() == 19, "{time}");
        let day: u32 = time[8..10].parse().unwrap();
        let hour: f64 = time[11..13].parse().unwrap();
        assert_eq!(numbers(&t, "pickup_hour")[i], hour);
        assert_eq!(
            numbers(&t, "pickup_weekday")[i],
            f64::from((day - 1 + 4) % 7)
        );
    }
    in_range("passenger_count", 1.0, 6.0);
    let ones = numbers(&t, "passenger_count")
        .iter()
        .filter(|p| [1.0].contains(*p))
        .count();
    assert!(ones > 1_200, "{ones} single passengers");
    in_range("pickup_latitude", 40.69, 40.89);
    in_range("pickup_longitude", -74.04, -73.90);
    in_range("dropoff_latitude", 40.55, 40.89);
    in_range("dropoff_longitude", -74.04, -73.75);
    in_range("trip_distance", 0.1, 40.0);
    in_range("pickup_hour", 0.0, 23.0);
    in_range("pickup_weekday", 0.0, 6.0);
    in_range("fare_amount", 2.5, 120.0);
    let fares = numbers(&t, "fare_amount");
    let mean = fares.iter().sum::<f64>() / fares.len() as f64;
    assert!((9.0..18.0).contains(&mean), "mean fare {mean}");
}

/// Least squares by the normal equations (with a tiny ridge for stability), solved by
/// Gauss-Jordan elimination.
fn least_squares(rows: &[Vec<f64>], targets: &[f64]) -> Vec<f64> {
    let width = rows[0].len();
    // The augmented matrix [X'X | X'y].
    let mut system = vec![vec![0.0; width + 1]; width];
    for (row, &target) in rows.iter().zip(targets) {
        for (i, equation) in system.iter_mut().enumerate() {
            for (j, &value) in row.iter().enumerate() {
                equation[j] += row[i] * value;
            }
            equation[width] += row[i] * target;
        }
    }
    for (i, equation) in system.iter_mut().enumerate() {
        equation[i] += 1e-9;
    }
    for col in 0..width {
        let pivot = (col..width)
            .max_by(|&p, &q| system[p][col].abs().total_cmp(&system[q][col].abs()))
            .unwrap();
        system.swap(col, pivot);
        let pivot_row = system[col].clone();
        for (r, equation) in system.iter_mut().enumerate() {
            if r != col {
                let factor = equation[col] / pivot_row[col];
                for (value, pivot_value) in equation.iter_mut().zip(&pivot_row).skip(col) {
                    *value -= factor * pivot_value;
                }
            }
        }
    }
    system
        .iter()
        .enumerate()
        .map(|(i, equation)| equation[width] / equation[i])
        .collect()
}

fn rmse(x: &[Vec<f64>], y: &[f64], beta: &[f64]) -> f64 {
    let se: f64 = x
        .iter()
        .zip(y)
        .map(|(row, t)| (row.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>() - t).powi(2))
        .sum();
    (se / y.len() as f64).sqrt()
}

/// The fare is nonlinear in the features: least squares on the raw features does clearly worse
/// than least squares on a few nonlinear terms of them (which a tree ensemble finds by itself).
#[test]
fn taxi_fare_is_nonlinear() {
    let t = synth::taxi(3_000, 4);
    let col = |name: &str| numbers(&t, name);
    let vts: Vec<f64> = t
        .column("vendor")
        .unwrap()
        .to_text()
        .iter()
        .map(|v| {
            if v.as_deref() == Some("VTS") {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let raw = [
        "passenger_count",
        "pickup_longitude",
        "pickup_latitude",
        "dropoff_longitude",
        "dropoff_latitude",
        "trip_distance",
        "pickup_hour",
        "pickup_weekday",
    ];
    let n = t.n_rows();
    let linear: Vec<Vec<f64>> = (0..n)
        .map(|r| {
            let mut row = vec![1.0, vts[r]];
            row.extend(raw.iter().map(|name| col(name)[r]));
            row
        })
        .collect();
    let nonlinear: Vec<Vec<f64>> = (0..n)
        .map(|r| {
            let d = col("trip_distance")[r];
            let hour = col("pickup_hour")[r];
            let weekday = col("pickup_weekday")[r];
            let jfk = f64::from(u8::from((col("dropoff_longitude")[r] + 73.78).abs() < 0.03));
            let rush = f64::from(u8::from(
                weekday < 5.0 && ((7.0..=9.0).contains(&hour) || (16.0..=19.0).contains(&hour)),
            ));
            let mut row = linear[r].clone();
            row.extend([
                (d - 5.0).max(0.0),
                (d - 12.0).max(0.0),
                jfk,
                jfk * d,
                rush,
                rush * d,
            ]);
            row
        })
        .collect();
    let y = col("fare_amount");
    let (fit, check) = (0..2_000, 2_000..n);
    let score = |x: &[Vec<f64>]| {
        let beta = least_squares(&x[fit.clone()], &y[fit.clone()]);
        rmse(&x[check.clone()], &y[check.clone()], &beta)
    };
    let (linear_rmse, nonlinear_rmse) = (score(&linear), score(&nonlinear));
    assert!(
        linear_rmse > 1.5 * nonlinear_rmse,
        "linear RMSE {linear_rmse:.3} vs nonlinear terms {nonlinear_rmse:.3}"
    );
}

// reading and preparing in parts

/// The taxi table with missing values: every 97th trip distance, every 89th vendor.
fn taxi_with_gaps(rows: usize) -> Table {
    let columns = synth::taxi(rows, 11)
        .into_columns()
        .into_iter()
        .map(|(name, column)| {
            let column = match (name.as_str(), column) {
                ("trip_distance", Column::Number(mut v)) => {
                    v.iter_mut().step_by(97).for_each(|x| *x = f64::NAN);
                    Column::Number(v)
                }
                ("vendor", Column::Text(mut v)) => {
                    v.iter_mut().step_by(89).for_each(|x| *x = None);
                    Column::Text(v)
                }
                (_, c) => c,
            };
            (name, column)
        });
    Table::new(columns).unwrap()
}

#[test]
fn a_folder_read_in_parts_is_the_files_concatenated() {
    // 150,000 rows: each file spans parts, and parts never span files.
    let dir = tempfile::tempdir().unwrap();
    let t = taxi_with_gaps(150_000);
    let rows = |r: std::ops::Range<usize>| t.take_rows(&r.collect::<Vec<_>>());
    rows(0..70_000).write_csv(dir.path().join("a.csv")).unwrap();
    // The Parquet file's columns in the other order.
    let reversed = rows(70_000..140_000).into_columns().into_iter().rev();
    Table::new(reversed)
        .unwrap()
        .write_parquet(dir.path().join("b.parquet"))
        .unwrap();
    rows(140_000..150_000)
        .write_csv(dir.path().join("c.csv"))
        .unwrap();
    let reader = TableReader::open(dir.path()).unwrap();
    assert_eq!(reader.n_rows(), 150_000);
    assert_eq!(reader.names(), t.names());
    let sizes: Vec<usize> = reader.parts().map(|p| p.unwrap().n_rows()).collect();
    assert_eq!(sizes, [65_536, 4_464, 65_536, 4_464, 10_000]);
    assert_eq!(Table::read_path(dir.path()).unwrap(), t);
    // Some of the columns, in the order asked.
    let (mut fares, mut vendors) = (Vec::new(), Vec::new());
    for part in reader.parts_of(&["fare_amount", "nonesuch", "vendor", "fare_amount"]) {
        let part = part.unwrap();
        assert_eq!(part.names(), ["fare_amount", "vendor"]);
        fares.extend_from_slice(numbers(&part, "fare_amount"));
        vendors.extend_from_slice(part.column("vendor").unwrap().as_text().unwrap());
    }
    assert_eq!(t.column("fare_amount"), Some(&Column::Number(fares)));
    assert_eq!(t.column("vendor"), Some(&Column::Text(vendors)));
}

#[test]
fn prep_in_parts_writes_what_prep_in_memory_makes() {
    let dir = tempfile::tempdir().unwrap();
    let t = taxi_with_gaps(150_000);
    let csv = dir.path().join("taxi.csv");
    t.write_csv(&csv).unwrap();
    let mut options = PrepOptions::new("fare_amount");
    options.categorical = vec!["vendor".into(), "store_and_fwd_flag".into()];
    options.drop = vec!["pickup_datetime".into()];
    for (missing, standardize) in [(Missing::Impute, true), (Missing::Drop, false)] {
        options.missing = missing;
        options.standardize = standardize;
        let whole = prep(&t, &options).unwrap();
        let expected = parquet_bytes(&whole, dir.path(), "whole");
        let reader = TableReader::open(&csv).unwrap();
        let paths =
            ["train", "validation", "test"].map(|s| dir.path().join(format!("{s}.parquet")));
        let mut writers = paths.each_ref().map(|p| TableWriter::create(p));
        let [a, b, c] = &mut writers;
        let summary = prep_parts(&reader, &options, [a, b, c]).unwrap();
        for w in writers {
            w.finish().unwrap();
        }
        assert_eq!(summary.report, whole.report);
        assert_eq!(summary.feature_names, whole.feature_names);
        let written: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert!(
            written == expected,
            "{missing:?}: the files differ from prep's in memory"
        );
        let rows = &whole.report.rows;
        assert_eq!(rows.train + rows.validation + rows.test, rows.output);
        if missing == Missing::Drop {
            // 1,547 distances and 1,686 vendors missing, 18 rows both.
            assert_eq!(rows.dropped, 1_547 + 1_686 - 18);
        } else {
            assert_eq!(rows.dropped, 0);
            let counts: Vec<usize> = whole.report.imputed.iter().map(|i| i.count).collect();
            assert_eq!(counts, [1_686, 1_547]);
        }
    }
}
