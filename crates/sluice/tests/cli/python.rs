//! Python command steps in environments built by `uv`.
//!
//! Tests that install packages need PyPI and `uv`: they run when `SLUICE_TEST_PYPI=1` (set by
//! `.ci/run`) and are skipped otherwise. `SLUICE_TEST_UV`, when set, points them at a `uv`
//! binary so each temporary workspace does not install its own; without it, `sluice` installs
//! uv into the workspace's tool folder (one test exercises that path on purpose).

use std::process::Command;

use serde_json::Value;

use crate::common::TestContext;

#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn pypi() -> bool {
    let on = std::env::var("SLUICE_TEST_PYPI").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("skipped: set SLUICE_TEST_PYPI=1 to run tests that install from PyPI");
    }
    on
}

/// The command with the test's `uv` (if any) and without a developer's `uv` on PATH.
fn with_uv(ctx: &TestContext, args: &[&str], share_uv: bool) -> Command {
    let mut cmd = ctx.command(args);
    match std::env::var_os("SLUICE_TEST_UV") {
        Some(uv) if share_uv => {
            cmd.env("SLUICE_UV", uv);
        }
        _ => {
            cmd.env_remove("SLUICE_UV");
            let path = std::env::var_os("PATH").unwrap_or_default();
            let kept: Vec<_> = std::env::split_paths(&path)
                .filter(|d| !d.join("uv").is_file())
                .collect();
            cmd.env("PATH", std::env::join_paths(kept).expect("PATH"));
        }
    }
    cmd
}

fn run_uv(ctx: &TestContext, args: &[&str]) -> std::process::Output {
    with_uv(ctx, args, true).output().expect("run sluice")
}

/// Writes a one-step command job running `script` in an environment from `conda` (inline).
fn python_job(ctx: &TestContext, conda: &str, script: &str) {
    ctx.write("env/conda.yml", conda);
    ctx.write("src/main.py", script);
    ctx.write(
        "job.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\ntype: command\nname: py\ncode: ./src\ncommand: python main.py --out ${{outputs.out}}\nenvironment:\n  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\n  conda_file: ./env/conda.yml\noutputs:\n  out:\n    type: uri_folder\n",
    );
}

const SMALL_CONDA: &str = "name: small\nchannels:\n  - defaults\ndependencies:\n  - python=3.11\n  - pip:\n    - six==1.17.0\n";

