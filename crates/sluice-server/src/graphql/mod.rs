//! MLflow's `/graphql` endpoint: the queries MLflow's web UI sends (`mlflowGetRun`,
//! `mlflowGetExperiment`, `mlflowSearchRuns`, ...), answered from the same handlers as the REST
//! routes, with MLflow's response shape: HTTP 200, `{"data": ..., "errors": [strings] | null}`,
//! keys sorted, unset fields at their protobuf defaults (`""`, `"0"`, `[]`).
//!
//! The schema is `schema.graphql`; the executor validates a document against it (unknown fields,
//! arguments and directives, leaf and object selections, variables), applies MLflow's limits
//! (depth 10, 1,000 selections, 10 root fields, 10 aliases per level), resolves each root field
//! through its REST handler and projects the REST JSON onto the selection (aliases, fragments,
//! `__typename`). Introspection (`__schema`, `__type`) is not served.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::extract::State;
use graphql_parser::query as q;
use graphql_parser::schema as sdl;
use serde_json::{Map, Value, json};

use crate::ServerState;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

type S = State<Arc<ServerState>>;

const MAX_DEPTH: usize = 10;
const MAX_SELECTIONS: usize = 1000;

// ---- schema -----------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Ty {
    Named(String),
    List(Box<Ty>),
    NonNull(Box<Ty>),
}

impl Ty {
    fn from_sdl(t: &sdl::Type<'_, String>) -> Ty {
        match t {
            sdl::Type::NamedType(n) => Ty::Named(n.clone()),
            sdl::Type::ListType(inner) => Ty::List(Box::new(Ty::from_sdl(inner))),
            sdl::Type::NonNullType(inner) => Ty::NonNull(Box::new(Ty::from_sdl(inner))),
        }
    }

    fn from_query(t: &q::Type<'_, String>) -> Ty {
        match t {
            q::Type::NamedType(n) => Ty::Named(n.clone()),
            q::Type::ListType(inner) => Ty::List(Box::new(Ty::from_query(inner))),
            q::Type::NonNullType(inner) => Ty::NonNull(Box::new(Ty::from_query(inner))),
        }
    }

    fn named(&self) -> &str {
        match self {
            Ty::Named(n) => n,
            Ty::List(t) | Ty::NonNull(t) => t.named(),
        }
    }

    fn show(&self) -> String {
        match self {
            Ty::Named(n) => n.clone(),
            Ty::List(t) => format!("[{}]", t.show()),
            Ty::NonNull(t) => format!("{}!", t.show()),
        }
    }
}

struct FieldDef {
    ty: Ty,
    args: Vec<(String, Ty)>,
}

#[derive(Default)]
struct Schema {
    objects: HashMap<String, BTreeMap<String, FieldDef>>,
    inputs: HashMap<String, Vec<(String, Ty)>>,
    enums: HashMap<String, Vec<String>>,
}

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let doc = sdl::parse_schema::<String>(include_str!("schema.graphql"))
        .expect("the shipped GraphQL schema parses");
    let mut schema = Schema::default();
    for def in doc.definitions {
        let sdl::Definition::TypeDefinition(t) = def else {
            continue;
        };
        match t {
            sdl::TypeDefinition::Object(o) => {
                let fields = o
                    .fields
                    .iter()
                    .map(|f| {
                        let args = f
                            .arguments
                            .iter()
                            .map(|a| (a.name.clone(), Ty::from_sdl(&a.value_type)))
                            .collect();
                        (
                            f.name.clone(),
                            FieldDef {
                                ty: Ty::from_sdl(&f.field_type),
                                args,
                            },
                        )
                    })
                    .collect();
                schema.objects.insert(o.name, fields);
            }
            sdl::TypeDefinition::InputObject(i) => {
                let fields = i
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), Ty::from_sdl(&f.value_type)))
                    .collect();
                schema.inputs.insert(i.name, fields);
            }
            sdl::TypeDefinition::Enum(e) => {
                let values = e.values.iter().map(|v| v.name.clone()).collect();
                schema.enums.insert(e.name, values);
            }
            _ => {}
        }
    }
    schema
});

