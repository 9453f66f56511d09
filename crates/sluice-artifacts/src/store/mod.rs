//! The artifact store: one interface (put, get, list, delete; bodies streamed both ways) over a
//! local folder, Azure Blob Storage and S3.
//!
//! Callers hold an [`Artifacts`], made from a destination URI ([`Artifacts::open`]: a path,
//! `s3://bucket/prefix`, `wasbs://container@account.blob.core.windows.net/prefix`, ...) or
//! from explicit settings ([`Location`] and [`Credentials`], as a datastore gives them). Keys
//! are relative paths with `/` between parts; anything that could leave the store's root
//! (`..`, an absolute path, a backslash, NUL) is refused before any backend sees it.
//!
//! Every backend makes a written object visible only once it is whole: the local folder writes
//! beside and renames, the object stores commit a multipart upload (or a single put) at the
//! end. A failed or abandoned upload leaves nothing readers can see.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};

mod local;
mod object;
mod uri;

pub use local::LocalBackend;
pub use object::ObjectBackend;
pub use uri::{AzureLocation, Credentials, Location, S3Location, redact};

/// Runs `fut` to its end from synchronous code, on a runtime of its own in a thread of its own
/// (so it works whether or not the caller is inside a runtime).
///
/// # Panics
/// Only if a runtime cannot be made (the OS refuses threads or an event loop).
pub fn block_on<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for object storage")
                .block_on(fut)
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A body in flight: chunks of bytes, or the I/O error that ended it.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// What went wrong with an artifact. Messages never carry credentials.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("artifact '{0}' does not exist")]
    NotFound(String),
    #[error("invalid artifact path '{path}': {why}")]
    InvalidPath { path: String, why: &'static str },
    #[error("invalid artifact destination '{uri}': {why}")]
    Config { uri: String, why: String },
    #[error("cannot {op} '{path}' in {store}: {message}")]
    Backend {
        op: &'static str,
        path: String,
        store: String,
        message: String,
    },
    #[error("the upload of '{path}' broke off: {message}")]
    Body { path: String, message: String },
}

/// One entry of a folder listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name inside the listed folder.
    pub name: String,
    pub is_dir: bool,
    /// Bytes (0 for folders).
    pub size: u64,
}

/// One object: its path (relative to where it was listed from), size, and a version that
/// changes whenever the object does (its `ETag`; a local file's modification time and size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub path: String,
    pub size: u64,
    pub version: Option<String>,
}

/// An object being read: its size, then its bytes.
pub struct Download {
    pub size: u64,
    pub body: ByteStream,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// What every artifact backend does. Keys reach a backend already checked by [`key`]: relative,
/// `/`-separated, without empty, `.` or `..` parts (`""` is the root).
#[async_trait::async_trait]
pub trait Backend: Send + Sync + fmt::Debug {
    /// Where the store is, for messages (never with credentials).
    fn describe(&self) -> &str;
    /// The folder that holds the objects when they are local files.
    fn local_root(&self) -> Option<&Path> {
        None
    }
    /// Stores `body` at `key`, replacing what was there; visible only once complete. Returns
    /// the bytes written.
    async fn put(&self, key: &str, body: ByteStream) -> Result<u64, StoreError>;
    /// Opens the object at `key` for reading.
    async fn get(&self, key: &str) -> Result<Download, StoreError>;
    /// The object at `key` (its `path` is `key`), or `None` when there is none (a folder is none).
    async fn head(&self, key: &str) -> Result<Option<FileInfo>, StoreError>;
    /// The folder `key`'s direct entries, sorted by name; empty when it is no folder.
    async fn list(&self, key: &str) -> Result<Vec<Entry>, StoreError>;
    /// Every object under the folder `key`, paths relative to it, sorted by path.
    async fn list_files(&self, key: &str) -> Result<Vec<FileInfo>, StoreError>;
    /// Deletes the object or the whole folder at `key`; whether anything was there.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
}

/// Checks a relative artifact path and gives its key: parts joined by `/`, without `.` parts
/// or leading, trailing and repeated slashes.
///
/// # Errors
/// When the path is absolute, climbs out with `..`, or holds a backslash or a control character.
pub fn key(rel: &str) -> Result<String, StoreError> {
    let bad = |why| StoreError::InvalidPath {
        path: rel.to_owned(),
        why,
    };
    if rel.starts_with('/') {
        return Err(bad("artifact paths are relative"));
    }
    if rel.contains('\\') {
        return Err(bad("artifact paths use '/' between parts, not '\\'"));
    }
    if rel.chars().any(char::is_control) {
        return Err(bad("artifact paths may not contain control characters"));
    }
    let mut parts = Vec::new();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(bad("artifact paths may not contain '..'")),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// `a/b` joined with `c` (either may be empty).
#[must_use]
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}/{b}"),
    }
}

