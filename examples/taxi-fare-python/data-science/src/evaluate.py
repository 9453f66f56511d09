"""Evaluate the trained model and decide whether it should be registered.

Scores the candidate model (``--model_input``) on the test set and compares it
with every registered version of ``--model_name`` on the same rows. The deploy
flag is 1 when the candidate's R² is strictly better than that of every
registered version (or when none is registered yet), 0 otherwise.

Writes into ``--evaluation_output``:
- ``deploy_flag``: the flag, ``0`` or ``1``;
- ``predictions.csv``: the test rows with the real and the predicted fare;
- ``score.txt``: a human-readable report.
"""

import argparse
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import pandas as pd
from mlflow.tracking import MlflowClient
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

TARGET_COL = "fare_amount"


def parse_args():
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model_name", required=True, help="name of the registered model")
    parser.add_argument("--model_input", required=True, help="folder holding the MLflow model")
    parser.add_argument("--test_data", required=True, help="folder holding the test set")
    parser.add_argument("--evaluation_output", required=True, help="output folder of the results")
    return parser.parse_args()


def registered_r2(model_name, X, y):
    """Return the R² on ``X``/``y`` of every registered version of ``model_name``, by version."""
    scores = {}
    for version in MlflowClient().search_model_versions(f"name='{model_name}'"):
        model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version.version}")
        scores[int(version.version)] = r2_score(y, model.predict(X))
    return dict(sorted(scores.items()))


def main():
    """Score the candidate, compare it with the registered versions, write the results."""
    args = parse_args()
    print(f"Model name: {args.model_name}")
    print(f"Model input: {args.model_input}")
    print(f"Test data: {args.test_data}")
    print(f"Evaluation output: {args.evaluation_output}")

    test = pd.read_parquet(Path(args.test_data) / "data.parquet")
    X, y = test.drop(columns=[TARGET_COL]), test[TARGET_COL]

    model = mlflow.sklearn.load_model(args.model_input)
    yhat = model.predict(X)
    metrics = {
        "test_r2": r2_score(y, yhat),
        "test_rmse": mean_squared_error(y, yhat) ** 0.5,
        "test_mae": mean_absolute_error(y, yhat),
    }
    report = [f"Candidate model: {model}", f"Test rows: {len(X)}"]
    report += [f"{key}: {value:.4f}" for key, value in metrics.items()]

    with mlflow.start_run():
        mlflow.log_metrics(metrics)
        registered = registered_r2(args.model_name, X, y)
        deploy_flag = int(all(metrics["test_r2"] > r2 for r2 in registered.values()))
        mlflow.log_metric("deploy_flag", deploy_flag)

    if registered:
        report += [f"{args.model_name} v{v} test_r2: {r2:.4f}" for v, r2 in registered.items()]
    else:
        report.append(f"No version of {args.model_name} is registered yet")
    report.append(f"Deploy flag: {deploy_flag}")
    for line in report:
        print(line)

    output = Path(args.evaluation_output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "deploy_flag").write_text(str(deploy_flag))
    (output / "score.txt").write_text("\n".join(report) + "\n")
    X.assign(real_label=y, predicted_label=yhat).to_csv(output / "predictions.csv", index=False)


if __name__ == "__main__":
    main()