fn is_leaf(name: &str) -> bool {
    !SCHEMA.objects.contains_key(name)
}

// ---- the route --------------------------------------------------------------------------------

/// `GET|POST /graphql` with `{"query", "variables", "operationName"}` (a GET may also send them
/// in the query string).
pub(crate) async fn graphql(State(s): S, p: Params) -> ApiResult<Json<Value>> {
    let query = p.str("query")?;
    let variables = match p.0.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::String(text)) if text.trim().is_empty() => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        // Query strings and older clients send the variables as JSON text.
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            Ok(Value::Null) => Map::new(),
            _ => return Err(ApiError::invalid("`variables` must be a JSON object")),
        },
        Some(_) => return Err(ApiError::invalid("`variables` must be a JSON object")),
    };
    let operation = p.opt_str("operationName")?.filter(|o| !o.is_empty());
    let (data, errors) = match run(&s, &query, &variables, operation.as_deref()).await {
        Ok((data, errors)) => (data, errors),
        Err(errors) => (Value::Null, errors),
    };
    let errors = if errors.is_empty() {
        Value::Null
    } else {
        Value::from(errors)
    };
    Ok(Json(json!({"data": data, "errors": errors})))
}

/// Parses, checks and executes a document; `Err` when nothing was executed.
async fn run(
    s: &Arc<ServerState>,
    query: &str,
    variables: &Map<String, Value>,
    operation: Option<&str>,
) -> Result<(Value, Vec<String>), Vec<String>> {
    let doc = q::parse_query::<String>(query)
        .map_err(|e| vec![format!("Syntax Error: {}", e.to_string().trim())])?;
    let fragments: HashMap<&str, &q::FragmentDefinition<'_, String>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            q::Definition::Fragment(f) => Some((f.name.as_str(), f)),
            q::Definition::Operation(_) => None,
        })
        .collect();
    let operations: Vec<&q::OperationDefinition<'_, String>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            q::Definition::Operation(o) => Some(o),
            q::Definition::Fragment(_) => None,
        })
        .collect();
    check_limits(&operations, &fragments).map_err(|e| vec![e])?;
    let op = pick_operation(&operations, operation).map_err(|e| vec![e])?;
    let (root, vars, directives, selection) = match op {
        q::OperationDefinition::SelectionSet(set) => ("Query", &[][..], &[][..], set),
        q::OperationDefinition::Query(o) => (
            "Query",
            &o.variable_definitions[..],
            &o.directives[..],
            &o.selection_set,
        ),
        q::OperationDefinition::Mutation(o) => (
            "Mutation",
            &o.variable_definitions[..],
            &o.directives[..],
            &o.selection_set,
        ),
        q::OperationDefinition::Subscription(_) => {
            return Err(vec!["Schema is not configured for subscriptions.".into()]);
        }
    };
    let mut errors = Vec::new();
    for d in directives {
        if d.name != "component" {
            errors.push(format!("Unknown directive '@{}'.", d.name));
        }
    }
    let vars = coerce_variables(vars, variables, &mut errors);
    let ctx = Ctx {
        fragments: &fragments,
        vars: &vars,
    };
    validate(&ctx, root, selection, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut data = BTreeMap::new();
    for field in ctx.fields(selection, root) {
        let key = field.alias.clone().unwrap_or_else(|| field.name.clone());
        if field.name == "__typename" {
            data.insert(key, Value::String(root.into()));
            continue;
        }
        let def = &SCHEMA.objects[root][&field.name];
        let input = match field.arguments.first() {
            Some((_, v)) => ctx.value(v),
            None => Value::Null,
        };
        let value = match resolve(s, &field.name, &input, &field.selection_set, &ctx).await {
            Ok(v) => project(&ctx, &v, &def.ty, &field.selection_set, &mut errors),
            Err(e) => {
                errors.push(e.message);
                Value::Null
            }
        };
        data.insert(key, value);
    }
    Ok((Value::Object(data.into_iter().collect()), errors))
}

