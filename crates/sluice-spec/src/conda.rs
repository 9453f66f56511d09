//! Conda environment files and `requirements.txt`, read into what a Python virtual environment
//! needs: the interpreter version and a list of pip requirements, each remembering the place it
//! was written so an install failure can point at it.
//!
//! Conda package names are mapped to their pip names where both name the same package
//! (`scikit-learn`, `pytorch` → `torch`); conda-only packages (CUDA runtimes, compilers, C
//! libraries) are refused with a message naming them, never skipped.

use crate::diag::{SpecError, Warning};
use crate::source::{Source, Span, Spanned};
use crate::yaml::{self, Node, Value};

/// A Python environment described by a conda file or a requirements file.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonEnvSpec {
    /// The Python version asked for (`3.11`, `3.11.7`, `>=3.10`); `None`: the machine's `python3`.
    pub python: Option<Spanned<String>>,
    /// pip requirement lines, in the order written.
    pub requirements: Vec<Spanned<String>>,
    /// Conda channels named by the file (recorded; packages come from PyPI).
    pub channels: Vec<String>,
    /// True for a conda file: the environment gets what every conda Python environment has
    /// (`pip`, `setuptools`, `wheel`).
    pub conda: bool,
}

/// Conda packages that name the same project under another name on PyPI.
const RENAMED: &[(&str, &str)] = &[
    ("pytorch", "torch"),
    ("pytorch-cpu", "torch"),
    ("py-xgboost", "xgboost"),
    ("py-lightgbm", "lightgbm"),
    ("matplotlib-base", "matplotlib"),
    ("msgpack-python", "msgpack"),
    ("pytables", "tables"),
    ("py-opencv", "opencv-python"),
    ("opencv", "opencv-python"),
    ("python-graphviz", "graphviz"),
    ("pyqt", "PyQt5"),
    ("tensorflow-base", "tensorflow"),
    ("arrow-cpp", "pyarrow"),
    ("typing_extensions", "typing-extensions"),
];

/// Conda packages with no pip equivalent, and what they are.
const CONDA_ONLY: &[(&str, &str)] = &[
    ("cudatoolkit", "the CUDA runtime libraries"),
    ("cuda-toolkit", "the CUDA toolkit"),
    ("cudnn", "the cuDNN libraries"),
    ("nccl", "the NCCL libraries"),
    ("cpuonly", "a PyTorch channel marker package"),
    ("mkl", "the Intel MKL libraries"),
    ("mkl-service", "an Intel MKL control package"),
    ("intel-openmp", "the Intel OpenMP runtime"),
    ("nomkl", "a conda marker package"),
    ("blas", "a conda BLAS selector package"),
    ("libblas", "a BLAS library"),
    ("openblas", "the OpenBLAS library"),
    ("libgcc-ng", "the GCC runtime library"),
    ("libstdcxx-ng", "the C++ runtime library"),
    ("libgfortran-ng", "the Fortran runtime library"),
    ("_libgcc_mutex", "a conda marker package"),
    ("_openmp_mutex", "a conda marker package"),
    ("gcc", "the GNU C compiler"),
    ("gxx", "the GNU C++ compiler"),
    ("gcc_linux-64", "the GNU C compiler"),
    ("gxx_linux-64", "the GNU C++ compiler"),
    ("openssl", "the OpenSSL library"),
    ("ca-certificates", "the system certificate bundle"),
    ("libffi", "a C library"),
    ("zlib", "a C library"),
    ("xz", "a C library"),
    ("bzip2", "a C library"),
    ("readline", "a C library"),
    ("ncurses", "a C library"),
    ("sqlite", "the SQLite library and shell"),
    ("tk", "the Tk library"),
    ("ld_impl_linux-64", "the GNU linker"),
    ("libprotobuf", "the protobuf C++ library"),
    ("nodejs", "the Node.js runtime"),
    ("r-base", "the R language"),
    ("git", "the git program"),
    ("make", "the make program"),
];

