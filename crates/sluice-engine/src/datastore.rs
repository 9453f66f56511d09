//! Datastores: what `azureml://datastores/NAME/paths/PATH` names.
//!
//! A datastore registered with `sluice datastore create` (Azure Blob, ADLS Gen2, S3) is remote:
//! an input on it is fetched into the workspace's cache ([`Datastore::materialize`]), and only
//! objects that changed since the last fetch (by their `ETag`) are downloaded again; an output
//! with such a `path:` is written to a local staging folder and uploaded when its step completes
//! ([`Datastore::publish`]), skipping objects the store already holds unchanged. Any other name
//! is a folder of the workspace (`.sluice/datastores/NAME`), as before.
//!
//! A datastore's secrets (from its YAML) are kept in the workspace's credentials folder
//! (`.sluice/secrets/datastores/NAME.json`, readable by its owner only), never in the store, the
//! audit log, logs or `job show`; a datastore without them signs with what the environment gives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_artifacts::store::{
    Artifacts, AzureLocation, Credentials, FileInfo, Location, S3Location, StoreError,
};
use sluice_spec::{DatastoreCredentials, DatastoreKind, DatastoreSpec};
use sluice_store::DatastoreRow;

use crate::{EngineError, Workspace};

/// A datastore's secrets as kept in the workspace's credentials folder.
#[derive(Default, Serialize, Deserialize)]
struct Secrets {
    #[serde(skip_serializing_if = "Option::is_none")]
    account_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sas_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_access_key: Option<String>,
}

impl From<&DatastoreCredentials> for Secrets {
    fn from(c: &DatastoreCredentials) -> Self {
        Self {
            account_key: c.account_key.clone(),
            sas_token: c.sas_token.clone(),
            tenant_id: c.tenant_id.clone(),
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.clone(),
        }
    }
}

fn secrets_path(ws: &Workspace, name: &str) -> PathBuf {
    ws.root()
        .join("secrets")
        .join("datastores")
        .join(format!("{name}.json"))
}

/// Records a datastore (`sluice datastore create -f datastore.yml`): its place in the store, its
/// secrets (if the file has them) in the workspace's credentials folder. Returns the row and
/// whether anything changed.
///
/// # Errors
/// When the store or the credentials file cannot be written.
pub fn create_datastore(
    ws: &Workspace,
    spec: &DatastoreSpec,
) -> Result<(DatastoreRow, bool), EngineError> {
    let row = datastore_row(spec);
    let secrets_changed = write_secrets(ws, &row.name, &spec.credentials)?;
    let changed = ws.store().upsert_datastore(&row)?;
    let row = ws.store().get_datastore(&row.name)?.unwrap_or(row);
    Ok((row, changed || secrets_changed))
}

/// Deletes a datastore's definition and its secrets file; whether it existed.
pub fn delete_datastore(ws: &Workspace, name: &str) -> Result<bool, EngineError> {
    let existed = ws.store().delete_datastore(name)?;
    let path = secrets_path(ws, name);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(existed),
        Err(e) => Err(EngineError::io(&path, e)),
    }
}

/// The stored form of a datastore definition (its secrets apart).
#[must_use]
pub fn datastore_row(spec: &DatastoreSpec) -> DatastoreRow {
    // The Azure types as Azure shows them: the endpoint and protocol with their defaults.
    let azure = |account: &str,
                 key: &str,
                 container: &str,
                 endpoint: &Option<String>,
                 protocol: &Option<String>| {
        let mut v = serde_json::Map::new();
        v.insert("account_name".into(), account.into());
        v.insert(key.into(), container.into());
        let endpoint = endpoint
            .clone()
            .unwrap_or_else(|| "core.windows.net".into());
        v.insert("endpoint".into(), endpoint.into());
        let protocol = protocol.clone().unwrap_or_else(|| "https".into());
        v.insert("protocol".into(), protocol.into());
        serde_json::Value::Object(v)
    };
    let settings = match &spec.kind {
        DatastoreKind::AzureBlob {
            account_name,
            container_name,
            endpoint,
            protocol,
        } => azure(
            account_name,
            "container_name",
            container_name,
            endpoint,
            protocol,
        ),
        DatastoreKind::AzureDataLakeGen2 {
            account_name,
            filesystem,
            endpoint,
            protocol,
        } => azure(account_name, "filesystem", filesystem, endpoint, protocol),
        DatastoreKind::S3 {
            bucket,
            endpoint,
            region,
        } => serde_json::json!({
            "bucket": bucket,
            "endpoint": endpoint,
            "region": region,
        }),
    };
    let now = jiff::Timestamp::now().to_string();
    DatastoreRow {
        name: spec.name.value.clone(),
        ty: spec.kind.type_name().to_owned(),
        settings,
        credential: spec.credentials.kind().to_owned(),
        description: spec.description.clone(),
        tags: spec.tags.clone(),
        created_at: now.clone(),
        updated_at: now,
    }
}

