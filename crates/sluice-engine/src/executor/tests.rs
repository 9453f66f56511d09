//! The scheduler's rules, and the step lifecycle driven through a fake executor (a real
//! workspace and store; only where commands run is scripted).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{BoxFuture, Executor, Executors, Exit, ExitKind, Launched, Prepared, StepIo};
use crate::scheduler::Scheduler;
use crate::{EngineError, Plan, PlanOptions, Status, Workspace};

/// A workspace in a temporary folder, with `computes` (name, `max_instances`) registered, and
/// `yaml` planned in it.
fn planned(
    yaml: &str,
    computes: &[(&str, i64)],
    max_parallel: usize,
) -> (tempfile::TempDir, Workspace, Plan) {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(&dir.path().join(".sluice")).unwrap();
    for (name, max) in computes {
        ws.store()
            .upsert_compute(&sluice_store::ComputeRow {
                name: (*name).to_owned(),
                ty: "amlcompute".into(),
                max_instances: *max,
                min_instances: 0,
                size: None,
                tier: None,
                idle_time_before_scale_down: None,
                description: None,
                settings: None,
                created_at: sluice_store::now(),
            })
            .unwrap();
    }
    let mut source = sluice_spec::Source::new("pipeline.yml", yaml);
    source.dir = dir.path().to_path_buf();
    let spec = sluice_spec::parse_job(&source, &[], None, &mut Vec::new()).unwrap();
    let options = PlanOptions {
        default_experiment: "tests".into(),
        max_parallel,
        ..PlanOptions::default()
    };
    let plan = crate::plan(&ws, &spec, &options, &mut Vec::new()).unwrap();
    (dir, ws, plan)
}

/// A pipeline of `command: echo NAME` steps: (name, compute, depends-on-output-of).
fn pipeline(steps: &[(&str, &str, Option<&str>)], extra: &str) -> String {
    let mut y = String::from("type: pipeline\nexperiment_name: tests\n");
    y.push_str(extra);
    y.push_str("jobs:\n");
    for (name, compute, after) in steps {
        let _ = write!(
            y,
            "  {name}:\n    type: command\n    compute: azureml:{compute}\n"
        );
        let _ = match after {
            Some(up) => write!(
                y,
                "    command: echo {name} ${{{{inputs.x}}}}\n    inputs:\n      x: ${{{{parent.jobs.{up}.outputs.out}}}}\n"
            ),
            None => writeln!(y, "    command: echo {name}"),
        };
        y.push_str("    outputs:\n      out:\n        type: uri_folder\n");
    }
    y
}

/// The names of the steps `ready()` starts.
fn ready_names(s: &mut Scheduler) -> Vec<String> {
    let ready = s.ready();
    ready.iter().map(|i| s.name(*i).to_owned()).collect()
}

/// The names of the steps `leftovers()` cancels.
fn left_names(s: &mut Scheduler) -> Vec<String> {
    let left = s.leftovers();
    left.iter().map(|(i, _)| s.name(*i).to_owned()).collect()
}

fn by_name(plan: &Plan, name: &str) -> usize {
    plan.steps.iter().position(|s| s.name == name).unwrap()
}

#[test]
fn a_step_starts_after_what_it_reads_and_within_every_limit() {
    let yaml = pipeline(
        &[
            ("a", "local", None),
            ("b", "local", Some("a")),
            ("p1", "pair", None),
            ("p2", "pair", None),
            ("p3", "pair", None),
        ],
        "",
    );
    let (_d, ws, plan) = planned(&yaml, &[("pair", 2)], 10);
    let limits = Executors::for_plan(&ws, &plan).unwrap().limits();
    assert_eq!(limits.get("pair"), Some(&2));
    let mut s = Scheduler::new(&plan, &HashSet::new(), limits);
    // `pair` runs two at once; `b` waits for `a`.
    assert_eq!(ready_names(&mut s), ["a", "p1", "p2"]);
    assert!(s.ready().is_empty(), "nothing more until something ends");
    assert!(!s.finished(by_name(&plan, "p1"), Status::Completed));
    assert_eq!(ready_names(&mut s), ["p3"]);
    assert!(!s.finished(by_name(&plan, "a"), Status::Completed));
    assert_eq!(ready_names(&mut s), ["b"]);
    for step in ["b", "p2", "p3"] {
        s.finished(by_name(&plan, step), Status::Completed);
    }
    assert_eq!(s.running(), 0);
    assert!(s.leftovers().is_empty());
    assert_eq!(s.outcome().0, Status::Completed);

    // The job's own limit holds across computes.
    let (_d, ws, plan) = planned(&yaml, &[("pair", 2)], 1);
    let mut s = Scheduler::new(
        &plan,
        &HashSet::new(),
        Executors::for_plan(&ws, &plan).unwrap().limits(),
    );
    assert_eq!(s.ready().len(), 1);
    assert!(s.ready().is_empty());
}

