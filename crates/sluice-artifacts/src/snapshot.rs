//! Code snapshots as Azure ML takes them: the files of a step's `code:` folder, less what its
//! `.amlignore` (else `.gitignore`) excludes, less `__pycache__`, `.git` and the Sluice
//! workspace itself, so `code: ./../../` (the repository root) works from a workspace inside
//! it. One list of files serves the copy each step runs in and the hash its reuse key holds.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{ArtifactError, ContentHash, HashMemo, hash_list, io_err};

/// Azure ML's limits on a code snapshot: past them Azure refuses the job; Sluice warns.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotLimits {
    pub max_bytes: u64,
    pub max_files: usize,
}

impl SnapshotLimits {
    /// 300 MB and 2,000 files.
    pub const AZURE: Self = Self {
        max_bytes: 300 * 1024 * 1024,
        max_files: 2000,
    };
}

/// The files of a code folder that belong in its snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    root: PathBuf,
    /// (relative path with `/`, path), sorted by relative path.
    files: Vec<(String, PathBuf)>,
    /// The ignore file that applied (`.amlignore` or `.gitignore`), if any.
    pub ignore_file: Option<PathBuf>,
}

/// Folders never part of a snapshot, wherever they are.
const ALWAYS_EXCLUDED: &[&str] = &["__pycache__", ".git"];

impl Snapshot {
    /// Lists the snapshot of `root` (a folder or a single file); `exclude` names folders left
    /// out wherever they are (the workspace).
    pub fn of(root: &Path, exclude: &[PathBuf]) -> Result<Self, ArtifactError> {
        Self::of_skipping(root, exclude, |_| false)
    }

