//! The infrastructure file (`sluice infra validate|plan|apply -f config-infra-dev.yml`): the
//! shape of the Azure `MLOps` templates' `config-infra-*.yml` — a `variables:` block of Azure
//! DevOps variables that refer to each other with `$(name)` — plus an optional `sluice:` block
//! for what a workspace holds beyond them.
//!
//! ```yaml
//! variables:
//!   namespace: taxi
//!   postfix: "0659"
//!   environment: dev
//!   enable_aml_computecluster: true          # the cluster below (cpu-cluster, 0..4 nodes)
//!   training_target: cpu-cluster
//!   training_target_sku: STANDARD_DS3_v2
//!   training_target_max_nodes: 4
//!   aml_workspace: mlw-$(namespace)-$(postfix)$(environment)
//! sluice:
//!   workspace:
//!     path: .sluice-workspaces/$(aml_workspace)   # the default
//!     store: postgresql://sluice@db/$(environment) # optional; likewise `artifacts:`
//!     shared: /shared/mlops/$(environment)        # optional: the folder cluster nodes share
//!     server: https://sluice.internal:5000          # optional: the team server running its jobs
//!   computes:                                   # Azure compute YAML, inline or `file:`
//!     - {name: hpc, type: slurm, max_instances: 8, sluice: {slurm: {partition: gpu}}}
//!   datastores: [{file: mlops/azureml/datastore.yml}]
//!   environments: [{file: mlops/azureml/train/train-env.yml}]
//!   data: [{file: mlops/azureml/train/data.yml}]
//!   components: [{file: components/prep.yml}]
//!   tokens: [{name: ci-trainer, role: contributor}]
//!   policies: [{model: taxi-fare-model, file: policy.yml}]
//! ```
//!
//! Variables are resolved first (`$(name)` and `${{ variables.name }}`, in any order, cycles
//! refused), then every string of the `sluice:` block. The file's own errors are located here;
//! the files it names are read by their own loaders.

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::compute::{ComputeSpec, compute_from_node};
use crate::decode::{Ctx, MapReader};
use crate::diag::{SpecError, Warning};
use crate::parse::read_source;
use crate::source::{Source, Span, Spanned};
use crate::yaml::{self, Node, Value};

/// A checked infrastructure file.
#[derive(Debug, Clone)]
pub struct InfraSpec {
    pub source: Source,
    /// The file holding Sluice's declarations when the `sluice_infra` variable names one (the
    /// variables file then stays as Azure DevOps reads a variables template: `variables:` only).
    pub declarations: Option<PathBuf>,
    /// Every variable, `$(...)` resolved, in file order.
    pub variables: IndexMap<String, Spanned<String>>,
    pub workspace: WorkspaceDecl,
    pub computes: Vec<ComputeSpec>,
    pub datastores: Vec<Spanned<PathBuf>>,
    pub environments: Vec<Spanned<PathBuf>>,
    pub data: Vec<Spanned<PathBuf>>,
    pub components: Vec<Spanned<PathBuf>>,
    pub tokens: Vec<TokenDecl>,
    pub policies: Vec<PolicyDecl>,
}

/// The workspace an infrastructure file declares.
#[derive(Debug, Clone)]
pub struct WorkspaceDecl {
    /// `aml_workspace`, else `mlw-$(namespace)-$(postfix)$(environment)`.
    pub name: Spanned<String>,
    /// The workspace folder (absolute).
    pub path: PathBuf,
    /// Whether the file names the folder (`path:`); else it is the default, beside the file.
    pub path_declared: bool,
    /// Where its metadata lives (`postgresql://...`), when not in the folder.
    pub store: Option<String>,
    /// Where its artifacts live (`s3://...`, `wasbs://...`), when not in the folder.
    pub artifacts: Option<String>,
    /// The folder every cluster node sees, for what steps read and write (absolute), when not
    /// the workspace folder.
    pub shared: Option<String>,
    /// The team server (`sluice server`) that runs its jobs, as clients reach it
    /// (`https://host:5000`): the connection info names it, and the smoke test goes through it.
    pub server: Option<String>,
    /// Recorded with the workspace: `location`, `environment`, `resource_group`, `namespace`,
    /// `postfix` where the variables give them.
    pub tags: IndexMap<String, String>,
}

/// A token the workspace must have (its secret is made by `apply`, never written here).
#[derive(Debug, Clone)]
pub struct TokenDecl {
    pub name: Spanned<String>,
    pub role: Spanned<String>,
}