/// A chain starts one step a pass, each once the one before completed; the ready steps are
/// kept as they become ready (a pass looks at those only), and a step that fails stops what
/// comes after it, saying which step it waited on.
#[test]
fn a_chain_starts_one_step_at_a_time_in_order() {
    let names: Vec<String> = (0..300).map(|i| format!("c{i:03}")).collect();
    let steps: Vec<(&str, &str, Option<&str>)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), "local", (i > 0).then(|| names[i - 1].as_str())))
        .collect();
    let (_d, _ws, plan) = planned(&pipeline(&steps, ""), &[], 8);
    let mut s = Scheduler::new(&plan, &HashSet::new(), HashMap::new());
    for name in &names[..299] {
        assert_eq!(ready_names(&mut s), [name.as_str()]);
        assert!(s.ready().is_empty(), "{name}: the next waits");
        assert!(!s.finished(by_name(&plan, name), Status::Completed));
    }
    assert_eq!(ready_names(&mut s), ["c299"]);
    s.finished(by_name(&plan, "c299"), Status::Completed);
    assert!(s.leftovers().is_empty());
    assert_eq!(s.outcome().0, Status::Completed);

    // Resumed after c149 completed: c150 is ready at once; c150 fails and the rest never run.
    let done: HashSet<String> = names[..150].iter().cloned().collect();
    let mut s = Scheduler::new(&plan, &done, HashMap::new());
    assert_eq!(ready_names(&mut s), ["c150"]);
    assert!(s.finished(by_name(&plan, "c150"), Status::Failed));
    let left = left_names(&mut s);
    assert_eq!(left.len(), 149);
    assert_eq!(left[0], "c151");
}

/// A sweep's trials run at most `max_concurrent_trials` at once, beside other steps; the step
/// that picks the best waits for every trial to end, and a failed trial fails neither.
#[test]
fn a_sweep_runs_its_trials_within_their_limit_and_picks_after_all() {
    let yaml = "type: pipeline\nexperiment_name: tests\njobs:\n  other:\n    type: command\n    command: echo other\n  s:\n    type: sweep\n    trial:\n      command: echo ${{search_space.x}}\n    sampling_algorithm: grid\n    search_space:\n      x: {type: choice, values: [1, 2, 3, 4]}\n    objective: {goal: maximize, primary_metric: m}\n    limits: {max_concurrent_trials: 2}\n";
    let (_d, ws, plan) = planned(yaml, &[], 10);
    let mut s = Scheduler::new(
        &plan,
        &HashSet::new(),
        Executors::for_plan(&ws, &plan).unwrap().limits(),
    );
    assert_eq!(ready_names(&mut s), ["other", "s.trial_1", "s.trial_2"]);
    assert!(s.ready().is_empty());
    s.finished(by_name(&plan, "other"), Status::Completed);
    assert!(
        s.ready().is_empty(),
        "the other step's end frees no trial's place"
    );
    s.finished(by_name(&plan, "s.trial_1"), Status::Completed);
    assert_eq!(ready_names(&mut s), ["s.trial_3"]);
    // A failed trial neither stops the job nor holds the pick back.
    assert!(!s.finished(by_name(&plan, "s.trial_2"), Status::Failed));
    assert_eq!(ready_names(&mut s), ["s.trial_4"]);
    s.finished(by_name(&plan, "s.trial_3"), Status::Completed);
    assert!(s.ready().is_empty(), "the pick waits for the last trial");
    s.finished(by_name(&plan, "s.trial_4"), Status::Completed);
    assert_eq!(ready_names(&mut s), ["s"]);
    s.finished(by_name(&plan, "s"), Status::Completed);
    assert!(s.leftovers().is_empty());
    assert_eq!(s.outcome().0, Status::Completed);
}

