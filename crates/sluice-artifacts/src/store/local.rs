//! Artifacts as files in a local folder: a key is a path under the root; writes go to a hidden
//! file beside the target and are renamed into place when complete.

use std::io;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Backend, ByteStream, Download, Entry, FileInfo, StoreError};

/// Files being written start with this; listings skip them.
const PARTIAL: &str = ".upload-";
/// How much a read asks for at a time.
const READ_CHUNK: usize = 256 * 1024;

/// A folder on local disk.
#[derive(Debug)]
pub struct LocalBackend {
    root: PathBuf,
    shown: String,
}

impl LocalBackend {
    #[must_use]
    pub fn new(root: PathBuf) -> Self {
        let shown = root.display().to_string();
        Self { root, shown }
    }

    fn path(&self, key: &str) -> PathBuf {
        key.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.root.clone(), |p, part| p.join(part))
    }

    fn fail(&self, op: &'static str, key: &str, e: &io::Error) -> StoreError {
        StoreError::Backend {
            op,
            path: key.to_owned(),
            store: self.shown.clone(),
            message: e.to_string(),
        }
    }
}

/// A file's bytes as a stream, read in large chunks.
pub(super) fn read_stream(file: tokio::fs::File) -> ByteStream {
    futures::stream::try_unfold(file, |mut file| async move {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let n = file.read_buf(&mut buf).await?;
        Ok((n > 0).then(|| (buf.freeze(), file)))
    })
    .boxed()
}

/// Why writing a stream to a file failed: the stream broke off, or the file could not be written.
pub(super) enum WriteError {
    Body(io::Error),
    File(io::Error),
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        Self::File(e)
    }
}

/// Writes `body` to `dest` through a hidden file beside it, renamed when complete; the bytes
/// written. On any failure the partial file is removed and `dest` is untouched.
pub(super) async fn write_stream(dest: &Path, mut body: ByteStream) -> Result<u64, WriteError> {
    let parent = dest
        .parent()
        .ok_or_else(|| io::Error::other("a file needs a folder"))?;
    tokio::fs::create_dir_all(parent).await?;
    let tmp = parent.join(format!(
        "{PARTIAL}{:016x}{:08x}",
        fastrand::u64(..),
        std::process::id()
    ));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut total = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk: Bytes = chunk.map_err(WriteError::Body)?;
            file.write_all(&chunk).await?;
            total += chunk.len() as u64;
        }
        file.flush().await?;
        drop(file);
        if tokio::fs::metadata(dest).await.is_ok_and(|m| m.is_dir()) {
            return Err(WriteError::File(io::Error::other(format!(
                "'{}' is a folder",
                dest.file_name().unwrap_or_default().to_string_lossy()
            ))));
        }
        tokio::fs::rename(&tmp, dest).await?;
        Ok(total)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

/// A local file's version: its modification time (nanoseconds) and size.
fn version(m: &std::fs::Metadata) -> String {
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{mtime}-{}", m.len())
}

/// The regular files under `dir` (or `dir` itself): (path relative to it with `/`, full path),
/// sorted; partial uploads skipped.
pub(super) fn files_under(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let meta = std::fs::metadata(dir)?;
    if meta.is_file() {
        return Ok(vec![(String::new(), dir.to_path_buf())]);
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = entry.map_err(io::Error::other)?;
        if !entry.file_type().is_file() || entry.file_name().to_string_lossy().starts_with(PARTIAL)
        {
            continue;
        }
        out.push((
            crate::rel_path(dir, entry.path()),
            entry.path().to_path_buf(),
        ));
    }
    out.sort();
    Ok(out)
}

#[async_trait::async_trait]
impl Backend for LocalBackend {
    fn describe(&self) -> &str {
        &self.shown
    }

    fn local_root(&self) -> Option<&Path> {
        Some(&self.root)
    }

    async fn put(&self, key: &str, body: ByteStream) -> Result<u64, StoreError> {
        let path = self.path(key);
        if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_dir()) {
            return Err(StoreError::InvalidPath {
                path: key.to_owned(),
                why: "it is a folder",
            });
        }
        write_stream(&path, body).await.map_err(|e| match e {
            WriteError::Body(e) => StoreError::Body {
                path: key.to_owned(),
                message: e.to_string(),
            },
            WriteError::File(e) => self.fail("write", key, &e),
        })
    }

    async fn get(&self, key: &str) -> Result<Download, StoreError> {
        let path = self.path(key);
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(key.to_owned()));
            }
            Err(e) => return Err(self.fail("read", key, &e)),
        };
        let meta = file
            .metadata()
            .await
            .map_err(|e| self.fail("read", key, &e))?;
        if !meta.is_file() {
            return Err(StoreError::NotFound(key.to_owned()));
        }
        Ok(Download {
            size: meta.len(),
            body: read_stream(file),
        })
    }

    async fn head(&self, key: &str) -> Result<Option<FileInfo>, StoreError> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(m) if m.is_file() => Ok(Some(FileInfo {
                path: key.to_owned(),
                size: m.len(),
                version: Some(version(&m)),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.fail("read", key, &e)),
        }
    }

    async fn list(&self, key: &str) -> Result<Vec<Entry>, StoreError> {
        let dir = self.path(key);
        let mut entries = Vec::new();
        let mut rd = match tokio::fs::read_dir(&dir).await {
            Ok(rd) => rd,
            // A file, or nothing: no entries.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(entries);
            }
            Err(e) => return Err(self.fail("list", key, &e)),
        };
        while let Some(entry) = rd
            .next_entry()
            .await
            .map_err(|e| self.fail("list", key, &e))?
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(PARTIAL) {
                continue;
            }
            let Ok(meta) = tokio::fs::metadata(entry.path()).await else {
                continue; // removed meanwhile
            };
            entries.push(Entry {
                name,
                is_dir: meta.is_dir(),
                size: if meta.is_dir() { 0 } else { meta.len() },
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    async fn list_files(&self, key: &str) -> Result<Vec<FileInfo>, StoreError> {
        let dir = self.path(key);
        let found = tokio::task::spawn_blocking(move || -> io::Result<Vec<FileInfo>> {
            match std::fs::metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Ok(Vec::new()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            }
            files_under(&dir)?
                .into_iter()
                .map(|(rel, path)| {
                    let m = std::fs::metadata(path)?;
                    Ok(FileInfo {
                        path: rel,
                        size: m.len(),
                        version: Some(version(&m)),
                    })
                })
                .collect()
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|r| r);
        found.map_err(|e| self.fail("list", key, &e))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path(key);
        let meta = match tokio::fs::symlink_metadata(&path).await {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.fail("delete", key, &e)),
        };
        let res = if meta.is_dir() {
            tokio::fs::remove_dir_all(&path).await
        } else {
            tokio::fs::remove_file(&path).await
        };
        res.map(|()| true).map_err(|e| self.fail("delete", key, &e))
    }
}
