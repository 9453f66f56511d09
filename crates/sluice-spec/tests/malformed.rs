//! Malformed pipeline and job files: each must fail with a precise message at a precise place.
//!
//! The table below is checked as a whole: every case runs, and the test fails once at the end
//! with a list of every case whose error differs from what is expected.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use sluice_spec::{JobSpec, Segment, SpecError, Warning, load_job};

/// The name the job file of every case is written under.
const JOB_FILE: &str = "job.yml";

/// One malformed job file and the error it must produce.
struct Case {
    /// A short name shown when the case fails.
    name: &'static str,
    /// The job file's text.
    yaml: &'static str,
    /// Other files written beside the job file: `(relative path, text)`.
    files: &'static [(&'static str, &'static str)],
    /// A substring of `err.message`.
    message: &'static str,
    /// A substring of `err.help`, when the case checks the hint too.
    help: Option<&'static str>,
    /// `(line, column)` of `err.span`, both 1-based.
    at: (usize, usize),
    /// The file name `err.file` must end with; `None` means the job file.
    file: Option<&'static str>,
}

const BASE: Case = Case {
    name: "",
    yaml: "",
    files: &[],
    message: "",
    help: None,
    at: (0, 0),
    file: None,
};

/// A valid command component used by the cases that need one.
const COMPONENT: &str = "\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: train
inputs:
  data:
    type: uri_folder
  n:
    type: integer
    min: 1
    max: 10
    optional: true
  color:
    type: string
    enum: [red, green]
    optional: true
outputs:
  out:
    type: uri_folder
command: >-
  echo ${{inputs.data}}
  $[[--n ${{inputs.n}}]]
  $[[--color ${{inputs.color}}]]
  ${{outputs.out}}
";

const WITH_COMPONENT: &[(&str, &str)] = &[("comp.yml", COMPONENT)];

