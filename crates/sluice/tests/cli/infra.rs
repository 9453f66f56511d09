//! `sluice infra validate|plan|apply` and `sluice workspace create|show|list`: a workspace
//! declared in an Azure ML `config-infra-*.yml`, made so idempotently.

use serde_json::Value;

use crate::common::TestContext;

/// The variables block as the Azure ML templates write it (Azure DevOps variables that
/// refer to each other), with Sluice's block for what a workspace holds beyond a cluster.
fn config(max_nodes: u32) -> String {
    format!(
        r"# Dev environment
variables:
  ap_vm_image: ubuntu-20.04
  namespace: taxi   # a short namespace
  postfix: 0659
  location: westeurope
  environment: dev
  enable_aml_computecluster: true
  enable_monitoring: false
  training_target: cpu-cluster
  training_target_sku: STANDARD_DS3_v2
  training_target_min_nodes: 0
  training_target_max_nodes: {max_nodes}
  resource_group: rg-$(namespace)-$(postfix)$(environment)
  aml_workspace: mlw-$(namespace)-$(postfix)$(environment)

sluice:
  computes:
    - name: hpc
      type: slurm
      max_instances: 3
      sluice:
        slurm:
          partition: debug
  environments:
    - file: env/train-env.yml
  data:
    - file: data/data.yml
  datastores:
    - file: blob.yml
  tokens:
    - name: ci-$(environment)
      role: contributor
  policies:
    - model: taxi-fare-model
      file: policy.yml
"
    )
}

fn project(ctx: &TestContext) {
    ctx.write("config-infra-dev.yml", &config(2));
    ctx.write(
        "env/train-env.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\nname: taxi-train-env\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\nconda_file: ./conda.yml\n",
    );
    ctx.write(
        "env/conda.yml",
        "name: train\ndependencies:\n  - python=3.11\n  - pip:\n    - scikit-learn==1.5.0\n",
    );
    ctx.write(
        "data/data.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\nname: taxi-data\ntype: uri_file\npath: ./taxi.csv\n",
    );
    ctx.write("data/taxi.csv", "fare,km\n7.5,2.1\n12.0,4.8\n");
    ctx.write(
        "blob.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json\nname: rawblob\ntype: azure_blob\naccount_name: taxistore\ncontainer_name: raw\n",
    );
    ctx.write(
        "policy.yml",
        "gate:\n  metric: test_r2\n  direction: higher\n  min: 0.9\napprovals:\n  required: 1\n",
    );
}

fn ws_path(ctx: &TestContext) -> std::path::PathBuf {
    ctx.root().join(".sluice-workspaces/mlw-taxi-0659dev")
}

/// `sluice ARGS` on the declared workspace, as JSON.
fn on_ws(ctx: &TestContext, args: &[&str]) -> Value {
    let ws = ws_path(ctx);
    let mut all = vec!["--workspace", ws.to_str().unwrap()];
    all.extend_from_slice(args);
    ctx.json(&all)
}

/// The project applied once; the audit log's length then.
fn applied(ctx: &TestContext) -> usize {
    ctx.ok(&[
        "infra",
        "apply",
        "-f",
        "config-infra-dev.yml",
        "--secrets-file",
        "s.json",
    ]);
    audit_len(ctx)
}