#[test]
fn a_failure_stops_the_job_unless_it_continues_and_dependants_say_why() {
    let steps = [
        ("a", "local", None),
        ("b", "local", Some("a")),
        ("c", "local", None),
    ];
    let (_d, _ws, plan) = planned(&pipeline(&steps, ""), &[], 1);
    let mut s = Scheduler::new(&plan, &HashSet::new(), HashMap::new());
    assert_eq!(ready_names(&mut s), ["a"]);
    assert!(
        s.finished(by_name(&plan, "a"), Status::Failed),
        "the first failure stops the job"
    );
    assert!(s.ready().is_empty());
    let left: HashMap<String, String> = s
        .leftovers()
        .into_iter()
        .map(|(i, why)| (s.name(i).to_owned(), why))
        .collect();
    assert_eq!(left["b"], "skipped: depends on `a`, which did not complete");
    assert_eq!(left["c"], "the job stopped after a step failed");
    let (status, error, failed) = s.outcome();
    assert_eq!(
        (status, error.as_deref(), failed),
        (
            Status::Failed,
            Some("step `a` failed"),
            vec!["a".to_owned()]
        )
    );

    let extra = "settings:\n  continue_on_step_failure: true\n";
    let (_d, _ws, plan) = planned(&pipeline(&steps, extra), &[], 1);
    let mut s = Scheduler::new(&plan, &HashSet::new(), HashMap::new());
    let first = s.ready();
    assert!(!s.finished(first[0], Status::Failed), "the job goes on");
    assert_eq!(ready_names(&mut s), ["c"]);
    s.finished(by_name(&plan, "c"), Status::Completed);
    assert_eq!(left_names(&mut s), ["b"]);
    assert_eq!(s.outcome().0, Status::Failed);
}

#[test]
fn a_cancel_starts_nothing_more_and_a_resume_keeps_what_completed() {
    let steps = [
        ("a", "local", None),
        ("b", "local", Some("a")),
        ("c", "local", None),
    ];
    let (_d, _ws, plan) = planned(&pipeline(&steps, ""), &[], 4);
    let mut s = Scheduler::new(&plan, &HashSet::new(), HashMap::new());
    let started = s.ready();
    s.cancel();
    assert!(s.ready().is_empty());
    for i in started {
        s.finished(i, Status::Canceled);
    }
    let left = s.leftovers();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1, "the job was canceled");
    assert_eq!(s.outcome().0, Status::Canceled);

    let done: HashSet<String> = ["a".to_owned()].into();
    let mut s = Scheduler::new(&plan, &done, HashMap::new());
    let mut ready = ready_names(&mut s);
    ready.sort();
    assert_eq!(ready, ["b", "c"], "`a` completed before the resume");
}

/// A bayesian sweep's trials start in order: trial k waits for trial k - c to end (c trials at
/// once) and for trial k - 1 to have started, so every trial before k - c has ended when k
/// starts, whichever ended first.
#[test]
fn a_bayesian_sweeps_trials_start_in_order() {
    let yaml = "\
type: pipeline
experiment_name: tests
jobs:
  sw:
    type: sweep
    trial:
      type: command
      command: echo ${{inputs.x}}
      inputs:
        x: {type: number}
    sampling_algorithm: bayesian
    search_space:
      x: {type: uniform, min_value: 0, max_value: 1}
    objective: {goal: minimize, primary_metric: loss}
    limits: {max_total_trials: 5, max_concurrent_trials: 2}
";
    let (_d, _ws, plan) = planned(yaml, &[], 10);
    let mut s = Scheduler::new(&plan, &HashSet::new(), HashMap::new());
    assert_eq!(ready_names(&mut s), ["sw.trial_1", "sw.trial_2"]);
    // Trial 2 ends first: trial 4 may not start before trial 3, which waits for trial 1.
    s.finished(by_name(&plan, "sw.trial_2"), Status::Completed);
    assert!(
        s.ready().is_empty(),
        "trial 3 waits for trial 1, trial 4 for trial 3"
    );
    s.finished(by_name(&plan, "sw.trial_1"), Status::Completed);
    assert_eq!(ready_names(&mut s), ["sw.trial_3", "sw.trial_4"]);
}

