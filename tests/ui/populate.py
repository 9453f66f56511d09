"""Adds to a `sluice server` what MLflow's web UI shows beside a pipeline job's runs, through
the real `mlflow` client: a run with params, a metric history, tags, artifacts (text, JSON, PNG)
and a logged model registered as a new model, and traces (`@mlflow.trace`, nested spans, one
failing). Prints one JSON line: the ids the UI test then opens pages for.

    MLFLOW_TRACKING_URI=http://127.0.0.1:PORT venv-mlflow3/bin/python tests/ui/populate.py
"""

import json
import struct
import zlib

import mlflow
import numpy as np
from sklearn.linear_model import LinearRegression


def png(width=4, height=4):
    """A tiny valid PNG (grey square), so the artifact viewer shows an image."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def main():
    mlflow.set_experiment("ui-tour")
    runs = []
    for i in range(2):
        with mlflow.start_run(run_name=f"tour-{i}") as run:
            mlflow.log_params({"alpha": 0.1 * (i + 1), "solver": "lsqr"})
            for step in range(20):
                mlflow.log_metric("loss", 1.0 / (step + 1 + i), step=step)
            mlflow.set_tag("team", "forecasting")
            mlflow.log_text("trained on the taxi sample", "notes/readme.txt")
            mlflow.log_dict({"features": ["distance", "hour"]}, "config.json")
            with open("chart.png", "wb") as f:
                f.write(png())
            mlflow.log_artifact("chart.png", "plots")
            if i == 0:
                x = np.array([[1.0], [2.0], [3.0]])
                model = LinearRegression().fit(x, np.array([2.0, 4.0, 6.0]))
                mlflow.sklearn.log_model(model, name="model", registered_model_name="ui-tour-model",
                                         input_example=x[:1])
            runs.append(run.info.run_id)

    @mlflow.trace
    def answer(question):
        with mlflow.start_span("retrieve") as span:
            span.set_inputs({"question": question})
            span.set_outputs({"documents": 2})
        return f"an answer to {question}"

    @mlflow.trace
    def fail():
        raise ValueError("the tool was unavailable")

    answer("what is the fare?")
    try:
        fail()
    except ValueError:
        pass
    mlflow.flush_trace_async_logging()
    experiment = mlflow.get_experiment_by_name("ui-tour").experiment_id
    traces = mlflow.search_traces(locations=[experiment], return_type="list")
    assert len(traces) == 2, f"{len(traces)} traces"
    ok = [t for t in traces if t.info.state.value == "OK"][0]
    print(json.dumps({
        "experiment": experiment,
        "runs": runs,
        "model": "ui-tour-model",
        "trace": ok.info.trace_id,
    }), flush=True)


if __name__ == "__main__":
    main()
