//! `sluice ci init github|azure-devops`: the generated pipelines validate against GitHub's and
//! Azure DevOps' published schemas (the copies `check-jsonschema` ships), and their shell steps,
//! run in order as each runner would run them (a small runner of each kind below: expressions,
//! variables, step outputs, conditions), take a fresh project from nothing through a training
//! run to a promotion that waits for an owner's approval.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestContext;

/// A project: the taxi example (built-in steps: no network), its dev and prod infrastructure
/// files (variables only, as Azure DevOps reads a variables template) naming the file that
/// declares the tokens CI uses and the promotion policy.
fn project(ctx: &TestContext) -> PathBuf {
    let root = ctx.copy_example("taxi-fare");
    for env in ["dev", "prod"] {
        std::fs::write(
            root.join(format!("config-infra-{env}.yml")),
            format!(
                "variables:\n  ap_vm_image: ubuntu-22.04\n  namespace: taxi\n  postfix: \"01\"\n  location: westeurope\n  environment: {env}\n  enable_aml_computecluster: true\n  aml_workspace: mlw-$(namespace)-$(postfix)$(environment)\n  sluice_infra: sluice-infra.yml\n"
            ),
        )
        .unwrap();
    }
    std::fs::write(
        root.join(DECLARATIONS),
        "sluice:\n  tokens:\n    - {name: ci-trainer, role: contributor}\n    - {name: release-bot, role: owner}\n    - {name: olga, role: owner}\n  policies:\n    - {model: taxi-fare-model, file: policy.yml}\n",
    )
    .unwrap();
    root
}

/// The test project's file of declarations (see [`project`]).
const DECLARATIONS: &str = "sluice-infra.yml";

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let source = sluice_spec::Source::new(path.display().to_string(), text);
    sluice_spec::yaml::parse(&source, &mut Vec::new())
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
        .to_json()
}

/// `sluice` as the pipelines' steps find it: first on PATH, nothing of the test's own
/// workspace settings inherited.
fn shell(
    script: &str,
    dir: &Path,
    env: &BTreeMap<String, String>,
    flags: &[&str],
) -> std::process::Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_sluice")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), script).unwrap();
    Command::new("bash")
        .args(["--noprofile", "--norc"])
        .args(flags)
        .arg(file.path())
        .current_dir(dir)
        .env_remove("SLUICE_WORKSPACE")
        .env_remove("SLUICE_STORE")
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_OUTPUT")
        .env_remove("SLUICE_URL")
        .env("PATH", path)
        .env("USER", "ci-runner")
        // The runner's own home, beside the checkout: `~/.sluice-workspaces` is there.
        .env("HOME", runner_home(dir))
        .envs(env)
        .output()
        .unwrap()
}

/// The home folder of the runner (agent) that checks out `root`.
fn runner_home(root: &Path) -> PathBuf {
    root.parent().unwrap().join("runner-home")
}

fn sluice_on(ws: &str, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--workspace", ws])
        .args(args)
        .env("NO_COLOR", "1")
        .env("SLUICE_TOKEN", token)
        .env_remove("SLUICE_WORKSPACE")
        .env_remove("SLUICE_STORE")
        .env_remove("SLUICE_OUTPUT")
        .output()
        .unwrap()
}

// ---- a GitHub Actions runner, as far as these workflows need one --------------------------

#[derive(Clone, Default)]
struct GitHub {
    root: PathBuf,
    /// The runner's temporary folder (kept, so a test can read what a step left there).
    temp: PathBuf,
    secrets: BTreeMap<String, String>,
    /// Variables given to every job over the workflow's (shorter waits in a test).
    overrides: BTreeMap<String, String>,
    /// `github.event_name` (`push` when empty).
    event: String,
    /// Whether a pull request comes from a fork of the repository.
    fork: bool,
    /// `github.ref` (`refs/heads/main` when empty).
    branch: String,
}

#[derive(Default, Clone)]
struct Scope {
    env: BTreeMap<String, String>,
    steps: BTreeMap<String, BTreeMap<String, String>>,
    needs: BTreeMap<String, BTreeMap<String, String>>,
}

