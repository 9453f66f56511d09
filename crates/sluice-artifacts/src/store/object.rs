//! Artifacts in an object store (Azure Blob Storage, S3 and S3-compatible stores) through the
//! `object_store` crate. Uploads up to one part are a single put; larger ones a multipart
//! upload (S3 parts, Azure blocks) of [`PART`] bytes with at most [`IN_FLIGHT`] parts sent at
//! once, committed only when the body ends, aborted when it breaks off. So an upload holds at
//! most `PART × (IN_FLIGHT + 1)` bytes in memory however large the artifact.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart};

use super::uri::{AzureLocation, Credentials, S3Location, redact};
use super::{Backend, ByteStream, Download, Entry, FileInfo, StoreError};

/// The size of one part of a multipart upload (S3 wants at least 5 MiB but the last).
pub(super) const PART: usize = 8 * 1024 * 1024;
/// Parts sent at once.
pub(super) const IN_FLIGHT: usize = 2;

/// A bucket or container, under a prefix.
#[derive(Debug)]
pub struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    shown: String,
}

/// Retries that give up within seconds when the service is gone (a step fails with a clear
/// error and can be resumed) but ride out a blip.
fn client() -> (ClientOptions, RetryConfig) {
    let options = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_mins(2));
    let retry = RetryConfig {
        max_retries: 4,
        retry_timeout: Duration::from_secs(20),
        ..RetryConfig::default()
    };
    (options, retry)
}

impl ObjectBackend {
    /// An S3 bucket (or an S3-compatible store at `credentials.endpoint`).
    ///
    /// # Errors
    /// When the builder refuses the settings.
    pub fn s3(location: &S3Location, credentials: &Credentials) -> Result<Self, StoreError> {
        let (options, retry) = client();
        let endpoint = location
            .endpoint
            .clone()
            .or_else(|| credentials.s3_endpoint.clone());
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_region(credentials.region.as_deref().unwrap_or("us-east-1"))
            .with_client_options(
                options.with_allow_http(
                    endpoint
                        .as_deref()
                        .is_some_and(|e| e.starts_with("http://")),
                ),
            )
            .with_retry(retry);
        if let Some(e) = &endpoint {
            b = b.with_endpoint(e.trim_end_matches('/'));
        }
        if let (Some(id), Some(secret)) =
            (&credentials.access_key_id, &credentials.secret_access_key)
        {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(t) = &credentials.session_token {
                b = b.with_token(t);
            }
        } else {
            b = b.with_skip_signature(credentials.anonymous);
        }
        let shown = format!("s3://{}/{}", location.bucket, location.prefix);
        let store = b.build().map_err(|e| config_error(&shown, &e))?;
        Ok(Self::new(Arc::new(store), &location.prefix, shown))
    }

    /// An Azure Blob container (or Azurite's, at `endpoint`).
    ///
    /// # Errors
    /// When the builder refuses the settings.
    pub fn azure(location: &AzureLocation, credentials: &Credentials) -> Result<Self, StoreError> {
        let (options, retry) = client();
        let endpoint = location.endpoint_url(credentials);
        let mut b = MicrosoftAzureBuilder::new()
            .with_account(&location.account)
            .with_container_name(&location.container)
            .with_endpoint(endpoint.clone())
            .with_client_options(options.with_allow_http(endpoint.starts_with("http://")))
            .with_retry(retry);
        if let Some(key) = &credentials.azure_account_key {
            b = b.with_access_key(key);
        } else if let Some(sas) = &credentials.azure_sas_token {
            let pairs: Vec<(String, String)> =
                form_urlencoded::parse(sas.trim_start_matches('?').as_bytes())
                    .into_owned()
                    .collect();
            b = b.with_sas_authorization(pairs);
        } else if let (Some(tenant), Some(id), Some(secret)) = (
            &credentials.azure_tenant_id,
            &credentials.azure_client_id,
            &credentials.azure_client_secret,
        ) {
            b = b.with_client_secret_authorization(id, secret, tenant);
        } else if credentials.anonymous {
            b = b.with_skip_signature(true);
        } else {
            // Azure AD from the environment (a service principal, a workload identity, the
            // Azure CLI's login), as `object_store` finds it.
            for (k, v) in std::env::vars() {
                use object_store::azure::AzureConfigKey as K;
                if let Ok(
                    key @ (K::ClientId
                    | K::ClientSecret
                    | K::AuthorityId
                    | K::FederatedTokenFile
                    | K::UseAzureCli
                    | K::MsiEndpoint),
                ) = k.to_ascii_lowercase().parse::<K>()
                {
                    b = b.with_config(key, v);
                }
            }
        }
        let shown = location.to_string();
        let store = b.build().map_err(|e| config_error(&shown, &e))?;
        Ok(Self::new(Arc::new(store), &location.prefix, shown))
    }

    /// A store already made (tests give `object_store`'s in-memory one).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, shown: String) -> Self {
        Self {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            shown,
        }
    }

    fn path(&self, key: &str) -> Result<ObjectPath, StoreError> {
        let full = super::join(&self.prefix, key);
        ObjectPath::parse(&full).map_err(|_| StoreError::InvalidPath {
            path: key.to_owned(),
            why: "not a valid object name",
        })
    }

    /// The folder prefix to list under, or none for the bucket's root.
    fn folder(&self, key: &str) -> Result<Option<ObjectPath>, StoreError> {
        let p = self.path(key)?;
        Ok((!p.as_ref().is_empty()).then_some(p))
    }

    /// `path` relative to `folder`.
    fn relative(folder: Option<&ObjectPath>, path: &ObjectPath) -> String {
        let full = path.as_ref();
        match folder {
            Some(f) => full
                .strip_prefix(f.as_ref())
                .unwrap_or(full)
                .trim_start_matches('/')
                .to_owned(),
            None => full.to_owned(),
        }
    }

    fn fail(&self, op: &'static str, key: &str, e: &object_store::Error) -> StoreError {
        if matches!(e, object_store::Error::NotFound { .. }) {
            return StoreError::NotFound(key.to_owned());
        }
        StoreError::Backend {
            op,
            path: key.to_owned(),
            store: self.shown.clone(),
            message: redact(&error_chain(e)),
        }
    }
}