/// Runs nothing: each step's attempts end as scripted (completed by default), after a short
/// while, printing one line; it counts how many run at once.
#[derive(Default)]
struct Fake {
    script: Mutex<HashMap<String, VecDeque<Exit>>>,
    /// Steps that run until the job stops them.
    hold: HashSet<String>,
    running: Mutex<(usize, usize)>,
    launched: Mutex<Vec<(String, u32)>>,
    /// The batch jobs followed (launched by an earlier runner): id and attempt.
    followed: Mutex<Vec<(String, u32)>>,
    /// What it did, in order: `run STEP` and `follow ID`.
    order: Mutex<Vec<String>>,
}

impl Fake {
    fn with(script: &[(&str, Vec<Exit>)], hold: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(
                script
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.iter().cloned().collect()))
                    .collect(),
            ),
            hold: hold.iter().map(|s| (*s).to_owned()).collect(),
            ..Self::default()
        })
    }

    fn most_at_once(&self) -> usize {
        self.running.lock().unwrap().1
    }
}

impl Executor for Fake {
    fn kind(&self) -> &'static str {
        "fake"
    }

    fn run<'a>(
        &'a self,
        step: &'a Prepared,
        mut io: StepIo<'a>,
    ) -> BoxFuture<'a, Result<Exit, EngineError>> {
        Box::pin(async move {
            {
                let mut r = self.running.lock().unwrap();
                r.0 += 1;
                r.1 = r.1.max(r.0);
            }
            self.launched
                .lock()
                .unwrap()
                .push((step.step.clone(), step.attempt));
            self.order
                .lock()
                .unwrap()
                .push(format!("run {}", step.step));
            (io.launched)(&Launched::Batch {
                id: format!("{}-{}", step.step, step.attempt),
            })?;
            (io.line)(format!(
                "fake run of {} (attempt {})",
                step.step, step.attempt
            ))?;
            let exit = if self.hold.contains(&step.step) {
                while !*io.stop.borrow() {
                    if io.stop.changed().await.is_err() {
                        break;
                    }
                }
                Exit {
                    kind: ExitKind::Stopped,
                    code: None,
                }
            } else {
                tokio::time::sleep(Duration::from_millis(30)).await;
                self.script
                    .lock()
                    .unwrap()
                    .get_mut(&step.step)
                    .and_then(VecDeque::pop_front)
                    .unwrap_or_else(|| Exit::code(0))
            };
            self.running.lock().unwrap().0 -= 1;
            Ok(exit)
        })
    }

    fn stop_orphan(&self, _: &Launched) -> Result<bool, EngineError> {
        Ok(false)
    }

    fn followable(&self, _: &Launched) -> Result<bool, EngineError> {
        Ok(true)
    }

    fn attach<'a>(
        &'a self,
        step: &'a Prepared,
        launched: &'a Launched,
        io: StepIo<'a>,
    ) -> BoxFuture<'a, Result<Exit, EngineError>> {
        Box::pin(async move {
            let Launched::Batch { id } = launched else {
                panic!("{launched:?}");
            };
            self.followed
                .lock()
                .unwrap()
                .push((id.clone(), step.attempt));
            self.order.lock().unwrap().push(format!("follow {id}"));
            tokio::time::sleep(Duration::from_millis(30)).await;
            (io.line)(format!("fake follow of {id}"))?;
            Ok(self
                .script
                .lock()
                .unwrap()
                .get_mut(&format!("follow {}", step.step))
                .and_then(VecDeque::pop_front)
                .unwrap_or_else(|| Exit::code(0)))
        })
    }
}

