//! Step reuse: exactly the steps whose reuse key changed run again, and `job explain` says why.

use insta::assert_snapshot;
use serde_json::Value;

use crate::common::TestContext;

/// A pipeline: `load` copies the data file; `double` (code in `double/`) reads it; `report`
/// (host environment `azureml:tools@latest`) summarises it; `clock` is independent of the data.
fn project(ctx: &TestContext) {
    ctx.write("data/rides.csv", "fare\n10\n20\n");
    ctx.write(
        "double/double.sh",
        "set -e\nwhile read -r line; do echo \"$line$line\"; done < \"$1\" > \"$2/doubled.csv\"\n",
    );
    ctx.write("env.yml", "name: tools\nimage: docker.io/library/bash:5\n");
    ctx.ok(&["environment", "create", "-f", "env.yml"]);
    ctx.write(
        "pipeline.yml",
        r"$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
experiment_name: reuse
inputs:
  rides:
    type: uri_file
    path: ./data/rides.csv
jobs:
  load:
    type: command
    command: cp ${{inputs.rides}} ${{outputs.copy}}/rides.csv
    inputs:
      rides: ${{parent.inputs.rides}}
    outputs:
      copy:
        type: uri_folder
  double:
    type: command
    code: ./double
    command: bash double.sh ${{inputs.table}}/rides.csv ${{outputs.doubled}}
    inputs:
      table: ${{parent.jobs.load.outputs.copy}}
    outputs:
      doubled:
        type: uri_folder
  report:
    type: command
    environment: azureml:tools@latest
    command: wc -l ${{inputs.table}}/doubled.csv > ${{outputs.summary}}/lines.txt
    inputs:
      table: ${{parent.jobs.double.outputs.doubled}}
    outputs:
      summary:
        type: uri_folder
  clock:
    type: command
    command: echo fixed > ${{outputs.out}}/clock.txt
    outputs:
      out:
        type: uri_folder
",
    );
}

fn create(ctx: &TestContext, name: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "job",
        "create",
        "-f",
        "pipeline.yml",
        "--name",
        name,
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    ctx.json(&args)
}

/// Which steps ran (`ran`) and which were reused (`reused`), in step order.
fn decisions(job: &Value) -> Vec<String> {
    ["load", "double", "report", "clock"]
        .iter()
        .map(|s| {
            let step = &job["jobs"][*s];
            assert_eq!(step["status"], "Completed", "{s}: {step}");
            match step["reused_from"].as_str() {
                Some(from) => format!("{s}: reused from {from}"),
                None => format!("{s}: ran"),
            }
        })
        .collect()
}

fn explain(ctx: &TestContext, name: &str) -> String {
    let out = ctx.snapshot(&["job", "explain", "-n", name, "-o", "tsv"]);
    regex::Regex::new(r"blake3 [0-9a-f]{12}…")
        .unwrap()
        .replace_all(&out, "blake3 [H]…")
        .into_owned()
}

