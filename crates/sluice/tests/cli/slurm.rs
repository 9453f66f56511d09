//! Steps on a Slurm compute: a real cluster, two nodes on this machine (`SLUICE_TEST_SLURM` names its
//! `slurm.conf`; `tests/run.sh` starts it with `.ci/services/slurm.sh`). Each test says it is
//! skipped when no cluster was given. What Slurm itself reports (`scontrol show job`) is checked
//! beside what sluice recorded.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{TestContext, wait_for};

/// One test at a time on the cluster: one of them takes its node down.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The cluster's `slurm.conf` (and the cluster to itself while the guard lives), or `None`
/// (the test is skipped, and says so).
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn cluster(test: &str) -> Option<(String, std::sync::MutexGuard<'static, ()>)> {
    let conf = std::env::var("SLUICE_TEST_SLURM")
        .ok()
        .filter(|v| !v.is_empty());
    if conf.is_none() {
        eprintln!(
            "skipped: SLUICE_TEST_SLURM is unset, so {test} did not run (tests/run.sh starts a Slurm cluster as root)"
        );
    }
    let guard = CLUSTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    conf.map(|c| (c, guard))
}

/// Runs sluice against the cluster.
fn sluice(ctx: &TestContext, conf: &str, args: &[&str]) -> std::process::Output {
    ctx.command(args)
        .env("SLURM_CONF", conf)
        .output()
        .expect("run sluice")
}

fn sluice_json(ctx: &TestContext, conf: &str, args: &[&str]) -> Value {
    let out = sluice(ctx, conf, args);
    assert!(
        out.status.success(),
        "`sluice {}` failed\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// `Key=Value` fields of `scontrol show job -o ID`.
fn slurm_job(conf: &str, id: &str) -> std::collections::HashMap<String, String> {
    let out = Command::new("scontrol")
        .args(["show", "job", "-o", id])
        .env("SLURM_CONF", conf)
        .output()
        .expect("scontrol");
    assert!(out.status.success(), "scontrol show job {id}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `sluice ARGS` against the cluster in the background (its stderr dropped).
fn spawn_job(ctx: &TestContext, conf: &str, args: &[&str], stdout: Stdio) -> std::process::Child {
    ctx.command(args)
        .env("SLURM_CONF", conf)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("start sluice")
}

/// Job `name` running `yml` (written as `slow.yml`) in the background, once its step runs as a
/// Slurm job: the runner process and the Slurm job id.
fn slow_job(
    ctx: &TestContext,
    conf: &str,
    name: &str,
    yml: &str,
    ready: impl Fn() -> bool,
) -> (std::process::Child, String) {
    ctx.write("slow.yml", yml);
    let runner = spawn_job(
        ctx,
        conf,
        &[
            "job", "create", "-f", "slow.yml", "--name", name, "-o", "none",
        ],
        Stdio::null(),
    );
    let id = running_slurm_job(ctx, conf, name, ready);
    (runner, id)
}

/// The cluster (as [`cluster`]) and a test workspace with a Slurm compute `hpc` on it, `max`
/// steps at once.
fn on_cluster(
    test: &str,
    max: &str,
) -> Option<(String, std::sync::MutexGuard<'static, ()>, TestContext)> {
    let (conf, guard) = cluster(test)?;
    let ctx = TestContext::on_test_store();
    hpc_compute(&ctx, &conf, max);
    Some((conf, guard, ctx))
}

/// A Slurm compute `hpc` on the cluster's default partition, `max` steps at once.
fn hpc_compute(ctx: &TestContext, conf: &str, max: &str) {
    sluice_json(
        ctx,
        conf,
        &[
            "compute",
            "create",
            "--name",
            "hpc",
            "--type",
            "slurm",
            "--max-instances",
            max,
            "-o",
            "json",
        ],
    );
}

/// Waits until job `name`'s (single) step runs as a Slurm job and `also` holds; its job id.
fn running_slurm_job(ctx: &TestContext, conf: &str, name: &str, also: impl Fn() -> bool) -> String {
    let mut id = String::new();
    wait_for(60, &format!("job `{name}`'s step to run in Slurm"), || {
        let out = sluice(ctx, conf, &["job", "show", "-n", name, "-o", "json"]);
        let job: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let Some(step) = job["jobs"]
            .as_object()
            .and_then(|j| j.values().next().cloned())
        else {
            return false;
        };
        step["executor_id"]
            .as_str()
            .unwrap_or_default()
            .clone_into(&mut id);
        !id.is_empty() && also() && slurm_job(conf, &id)["JobState"] == "RUNNING"
    });
    id
}

/// The step of a one-step job as `job show -o json` prints it.
fn only_step(job: &Value) -> Value {
    job["jobs"][only_step_name(job)].clone()
}

/// The name of the one step of `job` (`job show`'s JSON).
fn only_step_name(job: &Value) -> String {
    job["jobs"]
        .as_object()
        .and_then(|j| j.keys().next())
        .cloned()
        .unwrap_or_else(|| panic!("a job with one step: {job:#}"))
}

/// A command job on `hpc` whose command records that it started (a line in `count`), then
/// waits for the file `go` and runs `then`; its runner is killed (SIGKILL) once the command
/// runs in Slurm, leaving its batch job to run on. The Slurm job's id.
fn killed_runner_while_waiting(
    ctx: &TestContext,
    conf: &str,
    name: &str,
    (count, go): (&Path, &Path),
    then: &str,
) -> String {
    let yml = format!(
        "type: command\ncompute: azureml:hpc\ncommand: >-\n  echo started >> {count} && echo before &&\n  \
         for i in $(seq 600); do [ -f {go} ] && break; sleep 0.2; done &&\n  \
         {then}\n",
        count = count.display(),
        go = go.display(),
    );
    let (mut runner, id) = slow_job(ctx, conf, name, &yml, || count.exists());
    runner.kill().unwrap();
    runner.wait().unwrap();
    id
}

const PIPELINE: &str = r#"$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
experiment_name: on-slurm
settings:
  default_compute: azureml:hpc
jobs:
  prep:
    type: command
    command: >-
      echo "prep in slurm job $SLURM_JOB_ID for run $MLFLOW_RUN_ID" &&
      echo 21 > ${{outputs.data}}/n.txt
    outputs:
      data:
        type: uri_folder
  double:
    type: command
    command: >-
      echo "double on $SLURMD_NODENAME, partition $SLURM_JOB_PARTITION" &&
      echo $(( $(cat ${{inputs.data}}/n.txt) * 2 )) > ${{outputs.result}}/n.txt &&
      sleep 1
    inputs:
      data: ${{parent.jobs.prep.outputs.data}}
    outputs:
      result:
        type: uri_folder
  side:
    type: command
    command: echo side && sleep 1
"#;

#[test]
fn a_pipeline_on_a_slurm_compute_runs_each_step_as_a_batch_job() {
    let Some((conf, _cluster)) =
        cluster("a_pipeline_on_a_slurm_compute_runs_each_step_as_a_batch_job")
    else {
        return;
    };
    let ctx = TestContext::on_test_store();
    // Azure's cluster YAML with the Slurm mapping; one step at a time on it.
    ctx.write(
        "compute.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\n\
         name: hpc\ntype: amlcompute\nsize: STANDARD_DS3_v2\nmin_instances: 0\nmax_instances: 1\n\
         sluice:\n  slurm:\n    partition: debug\n    sbatch_options: [\"--mem=128M\"]\n",
    );
    let compute = sluice_json(
        &ctx,
        &conf,
        &["compute", "create", "-f", "compute.yml", "-o", "json"],
    );
    assert_eq!(compute["settings"]["executor"], "slurm");
    assert_eq!(compute["settings"]["partition"], "debug");
    ctx.write("pipeline.yml", PIPELINE);
    let job = sluice_json(
        &ctx,
        &conf,
        &[
            "job",
            "create",
            "-f",
            "pipeline.yml",
            "--name",
            "s1",
            "-o",
            "json",
        ],
    );
    assert_eq!(job["status"], "Completed", "{job:#}");
    let mut spans = Vec::new();
    for step in ["prep", "double", "side"] {
        let s = &job["jobs"][step];
        assert_eq!(s["executor"], "slurm", "{step}: {s:#}");
        let id = s["executor_id"].as_str().expect("a Slurm job id");
        let slurm = slurm_job(&conf, id);
        assert_eq!(slurm["JobState"], "COMPLETED", "{step}");
        assert_eq!(slurm["ExitCode"], "0:0");
        assert_eq!(slurm["JobName"], format!("sluice.s1.{step}"));
        assert_eq!(slurm["Partition"], "debug");
        assert_eq!(
            slurm["MinMemoryNode"], "128M",
            "the compute's sbatch options"
        );
        spans.push((slurm["StartTime"].clone(), slurm["EndTime"].clone()));
        // The step's log is the job's output, streamed back.
        let log = std::fs::read_to_string(s["log_path"].as_str().unwrap()).unwrap();
        assert!(
            log.contains(&format!("submitted to Slurm as job {id}")),
            "{log}"
        );
        if step == "prep" {
            let run = s["mlflow"]["run_id"].as_str().unwrap();
            assert!(
                log.contains(&format!("prep in slurm job {id} for run {run}")),
                "{log}"
            );
        }
    }
    // `max_instances: 1`: `side` and `double` (both ready after `prep`) did not overlap.
    spans.sort();
    for w in spans.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "steps overlapped on a one-instance compute: {spans:?}"
        );
    }
    let out = job["jobs"]["double"]["outputs"]["result"]["path"]
        .as_str()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("{out}/n.txt")).unwrap(),
        "42\n"
    );

    // The same pipeline again: every step reused, nothing submitted.
    let again = sluice_json(
        &ctx,
        &conf,
        &[
            "job",
            "create",
            "-f",
            "pipeline.yml",
            "--name",
            "s2",
            "-o",
            "json",
        ],
    );
    assert_eq!(again["status"], "Completed");
    for step in ["prep", "double", "side"] {
        assert_eq!(again["jobs"][step]["reused_from"], format!("s1/{step}"));
        assert!(
            again["jobs"][step]["executor_id"].is_null(),
            "{step} was submitted again"
        );
    }
}

