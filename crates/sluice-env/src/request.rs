//! What a step asks for: an interpreter version and a requirement set, and the hash that names
//! the environment built from them.

use serde::Serialize;
use sluice_spec::{PythonEnvSpec, Source};

/// One pip requirement and where it was written (`train-conda.yml:12:7`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub text: String,
    pub origin: String,
}

/// What conda installs into every Python environment, added to a conda file's environment
/// unless the file names the package itself. `setuptools` stays below 82, the first release
/// without `pkg_resources`, which much of the ML stack still imports (`mlflow` 2.x among it).
pub const CONDA_BASE: &[(&str, &str)] = &[
    ("pip", "pip"),
    ("setuptools", "setuptools<82"),
    ("wheel", "wheel"),
];

/// The origin recorded for a [`CONDA_BASE`] requirement.
pub const CONDA_BASE_ORIGIN: &str = "added as conda would (setuptools<82 keeps `pkg_resources`)";

/// An environment to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvRequest {
    /// The Python version asked for; `None`: the machine's `python3`.
    pub python: Option<String>,
    pub requirements: Vec<Requirement>,
}

impl EnvRequest {
    /// From a parsed conda or requirements file; `source` names the file for origins. A conda
    /// file's environment also gets what conda puts in every Python environment (see
    /// [`CONDA_BASE`]).
    #[must_use]
    pub fn from_spec(source: &Source, spec: &PythonEnvSpec) -> Self {
        let mut requirements: Vec<Requirement> = spec
            .requirements
            .iter()
            .map(|r| Requirement {
                text: r.value.clone(),
                origin: format!("{}:{}:{}", source.name, r.span.line, r.span.col),
            })
            .collect();
        if spec.conda {
            for (name, text) in CONDA_BASE {
                if !requirements.iter().any(|r| project_name(&r.text) == *name) {
                    requirements.push(Requirement {
                        text: (*text).to_owned(),
                        origin: CONDA_BASE_ORIGIN.to_owned(),
                    });
                }
            }
        }
        Self {
            python: spec.python.as_ref().map(|p| p.value.clone()),
            requirements,
        }
    }

    /// The requirements Sluice added because the file is a conda file (for `environment show`).
    pub fn added(&self) -> impl Iterator<Item = &Requirement> {
        self.requirements
            .iter()
            .filter(|r| r.origin == CONDA_BASE_ORIGIN)
    }

    /// The requirement set in a canonical form: project names lower-cased with `_`/`.` as `-`
    /// (PEP 503), spaces removed outside markers, sorted, duplicates dropped.
    #[must_use]
    pub fn normalized(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .requirements
            .iter()
            .map(|r| normalize_requirement(&r.text))
            .collect();
        lines.sort();
        lines.dedup();
        lines
    }

    /// The environment's identity: blake3 of the exact interpreter version and the normalised
    /// requirement set.
    #[must_use]
    pub fn hash(&self, python_version: &str) -> String {
        let mut h = blake3::Hasher::new();
        h.update(b"sluice-env-v1\npython ");
        h.update(python_version.as_bytes());
        h.update(b"\n");
        for line in self.normalized() {
            h.update(line.as_bytes());
            h.update(b"\n");
        }
        h.finalize().to_hex().to_string()
    }

    /// The requirement written at the start of a line of `message` or named in it, for pointing
    /// at the line that broke an install.
    #[must_use]
    pub fn culprit(&self, message: &str) -> Option<&Requirement> {
        let lower = message.to_ascii_lowercase().replace('_', "-");
        // uv names the failing requirement verbatim ("you require scikit-learn==99",
        // "Failed to download and build `foo @ git+https://…`"); prefer an exact mention.
        self.requirements
            .iter()
            .find(|r| contains_word(&lower, &normalize_requirement(&r.text)))
            .or_else(|| {
                self.requirements.iter().find(|r| {
                    let name = project_name(&r.text);
                    !name.is_empty() && contains_word(&lower, &name)
                })
            })
    }
}

/// The project name at the start of a requirement, normalised (`Scikit_Learn>=1` → `scikit-learn`).
fn project_name(req: &str) -> String {
    req.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>()
        .to_ascii_lowercase()
        .replace(['_', '.'], "-")
}

