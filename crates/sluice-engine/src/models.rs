//! Registering model files from an Azure model YAML (`sluice model create`), and finding the
//! files of a registered version for a job's model input.

use std::path::PathBuf;

use sluice_store::registry::ModelVersion;

use crate::Workspace;

/// The local folder (or file) holding a version's files, if they are in this workspace or on
/// this machine; files in a remote artifact store are fetched into the workspace's cache once
/// (a version's files never change).
#[must_use]
pub fn version_files(ws: &Workspace, mv: &ModelVersion) -> Option<PathBuf> {
    let location = if mv.storage_location.is_empty() {
        &mv.source
    } else {
        &mv.storage_location
    };
    let store = ws.artifacts().ok()?;
    let path = if let (None, Some(key)) = (store.local_root(), Workspace::artifact_key(location)) {
        return fetch_cached(ws, &store, &key);
    } else if let Some(p) = ws.artifact_path(location) {
        p
    } else if let Some(rest) = location.strip_prefix("file://") {
        PathBuf::from(rest)
    } else if location.starts_with('/') {
        PathBuf::from(location)
    } else {
        return None;
    };
    path.exists().then_some(path)
}

/// Where the copy of the artifact folder at `key` is kept: `cache/artifacts/KEY` on the
/// workspace's shared path.
fn cached_path(ws: &Workspace, key: &str) -> PathBuf {
    key.split('/')
        .filter(|p| !p.is_empty())
        .fold(ws.cache_dir("artifacts"), |p, part| p.join(part))
}

/// A remote artifact folder's copy in the shared `cache/artifacts/KEY` (fetched beside, renamed
/// into place once whole; `None` when there is nothing at `key`).
fn fetch_cached(
    ws: &Workspace,
    store: &sluice_artifacts::store::Artifacts,
    key: &str,
) -> Option<PathBuf> {
    let dest = cached_path(ws, key);
    if dest.exists() {
        return Some(dest);
    }
    let tmp = dest.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (count, _) = sluice_artifacts::store::block_on(store.get_dir(key, &tmp)).ok()?;
    if count == 0 {
        let _ = std::fs::remove_dir_all(&tmp);
        return None;
    }
    std::fs::rename(&tmp, &dest).ok()?;
    Some(dest)
}

/// What `sluice model create` registers.
pub struct NewModel<'a> {
    pub name: &'a str,
    /// The version the file names; `None` takes the next one.
    pub version: Option<&'a str>,
    /// `mlflow_model`, `custom_model` or `triton_model`.
    pub ty: &'a str,
    /// The model's file or folder.
    pub path: &'a std::path::Path,
    pub description: Option<&'a str>,
    pub tags: &'a indexmap::IndexMap<String, String>,
}

/// Copies the model's files into the workspace's artifact store (content-addressed, so the
/// same files are stored once) and registers a version through the governed registry: audited,
/// and refused where the model's promotion policy gates registration. Returns the version and
/// whether it was created (`false`: the named version already holds these files).
pub fn register_model(
    ws: &Workspace,
    actor: &sluice_store::governance::Actor,
    new: &NewModel<'_>,
) -> Result<(ModelVersion, bool), crate::EngineError> {
    use sluice_store::StoreError;
    use sluice_store::tracking::KeyValue;

    let hash = sluice_artifacts::hash_path(new.path)?;
    let digest = hash.hash.trim_start_matches("blake3:");
    let rel = format!("registered/{}/{}", new.name, &digest[..16]);
    let dir = ws.artifact_root().join(&rel);
    let artifacts = ws.artifacts()?;
    if artifacts.local_root().is_none() {
        // A remote store: the files go there (each object visible once whole; an interrupted
        // upload is completed by the next registration of the same files).
        let target = if new.path.is_file() {
            format!(
                "{rel}/{}",
                new.path.file_name().unwrap_or_default().to_string_lossy()
            )
        } else {
            rel.clone()
        };
        // The key is the files' hash: what is there with the right size is these bytes.
        sluice_artifacts::store::block_on(artifacts.put_tree(&target, new.path, true))
            .map_err(|e| crate::EngineError::Datastore(e.to_string()))?;
    } else if !dir.exists() {
        let target = if new.path.is_file() {
            dir.join(new.path.file_name().unwrap_or_default())
        } else {
            dir.clone()
        };
        if new.path.is_file() {
            let tmp = ws
                .artifact_root()
                .join(format!("registered/.tmp-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            sluice_artifacts::copy_tree(
                new.path,
                &tmp.join(target.file_name().unwrap_or_default()),
            )?;
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent).map_err(|e| crate::EngineError::io(parent, e))?;
            }
            std::fs::rename(&tmp, &dir).map_err(|e| crate::EngineError::io(&dir, e))?;
        } else {
            sluice_artifacts::copy_atomic(new.path, &dir)?;
        }
    }
    let source = format!("mlflow-artifacts:/{rel}");
    let mut store = ws.store();
    if let Some(v) = new.version {
        match store.get_model_version(new.name, v) {
            Ok(existing) if existing.source == source => return Ok((existing, false)),
            Ok(_) => {
                return Err(StoreError::AlreadyExists {
                    what: sluice_store::Entity::ModelVersion,
                    name: format!("{}:{v} with other files", new.name),
                }
                .into());
            }
            Err(StoreError::NotFound { .. } | StoreError::Invalid(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let next = store
            .latest_model_version(new.name)?
            .map_or(1, |mv| mv.version.parse::<u64>().unwrap_or(0) + 1);
        if v.parse::<u64>().ok() != Some(next) {
            return Err(StoreError::Invalid(format!(
                "model `{}` can register version {next} next, not `{v}`: versions are numbered in order (leave `version` out to take the next)",
                new.name
            ))
            .into());
        }
    }
    let exists = store.get_registered_model(new.name).is_ok();
    let mut governed = store.governed(actor);
    if !exists {
        governed.create_registered_model(new.name, &[], None)?;
    }
    let mut tags: Vec<KeyValue> = new
        .tags
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    tags.push(KeyValue {
        key: "azureml.model_type".into(),
        value: new.ty.to_owned(),
    });
    let created = governed.create_model_version(&sluice_store::registry::NewModelVersion {
        name: new.name,
        source: &source,
        run_id: None,
        tags: &tags,
        run_link: None,
        description: new.description,
        model_id: None,
    })?;
    Ok((created, true))
}