const CASES: &[Case] = &[
    // ---- YAML syntax ----
    Case {
        name: "bad indentation",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo hi
   display_name: A
",
        message: "invalid YAML",
        at: (5, 4),
        ..BASE
    },
    Case {
        name: "unclosed double quote",
        yaml: "\
type: pipeline
jobs:
  a:
    command: \"echo hi
",
        message: "invalid YAML: while scanning a quoted scalar",
        at: (4, 14),
        ..BASE
    },
    Case {
        name: "tab indentation",
        yaml: "\
type: pipeline
jobs:
\ta:
    command: echo hi
",
        message: "invalid YAML: tabs disallowed",
        at: (3, 2),
        ..BASE
    },
    Case {
        name: "unknown alias",
        yaml: "\
type: pipeline
jobs:
  a:
    command: *missing
",
        message: "unknown",
        at: (4, 14),
        ..BASE
    },
    Case {
        name: "empty file",
        yaml: "",
        message: "the file is empty",
        at: (1, 1),
        ..BASE
    },
    Case {
        name: "only a comment",
        yaml: "# nothing here\n",
        message: "the file is empty",
        at: (2, 1),
        ..BASE
    },
    Case {
        name: "top-level list",
        yaml: "\
- type: pipeline
- jobs: {}
",
        message: "the file must be a YAML mapping, found a list",
        at: (1, 1),
        ..BASE
    },
    Case {
        name: "merge key with a scalar",
        yaml: "\
type: pipeline
<<: 5
jobs:
  a:
    command: echo hi
",
        message: "a `<<` merge key needs a mapping or a list of mappings",
        at: (2, 5),
        ..BASE
    },
    // ---- the job file's keys ----
    Case {
        name: "misspelt job type",
        yaml: "\
type: pipline
jobs:
  a:
    command: echo hi
",
        message: "job type `pipline` is not supported",
        help: Some("did you mean `pipeline`?"),
        at: (1, 7),
        ..BASE
    },
    Case {
        name: "parallel step",
        yaml: "\
type: pipeline
jobs:
  a:
    type: parallel
    command: echo hi
",
        message: "parallel job `a` has no `task`",
        help: Some("or make it `type: command`"),
        at: (4, 5),
        ..BASE
    },
    Case {
        name: "sweep step without sampling",
        yaml: "\
type: pipeline
jobs:
  a:
    type: sweep
    trial: ./train.yml
",
        message: "sweep `a` has no `sampling_algorithm`",
        help: Some("add `sampling_algorithm: random` (or `grid`)"),
        at: (4, 5),
        ..BASE
    },
    Case {
        name: "no type and no jobs",
        yaml: "\
display_name: nothing to run
",
        message: "the job file has no `type`",
        at: (1, 1),
        ..BASE
    },
    Case {
        name: "continue_on_step_failure is a list",
        yaml: "\
type: pipeline
settings:
  continue_on_step_failure: [true]
jobs:
  a:
    command: echo hi
",
        message: "`settings.continue_on_step_failure` must be `true` or `false`, found a list",
        at: (3, 29),
        ..BASE
    },
    Case {
        name: "jobs missing",
        yaml: "\
type: pipeline
display_name: no steps
",
        message: "the pipeline has no `jobs`",
        at: (1, 1),
        ..BASE
    },
    Case {
        name: "jobs empty",
        yaml: "\
type: pipeline
jobs: {}
",
        message: "the pipeline has no `jobs`",
        at: (2, 7),
        ..BASE
    },
    Case {
        name: "jobs is a list",
        yaml: "\
type: pipeline
jobs:
  - command: echo hi
",
        message: "`jobs` must be a mapping, found a list",
        at: (3, 3),
        ..BASE
    },
    Case {
        name: "job with neither command nor component",
        yaml: "\
type: pipeline
jobs:
  a:
    display_name: A
",
        message: "the job has neither `command` nor `component`",
        at: (4, 5),
        ..BASE
    },
    Case {
        name: "job with both command and component",
        yaml: "\
type: pipeline
jobs:
  a:
    component: file:./comp.yml
    command: echo hi
",
        files: WITH_COMPONENT,
        message: "a job cannot have both `component` and `command`",
        at: (5, 14),
        ..BASE
    },
    Case {
        name: "job name with a space",
        yaml: "\
type: pipeline
jobs:
  my job:
    command: echo hi
",
        message: "invalid job name `my job`",
        at: (3, 3),
        ..BASE
    },
    Case {
        name: "negative limits.timeout",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo hi
    limits:
      timeout: -5
",
        message: "`limits.timeout` must be a positive whole number of seconds",
        at: (6, 16),
        ..BASE
    },
    Case {
        name: "environment reference with a label other than latest",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo hi
    environment: azureml:myenv@stable
",
        message: "uses the label `@stable`; only `@latest` is supported",
        at: (5, 18),
        ..BASE
    },
    Case {
        name: "missing code folder",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo hi
    code: ./src
",
        message: "code folder `./src` does not exist",
        at: (5, 11),
        ..BASE
    },
    Case {
        name: "registered component without a workspace",
        yaml: "\
type: pipeline
jobs:
  a:
    component: azureml:train:1
",
        message: "registered component `azureml:train:1` cannot be looked up here",
        at: (4, 16),
        ..BASE
    },
    // ---- inputs, outputs and bindings ----
    Case {
        name: "unknown binding expression",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo ${{inputs.d}}
    inputs:
      d: ${{parent.job.x.outputs.y}}
",
        message: "`${{parent.job.x.outputs.y}}` is not a binding Sluice understands",
        at: (6, 10),
        ..BASE
    },
    Case {
        name: "binding with text around it",
        yaml: "\
type: pipeline
inputs:
  raw: ./data
jobs:
  a:
    command: echo ${{inputs.d}}
    inputs:
      d: ${{parent.inputs.raw}}/sub
",
        message: "a binding must be the whole value",
        at: (8, 10),
        ..BASE
    },
    Case {
        name: "binding to a missing pipeline input",
        yaml: "\
type: pipeline
inputs:
  learning_rate: 0.1
jobs:
  a:
    command: echo ${{inputs.lr}}
    inputs:
      lr: ${{parent.inputs.learning_rat}}
",
        message: "`${{parent.inputs.learning_rat}}` refers to pipeline input `learning_rat`, which does not exist",
        help: Some("did you mean `learning_rate`?"),
        at: (8, 11),
        ..BASE
    },
    Case {
        name: "pipeline input that is a binding",
        yaml: "\
type: pipeline
inputs:
  a: 1
  b: ${{parent.inputs.a}}
jobs:
  j:
    command: echo hi
",
        message: "pipeline input `b` cannot be a binding",
        at: (4, 6),
        ..BASE
    },
    Case {
        name: "binding to a missing job",
        yaml: "\
type: pipeline
jobs:
  prep:
    command: echo ${{outputs.o}}
    outputs:
      o:
  train:
    command: echo ${{inputs.d}}
    inputs:
      d: ${{parent.jobs.prepp.outputs.o}}
",
        message: "`${{parent.jobs.prepp.outputs.o}}` refers to job `prepp`, which does not exist",
        help: Some("did you mean `prep`?"),
        at: (10, 10),
        ..BASE
    },
    Case {
        name: "binding to a missing output of a job",
        yaml: "\
type: pipeline
jobs:
  prep:
    command: echo ${{outputs.o}}
    outputs:
      o:
  train:
    command: echo ${{inputs.d}}
    inputs:
      d: ${{parent.jobs.prep.outputs.out}}
",
        message: "job `prep` has no output `out`",
        at: (10, 10),
        ..BASE
    },
    Case {
        name: "job taking its own output",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo ${{inputs.d}} ${{outputs.o}}
    inputs:
      d: ${{parent.jobs.a.outputs.o}}
    outputs:
      o:
",
        message: "job `a` cannot take its own output as an input",
        at: (6, 10),
        ..BASE
    },
    Case {
        name: "two-job cycle",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo ${{inputs.d}} ${{outputs.o}}
    inputs:
      d: ${{parent.jobs.b.outputs.o}}
    outputs:
      o:
  b:
    command: echo ${{inputs.d}} ${{outputs.o}}
    inputs:
      d: ${{parent.jobs.a.outputs.o}}
    outputs:
      o:
",
        message: "the jobs form a cycle: a → b → a",
        at: (3, 3),
        ..BASE
    },
    Case {
        name: "three-job cycle",
        yaml: "\
type: pipeline
jobs:
  start:
    command: echo ${{outputs.o}}
    outputs:
      o:
  c:
    command: echo ${{inputs.d}} ${{outputs.o}}
    inputs:
      d: ${{parent.jobs.b.outputs.o}}
    outputs:
      o:
  a:
    command: echo ${{inputs.d}} ${{outputs.o}}
    inputs:
      d: ${{parent.jobs.c.outputs.o}}
    outputs:
      o:
  b:
    command: echo ${{inputs.d}} ${{inputs.s}} ${{outputs.o}}
    inputs:
      d: ${{parent.jobs.a.outputs.o}}
      s: ${{parent.jobs.start.outputs.o}}
    outputs:
      o:
",
        message: "the jobs form a cycle: c → a → b → c",
        at: (7, 3),
        ..BASE
    },
    Case {
        name: "component command uses a missing input",
        yaml: "\
type: pipeline
jobs:
  a:
    component: file:./missing_input.yml
",
        files: &[(
            "missing_input.yml",
            "\
type: command
inputs:
  data:
    type: uri_folder
command: echo ${{inputs.dta}}
",
        )],
        message: "the command uses `${{inputs.dta}}` but there is no input `dta`",
        help: Some("did you mean `data`?"),
        at: (5, 10),
        file: Some("missing_input.yml"),
    },
    Case {
        name: "component command uses a parent binding",
        yaml: "\
type: pipeline
jobs:
  a:
    component: file:./parent_binding.yml
",
        files: &[(
            "parent_binding.yml",
            "\
type: command
command: echo ${{parent.inputs.x}}
",
        )],
        message: "a command can only use `${{inputs.NAME}}` and `${{outputs.NAME}}`, not `${{parent.inputs.x}}`",
        at: (2, 10),
        file: Some("parent_binding.yml"),
        ..BASE
    },
    Case {
        name: "required component input left unbound",
        yaml: "\
type: pipeline
jobs:
  train:
    component: file:./comp.yml
",
        files: WITH_COMPONENT,
        message: "required input `data` of job `train` is not bound",
        at: (3, 3),
        ..BASE
    },
    Case {
        name: "required input bound to an empty pipeline input",
        yaml: "\
type: pipeline
inputs:
  raw:
    type: uri_folder
jobs:
  train:
    component: file:./comp.yml
    inputs:
      data: ${{parent.inputs.raw}}
",
        files: WITH_COMPONENT,
        message: "required input `data` of job `train` is not bound",
        at: (9, 13),
        ..BASE
    },
    Case {
        name: "input not declared by the component",
        yaml: "\
type: pipeline
jobs:
  train:
    component: file:./comp.yml
    inputs:
      data: ./d
      dat: ./x
",
        files: WITH_COMPONENT,
        message: "job `train` has no input `dat`",
        help: Some("did you mean `data`?"),
        at: (7, 7),
        ..BASE
    },
    Case {
        name: "output not declared by the component",
        yaml: "\
type: pipeline
jobs:
  train:
    component: file:./comp.yml
    inputs:
      data: ./d
    outputs:
      model:
",
        files: WITH_COMPONENT,
        message: "job `train` has no output `model`",
        at: (8, 7),
        ..BASE
    },
    Case {
        name: "output bound to an undeclared pipeline output",
        yaml: "\
type: pipeline
jobs:
  train:
    component: file:./comp.yml
    inputs:
      data: ./d
    outputs:
      out: ${{parent.outputs.result}}
",
        files: WITH_COMPONENT,
        message: "`${{parent.outputs.result}}` refers to pipeline output `result`, which is not declared",
        at: (8, 12),
        ..BASE
    },
    Case {
        name: "output bound to a job output",
        yaml: "\
type: pipeline
jobs:
  train:
    component: file:./comp.yml
    inputs:
      data: ./d
    outputs:
      out: ${{parent.jobs.other.outputs.o}}
",
        files: WITH_COMPONENT,
        message: "a job output can only bind to `${{parent.outputs.NAME}}`",
        at: (8, 12),
        ..BASE
    },
    Case {
        name: "output given as a plain string",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo ${{outputs.o}}
    outputs:
      o: ./out
",
        message: "output `o` must be a mapping or a binding",
        at: (6, 10),
        ..BASE
    },
    Case {
        name: "unknown input type",
        yaml: "\
type: pipeline
inputs:
  raw:
    type: uri_fiel
    path: ./data.csv
jobs:
  a:
    command: echo hi
",
        message: "unknown input type `uri_fiel`",
        help: Some("did you mean `uri_file`?"),
        at: (4, 11),
        ..BASE
    },
    Case {
        name: "path on a literal input type",
        yaml: "\
type: pipeline
inputs:
  n:
    type: integer
    path: ./n.txt
jobs:
  a:
    command: echo hi
",
        message: "an input of type `integer` takes a `value`, not a `path`",
        at: (5, 11),
        ..BASE
    },
    Case {
        name: "unknown mode",
        yaml: "\
type: pipeline
jobs:
  train:
    component: file:./comp.yml
    inputs:
      data:
        path: ./d
        mode: ro_mnt
",
        files: WITH_COMPONENT,
        message: "unknown mode `ro_mnt`",
        help: Some("did you mean `ro_mount`?"),
        at: (8, 15),
        ..BASE
    },
    Case {
        name: "text for an integer input",
        yaml: "\
type: pipeline
jobs:
  train:
    component: file:./comp.yml
    inputs:
      data: ./d
      n: abc
",
        files: WITH_COMPONENT,
        message: "`jobs.train.inputs.n` is declared `integer` but the value is `abc`",
        at: (7, 10),
        ..BASE
    },
    Case {
        name: "number below its minimum",
        yaml: "\
type: pipeline
jobs:
  train:
    component: file:./comp.yml
    inputs:
      data: ./d
      n: 0
",
        files: WITH_COMPONENT,
        message: "`jobs.train.inputs.n` is 0, below its minimum 1",
        at: (7, 10),
        ..BASE
    },
    Case {
        name: "value outside enum",
        yaml: "\
type: pipeline
jobs:
  train:
    component: file:./comp.yml
    inputs:
      data: ./d
      color: blue
",
        files: WITH_COMPONENT,
        message: "`jobs.train.inputs.color` must be one of `red`, `green`",
        at: (7, 14),
        ..BASE
    },
    Case {
        name: "unclosed optional block",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo $[[--n ${{inputs.n}}
    inputs:
      n: 3
",
        message: "an optional block `$[[` is never closed with `]]`",
        at: (4, 14),
        ..BASE
    },
    Case {
        name: "unclosed optional block in a folded command",
        yaml: "\
type: pipeline
jobs:
  a:
    command: >-
      python train.py
      $[[--n ${{inputs.n}}
    inputs:
      n: 3
",
        message: "an optional block `$[[` is never closed with `]]`",
        at: (5, 7),
        ..BASE
    },
    Case {
        name: "unclosed binding in a command",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo ${{inputs.n
    inputs:
      n: 3
",
        message: "a `${{` is never closed with `}}`",
        at: (4, 14),
        ..BASE
    },
    // ---- component files ----
    Case {
        name: "missing component file",
        yaml: "\
type: pipeline
jobs:
  a:
    component: file:./nope.yml
",
        message: "cannot read component file `./nope.yml`",
        at: (4, 16),
        ..BASE
    },
    Case {
        name: "unknown key in a component file",
        yaml: "\
type: pipeline
jobs:
  a:
    component: file:./bad_key.yml
",
        files: &[(
            "bad_key.yml",
            "\
type: command
inputs:
  data:
    type: uri_folder
command: echo ${{inputs.data}}
enviroment: azureml:env@latest
",
        )],
        message: "unknown key `enviroment` in a command component",
        help: Some("did you mean `environment`?"),
        at: (6, 1),
        file: Some("bad_key.yml"),
    },
    Case {
        name: "invalid YAML in a component file",
        yaml: "\
type: pipeline
jobs:
  a:
    component: file:./broken.yml
",
        files: &[(
            "broken.yml",
            "\
type: command
command: 'echo
",
        )],
        message: "invalid YAML: while scanning a quoted scalar",
        at: (2, 10),
        file: Some("broken.yml"),
        ..BASE
    },
    Case {
        name: "component default below its minimum",
        yaml: "\
type: pipeline
jobs:
  a:
    component: file:./bad_default.yml
",
        files: &[(
            "bad_default.yml",
            "\
type: command
inputs:
  n:
    type: integer
    default: 0
    min: 1
command: echo ${{inputs.n}}
",
        )],
        message: "`inputs.n` is 0, below its minimum 1",
        at: (5, 14),
        file: Some("bad_default.yml"),
        ..BASE
    },
    // ---- command jobs ----
    Case {
        name: "command job with an unknown key",
        yaml: "\
type: command
command: echo hi
comptue: local
",
        message: "unknown key `comptue` in a job file",
        help: Some("did you mean `compute`?"),
        at: (3, 1),
        ..BASE
    },
];

/// Writes a case's files into a fresh folder and loads its job file.
fn run(case: &Case) -> (tempfile::TempDir, Result<JobSpec, SpecError>) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (rel, text) in case.files {
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create a folder");
        }
        std::fs::write(&path, text).expect("write a file");
    }
    let path = dir.path().join(JOB_FILE);
    std::fs::write(&path, case.yaml).expect("write the job file");
    let mut warnings = Vec::new();
    let result = sluice_spec::load_job(&path, &[], None, &mut warnings);
    (dir, result)
}

/// Describes how the outcome of a case differs from what it expects, if it does.
fn check(case: &Case) -> Option<String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| run(case).1));
    let err = match outcome {
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            return Some(format!("panicked: {what}"));
        }
        Ok(Ok(_)) => return Some("loaded without an error".to_owned()),
        Ok(Err(err)) => err,
    };
    let expected_file = case.file.unwrap_or(JOB_FILE);
    let got_file = Path::new(&err.file)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let got_at = (err.span.line, err.span.col);
    let mut problems = Vec::new();
    if !err.message.contains(case.message) {
        problems.push(format!("message: expected to contain {:?}", case.message));
    }
    if got_at != case.at {
        problems.push(format!(
            "place: expected {}:{}, got {}:{}",
            case.at.0, case.at.1, got_at.0, got_at.1
        ));
    }
    if got_file != expected_file {
        problems.push(format!("file: expected {expected_file}, got {}", err.file));
    }
    if let Some(help) = case.help
        && !err.help.as_deref().unwrap_or_default().contains(help)
    {
        problems.push(format!(
            "help: expected to contain {help:?}, got {:?}",
            err.help
        ));
    }
    if problems.is_empty() {
        return None;
    }
    Some(format!(
        "{}\n      got: {got_file}:{}:{}: {}",
        problems.join("\n      "),
        got_at.0,
        got_at.1,
        err.message
    ))
}