/// Reads a conda environment file (`dependencies:` with `python=3.x`, packages and a `pip:` list).
pub fn parse_conda(
    source: &Source,
    warnings: &mut Vec<Warning>,
) -> Result<PythonEnvSpec, SpecError> {
    let root = yaml::parse(source, warnings)?;
    let Value::Map(entries) = &root.value else {
        return Err(SpecError::new(
            source,
            root.span,
            format!(
                "a conda file must be a mapping, found {}",
                root.value.kind()
            ),
        )
        .with_help("write `dependencies:` with a list of packages, e.g. `- python=3.11`"));
    };
    let mut spec = PythonEnvSpec {
        python: None,
        requirements: Vec::new(),
        channels: Vec::new(),
        conda: true,
    };
    let mut deps = None;
    for (key, value) in entries {
        match key.as_str().unwrap_or_default() {
            "dependencies" => deps = Some(value),
            "channels" => {
                if let Value::Seq(items) = &value.value {
                    spec.channels
                        .extend(items.iter().filter_map(Node::scalar_text));
                }
            }
            "name" | "prefix" | "variables" => {}
            other => warnings.push(Warning::new(
                source,
                key.span,
                format!("`{other}` is not a conda environment key; it is ignored"),
            )),
        }
    }
    let Some(deps) = deps else {
        return Err(
            SpecError::new(source, root.span, "the conda file has no `dependencies`")
                .with_help("add `dependencies:` with `- python=3.11`, `- pip` and a `- pip:` list"),
        );
    };
    let Value::Seq(items) = &deps.value else {
        return Err(SpecError::new(
            source,
            deps.span,
            format!("`dependencies` must be a list, found {}", deps.value.kind()),
        ));
    };
    for item in items {
        match &item.value {
            Value::Map(entries) => {
                for (key, value) in entries {
                    if key.as_str() != Some("pip") {
                        return Err(SpecError::new(
                            source,
                            key.span,
                            format!(
                                "`{}` is not understood in `dependencies`",
                                key.scalar_text().unwrap_or_default()
                            ),
                        )
                        .with_help("the only mapping allowed here is `- pip: [...]`"));
                    }
                    let Value::Seq(lines) = &value.value else {
                        return Err(SpecError::new(
                            source,
                            value.span,
                            "`pip` must be a list of requirements",
                        ));
                    };
                    for line in lines {
                        let Some(text) = line.scalar_text() else {
                            return Err(SpecError::new(
                                source,
                                line.span,
                                format!(
                                    "a pip requirement must be text, found {}",
                                    line.value.kind()
                                ),
                            ));
                        };
                        let text = text.trim().to_owned();
                        if !text.is_empty() {
                            spec.requirements.push(Spanned::new(text, line.span));
                        }
                    }
                }
            }
            _ => {
                let Some(text) = item.scalar_text() else {
                    return Err(SpecError::new(
                        source,
                        item.span,
                        format!("a dependency must be text, found {}", item.value.kind()),
                    ));
                };
                conda_package(source, &text, item.span, &mut spec)?;
            }
        }
    }
    Ok(spec)
}

