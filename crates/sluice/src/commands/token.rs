//! `sluice token create|list|revoke`: API tokens with roles. The plaintext is printed once, by
//! `create`; the workspace keeps only a salted hash.

use serde_json::{Value, json};
use sluice_store::governance::{Role, TokenInfo};

use crate::cli::TokenCommand;
use crate::commands::Ctx;
use crate::error::CliError;
use crate::{ui, workspace};

const COLUMNS: &[&str] = &["name", "id", "role", "expires_at", "created_by"];

fn token_json(t: &TokenInfo) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "identity": t.identity,
        "role": t.role,
        "created_at": t.created_at,
        "created_by": t.created_by,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
        "job": t.job,
    })
}

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &TokenCommand) -> Result<(), CliError> {
    let located = workspace::locate(ctx.global.workspace.as_deref(), ctx.global.store.as_deref())?;
    let ws = match cmd {
        // The first token of a new workspace can be made before anything else.
        TokenCommand::Create(_) => workspace::open(&located)?,
        _ => workspace::open_existing(&located)?,
    };
    let actor = workspace::identify(&ws, ctx.global.token.as_deref())?;
    match cmd {
        TokenCommand::Create(args) => {
            let role = Role::parse(&args.role).map_err(|e| {
                CliError::usage(
                    e.to_string(),
                    "use `--role reader`, `contributor` or `owner`",
                )
            })?;
            let created = ws
                .store()
                .governed(&actor)
                .create_token(&args.name, role, args.expires);
            let new = created?;
            ui::note(&format!(
                "Created token `{}` ({role}). This is the only time it is shown: store it now \
                 (clients read it from MLFLOW_TRACKING_TOKEN, the CLI from SLUICE_TOKEN).",
                new.info.name
            ));
            let mut v = token_json(&new.info);
            v["token"] = Value::String(new.token);
            ctx.printer.print(&v, &["name", "role", "token"])
        }
        TokenCommand::List { all } => {
            actor.require(Role::Reader, "listing tokens")?;
            let tokens = ws.store().list_tokens(*all)?;
            ctx.printer.print(
                &Value::Array(tokens.iter().map(token_json).collect()),
                COLUMNS,
            )
        }
        TokenCommand::Revoke { name } => {
            let revoked = ws.store().governed(&actor).revoke_token(name);
            ctx.printer.print(&token_json(&revoked?), COLUMNS)
        }
    }
}
