"""The real, unmodified `mlflow` client (2.x or 3.x) against a `sluice server --auth` whose
model `gov-model` has a promotion policy (gate `test_r2` >= 0.7, one approval): tokens sent as
MLFLOW_TRACKING_TOKEN (Bearer) and as MLFLOW_TRACKING_USERNAME/PASSWORD (Basic), and the errors
a forbidden call gets.

Environment: MLFLOW_TRACKING_URI, and the tokens SLUICE_TEST_READER, SLUICE_TEST_CONTRIBUTOR,
SLUICE_TEST_OWNER. Prints one line per check, "FAIL ..." and exit 1 on the first failure.
"""

import os

import mlflow
from mlflow import MlflowClient

from flowcheck import act_as, check, expect_error, passed

MODEL = "gov-model"
READER = os.environ["SLUICE_TEST_READER"]
CONTRIBUTOR = os.environ["SLUICE_TEST_CONTRIBUTOR"]
OWNER = os.environ["SLUICE_TEST_OWNER"]


client = MlflowClient()

with check("no token: UNAUTHENTICATED"):
    act_as(None)
    expect_error("UNAUTHENTICATED", client.search_experiments)

with check("a wrong token: UNAUTHENTICATED"):
    act_as("slu_000000000000_" + "0" * 64)
    expect_error("UNAUTHENTICATED", client.search_experiments)

with check("a reader (Basic auth) reads but cannot create an experiment"):
    act_as(READER, basic_user="rita")
    client.search_experiments()
    e = expect_error("PERMISSION_DENIED", client.create_experiment, "gov-exp-reader")
    assert "needs the contributor role" in e.message, e.message

with check("a contributor (Bearer) logs a run and registers a version"):
    act_as(CONTRIBUTOR)
    exp = client.create_experiment(f"gov-exp-{os.getpid()}")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "test_r2", 0.6)
    client.set_terminated(run.info.run_id)
    mv = client.create_model_version(MODEL, f"runs:/{run.info.run_id}/model", run.info.run_id)
    assert mv.version in ("1", 1), mv.version
    assert mv.user_id == "cody", mv.user_id

with check("a contributor may not move the protected alias"):
    e = expect_error("PERMISSION_DENIED", client.set_registered_model_alias, MODEL, "champion", mv.version)
    assert "needs the owner role" in e.message, e.message

with check("an owner is refused by the gate, with metric, threshold and value"):
    act_as(OWNER)
    e = expect_error("PERMISSION_DENIED", client.set_registered_model_alias, MODEL, "champion", mv.version)
    assert "metric `test_r2` of version 1 is 0.6, below the threshold min 0.7" in e.message, e.message
    assert "0 of the 1 approval(s)" in e.message, e.message

with check("the Production stage is governed the same way"):
    e = expect_error(
        "PERMISSION_DENIED", client.transition_model_version_stage, MODEL, mv.version, "Production"
    )
    assert "`Production` stage" in e.message, e.message

with check("an unprotected alias moves; nothing else changed"):
    act_as(CONTRIBUTOR)
    client.set_registered_model_alias(MODEL, "challenger", mv.version)
    got = client.get_model_version(MODEL, mv.version)
    assert got.aliases == ["challenger"], got.aliases
    assert got.current_stage == "None", got.current_stage

print(f"all {passed()} checks passed (mlflow {mlflow.__version__})", flush=True)