/// Adds one conda package (`name`, `name=1.2`, `name>=1.2`, `channel::name 1.2 build`).
fn conda_package(
    source: &Source,
    text: &str,
    span: Span,
    spec: &mut PythonEnvSpec,
) -> Result<(), SpecError> {
    let text = text.trim();
    let text = text.rsplit_once("::").map_or(text, |(_, rest)| rest);
    let split = text
        .find(['=', '<', '>', '!', '~', ' '])
        .unwrap_or(text.len());
    let (name, rest) = text.split_at(split);
    let name_lower = name.to_ascii_lowercase();
    let version = conda_version(rest.trim()).map_err(|m| {
        SpecError::new(source, span, format!("`{text}`: {m}"))
            .with_help("write `name`, `name=1.2`, or a pip-style range like `name>=1.2,<2`")
    })?;
    if name_lower == "python" {
        let request = match version.strip_prefix("==") {
            Some(v) => v.trim_end_matches(".*").to_owned(),
            None if version.is_empty() => String::new(),
            None => version.clone(),
        };
        if !request.is_empty() {
            spec.python = Some(Spanned::new(request, span));
        }
        return Ok(());
    }
    if let Some((_, what)) = CONDA_ONLY.iter().find(|(n, _)| *n == name_lower) {
        return Err(SpecError::new(
            source,
            span,
            format!("`{name}` is a conda-only package ({what}) with no pip equivalent"),
        )
        .with_label("cannot be installed from PyPI")
        .with_help(
            "Sluice builds environments with pip packages from PyPI: remove it (install it on the machine if it is needed), or use the pip package that provides it",
        ));
    }
    if name_lower.starts_with("r-") {
        return Err(SpecError::new(
            source,
            span,
            format!("`{name}` is an R package; R packages have no pip equivalent"),
        )
        .with_help("remove it, or run R steps with the tools on this machine's PATH"));
    }
    let pip_name = RENAMED
        .iter()
        .find(|(n, _)| *n == name_lower)
        .map_or(name, |(_, p)| *p);
    spec.requirements
        .push(Spanned::new(format!("{pip_name}{version}"), span));
    Ok(())
}

/// Turns a conda version spec into a pip one: `=1.2` → `==1.2.*`, `1.2.3` → `==1.2.3`,
/// `>=1.2` stays.
fn conda_version(rest: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Ok(String::new());
    }
    if rest.contains('|') {
        return Err("conda `|` alternatives have no pip equivalent".to_owned());
    }
    if rest.starts_with("==")
        || rest.starts_with(">=")
        || rest.starts_with("<=")
        || rest.starts_with("!=")
        || rest.starts_with("~=")
        || rest.starts_with('>')
        || rest.starts_with('<')
    {
        return Ok(rest.replace(' ', ""));
    }
    // `=1.2=build`, or `1.2 build`: the build string has no pip meaning and is dropped.
    let v = rest.trim_start_matches('=');
    let v = v.split(['=', ' ']).next().unwrap_or_default();
    if v.is_empty() {
        return Err(format!("`{rest}` is not a version"));
    }
    let v = match v.strip_suffix('*') {
        Some(head) => format!("{}.*", head.trim_end_matches('.')),
        None if v.split('.').count() < 3 => format!("{v}.*"),
        None => v.to_owned(),
    };
    Ok(format!("=={v}"))
}

