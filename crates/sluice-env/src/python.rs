//! Finding a CPython interpreter of the requested version among the machine's own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::EnvError;

/// An interpreter on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Python {
    /// The program that was found (as on PATH).
    pub path: PathBuf,
    /// Its full version, `3.11.7`.
    pub version: String,
}

/// Finds an interpreter satisfying `request` (`3.11`, `3.11.7`, `>=3.10,<3.13`; `None` for the
/// machine's `python3`). Looks on PATH first, then where people keep other versions: pyenv's
/// versions folder, uv-managed Pythons and conda installs (see [`managed`]). Never downloads
/// one. A program that does not run (a pyenv shim for a version pyenv does not have) is not
/// an interpreter. Results are remembered for the life of the process.
pub fn find_python(request: Option<&str>) -> Result<Python, EnvError> {
    static FOUND: OnceLock<Mutex<HashMap<String, Python>>> = OnceLock::new();
    let key = request.unwrap_or("").trim().to_owned();
    let cache = FOUND.get_or_init(Mutex::default);
    if let Some(p) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
    {
        return Ok(p.clone());
    }
    let mut seen = Vec::new();
    let mut found_versions = Vec::new();
    let names = candidates(&key);
    let on_path_found = names.iter().filter_map(|n| on_path(n));
    let versioned: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with("python3."))
        .cloned()
        .collect();
    let elsewhere = managed(&versioned);
    for path in on_path_found.chain(elsewhere) {
        if seen.contains(&path) {
            continue;
        }
        seen.push(path.clone());
        let Some(version) = probe(&path) else {
            continue;
        };
        if matches(&version, &key) {
            let python = Python { path, version };
            cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, python.clone());
            return Ok(python);
        }
        found_versions.push(format!("{version} ({})", path.display()));
    }
    // Conda would fetch the exact patch release (`python=3.7.6`); Sluice takes the newest
    // patch of the same minor version on this machine instead.
    if is_plain(&key)
        && key.split('.').count() >= 3
        && let Some(mm) = major_minor(&key)
        && let Ok(python) = find_python(Some(&mm))
    {
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, python.clone());
        return Ok(python);
    }
    Err(EnvError::PythonMissing {
        request: if key.is_empty() { "3".to_owned() } else { key },
        found: if found_versions.is_empty() {
            "; no Python interpreter was found on PATH, in pyenv, uv or conda".to_owned()
        } else {
            format!("; found {}", found_versions.join(", "))
        },
    })
}

/// `3.11` of `3.11.7` or `>=3.11`.
pub(crate) fn major_minor(request: &str) -> Option<String> {
    let digits = request.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut parts = digits.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().filter(|p| !p.is_empty())?;
    let minor = parts.next().filter(|p| !p.is_empty())?;
    Some(format!("{major}.{minor}"))
}

fn is_plain(request: &str) -> bool {
    !request.is_empty() && request.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Program names to try, most specific first.
fn candidates(request: &str) -> Vec<String> {
    let mut names = Vec::new();
    if is_plain(request)
        && let Some(mm) = major_minor(request)
    {
        names.push(format!("python{mm}"));
    }
    names.push("python3".to_owned());
    names.push("python".to_owned());
    if !request.is_empty() && !is_plain(request) {
        names.extend((6..=20).rev().map(|m| format!("python3.{m}")));
    }
    names
}

/// The folders other Python versions are kept in, each holding installs with a `bin/` folder:
/// pyenv's `versions/`, uv's managed Pythons, and conda's base and `envs/`.
fn install_roots(var: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let env = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = env("HOME");
    let mut parents = Vec::new();
    // pyenv: `$PYENV_ROOT/versions/3.8.18/bin/python3.8`.
    if let Some(root) = env("PYENV_ROOT").or_else(|| home.as_ref().map(|h| h.join(".pyenv"))) {
        parents.push(root.join("versions"));
    }
    // uv: `~/.local/share/uv/python/cpython-3.8.20-linux-x86_64-gnu/bin/python3.8`.
    if let Some(dir) = env("UV_PYTHON_INSTALL_DIR")
        .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("uv/python")))
        .or_else(|| home.as_ref().map(|h| h.join(".local/share/uv/python")))
    {
        parents.push(dir);
    }
    // conda: the base install and its `envs/`.
    let mut conda_roots: Vec<PathBuf> = Vec::new();
    if let Some(exe) = env("CONDA_EXE") {
        conda_roots.extend(exe.parent().and_then(Path::parent).map(Path::to_path_buf));
    }
    conda_roots.extend(env("CONDA_PREFIX"));
    if let Some(h) = &home {
        for name in [
            "miniconda3",
            "anaconda3",
            "miniforge3",
            "mambaforge",
            "micromamba",
        ] {
            conda_roots.push(h.join(name));
        }
    }
    conda_roots.push(PathBuf::from("/opt/conda"));
    let mut roots = Vec::new();
    for parent in parents {
        roots.extend(subfolders(&parent));
    }
    for root in conda_roots {
        roots.extend(subfolders(&root.join("envs")));
        roots.push(root);
    }
    roots
}