/// A registered model's promotion policy, from a policy file.
#[derive(Debug, Clone)]
pub struct PolicyDecl {
    pub model: Spanned<String>,
    pub file: Spanned<PathBuf>,
}

/// The variable naming the file that holds Sluice's declarations (`sluice:`), relative to the
/// infrastructure file: Azure DevOps refuses any key but `variables:` in a variables template.
pub(crate) const DECLARATIONS_VARIABLE: &str = "sluice_infra";

/// The cluster the templates' `enable_aml_computecluster` makes when the variables name none.
const DEFAULT_CLUSTER: (&str, &str, u32, u32) = ("cpu-cluster", "STANDARD_DS3_v2", 0, 4);

/// Reads and checks an infrastructure file.
///
/// # Errors
/// A located error: an unknown key, a variable that refers to one not defined (or to itself),
/// a value of the wrong type, a compute the compute schema refuses.
pub fn load_infra(
    path: &std::path::Path,
    warnings: &mut Vec<Warning>,
) -> Result<InfraSpec, SpecError> {
    parse_infra(&read_source(path)?, warnings)
}

/// [`load_infra`] from source text.
///
/// # Errors
/// As [`load_infra`].
pub fn parse_infra(source: &Source, warnings: &mut Vec<Warning>) -> Result<InfraSpec, SpecError> {
    let root = yaml::parse(source, warnings)?;
    // Two files may be read: this one (its variables) and the one holding Sluice's declarations
    // (this one, or the file its `sluice_infra` variable names). Errors point into the file the
    // offending text is in.
    let mut var_warnings = Vec::new();
    let vctx = Ctx {
        source,
        warnings: &mut var_warnings,
        assets: None,
    };
    let mut r = MapReader::new(&vctx, &root, "an infrastructure file")?;
    let Some(vars_node) = r.get("variables").filter(|n| !n.is_null()) else {
        return Err(vctx
            .error(&root, "the file has no `variables:`")
            .with_help("an infrastructure file is a `config-infra-*.yml`: `variables:` with `namespace`, `postfix`, `environment`, ..."));
    };
    let sluice_here = r.get("sluice").filter(|n| !n.is_null()).cloned();
    r.finish(&vctx)?;
    let raw = raw_variables(&vctx, vars_node)?;
    let variables = resolve_all(&vctx, &raw)?;
    let declarations = match (&sluice_here, variables.get(DECLARATIONS_VARIABLE)) {
        (Some(here), Some(v)) => {
            return Err(vctx
                .error_at(
                    v.span,
                    format!("`{DECLARATIONS_VARIABLE}` names a file, and this file has a `sluice:` block too"),
                )
                .with_label("declarations elsewhere")
                .with_help(format!(
                    "keep one: the `sluice:` block at line {} or the file `{}`",
                    here.span.line, v.value
                )));
        }
        (None, Some(v)) => {
            let path = source.resolve(&v.value);
            let file = read_source(&path).map_err(|e| {
                vctx.error_at(
                    v.span,
                    format!("cannot read the declarations file `{}`", v.value),
                )
                .with_label("named here")
                .with_help(e.to_string())
            })?;
            Some((path, file))
        }
        _ => None,
    };
    let (declarations_path, declarations) = declarations.unzip();
    let decl_source = declarations.as_ref().unwrap_or(source);
    let mut decl_warnings = Vec::new();
    let sluice_node = match &declarations {
        Some(file) => {
            let droot = yaml::parse(file, &mut decl_warnings)?;
            let dctx = Ctx {
                source: file,
                warnings: &mut decl_warnings,
                assets: None,
            };
            let mut d = MapReader::new(&dctx, &droot, "a declarations file")?;
            let node = d.get("sluice").filter(|n| !n.is_null()).cloned();
            d.finish(&dctx)?;
            Some(node.ok_or_else(|| {
                dctx.error(&droot, "the declarations file has no `sluice:` block")
                    .with_help("write Sluice's declarations under `sluice:` (workspace, computes, tokens, ...)")
            })?)
        }
        None => sluice_here,
    };
    let ctx = Ctx {
        source: decl_source,
        warnings: &mut decl_warnings,
        assets: None,
    };
    let sluice_node = match sluice_node {
        Some(mut node) => {
            substitute_tree(&ctx, &variables, &mut node)?;
            Some(node)
        }
        None => None,
    };
    let empty = Node {
        value: Value::Map(Vec::new()),
        span: vars_node.span,
    };
    let sluice = sluice_node.as_ref().unwrap_or(&empty);
    let mut s = MapReader::new(&ctx, sluice, "the `sluice:` block")?;
    let ws_node = s.get("workspace").filter(|n| !n.is_null());
    let computes_node = s.get("computes");
    let lists = [
        s.get("datastores"),
        s.get("environments"),
        s.get("data"),
        s.get("components"),
    ];
    let tokens_node = s.get("tokens");
    let policies_node = s.get("policies");
    s.finish(&ctx)?;

    let workspace = workspace_decl(&vctx, &ctx, &variables, vars_node, ws_node)?;

    let mut computes = Vec::new();
    let cluster_on = match variables.get("enable_aml_computecluster") {
        Some(v) => truthy(&vctx, v)?,
        None => variables.contains_key("training_target"),
    };
    if cluster_on {
        for prefix in ["training_target", "batch_target"] {
            if prefix == "batch_target" && !variables.contains_key(prefix) {
                continue;
            }
            computes.push(cluster_from_variables(
                &vctx, &variables, prefix, vars_node,
            )?);
        }
    }
    let mut warns = Vec::new();
    for item in seq(&ctx, computes_node, "computes")? {
        let compute = match file_of(&ctx, item, "computes")? {
            Some(file) => crate::compute::load_compute(&file.value, &[], &mut warns)?,
            None => compute_from_node(decl_source, item, &mut warns)?,
        };
        if let Some(first) = computes.iter().find(|c| c.name.value == compute.name.value) {
            return Err(ctx
                .error_at(
                    compute.name.span,
                    format!("compute `{}` is declared twice", compute.name.value),
                )
                .with_label("second declaration")
                .with_help(format!(
                    "the first is at line {}; remove one",
                    first.name.span.line
                )));
        }
        computes.push(compute);
    }
    let [datastores, environments, data, components] = [
        (lists[0], "datastores"),
        (lists[1], "environments"),
        (lists[2], "data"),
        (lists[3], "components"),
    ]
    .map(
        |(node, field)| -> Result<Vec<Spanned<PathBuf>>, SpecError> {
            seq(&ctx, node, field)?
                .iter()
                .map(|item| {
                    file_of(&ctx, item, field)?.ok_or_else(|| {
                        ctx.error(item, format!("each of `{field}` names its file"))
                            .with_help(format!(
                                "write `- file: path/to/{}.yml`",
                                field.trim_end_matches('s')
                            ))
                    })
                })
                .collect()
        },
    );
    let (datastores, environments, data, components) =
        (datastores?, environments?, data?, components?);

    let mut tokens: Vec<TokenDecl> = Vec::new();
    for item in seq(&ctx, tokens_node, "tokens")? {
        let mut t = MapReader::new(&ctx, item, "a token")?;
        let name = required(&ctx, &mut t, item, "name", "tokens")?;
        let role = required(&ctx, &mut t, item, "role", "tokens")?;
        t.finish(&ctx)?;
        if !matches!(role.value.as_str(), "reader" | "contributor" | "owner") {
            return Err(ctx
                .error_at(role.span, format!("unknown role `{}`", role.value))
                .with_label("not a role")
                .with_help("roles are `reader`, `contributor` and `owner`"));
        }
        if tokens.iter().any(|x| x.name.value == name.value) {
            return Err(ctx
                .error_at(
                    name.span,
                    format!("token `{}` is declared twice", name.value),
                )
                .with_label("second declaration"));
        }
        tokens.push(TokenDecl { name, role });
    }
    let mut policies = Vec::new();
    for item in seq(&ctx, policies_node, "policies")? {
        let mut p = MapReader::new(&ctx, item, "a policy")?;
        let model = required(&ctx, &mut p, item, "model", "policies")?;
        let file = required(&ctx, &mut p, item, "file", "policies")?;
        p.finish(&ctx)?;
        policies.push(PolicyDecl {
            model,
            file: Spanned::new(decl_source.resolve(&file.value), file.span),
        });
    }
    warnings.extend(var_warnings);
    warnings.extend(decl_warnings);
    warnings.extend(warns);
    Ok(InfraSpec {
        source: source.clone(),
        declarations: declarations_path,
        variables,
        workspace,
        computes,
        datastores,
        environments,
        data,
        components,
        tokens,
        policies,
    })
}