fn pick_operation<'d>(
    ops: &[&'d q::OperationDefinition<'d, String>],
    name: Option<&str>,
) -> Result<&'d q::OperationDefinition<'d, String>, String> {
    let name_of = |o: &q::OperationDefinition<'_, String>| match o {
        q::OperationDefinition::Query(q) => q.name.clone(),
        q::OperationDefinition::Mutation(m) => m.name.clone(),
        q::OperationDefinition::Subscription(s) => s.name.clone(),
        q::OperationDefinition::SelectionSet(_) => None,
    };
    match name {
        Some(n) => ops
            .iter()
            .find(|o| name_of(o).as_deref() == Some(n))
            .copied()
            .ok_or_else(|| format!("Unknown operation named '{n}'.")),
        None => match ops {
            [only] => Ok(only),
            [] => Err("Must provide an operation.".into()),
            _ => Err("Must provide operation name if query contains multiple operations.".into()),
        },
    }
}

// ---- limits -----------------------------------------------------------------------------------

/// MLflow's limits, over every operation of the document (fragments flattened into their level).
fn check_limits<'d>(
    ops: &[&'d q::OperationDefinition<'d, String>],
    fragments: &HashMap<&str, &'d q::FragmentDefinition<'d, String>>,
) -> Result<(), String> {
    let limit = |var: &str| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(10)
    };
    let (max_root, max_aliases) = (
        limit("MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS"),
        limit("MLFLOW_SERVER_GRAPHQL_MAX_ALIASES"),
    );
    let (mut roots, mut total, mut aliases) = (0usize, 0usize, 0usize);
    for op in ops {
        let set = match op {
            q::OperationDefinition::SelectionSet(s) => s,
            q::OperationDefinition::Query(o) => &o.selection_set,
            q::OperationDefinition::Mutation(o) => &o.selection_set,
            q::OperationDefinition::Subscription(o) => &o.selection_set,
        };
        let mut stack = vec![(set, 1usize)];
        while let Some((set, depth)) = stack.pop() {
            if depth > MAX_DEPTH {
                return Err(format!("Query exceeds maximum depth of {MAX_DEPTH}"));
            }
            let mut level = Vec::new();
            flatten(set, fragments, &mut HashSet::new(), &mut level);
            aliases = aliases.max(level.iter().filter(|f| f.alias.is_some()).count());
            for f in level {
                if depth == 1 {
                    roots += 1;
                }
                total += 1;
                if total > MAX_SELECTIONS {
                    return Err(format!(
                        "Query exceeds maximum total selections of {MAX_SELECTIONS}"
                    ));
                }
                if !f.selection_set.items.is_empty() {
                    stack.push((&f.selection_set, depth + 1));
                }
            }
        }
    }
    let too_many = |limit: usize, what: &str, got: usize, var: &str| {
        format!(
            "GraphQL queries should have at most {limit} {what}, got {got} {what}. To increase the limit, set the {var} environment variable."
        )
    };
    if roots > max_root {
        return Err(too_many(
            max_root,
            "root fields",
            roots,
            "MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS",
        ));
    }
    if aliases > max_aliases {
        return Err(too_many(
            max_aliases,
            "aliases",
            aliases,
            "MLFLOW_SERVER_GRAPHQL_MAX_ALIASES",
        ));
    }
    Ok(())
}

/// The fields of one selection level, fragments expanded in place (each fragment once per path).
fn flatten<'d>(
    set: &'d q::SelectionSet<'d, String>,
    fragments: &HashMap<&str, &'d q::FragmentDefinition<'d, String>>,
    seen: &mut HashSet<&'d str>,
    out: &mut Vec<&'d q::Field<'d, String>>,
) {
    for item in &set.items {
        match item {
            q::Selection::Field(f) => out.push(f),
            q::Selection::InlineFragment(i) => flatten(&i.selection_set, fragments, seen, out),
            q::Selection::FragmentSpread(s) => {
                if let Some(frag) = fragments.get(s.fragment_name.as_str())
                    && seen.insert(s.fragment_name.as_str())
                {
                    flatten(&frag.selection_set, fragments, seen, out);
                    seen.remove(s.fragment_name.as_str());
                }
            }
        }
    }
}

