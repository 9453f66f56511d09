//! Help, version, completions, exit codes and output formats.

use insta::assert_snapshot;

use crate::common::TestContext;

#[test]
fn help_lists_every_command_group() {
    let ctx = TestContext::new();
    assert_snapshot!(ctx.snapshot(&["--help"]));
}

#[test]
fn every_subcommand_has_help() {
    let ctx = TestContext::new();
    for args in [
        &["job", "create", "--help"][..],
        &["job", "show", "--help"],
        &["job", "list", "--help"],
        &["job", "stream", "--help"],
        &["data", "create", "--help"],
        &["data", "show", "--help"],
        &["data", "list", "--help"],
        &["environment", "create", "--help"],
        &["environment", "list", "--help"],
        &["compute", "create", "--help"],
        &["compute", "list", "--help"],
        &["completions", "--help"],
        &["workspace", "create", "--help"],
        &["infra", "plan", "--help"],
        &["infra", "apply", "--help"],
        &["ci", "init", "--help"],
    ] {
        let out = ctx.ok(args);
        assert!(out.contains("Usage: sluice"), "{args:?}: {out}");
    }
}

#[test]
fn version_is_printed() {
    let ctx = TestContext::new();
    let out = ctx.ok(&["--version"]);
    assert_eq!(out.trim(), format!("sluice {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    let ctx = TestContext::new();
    let out = ctx.run(&["job", "create"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--file <FILE>"));
}

#[test]
fn completions_are_generated() {
    let ctx = TestContext::new();
    let out = ctx.ok(&["completions", "bash"]);
    assert!(out.contains("_sluice()"), "{out}");
    assert!(out.contains("create"));
}

#[test]
fn exit_codes_doc_matches_the_binary() {
    let ctx = TestContext::new();
    let rows = ctx.json(&["exit-codes"]);
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/exit-codes.md"
    ))
    .unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 9);
    for row in rows {
        let line = format!(
            "| {} | {} | {} |",
            row["code"],
            row["name"].as_str().unwrap(),
            row["meaning"].as_str().unwrap()
        );
        assert!(doc.contains(&line), "docs/exit-codes.md lacks `{line}`");
    }
    let table_rows = doc
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| code"))
        .count();
    assert_eq!(
        table_rows,
        rows.len(),
        "docs/exit-codes.md lists codes the binary does not have"
    );
}

#[test]
fn output_formats_and_query() {
    let ctx = TestContext::new();
    ctx.ok(&[
        "compute",
        "create",
        "--name",
        "cpu-cluster",
        "--max-instances",
        "2",
    ]);
    ctx.ok(&["compute", "create", "--name", "gpu", "--max-instances", "1"]);
    assert_snapshot!(ctx.snapshot(&["compute", "list", "-o", "table"]));
    assert_eq!(
        ctx.ok(&["compute", "list", "--query", "[].name", "-o", "tsv"]),
        "cpu-cluster\ngpu\n"
    );
    assert_eq!(
        ctx.ok(&[
            "compute",
            "show",
            "-n",
            "gpu",
            "--query",
            "max_instances",
            "-o",
            "tsv"
        ]),
        "1\n"
    );
    let yaml = ctx.ok(&["compute", "show", "-n", "gpu", "-o", "yaml"]);
    assert!(yaml.contains("name: gpu"), "{yaml}");
    assert_eq!(ctx.ok(&["compute", "list", "-o", "none"]), "");
    let bad = ctx.run(&["compute", "list", "--query", "[.name"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid `--query` expression"));
}

#[test]
fn compute_rejects_unknown_types() {
    let ctx = TestContext::new();
    assert_snapshot!(ctx.snapshot(&["compute", "create", "--name", "c", "--type", "kubernetes"]));
}

#[test]
fn reading_commands_do_not_create_a_workspace() {
    let ctx = TestContext::new();
    assert_snapshot!(ctx.snapshot(&["job", "list"]));
    assert!(!ctx.workspace().exists());
}

#[test]
fn no_colour_escape_codes_when_not_a_terminal() {
    let ctx = TestContext::new();
    let mut cmd = ctx.command(&["job", "show", "-n", "nope"]);
    cmd.env_remove("NO_COLOR");
    let out = cmd.output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'));
}

#[test]
fn model_commands_on_an_empty_registry() {
    let ctx = TestContext::new();
    ctx.ok(&["compute", "create", "--name", "c"]);
    assert_eq!(ctx.json(&["model", "list"]), serde_json::json!([]));
    let out = ctx.run(&["model", "show", "-n", "nope"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sluice model list"));
    let out = ctx.run(&[
        "model",
        "alias",
        "set",
        "-n",
        "nope",
        "--alias",
        "champion",
        "--version",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(5));
}

/// A Slurm compute from flags alone: partition, account, quality of service and extra `sbatch`
/// options each land in its settings (the options split as sbatch takes them), and a file's
/// `sluice.slurm` values give way to the flags.
#[test]
fn a_slurm_computes_flags_each_reach_its_settings() {
    let ctx = TestContext::new();
    let made = ctx.json(&[
        "compute",
        "create",
        "--name",
        "hpc",
        "--type",
        "slurm",
        "--partition",
        "debug",
        "--account",
        "research",
        "--qos",
        "high",
        "--sbatch-options",
        "--mem=2G --time=10",
        "-o",
        "json",
    ]);
    let settings = &made["settings"];
    assert_eq!(settings["executor"], "slurm", "{made:#}");
    assert_eq!(settings["partition"], "debug");
    assert_eq!(settings["account"], "research");
    assert_eq!(settings["qos"], "high");
    assert_eq!(
        settings["sbatch_options"],
        serde_json::json!(["--mem=2G", "--time=10"])
    );
    let file = ctx.write(
        "hpc.yml",
        "name: gpu
type: amlcompute
max_instances: 2
sluice:
  slurm:
    partition: gpu
    account: ml
    qos: normal
",
    );
    let overridden = ctx.json(&[
        "compute",
        "create",
        "-f",
        file.to_str().unwrap(),
        "--account",
        "other",
        "-o",
        "json",
    ]);
    let settings = &overridden["settings"];
    assert_eq!(
        (
            &settings["partition"],
            &settings["account"],
            &settings["qos"]
        ),
        (
            &serde_json::json!("gpu"),
            &serde_json::json!("other"),
            &serde_json::json!("normal")
        ),
        "{overridden:#}"
    );
}

#[test]
fn compute_from_azure_yaml_is_idempotent_and_flags_override_it() {
    let ctx = TestContext::new();
    // Azure's cluster example, as published, with a key only Azure uses.
    let file = ctx.write(
        "compute.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\n\
         name: cpu-cluster\ntype: amlcompute\nsize: STANDARD_DS3_v2\nmin_instances: 0\n\
         max_instances: 2\nidle_time_before_scale_down: 120\nlocation: westus\n",
    );
    let f = file.to_str().unwrap();
    let out = ctx.run(&["compute", "create", "-f", f, "-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`location` has no effect"), "{stderr}");
    let row: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row["name"], "cpu-cluster");
    assert_eq!(row["type"], "amlcompute");
    assert_eq!(row["max_instances"], 2);
    assert_eq!(row["size"], "STANDARD_DS3_v2");
    assert_eq!(row["idle_time_before_scale_down"], 120);
    // The same again: nothing changes, not even its times.
    let again = ctx.run(&["compute", "create", "-f", f, "-o", "json"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing changed"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&again.stdout).unwrap(),
        row
    );
    // Flags and --set override the file.
    let bigger = ctx.json(&[
        "compute",
        "create",
        "-f",
        f,
        "--max-instances",
        "4",
        "--set",
        "tier=low_priority",
        "-o",
        "json",
    ]);
    assert_eq!(bigger["max_instances"], 4);
    assert_eq!(bigger["tier"], "low_priority");
    assert_eq!(bigger["created_at"], row["created_at"]);
    // Audited: made, then changed (with what it was); the unchanged create wrote nothing.
    let audit = ctx.json(&["audit", "list", "-o", "json"]);
    let entries: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "compute/cpu-cluster")
        .collect();
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["compute.create", "compute.update"], "{audit:#}");
    assert_eq!(entries[1]["before"]["max_instances"], 2);
    assert_eq!(entries[1]["after"]["max_instances"], 4);
    // Filtered on the way out: by action (and those under it), time, and page.
    let seqs = |args: &[&str]| -> Vec<i64> {
        let mut all = vec!["audit", "list", "-o", "json"];
        all.extend_from_slice(args);
        ctx.json(&all)
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(seqs(&["--action", "compute"]).len(), 2);
    assert_eq!(seqs(&["--action", "compute.update"]).len(), 1);
    assert!(seqs(&["--action", "comp"]).is_empty(), "whole words only");
    assert_eq!(seqs(&["--since", "2000-01-01"]).len(), 2);
    assert!(seqs(&["--until", "2000-01-01T00:00:00Z"]).is_empty());
    let newest = *seqs(&[]).last().unwrap();
    assert_eq!(seqs(&["--before-seq", &newest.to_string()]), [newest - 1]);
    let out = ctx.run(&["audit", "list", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a time"));
    // A mistake in the file points at its line.
    let bad = ctx.write("bad.yml", "name: c\nmin_instances: 3\nmax_instances: 2\n");
    let out = ctx.run(&["compute", "create", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yml:3:") && err.contains("min_instances"),
        "{err}"
    );
    let out = ctx.run(&["compute", "create"]);
    assert_eq!(out.status.code(), Some(2), "neither a file nor a name");
}