fn config_error(shown: &str, e: &object_store::Error) -> StoreError {
    StoreError::Config {
        uri: shown.to_owned(),
        why: redact(&error_chain(e)),
    }
}

/// What changes when an object does: its `ETag`, else its modification time.
fn object_version(meta: &object_store::ObjectMeta) -> Option<String> {
    meta.e_tag
        .clone()
        .or_else(|| Some(meta.last_modified.to_rfc3339()))
}

/// An error and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

#[async_trait::async_trait]
impl Backend for ObjectBackend {
    fn describe(&self) -> &str {
        &self.shown
    }

    async fn put(&self, key: &str, mut body: ByteStream) -> Result<u64, StoreError> {
        let path = self.path(key)?;
        let broke = |e: std::io::Error| StoreError::Body {
            path: key.to_owned(),
            message: e.to_string(),
        };
        // Gather up to one part: a small artifact is one put.
        let mut first = BytesMut::new();
        let mut rest: Option<Bytes> = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(broke)?;
            if first.len() + chunk.len() > PART {
                rest = Some(chunk);
                break;
            }
            first.extend_from_slice(&chunk);
        }
        let Some(rest) = rest else {
            let n = first.len() as u64;
            self.store
                .put(&path, first.freeze().into())
                .await
                .map_err(|e| self.fail("write", key, &e))?;
            return Ok(n);
        };
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| self.fail("write", key, &e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut total = first.len() as u64 + rest.len() as u64;
        writer.put(first.freeze());
        writer.put(rest);
        let outcome: Result<(), StoreError> = async {
            loop {
                writer
                    .wait_for_capacity(IN_FLIGHT)
                    .await
                    .map_err(|e| self.fail("write", key, &e))?;
                match body.next().await {
                    Some(chunk) => {
                        let chunk = chunk.map_err(broke)?;
                        total += chunk.len() as u64;
                        writer.put(chunk);
                    }
                    None => return Ok(()),
                }
            }
        }
        .await;
        match outcome {
            Ok(()) => {
                writer
                    .finish()
                    .await
                    .map_err(|e| self.fail("write", key, &e))?;
                Ok(total)
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(path = key, error = %redact(&abort.to_string()), "aborting a multipart upload failed");
                }
                Err(e)
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Download, StoreError> {
        let path = self.path(key)?;
        let got = self
            .store
            .get(&path)
            .await
            .map_err(|e| self.fail("read", key, &e))?;
        let size = got.meta.size;
        let body = got
            .into_stream()
            .map_err(|e| std::io::Error::other(redact(&error_chain(&e))))
            .boxed();
        Ok(Download { size, body })
    }

    async fn head(&self, key: &str) -> Result<Option<FileInfo>, StoreError> {
        match self.store.head(&self.path(key)?).await {
            Ok(meta) => Ok(Some(FileInfo {
                path: key.to_owned(),
                size: meta.size,
                version: object_version(&meta),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("read", key, &e)),
        }
    }

    async fn list(&self, key: &str) -> Result<Vec<Entry>, StoreError> {
        let folder = self.folder(key)?;
        let found = self
            .store
            .list_with_delimiter(folder.as_ref())
            .await
            .map_err(|e| self.fail("list", key, &e))?;
        let mut entries: Vec<Entry> = found
            .common_prefixes
            .iter()
            .map(|p| Entry {
                name: Self::relative(folder.as_ref(), p),
                is_dir: true,
                size: 0,
            })
            .chain(found.objects.iter().map(|o| Entry {
                name: Self::relative(folder.as_ref(), &o.location),
                is_dir: false,
                size: o.size,
            }))
            .filter(|e| !e.name.is_empty())
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    async fn list_files(&self, key: &str) -> Result<Vec<FileInfo>, StoreError> {
        let folder = self.folder(key)?;
        let mut files: Vec<FileInfo> = self
            .store
            .list(folder.as_ref())
            .map_ok(|o| FileInfo {
                path: Self::relative(folder.as_ref(), &o.location),
                size: o.size,
                version: object_version(&o),
            })
            .try_collect()
            .await
            .map_err(|e| self.fail("list", key, &e))?;
        files.retain(|f| !f.path.is_empty());
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        let mut found = false;
        match self.store.head(&path).await {
            Ok(_) => {
                self.store
                    .delete(&path)
                    .await
                    .map_err(|e| self.fail("delete", key, &e))?;
                found = true;
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.fail("delete", key, &e)),
        }
        let under: Vec<ObjectPath> = self
            .store
            .list(Some(&path))
            .map_ok(|o| o.location)
            .try_collect()
            .await
            .map_err(|e| self.fail("delete", key, &e))?;
        found |= !under.is_empty();
        let locations = futures::stream::iter(under.into_iter().map(Ok)).boxed();
        self.store
            .delete_stream(locations)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| self.fail("delete", key, &e))?;
        Ok(found)
    }
}
