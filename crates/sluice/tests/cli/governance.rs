//! Governance from the command line: tokens, policies, four-eyes approvals, promotion, the
//! audit log and lineage, on the taxi-fare example.

use std::process::Output;

use insta::assert_snapshot;
use serde_json::Value;

use crate::common::TestContext;

/// Runs `sluice` acting as `token` (through `SLUICE_TOKEN`).
fn run_as(ctx: &TestContext, token: &str, args: &[&str]) -> Output {
    ctx.command(args)
        .env("SLUICE_TOKEN", token)
        .output()
        .expect("run sluice")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok_as(ctx: &TestContext, token: &str, args: &[&str]) -> Value {
    let out = run_as(ctx, token, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Creates a token as the local user (owner) and returns its plaintext.
fn token(ctx: &TestContext, name: &str, role: &str) -> String {
    let v = ctx.json(&["token", "create", "--name", name, "--role", role]);
    v["token"].as_str().expect("token").to_owned()
}

/// The secret part of a token (what must never be printed again).
fn secret(token: &str) -> &str {
    token.rsplit_once('_').expect("secret").1
}

const POLICY_STRICT: &str = "\
gate:
  metric: test_r2
  direction: higher
  min: 0.999
approvals:
  required: 1
";

#[test]
fn four_eyes_gate_audit_and_lineage_on_the_example() {
    let ctx = TestContext::on_test_store();
    let example = ctx.copy_example("taxi-fare");
    // Each step runs in a copy of its component's folder, and the project is a git repository:
    // lineage names the code's hash and commit.
    for component in ["prep", "train", "evaluate", "register"] {
        let path = example.join(format!("components/{component}.yml"));
        let yaml = std::fs::read_to_string(&path).expect("component");
        std::fs::write(&path, format!("{yaml}\ncode: .\n")).expect("write");
    }
    ctx.write(".gitignore", ".sluice/\n");
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(ctx.root())
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "example"]);
    ctx.json(&["data", "create", "-f", "taxi-fare/data.yml"]);
    let olga = token(&ctx, "olga", "owner");
    let rita = token(&ctx, "rita", "reader");
    let mut outputs = Vec::new();

    // The job runs as the local user `tester`, who therefore creates version 1.
    let job = ctx.json(&[
        "job",
        "create",
        "-f",
        "taxi-fare/pipeline.yml",
        "--set",
        "inputs.raw_data=azureml:taxi-data:1",
    ]);
    let job_name = job["name"].as_str().expect("job name").to_owned();
    let v = ctx.json(&["model", "show", "-n", "taxi-fare-model:1"]);
    assert_eq!(v["created_by"], "tester");

    ctx.write("strict.yml", POLICY_STRICT);
    ctx.write("bad.yml", "gate:\n  metric: test_r2\n  threshold: 3\n");
    assert_snapshot!(ctx.snapshot(&["model", "policy", "set", "-n", "taxi-fare-model", "-f", "bad.yml"]), @r"
    success: false
    exit_code: 3
    ----- stdout -----
    ----- stderr -----
    error: bad.yml:1:1: not a valid policy: unknown field `threshold`, expected one of `metric`, `direction`, `min`, `max`, `min_improvement`
      × not a valid policy: unknown field `threshold`, expected one of `metric`, `direction`, `min`, `max`, `min_improvement`
    ");
    // Only owners set policies.
    let out = run_as(
        &ctx,
        &rita,
        &[
            "model",
            "policy",
            "set",
            "-n",
            "taxi-fare-model",
            "-f",
            "taxi-fare/policy.yml",
        ],
    );
    assert_eq!(out.status.code(), Some(12), "{}", text(&out));
    ctx.ok(&[
        "model",
        "policy",
        "set",
        "-n",
        "taxi-fare-model",
        "-f",
        "strict.yml",
    ]);

    // The creator cannot approve their own version.
    assert_snapshot!(ctx.snapshot(&["model", "approve", "-n", "taxi-fare-model", "--version", "1"]), @r"
    success: false
    exit_code: 12
    ----- stdout -----
    ----- stderr -----
    error: `tester` created version 1 of model `taxi-fare-model` and cannot approve it: an approver must be someone else
      hint: see the model's rules with `sluice model status -n NAME`, or act with another token (`SLUICE_TOKEN`)
    ");
    // Nor can a reader.
    let out = run_as(
        &ctx,
        &rita,
        &[
            "model",
            "approve",
            "-n",
            "taxi-fare-model",
            "--version",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(12), "{}", text(&out));
    outputs.push(out);

    // Without an approval and below the threshold, promotion is refused, naming the numbers.
    let out = ctx.run(&[
        "model",
        "promote",
        "-n",
        "taxi-fare-model",
        "--version",
        "1",
        "--alias",
        "champion",
    ]);
    assert_eq!(out.status.code(), Some(12));
    let msg = String::from_utf8_lossy(&out.stderr).into_owned();
    let re = regex::Regex::new(
        r"metric `test_r2` of version 1 is 0\.\d+, below the threshold min 0\.999",
    )
    .expect("regex");
    assert!(re.is_match(&msg), "{msg}");
    assert!(
        msg.contains(
            "version 1 has 0 of the 1 approval(s) it needs from someone other than its creator"
        ),
        "{msg}"
    );
    // `model alias set` is the same path.
    let out = ctx.run(&[
        "model",
        "alias",
        "set",
        "-n",
        "taxi-fare-model",
        "-a",
        "champion",
        "-v",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(12));

    let approval = ok_as(
        &ctx,
        &olga,
        &[
            "model",
            "approve",
            "-n",
            "taxi-fare-model",
            "--version",
            "1",
            "--comment",
            "four eyes",
        ],
    );
    assert_eq!(approval["approver"], "olga");
    let out = run_as(
        &ctx,
        &olga,
        &[
            "model",
            "promote",
            "-n",
            "taxi-fare-model",
            "--version",
            "1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(12),
        "still below the threshold: {}",
        text(&out)
    );
    ctx.ok(&[
        "model",
        "policy",
        "set",
        "-n",
        "taxi-fare-model",
        "-f",
        "taxi-fare/policy.yml",
    ]);
    let promoted = ok_as(
        &ctx,
        &olga,
        &[
            "model",
            "promote",
            "-n",
            "taxi-fare-model",
            "--version",
            "1",
        ],
    );
    assert_eq!(promoted["aliases"], serde_json::json!(["champion"]));

    let status = ctx.json(&["model", "status", "-n", "taxi-fare-model"]);
    assert_eq!(status["aliases"]["champion"], "1");
    assert_eq!(status["versions"][0]["gate"]["passed"], true);
    assert_eq!(status["versions"][0]["approvals"][0]["approver"], "olga");
    let shown = ctx.json(&["model", "policy", "show", "-n", "taxi-fare-model"]);
    assert_eq!(shown["policy"]["gate"]["min"], 0.9);

    // Lineage: the data version and its hash, the job and step, the runs with metrics.
    let lineage = ctx.json(&[
        "model",
        "lineage",
        "-n",
        "taxi-fare-model",
        "--version",
        "1",
    ]);
    assert_eq!(lineage["job"]["name"], job_name.as_str());
    assert_eq!(lineage["step"], "register_model");
    let data = &lineage["data"][0];
    assert_eq!(
        (data["asset"].as_str(), data["version"].as_str()),
        (Some("taxi-data"), Some("1"))
    );
    assert!(
        data["content_hash"]
            .as_str()
            .unwrap_or_default()
            .starts_with("blake3:")
    );
    let evaluate = lineage["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["step"] == "evaluate_model")
        .expect("evaluate run");
    assert!(evaluate["metrics"]["test_r2"].as_f64().is_some());
    assert_eq!(lineage["approvals"][0]["approver"], "olga");
    let code = &lineage["steps"][0]["code"];
    assert!(
        code["hash"]
            .as_str()
            .unwrap_or_default()
            .starts_with("blake3:"),
        "{code}"
    );
    assert_eq!(
        code["git_commit"].as_str().map(str::len),
        Some(40),
        "{code}"
    );
    assert_eq!(code["git_dirty"], false, "{code}");
    assert_eq!(lineage["alias_history"][0]["alias"], "champion");
    let reverse = ctx.json(&["data", "lineage", "-n", "taxi-data", "--version", "1"]);
    assert_eq!(reverse["jobs"][0], job_name.as_str());
    assert_eq!(reverse["model_versions"][0]["name"], "taxi-fare-model");

    // The audit log has it all, intact, with no secret in it.
    let audit = ctx.json(&["audit", "list", "--model", "taxi-fare-model"]);
    let actions: Vec<&str> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "model.create",
            "version.create",
            "policy.set",
            "version.approve",
            "policy.set",
            "alias.set"
        ]
    );
    let all = ctx.run(&["audit", "list", "-o", "json"]);
    assert!(String::from_utf8_lossy(&all.stdout).contains("job.create"));
    outputs.push(all);
    assert!(ctx.run(&["audit", "verify"]).status.success());
    outputs.push(ctx.run(&["token", "list", "--all", "-o", "json"]));
    outputs.push(ctx.run(&["token", "list", "-o", "yaml"]));
    for out in &outputs {
        for t in [&olga, &rita] {
            assert!(
                !text(out).contains(secret(t)),
                "a token's secret was printed:\n{}",
                text(out)
            );
        }
    }
}

#[test]
fn tokens_are_shown_once_and_stop_working_when_revoked() {
    let ctx = TestContext::new();
    let out = ctx.run(&[
        "token",
        "create",
        "--name",
        "ci",
        "--role",
        "contributor",
        "--expires",
        "30",
    ]);
    assert!(out.status.success());
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    let ci = created["token"].as_str().expect("token").to_owned();
    assert!(String::from_utf8_lossy(&out.stderr).contains("only time it is shown"));
    assert!(created["expires_at"].is_string());
    let list = ctx.ok(&["token", "list"]);
    assert!(
        list.contains("\"ci\"") && !list.contains(secret(&ci)) && !list.contains("hash"),
        "{list}"
    );
    // A contributor cannot manage tokens.
    let out = run_as(
        &ctx,
        &ci,
        &["token", "create", "--name", "x", "--role", "owner"],
    );
    assert_eq!(out.status.code(), Some(12), "{}", text(&out));
    assert!(
        text(&out).contains("`ci` has the contributor role; creating a token needs the owner role")
    );
    let out = ctx.run(&["token", "create", "--name", "ci", "--role", "reader"]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "names are unique among live tokens"
    );
    let out = ctx.run(&["token", "create", "--name", "x", "--role", "admin"]);
    assert_eq!(out.status.code(), Some(2));
    ctx.ok(&["token", "revoke", "-n", "ci"]);
    assert_snapshot!(ctx.filter(&text(&run_as(&ctx, &ci, &["model", "list"]))), @r"
    error: `SLUICE_TOKEN` / `--token`: invalid, revoked or expired token
      hint: create a token with `sluice token create` (as an owner), or unset `SLUICE_TOKEN` to act as the local user
    ");
    assert_eq!(
        run_as(&ctx, "garbage", &["audit", "list"]).status.code(),
        Some(12)
    );
}

#[test]
fn audit_verify_catches_an_edited_and_a_deleted_row() {
    for (case, sql) in [
        (
            "edited",
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
        ),
        ("deleted", "DELETE FROM audit_log WHERE seq = 2"),
        ("last deleted", "DELETE FROM audit_log WHERE seq = 3"),
    ] {
        let ctx = TestContext::new();
        for name in ["a", "b", "c"] {
            token(&ctx, name, "reader");
        }
        let report = ctx.json(&["audit", "verify"]);
        assert_eq!(
            (report["ok"].as_bool(), report["entries"].as_i64()),
            (Some(true), Some(3))
        );
        let db = rusqlite::Connection::open(ctx.workspace().join("sluice.db")).expect("db");
        db.execute(sql, []).expect(case);
        drop(db);
        let out = ctx.run(&["audit", "verify"]);
        assert_eq!(out.status.code(), Some(13), "{case}: {}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(report["ok"], false, "{case}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let expected = match case {
            "edited" => "entry 2 was modified",
            "deleted" => "entries 2 to 2 are missing",
            _ => "the newest entries were deleted",
        };
        assert!(stderr.contains(expected), "{case}: {stderr}");
    }
}

#[test]
fn a_public_server_needs_a_token_to_exist() {
    let ctx = TestContext::new();
    assert_snapshot!(ctx.snapshot(&["server", "--host", "0.0.0.0", "--port", "0"]), @r"
    success: false
    exit_code: 2
    ----- stdout -----
    ----- stderr -----
    Created a new workspace at [TEMP]/.sluice
    error: `--host 0.0.0.0` is not a loopback address, so authentication is on, but the workspace has no tokens
      hint: create one first with `sluice token create --name NAME --role owner`, or pass `--insecure-no-auth` to serve without authentication
    ");
}