/// A plan's items as (kind, name), those with `action` only if given.
fn planned(plan: &Value, action: Option<&str>) -> Vec<(String, String)> {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| action.is_none_or(|a| i["action"] == a))
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_owned(),
                i["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn audit_len(ctx: &TestContext) -> usize {
    on_ws(ctx, &["audit", "list", "-o", "json"])
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn apply_makes_the_declared_workspace_and_a_second_apply_changes_nothing() {
    let ctx = TestContext::new();
    project(&ctx);
    let valid = ctx.json(&["infra", "validate", "-f", "config-infra-dev.yml"]);
    assert_eq!(valid["workspace"], "mlw-taxi-0659dev");
    assert_eq!(
        valid["variables"]["postfix"], "0659",
        "values are text, as written"
    );
    assert_eq!(valid["variables"]["resource_group"], "rg-taxi-0659dev");

    // Nothing exists yet: everything is to create, and planning creates nothing.
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    assert_eq!(plan["to_create"], 8, "{plan:#}");
    assert_eq!(plan["to_update"], 0);
    assert!(!ws_path(&ctx).exists(), "plan made the workspace");
    let kinds = planned(&plan, None);
    let k = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        kinds,
        vec![
            k("workspace", "mlw-taxi-0659dev"),
            k("compute", "cpu-cluster"),
            k("compute", "hpc"),
            k("datastore", "rawblob"),
            k("environment", "taxi-train-env"),
            k("data", "taxi-data"),
            k("token", "ci-dev"),
            k("policy", "taxi-fare-model"),
        ]
    );

    let out = ctx.run(&[
        "infra",
        "apply",
        "-f",
        "config-infra-dev.yml",
        "--secrets-file",
        "secrets.json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = ws_path(&ctx).display().to_string();
    assert_eq!(info["name"], "mlw-taxi-0659dev");
    assert_eq!(info["path"], path.as_str());
    assert_eq!(info["env"]["SLUICE_WORKSPACE"], path.as_str());
    assert_eq!(info["tags"]["resource_group"], "rg-taxi-0659dev");
    assert!(info["secrets"].is_null(), "secrets went to the file");
    let secrets: Value =
        serde_json::from_str(&std::fs::read_to_string(ctx.root().join("secrets.json")).unwrap())
            .unwrap();
    assert!(secrets["ci-dev"].as_str().unwrap().starts_with("slu_"));

    // What the workspace holds now, read by the ordinary commands.
    let cluster = on_ws(&ctx, &["compute", "show", "-n", "cpu-cluster"]);
    assert_eq!(
        (
            cluster["size"].as_str(),
            cluster["max_instances"].as_i64(),
            cluster["type"].as_str()
        ),
        (Some("STANDARD_DS3_v2"), Some(2), Some("amlcompute"))
    );
    assert_eq!(
        on_ws(&ctx, &["compute", "show", "-n", "hpc"])["settings"]["partition"],
        "debug"
    );
    assert_eq!(
        on_ws(&ctx, &["data", "show", "-n", "taxi-data"])["version"],
        "1"
    );
    assert_eq!(
        on_ws(&ctx, &["environment", "show", "-n", "taxi-train-env"])["version"],
        "1"
    );
    assert_eq!(
        on_ws(&ctx, &["datastore", "show", "-n", "rawblob"])["type"],
        "azure_blob"
    );
    assert_eq!(
        on_ws(&ctx, &["model", "policy", "show", "-n", "taxi-fare-model"])["policy"]["gate"]["metric"],
        "test_r2"
    );
    let tokens = on_ws(&ctx, &["token", "list"]);
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "ci-dev" && t["role"] == "contributor"),
        "{tokens:#}"
    );
    let audited = audit_len(&ctx);
    assert!(audited >= 7, "every change is audited: {audited}");
    let before = std::fs::read_to_string(ws_path(&ctx).join("workspace.json")).unwrap();
    let cluster_created = cluster["created_at"].clone();
    // Everything the file declares, as the workspace shows it (times included).
    let declared = || -> Vec<Value> {
        [
            &["compute", "list", "-o", "json"][..],
            &["data", "list", "-o", "json"],
            &["environment", "list", "-o", "json"],
            &["datastore", "list", "-o", "json"],
            &["token", "list", "-o", "json"],
            &["model", "list", "-o", "json"],
            &[
                "model",
                "policy",
                "show",
                "-n",
                "taxi-fare-model",
                "-o",
                "json",
            ],
        ]
        .iter()
        .map(|args| on_ws(&ctx, args))
        .collect()
    };
    let state = declared();
    assert!(
        state.iter().any(|v| v.to_string().contains("created_at")),
        "the state shown holds times: {state:#?}"
    );

    // The second apply: nothing to do, nothing written, no secret made again.
    let out = ctx.run(&["infra", "apply", "-f", "config-infra-dev.yml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Plan: nothing to do (8 unchanged)."),
        "{stderr}"
    );
    assert!(stderr.contains("Nothing to do"), "{stderr}");
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(info["secrets"].is_null());
    assert_eq!(
        audit_len(&ctx),
        audited,
        "the second apply audited something"
    );
    assert_eq!(
        std::fs::read_to_string(ws_path(&ctx).join("workspace.json")).unwrap(),
        before
    );
    assert_eq!(
        on_ws(&ctx, &["compute", "show", "-n", "cpu-cluster"])["created_at"],
        cluster_created
    );
    assert_eq!(
        declared(),
        state,
        "no declared thing changed, its times included"
    );
    assert_eq!(
        on_ws(&ctx, &["data", "list", "-n", "taxi-data", "-o", "json"])
            .as_array()
            .unwrap()
            .len(),
        1,
        "no second data version"
    );
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    assert_eq!(
        (plan["to_create"].as_u64(), plan["to_update"].as_u64()),
        (Some(0), Some(0))
    );
}

