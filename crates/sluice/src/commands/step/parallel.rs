//! `sluice step parallel-run`: the command a `type: parallel` step runs (see
//! `sluice_spec`'s parallel rewrite). It lists what `--input-data` holds (the files of a folder,
//! or the files and format an `MLTable` file names), writes a plan and the driver
//! (`parallel_driver.py`) to a temporary folder, and runs the driver with the step's Python
//! (the first `python3` or `python` on `PATH`: the step's environment when it has one).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cli::StepParallelRunArgs;
use crate::error::CliError;
use crate::ui;

const DRIVER: &str = include_str!("parallel_driver.py");
/// Azure's `azureml_user.parallel_run.EntryScript`, as far as entry scripts use it.
const ENTRY_SCRIPT: &str = include_str!("parallel_entry_script.py");

/// Files a folder's mini-batches hold by default, and bytes an mltable's do (Azure's defaults).
const DEFAULT_FILES: u64 = 10;
const DEFAULT_BYTES: u64 = 1 << 20;

fn step_error(message: String, hint: Option<&str>) -> CliError {
    CliError::Step {
        message,
        hint: hint.map(str::to_owned),
    }
}

pub(crate) fn run(args: &StepParallelRunArgs) -> Result<Value, CliError> {
    let input = &args.input_data;
    let table = match args.input_type.as_deref() {
        Some("mltable") => true,
        Some("uri_folder" | "uri_file") => false,
        _ => input.join("MLTable").is_file(),
    };
    let size = match args.mini_batch_size.as_deref() {
        Some(text) => Some(sluice_spec::MiniBatchSize::parse(text).ok_or_else(|| {
            step_error(
                format!("--mini-batch-size `{text}` is neither a number of files nor a size"),
                Some("write a number of files (`10`) or a size (`100kb`, `1mb`)"),
            )
        })?),
        None => None,
    };
    let mut plan = if table {
        let mut plan = read_mltable(input)?;
        let bytes = size.map_or(DEFAULT_BYTES, |s| {
            s.number.saturating_mul(s.unit.unwrap_or(1))
        });
        plan["kind"] = json!("table");
        plan["mini_batch_size"] = json!(bytes);
        plan
    } else {
        if size.is_some_and(|s| s.unit.is_some()) {
            return Err(step_error(
                format!(
                    "--mini-batch-size `{}` is a size, but `{}` holds files",
                    args.mini_batch_size.as_deref().unwrap_or_default(),
                    input.display()
                ),
                Some("for files, the mini-batch size is a number of files (`10`)"),
            ));
        }
        let files = if input.is_dir() {
            let mut files = Vec::new();
            walk(input, &mut files)?;
            files
        } else if input.is_file() {
            vec![input.clone()]
        } else {
            return Err(step_error(
                format!("input_data `{}` does not exist", input.display()),
                None,
            ));
        };
        json!({
            "kind": "files",
            "files": files,
            "mini_batch_size": size.map_or(DEFAULT_FILES, |s| s.number),
        })
    };
    if table && plan["files"].as_array().is_some_and(Vec::is_empty) {
        ui::note("parallel-run: the MLTable names no files; there is nothing to run");
    }
    for (key, value) in [
        ("entry_script", json!(args.entry_script)),
        (
            "partition_keys",
            json!(
                args.partition_keys
                    .as_deref()
                    .map(|k| k.split(',').filter(|k| !k.is_empty()).collect::<Vec<_>>())
                    .unwrap_or_default()
            ),
        ),
        ("workers", json!(args.workers.max(1))),
        ("error_threshold", json!(args.error_threshold)),
        (
            "mini_batch_error_threshold",
            json!(args.mini_batch_error_threshold),
        ),
        ("max_retries", json!(args.max_retries)),
        ("timeout", json!(args.timeout.max(1))),
        ("append_row_to", json!(args.append_row_to)),
        ("program_args", json!(args.program_args)),
        ("logging_level", json!(args.logging_level)),
    ] {
        plan[key] = value;
    }
    if !Path::new(&args.entry_script).is_file() {
        return Err(step_error(
            format!(
                "the entry script `{}` is not in the task's code folder ({})",
                args.entry_script,
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            ),
            Some("`task.entry_script` is relative to `task.code`"),
        ));
    }
    // Private to this user (0700), removed when the run ends.
    let dir = tempfile::Builder::new()
        .prefix("sluice-parallel-")
        .tempdir()
        .map_err(|e| CliError::Workspace(format!("cannot make a temporary folder: {e}")))?;
    let driver = dir.path().join("parallel_driver.py");
    let plan_path = dir.path().join("plan.json");
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text)
            .map_err(|e| CliError::Workspace(format!("`{}`: {e}", path.display())))
    };
    let support = dir.path().join("azureml_user/parallel_run");
    std::fs::create_dir_all(&support)
        .map_err(|e| CliError::Workspace(format!("`{}`: {e}", support.display())))?;
    write(&dir.path().join("azureml_user/__init__.py"), "")?;
    write(&support.join("__init__.py"), ENTRY_SCRIPT)?;
    plan["support_dir"] = json!(dir.path());
    write(&driver, DRIVER)?;
    write(&plan_path, &plan.to_string())?;
    let python = ["python3", "python"]
        .into_iter()
        .find_map(sluice_env::on_path)
        .ok_or_else(|| {
            step_error(
                "no `python3` or `python` on PATH to run the entry script".to_owned(),
                Some(
                    "give the task an `environment` with Python, or install Python on this machine",
                ),
            )
        })?;
    let status = std::process::Command::new(&python)
        .arg(&driver)
        .arg(&plan_path)
        .status()
        .map_err(|e| CliError::Workspace(format!("cannot run {}: {e}", python.display())))?;
    if !status.success() {
        return Err(step_error(
            format!(
                "the parallel job did not complete (its driver exited with {}); its log says why",
                status
                    .code()
                    .map_or_else(|| "a signal".to_owned(), |c| format!("code {c}"))
            ),
            None,
        ));
    }
    Ok(json!({"completed": true}))
}

