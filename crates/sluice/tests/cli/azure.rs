//! Azure ML material as teams write it: registered and pipeline components, models, curated
//! and file environments, code snapshots of a repository root, and the `az ml` argument habits
//! of the Azure `MLOps` templates' CI steps.

use serde_json::Value;

use crate::common::TestContext;

/// A command component whose code sits beside its folder (`code: ../src`), as in the `MLOps`
/// templates: it writes `hello WHO` into its output.
fn hello_component(ctx: &TestContext) {
    ctx.write(
        "src/hello.py",
        "import sys, pathlib\npathlib.Path(sys.argv[2], 'out.txt').write_text('hello ' + sys.argv[1])\n",
    );
    ctx.write(
        "components/hello.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: hello
version: 1
type: command
inputs:
  who: {type: string, default: world}
outputs:
  out: {type: uri_folder}
code: ../src
command: python3 hello.py ${{inputs.who}} ${{outputs.out}}
",
    );
}

fn output_text(job: &Value, step: &str, output: &str, file: &str) -> String {
    let dir = job["jobs"][step]["outputs"][output]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("no output {step}.{output} in {job:#}"));
    std::fs::read_to_string(std::path::Path::new(dir).join(file))
        .unwrap_or_else(|e| panic!("{dir}/{file}: {e}"))
}