/// What the workspace holds and the file no longer declares: listed and kept by default;
/// with `--prune`, the compute and the datastore deleted and the token revoked, each audited,
/// and a second `apply --prune` finds nothing to do.
#[test]
fn what_the_file_no_longer_declares_is_kept_unless_pruned() {
    let ctx = TestContext::new();
    project(&ctx);
    applied(&ctx);
    let full = config(2);
    let trimmed = full
        .replace(
            "  computes:\n    - name: hpc\n      type: slurm\n      max_instances: 3\n      sluice:\n        slurm:\n          partition: debug\n",
            "",
        )
        .replace("  datastores:\n    - file: blob.yml\n", "")
        .replace(
            "  tokens:\n    - name: ci-$(environment)\n      role: contributor\n",
            "",
        );
    for gone in ["hpc", "blob.yml", "tokens:"] {
        assert!(
            !trimmed.contains(gone),
            "{gone} is still declared:\n{trimmed}"
        );
    }
    ctx.write("config-infra-dev.yml", &trimmed);
    let listed = |plan: &Value, action: &str| planned(plan, Some(action));
    let k = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    let extra = vec![
        k("compute", "hpc"),
        k("datastore", "rawblob"),
        k("token", "ci-dev"),
    ];

    // Listed and kept: nothing to do, nothing audited, all still there.
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    assert_eq!(listed(&plan, "undeclared"), extra, "{plan:#}");
    assert_eq!(
        (plan["to_delete"].clone(), plan["undeclared"].clone()),
        (0.into(), 3.into())
    );
    let audited = audit_len(&ctx);
    let out = ctx.run(&["infra", "apply", "-f", "config-infra-dev.yml", "-o", "none"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("! compute hpc (not in the file; kept: `apply --prune` removes it)"),
        "{said}"
    );
    assert!(said.contains("Nothing to do"), "{said}");
    assert_eq!(audit_len(&ctx), audited);
    assert_eq!(
        on_ws(&ctx, &["compute", "show", "-n", "hpc"])["name"],
        "hpc"
    );

    // Pruned: planned as deletions, then deleted, each audited.
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml", "--prune"]);
    assert_eq!(listed(&plan, "delete"), extra, "{plan:#}");
    let out = ctx.run(&[
        "infra",
        "apply",
        "-f",
        "config-infra-dev.yml",
        "--prune",
        "-o",
        "none",
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("- datastore rawblob (not in the file)"),
        "{said}"
    );
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(on_ws(&ctx, &["compute", "list"])),
        vec!["cpu-cluster"]
    );
    assert!(names(on_ws(&ctx, &["datastore", "list"])).is_empty());
    assert!(
        !names(on_ws(&ctx, &["token", "list"])).contains(&"ci-dev".to_owned()),
        "the token was not revoked"
    );
    let audit = on_ws(&ctx, &["audit", "list", "-o", "json"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "infra.compute.delete",
        "infra.datastore.delete",
        "token.revoke",
    ] {
        assert!(actions.contains(&want), "no {want}: {actions:?}");
    }
    assert_eq!(audit_len(&ctx), audited + 3);

    // Nothing left to prune.
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml", "--prune"]);
    assert!(listed(&plan, "delete").is_empty(), "{plan:#}");
    ctx.ok(&["infra", "apply", "-f", "config-infra-dev.yml", "--prune"]);
    assert_eq!(audit_len(&ctx), audited + 3);
}

#[test]
fn a_changed_sizing_is_exactly_the_planned_change() {
    let ctx = TestContext::new();
    project(&ctx);
    let audited = applied(&ctx);
    ctx.write("config-infra-dev.yml", &config(6));
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    let changed: Vec<&Value> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] != "unchanged")
        .collect();
    assert_eq!(changed.len(), 1, "{plan:#}");
    assert_eq!(changed[0]["kind"], "compute");
    assert_eq!(changed[0]["name"], "cpu-cluster");
    assert_eq!(changed[0]["action"], "update");
    assert_eq!(
        changed[0]["changes"],
        serde_json::json!([{"field": "max_instances", "from": 2, "to": 6}])
    );
    let out = ctx.run(&["infra", "plan", "-f", "config-infra-dev.yml", "-o", "none"]);
    let diff = String::from_utf8_lossy(&out.stderr);
    assert!(
        diff.contains("~ compute cpu-cluster\n    max_instances: 2 -> 6\n"),
        "{diff}"
    );
    assert!(
        diff.contains("Plan: 0 to create, 1 to update, 7 unchanged."),
        "{diff}"
    );
    ctx.ok(&["infra", "apply", "-f", "config-infra-dev.yml"]);
    assert_eq!(
        on_ws(&ctx, &["compute", "show", "-n", "cpu-cluster"])["max_instances"],
        6
    );
    let audit = on_ws(&ctx, &["audit", "list", "-o", "json"]);
    assert_eq!(audit.as_array().unwrap().len(), audited + 1);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "infra.compute.update"),
        "{audit:#}"
    );
}

#[test]
fn an_invalid_config_is_a_located_error_and_changes_nothing() {
    let ctx = TestContext::new();
    project(&ctx);
    let audited = applied(&ctx);
    let broken = config(6).replace(
        "aml_workspace: mlw-$(namespace)",
        "aml_workspace: mlw-$(namspace)",
    );
    ctx.write("config-infra-dev.yml", &broken);
    for verb in ["validate", "plan", "apply"] {
        let out = ctx.run(&["infra", verb, "-f", "config-infra-dev.yml"]);
        assert_eq!(out.status.code(), Some(3), "{verb}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("config-infra-dev.yml:15:18"),
            "{verb}: {stderr}"
        );
        assert!(stderr.contains("did you mean `$(namespace)`?"), "{stderr}");
    }
    // A file it names is checked with its own located error.
    ctx.write("config-infra-dev.yml", &config(6));
    ctx.write("blob.yml", "name: rawblob\ntype: azure_blobb\n");
    let out = ctx.run(&["infra", "apply", "-f", "config-infra-dev.yml"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("blob.yml:2:7"));
    assert_eq!(
        on_ws(&ctx, &["compute", "show", "-n", "cpu-cluster"])["max_instances"],
        2,
        "nothing was applied"
    );
    assert_eq!(audit_len(&ctx), audited);
}

#[test]
fn the_smoke_test_runs_a_job_on_each_compute_and_fails_on_a_broken_one() {
    let ctx = TestContext::new();
    ctx.write(
        "infra.yml",
        "variables:\n  namespace: smoke\n  environment: ci\n  enable_aml_computecluster: true\n",
    );
    let info = ctx.json(&["infra", "apply", "-f", "infra.yml", "--smoke-test"]);
    assert_eq!(info["name"], "mlw-smoke-ci");
    assert_eq!(info["smoke_test"]["cpu-cluster"]["status"], "Completed");
    // A Slurm compute on a partition no cluster has (or no Slurm here at all) cannot run it.
    ctx.write(
        "infra.yml",
        "variables:\n  namespace: smoke\n  environment: ci\n  enable_aml_computecluster: true\nsluice:\n  computes:\n    - {name: broken, type: slurm, sluice: {slurm: {partition: no-such-partition}}}\n",
    );
    // The test cluster (which has no such partition) when there is one, else a Slurm
    // configuration naming no cluster (refused at once; a missing file makes sbatch retry).
    let conf = std::env::var("SLUICE_TEST_SLURM")
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| ctx.write("empty-slurm.conf", "").display().to_string());
    let out = ctx
        .command(&["infra", "apply", "-f", "infra.yml", "--smoke-test"])
        .env("SLURM_CONF", conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the smoke test failed on `broken`"),
        "{stderr}"
    );
    assert!(!stderr.contains("failed on `cpu-cluster`"), "{stderr}");
}