/// What defining `spec` would change: the stored definition as it is now (`None`: a new
/// datastore), the one `spec` makes, and whether its secrets file would change.
///
/// # Errors
/// When the store cannot be read.
pub fn datastore_changes(
    ws: &Workspace,
    spec: &DatastoreSpec,
) -> Result<(Option<DatastoreRow>, DatastoreRow, bool), EngineError> {
    let row = datastore_row(spec);
    let existing = ws.store().get_datastore(&row.name)?;
    let old = std::fs::read(secrets_path(ws, &row.name)).ok();
    let secrets_change = if spec.credentials.is_empty() {
        old.is_some()
    } else {
        let bytes =
            serde_json::to_vec_pretty(&Secrets::from(&spec.credentials)).unwrap_or_default();
        old.as_deref() != Some(bytes.as_slice())
    };
    Ok((existing, row, secrets_change))
}

/// Writes (or, without credentials, removes) the datastore's secrets file, readable by its
/// owner only, replaced whole. Whether it changed.
fn write_secrets(
    ws: &Workspace,
    name: &str,
    credentials: &DatastoreCredentials,
) -> Result<bool, EngineError> {
    let path = secrets_path(ws, name);
    let old = std::fs::read(&path).ok();
    if credentials.is_empty() {
        if old.is_some() {
            std::fs::remove_file(&path).map_err(|e| EngineError::io(&path, e))?;
        }
        return Ok(old.is_some());
    }
    let bytes = serde_json::to_vec_pretty(&Secrets::from(credentials))
        .map_err(|e| EngineError::io(&path, std::io::Error::other(e)))?;
    if old.as_deref() == Some(bytes.as_slice()) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(ws.root());
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    let tmp = dir.join(format!(".{name}.json.{}", std::process::id()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| EngineError::io(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| EngineError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| EngineError::io(&path, e))?;
    Ok(true)
}

/// A datastore as inputs and outputs use it.
#[derive(Debug)]
pub struct Datastore {
    name: String,
    /// `None`: a folder of the workspace.
    remote: Option<Artifacts>,
    local: PathBuf,
    cache: PathBuf,
}

/// What fetching a datastore path did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Materialized {
    /// The local file or folder that holds the path's objects.
    pub local: PathBuf,
    pub files: u64,
    /// Objects downloaded now (the others were in the cache, unchanged).
    pub downloaded: u64,
    pub bytes_downloaded: u64,
}

/// What the cache knows about the objects fetched for one path.
#[derive(Default, Serialize, Deserialize)]
struct Manifest {
    /// Whether the path is one object (a file) rather than a folder.
    file: bool,
    /// Object path (relative to the datastore path) → (size, version).
    objects: BTreeMap<String, (u64, Option<String>)>,
}

/// A store failure; callers say which datastore path it was about.
fn store_error(e: &StoreError) -> EngineError {
    EngineError::Datastore(e.to_string())
}

impl Workspace {
    /// The datastore `name`: a registered one (remote), else the workspace's folder of that name.
    ///
    /// # Errors
    /// When the store cannot be read, or a registered datastore cannot be configured.
    pub fn datastore(&self, name: &str) -> Result<Datastore, EngineError> {
        let local = self.datastore_dir(name);
        let cache = self.cache_dir("datastores").join(name);
        let Some(row) = self.store().get_datastore(name)? else {
            return Ok(Datastore {
                name: name.to_owned(),
                remote: None,
                local,
                cache,
            });
        };
        let mut credentials = Credentials::from_env();
        if let Ok(text) = std::fs::read(secrets_path(self, name))
            && let Ok(s) = serde_json::from_slice::<Secrets>(&text)
        {
            credentials = Credentials {
                access_key_id: s.access_key_id,
                secret_access_key: s.secret_access_key,
                session_token: None,
                azure_account_key: s.account_key,
                azure_sas_token: s.sas_token,
                azure_tenant_id: s.tenant_id,
                azure_client_id: s.client_id,
                azure_client_secret: s.client_secret,
                ..credentials
            };
        }
        let setting = |k: &str| {
            row.settings
                .get(k)
                .and_then(serde_json::Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let azure = |container: Option<String>| {
            let endpoint = setting("endpoint").map(|e| {
                if e.contains("://") || setting("protocol").as_deref() != Some("http") {
                    e
                } else {
                    format!(
                        "http://{}.blob.{e}",
                        setting("account_name").unwrap_or_default()
                    )
                }
            });
            Location::Azure(AzureLocation {
                account: setting("account_name").unwrap_or_default(),
                container: container.unwrap_or_default(),
                prefix: String::new(),
                endpoint,
            })
        };
        let location = match row.ty.as_str() {
            "azure_blob" => azure(setting("container_name")),
            "azure_data_lake_gen2" => azure(setting("filesystem")),
            "s3" => {
                if let Some(region) = setting("region") {
                    credentials.region = Some(region);
                }
                Location::S3(S3Location {
                    bucket: setting("bucket").unwrap_or_default(),
                    prefix: String::new(),
                    endpoint: setting("endpoint"),
                })
            }
            other => {
                return Err(EngineError::Datastore(format!(
                    "datastore `{name}` has type `{other}`, which this version cannot use"
                )));
            }
        };
        let remote = Artifacts::connect(&location, &credentials)
            .map_err(|e| EngineError::Datastore(format!("datastore `{name}`: {e}")))?;
        Ok(Datastore {
            name: name.to_owned(),
            remote: Some(remote),
            local,
            cache,
        })
    }
}

/// A path's parts, without empty, `.` or `..` ones.
fn parts(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
}

fn under(base: &Path, path: &str) -> PathBuf {
    parts(path).fold(base.to_path_buf(), |p, part| p.join(part))
}

impl Datastore {
    /// Whether the objects are elsewhere (a registered datastore) rather than in the workspace.
    #[must_use]
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where an output bound for `path` is written before [`Datastore::publish`] uploads it (for
    /// a workspace folder, the place itself).
    #[must_use]
    pub fn staging(&self, path: &str) -> PathBuf {
        if self.remote.is_some() {
            under(&self.cache.join("staging"), path)
        } else {
            under(&self.local, path)
        }
    }

    /// The local file or folder holding the objects at `path`: for a workspace folder, the
    /// folder itself; for a remote datastore, a cached copy, with only the objects that
    /// changed since the last fetch downloaded (and objects gone from the store removed).
    ///
    /// # Errors
    /// When nothing is at `path`, the store cannot be reached, or the cache cannot be written.
    pub fn materialize(&self, path: &str) -> Result<Materialized, EngineError> {
        let Some(remote) = &self.remote else {
            let local = under(&self.local, path);
            return Ok(Materialized {
                local,
                files: 0,
                downloaded: 0,
                bytes_downloaded: 0,
            });
        };
        let key: String = parts(path).collect::<Vec<_>>().join("/");
        let digest = blake3::hash(key.as_bytes()).to_hex();
        let slot = self.cache.join("fetched").join(&digest[..16]);
        let manifest_path = slot.join("manifest.json");
        let old: Manifest = std::fs::read(&manifest_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let data = slot.join("data");
        let (file, listing) = sluice_artifacts::store::block_on(async {
            if let Some(one) = remote.head(&key).await? {
                let name = key.rsplit('/').next().unwrap_or_default().to_owned();
                return Ok((true, vec![FileInfo { path: name, ..one }]));
            }
            Ok((false, remote.list_files(&key).await?))
        })
        .map_err(|e| store_error(&e))?;
        if listing.is_empty() {
            return Err(EngineError::Datastore(format!(
                "nothing is stored at azureml://datastores/{}/paths/{path}",
                self.name
            )));
        }
        let mut new = Manifest {
            file,
            objects: BTreeMap::new(),
        };
        let mut todo = Vec::new();
        for f in &listing {
            let target = under(&data, &f.path);
            let same = old.file == file
                && old.objects.get(&f.path) == Some(&(f.size, f.version.clone()))
                && std::fs::metadata(&target).is_ok_and(|m| m.len() == f.size);
            if !same {
                todo.push((f.path.clone(), target));
            }
            new.objects
                .insert(f.path.clone(), (f.size, f.version.clone()));
        }
        // Objects gone from the store leave the copy too.
        if old.file == file {
            for gone in old.objects.keys().filter(|k| !new.objects.contains_key(*k)) {
                let _ = std::fs::remove_file(under(&data, gone));
            }
        } else {
            let _ = std::fs::remove_dir_all(&data);
        }
        let mut bytes = 0;
        sluice_artifacts::store::block_on(async {
            for (rel, target) in &todo {
                let remote_key = if file {
                    key.clone()
                } else {
                    sluice_artifacts::store::join(&key, rel)
                };
                bytes += remote.get_file(&remote_key, target).await?;
            }
            Ok::<_, StoreError>(())
        })
        .map_err(|e| store_error(&e))?;
        let text = serde_json::to_vec(&new).unwrap_or_default();
        std::fs::create_dir_all(&slot).map_err(|e| EngineError::io(&slot, e))?;
        std::fs::write(&manifest_path, text).map_err(|e| EngineError::io(&manifest_path, e))?;
        let local = if file {
            under(&data, &listing[0].path)
        } else {
            std::fs::create_dir_all(&data).map_err(|e| EngineError::io(&data, e))?;
            data
        };
        Ok(Materialized {
            local,
            files: listing.len() as u64,
            downloaded: todo.len() as u64,
            bytes_downloaded: bytes,
        })
    }

    /// Uploads the local file or folder `local` to `path` (nothing for a workspace folder, which
    /// the step wrote in place). With `skip_present` (a reused output, whose bytes are the ones
    /// published before), objects the store already holds at that path with the same size are
    /// left alone. Returns (objects uploaded, bytes).
    ///
    /// # Errors
    /// When `local` cannot be read or the store refuses or cannot be reached.
    pub async fn publish(
        &self,
        local: &Path,
        path: &str,
        skip_present: bool,
    ) -> Result<(u64, u64), EngineError> {
        let Some(remote) = &self.remote else {
            return Ok((0, 0));
        };
        let key: String = parts(path).collect::<Vec<_>>().join("/");
        remote
            .put_tree(&key, local, skip_present)
            .await
            .map_err(|e| store_error(&e))
    }
}