impl GitHub {
    fn value(&self, scope: &Scope, term: &str) -> String {
        let term = term.trim();
        if let Some(lit) = term.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
            return lit.to_owned();
        }
        let parts: Vec<&str> = term.split('.').collect();
        match parts.as_slice() {
            ["github", "event_name"] if self.event.is_empty() => "push".into(),
            ["github", "event_name"] => self.event.clone(),
            ["github", "ref"] if self.branch.is_empty() => "refs/heads/main".into(),
            ["github", "ref"] => self.branch.clone(),
            [
                "github",
                "event",
                "pull_request",
                "head",
                "repo",
                "full_name",
            ] if self.fork => "someone/taxi".into(),
            ["github", "repository"]
            | [
                "github",
                "event",
                "pull_request",
                "head",
                "repo",
                "full_name",
            ] => "acme/taxi".into(),
            ["github", "run_id"] => "4242".into(),
            ["runner", "os"] => "Linux".into(),
            ["env", k] => scope.env.get(*k).cloned().unwrap_or_default(),
            ["secrets", k] => self.secrets.get(*k).cloned().unwrap_or_default(),
            // No repository variables are set (GitHub gives an unset one as empty).
            ["vars", _] => String::new(),
            ["steps", id, "outputs", k] => output(&scope.steps, id, k),
            ["needs", job, "outputs", k] => output(&scope.needs, job, k),
            _ => panic!("the test runner does not know `{term}`"),
        }
    }

    /// `a == b`, `a != b`, `a && b`, `a || b`, or a value.
    fn eval(&self, scope: &Scope, expr: &str) -> String {
        if expr.contains("||") {
            let any = expr.split("||").any(|p| truthy(&self.eval(scope, p)));
            return any.to_string();
        }
        if expr.contains("&&") {
            let all = expr.split("&&").all(|p| truthy(&self.eval(scope, p)));
            return all.to_string();
        }
        for (op, want) in [("!=", false), ("==", true)] {
            if let Some((a, b)) = expr.split_once(op) {
                let eq = self.value(scope, a) == self.value(scope, b);
                return (eq == want).to_string();
            }
        }
        self.value(scope, expr)
    }

    fn expand(&self, scope: &Scope, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${{") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find("}}").expect("closed expression") + at;
            out.push_str(&self.eval(scope, &rest[at + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn env_of(&self, scope: &Scope, node: &Value) -> BTreeMap<String, String> {
        node.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), self.expand(scope, &scalar(v))))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs one job of `workflow` (its `run:` steps in order; `uses:` steps are the runner's
    /// own actions and are skipped). Its outputs, or the failing step's output.
    fn job(
        &self,
        workflow: &Value,
        name: &str,
        needs: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        let job = &workflow["jobs"][name];
        let mut scope = Scope {
            needs: needs.clone(),
            ..Scope::default()
        };
        scope.env = self.env_of(&scope, &workflow["env"]);
        if let Some(cond) = job["if"].as_str()
            && !truthy(&self.eval(&scope, cond))
        {
            return Ok(None);
        }
        let job_env = self.env_of(&scope, &job["env"]);
        scope.env.extend(job_env);
        scope.env.extend(self.overrides.clone());
        // Each job has a runner of its own.
        let temp = self.temp.join(name);
        std::fs::create_dir_all(&temp).unwrap();
        let files: BTreeMap<&str, PathBuf> = ["GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"]
            .into_iter()
            .map(|k| (k, temp.join(k)))
            .collect();
        for step in job["steps"].as_array().unwrap() {
            let Some(script) = step["run"].as_str() else {
                continue;
            };
            if let Some(cond) = step["if"].as_str()
                && !truthy(&self.eval(&scope, cond))
            {
                continue;
            }
            let mut env = scope.env.clone();
            env.extend(self.env_of(&scope, &step["env"]));
            for (k, p) in &files {
                let _ = std::fs::remove_file(p);
                std::fs::write(p, "").unwrap();
                env.insert((*k).to_owned(), p.display().to_string());
            }
            env.insert("RUNNER_TEMP".into(), temp.display().to_string());
            env.insert("GITHUB_RUN_ID".into(), "4242".into());
            env.insert("GITHUB_RUN_ATTEMPT".into(), "1".into());
            let out = shell(
                &self.expand(&scope, script),
                &self.root,
                &env,
                &["-eo", "pipefail"],
            );
            if !out.status.success() {
                return Err(format!(
                    "step `{}` of job `{name}` failed ({:?})\nstdout:\n{}\nstderr:\n{}",
                    step["name"].as_str().unwrap_or(script),
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            scope.env.extend(key_values(&files["GITHUB_ENV"]));
            if let Some(id) = step["id"].as_str() {
                scope
                    .steps
                    .insert(id.to_owned(), key_values(&files["GITHUB_OUTPUT"]));
            }
        }
        Ok(Some(self.env_of(&scope, &job["outputs"])))
    }
}

/// Output `key` of step or job `of` (empty when it has none, as on GitHub).
fn output(outputs: &BTreeMap<String, BTreeMap<String, String>>, of: &str, key: &str) -> String {
    outputs
        .get(of)
        .and_then(|o| o.get(key))
        .cloned()
        .unwrap_or_default()
}

fn truthy(v: &str) -> bool {
    !v.is_empty() && v != "false"
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn key_values(file: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// While the promotion (`promote`) runs: it must wait; the trainer's own approval is refused
/// (four eyes, exit 12) and it keeps waiting; another owner's approval lets it finish. Its
/// result, and the champion is then version 1.
fn approve_while_it_waits<T>(
    ws: &str,
    trainer: &str,
    owner: &str,
    promote: std::thread::JoinHandle<T>,
) -> T {
    let approve = ["model", "approve", "-n", "taxi-fare-model", "-v", "1"];
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !promote.is_finished(),
        "promotion did not wait for the approval"
    );
    let out = sluice_on(ws, trainer, &approve);
    assert_eq!(out.status.code(), Some(12), "{out:?}");
    assert!(!promote.is_finished());
    let out = sluice_on(ws, owner, &approve);
    assert!(out.status.success(), "{out:?}");
    let done = wait_for(60, "the promotion", promote);
    let out = sluice_on(ws, owner, &["model", "status", "-n", "taxi-fare-model"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["aliases"]["champion"], "1", "{status:#}");
    done
}

/// Waits for `done`, failing after `secs`.
fn wait_for<T>(secs: u64, what: &str, handle: std::thread::JoinHandle<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    handle.join().unwrap()
}

#[test]
fn the_generated_github_workflows_run_from_nothing_to_an_approved_promotion() {
    let ctx = TestContext::new();
    let root = project(&ctx);
    let made = ctx.json(&[
        "ci",
        "init",
        "github",
        "--dir",
        root.to_str().unwrap(),
        "--pipeline",
        "pipeline.yml",
    ]);
    assert_eq!(
        made["model"], "taxi-fare-model",
        "from the infrastructure file's policy"
    );
    let infra = yaml(&root.join(".github/workflows/deploy-infra.yml"));
    let train = yaml(&root.join(".github/workflows/deploy-model-training-pipeline.yml"));
    // GitHub's conventions: triggers, least permissions, one run at a time.
    for wf in [&infra, &train] {
        assert!(wf["on"]["push"].is_object() && wf["on"].get("workflow_dispatch").is_some());
        assert_eq!(wf["permissions"]["contents"], "read");
        assert_eq!(wf["concurrency"]["cancel-in-progress"], false);
    }
    assert_eq!(train["jobs"]["promote"]["environment"], "production");
    assert_eq!(train["jobs"]["promote"]["needs"], "train");
    // A pull request trains but does not promote; prod's infrastructure acts with prod's owner
    // token; a workspace folder keeps the jobs on a runner whose disk lasts.
    assert!(train["on"]["pull_request"].is_object());
    assert!(
        train["jobs"]["promote"]["if"]
            .as_str()
            .unwrap()
            .contains("github.event_name != 'pull_request'")
    );
    assert_eq!(
        infra["jobs"]["prod"]["env"]["SLUICE_TOKEN"],
        "${{ secrets.SLUICE_PROD_OWNER_TOKEN }}"
    );
    for (wf, job) in [
        (&infra, "dev"),
        (&infra, "prod"),
        (&train, "train"),
        (&train, "promote"),
    ] {
        assert_eq!(wf["jobs"][job]["runs-on"], "self-hosted", "{job}");
    }
    assert!(
        infra["on"]["push"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == DECLARATIONS),
        "the declarations file triggers the infrastructure workflow"
    );

    let temp = ctx.root().join("runner-temp");
    std::fs::create_dir_all(&temp).unwrap();
    let gh = GitHub {
        root: root.clone(),
        temp: temp.clone(),
        ..GitHub::default()
    };
    // Pipeline 1 on a pull request: the plan only (kept as an artifact); nothing is made, and
    // prod is not touched.
    let pr = GitHub {
        event: "pull_request".into(),
        ..gh.clone()
    };
    pr.job(&infra, "dev", &BTreeMap::new())
        .unwrap()
        .expect("dev plans a pull request");
    let plan = std::fs::read_to_string(root.join("infra-plan.txt")).unwrap();
    assert!(plan.contains("+ workspace mlw-taxi-01dev"), "{plan}");
    let workspaces = runner_home(&root).join(".sluice-workspaces");
    assert!(!workspaces.exists(), "a pull request applies nothing");
    assert!(pr.job(&infra, "prod", &BTreeMap::new()).unwrap().is_none());
    // One from a fork runs nothing on this runner.
    let fork = GitHub {
        fork: true,
        ..pr.clone()
    };
    assert!(fork.job(&infra, "dev", &BTreeMap::new()).unwrap().is_none());
    assert!(
        fork.job(&train, "train", &BTreeMap::new())
            .unwrap()
            .is_none()
    );
    std::fs::remove_file(root.join("infra-plan.txt")).unwrap();

    // Pipeline 1 on a push: nothing exists yet; the local user (no secret yet) makes it all.
    let dev = gh.job(&infra, "dev", &BTreeMap::new()).unwrap();
    assert!(dev.is_some());
    let workspace: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("workspace.json")).unwrap())
            .unwrap();
    let ws = workspace["path"].as_str().unwrap().to_owned();
    // Outside the checkout (which the runner cleans), in the runner's home.
    assert_eq!(Path::new(&ws), workspaces.join("mlw-taxi-01dev"));
    assert!(!root.join(".sluice-workspaces").exists());
    let plan = std::fs::read_to_string(root.join("infra-plan.txt")).unwrap();
    assert!(plan.contains("+ policy taxi-fare-model"), "{plan}");
    gh.job(&infra, "prod", &BTreeMap::new())
        .unwrap()
        .expect("prod runs on main");
    // The new tokens' secrets, as a person copies them into the CI system's secret store.
    let secrets: Value = serde_json::from_str(
        &std::fs::read_to_string(temp.join("dev/sluice-secrets.json")).unwrap(),
    )
    .unwrap();
    let (trainer, bot, olga) = (
        secrets["ci-trainer"].as_str().unwrap().to_owned(),
        secrets["release-bot"].as_str().unwrap().to_owned(),
        secrets["olga"].as_str().unwrap().to_owned(),
    );
    // A second run of pipeline 1 changes nothing.
    let again = GitHub {
        secrets: BTreeMap::from([("SLUICE_OWNER_TOKEN".to_owned(), bot.clone())]),
        ..gh.clone()
    };
    again.job(&infra, "dev", &BTreeMap::new()).unwrap();
    let plan = std::fs::read_to_string(root.join("infra-plan.txt")).unwrap();
    assert!(plan.contains("Plan: nothing to do"), "{plan}");

    // Pipeline 2: train as the trainer; promotion waits for an approval.
    let ci = GitHub {
        root: root.clone(),
        temp: temp.clone(),
        secrets: BTreeMap::from([
            ("SLUICE_TRAINER_TOKEN".to_owned(), trainer.clone()),
            ("SLUICE_OWNER_TOKEN".to_owned(), bot.clone()),
        ]),
        overrides: BTreeMap::from([("APPROVAL_POLL".to_owned(), "0.2".to_owned())]),
        event: String::new(),
        fork: false,
        branch: String::new(),
    };
    let outputs = ci.job(&train, "train", &BTreeMap::new()).unwrap().unwrap();
    assert_eq!(outputs["version"], "1", "{outputs:?}");
    let job = outputs["job"].clone();
    assert_eq!(job, "train-4242-1");
    let lineage: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("model-lineage.json")).unwrap())
            .unwrap();
    assert_eq!(lineage["job"]["name"], job.as_str(), "{lineage:#}");
    let status: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("model-status.json")).unwrap())
            .unwrap();
    assert_eq!(status["versions"][0]["created_by"], "ci-trainer");

    let needs = BTreeMap::from([("train".to_owned(), outputs)]);
    // A pull request's training promotes nothing, nor does a run from another branch.
    let pr = GitHub {
        event: "pull_request".into(),
        ..ci.clone()
    };
    assert!(pr.job(&train, "promote", &needs).unwrap().is_none());
    let other = GitHub {
        event: "workflow_dispatch".into(),
        branch: "refs/heads/feature".into(),
        ..ci.clone()
    };
    assert!(other.job(&train, "promote", &needs).unwrap().is_none());
    let (ci2, train2) = (ci.clone(), train.clone());
    let promote = std::thread::spawn(move || ci2.job(&train2, "promote", &needs));
    let promoted = approve_while_it_waits(&ws, &trainer, &olga, promote);
    assert!(promoted.is_ok(), "{}", promoted.unwrap_err());
    let out = sluice_on(&ws, &olga, &["audit", "list", "-m", "taxi-fare-model"]);
    let audit: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let by = |action: &str, who: &str| {
        actions
            .iter()
            .any(|(a, actor)| *a == action && actor.starts_with(&format!("{who} (token ")))
    };
    assert!(by("version.create", "ci-trainer"), "{actions:?}");
    assert!(by("version.approve", "olga"), "{actions:?}");
    assert!(by("alias.set", "release-bot"), "{actions:?}");
}

/// The workspace of the test project's `config-infra-dev.yml` (its tokens and policy, as
/// pipeline 1 makes them), a team server on it with `--auth`, and the file declaring that
/// server (`sluice.workspace.server`).
struct TeamServer {
    ws: String,
    trainer: String,
    bot: String,
    olga: String,
    server: crate::remote::Server,
}

fn team_server(ctx: &TestContext, root: &Path) -> TeamServer {
    let secrets_file = ctx.root().join("secrets.json");
    let applied = ctx.json(&[
        "infra",
        "apply",
        "-f",
        root.join("config-infra-dev.yml").to_str().unwrap(),
        "--secrets-file",
        secrets_file.to_str().unwrap(),
    ]);
    let ws = applied["path"].as_str().unwrap().to_owned();
    let secrets: Value =
        serde_json::from_str(&std::fs::read_to_string(&secrets_file).unwrap()).unwrap();
    let token = |n: &str| secrets[n].as_str().unwrap().to_owned();
    let server = crate::remote::Server::start_with(ctx, &["--auth", "--workspace", &ws], &[]);
    let file = root.join(DECLARATIONS);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace(
            "sluice:\n",
            &format!("sluice:\n  workspace:\n    server: {}\n", server.url),
        ),
    )
    .unwrap();
    TeamServer {
        trainer: token("ci-trainer"),
        bot: token("release-bot"),
        olga: token("olga"),
        ws,
        server,
    }
}

