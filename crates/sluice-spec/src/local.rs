//! The local files and folders a job file reads, so that a client can send them with the job to
//! a server that runs it (`sluice --url URL job create`).

use std::path::{Component, Path, PathBuf};

use crate::asset::parse_asset_ref;
use crate::diag::SpecError;
use crate::source::Source;
use crate::yaml::{Node, Value};

/// A local path a job file reads, as its file resolves it (lexically: `..` is taken against the
/// written path, not through symbolic links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPath {
    pub path: PathBuf,
    /// The highest folder the written path passes through (`../../x` written in `a/b/c/f.yml`
    /// passes through `a`): a copy of the files keeps the path's meaning only if it holds that
    /// folder's place too.
    pub climbs_to: PathBuf,
    /// The file that names it, as shown in messages.
    pub named_in: String,
}

/// Every local path the job file at `path` reads: `code:` folders, `conda_file:`s,
/// `component:`, a sweep's `trial:` and `environment: file:` files (and, in turn, what they read), and input data
/// (`path:` of an input, or an input's value) that exists here. Paths written absolute, asset
/// references (`azureml:...`) and URIs (`scheme://...`) are left out: they name places the
/// runner must reach itself.
pub fn local_paths(path: &Path) -> Result<Vec<LocalPath>, SpecError> {
    let source = crate::parse::read_source(path)?;
    let tree = crate::yaml::parse(&source, &mut Vec::new())?;
    let mut out = Vec::new();
    walk(&source, &tree, false, &mut out, 0)?;
    out.dedup();
    Ok(out)
}

/// A path written in `source` that names something local, relative to the file.
fn local(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && parse_asset_ref(t).is_none()
        && !t.contains("://")
        && !Path::new(t.strip_prefix("file:").unwrap_or(t)).is_absolute()
}

fn found(source: &Source, written: &str) -> LocalPath {
    let written = written.trim();
    let written = written.strip_prefix("file:").unwrap_or(written);
    LocalPath {
        path: source.resolve(written),
        climbs_to: climbs_to(&source.dir, written),
        named_in: source.name.clone(),
    }
}

/// The highest folder a relative path written in a file of `dir` passes through.
fn climbs_to(dir: &Path, written: &str) -> PathBuf {
    let mut at = dir.to_path_buf();
    let mut top = at.clone();
    for part in Path::new(written).components() {
        match part {
            Component::ParentDir => {
                at.pop();
                if at.components().count() < top.components().count() {
                    top.clone_from(&at);
                }
            }
            Component::Normal(name) => at.push(name),
            _ => {}
        }
    }
    top
}

/// Walks a file's tree; `in_inputs` while inside an `inputs:` mapping (its values, or their
/// `path:`, may name data).
fn walk(
    source: &Source,
    node: &Node,
    in_inputs: bool,
    out: &mut Vec<LocalPath>,
    depth: usize,
) -> Result<(), SpecError> {
    if depth > 16 {
        return Err(SpecError::new(
            source,
            node.span,
            "component files refer to each other more than 16 levels deep",
        )
        .with_help("check for a component that refers to itself"));
    }
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let key = k.as_str().unwrap_or_default();
                let text = v.as_str();
                match (key, text) {
                    // An input's value, or its `path:`: data when it names something here.
                    (_, Some(t)) if in_inputs => {
                        let data = found(source, t);
                        if local(t) && data.path.exists() {
                            out.push(data);
                        }
                    }
                    ("code" | "conda_file", Some(t)) if local(t) => out.push(found(source, t)),
                    ("component" | "trial" | "environment", Some(t))
                        if local(t) && (key != "environment" || t.trim().starts_with("file:")) =>
                    {
                        let file = found(source, t);
                        let inner = crate::parse::read_source(&file.path)?;
                        let tree = crate::yaml::parse(&inner, &mut Vec::new())?;
                        out.push(file);
                        walk(&inner, &tree, false, out, depth + 1)?;
                    }
                    ("inputs", _) => walk(source, v, true, out, depth)?,
                    // An input written as a mapping: only its `path:` may be data.
                    (_, None) if in_inputs => {
                        if let Value::Map(fields) = &v.value {
                            for (f, value) in fields {
                                if f.as_str() == Some("path")
                                    && let Some(t) = value.as_str()
                                    && local(t)
                                {
                                    let data = found(source, t);
                                    if data.path.exists() {
                                        out.push(data);
                                    }
                                }
                            }
                        }
                    }
                    _ => walk(source, v, false, out, depth)?,
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                walk(source, item, false, out, depth)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_climbs_to_the_highest_folder_it_passes() {
        let dir = Path::new("/p/a/b");
        assert_eq!(climbs_to(dir, "../../x/y"), Path::new("/p"));
        assert_eq!(climbs_to(dir, "./src"), Path::new("/p/a/b"));
        assert_eq!(climbs_to(dir, "x/../../y"), Path::new("/p/a"));
    }

    /// Azure's layout: the job file in `mlops/azureml/train`, its code, data, a component with
    /// its own code and conda file, and an environment file; nothing else, and not what is
    /// remote, absolute or a literal.
    #[test]
    fn a_job_file_lists_what_it_reads_here() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["mlops/azureml/train", "mlops/components/src", "src", "data"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("data/raw.csv"), "a\n").unwrap();
        std::fs::write(root.join("data/more.csv"), "a\n").unwrap();
        std::fs::write(root.join("mlops/components/conda.yml"), "name: x\n").unwrap();
        std::fs::write(
            root.join("mlops/components/report.yml"),
            "type: command\ncode: ./src\ncommand: echo\nenvironment:\n  image: python\n  conda_file: ./conda.yml\ninputs:\n  x:\n    type: uri_file\n",
        )
        .unwrap();
        std::fs::write(
            root.join("mlops/azureml/train/env.yml"),
            "name: e\nimage: python\nconda_file: ../../components/conda.yml\n",
        )
        .unwrap();
        let job = root.join("mlops/azureml/train/pipeline.yml");
        std::fs::write(
            &job,
            "type: pipeline\ninputs:\n  raw:\n    type: uri_file\n    path: ../../../data/raw.csv\n  rate: 0.5\njobs:\n  prep:\n    type: command\n    code: ../../../src\n    command: echo\n    environment: file:./env.yml\n    inputs:\n      more: ../../../data/more.csv\n      remote: azureml:trips:1\n      far: /etc/hostname\n      text: hello\n  report:\n    component: ../../components/report.yml\n  tune:\n    type: sweep\n    trial: ./env.yml\n",
        )
        .unwrap();
        let got: Vec<(PathBuf, PathBuf)> = local_paths(&job)
            .unwrap()
            .into_iter()
            .map(|p| (p.path, p.climbs_to))
            .collect();
        let train = root.join("mlops/azureml/train");
        assert_eq!(
            got,
            [
                (root.join("data/raw.csv"), root.to_path_buf()),
                (root.join("src"), root.to_path_buf()),
                (train.join("env.yml"), train.clone()),
                (root.join("mlops/components/conda.yml"), root.join("mlops")),
                (root.join("data/more.csv"), root.to_path_buf()),
                (root.join("mlops/components/report.yml"), root.join("mlops")),
                (
                    root.join("mlops/components/src"),
                    root.join("mlops/components")
                ),
                (
                    root.join("mlops/components/conda.yml"),
                    root.join("mlops/components")
                ),
                (train.join("env.yml"), train.clone()),
                (root.join("mlops/components/conda.yml"), root.join("mlops")),
            ]
        );
    }
}
