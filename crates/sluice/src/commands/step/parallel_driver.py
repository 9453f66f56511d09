"""Runs an Azure ML parallel job's entry script (task `run_function`) over mini-batches.

Written to a temporary folder and started by `sluice step parallel-run`, with the path of a
JSON plan (what to split, how, and the job's settings). Each worker process imports the entry
script from the working folder (the task's `code`), with `sys.argv` set to the task's
`program_arguments`, and calls its `init()` once; then `run(mini_batch)` (or
`run(mini_batch, mini_batch_context)`) per mini-batch: a list of file paths for a folder, a
pandas DataFrame for an mltable. A mini-batch that raises, exits its worker or outlives
`timeout` seconds is tried again up to `max_retries` times, then counts as failed, with its
items (files or rows), against `mini_batch_error_threshold` and `error_threshold` (-1: no
limit). What `run()` returns (a list: one line per item; a DataFrame: one line per row, values
separated by spaces) is appended to `append_row_to` in mini-batch order.

Exit codes: 0 when the job completed (failures within the thresholds), 1 when a threshold was
passed, `init()` failed or the entry script cannot be loaded, 2 for a plan that cannot be read.
"""

import collections
import importlib.util
import inspect
import json
import multiprocessing
import multiprocessing.connection
import os
import sys
import time
import traceback


def log(message):
    print(f"[parallel] {message}", flush=True)


class MiniBatchContext:
    """What Azure passes as `mini_batch_context`."""

    def __init__(self, index, partition_key_value):
        self.minibatch_index = index
        self.partition_key_value = partition_key_value or {}
        self.dataset = None
        self.global_row_index_lower_bound = 0