#[test]
fn a_dev_and_prod_pair_make_two_workspaces_and_a_template_file_works_unchanged() {
    let ctx = TestContext::new();
    // As the templates ship it: no `sluice:` block, comments, DevOps-only variables.
    let template = |env: &str| {
        format!(
            "# {env} environment\nvariables:\n\n  # Global\n  ap_vm_image: ubuntu-20.04\n\n  namespace: mlopsv2 #Note: keep it short\n  postfix: 0659\n  location: westus\n  environment: {env}\n  enable_aml_computecluster: true\n  enable_monitoring: false\n\n  # Azure DevOps\n  ado_service_connection_rg: Azure-ARM-Dev\n  ado_service_connection_aml_ws: Azure-ARM-Dev\n\n  # For pipeline reference\n  resource_group: rg-$(namespace)-$(postfix)$(environment)\n  aml_workspace: mlw-$(namespace)-$(postfix)$(environment)\n  application_insights: mlw-$(namespace)-$(postfix)$(environment)\n  key_vault: kv-$(namespace)-$(postfix)$(environment)\n  container_registry: cr$(namespace)$(postfix)$(environment)\n  storage_account: st$(namespace)$(postfix)$(environment)\n\n  # For terraform reference\n  terraform_version: 0.14.7\n  terraform_workingdir: infrastructure/terraform\n  terraform_st_resource_group: rg-$(namespace)-$(postfix)$(environment)-tf\n  terraform_st_storage_account: st$(namespace)$(postfix)$(environment)tf\n"
        )
    };
    ctx.write("config-infra-dev.yml", &template("dev"));
    ctx.write("config-infra-prod.yml", &template("prod"));
    let dev = ctx.json(&["infra", "apply", "-f", "config-infra-dev.yml"]);
    let prod = ctx.json(&["infra", "apply", "-f", "config-infra-prod.yml"]);
    assert_eq!(dev["name"], "mlw-mlopsv2-0659dev");
    assert_eq!(prod["name"], "mlw-mlopsv2-0659prod");
    assert_ne!(dev["path"], prod["path"]);
    assert_eq!(dev["computes"], serde_json::json!(["cpu-cluster"]));
    // `workspace list` finds both beside the files; `workspace show` reads one.
    let listed = ctx.json(&["workspace", "list"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mlw-mlopsv2-0659dev", "mlw-mlopsv2-0659prod"]);
    let shown = ctx.json(&[
        "workspace",
        "show",
        "--workspace",
        prod["path"].as_str().unwrap(),
    ]);
    assert_eq!(shown["name"], "mlw-mlopsv2-0659prod");
    assert_eq!(shown["tags"]["environment"], "prod");
    assert_eq!(shown["computes"], serde_json::json!(["cpu-cluster"]));
}

#[test]
fn workspace_create_is_idempotent_with_exist_ok() {
    let ctx = TestContext::new();
    let made = ctx.json(&[
        "workspace",
        "create",
        "--name",
        "team",
        "--tags",
        "environment=dev",
    ]);
    assert_eq!(made["name"], "team");
    assert_eq!(made["path"], ctx.workspace().display().to_string());
    let out = ctx.run(&["workspace", "create", "--name", "team"]);
    assert_eq!(out.status.code(), Some(6), "exists");
    let out = ctx.run(&["workspace", "create", "--name", "team", "--exist-ok"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing changed"));
    // The other commands find it as any workspace.
    ctx.ok(&["compute", "create", "--name", "c1", "--type", "amlcompute"]);
    let shown = ctx.json(&["workspace", "show"]);
    assert_eq!(shown["name"], "team");
    assert_eq!(shown["tags"]["environment"], "dev");
    assert_eq!(shown["computes"], serde_json::json!(["c1"]));
}

/// `--shared-path` names the folder cluster nodes share: `show` says it, a job's step folders,
/// local inputs and outputs go there, and another shared path for the same workspace is
/// refused (what is on the first would stay behind).
#[test]
fn a_workspace_with_a_shared_path_runs_its_steps_off_it() {
    let ctx = TestContext::new();
    let share = ctx.root().join("share");
    let made = ctx.json(&[
        "workspace",
        "create",
        "--name",
        "team",
        "--shared-path",
        share.to_str().unwrap(),
    ]);
    assert_eq!(made["shared"], share.display().to_string());
    assert_eq!(
        ctx.json(&["workspace", "show"])["shared"],
        share.display().to_string()
    );
    let out = ctx.run(&[
        "workspace",
        "create",
        "--name",
        "team",
        "--exist-ok",
        "--shared-path",
        ctx.root().join("elsewhere").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keeps its shared path at"), "{err}");

    ctx.write("in/rows.csv", "a\n1\n");
    ctx.write(
        "job.yml",
        "type: command\ncommand: cat ${{inputs.rows}} > ${{outputs.out}}/copy.csv && pwd\ninputs:\n  rows:\n    type: uri_file\n    path: ./in/rows.csv\noutputs:\n  out:\n    type: uri_folder\n",
    );
    let job = ctx.json(&[
        "job", "create", "-f", "job.yml", "--name", "on-share", "-o", "json",
    ]);
    assert_eq!(job["status"], "Completed", "{job:#}");
    let step = job["jobs"]
        .as_object()
        .and_then(|j| j.values().next())
        .cloned()
        .unwrap();
    let command = step["command"].as_str().unwrap();
    let copy = share.join("inputs");
    assert!(command.contains(&copy.display().to_string()), "{command}");
    assert!(
        !command.contains(&ctx.workspace().display().to_string()),
        "{command}"
    );
    let log = std::fs::read_to_string(step["log_path"].as_str().unwrap()).unwrap();
    assert!(
        log.contains(&share.join("jobs").join("on-share").display().to_string()),
        "ran in its code copy on the shared path:\n{log}"
    );
    let out = std::path::PathBuf::from(step["outputs"]["out"]["path"].as_str().unwrap());
    assert!(
        out.starts_with(share.join("jobs").join("on-share")),
        "{}",
        out.display()
    );
    assert_eq!(
        std::fs::read_to_string(out.join("copy.csv")).unwrap(),
        "a\n1\n"
    );
    assert!(!ctx.workspace().join("jobs").exists());

    // The shared folder gone from this machine (a mount not there): every command says so
    // (exit 10) and makes nothing; back in place, all is as it was.
    let away = ctx.root().join("share-unmounted");
    std::fs::rename(&share, &away).unwrap();
    let out = ctx.run(&["job", "show", "-n", "on-share"]);
    assert_eq!(out.status.code(), Some(10), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&share.display().to_string()) && err.contains("not a folder on this machine"),
        "{err}"
    );
    assert!(
        !share.exists(),
        "nothing made in place of the shared folder"
    );
    // An empty folder in its place (a mount point with nothing mounted): the same, saying so.
    std::fs::create_dir(&share).unwrap();
    let out = ctx.run(&["job", "show", "-n", "on-share"]);
    assert_eq!(out.status.code(), Some(10), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not mounted"), "{err}");
    assert_eq!(
        std::fs::read_dir(&share).unwrap().count(),
        0,
        "nothing written"
    );
    std::fs::remove_dir(&share).unwrap();
    std::fs::rename(&away, &share).unwrap();
    assert_eq!(
        ctx.json(&["job", "show", "-n", "on-share"])["status"],
        "Completed"
    );
}

/// `shared:` under `sluice.workspace` (relative to the file) becomes the workspace's shared
/// path; a second apply finds nothing to do, and another shared path is refused unchanged.
#[test]
fn an_infrastructure_file_declares_the_shared_path() {
    let ctx = TestContext::new();
    project(&ctx);
    let with_shared = |dir: &str| {
        config(2).replacen(
            "\nsluice:\n",
            &format!("\nsluice:\n  workspace:\n    shared: {dir}/$(environment)\n"),
            1,
        )
    };
    ctx.write("config-infra-dev.yml", &with_shared("cluster-share"));
    let before = applied(&ctx);
    let share = ctx.root().join("cluster-share").join("dev");
    assert_eq!(
        on_ws(&ctx, &["workspace", "show"])["shared"],
        share.display().to_string()
    );
    assert!(share.is_dir());
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    assert_eq!(
        (plan["to_create"].as_u64(), plan["to_update"].as_u64()),
        (Some(0), Some(0)),
        "{plan:#}"
    );
    ctx.write("config-infra-dev.yml", &with_shared("elsewhere"));
    let out = ctx.run(&["infra", "apply", "-f", "config-infra-dev.yml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keeps its shared path at"), "{err}");
    assert_eq!(audit_len(&ctx), before, "nothing written");
    assert_eq!(
        on_ws(&ctx, &["workspace", "show"])["shared"],
        share.display().to_string()
    );
}

/// A component the file declares is registered once: a second apply leaves it alone, other
/// content under its version is refused before anything is written, a new version is created.
#[test]
fn a_declared_component_is_registered_once_and_its_version_never_changes() {
    let ctx = TestContext::new();
    project(&ctx);
    ctx.write("src/hello.py", "print('hello')\n");
    ctx.write(
        "components/hello.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\nname: hello\nversion: 1\ntype: command\ncode: ../src\ncommand: python3 hello.py\n",
    );
    ctx.write(
        "config-infra-dev.yml",
        &config(2).replacen(
            "\nsluice:\n",
            "\nsluice:\n  components:\n    - file: components/hello.yml\n",
            1,
        ),
    );
    let before = applied(&ctx);
    let row = on_ws(&ctx, &["component", "show", "-n", "hello", "-o", "json"]);
    assert_eq!(
        (row["name"].as_str(), row["version"].as_str()),
        (Some("hello"), Some("1"))
    );
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    assert_eq!(
        (plan["to_create"].as_u64(), plan["to_update"].as_u64()),
        (Some(0), Some(0)),
        "{plan:#}"
    );
    // Other code under version 1: refused at plan and at apply, nothing written.
    ctx.write("src/hello.py", "print('changed')\n");
    for verb in ["plan", "apply"] {
        let out = ctx.run(&["infra", verb, "-f", "config-infra-dev.yml"]);
        assert_eq!(out.status.code(), Some(6), "{verb}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("`hello:1` exists with other content"), "{err}");
    }
    assert_eq!(audit_len(&ctx), before, "nothing written");
    // A new version is a new component version.
    ctx.write(
        "components/hello.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\nname: hello\nversion: 2\ntype: command\ncode: ../src\ncommand: python3 hello.py\n",
    );
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    assert_eq!(
        planned(&plan, Some("create")),
        [("component".to_owned(), "hello:2".to_owned())]
    );
    ctx.ok(&["infra", "apply", "-f", "config-infra-dev.yml"]);
    let v2 = on_ws(
        &ctx,
        &["component", "show", "-n", "hello", "-v", "2", "-o", "json"],
    );
    assert_eq!(v2["version"], "2");
}

/// `infra connect` prints what a CI job sets: a folder workspace's path once `apply` made it
/// (an error naming `apply` before), as `NAME=value` or Azure DevOps' commands; a workspace whose
/// data lives in a shared store gets its folder's settings made again on a fresh machine.
#[test]
#[expect(clippy::print_stderr, reason = "a skipped part says why")]
fn infra_connect_prints_what_a_ci_job_sets() {
    let ctx = TestContext::new();
    project(&ctx);
    let connect = |format: &str| {
        ctx.run(&[
            "infra",
            "connect",
            "-f",
            "config-infra-dev.yml",
            "--format",
            format,
        ])
    };
    let out = connect("env");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sluice infra apply -f config-infra-dev.yml")
    );
    applied(&ctx);
    let ws = ws_path(&ctx).display().to_string();
    let out = connect("env");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("SLUICE_WORKSPACE={ws}\nSLUICE_SHARED={ws}\n")
    );
    let out = connect("azure");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "##vso[task.setvariable variable=SLUICE_WORKSPACE]{ws}\n##vso[task.setvariable variable=SLUICE_SHARED]{ws}\n"
        )
    );

    let Some(_) = sluice_store::testing::postgres_url() else {
        eprintln!(
            "skipped: SLUICE_TEST_POSTGRES is unset, so `infra connect` on a shared store did not run"
        );
        return;
    };
    let schema = tempfile::tempdir().unwrap();
    let store = sluice_store::testing::fresh_location(schema.path())
        .unwrap()
        .to_string();
    let team = ctx.root().join("team");
    let team = team.to_str().unwrap();
    ctx.write(
        "config-infra-team.yml",
        &config(2)
            .replace("environment: dev", "environment: team")
            .replacen(
                "\nsluice:\n",
                &format!("\nsluice:\n  workspace:\n    path: {team}\n    store: \"{store}\"\n"),
                1,
            ),
    );
    ctx.ok(&[
        "infra",
        "apply",
        "-f",
        "config-infra-team.yml",
        "--secrets-file",
        "t.json",
    ]);
    let audited = ctx
        .json(&["--workspace", team, "audit", "list", "-o", "json"])
        .as_array()
        .unwrap()
        .len();
    // A fresh hosted runner: no folder, the store where it was. The infrastructure pipeline's
    // plan and apply find the workspace there and have nothing to do.
    std::fs::remove_dir_all(team).unwrap();
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-team.yml"]);
    assert_eq!(
        (plan["to_create"].as_u64(), plan["to_update"].as_u64()),
        (Some(0), Some(0)),
        "{plan:#}"
    );
    std::fs::remove_dir_all(team).unwrap();
    let out = ctx.run(&["infra", "apply", "-f", "config-infra-team.yml"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Nothing to do"));
    let after = ctx.json(&["--workspace", team, "audit", "list", "-o", "json"]);
    assert_eq!(
        after.as_array().unwrap().len(),
        audited,
        "nothing written: {after:#}"
    );
    // The training pipeline's connect on another fresh runner.
    std::fs::remove_dir_all(team).unwrap();
    let out = ctx.run(&["infra", "connect", "-f", "config-infra-team.yml"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("SLUICE_WORKSPACE={team}\n"))
    );
    let seen = ctx.json(&["--workspace", team, "compute", "show", "-n", "hpc"]);
    assert_eq!(
        seen["type"], "slurm",
        "the declared compute, from the shared store"
    );
}

/// `--store postgresql://...` (and `SLUICE_STORE`) puts every command of any workspace folder on
/// the one database: what one folder writes, another folder given the same store reads, and
/// neither folder's own `sluice.db` holds it.
#[test]
#[expect(clippy::print_stderr, reason = "a skipped test says so")]
fn the_store_flag_puts_every_command_on_one_postgresql_database() {
    let Some(_) = sluice_store::testing::postgres_url() else {
        eprintln!(
            "skipped: SLUICE_TEST_POSTGRES is unset, so `--store postgresql://...` did not run"
        );
        return;
    };
    let ctx = TestContext::new();
    let schema = tempfile::tempdir().unwrap();
    let store = sluice_store::testing::fresh_location(schema.path())
        .unwrap()
        .to_string();
    let (a, b, c) = (
        ctx.root().join("a"),
        ctx.root().join("b"),
        ctx.root().join("c"),
    );
    // Folders for the workspaces' files (with the store named, a folder is a workspace).
    std::fs::create_dir_all(&b).unwrap();
    std::fs::create_dir_all(&c).unwrap();
    let (a, b, c) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        c.to_str().unwrap(),
    );
    ctx.ok(&[
        "--workspace",
        a,
        "--store",
        &store,
        "compute",
        "create",
        "--name",
        "shared-cpu",
        "--type",
        "local",
    ]);
    let seen = ctx.json(&[
        "--workspace",
        b,
        "--store",
        &store,
        "compute",
        "show",
        "-n",
        "shared-cpu",
        "-o",
        "json",
    ]);
    assert_eq!(seen["name"], "shared-cpu", "{seen:#}");
    let mut by_env = ctx.command(&["--workspace", c, "compute", "list", "-o", "json"]);
    by_env.env("SLUICE_STORE", &store);
    let out = by_env.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "shared-cpu"),
        "{listed:#}"
    );
    // A workspace without the store is one of its own, which never held the compute.
    let d = ctx.root().join("d");
    let d = d.to_str().unwrap();
    ctx.ok(&[
        "--workspace",
        d,
        "compute",
        "create",
        "--name",
        "own-cpu",
        "--type",
        "local",
    ]);
    let own = ctx.run(&["--workspace", d, "compute", "show", "-n", "shared-cpu"]);
    assert!(
        String::from_utf8_lossy(&own.stderr).contains("`shared-cpu`") && !own.status.success(),
        "{own:?}"
    );
    let shared = ctx.json(&[
        "--workspace",
        b,
        "--store",
        &store,
        "compute",
        "list",
        "-o",
        "json",
    ]);
    assert!(
        !shared
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "own-cpu"),
        "{shared:#}"
    );
}

#[test]
fn the_python_examples_dev_and_prod_files_apply() {
    let ctx = TestContext::new();
    let example = ctx.copy_example("taxi-fare-python");
    for env in ["dev", "prod"] {
        let file = example.join(format!("config-infra-{env}.yml"));
        let file = file.to_str().unwrap();
        let info = ctx.json(&["infra", "apply", "-f", file, "--secrets-file", "s.json"]);
        assert_eq!(info["name"], format!("mlw-taxi-0659{env}"));
        let ws = info["path"].as_str().unwrap();
        let max =
            ctx.json(&["--workspace", ws, "compute", "show", "-n", "cpu-cluster"])["max_instances"]
                .clone();
        assert_eq!(max, if env == "dev" { 2 } else { 4 });
        assert_eq!(
            ctx.json(&["--workspace", ws, "data", "show", "-n", "taxi-data"])["version"],
            "1"
        );
        assert_eq!(
            ctx.json(&[
                "--workspace",
                ws,
                "model",
                "policy",
                "show",
                "-n",
                "taxi-model"
            ])["policy"]["approvals"]["required"],
            1
        );
        let again = ctx.json(&["infra", "plan", "-f", file]);
        assert_eq!(again["to_create"], 0, "{again:#}");
        assert_eq!(again["to_update"], 0, "{again:#}");
    }
    let secrets: Value =
        serde_json::from_str(&std::fs::read_to_string(ctx.root().join("s.json")).unwrap()).unwrap();
    assert!(secrets["ci-trainer-dev"].is_string() && secrets["ci-trainer-prod"].is_string());
}

/// A data entry may name a datastore path, as Azure's data YAML does: on a folder of the
/// workspace (`workspaceblobstore`, a name no datastore file registers), hashed like a local
/// file, left alone by a second apply and a new version when its bytes change; on a datastore
/// the same file creates, read once apply has created it. A URL or another asset is a located
/// error that changes nothing.
#[test]
fn data_entries_on_datastore_paths_are_registered_idempotently() {
    let ctx = TestContext::new();
    project(&ctx);
    ctx.write(
        "config-infra-dev.yml",
        &config(2).replace(
            "    - file: data/data.yml\n",
            "    - file: data/data.yml\n    - file: data/trips.yml\n",
        ),
    );
    // On a datastore this file declares: nothing to read yet, so planned as a creation.
    ctx.write(
        "data/trips.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\nname: trips\ntype: uri_file\npath: azureml://datastores/rawblob/paths/taxi/trips.csv\n",
    );
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    assert!(
        planned(&plan, Some("create")).contains(&("data".to_owned(), "trips".to_owned())),
        "{plan:#}"
    );

    // On the workspace's own folder datastore: the file must be there.
    ctx.write(
        "data/trips.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\nname: trips\ntype: uri_file\npath: azureml://datastores/workspaceblobstore/paths/taxi/trips.csv\n",
    );
    ctx.write(
        "config-bare.yml",
        &config(2).replace("    - file: data/data.yml\n", ""),
    );
    ctx.ok(&[
        "infra",
        "apply",
        "-f",
        "config-bare.yml",
        "--secrets-file",
        "s.json",
    ]);
    let missing = ctx.run(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    assert_eq!(missing.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("trips.yml:4:7"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");

    let folder = ws_path(&ctx).join("datastores/workspaceblobstore/taxi");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("trips.csv"), "fare,km\n7.5,2.1\n").unwrap();
    applied(&ctx);
    let trips = on_ws(&ctx, &["data", "show", "-n", "trips"]);
    assert_eq!(trips["version"], "1", "{trips:#}");
    let audited = audit_len(&ctx);
    let again = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    assert_eq!(
        (again["to_create"].as_u64(), again["to_update"].as_u64()),
        (Some(0), Some(0)),
        "{again:#}"
    );
    assert_eq!(applied(&ctx), audited, "a second apply changed something");
    assert_eq!(
        on_ws(&ctx, &["data", "show", "-n", "trips"])["version"],
        "1"
    );

    // New bytes on the datastore: the plan shows the content's change (a new version is
    // created, as for a local file), and apply makes version 2.
    std::fs::write(folder.join("trips.csv"), "fare,km\n7.5,2.1\n9.0,3.0\n").unwrap();
    let changed = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    let item = changed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "trips:1")
        .unwrap_or_else(|| panic!("{changed:#}"));
    assert_eq!(item["action"], "create", "{item:#}");
    assert_eq!(item["changes"][0]["field"], "content_hash", "{item:#}");
    assert_eq!(
        item["changes"][0]["from"], trips["content_hash"],
        "{item:#}"
    );
    applied(&ctx);
    assert_eq!(
        on_ws(&ctx, &["data", "show", "-n", "trips"])["version"],
        "2"
    );

    // A URL, or another asset, is refused at its line.
    for (path, says) in [
        ("https://example.org/trips.csv", "is remote data"),
        ("azureml:taxi-data:1", "cannot be another asset"),
    ] {
        ctx.write(
            "data/trips.yml",
            &format!("name: trips\ntype: uri_file\npath: {path}\n"),
        );
        let out = ctx.run(&["infra", "apply", "-f", "config-infra-dev.yml"]);
        assert_eq!(out.status.code(), Some(3), "{path}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("trips.yml:3:7") && stderr.contains(says),
            "{stderr}"
        );
    }
    assert_eq!(
        on_ws(&ctx, &["data", "show", "-n", "trips"])["version"],
        "2"
    );
}

#[test]
fn a_reader_cannot_change_the_workspace_and_nothing_is_written() {
    let ctx = TestContext::new();
    project(&ctx);
    let before = applied(&ctx);
    let reader = on_ws(
        &ctx,
        &["token", "create", "--name", "rita", "--role", "reader"],
    );
    let reader = reader["token"].as_str().unwrap().to_owned();
    let settings = ws_path(&ctx).join("workspace.json");
    let was = std::fs::read_to_string(&settings).unwrap();
    // A changed location is a change of the workspace's own settings (its tags).
    ctx.write(
        "config-infra-dev.yml",
        &config(2).replace("location: westeurope", "location: northeurope"),
    );
    let out = ctx.run(&[
        "--token",
        &reader,
        "infra",
        "apply",
        "-f",
        "config-infra-dev.yml",
    ]);
    assert_eq!(
        out.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), was);
    assert_eq!(
        audit_len(&ctx),
        before + 1,
        "only the reader's token was made"
    );
    // The owner applies it: the workspace changes, audited.
    ctx.ok(&["infra", "apply", "-f", "config-infra-dev.yml"]);
    let now = std::fs::read_to_string(&settings).unwrap();
    assert!(now.contains("northeurope"), "{now}");
    assert_eq!(audit_len(&ctx), before + 2);
}

/// A team's workspace: its metadata in a shared PostgreSQL database and its artifacts in a
/// shared place, as `sluice.workspace.store` and `artifacts` declare them; applied twice, the
/// second changes nothing, and another machine's folder on the same store sees the same.
#[test]
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn a_workspace_on_postgresql_is_applied_and_a_second_apply_changes_nothing() {
    if sluice_store::testing::postgres_url().is_none() {
        eprintln!(
            "skipped: SLUICE_TEST_POSTGRES is unset, so the infrastructure file with a PostgreSQL store was not applied"
        );
        return;
    }
    let ctx = TestContext::new();
    project(&ctx);
    let schema = tempfile::tempdir().unwrap();
    let store = sluice_store::testing::fresh_location(schema.path())
        .unwrap()
        .to_string();
    let artifacts = ctx.root().join("team-artifacts");
    ctx.write(
        "config-infra-dev.yml",
        &config(2).replacen(
            "\nsluice:\n",
            &format!(
                "\nsluice:\n  workspace:\n    store: \"{store}\"\n    artifacts: {}\n",
                artifacts.display()
            ),
            1,
        ),
    );
    let before = applied(&ctx);
    let ws = ws_path(&ctx);
    assert!(
        !ws.join("sluice.db").exists(),
        "the metadata is not in the folder"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("store")).unwrap().trim(),
        store
    );
    assert_eq!(
        on_ws(&ctx, &["compute", "show", "-n", "hpc"])["type"],
        "slurm"
    );
    let plan = ctx.json(&["infra", "plan", "-f", "config-infra-dev.yml"]);
    assert_eq!(
        (plan["to_create"].as_u64(), plan["to_update"].as_u64()),
        (Some(0), Some(0)),
        "{plan:#}"
    );
    ctx.ok(&["infra", "apply", "-f", "config-infra-dev.yml"]);
    assert_eq!(audit_len(&ctx), before, "the second apply wrote nothing");
    // Another machine: its own folder, the same store.
    let other = ctx.root().join("laptop");
    let other = other.to_str().unwrap();
    ctx.ok(&[
        "workspace",
        "create",
        "-n",
        "laptop",
        "--path",
        other,
        "--metadata-store",
        &store,
        "-o",
        "none",
    ]);
    let seen = ctx.json(&["--workspace", other, "compute", "list", "-o", "json"]);
    assert!(seen.to_string().contains("\"hpc\""), "{seen:#}");
}