/// Every file under `dir`, by path, hidden ones left out.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| CliError::Workspace(format!("`{}`: {e}", dir.display())))?;
    let mut entries: Vec<PathBuf> = read.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The files and format an `MLTable` file names: `paths` (`file`, `folder`, `pattern`, relative
/// to its folder) and the `read_delimited`, `read_parquet` or `read_json_lines` transformation.
fn read_mltable(dir: &Path) -> Result<Value, CliError> {
    let path = dir.join("MLTable");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        step_error(
            format!("`{}`: {e}", path.display()),
            Some("an mltable input is a folder with an `MLTable` file"),
        )
    })?;
    let source = sluice_spec::Source::new(path.display().to_string(), text);
    let doc = sluice_spec::yaml::parse(&source, &mut Vec::new())
        .map_err(|e| CliError::Spec(Box::new(e)))?
        .to_json();
    let mut files = Vec::new();
    for entry in doc["paths"].as_array().into_iter().flatten() {
        let named = ["file", "folder", "pattern"]
            .iter()
            .find_map(|k| entry[*k].as_str())
            .unwrap_or_default();
        if named.contains("://") && !named.starts_with("file://") {
            return Err(step_error(
                format!(
                    "`{}` names `{named}`, remote data; Sluice reads an MLTable's files locally",
                    path.display()
                ),
                Some("download the files beside the MLTable file and name them by relative path"),
            ));
        }
        if let Some(f) = entry["file"].as_str() {
            let file = local(dir, f);
            if !file.is_file() {
                return Err(step_error(
                    format!("`{}` names `{f}`, which is not a file", path.display()),
                    Some("paths in an MLTable file are relative to its folder"),
                ));
            }
            files.push(file);
        } else if let Some(f) = entry["folder"].as_str() {
            walk(&local(dir, f), &mut files)?;
        } else if let Some(p) = entry["pattern"].as_str() {
            let mut all = Vec::new();
            walk(dir, &mut all)?;
            let pattern = p.trim_start_matches("./");
            files.extend(all.into_iter().filter(|f| {
                f.strip_prefix(dir)
                    .is_ok_and(|rel| glob(pattern, &rel.to_string_lossy()))
            }));
        } else {
            return Err(step_error(
                format!(
                    "`{}`: a path entry is not `file`, `folder` or `pattern`: {entry}",
                    path.display()
                ),
                None,
            ));
        }
    }
    files.retain(|f| f.file_name().is_none_or(|n| n != "MLTable"));
    let mut plan =
        json!({"files": files, "format": "delimited", "delimiter": ",", "header": "all"});
    let mut transforms = Vec::new();
    for step in doc["transformations"].as_array().into_iter().flatten() {
        let (name, options) = match step {
            Value::String(s) => (s.as_str(), &Value::Null),
            Value::Object(m) => match m.iter().next() {
                Some((k, v)) => (k.as_str(), v),
                None => continue,
            },
            _ => continue,
        };
        match name {
            "read_delimited" => {
                plan["format"] = json!("delimited");
                if let Some(d) = options["delimiter"].as_str() {
                    plan["delimiter"] = json!(d);
                }
                if let Some(h) = options["header"].as_str() {
                    plan["header"] = json!(match h {
                        "no_header" => "none",
                        "from_first_file" => "first",
                        _ => "all",
                    });
                }
                if let Some(e) = options["encoding"].as_str() {
                    // MLTable's encoding names, as Python knows them.
                    let python = match e {
                        "utf8" => "utf-8",
                        "utf8bom" => "utf-8-sig",
                        "iso88591" => "latin-1",
                        "windows1252" => "cp1252",
                        "utf16" => "utf-16",
                        other => other,
                    };
                    plan["encoding"] = json!(python);
                }
            }
            "read_parquet" => plan["format"] = json!("parquet"),
            "read_json_lines" => {
                plan["format"] = json!("json_lines");
                if let Some(v) = options["invalid_lines"].as_str() {
                    plan["invalid_lines"] = json!(v);
                }
            }
            "take"
            | "skip"
            | "take_random_sample"
            | "drop_columns"
            | "keep_columns"
            | "filter"
            | "convert_column_types" => transforms.push(json!([name, options])),
            "extract_columns_from_partition_format" => {
                // `{timestamp:yyyy/MM/dd}` reads as a one-entry map in YAML.
                let format = match options {
                    Value::String(s) => s.clone(),
                    Value::Object(m) if m.len() == 1 => m
                        .iter()
                        .map(|(k, v)| match v.as_str() {
                            Some(v) => format!("{{{k}:{v}}}"),
                            None => format!("{{{k}}}"),
                        })
                        .collect(),
                    _ => String::new(),
                };
                if format.is_empty() {
                    return Err(step_error(
                        format!(
                            "`{}`: `extract_columns_from_partition_format` takes a format such as `/{{year}}/{{month}}/data.csv`",
                            path.display()
                        ),
                        None,
                    ));
                }
                plan["partition_format"] = json!(format);
            }
            "read_delta_lake" => {
                return Err(step_error(
                    format!(
                        "`{}` reads a Delta Lake table, which Sluice does not read",
                        path.display()
                    ),
                    Some("export the version you need to Parquet and name it with `read_parquet`"),
                ));
            }
            other => {
                return Err(step_error(
                    format!(
                        "`{}`: `{other}` is not an MLTable transformation",
                        path.display()
                    ),
                    Some(
                        "MLTable's are read_delimited, read_parquet, read_json_lines, take, skip, take_random_sample, drop_columns, keep_columns, filter, convert_column_types and extract_columns_from_partition_format",
                    ),
                ));
            }
        }
        if name.starts_with("read_") {
            for key in ["include_path_column", "empty_as_string"] {
                if let Some(v) = options[key].as_bool() {
                    plan[key] = json!(v);
                }
            }
        }
    }
    plan["transforms"] = Value::Array(transforms);
    Ok(plan)
}