/// Two steps on the Slurm compute in one Python environment (a conda file with a pip package):
/// the environment is built once, in the workspace every node shares, and each batch job runs
/// its step with that environment's interpreter and packages.
#[test]
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn python_steps_on_slurm_run_in_the_environment_built_once() {
    if std::env::var("SLUICE_TEST_PYPI").ok().as_deref() != Some("1") {
        eprintln!(
            "skipped: set SLUICE_TEST_PYPI=1 to run python_steps_on_slurm_run_in_the_environment_built_once (it installs from PyPI)"
        );
        return;
    }
    let Some((conf, _cluster, ctx)) = on_cluster(
        "python_steps_on_slurm_run_in_the_environment_built_once",
        "2",
    ) else {
        return;
    };
    ctx.write(
        "env/conda.yml",
        "name: small\nchannels:\n  - defaults\ndependencies:\n  - python=3.11\n  - pip:\n    - six==1.17.0\n",
    );
    ctx.write(
        "src/main.py",
        "import os, sys, six\nprint('python', sys.executable, 'six', six.__version__, 'node', os.environ.get('SLURMD_NODENAME'), 'job', os.environ.get('SLURM_JOB_ID'))\n",
    );
    let step = |name: &str| {
        format!(
            "  {name}:\n    type: command\n    code: ./src\n    command: python main.py {name}\n    environment:\n      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\n      conda_file: ./env/conda.yml\n"
        )
    };
    ctx.write(
        "py.yml",
        &format!(
            "type: pipeline\nsettings:\n  default_compute: azureml:hpc\njobs:\n{}{}",
            step("one"),
            step("two")
        ),
    );
    let mut cmd = ctx.command(&[
        "job", "create", "-f", "py.yml", "--name", "py", "-o", "json",
    ]);
    cmd.env("SLURM_CONF", &conf);
    if let Some(uv) = std::env::var_os("SLUICE_TEST_UV") {
        cmd.env("SLUICE_UV", uv);
    }
    let out = cmd.output().expect("run sluice");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["status"], "Completed", "{job:#}");
    let (one, two) = (&job["jobs"]["one"], &job["jobs"]["two"]);
    let hash = one["env_hash"].as_str().expect("an environment").to_owned();
    assert_eq!(two["env_hash"], hash.as_str(), "one environment for both");
    let envs = ctx.workspace().join("envs");
    let built: Vec<_> = std::fs::read_dir(&envs)
        .map(|d| d.flatten().filter(|e| e.path().is_dir()).collect())
        .unwrap_or_default();
    assert_eq!(built.len(), 1, "built once: {built:?}");
    for s in [one, two] {
        assert_eq!(s["executor"], "slurm");
        let id = s["executor_id"].as_str().expect("a Slurm job id");
        assert_eq!(slurm_job(&conf, id)["JobState"], "COMPLETED");
        let log = std::fs::read_to_string(s["log_path"].as_str().unwrap()).unwrap();
        let line = log
            .lines()
            .find(|l| l.starts_with("python "))
            .unwrap_or_else(|| panic!("no line from the script in\n{log}"));
        // The environment's interpreter (in the shared workspace), its package, in the batch job.
        assert!(line.contains(&envs.display().to_string()), "{line}");
        assert!(line.contains("six 1.17.0"), "{line}");
        assert!(line.contains(&format!("job {id}")), "{line}");
    }
}