fn normalize_requirement(req: &str) -> String {
    let name = project_name(req);
    let rest = &req[req
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .map_or(req.len(), |(i, _)| i)..];
    let (spec, marker) = match rest.split_once(';') {
        Some((s, m)) => (s, Some(m.trim())),
        None => (rest, None),
    };
    let spec: String = if spec.contains('@') {
        spec.trim().to_owned()
    } else {
        spec.chars().filter(|c| !c.is_whitespace()).collect()
    };
    let sep = if spec.starts_with('@') { " " } else { "" };
    match marker {
        Some(m) => format!("{name}{sep}{spec}; {m}"),
        None => format!("{name}{sep}{spec}"),
    }
}

fn contains_word(haystack: &str, word: &str) -> bool {
    haystack.match_indices(word).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-'));
        boundary(before) && boundary(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(reqs: &[&str]) -> EnvRequest {
        EnvRequest {
            python: Some("3.11".to_owned()),
            requirements: reqs
                .iter()
                .enumerate()
                .map(|(i, r)| Requirement {
                    text: (*r).to_owned(),
                    origin: format!("conda.yml:{}:7", i + 1),
                })
                .collect(),
        }
    }

    #[test]
    fn normalisation_ignores_order_case_and_spacing() {
        let a = request(&["Scikit_Learn >= 1.5", "pandas", "mlflow>=3,<4"]);
        let b = request(&["mlflow >=3, <4", "pandas", "scikit-learn>=1.5", "pandas"]);
        assert_eq!(a.normalized(), b.normalized());
        assert_eq!(a.hash("3.11.7"), b.hash("3.11.7"));
        assert_ne!(a.hash("3.11.7"), a.hash("3.11.8"));
        assert_ne!(a.hash("3.11.7"), request(&["pandas"]).hash("3.11.7"));
        assert_eq!(
            request(&["foo @ git+https://x/y.git", "numpy ; python_version > '3'"]).normalized(),
            ["foo @ git+https://x/y.git", "numpy; python_version > '3'"]
        );
    }

    #[test]
    fn a_conda_file_gets_pip_setuptools_and_wheel_unless_it_pins_them() {
        let parse = |text: &str| {
            let source = Source::new("conda.yml", text);
            let spec = sluice_spec::parse_conda(&source, &mut Vec::new()).unwrap();
            EnvRequest::from_spec(&source, &spec)
        };
        let r = parse("dependencies:\n  - python=3.11\n  - pip:\n    - mlflow==2.9.2\n");
        assert_eq!(
            r.normalized(),
            ["mlflow==2.9.2", "pip", "setuptools<82", "wheel"]
        );
        assert_eq!(r.added().count(), 3);
        let r =
            parse("dependencies:\n  - python=3.11\n  - setuptools=69.0\n  - pip:\n    - mlflow\n");
        assert!(
            r.normalized()
                .iter()
                .any(|l| l.starts_with("setuptools==69")),
            "{:?}",
            r.normalized()
        );
        assert_eq!(r.added().count(), 2);
        // A requirements file is taken as written.
        let source = Source::new("requirements.txt", "pandas\n");
        let spec = sluice_spec::parse_requirements(&source).unwrap();
        assert_eq!(
            EnvRequest::from_spec(&source, &spec).normalized(),
            ["pandas"]
        );
    }

    #[test]
    fn culprit_is_found_in_installer_messages() {
        let r = request(&[
            "pandas",
            "scikit-learn==99",
            "foo @ git+https://github.com/e/foo.git",
        ]);
        let msg = "Because there is no version of scikit-learn==99 and you require scikit-learn==99, we can conclude that your requirements are unsatisfiable.";
        assert_eq!(r.culprit(msg).unwrap().origin, "conda.yml:2:7");
        let msg = "error: Failed to download and build `foo @ git+https://github.com/e/foo.git`";
        assert_eq!(
            r.culprit(msg).unwrap().text,
            "foo @ git+https://github.com/e/foo.git"
        );
        assert!(r.culprit("network unreachable").is_none());
        // `pandas` is not a word inside `geopandas`.
        assert!(request(&["pandas"]).culprit("geopandas failed").is_none());
    }
}
