//! The workspace folder (`.sluice/`): its database and where artifacts live.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sluice_store::pool::StorePool;
use sluice_store::{Location, Store};

use crate::EngineError;

/// The name of the workspace folder.
pub const WORKSPACE_DIR: &str = ".sluice";

/// An open workspace.
#[derive(Clone)]
pub struct Workspace {
    root: PathBuf,
    /// Where what steps read and write lives (the `shared` setting, else `root`).
    shared: PathBuf,
    location: Location,
    store: Arc<Mutex<Store>>,
    memo: Arc<MemoCell>,
    /// The artifact store, once asked for (an error is kept as its message).
    artifacts: Arc<std::sync::OnceLock<Result<sluice_artifacts::store::Artifacts, String>>>,
}

/// The hash memo (`cache/file-hashes.json`), read once and kept in memory: reading and
/// rewriting it for every hash made a job's cost grow with every file ever hashed.
struct MemoCell {
    path: PathBuf,
    memo: Mutex<Option<sluice_artifacts::HashMemo>>,
}

impl MemoCell {
    fn save(&self) {
        let mut cell = self
            .memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(memo) = cell.as_mut().filter(|m| m.changed()) else {
            return;
        };
        // A cache: losing a race with another process costs a re-read, nothing more.
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = self
            .path
            .with_extension(format!("json.{}", std::process::id()));
        if let Ok(bytes) = serde_json::to_vec(&*memo)
            && std::fs::write(&tmp, bytes).is_ok()
            && std::fs::rename(&tmp, &self.path).is_ok()
        {
            memo.mark_saved();
        }
    }
}

impl Drop for MemoCell {
    fn drop(&mut self) {
        self.save();
    }
}

pub use sluice_store::WORKSPACE_STORE_FILE as STORE_FILE;

/// The first line of a one-line workspace setting file (`store`, `artifacts`) that is neither
/// blank nor a `#` comment; `None` when the file does not exist.
pub fn setting_line(file: &Path) -> Result<Option<String>, EngineError> {
    match std::fs::read_to_string(file) {
        Ok(s) => Ok(s
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EngineError::io(file, e)),
    }
}

/// The workspace file naming the host (a name or an address of this machine) that steps on
/// other machines (a Slurm cluster's nodes) use to reach a job's tracking server; without it the
/// server listens on 127.0.0.1 only.
pub const TRACKING_HOST_FILE: &str = "tracking-host";

/// The workspace file naming where its artifacts live (one line: a folder, `s3://...`,
/// `wasbs://...`); without it, its `mlartifacts` folder.
pub const ARTIFACTS_FILE: &str = "artifacts";

/// The workspace file naming the folder, seen at the same path by every node of a cluster,
/// where what steps read and write lives: jobs' step folders (code copies, outputs, logs),
/// Python environments and `uv`, data asset versions, datastore folders and caches, and a copy
/// of this binary that batch steps find on `PATH`. Without it, the workspace folder itself
/// (which must then be shared). A relative path is taken from the workspace folder.
pub const SHARED_FILE: &str = "shared";

/// The file a workspace leaves in its shared folder when it makes it: an empty folder without
/// it at the shared path is a mount point whose filesystem is not mounted.
pub const SHARED_MARK: &str = ".sluice-shared";

/// Checks the shared folder `dir` (named in `root`'s settings) is there, never making it: a
/// shared folder missing on this machine (a mount not there) made anew would hide steps' files
/// from the other nodes. A folder with files but no mark (made before marks were) gets one
/// where it can. (A local folder an older build made on a node that lacked the mount, with
/// files in it, is not told from the real one.)
fn check_shared(dir: &Path, root: &Path) -> Result<(), EngineError> {
    let named = root.join(SHARED_FILE);
    if !dir.is_dir() {
        return Err(EngineError::Internal(format!(
            "the workspace's shared path `{}` (named in {}) is not a folder on this machine: mount the folder the cluster's nodes share there, or, on a machine of its own, make it (`mkdir -p {} && touch {}`)",
            dir.display(),
            named.display(),
            dir.display(),
            dir.join(SHARED_MARK).display()
        )));
    }
    if dir.join(SHARED_MARK).exists() {
        return Ok(());
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|e| EngineError::io(dir, e))?
        .next()
        .is_none();
    if !empty {
        // In use before marks existed: marked now if this machine may write there (a
        // read-only shared folder stays usable).
        if let Err(e) = Workspace::make_shared(dir) {
            tracing::warn!(path = %dir.display(), error = %e, "cannot mark the shared folder");
        }
        return Ok(());
    }
    Err(EngineError::Internal(format!(
        "the workspace's shared path `{}` (named in {}) is an empty folder without the mark `{SHARED_MARK}` the workspace leaves there: the filesystem the cluster's nodes share is probably not mounted on this machine; mount it, or, on a machine of its own, mark the folder (`touch {}`)",
        dir.display(),
        named.display(),
        dir.join(SHARED_MARK).display()
    )))
}

