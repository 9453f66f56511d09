//! The `sluice` binary: parse the command line, run the command, map the result to an exit code.

mod cli;
mod commands;
mod error;
mod exit;
mod printer;
mod progress;
mod remote;
mod ui;
mod workspace;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command, LogFormat};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::exit::Exit;
use crate::printer::Printer;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Success.into()
            };
        }
    };
    init_logging(cli.global.verbose, cli.global.log_format);
    let azure_flags: Vec<&str> = [
        ("--resource-group", cli.global.resource_group.is_some()),
        ("--workspace-name", cli.global.workspace_name.is_some()),
        ("--subscription", cli.global.subscription.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, given)| given.then_some(flag))
    .collect();
    if !azure_flags.is_empty() {
        ui::note(&format!(
            "{} ignored: Sluice works on the local workspace (`--workspace` or the nearest `.sluice/`)",
            azure_flags.join(", ")
        ));
    }
    let ctx = Ctx {
        global: &cli.global,
        printer: Printer::new(cli.global.output, cli.global.query.clone()),
    };
    // Commands a team server runs as they are: its output and exit code are this command's.
    if let Some(url) = cli.global.url.as_deref().filter(|u| !u.is_empty()) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if commands::server_jobs::command_of(&args)
            .is_some_and(|c| commands::server_jobs::REMOTE_COMMANDS.contains(&c))
        {
            let forwarded = remote::Remote::new(url, cli.global.token.as_deref())
                .and_then(|r| remote::forward(&r));
            return match forwarded {
                Ok(code) => code,
                Err(err) => {
                    report(&err);
                    err.exit().into()
                }
            };
        }
    }
    match dispatch(&ctx, &cli.command) {
        Ok(()) => Exit::Success.into(),
        Err(err) => {
            report(&err);
            err.exit().into()
        }
    }
}

fn dispatch(ctx: &Ctx<'_>, command: &Command) -> Result<(), CliError> {
    if let Some(url) = ctx.global.url.as_deref().filter(|u| !u.is_empty()) {
        let remote = remote::Remote::new(url, ctx.global.token.as_deref())?;
        return match command {
            Command::Job(cmd) => remote::job(ctx, &remote, cmd),
            Command::ExitCodes | Command::Completions { .. } => local(ctx, command),
            Command::Server(_) => Err(remote::not_remote("`sluice server`")),
            Command::Ui(_) => Err(remote::not_remote(
                "`sluice ui` (open the team server's address in a browser: its UI is at `/`)",
            )),
            _ => Err(remote::not_remote("this command")),
        };
    }
    local(ctx, command)
}

fn local(ctx: &Ctx<'_>, command: &Command) -> Result<(), CliError> {
    match command {
        Command::Job(cmd) => commands::job::run(ctx, cmd),
        Command::Data(cmd) => commands::data::run(ctx, cmd),
        Command::Environment(cmd) => commands::environment::run(ctx, cmd),
        Command::Compute(cmd) => commands::compute::run(ctx, cmd),
        Command::Datastore(cmd) => commands::datastore::run(ctx, cmd),
        Command::Component(cmd) => commands::component::run(ctx, cmd),
        Command::Step(cmd) => commands::step::run(ctx, cmd),
        Command::Model(cmd) => commands::model::run(ctx, cmd),
        Command::Server(args) => commands::server::run(ctx, args),
        Command::Ui(args) => commands::server::ui(ctx, args),
        Command::Token(cmd) => commands::token::run(ctx, cmd),
        Command::Audit(cmd) => commands::audit::run(ctx, cmd),
        Command::Workspace(cmd) => commands::workspace_cmd::run(ctx, cmd),
        Command::Infra(cmd) => commands::infra::run(ctx, cmd),
        Command::Ci(crate::cli::CiCommand::Init(args)) => commands::ci::init(ctx, args),
        Command::ExitCodes => {
            let rows: Vec<serde_json::Value> = Exit::ALL
                .iter()
                .map(|e| serde_json::json!({"code": e.code(), "name": format!("{e:?}"), "meaning": e.meaning()}))
                .chain(std::iter::once(serde_json::json!({
                    "code": exit::INTERNAL_ERROR,
                    "name": "Internal",
                    "meaning": "a bug in Sluice (a panic); please report it",
                })))
                .collect();
            ctx.printer.print(
                &serde_json::Value::Array(rows),
                &["code", "name", "meaning"],
            )
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "sluice",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

fn report(err: &CliError) {
    match err {
        CliError::Spec(spec) => ui::spec_error(spec),
        // Already reported while the job ran, or by `audit verify`.
        CliError::JobEnded { .. } | CliError::AuditTampered => {}
        other => ui::error(&other.to_string(), other.hint()),
    }
}

fn init_logging(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ui::color());
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
