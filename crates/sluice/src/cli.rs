//! The command-line interface, in the shape of `az ml`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Sluice runs Azure ML pipelines, tracks experiments and governs models, on one machine.
#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about,
    long_about = "Sluice runs Azure Machine Learning CLI v2 pipeline files locally and in CI, \
                  with no cloud: `sluice job create -f pipeline.yml --stream`.\n\n\
                  Exit codes are listed in docs/exit-codes.md and by `sluice exit-codes`.",
    after_help = "Exit codes: 0 ok, 1 job Failed, 2 usage, 3 invalid spec, 4 job Canceled, 5 not found, \
                  6 already exists, 10 workspace error, 11 step failed, 12 permission denied, \
                  13 audit log tampered, 101 internal error."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Output format of the command's result (on stdout).
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = OutputFormat::Json, env = "SLUICE_OUTPUT", overrides_with = "output")]
    pub(crate) output: OutputFormat,
    /// JMESPath query applied to the result before printing, e.g. `status`.
    #[arg(long, global = true, overrides_with = "query")]
    pub(crate) query: Option<String>,
    /// The workspace folder (holding `sluice.db`); default: the nearest `.sluice/` upward.
    #[arg(long, global = true, env = "SLUICE_WORKSPACE")]
    pub(crate) workspace: Option<PathBuf>,
    /// Where the workspace's metadata lives: a PostgreSQL URL (`postgresql://user@host/db`)
    /// that a team shares; default: the URL in the workspace's `store` file, else its own
    /// `sluice.db`.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "SLUICE_STORE",
        hide_env_values = true
    )]
    pub(crate) store: Option<String>,
    /// More log output on stderr (repeat for more).
    #[arg(long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SLUICE_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    /// Act as this token's identity and role (default: the local user, as owner).
    #[arg(long, global = true, env = "SLUICE_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Send the command to a team server (`sluice server`) instead of a local workspace, e.g.
    /// `https://sluice.example.org`; `--token` is its credential. Remote: `job
    /// create|validate|show|list|stream|cancel|resume|explain`, data, environments (`build`
    /// too), components, computes, datastores and models (`export` too), `token`, `audit`.
    #[arg(long, global = true, value_name = "URL", env = "SLUICE_URL")]
    pub(crate) url: Option<String>,
    /// Accepted for `az ml` scripts and ignored: the workspace is `--workspace`.
    #[arg(short = 'g', long, global = true, value_name = "NAME")]
    pub(crate) resource_group: Option<String>,
    /// Accepted for `az ml` scripts and ignored: the workspace is `--workspace`.
    #[arg(short = 'w', long, global = true, value_name = "NAME")]
    pub(crate) workspace_name: Option<String>,
    /// Accepted for `az ml` scripts and ignored.
    #[arg(long, global = true, value_name = "ID")]
    pub(crate) subscription: Option<String>,
}

