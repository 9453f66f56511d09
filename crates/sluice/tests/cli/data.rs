//! `sluice data ...` and `sluice environment ...`: versioned assets.

use insta::assert_snapshot;

use crate::common::TestContext;

#[test]
fn data_versions_are_numbered_and_immutable() {
    let ctx = TestContext::new();
    ctx.copy_example("taxi-fare");
    let v1 = ctx.json(&["data", "create", "-f", "taxi-fare/data.yml"]);
    assert_eq!(v1["version"], "1");
    assert_eq!(v1["type"], "uri_file");
    assert!(v1["content_hash"].as_str().unwrap().starts_with("blake3:"));
    // The bytes are copied: changing the source later does not change version 1.
    std::fs::write(
        ctx.root().join("taxi-fare/data/taxi-data.csv"),
        "distance,fare_amount\n1,2\n",
    )
    .unwrap();
    let v2 = ctx.json(&["data", "create", "-f", "taxi-fare/data.yml"]);
    assert_eq!(v2["version"], "2");
    assert_ne!(v1["content_hash"], v2["content_hash"]);
    let stored = std::fs::read_to_string(v1["path"].as_str().unwrap()).unwrap();
    assert!(stored.lines().count() > 1000);

    assert_eq!(
        ctx.ok(&[
            "data",
            "show",
            "-n",
            "taxi-data@latest",
            "--query",
            "version",
            "-o",
            "tsv"
        ]),
        "2\n"
    );
    assert_eq!(
        ctx.ok(&[
            "data",
            "show",
            "-n",
            "taxi-data:1",
            "--query",
            "version",
            "-o",
            "tsv"
        ]),
        "1\n"
    );
    assert_eq!(
        ctx.ok(&[
            "data",
            "show",
            "-n",
            "taxi-data",
            "-v",
            "1",
            "--query",
            "version",
            "-o",
            "tsv"
        ]),
        "1\n"
    );
    assert_eq!(
        ctx.ok(&["data", "list", "--query", "[].[name, version]", "-o", "tsv"]),
        "taxi-data\t2\n"
    );
    assert_eq!(
        ctx.ok(&[
            "data",
            "list",
            "-n",
            "taxi-data",
            "--query",
            "[].version",
            "-o",
            "tsv"
        ]),
        "1\n2\n"
    );
    assert_snapshot!(ctx.snapshot(&[
        "data",
        "create",
        "-f",
        "taxi-fare/data.yml",
        "--version",
        "1"
    ]));
    assert_snapshot!(ctx.snapshot(&["data", "show", "-n", "taxi-data:9"]));
}

#[test]
fn pipelines_read_registered_data_by_reference() {
    let ctx = TestContext::new();
    ctx.write("data/numbers.txt", "1\n2\n");
    ctx.write(
        "data.yml",
        "type: uri_file\nname: numbers\npath: ./data/numbers.txt\n",
    );
    ctx.ok(&["data", "create", "-f", "data.yml"]);
    ctx.write(
        "p.yml",
        r"
type: pipeline
inputs:
  nums:
    type: uri_file
    path: azureml:numbers@latest
jobs:
  count:
    command: wc -l < ${{inputs.n}} > ${{outputs.out}}/count.txt
    inputs:
      n: ${{parent.inputs.nums}}
    outputs:
      out:
",
    );
    let job = ctx.json(&["job", "create", "-f", "p.yml"]);
    assert_eq!(job["status"], "Completed");
    assert_eq!(job["inputs"]["nums"]["asset"], "numbers:1");
    let input = &job["jobs"]["count"]["inputs"]["n"];
    assert!(
        input["path"]
            .as_str()
            .unwrap()
            .contains("/.sluice/data/numbers/1/"),
        "{input}"
    );
    assert!(
        input["content_hash"]
            .as_str()
            .unwrap()
            .starts_with("blake3:")
    );
}

