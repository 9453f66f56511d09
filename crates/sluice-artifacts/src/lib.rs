//! Content hashing of files and folders, and the artifact store (`store`: a local folder, Azure Blob or S3).
//!
//! A file's hash is blake3 of its bytes. A folder's hash is blake3 over its files in sorted
//! relative-path order, each contributing its path, its length and its own hash, so renaming,
//! moving or editing any file changes the hash while timestamps do not. Because a folder's hash
//! is built from its files' hashes, a [`HashMemo`] (size + modification time per file) lets an
//! unchanged file go unread: re-hashing an unchanged 1 GB folder reads nothing.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

mod snapshot;
pub mod store;
pub use snapshot::{Snapshot, SnapshotLimits};

/// What hashing a file or folder found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentHash {
    /// `blake3:` followed by 64 hex digits.
    pub hash: String,
    pub size_bytes: u64,
    pub file_count: u64,
}

/// Errors while reading or copying content.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("`{path}`: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("`{0}` does not exist")]
    Missing(PathBuf),
    #[error("`{path}` changed: its content is {got}, not the {want} it had")]
    Changed {
        path: PathBuf,
        want: String,
        got: String,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `path` relative to `root`, with `/` between its parts (the form hashes cover).
pub(crate) fn rel_path(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The regular files under `root` (or `root` itself), sorted by relative path.
fn files(root: &Path) -> Result<Vec<(String, PathBuf)>, ArtifactError> {
    let meta = fs::metadata(root).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            ArtifactError::Missing(root.to_path_buf())
        } else {
            ArtifactError::Io {
                path: root.to_path_buf(),
                source: e,
            }
        }
    })?;
    if meta.is_file() {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![(name, root.to_path_buf())]);
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| ArtifactError::Io {
            path: e
                .path()
                .map_or_else(|| root.to_path_buf(), Path::to_path_buf),
            source: e.into(),
        })?;
        if entry.file_type().is_file() {
            out.push((rel_path(root, entry.path()), entry.path().to_path_buf()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Hashes a file or a folder (see the crate docs for what the hash covers).
pub fn hash_path(root: &Path) -> Result<ContentHash, ArtifactError> {
    hash_path_with(root, &mut HashMemo::default())
}

/// Per-file hashes remembered by size, modification time, inode change time and inode, so that
/// an unchanged file is not read again. Save it between runs with serde. An entry is used only
/// while all four agree, and a file changed less than 2 s before it was hashed is not
/// remembered, so a rewrite within one timestamp tick cannot leave a stale hash.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct HashMemo {
    files: HashMap<PathBuf, MemoEntry>,
    #[serde(skip)]
    changed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MemoEntry {
    size: u64,
    mtime_ns: u128,
    /// The inode change time, which no user tool can set back (`touch -r`, `rsync -t` and
    /// `tar -x` restore the modification time, not this).
    ctime_ns: i128,
    inode: u64,
    hash: String,
}

/// A file changed this recently may change again within the same timestamp tick: its hash is
/// not remembered (git's "racy clean" rule).
const RACY_NS: u128 = 2_000_000_000;

impl HashMemo {
    /// True when hashing added or replaced an entry (the memo is worth saving).
    #[must_use]
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// Marks the memo as saved: `changed` is false until hashing adds to it again.
    pub fn mark_saved(&mut self) {
        self.changed = false;
    }

    /// How many files it remembers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn file_hash(&mut self, path: &Path, meta: &fs::Metadata) -> Result<[u8; 32], ArtifactError> {
        use std::os::unix::fs::MetadataExt;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let ctime_ns = i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec());
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(entry) = self.files.get(&key)
            && entry.size == meta.len()
            && entry.mtime_ns == mtime_ns
            && entry.ctime_ns == ctime_ns
            && entry.inode == meta.ino()
            && mtime_ns != 0
            && let Ok(hash) = blake3::Hash::from_hex(&entry.hash)
        {
            return Ok(*hash.as_bytes());
        }
        let hash = read_hash(path)?;
        let now_ns = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let settled = |t: u128| now_ns.saturating_sub(t) > RACY_NS;
        if settled(mtime_ns) && settled(u128::try_from(ctime_ns).unwrap_or(0)) {
            self.files.insert(
                key,
                MemoEntry {
                    size: meta.len(),
                    mtime_ns,
                    ctime_ns,
                    inode: meta.ino(),
                    hash: hash.to_hex().to_string(),
                },
            );
            self.changed = true;
        } else if self.files.remove(&key).is_some() {
            self.changed = true;
        }
        Ok(*hash.as_bytes())
    }
}

fn read_hash(path: &Path) -> Result<blake3::Hash, ArtifactError> {
    let mut hasher = blake3::Hasher::new();
    let mut file = fs::File::open(path).map_err(io_err(path))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize())
}

/// Hashes a file or a folder, reading only files that `memo` does not know unchanged.
pub fn hash_path_with(root: &Path, memo: &mut HashMemo) -> Result<ContentHash, ArtifactError> {
    hash_list(root, &files(root)?, memo)
}