/// The folders in `dir`, newest version first by name.
fn subfolders(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort_by(|a, b| {
        let v = |p: &PathBuf| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            parse_version(name.trim_start_matches(|c: char| !c.is_ascii_digit()))
        };
        v(b).cmp(&v(a))
    });
    out
}

/// Interpreters named `names` (`python3.8`, ...) in the places of [`install_roots`].
fn managed(names: &[String]) -> Vec<PathBuf> {
    managed_in(&install_roots(&|k| std::env::var_os(k)), names)
}

fn managed_in(roots: &[PathBuf], names: &[String]) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for name in names {
        for root in roots {
            let p = root.join("bin").join(name);
            if p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            {
                out.push(p);
            }
        }
    }
    out
}

/// The first executable `name` on PATH.
#[must_use]
pub fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The interpreter's full version, or `None` if it does not run (a pyenv shim for a version
/// that is not installed, say).
fn probe(path: &Path) -> Option<String> {
    let out = Command::new(path)
        .args(["-c", "import platform; print(platform.python_version())"])
        .env_remove("PYTHONHOME")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!v.is_empty()).then_some(v)
}

fn parse_version(v: &str) -> Vec<u64> {
    v.split('.')
        .map_while(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Whether `version` satisfies `request`: empty (any), a prefix (`3.11` matches `3.11.7`), or
/// comma-separated comparisons (`>=3.10,<3.13`, `==3.11.*`).
fn matches(version: &str, request: &str) -> bool {
    if request.is_empty() {
        return version.starts_with('3');
    }
    let have = parse_version(version);
    request.split(',').map(str::trim).all(|clause| {
        let (op, want) = ["==", ">=", "<=", "!=", "~=", ">", "<"]
            .iter()
            .find_map(|op| clause.strip_prefix(op).map(|rest| (*op, rest.trim())))
            .unwrap_or(("==", clause));
        let prefix = want.ends_with(".*") || op == "==" && !want.contains('*');
        let want_v = parse_version(want.trim_end_matches(".*"));
        let cmp = compare(&have, &want_v);
        let prefix_eq = have.len() >= want_v.len() && have[..want_v.len()] == want_v[..];
        match op {
            "==" if prefix => prefix_eq,
            "==" => cmp == std::cmp::Ordering::Equal,
            "!=" => !prefix_eq,
            ">=" => cmp != std::cmp::Ordering::Less,
            "<=" => cmp != std::cmp::Ordering::Greater || prefix_eq,
            ">" => cmp == std::cmp::Ordering::Greater && !prefix_eq,
            "<" => cmp == std::cmp::Ordering::Less,
            "~=" => {
                cmp != std::cmp::Ordering::Less
                    && want_v.len() >= 2
                    && have.len() >= want_v.len() - 1
                    && have[..want_v.len() - 1] == want_v[..want_v.len() - 1]
            }
            _ => false,
        }
    })
}

/// Compares on the components both have (so `3.11.7` equals `3.11`).
fn compare(have: &[u64], want: &[u64]) -> std::cmp::Ordering {
    for (a, b) in have.iter().zip(want) {
        match a.cmp(b) {
            std::cmp::Ordering::Equal => {}
            other => return other,
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_requests() {
        assert!(matches("3.11.7", "3.11"));
        assert!(matches("3.11.7", "3.11.7"));
        assert!(!matches("3.11.7", "3.11.8"));
        assert!(!matches("3.12.1", "3.1"));
        assert!(matches("3.12.1", ">=3.10"));
        assert!(!matches("3.9.18", ">=3.10"));
        assert!(matches("3.11.7", ">=3.10,<3.13"));
        assert!(!matches("3.13.0", ">=3.10,<3.13"));
        assert!(matches("3.11.7", "==3.11.*"));
        assert!(matches("3.11.7", "~=3.10"));
        assert!(!matches("4.0.0", "~=3.10"));
        assert!(matches("3.11.7", ""));
        assert!(matches("3.11.7", "<=3.11"));
        assert!(!matches("3.11.7", ">3.11"));
    }

    #[test]
    fn candidate_programs() {
        assert_eq!(candidates("3.11")[0], "python3.11");
        assert_eq!(candidates("3.11.7")[0], "python3.11");
        assert_eq!(candidates(""), ["python3", "python"]);
        assert!(candidates(">=3.10").contains(&"python3.12".to_owned()));
        assert_eq!(major_minor(">=3.10"), Some("3.10".to_owned()));
    }

    fn script(path: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn interpreters_are_found_in_pyenv_uv_and_conda_folders() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        script(
            &h.join(".pyenv/versions/3.8.18/bin/python3.8"),
            "echo 3.8.18",
        );
        script(&h.join(".pyenv/versions/3.8.2/bin/python3.8"), "echo 3.8.2");
        script(
            &h.join(".local/share/uv/python/cpython-3.9.20-linux-x86_64-gnu/bin/python3.9"),
            "echo 3.9.20",
        );
        script(&h.join("miniconda3/envs/py37/bin/python3.7"), "echo 3.7.16");
        script(&h.join("miniconda3/bin/python3.10"), "echo 3.10.4");
        let home_only = |k: &str| (k == "HOME").then(|| h.as_os_str().to_owned());
        let roots = install_roots(&home_only);
        let find = |v: &str| managed_in(&roots, &[format!("python{v}")]);
        // The newest install of a version comes first.
        assert_eq!(
            find("3.8"),
            [
                h.join(".pyenv/versions/3.8.18/bin/python3.8"),
                h.join(".pyenv/versions/3.8.2/bin/python3.8")
            ]
        );
        assert_eq!(find("3.9").len(), 1);
        assert_eq!(find("3.7"), [h.join("miniconda3/envs/py37/bin/python3.7")]);
        assert_eq!(find("3.10"), [h.join("miniconda3/bin/python3.10")]);
        assert!(find("3.12").is_empty());
        assert_eq!(probe(&find("3.8")[0]).as_deref(), Some("3.8.18"));
    }

    #[test]
    fn a_shim_that_cannot_run_its_version_is_not_an_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let shim = dir.path().join("python3.8");
        script(
            &shim,
            "echo \"pyenv: python3.8: command not found\" >&2; exit 127",
        );
        assert_eq!(probe(&shim), None);
    }

    #[test]
    fn an_exact_patch_release_falls_back_to_the_same_minor_version() {
        let here = find_python(None).unwrap();
        let mm = major_minor(&here.version).unwrap();
        let asked = format!("{mm}.999");
        let found = find_python(Some(&asked)).unwrap();
        assert!(found.version.starts_with(&format!("{mm}.")), "{found:?}");
        assert!(find_python(Some("2.1.999")).is_err());
    }

    #[test]
    fn a_version_nobody_has_is_a_clear_error() {
        let err = find_python(Some("2.1")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("Python 2.1 is not installed on this machine"),
            "{text}"
        );
        assert!(err.help().unwrap().contains("python2.1"));
    }
}
