//! `sluice infra validate|plan|apply -f config-infra-dev.yml`: a workspace and what it holds,
//! declared in the Azure ML templates' infrastructure file (see `sluice_spec::InfraSpec`),
//! made so idempotently.
//!
//! `validate` reads the file and every file it names, changing nothing. `plan` compares each
//! declared thing with what the workspace holds: created, changed (field by field) or left
//! alone; the diff on stderr, the plan as the result (`-o json`, `-o table`). `apply` makes
//! the changes, each audited (`infra.<kind>.<create|update|delete>`, tokens and policies as
//! their own commands audit them), and ends with the workspace's connection info; a second
//! `apply` finds nothing to do and writes nothing. `--smoke-test` then runs a one-line job on
//! each compute and fails unless every one completes.
//!
//! What the workspace holds and the file does not declare (computes, datastores, tokens) is
//! listed by `plan` and kept; with `--prune`, `apply` deletes those computes and datastores and
//! revokes those tokens (never one of the identity applying the file: it would lock itself
//! out). Versioned assets (environments, data, components) and promotion policies are never
//! removed: runs and models refer to them.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sluice_engine::Workspace;
use sluice_spec::{InfraSpec, SpecError};
use sluice_store::governance::{Policy, Role};

use crate::cli::{
    ConnectFormat, EnvironmentCreateArgs, InfraApplyArgs, InfraArgs, InfraCommand,
    InfraConnectArgs, InfraPlanArgs,
};
use crate::commands::{Ctx, print_warnings};
use crate::error::CliError;
use crate::ui;

const COLUMNS: &[&str] = &["kind", "name", "action", "changes"];

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &InfraCommand) -> Result<(), CliError> {
    match cmd {
        InfraCommand::Validate(args) => {
            let (spec, items) = plan_of(args, false)?;
            ui::note(&format!(
                "{} is valid: workspace `{}` with {} declared item(s)",
                args.file.display(),
                spec.workspace.name.value,
                items
                    .iter()
                    .filter(|i| i.action != Action::Undeclared)
                    .count()
                    - 1
            ));
            ctx.printer.print(
                &json!({
                    "valid": true,
                    "workspace": spec.workspace.name.value,
                    "path": spec.workspace.path.display().to_string(),
                    "store": spec.workspace.store,
                    "artifacts": spec.workspace.artifacts,
                    "server": spec.workspace.server,
                    // Where steps' environments are built: the shared path, else the folder.
                    "shared": spec.workspace.shared.clone().unwrap_or_else(|| spec.workspace.path.display().to_string()),
                    "declarations": spec.declarations.as_ref().map(|d| d.display().to_string()),
                    "variables": spec.variables.iter().map(|(k, v)| (k.clone(), json!(v.value))).collect::<serde_json::Map<_, _>>(),
                }),
                &["valid", "workspace"],
            )
        }
        InfraCommand::Plan(InfraPlanArgs { infra, prune }) => {
            let (_, items) = plan_of(infra, *prune)?;
            show_plan(&items);
            ctx.printer.print(&plan_json(&items), COLUMNS)
        }
        InfraCommand::Apply(args) => apply(ctx, args),
        InfraCommand::Connect(args) => connect(args),
    }
}

/// `sluice infra connect`: the variables a CI job sets to use the declared workspace, its folder's
/// settings set up again where the folder has none (a fresh runner with a shared store).
fn connect(args: &InfraConnectArgs) -> Result<(), CliError> {
    let spec = load_spec(&args.infra)?;
    let w = &spec.workspace;
    let mut vars: Vec<(&str, String)> = Vec::new();
    if let Some(server) = &w.server {
        vars.push(("SLUICE_URL", server.clone()));
    } else {
        if w.store.is_some() {
            // Its metadata lives in the shared store: the folder holds only where things are
            // (made again if missing).
            super::workspace_cmd::ensure(&w.path, &places(w), &w.tags)?;
        } else if !crate::workspace::is_workspace(&w.path) {
            return Err(CliError::usage(
                format!(
                    "workspace `{}` does not exist at {}",
                    w.name.value,
                    w.path.display()
                ),
                format!(
                    "make it first: `sluice infra apply -f {}` (the infrastructure pipeline), on this machine",
                    args.infra.file.display()
                ),
            ));
        }
        vars.push(("SLUICE_WORKSPACE", w.path.display().to_string()));
        let shared = w
            .shared
            .clone()
            .unwrap_or_else(|| w.path.display().to_string());
        vars.push(("SLUICE_SHARED", shared));
    }
    let out: String = vars
        .into_iter()
        .map(|(name, value)| match args.format {
            ConnectFormat::Env => format!("{name}={value}\n"),
            ConnectFormat::Azure => format!("##vso[task.setvariable variable={name}]{value}\n"),
        })
        .collect();
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())
        .map_err(|e| CliError::Workspace(format!("cannot write to stdout: {e}")))
}

