//! `sluice workspace create|show|list`: a workspace is a folder (its `sluice.db`, or a `store`
//! file naming a shared PostgreSQL database, an `artifacts` file naming a blob store, and a
//! `shared` file naming the folder cluster nodes share for what steps read and write),
//! named in its `workspace.json` (name, tags, creation time). `create` is idempotent with
//! `--exist-ok`, as `sluice infra apply` uses it.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Value, json};
use sluice_engine::{ARTIFACTS_FILE, SHARED_FILE, STORE_FILE, WORKSPACE_DIR, Workspace};

use crate::cli::{WorkspaceCommand, WorkspaceCreateArgs};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::ui;

/// The file that names a workspace.
const SETTINGS_FILE: &str = "workspace.json";
/// Where `infra apply` puts workspaces by default, beside the infrastructure file.
const WORKSPACES_DIR: &str = ".sluice-workspaces";
const COLUMNS: &[&str] = &["name", "path", "store"];

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &WorkspaceCommand) -> Result<(), CliError> {
    match cmd {
        WorkspaceCommand::Create(args) => create(ctx, args),
        WorkspaceCommand::Show => {
            let located = crate::workspace::locate(
                ctx.global.workspace.as_deref(),
                ctx.global.store.as_deref(),
            )?;
            let ws = crate::workspace::open_existing(&located)?;
            ctx.printer.print(&describe(&ws)?, COLUMNS)
        }
        WorkspaceCommand::List { dir } => {
            let dir = match dir {
                Some(d) => d.clone(),
                None => std::env::current_dir().map_err(|e| {
                    CliError::Workspace(format!("cannot read the current folder: {e}"))
                })?,
            };
            ctx.printer.print(&Value::Array(list(&dir)), COLUMNS)
        }
    }
}

/// The settings as `plan` compares them.
pub(crate) fn settings_json(places: &Places<'_>, tags: &IndexMap<String, String>) -> Value {
    json!({
        "name": places.name,
        "store": places.store,
        "artifacts": places.artifacts,
        "shared": places.shared,
        "tags": tags,
    })
}

/// A workspace's name and where it keeps things (`None`: in its own folder).
pub(crate) struct Places<'a> {
    pub(crate) name: &'a str,
    /// Its metadata (a PostgreSQL URL).
    pub(crate) store: Option<&'a str>,
    /// Its artifacts (a blob store URL or a folder).
    pub(crate) artifacts: Option<&'a str>,
    /// The folder cluster nodes share for what steps read and write.
    pub(crate) shared: Option<&'a str>,
}

