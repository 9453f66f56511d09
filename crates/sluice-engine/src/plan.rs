//! Turns a validated [`JobSpec`] into a [`Plan`]: every asset reference resolved against the
//! workspace, every path made absolute, every output given a folder, and the steps in an order
//! that respects their dependencies. Nothing is written while planning, so a job that fails here
//! leaves no trace in the workspace.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;
use sluice_spec::{
    AssetRef, Binding, EnvironmentRef, InputValue, IoType, JobKind, JobSpec, OutputValue, Segment,
    Source, Spanned, SpecError, StepSpec, VersionSel, Warning, parse_asset_ref,
};
use sluice_store::StoreError;

use crate::{EngineError, Workspace};

/// Choices made outside the file (command-line flags).
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--name`: overrides the file's `name`.
    pub name: Option<String>,
    /// The experiment when the file names none (Azure uses the current folder's name).
    pub default_experiment: String,
    /// The most steps to run at once (each compute's `max_instances` bounds its own too).
    pub max_parallel: usize,
    /// `--force-rerun`: run every step even if an identical earlier run exists.
    pub force_rerun: bool,
    /// `--set` overrides, recorded so that `job resume` plans the same job again.
    pub overrides: Vec<(String, String)>,
    /// Plan a job that already exists (`job resume`).
    pub resume: bool,
}

/// Data behind an input: where it is and, for registered assets, which version.
#[derive(Debug, Clone, Serialize)]
pub struct DataRef {
    pub path: PathBuf,
    #[serde(rename = "type")]
    pub ty: IoType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// Where `path`, a copy on the workspace's shared path, is copied from when a step that
    /// reads it runs ([`Workspace::shared_copy_of`]).
    #[serde(skip)]
    pub copy_from: Option<PathBuf>,
}

/// What a step input resolves to.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepInput {
    Literal { value: String },
    Data(DataRef),
    StepOutput { step: String, output: String },
    Absent,
}

/// Where an output is written.
#[derive(Debug, Clone, Serialize)]
pub struct OutputPlan {
    #[serde(rename = "type")]
    pub ty: IoType,
    /// The folder that holds the output (created empty before the step starts).
    pub dir: PathBuf,
    /// The pipeline output this output is bound to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_output: Option<String>,
    /// `name:` (and `version:`) on the output: register it as a data asset once written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_as: Option<(String, Option<String>)>,
    /// A `path:` on a registered (remote) datastore: `dir` is a staging folder, uploaded there
    /// when the step completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishTo>,
    /// A `uri_file` output given a local `path:` (`.../aggregated.csv`): the file's name, `dir`
    /// being its folder. Only that file is cleared before the step runs (the folder may hold
    /// other files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Where an output goes once written: `azureml://datastores/{datastore}/paths/{path}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishTo {
    pub datastore: String,
    pub path: String,
}

impl std::fmt::Display for PublishTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "azureml://datastores/{}/paths/{}",
            self.datastore, self.path
        )
    }
}

impl OutputPlan {
    /// The path given to the command: the folder, or a file inside it for `uri_file` (named
    /// by its `path:`, else after the output).
    #[must_use]
    pub fn value_path(&self, name: &str) -> PathBuf {
        if self.ty == IoType::UriFile {
            self.dir.join(self.file.as_deref().unwrap_or(name))
        } else {
            self.dir.clone()
        }
    }
}

/// One step, ready to run.
#[derive(Debug, Clone)]
pub struct StepPlan {
    pub name: String,
    pub display_name: Option<String>,
    pub template: Vec<Segment>,
    pub code_dir: Option<PathBuf>,
    pub environment: Option<String>,
    /// The Python environment to build and put first on PATH (conda or requirements spec).
    pub python_env: Option<sluice_env::EnvRequest>,
    /// The environment's `image:`, recorded (no container runtime is used).
    pub image: Option<String>,
    /// `is_deterministic` of the component: when false the step is never reused.
    pub deterministic: bool,
    pub compute: String,
    pub env_vars: IndexMap<String, String>,
    pub timeout: Option<u64>,
    pub retry: Option<sluice_spec::Retry>,
    /// Nodes and processes (`resources.instance_count`, `distribution`): honoured on Slurm.
    pub scale: sluice_spec::Scale,
    pub inputs: IndexMap<String, StepInput>,
    pub outputs: IndexMap<String, OutputPlan>,
    pub deps: Vec<String>,
    /// A group of which at most this many steps run at once (a sweep's trials).
    pub concurrency: Option<(String, usize)>,
    /// A failure leaves the job running and dependants free to start (a sweep's trial).
    pub may_fail: bool,
    /// A sweep's trial under an `early_termination` policy: the runner may stop it early.
    pub watch: Option<sluice_spec::SweepWatch>,
}

