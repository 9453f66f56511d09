//! Finding `uv`, or installing it from PyPI into the workspace's tool folder.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::run_logged;
use crate::{EnvError, find_python};

/// The uv releases Sluice drives (their command-line interface is stable across these).
const UV_REQUIREMENT: &str = "uv>=0.5,<1";

/// Finds `uv`: `$SLUICE_UV`, then `uv` on PATH, then `TOOLS/uv/bin/uv`; otherwise installs it
/// there with the machine's `python3 -m pip` (from PyPI, under a lock so that concurrent
/// callers install it once).
pub fn find_uv(tools_dir: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf, EnvError> {
    if let Some(explicit) = std::env::var_os("SLUICE_UV") {
        let path = PathBuf::from(explicit);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(EnvError::UvMissing {
                detail: format!(
                    "SLUICE_UV is set to `{}`, which does not exist",
                    path.display()
                ),
            })
        };
    }
    if let Some(path) = crate::python::on_path("uv") {
        return Ok(path);
    }
    let installed = tools_dir.join("uv").join("bin").join("uv");
    if installed.is_file() {
        return Ok(installed);
    }
    std::fs::create_dir_all(tools_dir).map_err(|e| EnvError::io(tools_dir, e))?;
    let lock_path = tools_dir.join("uv.lock");
    let lock = File::create(&lock_path).map_err(|e| EnvError::io(&lock_path, e))?;
    lock.lock().map_err(|e| EnvError::io(&lock_path, e))?;
    if installed.is_file() {
        return Ok(installed);
    }
    let python = find_python(None).map_err(|e| EnvError::UvMissing {
        detail: format!("it is not on PATH, and it cannot be installed: {e}"),
    })?;
    let staging = tools_dir.join(format!("uv.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    log(&format!(
        "installing {UV_REQUIREMENT} from PyPI into {}",
        tools_dir.join("uv").display()
    ));
    let mut cmd = Command::new(&python.path);
    cmd.process_group(0);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--target",
    ])
    .arg(&staging)
    .arg(UV_REQUIREMENT);
    let (status, output) = run_logged(&mut cmd, log).map_err(|e| EnvError::UvMissing {
        detail: format!(
            "`{} -m pip` could not be started: {e}",
            python.path.display()
        ),
    })?;
    if !status.success() || !staging.join("bin").join("uv").is_file() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(EnvError::UvMissing {
            detail: format!(
                "it is not on PATH, and `pip install {UV_REQUIREMENT}` failed:\n{}",
                output.trim()
            ),
        });
    }
    let target = tools_dir.join("uv");
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&staging, &target).map_err(|e| EnvError::io(&target, e))?;
    Ok(installed)
}