/// The variables as written: a mapping, or Azure DevOps' list form (`- name: x` / `value: y`).
fn raw_variables(
    ctx: &Ctx<'_>,
    node: &Node,
) -> Result<IndexMap<String, Spanned<String>>, SpecError> {
    let mut out = IndexMap::new();
    let mut put = |key: Spanned<String>, v: &Node| -> Result<(), SpecError> {
        let text = match &v.value {
            Value::Null => String::new(),
            Value::Seq(_) | Value::Map(_) => {
                return Err(ctx.expected(v, "a single value", &format!("variables.{}", key.value)));
            }
            Value::Str { text, .. } => text.clone(),
            // Azure DevOps reads every value as text: `postfix: 0659` is `0659`, not 659.
            _ => {
                let (start, end) = ctx.source.byte_range(v.span);
                ctx.source
                    .text
                    .get(start..end)
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map_or_else(|| v.scalar_text().unwrap_or_default(), str::to_owned)
            }
        };
        out.insert(key.value, Spanned::new(text, v.span));
        Ok(())
    };
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                put(ctx.string(k, "variables")?, v)?;
            }
        }
        Value::Seq(items) => {
            for item in items {
                let mut m = MapReader::new(ctx, item, "a variable")?;
                if let Some(g) = m.get("group") {
                    return Err(ctx
                        .error(
                            g,
                            "variable groups live in Azure DevOps, where sluice cannot read them",
                        )
                        .with_label("a variable group")
                        .with_help(
                            "write the values this file needs as `- name: x` / `value: y`",
                        ));
                }
                if let Some(t) = m.get("template") {
                    return Err(ctx
                        .error(t, "variable templates are not read here")
                        .with_label("a template")
                        .with_help("put the template's variables in this file"));
                }
                let name = m
                    .get("name")
                    .ok_or_else(|| ctx.error(item, "a variable in list form needs `name:`"))?;
                let name = ctx.string(name, "name")?;
                let value = m.get("value").cloned().unwrap_or(Node {
                    value: Value::Null,
                    span: item.span,
                });
                let _ = m.get("readonly");
                m.finish(ctx)?;
                put(name, &value)?;
            }
        }
        _ => return Err(ctx.expected(node, "a mapping", "variables")),
    }
    Ok(out)
}

