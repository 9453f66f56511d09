//! Finding the workspace: `--workspace DIR`, else `SLUICE_WORKSPACE`, else the nearest
//! `.sluice/` upward from the current folder, else a new `.sluice/` here (said on stderr).

use std::path::{Path, PathBuf};

use sluice_engine::{STORE_FILE, WORKSPACE_DIR, Workspace};
use sluice_store::Location;

use crate::error::CliError;
use crate::ui;

/// Where the workspace is, and whether it exists yet.
pub(crate) struct Located {
    pub(crate) dir: PathBuf,
    pub(crate) exists: bool,
    /// `--store`: where the metadata lives, over the workspace's own setting.
    pub(crate) store: Option<Location>,
}

/// Whether `dir` is a workspace folder: it has its database, or names a shared one.
pub(crate) fn is_workspace(dir: &Path) -> bool {
    dir.join("sluice.db").exists() || dir.join(STORE_FILE).exists()
}

pub(crate) fn locate(explicit: Option<&Path>, store: Option<&str>) -> Result<Located, CliError> {
    let store = store
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Location::parse);
    let mut located = locate_dir(explicit)?;
    if store.is_some() {
        // With the store named, a workspace folder holds only files (no `sluice.db`).
        located.exists |= located.dir.is_dir();
        located.store = store;
    }
    Ok(located)
}

fn locate_dir(explicit: Option<&Path>) -> Result<Located, CliError> {
    if let Some(dir) = explicit {
        // A project folder that holds a workspace is accepted too.
        let nested = dir.join(WORKSPACE_DIR);
        let dir = if is_workspace(&nested) {
            nested
        } else {
            dir.to_path_buf()
        };
        let exists = is_workspace(&dir);
        return Ok(Located {
            dir,
            exists,
            store: None,
        });
    }
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::Workspace(format!("cannot read the current folder: {e}")))?;
    for parent in cwd.ancestors() {
        let candidate = parent.join(WORKSPACE_DIR);
        if is_workspace(&candidate) {
            return Ok(Located {
                dir: candidate,
                exists: true,
                store: None,
            });
        }
    }
    Ok(Located {
        dir: cwd.join(WORKSPACE_DIR),
        exists: false,
        store: None,
    })
}

/// Opens the workspace, creating it (and saying so) if it does not exist.
pub(crate) fn open(located: &Located) -> Result<Workspace, CliError> {
    let ws = open_quiet(located)?;
    announce(located);
    Ok(ws)
}

/// Says that a workspace was just created (when it was).
pub(crate) fn announce(located: &Located) {
    if !located.exists {
        ui::note(&format!(
            "Created a new workspace at {}",
            located.dir.display()
        ));
    }
}

/// Opens or creates the workspace without saying so; see [`announce`]. Jobs whose `sluice`
/// process died are ended as `Failed` (and said so) on the way.
pub(crate) fn open_quiet(located: &Located) -> Result<Workspace, CliError> {
    let ws = Workspace::open_with(&located.dir, located.store.as_ref()).map_err(|e| {
        CliError::Workspace(format!(
            "cannot open the workspace at `{}`: {e}",
            located.dir.display()
        ))
    })?;
    match sluice_engine::recover_interrupted(&ws) {
        Ok(ended) => {
            for job in ended {
                ui::warn(&format!(
                    "job `{job}` was interrupted (its sluice process is gone); it is now marked Failed"
                ));
            }
        }
        Err(e) => ui::warn(&format!("cannot check for interrupted jobs: {e}")),
    }
    Ok(ws)
}

/// Opens an existing workspace for reading; a missing one is an error, not created.
/// The workspace if there is one (for looking up registered assets while a file is read),
/// without creating it.
pub(crate) fn open_if_exists(located: &Located) -> Result<Option<Workspace>, CliError> {
    if located.exists {
        open_quiet(located).map(Some)
    } else {
        Ok(None)
    }
}

/// The workspace as the registry that a file's `azureml:` references are looked up in.
pub(crate) fn as_lookup(ws: Option<&Workspace>) -> Option<&dyn sluice_spec::AssetLookup> {
    ws.map(|w| w as &dyn sluice_spec::AssetLookup)
}

pub(crate) fn open_existing(located: &Located) -> Result<Workspace, CliError> {
    if !located.exists {
        return Err(CliError::NotFound {
            message: format!("no workspace found (looked for `{WORKSPACE_DIR}/` from the current folder upward)"),
            hint: Some("run a command that creates one, such as `sluice job create -f pipeline.yml`, or pass `--workspace DIR`".into()),
        });
    }
    open(located)
}

/// Opens `located` (announcing a new workspace) as the caller, who must be at least a
/// contributor to do `what` (register an asset, define a compute or datastore).
pub(crate) fn open_as_contributor(
    located: &Located,
    token: Option<&str>,
    what: &str,
) -> Result<(Workspace, sluice_store::governance::Actor), CliError> {
    let ws = open(located)?;
    let actor = identify(&ws, token)?;
    actor.require(sluice_store::governance::Role::Contributor, what)?;
    Ok((ws, actor))
}

/// Who the command acts as: the identity and role of `--token` / `SLUICE_TOKEN`, else the
/// local user as owner (whoever can open the database file owns it). The store acts as them
/// for changes that carry no identity of their own (job creation).
pub(crate) fn identify(
    ws: &Workspace,
    token: Option<&str>,
) -> Result<sluice_store::governance::Actor, CliError> {
    let actor = match token.filter(|t| !t.is_empty()) {
        Some(t) => {
            let found = ws.store().authenticate(t);
            found?
        }
        None => sluice_store::governance::Actor::local(),
    };
    ws.store().set_actor(actor.clone());
    Ok(actor)
}
