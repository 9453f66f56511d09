//! Azure ML's curated environments, shipped in the binary as data: each maps to the Python
//! version and pinned pip requirements of Azure's published definition (the conda files under
//! `curated/`, each naming where it came from), so that `azureml:AzureML-sklearn-1.0-...@latest`
//! and `azureml://registries/azureml/environments/sklearn-1.5/labels/latest` build on this
//! machine. GPU images map to their CPU builds; the conda file says what was changed.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sluice_spec::Source;

mod files {
    include!(concat!(env!("OUT_DIR"), "/curated_files.rs"));
}

/// One curated environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Curated {
    /// The registry name: `azureml://registries/azureml/environments/NAME`.
    pub name: String,
    /// The version of Azure's definition the conda file was taken from.
    #[serde(default)]
    pub latest_version: Option<u64>,
    /// The Python version of the image.
    pub python: String,
    /// The conda file under `curated/`.
    pub conda_file: String,
    /// The workspace names (`azureml:AzureML-...@latest`) that map to this definition.
    #[serde(default)]
    pub workspace_names: Vec<String>,
    /// True when Azure's image is a CUDA image and Sluice builds its CPU equivalent.
    #[serde(default)]
    pub gpu: bool,
}

impl Curated {
    /// The conda file's text.
    #[must_use]
    pub fn conda_text(&self) -> &'static str {
        files::FILES
            .iter()
            .find(|(n, _)| *n == self.conda_file)
            .map_or("", |(_, t)| t)
    }

    /// The conda file as a source for parsing, named `curated/FILE`.
    #[must_use]
    pub fn source(&self) -> Source {
        Source::new(format!("curated/{}", self.conda_file), self.conda_text())
    }

    /// What was changed to run a GPU image on a CPU (the file's `# CPU mapping:` lines).
    #[must_use]
    pub fn cpu_mapping(&self) -> Vec<String> {
        self.conda_text()
            .lines()
            .filter_map(|l| l.trim().strip_prefix('#'))
            .map(str::trim)
            .skip_while(|l| !l.starts_with("CPU mapping"))
            .take_while(|l| !l.is_empty())
            .map(|l| l.trim_start_matches("CPU mapping:").trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Every name this entry answers to.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.workspace_names.iter().map(String::as_str))
    }
}

#[derive(Deserialize)]
struct Catalog {
    environments: Vec<Curated>,
}

/// The whole catalog, in the order of `curated/catalog.yml`.
#[must_use]
pub fn catalog() -> &'static [Curated] {
    static CATALOG: OnceLock<Vec<Curated>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let text = files::FILES
            .iter()
            .find(|(n, _)| *n == "catalog.yml")
            .map_or("environments: []", |(_, t)| t);
        let source = Source::new("curated/catalog.yml", text);
        // Shipped data, checked by this crate's tests: a broken catalog is a bug.
        let node = sluice_spec::yaml::parse(&source, &mut Vec::new())
            .unwrap_or_else(|e| panic!("the curated catalog does not parse: {e}"));
        let catalog: Catalog = serde_json::from_value(node.to_json())
            .unwrap_or_else(|e| panic!("the curated catalog is malformed: {e}"));
        catalog.environments
    })
}

/// The curated environment called `name` (registry or workspace name, any case).
#[must_use]
pub fn lookup(name: &str) -> Option<&'static Curated> {
    catalog()
        .iter()
        .find(|c| c.names().any(|n| n.eq_ignore_ascii_case(name)))
}

/// The catalog names closest to `name`, best first (at most `n`).
#[must_use]
pub fn nearest(name: &str, n: usize) -> Vec<&'static str> {
    let lower = name.to_ascii_lowercase();
    let stripped = lower.trim_start_matches("azureml-");
    let mut scored: Vec<(f64, &'static str)> = catalog()
        .iter()
        .flat_map(Curated::names)
        .map(|c| {
            let cl = c.to_ascii_lowercase();
            let score = strsim::jaro_winkler(stripped, cl.trim_start_matches("azureml-"));
            (score, c)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_entry_has_a_conda_file_that_parses_with_its_python() {
        assert!(catalog().len() >= 5, "the catalog is nearly empty");
        let mut seen = std::collections::HashSet::new();
        for c in catalog() {
            for n in c.names() {
                assert!(
                    seen.insert(n.to_ascii_lowercase()),
                    "`{n}` is in the catalog twice"
                );
            }
            assert!(
                !c.conda_text().is_empty(),
                "{}: no file {}",
                c.name,
                c.conda_file
            );
            let spec = sluice_spec::parse_conda(&c.source(), &mut Vec::new())
                .unwrap_or_else(|e| panic!("{}: {e}", c.conda_file));
            assert_eq!(
                spec.python.as_ref().map(|p| p.value.as_str()),
                Some(c.python.as_str()),
                "{}: the catalog and the conda file disagree on Python",
                c.name
            );
            assert!(!spec.requirements.is_empty(), "{}: no packages", c.name);
            if c.gpu {
                assert!(
                    !c.cpu_mapping().is_empty(),
                    "{}: GPU image without a CPU mapping note",
                    c.name
                );
            }
        }
    }

    #[test]
    fn names_resolve_in_any_case_and_unknown_names_get_neighbours() {
        let first = &catalog()[0];
        assert_eq!(
            lookup(&first.name.to_ascii_uppercase()).unwrap().name,
            first.name
        );
        let sk = lookup("sklearn-1.5").expect("sklearn-1.5 is curated");
        assert!(sk.python.starts_with('3'));
        assert!(lookup("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu").is_some());
        assert!(lookup("no-such-environment").is_none());
        let near = nearest("AzureML-sklearn-1.9-ubuntu20.04-py38-cpu", 3);
        assert!(near.iter().any(|n| n.contains("sklearn")), "{near:?}");
    }
}