impl Workspace {
    /// Opens the workspace at `root` (the `.sluice` folder itself), creating it if needed. Its
    /// metadata lives where `store` says, else where the workspace's `store` file says, else in
    /// its own `sluice.db`.
    pub fn open(root: &Path) -> Result<Self, EngineError> {
        Self::open_with(root, None)
    }

    /// [`Workspace::open`] with the store's location given (`--store`).
    pub fn open_with(root: &Path, store: Option<&Location>) -> Result<Self, EngineError> {
        std::fs::create_dir_all(root).map_err(|e| EngineError::io(root, e))?;
        let root = std::path::absolute(root).map_err(|e| EngineError::io(root, e))?;
        let location = Self::store_location(&root, store)?;
        let shared = match Self::configured_shared(&root)? {
            Some(dir) => {
                check_shared(&dir, &root)?;
                dir
            }
            None => root.clone(),
        };
        let store = Store::open_at(&location)?;
        let memo = Arc::new(MemoCell {
            path: root.join("cache").join("file-hashes.json"),
            memo: Mutex::new(None),
        });
        Ok(Self {
            root,
            shared,
            location,
            store: Arc::new(Mutex::new(store)),
            memo,
            artifacts: Arc::default(),
        })
    }

    /// Where the metadata of the workspace at `root` lives: `store` when given, else the URL in
    /// its `store` file, else its own `sluice.db`.
    pub fn store_location(root: &Path, store: Option<&Location>) -> Result<Location, EngineError> {
        Ok(match store {
            Some(l) => l.clone(),
            None => Self::configured_store(root)?
                .unwrap_or_else(|| Location::Sqlite(root.join("sluice.db"))),
        })
    }

    /// Makes the shared folder `dir` (if missing) with its mark: what `workspace create` and
    /// `infra` do when they write the setting.
    pub fn make_shared(dir: &Path) -> Result<(), EngineError> {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
        let mark = dir.join(SHARED_MARK);
        if !mark.exists() {
            std::fs::write(&mark, "the shared folder of a sluice workspace\n")
                .map_err(|e| EngineError::io(&mark, e))?;
        }
        Ok(())
    }

    /// The shared path the workspace folder `root`'s `shared` file names (a relative one taken
    /// from `root`; `..` resolved by name, no link followed: other machines are told this
    /// path), if it names one.
    pub fn configured_shared(root: &Path) -> Result<Option<PathBuf>, EngineError> {
        Ok(setting_line(&root.join(SHARED_FILE))?
            .map(|line| sluice_spec::normalize(&root.join(line))))
    }

    /// The location in the workspace's `store` file, if it has one.
    fn configured_store(root: &Path) -> Result<Option<Location>, EngineError> {
        Ok(setting_line(&root.join(STORE_FILE))?.map(|l| Location::parse(&l)))
    }