#[test]
fn data_errors_point_into_the_file() {
    let ctx = TestContext::new();
    ctx.write("bad.yml", "type: uri_file\nname: x\npath: ./missing.csv\n");
    assert_snapshot!(ctx.snapshot(&["data", "create", "-f", "bad.yml"]));
    ctx.write(
        "remote.yml",
        "type: uri_file\nname: x\npath: https://example.invalid/data.csv\n",
    );
    let out = ctx.run(&["data", "create", "-f", "remote.yml"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("remote.yml:3:7"));
}

#[test]
fn environments_are_registered_and_referenced() {
    let ctx = TestContext::new();
    ctx.write(
        "env/conda.yml",
        "name: train\ndependencies:\n  - python=3.11\n  - pip:\n    - scikit-learn==1.5.0\n",
    );
    ctx.write(
        "env/env.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\nname: train-env\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\nconda_file: ./conda.yml\n",
    );
    let env = ctx.json(&["environment", "create", "-f", "env/env.yml"]);
    assert_eq!(env["version"], "1");
    assert!(
        env["conda_file"]
            .as_str()
            .unwrap()
            .contains("scikit-learn==1.5.0")
    );
    let again = ctx.json(&["environment", "create", "-f", "env/env.yml"]);
    assert_eq!(again["version"], "2");
    assert_eq!(
        env["spec_hash"], again["spec_hash"],
        "identical specs share a hash"
    );
    assert_eq!(
        ctx.ok(&["environment", "list", "--query", "[].version", "-o", "tsv"]),
        "2\n"
    );
    ctx.write(
        "p.yml",
        "type: pipeline\njobs:\n  a:\n    command: 'true'\n    environment: azureml:train-env@latest\n  b:\n    command: 'true'\n    environment: azureml:train-env:9\n",
    );
    assert_snapshot!(ctx.snapshot(&["job", "create", "-f", "p.yml"]));
}

#[test]
fn outputs_with_a_name_are_registered_as_data_assets() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        r#"
type: pipeline
outputs:
  report:
    type: uri_folder
    name: weekly-report
jobs:
  make:
    command: echo rows > ${{outputs.table}}/table.csv; echo ok > ${{outputs.summary}}/summary.txt
    outputs:
      table:
        type: uri_folder
        name: cleaned-table
        version: "7"
      summary: ${{parent.outputs.report}}
"#,
    );
    let job = ctx.json(&["job", "create", "-f", "p.yml"]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    let table = ctx.json(&["data", "show", "-n", "cleaned-table@latest"]);
    assert_eq!(table["version"], "7");
    assert_eq!(
        table["content_hash"],
        job["jobs"]["make"]["outputs"]["table"]["content_hash"]
    );
    let report = ctx.json(&["data", "show", "-n", "weekly-report@latest"]);
    assert_eq!(report["version"], "1");
    let stored = std::path::Path::new(report["path"].as_str().unwrap()).join("summary.txt");
    assert_eq!(std::fs::read_to_string(stored).unwrap(), "ok\n");
    // A second run takes the next version of the unversioned output.
    ctx.ok(&[
        "job",
        "create",
        "-f",
        "p.yml",
        "--set",
        "jobs.make.outputs.table.version=8",
    ]);
    assert_eq!(
        ctx.ok(&[
            "data",
            "show",
            "-n",
            "weekly-report@latest",
            "--query",
            "version",
            "-o",
            "tsv"
        ]),
        "2\n"
    );
}

#[test]
fn workspace_is_found_upward_from_the_current_folder() {
    let ctx = TestContext::new();
    ctx.write(
        "p.yml",
        "type: pipeline\njobs:\n  a:\n    command: 'true'\n",
    );
    ctx.ok(&["job", "create", "-f", "p.yml", "--name", "up1"]);
    std::fs::create_dir_all(ctx.root().join("deep/er")).unwrap();
    let out = ctx
        .command(&["job", "show", "-n", "up1", "--query", "status", "-o", "tsv"])
        .current_dir(ctx.root().join("deep/er"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Completed\n");
    // SLUICE_WORKSPACE points elsewhere: that one is used (and it has no such job).
    let other = ctx.root().join("other-ws");
    let out = ctx
        .command(&["job", "list"])
        .env("SLUICE_WORKSPACE", &other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
}
