"""One artifact round trip through a tracking server's `mlflow-artifacts` proxy with the real
`mlflow` client: log FILE as a run artifact, download it back, check it byte for byte (blake2b),
and print one JSON line with the timings.

    python client.py --url http://127.0.0.1:PORT --file FILE --label LABEL
"""

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time

import mlflow
from mlflow import MlflowClient


def digest(path):
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--label", required=True)
    args = ap.parse_args()
    mlflow.set_tracking_uri(args.url)
    client = MlflowClient()
    exp = client.create_experiment(f"artifacts-{args.label}-{time.time_ns()}")
    run = client.create_run(exp)
    size = os.path.getsize(args.file)
    want = digest(args.file)

    t0 = time.perf_counter()
    client.log_artifact(run.info.run_id, args.file, artifact_path="big")
    upload = time.perf_counter() - t0

    dest = tempfile.mkdtemp(prefix="dl-", dir=os.path.dirname(os.path.abspath(args.file)))
    try:
        t0 = time.perf_counter()
        got = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id,
            artifact_path=f"big/{os.path.basename(args.file)}",
            dst_path=dest,
        )
        download = time.perf_counter() - t0
        ok = os.path.getsize(got) == size and digest(got) == want
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    print(json.dumps({
        "label": args.label,
        "bytes": size,
        "upload_s": round(upload, 3),
        "download_s": round(download, 3),
        "upload_mb_s": round(size / upload / 1e6, 1),
        "download_mb_s": round(size / download / 1e6, 1),
        "identical": ok,
        "mlflow": mlflow.__version__,
    }))
    if not ok:
        raise SystemExit("the downloaded file differs from the uploaded one")


if __name__ == "__main__":
    main()