    /// Where the workspace's metadata lives.
    #[must_use]
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// A pool of stores at the workspace's location, for a server; the workspace's own store
    /// leaves its checkpoints to the pool's (see [`StorePool::share_checkpoints`]).
    pub fn store_pool(&self, size: u32) -> Result<StorePool, EngineError> {
        let pool = StorePool::open(self.location.clone(), size)?;
        pool.share_checkpoints(&self.store())?;
        Ok(pool)
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where what steps read and write lives: the folder the `shared` setting names, else the
    /// workspace folder.
    #[must_use]
    pub fn shared_root(&self) -> &Path {
        &self.shared
    }

    /// `PART/NAME` under the shared path; when that does not exist but the workspace folder
    /// has it (made before the `shared` setting was), the workspace folder's: a job's folders
    /// and a datastore's files stay where they were made.
    fn shared_or_own(&self, part: &str, name: &str) -> PathBuf {
        let shared = self.shared.join(part).join(name);
        if self.shared != self.root && !shared.exists() {
            let own = self.root.join(part).join(name);
            if own.exists() {
                return own;
            }
        }
        shared
    }

    /// Where cached copies of remote files live (`cache/KIND/...` under the shared path).
    #[must_use]
    pub fn cache_dir(&self, kind: &str) -> PathBuf {
        self.shared.join("cache").join(kind)
    }

    /// Where steps on other nodes read `path` when it is not on the shared path: a copy in
    /// the shared path's `inputs/HASH/NAME` (`content_hash`: `path`'s, as
    /// [`Workspace::hash_path`] gives it), one per content; `None` when the workspace has no
    /// shared path of its own or `path` is on it (symbolic links followed). Nothing is written
    /// here: [`Workspace::make_shared_copy`] makes it when a step needs it.
    #[must_use]
    pub fn shared_copy_of(&self, path: &Path, content_hash: &str) -> Option<PathBuf> {
        if self.shared == self.root {
            return None;
        }
        let inside = match (
            std::fs::canonicalize(path),
            std::fs::canonicalize(&self.shared),
        ) {
            (Ok(p), Ok(s)) => p.starts_with(s),
            _ => sluice_spec::normalize(path).starts_with(&self.shared),
        };
        if inside {
            return None;
        }
        let digest = content_hash.rsplit(':').next().unwrap_or(content_hash);
        let name = path
            .file_name()
            .map_or_else(|| "input".into(), std::ffi::OsStr::to_os_string);
        Some(
            self.shared
                .join("inputs")
                .join(digest.get(..32).unwrap_or(digest))
                .join(name),
        )
    }

    /// Makes the copy [`Workspace::shared_copy_of`] named, unless it is there already (copied
    /// beside it and renamed into place, so it is whole or absent; another runner may make it
    /// first). `content_hash` is the one it was planned with: a source changed since is
    /// refused, never put in place under the old hash.
    pub fn make_shared_copy(
        &self,
        from: &Path,
        copy: &Path,
        content_hash: Option<&str>,
    ) -> Result<(), EngineError> {
        Ok(sluice_artifacts::copy_once(from, copy, content_hash)?)
    }

    /// The store. Callers hold the guard only for the duration of one operation.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hashes a file or folder, reading only files changed since they were last hashed here
    /// (a size + modification-time memo kept in `cache/file-hashes.json`).
    pub fn hash_path(&self, path: &Path) -> Result<sluice_artifacts::ContentHash, EngineError> {
        self.with_memo(|memo| sluice_artifacts::hash_path_with(path, memo))
    }

    /// The code snapshot of a step's `code:` folder: its files less what `.amlignore` (else
    /// `.gitignore`) excludes, and never this workspace.
    pub fn code_snapshot(&self, code: &Path) -> Result<sluice_artifacts::Snapshot, EngineError> {
        Ok(sluice_artifacts::Snapshot::of(
            code,
            std::slice::from_ref(&self.root),
        )?)
    }

    /// Hashes a code snapshot with the workspace's hash memo.
    pub fn hash_snapshot(
        &self,
        snapshot: &sluice_artifacts::Snapshot,
    ) -> Result<sluice_artifacts::ContentHash, EngineError> {
        self.with_memo(|memo| snapshot.hash(memo))
    }

    fn with_memo(
        &self,
        f: impl FnOnce(
            &mut sluice_artifacts::HashMemo,
        )
            -> Result<sluice_artifacts::ContentHash, sluice_artifacts::ArtifactError>,
    ) -> Result<sluice_artifacts::ContentHash, EngineError> {
        let mut cell = self
            .memo
            .memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let memo = cell.get_or_insert_with(|| {
            std::fs::read(&self.memo.path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        });
        Ok(f(memo)?)
    }

    /// Writes the hash memo if hashing added to it since it was read or last written (also done
    /// when the last handle on the workspace goes away).
    pub fn save_hash_memo(&self) {
        self.memo.save();
    }

    /// Where MLflow artifacts (`mlflow-artifacts:/...`) are kept.
    #[must_use]
    pub fn artifact_root(&self) -> PathBuf {
        self.root.join("mlartifacts")
    }

    /// The host steps reach the job's tracking server at (`tracking-host` file, else the
    /// `SLUICE_TRACKING_HOST` variable), if configured.
    pub fn tracking_host(&self) -> Result<Option<String>, EngineError> {
        if let Some(h) = setting_line(&self.root.join(TRACKING_HOST_FILE))? {
            return Ok(Some(h));
        }
        Ok(std::env::var("SLUICE_TRACKING_HOST")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty()))
    }

    /// The workspace's artifact store: the destination its `artifacts` file names (credentials
    /// from the environment), else its `mlartifacts` folder. Its servers serve it and the
    /// registry stores model files in it. Opened once per open workspace (every step asks).
    pub fn artifacts(&self) -> Result<sluice_artifacts::store::Artifacts, EngineError> {
        let opened = self.artifacts.get_or_init(|| {
            let file = self.root.join(ARTIFACTS_FILE);
            match setting_line(&file).map_err(|e| e.to_string())? {
                Some(uri) => sluice_artifacts::store::Artifacts::open(&uri)
                    .map_err(|e| format!("{}: {e}", file.display())),
                None => Ok(sluice_artifacts::store::Artifacts::local(
                    self.artifact_root(),
                )),
            }
        });
        opened.clone().map_err(EngineError::Datastore)
    }

    /// The key in the artifact store behind an `mlflow-artifacts:/PATH` URI (`None` for other
    /// URIs); parts that could leave the root are dropped.
    #[must_use]
    pub fn artifact_key(uri: &str) -> Option<String> {
        let rest = uri.strip_prefix("mlflow-artifacts:/")?;
        Some(
            rest.split('/')
                .filter(|s| !s.is_empty() && *s != "." && *s != "..")
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    /// The local path behind an `mlflow-artifacts:/PATH` URI (`None` for other URIs); parts that
    /// could leave the artifact root are dropped.
    #[must_use]
    pub fn artifact_path(&self, uri: &str) -> Option<PathBuf> {
        let key = Self::artifact_key(uri)?;
        let mut p = self.artifact_root();
        p.extend(key.split('/').filter(|s| !s.is_empty()));
        Some(p)
    }

    /// Where data asset versions are kept.
    #[must_use]
    pub fn data_dir(&self, name: &str, version: &str) -> PathBuf {
        self.shared.join("data").join(name).join(version)
    }

    /// Where a job's step folders live.
    #[must_use]
    pub fn job_dir(&self, job: &str) -> PathBuf {
        self.shared_or_own("jobs", job)
    }

    /// The local folder of the datastore `name` (its files when it is not a registered remote
    /// one).
    #[must_use]
    pub fn datastore_dir(&self, name: &str) -> PathBuf {
        self.shared_or_own("datastores", name)
    }

    /// The local folder behind `azureml://datastores/NAME/paths/PATH`.
    #[must_use]
    pub fn datastore_path(&self, datastore: &str, path: &str) -> PathBuf {
        let mut p = self.datastore_dir(datastore);
        for part in path
            .split('/')
            .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        {
            p.push(part);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once a server's pool runs on the workspace (a job's in-process tracking server, a team
    /// server), the workspace's own connection leaves its checkpoints to the pool's thread
    /// instead of running SQLite's every 1,000 pages in the middle of a step's bookkeeping.
    #[test]
    fn a_workspaces_store_leaves_its_checkpoints_to_its_servers_pool() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = Workspace::open(&tmp.path().join(".sluice")).unwrap();
        assert_eq!(ws.store().checkpoints_every().unwrap(), Some(1000));
        let pool = ws.store_pool(2).unwrap();
        let every = ws.store().checkpoints_every().unwrap();
        assert!(every.is_some_and(|n| n > 1000), "{every:?}");
        assert_eq!(pool.get().unwrap().checkpoints_every().unwrap(), every);
    }

    #[test]
    fn the_shared_setting_moves_what_steps_touch_and_keeps_what_was_made_before() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(".sluice");
        let ws = Workspace::open(&root).unwrap();
        assert_eq!(ws.shared_root(), root.as_path());
        assert_eq!(ws.job_dir("old"), root.join("jobs").join("old"));
        std::fs::create_dir_all(ws.job_dir("old")).unwrap();
        std::fs::create_dir_all(ws.datastore_dir("lake")).unwrap();
        drop(ws);

        std::fs::write(root.join(SHARED_FILE), "# what nodes see\n../share/./x\n").unwrap();
        let shared = tmp.path().join("share").join("x");
        // A shared folder missing here (its mount not there) is an error, and nothing is made.
        let Err(e) = Workspace::open(&root) else {
            panic!("opened with its shared folder missing");
        };
        let msg = e.to_string();
        assert!(
            msg.contains(&shared.display().to_string())
                && msg.contains("is not a folder on this machine")
                && msg.contains("mkdir -p"),
            "{msg}"
        );
        assert!(!shared.exists(), "not made when the workspace opens");
        // An empty folder without the mark: a mount point with nothing mounted.
        std::fs::create_dir_all(&shared).unwrap();
        let Err(e) = Workspace::open(&root) else {
            panic!("opened on an empty unmarked shared folder");
        };
        let msg = e.to_string();
        assert!(
            msg.contains("is an empty folder without the mark") && msg.contains("not mounted"),
            "{msg}"
        );
        assert!(!shared.join(SHARED_MARK).exists(), "nothing written there");
        Workspace::make_shared(&shared).unwrap();
        let ws = Workspace::open(&root).unwrap();
        assert_eq!(ws.shared_root(), shared.as_path());
        // New things on the shared path; what was made before stays where it is.
        assert_eq!(ws.job_dir("new"), shared.join("jobs").join("new"));
        assert_eq!(ws.job_dir("old"), root.join("jobs").join("old"));
        assert_eq!(
            ws.datastore_dir("lake"),
            root.join("datastores").join("lake")
        );
        assert_eq!(
            ws.datastore_dir("fresh"),
            shared.join("datastores").join("fresh")
        );
        assert_eq!(
            ws.data_dir("d", "1"),
            shared.join("data").join("d").join("1")
        );
        assert_eq!(
            ws.cache_dir("artifacts"),
            shared.join("cache").join("artifacts")
        );
        assert_eq!(
            crate::envs::builder(&ws).envs_dir,
            shared.join("envs"),
            "environments are built on the shared path"
        );

        // A file elsewhere is read from a copy on the shared path, one per content, made when
        // asked for; one there (or reached through a link there) is read where it is.
        let outside = tmp.path().join("taxi.csv");
        std::fs::write(&outside, "a,b\n1,2\n").unwrap();
        let hash = ws.hash_path(&outside).unwrap().hash;
        let copy = ws.shared_copy_of(&outside, &hash).expect("a copy");
        assert!(
            copy.starts_with(shared.join("inputs")),
            "{}",
            copy.display()
        );
        assert_eq!(copy.file_name().unwrap(), "taxi.csv");
        assert!(!copy.exists(), "nothing written until a step needs it");
        ws.make_shared_copy(&outside, &copy, Some(&hash)).unwrap();
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), "a,b\n1,2\n");
        // Made once: a second call leaves the first copy as it is.
        std::fs::write(&copy, "kept\n").unwrap();
        ws.make_shared_copy(&outside, &copy, Some(&hash)).unwrap();
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), "kept\n");
        assert_eq!(ws.shared_copy_of(&copy, &hash), None);
        let dotted = shared.join("..").join("x").join("inputs");
        assert_eq!(
            ws.shared_copy_of(&dotted, &hash),
            None,
            "a path there written with `..`"
        );
        let escape = shared.join("..").join("..").join("taxi.csv");
        assert!(
            ws.shared_copy_of(&escape, &hash).is_some(),
            "`..` out of it"
        );
        let link = shared.join("to-local.csv");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(
            ws.shared_copy_of(&link, &hash).is_some(),
            "a link on the shared path to a local file"
        );
    }

    /// A shared folder in use before workspaces marked theirs (files in it, no mark) opens,
    /// and is marked.
    #[test]
    fn a_shared_folder_in_use_without_a_mark_gets_one() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(".sluice");
        let shared = tmp.path().join("share");
        std::fs::create_dir_all(shared.join("jobs")).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(SHARED_FILE), format!("{}\n", shared.display())).unwrap();
        let ws = Workspace::open(&root).unwrap();
        assert_eq!(ws.shared_root(), shared.as_path());
        assert!(shared.join(SHARED_MARK).is_file());
    }

    #[test]
    fn a_shared_path_below_a_file_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(".sluice");
        std::fs::create_dir_all(&root).unwrap();
        let blocker = tmp.path().join("a-file");
        std::fs::write(&blocker, "").unwrap();
        std::fs::write(
            root.join(SHARED_FILE),
            format!("{}/below\n", blocker.display()),
        )
        .unwrap();
        let Err(e) = Workspace::open(&root) else {
            panic!("opened with a shared path below a file");
        };
        let msg = e.to_string();
        assert!(
            msg.contains("shared path") && msg.contains("below") && msg.contains("is not a folder"),
            "{msg}"
        );
    }
}