#[test]
fn the_mlops_template_ci_habits_work_with_az_swapped_for_sluice() {
    let ctx = TestContext::new();
    hello_component(&ctx);
    ctx.write("data/trips.csv", "a,b\n1,2\n");
    ctx.write(
        "mlops/data.yml",
        "name: trips\ntype: uri_folder\npath: ../data\n",
    );
    ctx.write(
        "mlops/pipeline.yml",
        "\
type: pipeline
experiment_name: from-the-file
display_name: from-the-file
inputs:
  who: ci
settings:
  default_compute: azureml:cpu-cluster
jobs:
  greet:
    component: ../components/hello.yml
    inputs:
      who: ${{parent.inputs.who}}
",
    );
    // `compute create` as the templates call it; the Azure-only flags are accepted and ignored.
    let out = ctx.run(&[
        "compute",
        "create",
        "--name",
        "cpu-cluster",
        "--type",
        "amlcompute",
        "--size",
        "Standard_DS3_v2",
        "--min-instances",
        "0",
        "--max-instances",
        "4",
        "--tier",
        "low_priority",
        "--idle-time-before-scale-down",
        "120",
        "-g",
        "rg",
        "-w",
        "ws",
        "--subscription",
        "sub",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--resource-group, --workspace-name, --subscription ignored"),
        "{stderr}"
    );
    let compute = ctx.json(&["compute", "show", "-n", "cpu-cluster"]);
    assert_eq!(compute["type"], "amlcompute");
    assert_eq!(compute["size"], "Standard_DS3_v2");
    assert_eq!(compute["tier"], "low_priority");
    assert_eq!(compute["max_instances"], 4);
    assert_eq!(compute["min_instances"], 0);
    assert_eq!(compute["idle_time_before_scale_down"], 120);
    // A missing compute prints nothing on stdout and fails, so `[[ -z $(...) ]]` checks work.
    let out = ctx.run(&[
        "compute", "show", "-n", "missing", "--query", "name", "-o", "tsv",
    ]);
    assert!(out.stdout.is_empty());
    assert_eq!(out.status.code(), Some(5));

    // `data create --file F --name N --type T` (flags win over the file), and with no file.
    let data = ctx.json(&[
        "data",
        "create",
        "--file",
        "mlops/data.yml",
        "--name",
        "trips-file",
        "--type",
        "uri_file",
        "--path",
        "../data/trips.csv",
    ]);
    assert_eq!(
        (data["name"].as_str(), data["type"].as_str()),
        (Some("trips-file"), Some("uri_file"))
    );
    let data = ctx.json(&[
        "data",
        "create",
        "--name",
        "raw",
        "--path",
        "data",
        "--type",
        "uri_folder",
    ]);
    assert_eq!(data["version"], "1");

    // The template's shell logic: one `--set` with several KEY=VALUE, the name as tsv, then
    // status polling.
    let name = ctx.ok(&[
        "job",
        "create",
        "--file",
        "mlops/pipeline.yml",
        "--set",
        "experiment_name=exp-from-ci",
        "display_name=run-42",
        "inputs.who=pipeline",
        "--query",
        "name",
        "-o",
        "tsv",
    ]);
    let name = name.trim();
    assert!(!name.is_empty());
    assert_eq!(
        ctx.ok(&["job", "show", "-n", name, "--query", "status", "-o", "tsv"]),
        "Completed\n"
    );
    let job = ctx.json(&["job", "show", "-n", name]);
    assert_eq!(job["experiment_name"], "exp-from-ci");
    assert_eq!(job["display_name"], "run-42");
    assert_eq!(
        output_text(&job, "greet", "out", "out.txt"),
        "hello pipeline"
    );
    // `--set` may also repeat, and `-o` given twice takes the last, as az does.
    let again = ctx.ok(&[
        "job",
        "create",
        "-f",
        "mlops/pipeline.yml",
        "--set",
        "inputs.who=a",
        "--set",
        "display_name=b",
        "--query",
        "display_name",
        "-o",
        "json",
        "-o",
        "tsv",
    ]);
    assert_eq!(again, "b\n");
    // `job show --web` says where to look and opens nothing.
    let out = ctx.run(&["job", "show", "-n", name, "--web", "-o", "none"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("opens no browser") && stderr.contains(name),
        "{stderr}"
    );
}

#[test]
fn registered_components_run_what_was_registered() {
    let ctx = TestContext::new();
    hello_component(&ctx);
    let row = ctx.json(&["component", "create", "-f", "components/hello.yml"]);
    assert_eq!(
        (row["name"].as_str(), row["version"].as_str()),
        (Some("hello"), Some("1"))
    );
    assert_eq!(row["type"], "command");
    assert_eq!(row["spec"]["inputs"]["who"], "string");
    // The same content again is the same version; other content under it is refused.
    let out = ctx.run(&["component", "create", "-f", "components/hello.yml"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already registered with the same content")
    );
    ctx.write(
        "src/hello.py",
        "import sys, pathlib\npathlib.Path(sys.argv[2], 'out.txt').write_text('changed ' + sys.argv[1])\n",
    );
    let out = ctx.run(&["component", "create", "-f", "components/hello.yml"]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    // Without a version in the file it takes the next one.
    let v2 = ctx.json(&[
        "component",
        "create",
        "-f",
        "components/hello.yml",
        "--set",
        "version=2",
    ]);
    assert_eq!(v2["version"], "2");
    let listed = ctx.json(&["component", "list", "-n", "hello"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert_eq!(
        ctx.ok(&[
            "component",
            "show",
            "-n",
            "hello@latest",
            "--query",
            "version",
            "-o",
            "tsv"
        ]),
        "2\n"
    );

    ctx.write(
        "pipeline.yml",
        "\
type: pipeline
jobs:
  pinned:
    component: azureml:hello:1
    inputs:
      who: one
  latest:
    component: azureml:hello@latest
    inputs:
      who: two
  from_registry_uri:
    component: azureml://registries/team/components/hello/versions/1
",
    );
    let job = ctx.json(&["job", "create", "-f", "pipeline.yml"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    // Version 1 runs the code as registered, not as it is on disk now.
    assert_eq!(output_text(&job, "pinned", "out", "out.txt"), "hello one");
    assert_eq!(output_text(&job, "latest", "out", "out.txt"), "changed two");
    assert_eq!(
        output_text(&job, "from_registry_uri", "out", "out.txt"),
        "hello world"
    );

    // An unknown version is a located error naming the versions there are.
    ctx.write(
        "bad.yml",
        "type: pipeline\njobs:\n  a:\n    component: azureml:hello:7\n",
    );
    let out = ctx.run(&["job", "create", "-f", "bad.yml"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yml:4:16") && stderr.contains("its versions are: 1, 2"),
        "{stderr}"
    );
}

/// A pipeline component inside a pipeline component, used as a step of a job: inputs bound
/// across three levels, outputs bound back up, a sibling reading the nested output, and each
/// inner step reused on its own.
#[test]
fn pipeline_components_nest_two_levels_deep_and_reuse_per_inner_step() {
    let ctx = TestContext::new();
    hello_component(&ctx);
    ctx.write(
        "pc/inner.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
type: pipeline
name: inner_pc
inputs:
  who: {type: string}
outputs:
  result: {type: uri_folder}
jobs:
  say:
    type: command
    component: ../components/hello.yml
    inputs:
      who: ${{parent.inputs.who}}
    outputs:
      out: ${{parent.outputs.result}}
",
    );
    ctx.write(
        "pc/outer.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
type: pipeline
name: outer_pc
inputs:
  who: {type: string, default: nested}
outputs:
  final: {type: uri_folder}
jobs:
  first:
    type: pipeline
    component: ./inner.yml
    inputs:
      who: ${{parent.inputs.who}}
  copy:
    type: command
    inputs:
      src: ${{parent.jobs.first.outputs.result}}
    outputs:
      dst: ${{parent.outputs.final}}
    command: cp ${{inputs.src}}/out.txt ${{outputs.dst}}/copied.txt
",
    );
    ctx.write(
        "pipeline.yml",
        "\
type: pipeline
inputs:
  who: deep
outputs:
  kept: {type: uri_folder}
jobs:
  top:
    type: pipeline
    component: ./pc/outer.yml
    inputs:
      who: ${{parent.inputs.who}}
    outputs:
      final: ${{parent.outputs.kept}}
  defaults:
    type: pipeline
    component: ./pc/outer.yml
  report:
    type: command
    inputs:
      r: ${{parent.jobs.top.outputs.final}}
    outputs:
      o: {type: uri_folder}
    command: cp ${{inputs.r}}/copied.txt ${{outputs.o}}/report.txt
",
    );
    let job = ctx.json(&["job", "create", "-f", "pipeline.yml", "--name", "nested1"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    let steps: Vec<&str> = job["jobs"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for step in [
        "top.first.say",
        "top.copy",
        "defaults.first.say",
        "defaults.copy",
        "report",
    ] {
        assert!(steps.contains(&step), "{step} not in {steps:?}");
    }
    assert_eq!(output_text(&job, "report", "o", "report.txt"), "hello deep");
    assert_eq!(
        output_text(&job, "defaults.copy", "dst", "copied.txt"),
        "hello nested"
    );
    // The job output bound two levels down holds the file.
    let kept = job["outputs"]["kept"]["path"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(kept).join("copied.txt")).unwrap(),
        "hello deep"
    );
    // Unchanged, every inner step is reused; a new input reruns only the branch it reaches.
    let again = ctx.json(&["job", "create", "-f", "pipeline.yml", "--name", "nested2"]);
    for step in steps {
        assert!(
            again["jobs"][step]["reused_from"]
                .as_str()
                .is_some_and(|r| r.starts_with("nested1/")),
            "{step} was not reused: {:#}",
            again["jobs"][step]
        );
    }
    let third = ctx.json(&[
        "job",
        "create",
        "-f",
        "pipeline.yml",
        "--name",
        "nested3",
        "--set",
        "inputs.who=other",
    ]);
    assert!(third["jobs"]["defaults.first.say"]["reused_from"].is_string());
    assert!(third["jobs"]["top.first.say"]["reused_from"].is_null());
    assert_eq!(
        output_text(&third, "report", "o", "report.txt"),
        "hello other"
    );

    // A registered pipeline component works as a step too, and as a whole job's body.
    let row = ctx.json(&["component", "create", "-f", "pc/outer.yml"]);
    assert_eq!(row["type"], "pipeline");
    assert_eq!(
        row["spec"]["jobs"],
        serde_json::json!(["first.say", "copy"])
    );
    ctx.write(
        "registered.yml",
        "\
type: pipeline
inputs:
  who: registered
outputs:
  final: {type: uri_folder}
component: azureml:outer_pc@latest
",
    );
    let job = ctx.json(&["job", "create", "-f", "registered.yml"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    assert_eq!(
        output_text(&job, "copy", "dst", "copied.txt"),
        "hello registered"
    );
}

#[test]
fn pipeline_component_mistakes_are_located_errors() {
    let ctx = TestContext::new();
    hello_component(&ctx);
    ctx.write(
        "pc.yml",
        "\
type: pipeline
inputs:
  who: {type: string}
outputs:
  result: {type: uri_folder}
jobs:
  say:
    component: ./components/hello.yml
    inputs:
      who: ${{parent.inputs.whom}}
",
    );
    ctx.write(
        "job.yml",
        "type: pipeline\njobs:\n  a:\n    type: pipeline\n    component: ./pc.yml\n",
    );
    let out = ctx.run(&["job", "validate", "-f", "job.yml"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pc.yml:10:12")
            && stderr
                .contains("refers to input `whom`, which the pipeline component does not declare")
            && stderr.contains("did you mean `who`?"),
        "{stderr}"
    );
    ctx.write(
        "pc.yml",
        "\
type: pipeline
outputs:
  result: {type: uri_folder}
jobs:
  say:
    component: ./components/hello.yml
",
    );
    let out = ctx.run(&["job", "validate", "-f", "job.yml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pc.yml:3:3")
            && stderr.contains(
                "output `result` of the pipeline component is not bound by any of its jobs"
            ),
        "{stderr}"
    );
    assert!(
        !ctx.workspace().exists(),
        "a failed validation wrote a workspace"
    );
}

#[test]
fn job_validate_plans_without_running_or_writing() {
    let ctx = TestContext::new();
    hello_component(&ctx);
    ctx.write(
        "env/conda.yml",
        "name: e\ndependencies:\n  - python=3\n  - pip:\n    - mlflow==2.9.2\n",
    );
    ctx.write(
        "env/env.yml",
        "name: file-env\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\nconda_file: ./conda.yml\n",
    );
    ctx.write(
        "job.yml",
        "\
type: pipeline
jobs:
  a:
    component: ./components/hello.yml
    environment: file:./env/env.yml
  b:
    command: echo ${{inputs.x}}
    environment:
      image: python:3.11
      conda_file: ./env/conda.yml
    inputs:
      x: ${{parent.jobs.a.outputs.out}}
",
    );
    let plan = ctx.json(&["job", "validate", "-f", "job.yml"]);
    assert_eq!(plan["valid"], true);
    assert_eq!(plan["jobs"]["b"]["depends_on"], serde_json::json!(["a"]));
    for step in ["a", "b"] {
        let reqs = &plan["jobs"][step]["python_env"]["requirements"];
        // A conda file's environment has what conda puts in every environment, with a
        // setuptools that still ships `pkg_resources` (mlflow 2.x imports it).
        assert_eq!(
            reqs,
            &serde_json::json!(["mlflow==2.9.2", "pip", "setuptools<82", "wheel"]),
            "{step}: {plan:#}"
        );
        assert_eq!(plan["jobs"][step]["python_env"]["built"], false);
    }
    assert!(!ctx.workspace().exists(), "validate created a workspace");
    // An error is located and exits as `job create` would.
    ctx.write(
        "bad.yml",
        "type: pipeline\njobs:\n  a:\n    command: echo ${{inputs.nope}}\n",
    );
    let out = ctx.run(&["job", "validate", "-f", "bad.yml"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yml:4:"));
    // `--set` applies before validation.
    ctx.write(
        "set.yml",
        "type: command\ncommand: echo ${{inputs.n}}\ninputs:\n  n:\n    type: integer\n",
    );
    let out = ctx.run(&["job", "validate", "-f", "set.yml"]);
    assert_eq!(out.status.code(), Some(3));
    let plan = ctx.json(&["job", "validate", "-f", "set.yml", "--set", "inputs.n=3"]);
    assert_eq!(plan["valid"], true);
    assert!(!ctx.workspace().exists());
}

#[test]
fn curated_environments_resolve_from_the_catalog_and_a_registered_one_shadows_them() {
    let ctx = TestContext::new();
    let catalog = ctx.json(&["environment", "list", "--curated"]);
    let entries = catalog.as_array().unwrap();
    let names: Vec<&str> = entries.iter().filter_map(|e| e["name"].as_str()).collect();
    for family in ["sklearn", "lightgbm", "pytorch", "tensorflow", "minimal"] {
        assert!(
            names.iter().any(|n| n.contains(family)),
            "no {family} in {names:?}"
        );
    }
    let sklearn = entries
        .iter()
        .find(|e| e["name"] == "sklearn-1.5")
        .expect("sklearn-1.5 is curated");
    assert!(sklearn["workspace_names"].as_array().is_some());
    for (file, reference) in [
        (
            "registry.yml",
            "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
        ),
        (
            "registry-version.yml",
            "azureml://registries/azureml/environments/sklearn-1.5/versions/3",
        ),
        ("workspace-name.yml", "azureml:sklearn-1.5@latest"),
    ] {
        ctx.write(
            file,
            &format!(
                "type: command\ncommand: python -c 'import sklearn'\nenvironment: {reference}\n"
            ),
        );
        let out = ctx.run(&["job", "validate", "-f", file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(14) {
            // The catalog asks for a Python this machine does not have: the error says which.
            assert!(
                stderr.contains(&format!("Python {}", sklearn["python"].as_str().unwrap())),
                "{stderr}"
            );
            continue;
        }
        assert!(out.status.success(), "{file}: {stderr}");
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        let step = &plan["jobs"]["main"];
        assert!(
            step["environment"]
                .as_str()
                .unwrap()
                .starts_with("curated:sklearn-1.5"),
            "{step}"
        );
        let reqs = step["python_env"]["requirements"].as_array().unwrap();
        assert!(
            reqs.iter()
                .filter_map(Value::as_str)
                .any(|r| r.starts_with("scikit-learn~=1.5") || r.starts_with("scikit-learn==1.5")),
            "{reqs:?}"
        );
    }
    // An unknown curated name gets its nearest neighbours and how to shadow it.
    ctx.write(
        "unknown.yml",
        "type: command\ncommand: echo\nenvironment: azureml:AzureML-sklearn-9.9-ubuntu20.04-py38-cpu@latest\n",
    );
    let out = ctx.run(&["job", "validate", "-f", "unknown.yml"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown.yml:3:14")
            && stderr.contains("is not an Azure ML curated environment Sluice knows")
            && stderr.contains("sklearn")
            && stderr.contains(
                "sluice environment create --name AzureML-sklearn-9.9-ubuntu20.04-py38-cpu"
            ),
        "{stderr}"
    );
    // A registered environment of the same name wins over the catalog.
    ctx.write("mine/conda.yml", "dependencies:\n  - pip:\n    - six\n");
    ctx.ok(&[
        "environment",
        "create",
        "--name",
        "AzureML-sklearn-9.9-ubuntu20.04-py38-cpu",
        "--file",
        "mine/conda.yml",
    ]);
    let plan = ctx.json(&["job", "validate", "-f", "unknown.yml"]);
    assert_eq!(
        plan["jobs"]["main"]["environment"],
        "AzureML-sklearn-9.9-ubuntu20.04-py38-cpu:1"
    );
}

#[test]
fn models_are_created_from_azure_model_yaml_and_feed_jobs() {
    let ctx = TestContext::new();
    ctx.write("model/weights.txt", "w=1\n");
    ctx.write(
        "model.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
name: local-model
version: 1
path: ./model/weights.txt
type: custom_model
description: A model from a local file.
tags:
  team: fares
",
    );
    let v = ctx.json(&["model", "create", "-f", "model.yml"]);
    assert_eq!(
        (v["name"].as_str(), v["version"].as_str()),
        (Some("local-model"), Some("1"))
    );
    // The same files again are the same version; the next number comes in order.
    let out = ctx.run(&["model", "create", "-f", "model.yml"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already registered with these files"));
    let out = ctx.run(&["model", "create", "-f", "model.yml", "--set", "version=5"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("can register version 2 next"));
    ctx.write("model2/weights.txt", "w=2\n");
    let v2 = ctx.json(&[
        "model",
        "create",
        "--name",
        "local-model",
        "--path",
        "model2",
        "--type",
        "custom_model",
    ]);
    assert_eq!(v2["version"], "2");
    // Registration is audited like any other.
    let audit = ctx.json(&["audit", "list", "--model", "local-model"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "version.create").count(),
        2,
        "{actions:?}"
    );
    // `mlflow_model` needs an MLmodel file.
    let out = ctx.run(&[
        "model",
        "create",
        "--name",
        "m",
        "--path",
        "model",
        "--type",
        "mlflow_model",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `MLmodel` file"));

    // Model inputs resolve to the version's files.
    ctx.write(
        "job.yml",
        "\
type: command
command: cat ${{inputs.m}}/weights.txt ${{inputs.latest}}/weights.txt
inputs:
  m:
    type: custom_model
    path: azureml:local-model:1
  latest:
    type: custom_model
    path: azureml:local-model@latest
",
    );
    let job = ctx.json(&["job", "create", "-f", "job.yml"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    let log = std::fs::read_to_string(job["jobs"]["main"]["log_path"].as_str().unwrap()).unwrap();
    assert!(log.contains("w=1\nw=2"), "{log}");
}

/// `code: ./` at a repository root that also holds the workspace: the snapshot leaves the
/// workspace out (no copy of a copy) and honours `.amlignore`.
#[test]
fn a_code_snapshot_of_the_repository_root_leaves_out_the_workspace_and_ignored_files() {
    let ctx = TestContext::new();
    ctx.write("src/pkg/__init__.py", "");
    ctx.write(
        "src/pkg/main.py",
        "import os\nfor d, _, fs in sorted(os.walk('.')):\n    for f in sorted(fs):\n        print(os.path.join(d, f))\n",
    );
    ctx.write("data/big.csv", "1,2\n");
    ctx.write(".amlignore", "data/\n*.log\n");
    ctx.write("debug.log", "x\n");
    ctx.write(
        "mlops/job.yml",
        "type: command\ncode: ./../\ncommand: python3 -m src.pkg.main\n",
    );
    for run in 0..2 {
        let job = ctx.json(&["job", "create", "-f", "mlops/job.yml", "--force-rerun"]);
        assert_eq!(job["status"], "Completed", "run {run}: {job:#}");
        let log =
            std::fs::read_to_string(job["jobs"]["main"]["log_path"].as_str().unwrap()).unwrap();
        assert!(log.contains("./src/pkg/main.py"), "{log}");
        assert!(
            log.contains("./mlops/job.yml") && log.contains("./.amlignore"),
            "{log}"
        );
        for excluded in [".sluice", "data/big.csv", "debug.log"] {
            assert!(
                !log.contains(excluded),
                "run {run}: `{excluded}` is in the snapshot:\n{log}"
            );
        }
    }
}

#[test]
fn job_types_sluice_does_not_run_fail_in_one_line_naming_the_type() {
    let ctx = TestContext::new();
    for (ty, at) in [
        ("automl", "1:7"),
        ("spark", "1:7"),
        ("parallel", "1:7"),
        ("import", "1:7"),
    ] {
        ctx.write("job.yml", &format!("type: {ty}\n"));
        let out = ctx.run(&["job", "validate", "-f", "job.yml"]);
        assert_eq!(out.status.code(), Some(3), "{ty}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!("error: job.yml:{at}: job type `{ty}` is not supported"),
            "{stderr}"
        );
    }
}

#[test]
fn values_are_coerced_as_azure_does() {
    let ctx = TestContext::new();
    ctx.write(
        "component.yml",
        "\
name: coerce
type: command
inputs:
  flag: {type: string, default: True}
  count: {type: integer, default: '3'}
  ratio: {type: number, default: 1}
  on: {type: boolean, default: 'true'}
  mode: {type: string, enum: [fast, slow], default: fast}
  resize: {type: string, default: True, enum: ['True', 'False']}
command: echo ${{inputs.flag}} ${{inputs.count}} ${{inputs.ratio}} ${{inputs.on}} ${{inputs.mode}} ${{inputs.resize}}
",
    );
    ctx.write(
        "job.yml",
        "\
type: pipeline
jobs:
  a:
    component: ./component.yml
  b:
    component: ./component.yml
    inputs:
      flag: 7
      count: 4
      mode: slow
",
    );
    let job = ctx.json(&["job", "create", "-f", "job.yml"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    let log =
        |s: &str| std::fs::read_to_string(job["jobs"][s]["log_path"].as_str().unwrap()).unwrap();
    assert!(log("a").contains("True 3 1 true fast True"), "{}", log("a"));
    assert!(log("b").contains("7 4 1 true slow True"), "{}", log("b"));
    // The enum is checked after coercion.
    ctx.write(
        "bad.yml",
        "type: pipeline\njobs:\n  a:\n    component: ./component.yml\n    inputs:\n      mode: medium\n",
    );
    let out = ctx.run(&["job", "validate", "-f", "bad.yml"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yml:6:13") && stderr.contains("must be one of `fast`, `slow`"),
        "{stderr}"
    );
}

/// `./outputs` exists for every command and is kept as the run's artifacts (and in a step's
/// `artifacts` output); `${{name}}` and `${{output_name}}` in an output path are the job's and
/// the output's names.
#[test]
fn the_outputs_folder_and_runtime_expressions_in_output_paths_work_as_in_azure() {
    let ctx = TestContext::new();
    ctx.write(
        "job.yml",
        "\
type: pipeline
outputs:
  named:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/${{name}}/${{output_name}}
jobs:
  hello_job:
    command: echo world > ./outputs/world.txt && echo named > ${{outputs.out}}/n.txt
    outputs:
      artifacts:
      out: ${{parent.outputs.named}}
  world_job:
    command: cat ${{inputs.world_input}}/outputs/world.txt
    inputs:
      world_input: ${{parent.jobs.hello_job.outputs.artifacts}}
",
    );
    let job = ctx.json(&["job", "create", "-f", "job.yml", "--name", "expr1"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    let log =
        std::fs::read_to_string(job["jobs"]["world_job"]["log_path"].as_str().unwrap()).unwrap();
    assert!(log.contains("world"), "{log}");
    let named = ctx
        .workspace()
        .join("datastores/workspaceblobstore/expr1/named/n.txt");
    assert_eq!(std::fs::read_to_string(&named).unwrap(), "named\n");
    // The step's run has `outputs/world.txt` among its artifacts.
    let run_id = job["jobs"]["hello_job"]["mlflow"]["run_id"]
        .as_str()
        .expect("run id");
    let found = walk(&ctx.workspace().join("mlartifacts"))
        .into_iter()
        .any(|p| p.ends_with(format!("{run_id}/artifacts/outputs/world.txt")));
    assert!(
        found,
        "no outputs/world.txt among the artifacts of run {run_id}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The trial of the sweep tests: its loss is `(c - 0.7)^2`, plus 1 unless the kernel is `rbf`;
/// it writes its hyperparameters into its output and logs the loss to its MLflow run through
/// the REST API, as `mlflow.log_metric` would.
fn sweep_trial(ctx: &TestContext) {
    ctx.write(
        "src/train.py",
        r#"import json, os, sys, time, urllib.request
c, kernel, out = float(sys.argv[1]), sys.argv[2], sys.argv[3]
loss = (c - 0.7) ** 2 + (0.0 if kernel == "rbf" else 1.0)
os.makedirs(out, exist_ok=True)
sweep_kernel = os.environ.get("AZUREML_SWEEP_kernel", "-")
open(os.path.join(out, "model.txt"), "w").write(f"{c} {kernel} {loss} {sweep_kernel}\n")
body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "loss", "value": loss,
                   "timestamp": int(time.time() * 1000), "step": 0}).encode()
req = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-metric",
                             data=body, headers={"Content-Type": "application/json"})
if os.environ.get("MLFLOW_TRACKING_TOKEN"):
    req.add_header("Authorization", "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"])
urllib.request.urlopen(req, timeout=30).read()
print("trial", c, kernel, "loss", loss)
if c == 1.0 and kernel == "rbf":
    # A trial that fails after logging its metric, as a diverging one might: not a candidate.
    body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "loss", "value": -100.0,
                       "timestamp": int(time.time() * 1000) + 1, "step": 1}).encode()
    again = urllib.request.Request(req.full_url, data=body, headers={"Content-Type": "application/json"})
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        again.add_header("Authorization", "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"])
    urllib.request.urlopen(again, timeout=30).read()
    sys.exit(3)
"#,
    );
    ctx.write(
        "train.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: train
inputs:
  data: {type: uri_file}
  c_value: {type: number}
  kernel: {type: string}
outputs:
  model_output: {type: uri_folder}
code: ./src
command: python3 train.py ${{inputs.c_value}} ${{inputs.kernel}} ${{outputs.model_output}}
",
    );
    ctx.write("data.csv", "x\n1\n");
}

/// Azure's pipeline sweep: the trial component run once per drawn point, at most
/// `max_concurrent_trials` at once, the best trial by the objective picked from the trials'
/// MLflow runs, its outputs read downstream through the sweep step's; a second run draws the
/// same points and reuses every trial.
#[test]
fn a_pipeline_sweep_runs_its_trials_and_hands_on_the_best() {
    let ctx = TestContext::new();
    sweep_trial(&ctx);
    ctx.write(
        "pipeline.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
inputs:
  raw: {type: uri_file, path: ./data.csv}
jobs:
  sweep_step:
    type: sweep
    trial: ./train.yml
    inputs:
      data: ${{parent.inputs.raw}}
    outputs:
      model_output:
    sampling_algorithm: {type: random, seed: 3}
    search_space:
      c_value: {type: uniform, min_value: 0.1, max_value: 1.0}
      kernel: {type: choice, values: [rbf, linear]}
    objective: {goal: minimize, primary_metric: loss}
    limits: {max_total_trials: 6, max_concurrent_trials: 2}
    # Applied from a trial's fifth value: these trials log one, so every one runs to its end.
    early_termination: {type: bandit, slack_factor: 0.1, delay_evaluation: 5}
  report:
    type: command
    inputs:
      model: ${{parent.jobs.sweep_step.outputs.model_output}}
    command: cat ${{inputs.model}}/model.txt
",
    );
    // More than the trials' own limit may run at once, so the limit is what holds them to two.
    let out = ctx.run(&[
        "job",
        "create",
        "-f",
        "pipeline.yml",
        "--name",
        "sw1",
        "--stream",
        "--max-parallel",
        "4",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("early_termination"), "{stderr}");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["status"], "Completed", "{job:#}");
    // Each trial's hyperparameters and loss, from what it wrote.
    let mut losses = Vec::new();
    for k in 1..=6 {
        let step = format!("sweep_step.trial_{k}");
        let text = output_text(&job, &step, "model_output", "model.txt");
        let parts: Vec<&str> = text.split_whitespace().collect();
        let (c, kernel, loss): (f64, &str, f64) = (
            parts[0].parse().unwrap(),
            parts[1],
            parts[2].parse().unwrap(),
        );
        assert!((0.1..1.0).contains(&c), "{text}");
        assert!(kernel == "rbf" || kernel == "linear", "{text}");
        assert_eq!(
            parts[3], kernel,
            "AZUREML_SWEEP_kernel names the trial's point"
        );
        losses.push((loss, text.clone()));
    }
    let distinct: std::collections::BTreeSet<&String> = losses.iter().map(|(_, t)| t).collect();
    assert_eq!(distinct.len(), 6, "six different points: {losses:?}");
    let best = losses
        .iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap()
        .1
        .clone();
    assert_eq!(
        output_text(&job, "sweep_step", "model_output", "model.txt"),
        best
    );
    let log = ctx.ok(&["job", "stream", "-n", "sw1"]);
    let report = String::from_utf8_lossy(&ctx.run(&["job", "stream", "-n", "sw1"]).stderr)
        .into_owned()
        + &log;
    assert!(report.contains(best.trim()), "{report}");
    // Never more than two trials at once.
    let mut spans: Vec<(String, String)> = (1..=6)
        .map(|k| {
            let s = &job["jobs"][format!("sweep_step.trial_{k}")];
            (
                s["start_time"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{s:#}"))
                    .to_owned(),
                s["end_time"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    spans.sort();
    for (i, (start, _)) in spans.iter().enumerate() {
        let running = spans[..i].iter().filter(|(_, end)| end > start).count();
        assert!(running < 2, "three trials at once: {spans:?}");
    }
    // Again: the same points, every trial and the pick reused.
    let again = ctx.json(&["job", "create", "-f", "pipeline.yml", "--name", "sw2"]);
    assert_eq!(again["status"], "Completed");
    for k in 1..=6 {
        let s = &again["jobs"][format!("sweep_step.trial_{k}")];
        assert!(s["reused_from"].is_string(), "{s:#}");
    }
    assert_eq!(
        output_text(&again, "sweep_step", "model_output", "model.txt"),
        best
    );
}

/// Azure's bayesian sampling: after a few seeded random trials, each trial's point is chosen
/// when it starts from the results of the trials that ended, so the later trials close in on
/// the optimum (random points rarely do); the point each ran is the one its command, its
/// `AZUREML_SWEEP_*` variable and the picking step's report name; a second run chooses the same
/// points from the same results and reuses every trial.
#[test]
fn a_bayesian_sweep_chooses_each_point_from_the_trials_that_ended() {
    let ctx = TestContext::new();
    sweep_trial(&ctx);
    ctx.write(
        "pipeline.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
inputs:
  raw: {type: uri_file, path: ./data.csv}
jobs:
  sweep_step:
    type: sweep
    trial: ./train.yml
    inputs:
      data: ${{parent.inputs.raw}}
    outputs:
      model_output:
    sampling_algorithm: bayesian
    search_space:
      c_value: {type: uniform, min_value: 0.1, max_value: 1.0}
      kernel: {type: choice, values: [rbf, linear]}
    objective: {goal: minimize, primary_metric: loss}
    limits: {max_total_trials: 12, max_concurrent_trials: 1}
",
    );
    let out = ctx.run(&[
        "job",
        "create",
        "-f",
        "pipeline.yml",
        "--name",
        "by1",
        "--stream",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("every trial starts at once"), "{stderr}");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["status"], "Completed", "{job:#}");
    let log = String::from_utf8_lossy(&ctx.run(&["job", "stream", "-n", "by1"]).stderr)
        .into_owned()
        + &ctx.ok(&["job", "stream", "-n", "by1"]);
    let mut trials = Vec::new();
    for k in 1..=12 {
        let step = format!("sweep_step.trial_{k}");
        if job["jobs"][&step]["status"] != "Completed" {
            continue;
        }
        let text = output_text(&job, &step, "model_output", "model.txt");
        let parts: Vec<&str> = text.split_whitespace().collect();
        let (c, kernel, loss): (f64, &str, f64) = (
            parts[0].parse().unwrap(),
            parts[1],
            parts[2].parse().unwrap(),
        );
        assert!((0.1..=1.0).contains(&c), "{text}");
        assert!(kernel == "rbf" || kernel == "linear", "{text}");
        assert_eq!(
            parts[3], kernel,
            "AZUREML_SWEEP_kernel names the trial's point"
        );
        // The picking step reports the point the trial ran.
        let line = log
            .lines()
            .find(|l| l.contains(&format!("sweep: {step} ")))
            .unwrap_or_else(|| panic!("no report of {step}: {log}"));
        assert!(
            line.contains(&format!("\"c_value\":{}", parts[0]))
                && line.contains(&format!("\"kernel\":\"{kernel}\"")),
            "{line} / {text}"
        );
        trials.push((k, loss, text));
    }
    // The trial script fails at c = 1.0 with rbf: at most that one point fails (a failed
    // trial's point counts as the mean result, so it is not chosen again).
    assert!(trials.len() >= 11, "{trials:?}");
    // The first four trials run their seeded random points; of the eight the model chose, half
    // or more are near the optimum (c = 0.7 with rbf: loss below 0.02), where a random point
    // lands one time in six (four of eight random points do so 3 times in 100), and the best is
    // very near it.
    let near = trials
        .iter()
        .filter(|(k, loss, _)| *k > 4 && *loss < 0.02)
        .count();
    assert!(
        near >= 4,
        "{near} of the model's trials near the optimum: {trials:#?}"
    );
    let best = trials.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert!(best.1 < 0.001, "{trials:#?}");
    assert_eq!(
        output_text(&job, "sweep_step", "model_output", "model.txt"),
        best.2
    );
    // The same sweep drawn at random (the same seed, from the step's name): the first four
    // points are the same, the model's are its own.
    let text = std::fs::read_to_string(ctx.root().join("pipeline.yml")).unwrap();
    ctx.write(
        "random.yml",
        &text.replace("sampling_algorithm: bayesian", "sampling_algorithm: random"),
    );
    let random = ctx.json(&["job", "create", "-f", "random.yml", "--name", "rnd"]);
    let point = |job: &Value, k: usize| {
        let step = format!("sweep_step.trial_{k}");
        (job["jobs"][&step]["status"] == "Completed").then(|| {
            let text = output_text(job, &step, "model_output", "model.txt");
            text.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    for k in 1..=4 {
        assert_eq!(point(&job, k), point(&random, k), "trial {k}");
    }
    let own = (5..=12)
        .filter(|&k| point(&job, k).is_some() && point(&job, k) != point(&random, k))
        .count();
    assert!(
        own >= 7,
        "{own} of the model's points differ from the random ones"
    );
    // Again: the same results choose the same points, and every trial is reused.
    let again = ctx.json(&["job", "create", "-f", "pipeline.yml", "--name", "by2"]);
    assert_eq!(again["status"], "Completed");
    for (k, _, text) in &trials {
        let step = format!("sweep_step.trial_{k}");
        let s = &again["jobs"][&step];
        assert!(s["reused_from"].is_string(), "{step}: {s:#}");
        assert_eq!(
            &output_text(&again, &step, "model_output", "model.txt"),
            text
        );
    }
    // Three at once: trial k starts once trial k - 3 ended and learns from it and those
    // before it, whichever ended first, so a re-run chooses the same points and reuses them.
    ctx.write(
        "three.yml",
        &text.replace(
            "max_total_trials: 12, max_concurrent_trials: 1",
            "max_total_trials: 9, max_concurrent_trials: 3",
        ),
    );
    let first = ctx.json(&["job", "create", "-f", "three.yml", "--name", "th1"]);
    assert_eq!(first["status"], "Completed", "{first:#}");
    let second = ctx.json(&["job", "create", "-f", "three.yml", "--name", "th2"]);
    for k in 1..=9 {
        let step = format!("sweep_step.trial_{k}");
        if first["jobs"][&step]["status"] == "Completed" {
            assert!(
                second["jobs"][&step]["reused_from"].is_string(),
                "{step}: {second:#}"
            );
        }
        // (The first trials, random points the first sweep ran too, are reused from it.)
        if k > 3 && first["jobs"][&step]["reused_from"].is_null() {
            let (start, before) = (
                first["jobs"][&step]["start_time"]
                    .as_str()
                    .unwrap_or_default(),
                first["jobs"][format!("sweep_step.trial_{}", k - 3)]["end_time"]
                    .as_str()
                    .unwrap_or_default(),
            );
            assert!(
                start >= before,
                "{step} started at {start}, before trial {} ended at {before}",
                k - 3
            );
        }
    }
    // What Azure refuses with bayesian sampling is run with a located warning: a distribution
    // other than choice, uniform and quniform (searched on its log scale), an early termination
    // policy; and trials that would all start at once learn nothing from each other.
    ctx.write(
        "loose.yml",
        "\
type: sweep
trial:
  command: python3 train.py ${{search_space.lr}} ${{search_space.kernel}} x
sampling_algorithm: bayesian
search_space:
  lr: {type: loguniform, min_value: -7, max_value: -1}
  kernel: {type: choice, values: [linear, rbf]}
objective: {goal: minimize, primary_metric: loss}
early_termination: {type: bandit, slack_factor: 0.1}
limits: {max_total_trials: 8}
",
    );
    let out = ctx.run(&["job", "validate", "-f", "loose.yml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for (at, says) in [
        (
            "loose.yml:6:7",
            "takes only `choice`, `uniform` and `quniform`",
        ),
        (
            "loose.yml:9:20",
            "no early termination policy with bayesian sampling",
        ),
        ("loose.yml:10:9", "every trial starts at once"),
    ] {
        assert!(
            stderr.lines().any(|l| l.contains(at) && l.contains(says)),
            "{at} {says}: {stderr}"
        );
    }
}

/// The standalone form (`type: sweep` as the job, an inline `trial:` reading
/// `${{search_space.X}}`), grid sampling over every combination, and mistakes located in the
/// file.
#[test]
fn a_sweep_job_file_runs_a_grid_and_its_mistakes_are_located() {
    let ctx = TestContext::new();
    sweep_trial(&ctx);
    ctx.write(
        "sweep.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
type: sweep
trial:
  code: ./src
  command: >-
    python3 train.py ${{search_space.c_value}} ${{search_space.kernel}} ${{outputs.model_output}}
inputs:
  data: {type: uri_file, path: ./data.csv}
outputs:
  model_output:
compute: azureml:cpu-cluster
sampling_algorithm: grid
search_space:
  c_value: {type: choice, values: [1, 0.6, 0.2]}
  kernel: {type: choice, values: [linear, rbf]}
objective: {goal: minimize, primary_metric: loss}
",
    );
    let out = ctx.run(&["job", "create", "-f", "sweep.yml", "--name", "grid1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    // A failed trial (1, rbf: it logged the least loss, then failed) leaves the sweep running
    // and is not chosen, as Azure chooses among the trials that completed.
    assert_eq!(job["status"], "Completed", "{job:#}");
    let failed: Vec<&String> = job["jobs"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, s)| s["status"] == "Failed")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(failed, ["sweep.trial_2"], "{job:#}");
    let pick_log = std::fs::read_to_string(
        ctx.workspace()
            .join("jobs/grid1/steps/sweep/logs/std_log.txt"),
    )
    .unwrap();
    assert!(
        pick_log
            .contains("sweep.trial_2 {\"c_value\":1,\"kernel\":\"rbf\"} -> loss = (trial failed)"),
        "{pick_log}"
    );
    let trials: Vec<String> = [1, 3, 4, 5, 6]
        .iter()
        .map(|k| {
            output_text(
                &job,
                &format!("sweep.trial_{k}"),
                "model_output",
                "model.txt",
            )
        })
        .collect();
    assert!(trials.iter().all(|t| !t.is_empty()));
    assert_eq!(
        job["jobs"].as_object().unwrap().len(),
        7,
        "six points and the pick"
    );
    assert!(
        output_text(&job, "sweep", "model_output", "model.txt").starts_with("0.6 rbf"),
        "(0.6 - 0.7)^2 with rbf is the least loss"
    );
    // The job's output is the best trial's.
    let best_dir = job["outputs"]["model_output"]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{job:#}"));
    let text = std::fs::read_to_string(std::path::Path::new(best_dir).join("model.txt")).unwrap();
    assert!(text.starts_with("0.6 rbf"), "{text}");

    // Mistakes, at their line and column.
    for (bad, good, at, says) in [
        (
            "{type: choice, values: [linear, rbf]}",
            "{type: gaussian, mu: 0}",
            "15:18",
            "`gaussian` is not a search space type",
        ),
        (
            "sampling_algorithm: grid",
            "sampling_algorithm: random\nlimits: {max_total_trials: 1000}",
            "1:1",
            "too many for the step that picks the best",
        ),
        (
            "sampling_algorithm: grid",
            "sampling_algorithm: grid\nlimits: {max_total_trials: 0}",
            "13:",
            "must be a whole number of at least 1",
        ),
        (
            "  c_value: {type: choice, values: [1, 0.6, 0.2]}",
            "  c_value: {type: uniform, min_value: 0.1, max_value: 0.9}",
            "14:3",
            "grid sampling takes only `choice`",
        ),
        (
            "objective: {goal: minimize, primary_metric: loss}",
            "objective: {goal: minimize, primary_metric: loss}\nearly_termination: {type: bandits, slack_factor: 0.1}",
            "17:27",
            "`bandits` is not an early termination policy",
        ),
        (
            "objective: {goal: minimize, primary_metric: loss}",
            "objective: {goal: minimize, primary_metric: loss}\nearly_termination: {type: truncation_selection, truncation_percentage: 100}",
            "17:",
            "a whole number from 1 to 99",
        ),
        (
            "${{search_space.kernel}}",
            "${{search_space.kernal}}",
            "6:",
            "the search space has no `kernal`",
        ),
    ] {
        let text = std::fs::read_to_string(ctx.root().join("sweep.yml"))
            .unwrap()
            .replace(bad, good);
        refused_at(&ctx, &text, at, says);
    }
}

/// `text`, validated as a job file, is refused (exit 3) with `says` at `at` (line:column).
fn refused_at(ctx: &TestContext, text: &str, at: &str, says: &str) {
    ctx.write("bad.yml", text);
    let out = ctx.run(&["job", "validate", "-f", "bad.yml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("bad.yml:{at}")) && stderr.contains(says),
        "{says}: {stderr}"
    );
}

/// Azure's `early_termination`: a bandit policy stops, while it runs, the trial whose loss is
/// beyond the slack of the best trial's at the same interval; it ends `Canceled` saying why,
/// its run is killed, the job completes and the pick hands on the trial that ran to its end.
#[test]
fn a_bandit_policy_stops_the_trial_far_behind_while_it_runs() {
    let ctx = TestContext::new();
    ctx.write(
        "src/epochs.py",
        r#"import json, os, sys, time, urllib.request
rate, out = float(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
def log(value, step):
    body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "loss", "value": value,
                       "timestamp": int(time.time() * 1000), "step": step}).encode()
    req = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-metric",
                                 data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()
# rate 1 learns at once and ends; rate 5 stays far behind and would take 20 s.
epochs, pause = (10, 0.02) if rate == 1 else (40, 0.5)
for epoch in range(1, epochs + 1):
    log(rate + 1.0 / epoch if rate != 1 else 1.0 / epoch, epoch)
    time.sleep(pause)
open(os.path.join(out, "model.txt"), "w").write(f"rate {rate}\n")
print("done", rate)
"#,
    );
    ctx.write(
        "sweep.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
type: sweep
trial:
  code: ./src
  command: python3 epochs.py ${{search_space.rate}} ${{outputs.model}}
outputs:
  model:
sampling_algorithm: grid
search_space:
  rate: {type: choice, values: [1, 5]}
objective: {goal: minimize, primary_metric: loss}
limits: {max_concurrent_trials: 2}
early_termination: {type: bandit, slack_factor: 0.1, evaluation_interval: 1, delay_evaluation: 2}
",
    );
    let started = std::time::Instant::now();
    let out = ctx.run(&["job", "create", "-f", "sweep.yml", "--name", "bandit1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["status"], "Completed", "{job:#}");
    assert_eq!(
        job["jobs"]["sweep.trial_1"]["status"], "Completed",
        "{job:#}"
    );
    let behind = &job["jobs"]["sweep.trial_2"];
    assert_eq!(behind["status"], "Canceled", "{job:#}");
    let why = behind["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("bandit policy (slack_factor 0.1)") && why.contains("`loss`"),
        "{behind:#}"
    );
    // Stopped while it ran: it never wrote its model, and the job did not wait its 20 s.
    let behind_out = ctx
        .workspace()
        .join("jobs/bandit1/steps/sweep.trial_2/outputs/model/model.txt");
    assert!(!behind_out.exists());
    assert!(started.elapsed() < std::time::Duration::from_secs(18));
    assert_eq!(
        output_text(&job, "sweep", "model", "model.txt"),
        "rate 1.0\n",
        "the trial that ran to its end is handed on"
    );
    // Its MLflow run was killed, so the pick did not choose among its values.
    let pick_log = std::fs::read_to_string(
        ctx.workspace()
            .join("jobs/bandit1/steps/sweep/logs/std_log.txt"),
    )
    .unwrap();
    assert!(
        pick_log.contains("sweep.trial_2 {\"rate\":5} -> loss = (trial killed)"),
        "{pick_log}"
    );
}

/// A sweep's `limits.timeout` bounds the whole sweep from its first trial's start: the trial
/// running when it passes is stopped, those not started never start, and the pick chooses
/// among the trials that ended in time.
#[test]
fn a_sweep_timeout_stops_its_running_trial_and_starts_no_more() {
    let ctx = TestContext::new();
    ctx.write(
        "src/slow.py",
        r#"import json, os, sys, time, urllib.request
rate, out = float(sys.argv[1]), sys.argv[2]
body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "loss", "value": rate,
                   "timestamp": int(time.time() * 1000), "step": 0}).encode()
req = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-metric",
                             data=body, headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=30).read()
# The first trial ends at once; the others would take a minute.
time.sleep(0.2 if rate == 3 else 60)
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "model.txt"), "w").write(f"rate {rate}\n")
"#,
    );
    ctx.write(
        "sweep.yml",
        "\
type: sweep
trial:
  code: ./src
  command: python3 slow.py ${{search_space.rate}} ${{outputs.model}}
outputs:
  model:
sampling_algorithm: grid
search_space:
  rate: {type: choice, values: [3, 1, 2, 0.5]}
objective: {goal: minimize, primary_metric: loss}
limits: {max_concurrent_trials: 1, timeout: 10}
",
    );
    let started = std::time::Instant::now();
    let out = ctx.run(&["job", "create", "-f", "sweep.yml", "--name", "timed1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["status"], "Completed", "{job:#}");
    assert_eq!(
        job["jobs"]["sweep.trial_1"]["status"], "Completed",
        "{job:#}"
    );
    let stopped = &job["jobs"]["sweep.trial_2"];
    assert_eq!(stopped["status"], "Canceled", "{job:#}");
    assert!(
        stopped["error"]
            .as_str()
            .is_some_and(|e| e.contains("stopped: the sweep's `limits.timeout` (10 s) passed")),
        "{stopped:#}"
    );
    for k in [3, 4] {
        let never = &job["jobs"][format!("sweep.trial_{k}")];
        assert_eq!(never["status"], "Canceled", "{job:#}");
        assert!(
            never["error"]
                .as_str()
                .is_some_and(|e| e.ends_with("passed before this trial started")),
            "{never:#}"
        );
    }
    // The stopped trial logged the least loss, but did not end: the pick goes without it.
    assert_eq!(
        output_text(&job, "sweep", "model", "model.txt"),
        "rate 3.0\n"
    );
}

/// Azure's parallel job (`type: parallel`, task `run_function`) over a folder of files: the
/// entry script's `init()` reads the task's `program_arguments`, `run()` gets mini-batches of
/// `mini_batch_size` files in two workers, a mini-batch that fails once is retried, and what
/// `run()` returns is appended to `append_row_to` in the files' order.
#[test]
fn a_parallel_step_runs_its_entry_script_over_mini_batches_of_files() {
    let ctx = TestContext::new();
    ctx.write(
        "src/make.py",
        r#"import os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for i in range(7):
    open(os.path.join(out, f"doc{i}.txt"), "w").write("x" * (i + 1))
"#,
    );
    ctx.write(
        "score/score.py",
        r#"import argparse, os
def init():
    global prefix, marker
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix")
    parser.add_argument("--marker")
    args, _ = parser.parse_known_args()
    prefix, marker = args.prefix, args.marker
    print("init in", os.getpid(), flush=True)

def run(mini_batch):
    names = [os.path.basename(p) for p in mini_batch]
    # The mini-batch holding doc4 fails on its first try only.
    if "doc4.txt" in names and not os.path.exists(marker):
        open(marker, "w").write("failed once")
        raise ValueError("a passing failure")
    return [f"{prefix} {n} {len(open(p).read())}" for n, p in zip(names, mini_batch)]
"#,
    );
    let marker = ctx.root().join("failed-once");
    ctx.write(
        "pipeline.yml",
        &format!(
            "\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
jobs:
  make:
    type: command
    code: ./src
    command: python3 make.py ${{{{outputs.docs}}}}
    outputs:
      docs: {{type: uri_folder}}
  score:
    type: parallel
    inputs:
      docs:
        type: uri_folder
        path: ${{{{parent.jobs.make.outputs.docs}}}}
        mode: ro_mount
    outputs:
      scores: {{type: uri_file}}
    input_data: ${{{{inputs.docs}}}}
    mini_batch_size: \"3\"
    resources:
      instance_count: 1
    max_concurrency_per_instance: 2
    mini_batch_error_threshold: 0
    retry_settings:
      max_retries: 1
      timeout: 30
    logging_level: INFO
    task:
      type: run_function
      code: ./score
      entry_script: score.py
      program_arguments: >-
        --prefix scored
        --marker {}
      append_row_to: ${{{{outputs.scores}}}}
",
            marker.display()
        ),
    );
    let out = ctx.run(&["job", "create", "-f", "pipeline.yml", "--name", "par1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["status"], "Completed", "{job:#}");
    let scores_path = job["jobs"]["score"]["outputs"]["scores"]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{job:#}"));
    let scores = std::fs::read_to_string(scores_path).unwrap();
    let expected: Vec<String> = (0..7)
        .map(|i| format!("scored doc{i}.txt {}", i + 1))
        .collect();
    let expected = expected.join("\n") + "\n";
    assert_eq!(scores, expected);
    let log = std::fs::read_to_string(
        ctx.workspace()
            .join("jobs/par1/steps/score/logs/std_log.txt"),
    )
    .unwrap();
    assert!(
        log.contains("3 mini-batches of 7 files; 2 worker(s)"),
        "{log}"
    );
    assert!(
        log.contains("mini-batch 2 failed (attempt 1 of 2)") && log.contains("a passing failure"),
        "{log}"
    );
    assert!(
        log.contains("3 of 3 mini-batches succeeded; 0 failed"),
        "{log}"
    );
    assert_eq!(
        log.matches("init in").count(),
        2,
        "one init() a worker: {log}"
    );

    // Past its threshold (the failure is no longer passing), the step fails and says why.
    std::fs::remove_file(&marker).unwrap();
    let text = std::fs::read_to_string(ctx.root().join("pipeline.yml"))
        .unwrap()
        .replace("max_retries: 1", "max_retries: 0");
    ctx.write("strict.yml", &text);
    let out = ctx.run(&["job", "create", "-f", "strict.yml", "--name", "par2"]);
    assert!(!out.status.success());
    let log = std::fs::read_to_string(
        ctx.workspace()
            .join("jobs/par2/steps/score/logs/std_log.txt"),
    )
    .unwrap();
    assert!(
        log.contains("stopped: 1 mini-batches failed, more than mini_batch_error_threshold (0)"),
        "{log}"
    );

    // Mistakes, at their line and column.
    for (bad, good, at, says) in [
        (
            "input_data: ${{inputs.docs}}",
            "input_data: ${{inputs.doc}}",
            "19:17",
            "the step has no input `doc`",
        ),
        (
            "mini_batch_size: \"3\"",
            "mini_batch_size: 3 files",
            "20:22",
            "neither a number of files nor a size",
        ),
        (
            "entry_script: score.py",
            "entry_scrip: score.py",
            "32:7",
            "`task.entry_scrip` is not a field",
        ),
    ] {
        refused_at(&ctx, &text.replace(bad, good), at, says);
    }
}

/// A parallel component (a file, `type: parallel`) run by a step that overrides its
/// `mini_batch_size`; its entry script uses Azure's `EntryScript` logger, reads a `|` block of
/// program arguments as one command line, and starts a process pool of its own in `run()`.
#[test]
fn a_parallel_component_step_overrides_its_settings_and_its_script_uses_azure_helpers() {
    let ctx = TestContext::new();
    ctx.write(
        "src/make.py",
        "import os, sys\nos.makedirs(sys.argv[1], exist_ok=True)\nfor i in range(7):\n    open(os.path.join(sys.argv[1], f'doc{i}.txt'), 'w').write('x' * (i + 1))\n",
    );
    ctx.write(
        "score/count.py",
        r#"import multiprocessing, os, sys
from azureml_user.parallel_run import EntryScript

def init():
    global label, logger
    logger = EntryScript().logger
    label = sys.argv[sys.argv.index("--label") + 1]
    logger.info("init with %s and %s", label, sys.argv[sys.argv.index("--unit") + 1])

def size(path):
    return len(open(path).read())

def run(mini_batch):
    with multiprocessing.Pool(2) as pool:
        sizes = pool.map(size, mini_batch)
    logger.info("a mini-batch of %d", len(mini_batch))
    return [f"{label} {os.path.basename(p)} {n}" for p, n in zip(mini_batch, sizes)]
"#,
    );
    ctx.write(
        "count_component.yml",
        "\
$schema: http://azureml/sdk-2-0/ParallelComponent.json
name: count_docs
type: parallel
version: 1.0.0
inputs:
  docs: {type: uri_folder}
outputs:
  counts: {type: uri_file}
input_data: ${{inputs.docs}}
mini_batch_size: \"3\"
task:
  type: run_function
  code: ./score
  entry_script: count.py
  program_arguments: |
    --label counted
    --unit chars
  append_row_to: ${{outputs.counts}}
",
    );
    ctx.write(
        "pipeline.yml",
        "\
type: pipeline
inputs:
  batch: \"2\"
  nodes: 3
jobs:
  make:
    type: command
    code: ./src
    command: python3 make.py ${{outputs.docs}}
    outputs:
      docs: {type: uri_folder}
  count:
    type: parallel
    component: ./count_component.yml
    inputs:
      docs: ${{parent.jobs.make.outputs.docs}}
    # Bound to the pipeline's inputs, as Azure allows.
    mini_batch_size: ${{parent.inputs.batch}}
    resources:
      instance_count: ${{parent.inputs.nodes}}
",
    );
    let out = ctx.run(&["job", "create", "-f", "pipeline.yml", "--name", "pc1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    let counts = std::fs::read_to_string(
        job["jobs"]["count"]["outputs"]["counts"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{job:#}")),
    )
    .unwrap();
    let expected: Vec<String> = (0..7)
        .map(|i| format!("counted doc{i}.txt {}", i + 1))
        .collect();
    assert_eq!(counts, expected.join("\n") + "\n");
    let log = std::fs::read_to_string(
        ctx.workspace()
            .join("jobs/pc1/steps/count/logs/std_log.txt"),
    )
    .unwrap();
    assert!(
        log.contains("4 mini-batches of 7 files; 3 worker(s)"),
        "the step's mini_batch_size and instance_count, bound to the pipeline's inputs, win: {log}"
    );
    assert!(log.contains("INFO init with counted and chars"), "{log}");
    assert_eq!(log.matches("INFO a mini-batch of").count(), 4, "{log}");
}

/// A `uri_file` output given a path is written at that path (Azure's), not in a folder named
/// after it: on the default datastore (`${{default_datastore}}`, `workspaceblobstore` unless the
/// pipeline's settings name another) and in a local folder whose other files stay.
#[test]
fn uri_file_outputs_are_written_at_their_paths() {
    let ctx = TestContext::new();
    ctx.write("results/keep.txt", "kept");
    ctx.write(
        "pipeline.yml",
        "\
type: pipeline
jobs:
  write:
    type: command
    command: echo one > ${{outputs.stored}} && echo two > ${{outputs.local}}
    outputs:
      stored:
        type: uri_file
        path: azureml://datastores/${{default_datastore}}/paths/${{name}}/aggregated.csv
      local:
        type: uri_file
        path: ./results/out.csv
",
    );
    let out = ctx.run(&["job", "create", "-f", "pipeline.yml", "--name", "files1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stored = ctx
        .workspace()
        .join("datastores/workspaceblobstore/files1/aggregated.csv");
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), "one\n");
    assert_eq!(
        std::fs::read_to_string(ctx.root().join("results/out.csv")).unwrap(),
        "two\n"
    );
    assert_eq!(
        std::fs::read_to_string(ctx.root().join("results/keep.txt")).unwrap(),
        "kept",
        "the output's folder keeps its other files"
    );
    // Run again as another job: reused, its stored file copied to the new job's path.
    let out = ctx.run(&["job", "create", "-f", "pipeline.yml", "--name", "files2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = ctx
        .workspace()
        .join("datastores/workspaceblobstore/files2/aggregated.csv");
    assert_eq!(std::fs::read_to_string(again).unwrap(), "one\n");
    assert!(ctx.root().join("results/keep.txt").is_file());
    // A default datastore named in the settings.
    let text = std::fs::read_to_string(ctx.root().join("pipeline.yml"))
        .unwrap()
        .replace(
            "jobs:",
            "settings: {default_datastore: azureml:lake}\njobs:",
        );
    ctx.write("lake.yml", &text);
    let out = ctx.run(&[
        "job",
        "create",
        "-f",
        "lake.yml",
        "--name",
        "files3",
        "--force-rerun",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        ctx.workspace()
            .join("datastores/lake/files3/aggregated.csv")
            .is_file()
    );
}

/// Azure ML's own examples, as published (curated environments aside, which would need the
/// network to build): `hello-pipeline-customize-output-file.yml`, whose inline step only names
/// a pipeline output that is a `uri_file` at a datastore path, and
/// `hello-pipeline-default-artifacts.yml`, which binds a sibling's output in the short form
/// `${{jobs.J.outputs.x}}`.
#[test]
fn azure_examples_with_a_pipeline_file_output_and_short_job_bindings_run() {
    let ctx = TestContext::new();
    ctx.write(
        "customize-output-file.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: hello_pipeline_customize_output_file

outputs:
  output:
    type: uri_file
    path: azureml://datastores/workspaceblobstore/paths/${{name}}/hello_world.txt
    mode: rw_mount
jobs:
  hello_world:
    command: echo \"hello\" && echo \"world\" > ${{outputs.output}}
    environment:
      image: python
    compute: azureml:cpu-cluster
    outputs:
      output: ${{parent.outputs.output}}
",
    );
    ctx.ok(&[
        "job",
        "create",
        "-f",
        "customize-output-file.yml",
        "--name",
        "custom1",
    ]);
    let written = ctx
        .workspace()
        .join("datastores/workspaceblobstore/custom1/hello_world.txt");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "world\n");

    // A `uri_file` pipeline output without a path, named otherwise than the step's output:
    // the job records the file the step wrote.
    ctx.write(
        "unplaced-file.yml",
        "\
type: pipeline
outputs:
  report:
    type: uri_file
jobs:
  write:
    command: echo done > ${{outputs.out}}
    outputs:
      out: ${{parent.outputs.report}}
",
    );
    ctx.ok(&[
        "job",
        "create",
        "-f",
        "unplaced-file.yml",
        "--name",
        "unplaced1",
    ]);
    let job = ctx.json(&["job", "show", "-n", "unplaced1"]);
    let path = job["outputs"]["report"]["path"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        "done\n",
        "{job:#}"
    );

    ctx.write(
        "default-artifacts.yml",
        "\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
jobs:
  hello_job:
    command: echo \"hello\" && echo \"world\" > ${{outputs.artifacts}}/world.txt
    environment:
      image: python
    compute: azureml:cpu-cluster
    outputs:
      artifacts:
  world_job:
    command: cat ${{inputs.world_input}}/world.txt
    environment:
      image: python
    compute: azureml:cpu-cluster
    inputs:
      world_input: ${{jobs.hello_job.outputs.artifacts}}
",
    );
    ctx.ok(&[
        "job",
        "create",
        "-f",
        "default-artifacts.yml",
        "--name",
        "artifacts1",
        "-o",
        "json",
    ]);
    let job = ctx.json(&["job", "show", "-n", "artifacts1"]);
    let log = std::fs::read_to_string(
        ctx.workspace()
            .join("jobs/artifacts1/steps/world_job/logs/std_log.txt"),
    )
    .unwrap();
    assert!(log.lines().any(|l| l.trim() == "world"), "{log}\n{job}");
}

/// A sweep inside a pipeline component: its steps are renamed when the component is embedded
/// (`tune.s.trial_1`), and the picking step still finds its trials' runs.
#[test]
fn a_sweep_inside_a_pipeline_component_finds_its_trials() {
    let ctx = TestContext::new();
    sweep_trial(&ctx);
    ctx.write(
        "tune.yml",
        "\
type: pipeline
name: tune
inputs:
  data: {type: uri_file}
outputs:
  best: {type: uri_folder}
jobs:
  s:
    type: sweep
    trial: ./train.yml
    inputs:
      data: ${{parent.inputs.data}}
    outputs:
      model_output: ${{parent.outputs.best}}
    sampling_algorithm: grid
    search_space:
      c_value: {type: choice, values: [0.3, 0.7]}
      kernel: {type: choice, values: [rbf]}
    objective: {goal: minimize, primary_metric: loss}
",
    );
    ctx.write(
        "pipeline.yml",
        "\
type: pipeline
inputs:
  raw: {type: uri_file, path: ./data.csv}
jobs:
  tune:
    component: ./tune.yml
    inputs:
      data: ${{parent.inputs.raw}}
  report:
    type: command
    inputs:
      model: ${{parent.jobs.tune.outputs.best}}
    command: cat ${{inputs.model}}/model.txt
",
    );
    let job = ctx.json(&["job", "create", "-f", "pipeline.yml", "--name", "nested1"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    assert!(job["jobs"]["tune.s.trial_2"].is_object(), "{job:#}");
    assert!(
        output_text(&job, "tune.s", "model_output", "model.txt").starts_with("0.7 rbf"),
        "{job:#}"
    );
}

/// The taxi example's sweep (`sweep-pipeline.yml`): gradient boosting's learning rate and depth
/// tuned with Sluice's own learner, offline; the model handed on is the trial with the least
/// validation RMSE as each trial's MLflow run recorded it, and the evaluation reads it.
#[test]
fn the_taxi_example_sweep_hands_on_the_trial_with_the_least_validation_rmse() {
    let ctx = TestContext::new();
    ctx.copy_example("taxi-fare");
    let job = ctx.json(&[
        "job",
        "create",
        "-f",
        "taxi-fare/sweep-pipeline.yml",
        "--name",
        "tune1",
    ]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    let trials: Vec<(String, f64)> = (1..=6)
        .map(|k| {
            let name = format!("sweep_train.trial_{k}");
            let rmse = job["jobs"][&name]["mlflow"]["metrics"]["validation_rmse"]
                .as_f64()
                .unwrap_or_else(|| panic!("{:#}", job["jobs"][&name]));
            (name, rmse)
        })
        .collect();
    let best = trials
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
        .0
        .clone();
    let pick = &job["jobs"]["sweep_train"]["mlflow"];
    assert_eq!(pick["params"]["best_trial"], best.as_str(), "{pick:#}");
    let model = |step: &str| {
        let dir = job["jobs"][step]["outputs"]["model_output"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{:#}", job["jobs"][step]))
            .to_owned();
        std::fs::read(std::path::Path::new(&dir).join("model.bin")).unwrap()
    };
    assert_eq!(
        model("sweep_train"),
        model(&best),
        "the best trial's model is handed on"
    );
    assert_eq!(job["jobs"]["evaluate_model"]["status"], "Completed");
}

/// Resuming a job whose sweep picked its best while a trial failed, and a later step failed:
/// the failed trial stays failed (the pick does not run again), the later step runs again.
#[test]
fn a_resumed_job_keeps_a_failed_trial_its_pick_went_without() {
    let ctx = TestContext::new();
    sweep_trial(&ctx);
    let marker = ctx.root().join("ready");
    ctx.write(
        "pipeline.yml",
        &format!(
            "\
type: pipeline
inputs:
  raw: {{type: uri_file, path: ./data.csv}}
jobs:
  s:
    type: sweep
    trial: ./train.yml
    inputs:
      data: ${{{{parent.inputs.raw}}}}
    outputs:
      model_output:
    sampling_algorithm: grid
    search_space:
      c_value: {{type: choice, values: [1, 0.5]}}
      kernel: {{type: choice, values: [rbf]}}
    objective: {{goal: minimize, primary_metric: loss}}
  after:
    type: command
    inputs:
      model: ${{{{parent.jobs.s.outputs.model_output}}}}
    command: test -e {} && cat ${{{{inputs.model}}}}/model.txt
",
            marker.display()
        ),
    );
    let out = ctx.run(&["job", "create", "-f", "pipeline.yml", "--name", "r1"]);
    assert!(!out.status.success());
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["status"], "Failed", "{job:#}");
    assert_eq!(job["jobs"]["s.trial_1"]["status"], "Failed");
    assert_eq!(job["jobs"]["s"]["status"], "Completed");
    std::fs::write(&marker, "").unwrap();
    let out = ctx.run(&["job", "resume", "-n", "r1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let job = ctx.json(&["job", "show", "-n", "r1"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    let trial = &job["jobs"]["s.trial_1"];
    assert_eq!(trial["status"], "Failed", "{trial:#}");
    assert!(
        trial["error"]
            .as_str()
            .is_some_and(|e| e.contains("exited with code 3")),
        "why it failed is kept: {trial:#}"
    );
    let history = trial["status_history"].as_array().unwrap();
    assert_eq!(
        history.iter().filter(|h| h["status"] == "Running").count(),
        1,
        "the failed trial did not run again: {trial:#}"
    );
    assert!(
        history
            .last()
            .and_then(|h| h["message"].as_str())
            .is_some_and(|m| m.contains("kept as it was on resume")),
        "{trial:#}"
    );
    assert!(
        output_text(&job, "s", "model_output", "model.txt").starts_with("0.5 rbf"),
        "{job:#}"
    );
}
