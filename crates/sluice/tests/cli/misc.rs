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