// ---- validation and variables -----------------------------------------------------------------

struct Ctx<'a, 'd> {
    fragments: &'a HashMap<&'d str, &'d q::FragmentDefinition<'d, String>>,
    vars: &'a Map<String, Value>,
}

impl<'d> Ctx<'_, 'd> {
    /// The fields selected on `ty` (fragments whose type condition is another type are skipped).
    fn fields(
        &self,
        set: &'d q::SelectionSet<'d, String>,
        ty: &str,
    ) -> Vec<&'d q::Field<'d, String>> {
        let mut out = Vec::new();
        self.collect(set, ty, &mut HashSet::new(), &mut out);
        out
    }

    fn collect(
        &self,
        set: &'d q::SelectionSet<'d, String>,
        ty: &str,
        seen: &mut HashSet<&'d str>,
        out: &mut Vec<&'d q::Field<'d, String>>,
    ) {
        let applies = |cond: Option<&q::TypeCondition<'_, String>>| match cond {
            None => true,
            Some(q::TypeCondition::On(t)) => t == ty,
        };
        for item in &set.items {
            match item {
                q::Selection::Field(f) => out.push(f),
                q::Selection::InlineFragment(i) if applies(i.type_condition.as_ref()) => {
                    self.collect(&i.selection_set, ty, seen, out);
                }
                q::Selection::InlineFragment(_) => {}
                q::Selection::FragmentSpread(s) => {
                    if let Some(frag) = self.fragments.get(s.fragment_name.as_str())
                        && applies(Some(&frag.type_condition))
                        && seen.insert(s.fragment_name.as_str())
                    {
                        self.collect(&frag.selection_set, ty, seen, out);
                        seen.remove(s.fragment_name.as_str());
                    }
                }
            }
        }
    }

    /// A literal or variable as JSON (enum values as their names).
    fn value(&self, v: &q::Value<'_, String>) -> Value {
        match v {
            q::Value::Variable(name) => self.vars.get(name).cloned().unwrap_or(Value::Null),
            q::Value::Int(n) => n.as_i64().map_or(Value::Null, Value::from),
            q::Value::Float(f) => json!(f),
            q::Value::String(s) => Value::String(s.clone()),
            q::Value::Boolean(b) => Value::Bool(*b),
            q::Value::Null => Value::Null,
            q::Value::Enum(e) => Value::String(e.clone()),
            q::Value::List(items) => items.iter().map(|i| self.value(i)).collect(),
            q::Value::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), self.value(v))).collect())
            }
        }
    }
}

