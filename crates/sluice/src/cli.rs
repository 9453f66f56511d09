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
                  6 already exists, 10 workspace error, 101 internal error."
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
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = OutputFormat::Json, env = "SLUICE_OUTPUT")]
    pub(crate) output: OutputFormat,
    /// JMESPath query applied to the result before printing, e.g. `status`.
    #[arg(long, global = true)]
    pub(crate) query: Option<String>,
    /// The workspace folder (holding `sluice.db`); default: the nearest `.sluice/` upward.
    #[arg(long, global = true, env = "SLUICE_WORKSPACE")]
    pub(crate) workspace: Option<PathBuf>,
    /// More log output on stderr (repeat for more).
    #[arg(long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SLUICE_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
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
    /// Inspect registered models and move their aliases.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Serve the MLflow REST API (tracking, artifacts, model registry) over the workspace.
    Server(ServerArgs),
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
    /// Show a job, its steps and outputs.
    Show(NameArg),
    /// List jobs, newest first.
    List(JobListArgs),
    /// Print the logs of a job's steps (following them while the job runs).
    Stream(NameArg),
}

#[derive(Debug, Args)]
pub(crate) struct JobCreateArgs {
    /// The job file (`type: pipeline` or `type: command`).
    #[arg(short, long)]
    pub(crate) file: PathBuf,
    /// Override a value of the file, e.g. `inputs.learning_rate=0.1`, `experiment_name=x`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
    /// The job's name (default: the file's `name`, else a generated one).
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    /// Stream step logs and status changes to stderr while the job runs.
    #[arg(short, long)]
    pub(crate) stream: bool,
    /// The most steps to run at once (default: the number of cores).
    #[arg(long)]
    pub(crate) max_parallel: Option<usize>,
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
    /// Register a data asset version from a YAML file (its bytes are copied into the workspace).
    Create(AssetCreateArgs),
    /// Show a data asset version: `-n NAME`, `-n NAME@latest`, `-n NAME:2` or `-n NAME -v 2`.
    Show(AssetShowArgs),
    /// List data assets (the latest version of each, or every version of `--name`).
    List(AssetListArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum EnvironmentCommand {
    /// Register an environment version from a YAML file.
    Create(AssetCreateArgs),
    /// Show an environment version.
    Show(AssetShowArgs),
    /// List environments (the latest version of each, or every version of `--name`).
    List(AssetListArgs),
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
pub(crate) enum ComputeCommand {
    /// Create or update a compute target.
    Create(ComputeCreateArgs),
    /// Show a compute target.
    Show(ComputeShowArgs),
    /// List compute targets.
    List,
}

#[derive(Debug, Args)]
pub(crate) struct ComputeCreateArgs {
    /// The compute's name, as used in `compute: azureml:NAME`.
    #[arg(short, long)]
    pub(crate) name: String,
    /// The compute's type (only `local` for now).
    #[arg(short = 't', long = "type", default_value = "local")]
    pub(crate) ty: String,
    /// The most steps that may run on it at once.
    #[arg(long, default_value_t = 1)]
    pub(crate) max_instances: u32,
    /// A description.
    #[arg(long)]
    pub(crate) description: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ComputeShowArgs {
    /// The compute's name.
    #[arg(short, long)]
    pub(crate) name: String,
}

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// The address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1", env = "SLUICE_HOST")]
    pub(crate) host: String,
    /// The port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = 5000, env = "SLUICE_PORT")]
    pub(crate) port: u16,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// List registered models with their latest version and aliases.
    List,
    /// Show a registered model, or one of its versions with `--version`.
    Show(ModelShowArgs),
    /// Move or remove an alias (`champion`, `challenger`, ...).
    #[command(subcommand)]
    Alias(ModelAliasCommand),
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