#[test]
fn malformed_files_fail_with_a_precise_message_and_place() {
    assert!(
        CASES.len() >= 30,
        "the table has only {} cases",
        CASES.len()
    );
    let mut names = std::collections::HashSet::new();
    for case in CASES {
        assert!(
            names.insert(case.name),
            "duplicate case name {:?}",
            case.name
        );
    }
    let mut report = String::new();
    let mut failed = 0;
    for case in CASES {
        if let Some(problem) = check(case) {
            failed += 1;
            let _ = writeln!(report, "  - {}:\n      {problem}", case.name);
        }
    }
    assert!(
        failed == 0,
        "{failed} of {} cases did not fail as expected:\n{report}",
        CASES.len()
    );
}

// ---- files that load ----

/// Writes `yaml` (and `files`) into a fresh folder and loads it, expecting success.
fn load_ok(yaml: &str, files: &[(&str, &str)]) -> (JobSpec, Vec<Warning>) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (rel, text) in files {
        std::fs::write(dir.path().join(rel), text).expect("write a file");
    }
    let path = dir.path().join(JOB_FILE);
    std::fs::write(&path, yaml).expect("write the job file");
    let mut warnings = Vec::new();
    match load_job(&path, &[], None, &mut warnings) {
        Ok(job) => (job, warnings),
        Err(err) => panic!("{}: {}", err.location(), err.message),
    }
}