#[test]
fn unchanged_pipeline_reuses_every_step_and_outputs_are_equal() {
    let ctx = TestContext::new();
    project(&ctx);
    let first = create(&ctx, "first", &[]);
    assert_eq!(
        decisions(&first),
        ["load: ran", "double: ran", "report: ran", "clock: ran"]
    );
    let second = create(&ctx, "second", &[]);
    assert_eq!(
        decisions(&second),
        [
            "load: reused from first/load",
            "double: reused from first/double",
            "report: reused from first/report",
            "clock: reused from first/clock"
        ]
    );
    // The reused outputs are in the second job's own folders, with the same bytes.
    let path = second["jobs"]["report"]["outputs"]["summary"]["path"]
        .as_str()
        .unwrap();
    assert!(path.contains("/jobs/second/"), "{path}");
    assert_eq!(
        std::fs::read_to_string(format!("{path}/lines.txt")).unwrap(),
        std::fs::read_to_string(format!(
            "{}/lines.txt",
            first["jobs"]["report"]["outputs"]["summary"]["path"]
                .as_str()
                .unwrap()
        ))
        .unwrap()
    );
    assert_eq!(
        second["jobs"]["report"]["outputs"]["summary"]["content_hash"],
        first["jobs"]["report"]["outputs"]["summary"]["content_hash"]
    );
    // A reused step records what it would have run and its inputs (data with their hashes,
    // this job's upstream outputs), as a step that ran does: `job show` and lineage read them.
    for step in ["load", "double", "report"] {
        let (ran, reused) = (&first["jobs"][step], &second["jobs"][step]);
        assert!(
            !reused["inputs"].as_object().unwrap().is_empty(),
            "{step}: {reused}"
        );
        let names = |s: &serde_json::Value| {
            s["inputs"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(names(reused), names(ran), "{step}");
        for (name, input) in reused["inputs"].as_object().unwrap() {
            assert_eq!(
                input["content_hash"], ran["inputs"][name]["content_hash"],
                "{step}.{name}"
            );
            if let Some(path) = input["path"]
                .as_str()
                .filter(|_| input["kind"] == "step_output")
            {
                assert!(path.contains("/jobs/second/"), "{step}.{name}: {path}");
            }
        }
        assert!(
            reused["command"].as_str().is_some_and(|c| !c.is_empty()),
            "{step}: {reused}"
        );
    }
    // A chain of reuse names the step that really ran.
    let third = create(&ctx, "third", &[]);
    assert_eq!(
        third["jobs"]["double"]["reused_from"], "first/double",
        "{third}"
    );
    assert_snapshot!(explain(&ctx, "third"));
}

#[test]
fn one_changed_byte_reruns_exactly_the_steps_downstream() {
    let ctx = TestContext::new();
    project(&ctx);
    create(&ctx, "before", &[]);
    ctx.write("data/rides.csv", "fare\n10\n21\n");
    let after = create(&ctx, "after", &[]);
    assert_eq!(
        decisions(&after),
        [
            "load: ran",
            "double: ran",
            "report: ran",
            "clock: reused from before/clock"
        ]
    );
    assert_snapshot!(explain(&ctx, "after"));
    // A rewrite with the same bytes (a new modification time) changes nothing.
    ctx.write("data/rides.csv", "fare\n10\n21\n");
    let same = create(&ctx, "same", &[]);
    assert!(
        decisions(&same).iter().all(|d| d.contains("reused")),
        "{same}"
    );
}

#[test]
fn changed_code_reruns_that_step_and_its_dependants() {
    let ctx = TestContext::new();
    project(&ctx);
    create(&ctx, "before", &[]);
    ctx.write(
        "double/double.sh",
        "set -e\n# now with a comment\nwhile read -r line; do echo \"$line$line\"; done < \"$1\" > \"$2/doubled.csv\"\n",
    );
    let after = create(&ctx, "after", &[]);
    // `double` ran again, but wrote the same bytes: `report` is reused.
    assert_eq!(
        decisions(&after),
        [
            "load: reused from before/load",
            "double: ran",
            "report: reused from before/report",
            "clock: reused from before/clock"
        ]
    );
    // Code that changes the output reruns the dependants too.
    ctx.write(
        "double/double.sh",
        "set -e\nwhile read -r line; do echo \"$line-$line\"; done < \"$1\" > \"$2/doubled.csv\"\n",
    );
    let changed = create(&ctx, "changed", &[]);
    assert_eq!(
        decisions(&changed),
        [
            "load: reused from before/load",
            "double: ran",
            "report: ran",
            "clock: reused from before/clock"
        ]
    );
    assert_snapshot!(explain(&ctx, "changed"));
}

#[test]
fn changed_environment_reruns_the_steps_that_use_it() {
    let ctx = TestContext::new();
    project(&ctx);
    create(&ctx, "before", &[]);
    ctx.write(
        "env.yml",
        "name: tools\nimage: docker.io/library/bash:5.2\n",
    );
    ctx.ok(&["environment", "create", "-f", "env.yml"]);
    let after = create(&ctx, "after", &[]);
    assert_eq!(
        decisions(&after),
        [
            "load: reused from before/load",
            "double: reused from before/double",
            "report: ran",
            "clock: reused from before/clock"
        ]
    );
    assert_snapshot!(explain(&ctx, "after"));
}

#[test]
fn force_rerun_and_non_deterministic_components_disable_reuse() {
    let ctx = TestContext::new();
    project(&ctx);
    create(&ctx, "before", &[]);
    let forced = create(&ctx, "forced", &["--force-rerun"]);
    assert_eq!(
        decisions(&forced),
        ["load: ran", "double: ran", "report: ran", "clock: ran"]
    );
    assert_snapshot!("forced", explain(&ctx, "forced"));

    let text = std::fs::read_to_string(ctx.root().join("pipeline.yml")).unwrap();
    ctx.write(
        "pipeline.yml",
        &text.replace(
            "experiment_name: reuse\n",
            "experiment_name: reuse\nsettings:\n  force_rerun: true\n",
        ),
    );
    let settings = create(&ctx, "settings", &[]);
    assert_eq!(
        decisions(&settings),
        ["load: ran", "double: ran", "report: ran", "clock: ran"]
    );

    // A component that says it is not deterministic always runs; the others are reused.
    ctx.write(
        "clock.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\ntype: command\nname: clock\nis_deterministic: false\noutputs:\n  out:\n    type: uri_folder\ncommand: echo fixed > ${{outputs.out}}/clock.txt\n",
    );
    ctx.write(
        "pipeline.yml",
        &text.replace(
            "  clock:\n    type: command\n    command: echo fixed > ${{outputs.out}}/clock.txt\n    outputs:\n      out:\n        type: uri_folder\n",
            "  clock:\n    type: command\n    component: file:./clock.yml\n",
        ),
    );
    create(&ctx, "component1", &[]);
    let again = create(&ctx, "component2", &[]);
    // Forced runs record their keys: the newest identical run is the one reused.
    assert_eq!(
        decisions(&again),
        [
            "load: reused from settings/load",
            "double: reused from settings/double",
            "report: reused from settings/report",
            "clock: ran"
        ]
    );
    assert_snapshot!("non_deterministic", explain(&ctx, "component2"));
}

#[test]
fn explain_of_one_step_and_of_unknown_ones() {
    let ctx = TestContext::new();
    project(&ctx);
    create(&ctx, "only", &[]);
    let one = ctx.json(&[
        "job", "explain", "-n", "only", "--step", "double", "-o", "json",
    ]);
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["decision"], "ran");
    assert_eq!(
        one[0]["reason"],
        "no earlier completed run of a step named `double` to reuse"
    );
    let out = ctx.run(&["job", "explain", "-n", "only", "--step", "nope"]);
    assert_eq!(out.status.code(), Some(5));
    let out = ctx.run(&["job", "explain", "-n", "nope"]);
    assert_eq!(out.status.code(), Some(5));
}

#[test]
fn reusing_an_output_with_a_fixed_place_keeps_its_bytes() {
    let ctx = TestContext::new();
    ctx.write(
        "fixed.yml",
        "type: command\ncommand: echo kept > ${{outputs.out}}/kept.txt\noutputs:\n  out:\n    type: uri_folder\n    path: azureml://datastores/workspaceblobstore/paths/fixed/\n",
    );
    let first = ctx.json(&[
        "job",
        "create",
        "-f",
        "fixed.yml",
        "--name",
        "f1",
        "-o",
        "json",
    ]);
    let second = ctx.json(&[
        "job",
        "create",
        "-f",
        "fixed.yml",
        "--name",
        "f2",
        "-o",
        "json",
    ]);
    assert_eq!(second["jobs"]["main"]["reused_from"], "f1/main");
    let path = second["outputs"]["out"]["path"].as_str().unwrap();
    assert_eq!(path, first["outputs"]["out"]["path"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(format!("{path}/kept.txt")).unwrap(),
        "kept\n"
    );
}

/// A distributed step's nodes and processes are part of its reuse key: the same command with
/// another `distribution` runs again, and `job explain` says why; the same again is reused.
#[test]
fn a_distributed_steps_processes_are_part_of_its_key() {
    let ctx = TestContext::new();
    let job = |processes: u32| {
        format!(
            "type: command\ncommand: echo trained > ${{{{outputs.model}}}}/m.txt\noutputs:\n  model: {{type: uri_folder}}\ndistribution:\n  type: pytorch\n  process_count_per_instance: {processes}\n"
        )
    };
    ctx.write("two.yml", &job(2));
    ctx.write("three.yml", &job(3));
    for (file, name) in [("two.yml", "d1"), ("three.yml", "d2"), ("three.yml", "d3")] {
        let out = ctx.run(&["job", "create", "-f", file, "--name", name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let step = |name: &str| ctx.json(&["job", "show", "-n", name])["jobs"]["main"].clone();
    assert!(step("d2")["reused_from"].is_null(), "{}", step("d2"));
    assert_eq!(step("d3")["reused_from"], "d2/main");
    let why = ctx.json(&["job", "explain", "-n", "d2"]);
    assert!(
        why.to_string()
            .contains("the nodes and processes (`resources`, `distribution`) changed"),
        "{why}"
    );
}