/// What `apply` does to one declared thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Unchanged,
    /// In the workspace, not in the file: deleted (`--prune`).
    Delete,
    /// In the workspace, not in the file: kept (no `--prune`).
    Undeclared,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
            Action::Delete => "delete",
            Action::Undeclared => "undeclared",
        }
    }

    /// Whether `apply` changes anything for it.
    fn changes(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Delete)
    }
}

/// Where a declared data asset's files are.
enum DataPlace {
    /// A file or folder beside the infrastructure files.
    Local(PathBuf),
    /// `azureml://datastores/NAME/paths/PATH`: a folder of the workspace, or a registered
    /// datastore's objects (fetched to be checked and hashed; the version refers to them).
    Datastore {
        uri: String,
        datastore: String,
        path: String,
    },
}

/// The state a declared thing must reach, with what `apply` needs to reach it.
enum Desired {
    Workspace,
    Compute(sluice_store::ComputeRow),
    Datastore(Box<sluice_spec::DatastoreSpec>),
    Environment(sluice_store::EnvironmentRow),
    Data {
        spec: Box<sluice_spec::DataSpec>,
        place: DataPlace,
    },
    Component {
        file: PathBuf,
        info: Box<sluice_spec::ComponentInfo>,
        name: String,
        version: String,
    },
    Token(Role),
    Policy(Box<Policy>),
    /// Held by the workspace, not declared (see [`Action::Delete`]).
    Absent,
}

/// One line of the plan.
struct Item {
    kind: &'static str,
    name: String,
    action: Action,
    /// Field, value now, value declared.
    changes: Vec<(String, Value, Value)>,
    desired: Desired,
    /// What it is now (for the audit log).
    before: Option<Value>,
}

impl Item {
    fn new(kind: &'static str, name: &str, desired: Desired) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            action: Action::Create,
            changes: Vec::new(),
            desired,
            before: None,
        }
    }

    /// Compares `now` (the stored JSON, if any) with `want` field by field, skipping `skip`.
    fn compare(mut self, now: Option<Value>, want: &Value, skip: &[&str]) -> Self {
        let Some(now) = now else {
            return self;
        };
        let fields = |v: &Value| -> serde_json::Map<String, Value> {
            v.as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| !skip.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (a, b) = (fields(&now), fields(want));
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let (x, y) = (
                a.get(k).cloned().unwrap_or(Value::Null),
                b.get(k).cloned().unwrap_or(Value::Null),
            );
            if x != y {
                self.changes.push((k.clone(), x, y));
            }
        }
        self.action = if self.changes.is_empty() {
            Action::Unchanged
        } else {
            Action::Update
        };
        self.before = Some(now);
        self
    }

    fn unchanged(mut self) -> Self {
        self.action = Action::Unchanged;
        self
    }

    /// Something the workspace holds (`now`) that the file does not declare.
    fn undeclared(kind: &'static str, name: &str, now: Value, prune: bool) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            action: if prune {
                Action::Delete
            } else {
                Action::Undeclared
            },
            changes: Vec::new(),
            desired: Desired::Absent,
            before: Some(now),
        }
    }
}

/// Where workspaces whose file declares no `path:` go when `SLUICE_WORKSPACES` names a folder
/// (`~/...` in the home folder): a CI runner cleans its checkout between jobs, so the
/// generated pipelines keep them outside it.
fn workspaces_dir() -> Option<PathBuf> {
    let dir = std::env::var("SLUICE_WORKSPACES").ok()?;
    let dir = dir.trim();
    if dir.is_empty() {
        return None;
    }
    let dir = match dir.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(std::env::var_os("HOME")?).join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(dir),
    };
    Some(std::path::absolute(&dir).unwrap_or(dir))
}