#[test]
fn a_duplicate_key_warns_and_the_last_value_wins() {
    let (job, warnings) = load_ok(
        "\
type: pipeline
experiment_name: first
experiment_name: second
jobs:
  a:
    command: echo hi
",
        &[],
    );
    assert_eq!(job.experiment_name.as_deref(), Some("second"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(
        w.message
            .contains("duplicate key `experiment_name` (first at line 2)"),
        "{w}"
    );
    assert_eq!((w.span.line, w.span.col), (3, 1));
    assert!(w.file.ends_with(JOB_FILE), "{w}");
}

/// Keys Azure ML ignores in pipeline jobs (with a warning) are warnings here too, with the
/// nearest known key; the job still loads.
#[test]
fn unknown_keys_of_pipelines_steps_and_settings_warn_with_a_suggestion() {
    let (job, warnings) = load_ok(
        "\
type: pipeline
experiment_nmae: demo
settings:
  default_datestore: azureml:workspaceblobstore
jobs:
  a:
    command: echo hi
    enviroment: azureml:env@latest
",
        &[],
    );
    assert_eq!(job.steps.len(), 1);
    let found: Vec<(usize, usize, &str)> = warnings
        .iter()
        .map(|w| (w.span.line, w.span.col, w.message.as_str()))
        .collect();
    let expect = [
        (
            2,
            1,
            "`experiment_nmae` is not a key of a job file; it is ignored, as Azure ML ignores it (did you mean `experiment_name`?)",
        ),
        (
            4,
            3,
            "`default_datestore` is not a key of `settings`; it is ignored, as Azure ML ignores it (did you mean `default_datastore`?)",
        ),
        (
            8,
            5,
            "`enviroment` is not a key of job `a`; it is ignored, as Azure ML ignores it (did you mean `environment`?)",
        ),
    ];
    for (line, col, message) in expect {
        assert!(
            found.contains(&(line, col, message)),
            "no warning `{message}` at {line}:{col} in {found:#?}"
        );
    }
}

#[test]
fn optional_blocks_parse() {
    let (job, _) = load_ok(
        "\
type: pipeline
jobs:
  a:
    command: echo hi $[[--n ${{inputs.n}}]]
    inputs:
      n: 3
  train:
    component: file:./comp.yml
    inputs:
      data: ./d
",
        WITH_COMPONENT,
    );
    let optional = |segments: &[Segment]| {
        segments
            .iter()
            .filter(|s| matches!(s, Segment::Optional(_)))
            .count()
    };
    assert_eq!(optional(&job.steps["a"].component.template), 1);
    assert_eq!(optional(&job.steps["train"].component.template), 2);
}

#[test]
fn a_folded_command_parses() {
    let (job, _) = load_ok(
        "\
type: pipeline
jobs:
  a:
    command: >-
      python train.py
      --data ${{inputs.d}}
      --out ${{outputs.o}}
    inputs:
      d: ./data
    outputs:
      o:
",
        &[],
    );
    let step = &job.steps["a"];
    // A block scalar's place is its first line of content, not the `>-` indicator.
    assert_eq!(
        step.component.command.value,
        "python train.py --data ${{inputs.d}} --out ${{outputs.o}}"
    );
    assert_eq!(
        (
            step.component.command.span.line,
            step.component.command.span.col
        ),
        (5, 7)
    );
}

#[test]
fn anchors_aliases_and_merge_keys_work() {
    let (job, _) = load_ok(
        "\
type: pipeline
settings:
  default_environment: &env azureml:myenv@latest
jobs:
  a: &step
    command: echo ${{inputs.n}}
    environment: *env
    environment_variables: &vars
      MODE: fast
    inputs:
      n: 1
  b:
    <<: *step
    environment_variables: *vars
    inputs:
      n: 2
",
        &[],
    );
    assert_eq!(job.steps.len(), 2);
    let b = &job.steps["b"];
    assert_eq!(b.component.command.value, "echo ${{inputs.n}}");
    assert_eq!(
        b.environment_variables.get("MODE").map(String::as_str),
        Some("fast")
    );
    match &b.inputs["n"].1 {
        sluice_spec::InputValue::Literal(v) => assert_eq!(v.value, 2),
        other => panic!("unexpected input {other:?}"),
    }
    assert!(matches!(
        &b.component.environment,
        Some(sluice_spec::EnvironmentRef::Named(n)) if n.value == "azureml:myenv@latest"
    ));
}

// ---- known crate bugs: these fail today; remove `ignore` once they are fixed ----

#[test]
fn a_cycle_with_a_branch_is_an_error_not_a_panic() {
    // a <-> b <-> c: one strongly connected component that is not a simple cycle. Which way the
    // walk in `check_cycles` goes depends on `HashMap` order, so the panic comes and goes from run
    // to run; loading the file many times makes it show.
    let case = Case {
        name: "cycle with a branch",
        yaml: "\
type: pipeline
jobs:
  a:
    command: echo ${{inputs.d}} ${{outputs.o}}
    inputs:
      d: ${{parent.jobs.b.outputs.o}}
    outputs:
      o:
  b:
    command: echo ${{inputs.x}} ${{inputs.y}} ${{outputs.o}}
    inputs:
      x: ${{parent.jobs.a.outputs.o}}
      y: ${{parent.jobs.c.outputs.o}}
    outputs:
      o:
  c:
    command: echo ${{inputs.d}} ${{outputs.o}}
    inputs:
      d: ${{parent.jobs.b.outputs.o}}
    outputs:
      o:
",
        message: "the jobs form a cycle: a → b",
        at: (3, 3),
        ..BASE
    };
    for _ in 0..32 {
        if let Some(problem) = check(&case) {
            panic!("{problem}");
        }
    }
}

#[test]
fn an_inline_command_using_an_unknown_binding_is_an_error() {
    // A component file's command is checked by `validate_component_command`; a `command:` written
    // in the job (a pipeline step, or a `type: command` job) is not, so these load and only fail
    // when the command is rendered at run time.
    let cases = [
        Case {
            name: "pipeline step uses a missing input",
            yaml: "\
type: pipeline
jobs:
  a:
    command: echo ${{inputs.missing}}
",
            message: "the command uses `${{inputs.missing}}` but there is no input `missing`",
            at: (4, 14),
            ..BASE
        },
        Case {
            name: "pipeline step uses a parent binding",
            yaml: "\
type: pipeline
inputs:
  x: 1
jobs:
  a:
    command: echo ${{parent.inputs.x}}
",
            message: "a command can only use `${{inputs.NAME}}` and `${{outputs.NAME}}`",
            at: (6, 14),
            ..BASE
        },
        Case {
            name: "command job uses a missing output",
            yaml: "\
type: command
command: echo ${{outputs.model}}
",
            message: "the command uses `${{outputs.model}}` but there is no output `model`",
            at: (2, 10),
            ..BASE
        },
    ];
    let report: Vec<String> = cases
        .iter()
        .filter_map(|c| check(c).map(|p| format!("  - {}:\n      {p}", c.name)))
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}