/// The artifact store callers use: a backend behind checked keys, with helpers for files and
/// folders on local disk.
#[derive(Clone, Debug)]
pub struct Artifacts {
    backend: Arc<dyn Backend>,
}

impl Artifacts {
    /// The store a destination URI names, with credentials from the environment (and the
    /// shared credentials files) as MLflow's clients and the cloud CLIs read them. A bare path
    /// or `file://` URI is a local folder.
    ///
    /// # Errors
    /// When the URI is not one Sluice knows, or the backend cannot be configured from it.
    pub fn open(destination: &str) -> Result<Self, StoreError> {
        let location = Location::parse(destination)?;
        Self::connect(&location, &Credentials::from_env())
    }

    /// The store at `location`, signed with `credentials`.
    ///
    /// # Errors
    /// When the backend cannot be configured (a missing account or bucket, a bad endpoint).
    pub fn connect(location: &Location, credentials: &Credentials) -> Result<Self, StoreError> {
        let backend: Arc<dyn Backend> = match location {
            Location::Local(root) => Arc::new(LocalBackend::new(root.clone())),
            Location::S3(s3) => Arc::new(ObjectBackend::s3(s3, credentials)?),
            Location::Azure(az) => Arc::new(ObjectBackend::azure(az, credentials)?),
        };
        Ok(Self { backend })
    }

    /// A local folder.
    pub fn local(root: impl Into<PathBuf>) -> Self {
        Self {
            backend: Arc::new(LocalBackend::new(root.into())),
        }
    }

    /// Where the store is (no credentials): the folder, or the URI.
    #[must_use]
    pub fn describe(&self) -> &str {
        self.backend.describe()
    }

    /// The folder that holds the artifacts, when they are local files.
    #[must_use]
    pub fn local_root(&self) -> Option<&Path> {
        self.backend.local_root()
    }

