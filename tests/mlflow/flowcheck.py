"""What the client flows (client_flow.py, governance_flow.py, webhooks_flow.py) share: one check
at a time, printed as it passes, the flow stopped at the first failure; and the MLflow error a
call must raise."""

import contextlib
import os
import sys
import traceback

import mlflow
from mlflow.exceptions import MlflowException

_PASSED = 0


def passed():
    """How many checks passed so far."""
    return _PASSED


@contextlib.contextmanager
def check(description):
    """One check: prints `ok` when the block finishes, or `FAIL` and exits 1 on any error."""
    global _PASSED
    try:
        yield
    except BaseException as e:  # noqa: BLE001 - report whatever stopped the flow, then exit
        print(f"FAIL {description}: {type(e).__name__}: {e}", flush=True)
        traceback.print_exc(file=sys.stdout)
        print(f"{_PASSED} checks passed before the failure (mlflow {mlflow.__version__})", flush=True)
        sys.exit(1)
    _PASSED += 1
    print(f"ok   {description}", flush=True)


def expect_error(error_code, fn, *args, **kwargs):
    """Calls fn and asserts that it raises an MlflowException with `error_code`; returns it."""
    try:
        result = fn(*args, **kwargs)
    except MlflowException as e:
        assert e.error_code == error_code, (
            f"expected error_code {error_code}, got {e.error_code}: {e.message}"
        )
        return e
    raise AssertionError(f"expected MlflowException {error_code}, but the call returned {result!r}")


def act_as(token=None, basic_user=None):
    """The client reads these variables on every request."""
    for var in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        os.environ.pop(var, None)
    if token and basic_user:
        os.environ["MLFLOW_TRACKING_USERNAME"] = basic_user
        os.environ["MLFLOW_TRACKING_PASSWORD"] = token
    elif token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
