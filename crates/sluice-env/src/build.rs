//! Building an environment once, under a file lock, into `ENVS/HASH/`.
//!
//! The folder holds `requirements.in` (the normalised set), `lock.txt` (the resolved, pinned
//! set from `uv pip compile`), `venv/` (made by `uv venv` and filled by `uv pip sync` from the
//! lock) and, written last, `sluice-env.json`: a folder without it is a build that did not
//! finish and is rebuilt from scratch.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::process::run_logged;
use crate::{EnvError, EnvRequest, Python, find_python, find_uv};

const DONE_FILE: &str = "sluice-env.json";

/// Where environments are built and where tools are installed.
#[derive(Debug, Clone)]
pub struct Builder {
    /// `ENVS/HASH/` per environment.
    pub envs_dir: PathBuf,
    /// Where `uv` is installed when it is not on PATH.
    pub tools_dir: PathBuf,
}

/// A built environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Built {
    pub hash: String,
    /// The venv: put `VENV/bin` first on PATH.
    pub venv: PathBuf,
    /// The interpreter's full version.
    pub python: String,
    /// The normalised requirement set.
    pub requirements: Vec<String>,
    /// The resolved, pinned set (`name==version` lines).
    pub lock: String,
    /// How long the build took.
    pub build_seconds: f64,
    /// True when an earlier build was reused.
    #[serde(skip)]
    pub reused: bool,
}

impl Builder {
    /// The interpreter and hash `request` resolves to on this machine, without building.
    pub fn resolve(&self, request: &EnvRequest) -> Result<(Python, String), EnvError> {
        let python = find_python(request.python.as_deref())?;
        let hash = request.hash(&python.version);
        Ok((python, hash))
    }

    /// The finished build with this hash, if there is one whose interpreter is still there.
    #[must_use]
    pub fn existing(&self, hash: &str) -> Option<Built> {
        let dir = self.envs_dir.join(hash);
        let text = std::fs::read_to_string(dir.join(DONE_FILE)).ok()?;
        let mut built: Built = serde_json::from_str(&text).ok()?;
        // A moved or damaged build is rebuilt rather than silently running the host's python.
        if built.hash != hash
            || built.venv != dir.join("venv")
            || !built.venv.join("bin/python").exists()
        {
            return None;
        }
        built.reused = true;
        Some(built)
    }

    /// Returns the environment for `request`, building it if no finished build exists. Lines of
    /// the installer's output go to `log` as they come.
    pub fn ensure(
        &self,
        request: &EnvRequest,
        log: &mut dyn FnMut(&str),
    ) -> Result<Built, EnvError> {
        let (python, hash) = self.resolve(request)?;
        if let Some(built) = self.existing(&hash) {
            return Ok(built);
        }
        std::fs::create_dir_all(&self.envs_dir).map_err(|e| EnvError::io(&self.envs_dir, e))?;
        let lock_path = self.envs_dir.join(format!("{hash}.lock"));
        let lock = File::create(&lock_path).map_err(|e| EnvError::io(&lock_path, e))?;
        if lock.try_lock().is_err() {
            log(&format!(
                "waiting for another process that is building environment {}",
                crate::short(&hash)
            ));
            lock.lock().map_err(|e| EnvError::io(&lock_path, e))?;
        }
        if let Some(built) = self.existing(&hash) {
            return Ok(built);
        }
        let dir = self.envs_dir.join(&hash);
        let result = self.build(request, &python, &hash, &dir, log);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    fn build(
        &self,
        request: &EnvRequest,
        python: &Python,
        hash: &str,
        dir: &Path,
        log: &mut dyn FnMut(&str),
    ) -> Result<Built, EnvError> {
        let started = Instant::now();
        let uv = find_uv(&self.tools_dir, log)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| EnvError::io(dir, e))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| EnvError::io(dir, e))?;
        let requirements = request.normalized();
        log(&format!(
            "building environment {} with Python {} ({}) and {} requirement(s)",
            crate::short(hash),
            python.version,
            python.path.display(),
            requirements.len()
        ));
        let req_in = dir.join("requirements.in");
        write(&req_in, &lines(&requirements))?;
        let lock_file = dir.join("lock.txt");
        let venv = dir.join("venv");