/// `rel` (a path below the `MLTable` file's folder) resolved, with a leading `./` and `file://` read.
fn local(dir: &Path, rel: &str) -> PathBuf {
    let rel = rel.strip_prefix("file://").unwrap_or(rel);
    dir.join(rel.trim_start_matches("./"))
}

/// Whether `path` matches `pattern`: `*` any run of characters but `/`, `**` any run at all,
/// `?` one character.
fn glob(pattern: &str, path: &str) -> bool {
    fn matches(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) if rest.first() == Some(&b'*') => {
                // `**/` matches whole folders (none or more), at a folder's start only.
                let rest = rest[1..].strip_prefix(b"/").unwrap_or(&rest[1..]);
                (0..=s.len())
                    .filter(|&i| i == 0 || s[i - 1] == b'/')
                    .any(|i| matches(rest, &s[i..]))
            }
            Some((b'*', rest)) => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| matches(rest, &s[i..])),
            Some((b'?', rest)) => s.first().is_some_and(|&c| c != b'/') && matches(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && matches(rest, &s[1..]),
        }
    }
    matches(pattern.as_bytes(), path.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths relative to the `MLTable` file's folder (`file`, `folder`, `pattern`), the format,
    /// header and encoding of `read_delimited`, and the mistakes said plainly.
    #[test]
    fn mltable_files_are_read_as_the_file_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "a.csv",
            "parts/p1.csv",
            "parts/p2.csv",
            "more/x.csv",
            "more/y.txt",
        ] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), "c\n1\n").unwrap();
        }
        std::fs::write(
            root.join("MLTable"),
            "paths:\n  - file: ./a.csv\n  - folder: ./parts\n  - pattern: more/*.csv\ntransformations:\n  - read_delimited:\n      delimiter: ';'\n      header: from_first_file\n      encoding: iso88591\n",
        )
        .unwrap();
        let plan = read_mltable(root).unwrap();
        let files: Vec<String> = plan["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                Path::new(f.as_str().unwrap())
                    .strip_prefix(root)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            files,
            ["a.csv", "parts/p1.csv", "parts/p2.csv", "more/x.csv"]
        );
        assert_eq!(plan["delimiter"], ";");
        assert_eq!(plan["header"], "first");
        assert_eq!(plan["encoding"], "latin-1");

        std::fs::write(root.join("MLTable"), "paths:\n  - file: ./gone.csv\n").unwrap();
        let err = read_mltable(root).unwrap_err().to_string();
        assert!(
            err.contains("names `./gone.csv`, which is not a file"),
            "{err}"
        );
        std::fs::write(
            root.join("MLTable"),
            "paths:\n  - file: https://example.com/data.csv\n",
        )
        .unwrap();
        let err = read_mltable(root).unwrap_err().to_string();
        assert!(err.contains("remote data"), "{err}");
    }

    /// The transformations after reading go to the driver in the file's order; a partition
    /// format written as a YAML map (`{timestamp:yyyy/MM/dd}`) reads as the format; what Sluice
    /// cannot apply is refused, not skipped.
    #[test]
    fn mltable_transformations_are_handed_on_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.csv"), "c\n1\n").unwrap();
        let with = |transforms: &str| {
            std::fs::write(
                root.join("MLTable"),
                format!("paths:\n  - file: ./a.csv\ntransformations:\n{transforms}"),
            )
            .unwrap();
            read_mltable(root)
        };
        let plan = with(
            "  - read_delimited: {include_path_column: true, empty_as_string: true}\n  - skip: 2\n  - filter: 'col(\"c\") > 1'\n  - take: 5\n  - extract_columns_from_partition_format: {timestamp:yyyy/MM/dd}\n",
        )
        .unwrap();
        assert_eq!(
            plan["transforms"],
            json!([["skip", 2], ["filter", "col(\"c\") > 1"], ["take", 5]])
        );
        assert_eq!(plan["include_path_column"], true);
        assert_eq!(plan["empty_as_string"], true);
        assert_eq!(plan["partition_format"], "{timestamp:yyyy/MM/dd}");
        let plan =
            with("  - extract_columns_from_partition_format: /{year}/{month}/a.csv\n").unwrap();
        assert_eq!(plan["partition_format"], "/{year}/{month}/a.csv");
        let err = with("  - read_delta_lake: {version_as_of: 1}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Delta Lake"), "{err}");
        let err = with("  - tak: 5\n").unwrap_err().to_string();
        assert!(
            err.contains("`tak` is not an MLTable transformation"),
            "{err}"
        );
    }

    #[test]
    fn globs_match_as_mltable_patterns_do() {
        assert!(glob("*.csv", "a.csv"));
        assert!(!glob("*.csv", "sub/a.csv"));
        assert!(glob("**/*.csv", "sub/deep/a.csv"));
        assert!(glob("**/*.csv", "a.csv"));
        assert!(glob("data/?.parquet", "data/1.parquet"));
        assert!(!glob("data/?.parquet", "data/12.parquet"));
        assert!(!glob("data/**/x.csv", "data/foox.csv"));
        assert!(glob("data/**/x.csv", "data/a/b/x.csv"));
    }
}
