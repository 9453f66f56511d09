"""Register the trained model when the evaluation says it should be.

Reads the deploy flag that evaluate.py wrote. When it is 1, the model folder
(``--model_path``) is uploaded unchanged to the step's MLflow run, so the
registered version is byte for byte the model that was evaluated, and a new
version of ``--model_name`` is registered from it. When it is 0, nothing is
registered.

Writes ``model_info.json`` into ``--model_info_output_path``:
``{"id": "<name>:<version>"}``, or ``{"id": null}`` when nothing was registered.
"""

import argparse
import json
from pathlib import Path

import mlflow

# Where the model folder goes in the run's artifacts.
ARTIFACT_PATH = "model"


def parse_args():
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model_name", required=True, help="name to register the model under")
    parser.add_argument("--model_path", required=True, help="folder holding the MLflow model")
    parser.add_argument(
        "--evaluation_output", required=True, help="folder holding evaluate.py's deploy_flag"
    )
    parser.add_argument(
        "--model_info_output_path", required=True, help="output folder of model_info.json"
    )
    return parser.parse_args()


def read_deploy_flag(evaluation_output):
    """Return the deploy flag written by evaluate.py: 0 or 1."""
    text = (Path(evaluation_output) / "deploy_flag").read_text().strip()
    if text not in ("0", "1"):
        raise ValueError(f"deploy_flag must be 0 or 1, found {text!r}")
    return int(text)


def main():
    """Register the model if the deploy flag is 1; write model_info.json either way."""
    args = parse_args()
    print(f"Model name: {args.model_name}")
    print(f"Model path: {args.model_path}")
    print(f"Evaluation output: {args.evaluation_output}")

    deploy_flag = read_deploy_flag(args.evaluation_output)
    print(f"Deploy flag: {deploy_flag}")

    model_id = None
    with mlflow.start_run() as run:
        mlflow.log_metric("deploy_flag", deploy_flag)
        if deploy_flag == 1:
            mlflow.log_artifacts(args.model_path, artifact_path=ARTIFACT_PATH)
            model_uri = f"runs:/{run.info.run_id}/{ARTIFACT_PATH}"
            version = mlflow.register_model(model_uri, args.model_name)
            model_id = f"{version.name}:{version.version}"
            print(f"Registered {model_uri} as {model_id}")
        else:
            print(f"The model is not better than the registered ones: {args.model_name} unchanged")

    output = Path(args.model_info_output_path)
    output.mkdir(parents=True, exist_ok=True)
    (output / "model_info.json").write_text(json.dumps({"id": model_id}) + "\n")
    print(f"Wrote {output / 'model_info.json'}")


if __name__ == "__main__":
    main()