/// Reads and checks the file (and what it names); its workspace's folder where
/// [`workspaces_dir`] puts it when the file names none.
fn load_spec(args: &InfraArgs) -> Result<InfraSpec, CliError> {
    let mut warnings = Vec::new();
    let loaded = sluice_spec::load_infra(&args.file, &mut warnings);
    print_warnings(&warnings);
    let mut spec = loaded?;
    if !spec.workspace.path_declared
        && let Some(dir) = workspaces_dir()
    {
        spec.workspace.path = dir.join(&spec.workspace.name.value);
    }
    Ok(spec)
}

/// Reads the file (and what it names) and compares it with the workspace, changing nothing.
fn plan_of(args: &InfraArgs, prune: bool) -> Result<(InfraSpec, Vec<Item>), CliError> {
    let spec = load_spec(args)?;
    let ws = existing_workspace(&spec)?;
    let mut items = plan(&spec, ws.as_ref())?;
    if let Some(ws) = &ws {
        let extra = undeclared(&items, ws, prune)?;
        items.extend(extra);
    }
    Ok((spec, items))
}

/// The computes, datastores and tokens the workspace holds that the plan (`declared`) does not
/// name, in that order (tokens made for jobs and revoked ones are not counted).
fn undeclared(declared: &[Item], ws: &Workspace, prune: bool) -> Result<Vec<Item>, CliError> {
    let named = |kind: &str, name: &str| declared.iter().any(|i| i.kind == kind && i.name == name);
    let mut items = Vec::new();
    let store = ws.store();
    for c in store.list_computes()? {
        if !named("compute", &c.name) {
            let now = serde_json::to_value(&c).unwrap_or_default();
            items.push(Item::undeclared("compute", &c.name, now, prune));
        }
    }
    for d in store.list_datastores()? {
        if !named("datastore", &d.name) {
            let now = serde_json::to_value(&d).unwrap_or_default();
            items.push(Item::undeclared("datastore", &d.name, now, prune));
        }
    }
    for t in store.list_tokens(false)? {
        if t.job.is_none() && !named("token", &t.name) {
            let now = json!({"role": t.role.to_string(), "identity": t.identity});
            items.push(Item::undeclared("token", &t.name, now, prune));
        }
    }
    Ok(items)
}

/// The declared workspace if it exists (opening it creates nothing then). One whose shared
/// PostgreSQL store holds it already, on a machine without its folder (a fresh hosted runner),
/// exists: its folder's settings are made again, as `infra connect` makes them (nothing is
/// written to the store).
fn existing_workspace(spec: &InfraSpec) -> Result<Option<Workspace>, CliError> {
    let w = &spec.workspace;
    if crate::workspace::is_workspace(&w.path) {
        return Ok(Some(Workspace::open(&w.path)?));
    }
    match w.store.as_deref() {
        Some(url)
            if url.starts_with("postgres")
                && sluice_store::Store::postgres_holds_workspace(url)? =>
        {
            let (ws, _) = super::workspace_cmd::ensure(&w.path, &places(w), &w.tags)?;
            Ok(Some(ws))
        }
        _ => Ok(None),
    }
}

/// Where the declared workspace keeps things.
fn places(decl: &sluice_spec::WorkspaceDecl) -> super::workspace_cmd::Places<'_> {
    super::workspace_cmd::Places {
        name: &decl.name.value,
        store: decl.store.as_deref(),
        artifacts: decl.artifacts.as_deref(),
        shared: decl.shared.as_deref(),
    }
}