/// A workspace a team server runs: the file names the server, the connection info passes it on
/// (`SLUICE_URL`), and the smoke test submits its jobs to it as a client would.
#[test]
fn a_declared_team_server_is_in_the_connection_info_and_runs_the_smoke_test() {
    let ctx = TestContext::new();
    let file = |server: &str| {
        format!(
            "variables:\n  namespace: team\n  environment: ci\n  enable_aml_computecluster: true\nsluice:\n  workspace:\n    path: ws\n{server}"
        )
    };
    ctx.write("infra.yml", &file(""));
    ctx.ok(&["infra", "apply", "-f", "infra.yml", "-o", "none"]);
    let ws = ctx.root().join("ws");
    let server =
        crate::remote::Server::start_with(&ctx, &["--workspace", ws.to_str().unwrap()], &[]);
    ctx.write(
        "infra.yml",
        &file(&format!("    server: {}/\n", server.url)),
    );
    let info = ctx.json(&["infra", "apply", "-f", "infra.yml", "--smoke-test"]);
    assert_eq!(info["server"], server.url.as_str(), "{info:#}");
    assert_eq!(info["env"]["SLUICE_URL"], server.url.as_str());
    assert_eq!(
        info["smoke_test"]["cpu-cluster"]["status"], "Completed",
        "{info:#}"
    );
    // The server ran it: the job's files were uploaded to it.
    let uploads: Vec<_> = std::fs::read_dir(ws.join("uploads"))
        .expect("the server's uploads")
        .collect();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    // Not an address: a located error.
    ctx.write("infra.yml", &file("    server: sluice.example.org:5000\n"));
    let out = ctx.run(&["infra", "validate", "-f", "infra.yml"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("infra.yml:8:") && err.contains("not a team server's address"),
        "{err}"
    );
}
