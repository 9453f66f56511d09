"""Train a random forest that predicts the taxi fare.

Reads the train set (``data.parquet`` in ``--train_data``), fits a
``RandomForestRegressor`` on every column but ``fare_amount``, logs its
parameters and training scores to MLflow, and writes the model in MLflow's
format (scikit-learn flavor) into ``--model_output``. The model is also logged
to the step's run, so it shows up in the MLflow UI.
"""

import argparse
from pathlib import Path

import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

TARGET_COL = "fare_amount"

# The forest runs on one thread (scikit-learn's default): with several, the
# trees' predictions are summed in whatever order the threads finish, and the
# last digits of a prediction change from one call to the next. evaluate.py
# needs exact scores: a candidate identical to a registered version must score
# exactly the same, not better by rounding noise.
PARAMS = {"n_estimators": 100, "max_depth": 10, "random_state": 42}

# MLflow 3 names a logged model with `name` and warns that `artifact_path` is
# deprecated; MLflow 2 only knows `artifact_path`.
MODEL_NAME_ARG = "name" if int(mlflow.__version__.split(".")[0]) >= 3 else "artifact_path"

# Recent MLflow releases save scikit-learn models with skops, and refuse a model
# holding a type that skops does not trust by default unless it is listed here:
# a random forest's trees are such a type. Releases without skops pickle the
# model and have no such argument.
SERIALIZATION_ARGS = (
    {"skops_trusted_types": ["sklearn.tree._tree.Tree"]}
    if hasattr(mlflow.sklearn, "SERIALIZATION_FORMAT_SKOPS")
    else {}
)


def parse_args():
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train_data", required=True, help="folder holding the train set")
    parser.add_argument("--model_output", required=True, help="output folder of the MLflow model")
    return parser.parse_args()


def main():
    """Fit the model on the train set, log it to MLflow and save it to the output folder."""
    args = parse_args()
    print(f"Train data: {args.train_data}")
    print(f"Model output: {args.model_output}")

    train = pd.read_parquet(Path(args.train_data) / "data.parquet")
    X, y = train.drop(columns=[TARGET_COL]), train[TARGET_COL]
    print(f"Training on {len(X)} rows and {X.shape[1]} features: {', '.join(X.columns)}")

    model = RandomForestRegressor(**PARAMS).fit(X, y)
    yhat = model.predict(X)
    metrics = {
        "train_r2": r2_score(y, yhat),
        "train_rmse": mean_squared_error(y, yhat) ** 0.5,
        "train_mae": mean_absolute_error(y, yhat),
    }
    for key, value in metrics.items():
        print(f"{key}: {value:.4f}")

    signature = infer_signature(X, yhat)
    with mlflow.start_run():
        mlflow.log_params({**PARAMS, "train_rows": len(X), "features": X.shape[1]})
        mlflow.log_metrics(metrics)
        # The output folder exists and is empty; save_model accepts that (not a non-empty one).
        mlflow.sklearn.save_model(
            model, path=args.model_output, signature=signature, **SERIALIZATION_ARGS
        )
        mlflow.sklearn.log_model(
            model, signature=signature, **SERIALIZATION_ARGS, **{MODEL_NAME_ARG: "model"}
        )
    print(f"Saved the model to {args.model_output}")


if __name__ == "__main__":
    main()
