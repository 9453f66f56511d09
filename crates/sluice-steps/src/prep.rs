//! `sluice step prep`: read CSV or Parquet (a file or a folder), select the target and
//! features, handle missing values, one-hot encode categorical columns, optionally standardise,
//! and split into train / validation / test with a seed.
//!
//! - **Inputs**: `--data` (a file or folder); options as in [`PrepOptions`].
//! - **Outputs**: `data.parquet` in each of `--train-output`, `--validation-output` (optional)
//!   and `--test-output`; `prep_report.json` beside the train data.
//! - **Logged**: params `target`, `n_features`, `split`, `seed`, `missing`, `standardize`;
//!   metrics `rows_input`, `rows_dropped`, `rows_train`, `rows_validation`, `rows_test`.
//! - **Deterministic**: the same input and seed give byte-identical outputs.
//! - **Memory**: the input is read in parts ([`sluice_data::TableReader`]) and each split
//!   written as it goes, so a table larger than memory can be prepared; see
//!   [`sluice_data::prep::prep_parts`] for what is kept.
//!
//! ```yaml
//! prep_data:
//!   command: >-
//!     sluice step prep --data ${{inputs.raw_data}} --target fare_amount
//!     --categorical vendor,store_and_fwd_flag --seed 42
//!     --train-output ${{outputs.train_data}} --validation-output ${{outputs.val_data}}
//!     --test-output ${{outputs.test_data}}
//! ```

use std::path::{Path, PathBuf};

use sluice_data::prep::{Discard, PrepFailure, Sink, prep_parts};
use sluice_data::{DataError, PrepOptions, PrepReport, TableReader, TableWriter};

use crate::StepError;
use crate::mlflow::Tracking;

/// The file each split is written to inside its output folder.
pub const DATA_FILE: &str = "data.parquet";

pub struct PrepArgs {
    pub data: PathBuf,
    pub options: PrepOptions,
    pub train_output: PathBuf,
    pub validation_output: Option<PathBuf>,
    pub test_output: PathBuf,
}

/// One split's output folder: made when its first rows are written, so a prep refused for its
/// input or options leaves no folders behind.
struct Output {
    dir: PathBuf,
    writer: TableWriter,
    made: bool,
}

impl Output {
    fn new(dir: &Path) -> Output {
        Output {
            dir: dir.to_path_buf(),
            writer: TableWriter::create(&dir.join(DATA_FILE)),
            made: false,
        }
    }
}

impl Sink for Output {
    fn write(&mut self, part: &sluice_data::Table) -> Result<(), DataError> {
        if !self.made {
            std::fs::create_dir_all(&self.dir).map_err(|source| DataError::Io {
                path: self.dir.clone(),
                source,
            })?;
            self.made = true;
        }
        self.writer.write(part)
    }
}

pub fn run(args: &PrepArgs, tracking: Option<&Tracking>) -> Result<PrepReport, StepError> {
    let reader = TableReader::open(&args.data)?;
    let mut train = Output::new(&args.train_output);
    let mut test_split = Output::new(&args.test_output);
    let mut validation = args.validation_output.as_deref().map(Output::new);
    let mut discard = Discard;
    let validation_sink: &mut dyn Sink = match &mut validation {
        Some(w) => w,
        None => &mut discard,
    };
    let prepared = prep_parts(
        &reader,
        &args.options,
        [&mut train, validation_sink, &mut test_split],
    )
    .map_err(|e| match e {
        PrepFailure::Prep(e) => StepError::Prep(e),
        PrepFailure::Data(e) => StepError::Data(e),
    })?;
    for output in [Some(train), Some(test_split), validation]
        .into_iter()
        .flatten()
    {
        output.writer.finish()?;
    }
    let report = prepared.report;
    let report_path = args.train_output.join("prep_report.json");
    let text =
        serde_json::to_string_pretty(&report).map_err(|e| StepError::Invalid(e.to_string()))?;
    std::fs::write(&report_path, text).map_err(|e| StepError::io(&report_path, e))?;
    if let Some(t) = tracking {
        let o = &args.options;
        let split = format!("{},{},{}", o.split.train, o.split.validation, o.split.test);
        t.log(
            &[
                ("target".into(), o.target.clone()),
                (
                    "n_features".into(),
                    prepared.feature_names.len().to_string(),
                ),
                ("split".into(), split),
                ("seed".into(), o.seed.to_string()),
                ("missing".into(), format!("{:?}", o.missing).to_lowercase()),
                ("standardize".into(), o.standardize.to_string()),
            ],
            &[
                ("rows_input".into(), count(report.rows.input)),
                ("rows_dropped".into(), count(report.rows.dropped)),
                ("rows_train".into(), count(report.rows.train)),
                ("rows_validation".into(), count(report.rows.validation)),
                ("rows_test".into(), count(report.rows.test)),
            ],
            &[],
        )?;
    }
    Ok(report)
}

#[expect(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
fn count(n: usize) -> f64 {
    n as f64
}