/// A workspace folder's settings (null where it has none).
pub(crate) fn read_settings(dir: &Path) -> Value {
    let file: Value = std::fs::read(dir.join(SETTINGS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // As the workspace reads them: comments skipped, the shared path resolved.
    let line = |f: &str| sluice_engine::setting_line(&dir.join(f)).ok().flatten();
    let shared = Workspace::configured_shared(dir)
        .ok()
        .flatten()
        .map(|p| p.display().to_string());
    json!({
        "name": file["name"],
        "store": line(STORE_FILE),
        "artifacts": line(ARTIFACTS_FILE),
        "shared": shared,
        "tags": if file["tags"].is_object() { file["tags"].clone() } else { json!({}) },
    })
}

/// Makes `dir` the workspace `places.name` (its store, artifacts and shared path where given):
/// creates it, or brings its name and tags up to date. The workspace, opened, and whether
/// anything changed. A store, artifacts or shared place other than the workspace's own is
/// refused: what is there would stay behind.
pub(crate) fn ensure(
    dir: &Path,
    places: &Places<'_>,
    tags: &IndexMap<String, String>,
) -> Result<(Workspace, bool), CliError> {
    let name = places.name;
    let now = read_settings(dir);
    let wanted = [
        ("store", STORE_FILE, places.store),
        ("artifacts", ARTIFACTS_FILE, places.artifacts),
        ("shared", SHARED_FILE, places.shared),
    ];
    for (key, _, want) in wanted {
        let what = if key == "shared" { "shared path" } else { key };
        let have = now[key].as_str();
        if have.is_some() && have != want {
            return Err(CliError::usage(
                format!(
                    "workspace {} keeps its {what} at `{}`, not {}",
                    dir.display(),
                    have.unwrap_or_default(),
                    want.map_or_else(|| "in its folder".to_owned(), |w| format!("`{w}`"))
                ),
                format!(
                    "moving a workspace's {what} is not done here: declare `{key}: {}` or use another workspace path",
                    have.unwrap_or_default()
                ),
            ));
        }
    }
    let fresh = !crate::workspace::is_workspace(dir);
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Workspace(format!("cannot create {}: {e}", dir.display())))?;
    let mut changed = fresh;
    for (key, file, want) in wanted {
        if let Some(w) = want
            && !dir.join(file).exists()
        {
            // The shared folder is made (and marked) before its setting is written, and only
            // here: opening the workspace never makes it (there a missing or empty unmarked one
            // is a mount not there).
            if key == "shared" {
                Workspace::make_shared(&sluice_spec::normalize(&dir.join(w.trim())))?;
            }
            write(&dir.join(file), &format!("{w}\n"))?;
            changed = true;
        }
    }
    if now["name"].as_str() != Some(name) || now["tags"] != json!(tags) {
        let created_at = std::fs::read(dir.join(SETTINGS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["created_at"].as_str().map(str::to_owned))
            .unwrap_or_else(sluice_store::now);
        let text = serde_json::to_string_pretty(&json!({
            "name": name,
            "tags": tags,
            "created_at": created_at,
        }))
        .unwrap_or_default();
        write(&dir.join(SETTINGS_FILE), &format!("{text}\n"))?;
        changed = true;
    }
    // Opening makes its database (or checks the shared one) and runs its migrations.
    Ok((Workspace::open(dir)?, changed))
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::Workspace(format!("cannot write {}: {e}", path.display())))
}

fn create(ctx: &Ctx<'_>, args: &WorkspaceCreateArgs) -> Result<(), CliError> {
    let dir = match &args.path {
        Some(p) => p.clone(),
        None => std::env::current_dir()
            .map_err(|e| CliError::Workspace(format!("cannot read the current folder: {e}")))?
            .join(WORKSPACE_DIR),
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let existing = read_settings(&dir);
    let exists = crate::workspace::is_workspace(&dir);
    if exists && !args.exist_ok {
        let name = existing["name"].as_str().unwrap_or("(unnamed)");
        return Err(CliError::AlreadyExists {
            message: format!("{} is already a workspace (`{name}`)", dir.display()),
            hint: Some(
                "pass `--exist-ok` to keep it (its name and tags are updated), or another `--path`"
                    .into(),
            ),
        });
    }
    let mut tags = match existing["tags"].as_object() {
        Some(t) => t
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        None => IndexMap::new(),
    };
    for kv in &args.tags {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(CliError::usage(
                format!("`--tags {kv}` is not KEY=VALUE"),
                "write `--tags environment=dev`",
            ));
        };
        tags.insert(k.to_owned(), v.to_owned());
    }
    // A shared path is kept as an absolute one: steps on other machines are told it.
    let shared = args
        .shared_path
        .as_ref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .map(|p| p.display().to_string());
    let places = Places {
        name: &args.name,
        store: args.store.as_deref().or(existing["store"].as_str()),
        artifacts: args.artifacts.as_deref().or(existing["artifacts"].as_str()),
        shared: shared.as_deref().or(existing["shared"].as_str()),
    };
    let (ws, changed) = ensure(&dir, &places, &tags)?;
    if !changed {
        ui::note(&format!(
            "workspace `{}` is already so; nothing changed",
            args.name
        ));
    }
    ctx.printer.print(&describe(&ws)?, COLUMNS)
}

/// A workspace as `show` prints it: its settings, where it keeps things, what it holds.
fn describe(ws: &Workspace) -> Result<Value, CliError> {
    let settings = read_settings(ws.root());
    let store = ws.store();
    Ok(json!({
        "name": settings["name"],
        "path": ws.root().display().to_string(),
        "store": ws.location().to_string(),
        "artifacts": settings["artifacts"],
        "shared": ws.shared_root().display().to_string(),
        "tags": settings["tags"],
        "computes": store.list_computes()?.into_iter().map(|c| c.name).collect::<Vec<_>>(),
        "datastores": store.list_datastores()?.into_iter().map(|d| d.name).collect::<Vec<_>>(),
        "env": {"SLUICE_WORKSPACE": ws.root().display().to_string()},
    }))
}

/// The workspaces in `dir`: its own `.sluice`, and those under `.sluice-workspaces/`.
fn list(dir: &Path) -> Vec<Value> {
    let mut candidates: Vec<PathBuf> = vec![dir.join(WORKSPACE_DIR)];
    if let Ok(entries) = std::fs::read_dir(dir.join(WORKSPACES_DIR)) {
        let mut more: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        candidates.extend(more);
    }
    candidates
        .into_iter()
        .filter(|d| crate::workspace::is_workspace(d))
        .map(|d| {
            let s = read_settings(&d);
            json!({
                "name": s["name"],
                "path": d.display().to_string(),
                "store": s["store"].as_str().map_or_else(|| d.join("sluice.db").display().to_string(), str::to_owned),
                "tags": s["tags"],
            })
        })
        .collect()
}