fn plan(spec: &InfraSpec, ws: Option<&Workspace>) -> Result<Vec<Item>, CliError> {
    let mut items = Vec::new();
    let decl = &spec.workspace;
    let want = super::workspace_cmd::settings_json(&places(decl), &decl.tags);
    let now = ws.map(|_| super::workspace_cmd::read_settings(&decl.path));
    items.push(
        Item::new("workspace", &decl.name.value, Desired::Workspace).compare(now, &want, &[]),
    );

    for c in &spec.computes {
        let existing = match ws {
            Some(ws) => ws.store().get_compute(&c.name.value)?,
            None => None,
        };
        let row = super::compute::row_of(c, existing.as_ref());
        let want = serde_json::to_value(&row).unwrap_or_default();
        let now = existing.map(|e| serde_json::to_value(e).unwrap_or_default());
        items.push(
            Item::new("compute", &c.name.value, Desired::Compute(row)).compare(
                now,
                &want,
                &["created_at"],
            ),
        );
    }
    let mut declared_datastores: Vec<String> = Vec::new();
    for file in &spec.datastores {
        let mut warnings = Vec::new();
        let loaded = sluice_spec::load_datastore(&file.value, &[], &mut warnings);
        print_warnings(&warnings);
        let ds = loaded?;
        let name = ds.name.value.clone();
        declared_datastores.push(name.clone());
        let item = match ws {
            None => Item::new("datastore", &name, Desired::Datastore(Box::new(ds))),
            Some(ws) => {
                let (existing, row, secrets) = sluice_engine::datastore_changes(ws, &ds)?;
                let skip = ["created_at", "updated_at"];
                let want = serde_json::to_value(&row).unwrap_or_default();
                let now = existing.map(|e| serde_json::to_value(e).unwrap_or_default());
                let mut item = Item::new("datastore", &name, Desired::Datastore(Box::new(ds)))
                    .compare(now, &want, &skip);
                if secrets && item.action == Action::Unchanged {
                    item.action = Action::Update;
                    item.changes.push((
                        "credentials".into(),
                        json!("(stored)"),
                        json!("(changed)"),
                    ));
                }
                item
            }
        };
        items.push(item);
    }
    for file in &spec.environments {
        let row = super::environment::row_of(&EnvironmentCreateArgs {
            file: file.value.clone(),
            set: crate::cli::SetArgs::default(),
            name: None,
            version: None,
            python: None,
        })?;
        let name = row.name.clone();
        let existing = match ws {
            Some(ws) => {
                let v = (!row.version.is_empty()).then_some(row.version.as_str());
                ws.store().get_environment(&name, v).ok()
            }
            None => None,
        };
        let label = match existing.as_ref() {
            Some(e) => format!("{name}:{}", e.version),
            None if !row.version.is_empty() => format!("{name}:{}", row.version),
            None => name.clone(),
        };
        let item = match existing {
            Some(e) if e.spec_hash == row.spec_hash => {
                Item::new("environment", &label, Desired::Environment(row)).unchanged()
            }
            Some(e) if !row.version.is_empty() => {
                return Err(CliError::AlreadyExists {
                    message: format!(
                        "environment `{name}:{}` exists with other content than {}",
                        e.version,
                        file.value.display()
                    ),
                    hint: Some("a version never changes: give the file a new `version:`, or none (a new version each time its content changes)".into()),
                });
            }
            Some(_) | None => Item::new("environment", &label, Desired::Environment(row)),
        };
        items.push(item);
    }
    for file in &spec.data {
        items.push(plan_data(ws, &file.value, &declared_datastores)?);
    }
    for file in &spec.components {
        let mut warnings = Vec::new();
        let loaded = sluice_spec::load_component_info(
            &file.value,
            &[],
            crate::workspace::as_lookup(ws),
            &mut warnings,
        );
        print_warnings(&warnings);
        let info = loaded?;
        let (Some(name), Some(version)) = (info.name.clone(), info.version.clone()) else {
            return Err(SpecError::new(
                &info.source,
                sluice_spec::Span::new(0, 0, 1, 1),
                "a component an infrastructure file declares needs `name:` and `version:`",
            )
            .with_help("with a version, `apply` registers it once and then leaves it alone")
            .into());
        };
        // A version never changes: the same files are nothing to do, other ones a refusal.
        let existing = ws.and_then(|ws| {
            ws.store()
                .get_component(&name.value, Some(&version.value))
                .ok()
                .map(|row| (ws, row))
        });
        let exists = match existing {
            Some((ws, row)) => {
                if sluice_engine::component_content_hash(ws, &file.value, &info)?
                    != row.content_hash
                {
                    return Err(CliError::AlreadyExists {
                        message: format!(
                            "component `{}:{}` exists with other content than {}",
                            name.value,
                            version.value,
                            file.value.display()
                        ),
                        hint: Some(
                            "a version never changes: give the file a new `version:`".into(),
                        ),
                    });
                }
                true
            }
            None => false,
        };
        let label = format!("{}:{}", name.value, version.value);
        let item = Item::new(
            "component",
            &label,
            Desired::Component {
                file: file.value.clone(),
                info: Box::new(info),
                name: name.value,
                version: version.value,
            },
        );
        items.push(if exists { item.unchanged() } else { item });
    }
    let tokens = match ws {
        Some(ws) => ws.store().list_tokens(false)?,
        None => Vec::new(),
    };
    for t in &spec.tokens {
        let role = Role::parse(&t.role.value).unwrap_or(Role::Reader);
        let now = tokens
            .iter()
            .find(|x| x.name == t.name.value && x.job.is_none())
            .map(|x| json!({"role": x.role.to_string()}));
        items.push(
            Item::new("token", &t.name.value, Desired::Token(role)).compare(
                now,
                &json!({"role": role.to_string()}),
                &[],
            ),
        );
    }
    for p in &spec.policies {
        let policy = super::model::read_policy(&p.file.value)?;
        let now = match ws {
            Some(ws) => ws
                .store()
                .get_policy(&p.model.value)
                .ok()
                .flatten()
                .map(|p| serde_json::to_value(p).unwrap_or_default()),
            None => None,
        };
        let want = serde_json::to_value(&policy).unwrap_or_default();
        items.push(
            Item::new("policy", &p.model.value, Desired::Policy(Box::new(policy))).compare(
                now,
                &want,
                &[],
            ),
        );
    }
    Ok(items)
}

