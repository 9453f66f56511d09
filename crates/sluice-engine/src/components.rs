//! Registered components (`sluice component create -f component.yml`): the component file and
//! every local file it refers to are copied into the workspace, keeping their places relative to
//! each other, so that a version never changes and its `code: ../src` still resolves.

use std::path::{Path, PathBuf};

use serde_json::json;
use sluice_spec::{AssetLookup, ComponentInfo, VersionSel};
use sluice_store::{ComponentRow, StoreError};

use crate::{EngineError, Workspace};

impl AssetLookup for Workspace {
    fn component(&self, name: &str, version: &VersionSel) -> Result<PathBuf, String> {
        let v = match version {
            VersionSel::Latest => None,
            VersionSel::Exact(v) => Some(v.as_str()),
        };
        let found = self.store().get_component(name, v);
        match found {
            Ok(row) => Ok(PathBuf::from(row.yaml_path)),
            Err(StoreError::NotFound { .. }) => {
                let known = self.store().list_components(Some(name)).unwrap_or_default();
                Err(if known.is_empty() {
                    format!("component `{name}` is not registered")
                } else {
                    format!(
                        "component `{name}{version}` is not registered; its versions are: {}",
                        known
                            .iter()
                            .map(|r| r.version.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The deepest folder holding every path.
fn common_ancestor(paths: &[PathBuf]) -> PathBuf {
    let mut iter = paths.iter();
    let Some(first) = iter.next() else {
        return PathBuf::from("/");
    };
    let mut common: PathBuf = first.clone();
    for p in iter {
        while !p.starts_with(&common) {
            if !common.pop() {
                return PathBuf::from("/");
            }
        }
    }
    common
}

/// A component's files as registration stores them: their hash, their paths, the YAML's path.
struct Staged {
    hash: sluice_artifacts::ContentHash,
    stored: Vec<String>,
    rel_yaml: PathBuf,
}

/// Copies the component's YAML and the files it names into `staging/tree` (paths relative to
/// the folder holding them all) and hashes them.
fn stage(
    ws: &Workspace,
    file: &Path,
    info: &ComponentInfo,
    staging: &Path,
) -> Result<Staged, EngineError> {
    let yaml_dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut anchors = vec![yaml_dir];
    for f in &info.files {
        anchors.push(if f.is_dir() {
            f.clone()
        } else {
            f.parent().unwrap_or(Path::new("/")).to_path_buf()
        });
    }
    let base = common_ancestor(&anchors);
    let tree = staging.join("tree");
    let mut stored = Vec::new();
    for path in std::iter::once(file).chain(info.files.iter().map(PathBuf::as_path)) {
        let rel = path.strip_prefix(&base).unwrap_or(path);
        let dest = tree.join(rel);
        if path.is_dir() {
            ws.code_snapshot(path)?.copy_to(&dest)?;
        } else if !dest.exists() {
            sluice_artifacts::copy_tree(path, &dest)?;
        }
        stored.push(rel.display().to_string());
    }
    let hash = sluice_artifacts::hash_path(&tree)?;
    let rel_yaml = file.strip_prefix(&base).unwrap_or(file).to_path_buf();
    Ok(Staged {
        hash,
        stored,
        rel_yaml,
    })
}

/// The content hash registering `info` (read from `file`) would record, so that a plan can
/// tell a version's files from other ones; staged in the system's temporary folder, nothing
/// written to the workspace.
pub fn component_content_hash(
    ws: &Workspace,
    file: &Path,
    info: &ComponentInfo,
) -> Result<String, EngineError> {
    let file = std::path::absolute(file).map_err(|e| EngineError::io(file, e))?;
    let staging = sluice_artifacts::temp_sibling(&std::env::temp_dir(), "sluice-component");
    let staged = stage(ws, &file, info, &staging);
    let _ = std::fs::remove_dir_all(&staging);
    Ok(staged?.hash.hash)
}

/// Registers `info` (read from `file`) as `name:version`, created by `who`. Registering the
/// same content again under an existing version returns that version; other content is
/// refused.
pub fn register_component(
    ws: &Workspace,
    file: &Path,
    info: &ComponentInfo,
    name: &str,
    version: Option<&str>,
    who: &str,
) -> Result<(ComponentRow, bool), EngineError> {
    let file = std::path::absolute(file).map_err(|e| EngineError::io(file, e))?;
    // Stage everything, hash it, and only then decide the version.
    let staging = ws
        .root()
        .join("components")
        .join(format!(".staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let staged = stage(ws, &file, info, &staging);
    let Staged {
        hash,
        stored,
        rel_yaml,
    } = match staged {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let result = (|| {
        if let Some(v) = version
            && let Ok(existing) = ws.store().get_component(name, Some(v))
        {
            if existing.content_hash == hash.hash {
                return Ok((existing, false));
            }
            return Err(StoreError::AlreadyExists {
                what: sluice_store::Entity::Component,
                name: format!("{name}:{v} with other content"),
            }
            .into());
        }
        let version = match version {
            Some(v) => v.to_owned(),
            None => ws.store().next_component_version(name)?,
        };
        let dir = ws.root().join("components").join(name).join(&version);
        if dir.exists() {
            // Left over from an interrupted registration: it was never recorded.
            std::fs::remove_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
        }
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| EngineError::io(parent, e))?;
        }
        std::fs::rename(&staging, &dir).map_err(|e| EngineError::io(&dir, e))?;
        let row = ComponentRow {
            name: name.to_owned(),
            version,
            ty: info.kind.to_owned(),
            display_name: info.display_name.clone(),
            description: info.description.clone(),
            yaml_path: dir.join("tree").join(&rel_yaml).display().to_string(),
            source_path: file.display().to_string(),
            spec: json!({
                "inputs": info.inputs.iter().map(|(n, t)| (n.clone(), json!(t.as_str()))).collect::<serde_json::Map<_, _>>(),
                "outputs": info.outputs.iter().map(|(n, t)| (n.clone(), json!(t.as_str()))).collect::<serde_json::Map<_, _>>(),
                "tags": info.tags,
                "jobs": info.steps,
                "files": stored,
            }),
            content_hash: hash.hash.clone(),
            created_by: who.to_owned(),
            created_at: sluice_store::now(),
        };
        if let Err(e) = ws.store().insert_component(&row) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        Ok((row, true))
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_ancestor_keeps_relative_places() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            common_ancestor(&[p("/r/mlops/components"), p("/r/src/train"), p("/r/env")]),
            p("/r")
        );
        assert_eq!(common_ancestor(&[p("/r/a"), p("/r/a/b")]), p("/r/a"));
        assert_eq!(common_ancestor(&[p("/a"), p("/b")]), p("/"));
    }
}
