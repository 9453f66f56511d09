//! `sluice job ...`: running pipelines and command jobs end to end.

use insta::assert_snapshot;

use crate::common::TestContext;

#[test]
fn example_pipeline_trains_registers_and_gates() {
    let ctx = TestContext::on_test_store();
    ctx.copy_example("taxi-fare");
    let job = ctx.json(&[
        "job",
        "create",
        "-f",
        "taxi-fare/pipeline.yml",
        "--name",
        "taxi1",
    ]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    assert_eq!(job["experiment_name"], "taxi-fare-training");
    for step in [
        "prep_data",
        "train_model",
        "evaluate_model",
        "register_model",
    ] {
        assert_eq!(job["jobs"][step]["status"], "Completed", "{step}: {job:#}");
    }
    assert_eq!(
        ctx.ok(&[
            "job", "show", "-n", "taxi1", "--query", "status", "-o", "tsv"
        ]),
        "Completed\n"
    );
    assert_eq!(
        ctx.json(&["job", "list", "-o", "json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Each step logged into its own run: prep's row counts, train's and evaluate's metrics.
    let prep = &job["jobs"]["prep_data"]["mlflow"];
    assert_eq!(prep["metrics"]["rows_input"], 10000.0);
    assert_eq!(prep["metrics"]["rows_test"], 1500.0);
    let eval = &job["jobs"]["evaluate_model"]["mlflow"]["metrics"];
    assert!(eval["test_r2"].as_f64().unwrap() > 0.95, "{eval}");
    assert_eq!(eval["deploy_flag"], 1.0);
    assert_eq!(
        job["jobs"]["train_model"]["mlflow"]["params"]["algorithm"],
        "random_forest"
    );
    // The step's own default (not on the command line) is logged like a given value.
    assert_eq!(
        job["jobs"]["train_model"]["mlflow"]["params"]["min_samples_leaf"],
        "5"
    );
    // The model folder is MLflow-style.
    let model_dir =
        std::path::PathBuf::from(job["outputs"]["trained_model"]["path"].as_str().unwrap());
    let mlmodel = std::fs::read_to_string(model_dir.join("MLmodel")).unwrap();
    assert!(
        mlmodel.contains("sluice:") && mlmodel.contains("algorithm: random_forest"),
        "{mlmodel}"
    );
    assert!(model_dir.join("model.bin").exists());
    let info_dir = std::path::PathBuf::from(
        job["outputs"]["model_info_output_path"]["path"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        std::fs::read_to_string(info_dir.join("model_info.json"))
            .unwrap()
            .trim(),
        r#"{"id":"taxi-fare-model:1"}"#
    );
    // The registered version carries its lineage.
    let v1 = ctx.json(&["model", "show", "-n", "taxi-fare-model:1"]);
    let lineage: serde_json::Value =
        serde_json::from_str(v1["tags"]["sluice.lineage"].as_str().unwrap()).unwrap();
    assert_eq!(lineage["job"], "taxi1");
    assert!(
        lineage["inputs"]["raw_data"]["content_hash"]
            .as_str()
            .unwrap()
            .starts_with("blake3:")
    );
    assert!(
        lineage["model_hash"]
            .as_str()
            .unwrap()
            .starts_with("blake3:")
    );

    // The same model again is not better than the champion: no second version.
    let again = ctx.json(&[
        "job",
        "create",
        "-f",
        "taxi-fare/pipeline.yml",
        "--name",
        "taxi2",
    ]);
    assert_eq!(
        again["jobs"]["evaluate_model"]["mlflow"]["metrics"]["deploy_flag"],
        0.0
    );
    assert_eq!(
        ctx.ok(&[
            "model",
            "show",
            "-n",
            "taxi-fare-model",
            "--query",
            "latest_version",
            "-o",
            "tsv"
        ]),
        "1\n"
    );
    // With the registry as taxi2 left it, a third run reuses every step, evaluate and register
    // included: the registry's state is part of their key (and `job explain` says so).
    let third = ctx.json(&[
        "job",
        "create",
        "-f",
        "taxi-fare/pipeline.yml",
        "--name",
        "taxi3",
    ]);
    for step in ["prep_data", "train_model"] {
        assert!(
            third["jobs"][step]["reused_from"].is_string(),
            "{step}: {third:#}"
        );
    }
    for step in ["evaluate_model", "register_model"] {
        assert_eq!(
            third["jobs"][step]["reused_from"],
            format!("taxi2/{step}"),
            "{step}: {third:#}"
        );
    }
    let explained = ctx.json(&["job", "explain", "-n", "taxi3", "--step", "evaluate_model"]);
    assert!(
        explained[0]["reason"]
            .as_str()
            .unwrap()
            .contains("the model registry's state included"),
        "{explained:#}"
    );
    let explained = ctx.json(&["job", "explain", "-n", "taxi2", "--step", "evaluate_model"]);
    assert!(
        explained[0]["reason"]
            .as_str()
            .unwrap()
            .contains("the model registry changed, which the step reads"),
        "{explained:#}"
    );
    // A better one is registered as version 2.
    let better = ctx.json(&[
        "job",
        "create",
        "-f",
        "taxi-fare/pipeline.yml",
        "--set",
        "inputs.algorithm=gradient_boosting",
    ]);
    assert_eq!(
        better["jobs"]["evaluate_model"]["mlflow"]["metrics"]["deploy_flag"], 1.0,
        "{better:#}"
    );
    assert_eq!(
        ctx.ok(&[
            "model",
            "show",
            "-n",
            "taxi-fare-model",
            "--query",
            "latest_version",
            "-o",
            "tsv"
        ]),
        "2\n"
    );
    // `job stream` replays the logs, prefixed by step.
    let stream = ctx.run(&["job", "stream", "-n", "taxi1"]);
    assert!(stream.status.success());
    let stderr = String::from_utf8_lossy(&stream.stderr);
    assert!(
        stderr.contains(
            "[prep_data] prep: 10000 rows in, 0 dropped; train 7000, validation 1500, test 1500"
        ),
        "{stderr}"
    );
    // The registered version exports as ONNX, the same bytes as its folder's `model.onnx`;
    // `job show` names the version the job registered.
    let out = ctx.json(&[
        "model",
        "export",
        "-n",
        "taxi-fare-model",
        "-v",
        "1",
        "--file",
        "v1.onnx",
    ]);
    assert_eq!(out["algorithm"], "random_forest");
    assert_eq!(
        std::fs::read(ctx.root().join("v1.onnx")).unwrap(),
        std::fs::read(model_dir.join("model.onnx")).unwrap()
    );
    let registered = ctx.json(&["job", "show", "-n", "taxi1", "--query", "registered_models"]);
    assert_eq!(
        registered,
        serde_json::json!([{"name": "taxi-fare-model", "version": "1", "run_id": registered[0]["run_id"]}])
    );
    assert!(
        registered[0]["run_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
}

#[test]
fn stream_shows_statuses_and_prefixed_logs() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        r#"
type: pipeline
experiment_name: streaming
jobs:
  hello:
    command: echo "hello from ${{inputs.who}}"
    inputs:
      who: sluice
"#,
    );
    assert_snapshot!(ctx.snapshot(&[
        "job", "create", "-f", "p.yml", "--stream", "--name", "s1", "--query", "status"
    ]));
}

#[test]
fn failing_step_fails_the_job_and_cancels_dependants() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        r#"
type: pipeline
jobs:
  first:
    command: echo "about to fail"; exit 3
    outputs:
      out:
  second:
    command: ls ${{inputs.x}}
    inputs:
      x: ${{parent.jobs.first.outputs.out}}
"#,
    );
    assert_snapshot!(ctx.snapshot(&["job", "create", "-f", "p.yml", "--name", "f1", "-o", "none"]));
    assert_eq!(
        ctx.ok(&[
            "job",
            "show",
            "-n",
            "f1",
            "--query",
            "jobs.second.status",
            "-o",
            "tsv"
        ]),
        "Canceled\n"
    );
    assert_eq!(
        ctx.ok(&[
            "job",
            "show",
            "-n",
            "f1",
            "--query",
            "jobs.first.exit_code",
            "-o",
            "tsv"
        ]),
        "3\n"
    );
    let stream = ctx.run(&["job", "stream", "-n", "f1"]);
    assert_eq!(stream.status.code(), Some(1));
}

#[test]
fn continue_on_step_failure_lets_independent_steps_finish() {
    let ctx = TestContext::new();
    let pipeline = r"
type: pipeline
settings:
  continue_on_step_failure: CONTINUE
jobs:
  broken:
    command: sleep 0.2; exit 1
    outputs:
      out:
  after_broken:
    command: echo never
    inputs:
      x: ${{parent.jobs.broken.outputs.out}}
  slow_independent:
    command: sleep 1; echo done > ${{outputs.out}}/done.txt
    outputs:
      out:
";
    ctx.write("continue.yml", &pipeline.replace("CONTINUE", "true"));
    ctx.write("stop.yml", &pipeline.replace("CONTINUE", "false"));
    let out = ctx.run(&[
        "job",
        "create",
        "-f",
        "continue.yml",
        "--name",
        "c1",
        "-o",
        "none",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let job = ctx.json(&["job", "show", "-n", "c1"]);
    assert_eq!(job["status"], "Failed");
    assert_eq!(job["jobs"]["broken"]["status"], "Failed");
    assert_eq!(job["jobs"]["after_broken"]["status"], "Canceled");
    assert_eq!(job["jobs"]["slow_independent"]["status"], "Completed");

    // Without it, the first failure stops the job: the slow step is stopped, not finished.
    let out = ctx.run(&[
        "job",
        "create",
        "-f",
        "stop.yml",
        "--name",
        "c2",
        "-o",
        "none",
        "--max-parallel",
        "3",
        // c1 completed the slow step: without this it would be reused, not run.
        "--force-rerun",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let job = ctx.json(&["job", "show", "-n", "c2"]);
    assert_eq!(job["status"], "Failed");
    assert_eq!(job["jobs"]["slow_independent"]["status"], "Canceled");
}

#[test]
fn independent_steps_run_in_parallel() {
    let ctx = TestContext::new();
    // Each step waits (at most 20 s) for the other to have started: only parallel runs finish.
    let wait = |me: &str, other: &str| {
        format!(
            "touch ../../../{me}.started; for i in $(seq 200); do [ -f ../../../{other}.started ] && exit 0; sleep 0.1; done; exit 1"
        )
    };
    ctx.write(
        "p.yml",
        &format!(
            "type: pipeline\njobs:\n  a:\n    command: '{}'\n  b:\n    command: '{}'\n",
            wait("a", "b"),
            wait("b", "a")
        ),
    );
    let job = ctx.json(&["job", "create", "-f", "p.yml", "--max-parallel", "2"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
}

#[test]
fn steps_get_a_fresh_code_copy_and_empty_outputs() {
    let ctx = TestContext::new();
    ctx.write("src/script.sh", "echo original\n");
    ctx.write(
        "p.yml",
        r#"
type: pipeline
jobs:
  check:
    code: ./src
    command: >-
      test -z "$(ls -A ${{outputs.out}})" &&
      sh script.sh > ${{outputs.out}}/first.txt &&
      echo changed > script.sh && pwd > ${{outputs.out}}/cwd.txt
    outputs:
      out:
"#,
    );
    let job = ctx.json(&["job", "create", "-f", "p.yml"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    assert_eq!(
        std::fs::read_to_string(ctx.root().join("src/script.sh")).unwrap(),
        "echo original\n"
    );
    let out = std::path::PathBuf::from(
        job["jobs"]["check"]["outputs"]["out"]["path"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        std::fs::read_to_string(out.join("first.txt")).unwrap(),
        "original\n"
    );
    let cwd = std::fs::read_to_string(out.join("cwd.txt")).unwrap();
    assert!(cwd.trim_end().ends_with("/steps/check/code"), "{cwd}");
    assert_eq!(job["jobs"]["check"]["outputs"]["out"]["file_count"], 2);
}

#[test]
fn set_overrides_inputs_experiment_and_settings() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        r"
type: pipeline
experiment_name: original
inputs:
  greeting: hello
jobs:
  say:
    command: echo ${{inputs.g}} > ${{outputs.out}}/said.txt
    inputs:
      g: ${{parent.inputs.greeting}}
    outputs:
      out:
",
    );
    let job = ctx.json(&[
        "job",
        "create",
        "-f",
        "p.yml",
        "--set",
        "inputs.greeting=bonjour",
        "--set",
        "experiment_name=overridden",
        "--set",
        "display_name=Shown",
        "--set",
        "settings.continue_on_step_failure=true",
    ]);
    assert_eq!(job["experiment_name"], "overridden");
    assert_eq!(job["display_name"], "Shown");
    assert_eq!(job["settings"]["continue_on_step_failure"], true);
    let out = std::path::PathBuf::from(
        job["jobs"]["say"]["outputs"]["out"]["path"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        std::fs::read_to_string(out.join("said.txt")).unwrap(),
        "bonjour\n"
    );
    let bad = ctx.run(&["job", "create", "-f", "p.yml", "--set", "nokeyvalue"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn command_job_runs_as_one_step() {
    let ctx = TestContext::new();
    ctx.write("data/in.txt", "3\n4\n");
    ctx.write(
        "job.yml",
        r"
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
command: awk '{ s += $1 } END { print s }' ${{inputs.numbers}} > ${{outputs.result}}/sum.txt; echo $GREETING
inputs:
  numbers:
    type: uri_file
    path: ./data/in.txt
outputs:
  result:
    type: uri_folder
environment_variables:
  GREETING: hi
resources:
  instance_count: 2
  instance_type: Standard_DS3_v2
",
    );
    let out = ctx.run(&["job", "create", "-f", "job.yml", "--name", "cmd1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Two nodes mean something only on a Slurm compute: here one process runs, and it says so.
    assert!(
        stderr.contains("asks for 2 node(s) x 1 process(es)")
            && stderr.contains("runs as one process on this machine"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`instance_type` has no effect when running locally"),
        "{stderr}"
    );
    let job = ctx.json(&["job", "show", "-n", "cmd1"]);
    assert_eq!(job["type"], "command");
    let result = std::path::PathBuf::from(job["outputs"]["result"]["path"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(result.join("sum.txt")).unwrap(),
        "7\n"
    );
}

#[test]
fn timeout_kills_the_step() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        "type: pipeline\njobs:\n  slow:\n    command: sleep 30 & sleep 30; wait\n    limits:\n      timeout: 1\n",
    );
    let started = std::time::Instant::now();
    let out = ctx.run(&["job", "create", "-f", "p.yml", "--name", "t1", "-o", "none"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed().as_secs() < 20,
        "the timeout did not stop the step"
    );
    assert_eq!(
        ctx.ok(&[
            "job",
            "show",
            "-n",
            "t1",
            "--query",
            "jobs.slow.error",
            "-o",
            "tsv"
        ]),
        "timed out after 1 s\n"
    );
}

#[test]
fn invalid_spec_exits_3_with_location_and_writes_nothing() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        r"type: pipeline
jobs:
  train:
    command: python train.py --data ${{inputs.training_data}}
    inputs:
      training_data: ${{parent.inputs.trainig}}
",
    );
    assert_snapshot!(ctx.snapshot(&["job", "create", "-f", "p.yml"]));
    assert!(
        !ctx.workspace().exists(),
        "a failed validation must not create the workspace"
    );
}

#[test]
fn unknown_data_asset_is_reported_at_its_line() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        "type: pipeline\ninputs:\n  raw:\n    type: uri_file\n    path: azureml:missing-data@latest\njobs:\n  a:\n    command: cat ${{inputs.x}}\n    inputs:\n      x: ${{parent.inputs.raw}}\n",
    );
    assert_snapshot!(ctx.snapshot(&["job", "create", "-f", "p.yml"]));
    assert!(!ctx.workspace().exists());
}

#[test]
fn unknown_job_is_not_found() {
    let ctx = TestContext::new();
    ctx.ok(&["compute", "create", "--name", "local2"]);
    assert_snapshot!(ctx.snapshot(&["job", "show", "-n", "nope"]));
}

#[test]
fn job_names_are_unique() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        "type: pipeline\njobs:\n  a:\n    command: 'true'\n",
    );
    ctx.ok(&["job", "create", "-f", "p.yml", "--name", "same"]);
    let out = ctx.run(&["job", "create", "-f", "p.yml", "--name", "same"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a job named `same` already exists"));
}

#[test]
fn registered_compute_limits_parallelism() {
    let ctx = TestContext::new();
    ctx.ok(&[
        "compute",
        "create",
        "--name",
        "single",
        "--max-instances",
        "1",
    ]);
    // With one instance, `b` cannot start before `a` ends: `a` removes the flag `b` checks.
    ctx.write(
        "p.yml",
        r"
type: pipeline
settings:
  default_compute: azureml:single
jobs:
  a:
    command: touch ../../../busy; sleep 0.5; rm ../../../busy
  b:
    command: test ! -f ../../../busy
",
    );
    let job = ctx.json(&["job", "create", "-f", "p.yml", "--max-parallel", "4"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    assert_eq!(job["jobs"]["a"]["compute"], "single");
}

#[test]
fn steps_log_to_their_own_child_run() {
    let ctx = TestContext::new();
    // A dependency-free MLflow client: bash's /dev/tcp posts one metric to the job's server.
    ctx.write(
        "src/log_metric.sh",
        r#"set -eu
hostport=${MLFLOW_TRACKING_URI#http://}
body="{\"run_id\": \"$MLFLOW_RUN_ID\", \"key\": \"$1\", \"value\": $2, \"timestamp\": 1, \"step\": 0}"
exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
printf 'POST /api/2.0/mlflow/runs/log-metric HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
  "$hostport" "${#body}" "$body" >&3
head -n 1 <&3
"#,
    );
    ctx.write(
        "p.yml",
        r#"
type: pipeline
experiment_name: tracked
jobs:
  train:
    code: ./src
    command: bash log_metric.sh rmse 0.25 && echo "experiment $MLFLOW_EXPERIMENT_NAME"
"#,
    );
    let out = ctx.run(&["job", "create", "-f", "p.yml", "--name", "m1", "--stream"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[train] HTTP/1.1 200 OK"), "{stderr}");
    assert!(stderr.contains("[train] experiment tracked"), "{stderr}");
    let job = ctx.json(&["job", "show", "-n", "m1"]);
    assert_eq!(job["mlflow"]["status"], "FINISHED");
    let step = &job["jobs"]["train"]["mlflow"];
    assert_eq!(step["status"], "FINISHED");
    assert_eq!(step["metrics"]["rmse"], 0.25);
    assert_eq!(step["experiment_id"], job["mlflow"]["experiment_id"]);
    assert_ne!(step["run_id"], job["mlflow"]["run_id"]);
}

#[test]
fn a_killed_runner_leaves_its_job_failed_not_running() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        "type: pipeline\njobs:\n  slow:\n    command: sleep 10\n    outputs:\n      o:\n  after:\n    command: 'true'\n    inputs:\n      x: ${{parent.jobs.slow.outputs.o}}\n",
    );
    let mut runner = ctx
        .command(&["job", "create", "-f", "p.yml", "--name", "k1"])
        .spawn()
        .unwrap();
    // Bounded, and generous: on a loaded 2-core CI machine a job can take a while to start.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
    loop {
        let status = ctx.run(&[
            "job",
            "show",
            "-n",
            "k1",
            "--query",
            "jobs.slow.status",
            "-o",
            "tsv",
        ]);
        if String::from_utf8_lossy(&status.stdout).trim() == "Running" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // kill -9: the runner gets no chance to record anything.
    runner.kill().unwrap();
    runner.wait().unwrap();
    let out = ctx.run(&["job", "show", "-n", "k1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("job `k1` was interrupted"), "{stderr}");
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["status"], "Failed");
    assert!(
        job["error"].as_str().unwrap().starts_with("interrupted"),
        "{job:#}"
    );
    assert_eq!(job["jobs"]["slow"]["status"], "Failed");
    assert_eq!(job["jobs"]["after"]["status"], "Failed");
    assert_eq!(job["mlflow"]["status"], "FAILED");
    // Said once: the next command finds nothing to recover.
    let again = ctx.run(&["job", "list"]);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("interrupted"));
}

#[test]
fn a_champion_that_cannot_be_read_fails_the_evaluation_instead_of_passing_it() {
    let ctx = TestContext::new();
    ctx.copy_example("taxi-fare");
    ctx.ok(&[
        "job",
        "create",
        "-f",
        "taxi-fare/pipeline.yml",
        "--name",
        "one",
        "-o",
        "none",
    ]);
    // The champion's files are gone: the gate cannot be judged.
    std::fs::remove_dir_all(ctx.workspace().join("mlartifacts")).unwrap();
    let out = ctx.run(&[
        "job",
        "create",
        "-f",
        "taxi-fare/pipeline.yml",
        "--name",
        "two",
        "-o",
        "none",
        "--set",
        "inputs.algorithm=gradient_boosting",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let job = ctx.json(&["job", "show", "-n", "two", "-o", "json"]);
    assert_eq!(job["jobs"]["evaluate_model"]["status"], "Failed");
    assert_eq!(job["jobs"]["register_model"]["status"], "Canceled");
    let log = std::fs::read_to_string(job["jobs"]["evaluate_model"]["log_path"].as_str().unwrap())
        .unwrap();
    assert!(
        log.contains("the candidate is not judged without it"),
        "{log}"
    );
    let versions = ctx.run(&["model", "show", "-n", "taxi-fare-model", "--version", "2"]);
    assert_eq!(versions.status.code(), Some(5), "nothing was registered");
}

/// `.sluice/tracking-host`: the job's tracking server listens on that host's address and steps
/// are told that name (for steps on other machines); a name that does not resolve fails the job
/// saying so.
#[test]
fn steps_reach_the_tracking_server_at_the_workspaces_tracking_host() {
    let ctx = TestContext::new();
    ctx.write(
        "job.yml",
        "type: command\ncommand: >-\n  echo uri=$MLFLOW_TRACKING_URI &&\n  python3 -c \"import os, urllib.request; print('health', urllib.request.urlopen(os.environ['MLFLOW_TRACKING_URI'] + '/health').read().decode())\"\n",
    );
    ctx.ok(&["job", "create", "-f", "job.yml", "--name", "plain"]);
    ctx.write(
        ".sluice/tracking-host",
        "# the name nodes reach this machine by\nlocalhost\n",
    );
    let out = ctx.run(&[
        "job",
        "create",
        "-f",
        "job.yml",
        "--name",
        "named",
        "--stream",
        "--force-rerun",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("uri=http://localhost:"), "{stderr}");
    assert!(stderr.contains("health OK"), "{stderr}");
    let plain = ctx.json(&["job", "show", "-n", "plain"]);
    let log = std::fs::read_to_string(plain["jobs"]["main"]["log_path"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("uri=http://127.0.0.1:"),
        "without the file: loopback\n{log}"
    );

    ctx.write(".sluice/tracking-host", "no-such-host.invalid\n");
    let out = ctx.run(&["job", "create", "-f", "job.yml", "--name", "unreachable"]);
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no-such-host.invalid") && stderr.contains("does not resolve"),
        "{stderr}"
    );
}

/// A job's tracking server that needs the job's token (a job run with a token; a non-loopback
/// tracking host is the other case, see `sluice_engine`'s `a_tracking_server_other_machines_reach_needs_a_token`)
/// refuses a step's MLflow call without it (401) and answers it with the `MLFLOW_TRACKING_TOKEN`
/// the step was given. (The tests bind 127.0.0.1 only, so the other machines' case is not run.)
#[test]
fn a_tracking_server_that_needs_the_jobs_token_refuses_calls_without_it() {
    let ctx = TestContext::new();
    let token = ctx.json(&["token", "create", "--name", "cody", "--role", "contributor"])["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    ctx.write(
        "check.py",
        "import os, urllib.request, urllib.error\n\
         url = os.environ['MLFLOW_TRACKING_URI'] + '/api/2.0/mlflow/experiments/search?max_results=1'\n\
         def status(headers):\n\
         \x20   try:\n\
         \x20       return urllib.request.urlopen(urllib.request.Request(url, headers=headers)).status\n\
         \x20   except urllib.error.HTTPError as e:\n\
         \x20       return e.code\n\
         print('without', status({}))\n\
         print('with', status({'Authorization': 'Bearer ' + os.environ['MLFLOW_TRACKING_TOKEN']}))\n",
    );
    ctx.write(
        "job.yml",
        "type: command\ncode: .\ncommand: python3 check.py\n",
    );
    let out = ctx
        .command(&[
            "job", "create", "-f", "job.yml", "--name", "tokened", "--stream",
        ])
        .env("SLUICE_TOKEN", &token)
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("without 401"), "{stderr}");
    assert!(stderr.contains("with 200"), "{stderr}");
}

/// Kills the processes whose command line holds its text when dropped, so that a failing test
/// leaves none behind.
struct KillOnDrop(&'static str);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in crate::common::processes_with(self.0) {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    }
}

#[test]
fn a_runner_on_another_machine_is_judged_gone_by_its_heartbeat_and_its_processes_left_alone() {
    let _cleanup = KillOnDrop("sleep 47.25");
    let ctx = TestContext::new();
    // A step no other test runs, to find its process by.
    ctx.write(
        "p.yml",
        "type: pipeline\njobs:\n  slow:\n    command: sleep 47.25\n",
    );
    let mut runner = ctx
        .command(&["job", "create", "-f", "p.yml", "--name", "hb1"])
        .env("SLUICE_RUNNER_BEAT_SECS", "1")
        .spawn()
        .unwrap();
    let db = || rusqlite::Connection::open(ctx.workspace().join("sluice.db")).expect("db");
    let beat = || -> Option<i64> {
        db().query_row("SELECT runner_beat FROM jobs WHERE name = 'hb1'", [], |r| {
            r.get(0)
        })
        .ok()
        .flatten()
    };
    crate::common::wait_for(120, "the step to start", || {
        !crate::common::processes_with("sleep 47.25").is_empty()
    });
    // The runner says it is alive, every second here.
    let first = beat().expect("a heartbeat from the claim");
    crate::common::wait_for(30, "a later heartbeat", || beat() > Some(first));
    // Its machine goes away for good: the runner dies with it (here: SIGKILL) and the job's
    // record says it ran elsewhere.
    runner.kill().unwrap();
    runner.wait().unwrap();
    let seen_ago = |secs: i64| {
        db().execute(
            "UPDATE jobs SET runner_host = 'machine-gone/boot-1', runner_beat = CAST(strftime('%s', 'now') AS INTEGER) - ?1 WHERE name = 'hb1'",
            [secs],
        )
        .expect("update");
    };
    let status = |stale: &str| -> serde_json::Value {
        let out = ctx
            .command(&["job", "show", "-n", "hb1"])
            .env("SLUICE_RUNNER_STALE_SECS", stale)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).expect("job show")
    };
    // Heard from 30 s ago, within the limit: still its machine's to judge.
    seen_ago(30);
    assert_eq!(status("60")["status"], "Running");
    // Silent past the limit (120 s by default): first only suspected (the store itself may
    // have been down, every runner silent at once)...
    seen_ago(600);
    assert_eq!(status("120")["status"], "Running");
    let suspect = |sql: &str| {
        db().query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
            .expect("query")
    };
    let suspected = suspect("SELECT runner_suspect FROM jobs WHERE name = 'hb1'");
    assert!(suspected.is_some());
    // Meanwhile a cancel from here says why it must wait, and what to do.
    let cancel = ctx.run(&["job", "cancel", "-n", "hb1"]);
    let said = String::from_utf8_lossy(&cancel.stderr);
    assert_eq!(cancel.status.code(), Some(2), "{said}");
    assert!(
        said.contains("runs on another machine (machine-gone)"),
        "{said}"
    );
    assert!(said.contains("its runner has not reported for 6"), "{said}");
    let resume = ctx.run(&["job", "resume", "-n", "hb1"]);
    let said = String::from_utf8_lossy(&resume.stderr);
    assert_eq!(resume.status.code(), Some(2), "{said}");
    assert!(said.contains("its runner has not reported for 6"), "{said}");
    // ... a beat after the suspicion clears it (no judgment at the next look) ...
    db().execute(
        "UPDATE jobs SET runner_suspect = runner_suspect - 300, runner_beat = runner_suspect - 150 WHERE name = 'hb1'",
        [],
    )
    .expect("update");
    assert_eq!(status("120")["status"], "Running");
    // ... and still silent a stale limit after the suspicion, with no beat since: ended as
    // interrupted, by its heartbeat.
    db().execute(
        "UPDATE jobs SET runner_suspect = CAST(strftime('%s', 'now') AS INTEGER) - 300, runner_beat = CAST(strftime('%s', 'now') AS INTEGER) - 600 WHERE name = 'hb1'",
        [],
    )
    .expect("update");
    let job = status("120");
    assert_eq!(job["status"], "Failed", "{job:#}");
    let error = job["error"].as_str().unwrap();
    assert!(error.starts_with("interrupted"), "{error}");
    assert!(
        error.contains("stopped reporting (its runner on `machine-gone` last reported 6"),
        "{error}"
    );
    assert_eq!(job["jobs"]["slow"]["status"], "Failed");
    // The step's process id is the other machine's: nothing here was signalled.
    let left = crate::common::processes_with("sleep 47.25");
    assert!(!left.is_empty(), "a process on this machine was stopped");
    // Had the runner been this machine's (it crashed, the machine stayed up, another machine
    // judged it first), the next command here stops the steps it left.
    let read = |f: &str| std::fs::read_to_string(f).unwrap().trim().to_owned();
    let here = format!(
        "{}/{}",
        read("/proc/sys/kernel/hostname"),
        read("/proc/sys/kernel/random/boot_id")
    );
    // (Resuming it from here first would not lose them: they are kept apart.)
    let kept = suspect(
        "SELECT COUNT(*) FROM orphan_processes WHERE job_name = 'hb1' AND host = 'machine-gone/boot-1'",
    );
    assert_eq!(kept, Some(1));
    db().execute(
        "UPDATE orphan_processes SET host = ?1 WHERE job_name = 'hb1'",
        [&here],
    )
    .expect("update");
    ctx.ok(&["job", "list"]);
    crate::common::wait_for(10, "the left step to be stopped", || {
        crate::common::processes_with("sleep 47.25").is_empty()
    });
}

#[test]
fn a_runner_whose_job_was_ended_elsewhere_stops_its_steps_and_itself() {
    let _cleanup = KillOnDrop("sleep 46.75");
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        "type: pipeline\njobs:\n  slow:\n    command: sleep 46.75\n    outputs:\n      o:\n  after:\n    command: 'true'\n    inputs:\n      x: ${{parent.jobs.slow.outputs.o}}\n",
    );
    let runner = ctx
        .command(&["job", "create", "-f", "p.yml", "--name", "hb2"])
        .env("SLUICE_RUNNER_BEAT_SECS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::common::wait_for(120, "the step to start", || {
        !crate::common::processes_with("sleep 46.75").is_empty()
    });
    // Another machine judged this runner gone (say it was suspended past the stale limit)
    // and ended its job as interrupted.
    let db = rusqlite::Connection::open(ctx.workspace().join("sluice.db")).expect("db");
    db.execute(
        "UPDATE jobs SET status = 'Failed', error = 'interrupted: judged elsewhere' WHERE name = 'hb2'",
        [],
    )
    .expect("update");
    drop(db);
    // At its next beat it finds out: its step is killed, it writes nothing more, it exits 1.
    let out = runner.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("job `hb2` is no longer this process's"),
        "{stderr}"
    );
    crate::common::wait_for(10, "the step to be gone", || {
        crate::common::processes_with("sleep 46.75").is_empty()
    });
    let job = ctx.json(&["job", "show", "-n", "hb2"]);
    assert_eq!(job["status"], "Failed");
    assert_eq!(job["error"], "interrupted: judged elsewhere");
    assert_eq!(job["jobs"]["after"]["status"], "NotStarted", "{job:#}");
}

/// A step's bookkeeping, written in few commits (a chain's steps wait for each other's), lands
/// whole and in order: each status once, its launch, its attempt, its exit, its output's hash
/// and its MLflow run finished; and a reused step's, in one, says where its results came from.
#[test]
fn a_steps_bookkeeping_lands_whole_and_in_order_when_run_and_when_reused() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        "type: pipeline\njobs:\n  first:\n    command: echo 1 > ${{outputs.out}}/x.txt\n    outputs:\n      out:\n        type: uri_folder\n  second:\n    command: cat ${{inputs.x}}/x.txt\n    inputs:\n      x: ${{parent.jobs.first.outputs.out}}\n",
    );
    let statuses = |step: &serde_json::Value| -> Vec<String> {
        step["status_history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap().to_owned())
            .collect()
    };
    ctx.ok(&["job", "create", "-f", "p.yml", "--name", "b1", "-o", "none"]);
    let job = ctx.json(&["job", "show", "-n", "b1"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    for name in ["first", "second"] {
        let step = &job["jobs"][name];
        assert_eq!(
            statuses(step),
            [
                "NotStarted",
                "Queued",
                "Preparing",
                "Running",
                "Finalizing",
                "Completed"
            ],
            "{step:#}"
        );
        assert_eq!(step["exit_code"], 0, "{step:#}");
        assert_eq!(step["executor"], "local", "{step:#}");
        assert!(
            step["command"].as_str().unwrap().contains("x.txt"),
            "{step:#}"
        );
        assert!(
            step["work_dir"]
                .as_str()
                .unwrap()
                .ends_with(&format!("steps/{name}/code"))
        );
        assert!(
            step["log_path"]
                .as_str()
                .unwrap()
                .ends_with(&format!("steps/{name}/logs/std_log.txt"))
        );
        let attempts = step["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{step:#}");
        assert_eq!(attempts[0]["status"], "Completed", "{step:#}");
        assert_eq!(step["mlflow"]["status"], "FINISHED", "{step:#}");
        assert!(step["end_time"].is_string(), "{step:#}");
    }
    let hash = job["jobs"]["first"]["outputs"]["out"]["content_hash"].clone();
    assert!(hash.as_str().unwrap().starts_with("blake3:"), "{job:#}");
    assert_eq!(
        job["jobs"]["second"]["inputs"]["x"]["content_hash"], hash,
        "the second step's input is the first's recorded output"
    );
    ctx.ok(&["job", "create", "-f", "p.yml", "--name", "b2", "-o", "none"]);
    let again = ctx.json(&["job", "show", "-n", "b2"]);
    assert_eq!(again["status"], "Completed", "{again:#}");
    for name in ["first", "second"] {
        let step = &again["jobs"][name];
        assert_eq!(
            statuses(step),
            ["NotStarted", "Queued", "Completed"],
            "{step:#}"
        );
        let history = step["status_history"].as_array().unwrap();
        assert_eq!(
            history[2]["message"],
            format!("reused the results of `b1/{name}`"),
            "{step:#}"
        );
        assert_eq!(step["reused_from"], format!("b1/{name}"), "{step:#}");
        assert_eq!(step["mlflow"]["status"], "FINISHED", "{step:#}");
    }
    assert_eq!(
        again["jobs"]["first"]["outputs"]["out"]["content_hash"],
        hash
    );
}

/// A local step retried per its policy: the failed attempt's log kept aside under its number,
/// both attempts recorded with their ends, the step's exit the last attempt's.
#[test]
fn a_retried_local_step_keeps_each_attempts_log_and_record() {
    let ctx = TestContext::new();
    let flag = ctx.root().join("second-try");
    ctx.write(
        "job.yml",
        &format!(
            "type: command\ncommand: if [ -f {f} ]; then echo second; else touch {f}; echo first; exit 3; fi\n\
             retry:\n  max_attempts: 2\n",
            f = flag.display()
        ),
    );
    ctx.ok(&[
        "job", "create", "-f", "job.yml", "--name", "r1", "-o", "none",
    ]);
    let job = ctx.json(&["job", "show", "-n", "r1"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    let step = job["jobs"].as_object().unwrap().values().next().unwrap();
    assert_eq!(step["exit_code"], 0, "{step:#}");
    let attempts = step["attempts"].as_array().unwrap();
    let ends: Vec<(&str, i64)> = attempts
        .iter()
        .map(|a| {
            (
                a["status"].as_str().unwrap(),
                a["exit_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ends, [("Failed", 3), ("Completed", 0)], "{step:#}");
    let log = std::path::PathBuf::from(step["log_path"].as_str().unwrap());
    let kept = log.with_file_name("std_log.attempt-1.txt");
    assert_eq!(
        attempts[0]["log_path"],
        kept.display().to_string(),
        "{step:#}"
    );
    assert!(std::fs::read_to_string(&kept).unwrap().contains("first"));
    let last = std::fs::read_to_string(&log).unwrap();
    assert!(last.contains("second") && !last.contains("first"), "{last}");
}