/// The one upload the server received (its folder) and the copy of the project in it, which
/// holds the project's pipeline.
fn the_upload(ws: &str) -> (PathBuf, PathBuf) {
    let uploads: Vec<PathBuf> = std::fs::read_dir(Path::new(ws).join("uploads"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    let copy = std::fs::read_dir(&uploads[0])
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    assert!(copy.join("pipeline.yml").is_file());
    (uploads[0].clone(), copy)
}

/// Whether the audit log shows the release owner's token moving an alias.
fn promoted_by_the_release_bot(ws: &str, olga: &str) -> bool {
    let out = sluice_on(ws, olga, &["audit", "list", "-m", "taxi-fare-model"]);
    let audit: Value = serde_json::from_slice(&out.stdout).unwrap();
    audit.as_array().unwrap().iter().any(|e| {
        e["action"] == "alias.set"
            && e["actor"]
                .as_str()
                .is_some_and(|a| a.starts_with("release-bot (token "))
    })
}

/// The infrastructure file declares a team server (`sluice.workspace.server`): the training
/// workflow connects to it with `SLUICE_URL` instead of a folder, the job is uploaded to it and
/// runs there as the trainer, and the promotion goes through it too, as the release owner.
#[test]
fn the_generated_github_workflow_trains_and_promotes_on_a_declared_team_server() {
    let ctx = TestContext::new();
    let root = project(&ctx);
    let TeamServer {
        ws,
        trainer,
        bot,
        olga,
        server,
    } = team_server(&ctx, &root);
    ctx.ok(&[
        "ci",
        "init",
        "github",
        "--dir",
        root.to_str().unwrap(),
        "--pipeline",
        "pipeline.yml",
    ]);
    let train = yaml(&root.join(".github/workflows/deploy-model-training-pipeline.yml"));
    // A team server every job reaches: GitHub's hosted runners serve.
    for job in ["train", "promote"] {
        assert_eq!(train["jobs"][job]["runs-on"], "ubuntu-latest", "{job}");
    }

    let ci = GitHub {
        root: root.clone(),
        temp: ctx.root().join("runner-temp"),
        secrets: BTreeMap::from([
            ("SLUICE_TRAINER_TOKEN".to_owned(), trainer.clone()),
            ("SLUICE_OWNER_TOKEN".to_owned(), bot),
        ]),
        overrides: BTreeMap::from([("APPROVAL_POLL".to_owned(), "0.2".to_owned())]),
        event: String::new(),
        fork: false,
        branch: String::new(),
    };
    let outputs = ci.job(&train, "train", &BTreeMap::new()).unwrap().unwrap();
    assert_eq!(outputs["version"], "1", "{outputs:?}");
    // Run by the server, from an upload of the project (not of the workspace inside it).
    let (upload, copy) = the_upload(&ws);
    let name = upload.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("train-4242-1-"), "{name}");
    assert!(
        !copy.join(".sluice-workspaces").exists(),
        "the workspace in the project is not uploaded"
    );
    let status: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("model-status.json")).unwrap())
            .unwrap();
    assert_eq!(status["versions"][0]["created_by"], "ci-trainer");

    let needs = BTreeMap::from([("train".to_owned(), outputs)]);
    let promote = std::thread::spawn(move || ci.job(&train, "promote", &needs));
    let promoted = approve_while_it_waits(&ws, &trainer, &olga, promote);
    assert!(promoted.is_ok(), "{}", promoted.unwrap_err());
    assert!(
        promoted_by_the_release_bot(&ws, &olga),
        "the audit log shows no alias moved by the release owner"
    );
    drop(server);
}