    /// Stores a stream at `rel`; visible only once whole. Returns the bytes written.
    ///
    /// # Errors
    /// A bad path, the body breaking off, or the backend failing.
    pub async fn put_stream<S, E>(&self, rel: &str, body: S) -> Result<u64, StoreError>
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let key = key(rel)?;
        if key.is_empty() {
            return Err(StoreError::InvalidPath {
                path: rel.to_owned(),
                why: "an artifact needs a file name",
            });
        }
        let body = body.map_err(io::Error::other).boxed();
        self.backend.put(&key, body).await
    }

    /// Stores `bytes` at `rel`.
    ///
    /// # Errors
    /// As [`Artifacts::put_stream`].
    pub async fn put_bytes(&self, rel: &str, bytes: Bytes) -> Result<u64, StoreError> {
        self.put_stream(rel, futures::stream::iter([Ok::<_, io::Error>(bytes)]))
            .await
    }

    /// Stores the local file `path` at `rel`, streamed.
    ///
    /// # Errors
    /// When the file cannot be read, or as [`Artifacts::put_stream`].
    pub async fn put_file(&self, rel: &str, path: &Path) -> Result<u64, StoreError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| StoreError::Body {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        self.put_stream(rel, local::read_stream(file)).await
    }

    /// Stores every file under the local folder `dir` below `rel`; the bytes written.
    ///
    /// # Errors
    /// As [`Artifacts::put_file`], for the first file that fails.
    pub async fn put_dir(&self, rel: &str, dir: &Path) -> Result<u64, StoreError> {
        Ok(self.put_tree(rel, dir, false).await?.1)
    }

    /// Stores the local file, or every file under the local folder, `dir` at (or below) `rel`;
    /// with `only_missing`, only those the store lacks there with the same size (the rest are
    /// taken to be the same bytes: for re-publishing what was published before). The files and
    /// bytes written.
    ///
    /// # Errors
    /// As [`Artifacts::put_file`], for the first file that fails.
    pub async fn put_tree(
        &self,
        rel: &str,
        dir: &Path,
        only_missing: bool,
    ) -> Result<(u64, u64), StoreError> {
        let owned = dir.to_path_buf();
        let files = tokio::task::spawn_blocking(move || local::files_under(&owned))
            .await
            .map_err(|e| io::Error::other(e.to_string()))
            .and_then(|r| r)
            .map_err(|e| StoreError::Body {
                path: rel.to_owned(),
                message: e.to_string(),
            })?;
        let there: std::collections::HashMap<String, u64> = if only_missing {
            if dir.is_file() {
                let size = self.size(rel).await?;
                size.map(|s| (String::new(), s)).into_iter().collect()
            } else {
                self.list_files(rel)
                    .await?
                    .into_iter()
                    .map(|f| (f.path, f.size))
                    .collect()
            }
        } else {
            std::collections::HashMap::new()
        };
        let (mut count, mut total) = (0, 0);
        for (sub, path) in files {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            if there.get(&sub) == Some(&size) {
                continue;
            }
            total += self.put_file(&join(rel, &sub), &path).await?;
            count += 1;
        }
        Ok((count, total))
    }

    /// Opens the object at `rel` for reading.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none, or the backend failing.
    pub async fn get(&self, rel: &str) -> Result<Download, StoreError> {
        self.backend.get(&key(rel)?).await
    }

    /// The whole object at `rel` in memory (for small files).
    ///
    /// # Errors
    /// As [`Artifacts::get`].
    pub async fn get_bytes(&self, rel: &str) -> Result<Vec<u8>, StoreError> {
        let mut d = self.get(rel).await?;
        let mut out = Vec::with_capacity(usize::try_from(d.size).unwrap_or(0));
        while let Some(chunk) = d.body.next().await {
            out.extend_from_slice(&chunk.map_err(|e| read_error(rel, self, &e))?);
        }
        Ok(out)
    }

    /// Copies the object at `rel` to the local file `dest`, written beside and renamed, so
    /// `dest` is whole or absent. Returns the bytes copied.
    ///
    /// # Errors
    /// As [`Artifacts::get`], or when `dest` cannot be written.
    pub async fn get_file(&self, rel: &str, dest: &Path) -> Result<u64, StoreError> {
        let d = self.get(rel).await?;
        local::write_stream(dest, d.body)
            .await
            .map_err(|e| match e {
                local::WriteError::Body(e) => read_error(rel, self, &e),
                local::WriteError::File(e) => StoreError::Backend {
                    op: "write",
                    path: dest.display().to_string(),
                    store: "the local disk".to_owned(),
                    message: e.to_string(),
                },
            })
    }

    /// Copies every object under `rel` into the local folder `dest` (made when missing);
    /// the number of files and bytes copied.
    ///
    /// # Errors
    /// As [`Artifacts::get_file`], for the first that fails.
    pub async fn get_dir(&self, rel: &str, dest: &Path) -> Result<(u64, u64), StoreError> {
        let base = key(rel)?;
        let files = self.backend.list_files(&base).await?;
        let (mut count, mut bytes) = (0, 0);
        for FileInfo { path: sub, .. } in files {
            let target = sub
                .split('/')
                .fold(dest.to_path_buf(), |p, part| p.join(part));
            bytes += self.get_file(&join(&base, &sub), &target).await?;
            count += 1;
        }
        Ok((count, bytes))
    }

    /// The size of the object at `rel`, or `None` when there is none.
    ///
    /// # Errors
    /// A bad path, or the backend failing.
    pub async fn size(&self, rel: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.head(rel).await?.map(|f| f.size))
    }

    /// The object at `rel`, or `None` when there is none (a folder is none).
    ///
    /// # Errors
    /// A bad path, or the backend failing.
    pub async fn head(&self, rel: &str) -> Result<Option<FileInfo>, StoreError> {
        let key = key(rel)?;
        if key.is_empty() {
            return Ok(None);
        }
        self.backend.head(&key).await
    }

    /// The direct entries of the folder `rel`, sorted; empty when it is no folder.
    ///
    /// # Errors
    /// A bad path, or the backend failing.
    pub async fn list(&self, rel: &str) -> Result<Vec<Entry>, StoreError> {
        self.backend.list(&key(rel)?).await
    }

    /// Every object under the folder `rel`, paths relative to it, sorted.
    ///
    /// # Errors
    /// A bad path, or the backend failing.
    pub async fn list_files(&self, rel: &str) -> Result<Vec<FileInfo>, StoreError> {
        self.backend.list_files(&key(rel)?).await
    }

    /// Deletes the object or folder at `rel`; whether anything was there. The root itself is
    /// never deleted.
    ///
    /// # Errors
    /// A bad path or the root, or the backend failing.
    pub async fn delete(&self, rel: &str) -> Result<bool, StoreError> {
        let key = key(rel)?;
        if key.is_empty() {
            return Err(StoreError::InvalidPath {
                path: rel.to_owned(),
                why: "the artifact root itself is never deleted",
            });
        }
        self.backend.delete(&key).await
    }
}

fn read_error(rel: &str, store: &Artifacts, e: &io::Error) -> StoreError {
    StoreError::Backend {
        op: "read",
        path: rel.to_owned(),
        store: store.describe().to_owned(),
        message: uri::redact(&e.to_string()),
    }
}