/// Every variable with its references resolved.
fn resolve_all(
    ctx: &Ctx<'_>,
    raw: &IndexMap<String, Spanned<String>>,
) -> Result<IndexMap<String, Spanned<String>>, SpecError> {
    let mut done: IndexMap<String, Spanned<String>> = IndexMap::new();
    for key in raw.keys() {
        resolve_var(ctx, raw, key, &mut done, &mut Vec::new())?;
    }
    // In file order.
    Ok(raw.keys().map(|k| (k.clone(), done[k].clone())).collect())
}

fn resolve_var(
    ctx: &Ctx<'_>,
    raw: &IndexMap<String, Spanned<String>>,
    key: &str,
    done: &mut IndexMap<String, Spanned<String>>,
    stack: &mut Vec<String>,
) -> Result<String, SpecError> {
    if let Some(v) = done.get(key) {
        return Ok(v.value.clone());
    }
    let value = &raw[key];
    if stack.iter().any(|k| k == key) {
        stack.push(key.to_owned());
        return Err(ctx
            .error_at(
                value.span,
                format!("variable `{key}` refers to itself: {}", stack.join(" → ")),
            )
            .with_label("a cycle")
            .with_help("give one of them a value that does not refer back"));
    }
    stack.push(key.to_owned());
    let resolved = substitute(ctx, &value.value, value.span, &mut |name, span| {
        if raw.contains_key(name) {
            resolve_var(ctx, raw, name, done, stack).map(Some)
        } else {
            Err(unknown_variable(
                ctx,
                name,
                span,
                raw.keys().map(String::as_str),
            ))
        }
    })?;
    stack.pop();
    done.insert(key.to_owned(), Spanned::new(resolved.clone(), value.span));
    Ok(resolved)
}