// ---- an Azure Pipelines agent, as far as these pipelines need one ------------------------

#[derive(Clone, Default)]
struct Azure {
    root: PathBuf,
    /// The pipeline file's folder (variable templates are relative to it).
    dir: PathBuf,
    /// Variables (names are case-insensitive, as Azure DevOps has them: kept lowercase): the
    /// pipeline's, the predefined ones, the secret ones (`secret` names those not exported to
    /// scripts).
    vars: BTreeMap<String, String>,
    secret: Vec<String>,
    /// Stage → job → `step.variable` → value.
    outputs: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
}

impl Azure {
    fn load(root: &Path, file: &Path, temp: &Path, secrets: &[(&str, &str)]) -> (Self, Value) {
        let pipeline = yaml(file);
        let mut az = Azure {
            root: root.to_path_buf(),
            dir: file.parent().unwrap().to_path_buf(),
            ..Azure::default()
        };
        for item in pipeline["variables"].as_array().unwrap() {
            if let Some(t) = item["template"].as_str() {
                let vars = yaml(&az.dir.join(t));
                // Azure DevOps refuses a variables template holding anything else.
                for key in vars.as_object().unwrap().keys() {
                    assert!(
                        matches!(key.as_str(), "variables" | "parameters"),
                        "{t}: `{key}:` in a variables template"
                    );
                }
                for (k, v) in vars["variables"].as_object().unwrap() {
                    az.vars.insert(k.to_lowercase(), scalar(v));
                }
            } else {
                az.vars
                    .insert(scalar(&item["name"]).to_lowercase(), scalar(&item["value"]));
            }
        }
        let staging = temp.join("staging");
        std::fs::create_dir_all(&staging).unwrap();
        for (k, v) in [
            ("Build.BuildId", "777".to_owned()),
            ("Build.Reason", "IndividualCI".to_owned()),
            ("Build.SourceBranch", "refs/heads/main".to_owned()),
            (
                "Build.ArtifactStagingDirectory",
                staging.display().to_string(),
            ),
            ("Agent.TempDirectory", temp.display().to_string()),
            ("Agent.OS", "Linux".to_owned()),
            (
                "Pipeline.Workspace",
                temp.join("pipeline").display().to_string(),
            ),
        ] {
            az.vars.insert(k.to_lowercase(), v);
        }
        for (k, v) in secrets {
            az.vars.insert(k.to_lowercase(), (*v).to_owned());
            az.secret.push(k.to_lowercase());
        }
        (az, pipeline)
    }