/// The variables the operation declares, checked against their types.
fn coerce_variables(
    defs: &[q::VariableDefinition<'_, String>],
    given: &Map<String, Value>,
    errors: &mut Vec<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for d in defs {
        let ty = Ty::from_query(&d.var_type);
        match given.get(&d.name) {
            None | Some(Value::Null) => {
                if matches!(ty, Ty::NonNull(_)) {
                    errors.push(format!(
                        "Variable '${}' of required type '{}' was not provided.",
                        d.name,
                        ty.show()
                    ));
                }
            }
            Some(v) => {
                let before = errors.len();
                check_input(
                    v,
                    &ty,
                    &format!("Variable '${}' got invalid value", d.name),
                    &d.name,
                    errors,
                );
                if errors.len() == before {
                    out.insert(d.name.clone(), v.clone());
                }
            }
        }
    }
    out
}

/// Checks an input value against an input type (MLflow's coercion messages).
fn check_input(v: &Value, ty: &Ty, prefix: &str, at: &str, errors: &mut Vec<String>) {
    let shown = |v: &Value| v.to_string();
    match ty {
        Ty::NonNull(inner) => {
            if v.is_null() {
                errors.push(format!(
                    "{prefix} null at '{at}'; Expected non-nullable type '{}' not to be null.",
                    ty.show()
                ));
            } else {
                check_input(v, inner, prefix, at, errors);
            }
        }
        Ty::List(inner) => match v {
            Value::Null => {}
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_input(item, inner, prefix, &format!("{at}[{i}]"), errors);
                }
            }
            other => check_input(other, inner, prefix, at, errors),
        },
        Ty::Named(name) => {
            if v.is_null() {
                return;
            }
            let bad = |what: String| format!("{prefix} {} at '{at}'; {what}", shown(v));
            match name.as_str() {
                "String" if !v.is_string() => {
                    errors.push(bad("String cannot represent a non string value: "
                        .to_owned()
                        + &shown(v)));
                }
                "Int" if !v.is_i64() => {
                    errors.push(bad(
                        "Int cannot represent non-integer value: ".to_owned() + &shown(v)
                    ));
                }
                "Float" if !v.is_number() => {
                    errors.push(bad(
                        "Float cannot represent non numeric value: ".to_owned() + &shown(v)
                    ));
                }
                "Boolean" if !v.is_boolean() => {
                    errors.push(bad("Boolean cannot represent a non boolean value: "
                        .to_owned()
                        + &shown(v)));
                }
                "LongString"
                    if !(v.is_i64() || v.as_str().is_some_and(|s| s.parse::<i64>().is_ok())) =>
                {
                    errors.push(bad(
                        "LongString cannot represent value: ".to_owned() + &shown(v)
                    ));
                }
                other => {
                    if let Some(values) = SCHEMA.enums.get(other) {
                        if !v.as_str().is_some_and(|s| values.iter().any(|e| e == s)) {
                            errors.push(bad(format!(
                                "Value {} does not exist in '{other}' enum.",
                                shown(v)
                            )));
                        }
                    } else if let Some(fields) = SCHEMA.inputs.get(other) {
                        let Value::Object(o) = v else {
                            errors.push(bad(format!("Expected type '{other}' to be a mapping.")));
                            return;
                        };
                        for (k, fv) in o {
                            match fields.iter().find(|(n, _)| n == k) {
                                Some((_, fty)) => {
                                    check_input(fv, fty, prefix, &format!("{at}.{k}"), errors);
                                }
                                None => errors.push(format!(
                                    "{prefix} {}; Field '{k}' is not defined by type '{other}'.",
                                    shown(v)
                                )),
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Checks a selection against the schema: fields, arguments, directives, leaf/object selections.
fn validate<'d>(
    ctx: &Ctx<'_, 'd>,
    ty: &str,
    set: &'d q::SelectionSet<'d, String>,
    errors: &mut Vec<String>,
) {
    let Some(fields) = SCHEMA.objects.get(ty) else {
        return;
    };
    let mut items: Vec<&q::Field<'_, String>> = Vec::new();
    flatten(set, ctx.fragments, &mut HashSet::new(), &mut items);
    for f in items {
        for d in &f.directives {
            errors.push(if d.name == "component" {
                "Directive '@component' may not be used on field.".to_owned()
            } else {
                format!("Unknown directive '@{}'.", d.name)
            });
        }
        if f.name == "__typename" {
            continue;
        }
        let Some(def) = fields.get(&f.name) else {
            errors.push(format!("Cannot query field '{}' on type '{ty}'.", f.name));
            continue;
        };
        for (arg, _) in &f.arguments {
            if !def.args.iter().any(|(n, _)| n == arg) {
                errors.push(format!(
                    "Unknown argument '{arg}' on field '{ty}.{}'.",
                    f.name
                ));
            }
        }
        for (arg, value) in &f.arguments {
            if let Some((_, aty)) = def.args.iter().find(|(n, _)| n == arg)
                && !matches!(value, q::Value::Variable(_))
            {
                check_input(
                    &ctx.value(value),
                    aty,
                    &format!("Argument '{arg}' has invalid value"),
                    arg,
                    errors,
                );
            }
        }
        let child = def.ty.named();
        match (is_leaf(child), f.selection_set.items.is_empty()) {
            (true, false) => errors.push(format!(
                "Field '{}' must not have a selection since type '{}' has no subfields.",
                f.name,
                def.ty.show()
            )),
            (false, true) => errors.push(format!(
                "Field '{0}' of type '{1}' must have a selection of subfields. Did you mean '{0} {{ ... }}'?",
                f.name,
                def.ty.show()
            )),
            (false, false) => validate(ctx, child, &f.selection_set, errors),
            (true, true) => {}
        }
    }
}

// ---- resolvers --------------------------------------------------------------------------------

/// A root field's answer as the REST route gives it (`snake_case` JSON), with the run extension
/// fields (`experiment`, `model_versions`) added when the selection asks for them.
async fn resolve<'d>(
    s: &Arc<ServerState>,
    field: &str,
    input: &Value,
    selection: &'d q::SelectionSet<'d, String>,
    ctx: &Ctx<'_, 'd>,
) -> ApiResult<Value> {
    use crate::{artifacts, registry, tracking};
    let params = Params(snake_keys(input));
    let state = || State(Arc::clone(s));
    let Json(mut out) = match field {
        "mlflowGetExperiment" => tracking::get_experiment(state(), params).await?,
        "mlflowGetRun" => tracking::get_run(state(), params).await?,
        "mlflowSearchRuns" => {
            let mut params = params;
            params.0.entry("max_results").or_insert(json!(1000));
            let Json(page) = tracking::search_runs(state(), params).await?;
            Json(serde_json::to_value(page).unwrap_or_default())
        }
        "mlflowListArtifacts" => artifacts::list_run(state(), params).await?,
        "mlflowGetMetricHistoryBulkInterval" => {
            tracking::metric_history_bulk_interval(state(), params).await?
        }
        "mlflowSearchModelVersions" => registry::search_model_versions(state(), params).await?,
        "mlflowSearchDatasets" => tracking::search_datasets(state(), params).await?,
        "test" | "testMutation" => Json(json!({"output": input})),
        other => return Err(ApiError::invalid(format!("No resolver for '{other}'"))),
    };
    // The run extension: each run's experiment and the model versions registered from it.
    let runs_field = match field {
        "mlflowGetRun" => "run",
        "mlflowSearchRuns" => "runs",
        _ => return Ok(out),
    };
    let root_type = if field == "mlflowGetRun" {
        "MlflowGetRunResponse"
    } else {
        "MlflowSearchRunsResponse"
    };
    let mut wants = (false, false);
    for f in ctx.fields(selection, root_type) {
        if f.name == runs_field {
            for g in ctx.fields(&f.selection_set, "MlflowRunExtension") {
                wants.0 |= g.name == "experiment";
                wants.1 |= g.name == "modelVersions";
            }
        }
    }
    if wants == (false, false) {
        return Ok(out);
    }
    let runs: Vec<&mut Value> = match out.get_mut(runs_field) {
        Some(Value::Array(runs)) => runs.iter_mut().collect(),
        Some(run @ Value::Object(_)) => vec![run],
        _ => Vec::new(),
    };
    for run in runs {
        let run_id = run["info"]["run_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let experiment_id = run["info"]["experiment_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if wants.0 {
            let p = Params(Map::from_iter([(
                "experiment_id".into(),
                json!(experiment_id),
            )]));
            if let Ok(Json(e)) = tracking::get_experiment(state(), p).await {
                run["experiment"] = e["experiment"].clone();
            }
        }
        if wants.1 {
            let p = Params(Map::from_iter([(
                "filter".into(),
                json!(format!("run_id = '{run_id}'")),
            )]));
            let Json(v) = registry::search_model_versions(state(), p).await?;
            run["model_versions"] = v["model_versions"].clone();
        }
    }
    Ok(out)
}

/// `runUuid` → `run_uuid`, at every level of an input object.
fn snake_keys(v: &Value) -> Map<String, Value> {
    match v {
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Object(_) => Value::Object(snake_keys(v)),
                    other => other.clone(),
                };
                (snake(k), v)
            })
            .collect(),
        _ => Map::new(),
    }
}

fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

// ---- projection -------------------------------------------------------------------------------

/// The REST value shaped by the selection: camelCase fields, keys sorted, aliases, `__typename`,
/// unset fields at their protobuf defaults, long integers as strings.
fn project<'d>(
    ctx: &Ctx<'_, 'd>,
    v: &Value,
    ty: &Ty,
    set: &'d q::SelectionSet<'d, String>,
    errors: &mut Vec<String>,
) -> Value {
    match ty {
        Ty::NonNull(inner) => project(ctx, v, inner, set, errors),
        Ty::List(inner) => match v {
            Value::Array(items) => items
                .iter()
                .map(|i| project(ctx, i, inner, set, errors))
                .collect(),
            _ => Value::Array(Vec::new()),
        },
        Ty::Named(name) => match SCHEMA.objects.get(name) {
            Some(fields) => {
                if name == "ApiError" && v.is_null() {
                    return Value::Null;
                }
                let empty = Map::new();
                let obj = v.as_object().unwrap_or(&empty);
                let mut out = BTreeMap::new();
                for f in ctx.fields(set, name) {
                    let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
                    if f.name == "__typename" {
                        out.insert(key, Value::String(name.clone()));
                        continue;
                    }
                    let Some(def) = fields.get(&f.name) else {
                        continue;
                    };
                    let raw = obj.get(&snake(&f.name)).unwrap_or(&Value::Null);
                    out.insert(key, project(ctx, raw, &def.ty, &f.selection_set, errors));
                }
                Value::Object(out.into_iter().collect())
            }
            None => leaf(v, name, errors),
        },
    }
}

/// A scalar or enum value, or its protobuf default when unset.
fn leaf(v: &Value, ty: &str, errors: &mut Vec<String>) -> Value {
    match ty {
        "String" => match v {
            Value::Null => json!(""),
            Value::String(_) => v.clone(),
            other => Value::String(other.to_string()),
        },
        "LongString" => match v {
            Value::Null => json!("0"),
            Value::Number(n) => Value::String(n.to_string()),
            other => other.clone(),
        },
        "Int" => match v {
            Value::Null => json!(0),
            Value::String(s) => s.parse::<i64>().map_or(Value::Null, Value::from),
            other => other.clone(),
        },
        "Float" => match v {
            Value::Null => json!(0.0),
            Value::String(s) => match s.as_str() {
                "NaN" | "Infinity" | "-Infinity" => {
                    errors.push(format!(
                        "Float cannot represent non numeric value: {}",
                        s.to_lowercase().replace("infinity", "inf")
                    ));
                    Value::Null
                }
                other => other.parse::<f64>().map_or(Value::Null, |f| json!(f)),
            },
            other => other.clone(),
        },
        "Boolean" => match v {
            Value::Null => json!(false),
            other => other.clone(),
        },
        // Enums: the value's name; unset ones stay null.
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_has_the_ui_types() {
        for (ty, field) in [
            ("Query", "mlflowGetRun"),
            ("Query", "mlflowGetExperiment"),
            ("Mutation", "mlflowSearchRuns"),
            ("MlflowRunExtension", "modelVersions"),
            ("MlflowExperiment", "effectiveTraceArchivalRetention"),
        ] {
            assert!(SCHEMA.objects[ty].contains_key(field), "{ty}.{field}");
        }
        assert!(SCHEMA.inputs.contains_key("MlflowSearchRunsInput"));
        assert_eq!(SCHEMA.enums["MlflowRunStatus"].len(), 5);
    }

    #[test]
    fn names_convert() {
        assert_eq!(snake("runUuid"), "run_uuid");
        assert_eq!(snake("datasetInputs"), "dataset_inputs");
        assert_eq!(snake("key"), "key");
    }
}