fn unknown_variable<'k>(
    ctx: &Ctx<'_>,
    name: &str,
    span: Span,
    known: impl Iterator<Item = &'k str>,
) -> SpecError {
    let known: Vec<&str> = known.collect();
    let err = ctx
        .error_at(span, format!("`$({name})` names no variable of this file"))
        .with_label("unknown variable");
    match crate::decode::suggest(name, &known) {
        Some(s) => err.with_help(format!("did you mean `$({s})`?")),
        None => err.with_help(format!("define `{name}:` under `variables:`")),
    }
}

/// What a reference resolves to (`None`: left as written).
type Lookup<'a> = dyn FnMut(&str, Span) -> Result<Option<String>, SpecError> + 'a;

/// `text` with each `$(name)` and `${{ variables.name }}` replaced by `lookup(name)`.
fn substitute(
    ctx: &Ctx<'_>,
    text: &str,
    span: Span,
    lookup: &mut Lookup<'_>,
) -> Result<String, SpecError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let macro_at = rest.find("$(");
        let expr_at = rest.find("${{");
        let (at, open, close) = match (macro_at, expr_at) {
            (Some(m), Some(e)) if e < m => (e, "${{", "}}"),
            (Some(m), _) => (m, "$(", ")"),
            (None, Some(e)) => (e, "${{", "}}"),
            (None, None) => break,
        };
        out.push_str(&rest[..at]);
        let after = &rest[at + open.len()..];
        let Some(end) = after.find(close) else {
            return Err(ctx
                .error_at(span, format!("`{open}` is not closed with `{close}`"))
                .with_label("unclosed reference"));
        };
        let inner = after[..end].trim();
        let name = if open == "${{" {
            inner.strip_prefix("variables.").ok_or_else(|| {
                ctx.error_at(
                    span,
                    format!("`${{{{ {inner} }}}}` is not a variable reference"),
                )
                .with_help("only `${{ variables.NAME }}` expressions are read here")
            })?
        } else {
            inner
        };
        match lookup(name, span)? {
            Some(v) => out.push_str(&v),
            None => {
                out.push_str(&rest[at..at + open.len() + end + close.len()]);
            }
        }
        rest = &after[end + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves the references in every string of `node`.
fn substitute_tree(
    ctx: &Ctx<'_>,
    vars: &IndexMap<String, Spanned<String>>,
    node: &mut Node,
) -> Result<(), SpecError> {
    match &mut node.value {
        Value::Str { text, .. } if text.contains("$(") || text.contains("${{") => {
            let replaced = substitute(ctx, text, node.span, &mut |name, span| {
                vars.get(name)
                    .map(|v| Some(v.value.clone()))
                    .ok_or_else(|| {
                        unknown_variable(ctx, name, span, vars.keys().map(String::as_str))
                    })
            })?;
            *text = replaced;
        }
        Value::Seq(items) => {
            for item in items {
                substitute_tree(ctx, vars, item)?;
            }
        }
        Value::Map(entries) => {
            for (_, v) in entries {
                substitute_tree(ctx, vars, v)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn truthy(ctx: &Ctx<'_>, v: &Spanned<String>) -> Result<bool, SpecError> {
    match v.value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" | "" => Ok(false),
        other => Err(ctx
            .error_at(v.span, format!("`{other}` is not `true` or `false`"))
            .with_label("expected a boolean")),
    }
}

/// The workspace: `ctx` reads the declarations (`sluice.workspace`), `vctx` the variables.
fn workspace_decl(
    vctx: &Ctx<'_>,
    ctx: &Ctx<'_>,
    vars: &IndexMap<String, Spanned<String>>,
    vars_node: &Node,
    node: Option<&Node>,
) -> Result<WorkspaceDecl, SpecError> {
    let empty = Node {
        value: Value::Map(Vec::new()),
        span: vars_node.span,
    };
    let mut w = MapReader::new(ctx, node.unwrap_or(&empty), "`sluice.workspace`")?;
    let explicit = ctx.opt_string(w.get("name"), "name")?;
    let path = ctx.opt_string(w.get("path"), "path")?;
    let store = ctx.opt_string(w.get("store"), "store")?.map(|s| s.value);
    let artifacts = ctx
        .opt_string(w.get("artifacts"), "artifacts")?
        .map(|s| s.value);
    let shared = ctx
        .opt_string(w.get("shared"), "shared")?
        .map(|s| ctx.source.resolve(&s.value).display().to_string());
    let server = ctx.opt_string(w.get("server"), "server")?;
    w.finish(ctx)?;
    if let Some(url) = &server
        && !(url.value.starts_with("http://") || url.value.starts_with("https://"))
    {
        return Err(ctx
            .error_at(
                url.span,
                format!("`{}` is not a team server's address", url.value),
            )
            .with_label("not an http:// or https:// address")
            .with_help(
                "write the address clients use, e.g. `server: https://sluice.example.org:5000`",
            ));
    }
    let server = server.map(|s| s.value.trim_end_matches('/').to_owned());
    // The name's text is in the declarations (`name:`) or in the variables.
    let (name, name_ctx) = match (explicit, vars.get("aml_workspace")) {
        (Some(n), _) => (n, ctx),
        (None, Some(v)) => (v.clone(), vctx),
        (None, None) => match (vars.get("namespace"), vars.get("environment")) {
            (Some(ns), Some(env)) => {
                let postfix = vars.get("postfix").map_or("", |p| p.value.as_str());
                (
                    Spanned::new(format!("mlw-{}-{postfix}{}", ns.value, env.value), ns.span),
                    vctx,
                )
            }
            _ => {
                return Err(vctx
                    .error(vars_node, "the file names no workspace")
                    .with_label("no `aml_workspace`")
                    .with_help("add `aml_workspace: mlw-$(namespace)-$(postfix)$(environment)` (or `namespace:` and `environment:`)"));
            }
        },
    };
    if name.value.is_empty()
        || !name
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(name_ctx
            .error_at(
                name.span,
                format!("`{}` is not a workspace name", name.value),
            )
            .with_label("letters, digits, `-`, `_` and `.` only")
            .with_help("workspace names become folder names"));
    }
    let path_declared = path.is_some();
    let path = match path {
        Some(p) => ctx.source.resolve(&p.value),
        // Beside the infrastructure file, whichever file holds the declarations.
        None => vctx
            .source
            .resolve(&format!(".sluice-workspaces/{}", name.value)),
    };
    let tags = [
        "location",
        "environment",
        "resource_group",
        "namespace",
        "postfix",
    ]
    .into_iter()
    .filter_map(|k| vars.get(k).map(|v| (k.to_owned(), v.value.clone())))
    .collect();
    Ok(WorkspaceDecl {
        name,
        path,
        path_declared,
        store,
        artifacts,
        shared,
        server,
        tags,
    })
}

/// The cluster `enable_aml_computecluster` makes: `PREFIX` (name), `PREFIX_sku`,
/// `PREFIX_min_nodes`, `PREFIX_max_nodes`, `PREFIX_tier`.
fn cluster_from_variables(
    ctx: &Ctx<'_>,
    vars: &IndexMap<String, Spanned<String>>,
    prefix: &str,
    vars_node: &Node,
) -> Result<ComputeSpec, SpecError> {
    let get = |suffix: &str| vars.get(&format!("{prefix}{suffix}"));
    let (name, size, min, max) = DEFAULT_CLUSTER;
    let count = |suffix: &str, default: u32| -> Result<u32, SpecError> {
        match get(suffix) {
            None => Ok(default),
            Some(v) => v.value.trim().parse::<u32>().map_err(|_| {
                ctx.error_at(
                    v.span,
                    format!(
                        "`{prefix}{suffix}` must be a whole number, found `{}`",
                        v.value
                    ),
                )
                .with_label("not a count")
            }),
        }
    };
    let min_instances = count("_min_nodes", min)?;
    let max_instances = count("_max_nodes", max)?;
    if max_instances == 0 || min_instances > max_instances {
        let at = get("_max_nodes").map_or(vars_node.span, |v| v.span);
        return Err(ctx
            .error_at(
                at,
                format!(
                    "`{prefix}_max_nodes` must be at least 1 and at least `{prefix}_min_nodes`"
                ),
            )
            .with_label("too few nodes"));
    }
    let tier = match get("_tier") {
        None => None,
        Some(v) => {
            let norm = v.value.to_ascii_lowercase().replace('-', "_");
            if !matches!(norm.as_str(), "dedicated" | "low_priority") {
                return Err(ctx
                    .error_at(v.span, format!("unknown tier `{}`", v.value))
                    .with_label("unknown tier")
                    .with_help("use `dedicated` or `low_priority`"));
            }
            Some(norm)
        }
    };
    let name = get("")
        .cloned()
        .unwrap_or_else(|| Spanned::new(name.to_owned(), vars_node.span));
    Ok(ComputeSpec {
        source: ctx.source.clone(),
        name,
        ty: "amlcompute".to_owned(),
        size: Some(get("_sku").map_or_else(|| size.to_owned(), |v| v.value.clone())),
        min_instances: Some(min_instances),
        max_instances: Some(max_instances),
        idle_time_before_scale_down: None,
        tier,
        description: None,
        tags: IndexMap::new(),
        executor: crate::compute::ExecutorSpec::Local,
    })
}

fn seq<'n>(ctx: &Ctx<'_>, node: Option<&'n Node>, field: &str) -> Result<&'n [Node], SpecError> {
    match node.map(|n| &n.value) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Seq(items)) => Ok(items),
        Some(_) => Err(ctx.expected(node.expect("checked"), "a list", field)),
    }
}

/// `- file: path` (resolved against this file's folder), or `None` for an inline mapping.
fn file_of(ctx: &Ctx<'_>, item: &Node, field: &str) -> Result<Option<Spanned<PathBuf>>, SpecError> {
    let Value::Map(entries) = &item.value else {
        return Err(ctx.expected(item, "a mapping", field));
    };
    let Some((_, v)) = entries.iter().find(|(k, _)| k.as_str() == Some("file")) else {
        return Ok(None);
    };
    if entries.len() > 1 {
        let other = entries
            .iter()
            .find(|(k, _)| k.as_str() != Some("file"))
            .map_or(item, |(k, _)| k);
        return Err(ctx
            .error(other, "an item with `file:` has no other keys")
            .with_label("beside `file:`")
            .with_help("put the settings in the file, or write the item inline without `file:`"));
    }
    let path = ctx.string(v, "file")?;
    Ok(Some(Spanned::new(
        ctx.source.resolve(&path.value),
        path.span,
    )))
}

fn required(
    ctx: &Ctx<'_>,
    r: &mut MapReader<'_>,
    item: &Node,
    key: &'static str,
    field: &str,
) -> Result<Spanned<String>, SpecError> {
    match ctx.opt_string(r.get(key), key)? {
        Some(v) if !v.value.is_empty() => Ok(v),
        _ => Err(ctx
            .error(item, format!("each of `{field}` needs `{key}:`"))
            .with_label(format!("no `{key}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<InfraSpec, SpecError> {
        let mut source = Source::new("config-infra-dev.yml", text);
        source.dir = PathBuf::from("/project");
        parse_infra(&source, &mut Vec::new())
    }

    #[test]
    fn the_templates_variables_name_the_workspace_and_its_cluster() {
        let spec = parse(
            "variables:\n  namespace: mlopsv2\n  postfix: 0659\n  location: westus\n  environment: dev\n  enable_aml_computecluster: true\n  resource_group: rg-$(namespace)-$(postfix)$(environment)\n  aml_workspace: mlw-$(namespace)-$(postfix)$(environment)\n",
        )
        .unwrap();
        assert_eq!(spec.workspace.name.value, "mlw-mlopsv2-0659dev");
        assert_eq!(
            spec.workspace.path,
            PathBuf::from("/project/.sluice-workspaces/mlw-mlopsv2-0659dev")
        );
        assert_eq!(spec.workspace.tags["resource_group"], "rg-mlopsv2-0659dev");
        assert_eq!(spec.computes.len(), 1);
        let c = &spec.computes[0];
        assert_eq!(
            (
                c.name.value.as_str(),
                c.size.as_deref(),
                c.min_instances,
                c.max_instances
            ),
            ("cpu-cluster", Some("STANDARD_DS3_v2"), Some(0), Some(4))
        );
    }

    #[test]
    fn references_resolve_in_any_order_and_in_the_sluice_block() {
        let spec = parse(
            "variables:\n  - name: ws\n    value: w-${{ variables.env }}\n  - name: env\n    value: prod\nsluice:\n  workspace:\n    name: $(ws)\n    path: /srv/$(ws)\n  tokens:\n    - {name: ci-$(env), role: owner}\n",
        )
        .unwrap();
        assert_eq!(spec.workspace.name.value, "w-prod");
        assert_eq!(spec.workspace.path, PathBuf::from("/srv/w-prod"));
        assert_eq!(spec.tokens[0].name.value, "ci-prod");
        assert!(spec.computes.is_empty(), "no cluster without the switch");
    }

    #[test]
    fn unknown_and_cyclic_references_are_located() {
        let err = parse(
            "variables:\n  namespace: a\n  environment: dev\n  aml_workspace: mlw-$(namspace)\n",
        )
        .unwrap_err();
        assert_eq!(err.location(), "config-infra-dev.yml:4:18");
        assert!(err.message.contains("`$(namspace)`"), "{}", err.message);
        assert_eq!(err.help.as_deref(), Some("did you mean `$(namespace)`?"));
        let err = parse("variables:\n  a: $(b)\n  b: x$(a)\n").unwrap_err();
        assert!(err.message.contains("refers to itself"), "{}", err.message);
        let err = parse(
            "variables:\n  aml_workspace: w\n  enable_aml_computecluster: true\n  training_target_max_nodes: lots\n",
        )
        .unwrap_err();
        assert_eq!(err.location(), "config-infra-dev.yml:4:30");
        let err = parse(
            "variables:\n  aml_workspace: w\nsluice:\n  tokens:\n    - {name: a, role: admin}\n",
        )
        .unwrap_err();
        assert!(err.message.contains("unknown role `admin`"));
        let err = parse("variables:\n  aml_workspace: w\nsluice:\n  computer: []\n").unwrap_err();
        assert_eq!(err.help.as_deref(), Some("did you mean `computes`?"));
    }

    /// `sluice_infra` names a file of declarations, so the variables file stays a variables
    /// template Azure DevOps accepts; both files' errors point into their own file.
    #[test]
    fn the_declarations_may_live_in_a_file_the_variables_name() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        };
        write(
            "mlops/sluice-infra.yml",
            "# shared by dev and prod\nsluice:\n  tokens:\n    - {name: ci-$(environment), role: contributor}\n  policies:\n    - {model: m, file: policy.yml}\n  workspace:\n    shared: share/$(environment)\n",
        );
        let load = |text: &str| {
            let mut source = Source::new("config-infra-dev.yml", text);
            source.dir = dir.path().to_path_buf();
            parse_infra(&source, &mut Vec::new())
        };
        let vars = "variables:\n  environment: dev\n  aml_workspace: w-$(environment)\n  sluice_infra: mlops/sluice-infra.yml\n";
        let spec = load(vars).unwrap();
        assert_eq!(
            spec.declarations,
            Some(dir.path().join("mlops/sluice-infra.yml"))
        );
        assert_eq!(spec.tokens[0].name.value, "ci-dev");
        // Paths in the declarations are the declarations file's; the default workspace folder
        // is beside the variables file.
        assert_eq!(
            spec.policies[0].file.value,
            dir.path().join("mlops/policy.yml")
        );
        assert_eq!(
            spec.workspace.shared.as_deref(),
            Some(dir.path().join("mlops/share/dev").to_str().unwrap())
        );
        assert_eq!(
            spec.workspace.path,
            dir.path().join(".sluice-workspaces/w-dev")
        );

        write(
            "bad.yml",
            "sluice:\n  tokens:\n    - {name: a, role: admin}\n",
        );
        let err = load("variables:\n  aml_workspace: w\n  sluice_infra: bad.yml\n").unwrap_err();
        assert!(
            err.message.contains("unknown role `admin`"),
            "{}",
            err.message
        );
        assert!(
            err.location().ends_with("bad.yml:3:23"),
            "{}",
            err.location()
        );
        write(
            "undefined.yml",
            "sluice:\n  tokens:\n    - {name: $(nope), role: owner}\n",
        );
        let err =
            load("variables:\n  aml_workspace: w\n  sluice_infra: undefined.yml\n").unwrap_err();
        assert!(
            err.location().ends_with("undefined.yml:3:14"),
            "{}",
            err.location()
        );
        let err =
            load("variables:\n  aml_workspace: w\n  sluice_infra: missing.yml\n").unwrap_err();
        assert_eq!(err.location(), "config-infra-dev.yml:3:17");
        assert!(err.message.contains("missing.yml"), "{}", err.message);
        let err = load(
            "variables:\n  aml_workspace: w\n  sluice_infra: bad.yml\nsluice:\n  tokens: []\n",
        )
        .unwrap_err();
        assert!(
            err.message.contains("a `sluice:` block too"),
            "{}",
            err.message
        );
        write("empty.yml", "# nothing\nother: 1\n");
        let err = load("variables:\n  aml_workspace: w\n  sluice_infra: empty.yml\n").unwrap_err();
        assert!(err.location().contains("empty.yml"), "{}", err.location());
    }
}
