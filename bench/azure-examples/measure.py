#!/usr/bin/env python3
"""How much of a checkout of Azure/azureml-examples Sluice accepts.

Usage: measure.py SLUICE_BINARY EXAMPLES_DIR [--run] [--json OUT]

For every YAML file under EXAMPLES_DIR/cli/{jobs/basics,jobs/single-step,jobs/pipelines,
jobs/pipelines-with-components,jobs/parallel,assets}, decides what it is (job, component, environment, data,
model, or something else), leaves out the kinds Sluice does not run (AutoML, Spark, fine-tuning,
data import, endpoints and deployments), and asks Sluice about the rest in a
fresh workspace of its own:

- jobs: `sluice job validate -f FILE`;
- components: `sluice component create -f FILE`;
- environments: `sluice environment create -f FILE`;
- data: `sluice data create -f FILE`;
- models: `sluice model create -f FILE`.

A file that parses but names a remote URL or an asset its README registers by hand first is
counted apart (`remote`, `unregistered`) from one Sluice refuses (`fail`); so is a refused file
that names a file missing from the checkout (`missing`) or is written in the 2021 preview schema
that Azure's GA CLI refuses too (`preview`, recognised by its forms; see PREVIEW).

Prints one line per file (ok / fail / skipped, and the first line of the error) and the counts
per folder and kind. The examples are read where they are; nothing is copied into this
repository.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

FOLDERS = [
    "cli/jobs/basics",
    "cli/jobs/single-step",
    "cli/jobs/pipelines",
    "cli/jobs/pipelines-with-components",
    "cli/jobs/parallel",
    "cli/assets",
]
OUT_OF_SCOPE_TYPES = {"automl", "spark", "import", "data_transfer", "finetuning", "distillation"}
OUT_OF_SCOPE_PATH = re.compile(r"automl|spark|finetun|fine-tun|import|endpoint|deployment|distill|flow_in_pipeline", re.I)


def top_level(text):
    """A shallow reading of top-level `key: value` lines (enough to classify a file)."""
    keys = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_$][\w$-]*)\s*:\s*(.*?)\s*(#.*)?$", line)
        if m:
            keys.setdefault(m.group(1), m.group(2).strip("'\""))
    return keys


def nested_types(text):
    return set(re.findall(r"^\s+type:\s*['\"]?(\w+)", text, re.M))


def classify(path, text):
    keys = top_level(text)
    schema = keys.get("$schema", "").lower()
    ty = keys.get("type", "").lower()
    rel = str(path)
    if OUT_OF_SCOPE_PATH.search(rel):
        return "out-of-scope", "path"
    if ty in OUT_OF_SCOPE_TYPES or nested_types(text) & OUT_OF_SCOPE_TYPES:
        return "out-of-scope", ty or "nested type"
    if "component" in schema or ty == "parallel":
        return "component", ty
    if "environment" in schema:
        return "environment", ty
    if "data.schema" in schema or "mltable" in schema:
        return "data", ty
    if "model.schema" in schema:
        return "model", ty
    if "job" in schema or ty == "sweep" or ty in ("pipeline", "command") and ("jobs" in keys or "command" in keys and "name" not in keys):
        return "job", ty
    if "compute" in schema or "datastore" in schema or "workspace" in schema or "connection" in schema or "registry" in schema or "schedule" in schema or "featurestore" in schema or "feature" in schema:
        return "other", schema.rsplit("/", 1)[-1]
    if "dependencies" in keys or "channels" in keys:
        return "conda", ""
    if ty in ("command", "pipeline") and "name" in keys:
        return "component", ty
    if "conda_file" in keys or "image" in keys or "build" in keys:
        return "environment", ""
    if ty in ("uri_file", "uri_folder", "mltable") and "path" in keys:
        return "data", ty
    if ty in ("mlflow_model", "custom_model", "triton_model"):
        return "model", ty
    return "other", ty


# Forms of the 2021 preview schema that Azure ML's GA CLI no longer takes either: `code:
# {local_path: ...}`, `type: path`, `docker:` and `model_uri:` at the top of an asset, `dataset:`/`file:`/`folder:` inputs,
# `type: component` steps, `.spec.yaml` component specs. (`${{jobs.X.outputs.y}}` without `parent.` is
# read as the sibling's output.)
PREVIEW = re.compile(
    r"^model_uri:|^docker:|local_path:|^\s+type:\s*path\s*$|^\s+(dataset|file|folder):\s|^\s+type:\s*component\s*$|\$schema:.*CommandComponent\.json|^\s*amlEnvironment:",
    re.M,
)


def referenced_text(path, text):
    """The text of the component files a job refers to (`component: ./x.yml`)."""
    out = []
    for m in re.finditer(r"component:\s*(?:file:)?(\.{0,2}/?[\w./-]+\.ya?ml)", text):
        p = path.parent / m.group(1)
        if p.is_file():
            out.append(p.read_text(errors="replace"))
    return "\n".join(out)


COMMANDS = {
    "job": ["job", "validate", "-f"],
    "component": ["component", "create", "-f"],
    "environment": ["environment", "create", "-f"],
    "data": ["data", "create", "-f"],
    "model": ["model", "create", "-f"],
}


def run(sluice, args, cwd, ws):
    env = dict(os.environ, NO_COLOR="1", SLUICE_WORKSPACE=str(ws))
    p = subprocess.run([sluice, *args, "-o", "none"], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stderr


def main():
    sluice, root = str(Path(sys.argv[1]).resolve()), Path(sys.argv[2])
    out_json = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    results = []
    for folder in FOLDERS:
        base = root / folder
        for path in sorted(list(base.rglob("*.yml")) + list(base.rglob("*.yaml"))):
            text = path.read_text(errors="replace")
            kind, detail = classify(path.relative_to(root), text)
            rel = str(path.relative_to(root))
            if kind not in COMMANDS:
                results.append({"file": rel, "folder": folder, "kind": kind, "status": "skipped", "detail": detail})
                continue
            with tempfile.TemporaryDirectory() as tmp:
                ws = Path(tmp) / ".sluice"
                code, err = run(sluice, [*COMMANDS[kind], str(path)], path.parent, ws)
            first = next((l for l in err.splitlines() if l.startswith("error")), err.strip().splitlines()[0] if err.strip() else "")
            status = "ok" if code == 0 else "fail"
            if code != 0 and PREVIEW.search(text + referenced_text(path, text)):
                status = "preview"
            elif code != 0 and re.search(r"remote data|not reachable offline|is not a local path", first):
                status = "remote"
            elif code != 0 and re.search(r"is not registered|does not exist|not found", first) and re.search(r"azureml:|asset|environment `|model `|component `", first):
                status = "unregistered"
            elif code != 0 and re.search(r"does not exist|No such file|no `MLmodel` file", first):
                status = "missing"
            results.append({"file": rel, "folder": folder, "kind": kind, "status": status, "exit": code, "error": "" if code == 0 else first})
    for r in results:
        print(f"{r['status']:8} {r['kind']:12} {r['file']}  {r.get('error') or r.get('detail') or ''}")
    counts = defaultdict(Counter)
    for r in results:
        counts[(r["folder"], r["kind"])][r["status"]] += 1
    print()
    cols = ["ok", "remote", "unregistered", "missing", "preview", "fail", "skipped"]
    print(f"{'folder':40} {'kind':12} " + " ".join(f"{c:>12}" for c in cols))
    total = Counter()
    for (folder, kind), c in sorted(counts.items()):
        print(f"{folder:40} {kind:12} " + " ".join(f"{c[k]:>12}" for k in cols))
        total.update(c)
    print(f"{'all':40} {'':12} " + " ".join(f"{total[k]:>12}" for k in cols))
    print("ok: accepted; remote: parses, but reads data from the network; unregistered: parses, but names an asset "
          "the example registers by hand first; missing: a file it names is not in the checkout; preview: written in "
          "the pre-GA preview schema; fail: refused; skipped: out of scope or not a job/asset file")
    if out_json:
        Path(out_json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