/// A data asset from its file: unchanged when its latest version (or the version the file
/// names) holds the same bytes. Its `path` is a local file or folder, or a datastore path
/// (`azureml://datastores/NAME/paths/PATH`) on a datastore of the workspace or of this file
/// (`declared_datastores`); one the file creates is read when `apply` has created it.
fn plan_data(
    ws: Option<&Workspace>,
    file: &Path,
    declared_datastores: &[String],
) -> Result<Item, CliError> {
    let mut warnings = Vec::new();
    let loaded = sluice_spec::load_data(file, &[], &mut warnings);
    print_warnings(&warnings);
    let data = loaded?;
    let place = match super::data::data_path(&data)? {
        super::data::DataPath::Datastore { datastore, path } => DataPlace::Datastore {
            uri: data.path.value.clone(),
            datastore,
            path,
        },
        super::data::DataPath::Local(local) => {
            super::data::check_local(&data, &local)?;
            DataPlace::Local(local)
        }
    };
    // The files, where they can be read now: not on a datastore this file has yet to create.
    let readable = match (&place, ws) {
        (DataPlace::Local(local), _) => Some(local.clone()),
        (DataPlace::Datastore { .. }, None) => None,
        (
            DataPlace::Datastore {
                datastore, path, ..
            },
            Some(ws),
        ) => {
            let registered = ws.store().get_datastore(datastore)?.is_some();
            if !registered && declared_datastores.contains(datastore) {
                None
            } else {
                let local = materialize(ws, &data, datastore, path)?;
                Some(local)
            }
        }
    };
    let name = data.name.value.clone();
    let version = data.version.as_ref().map(|v| v.value.clone());
    let existing = ws.and_then(|ws| ws.store().get_data(&name, version.as_deref()).ok());
    let label = match (&existing, &version) {
        (Some(e), _) => format!("{name}:{}", e.version),
        (None, Some(v)) => format!("{name}:{v}"),
        (None, None) => name.clone(),
    };
    let mut item = Item::new(
        "data",
        &label,
        Desired::Data {
            spec: Box::new(data),
            place,
        },
    );
    if let (Some(e), Some(ws)) = (existing, ws) {
        let Some(local) = readable else {
            item.changes.push((
                "content_hash".into(),
                json!(e.content_hash),
                json!("(read once the datastore is created)"),
            ));
            return Ok(item);
        };
        let hash = ws.hash_path(&local)?;
        if hash.hash == e.content_hash {
            item = item.unchanged();
        } else if version.is_some() {
            return Err(CliError::AlreadyExists {
                message: format!(
                    "data asset `{name}:{}` exists with other content than {}",
                    e.version,
                    local.display()
                ),
                hint: Some("a version never changes: give the file a new `version:`, or none (a new version each time the data changes)".into()),
            });
        } else {
            item.changes.push((
                "content_hash".into(),
                json!(e.content_hash),
                json!(hash.hash),
            ));
        }
    }
    Ok(item)
}

/// The local file or folder holding a datastore path (a workspace folder, or a registered
/// datastore's objects fetched into the cache), checked against the asset's `type`.
fn materialize(
    ws: &Workspace,
    data: &sluice_spec::DataSpec,
    datastore: &str,
    path: &str,
) -> Result<PathBuf, CliError> {
    let local = sluice_engine::fetch_datastore_path(ws, &data.source, &data.path, datastore, path)?;
    super::data::check_local(data, &local)?;
    Ok(local)
}