/// Hashes the files of a list (relative path, path), as [`hash_path_with`] hashes a folder's.
pub(crate) fn hash_list(
    root: &Path,
    list: &[(String, PathBuf)],
    memo: &mut HashMemo,
) -> Result<ContentHash, ArtifactError> {
    let single = list.len() == 1 && fs::metadata(root).is_ok_and(|m| m.is_file());
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    for (rel, path) in list {
        let meta = fs::metadata(path).map_err(io_err(path))?;
        let file_hash = memo.file_hash(path, &meta)?;
        if single {
            return Ok(ContentHash {
                hash: format!("blake3:{}", blake3::Hash::from_bytes(file_hash).to_hex()),
                size_bytes: meta.len(),
                file_count: 1,
            });
        }
        hasher.update(rel.as_bytes());
        hasher.update(&[0]);
        hasher.update(&meta.len().to_le_bytes());
        hasher.update(&file_hash);
        size += meta.len();
    }
    Ok(ContentHash {
        hash: format!("blake3:{}", hasher.finalize().to_hex()),
        size_bytes: size,
        file_count: list.len() as u64,
    })
}

/// blake3 of a byte string, as 64 hex digits.
#[must_use]
pub fn hash_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Copies a file or folder to `dest` (which must not exist), following symlinks.
pub fn copy_tree(src: &Path, dest: &Path) -> Result<(), ArtifactError> {
    let meta = fs::metadata(src).map_err(|_| ArtifactError::Missing(src.to_path_buf()))?;
    if meta.is_file() {
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        fs::copy(src, dest).map_err(io_err(src))?;
        return Ok(());
    }
    fs::create_dir_all(dest).map_err(io_err(dest))?;
    // A destination inside the source (a folder registered from a project whose workspace
    // lies inside it) is left out, or the copy would copy itself until names grow too long.
    let src = fs::canonicalize(src).map_err(io_err(src))?;
    let src = src.as_path();
    let inner = fs::canonicalize(dest).map_err(io_err(dest))?;
    let walk = walkdir::WalkDir::new(src)
        .follow_links(true)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| e.path() != inner);
    for entry in walk {
        let entry = entry.map_err(|e| ArtifactError::Io {
            path: src.to_path_buf(),
            source: e.into(),
        })?;
        let rel = entry.path().strip_prefix(src).unwrap_or(entry.path());
        let target = dest.join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).map_err(io_err(&target))?;
        } else if entry.file_type().is_file() {
            fs::copy(entry.path(), &target).map_err(io_err(entry.path()))?;
        }
    }
    Ok(())
}

