//! `sluice ci init github|azure-devops`: writes a project's two pipelines, as the Azure ML
//! templates have them: `deploy-infra` (validate → plan → apply → smoke test, the plan kept as
//! an artifact) and `deploy-model-training-pipeline` (environment build cached by its hash, the
//! training pipeline run and checked, lineage and gate results kept, promotion to the protected
//! alias in a separate job behind the CI system's approval and Sluice's four-eyes approval).
//!
//! The files are templates in `templates/`, filled with the project's paths and names
//! (inferred from its infrastructure file where not given).

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::{CiInitArgs, CiSystem};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::ui;

const GITHUB_INFRA: &str = include_str!("templates/github-deploy-infra.yml");
const GITHUB_TRAIN: &str = include_str!("templates/github-deploy-model-training-pipeline.yml");
const AZURE_INFRA: &str = include_str!("templates/azure-deploy-infra.yml");
const AZURE_TRAIN: &str = include_str!("templates/azure-deploy-model-training-pipeline.yml");

pub(crate) fn init(ctx: &Ctx<'_>, args: &CiInitArgs) -> Result<(), CliError> {
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir()
            .map_err(|e| CliError::Workspace(format!("cannot read the current folder: {e}")))?,
    };
    // Absolute, so that files the infrastructure file names are written relative to it.
    let root = std::path::absolute(&root).unwrap_or(root);
    let rel = |p: &Path| -> String {
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            root.join(p)
        };
        abs.strip_prefix(&root)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    let need = |p: &Path, what: &str, flag: &str| -> Result<(), CliError> {
        let abs = root.join(p);
        if abs.is_file() {
            Ok(())
        } else {
            Err(CliError::usage(
                format!("{what} `{}` is not in {}", p.display(), root.display()),
                format!("pass `{flag} PATH` (relative to the project folder)"),
            ))
        }
    };
    let infra_dev = args
        .infra_dev
        .clone()
        .unwrap_or_else(|| PathBuf::from("config-infra-dev.yml"));
    let infra_prod = args
        .infra_prod
        .clone()
        .unwrap_or_else(|| PathBuf::from("config-infra-prod.yml"));
    need(&infra_dev, "the dev infrastructure file", "--infra-dev")?;
    need(&infra_prod, "the prod infrastructure file", "--infra-prod")?;
    let pipeline = args
        .pipeline
        .clone()
        .unwrap_or_else(|| PathBuf::from("mlops/azureml/train/pipeline.yml"));
    need(&pipeline, "the training pipeline", "--pipeline")?;
    // What the dev infrastructure file declares fills in the model and environment.
    let mut warnings = Vec::new();
    let spec = sluice_spec::load_infra(&root.join(&infra_dev), &mut warnings)?;
    let model = match (&args.model, spec.policies.first()) {
        (Some(m), _) => m.clone(),
        (None, Some(p)) => p.model.value.clone(),
        (None, None) => {
            return Err(CliError::usage(
                "which model does the pipeline register?",
                "pass `--model NAME`, or declare its policy in the infrastructure file (`sluice: {policies: [{model: NAME, file: policy.yml}]}`)",
            ));
        }
    };
    if let Some(registered) = pipeline_model(&root.join(&pipeline))
        && registered != model
    {
        ui::warn(&format!(
            "the training pipeline `{}` registers `{registered}` (its `model_name` input), but the pipelines written here promote `{model}`: its promotion would find no version",
            rel(&pipeline)
        ));
    }
    let environment = match (&args.environment, spec.environments.first()) {
        (Some(e), _) => e.clone(),
        (None, Some(file)) => {
            super::environment::row_of(&crate::cli::EnvironmentCreateArgs {
                file: file.value.clone(),
                set: crate::cli::SetArgs::default(),
                name: None,
                version: None,
                python: None,
            })?
            .name
        }
        (None, None) => String::new(),
    };
    let code_dir = args.code_dir.clone().unwrap_or_else(|| {
        ["data-science", "src", "components"]
            .into_iter()
            .find(|d| root.join(d).is_dir())
            .map_or_else(|| PathBuf::from("."), PathBuf::from)
    });
    let pipeline_dir = pipeline
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| ".".to_owned(), rel);
    let (files, ci_dir): (Vec<(&str, &str)>, &str) = match args.system {
        CiSystem::Github => (
            vec![
                ("deploy-infra.yml", GITHUB_INFRA),
                ("deploy-model-training-pipeline.yml", GITHUB_TRAIN),
            ],
            ".github/workflows",
        ),
        CiSystem::AzureDevops => (
            vec![
                ("deploy-infra.yml", AZURE_INFRA),
                ("deploy-model-training-pipeline.yml", AZURE_TRAIN),
            ],
            "mlops/devops-pipelines",
        ),
    };
    let to_root = ci_dir
        .split('/')
        .map(|_| "..")
        .collect::<Vec<_>>()
        .join("/");
    // Where each pipeline's jobs run. A workspace folder must outlive each job: a self-hosted
    // runner (agent) keeps it, outside the checkout it cleans (`SLUICE_WORKSPACES`). A shared
    // PostgreSQL store with a blob store is reached from anywhere: hosted runners serve both
    // pipelines (each job sets the folder's settings up again). A team server runs the
    // training from anywhere, but the infrastructure is applied to its workspace's folder,
    // where it runs (`sluice.workspace.path`).
    let prod_spec = sluice_spec::load_infra(&root.join(&infra_prod), &mut Vec::new())?;
    let shared_store = |w: &sluice_spec::WorkspaceDecl| {
        w.store
            .as_deref()
            .is_some_and(|s| s.starts_with("postgres"))
            && w.artifacts.as_deref().is_some_and(|a| a.contains("://"))
    };
    // The infrastructure pipeline applies both files; the training one uses dev's workspace.
    let infra_hosted = shared_store(&spec.workspace) && shared_store(&prod_spec.workspace);
    let train_hosted = shared_store(&spec.workspace) || spec.workspace.server.is_some();
    let runner = |hosted: bool| -> [(&str, String); 3] {
        if hosted {
            [
                ("RUNS_ON", "ubuntu-latest".to_owned()),
                ("POOL", "vmImage: $(ap_vm_image)".to_owned()),
                (
                    "WHY",
                    "hosted ones: the dev file declares a workspace every job reaches".to_owned(),
                ),
            ]
        } else {
            [
                ("RUNS_ON", "self-hosted".to_owned()),
                (
                    "POOL",
                    "name: Default # a self-hosted agent pool: the workspace folder outlives each job"
                        .to_owned(),
                ),
                (
                    "WHY",
                    "self-hosted ones: the workspace folder must outlive each job (outside the\n# checkout, in SLUICE_WORKSPACES); for hosted ones declare a PostgreSQL `store` and a\n# blob store `artifacts` (or, for training, a team `server`)".to_owned(),
                ),
            ]
        }
    };
    // How long the promotion waits for its approvals: hosted jobs end after 6 hours (leaving the
    // job a quarter of an hour for the rest).
    let (approval_timeout, promote_minutes) = if train_hosted {
        ("20400", "355")
    } else {
        ("86400", "1450")
    };
    // The files holding the declarations (`sluice_infra`), which also trigger the pipelines.
    let mut declarations: Vec<String> = Vec::new();
    for d in [&spec.declarations, &prod_spec.declarations]
        .into_iter()
        .flatten()
    {
        if !declarations.contains(&rel(d)) {
            declarations.push(rel(d));
        }
    }
    let mut values: Vec<(String, String)> = Vec::new();
    for (kind, hosted) in [("INFRA", infra_hosted), ("TRAIN", train_hosted)] {
        for (key, value) in runner(hosted) {
            values.push((format!("{{{{{key}_{kind}}}}}"), value));
        }
    }
    values.push(("{{APPROVAL_TIMEOUT}}".into(), approval_timeout.into()));
    values.push(("{{PROMOTE_TIMEOUT_MINUTES}}".into(), promote_minutes.into()));
    let values = values
        .into_iter()
        .chain(
            [
                ("{{INFRA_DEV}}", rel(&infra_dev)),
                ("{{INFRA_PROD}}", rel(&infra_prod)),
                ("{{PIPELINE}}", rel(&pipeline)),
                ("{{PIPELINE_DIR}}", pipeline_dir),
                ("{{CODE_DIR}}", rel(&code_dir)),
                ("{{MODEL}}", model.clone()),
                ("{{ALIAS}}", args.alias.clone()),
                ("{{TRAINING_ENVIRONMENT}}", environment.clone()),
                ("{{SLUICE_VERSION}}", env!("CARGO_PKG_VERSION").to_owned()),
                ("{{CI_DIR}}", ci_dir.to_owned()),
                ("{{TO_ROOT}}", to_root),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        )
        .collect::<Vec<_>>();
    let dir = root.join(ci_dir);
    let mut written = Vec::new();
    for (name, template) in &files {
        let path = dir.join(name);
        if path.exists() && !args.force {
            return Err(CliError::AlreadyExists {
                message: format!("{} exists", path.display()),
                hint: Some("pass `--force` to write over it".into()),
            });
        }
        // A line naming the declarations file: one per file, none without.
        let mut text: String = template
            .lines()
            .flat_map(|line| {
                if line.contains("{{INFRA_DECLARATIONS}}") {
                    declarations
                        .iter()
                        .map(|d| line.replace("{{INFRA_DECLARATIONS}}", d))
                        .collect::<Vec<_>>()
                } else {
                    vec![line.to_owned()]
                }
            })
            .map(|line| line + "\n")
            .collect();
        for (key, value) in &values {
            text = text.replace(key, value);
        }
        // Every placeholder is filled (GitHub's own `${{ ... }}` expressions are not ours).
        if let Some((at, _)) = text
            .match_indices("{{")
            .find(|&(at, _)| !text[..at].ends_with('$'))
        {
            let end = text[at..].find("}}").map_or(text.len(), |e| at + e + 2);
            return Err(CliError::Workspace(format!(
                "the {name} template has an unfilled placeholder `{}`: a bug in sluice",
                &text[at..end]
            )));
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| CliError::Workspace(format!("cannot create {}: {e}", dir.display())))?;
        std::fs::write(&path, text)
            .map_err(|e| CliError::Workspace(format!("cannot write {}: {e}", path.display())))?;
        ui::note(&format!("wrote {}", path.display()));
        written.push(path.display().to_string());
    }
    ui::note(&match args.system {
        CiSystem::Github => "next: add the secrets SLUICE_OWNER_TOKEN, SLUICE_PROD_OWNER_TOKEN and SLUICE_TRAINER_TOKEN and the variable SLUICE_GIT (the git URL sluice is built from on runners without it) (Settings > Secrets and variables > Actions), and required reviewers to the `production` environment (Settings > Environments)".to_owned(),
        CiSystem::AzureDevops => "next: create the pipelines from these files, add the secret variables SLUICE_OWNER_TOKEN, SLUICE_PROD_OWNER_TOKEN and SLUICE_TRAINER_TOKEN and the variable SLUICE_GIT (the git URL sluice is built from on agents without it), and an approval check on the `production` environment (Pipelines > Environments)".to_owned(),
    });
    ctx.printer.print(
        &json!({
            "system": match args.system { CiSystem::Github => "github", CiSystem::AzureDevops => "azure-devops" },
            "files": written,
            "model": model,
            "alias": args.alias,
            "environment": environment,
        }),
        &["system", "files"],
    )
}

/// The model a training pipeline registers, when it says so as the Azure `MLOps` templates do:
/// its `model_name` input (a value, or a mapping with `default` or `value`).
fn pipeline_model(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let source = sluice_spec::Source::new(path.display().to_string(), text);
    let doc = sluice_spec::yaml::parse(&source, &mut Vec::new())
        .ok()?
        .to_json();
    let input = &doc["inputs"]["model_name"];
    input
        .as_str()
        .or_else(|| input["default"].as_str())
        .or_else(|| input["value"].as_str())
        .map(str::to_owned)
}