    /// `$(name)` macros replaced where the variable exists (others, like `$(date +%s)`, stay).
    fn macros(vars: &BTreeMap<String, String>, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("$(") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            match after.find(')') {
                Some(end)
                    if after[..end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
                        && vars.contains_key(&after[..end].to_lowercase()) =>
                {
                    out.push_str(&vars[&after[..end].to_lowercase()]);
                    rest = &after[end + 1..];
                }
                _ => {
                    out.push_str("$(");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// A condition: `and(...)`, `ne(a, b)`, `eq(a, b)`, `succeeded()`, `variables['X']`,
    /// `dependencies.S.outputs['J.step.var']`, `'literal'`.
    fn cond(&self, vars: &BTreeMap<String, String>, expr: &str) -> String {
        let expr = expr.trim();
        if let Some(lit) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
            return lit.to_owned();
        }
        if expr == "succeeded()" {
            return "true".into();
        }
        if let Some(name) = expr
            .strip_prefix("variables['")
            .and_then(|e| e.strip_suffix("']"))
        {
            return vars.get(&name.to_lowercase()).cloned().unwrap_or_default();
        }
        if let Some(rest) = expr.strip_prefix("dependencies.") {
            let (stage, key) = rest.split_once(".outputs['").unwrap();
            let key = key.strip_suffix("']").unwrap();
            let (job, var) = key.split_once('.').unwrap();
            return self.outputs[stage][job]
                .get(var)
                .cloned()
                .unwrap_or_default();
        }
        let (func, args) = expr.split_once('(').expect("a function");
        let args = split_args(args.strip_suffix(')').unwrap());
        let values: Vec<String> = args.iter().map(|a| self.cond(vars, a)).collect();
        match func {
            "and" => values.iter().all(|v| v == "true").to_string(),
            "ne" => (values[0] != values[1]).to_string(),
            "eq" => (values[0] == values[1]).to_string(),
            other => panic!("the test agent does not know `{other}()`"),
        }
    }

    /// Runs a stage's jobs in order; false when its condition skips it.
    fn stage(&mut self, stage: &Value) -> Result<bool, String> {
        let mut vars = self.vars.clone();
        if let Some(c) = stage["condition"].as_str()
            && self.cond(&vars, c) != "true"
        {
            return Ok(false);
        }
        for (k, v) in stage["variables"].as_object().into_iter().flatten() {
            let v = scalar(v);
            let value = match v
                .strip_prefix("$[ stageDependencies.")
                .and_then(|r| r.strip_suffix("'] ]"))
            {
                Some(r) => {
                    let (path, var) = r.split_once(".outputs['").unwrap();
                    let (s, j) = path.split_once('.').unwrap();
                    self.outputs[s][j].get(var).cloned().unwrap_or_default()
                }
                None => v,
            };
            vars.insert(k.to_lowercase(), value);
        }
        let stage_name = scalar(&stage["stage"]);
        for job in stage["jobs"].as_array().unwrap() {
            let (name, steps) = match job.get("deployment") {
                Some(d) => (scalar(d), &job["strategy"]["runOnce"]["deploy"]["steps"]),
                None => (scalar(&job["job"]), &job["steps"]),
            };
            let mut job_vars = vars.clone();
            let mut outs = BTreeMap::new();
            for step in steps.as_array().unwrap() {
                let Some(script) = step["script"].as_str() else {
                    continue;
                };
                if let Some(c) = step["condition"].as_str()
                    && self.cond(&job_vars, c) != "true"
                {
                    continue;
                }
                let script = Self::macros(&job_vars, script);
                let mut env: BTreeMap<String, String> = job_vars
                    .iter()
                    .filter(|(k, _)| !self.secret.contains(k))
                    .map(|(k, v)| (k.to_uppercase().replace('.', "_"), v.clone()))
                    .collect();
                for (k, v) in step["env"].as_object().into_iter().flatten() {
                    env.insert(k.clone(), Self::macros(&job_vars, &scalar(v)));
                }
                let out = shell(&script, &self.root, &env, &[]);
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                if !out.status.success() {
                    return Err(format!(
                        "step `{}` of job `{name}` failed ({:?})\nstdout:\n{stdout}\nstderr:\n{}",
                        step["displayName"].as_str().unwrap_or_default(),
                        out.status.code(),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                for line in stdout.lines() {
                    let Some(rest) = line.strip_prefix("##vso[task.setvariable variable=") else {
                        continue;
                    };
                    let (props, value) = rest.split_once(']').unwrap();
                    let mut props = props.split(';');
                    let var = props.next().unwrap().to_owned();
                    if props.any(|p| p == "isOutput=true") {
                        outs.insert(format!("{}.{var}", scalar(&step["name"])), value.to_owned());
                    } else {
                        job_vars.insert(var.to_lowercase(), value.to_owned());
                    }
                }
            }
            self.outputs
                .entry(stage_name.clone())
                .or_default()
                .insert(name, outs);
        }
        Ok(true)
    }
}

/// `a, b(c, d), 'e, f'` → its top-level arguments.
fn split_args(text: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in text.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// The test project with its Azure DevOps pipelines written: the project, the pipelines'
/// folder, and an agent's temporary folder.
fn azure_devops_project(ctx: &TestContext) -> (PathBuf, PathBuf, PathBuf) {
    let root = project(ctx);
    ctx.ok(&[
        "ci",
        "init",
        "azure-devops",
        "--dir",
        root.to_str().unwrap(),
        "--pipeline",
        "pipeline.yml",
    ]);
    let dir = root.join("mlops/devops-pipelines");
    let temp = ctx.root().join("agent");
    std::fs::create_dir_all(&temp).unwrap();
    (root, dir, temp)
}

#[test]
fn the_generated_azure_devops_pipelines_run_from_nothing_to_an_approved_promotion() {
    let ctx = TestContext::new();
    let (root, dir, temp) = azure_devops_project(&ctx);

    // Pipeline 1 for a pull request: validated and planned (the plan published), nothing made.
    let (mut pr, pipeline) = Azure::load(&root, &dir.join("deploy-infra.yml"), &temp, &[]);
    pr.vars.insert("build.reason".into(), "PullRequest".into());
    let ran: Vec<bool> = pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stage| pr.stage(stage).unwrap())
        .collect();
    assert!(ran[0], "the plan stage runs");
    assert!(ran[1..].iter().all(|r| !r), "nothing applied: {ran:?}");
    let workspaces = runner_home(&root).join(".sluice-workspaces");
    assert!(!workspaces.exists() && !root.join(".sluice-workspaces").exists());

    // Pipeline 1: the infrastructure file is its variables template; nothing exists yet.
    let (mut infra, pipeline) = Azure::load(&root, &dir.join("deploy-infra.yml"), &temp, &[]);
    // A workspace folder must outlive each job: a self-hosted agent pool.
    assert_eq!(pipeline["pool"]["name"], "Default");
    assert_eq!(
        infra.vars["aml_workspace"],
        "mlw-$(namespace)-$(postfix)$(environment)"
    );
    for stage in pipeline["stages"].as_array().unwrap() {
        assert!(infra.stage(stage).unwrap(), "{stage}");
    }
    let staging = temp.join("staging");
    let plan = std::fs::read_to_string(staging.join("infra-plan.txt")).unwrap();
    assert!(plan.contains("+ token ci-trainer"), "{plan}");
    // Production: its own workspace, from the prod file, with its own tokens.
    let prod: Value = serde_json::from_str(
        &std::fs::read_to_string(staging.join("workspace-prod.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(prod["name"], "mlw-taxi-01prod", "{prod:#}");
    assert!(temp.join("sluice-secrets-prod.json").is_file());
    let workspace: Value =
        serde_json::from_str(&std::fs::read_to_string(staging.join("workspace.json")).unwrap())
            .unwrap();
    let ws = workspace["path"].as_str().unwrap().to_owned();
    assert_eq!(Path::new(&ws), workspaces.join("mlw-taxi-01dev"));
    let secrets: Value =
        serde_json::from_str(&std::fs::read_to_string(temp.join("sluice-secrets.json")).unwrap())
            .unwrap();
    let token = |n: &str| secrets[n].as_str().unwrap().to_owned();
    let (trainer, bot, olga) = (token("ci-trainer"), token("release-bot"), token("olga"));

    // Pipeline 2 as the trainer, then the promotion stage waiting for the approval.
    let (mut train, pipeline) = Azure::load(
        &root,
        &dir.join("deploy-model-training-pipeline.yml"),
        &temp,
        &[
            ("SLUICE_TRAINER_TOKEN", &trainer),
            ("SLUICE_OWNER_TOKEN", &bot),
        ],
    );
    train.vars.insert("approval_poll".into(), "0.2".into());
    assert_eq!(
        train.vars["environment"], "dev",
        "no pipeline variable hides the file's"
    );
    let stages = pipeline["stages"].as_array().unwrap().clone();
    assert!(train.stage(&stages[0]).unwrap());
    assert_eq!(train.outputs["Train"]["Train"]["run.version"], "1");
    let report = staging.join("model-report");
    assert!(
        report.join("model-lineage.json").is_file() && report.join("model-status.json").is_file()
    );
    let promote_stage = stages[1].clone();
    assert_eq!(
        promote_stage["jobs"][0]["environment"], "production",
        "the deployment job waits for the environment's checks"
    );
    // A pull request's run, or one from another branch, promotes nothing.
    for (var, value) in [
        ("build.reason", "PullRequest"),
        ("build.sourcebranch", "refs/heads/feature"),
    ] {
        let mut other = train.clone();
        other.vars.insert(var.into(), value.into());
        assert_eq!(other.stage(&promote_stage), Ok(false), "{var} {value}");
    }
    let promote = std::thread::spawn(move || train.stage(&promote_stage));
    let ran = approve_while_it_waits(&ws, &trainer, &olga, promote);
    assert_eq!(ran, Ok(true));
}

/// The Azure DevOps training pipeline on a team server its infrastructure file declares: the
/// agent's `SLUICE_URL` is set from `sluice.workspace.server`, the environment build and cache
/// steps are skipped (their conditions say so), the job is uploaded to the server and runs there
/// as the trainer, and the promotion stage goes through the server as the release owner once
/// another owner approved.
#[test]
fn the_generated_azure_devops_training_runs_on_a_declared_team_server() {
    let ctx = TestContext::new();
    let (root, dir, temp) = azure_devops_project(&ctx);
    let TeamServer {
        ws,
        trainer,
        bot,
        olga,
        server,
    } = team_server(&ctx, &root);

    let (mut train, pipeline) = Azure::load(
        &root,
        &dir.join("deploy-model-training-pipeline.yml"),
        &temp,
        &[
            ("SLUICE_TRAINER_TOKEN", &trainer),
            ("SLUICE_OWNER_TOKEN", &bot),
        ],
    );
    train.vars.insert("approval_poll".into(), "0.2".into());
    let stages = pipeline["stages"].as_array().unwrap().clone();
    assert!(train.stage(&stages[0]).unwrap());
    assert_eq!(train.outputs["Train"]["Train"]["run.version"], "1");
    // Run by the server from one upload of the project; no environment was built here.
    the_upload(&ws);
    let status: Value = serde_json::from_str(
        &std::fs::read_to_string(temp.join("staging/model-report/model-status.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        status["versions"][0]["created_by"], "ci-trainer",
        "{status:#}"
    );

    let promote_stage = stages[1].clone();
    let promote = std::thread::spawn(move || train.stage(&promote_stage));
    let ran = approve_while_it_waits(&ws, &trainer, &olga, promote);
    assert_eq!(ran, Ok(true));
    assert!(
        promoted_by_the_release_bot(&ws, &olga),
        "the audit log shows no alias moved by the release owner"
    );
    drop(server);
}

/// `check-jsonschema` (from PyPI, installed by `tests/ci/setup.sh`; `SLUICE_TEST_CHECK_JSONSCHEMA`
/// names its folder), or `None` (the test says it is skipped).
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn check_jsonschema(test: &str) -> Option<Command> {
    let Some(dir) = std::env::var("SLUICE_TEST_CHECK_JSONSCHEMA")
        .ok()
        .filter(|d| !d.is_empty())
    else {
        eprintln!(
            "skipped: SLUICE_TEST_CHECK_JSONSCHEMA is unset, so {test} did not run (tests/ci/setup.sh installs it)"
        );
        return None;
    };
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "check_jsonschema"]).env("PYTHONPATH", dir);
    Some(cmd)
}

#[test]
fn the_generated_pipelines_validate_against_the_published_schemas() {
    let Some(_) =
        check_jsonschema("the_generated_pipelines_validate_against_the_published_schemas")
    else {
        return;
    };
    let ctx = TestContext::new();
    let root = project(&ctx);
    init_both(&ctx, &root);
    let check = |schema: &str, files: &[PathBuf]| -> std::process::Output {
        let mut cmd = check_jsonschema("").unwrap();
        cmd.args(["--regex-variant", "python", "--builtin-schema", schema])
            .args(files)
            .output()
            .unwrap()
    };
    for (schema, dir) in [
        ("vendor.github-workflows", ".github/workflows"),
        ("vendor.azure-pipelines", "mlops/devops-pipelines"),
    ] {
        let files: Vec<PathBuf> = ["deploy-infra.yml", "deploy-model-training-pipeline.yml"]
            .iter()
            .map(|f| root.join(dir).join(f))
            .collect();
        let out = check(schema, &files);
        assert!(
            out.status.success(),
            "{schema}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The check is a real one: a misspelt key fails it.
        let bad = ctx.root().join(format!("bad-{schema}.yml"));
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let broken = text.replacen("    runs-on:", "    runs-onn:", 1).replacen(
            "  - stage:",
            "  - stagee:",
            1,
        );
        assert_ne!(text, broken);
        std::fs::write(&bad, broken).unwrap();
        let out = check(schema, &[bad]);
        assert!(!out.status.success(), "{schema} accepted a misspelt key");
    }
}

/// `ci init` for both systems in the test project (its pipeline at its root), over what an
/// earlier one wrote.
fn init_both(ctx: &TestContext, root: &Path) {
    for system in ["github", "azure-devops"] {
        ctx.ok(&[
            "ci",
            "init",
            system,
            "--dir",
            root.to_str().unwrap(),
            "--pipeline",
            "pipeline.yml",
            "--force",
            "-o",
            "none",
        ]);
    }
}

/// Every "Install sluice" step's script in a generated file (GitHub `run:`, Azure `script:`).
fn install_steps(file: &Path) -> Vec<String> {
    fn walk(v: &Value, found: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                let named = [&m.get("name"), &m.get("displayName")]
                    .iter()
                    .any(|n| n.and_then(Value::as_str) == Some("Install sluice"));
                if named {
                    let script = m.get("run").or_else(|| m.get("script"));
                    found.push(
                        script
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                m.values().for_each(|v| walk(v, found));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&yaml(file), &mut found);
    found
}

/// Where each pipeline's jobs run follows where the workspace lives: a folder needs a
/// self-hosted runner (agent) whose disk keeps it; a PostgreSQL store with a blob store is
/// reached by hosted ones; a team server runs the training from anywhere, but the
/// infrastructure is applied where its folder is.
#[test]
fn ci_init_chooses_runners_by_where_the_workspace_lives() {
    let ctx = TestContext::new();
    let root = project(&ctx);
    let declarations = std::fs::read_to_string(root.join(DECLARATIONS)).unwrap();
    let runs_on = |workspace: &str| -> Vec<(String, String)> {
        std::fs::write(
            root.join(DECLARATIONS),
            declarations.replacen(
                "sluice:\n",
                &format!("sluice:\n  workspace:\n{workspace}"),
                1,
            ),
        )
        .unwrap();
        init_both(&ctx, &root);
        let mut seen = Vec::new();
        for (file, job) in [
            ("deploy-infra.yml", "dev"),
            ("deploy-model-training-pipeline.yml", "promote"),
        ] {
            let gh = yaml(&root.join(".github/workflows").join(file));
            let az = yaml(&root.join("mlops/devops-pipelines").join(file));
            let pool = az["pool"]["vmImage"].as_str().map_or_else(
                || format!("name {}", az["pool"]["name"]),
                |v| format!("vmImage {v}"),
            );
            seen.push((scalar(&gh["jobs"][job]["runs-on"]), pool));
        }
        seen
    };
    let hosted = (
        "ubuntu-latest".to_owned(),
        "vmImage $(ap_vm_image)".to_owned(),
    );
    let own = ("self-hosted".to_owned(), "name \"Default\"".to_owned());
    assert_eq!(runs_on("    path: /srv/ws\n"), [own.clone(), own.clone()]);
    assert_eq!(
        runs_on("    store: postgresql://sluice@db/dev\n    artifacts: s3://ml/dev\n"),
        [hosted.clone(), hosted.clone()]
    );
    assert_eq!(
        runs_on("    store: postgresql://sluice@db/dev\n"),
        [own.clone(), own.clone()],
        "artifacts in a folder need the folder"
    );
    assert_eq!(
        runs_on("    path: /srv/ws\n    server: https://sluice.example.org:5000\n"),
        [own, hosted],
        "a team server trains from anywhere; its folder is applied where it is"
    );
    // Hosted jobs end after 6 hours: the approval waits less.
    let train = yaml(&root.join(".github/workflows/deploy-model-training-pipeline.yml"));
    assert_eq!(train["jobs"]["promote"]["env"]["APPROVAL_TIMEOUT"], "20400");
    assert_eq!(scalar(&train["jobs"]["promote"]["timeout-minutes"]), "355");
}

#[test]
fn a_runner_without_sluice_is_told_to_set_sluice_git() {
    let ctx = TestContext::new();
    let root = project(&ctx);
    init_both(&ctx, &root);
    let mut steps = 0;
    for file in [
        ".github/workflows/deploy-infra.yml",
        ".github/workflows/deploy-model-training-pipeline.yml",
        "mlops/devops-pipelines/deploy-infra.yml",
        "mlops/devops-pipelines/deploy-model-training-pipeline.yml",
    ] {
        for script in install_steps(&root.join(file)) {
            steps += 1;
            let script = script.replace("$(Pipeline.Workspace)", &ctx.root().display().to_string());
            // No sluice on PATH and no SLUICE_GIT: the step fails before building, saying why.
            let out = Command::new("bash")
                .args(["--noprofile", "--norc", "-c", &script])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("SLUICE_VERSION", "0.1.0")
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{file}: {said}");
            assert!(
                said.contains("SLUICE_GIT to the git URL of the sluice source"),
                "{file}: {said}"
            );
        }
    }
    assert_eq!(
        steps, 9,
        "every job installs it: two in each file, three in Azure's deploy-infra"
    );
}

#[test]
fn the_python_examples_ci_files_are_what_ci_init_writes_today() {
    let ctx = TestContext::new();
    let example = ctx.copy_example("taxi-fare-python");
    let shipped: Vec<(PathBuf, String)> = [
        ".github/workflows/deploy-infra.yml",
        ".github/workflows/deploy-model-training-pipeline.yml",
        "mlops/devops-pipelines/deploy-infra.yml",
        "mlops/devops-pipelines/deploy-model-training-pipeline.yml",
    ]
    .iter()
    .map(|f| {
        let p = example.join(f);
        let text = std::fs::read_to_string(&p).unwrap();
        (p, text)
    })
    .collect();
    let init = |system: &str| {
        let out = ctx.run(&[
            "ci",
            "init",
            system,
            "--dir",
            example.to_str().unwrap(),
            "--force",
        ]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for system in ["github", "azure-devops"] {
        // The model its pipeline registers is the one the pipelines promote.
        let said = init(system);
        assert!(!said.contains("warning"), "{said}");
    }
    // Azure DevOps reads the infrastructure files as variables templates: nothing else in them.
    for env in ["dev", "prod"] {
        let vars = yaml(&example.join(format!("config-infra-{env}.yml")));
        let keys: Vec<&String> = vars.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["variables"], "config-infra-{env}.yml");
    }
    for (path, text) in shipped {
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "{} differs from what `sluice ci init` writes: regenerate it",
            path.display()
        );
    }
    // A pipeline that registers another model than the policy's is said to.
    let pipeline = example.join("mlops/azureml/train/pipeline.yml");
    let text = std::fs::read_to_string(&pipeline).unwrap();
    assert!(text.contains("model_name: taxi-model"), "{text}");
    std::fs::write(
        &pipeline,
        text.replace("model_name: taxi-model", "model_name: fares"),
    )
    .unwrap();
    let said = init("github");
    assert!(
        said.contains("registers `fares`") && said.contains("promote `taxi-model`"),
        "{said}"
    );
}
