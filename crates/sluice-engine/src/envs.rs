//! Python environments of command steps: from a registered environment or an inline one to an
//! [`EnvRequest`], and from a build to the store.

use sluice_env::{Builder, Built, EnvRequest};
use sluice_spec::{EnvironmentSpec, Source, SpecError, Warning, parse_conda, parse_requirements};
use sluice_store::{EnvBuildRow, EnvironmentRow};

use crate::{EngineError, Workspace};

/// The builder for this workspace: environments under `envs/`, `uv` under `tools/`, on the
/// workspace's shared path (so that every node runs the one build).
#[must_use]
pub fn builder(ws: &Workspace) -> Builder {
    Builder {
        envs_dir: ws.shared_root().join("envs"),
        tools_dir: ws.shared_root().join("tools"),
    }
}

/// What a registered environment asks for: `Some` when it has a conda file or requirements;
/// `None` for an image-only environment (whose steps run with the host's tools).
pub fn request_from_row(row: &EnvironmentRow) -> Result<Option<EnvRequest>, SpecError> {
    let written = |key: &str| {
        row.spec
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let mut warnings = Vec::new();
    if let Some(text) = &row.conda_file {
        let name = written("conda_file")
            .unwrap_or_else(|| format!("conda file of {}:{}", row.name, row.version));
        let source = Source::new(name, text.as_str());
        let spec = parse_conda(&source, &mut warnings)?;
        return Ok(Some(EnvRequest::from_spec(&source, &spec)));
    }
    if let Some(text) = written("requirements") {
        let name = written("requirements_file").unwrap_or_else(|| "requirements.txt".to_owned());
        let source = Source::new(name, text);
        let mut spec = parse_requirements(&source)?;
        spec.python = written("python").map(|p| sluice_spec::Spanned::new(p, source.end_span()));
        return Ok(Some(EnvRequest::from_spec(&source, &spec)));
    }
    Ok(None)
}

/// What a curated environment of the catalog asks for.
pub fn request_from_curated(
    curated: &sluice_env::curated::Curated,
) -> Result<EnvRequest, SpecError> {
    let source = curated.source();
    let spec = parse_conda(&source, &mut Vec::new())?;
    Ok(EnvRequest::from_spec(&source, &spec))
}

/// What an environment written inline in a component asks for.
pub fn request_from_spec(
    spec: &EnvironmentSpec,
    warnings: &mut Vec<Warning>,
) -> Result<Option<EnvRequest>, SpecError> {
    let Some((path, text)) = &spec.conda_file else {
        return Ok(None);
    };
    let source = Source::new(path.value.as_str(), text.as_str());
    let parsed = parse_conda(&source, warnings)?;
    Ok(Some(EnvRequest::from_spec(&source, &parsed)))
}

/// Records a build so that `environment show`, `job show` and lineage can name its lock.
pub fn record_build(ws: &Workspace, built: &Built) -> Result<(), EngineError> {
    let row = EnvBuildRow {
        hash: built.hash.clone(),
        python: built.python.clone(),
        requirements: built.requirements.clone(),
        lock: built.lock.lines().map(str::to_owned).collect(),
        path: built.venv.display().to_string(),
        build_seconds: built.build_seconds,
        built_at: sluice_store::now(),
    };
    ws.store().record_env_build(&row)?;
    Ok(())
}