    /// [`Self::of`], also leaving out every folder for which `skip` is true (and what it holds).
    pub fn of_skipping(
        root: &Path,
        exclude: &[PathBuf],
        skip: fn(&Path) -> bool,
    ) -> Result<Self, ArtifactError> {
        let meta = fs::metadata(root).map_err(|_| ArtifactError::Missing(root.to_path_buf()))?;
        if meta.is_file() {
            let name = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Ok(Self {
                root: root.to_path_buf(),
                files: vec![(name, root.to_path_buf())],
                ignore_file: None,
            });
        }
        let ignore_name = [".amlignore", ".gitignore"]
            .into_iter()
            .find(|n| root.join(n).is_file());
        let excluded: Vec<PathBuf> = exclude
            .iter()
            .map(|p| fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect();
        let mut builder = ignore::WalkBuilder::new(root);
        builder
            .standard_filters(false)
            .follow_links(true)
            .filter_entry(move |e| {
                let name = e.file_name().to_string_lossy();
                if e.depth() > 0 && ALWAYS_EXCLUDED.contains(&name.as_ref()) {
                    return false;
                }
                let dir = e.file_type().is_some_and(|t| t.is_dir());
                if dir && e.depth() > 0 && skip(e.path()) {
                    return false;
                }
                if dir && !excluded.is_empty() {
                    let canonical = fs::canonicalize(e.path()).unwrap_or_else(|_| e.path().into());
                    return !excluded.contains(&canonical);
                }
                true
            });
        if let Some(name) = ignore_name {
            builder.add_custom_ignore_filename(name);
        }
        let mut files = Vec::new();
        for entry in builder.build() {
            let entry = entry.map_err(|e| ArtifactError::Io {
                path: root.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?;
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            files.push((
                crate::rel_path(root, entry.path()),
                entry.path().to_path_buf(),
            ));
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            root: root.to_path_buf(),
            files,
            ignore_file: ignore_name.map(|n| root.join(n)),
        })
    }

    /// The relative paths of the files, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|(rel, _)| rel.as_str())
    }

    /// The listed files: each one's relative path (with `/`) and where it is.
    pub fn files(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.files
            .iter()
            .map(|(rel, p)| (rel.as_str(), p.as_path()))
    }

    /// The snapshot's hash (a folder's hash, over the listed files only).
    pub fn hash(&self, memo: &mut HashMemo) -> Result<ContentHash, ArtifactError> {
        hash_list(&self.root, &self.files, memo)
    }

    /// Copies the listed files into `dest` (which must not exist).
    pub fn copy_to(&self, dest: &Path) -> Result<(), ArtifactError> {
        if fs::metadata(&self.root).is_ok_and(|m| m.is_file()) {
            return crate::copy_tree(&self.root, &dest.join(&self.files[0].0));
        }
        fs::create_dir_all(dest).map_err(io_err(dest))?;
        for (rel, path) in &self.files {
            let target = dest.join(rel);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            fs::copy(path, &target).map_err(io_err(path))?;
        }
        Ok(())
    }

    /// When the snapshot is past `limits`: a message with its size, file count and largest
    /// entries (files and top-level folders), for a warning.
    #[must_use]
    pub fn over_limits(&self, limits: SnapshotLimits) -> Option<String> {
        let sizes: Vec<(&str, u64)> = self
            .files
            .iter()
            .map(|(rel, p)| (rel.as_str(), fs::metadata(p).map_or(0, |m| m.len())))
            .collect();
        let total: u64 = sizes.iter().map(|(_, s)| s).sum();
        if total <= limits.max_bytes && self.files.len() <= limits.max_files {
            return None;
        }
        let mut top: std::collections::BTreeMap<&str, (u64, usize)> =
            std::collections::BTreeMap::new();
        for (rel, size) in &sizes {
            let head = rel.split('/').next().unwrap_or(rel);
            let e = top.entry(head).or_default();
            e.0 += size;
            e.1 += 1;
        }
        let mut top: Vec<_> = top.into_iter().collect();
        top.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(b.1.1.cmp(&a.1.1)));
        let largest = top
            .iter()
            .take(5)
            .map(|(name, (bytes, n))| {
                format!(
                    "`{name}` ({}, {n} file{})",
                    human(*bytes),
                    if *n == 1 { "" } else { "s" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        Some(format!(
            "the code snapshot of `{}` holds {} in {} files, past Azure ML's limits ({} and {} files); largest: {largest}; exclude what the step does not need with a `.amlignore` file",
            self.root.display(),
            human(total),
            self.files.len(),
            human(limits.max_bytes),
            limits.max_files
        ))
    }
}

fn human(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "a rounded size for a message")]
    let mb = bytes as f64 / (1024.0 * 1024.0);
    if mb >= 1.0 {
        format!("{mb:.1} MB")
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn the_workspace_ignored_files_and_caches_are_left_out() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(r, "src/train.py", "print(1)");
        write(r, "src/__pycache__/train.pyc", "x");
        write(r, ".git/HEAD", "ref");
        write(r, ".sluice/sluice.db", "db");
        write(r, ".sluice/jobs/a/code/src/train.py", "print(1)");
        write(r, "data/big.csv", "1,2");
        write(r, "notes.log", "log");
        write(r, ".gitignore", "*.log\n");
        let snap = Snapshot::of(r, &[r.join(".sluice")]).unwrap();
        assert_eq!(
            snap.paths().collect::<Vec<_>>(),
            [".gitignore", "data/big.csv", "src/train.py"]
        );
        // `.amlignore` wins over `.gitignore`.
        write(r, ".amlignore", "data/\n");
        let snap = Snapshot::of(r, &[r.join(".sluice")]).unwrap();
        assert_eq!(
            snap.paths().collect::<Vec<_>>(),
            [".amlignore", ".gitignore", "notes.log", "src/train.py"]
        );
        assert_eq!(snap.ignore_file, Some(r.join(".amlignore")));
        let out = tempfile::tempdir().unwrap();
        snap.copy_to(&out.path().join("copy")).unwrap();
        assert!(out.path().join("copy/src/train.py").is_file());
        assert!(!out.path().join("copy/.sluice").exists());
        // The hash covers the listed files only: a change in an ignored file changes nothing.
        let h1 = snap.hash(&mut HashMemo::default()).unwrap();
        write(r, "data/big.csv", "3,4");
        let h2 = Snapshot::of(r, &[r.join(".sluice")])
            .unwrap()
            .hash(&mut HashMemo::default())
            .unwrap();
        assert_eq!(h1, h2);
        write(r, "src/train.py", "print(2)");
        let h3 = Snapshot::of(r, &[r.join(".sluice")])
            .unwrap()
            .hash(&mut HashMemo::default())
            .unwrap();
        assert_ne!(h1, h3);
    }

    #[test]
    fn a_snapshot_past_the_limits_names_its_largest_entries() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..5 {
            write(d.path(), &format!("data/{i}.csv"), &"x".repeat(1000));
        }
        write(d.path(), "train.py", "print(1)");
        let snap = Snapshot::of(d.path(), &[]).unwrap();
        let limits = SnapshotLimits {
            max_bytes: 2000,
            max_files: 100,
        };
        let msg = snap.over_limits(limits).expect("past the size limit");
        assert!(msg.contains("`data` (4.9 KB, 5 files)"), "{msg}");
        assert!(snap.over_limits(SnapshotLimits::AZURE).is_none());
    }
}
