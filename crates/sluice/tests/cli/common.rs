//! The test context: a temporary folder with its own workspace, and the real binary run in it
//! with a clean environment. Snapshots filter out what changes from run to run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub(crate) struct TestContext {
    pub(crate) dir: tempfile::TempDir,
}

impl TestContext {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A context whose workspace keeps its metadata on the test PostgreSQL server when the run
    /// names one (`tests/run.sh`'s PostgreSQL pass), else in `sluice.db`.
    pub(crate) fn on_test_store() -> Self {
        let ctx = Self::new();
        sluice_store::testing::workspace_location(&ctx.workspace()).expect("the workspace's store");
        ctx
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn workspace(&self) -> PathBuf {
        self.root().join(".sluice")
    }

    /// The real `sluice` binary, run in the test's folder.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.args(args)
            .current_dir(self.root())
            .env("NO_COLOR", "1")
            .env("USER", "tester")
            .env_remove("SLUICE_WORKSPACE")
            .env_remove("SLUICE_STORE")
            .env_remove("SLUICE_TOKEN")
            .env_remove("SLUICE_OUTPUT")
            .env_remove("SLUICE_LOG")
            .env_remove("SLUICE_LOG_FORMAT")
            .env_remove("SLUICE_RUNNER_BEAT_SECS")
            .env_remove("SLUICE_RUNNER_STALE_SECS");
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run sluice")
    }

    /// Runs and returns stdout, asserting success.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`sluice {}` failed with {:?}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    pub(crate) fn json(&self, args: &[&str]) -> serde_json::Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
    }

    pub(crate) fn write(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write");
        path
    }

    /// Copies an example from the repository into the test folder.
    pub(crate) fn copy_example(&self, name: &str) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name);
        let dest = self.root().join(name);
        copy_dir(&src, &dest);
        dest
    }

    /// Exit code, stdout and stderr, with paths, times, hashes and generated names filtered.
    pub(crate) fn snapshot(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!(
            "success: {}\nexit_code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            out.status.success(),
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.filter(&text)
    }

    pub(crate) fn filter(&self, text: &str) -> String {
        let root = self.root().display().to_string();
        let canonical = std::fs::canonicalize(self.root())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let mut text = text.replace(&canonical, "[TEMP]").replace(&root, "[TEMP]");
        if let Some(name) = self.root().file_name() {
            text = text.replace(&*name.to_string_lossy(), "[TEMPNAME]");
        }
        let patterns = [
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]"),
            (r"blake3:[0-9a-f]{64}", "[HASH]"),
            (r"\b[a-z]+_[a-z]+_[0-9a-z]{8}\b", "[JOB]"),
        ];
        for (pattern, replacement) in patterns {
            text = regex_replace(&text, pattern, replacement);
        }
        text
    }
}

fn regex_replace(text: &str, pattern: &str, replacement: &str) -> String {
    regex::Regex::new(pattern)
        .expect("regex")
        .replace_all(text, replacement)
        .into_owned()
}

fn copy_dir(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).expect("mkdir");
    for entry in std::fs::read_dir(src).expect("read example") {
        let entry = entry.expect("entry");
        let target = dest.join(entry.file_name());
        // Links (the examples share their data and scripts) are copied as what they point at.
        if std::fs::metadata(entry.path()).expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Waits up to `secs` for `check`, polling.
pub(crate) fn wait_for(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes whose command line contains `needle` (from /proc, without the test itself).
pub(crate) fn processes_with(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // A zombie has an empty command line; it is gone for every purpose here.
        if text.contains(needle) {
            found.push(pid);
        }
    }
    found
}
