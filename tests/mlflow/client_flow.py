"""Drives the real, unmodified `mlflow` client (2.x or 3.x) against a tracking server the way a
user would: experiments, runs, params, metrics, tags, artifacts, search, logged models, the
model registry, loading models back, and the errors a user sees.

Run with a venv's python and MLFLOW_TRACKING_URI pointing at the server:

    MLFLOW_TRACKING_URI=http://127.0.0.1:5000 venv-mlflow3/bin/python tests/mlflow/client_flow.py

Prints one line per check ("ok   ..."); on the first failure prints "FAIL ..." with the error and
exits 1. Names are unique per run (uuid), so reruns against the same server work.
"""

import contextlib
import os
import tempfile
import time
import uuid
import warnings

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from sklearn.linear_model import LinearRegression

from flowcheck import check, expect_error, passed

MLFLOW_3 = int(mlflow.__version__.split(".")[0]) >= 3
UID = uuid.uuid4().hex[:10]


def log_sklearn_model(model, name):
    """mlflow.sklearn.log_model with the keyword each major version wants."""
    if MLFLOW_3:
        return mlflow.sklearn.log_model(model, name=name)
    return mlflow.sklearn.log_model(model, artifact_path=name)


def main():
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    assert uri.startswith("http"), f"MLFLOW_TRACKING_URI must be an http URL, got {uri!r}"
    print(f"mlflow {mlflow.__version__} against {uri} (names end in {UID})", flush=True)
    client = MlflowClient()
    tmp = tempfile.mkdtemp(prefix="sluice-mlflow-")

    # ---- experiments ------------------------------------------------------------------------
    exp_name = f"flow-{UID}"
    with check("set_experiment creates a new experiment"):
        exp = mlflow.set_experiment(exp_name)
        assert exp.name == exp_name, f"name {exp.name!r}"
        assert exp.experiment_id, "no experiment_id"
        assert exp.lifecycle_stage == "active", f"lifecycle_stage {exp.lifecycle_stage!r}"
        exp_id = exp.experiment_id

    with check("set_experiment on an existing name returns the same experiment"):
        again = mlflow.set_experiment(exp_name)
        assert again.experiment_id == exp_id, f"{again.experiment_id} != {exp_id}"

    other_name = f"flow-other-{UID}"
    with check("create_experiment with tags, then get_experiment_by_name"):
        other_id = client.create_experiment(other_name, tags={"team": "sluice"})
        got = mlflow.get_experiment_by_name(other_name)
        assert got is not None, "get_experiment_by_name returned None"
        assert got.experiment_id == other_id, f"{got.experiment_id} != {other_id}"
        assert got.tags.get("team") == "sluice", f"tags {got.tags}"
        assert client.get_experiment(other_id).name == other_name, "get_experiment by id"

    with check("get_experiment_by_name of a missing name returns None"):
        missing = mlflow.get_experiment_by_name(f"missing-{UID}")
        assert missing is None, f"expected None, got {missing}"

    # ---- a run: params, metrics over steps, tags ---------------------------------------------
    losses = [1.0, 0.8, 0.6, 0.5, 0.4, 0.35, 0.3]
    with check("start_run with params, metrics over steps, log_metrics, tags"):
        with mlflow.start_run(run_name=f"train-{UID}") as run:
            run_id = run.info.run_id
            mlflow.log_param("alpha", "0.5")
            mlflow.log_params({"l1_ratio": 0.1, "solver": "lbfgs"})
            for step in range(4):
                mlflow.log_metric("loss", losses[step], step=step)
            mlflow.log_metrics({"loss": losses[4], "accuracy": 0.9}, step=4)
            mlflow.set_tags({"stage": "dev", "owner": "tester"})
            mlflow.set_tag("to_delete", "soon")
            mlflow.delete_tag("to_delete")
        assert run.info.experiment_id == exp_id, f"run in experiment {run.info.experiment_id}"

    with check("MlflowClient.log_batch with metrics, params and tags"):
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric("loss", losses[s], now + s, s) for s in (5, 6)],
            params=[Param("batch_param", "from-batch")],
            tags=[RunTag("batch_tag", "yes")],
        )

    with check("get_run returns the params, latest metrics and tags; deleted tag is gone"):
        r = client.get_run(run_id)
        assert r.info.status == "FINISHED", f"status {r.info.status}"
        assert r.info.run_name == f"train-{UID}", f"run_name {r.info.run_name!r}"
        expected_params = {
            "alpha": "0.5",
            "l1_ratio": "0.1",
            "solver": "lbfgs",
            "batch_param": "from-batch",
        }
        assert r.data.params == expected_params, f"params {r.data.params}"
        assert r.data.metrics.get("loss") == losses[6], f"latest loss {r.data.metrics}"
        assert r.data.metrics.get("accuracy") == 0.9, f"accuracy {r.data.metrics}"
        assert r.data.tags.get("stage") == "dev", f"tags {r.data.tags}"
        assert r.data.tags.get("batch_tag") == "yes", f"tags {r.data.tags}"
        assert "to_delete" not in r.data.tags, f"deleted tag still there: {r.data.tags}"

    with check("get_metric_history returns every step in order"):
        history = client.get_metric_history(run_id, "loss")
        got = sorted((m.step, m.value) for m in history)
        assert got == list(enumerate(losses)), f"history {got}"

    # ---- artifacts ---------------------------------------------------------------------------
    blob = os.urandom(4096) + bytes(range(256))
    src = os.path.join(tmp, "blob.bin")
    with open(src, "wb") as f:
        f.write(blob)
    text = f"hello from {UID}\nsecond line ✓\n"
    with check("log_artifact and log_text"):
        with mlflow.start_run(run_id=run_id):
            mlflow.log_artifact(src, artifact_path="data")
            mlflow.log_text(text, "notes/readme.txt")

    with check("proxied multipart upload turned on: the client falls back to one request"):
        # MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD makes the client ask the server for a multipart
        # upload first; the server says it has none, as MLflow's does for a local store.
        os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] = "true"
        os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = "1"
        try:
            with mlflow.start_run(run_id=run_id):
                mlflow.log_artifact(src, artifact_path="parts")
        finally:
            del os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"]
            del os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"]
        got = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="parts/blob.bin", dst_path=os.path.join(tmp, "dl0")
        )
        with open(got, "rb") as f:
            assert f.read() == blob, "the fallen-back upload differs"

    with check("list_artifacts at the root and in a folder"):
        root = {a.path: a for a in client.list_artifacts(run_id)}
        assert set(root) == {"data", "notes", "parts"}, f"root {sorted(root)}"
        assert root["data"].is_dir and root["notes"].is_dir, f"root {list(root.values())}"
        data = client.list_artifacts(run_id, "data")
        assert [a.path for a in data] == ["data/blob.bin"], f"data/ {data}"
        assert data[0].file_size == len(blob), f"file_size {data[0].file_size} != {len(blob)}"
        assert not data[0].is_dir, "blob.bin listed as a folder"

    with check("download_artifacts round-trips a file byte for byte"):
        dst = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="data/blob.bin", dst_path=os.path.join(tmp, "dl1")
        )
        with open(dst, "rb") as f:
            assert f.read() == blob, "downloaded bytes differ"

    with check("download_artifacts of a folder, and load_text"):
        dst = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="notes", dst_path=os.path.join(tmp, "dl2")
        )
        with open(os.path.join(dst, "readme.txt"), encoding="utf-8") as f:
            assert f.read() == text, "downloaded text differs"
        loaded = mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt")
        assert loaded == text, f"load_text {loaded!r}"

    # ---- search ------------------------------------------------------------------------------
    rmses = [0.1, 0.25, 0.4, 0.45, 0.7, 0.9]
    search_ids = {}
    with check(f"{len(rmses)} runs with an rmse metric"):
        for i, rmse in enumerate(rmses):
            with mlflow.start_run(run_name=f"search-{i}-{UID}") as r:
                mlflow.log_param("alpha", str(i))
                mlflow.log_metric("rmse", rmse)
                search_ids[r.info.run_id] = rmse
    below = sorted((rmse, rid) for rid, rmse in search_ids.items() if rmse < 0.5)
    below_ids = [rid for _, rid in below]

    with check("search_runs with a filter string and order_by"):
        runs = client.search_runs(
            [exp_id], filter_string="metrics.rmse < 0.5", order_by=["metrics.rmse ASC"]
        )
        assert [r.info.run_id for r in runs] == below_ids, (
            f"got {[(r.info.run_id, r.data.metrics.get('rmse')) for r in runs]}"
        )

    with check("search_runs order_by DESC with max_results"):
        runs = client.search_runs(
            [exp_id],
            filter_string="metrics.rmse < 0.5",
            order_by=["metrics.rmse DESC"],
            max_results=2,
        )
        assert [r.info.run_id for r in runs] == below_ids[::-1][:2], (
            f"got {[r.data.metrics.get('rmse') for r in runs]}"
        )

    with check("search_runs paging with page_token"):
        seen, token, pages = [], None, 0
        while True:
            page = client.search_runs(
                [exp_id],
                filter_string="metrics.rmse < 0.5",
                order_by=["metrics.rmse ASC"],
                max_results=3,
                page_token=token,
            )
            pages += 1
            seen.extend(r.info.run_id for r in page)
            token = page.token
            if not token:
                break
            assert pages < 10, "page_token never ends"
        assert seen == below_ids, f"paged ids {seen} != {below_ids}"
        assert pages == 2, f"{pages} pages for {len(below_ids)} runs at 3 per page"

    with check("search_runs filters on params and tags"):
        runs = client.search_runs([exp_id], filter_string="params.alpha = '0.5'")
        assert [r.info.run_id for r in runs] == [run_id], f"params filter {runs}"
        runs = client.search_runs([exp_id], filter_string="tags.stage = 'dev'")
        assert [r.info.run_id for r in runs] == [run_id], f"tags filter {runs}"

    with check("mlflow.search_runs returns a DataFrame"):
        df = mlflow.search_runs(
            experiment_ids=[exp_id],
            filter_string="metrics.rmse < 0.5",
            order_by=["metrics.rmse ASC"],
        )
        assert isinstance(df, pd.DataFrame), f"got {type(df)}"
        assert list(df["run_id"]) == below_ids, f"run_id column {list(df['run_id'])}"
        assert list(df["metrics.rmse"]) == [rmse for rmse, _ in below], "metrics.rmse column"
        assert "params.alpha" in df.columns, f"columns {list(df.columns)}"

    # ---- errors ------------------------------------------------------------------------------
    with check("get_run of a missing run raises RESOURCE_DOES_NOT_EXIST"):
        expect_error("RESOURCE_DOES_NOT_EXIST", client.get_run, uuid.uuid4().hex)

    with check("re-logging a param with a different value raises INVALID_PARAMETER_VALUE"):
        expect_error("INVALID_PARAMETER_VALUE", client.log_param, run_id, "alpha", "0.9")
        client.log_param(run_id, "alpha", "0.5")  # the same value again is fine
        assert client.get_run(run_id).data.params["alpha"] == "0.5", "param changed"

    with check("creating a duplicate experiment raises RESOURCE_ALREADY_EXISTS"):
        expect_error("RESOURCE_ALREADY_EXISTS", client.create_experiment, exp_name)

    # ---- models ------------------------------------------------------------------------------
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20, 3))
    model_v1 = LinearRegression().fit(X, X @ np.array([1.0, -2.0, 0.5]) + 3.0)
    model_v2 = LinearRegression().fit(X, X @ np.array([2.0, 1.0, -1.0]) - 1.0)
    model_uris = []
    with check("mlflow.sklearn.log_model of two fitted LinearRegression models"):
        for i, model in enumerate((model_v1, model_v2), start=1):
            with mlflow.start_run(run_name=f"model-{i}-{UID}") as r:
                mlflow.log_param("version", str(i))
                info = log_sklearn_model(model, "model")
            if MLFLOW_3:
                assert info.model_uri.startswith("models:/"), f"model_uri {info.model_uri}"
            else:
                assert info.model_uri == f"runs:/{r.info.run_id}/model", (
                    f"model_uri {info.model_uri}"
                )
            model_uris.append(info.model_uri)

    with check("the logged model loads back from its own URI"):
        pred = mlflow.pyfunc.load_model(model_uris[0]).predict(X)
        assert np.allclose(pred, model_v1.predict(X)), "predictions differ"

    model_name = f"reg-{UID}"
    with check("register_model twice gives versions 1 and 2"):
        mv1 = mlflow.register_model(model_uris[0], model_name)
        mv2 = mlflow.register_model(model_uris[1], model_name)
        assert (mv1.name, mv1.version) == (model_name, "1"), f"first {mv1.name} {mv1.version}"
        assert (mv2.name, mv2.version) == (model_name, "2"), f"second {mv2.name} {mv2.version}"
        rm = client.get_registered_model(model_name)
        assert rm.name == model_name, f"registered model {rm.name}"

    with check("set_registered_model_alias and get_model_version_by_alias"):
        client.set_registered_model_alias(model_name, "champion", "2")
        mv = client.get_model_version_by_alias(model_name, "champion")
        assert mv.version == "2", f"@champion is version {mv.version}"
        assert "champion" in mv.aliases, f"aliases {mv.aliases}"

    with check("load_model('models:/NAME@champion') predicts like the fitted model"):
        pred = mlflow.pyfunc.load_model(f"models:/{model_name}@champion").predict(X)
        assert np.allclose(pred, model_v2.predict(X)), "predictions differ from version 2"

    with check("load_model('models:/NAME/1') predicts like the fitted model"):
        pred = mlflow.pyfunc.load_model(f"models:/{model_name}/1").predict(X)
        assert np.allclose(pred, model_v1.predict(X)), "predictions differ from version 1"

    with check("delete_registered_model_alias; the alias no longer resolves"):
        client.delete_registered_model_alias(model_name, "champion")
        expect_error(
            "RESOURCE_DOES_NOT_EXIST", client.get_model_version_by_alias, model_name, "champion"
        )

    with check("transition_model_version_stage to Staging"):
        mv = client.transition_model_version_stage(model_name, "1", "Staging")
        assert mv.current_stage == "Staging", f"returned stage {mv.current_stage}"
        got = client.get_model_version(model_name, "1").current_stage
        assert got == "Staging", f"stored stage {got}"

    with check("search_model_versions by name"):
        versions = client.search_model_versions(f"name = '{model_name}'")
        got = sorted((v.version, v.current_stage) for v in versions)
        assert got == [("1", "Staging"), ("2", "None")], f"versions {got}"

    # ---- registry search, as users filter and page it -----------------------------------------
    with check("search_model_versions: LIKE, ILIKE, !=, IN, run_id, source_path, tags."):
        client.set_model_version_tag(model_name, "2", "quality", "gold")
        everyone = {v.version: v for v in client.search_model_versions(f"name = '{model_name}'")}

        def versions(filter_string):
            return sorted(v.version for v in client.search_model_versions(filter_string))

        assert versions(f"name LIKE 'reg-{UID}%'") == ["1", "2"], "LIKE"
        assert versions(f"name ILIKE 'REG-{UID.upper()}%'") == ["1", "2"], "ILIKE"
        assert versions(f"name = '{model_name}' AND name != 'other-{UID}'") == ["1", "2"], "!="
        assert versions(f"name IN ('{model_name}', 'other-{UID}')") == ["1", "2"], "IN"
        v1 = everyone["1"]
        same_run = sorted(k for k, v in everyone.items() if v.run_id == v1.run_id)
        assert versions(f"name = '{model_name}' AND run_id = '{v1.run_id}'") == same_run, "run_id"
        same_source = sorted(k for k, v in everyone.items() if v.source == v1.source)
        assert versions(f"name = '{model_name}' AND source_path = '{v1.source}'") == same_source, (
            "source_path"
        )
        assert versions(f"name = '{model_name}' AND tags.quality = 'gold'") == ["2"], "tags."

    with check("search_model_versions pages with max_results and page tokens, and orders"):
        first = client.search_model_versions(f"name = '{model_name}'", max_results=1)
        assert len(first) == 1 and first.token, f"first page {list(first)} token {first.token!r}"
        second = client.search_model_versions(
            f"name = '{model_name}'", max_results=1, page_token=first.token
        )
        assert len(second) == 1, f"second page {list(second)}"
        assert {first[0].version, second[0].version} == {"1", "2"}, "the pages overlap"
        asc = client.search_model_versions(
            f"name = '{model_name}'", order_by=["version_number ASC"]
        )
        assert [v.version for v in asc] == ["1", "2"], f"ascending {[v.version for v in asc]}"
        by_two = client.search_model_versions(
            f"name = '{model_name}'", order_by=["name ASC", "version_number DESC"]
        )
        assert [v.version for v in by_two] == ["2", "1"], "name ASC, version_number DESC"

    with check("get_latest_versions per stage"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated in MLflow 3, still served
            staging = client.get_latest_versions(model_name, stages=["Staging"])
            none = client.get_latest_versions(model_name, stages=["None"])
        assert [v.version for v in staging] == ["1"], f"Staging {[v.version for v in staging]}"
        assert [v.version for v in none] == ["2"], f"None {[v.version for v in none]}"

    if MLFLOW_3:
        with check("search_logged_models finds the logged models; their artifacts list"):
            found = mlflow.search_logged_models(experiment_ids=[exp_id], output_format="list")
            ids = {m.model_id for m in found}
            wanted = {u.split("/")[-1] for u in model_uris}
            assert wanted <= ids, f"logged models {ids}, wanted {wanted}"
            files = [f.path for f in client.list_logged_model_artifacts(sorted(wanted)[0])]
            assert "MLmodel" in files, f"logged model artifacts {files}"

    # ---- artifacts served safely --------------------------------------------------------------
    with check("downloads are typed by name, never text/html, with nosniff"):
        with mlflow.start_run(run_name=f"files-{UID}") as r:
            mlflow.log_text("plain", "notes.txt")
            mlflow.log_text("<script>alert(1)</script>", "page.html")
            mlflow.log_dict({"a": 1}, "conf.json")
        for path, wanted in [("notes.txt", "text/plain"), ("page.html", "text/plain"),
                             ("conf.json", "text/plain")]:
            res = requests.get(f"{uri}/get-artifact",
                               params={"path": path, "run_uuid": r.info.run_id}, timeout=30)
            assert res.status_code == 200, f"{path}: {res.status_code} {res.text}"
            ctype = res.headers.get("Content-Type", "")
            assert ctype.startswith(wanted), f"{path}: Content-Type {ctype}"
            assert res.headers.get("X-Content-Type-Options") == "nosniff", f"{path}: no nosniff"

    # ---- datasets -----------------------------------------------------------------------------
    with check("log_input datasets; search-datasets lists each once"):
        frame = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]})
        with mlflow.start_run(run_name=f"data-{UID}"):
            mlflow.log_input(mlflow.data.from_pandas(frame, name=f"train-{UID}"), context="training")
        with mlflow.start_run(run_name=f"data2-{UID}"):
            mlflow.log_input(mlflow.data.from_pandas(frame, name=f"train-{UID}"), context="training")
        res = requests.post(f"{uri}/ajax-api/2.0/mlflow/experiments/search-datasets",
                            json={"experiment_ids": [exp_id]}, timeout=30)
        assert res.status_code == 200, f"{res.status_code} {res.text}"
        summaries = [d for d in res.json().get("dataset_summaries", [])
                     if d["name"] == f"train-{UID}"]
        assert len(summaries) == 1, f"summaries {summaries}"
        assert summaries[0]["context"] == "training", f"context {summaries[0]}"

    # ---- tracing (MLflow 3) -------------------------------------------------------------------
    if MLFLOW_3:
        trace_exp = mlflow.set_experiment(f"traces-{UID}").experiment_id

        @mlflow.trace
        def predict(question):
            with mlflow.start_span("retrieve") as span:
                span.set_inputs({"question": question})
                span.set_outputs({"documents": 2})
            return "answer"

        @mlflow.trace
        def broken():
            raise ValueError("tool down")

        with check("@mlflow.trace and start_span log traces; search_traces finds them"):
            predict("fare?")
            with contextlib.suppress(ValueError):
                broken()
            with mlflow.start_span("manual") as span:
                span.set_attribute("k", 1)
            mlflow.flush_trace_async_logging()
            traces = mlflow.search_traces(locations=[trace_exp], return_type="list")
            states = sorted(t.info.state.value for t in traces)
            assert states == ["ERROR", "OK", "OK"], f"states {states}"

        with check("get_trace returns the spans; filters by status and name"):
            named = mlflow.search_traces(locations=[trace_exp], filter_string="trace.name = 'predict'",
                                         return_type="list")
            assert len(named) == 1, f"{len(named)} traces named predict"
            trace = mlflow.get_trace(named[0].info.trace_id)
            spans = sorted(s.name for s in trace.data.spans)
            assert spans == ["predict", "retrieve"], f"spans {spans}"
            ok = mlflow.search_traces(locations=[trace_exp], filter_string="trace.status = 'OK'",
                                      return_type="list")
            assert len(ok) == 2, f"{len(ok)} OK traces"
            frame = mlflow.search_traces(locations=[trace_exp])
            assert len(frame) == 3, f"DataFrame of {len(frame)} rows"

        with check("trace tags set and delete; delete_traces removes them"):
            trace_id = named[0].info.trace_id
            client.set_trace_tag(trace_id, "reviewed", "yes")
            assert mlflow.get_trace(trace_id).info.tags.get("reviewed") == "yes", "tag not set"
            client.delete_trace_tag(trace_id, "reviewed")
            assert "reviewed" not in mlflow.get_trace(trace_id).info.tags, "tag not deleted"
            deleted = client.delete_traces(trace_exp, trace_ids=[trace_id])
            assert deleted == 1, f"deleted {deleted}"
            left = mlflow.search_traces(locations=[trace_exp], return_type="list")
            assert len(left) == 2, f"{len(left)} traces left"

    print(f"all {passed()} checks passed (mlflow {mlflow.__version__})", flush=True)


if __name__ == "__main__":
    main()