#[test]
fn a_failing_step_on_slurm_fails_with_its_exit_code_and_retries_per_its_policy() {
    let Some((conf, _cluster, ctx)) = on_cluster(
        "a_failing_step_on_slurm_fails_with_its_exit_code_and_retries_per_its_policy",
        "2",
    ) else {
        return;
    };
    let flag = ctx.root().join("second-try");
    ctx.write(
        "job.yml",
        &format!(
            "type: command\ncompute: azureml:hpc\ncommand: if [ -f {f} ]; then echo second; else touch {f}; echo first; exit 3; fi\n\
             retry:\n  max_attempts: 2\n",
            f = flag.display()
        ),
    );
    let job = sluice_json(
        &ctx,
        &conf,
        &[
            "job", "create", "-f", "job.yml", "--name", "r", "-o", "json",
        ],
    );
    assert_eq!(job["status"], "Completed", "{job:#}");
    let step = only_step(&job);
    let attempts = step["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{step:#}");
    assert_eq!(attempts[0]["exit_code"], 3);
    assert_eq!(attempts[1]["status"], "Completed");

    ctx.write(
        "fail.yml",
        "type: command\ncompute: azureml:hpc\ncommand: echo bad; exit 7\n",
    );
    let out = sluice(
        &ctx,
        &conf,
        &[
            "job", "create", "-f", "fail.yml", "--name", "f", "-o", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "a failed job exits 1");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    let step = &only_step(&job);
    assert_eq!(step["exit_code"], 7);
    assert!(
        step["error"]
            .as_str()
            .unwrap()
            .contains("exited with code 7"),
        "{step:#}"
    );
    let slurm = slurm_job(&conf, step["executor_id"].as_str().unwrap());
    assert_eq!(
        (slurm["JobState"].as_str(), slurm["ExitCode"].as_str()),
        ("FAILED", "7:0")
    );

    // A partition the cluster does not have: Slurm's refusal is the step's error.
    sluice_json(
        &ctx,
        &conf,
        &[
            "compute",
            "create",
            "--name",
            "nowhere",
            "--type",
            "slurm",
            "--partition",
            "no-such-partition",
            "-o",
            "json",
        ],
    );
    ctx.write(
        "bad.yml",
        "type: command\ncompute: azureml:nowhere\ncommand: echo never\n",
    );
    let out = sluice(
        &ctx,
        &conf,
        &[
            "job", "create", "-f", "bad.yml", "--name", "b", "-o", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    let step = &only_step(&job);
    let error = step["error"].as_str().unwrap();
    assert!(
        error.contains("Slurm refused the step") && error.contains("partition"),
        "{error}"
    );
}

#[test]
fn cancel_and_timeout_reach_the_slurm_job() {
    let Some((conf, _cluster, ctx)) = on_cluster("cancel_and_timeout_reach_the_slurm_job", "2")
    else {
        return;
    };
    let (mut runner, id) = slow_job(
        &ctx,
        &conf,
        "c",
        "type: command\ncompute: azureml:hpc\ncommand: echo started; sleep 600\n",
        || true,
    );
    let canceled = sluice_json(&ctx, &conf, &["job", "cancel", "-n", "c", "-o", "json"]);
    assert_eq!(canceled["status"], "Canceled");
    assert_eq!(runner.wait().unwrap().code(), Some(4));
    wait_for(30, "Slurm to cancel the job", || {
        slurm_job(&conf, &id)["JobState"] == "CANCELLED"
    });

    // A pipeline with two steps running and one waiting for a place: a cancel leaves none of
    // its Slurm jobs in the queue.
    ctx.write(
        "three.yml",
        "type: pipeline\nsettings:\n  default_compute: azureml:hpc\njobs:\n  a:\n    type: command\n    command: sleep 600\n  b:\n    type: command\n    command: sleep 601\n  c:\n    type: command\n    command: sleep 602\n",
    );
    let mut runner = spawn_job(
        &ctx,
        &conf,
        &[
            "job",
            "create",
            "-f",
            "three.yml",
            "--name",
            "three",
            "-o",
            "none",
        ],
        Stdio::null(),
    );
    let queued = || -> Vec<String> {
        let out = Command::new("squeue")
            .args(["-h", "-o", "%j %T"])
            .env("SLURM_CONF", &conf)
            .output()
            .expect("squeue");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("sluice.three."))
            .map(str::to_owned)
            .collect()
    };
    wait_for(60, "two of the pipeline's steps to run in Slurm", || {
        queued().iter().filter(|l| l.ends_with(" RUNNING")).count() == 2
    });
    let canceled = sluice_json(&ctx, &conf, &["job", "cancel", "-n", "three", "-o", "json"]);
    assert_eq!(canceled["status"], "Canceled");
    assert_eq!(runner.wait().unwrap().code(), Some(4));
    wait_for(30, "none of the pipeline's Slurm jobs to be left", || {
        queued().is_empty()
    });

    ctx.write(
        "timeout.yml",
        "type: command\ncompute: azureml:hpc\ncommand: sleep 600\nlimits:\n  timeout: 2\n",
    );
    let started = Instant::now();
    let out = sluice(
        &ctx,
        &conf,
        &[
            "job",
            "create",
            "-f",
            "timeout.yml",
            "--name",
            "t",
            "-o",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_mins(1));
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    let step = &only_step(&job);
    assert!(
        step["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 2 s"),
        "{step:#}"
    );
    let id = step["executor_id"].as_str().unwrap();
    wait_for(30, "Slurm to cancel the timed-out job", || {
        slurm_job(&conf, id)["JobState"] == "CANCELLED"
    });
}

#[test]
fn a_killed_runners_slurm_job_runs_on_until_job_cancel_stops_it() {
    let Some((conf, _cluster, ctx)) = on_cluster(
        "a_killed_runners_slurm_job_runs_on_until_job_cancel_stops_it",
        "1",
    ) else {
        return;
    };
    let (mut runner, id) = slow_job(
        &ctx,
        &conf,
        "k",
        "type: command\ncompute: azureml:hpc\ncommand: sleep 600\n",
        || true,
    );
    runner.kill().unwrap(); // SIGKILL: the runner cannot cancel anything
    runner.wait().unwrap();
    // The next command sees the dead runner and fails the job; the batch job runs on, its
    // step detached.
    let job = sluice_json(&ctx, &conf, &["job", "show", "-n", "k", "-o", "json"]);
    assert_eq!(job["status"], "Failed");
    let step = &only_step(&job);
    assert_eq!(step["status"], "Running", "{job:#}");
    assert_eq!(step["detached"], true, "{job:#}");
    assert!(
        job["error"].as_str().unwrap().contains("job cancel -n k"),
        "{job:#}"
    );
    assert_eq!(
        slurm_job(&conf, &id)["JobState"],
        "RUNNING",
        "the batch job outlives its runner"
    );
    // It still holds the compute's one place: another job's step waits for it.
    ctx.write(
        "after.yml",
        "type: command\ncompute: azureml:hpc\ncommand: echo after\n",
    );
    let after = spawn_job(
        &ctx,
        &conf,
        &[
            "job",
            "create",
            "-f",
            "after.yml",
            "--name",
            "after",
            "-o",
            "json",
        ],
        Stdio::piped(),
    );
    std::thread::sleep(Duration::from_secs(4));
    let waiting = only_step(&sluice_json(
        &ctx,
        &conf,
        &["job", "show", "-n", "after", "-o", "json"],
    ));
    assert!(
        waiting["executor_id"].is_null() && waiting["status"] == "Queued",
        "no Slurm job while the detached one holds the place: {waiting:#}"
    );
    // `job cancel` stops it: no Slurm job is left behind.
    let job = sluice_json(&ctx, &conf, &["job", "cancel", "-n", "k", "-o", "json"]);
    assert_eq!(job["status"], "Canceled", "{job:#}");
    let step = &only_step(&job);
    assert_eq!(step["status"], "Canceled", "{job:#}");
    assert_eq!(step["detached"], false, "{job:#}");
    wait_for(30, "the detached Slurm job to be cancelled", || {
        slurm_job(&conf, &id)["JobState"] == "CANCELLED"
    });
    // Nothing left to cancel.
    let again = sluice(&ctx, &conf, &["job", "cancel", "-n", "k"]);
    assert!(!again.status.success());
    // The place is free: the waiting job's step runs.
    let out = after.wait_with_output().unwrap();
    let job: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(job["status"], "Completed", "{job:#}");
    assert_eq!(only_step(&job)["executor"], "slurm", "{job:#}");
}

#[test]
fn a_resumed_job_follows_the_slurm_job_its_killed_runner_left_and_its_mlflow_calls_land() {
    let Some((conf, _cluster, ctx)) = on_cluster(
        "a_resumed_job_follows_the_slurm_job_its_killed_runner_left_and_its_mlflow_calls_land",
        "1",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (count, go, script) = (
        dir.path().join("count"),
        dir.path().join("go"),
        dir.path().join("log_metric.py"),
    );
    // After the runner is gone and the job resumed, the step logs a metric to the tracking
    // address it was given when it started.
    std::fs::write(
        &script,
        "import json, os, urllib.request\n\
         body = json.dumps({'run_id': os.environ['MLFLOW_RUN_ID'], 'key': 'after_resume', 'value': 1.0, 'timestamp': 1, 'step': 0}).encode()\n\
         headers = {'Content-Type': 'application/json'}\n\
         if os.environ.get('MLFLOW_TRACKING_TOKEN'):\n    headers['Authorization'] = 'Bearer ' + os.environ['MLFLOW_TRACKING_TOKEN']\n\
         url = os.environ['MLFLOW_TRACKING_URI'] + '/api/2.0/mlflow/runs/log-metric'\n\
         print('logged', urllib.request.urlopen(urllib.request.Request(url, body, headers)).status)\n",
    )
    .unwrap();
    let then = format!("python3 {} && echo after", script.display());
    let id = killed_runner_while_waiting(&ctx, &conf, "r", (&count, &go), &then);
    let job = sluice_json(&ctx, &conf, &["job", "show", "-n", "r", "-o", "json"]);
    assert_eq!(job["status"], "Failed", "{job:#}");
    assert!(
        job["error"].as_str().unwrap().contains("job resume -n r"),
        "{job:#}"
    );
    let mut resume = spawn_job(
        &ctx,
        &conf,
        &["job", "resume", "-n", "r", "-o", "none"],
        Stdio::null(),
    );
    wait_for(60, "the resumed job to follow its step", || {
        let job = sluice_json(&ctx, &conf, &["job", "show", "-n", "r", "-o", "json"]);
        let step = only_step(&job);
        job["status"] == "Running" && step["status"] == "Running" && step["detached"] == false
    });
    std::fs::write(&go, "").unwrap();
    let status = resume.wait().unwrap();
    let job = sluice_json(&ctx, &conf, &["job", "show", "-n", "r", "-o", "json"]);
    assert!(status.success(), "{job:#}");
    assert_eq!(job["status"], "Completed", "{job:#}");
    let step = &only_step(&job);
    assert_eq!(
        step["executor_id"],
        id.as_str(),
        "not submitted again: {job:#}"
    );
    assert_eq!(step["attempts"].as_array().unwrap().len(), 1, "{job:#}");
    assert_eq!(
        std::fs::read_to_string(&count).unwrap(),
        "started\n",
        "the command ran once"
    );
    assert_eq!(slurm_job(&conf, &id)["JobState"], "COMPLETED");
    // The step kept its MLflow run, and the metric it logged after the resume is in it.
    assert_eq!(step["mlflow"]["status"], "FINISHED", "{job:#}");
    assert_eq!(step["mlflow"]["metrics"]["after_resume"], 1.0, "{job:#}");
    let log = std::fs::read_to_string(step["log_path"].as_str().unwrap()).unwrap();
    for want in [
        "before",
        &format!("following Slurm job {id} again"),
        "logged 200",
        "after",
    ] {
        assert!(log.contains(want), "{want:?} in the step's log:\n{log}");
    }
}

/// A finished Slurm job leaves the controller after `MinJobAge` (and this cluster keeps no
/// accounting). A step whose runner died while its batch job ran is followed again by `job
/// resume`; if Slurm has forgotten the job by then, the exit code its script wrote says how it
/// ended: the step completes without running again. The controller's forgetting is made here
/// by recording, once the step is detached, an id it never had.
#[test]
fn a_followed_step_whose_slurm_job_the_controller_has_forgotten_ends_as_its_exit_file_says() {
    let Some((conf, _cluster, ctx)) = on_cluster(
        "a_followed_step_whose_slurm_job_the_controller_has_forgotten_ends_as_its_exit_file_says",
        "1",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (count, go) = (dir.path().join("count"), dir.path().join("go"));
    let id = killed_runner_while_waiting(&ctx, &conf, "gone", (&count, &go), "echo done");
    // The batch job ends on its own, with no runner watching it.
    std::fs::write(&go, "").unwrap();
    wait_for(60, "the Slurm job to complete", || {
        slurm_job(&conf, &id).get("JobState").map(String::as_str) == Some("COMPLETED")
    });
    let job = sluice_json(&ctx, &conf, &["job", "show", "-n", "gone", "-o", "json"]);
    assert_eq!(job["status"], "Failed", "{job:#}");
    assert_eq!(only_step(&job)["detached"], true, "{job:#}");
    let step = only_step_name(&job);
    {
        let location = sluice_store::testing::workspace_location(&ctx.workspace()).unwrap();
        let store = sluice_store::Store::open_at(&location).unwrap();
        store
            .set_step_executor("gone", &step, "slurm", Some(("4000000", 1)))
            .unwrap();
    }
    let resumed = Instant::now();
    let status = spawn_job(
        &ctx,
        &conf,
        &["job", "resume", "-n", "gone", "-o", "none"],
        Stdio::null(),
    )
    .wait()
    .unwrap();
    // At once: the exit file is read as soon as Slurm says it knows no such job, not after
    // the minutes a job the controller merely cannot find is given.
    assert!(
        resumed.elapsed() < Duration::from_mins(1),
        "{:?}",
        resumed.elapsed()
    );
    let job = sluice_json(&ctx, &conf, &["job", "show", "-n", "gone", "-o", "json"]);
    assert!(status.success(), "{job:#}");
    assert_eq!(job["status"], "Completed", "{job:#}");
    let step = only_step(&job);
    assert_eq!(
        step["executor_id"], "4000000",
        "not submitted again: {job:#}"
    );
    assert_eq!(step["attempts"].as_array().unwrap().len(), 1, "{job:#}");
    assert_eq!(
        std::fs::read_to_string(&count).unwrap(),
        "started\n",
        "the command ran once"
    );
    let log = std::fs::read_to_string(step["log_path"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("following Slurm job 4000000 again") && log.contains("done"),
        "{log}"
    );
}

/// The node's state as `sinfo` reports it (`idle`, `down`, `allocated`, `mixed`).
/// The cluster's nodes, by name.
fn nodes(conf: &str) -> Vec<String> {
    let out = Command::new("sinfo")
        .args(["-h", "-N", "-o", "%N"])
        .env("SLURM_CONF", conf)
        .output()
        .expect("sinfo");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    names.dedup();
    names
}

fn node_state(conf: &str, node: &str) -> String {
    let out = Command::new("sinfo")
        .args(["-h", "-n", node, "-o", "%T"])
        .env("SLURM_CONF", conf)
        .output()
        .expect("sinfo");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn scontrol_node(conf: &str, node: &str, state: &str) {
    // `resume` is refused when the node already returned by itself (ReturnToService=2).
    let _ = Command::new("scontrol")
        .args([
            "update",
            &format!("nodename={node}"),
            &format!("state={state}"),
        ])
        .args(if state == "down" {
            &["reason=sluice-test"][..]
        } else {
            &[][..]
        })
        .env("SLURM_CONF", conf)
        .output()
        .expect("scontrol update");
}

#[test]
fn a_node_failure_is_retried_per_the_steps_retry_policy() {
    let Some((conf, _cluster, ctx)) =
        on_cluster("a_node_failure_is_retried_per_the_steps_retry_policy", "1")
    else {
        return;
    };
    let flag = ctx.root().join("first-attempt");
    ctx.write(
        "job.yml",
        &format!(
            "type: command\ncompute: azureml:hpc\n\
             command: if [ -f {f} ]; then echo recovered; else touch {f}; sleep 600; fi\n\
             retry:\n  max_attempts: 2\n",
            f = flag.display()
        ),
    );
    let runner = spawn_job(
        &ctx,
        &conf,
        &[
            "job", "create", "-f", "job.yml", "--name", "n", "-o", "json",
        ],
        Stdio::piped(),
    );
    let first = running_slurm_job(&ctx, &conf, "n", || flag.exists());
    // The node under the running attempt fails, then comes back.
    let node = slurm_job(&conf, &first)["NodeList"].clone();
    scontrol_node(&conf, &node, "down");
    wait_for(30, "Slurm to report the node failure", || {
        slurm_job(&conf, &first)["JobState"] == "NODE_FAIL"
    });
    scontrol_node(&conf, &node, "resume");
    wait_for(60, "the node to return", || {
        !node_state(&conf, &node).starts_with("down")
    });
    let out = runner.wait_with_output().unwrap();
    let job: Value = serde_json::from_slice(&out.stdout).expect("the job's JSON");
    assert_eq!(job["status"], "Completed", "{job:#}");
    let step = &only_step(&job);
    let attempts = step["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{step:#}");
    assert_eq!(attempts[0]["status"], "Failed");
    let why = attempts[0]["error"].as_str().unwrap();
    assert!(
        why.contains(&format!("Slurm job {first} ended with NODE_FAIL")),
        "{why}"
    );
    let second = step["executor_id"].as_str().unwrap();
    assert_ne!(second, first, "the retry is a new batch job");
    assert_eq!(slurm_job(&conf, second)["JobState"], "COMPLETED");
    let log = std::fs::read_to_string(step["log_path"].as_str().unwrap()).unwrap();
    assert!(log.contains("recovered"), "{log}");
}

#[test]
#[expect(
    clippy::print_stderr,
    reason = "a part skipped on a one-node cluster says so"
)]
fn a_distributed_step_runs_one_task_per_process_with_azures_launcher_variables() {
    let Some((conf, _cluster, ctx)) = on_cluster(
        "a_distributed_step_runs_one_task_per_process_with_azures_launcher_variables",
        "1",
    ) else {
        return;
    };
    // Azure's layout: a command job with `resources` and `distribution`, one per launcher.
    let show = "echo \"rank=$RANK local=$LOCAL_RANK node=$NODE_RANK world=$WORLD_SIZE master=$MASTER_ADDR:$MASTER_PORT nodes=$AZUREML_NODE_COUNT ompi=${OMPI_COMM_WORLD_RANK:-}/${OMPI_COMM_WORLD_SIZE:-} tf=${TF_CONFIG:-}\"";
    ctx.write(
        "pipeline.yml",
        &format!(
            "type: pipeline\nsettings:\n  default_compute: azureml:hpc\njobs:\n\
             \x20 torch:\n    type: command\n    command: '{show}'\n    resources:\n      instance_count: 1\n    distribution:\n      type: pytorch\n      process_count_per_instance: 2\n\
             \x20 mpi:\n    type: command\n    command: '{show}'\n    distribution:\n      type: mpi\n      process_count_per_instance: 2\n\
             \x20 tf:\n    type: command\n    command: '{show}'\n    distribution:\n      type: tensorflow\n      worker_count: 2\n"
        ),
    );
    let job = sluice_json(
        &ctx,
        &conf,
        &[
            "job",
            "create",
            "-f",
            "pipeline.yml",
            "--name",
            "d",
            "-o",
            "json",
        ],
    );
    assert_eq!(job["status"], "Completed", "{job:#}");
    for step in ["torch", "mpi", "tf"] {
        let s = &job["jobs"][step];
        let id = s["executor_id"].as_str().unwrap();
        let slurm = slurm_job(&conf, id);
        assert_eq!(slurm["NumTasks"], "2", "{step}: two processes");
        let log = std::fs::read_to_string(s["log_path"].as_str().unwrap()).unwrap();
        let mut ranks = Vec::new();
        for rank in 0..2 {
            let line = rank_line(&log, rank);
            assert!(
                line.contains(&format!("local={rank} node=0 world=2 ")),
                "{line}"
            );
            assert!(line.contains(" nodes=1 "), "{line}");
            let master = line
                .split("master=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            let port: u32 = master.rsplit(':').next().unwrap().parse().unwrap();
            assert!((20000..40000).contains(&port), "{line}");
            match step {
                "mpi" => assert!(line.contains(&format!("ompi={rank}/2")), "{line}"),
                "tf" => {
                    let tf: Value =
                        serde_json::from_str(line.split("tf=").nth(1).unwrap()).unwrap();
                    assert_eq!(tf["task"]["index"], rank);
                    assert_eq!(tf["cluster"]["worker"].as_array().unwrap().len(), 2);
                }
                _ => assert!(line.contains("ompi=/ tf="), "{line}"),
            }
            ranks.push(line.to_owned());
        }
    }

    // Across nodes (the cluster `tests/run.sh` starts has two): one task a node, each with its
    // node's rank, the first node the master.
    let names = nodes(&conf);
    if names.len() >= 2 {
        ctx.write(
            "across.yml",
            &format!(
                "type: command\ncompute: azureml:hpc\ncommand: '{show}'\nresources:\n  instance_count: 2\ndistribution:\n  type: pytorch\n  process_count_per_instance: 1\n"
            ),
        );
        let job = sluice_json(
            &ctx,
            &conf,
            &[
                "job",
                "create",
                "-f",
                "across.yml",
                "--name",
                "x",
                "-o",
                "json",
            ],
        );
        assert_eq!(job["status"], "Completed", "{job:#}");
        let step = &only_step(&job);
        let slurm = slurm_job(&conf, step["executor_id"].as_str().unwrap());
        assert_eq!(slurm["NumNodes"], "2", "{slurm:?}");
        let log = std::fs::read_to_string(step["log_path"].as_str().unwrap()).unwrap();
        let mut on = Vec::new();
        for rank in 0..2 {
            let line = rank_line(&log, rank);
            assert!(
                line.contains(&format!("local=0 node={rank} world=2 "))
                    && line.contains(" nodes=2 "),
                "{line}"
            );
            on.push(
                line.split("master=")
                    .nth(1)
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(on[0], on[1], "one master for both");
        assert!(
            names.contains(&on[0]),
            "the master is a node of the job: {on:?} {names:?}"
        );
    } else {
        eprintln!("skipped: the cluster has one node, so no step ran across nodes");
    }

    // More nodes than the cluster has: Slurm queues it for ever (PartitionNodeLimit); sluice
    // cancels it and says what to change.
    ctx.write(
        "wide.yml",
        &format!(
            "type: command\ncompute: azureml:hpc\ncommand: echo wide\nresources:\n  instance_count: {}\n",
            names.len() + 1
        ),
    );
    let out = sluice(
        &ctx,
        &conf,
        &[
            "job", "create", "-f", "wide.yml", "--name", "w", "-o", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    let step = &only_step(&job);
    let error = step["error"].as_str().unwrap();
    assert!(
        error.contains("PartitionNodeLimit") && error.contains("resources.instance_count"),
        "{error}"
    );
    let slurm = slurm_job(&conf, step["executor_id"].as_str().unwrap());
    assert_eq!(slurm["JobState"], "CANCELLED");
}

/// The line task `rank` printed (`srun --label` prefixes each task's lines with its rank).
fn rank_line(log: &str, rank: usize) -> &str {
    log.lines()
        .find(|l| l.trim_start().starts_with(&format!("{rank}: rank={rank} ")))
        .unwrap_or_else(|| panic!("no line of rank {rank} in\n{log}"))
}

/// The steps `(start, end)` times each step of a fan-out wrote, and the most that ran at once.
fn most_at_once(spans: &[(f64, f64)]) -> usize {
    let mut events: Vec<(f64, i32)> = spans.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
    // An end before a start at the same instant: touching spans do not overlap.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

/// A fan-out of `n` steps on `hpc`, each writing its start and end time; `sleep` as given
/// (jobs that sleep differently reuse none of each other's steps).
fn fan_out(n: usize, sleep: &str) -> String {
    let mut yml =
        String::from("type: pipeline\nsettings:\n  default_compute: azureml:hpc\njobs:\n");
    for i in 0..n {
        let _ = writeln!(
            yml,
            "  s{i:02}:\n    type: command\n    command: date +%s.%N > ${{{{outputs.out}}}}/start && sleep {sleep} && date +%s.%N > ${{{{outputs.out}}}}/end\n    outputs:\n      out:\n        type: uri_folder"
        );
    }
    yml
}

/// Each step's `(start, end)` of a completed fan-out job's `job show` JSON, every step checked
/// to have run as a Slurm job of its own that completed.
fn fan_spans(conf: &str, job: &Value, n: usize) -> Vec<(f64, f64)> {
    assert_eq!(job["status"], "Completed", "{job:#}");
    let steps = job["jobs"].as_object().unwrap();
    assert_eq!(steps.len(), n);
    let mut ids = std::collections::HashSet::new();
    let mut spans = Vec::new();
    for (name, s) in steps {
        assert_eq!(s["executor"], "slurm", "{name}");
        let id = s["executor_id"]
            .as_str()
            .expect("a Slurm job id")
            .to_owned();
        assert_eq!(slurm_job(conf, &id)["JobState"], "COMPLETED", "{name}");
        ids.insert(id);
        let out = s["outputs"]["out"]["path"].as_str().unwrap();
        let read = |f: &str| -> f64 {
            std::fs::read_to_string(format!("{out}/{f}"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        spans.push((read("start"), read("end")));
    }
    assert_eq!(ids.len(), n, "one Slurm job a step");
    spans
}

/// The twenty-step fan-out with `max_instances: 4`, and another job's six steps on the same
/// compute at the same time: never more than 4 Slurm jobs of the compute run at once, whichever
/// job they belong to.
#[test]
fn a_twenty_step_fan_out_never_runs_more_than_max_instances_slurm_jobs_at_once() {
    let Some((conf, _cluster, ctx)) = on_cluster(
        "a_twenty_step_fan_out_never_runs_more_than_max_instances_slurm_jobs_at_once",
        "4",
    ) else {
        return;
    };
    ctx.write("fan.yml", &fan_out(20, "3"));
    ctx.write("other.yml", &fan_out(6, "3.0"));
    // Each job by itself would run 8 at once: the compute's limit is what holds them to 4.
    let other = spawn_job(
        &ctx,
        &conf,
        &[
            "job",
            "create",
            "-f",
            "other.yml",
            "--name",
            "other",
            "--max-parallel",
            "8",
            "-o",
            "json",
        ],
        Stdio::piped(),
    );
    let job = sluice_json(
        &ctx,
        &conf,
        &[
            "job",
            "create",
            "-f",
            "fan.yml",
            "--name",
            "fan",
            "--max-parallel",
            "8",
            "-o",
            "json",
        ],
    );
    let other = other.wait_with_output().expect("the other job");
    let other: Value = serde_json::from_slice(&other.stdout).expect("the other job's JSON");
    let mut spans = fan_spans(&conf, &job, 20);
    let theirs = fan_spans(&conf, &other, 6);
    let (first, last) = (
        spans.iter().map(|s| s.0).fold(f64::INFINITY, f64::min),
        spans.iter().map(|s| s.1).fold(0.0, f64::max),
    );
    assert!(
        theirs.iter().any(|s| s.0 < last && s.1 > first),
        "the two jobs did not overlap: {spans:?} {theirs:?}"
    );
    spans.extend(theirs);
    let most = most_at_once(&spans);
    assert!(
        most <= 4,
        "{most} steps ran at once on a compute with max_instances 4: {spans:?}"
    );
    assert!(
        most >= 3,
        "the steps barely overlapped ({most} at most), so the limit was not what held them: {spans:?}"
    );
}

/// The taxi example on Slurm with the workspace's `shared` setting: everything its batch steps
/// read and write (step folders, code copies, the local input, outputs, logs, `sluice` itself)
/// is on the shared path, none of it in the workspace folder.
#[test]
fn the_taxi_example_runs_on_a_slurm_compute() {
    let Some((conf, _cluster)) = cluster("the_taxi_example_runs_on_a_slurm_compute") else {
        return;
    };
    let ctx = TestContext::on_test_store();
    ctx.copy_example("taxi-fare");
    let shared = ctx.root().join("cluster-share");
    ctx.write(".sluice/shared", &format!("{}\n", shared.display()));
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join(sluice_engine::SHARED_MARK), "").unwrap();
    // The compute the example names (`azureml:cpu-cluster`), as Azure's YAML with the mapping.
    ctx.write(
        "cpu-cluster.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\n\
         name: cpu-cluster\ntype: amlcompute\nsize: STANDARD_DS3_v2\nmin_instances: 0\nmax_instances: 4\n\
         sluice:\n  slurm:\n    partition: debug\n",
    );
    sluice_json(
        &ctx,
        &conf,
        &["compute", "create", "-f", "cpu-cluster.yml", "-o", "json"],
    );
    let job = sluice_json(
        &ctx,
        &conf,
        &[
            "job",
            "create",
            "-f",
            "taxi-fare/pipeline.yml",
            "--name",
            "taxi-slurm",
            "-o",
            "json",
        ],
    );
    assert_eq!(job["status"], "Completed", "{job:#}");
    let ws = ctx.workspace().display().to_string();
    let bin = shared.join("bin");
    for step in [
        "prep_data",
        "train_model",
        "evaluate_model",
        "register_model",
    ] {
        let s = &job["jobs"][step];
        assert_eq!(s["executor"], "slurm", "{step}: {s:#}");
        let id = s["executor_id"].as_str().expect("a Slurm job id");
        let slurm = slurm_job(&conf, id);
        assert_eq!(slurm["JobState"], "COMPLETED", "{step}");
        // Slurm ran it in its code copy on the shared path, its output file there too.
        assert!(
            Path::new(&slurm["WorkDir"]).starts_with(&shared),
            "{step}: {slurm:?}"
        );
        let log = s["log_path"].as_str().expect("a log");
        assert!(Path::new(log).starts_with(&shared), "{step}: {log}");
        let command = s["command"].as_str().expect("a command");
        assert!(
            !command.contains(&ws),
            "{step} reads the workspace folder: {command}"
        );
        // The batch script finds `sluice` in its copy on the shared path, not where it runs.
        let script = std::fs::read_to_string(
            Path::new(log)
                .ancestors()
                .nth(2)
                .unwrap()
                .join("slurm/attempt-1.sbatch"),
        )
        .unwrap_or_else(|e| panic!("{step}'s batch script beside {log}: {e}"));
        let path = script
            .lines()
            .find(|l| l.starts_with("export PATH="))
            .unwrap_or_else(|| panic!("no PATH in\n{script}"));
        let exe_dir = Path::new(env!("CARGO_BIN_EXE_sluice")).parent().unwrap();
        let dirs: Vec<&str> = path
            .trim_start_matches("export PATH=")
            .trim_matches('\'')
            .split(':')
            .collect();
        assert!(
            dirs.iter().any(|d| Path::new(d).starts_with(&bin)),
            "{path}"
        );
        assert!(!dirs.iter().any(|d| Path::new(d) == exe_dir), "{path}");
        // The job's inputs travel with the step, so a node need not reach the store.
        assert!(script.contains("export SLUICE_JOB_INPUTS="), "{script}");
    }
    // The local input was copied onto the shared path, and the prep step read the copy.
    let prep = job["jobs"]["prep_data"]["command"].as_str().unwrap();
    assert!(
        prep.contains(&shared.join("inputs").display().to_string())
            && prep.contains("taxi-data.csv"),
        "{prep}"
    );
    assert!(
        !ctx.workspace().join("jobs").exists(),
        "no step folders in the workspace"
    );
    let eval = &job["jobs"]["evaluate_model"]["mlflow"]["metrics"];
    assert!(eval["test_r2"].as_f64().unwrap() > 0.95, "{eval}");
    let v1 = sluice_json(
        &ctx,
        &conf,
        &["model", "show", "-n", "taxi-fare-model:1", "-o", "json"],
    );
    let lineage: Value =
        serde_json::from_str(v1["tags"]["sluice.lineage"].as_str().unwrap()).unwrap();
    assert_eq!(lineage["job"], "taxi-slurm");
    let input = &lineage["inputs"]["raw_data"];
    assert!(input["content_hash"].is_string(), "{lineage:#}");
    assert!(
        Path::new(input["path"].as_str().unwrap()).starts_with(shared.join("inputs")),
        "{lineage:#}"
    );
}

#[test]
fn a_step_cancelled_outside_sluice_fails_or_retries_per_its_policy() {
    let Some((conf, _cluster, ctx)) = on_cluster(
        "a_step_cancelled_outside_sluice_fails_or_retries_per_its_policy",
        "2",
    ) else {
        return;
    };
    let flag = ctx.root().join("tried-once");
    let (runner, id) = slow_job(
        &ctx,
        &conf,
        "again",
        &format!(
            "type: command\ncompute: azureml:hpc\ncommand: if [ -f {f} ]; then echo second; else touch {f}; sleep 600; fi\n\
             retry:\n  max_attempts: 2\n",
            f = flag.display()
        ),
        // Slurm reports RUNNING before the batch script runs the command: cancelled then, the
        // first attempt would leave no flag, and the retry would sleep its 600 s.
        || flag.exists(),
    );
    let scancel = |id: &str| {
        let out = Command::new("scancel")
            .arg(id)
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        assert!(out.status.success(), "scancel {id}: {out:?}");
    };
    scancel(&id);
    let out = runner.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "retried, then completed");
    let job = sluice_json(&ctx, &conf, &["job", "show", "-n", "again", "-o", "json"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    let step = &only_step(&job);
    let attempts = step["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{step:#}");
    assert_eq!(attempts[0]["status"], "Failed");
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("Slurm job {id} was cancelled outside sluice")),
        "{step:#}"
    );
    assert_ne!(
        step["executor_id"],
        id.as_str(),
        "the retry is a new Slurm job"
    );

    // Without a retry policy the step, and so the job, fails and says why.
    let (runner, id) = slow_job(
        &ctx,
        &conf,
        "once",
        "type: command\ncompute: azureml:hpc\ncommand: sleep 600\n",
        || true,
    );
    scancel(&id);
    let out = runner.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a failed job exits 1");
    let job = sluice_json(&ctx, &conf, &["job", "show", "-n", "once", "-o", "json"]);
    assert_eq!(job["status"], "Failed");
    let step = &only_step(&job);
    assert!(
        step["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cancelled outside sluice"),
        "{step:#}"
    );
}

#[test]
fn a_team_server_killed_mid_job_and_restarted_finishes_it_without_rerunning_steps() {
    server_killed_mid_job(
        "a_team_server_killed_mid_job_and_restarted_finishes_it_without_rerunning_steps",
        false,
    );
}

#[test]
fn a_team_server_restarted_after_a_reboot_follows_the_slurm_job_its_dead_job_process_left() {
    server_killed_mid_job(
        "a_team_server_restarted_after_a_reboot_follows_the_slurm_job_its_dead_job_process_left",
        true,
    );
}

/// A two-step job submitted to a team server, killed (SIGKILL) while the second step runs in
/// Slurm, with the job's own process too when `reboot` (as when the machine restarts): the
/// restarted server sees it to its end without running a step again (after a reboot, it
/// resumes the job, which follows the batch job the dead process left).
fn server_killed_mid_job(test: &str, reboot: bool) {
    use crate::remote::{Server, client};
    let Some((conf, _cluster, ctx)) = on_cluster(test, "2") else {
        return;
    };
    let env = [("SLURM_CONF", conf.as_str())];
    let server = Server::start_with(&ctx, &[], &env);
    let clients = tempfile::tempdir().unwrap();
    let (ran, go) = (clients.path().join("ran"), clients.path().join("go"));
    std::fs::write(
        clients.path().join("two.yml"),
        format!(
            "type: pipeline\nsettings:\n  default_compute: azureml:hpc\njobs:\n\
             \x20 first:\n    type: command\n    command: echo first >> {ran} && echo done > ${{{{outputs.out}}}}/x\n    outputs:\n      out:\n        type: uri_folder\n\
             \x20 second:\n    type: command\n    command: for i in $(seq 600); do [ -f {go} ] && break; sleep 0.2; done; cat ${{{{inputs.x}}}}/x\n    inputs:\n      x: ${{{{parent.jobs.first.outputs.out}}}}\n",
            ran = ran.display(),
            go = go.display()
        ),
    )
    .unwrap();
    let show = |url: &str| -> Value {
        let out = client(
            clients.path(),
            url,
            None,
            &["job", "show", "-n", "two", "-o", "json"],
        )
        .output()
        .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    // The client waits for the job's end as the local command does: in the background.
    let mut submitter = client(
        clients.path(),
        &server.url,
        None,
        &[
            "job", "create", "-f", "two.yml", "--name", "two", "-o", "none",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut second = String::new();
    wait_for(60, "the second step to run in Slurm", || {
        let job = show(&server.url);
        job["jobs"]["second"]["executor_id"]
            .as_str()
            .unwrap_or_default()
            .clone_into(&mut second);
        !second.is_empty() && slurm_job(&conf, &second)["JobState"] == "RUNNING"
    });
    // The server dies (SIGKILL: nothing of it runs any more) and comes back.
    let mut server = server;
    server.kill();
    if reboot {
        let runner = crate::common::processes_with("job create -o none --name two");
        assert_eq!(runner.len(), 1, "{runner:?}");
        let killed = Command::new("kill")
            .args(["-KILL", &runner[0].to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
    let server = Server::start_with(&ctx, &[], &env);
    if reboot {
        // Resumed (not merely not yet found dead): its history says so.
        wait_for(60, "the restarted server to resume the job", || {
            let job = show(&server.url);
            let resumed = job["status_history"].as_array().is_some_and(|h| {
                h.iter()
                    .any(|e| e["status"] == "NotStarted" && e["message"] == "resumed")
            });
            resumed && job["status"] == "Running" && job["jobs"]["second"]["detached"] == false
        });
    } else {
        assert_eq!(show(&server.url)["status"], "Running", "the job ran on");
    }
    std::fs::write(&go, "").unwrap();
    let mut job = Value::Null;
    // A job passes through Finalizing on its way to its end: wait for the end itself.
    wait_for(60, "the job to finish", || {
        job = show(&server.url);
        ["Completed", "Failed", "Canceled"].contains(&job["status"].as_str().unwrap_or_default())
    });
    // What the server's resume said, if it ran one.
    let resumes: String = std::fs::read_dir(ctx.workspace().join("jobs/two"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("auto-resume"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    assert_eq!(job["status"], "Completed", "{job:#}\n{resumes}");
    let _ = submitter.kill();
    let _ = submitter.wait();
    assert_eq!(
        std::fs::read_to_string(&ran).unwrap(),
        "first\n",
        "the completed step did not run again"
    );
    assert_eq!(
        job["jobs"]["second"]["executor_id"],
        second.as_str(),
        "the running step was not submitted again"
    );
    assert_eq!(
        job["jobs"]["second"]["attempts"].as_array().unwrap().len(),
        1
    );
}