        let uv_cmd = |args: &[&str]| {
            let mut c = Command::new(&uv);
            // Its own process group: Ctrl-C on the terminal cancels the job, which lets a
            // build that others may be waiting for finish.
            c.process_group(0);
            c.args(args)
                .env("UV_PYTHON_DOWNLOADS", "never")
                .env("UV_NO_PROGRESS", "1")
                .env_remove("VIRTUAL_ENV")
                .env_remove("CONDA_PREFIX")
                .current_dir(dir);
            c
        };
        if requirements.is_empty() {
            write(&lock_file, "")?;
        } else {
            let mut cmd = uv_cmd(&["pip", "compile", "requirements.in", "-o", "lock.txt"]);
            cmd.args([
                "--no-header",
                "--no-annotate",
                "--quiet",
                "--color",
                "never",
            ])
            .arg("--python")
            .arg(&python.path);
            let (status, output) = run(&mut cmd, "uv pip compile", log)?;
            if !status.success() {
                return Err(install_error(
                    request,
                    &output,
                    "resolving the requirements with `uv pip compile`",
                ));
            }
        }
        let mut cmd = uv_cmd(&[
            "venv",
            "venv",
            "--no-project",
            "--quiet",
            "--color",
            "never",
        ]);
        cmd.arg("--python").arg(&python.path);
        let (status, output) = run(&mut cmd, "uv venv", log)?;
        if !status.success() {
            return Err(EnvError::Build {
                step: "creating the virtual environment with `uv venv`",
                message: output.trim().to_owned(),
            });
        }
        let lock = std::fs::read_to_string(&lock_file).map_err(|e| EnvError::io(&lock_file, e))?;
        if !requirements.is_empty() {
            let venv_python = venv.join("bin").join("python");
            let mut cmd = uv_cmd(&["pip", "sync", "lock.txt", "--color", "never"]);
            cmd.arg("--python").arg(&venv_python);
            let (status, output) = run(&mut cmd, "uv pip sync", log)?;
            if !status.success() {
                return Err(install_error(
                    request,
                    &output,
                    "installing the pinned set with `uv pip sync`",
                ));
            }
        }
        let built = Built {
            hash: hash.to_owned(),
            venv,
            python: python.version.clone(),
            requirements,
            lock,
            build_seconds: started.elapsed().as_secs_f64(),
            reused: false,
        };
        let done = dir.join(DONE_FILE);
        let text = serde_json::to_string_pretty(&built).unwrap_or_default();
        write(&dir.join(format!("{DONE_FILE}.partial")), &text)?;
        std::fs::rename(dir.join(format!("{DONE_FILE}.partial")), &done)
            .map_err(|e| EnvError::io(&done, e))?;
        log(&format!(
            "environment {} built in {:.1} s",
            crate::short(hash),
            built.build_seconds
        ));
        Ok(built)
    }
}

/// The requirement the installer's message names, else the failed build step.
fn install_error(request: &EnvRequest, output: &str, step: &'static str) -> EnvError {
    match request.culprit(output) {
        Some(r) => EnvError::Requirement {
            requirement: r.text.clone(),
            origin: r.origin.clone(),
            message: output.trim().to_owned(),
        },
        None => EnvError::Build {
            step,
            message: output.trim().to_owned(),
        },
    }
}

fn run(
    cmd: &mut Command,
    what: &str,
    log: &mut dyn FnMut(&str),
) -> Result<(std::process::ExitStatus, String), EnvError> {
    run_logged(cmd, log).map_err(|e| EnvError::Build {
        step: "starting uv",
        message: format!("`{what}` could not be started: {e}"),
    })
}

fn lines(items: &[String]) -> String {
    let mut s = items.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

fn write(path: &Path, text: &str) -> Result<(), EnvError> {
    std::fs::write(path, text).map_err(|e| EnvError::io(path, e))
}