async fn run_with(
    ws: &Workspace,
    plan: &Plan,
    fake: &Arc<Fake>,
    limits: &[(&str, usize)],
    cancel: impl std::future::Future<Output = ()>,
) -> crate::Outcome {
    let limits: HashMap<String, usize> =
        limits.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    let executors = Executors::only(&(Arc::clone(fake) as Arc<dyn Executor>), plan, &limits);
    crate::run::record_job(ws, plan).unwrap();
    crate::run::execute_with(ws, plan, executors, Arc::new(|_| {}), cancel)
        .await
        .unwrap()
}

/// `max_instances` bounds a compute's running steps across jobs: two jobs of one workspace, run
/// at once with 4 steps each on a compute of 2 places, never run more than 2 steps between them
/// (each job alone would run 2), and every step still runs.
#[tokio::test]
async fn a_computes_limit_holds_across_jobs_run_at_once() {
    // Steps of different names run different commands: the second job reuses none.
    let yaml = |prefix: &str| {
        let steps: Vec<(String, &str, Option<&str>)> = (0..4)
            .map(|i| (format!("{prefix}{i}"), "pair", None))
            .collect();
        let steps: Vec<(&str, &str, Option<&str>)> =
            steps.iter().map(|(n, c, a)| (n.as_str(), *c, *a)).collect();
        pipeline(&steps, "")
    };
    let (d, ws, first) = planned(&yaml("s"), &[], 8);
    let mut source = sluice_spec::Source::new("pipeline.yml", yaml("t").as_str());
    source.dir = d.path().to_path_buf();
    let spec = sluice_spec::parse_job(&source, &[], None, &mut Vec::new()).unwrap();
    let options = PlanOptions {
        default_experiment: "tests".into(),
        max_parallel: 8,
        ..PlanOptions::default()
    };
    let second = crate::plan(&ws, &spec, &options, &mut Vec::new()).unwrap();
    assert_ne!(first.job_name, second.job_name);
    let fake = Fake::with(&[], &[]);
    let (a, b) = tokio::join!(
        run_with(&ws, &first, &fake, &[("pair", 2)], std::future::pending()),
        run_with(&ws, &second, &fake, &[("pair", 2)], std::future::pending()),
    );
    assert_eq!((a.status, b.status), (Status::Completed, Status::Completed));
    assert_eq!(fake.launched.lock().unwrap().len(), 8);
    assert_eq!(
        fake.most_at_once(),
        2,
        "two places on the compute, whichever job holds them"
    );
    // Every step passed through Preparing (its place), and a place is free again once it ended.
    for plan in [&first, &second] {
        for row in ws.store().list_steps(&plan.job_name).unwrap() {
            assert_eq!(row.status, "Completed", "{}", row.name);
        }
    }
    assert!(
        ws.store()
            .claim_compute_slot(&first.job_name, "s0", "pair", 1, 120, 0)
            .unwrap(),
        "no place is held once every step ended"
    );
}

#[tokio::test]
async fn the_lifecycle_runs_steps_on_its_executor_within_the_computes_limit() {
    let steps: Vec<(String, &str, Option<&str>)> =
        (0..5).map(|i| (format!("s{i}"), "pair", None)).collect();
    let steps: Vec<(&str, &str, Option<&str>)> =
        steps.iter().map(|(n, c, a)| (n.as_str(), *c, *a)).collect();
    let (_d, ws, plan) = planned(&pipeline(&steps, ""), &[], 8);
    let fake = Fake::with(&[], &[]);
    let outcome = run_with(&ws, &plan, &fake, &[("pair", 2)], std::future::pending()).await;
    assert_eq!(outcome.status, Status::Completed);
    assert_eq!(fake.most_at_once(), 2, "max_instances of the compute");
    assert_eq!(fake.launched.lock().unwrap().len(), 5);
    for row in ws.store().list_steps(&plan.job_name).unwrap() {
        assert_eq!(row.status, "Completed", "{}", row.name);
        assert_eq!(row.executor.as_deref(), Some("fake"));
        assert_eq!(
            row.executor_id.as_deref(),
            Some(format!("{}-1", row.name).as_str())
        );
        let log = std::fs::read_to_string(row.log_path.unwrap()).unwrap();
        assert!(
            log.contains(&format!("fake run of {} (attempt 1)", row.name)),
            "{log}"
        );
    }
}