fn plan_json(items: &[Item]) -> Value {
    let count = |a: Action| items.iter().filter(|i| i.action == a).count();
    json!({
        "to_create": count(Action::Create),
        "to_update": count(Action::Update),
        "to_delete": count(Action::Delete),
        "unchanged": count(Action::Unchanged),
        "undeclared": count(Action::Undeclared),
        "items": items.iter().map(|i| json!({
            "kind": i.kind,
            "name": i.name,
            "action": i.action.word(),
            "changes": i.changes.iter().map(|(f, a, b)| json!({"field": f, "from": a, "to": b})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// The plan as a reviewer reads it: `+` created, `~` changed (each field), `=` left alone,
/// `-` deleted, `!` not in the file and kept.
fn show_plan(items: &[Item]) {
    for i in items {
        let mark = match i.action {
            Action::Create => "+",
            Action::Update => "~",
            Action::Unchanged => "=",
            Action::Delete => "-",
            Action::Undeclared => "!",
        };
        let why = match i.action {
            Action::Undeclared => " (not in the file; kept: `apply --prune` removes it)",
            Action::Delete => " (not in the file)",
            _ => "",
        };
        ui::note(&format!("{mark} {} {}{why}", i.kind, i.name));
        for (field, from, to) in &i.changes {
            ui::note(&format!("    {field}: {} -> {}", short(from), short(to)));
        }
    }
    let count = |a: Action| items.iter().filter(|i| i.action == a).count();
    let (create, update, delete, same, kept) = (
        count(Action::Create),
        count(Action::Update),
        count(Action::Delete),
        count(Action::Unchanged),
        count(Action::Undeclared),
    );
    let kept = if kept > 0 {
        format!(", {kept} not in the file (kept)")
    } else {
        String::new()
    };
    if create + update + delete == 0 {
        ui::note(&format!("Plan: nothing to do ({same} unchanged{kept})."));
    } else {
        let deleted = if delete > 0 {
            format!(", {delete} to delete")
        } else {
            String::new()
        };
        ui::note(&format!(
            "Plan: {create} to create, {update} to update{deleted}, {same} unchanged{kept}."
        ));
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn apply(ctx: &Ctx<'_>, args: &InfraApplyArgs) -> Result<(), CliError> {
    let (spec, mut items) = plan_of(&args.infra, args.prune)?;
    let decl = &spec.workspace;
    let token = ctx.global.token.as_deref();
    // An existing workspace is changed only by a contributor, its settings too: checked
    // before anything is written.
    if let Some(ws) = existing_workspace(&spec)? {
        let actor = crate::workspace::identify(&ws, token)?;
        keep_own_tokens(&mut items, &actor);
        if items.iter().any(|i| i.action.changes()) {
            actor.require(Role::Contributor, "applying an infrastructure file")?;
        }
    }
    // The workspace first: its folder, its settings, then what it holds.
    let (ws, _) = super::workspace_cmd::ensure(&decl.path, &places(decl), &decl.tags)?;
    let actor = crate::workspace::identify(&ws, token)?;
    keep_own_tokens(&mut items, &actor);
    show_plan(&items);
    let pending = items.iter().any(|i| i.action.changes());
    if pending {
        actor.require(Role::Contributor, "applying an infrastructure file")?;
    }
    let mut secrets = serde_json::Map::new();
    let mut done = 0usize;
    for item in &items {
        if !item.action.changes() {
            continue;
        }
        let after = apply_item(&ws, &actor, item, &mut secrets)?;
        let deleted = item.action == Action::Delete && item.kind != "token";
        if after.is_some() || deleted {
            ws.store().governed(&actor).record_change(
                &format!("infra.{}.{}", item.kind, item.action.word()),
                &format!("{}/{}", item.kind, item.name),
                item.before.as_ref(),
                after.as_ref(),
            )?;
        }
        ui::note(&format!(
            "{} {} {}d",
            item.kind,
            item.name,
            item.action.word().trim_end_matches('e')
        ));
        done += 1;
    }
    if done == 0 {
        ui::note("Nothing to do: the workspace is as the file declares.");
    } else {
        ui::note(&format!("Applied {done} change(s)."));
    }
    let mut info = connection_info(&spec, &ws)?;
    if !secrets.is_empty() {
        match &args.secrets_file {
            Some(path) => {
                write_secrets(path, &secrets)?;
                ui::note(&format!(
                    "the new tokens' secrets are in {} (readable by you only); they are not shown again",
                    path.display()
                ));
            }
            None => {
                ui::note("the new tokens' secrets are in the result, shown once: keep them now");
                info["secrets"] = Value::Object(secrets);
            }
        }
    }
    if args.smoke_test {
        info["smoke_test"] = smoke_test(&spec, &ws, ctx)?;
    }
    ctx.printer.print(&info, &["name", "path", "store"])
}

/// Pruning never revokes the applying identity's own tokens (the next step would be locked
/// out): they stay, listed as kept.
fn keep_own_tokens(items: &mut [Item], actor: &sluice_store::governance::Actor) {
    for item in items {
        let own = item.before.as_ref().and_then(|b| b.get("identity")) == Some(&json!(actor.name));
        if item.kind == "token" && item.action == Action::Delete && own {
            item.action = Action::Undeclared;
        }
    }
}

/// Makes one declared thing so; what it is afterwards, for the audit log (`None`: audited by
/// its own governed change).
fn apply_item(
    ws: &Workspace,
    actor: &sluice_store::governance::Actor,
    item: &Item,
    secrets: &mut serde_json::Map<String, Value>,
) -> Result<Option<Value>, CliError> {
    Ok(match &item.desired {
        Desired::Workspace => Some(super::workspace_cmd::read_settings(ws.root())),
        Desired::Compute(row) => {
            ws.store().upsert_compute(row)?;
            Some(serde_json::to_value(row).unwrap_or_default())
        }
        Desired::Datastore(spec) => {
            let (row, _) = sluice_engine::create_datastore(ws, spec)?;
            Some(serde_json::to_value(row).unwrap_or_default())
        }
        Desired::Environment(row) => {
            let mut row = row.clone();
            if let Some(request) = sluice_engine::envs::request_from_row(&row)? {
                sluice_engine::envs::builder(ws).resolve(&request)?;
            }
            if row.version.is_empty() {
                row.version = ws.store().next_environment_version(&row.name)?;
            }
            ws.store().insert_environment(&row)?;
            Some(serde_json::to_value(&row).unwrap_or_default())
        }
        Desired::Data { spec, place } => {
            let (local, reference) = match place {
                DataPlace::Local(local) => (local.clone(), None),
                DataPlace::Datastore {
                    uri,
                    datastore,
                    path,
                } => (
                    materialize(ws, spec, datastore, path)?,
                    ws.datastore(datastore)?.is_remote().then_some(uri),
                ),
            };
            let new = sluice_engine::NewData {
                name: &spec.name.value,
                version: spec.version.as_ref().map(|v| v.value.as_str()),
                ty: spec.ty.value,
                source: &local,
                description: spec.description.clone(),
                tags: spec.tags.clone(),
            };
            let row = match reference {
                Some(uri) => sluice_engine::register_data_reference(ws, &new, uri)?,
                None => sluice_engine::register_data(ws, &new)?,
            };
            Some(serde_json::to_value(row).unwrap_or_default())
        }
        Desired::Component {
            file,
            info,
            name,
            version,
        } => {
            let (row, _) = sluice_engine::register_component(
                ws,
                file,
                info,
                name,
                Some(version),
                &actor.name,
            )?;
            Some(serde_json::to_value(row).unwrap_or_default())
        }
        Desired::Token(role) => {
            if item.action == Action::Update {
                // A token's role never changes: the old one is revoked, a new one made.
                ws.store().governed(actor).revoke_token(&item.name)?;
            }
            let new = ws
                .store()
                .governed(actor)
                .create_token(&item.name, *role, None)?;
            secrets.insert(item.name.clone(), json!(new.token));
            None
        }
        Desired::Policy(policy) => {
            let exists = ws.store().get_registered_model(&item.name).is_ok();
            if !exists {
                // The policy is in place before the model's first version.
                ws.store()
                    .governed(actor)
                    .create_registered_model(&item.name, &[], None)?;
            }
            ws.store().governed(actor).set_policy(&item.name, policy)?;
            None
        }
        Desired::Absent => {
            match item.kind {
                "compute" => {
                    ws.store().delete_compute(&item.name)?;
                }
                "datastore" => {
                    sluice_engine::delete_datastore(ws, &item.name)?;
                }
                // Audited by the revocation itself (which needs an owner).
                _ => {
                    ws.store().governed(actor).revoke_token(&item.name)?;
                }
            }
            None
        }
    })
}

/// How the next stage reaches the workspace.
fn connection_info(spec: &InfraSpec, ws: &Workspace) -> Result<Value, CliError> {
    let path = ws.root().display().to_string();
    let mut env = serde_json::Map::new();
    env.insert("SLUICE_WORKSPACE".into(), json!(path));
    if let Some(store) = &spec.workspace.store {
        env.insert("SLUICE_STORE".into(), json!(store));
    }
    if let Some(url) = &spec.workspace.server {
        env.insert("SLUICE_URL".into(), json!(url));
    }
    let computes: Vec<String> = ws
        .store()
        .list_computes()?
        .into_iter()
        .map(|c| c.name)
        .collect();
    Ok(json!({
        "name": spec.workspace.name.value,
        "path": path,
        "store": ws.location().to_string(),
        "artifacts": spec.workspace.artifacts,
        "shared": ws.shared_root().display().to_string(),
        "server": spec.workspace.server,
        "tags": spec.workspace.tags,
        "computes": computes,
        "env": env,
    }))
}

fn write_secrets(path: &Path, new: &serde_json::Map<String, Value>) -> Result<(), CliError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut all: serde_json::Map<String, Value> = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    all.extend(new.clone());
    let bytes = serde_json::to_vec_pretty(&all).unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| CliError::Workspace(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(&bytes)
        .map_err(|e| CliError::Workspace(format!("cannot write {}: {e}", path.display())))
}

/// Runs `echo` as a job on each declared compute; fails unless every one completes.
fn smoke_test(spec: &InfraSpec, ws: &Workspace, ctx: &Ctx<'_>) -> Result<Value, CliError> {
    // The jobs' files stay in the workspace, beside what they ran.
    let dir = ws.root().join("smoke-test");
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::Workspace(format!("cannot create {}: {e}", dir.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Workspace(format!("cannot find the sluice binary: {e}")))?;
    let mut results = serde_json::Map::new();
    let mut failed = Vec::new();
    for c in &spec.computes {
        let name = &c.name.value;
        let file = dir.join(format!("{name}.yml"));
        std::fs::write(
            &file,
            format!(
                "type: command\nexperiment_name: infra-smoke-test\ncompute: azureml:{name}\ncommand: echo \"smoke test on $SLUICE_STEP_NAME\" && uname -n\n"
            ),
        )
        .map_err(|e| CliError::Workspace(format!("cannot write {}: {e}", file.display())))?;
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["job", "create", "-o", "json", "-f"])
            .arg(&file)
            .env("NO_COLOR", "1")
            .env_remove("SLUICE_URL")
            .env_remove("SLUICE_OUTPUT")
            .stdin(std::process::Stdio::null());
        match &spec.workspace.server {
            // Through the team server, as a client submits: it runs the job on its workspace.
            Some(url) => {
                ui::note(&format!(
                    "smoke test: a job on compute `{name}`, submitted to {url} ..."
                ));
                cmd.arg("--url").arg(url).current_dir(&dir);
            }
            None => {
                ui::note(&format!("smoke test: a job on compute `{name}` ..."));
                cmd.arg("--workspace").arg(ws.root());
                if let Some(store) = &spec.workspace.store {
                    cmd.arg("--store").arg(store);
                }
            }
        }
        if let Some(t) = &ctx.global.token {
            cmd.env("SLUICE_TOKEN", t);
        }
        let out = cmd
            .output()
            .map_err(|e| CliError::Workspace(format!("cannot run the smoke test: {e}")))?;
        let job: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let status = job["status"].as_str().unwrap_or("Failed").to_owned();
        ui::status(
            &format!("smoke test on `{name}`"),
            &status,
            job["error"].as_str(),
        );
        if status != "Completed" {
            let why = job["error"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    job["jobs"].as_object().and_then(|j| {
                        j.values()
                            .find_map(|s| s["error"].as_str().map(str::to_owned))
                    })
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_owned());
            failed.push(format!("`{name}`: {why}"));
        }
        results.insert(name.clone(), json!({"job": job["name"], "status": status}));
    }
    if !failed.is_empty() {
        return Err(CliError::Check {
            message: format!("the smoke test failed on {}", failed.join("; ")),
            hint: Some("see the jobs with `sluice job show -n NAME`; fix the compute's settings in the infrastructure file and apply again".into()),
        });
    }
    Ok(Value::Object(results))
}