fn step(ctx: &TestContext, job: &str) -> serde_json::Value {
    let job = ctx.json(&["job", "show", "-n", job, "-o", "json"]);
    job["jobs"]["main"].clone()
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn conda_only_package_is_refused_at_its_line_before_anything_runs() {
    let ctx = TestContext::new();
    python_job(
        &ctx,
        "dependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n  - pip:\n    - six\n",
        "print('never')\n",
    );
    let out = ctx.run(&["job", "create", "-f", "job.yml"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("env/conda.yml:3:5"), "{stderr}");
    assert!(
        stderr.contains("`cudatoolkit` is a conda-only package (the CUDA runtime libraries)"),
        "{stderr}"
    );
    assert!(!ctx.workspace().join("jobs").join("py").exists());
}

#[test]
fn missing_python_version_is_named() {
    let ctx = TestContext::new();
    // `environment create` checks the interpreter before registering anything.
    ctx.write(
        "conda.yml",
        "name: old\ndependencies:\n  - python=3.4\n  - pip:\n    - six\n",
    );
    let out = ctx.run(&["environment", "create", "-f", "conda.yml"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(14), "{stderr}");
    assert!(
        stderr.contains("Python 3.4 is not installed on this machine; found"),
        "{stderr}"
    );
    assert!(
        stderr.contains("python3.4"),
        "the hint names the program: {stderr}"
    );
    let listed = ctx.run(&["environment", "list", "-o", "json"]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("\"old\""),
        "nothing registered"
    );

    // An inline environment fails its step's Preparing phase with the same message.
    python_job(&ctx, "dependencies:\n  - python=3.4\n", "print('never')\n");
    let out = ctx.run(&["job", "create", "-f", "job.yml"]);
    assert_eq!(out.status.code(), Some(1));
    let step = step(&ctx, "py");
    assert_eq!(step["status"], "Failed");
    let error = step["error"].as_str().unwrap();
    assert!(
        error.contains("could not be prepared: Python 3.4 is not installed"),
        "{error}"
    );
    let statuses: Vec<&str> = step["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["NotStarted", "Queued", "Preparing", "Failed"]);
}

#[test]
fn requirements_file_and_bare_conda_file_register() {
    let ctx = TestContext::new();
    ctx.write("requirements.txt", "six==1.17.0  # pinned\n");
    let out = ctx.run(&["environment", "create", "-f", "requirements.txt"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a requirements file needs --name"
    );
    let env = ctx.json(&[
        "environment",
        "create",
        "-f",
        "requirements.txt",
        "--name",
        "reqs",
        "--python",
        "3.11",
        "-o",
        "json",
    ]);
    assert_eq!(env["requirements"], serde_json::json!(["six==1.17.0"]));
    assert!(env["python"].as_str().unwrap().starts_with("3.11."));
    assert_eq!(env["built"], false);
    ctx.write(
        "conda.yml",
        "name: bare\ndependencies:\n  - python=3.11\n  - Six\n",
    );
    let bare = ctx.json(&["environment", "create", "-f", "conda.yml", "-o", "json"]);
    assert_eq!(bare["name"], "bare");
    // A conda file's environment also has what conda installs in every environment.
    assert_eq!(
        bare["requirements"],
        serde_json::json!(["pip", "setuptools<82", "six", "wheel"])
    );
    // The same interpreter and requirement set, whatever the spelling: the same environment.
    ctx.write(
        "conda2.yml",
        "dependencies:\n  - python=3.11\n  - pip:\n    - six\n",
    );
    let again = ctx.json(&[
        "environment",
        "create",
        "-f",
        "conda2.yml",
        "--name",
        "other",
        "-o",
        "json",
    ]);
    assert_eq!(again["env_hash"], bare["env_hash"]);
    assert_ne!(again["env_hash"], env["env_hash"]);
}

#[test]
fn uninstallable_requirements_fail_preparing_with_the_requirement_and_installer_message() {
    if !pypi() {
        return;
    }
    let ctx = TestContext::new();
    // A package that does not exist; uv is installed into the workspace's tool folder.
    python_job(
        &ctx,
        "dependencies:\n  - python=3.11\n  - pip:\n    - six\n    - sluice-test-no-such-package-qq\n",
        "print('never')\n",
    );
    let out = with_uv(&ctx, &["job", "create", "-f", "job.yml"], false)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(ctx.workspace().join("tools/uv/bin/uv").is_file());
    let s = step(&ctx, "py");
    let error = s["error"].as_str().unwrap();
    assert!(
        error.contains(
            "env/conda.yml:5:7: requirement `sluice-test-no-such-package-qq` cannot be installed"
        ),
        "{error}"
    );
    assert!(
        error.contains("not found in the package registry"),
        "{error}"
    );
    let log = std::fs::read_to_string(s["log_path"].as_str().unwrap()).unwrap();
    assert!(log.contains("not found in the package registry"), "{log}");
    assert!(
        stderr.contains("sluice-test-no-such-package-qq"),
        "{stderr}"
    );
    // No half-built environment is left to be mistaken for a finished one.
    let envs: Vec<_> = std::fs::read_dir(ctx.workspace().join("envs"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(envs.is_empty(), "{envs:?}");

    // An unsatisfiable pin.
    python_job(
        &ctx,
        "dependencies:\n  - python=3.11\n  - pip:\n    - six==0.0.42\n",
        "print('never')\n",
    );
    let out = run_uv(&ctx, &["job", "create", "-f", "job.yml", "--name", "pin"]);
    assert_eq!(out.status.code(), Some(1));
    let error = step(&ctx, "pin")["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("env/conda.yml:4:7: requirement `six==0.0.42` cannot be installed"),
        "{error}"
    );
    assert!(error.contains("no version of six==0.0.42"), "{error}");

    // A git URL that cannot be fetched (no such host).
    python_job(
        &ctx,
        "dependencies:\n  - python=3.11\n  - pip:\n    - thing @ git+https://sluice-test.invalid/thing.git\n",
        "print('never')\n",
    );
    let out = run_uv(&ctx, &["job", "create", "-f", "job.yml", "--name", "git"]);
    assert_eq!(out.status.code(), Some(1));
    let error = step(&ctx, "git")["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains(
            "requirement `thing @ git+https://sluice-test.invalid/thing.git` cannot be installed"
        ),
        "{error}"
    );
}

#[test]
fn python_steps_exit_codes_signals_and_environment_reuse() {
    if !pypi() {
        return;
    }
    let ctx = TestContext::new();
    let script = "import argparse, os, sys, six\np = argparse.ArgumentParser()\np.add_argument('--out')\na = p.parse_args()\nprint('python', sys.version.split()[0], 'six', six.__version__, 'venv', os.environ['VIRTUAL_ENV'])\nopen(os.path.join(a.out, 'done.txt'), 'w').write('ok')\n";
    python_job(&ctx, SMALL_CONDA, script);
    let out = run_uv(&ctx, &["job", "create", "-f", "job.yml", "--stream"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[main] python 3.11."), "{stderr}");
    assert!(stderr.contains("six 1.17.0"), "{stderr}");
    assert!(stderr.contains(
        "image `mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04` is recorded, not pulled"
    ));
    let first = step(&ctx, "py");
    let hash = first["env_hash"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 64);
    assert!(
        std::path::Path::new(first["outputs"]["out"]["path"].as_str().unwrap())
            .join("done.txt")
            .is_file()
    );

    // A second job with the same spec (forced to run: it would be reused) reuses the
    // environment.
    let out = run_uv(
        &ctx,
        &[
            "job",
            "create",
            "-f",
            "job.yml",
            "--name",
            "again",
            "--stream",
            "--force-rerun",
        ],
    );
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(", reused"), "{stderr}");
    assert_eq!(step(&ctx, "again")["env_hash"], hash.as_str());

    // `environment show` of a registered twin shows the pinned set.
    ctx.write("env.yml", "name: small-env\nconda_file: env/conda.yml\n");
    let env = ctx.json(&["environment", "create", "-f", "env.yml", "-o", "json"]);
    assert_eq!(env["env_hash"], hash.as_str());
    assert_eq!(env["built"], true);
    // The lock pins the file's packages and what a conda environment has besides.
    let lock: Vec<&str> = env["lock"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    assert!(lock.contains(&"six==1.17.0"), "{lock:?}");
    for base in ["pip==", "setuptools==", "wheel=="] {
        assert!(
            lock.iter().any(|l| l.starts_with(base)),
            "{base} not in {lock:?}"
        );
    }

    // A script that exits non-zero: Failed, its log kept and shown.
    ctx.write(
        "src/main.py",
        "import sys\nprint('loading data')\nprint('bad column: fare', file=sys.stderr)\nsys.exit(3)\n",
    );
    let out = run_uv(&ctx, &["job", "create", "-f", "job.yml", "--name", "exit3"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let s = step(&ctx, "exit3");
    assert_eq!(s["status"], "Failed");
    assert_eq!(s["exit_code"], 3);
    assert!(s["error"].as_str().unwrap().contains("exited with code 3"));
    let log = std::fs::read_to_string(s["log_path"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("loading data") && log.contains("bad column: fare"),
        "{log}"
    );
    assert!(
        stderr.contains("[main] bad column: fare"),
        "the log's tail is shown: {stderr}"
    );

    // A script killed by a signal.
    ctx.write(
        "src/main.py",
        "import os, signal\nprint('about to die', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n",
    );
    let out = run_uv(
        &ctx,
        &["job", "create", "-f", "job.yml", "--name", "killed"],
    );
    assert_eq!(out.status.code(), Some(1));
    let s = step(&ctx, "killed");
    assert_eq!(s["status"], "Failed");
    assert!(
        s["error"]
            .as_str()
            .unwrap()
            .contains("killed by signal SIGKILL"),
        "{}",
        s["error"]
    );
    let log = std::fs::read_to_string(s["log_path"].as_str().unwrap()).unwrap();
    assert!(log.contains("about to die"), "{log}");
}

#[test]
fn concurrent_jobs_build_a_shared_environment_once() {
    if !pypi() {
        return;
    }
    let ctx = TestContext::new();
    python_job(
        &ctx,
        "dependencies:\n  - python=3.11\n  - pip:\n    - six==1.16.0\n",
        "import six\nprint('six', six.__version__)\n",
    );
    // Create the workspace first so the jobs do not race to create it.
    ctx.ok(&[
        "environment",
        "create",
        "-f",
        "env/conda.yml",
        "--name",
        "shared",
    ]);
    let children: Vec<_> = ["c1", "c2", "c3"]
        .iter()
        .map(|name| {
            with_uv(
                &ctx,
                &["job", "create", "-f", "job.yml", "--name", name],
                true,
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let hashes: Vec<String> = ["c1", "c2", "c3"]
        .iter()
        .map(|n| step(&ctx, n)["env_hash"].as_str().unwrap().to_owned())
        .collect();
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    let built = ["c1", "c2", "c3"]
        .iter()
        .filter(|n| {
            let log = std::fs::read_to_string(step(&ctx, n)["log_path"].as_str().unwrap()).unwrap();
            log.contains("packages, built in")
        })
        .count();
    assert_eq!(built, 1, "exactly one job built the environment");
    let envs = std::fs::read_dir(ctx.workspace().join("envs"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(envs, 1);
}

#[test]
fn python_example_in_the_azure_layout_runs_end_to_end() {
    if !pypi() {
        return;
    }
    let ctx = TestContext::new();
    ctx.copy_example("taxi-fare-python");
    let ex = "taxi-fare-python/mlops/azureml/train";
    let data = ctx.json(&[
        "data",
        "create",
        "-f",
        &format!("{ex}/data.yml"),
        "-o",
        "json",
    ]);
    assert_eq!(
        (data["name"].as_str(), data["version"].as_str()),
        (Some("taxi-data"), Some("1"))
    );
    let out = run_uv(
        &ctx,
        &[
            "environment",
            "create",
            "-f",
            &format!("{ex}/train-env.yml"),
            "-o",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pipeline = format!("{ex}/pipeline.yml");
    let out = run_uv(
        &ctx,
        &[
            "job", "create", "-f", &pipeline, "--name", "py1", "--stream",
        ],
    );
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let job = ctx.json(&["job", "show", "-n", "py1", "-o", "json"]);
    assert_eq!(job["status"], "Completed");
    assert_eq!(
        job["inputs"]["raw_data"]["asset"], "taxi-data:1",
        "{}",
        job["inputs"]
    );
    let hashes: Vec<&str> = [
        "prep_data",
        "train_model",
        "evaluate_model",
        "register_model",
    ]
    .iter()
    .map(|s| job["jobs"][*s]["env_hash"].as_str().unwrap())
    .collect();
    assert!(
        hashes.iter().all(|h| *h == hashes[0] && h.len() == 64),
        "{hashes:?}"
    );
    // The scripts logged to the job's tracking server.
    let metrics = &job["jobs"]["evaluate_model"]["mlflow"]["metrics"];
    assert!(metrics["test_r2"].as_f64().unwrap() > 0.9, "{metrics}");
    assert_eq!(metrics["deploy_flag"], 1.0);
    // register.py registered version 1 from its run in this job.
    let version = ctx.json(&[
        "model",
        "show",
        "-n",
        "taxi-model",
        "--version",
        "1",
        "-o",
        "json",
    ]);
    assert_eq!(
        version["run_id"], job["jobs"]["register_model"]["mlflow"]["run_id"],
        "{version}"
    );

    // Its lineage names the data version and the environment hash (and the pinned set).
    let lineage = ctx.json(&[
        "model",
        "lineage",
        "-n",
        "taxi-model",
        "--version",
        "1",
        "-o",
        "json",
    ]);
    assert_eq!(lineage["data"][0]["asset"], "taxi-data", "{lineage}");
    assert_eq!(lineage["data"][0]["version"], "1");
    assert_eq!(lineage["data"][0]["content_hash"], data["content_hash"]);
    let envs: Vec<&Value> = lineage["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["environment"]["hash"])
        .collect();
    assert_eq!(envs.len(), 4);
    assert!(
        envs.iter().all(|h| h.as_str() == Some(hashes[0])),
        "{envs:?}"
    );
    assert!(
        lineage["steps"][0]["environment"]["lock"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("scikit-learn=="))
    );

    // Run again, every step forced to run: the environment is reused, not rebuilt, and the
    // same model is not better than version 1.
    let out = run_uv(
        &ctx,
        &[
            "job",
            "create",
            "-f",
            &pipeline,
            "--name",
            "py2",
            "--force-rerun",
            "--stream",
        ],
    );
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("packages, reused").count(), 4, "{stderr}");
    assert!(!stderr.contains("built in"), "{stderr}");
    let again = ctx.json(&["job", "show", "-n", "py2", "-o", "json"]);
    assert_eq!(
        again["jobs"]["evaluate_model"]["mlflow"]["metrics"]["deploy_flag"],
        0.0
    );
    let versions = ctx.json(&["model", "show", "-n", "taxi-model", "-o", "json"]);
    assert!(
        versions.to_string().contains("\"latest_versions\"") || versions["name"] == "taxi-model",
        "{versions}"
    );
    let out = ctx.run(&["model", "show", "-n", "taxi-model", "--version", "2"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "no second version was registered"
    );
}

/// A project made like Azure's `MLOps` template, driven by its CI logic (`az ml` swapped for
/// `sluice`): one `--set` with several values, the job name as tsv, status polling. Its code
/// snapshot is the repository root (which holds the workspace), and its conda file pins an
/// mlflow 2 that imports `pkg_resources`.
#[test]
fn the_mlops_template_project_runs_through_its_ci_script() {
    if !pypi() {
        return;
    }
    let ctx = TestContext::new();
    let project = ctx.copy_example("mlops-template");
    let ws = project.join(".sluice");
    let mut cmd = Command::new("bash");
    cmd.arg(project.join("mlops/devops-pipelines/deploy-model-training-pipeline.sh"))
        .env("SLUICE", env!("CARGO_BIN_EXE_sluice"))
        .env("SLUICE_WORKSPACE", &ws)
        .env("EXPERIMENT_NAME", "ci-experiment")
        .env("DISPLAY_NAME", "ci-run-1")
        .env("NO_COLOR", "1")
        .env_remove("SLUICE_TOKEN");
    if let Some(uv) = std::env::var_os("SLUICE_TEST_UV") {
        cmd.env("SLUICE_UV", uv);
    }
    let out = cmd.output().expect("run the CI script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("Job completed"),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    let sluice = |args: &[&str]| {
        let mut c = ctx.command(args);
        c.env("SLUICE_WORKSPACE", &ws);
        let out = c.output().expect("run sluice");
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON")
    };
    let jobs = sluice(&["job", "list"]);
    let job = &jobs[0];
    assert_eq!(job["experiment_name"], "ci-experiment");
    assert_eq!(job["display_name"], "ci-run-1");
    assert_eq!(job["status"], "Completed");
    // The model was registered by the job's register step.
    let model = sluice(&["model", "show", "-n", "taxi-model", "--version", "1"]);
    assert_eq!(model["version"], "1");
    // The environment is what conda would have made: setuptools below 82, with pkg_resources.
    let env = sluice(&["environment", "show", "-n", "taxi-train-env"]);
    let lock: Vec<&str> = env["lock"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(lock.contains(&"mlflow==2.9.2"), "{lock:?}");
    let setuptools = lock
        .iter()
        .find(|l| l.starts_with("setuptools=="))
        .expect("setuptools locked");
    let major: u32 = setuptools["setuptools==".len()..]
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(major < 82, "{setuptools}");
    assert_eq!(
        env["added_by_sluice"]["requirements"],
        serde_json::json!(["setuptools<82", "wheel"])
    );
    // The snapshot of the repository root holds the code, not the workspace or ignored folders.
    let name = job["name"].as_str().unwrap();
    let code = ws.join("jobs").join(name).join("steps/prep_data/code");
    assert!(code.join("src/taxi/prep.py").is_file());
    for left_out in [".sluice", "data", "mlops"] {
        assert!(
            !code.join(left_out).exists(),
            "`{left_out}` is in the snapshot"
        );
    }
}

/// A job on a curated environment (Azure's `minimal` image: Python 3.7 and pip) builds it from
/// the shipped catalog, on the Python 3.7 that this machine keeps in pyenv (or elsewhere), and
/// runs to Completed; `environment build -n` builds the same environment ahead of a job.
#[test]
fn a_curated_environment_is_built_from_the_catalog_and_runs_a_job() {
    if !pypi() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        "job.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: python -c \"import sys, pkg_resources; print('python', sys.version.split()[0])\"
environment: azureml:AzureML-minimal-ubuntu18.04-py37-cpu-inference@latest
compute: azureml:cpu-cluster
",
    );
    let out = run_uv(&ctx, &["job", "validate", "-f", "job.yml"]);
    if out.status.code() == Some(14) {
        #[expect(clippy::print_stderr, reason = "a skipped test says why")]
        {
            eprintln!("skipped: no Python 3.7 on this machine");
        }
        return;
    }
    let out = run_uv(
        &ctx,
        &["job", "create", "-f", "job.yml", "--stream", "-o", "json"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[main] python 3.7."), "{stderr}");
    let job: Value = serde_json::from_str(&stdout).unwrap();
    let step = &job["jobs"]["main"];
    assert_eq!(
        step["environment"],
        "curated:AzureML-minimal-ubuntu18.04-py37-cpu-inference@latest"
    );
    let hash = step["env_hash"].as_str().expect("env hash").to_owned();
    // `environment build -n` with the registry name finds the same build.
    let out = run_uv(
        &ctx,
        &[
            "environment",
            "build",
            "-n",
            "azureml://registries/azureml/environments/minimal-ubuntu18.04-py37-cpu-inference/labels/latest",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let built: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(built["env_hash"], hash.as_str());
    assert_eq!(built["reused"], true);
}

/// Azure's parallel job over an `mltable` (a CSV its `MLTable` file names), in an environment
/// with pandas: a parallel component grouping the rows by `partition_keys` (each `run()` gets
/// one store's rows and its key), an inline step splitting them by `mini_batch_size`, and one
/// over partitioned files whose `MLTable` transforms what it reads.
#[test]
fn parallel_steps_split_an_mltable_by_partition_keys_and_by_size() {
    if !pypi() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        "env/conda.yml",
        "name: tables\nchannels:\n  - defaults\ndependencies:\n  - python=3.11\n  - pip:\n    - pandas==2.2.3\n",
    );
    ctx.write(
        "data/MLTable",
        "paths:\n  - file: ./sales.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n      encoding: 'utf8'\n      header: all_files_same_headers\n",
    );
    ctx.write(
        "data/sales.csv",
        "Store,Brand,Quantity\nB,x,4\nA,x,1\nC,y,7\nB,y,5\nA,y,5\nB,x,6\n",
    );
    ctx.write(
        "src/totals.py",
        "import pandas as pd\n\ndef init():\n    pass\n\ndef run(df, mini_batch_context):\n    store = mini_batch_context.partition_key_value['Store']\n    return pd.DataFrame({'Store': [store], 'total': [int(df.Quantity.sum())], 'rows': [len(df)]})\n",
    );
    // Partitioned files, read with MLTable's transformations after reading.
    ctx.write(
        "parts/MLTable",
        "paths:\n  - pattern: ./**/sales.csv\ntransformations:\n  - read_delimited: {delimiter: ',', header: all_files_same_headers, include_path_column: true}\n  - extract_columns_from_partition_format: /{year}/{month}/sales.csv\n  - convert_column_types:\n      - columns: [Quantity]\n        column_type: int\n      - columns: Member\n        column_type:\n          boolean:\n            true_values: ['y']\n            false_values: ['n']\n  - filter: 'col(\"Quantity\") > 2 and col(\"Store\") != \"C\"'\n  - drop_columns: [Path]\n  - skip: 1\n  - take: 3\n",
    );
    // An empty quantity: null once an int, and no row where the filter compares it.
    ctx.write(
        "parts/2024/01/sales.csv",
        "Store,Member,Quantity\nA,y,1\nB,n,4\nD,y,\nC,y,9\n",
    );
    ctx.write(
        "parts/2024/02/sales.csv",
        "Store,Member,Quantity\nA,n,5\nB,y,3\nA,y,8\n",
    );
    ctx.write(
        "src/rows.py",
        "def run(df):\n    names = ','.join(df.columns)\n    return [f'{r.Store} {r.Member} {r.Quantity} {r.year}-{r.month} {names}' for r in df.itertuples()]\n",
    );
    ctx.write(
        "src/sizes.py",
        "def init():\n    pass\n\ndef run(df):\n    return [f'{len(df)} rows from {df.Store.iloc[0]}']\n",
    );
    ctx.write(
        "parallel_component.yml",
        "\
$schema: http://azureml/sdk-2-0/ParallelComponent.json
name: store_totals
type: parallel
version: 1.0.0
inputs:
  data: {type: mltable}
outputs:
  totals: {type: uri_file}
input_data: ${{inputs.data}}
partition_keys: [Store]
max_concurrency_per_instance: 2
task:
  type: run_function
  code: ./src
  entry_script: totals.py
  environment:
    image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
    conda_file: ./env/conda.yml
  append_row_to: ${{outputs.totals}}
",
    );
    ctx.write(
        "pipeline.yml",
        "\
type: pipeline
inputs:
  sales: {type: mltable, path: ./data}
jobs:
  totals:
    type: parallel
    component: ./parallel_component.yml
    inputs:
      data: ${{parent.inputs.sales}}
  sizes:
    type: parallel
    inputs:
      data:
        type: mltable
        path: ${{parent.inputs.sales}}
    outputs:
      counts: {type: uri_folder}
    input_data: ${{inputs.data}}
    mini_batch_size: 20b
    task:
      type: run_function
      code: ./src
      entry_script: sizes.py
      environment:
        image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
        conda_file: ./env/conda.yml
      append_row_to: ${{outputs.counts}}
  rows:
    type: parallel
    inputs:
      data: {type: mltable, path: ./parts}
    outputs:
      rows: {type: uri_file}
    input_data: ${{inputs.data}}
    mini_batch_size: 1kb
    task:
      type: run_function
      code: ./src
      entry_script: rows.py
      environment:
        image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
        conda_file: ./env/conda.yml
      append_row_to: ${{outputs.rows}}
",
    );
    let out = run_uv(
        &ctx,
        &["job", "create", "-f", "pipeline.yml", "--name", "tables"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let job: Value = serde_json::from_str(&stdout).unwrap();
    let path = |step: &str, output: &str| {
        job["jobs"][step]["outputs"][output]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{job:#}"))
            .to_owned()
    };
    let totals = std::fs::read_to_string(path("totals", "totals")).unwrap();
    assert_eq!(totals, "A 6 2\nB 15 3\nC 7 1\n");
    // 57 bytes for 6 rows, 9.5 a row: 20 bytes hold two rows; three mini-batches in order.
    let counts = std::fs::read_to_string(
        std::path::Path::new(&path("sizes", "counts")).join("parallel_run_step.txt"),
    )
    .unwrap();
    assert_eq!(counts, "2 rows from B\n2 rows from C\n2 rows from A\n");
    // Both months read, each row with its partition's columns; the filter, the types, the
    // dropped path column, `skip` and `take` applied in order.
    let rows = std::fs::read_to_string(path("rows", "rows")).unwrap();
    assert_eq!(
        rows,
        "A False 5 2024-02 Store,Member,Quantity,year,month\n\
         B True 3 2024-02 Store,Member,Quantity,year,month\n\
         A True 8 2024-02 Store,Member,Quantity,year,month\n"
    );
}