def load_entry(plan):
    sys.argv = [plan["entry_script"]] + plan["program_args"]
    here = os.getcwd()
    for folder in (here, plan.get("support_dir")):
        if folder and folder not in sys.path:
            sys.path.insert(0, folder)
    path = os.path.join(here, plan["entry_script"])
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the entry script {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered, so that what it defines pickles (results travel back to the driver).
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise RuntimeError(f"the entry script {plan['entry_script']} has no run() function")
    return module


def takes_context(run):
    try:
        params = inspect.signature(run).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def worker(conn, plan):
    # Its prints reach the step's log line by line, even when a timeout kills it.
    sys.stdout.reconfigure(line_buffering=True)
    try:
        entry = load_entry(plan)
        if callable(getattr(entry, "init", None)):
            entry.init()
    except BaseException:
        conn.send(("init", False, traceback.format_exc()))
        return
    conn.send(("init", True, None))
    with_context = takes_context(entry.run)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            break
        index, batch, keys = task
        try:
            if with_context:
                result = entry.run(batch, MiniBatchContext(index, keys))
            else:
                result = entry.run(batch)
            conn.send(("done", index, True, result, None))
        except BaseException:
            conn.send(("done", index, False, None, traceback.format_exc()))
    if callable(getattr(entry, "shutdown", None)):
        entry.shutdown()


def read_table(plan):
    """The table an MLTable file describes, its transformations applied, and how many rows its
    files held before them."""
    import pandas as pd

    frames = []
    names = None  # the first file's columns, which `from_first_file` gives the others
    header = plan.get("header", "all")
    fmt = plan.get("format", "delimited")
    # As MLTable reads: only an empty field is null (unless `empty_as_string`), not "NA".
    na = [] if plan.get("empty_as_string") else [""]
    for k, path in enumerate(plan["files"]):
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        elif fmt == "json_lines":
            frame = read_json_lines(path, plan)
        else:
            # `from_first_file`: only the first file has a header; the others take its names.
            first_only = header == "first" and k > 0
            frame = pd.read_csv(
                path,
                sep=plan.get("delimiter") or ",",
                header=None if header == "none" or first_only else 0,
                names=names if first_only else None,
                encoding=plan.get("encoding") or "utf-8",
                keep_default_na=False,
                na_values=na,
            )
        if names is None:
            names = list(frame.columns)
        if plan.get("include_path_column"):
            frame["Path"] = path
        for name, value in partition_columns(plan, path).items():
            frame[name] = value
        frames.append(frame)
    if not frames:
        return pd.DataFrame(), 0
    table = pd.concat(frames, ignore_index=True)
    rows = len(table)
    for name, options in plan.get("transforms", []):
        table = transform(table, name, options)
    return table.reset_index(drop=True), rows


def read_json_lines(path, plan):
    import pandas as pd

    records = []
    with open(path, encoding=plan.get("encoding") or "utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                if plan.get("invalid_lines") == "drop":
                    continue
                raise SystemExit(f"{path}:{n}: not a JSON line ({e}); `invalid_lines: drop` skips such lines")
    return pd.DataFrame.from_records(records)


PARTITION_PARTS = {"yyyy": r"\d{4}", "MM": r"\d{2}", "dd": r"\d{2}", "HH": r"\d{2}", "mm": r"\d{2}", "ss": r"\d{2}"}


def partition_columns(plan, path):
    """The columns `extract_columns_from_partition_format` reads from a file's path: `{name}` a
    string, `{name:yyyy/MM/dd/HH/mm/ss}` (any leading part of it) a date and time."""
    import re

    import pandas as pd

    fmt = plan.get("partition_format")
    if not fmt:
        return {}
    pattern, dates, k = "", {}, 0
    for literal, field in re.findall(r"([^{]*)(?:\{([^}]*)\})?", fmt):
        pattern += re.escape(literal)
        if not field:
            continue
        name, _, layout = field.partition(":")
        if not layout:
            pattern += f"(?P<g{k}>[^/]+)"
            dates[f"g{k}"] = (name, None)
        else:
            parts = []
            for token in re.split(r"([^A-Za-z]+)", layout):
                if token in PARTITION_PARTS:
                    parts.append(f"(?P<g{k}_{token}>{PARTITION_PARTS[token]})")
                else:
                    parts.append(re.escape(token))
            pattern += "".join(parts)
            dates[f"g{k}"] = (name, layout)
        k += 1
    m = re.search(pattern + "$", path.replace(os.sep, "/"))
    if not m:
        raise SystemExit(f"extract_columns_from_partition_format: `{fmt}` does not match the path {path}")
    out = {}
    for group, (name, layout) in dates.items():
        if layout is None:
            out[name] = m.group(group)
            continue
        got = {t: int(m.group(f"{group}_{t}")) for t in PARTITION_PARTS if f"{group}_{t}" in m.groupdict()}
        out[name] = pd.Timestamp(
            year=got.get("yyyy", 1), month=got.get("MM", 1), day=got.get("dd", 1),
            hour=got.get("HH", 0), minute=got.get("mm", 0), second=got.get("ss", 0),
        )
    return out


def column_list(options):
    return [options] if isinstance(options, str) else list(options or [])


def transform(table, name, options):
    """One of MLTable's transformations (after reading), in the order the file lists them."""
    import re

    import pandas as pd

    if name in ("take", "skip", "take_random_sample", "filter", "drop_columns", "keep_columns", "convert_column_types") and options is None:
        raise SystemExit(f"the MLTable transformation `{name}` needs a value (e.g. `- {name}: ...`)")
    if name == "take":
        return table.head(int(options))
    if name == "skip":
        return table.iloc[int(options):]
    if name == "take_random_sample":
        import numpy as np

        p = float(options.get("probability", 1.0))
        seed = options.get("seed")
        rng = np.random.default_rng(None if seed is None else abs(int(seed)))
        return table[rng.random(len(table)) < p]
    if name in ("drop_columns", "keep_columns"):
        columns = column_list(options)
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise SystemExit(f"{name}: {missing} are not columns of the data ({list(table.columns)})")
        return table.drop(columns=columns) if name == "drop_columns" else table[columns]
    if name == "filter":
        # MLTable's `col("name")` read as a column; `and`, `or`, `not` and comparisons as pandas
        # reads them.
        expression = re.sub(r"""col\(\s*(['"])(.*?)\1\s*\)""", lambda m: "`" + m.group(2) + "`", str(options))
        try:
            mask = table.eval(expression, engine="python")
        except Exception as e:
            raise SystemExit(f"filter `{options}`: {e}")
        # A comparison with a missing value (a nullable column) keeps no row, as in MLTable.
        mask = pd.Series(mask, index=table.index).astype("boolean").fillna(False).astype(bool)
        return table[mask]
    if name == "convert_column_types":
        table = table.copy()
        for spec in options:
            for column in column_list(spec.get("columns")):
                if column not in table.columns:
                    raise SystemExit(f"convert_column_types: `{column}` is not a column of the data ({list(table.columns)})")
                table[column] = convert(table[column], spec.get("column_type"), column)
        return table
    raise SystemExit(f"the MLTable transformation `{name}` is not known")


def convert(series, column_type, column):
    import pandas as pd

    kind, options = (column_type, {}) if isinstance(column_type, str) else next(iter((column_type or {}).items()), ("", {}))
    options = options or {}
    if kind == "int":
        numbers = pd.to_numeric(series, errors="coerce")
        if (numbers.dropna() % 1 != 0).any():
            raise SystemExit(f"convert_column_types: column `{column}` holds numbers that are not whole; convert it to `float`")
        return numbers.astype("Int64")
    if kind == "float":
        return pd.to_numeric(series, errors="coerce").astype(float)
    if kind == "string":
        return series.astype("string")
    if kind == "boolean":
        true_values = [str(v).lower() for v in options.get("true_values", ["true", "1", "yes"])]
        false_values = [str(v).lower() for v in options.get("false_values", ["false", "0", "no"])]
        # YAML reads an unquoted `true` as a boolean.
        mismatch = str(options.get("mismatch_as", "error")).lower()

        def one(value):
            if pd.isna(value):
                return None
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            text = str(value).lower()
            if text in true_values:
                return True
            if text in false_values:
                return False
            if mismatch == "true":
                return True
            if mismatch == "false":
                return False
            if mismatch == "error":
                raise SystemExit(f"convert_column_types: `{value}` in column `{column}` is neither true nor false")
            return None

        return series.map(one).astype("boolean")
    if kind == "datetime":
        formats = options.get("formats") or [None]
        for fmt in formats:
            try:
                return pd.to_datetime(series, format=fmt)
            except (ValueError, TypeError):
                continue
        raise SystemExit(f"convert_column_types: column `{column}` does not read as a date with {formats}")
    raise SystemExit(f"convert_column_types: `{kind}` is not a column type (int, float, string, boolean, datetime)")


def mini_batches(plan):
    """(index, batch, partition key values, items) of every mini-batch."""
    if plan["kind"] == "files":
        n = plan["mini_batch_size"]
        files = plan["files"]
        return [(i, files[k : k + n], None, len(files[k : k + n])) for i, k in enumerate(range(0, len(files), n))]
    table, read_rows = read_table(plan)
    keys = plan["partition_keys"]
    if keys:
        missing = [k for k in keys if k not in table.columns]
        if missing:
            raise SystemExit(f"partition_keys {missing} are not columns of the data ({list(table.columns)})")
        out = []
        for i, (values, frame) in enumerate(table.groupby(keys, sort=True, dropna=False)):
            if not isinstance(values, tuple):
                values = (values,)
            plain = [v.item() if hasattr(v, "item") else v for v in values]
            out.append((i, frame.reset_index(drop=True), dict(zip(keys, plain)), len(frame)))
        return out
    rows = len(table)
    size = sum(os.path.getsize(f) for f in plan["files"])
    # The size of a row as read (the transformations may have left out rows, not made them larger).
    per_row = max(1.0, size / max(read_rows, 1))
    n = max(1, int(plan["mini_batch_size"] // per_row))
    return [(i, table.iloc[k : k + n].reset_index(drop=True), None, len(table.iloc[k : k + n])) for i, k in enumerate(range(0, rows, n))]


def is_frame(result):
    return hasattr(result, "to_csv") and hasattr(result, "columns")


def as_items(result):
    """A result as a frame or a list (numpy arrays and pandas series by their items)."""
    if result is None or is_frame(result):
        return result
    if hasattr(result, "tolist") and not isinstance(result, (str, bytes)):
        result = result.tolist()
    if isinstance(result, (list, tuple)):
        return list(result)
    return [result]


def returned(result):
    """How many items a mini-batch's result holds (Azure counts the missing ones as failed)."""
    return 0 if result is None else len(result)


def lines_of(result):
    if result is None:
        return []
    if is_frame(result):
        return result.to_csv(sep=" ", header=False, index=False).splitlines()
    return [str(item) for item in result]


def program_option(args, name, cast):
    """The value of `--name VALUE` (or `--name=VALUE`) in the task's program arguments."""
    for i, arg in enumerate(args):
        if arg == f"--{name}" and i + 1 < len(args):
            try:
                return cast(args[i + 1])
            except ValueError:
                return None
        if arg.startswith(f"--{name}="):
            try:
                return cast(arg.split("=", 1)[1])
            except ValueError:
                return None
    return None


def main():
    try:
        with open(sys.argv[1]) as f:
            plan = json.load(f)
    except (OSError, IndexError, ValueError) as e:
        print(f"cannot read the plan: {e}", file=sys.stderr)
        return 2
    # For the stand-in of Azure's `EntryScript` (its logger's level, its folders).
    os.environ["SLUICE_PARALLEL_LOGGING_LEVEL"] = plan.get("logging_level") or "INFO"
    if plan.get("support_dir"):
        os.environ["SLUICE_PARALLEL_DIR"] = plan["support_dir"]
    batches = mini_batches(plan)
    what = "files" if plan["kind"] == "files" else "rows"
    total_items = sum(b[3] for b in batches)
    workers = max(1, min(plan["workers"], len(batches) or 1))
    log(f"{len(batches)} mini-batches of {total_items} {what}; {workers} worker(s)")
    ctx = multiprocessing.get_context("fork")

    def start():
        here, there = ctx.Pipe()
        # Not a daemon: an entry script may start processes of its own (a pool, data loaders).
        proc = ctx.Process(target=worker, args=(there, plan))
        proc.start()
        there.close()
        return {"proc": proc, "conn": here, "task": None, "ready": False}

    pool = [start() for _ in range(workers)] if batches else []
    todo = collections.deque(batches)
    attempts = collections.Counter()
    results = {}
    failed = {}
    failed_items = 0
    aborted = None
    max_retries, timeout = plan["max_retries"], plan["timeout"]
    # Azure's runner reads some of its settings from the task's program arguments too.
    args = plan["program_args"]
    error_threshold = program_option(args, "error_threshold", int)
    if error_threshold is not None:
        plan["error_threshold"] = error_threshold
    allowed_percent = program_option(args, "allowed_failed_percent", float)
    unapplied = [
        n
        for n in ("task_overhead_timeout", "progress_update_timeout", "first_task_creation_timeout", "resource_monitor_interval")
        if program_option(args, n, str) is not None
    ]
    if unapplied:
        log("not applied here: " + ", ".join(f"--{n}" for n in unapplied))

    def over_limits():
        if plan["error_threshold"] >= 0 and failed_items > plan["error_threshold"]:
            return f"{failed_items} {what} failed, more than error_threshold ({plan['error_threshold']})"
        if allowed_percent is not None and total_items and failed_items * 100.0 / total_items > allowed_percent:
            return f"{failed_items} of {total_items} {what} failed, more than allowed_failed_percent ({allowed_percent:g}%)"
        return None

    def failure(batch, why):
        nonlocal failed_items, aborted
        index = batch[0]
        log(f"mini-batch {index + 1} failed (attempt {attempts[index]} of {max_retries + 1}): {why.strip()}")
        if attempts[index] <= max_retries:
            todo.append(batch)
            return
        failed[index] = why
        failed_items += batch[3]
        if plan["mini_batch_error_threshold"] >= 0 and len(failed) > plan["mini_batch_error_threshold"]:
            aborted = f"{len(failed)} mini-batches failed, more than mini_batch_error_threshold ({plan['mini_batch_error_threshold']})"
        else:
            aborted = over_limits()

    while aborted is None and (todo or any(w["task"] for w in pool)):
        for w in pool:
            if w["ready"] and w["task"] is None and todo:
                batch = todo.popleft()
                attempts[batch[0]] += 1
                w["task"] = (batch, time.monotonic())
                try:
                    w["conn"].send(batch[:3])
                except (OSError, ValueError):
                    # It died while idle: the read below finds it gone and retries the batch.
                    pass
        ready = multiprocessing.connection.wait([w["conn"] for w in pool], timeout=0.2)
        for i, w in enumerate(pool):
            if w["conn"] not in ready:
                continue
            try:
                message = w["conn"].recv()
            except (EOFError, OSError):
                task = w["task"]
                w["proc"].join(1)
                code = w["proc"].exitcode
                if not w["ready"]:
                    aborted = f"a worker exited (code {code}) while loading the entry script"
                    break
                pool[i] = start()
                if task:
                    failure(task[0], f"its worker exited (code {code})")
                continue
            if message[0] == "init":
                if not message[1]:
                    print(message[2], file=sys.stderr)
                    aborted = "init() of the entry script failed (above)"
                    break
                w["ready"] = True
                continue
            _, index, ok, result, error = message
            batch = w["task"][0]
            w["task"] = None
            if ok:
                result = as_items(result)
                results[index] = result
                short = batch[3] - returned(result)
                if short > 0:
                    # Azure counts the items a mini-batch returned nothing for as failed.
                    failed_items += short
                    log(f"mini-batch {index + 1} returned {returned(result)} result(s) for {batch[3]} {what}: {short} counted as failed")
                    aborted = aborted or over_limits()
                log(f"mini-batch {index + 1} of {len(batches)} done ({len(results)} done)")
            else:
                failure(batch, error)
        now = time.monotonic()
        for i, w in enumerate(pool):
            # A result waiting to be read is not a timeout.
            if w["task"] and now - w["task"][1] > timeout and not w["conn"].poll():
                batch = w["task"][0]
                w["proc"].kill()
                w["proc"].join(1)
                pool[i] = start()
                failure(batch, f"run() took more than retry_settings.timeout ({timeout} s)")

    for w in pool:
        if aborted and w["task"]:
            # Stopping: what is still running is not waited for.
            w["proc"].kill()
            continue
        try:
            w["conn"].send(None)
        except (OSError, ValueError):
            pass
    for w in pool:
        w["proc"].join(30)
        if w["proc"].is_alive():
            log(f"a worker (pid {w['proc'].pid}) did not end within 30 s of its last mini-batch (its shutdown()?); stopped")
            w["proc"].kill()
            w["proc"].join(5)
    if aborted:
        log(f"stopped: {aborted}")
        return 1
    target = plan.get("append_row_to")
    if target:
        if os.path.isdir(target):
            target = os.path.join(target, "parallel_run_step.txt")
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        with open(target, "w") as out:
            for index in sorted(results):
                for line in lines_of(results[index]):
                    out.write(line + "\n")
    log(f"{len(results)} of {len(batches)} mini-batches succeeded; {len(failed)} failed ({failed_items} {what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