/// Reads a pip requirements file: one requirement per line, `#` comments, `\` continuations.
pub fn parse_requirements(source: &Source) -> Result<PythonEnvSpec, SpecError> {
    let mut requirements = Vec::new();
    let mut offset = 0;
    let mut pending: Option<(String, Span)> = None;
    for (i, raw) in source.text.split('\n').enumerate() {
        let chars = raw.chars().count();
        let line_span = Span::new(offset, offset + chars, i + 1, 1);
        offset += chars + 1;
        let without_comment = match raw.find(" #") {
            Some(p) => &raw[..p],
            None if raw.trim_start().starts_with('#') => "",
            None => raw,
        };
        let text = without_comment.trim();
        let (text, continues) = match text.strip_suffix('\\') {
            Some(t) => (t.trim(), true),
            None => (text, false),
        };
        let (mut acc, span) = pending.take().unwrap_or((String::new(), line_span));
        if !acc.is_empty() && !text.is_empty() {
            acc.push(' ');
        }
        acc.push_str(text);
        if continues {
            pending = Some((acc, span));
            continue;
        }
        if acc.is_empty() {
            continue;
        }
        if acc.starts_with("-r ") || acc.starts_with("-c ") || acc.starts_with("--requirement") {
            return Err(SpecError::new(
                source,
                span,
                format!("`{acc}`: nested requirement files are not supported"),
            )
            .with_help("list the requirements of the nested file in this one"));
        }
        requirements.push(Spanned::new(acc, span));
    }
    if let Some((acc, span)) = pending
        && !acc.is_empty()
    {
        requirements.push(Spanned::new(acc, span));
    }
    Ok(PythonEnvSpec {
        python: None,
        requirements,
        channels: Vec::new(),
        conda: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conda(text: &str) -> Result<PythonEnvSpec, SpecError> {
        parse_conda(&Source::new("conda.yml", text), &mut Vec::new())
    }

    fn reqs(spec: &PythonEnvSpec) -> Vec<&str> {
        spec.requirements.iter().map(|r| r.value.as_str()).collect()
    }

    #[test]
    fn azure_style_conda_file() {
        let spec = conda(
            "name: train\nchannels:\n  - defaults\ndependencies:\n  - python=3.11\n  - pip=23.2\n  - numpy\n  - conda-forge::scipy>=1.10\n  - pytorch 2.1.0 py3.11_cpu\n  - pip:\n    - mlflow>=3,<4\n    - scikit-learn==1.5.*\n",
        )
        .unwrap();
        assert_eq!(spec.python.as_ref().unwrap().value, "3.11");
        assert_eq!(spec.channels, ["defaults"]);
        assert_eq!(
            reqs(&spec),
            [
                "pip==23.2.*",
                "numpy",
                "scipy>=1.10",
                "torch==2.1.0",
                "mlflow>=3,<4",
                "scikit-learn==1.5.*"
            ]
        );
        assert_eq!(spec.requirements[4].span.line, 11);
    }

    #[test]
    fn python_versions() {
        for (written, request) in [
            ("python=3.11.7", "3.11.7"),
            ("python==3.10", "3.10"),
            ("python>=3.10", ">=3.10"),
            ("python=3.12.*", "3.12"),
        ] {
            let spec = conda(&format!("dependencies:\n  - {written}\n")).unwrap();
            assert_eq!(spec.python.unwrap().value, request, "{written}");
        }
        assert!(
            conda("dependencies:\n  - python\n")
                .unwrap()
                .python
                .is_none()
        );
    }

    #[test]
    fn conda_only_packages_are_refused_by_name() {
        let err = conda("dependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n").unwrap_err();
        assert!(
            err.message
                .contains("`cudatoolkit` is a conda-only package")
        );
        assert_eq!((err.span.line, err.span.col), (3, 5));
        let err = conda("dependencies:\n  - r-ggplot2\n").unwrap_err();
        assert!(err.message.contains("R package"));
    }

    #[test]
    fn malformed_conda_files() {
        assert!(
            conda("channels: [a]\n")
                .unwrap_err()
                .message
                .contains("no `dependencies`")
        );
        assert!(
            conda("dependencies: numpy\n")
                .unwrap_err()
                .message
                .contains("must be a list")
        );
        assert!(
            conda("dependencies:\n  - foo: [a]\n")
                .unwrap_err()
                .message
                .contains("`foo`")
        );
        assert!(
            conda("dependencies:\n  - numpy=1.2|1.3\n")
                .unwrap_err()
                .message
                .contains("`|`")
        );
        assert!(
            conda("- a\n")
                .unwrap_err()
                .message
                .contains("must be a mapping")
        );
    }

    #[test]
    fn requirements_file() {
        let text =
            "# pinned\nnumpy==2.0  # comment\n\npandas>=2 \\\n  ; python_version>'3'\nmlflow\n";
        let spec = parse_requirements(&Source::new("requirements.txt", text)).unwrap();
        assert_eq!(
            reqs(&spec),
            ["numpy==2.0", "pandas>=2 ; python_version>'3'", "mlflow"]
        );
        assert_eq!(spec.requirements[1].span.line, 4);
        assert_eq!(spec.requirements[2].span.line, 6);
        let err = parse_requirements(&Source::new("r.txt", "-r other.txt\n")).unwrap_err();
        assert!(err.message.contains("nested requirement files"));
    }
}
