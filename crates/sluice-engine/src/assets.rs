//! Registering data asset versions: the bytes are copied into the workspace (so a version never
//! changes after it is registered) and hashed; or, for a path on a registered (remote)
//! datastore, the version refers to that path, as Azure ML's do, and is fetched when used.

use std::path::Path;

use indexmap::IndexMap;
use sluice_spec::IoType;
use sluice_store::{DataAssetRow, StoreError};

use crate::{EngineError, Workspace};

/// What to register.
pub struct NewData<'a> {
    pub name: &'a str,
    /// `None` takes the next integer version.
    pub version: Option<&'a str>,
    pub ty: IoType,
    pub source: &'a Path,
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
}

/// The version to register: the one asked for, which must not exist yet, or the next integer.
fn new_version(ws: &Workspace, data: &NewData<'_>) -> Result<String, EngineError> {
    let version = match data.version {
        Some(v) => v.to_owned(),
        None => ws.store().next_data_version(data.name)?,
    };
    if ws.store().get_data(data.name, Some(&version)).is_ok() {
        return Err(StoreError::AlreadyExists {
            what: sluice_store::Entity::DataAsset,
            name: format!("{}:{version}", data.name),
        }
        .into());
    }
    Ok(version)
}

/// Records a new version that refers to `uri` (`azureml://datastores/NAME/paths/PATH` on a
/// remote datastore) instead of copying it; `data.source` is its fetched copy, hashed for the
/// record. Jobs fetch it again when they use it (downloading only what changed).
///
/// # Errors
/// When the version exists, or the copy cannot be hashed, or the store refuses.
pub fn register_data_reference(
    ws: &Workspace,
    data: &NewData<'_>,
    uri: &str,
) -> Result<DataAssetRow, EngineError> {
    let version = new_version(ws, data)?;
    let hash = ws.hash_path(data.source)?;
    let row = DataAssetRow {
        name: data.name.to_owned(),
        version,
        ty: data.ty.as_str().to_owned(),
        path: uri.to_owned(),
        source_path: uri.to_owned(),
        description: data.description.clone(),
        tags: data.tags.clone(),
        content_hash: hash.hash,
        size_bytes: i64::try_from(hash.size_bytes).unwrap_or(i64::MAX),
        file_count: i64::try_from(hash.file_count).unwrap_or(i64::MAX),
        created_at: sluice_store::now(),
    };
    ws.store().insert_data(&row)?;
    Ok(row)
}

/// Copies `data.source` into the workspace and records it as a new version.
pub fn register_data(ws: &Workspace, data: &NewData<'_>) -> Result<DataAssetRow, EngineError> {
    let version = new_version(ws, data)?;
    let dir = ws.data_dir(data.name, &version);
    if dir.exists() {
        // Left over from an interrupted registration: it was never recorded.
        std::fs::remove_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
    }
    let is_file = data.source.is_file();
    let stored = if is_file {
        dir.join(data.source.file_name().unwrap_or_default())
    } else {
        dir.clone()
    };
    sluice_artifacts::copy_atomic(data.source, &stored)?;
    let hash = sluice_artifacts::hash_path(&stored)?;
    let row = DataAssetRow {
        name: data.name.to_owned(),
        version,
        ty: data.ty.as_str().to_owned(),
        path: stored.display().to_string(),
        source_path: data.source.display().to_string(),
        description: data.description.clone(),
        tags: data.tags.clone(),
        content_hash: hash.hash,
        size_bytes: i64::try_from(hash.size_bytes).unwrap_or(i64::MAX),
        file_count: i64::try_from(hash.file_count).unwrap_or(i64::MAX),
        created_at: sluice_store::now(),
    };
    let inserted = ws.store().insert_data(&row);
    if let Err(e) = inserted {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e.into());
    }
    Ok(row)
}