/// A job, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub job_name: String,
    pub kind: JobKind,
    pub display_name: Option<String>,
    pub experiment_name: String,
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
    pub spec_path: String,
    pub spec_text: String,
    /// The folder the spec's relative paths resolve against.
    pub spec_dir: PathBuf,
    pub overrides: Vec<(String, String)>,
    pub continue_on_step_failure: bool,
    pub force_rerun: bool,
    pub compute: Option<String>,
    pub inputs: IndexMap<String, StepInput>,
    pub outputs: IndexMap<String, OutputPlan>,
    /// In an order where every step comes after the steps it depends on.
    pub steps: Vec<StepPlan>,
    pub max_parallel: usize,
    /// A resume that claims the job only while it is interrupted (`Failed`, its runner dead),
    /// not once canceled: a team server resuming it on its own.
    pub resume_only_interrupted: bool,
}

/// Plans `spec` against the workspace.
pub fn plan(
    ws: &Workspace,
    spec: &JobSpec,
    options: &PlanOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Plan, EngineError> {
    let src = &spec.source;
    let job_name = match (&options.name, &spec.name) {
        (Some(n), _) => n.clone(),
        (None, Some(n)) => n.value.clone(),
        (None, None) => generate_name(),
    };
    if !options.resume && ws.store().job_exists(&job_name)? {
        let err = match &spec.name {
            Some(n) if options.name.is_none() => SpecError::new(src, n.span, format!("a job named `{job_name}` already exists"))
                .with_label("name taken")
                .with_help("job names are unique in a workspace: remove `name:` to get a generated one, or pass `--name`"),
            _ => SpecError::file(&src.name, format!("a job named `{job_name}` already exists"))
                .with_help("choose another `--name`"),
        };
        return Err(err.into());
    }

    let max_parallel = options.max_parallel.max(1);
    let job_compute = spec
        .compute
        .as_ref()
        .or(spec.settings.default_compute.as_ref());
    let compute = job_compute
        .map(|c| resolve_compute(ws, src, c, warnings))
        .transpose()?;

    let mut inputs = IndexMap::new();
    for (name, (_, value)) in &spec.inputs {
        let resolved = match value {
            InputValue::Literal(l) => StepInput::Literal {
                value: literal_text(&l.value),
            },
            InputValue::Data { ty, path, .. } => {
                StepInput::Data(resolve_data(ws, src, path, ty.as_ref().map(|t| t.value))?)
            }
            InputValue::Empty { .. } | InputValue::Bound { .. } => StepInput::Absent,
        };
        inputs.insert(name.clone(), resolved);
    }

    let mut outputs = IndexMap::new();
    for (name, (_, value)) in &spec.outputs {
        let register_as = register_as(value);
        let (ty, (dir, publish), file) = match value {
            OutputValue::Path { ty, path, .. } => {
                let ty = ty.as_ref().map_or(IoType::UriFolder, |t| t.value);
                let (dir, publish) =
                    output_location(ws, src, &expand_path(path, spec, &job_name, name))?;
                let (dir, file) = file_output(ty, dir, publish.as_ref());
                (ty, (dir, publish), file)
            }
            OutputValue::Default { ty, .. } => (
                ty.as_ref().map_or(IoType::UriFolder, |t| t.value),
                (ws.job_dir(&job_name).join("outputs").join(name), None),
                None,
            ),
            OutputValue::Bound(_) => unreachable!("rejected by validation"),
        };
        outputs.insert(
            name.clone(),
            OutputPlan {
                ty,
                dir,
                pipeline_output: None,
                register_as,
                publish,
                file,
            },
        );
    }

    let mut steps = Vec::new();
    for name in topo_order(spec) {
        let step = &spec.steps[&name];
        steps.push(plan_step(
            ws,
            spec,
            step,
            &job_name,
            &inputs,
            &mut outputs,
            warnings,
        )?);
    }
    let experiment_name = spec
        .experiment_name
        .clone()
        .unwrap_or_else(|| options.default_experiment.clone());
    Ok(Plan {
        job_name,
        kind: spec.kind,
        display_name: spec.display_name.clone(),
        experiment_name,
        description: spec.description.clone(),
        tags: spec.tags.clone(),
        spec_path: src.name.clone(),
        spec_text: src.text.to_string(),
        spec_dir: src.dir.clone(),
        overrides: options.overrides.clone(),
        continue_on_step_failure: spec.settings.continue_on_step_failure,
        force_rerun: spec.settings.force_rerun || options.force_rerun,
        compute,
        inputs,
        outputs,
        steps,
        max_parallel,
        resume_only_interrupted: false,
    })
}

fn plan_step(
    ws: &Workspace,
    spec: &JobSpec,
    step: &StepSpec,
    job_name: &str,
    pipeline_inputs: &IndexMap<String, StepInput>,
    pipeline_outputs: &mut IndexMap<String, OutputPlan>,
    warnings: &mut Vec<Warning>,
) -> Result<StepPlan, EngineError> {
    let src = &step.source;
    let c = &step.component;
    let compute = match step.compute.as_ref() {
        Some(name) => resolve_compute(ws, src, name, warnings)?,
        None => spec
            .compute
            .as_ref()
            .or(spec.settings.default_compute.as_ref())
            .map_or_else(|| "local".to_owned(), |c| strip_prefix(c).to_owned()),
    };
    if step.scale.is_distributed() && !on_slurm(ws, &compute)? {
        warnings.push(Warning::new(
            src,
            step.name.span,
            format!(
                "step `{}` asks for {} node(s) x {} process(es); on compute `{compute}` it runs as one process on this machine (`resources.instance_count` and `distribution` apply on a Slurm compute)",
                step.name.value,
                step.scale.instance_count,
                step.scale.processes_per_node()
            ),
        ));
    }
    let (environment, python_env, image) = match &c.environment {
        None => (None, None, None),
        Some(EnvironmentRef::Named(r)) => {
            let (label, request, image) = resolve_environment(ws, &c.source, r, warnings)?;
            (Some(label), request, image)
        }
        Some(EnvironmentRef::Inline(e)) => {
            let hash = blake3_hex(e.raw.to_string().as_bytes());
            let request = crate::envs::request_from_spec(e, warnings)?;
            if request.is_none()
                && let Some(image) = &e.image
            {
                warnings.push(image_warning(&c.source, step.name.span, image));
            }
            (
                Some(format!("CliV2AnonymousEnvironment:{}", &hash[..32])),
                request,
                e.image.clone(),
            )
        }
    };
    let code_dir = c.code.as_ref().map(|code| c.source.resolve(code));
    if let Some(dir) = code_dir.as_ref().filter(|d| d.is_dir())
        && let Some(message) = ws
            .code_snapshot(dir)?
            .over_limits(sluice_artifacts::SnapshotLimits::AZURE)
        && let Some(code) = &c.code
    {
        warnings.push(Warning::new(&c.source, code.span, message));
    }

    let mut inputs = IndexMap::new();
    for (name, (_, def)) in &c.inputs {
        let given = step.inputs.get(name).map(|(_, v)| v);
        let resolved = match given {
            Some(InputValue::Literal(l)) => {
                if def.ty.is_data() {
                    let text = Spanned::new(literal_text(&l.value), l.span);
                    StepInput::Data(resolve_data(ws, src, &text, Some(def.ty.value))?)
                } else {
                    StepInput::Literal {
                        value: literal_text(&l.value),
                    }
                }
            }
            Some(InputValue::Data { ty, path, .. }) => StepInput::Data(resolve_data(
                ws,
                src,
                path,
                ty.as_ref().map(|t| t.value).or(Some(def.ty.value)),
            )?),
            Some(InputValue::Bound { binding, .. }) => match &binding.value {
                Binding::ParentInput(p) => match pipeline_inputs.get(p) {
                    Some(StepInput::Literal { value }) if def.ty.is_data() && !c.inline => {
                        let text = Spanned::new(value.clone(), binding.span);
                        StepInput::Data(resolve_data(ws, src, &text, Some(def.ty.value))?)
                    }
                    Some(StepInput::Absent) | None => default_input(def),
                    Some(other) => other.clone(),
                },
                Binding::JobOutput { job, output } => StepInput::StepOutput {
                    step: job.clone(),
                    output: output.clone(),
                },
                _ => StepInput::Absent,
            },
            Some(InputValue::Empty { .. }) | None => default_input(def),
        };
        inputs.insert(name.clone(), resolved);
    }

    let step_dir = ws.job_dir(job_name).join("steps").join(&step.name.value);
    let mut outputs = IndexMap::new();
    for (name, (_, def)) in &c.outputs {
        let given = step.outputs.get(name).map(|(_, v)| v);
        let default_dir = step_dir.join("outputs").join(name);
        let plan = match given {
            Some(OutputValue::Bound(b)) => {
                let Binding::ParentOutput(p) = &b.value else {
                    unreachable!("validated")
                };
                let parent = pipeline_outputs.get_mut(p).expect("validated");
                // A component's output has the type it declares; an inline step's output that
                // only names the pipeline's output has that output's type (a `uri_file` at a
                // `path:` is written as that file).
                let ty = if c.inline { parent.ty } else { def.ty.value };
                parent.ty = ty;
                let (dir, file) = if parent.dir.starts_with(ws.job_dir(job_name).join("outputs")) {
                    // An unplaced pipeline output lives where the step writes it: a `uri_file`
                    // is the file the step writes, named after the step's output.
                    let file = (ty == IoType::UriFile).then(|| name.clone());
                    parent.dir.clone_from(&default_dir);
                    parent.file.clone_from(&file);
                    (default_dir, file)
                } else {
                    (parent.dir.clone(), parent.file.clone())
                };
                OutputPlan {
                    ty,
                    dir,
                    pipeline_output: Some(p.clone()),
                    register_as: None,
                    publish: parent.publish.clone(),
                    file,
                }
            }
            Some(OutputValue::Path { ty, path, .. }) => {
                let (dir, publish) =
                    output_location(ws, src, &expand_path(path, spec, job_name, name))?;
                let ty = ty.as_ref().map_or(def.ty.value, |t| t.value);
                let (dir, file) = file_output(ty, dir, publish.as_ref());
                OutputPlan {
                    ty,
                    dir,
                    pipeline_output: None,
                    register_as: None,
                    publish,
                    file,
                }
            }
            Some(value @ OutputValue::Default { ty, .. }) => OutputPlan {
                ty: ty.as_ref().map_or(def.ty.value, |t| t.value),
                dir: default_dir,
                pipeline_output: None,
                register_as: register_as(value),
                publish: None,
                file: None,
            },
            None => OutputPlan {
                ty: def.ty.value,
                dir: default_dir,
                pipeline_output: None,
                register_as: None,
                publish: None,
                file: None,
            },
        };
        outputs.insert(name.clone(), plan);
    }

    Ok(StepPlan {
        name: step.name.value.clone(),
        display_name: step.display_name.clone(),
        template: c.template.clone(),
        code_dir,
        environment,
        python_env,
        image,
        deterministic: c.is_deterministic,
        compute,
        env_vars: step.environment_variables.clone(),
        timeout: step.timeout,
        retry: step.retry.or(spec.settings.default_retry),
        scale: step.scale,
        inputs,
        outputs,
        deps: sluice_spec::dependencies(step),
        concurrency: step.concurrency.clone(),
        may_fail: step.may_fail,
        watch: step.watch.clone(),
    })
}

fn register_as(value: &OutputValue) -> Option<(String, Option<String>)> {
    match value {
        OutputValue::Default {
            name: Some(name),
            version,
            ..
        } => Some((
            name.value.clone(),
            version.as_ref().map(|v| v.value.clone()),
        )),
        _ => None,
    }
}

fn default_input(def: &sluice_spec::InputDef) -> StepInput {
    match &def.default {
        Some(d) => StepInput::Literal {
            value: literal_text(&d.value),
        },
        None => StepInput::Absent,
    }
}

/// How a literal is written into a command: strings as they are, booleans as Azure ML writes
/// them (`True`/`False`), numbers as written.
#[must_use]
pub fn literal_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(true) => "True".into(),
        serde_json::Value::Bool(false) => "False".into(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn strip_prefix(name: &str) -> &str {
    name.strip_prefix("azureml:")
        .or_else(|| name.strip_prefix("sluice:"))
        .unwrap_or(name)
}

fn resolve_compute(
    ws: &Workspace,
    src: &Source,
    name: &Spanned<String>,
    warnings: &mut Vec<Warning>,
) -> Result<String, EngineError> {
    let bare = strip_prefix(name);
    if bare == "local" || bare.is_empty() {
        return Ok("local".into());
    }
    let found = ws.store().get_compute(bare)?;
    match found {
        // Its `max_instances` bounds its running steps (the scheduler's limits).
        Some(row) => Ok(row.name),
        None => {
            warnings.push(Warning::new(
                src,
                name.span,
                format!(
                    "compute `{bare}` is not registered; its steps run on the local machine \
                     (register it with `sluice compute create --name {bare} --type local`)"
                ),
            ));
            Ok(bare.to_owned())
        }
    }
}

/// Whether the compute named `compute` submits to Slurm.
fn on_slurm(ws: &Workspace, compute: &str) -> Result<bool, EngineError> {
    Ok(match ws.store().get_compute(compute)? {
        Some(row) => crate::executor::slurm::Slurm::from_compute(&row)?.is_some(),
        None => false,
    })
}

fn image_warning(src: &Source, span: sluice_spec::Span, image: &str) -> Warning {
    Warning::new(
        src,
        span,
        format!(
            "image `{image}` is recorded, but the environment has no conda file: the step runs with the tools on this machine's PATH"
        ),
    )
}

/// The environment's `name:version` and, when it describes one, its Python environment.
/// A registered environment wins over a curated one of the same name, so a team can shadow a
/// curated environment with its own definition.
fn resolve_environment(
    ws: &Workspace,
    src: &Source,
    reference: &Spanned<String>,
    warnings: &mut Vec<Warning>,
) -> Result<(String, Option<sluice_env::EnvRequest>, Option<String>), EngineError> {
    let (name, version, registry) = match sluice_spec::parse_environment_ref(reference) {
        Some(Ok(AssetRef::Named { name, version })) => (name, version, None),
        Some(Ok(AssetRef::Registry {
            registry,
            name,
            version,
            ..
        })) => (name, version, Some(registry)),
        _ => unreachable!("checked while parsing"),
    };
    let v = match &version {
        VersionSel::Latest => None,
        VersionSel::Exact(v) => Some(v.as_str()),
    };
    let found = ws.store().get_environment(&name, v);
    match found {
        Ok(row) => {
            let request = crate::envs::request_from_row(&row)?;
            if request.is_none()
                && let Some(image) = &row.image
            {
                warnings.push(image_warning(src, reference.span, image));
            }
            Ok((format!("{}:{}", row.name, row.version), request, row.image))
        }
        Err(StoreError::NotFound { .. }) => {
            let curated = match registry.as_deref() {
                None | Some("azureml") => sluice_env::curated::lookup(&name),
                Some(_) => None,
            };
            if let Some(c) = curated {
                let request = crate::envs::request_from_curated(c)?;
                if c.gpu {
                    warnings.push(Warning::new(
                        src,
                        reference.span,
                        format!(
                            "curated environment `{name}` is a GPU image; Sluice builds its CPU equivalent ({})",
                            c.cpu_mapping().join("; ")
                        ),
                    ));
                }
                let shown = match &version {
                    VersionSel::Latest => format!("{name}@latest"),
                    VersionSel::Exact(v) => format!("{name}:{v}"),
                };
                return Ok((format!("curated:{shown}"), Some(request), None));
            }
            Err(
                unknown_environment(ws, src, reference, &name, &version, registry.as_deref())?
                    .into(),
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The error for an environment that is neither registered nor curated.
fn unknown_environment(
    ws: &Workspace,
    src: &Source,
    reference: &Spanned<String>,
    name: &str,
    version: &VersionSel,
    registry: Option<&str>,
) -> Result<SpecError, EngineError> {
    let shadow = format!(
        "or define it here: `sluice environment create --name {name} --file conda.yml` (a registered environment wins over the catalog)"
    );
    let looks_curated = registry.is_some() || name.starts_with("AzureML-");
    let (message, help) = if let Some(r) = registry.filter(|r| *r != "azureml") {
        (
            format!(
                "environment `{name}` of registry `{r}` is not registered here, and registry `{r}` is not reachable offline"
            ),
            format!(
                "register it under the same name: `sluice environment create --name {name} --file conda.yml`"
            ),
        )
    } else if looks_curated {
        let near = sluice_env::curated::nearest(name, 3);
        (
            format!("`{name}` is not an Azure ML curated environment Sluice knows"),
            format!(
                "curated environments with close names: {}; `sluice environment list --curated` lists them all; {shadow}",
                near.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else {
        let known = ws.store().list_environments(Some(name))?;
        let help = if known.is_empty() {
            "register it first: `sluice environment create -f environment.yml`".to_owned()
        } else {
            format!(
                "registered versions of `{name}`: {}",
                known
                    .iter()
                    .map(|r| r.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        (
            format!("environment `{name}{version}` is not registered"),
            help,
        )
    };
    Ok(SpecError::new(src, reference.span, message)
        .with_label("unknown environment")
        .with_help(help))
}

/// Resolves a data path or asset reference written in a file.
fn resolve_data(
    ws: &Workspace,
    src: &Source,
    text: &Spanned<String>,
    ty: Option<IoType>,
) -> Result<DataRef, EngineError> {
    let err = |msg: String| SpecError::new(src, text.span, msg);
    let is_model = matches!(
        ty,
        Some(IoType::MlflowModel | IoType::CustomModel | IoType::TritonModel)
    );
    match parse_asset_ref(text) {
        Some(Err(m)) => Err(err(m).with_label("invalid reference").into()),
        Some(Ok(AssetRef::Named { name, version })) if is_model => {
            resolve_model(ws, src, text, &name, &version, ty)
        }
        Some(Ok(AssetRef::Registry { registry, kind, name, version })) => {
            if kind == "models" {
                return resolve_model(ws, src, text, &name, &version, ty);
            }
            Err(err(format!(
                "`{}` is an asset of registry `{registry}`, which is not reachable offline",
                text.value
            ))
            .with_label("registry asset")
            .with_help(format!(
                "register a local copy under the same name (`sluice data create --name {name} --path PATH`) and refer to it as `azureml:{name}{version}`"
            ))
            .into())
        }
        Some(Ok(AssetRef::Named { name, version })) => {
            let v = match &version {
                VersionSel::Latest => None,
                VersionSel::Exact(v) => Some(v.as_str()),
            };
            let found = ws.store().get_data(&name, v);
            match found {
                // A version on a remote datastore: fetched (what changed) and hashed now.
                Ok(row) if row.path.starts_with("azureml://") => {
                    let Some(Ok(AssetRef::Datastore { datastore, path })) =
                        parse_asset_ref(&Spanned::new(row.path.clone(), text.span))
                    else {
                        return Err(err(format!("data asset `{name}` has an unusable path `{}`", row.path)).into());
                    };
                    let local = fetch_datastore_path(ws, src, text, &datastore, &path)?;
                    let content_hash = ws.hash_path(&local)?.hash;
                    Ok(DataRef {
                        path: local,
                        ty: IoType::parse(&row.ty).unwrap_or(IoType::UriFolder),
                        asset: Some(format!("{}:{}", row.name, row.version)),
                        content_hash: Some(content_hash),
                        copy_from: None,
                    })
                }
                Ok(row) => {
                    // Registered before the workspace had a shared path: read from a copy on it.
                    let stored = PathBuf::from(&row.path);
                    let copy = ws.shared_copy_of(&stored, &row.content_hash);
                    Ok(DataRef {
                        path: copy.clone().unwrap_or_else(|| stored.clone()),
                        ty: IoType::parse(&row.ty).unwrap_or(IoType::UriFolder),
                        asset: Some(format!("{}:{}", row.name, row.version)),
                        content_hash: Some(row.content_hash),
                        copy_from: copy.map(|_| stored),
                    })
                }
                Err(StoreError::NotFound { .. }) => {
                    let known = ws.store().list_data(Some(&name))?;
                    let help = if known.is_empty() {
                        "register it first: `sluice data create -f data.yml`".to_owned()
                    } else {
                        format!(
                            "registered versions of `{name}`: {}",
                            known.iter().map(|r| r.version.as_str()).collect::<Vec<_>>().join(", ")
                        )
                    };
                    Err(err(format!("data asset `{name}{version}` does not exist"))
                        .with_label("unknown data asset")
                        .with_help(help)
                        .into())
                }
                Err(e) => Err(e.into()),
            }
        }
        Some(Ok(AssetRef::Datastore { datastore, path })) => {
            let local = fetch_datastore_path(ws, src, text, &datastore, &path)?;
            check_exists(src, text, &local, ty)?;
            let content_hash = ws.hash_path(&local).ok().map(|h| h.hash);
            // A datastore folder made before the workspace had a shared path: read from a copy.
            let copy = content_hash.as_deref().and_then(|h| ws.shared_copy_of(&local, h));
            Ok(DataRef {
                path: copy.clone().unwrap_or_else(|| local.clone()),
                ty: ty.unwrap_or(IoType::UriFolder),
                asset: None,
                content_hash,
                copy_from: copy.map(|_| local),
            })
        }
        None if text.contains("://") => Err(err(format!("`{}` is remote data, and Sluice runs without network", text.value))
            .with_label("remote path")
            .with_help("download it once and point `path:` at the local copy, or register it with `sluice data create`")
            .into()),
        None => {
            let local = src.resolve(text);
            check_exists(src, text, &local, ty)?;
            let ty = ty.unwrap_or(if local.is_file() { IoType::UriFile } else { IoType::UriFolder });
            // Recorded for lineage: which bytes the job read.
            let content_hash = ws.hash_path(&local).ok().map(|h| h.hash);
            // Steps on other nodes read a copy on the workspace's shared path.
            let copy = content_hash.as_deref().and_then(|h| ws.shared_copy_of(&local, h));
            Ok(match copy {
                Some(copy) => DataRef { path: copy, ty, asset: None, content_hash, copy_from: Some(local) },
                None => DataRef { path: local, ty, asset: None, content_hash, copy_from: None },
            })
        }
    }
}

/// The local file or folder behind a datastore path: the workspace's folder, or for a registered
/// datastore its cached copy (fetched now, downloading only what changed).
pub fn fetch_datastore_path(
    ws: &Workspace,
    src: &Source,
    text: &Spanned<String>,
    datastore: &str,
    path: &str,
) -> Result<PathBuf, EngineError> {
    let located = |e: EngineError| -> EngineError {
        SpecError::new(src, text.span, format!("cannot fetch `{}`: {e}", text.value))
            .with_label("datastore input")
            .with_help(
                "check the datastore (`sluice datastore show -n NAME`), its credentials, and that its store is reachable",
            )
            .into()
    };
    let ds = ws.datastore(datastore).map_err(located)?;
    if !ds.is_remote() {
        return Ok(ws.datastore_path(datastore, path));
    }
    let m = ds.materialize(path).map_err(located)?;
    tracing::info!(
        datastore,
        path,
        files = m.files,
        downloaded = m.downloaded,
        bytes = m.bytes_downloaded,
        "fetched a datastore input ({} of {} files downloaded, the rest unchanged in the cache)",
        m.downloaded,
        m.files
    );
    Ok(m.local)
}

/// A registered model version as an input: the folder its files are in.
fn resolve_model(
    ws: &Workspace,
    src: &Source,
    text: &Spanned<String>,
    name: &str,
    version: &VersionSel,
    ty: Option<IoType>,
) -> Result<DataRef, EngineError> {
    let found = {
        let store = ws.store();
        match version {
            VersionSel::Latest => store.latest_model_version(name),
            VersionSel::Exact(v) => store.get_model_version(name, v).map(Some),
        }
    };
    let mv = match found {
        Ok(Some(mv)) => mv,
        Ok(None) | Err(StoreError::NotFound { .. }) => {
            return Err(SpecError::new(
                src,
                text.span,
                format!("model `{name}{version}` is not registered"),
            )
            .with_label("unknown model")
            .with_help(
                "register it first: `sluice model create -f model.yml` (or `--name N --path P`)",
            )
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    let Some(path) = crate::models::version_files(ws, &mv) else {
        return Err(SpecError::new(
            src,
            text.span,
            format!(
                "the files of model `{name}:{}` (`{}`) are not in this workspace",
                mv.version, mv.source
            ),
        )
        .with_label("files not found")
        .into());
    };
    let content_hash = ws.hash_path(&path).ok().map(|h| h.hash);
    // Files not on the workspace's shared path (its own artifact folder) are read from a copy.
    let copy = content_hash
        .as_deref()
        .and_then(|h| ws.shared_copy_of(&path, h));
    Ok(DataRef {
        path: copy.clone().unwrap_or_else(|| path.clone()),
        ty: ty.unwrap_or(IoType::CustomModel),
        asset: Some(format!("model:{name}:{}", mv.version)),
        content_hash,
        copy_from: copy.map(|_| path),
    })
}

fn check_exists(
    src: &Source,
    text: &Spanned<String>,
    local: &std::path::Path,
    ty: Option<IoType>,
) -> Result<(), SpecError> {
    let meta = std::fs::metadata(local).map_err(|_| {
        SpecError::new(
            src,
            text.span,
            format!("input path `{}` does not exist", text.value),
        )
        .with_label("not found")
        .with_help(format!(
            "it resolves to `{}`; paths are relative to the YAML file's folder",
            local.display()
        ))
    })?;
    match ty {
        Some(IoType::UriFile) if !meta.is_file() => Err(SpecError::new(
            src,
            text.span,
            format!(
                "input `{}` is declared `uri_file` but is a folder",
                text.value
            ),
        )
        .with_help("declare it `uri_folder`, or point at a file inside it")),
        Some(IoType::UriFolder | IoType::Mltable) if !meta.is_dir() => Err(SpecError::new(
            src,
            text.span,
            format!(
                "input `{}` is declared `{}` but is a file",
                text.value,
                ty.map_or("", IoType::as_str)
            ),
        )
        .with_help("declare it `uri_file`, or point at its folder")),
        _ => Ok(()),
    }
}

/// Azure ML's runtime expressions in an output path: `${{name}}` is the job's name,
/// `${{output_name}}` the output's, and `${{default_datastore}}` the pipeline's
/// `settings.default_datastore`, else Azure's default, `workspaceblobstore`
/// (`azureml://datastores/${{default_datastore}}/paths/${{name}}/model`).
fn expand_path(
    path: &Spanned<String>,
    spec: &JobSpec,
    job_name: &str,
    output_name: &str,
) -> Spanned<String> {
    let datastore = spec
        .settings
        .default_datastore
        .as_ref()
        .map_or("workspaceblobstore", |d| strip_prefix(&d.value));
    let text = path
        .value
        .replace("${{name}}", job_name)
        .replace("${{output_name}}", output_name)
        .replace("${{default_datastore}}", datastore);
    Spanned::new(text, path.span)
}

/// A local `uri_file` output's path split into its folder and its file's name, so that the
/// command writes the file at the path (as Azure's) and not in a folder named after it. A
/// remote one keeps its private staging folder (its file is uploaded to the path).
fn file_output(
    ty: IoType,
    path: PathBuf,
    publish: Option<&PublishTo>,
) -> (PathBuf, Option<String>) {
    if ty != IoType::UriFile || publish.is_some() {
        return (path, None);
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => (dir.to_path_buf(), Some(name.to_string_lossy().into_owned())),
        _ => (path, None),
    }
}

/// Where an output with a `path:` is written, and where it is uploaded to (a path on a
/// registered datastore is staged locally, then published).
fn output_location(
    ws: &Workspace,
    src: &Source,
    path: &Spanned<String>,
) -> Result<(PathBuf, Option<PublishTo>), EngineError> {
    match parse_asset_ref(path) {
        Some(Ok(AssetRef::Datastore {
            datastore,
            path: rel,
        })) => {
            let ds = ws.datastore(&datastore).map_err(|e| {
                SpecError::new(src, path.span, format!("cannot use `{}`: {e}", path.value))
                    .with_label("datastore output")
                    .with_help("check it with `sluice datastore show -n NAME`")
            })?;
            if ds.is_remote() {
                // Emptied before the step runs, as every output folder is; kept after, so a
                // reused step finds its bytes here as it would in a workspace folder.
                Ok((
                    ds.staging(&rel),
                    Some(PublishTo {
                        datastore,
                        path: rel,
                    }),
                ))
            } else {
                Ok((ws.datastore_path(&datastore, &rel), None))
            }
        }
        Some(Ok(AssetRef::Named { .. } | AssetRef::Registry { .. })) => Err(SpecError::new(
            src,
            path.span,
            "an output path cannot be an asset reference",
        )
        .with_help("use `name:` and `version:` on the output to register it as an asset")
        .into()),
        Some(Err(m)) => Err(SpecError::new(src, path.span, m).into()),
        None if path.contains("://") => Err(SpecError::new(
            src,
            path.span,
            format!(
                "`{}` is a remote path; outputs are written locally",
                path.value
            ),
        )
        .with_help("use `azureml://datastores/NAME/paths/PATH` or a local path")
        .into()),
        None => {
            let local = src.resolve(path);
            if local.is_dir() && std::fs::read_dir(&local).is_ok_and(|mut d| d.next().is_some()) {
                return Err(SpecError::new(
                    src,
                    path.span,
                    format!("output folder `{}` is not empty", path.value),
                )
                .with_label("not empty")
                .with_help(
                    "outputs start empty; point the output at a new folder or empty this one",
                )
                .into());
            }
            Ok((local, None))
        }
    }
}

/// The steps in dependency order, keeping the file's order where the graph leaves a choice.
/// The steps in an order where each comes after the steps it reads from: of the steps ready at
/// each point, the one first in the file (Kahn's algorithm, O(steps + edges) up to a log).
fn topo_order(spec: &JobSpec) -> Vec<String> {
    let index: std::collections::HashMap<&str, usize> = spec
        .steps
        .keys()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    let mut waiting = vec![0usize; spec.steps.len()];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); spec.steps.len()];
    for (i, step) in spec.steps.values().enumerate() {
        for d in sluice_spec::dependencies(step) {
            if let Some(&j) = index.get(d.as_str()) {
                waiting[i] += 1;
                dependants[j].push(i);
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..waiting.len()).filter(|&i| waiting[i] == 0).collect();
    let names: Vec<&String> = spec.steps.keys().collect();
    let mut order = Vec::with_capacity(names.len());
    while let Some(i) = ready.pop_first() {
        order.push(names[i].clone());
        for &k in &dependants[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.insert(k);
            }
        }
    }
    assert_eq!(order.len(), names.len(), "validation rejects cycles");
    order
}

fn blake3_hex(bytes: &[u8]) -> String {
    sluice_artifacts::hash_bytes(bytes)
}

/// A job name in Azure ML's style: two words and a random suffix.
#[must_use]
pub fn generate_name() -> String {
    const ADJ: &[&str] = &[
        "amber", "brave", "calm", "clever", "eager", "gentle", "happy", "jolly", "keen", "lucid",
        "merry", "nimble", "plucky", "quiet", "sharp", "sunny", "tidy", "witty", "zesty", "bold",
    ];
    const NOUN: &[&str] = &[
        "apple", "brook", "cloud", "delta", "ember", "fjord", "grove", "harbor", "island",
        "lagoon", "meadow", "orchard", "pebble", "quarry", "river", "sluice", "tide", "valley",
        "willow", "zephyr",
    ];
    let suffix: String = (0..8)
        .map(|_| {
            let c = fastrand::u8(0..36);
            char::from(if c < 10 { b'0' + c } else { b'a' + c - 10 })
        })
        .collect();
    format!(
        "{}_{}_{suffix}",
        ADJ[fastrand::usize(..ADJ.len())],
        NOUN[fastrand::usize(..NOUN.len())]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_come_after_what_they_read_and_otherwise_in_file_order() {
        let text = "type: pipeline\njobs:\n\
            \x20 report:\n    type: command\n    command: echo ${{inputs.a}} ${{inputs.b}}\n    inputs:\n      a: ${{parent.jobs.train.outputs.model}}\n      b: ${{parent.jobs.prep.outputs.data}}\n\
            \x20 train:\n    type: command\n    command: echo ${{inputs.d}} > ${{outputs.model}}\n    inputs:\n      d: ${{parent.jobs.prep.outputs.data}}\n    outputs:\n      model:\n        type: uri_folder\n\
            \x20 lone:\n    type: command\n    command: echo lone\n\
            \x20 prep:\n    type: command\n    command: echo > ${{outputs.data}}\n    outputs:\n      data:\n        type: uri_folder\n";
        let spec = sluice_spec::parse_job(&Source::new("p.yml", text), &[], None, &mut Vec::new())
            .unwrap();
        assert_eq!(topo_order(&spec), ["lone", "prep", "train", "report"]);
    }

    #[test]
    fn a_wide_pipeline_of_independent_steps_keeps_file_order() {
        use std::fmt::Write;
        let mut text = String::from("type: pipeline\njobs:\n");
        for i in 0..3000 {
            let _ = write!(text, "  s{i}:\n    type: command\n    command: echo {i}\n");
        }
        let spec = sluice_spec::parse_job(&Source::new("p.yml", text), &[], None, &mut Vec::new())
            .unwrap();
        let order = topo_order(&spec);
        assert_eq!(order.len(), 3000);
        assert_eq!(order[2999], "s2999", "file order among ready steps");
    }
}