/// A path beside `name` in `parent` that no other copy uses: this process's id, the time and a
/// counter (copies into a folder several machines share may run at once under one process id).
#[must_use]
pub fn temp_sibling(parent: &Path, name: &str) -> PathBuf {
    static COPIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    parent.join(format!(
        ".tmp-{name}-{}-{nanos}-{}",
        std::process::id(),
        COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

/// Copies `src` into a fresh `dest` atomically: into a sibling temporary folder first, then
/// renamed into place, so `dest` is either absent or complete.
pub fn copy_atomic(src: &Path, dest: &Path) -> Result<(), ArtifactError> {
    copy_checked(src, dest, None)
}

/// [`copy_atomic`], the copy's content hash checked against `want` (when given) before it is
/// put in place.
fn copy_checked(src: &Path, dest: &Path, want: Option<&str>) -> Result<(), ArtifactError> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = temp_sibling(parent, &name);
    let copied = copy_tree(src, &tmp)
        .and_then(|()| match want {
            Some(want) => {
                let got = hash_path(&tmp)?.hash;
                if got == want {
                    Ok(())
                } else {
                    Err(ArtifactError::Changed {
                        path: src.to_path_buf(),
                        want: want.to_owned(),
                        got,
                    })
                }
            }
            None => Ok(()),
        })
        .and_then(|()| fs::rename(&tmp, dest).map_err(io_err(dest)));
    if copied.is_err() {
        let _ = fs::remove_dir_all(&tmp);
        let _ = fs::remove_file(&tmp);
    }
    copied
}

/// Copies `src` to `dest` once: nothing when `dest` is there already, else a copy made as
/// [`copy_atomic`] makes it, its content hash checked against `want` when given (a source that
/// changed since it was hashed is refused, never put in place under the old hash). Copiers
/// racing for one `dest` may both copy; the first rename wins and the others count as done.
pub fn copy_once(src: &Path, dest: &Path, want: Option<&str>) -> Result<(), ArtifactError> {
    if dest.exists() {
        return Ok(());
    }
    match copy_checked(src, dest, want) {
        Err(ArtifactError::Io { .. }) if dest.exists() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_made_once_is_checked_against_the_hash_it_was_planned_with() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("rows.csv");
        fs::write(&src, "a\n1\n").unwrap();
        let planned = hash_path(&src).unwrap().hash;
        let dest = dir.path().join("inputs").join("rows.csv");
        copy_once(&src, &dest, Some(&planned)).unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "a\n1\n");
        // Made once: what is there stays.
        fs::write(&src, "a\n2\n").unwrap();
        copy_once(&src, &dest, Some(&planned)).unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "a\n1\n");
        // A source that changed since it was hashed is refused, and nothing is put in place.
        let other = dir.path().join("inputs2").join("rows.csv");
        let Err(ArtifactError::Changed { want, .. }) = copy_once(&src, &other, Some(&planned))
        else {
            panic!("a changed source was copied");
        };
        assert_eq!(want, planned);
        assert!(!other.exists());
        let left: Vec<_> = fs::read_dir(dir.path().join("inputs2")).unwrap().collect();
        assert!(left.is_empty(), "no temporary copy left: {left:?}");
    }

    #[test]
    fn a_copy_into_a_folder_inside_its_source_leaves_that_folder_out() {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("w.txt"), "0.5\n").unwrap();
        fs::create_dir_all(src.path().join("ws/registered")).unwrap();
        fs::write(src.path().join("ws/state.db"), "db").unwrap();
        let dest = src.path().join("ws/registered/m");
        copy_tree(src.path(), &dest).unwrap();
        assert_eq!(fs::read_to_string(dest.join("w.txt")).unwrap(), "0.5\n");
        assert_eq!(fs::read_to_string(dest.join("ws/state.db")).unwrap(), "db");
        assert!(
            !dest.join("ws/registered/m").exists(),
            "the copy copied itself"
        );
    }

    #[test]
    fn folder_hash_sees_names_and_bytes_but_not_order_of_creation() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::write(a.path().join("x.csv"), "1,2\n").unwrap();
        fs::create_dir(a.path().join("sub")).unwrap();
        fs::write(a.path().join("sub/y.csv"), "3\n").unwrap();
        fs::create_dir(b.path().join("sub")).unwrap();
        fs::write(b.path().join("sub/y.csv"), "3\n").unwrap();
        fs::write(b.path().join("x.csv"), "1,2\n").unwrap();
        let ha = hash_path(a.path()).unwrap();
        assert_eq!(ha, hash_path(b.path()).unwrap());
        assert_eq!((ha.file_count, ha.size_bytes), (2, 6));
        fs::write(b.path().join("x.csv"), "1,3\n").unwrap();
        assert_ne!(ha.hash, hash_path(b.path()).unwrap().hash);
        fs::rename(a.path().join("sub/y.csv"), a.path().join("sub/z.csv")).unwrap();
        assert_ne!(ha.hash, hash_path(a.path()).unwrap().hash);
    }

    #[test]
    fn file_hash_is_blake3_of_its_bytes() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f.txt");
        fs::write(&f, b"hello").unwrap();
        let h = hash_path(&f).unwrap();
        assert_eq!(
            h.hash,
            format!("blake3:{}", blake3::hash(b"hello").to_hex())
        );
    }

    #[test]
    fn memo_skips_unchanged_files_and_sees_changed_ones() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a.csv"), "1,2\n").unwrap();
        fs::write(d.path().join("b.csv"), "3,4\n").unwrap();
        let mut memo = HashMemo::default();
        let first = hash_path_with(d.path(), &mut memo).unwrap();
        assert_eq!(first, hash_path(d.path()).unwrap());
        // Files written within the last 2 s are not remembered: they may change again unseen.
        assert_eq!(memo.len(), 0);
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_eq!(hash_path_with(d.path(), &mut memo).unwrap(), first);
        assert_eq!(memo.len(), 2);
        // A remembered hash is trusted while size, times and inode agree: prove it by
        // poisoning one.
        let key = std::path::absolute(d.path().join("a.csv")).unwrap();
        memo.files.get_mut(&key).unwrap().hash = blake3::hash(b"poison").to_hex().to_string();
        memo.changed = false;
        assert_ne!(hash_path_with(d.path(), &mut memo).unwrap(), first);
        assert!(!memo.changed(), "nothing was read");
        // Rewriting the file and setting its modification time back (as `touch -r` does)
        // still changes its inode change time: it is read again.
        let mtime = fs::metadata(d.path().join("a.csv"))
            .unwrap()
            .modified()
            .unwrap();
        fs::write(d.path().join("a.csv"), "1,2\n").unwrap();
        fs::File::options()
            .write(true)
            .open(d.path().join("a.csv"))
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(hash_path_with(d.path(), &mut memo).unwrap(), first);
        assert!(memo.changed());
        let saved = serde_json::to_string(&memo).unwrap();
        let mut back: HashMemo = serde_json::from_str(&saved).unwrap();
        assert_eq!(hash_path_with(d.path(), &mut back).unwrap(), first);
    }

    #[test]
    fn atomic_copy_makes_a_complete_copy() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("src")).unwrap();
        fs::write(d.path().join("src/a"), "a").unwrap();
        copy_atomic(&d.path().join("src"), &d.path().join("out/dest")).unwrap();
        assert_eq!(
            fs::read_to_string(d.path().join("out/dest/a")).unwrap(),
            "a"
        );
        assert!(matches!(
            hash_path(&d.path().join("nope")),
            Err(ArtifactError::Missing(_))
        ));
    }
}