#[tokio::test]
async fn a_lost_node_or_preemption_is_retried_per_the_steps_policy_and_otherwise_fails_the_step() {
    let lost = || Exit {
        kind: ExitKind::Ended(
            "Slurm job 7 ended with NODE_FAIL: the node running it failed".into(),
        ),
        code: None,
    };
    let preempted = Exit {
        kind: ExitKind::Ended("Slurm job 8 was PREEMPTED by a job of higher priority".into()),
        code: None,
    };
    let yaml = "type: pipeline\nexperiment_name: tests\njobs:\n  train:\n    type: command\n    command: echo train\n    retry:\n      max_attempts: 3\n    outputs:\n      out:\n        type: uri_folder\n  report:\n    type: command\n    command: echo ${{inputs.m}}\n    inputs:\n      m: ${{parent.jobs.train.outputs.out}}\n";
    let (_d, ws, plan) = planned(yaml, &[], 4);
    let fake = Fake::with(&[("train", vec![lost(), preempted])], &[]);
    let outcome = run_with(&ws, &plan, &fake, &[], std::future::pending()).await;
    assert_eq!(outcome.status, Status::Completed);
    let attempts = ws.store().step_attempts(&plan.job_name, "train").unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0].status, "Failed");
    assert!(attempts[0].error.as_deref().unwrap().contains("NODE_FAIL"));
    assert_eq!(attempts[1].status, "Failed");
    assert!(attempts[1].error.as_deref().unwrap().contains("PREEMPTED"));
    assert_eq!(attempts[2].status, "Completed");
    assert_eq!(
        *fake.launched.lock().unwrap(),
        [
            ("train".to_owned(), 1),
            ("train".to_owned(), 2),
            ("train".to_owned(), 3),
            ("report".to_owned(), 1)
        ]
    );

    // Without a retry policy the step fails, saying why, and its dependant is skipped.
    let (_d, ws, plan) = planned(
        &yaml.replace("    retry:\n      max_attempts: 3\n", ""),
        &[],
        4,
    );
    let fake = Fake::with(&[("train", vec![lost()])], &[]);
    let outcome = run_with(&ws, &plan, &fake, &[], std::future::pending()).await;
    assert_eq!(
        (outcome.status, outcome.failed_steps),
        (Status::Failed, vec!["train".to_owned()])
    );
    let steps = ws.store().list_steps(&plan.job_name).unwrap();
    let train = steps.iter().find(|s| s.name == "train").unwrap();
    assert!(
        train.error.as_deref().unwrap().contains("NODE_FAIL"),
        "{train:?}"
    );
    let report = steps.iter().find(|s| s.name == "report").unwrap();
    assert_eq!(report.status, "Canceled");
}

#[tokio::test]
async fn a_cancel_reaches_the_running_step_through_its_executor() {
    let steps = [("slow", "local", None), ("after", "local", Some("slow"))];
    let (_d, ws, plan) = planned(&pipeline(&steps, ""), &[], 4);
    let fake = Fake::with(&[], &["slow"]);
    let cancel = tokio::time::sleep(Duration::from_millis(300));
    let outcome = run_with(&ws, &plan, &fake, &[], cancel).await;
    assert_eq!(outcome.status, Status::Canceled);
    let steps = ws.store().list_steps(&plan.job_name).unwrap();
    let status: HashMap<&str, &str> = steps
        .iter()
        .map(|s| (s.name.as_str(), s.status.as_str()))
        .collect();
    assert_eq!(status["slow"], "Canceled");
    assert_eq!(status["after"], "Canceled");
}