/// `--set KEY=VALUE [KEY=VALUE ...]`, as `az ml` takes it on every `create`.
#[derive(Debug, Args, Default)]
pub(crate) struct SetArgs {
    /// Override values of the file: one or more `KEY=VALUE` after one `--set`, e.g.
    /// `--set experiment_name=x inputs.learning_rate=0.1` (the flag may also repeat).
    #[arg(long = "set", value_name = "KEY=VALUE", num_args = 1..)]
    pub(crate) set: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Json,
    Yaml,
    Tsv,
    Table,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run and inspect jobs (pipelines and command jobs).
    #[command(subcommand)]
    Job(JobCommand),
    /// Register and inspect data assets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Register and inspect environments.
    #[command(subcommand)]
    Environment(EnvironmentCommand),
    /// Register and inspect compute targets.
    #[command(subcommand)]
    Compute(ComputeCommand),
    /// Register and inspect datastores (Azure Blob, ADLS Gen2, S3)
    #[command(subcommand)]
    Datastore(DatastoreCommand),
    /// Register and inspect components (command and pipeline components).
    #[command(subcommand)]
    Component(ComponentCommand),
    /// The built-in steps, for use as `command:` in pipeline files.
    #[command(subcommand)]
    Step(StepCommand),
    /// Register and inspect models, move their aliases, govern their promotion.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Create, list and revoke API tokens (roles: reader, contributor, owner).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The hash-chained audit log of governed changes.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Create, show and list workspaces (a folder, or a shared store and blob store).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// A workspace and what it holds, declared in an Azure ML `config-infra-*.yml` file:
    /// validate it, plan the changes, apply them (idempotent).
    #[command(subcommand)]
    Infra(InfraCommand),
    /// Write a project's CI pipelines (GitHub Actions or Azure DevOps): deploy the
    /// infrastructure, train and promote behind an approval.
    #[command(subcommand)]
    Ci(CiCommand),
    /// Serve the MLflow REST API (tracking, artifacts, model registry) and the web UI over the
    /// workspace.
    Server(ServerArgs),
    /// Open the workspace in the browser: a server on a free loopback port, its web UI's URL
    /// printed (runs, comparisons, jobs, models, approvals, lineage, audit); Ctrl-C stops it.
    Ui(UiArgs),
    /// List the exit codes and what each means.
    ExitCodes,
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobCommand {
    /// Create a job from a YAML file and run it to the end.
    Create(JobCreateArgs),
    /// Check a job file and plan it against the workspace (assets, environments, components,
    /// interpreters) without running or writing anything; exit 0, or the located error.
    Validate(JobValidateArgs),
    /// Show a job, its steps and outputs.
    Show(JobShowArgs),
    /// List jobs, newest first.
    List(JobListArgs),
    /// Print the logs of a job's steps (following them while the job runs).
    Stream(NameArg),
    /// Run a Failed or Canceled (or interrupted) job again: its completed steps are kept, the
    /// rest run.
    Resume(JobResumeArgs),
    /// Stop a running job (from another terminal): its running steps are stopped and marked
    /// Canceled, completed outputs are kept for `job resume`.
    Cancel(NameArg),
    /// Say, for each step, whether it was reused (and from what) or why it ran: which part of
    /// its reuse key differed from the closest earlier run.
    Explain(JobExplainArgs),
}

#[derive(Debug, Args)]
pub(crate) struct JobResumeArgs {
    /// The job's name.
    #[arg(short, long)]
    pub(crate) name: String,
    /// Stream step logs and status changes to stderr while the job runs.
    #[arg(short, long)]
    pub(crate) stream: bool,
    /// The most steps to run at once (default: as when the job was created).
    #[arg(long)]
    pub(crate) max_parallel: Option<usize>,
    /// Resume the job only while it is interrupted (its process died), not once canceled or
    /// failed otherwise (what a team server resumes on its own).
    #[arg(long, hide = true)]
    pub(crate) if_interrupted: bool,
}

#[derive(Debug, Args)]
pub(crate) struct JobExplainArgs {
    /// The job's name.
    #[arg(short, long)]
    pub(crate) name: String,
    /// Explain only this step.
    #[arg(long)]
    pub(crate) step: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct JobValidateArgs {
    /// The job file (`type: pipeline` or `type: command`).
    #[arg(short, long)]
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) set: SetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct JobShowArgs {
    /// The job's name.
    #[arg(short, long)]
    pub(crate) name: String,
    /// Say where to look at the job (its folder, logs and tracking UI); no browser is opened.
    #[arg(long)]
    pub(crate) web: bool,
}

#[derive(Debug, Args)]
pub(crate) struct JobCreateArgs {
    /// The job file (`type: pipeline` or `type: command`).
    #[arg(short, long)]
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) set: SetArgs,
    /// The job's name (default: the file's `name`, else a generated one).
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    /// Stream step logs and status changes to stderr while the job runs.
    #[arg(short, long)]
    pub(crate) stream: bool,
    /// The most steps to run at once (default: the number of cores).
    #[arg(long)]
    pub(crate) max_parallel: Option<usize>,
    /// Run every step, even those an identical earlier run could be reused for.
    #[arg(long)]
    pub(crate) force_rerun: bool,
}

#[derive(Debug, Args)]
pub(crate) struct NameArg {
    /// The job's name.
    #[arg(short, long)]
    pub(crate) name: String,
}

#[derive(Debug, Args)]
pub(crate) struct JobListArgs {
    /// The most jobs to list.
    #[arg(long, default_value_t = 50)]
    pub(crate) max_results: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DataCommand {
    /// Register a data asset version from a YAML file, or from `--name`, `--path` and `--type`
    /// (its bytes are copied into the workspace).
    Create(DataCreateArgs),
    /// Show a data asset version: `-n NAME`, `-n NAME@latest`, `-n NAME:2` or `-n NAME -v 2`.
    Show(AssetShowArgs),
    /// List data assets (the latest version of each, or every version of `--name`).
    List(AssetListArgs),
    /// The jobs and model versions built from a data asset version.
    Lineage(AssetShowArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum EnvironmentCommand {
    /// Register an environment version from an Azure ML environment YAML, a conda file or a
    /// requirements.txt; checks the file and that its Python version is on this machine.
    Create(EnvironmentCreateArgs),
    /// Show an environment version, its content hash and, once built, its pinned packages.
    Show(AssetShowArgs),
    /// Build an environment version's Python virtual environment now (jobs build on first use).
    Build(AssetShowArgs),
    /// List environments (the latest version of each, or every version of `--name`), or
    /// with `--curated` the Azure ML curated environments Sluice can build.
    List(EnvironmentListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EnvironmentListArgs {
    /// List every version of this name.
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    /// List the curated environments of the catalog shipped in Sluice.
    #[arg(long)]
    pub(crate) curated: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DataCreateArgs {
    /// The data asset YAML file (`name`, `version`, `type`, `path`).
    #[arg(short, long)]
    pub(crate) file: Option<PathBuf>,
    /// The asset's name (overrides the file's).
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    /// The version (default: the file's, else the next integer).
    #[arg(short, long)]
    pub(crate) version: Option<String>,
    /// `uri_file`, `uri_folder` or `mltable` (overrides the file's).
    #[arg(short = 't', long = "type")]
    pub(crate) ty: Option<String>,
    /// The local file or folder (overrides the file's `path`).
    #[arg(short, long)]
    pub(crate) path: Option<String>,
    /// A description.
    #[arg(short, long)]
    pub(crate) description: Option<String>,
    #[command(flatten)]
    pub(crate) set: SetArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ComponentCommand {
    /// Register a component version from its YAML file (command or pipeline component); its
    /// code and every file it refers to are stored with it.
    Create(ComponentCreateArgs),
    /// Show a component version: `-n NAME`, `-n NAME@latest`, `-n NAME:2` or `-n NAME -v 2`.
    Show(AssetShowArgs),
    /// List components (the latest version of each, or every version of `--name`).
    List(AssetListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ComponentCreateArgs {
    /// The component file.
    #[arg(short, long)]
    pub(crate) file: PathBuf,
    /// Override the file's `name`.
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    /// Override the file's `version` (default: the file's, else the next integer).
    #[arg(short, long)]
    pub(crate) version: Option<String>,
    #[command(flatten)]
    pub(crate) set: SetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AssetCreateArgs {
    /// The YAML file.
    #[arg(short, long)]
    pub(crate) file: PathBuf,
    /// Override the file's `name`.
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    /// Override the file's `version` (default: the next integer).
    #[arg(short, long)]
    pub(crate) version: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EnvironmentCreateArgs {
    /// The file: an Azure ML environment YAML (`conda_file:`, `image:`), a conda file
    /// (`dependencies:`) or a pip requirements file (`*.txt`).
    #[arg(short, long)]
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) set: SetArgs,
    /// Override the file's `name` (required for a requirements file).
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    /// Override the file's `version` (default: the next integer).
    #[arg(short, long)]
    pub(crate) version: Option<String>,
    /// The Python version for a requirements file (default: the machine's `python3`).
    #[arg(long)]
    pub(crate) python: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AssetShowArgs {
    /// The name, optionally with `@latest` or `:VERSION`.
    #[arg(short, long)]
    pub(crate) name: String,
    /// The version (default: the latest).
    #[arg(short, long)]
    pub(crate) version: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AssetListArgs {
    /// List every version of this name.
    #[arg(short, long)]
    pub(crate) name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DatastoreCommand {
    /// Create or update a datastore from Azure's datastore YAML (`type: azure_blob`,
    /// `azure_data_lake_gen2`, or `s3` for S3-compatible stores). Its secrets are kept in the
    /// workspace's credentials folder, readable by you only; without `credentials:` it signs
    /// with the environment's (`AZURE_STORAGE_*`, `AWS_*`).
    Create(DatastoreCreateArgs),
    /// Show a datastore (never its secrets).
    Show(DatastoreShowArgs),
    /// List datastores.
    List,
    /// Delete a datastore's definition and its stored secrets; the data in its storage is not
    /// touched. Data assets and jobs that name it fail until it is defined again.
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DatastoreCreateArgs {
    /// The datastore YAML file.
    #[arg(short, long)]
    pub(crate) file: PathBuf,
    /// The datastore's name (overrides the file's).
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) set: SetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DatastoreShowArgs {
    /// The datastore's name.
    #[arg(short, long)]
    pub(crate) name: String,
}

#[derive(Debug, Subcommand)]
#[expect(clippy::large_enum_variant, reason = "parsed once per process")]
pub(crate) enum ComputeCommand {
    /// Create or update a compute target.
    Create(ComputeCreateArgs),
    /// Show a compute target.
    Show(ComputeShowArgs),
    /// List compute targets.
    List,
    /// Delete a compute target's definition (a Slurm cluster itself is not touched). Jobs
    /// already running keep it; later jobs that name it fail until it is defined again.
    Delete(DeleteArgs),
}

/// `compute delete` / `datastore delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The name (`azureml:NAME` also accepted).
    #[arg(short, long)]
    pub(crate) name: String,
    /// Accepted for `az ml ... delete --yes` scripts; nothing is asked either way.
    #[arg(short, long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ComputeCreateArgs {
    /// Azure's compute YAML (`type: amlcompute` or `computeinstance`, `size`, `min_instances`,
    /// `max_instances`, `idle_time_before_scale_down`, `tier`; Slurm settings under
    /// `sluice: {slurm: {...}}`); the flags below override it.
    #[arg(short, long)]
    pub(crate) file: Option<PathBuf>,
    /// The compute's name, as used in `compute: azureml:NAME`.
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    /// `amlcompute` (the default), `computeinstance` or `local`: their steps run on this machine;
    /// `slurm`: they are submitted to a Slurm cluster with `sbatch`.
    #[arg(short = 't', long = "type")]
    pub(crate) ty: Option<String>,
    /// The VM size Azure would use (`Standard_DS3_v2`), recorded.
    #[arg(long)]
    pub(crate) size: Option<String>,
    /// The fewest nodes Azure would keep, recorded (default 0).
    #[arg(long)]
    pub(crate) min_instances: Option<u32>,
    /// The most steps that may run on it at once (default 1).
    #[arg(long)]
    pub(crate) max_instances: Option<u32>,
    /// `dedicated` or `low_priority`, recorded.
    #[arg(long)]
    pub(crate) tier: Option<String>,
    /// Seconds before Azure would scale down idle nodes, recorded.
    #[arg(long)]
    pub(crate) idle_time_before_scale_down: Option<u32>,
    /// A description.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// The Slurm partition its steps are submitted to (makes it a Slurm compute).
    #[arg(long)]
    pub(crate) partition: Option<String>,
    /// The Slurm account its steps are charged to.
    #[arg(long)]
    pub(crate) account: Option<String>,
    /// The Slurm quality of service of its steps.
    #[arg(long)]
    pub(crate) qos: Option<String>,
    /// More sbatch options for its steps, space-separated (`"--mem=16G --gres=gpu:1"`).
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) sbatch_options: Option<String>,
    #[command(flatten)]
    pub(crate) set: SetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ComputeShowArgs {
    /// The compute's name.
    #[arg(short, long)]
    pub(crate) name: String,
}

#[derive(Debug, Args)]
pub(crate) struct UiArgs {
    /// The port to listen on, on 127.0.0.1 (0 picks a free one).
    #[arg(short, long, default_value_t = 0)]
    pub(crate) port: u16,
    /// Require a token: the page asks for one (`sluice token create`).
    #[arg(long)]
    pub(crate) auth: bool,
    /// Open the page in the desktop's browser (`xdg-open`, `open` on macOS).
    #[arg(long)]
    pub(crate) open: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// The address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1", env = "SLUICE_HOST")]
    pub(crate) host: String,
    /// The port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = 5000, env = "SLUICE_PORT")]
    pub(crate) port: u16,
    /// Require a token on every request (always on for a non-loopback `--host`).
    #[arg(long)]
    pub(crate) auth: bool,
    /// Serve a non-loopback address without authentication (not recommended).
    #[arg(long, conflicts_with = "auth")]
    pub(crate) insecure_no_auth: bool,
    /// MLflow's own web UI at `/mlflow/` (Sluice's is at `/`): `auto` finds the bundle of the `mlflow` installed in the active
    /// virtual environment or the `python3` on PATH; a folder (`.../mlflow/server/js/build`)
    /// serves that one; `off` serves none.
    #[arg(
        long,
        value_name = "auto|DIR|off",
        default_value = "auto",
        env = "SLUICE_MLFLOW_UI"
    )]
    pub(crate) mlflow_ui: String,
    /// Serve everything (UI and API) under this path, as MLflow's `--static-prefix` does,
    /// e.g. `/mlflow` behind a proxy.
    #[arg(long, value_name = "PREFIX", env = "SLUICE_STATIC_PREFIX")]
    pub(crate) static_prefix: Option<String>,
    /// How many database connections requests share (several requests run at once).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256), env = "SLUICE_POOL_SIZE")]
    pub(crate) pool_size: u32,
    /// Where the `mlflow-artifacts` proxy keeps artifacts, as MLflow's `--artifacts-destination`:
    /// a folder, `s3://BUCKET/PREFIX` or `wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PREFIX`
    /// (also `abfss://`). Credentials and endpoints come from the environment, as MLflow's
    /// clients read them: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `MLFLOW_S3_ENDPOINT_URL` or
    /// `AWS_ENDPOINT_URL`, `~/.aws/credentials`; `AZURE_STORAGE_CONNECTION_STRING` or
    /// `AZURE_STORAGE_ACCESS_KEY`. Default: the workspace's `mlartifacts` folder.
    #[arg(long, value_name = "URI", env = "SLUICE_ARTIFACTS_DESTINATION")]
    pub(crate) artifacts_destination: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (with `--tls-key`); clients then use
    /// `https://` (a private CA: `REQUESTS_CA_BUNDLE=ca.pem` for the mlflow client).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        env = "SLUICE_TLS_CERT"
    )]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        env = "SLUICE_TLS_KEY"
    )]
    pub(crate) tls_key: Option<PathBuf>,
    /// Resume a job submitted to this server whose `sluice` process died (killed, crashed, or
    /// the machine restarted) at most this many times in a row; 0 never does. Its completed
    /// steps are kept and a step's Slurm job that ran on is followed. The server notices within
    /// seconds, and at its start.
    #[arg(long, value_name = "N", default_value_t = AUTO_RESUME, env = "SLUICE_AUTO_RESUME")]
    pub(crate) auto_resume: usize,
    /// The `Host` names this server answers, comma-separated, `*` allowed in a name (`*`: any),
    /// as MLflow's `--allowed-hosts`: against DNS rebinding. Default: loopback, private
    /// addresses and `--host`; checked without authentication, or when given.
    #[arg(long, value_name = "HOSTS", env = "MLFLOW_SERVER_ALLOWED_HOSTS")]
    pub(crate) allowed_hosts: Option<String>,
    /// The origins whose pages may call the API and write (comma-separated, `*` for any), as
    /// MLflow's `--cors-allowed-origins`. The server's own pages and loopback pages always may;
    /// writes from other origins are refused.
    #[arg(
        long,
        value_name = "ORIGINS",
        env = "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"
    )]
    pub(crate) cors_allowed_origins: Option<String>,
    /// The `X-Frame-Options` header: SAMEORIGIN, DENY or NONE (none sent).
    #[arg(
        long,
        value_name = "SAMEORIGIN|DENY|NONE",
        env = "MLFLOW_SERVER_X_FRAME_OPTIONS"
    )]
    pub(crate) x_frame_options: Option<String>,
    /// No host or origin checks and no security headers (for tests only), as MLflow's flag.
    #[arg(long, env = "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE")]
    pub(crate) disable_security_middleware: bool,
}

/// How many times in a row `sluice server` resumes a job whose process died, by default.
pub(crate) const AUTO_RESUME: usize = 3;

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token and print it (the only time it is shown).
    Create(TokenCreateArgs),
    /// List tokens (never their secrets).
    List {
        /// Also revoked tokens and the tokens jobs gave their steps.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a token by name or id.
    Revoke {
        /// The token's name or id.
        #[arg(short, long)]
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct TokenCreateArgs {
    /// The token's name: the identity it acts as (e.g. a person or `ci`).
    #[arg(short, long)]
    pub(crate) name: String,
    /// `reader`, `contributor` or `owner`.
    #[arg(short, long)]
    pub(crate) role: String,
    /// Days until it expires (default: never).
    #[arg(long, value_name = "DAYS")]
    pub(crate) expires: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// List audit entries, oldest first.
    List {
        /// Only entries about this registered model.
        #[arg(short, long)]
        model: Option<String>,
        /// Only entries made by this identity (a token's name, or the local user).
        #[arg(long)]
        actor: Option<String>,
        /// Only this action (`alias.set`) or those under it (`infra`, `model`, `token`, ...).
        #[arg(long)]
        action: Option<String>,
        /// Only entries recorded at or after this time: RFC 3339 (`2026-12-06T09:00:00Z`) or a
        /// date (`2026-12-06`, from its start, UTC).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only entries recorded before this time (as `--since`).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Only entries older than this one (`seq`): the page before one already listed.
        #[arg(long, value_name = "SEQ")]
        before_seq: Option<i64>,
        /// The most (newest) entries to list.
        #[arg(long, default_value_t = 1000)]
        max_results: usize,
    },
    /// Recompute the hash chain; exits 13 if an entry was edited or deleted.
    Verify,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Register a model version from an Azure model YAML (`name`, `version`, `path`, `type`,
    /// `description`, `tags`), or from `--name` and `--path`; its files are copied into the
    /// workspace and the registration is governed and audited like any other.
    Create(ModelCreateArgs),
    /// List registered models with their latest version and aliases.
    List,
    /// Show a registered model, or one of its versions with `--version`.
    Show(ModelShowArgs),
    /// Move or remove an alias (`champion`, `challenger`, ...).
    #[command(subcommand)]
    Alias(ModelAliasCommand),
    /// Set or show a model's promotion policy.
    #[command(subcommand)]
    Policy(ModelPolicyCommand),
    /// Approve a version for promotion (owners; not the version's creator).
    Approve(ModelApproveArgs),
    /// Point a (protected) alias at a version, through the promotion policy.
    Promote(ModelPromoteArgs),
    /// Which version holds which alias, approvals, and gate results per version.
    Status(ModelNameArg),
    /// How a version was made: data, job and steps, runs, environment, code, approvals.
    Lineage(ModelVersionArgs),
    /// Write a model in another format: `--format onnx` (regression trees, forests and
    /// boosting), for any ONNX runtime.
    Export(ModelExportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ModelExportArgs {
    /// A registered model (with `--version`).
    #[arg(short, long, requires = "version", conflicts_with = "path")]
    pub(crate) name: Option<String>,
    /// The registered version.
    #[arg(short, long)]
    pub(crate) version: Option<String>,
    /// A model folder instead (a `sluice step train` output).
    #[arg(long, required_unless_present = "name")]
    pub(crate) path: Option<PathBuf>,
    /// The format to write.
    #[arg(long, value_enum, default_value_t = ExportFormat::Onnx)]
    pub(crate) format: ExportFormat,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    pub(crate) file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// ONNX, for any ONNX runtime.
    Onnx,
    /// Sluice's text form (`model.json`, what versions before `model.bin` wrote).
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ModelCreateArgs {
    /// The model YAML file.
    #[arg(short, long)]
    pub(crate) file: Option<PathBuf>,
    /// The model's name (overrides the file's).
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    /// The version (default: the file's, else the next integer).
    #[arg(short, long)]
    pub(crate) version: Option<String>,
    /// The model's file or folder (overrides the file's `path`).
    #[arg(short, long)]
    pub(crate) path: Option<String>,
    /// `mlflow_model`, `custom_model` or `triton_model` (overrides the file's).
    #[arg(short = 't', long = "type")]
    pub(crate) ty: Option<String>,
    /// A description.
    #[arg(short, long)]
    pub(crate) description: Option<String>,
    #[command(flatten)]
    pub(crate) set: SetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ModelNameArg {
    /// The registered model's name.
    #[arg(short, long)]
    pub(crate) name: String,
}

#[derive(Debug, Args)]
pub(crate) struct ModelVersionArgs {
    /// The registered model's name.
    #[arg(short, long)]
    pub(crate) name: String,
    /// The version.
    #[arg(short, long)]
    pub(crate) version: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelPolicyCommand {
    /// Set the policy from a YAML file (see docs/governance.md).
    Set {
        /// The registered model's name.
        #[arg(short, long)]
        name: String,
        /// The policy file.
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Show the policy (the defaults when none is set).
    Show(ModelNameArg),
}

#[derive(Debug, Args)]
pub(crate) struct ModelApproveArgs {
    /// The registered model's name.
    #[arg(short, long)]
    pub(crate) name: String,
    /// The version to approve.
    #[arg(short, long)]
    pub(crate) version: String,
    /// Why.
    #[arg(long)]
    pub(crate) comment: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ModelPromoteArgs {
    /// The registered model's name.
    #[arg(short, long)]
    pub(crate) name: String,
    /// The version to promote.
    #[arg(short, long)]
    pub(crate) version: String,
    /// The alias to point at it.
    #[arg(short, long, default_value = "champion")]
    pub(crate) alias: String,
}

#[derive(Debug, Args)]
pub(crate) struct ModelShowArgs {
    /// The registered model's name (`NAME`, `NAME:VERSION` or `NAME@ALIAS`).
    #[arg(short, long)]
    pub(crate) name: String,
    /// A version number.
    #[arg(short, long)]
    pub(crate) version: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelAliasCommand {
    /// Point an alias at a version.
    Set {
        /// The registered model's name.
        #[arg(short, long)]
        name: String,
        /// The alias, e.g. `champion`.
        #[arg(short, long)]
        alias: String,
        /// The version it points at.
        #[arg(short, long)]
        version: String,
    },
    /// Remove an alias.
    Delete {
        /// The registered model's name.
        #[arg(short, long)]
        name: String,
        /// The alias to remove.
        #[arg(short, long)]
        alias: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StepCommand {
    /// Split and clean a table: target and features, missing values, one-hot, standardise, split.
    Prep(StepPrepArgs),
    /// Fit a model and save it as an MLflow-style model folder.
    Train(StepTrainArgs),
    /// Score a model on test data, compare with the champion and write `deploy_flag`.
    Evaluate(StepEvaluateArgs),
    /// Register the model as a new version when `deploy_flag` is 1 (or `--force`).
    Register(StepRegisterArgs),
    /// Write a deterministic synthetic taxi-fare dataset (CSV or Parquet by extension).
    SynthTaxi(StepSynthArgs),
    /// The last step of a `type: sweep` job: pick the best trial by the objective (from each
    /// trial's MLflow run) and copy its outputs to the sweep's. Written by Sluice into the job.
    SweepSelect(StepSweepSelectArgs),
    /// A `type: parallel` step (Azure's parallel job, task `run_function`): split the input
    /// into mini-batches and run the entry script's `init()` and `run()` over them in worker
    /// processes. Written by Sluice into the job.
    ParallelRun(StepParallelRunArgs),
}

#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub(crate) struct StepParallelRunArgs {
    /// The script with `init()` and `run(mini_batch)`, in the working folder.
    #[arg(long)]
    pub(crate) entry_script: String,
    /// What to split: a folder of files, a file, or an mltable folder.
    #[arg(long)]
    pub(crate) input_data: PathBuf,
    /// The input's declared type (`uri_folder`, `uri_file`, `mltable`); else a folder with an
    /// `MLTable` file is a table.
    #[arg(long)]
    pub(crate) input_type: Option<String>,
    /// Files a mini-batch (`10`), or its size for a table (`100kb`, `1mb`).
    #[arg(long)]
    pub(crate) mini_batch_size: Option<String>,
    /// Columns whose values group a table's rows into mini-batches (comma-separated).
    #[arg(long)]
    pub(crate) partition_keys: Option<String>,
    /// Worker processes (instance count x concurrency per instance).
    #[arg(long, default_value_t = 1)]
    pub(crate) workers: usize,
    /// Failed files or rows tolerated (-1: all).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub(crate) error_threshold: i64,
    /// Failed mini-batches tolerated (-1: all).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub(crate) mini_batch_error_threshold: i64,
    /// Tries of a failed mini-batch after the first.
    #[arg(long, default_value_t = 2)]
    pub(crate) max_retries: u32,
    /// Seconds a mini-batch's `run()` may take.
    #[arg(long, default_value_t = 60)]
    pub(crate) timeout: u64,
    /// Where what `run()` returns is appended (a file, or a folder for `parallel_run_step.txt`).
    #[arg(long)]
    pub(crate) append_row_to: Option<PathBuf>,
    /// Azure's `logging_level` (read; the driver logs progress lines whatever it is).
    #[arg(long)]
    pub(crate) logging_level: Option<String>,
    /// The task's `program_arguments`, given to the entry script as its `sys.argv`.
    #[arg(last = true, allow_hyphen_values = true)]
    pub(crate) program_args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StepSweepSelectArgs {
    /// A trial's output: `TRIAL_STEP:OUTPUT=PATH` (repeated).
    #[arg(long = "trial-output", value_name = "STEP:OUTPUT=PATH")]
    pub(crate) trial_outputs: Vec<String>,
    /// The sweep's output: `OUTPUT=PATH` (repeated), filled from the best trial's.
    #[arg(long = "sweep-output", value_name = "OUTPUT=PATH")]
    pub(crate) outputs: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StepPrepArgs {
    /// The input table: a CSV or Parquet file, or a folder of them.
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// The column to predict.
    #[arg(long)]
    pub(crate) target: String,
    /// Feature columns (default: every column but the target and `--drop`).
    #[arg(long, value_delimiter = ',')]
    pub(crate) features: Option<Vec<String>>,
    /// Columns to leave out.
    #[arg(long, value_delimiter = ',')]
    pub(crate) drop: Vec<String>,
    /// Columns to one-hot encode (text features must be listed here or dropped).
    #[arg(long, value_delimiter = ',')]
    pub(crate) categorical: Vec<String>,
    /// What to do with missing values: `drop` rows, or `impute` (median / most frequent).
    #[arg(long, default_value = "drop")]
    pub(crate) missing: String,
    /// Standardise numeric features (statistics from the train split).
    #[arg(long)]
    pub(crate) standardize: bool,
    /// Train, validation and test fractions.
    #[arg(long, default_value = "0.7,0.15,0.15")]
    pub(crate) split: String,
    /// Seed of the split.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Folder for the train split (`data.parquet`).
    #[arg(long)]
    pub(crate) train_output: PathBuf,
    /// Folder for the validation split.
    #[arg(long)]
    pub(crate) validation_output: Option<PathBuf>,
    /// Folder for the test split.
    #[arg(long)]
    pub(crate) test_output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct StepTrainArgs {
    /// The learner: `linear_regression`, `ridge`, `logistic_regression`, `decision_tree`,
    /// `random_forest` or `gradient_boosting`.
    #[arg(long)]
    pub(crate) algorithm: String,
    /// The training table (file or folder).
    #[arg(long)]
    pub(crate) train_data: PathBuf,
    /// A validation table, scored after training.
    #[arg(long)]
    pub(crate) validation_data: Option<PathBuf>,
    /// The column to predict.
    #[arg(long)]
    pub(crate) target: String,
    /// `regression` or `classification` (default: from the target and algorithm).
    #[arg(long)]
    pub(crate) task: Option<String>,
    /// The folder to write the model to.
    #[arg(long)]
    pub(crate) model_output: PathBuf,
    /// Trees (`random_forest`).
    #[arg(long)]
    pub(crate) n_estimators: Option<String>,
    /// Boosting rounds or solver iterations (`gradient_boosting`, `logistic_regression`).
    #[arg(long)]
    pub(crate) max_iter: Option<String>,
    /// Shrinkage (`gradient_boosting`).
    #[arg(long)]
    pub(crate) learning_rate: Option<String>,
    /// Tree depth limit, or `none`.
    #[arg(long)]
    pub(crate) max_depth: Option<String>,
    /// Leaves per tree (`gradient_boosting`).
    #[arg(long)]
    pub(crate) max_leaf_nodes: Option<String>,
    /// Features tried per split: `sqrt`, `log2`, `all`, a fraction or a count.
    #[arg(long)]
    pub(crate) max_features: Option<String>,
    /// Minimum rows in a leaf (default: 5 for `random_forest`, 20 for `gradient_boosting`, 1
    /// for `decision_tree`).
    #[arg(long)]
    pub(crate) min_samples_leaf: Option<String>,
    /// Minimum rows to split a node.
    #[arg(long)]
    pub(crate) min_samples_split: Option<String>,
    /// Bootstrap samples per tree (`random_forest`): true or false.
    #[arg(long)]
    pub(crate) bootstrap: Option<String>,
    /// L2 penalty (ridge; `linear_regression`).
    #[arg(long)]
    pub(crate) alpha: Option<String>,
    /// Inverse L2 penalty (`logistic_regression`).
    #[arg(long)]
    pub(crate) c: Option<String>,
    /// L2 regularisation of leaf values (`gradient_boosting`).
    #[arg(long)]
    pub(crate) l2_regularization: Option<String>,
    /// Seed of the learner.
    #[arg(long)]
    pub(crate) seed: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StepEvaluateArgs {
    /// The model folder.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// The test table (file or folder).
    #[arg(long)]
    pub(crate) test_data: PathBuf,
    /// The registered model to compare with.
    #[arg(long)]
    pub(crate) model_name: Option<String>,
    /// The comparison metric (default r2, or accuracy for classifiers).
    #[arg(long)]
    pub(crate) metric: Option<String>,
    /// `higher` or `lower` is better (default from the metric).
    #[arg(long)]
    pub(crate) direction: Option<String>,
    /// The output folder.
    #[arg(long)]
    pub(crate) evaluation_output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct StepRegisterArgs {
    /// The model folder.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// The registered model's name.
    #[arg(long)]
    pub(crate) model_name: String,
    /// The evaluation folder (with `deploy_flag`).
    #[arg(long)]
    pub(crate) evaluation_output: Option<PathBuf>,
    /// Register even when `deploy_flag` is 0 (recorded on the version).
    #[arg(long)]
    pub(crate) force: bool,
    /// The output folder (`model_info.json`).
    #[arg(long)]
    pub(crate) model_info_output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct StepSynthArgs {
    /// Rows to generate.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) rows: usize,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
    /// The file to write (`.csv` or `.parquet`), or a folder (gets `taxi.parquet`).
    #[arg(long)]
    pub(crate) path: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WorkspaceCommand {
    /// Create a workspace folder and name it (`--exist-ok`: keep an existing one, updating its
    /// name and tags).
    Create(WorkspaceCreateArgs),
    /// Show the workspace: its name, folder, store, artifacts, computes and datastores.
    Show,
    /// List the workspaces in a folder: its `.sluice/` and those under `.sluice-workspaces/`.
    List {
        /// The folder (default: the current one).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct WorkspaceCreateArgs {
    /// The workspace's name.
    #[arg(short, long)]
    pub(crate) name: String,
    /// The workspace folder (default: `.sluice` in the current folder).
    #[arg(long)]
    pub(crate) path: Option<PathBuf>,
    /// Where its metadata lives: a PostgreSQL URL a team shares (default: its own `sluice.db`).
    #[arg(long = "metadata-store", value_name = "URL")]
    pub(crate) store: Option<String>,
    /// Where its artifacts live: `s3://...`, `wasbs://...`, a folder (default: its own).
    #[arg(long, value_name = "URL")]
    pub(crate) artifacts: Option<String>,
    /// A folder every node of a cluster sees at the same path, for what steps read and write
    /// (step folders, environments, data, caches, a copy of `sluice`); default: the workspace
    /// folder itself.
    #[arg(long, value_name = "DIR")]
    pub(crate) shared_path: Option<PathBuf>,
    /// Tags, `KEY=VALUE` (repeatable).
    #[arg(long, num_args = 1..)]
    pub(crate) tags: Vec<String>,
    /// Succeed when the workspace exists already.
    #[arg(long)]
    pub(crate) exist_ok: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum InfraCommand {
    /// Check the file and every file it names; changes nothing (a workspace its shared
    /// PostgreSQL store holds gets its folder's settings again on a machine without them).
    Validate(InfraArgs),
    /// What `apply` would create, update or leave alone (the diff on stderr; `-o json`), and
    /// what the workspace holds that the file does not declare.
    Plan(InfraPlanArgs),
    /// Make the workspace what the file declares; prints its connection info (JSON). A second
    /// run finds nothing to do.
    Apply(InfraApplyArgs),
    /// Connect this machine to the workspace the file declares, as a CI job does before using
    /// it: the team server when one is declared, else the workspace folder (its settings made
    /// again on a fresh runner when its metadata lives in a shared store). Prints the
    /// variables to set, one `NAME=value` a line (`>> "$GITHUB_ENV"`), or Azure DevOps'
    /// `##vso[task.setvariable]` lines with `--format azure`. Changes nothing the workspace
    /// holds.
    Connect(InfraConnectArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InfraConnectArgs {
    #[command(flatten)]
    pub(crate) infra: InfraArgs,
    /// How the variables are printed: `env` (`NAME=value`) or `azure`.
    #[arg(long, value_enum, default_value = "env")]
    pub(crate) format: ConnectFormat,
}

/// How `sluice infra connect` prints the variables a CI job sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ConnectFormat {
    Env,
    Azure,
}

#[derive(Debug, Args)]
pub(crate) struct InfraArgs {
    /// The infrastructure file (`config-infra-dev.yml`).
    #[arg(short, long)]
    pub(crate) file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct InfraPlanArgs {
    #[command(flatten)]
    pub(crate) infra: InfraArgs,
    /// Plan to delete the computes and datastores, and revoke the tokens, that the workspace
    /// holds and the file does not declare (as `apply --prune` would).
    #[arg(long)]
    pub(crate) prune: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InfraApplyArgs {
    #[command(flatten)]
    pub(crate) infra: InfraArgs,
    /// Also delete the computes and datastores, and revoke the tokens, that the workspace holds
    /// and the file does not declare (never the tokens of the identity applying the file;
    /// environments, data, components and policies are never removed). Without it they are
    /// listed and kept.
    #[arg(long)]
    pub(crate) prune: bool,
    /// Then run a one-line job on each compute; fail unless every one completes.
    #[arg(long)]
    pub(crate) smoke_test: bool,
    /// Write new tokens' secrets to this file (JSON, readable by you only) instead of the
    /// result.
    #[arg(long, value_name = "FILE")]
    pub(crate) secrets_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CiCommand {
    /// Write `deploy-infra` and `deploy-model-training-pipeline` for GitHub Actions
    /// (`.github/workflows/`) or Azure DevOps (`mlops/devops-pipelines/`).
    Init(CiInitArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CiSystem {
    Github,
    AzureDevops,
}

#[derive(Debug, Args)]
pub(crate) struct CiInitArgs {
    /// The CI system.
    pub(crate) system: CiSystem,
    /// The project folder (default: the current one); the paths below are relative to it.
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// The dev infrastructure file.
    #[arg(long, value_name = "FILE")]
    pub(crate) infra_dev: Option<PathBuf>,
    /// The prod infrastructure file.
    #[arg(long, value_name = "FILE")]
    pub(crate) infra_prod: Option<PathBuf>,
    /// The training pipeline (default: `mlops/azureml/train/pipeline.yml`).
    #[arg(long, value_name = "FILE")]
    pub(crate) pipeline: Option<PathBuf>,
    /// The model the pipeline registers (default: the one whose policy the dev file declares).
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// The protected alias to promote to.
    #[arg(long, default_value = "champion")]
    pub(crate) alias: String,
    /// The environment to build before training (default: the dev file's first).
    #[arg(long)]
    pub(crate) environment: Option<String>,
    /// The folder of the training code, whose changes trigger training (default:
    /// `data-science`, `src` or `components`, whichever exists).
    #[arg(long, value_name = "DIR")]
    pub(crate) code_dir: Option<PathBuf>,
    /// Write over existing files.
    #[arg(long)]
    pub(crate) force: bool,
}