#[tokio::test]
async fn a_resumed_job_follows_its_detached_step_first_and_retries_it_as_a_new_attempt() {
    // `other` comes first and failed; `train` was running as batch job `train-1` (its second
    // attempt) when the runner was killed. Their compute runs one step at a time.
    let yaml = "type: pipeline\nexperiment_name: tests\njobs:\n  other:\n    type: command\n    compute: azureml:one\n    command: echo other\n  train:\n    type: command\n    compute: azureml:one\n    command: echo train\n    retry:\n      max_attempts: 3\n    outputs:\n      out:\n        type: uri_folder\n";
    let (_d, ws, plan) = planned(yaml, &[("one", 1)], 4);
    let job = plan.job_name.clone();
    crate::run::record_job(&ws, &plan).unwrap();
    let step_dir = ws.job_dir(&job).join("steps").join("train");
    std::fs::create_dir_all(step_dir.join("logs")).unwrap();
    std::fs::create_dir_all(step_dir.join("code")).unwrap();
    std::fs::write(
        step_dir.join("logs").join("std_log.txt"),
        "before the runner died\n",
    )
    .unwrap();
    let run = {
        let mut store = ws.store();
        store.set_job_status(&job, "Running", None).unwrap();
        store
            .set_step_status(&job, "other", "Failed", None)
            .unwrap();
        store
            .set_step_status(&job, "train", "Running", None)
            .unwrap();
        store
            .record_attempt(&job, "train", 1, "Failed", Some(1), None, "l", "t")
            .unwrap();
        store
            .set_step_executor(&job, "train", "fake", Some(("train-1", 2)))
            .unwrap();
        let exp = store.create_experiment("tests", None, &[]).unwrap();
        let run = store
            .create_run(&exp, "u", Some("train"), Some(1), &[])
            .unwrap();
        store
            .set_step_run(&job, "train", &run.info.run_uuid)
            .unwrap();
        store
            .mark_interrupted(&job, None, "interrupted", &["train".to_owned()], false)
            .unwrap();
        store
            .reset_for_resume(&job, sluice_store::testing::RUNNER)
            .unwrap();
        run.info.run_uuid
    };
    // The batch job it follows fails; the retry policy launches attempt 3.
    let fake = Fake::with(&[("follow train", vec![Exit::code(3)])], &[]);
    let executors = Executors::only(
        &(Arc::clone(&fake) as Arc<dyn Executor>),
        &plan,
        &[("one".to_owned(), 1)].into(),
    );
    let outcome = crate::run::execute_with(
        &ws,
        &plan,
        executors,
        Arc::new(|_| {}),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(outcome.status, Status::Completed);
    assert_eq!(
        *fake.order.lock().unwrap(),
        ["follow train-1", "run train", "run other"],
        "followed before anything else, not submitted again"
    );
    assert_eq!(*fake.followed.lock().unwrap(), [("train-1".to_owned(), 2)]);
    let attempts = ws.store().step_attempts(&job, "train").unwrap();
    let got: Vec<(u32, &str)> = attempts
        .iter()
        .map(|a| (a.attempt, a.status.as_str()))
        .collect();
    assert_eq!(got, [(1, "Failed"), (2, "Failed"), (3, "Completed")]);
    let kept =
        std::fs::read_to_string(step_dir.join("logs").join("std_log.attempt-2.txt")).unwrap();
    assert!(
        kept.starts_with("before the runner died\nfake follow of train-1\n"),
        "{kept}"
    );
    let steps = ws.store().list_steps(&job).unwrap();
    let train = steps.iter().find(|s| s.name == "train").unwrap();
    assert_eq!(
        (train.status.as_str(), train.detached),
        ("Completed", false)
    );
    assert_eq!(
        ws.store().step_run(&job, "train").unwrap().as_deref(),
        Some(run.as_str()),
        "the step kept its MLflow run"
    );
    let kept_run = ws.store().get_run(&run).unwrap();
    assert_eq!(kept_run.info.status, "FINISHED");
    let parent = kept_run
        .tags
        .iter()
        .find(|t| t.key == "mlflow.parentRunId")
        .map(|t| t.value.clone());
    assert!(parent.is_some(), "a child of the resumed job's run");
}
