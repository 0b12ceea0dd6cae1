#!/usr/bin/env python
"""Training on data bigger than memory: Census-shaped CSV streamed with `StreamingCsvDataset`.

Shows that reading and training memory does not depend on the size of the
files. For each size in `--rows` (training rows), with every measurement
in its own fresh child process so that its peak RSS is its own:

1. **data** (cached under `--data-root`, generated once): a Census-shaped
   dataset with the 39 feature columns of `zoo.data.sources.census_income`'s
   `all-features` protocol (task group 1), under the same names. Every
   column is drawn independently from its marginal in the shipped training
   file (`datasets/census-income/census-income.data.gz`): categorical
   columns from the real vocabulary with the real frequencies, numeric
   columns from the real values with their frequencies (so `capital_gains`
   is 0 on 96% of the rows, as there). Two 0/1 labels, `income` and
   `never_married`, come from a logistic rule on a few features
   (`LABEL_RULES`), so the model has something to learn and the best
   possible AUC is known (the AUC of the true probabilities, on test).
   Rows are formatted by vectorized numpy (each value's bytes looked up
   from a table, padding dropped with `np.compress`), in chunks of
   `--chunk-rows`, never holding more than a chunk per thread. Training
   rows go to shards of `--shard-rows` rows, `train-00000.csv`, ...;
   validation and test are files of `--eval-rows` rows. A size of N rows
   reads the first N / shard-rows shards, so the sizes share their shards
   and the largest size costs the disk space of all. Each file is written
   under a temporary name and renamed when whole, then entered in
   `manifest.json` (the marker written last): a file missing from the
   manifest, or of another length, is generated again.
2. **read** child: builds the `StreamingCsvDataset`, times its first pass
   (`make_preprocessor`: row count, label sums, vocabularies and
   statistics), then one full pass of
   `tf_dataset("train", preprocessor, batch_size, shuffle=True)`, the
   preprocessed, shuffled batches `fit` consumes.
3. **train** child: the same first pass, an MMoE (`census_models.py`'s
   architecture), `zoo.training.fit` for `--epochs` over the whole training
   split with validation on the validation file, then
   `zoo.training.evaluate` on test.

RSS: the RSS after imports (and after the model is built), and the peak
(VmHWM) of every stage, reset between stages. A watchdog kills a child past
`--max-rss-gb` or when the machine's available memory falls under 512 MB.
Finished measurements are kept in `<out>/streaming_census_runs/` and reused
by a later run with the same settings, so an interrupted run resumes. Writes
`streaming_census.json` and `streaming_census.md` under `--out`.

    python bench/streaming_census.py                  # 2M, 6M, 20M rows
    python bench/streaming_census.py --rows 200000 --shard-rows 100000 --no-xla
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402
from census_models import ARCHITECTURES  # noqa: E402

DEFAULT_ROWS = "2000000,6000000,20000000"
DEFAULT_DATA_ROOT = os.path.join(tempfile.gettempdir(), "zoo-streaming-census")
CENSUS_TRAIN_FILE = os.path.join(bu.REPO_ROOT, "datasets", "census-income", "census-income.data.gz")
# Bump when the generated rows change: the data folder's name carries it.
GENERATOR_VERSION = 1
MODEL = "mmoe"
TASKS = ("income", "never_married")
GZIP_LEVEL = 1
# Bytes per row before the first file is written (plain text); for the disk space check.
BYTES_PER_ROW_GUESS = {"plain": 450, "gzip": 60}
DEGREES = (
    "Bachelors degree(BA AB BS)",
    "Masters degree(MA MS MEng MEd MSW MBA)",
    "Prof school degree (MD DDS DVM LLB JD)",
    "Doctorate degree(PhD EdD)",
)
# label ~ Bernoulli(sigmoid(bias + sum of weight * term)); a term reads one column:
# "x" its value, "x > 0" whether it is positive, another string whether it is that value,
# a tuple whether it is one of those values.
LABEL_RULES = {
    "income": {
        "bias": -5.2,
        "terms": (
            ("weeks_worked", "x", 0.045),
            ("education", DEGREES, 1.5),
            ("sex", "Male", 0.7),
            ("capital_gains", "x > 0", 1.5),
            ("stock_dividends", "x > 0", 0.8),
        ),
    },
    "never_married": {
        "bias": 3.5,
        "terms": (("age", "x", -0.12), ("sex", "Male", 0.4)),
    },
}
MEMORY_FAILURES = ("memory guard", "MemoryError", "killed")


def rule_text(task):
    rule = LABEL_RULES[task]
    parts = [f"{rule['bias']:g}"]
    for column, term, weight in rule["terms"]:
        if term == "x":
            what = column
        elif term == "x > 0":
            what = f"[{column} > 0]"
        elif column == "education" and term == DEGREES:
            what = "[education ∈ Bachelors, Masters, Prof school, Doctorate]"
        elif isinstance(term, str):
            what = f"[{column} = {term}]"
        else:
            what = f"[{column} ∈ {', '.join(term)}]"
        parts.append(f"{'−' if weight < 0 else '+'} {abs(weight):g}·{what}")
    return f"`{task}` ~ Bernoulli(σ({' '.join(parts)}))"


# ---------------------------------------------------------------------------
# data: Census marginals, rows formatted by numpy, shards cached on disk
# ---------------------------------------------------------------------------


def data_dir_for(settings):
    name = (
        f"v{GENERATOR_VERSION}-seed{settings['seed']}-shard{settings['shard_rows']}"
        f"-eval{settings['eval_rows']}-{settings['compression']}"
    )
    return os.path.join(settings["data_root"], name)


def _suffix(compression):
    return ".csv.gz" if compression == "gzip" else ".csv"


def train_file_names(num_shards, compression):
    return [f"train-{i:05d}{_suffix(compression)}" for i in range(num_shards)]


def eval_file_name(split, compression):
    return split + _suffix(compression)


def read_manifest(data_dir):
    path = os.path.join(data_dir, "manifest.json")
    if not os.path.exists(path):
        return {"files": {}, "runs": []}
    with open(path) as f:
        return json.load(f)


def missing_files(data_dir, names):
    """The names not in the manifest, or whose file is absent or of another length."""
    files = read_manifest(data_dir)["files"]
    missing = []
    for name in names:
        path = os.path.join(data_dir, name)
        if name not in files or not os.path.exists(path):
            missing.append(name)
        elif os.path.getsize(path) != files[name]["bytes"]:
            missing.append(name)
    return missing


def census_columns(train_file):
    """The generated columns: name, values (str), probabilities, numeric or not.

    The 39 features of the all-features protocol (task group 1), each with
    its marginal in the shipped training file, most frequent value first.
    """
    import collections

    import numpy as np

    from zoo.data.formats.delimited_reader import read_columns
    from zoo.data.sources.census_income import schema as census_income

    raw, _ = read_columns(train_file, len(census_income.COLUMNS), census_income.DELIMITER)
    by_name = dict(zip(census_income.COLUMN_NAMES, raw))
    continuous = dict(census_income.COLUMNS)
    columns = []
    for name in census_income.feature_columns(1, "all-features"):
        counts = collections.Counter(by_name[name])
        values = sorted(counts, key=lambda v: (-counts[v], v))
        unsafe = [v for v in values if "," in v or '"' in v or "\n" in v]
        if unsafe:
            raise ValueError(f"Column {name!r}: values need CSV quoting: {unsafe[:3]}")
        frequency = np.array([counts[v] for v in values], np.float64)
        columns.append(
            {
                "name": name,
                "numeric": continuous[name],
                "values": values,
                "p": frequency / frequency.sum(),
            }
        )
    return columns


def _byte_table(values, separator):
    """`(words, len(values))` uint64: each value's UTF-8 bytes and separator, zero-padded.

    Column-major, so that one word of every sampled value is one 1-D `np.take`.
    """
    import numpy as np

    encoded = [v.encode() + separator for v in values]
    width = -(-max(map(len, encoded)) // 8) * 8
    table = np.zeros((len(encoded), width), np.uint8)
    for row, data in enumerate(encoded):
        table[row, : len(data)] = np.frombuffer(data, np.uint8)
    return np.ascontiguousarray(table.view(np.uint64).T)


def _term_table(values, term):
    """One label term's value for every value of its column."""
    import numpy as np

    if term == "x":
        return np.array([float(v) for v in values])
    if term == "x > 0":
        return np.array([float(v) > 0 for v in values], np.float64)
    if isinstance(term, str):
        return np.array([v == term for v in values], np.float64)
    return np.array([v in term for v in values], np.float64)


class RowGenerator:
    """Draws Census-shaped rows and formats them as CSV lines, a chunk at a time."""

    def __init__(self, columns):
        import numpy as np

        self.columns = columns
        self.cdfs = [np.cumsum(c["p"]) for c in columns]
        self.tables = [_byte_table(c["values"], b",") for c in columns]
        self.tables.append(_byte_table(["0", "1"], b","))  # income
        self.tables.append(_byte_table(["0", "1"], b"\n"))  # never_married, ends the line
        self.header = (",".join([c["name"] for c in columns] + list(TASKS)) + "\n").encode()
        index = {c["name"]: i for i, c in enumerate(columns)}
        self.rules = {}
        for task in TASKS:
            rule = LABEL_RULES[task]
            terms = [
                (index[column], weight * _term_table(columns[index[column]]["values"], term))
                for column, term, weight in rule["terms"]
            ]
            self.rules[task] = (rule["bias"], terms)

    def chunk(self, rng, rows):
        """`(csv_bytes, labels, probabilities)` of `rows` new rows.

        `csv_bytes` is a 1-D uint8 array: the lines, each ending in a newline.
        """
        import numpy as np

        codes = [
            np.minimum(np.searchsorted(cdf, rng.random(rows), side="right"), len(cdf) - 1)
            for cdf in self.cdfs
        ]
        labels, probabilities = {}, {}
        for task in TASKS:
            bias, terms = self.rules[task]
            logit = np.full(rows, bias)
            for column, values in terms:
                logit += values[codes[column]]
            probabilities[task] = 1.0 / (1.0 + np.exp(-logit))
            labels[task] = (rng.random(rows) < probabilities[task]).astype(np.int64)
            codes.append(labels[task])
        words = sum(t.shape[0] for t in self.tables)
        padded = np.empty((words, rows), np.uint64)  # (words per line, rows)
        at = 0
        for table, code in zip(self.tables, codes):
            for word in table:
                np.take(word, code, out=padded[at])
                at += 1
        lines = padded.T.copy().view(np.uint8).reshape(-1)  # (rows * words * 8,) line after line
        del padded
        # Values never hold a zero byte: the zeros are the padding.
        return np.compress(lines != 0, lines), labels, probabilities

    def write(self, path, rows, seed_key, chunk_rows, compression, keep_labels=False):
        """Writes `rows` rows (and the header) to `path`, whole or absent.

        Returns the file's entry for the manifest, with the label rates and,
        with `keep_labels`, the labels and probabilities.
        """
        import gzip

        import numpy as np

        started = time.perf_counter()
        rng = np.random.default_rng(seed_key)
        tmp = path + ".tmp"
        sums = dict.fromkeys(TASKS, 0)
        kept = {"labels": {t: [] for t in TASKS}, "p": {t: [] for t in TASKS}}
        opener = (
            gzip.open(tmp, "wb", compresslevel=GZIP_LEVEL)
            if compression == "gzip"
            else open(tmp, "wb")
        )
        with opener as f:
            f.write(self.header)
            for start in range(0, rows, chunk_rows):
                data, labels, probabilities = self.chunk(rng, min(chunk_rows, rows - start))
                f.write(data.data)
                for task in TASKS:
                    sums[task] += int(labels[task].sum())
                    if keep_labels:
                        kept["labels"][task].append(labels[task])
                        kept["p"][task].append(probabilities[task])
        os.replace(tmp, path)
        entry = {
            "rows": rows,
            "bytes": os.path.getsize(path),
            "seconds": round(time.perf_counter() - started, 2),
            "label_rates": {t: round(sums[t] / rows, 5) for t in TASKS},
        }
        if keep_labels:
            entry["_kept"] = {
                kind: {t: np.concatenate(parts[t]) for t in TASKS} for kind, parts in kept.items()
            }
        return entry


def generate(settings, num_shards, out_path):
    """Child: writes the files of `num_shards` training shards that are missing, and returns.

    Files are written by `settings["gen_threads"]` threads (numpy releases
    the GIL in `take`, `compress` and the writes), each file in chunks.
    """
    import concurrent.futures
    import threading

    data_dir = data_dir_for(settings)
    os.makedirs(data_dir, exist_ok=True)
    compression = settings["compression"]
    wanted = [eval_file_name(s, compression) for s in ("validation", "test")]
    wanted += train_file_names(num_shards, compression)
    todo = missing_files(data_dir, wanted)
    record = {"status": "ok", "files_written": todo, "rows_written": 0}
    if not todo:
        bu.write_json(out_path, record)
        return
    started = time.perf_counter()
    from zoo.metrics.ranking import roc_auc

    generator = RowGenerator(census_columns(settings["census_file"]))
    record["setup_s"] = round(time.perf_counter() - started, 2)
    manifest = read_manifest(data_dir)
    manifest["columns"] = generator.header.decode().strip().split(",")
    manifest["label_rules"] = {t: rule_text(t) for t in TASKS}
    lock = threading.Lock()
    seeds = {"validation": 1, "test": 2}

    def make(name):
        if name.startswith("train-"):
            rows, key = settings["shard_rows"], [settings["seed"], 0, int(name[6:11])]
        else:
            split = name.split(".")[0]
            rows, key = settings["eval_rows"], [settings["seed"], seeds[split]]
        entry = generator.write(
            os.path.join(data_dir, name),
            rows,
            key,
            settings["chunk_rows"],
            compression,
            keep_labels=name.startswith("test"),
        )
        kept = entry.pop("_kept", None)
        if kept:
            # The best AUC a model can reach: the true probabilities' own.
            entry["oracle_auc"] = {
                t: round(float(roc_auc(kept["labels"][t], kept["p"][t])), 5) for t in TASKS
            }
        with lock:
            manifest["files"][name] = entry
            bu.write_json(os.path.join(data_dir, "manifest.json"), manifest)
        return entry["rows"]

    gen_started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(settings["gen_threads"]) as pool:
        rows = sum(pool.map(make, todo))
    seconds = time.perf_counter() - gen_started
    record.update(
        rows_written=rows,
        seconds=round(seconds, 2),
        rows_per_second=round(rows / seconds),
        peak_rss_mb=round(bu.peak_rss_mb(), 1),
        threads=settings["gen_threads"],
        chunk_rows=settings["chunk_rows"],
        date=bu.utc_now(),
    )
    manifest["runs"].append({k: v for k, v in record.items() if k != "files_written"})
    bu.write_json(os.path.join(data_dir, "manifest.json"), manifest)
    bu.write_json(out_path, record)


def ensure_data(settings, num_shards, out_dir, timeout_s):
    """Generates the missing files (in a child) for `num_shards` shards; returns its record."""
    data_dir = data_dir_for(settings)
    compression = settings["compression"]
    names = [eval_file_name(s, compression) for s in ("validation", "test")]
    names += train_file_names(num_shards, compression)
    missing = missing_files(data_dir, names)
    if not missing:
        return {"status": "ok", "rows_written": 0, "files_written": []}
    files = read_manifest(data_dir)["files"]
    per_row = [e["bytes"] / e["rows"] for e in files.values()]
    bytes_per_row = max(per_row) if per_row else BYTES_PER_ROW_GUESS[compression]
    rows = sum(
        settings["shard_rows"] if n.startswith("train-") else settings["eval_rows"] for n in missing
    )
    needed = rows * bytes_per_row * 1.05 + 2**30
    os.makedirs(data_dir, exist_ok=True)
    free = shutil.disk_usage(data_dir).free
    if free < needed:
        return {
            "status": "failed",
            "failure": f"disk: {rows:,} rows need about {needed / 1e9:.1f} GB "
            f"(1 GB to spare included), {free / 1e9:.1f} GB free under {data_dir}",
        }
    fd, child_out = tempfile.mkstemp(prefix="streaming-census-gen-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), "--generate", str(num_shards)]
    cmd += ["--child-out", child_out, "--settings", json.dumps(settings)]
    print(f"[streaming-census] generating {len(missing)} files ({rows:,} rows) ...", flush=True)
    log_path = os.path.join(out_dir, "logs", "streaming_census_generate.log")
    record = bu.run_child(cmd, child_out, log_path, dict(os.environ), timeout_s)
    if record.get("status") == "ok":
        print(
            f"   {record['rows_written']:,} rows in {record['seconds']:.0f} s "
            f"({record['rows_per_second']:,} rows/s), peak RSS {record['peak_rss_mb']:,.0f} MB",
            flush=True,
        )
    return record


# ---------------------------------------------------------------------------
# children: one measurement, one process
# ---------------------------------------------------------------------------


class Stages:
    """Times and peak RSS of a child's stages, written to a progress file as they finish."""

    def __init__(self, record, progress_path, label):
        self.record = record
        self.progress_path = progress_path
        self.label = label
        record["stages"] = {}

    def done(self, name, seconds, **extra):
        self.record["stages"][name] = {
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(bu.peak_rss_mb(), 1),
            "rss_after_mb": round(bu.current_rss_mb(), 1),
            **extra,
        }
        self.record["last_stage"] = name
        bu.write_json(self.progress_path, self.record)
        print(
            f"[{self.label}] {name}: {seconds:.1f} s, peak RSS {bu.peak_rss_mb():,.0f} MB",
            flush=True,
        )
        bu.reset_peak_rss()


def streaming_dataset(settings, rows):
    from zoo.data import StreamingCsvDataset
    from zoo.data.sources.census_income.schema import COLUMNS
    from zoo.features.spec import CategoricalFeature, NumericFeature
    from zoo.tasks import Task

    data_dir = data_dir_for(settings)
    compression = settings["compression"]
    manifest = read_manifest(data_dir)
    continuous = dict(COLUMNS)
    features = [
        NumericFeature(name)
        if continuous[name]
        else CategoricalFeature(name, embedding_dim=settings["embedding_dim"])
        for name in manifest["columns"]
        if name not in TASKS
    ]
    files = {
        "train": train_file_names(rows // settings["shard_rows"], compression),
        "validation": [eval_file_name("validation", compression)],
        "test": [eval_file_name("test", compression)],
    }
    return StreamingCsvDataset(
        f"census-shaped-{rows}",
        columns=manifest["columns"],
        features=features,
        tasks=[Task(name) for name in TASKS],
        files={split: [os.path.join(data_dir, n) for n in names] for split, names in files.items()},
        shuffle_buffer=settings["shuffle_buffer"],
    )


def child(kind, rows, settings, out_path):
    guard = bu.start_memory_guard(
        settings["max_rss_gb"] * 1024.0, settings["min_available_mb"], out_path + ".guard"
    )
    record = {"status": "running", "kind": kind, "rows": rows}
    stages = Stages(record, out_path + ".progress", f"{kind} {rows:,}")
    t_start = time.perf_counter()

    import zoo  # noqa: F401  (sets KERAS_BACKEND before keras is imported)

    import tensorflow as tf  # isort: skip

    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])
    import keras

    from zoo.models import get_model_class
    from zoo.training import TrainingConfig, evaluate, fit

    record["peak_reset_works"] = bu.reset_peak_rss()
    stages.done("import", time.perf_counter() - t_start)

    started = time.perf_counter()
    dataset = streaming_dataset(settings, rows)
    preprocessor = dataset.make_preprocessor()  # the first pass: counts, vocabularies, statistics
    seconds = time.perf_counter() - started
    stages.done("first_pass", seconds, rows_per_second=round(rows / seconds))
    record["summary"] = dataset.summary
    counted = dataset.num_rows("train")
    if counted != rows:
        raise RuntimeError(f"Expected {rows:,} training rows, counted {counted:,}")

    if kind == "read":
        started = time.perf_counter()
        batches = dataset.tf_dataset(
            "train", preprocessor, settings["batch_size"], shuffle=True, seed=settings["seed"]
        )
        seen = 0
        for _, labels in batches:
            seen += int(labels[TASKS[0]].shape[0])
        seconds = time.perf_counter() - started
        if seen != rows:
            raise RuntimeError(f"Expected {rows:,} rows in one pass, read {seen:,}")
        stages.done("read_pass", seconds, rows_per_second=round(rows / seconds))
    else:
        keras.utils.set_random_seed(settings["seed"])
        started = time.perf_counter()
        model = get_model_class(MODEL)(
            tasks=dataset.tasks, preprocessor=preprocessor, **settings["architecture"]
        )
        stages.done("model_build", time.perf_counter() - started)
        config = TrainingConfig(
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            learning_rate=settings["learning_rate"],
            jit_compile=settings["xla"],
            early_stopping_patience=None,
            seed=settings["seed"],
            verbose=0,
        )
        started = time.perf_counter()
        result = fit(model, dataset, config)
        stages.done("fit", time.perf_counter() - started)
        started = time.perf_counter()
        metrics = evaluate(model, dataset, "test")
        stages.done("evaluate_test", time.perf_counter() - started)
        record["training"] = {
            "rows_per_second": round(result.train_samples_per_second),
            "epoch_seconds": [round(s, 2) for s in result.epoch_seconds],
            "first_epoch_included": len(result.epoch_seconds) == 1,
            "params": int(model.count_params()),
            "train_loss": [round(v, 5) for v in result.history.get("loss", [])],
            "val_loss": [round(v, 5) for v in result.history.get("val_loss", [])],
            "test_auc": {t: round(metrics[t]["auc"], 5) for t in TASKS},
        }
    record["child_wall_s"] = round(time.perf_counter() - t_start, 1)
    bu.finish_child(record, out_path, guard)


# ---------------------------------------------------------------------------
# parent: data, then a read and a train child per size, then the report
# ---------------------------------------------------------------------------


def run_kind(kind, rows, settings, out_dir, timeout_s):
    """One measurement in a fresh child; returns its record (`status` ok or failed)."""
    fd, child_out = tempfile.mkstemp(prefix=f"streaming-census-{kind}-{rows}-", suffix=".json")
    os.close(fd)
    log_path = os.path.join(out_dir, "logs", f"streaming_census_{kind}_{rows}.log")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--child-rows", str(rows)]
    cmd += ["--child-out", child_out, "--settings", json.dumps(settings)]
    env = dict(os.environ, OMP_NUM_THREADS=str(settings["threads"]))
    print(f"[streaming-census] {kind} {rows:,} rows ...", flush=True)
    return bu.run_guarded_child(cmd, child_out, log_path, env, timeout_s)


def run_key(kind, rows, settings):
    """The settings a stored measurement must match to be reused."""
    keys = ["seed", "shard_rows", "eval_rows", "compression", "batch_size", "threads"]
    keys += ["shuffle_buffer", "embedding_dim"]
    if kind == "train":
        keys += ["epochs", "learning_rate", "xla", "architecture"]
    return {
        "kind": kind,
        "rows": rows,
        "generator": GENERATOR_VERSION,
        **{k: settings[k] for k in keys},
    }


def run_sizes(sizes, settings, out_dir, timeout_s):
    runs_dir = os.path.join(out_dir, "streaming_census_runs")
    os.makedirs(runs_dir, exist_ok=True)
    results = []
    memory_failed = None
    for rows in sizes:
        entry = {"rows": rows}
        for kind in ("read", "train"):
            path = os.path.join(runs_dir, f"{kind}-{rows}.json")
            key = run_key(kind, rows, settings)
            record = bu.read_stored_run(path, key)
            if record is not None:
                print(f"[streaming-census] {kind} {rows:,} rows: stored", flush=True)
            elif memory_failed is not None:
                why = f"{memory_failed:,} rows ran out of memory"
                record = {"status": "skipped", "reason": why}
            else:
                data = ensure_data(settings, rows // settings["shard_rows"], out_dir, timeout_s)
                if data.get("status") != "ok":
                    failure = data.get("failure") or data.get("log_tail", "")[-500:]
                    record = {"status": "failed", "failure": f"data generation: {failure}"}
                else:
                    record = run_kind(kind, rows, settings, out_dir, timeout_s)
                if record["status"] == "ok":
                    bu.write_json(path, {"settings": key, "run": record})
                elif record.get("failure", "").startswith(MEMORY_FAILURES):
                    memory_failed = rows
            entry[kind] = record
        results.append(entry)
    return results


def disk_figures(settings, rows):
    data_dir = data_dir_for(settings)
    files = read_manifest(data_dir)["files"]
    names = train_file_names(rows // settings["shard_rows"], settings["compression"])
    if any(n not in files for n in names):
        return None
    return {"shards": len(names), "bytes": sum(files[n]["bytes"] for n in names)}


def growth(results, kind):
    """Peak RSS of the largest against the smallest finished size of one kind."""
    done = [r for r in results if r[kind].get("status") == "ok"]
    if len(done) < 2:
        return None
    small, large = done[0], done[-1]
    rows_ratio = large["rows"] / small["rows"]
    peak_ratio = large[kind]["peak_rss_mb"] / small[kind]["peak_rss_mb"]

    def over_baseline(r):
        return r[kind]["peak_rss_mb"] - r[kind]["stages"]["import"]["rss_after_mb"]

    return {
        "from_rows": small["rows"],
        "to_rows": large["rows"],
        "rows_ratio": round(rows_ratio, 3),
        "peak_from_mb": small[kind]["peak_rss_mb"],
        "peak_to_mb": large[kind]["peak_rss_mb"],
        "peak_ratio": round(peak_ratio, 3),
        "slope": round(math.log(peak_ratio) / math.log(rows_ratio), 3),
        "growth_over_imports_from_mb": round(over_baseline(small), 1),
        "growth_over_imports_to_mb": round(over_baseline(large), 1),
        # Bounded: peak RSS grows by less than a tenth of a power of the rows.
        "bounded": math.log(peak_ratio) / math.log(rows_ratio) < 0.1,
    }


def growth_sentence(g, what):
    if g is None:
        return f"{what}: fewer than two sizes finished; no comparison."
    verdict = (
        "**peak RSS did not grow with the rows**"
        if g["bounded"]
        else f"**peak RSS grew with the rows** (RSS ~ rows^{g['slope']:.2f})"
    )
    return (
        f"{what}: {g['from_rows']:,} → {g['to_rows']:,} rows (×{g['rows_ratio']:.1f}): peak RSS "
        f"{g['peak_from_mb']:,.0f} → {g['peak_to_mb']:,.0f} MB (×{g['peak_ratio']:.2f}, slope "
        f"{g['slope']:+.3f}); above the RSS after imports: {g['growth_over_imports_from_mb']:,.0f}"
        f" → {g['growth_over_imports_to_mb']:,.0f} MB. {verdict}."
    )


def _cell(value, spec):
    return "—" if value is None else format(value, spec)


def _stage(run, name, key):
    return run.get("stages", {}).get(name, {}).get(key)


def markdown(report):
    s = report["settings"]
    machine = report["machine"]
    data = report["data"]
    gen = data.get("generation_runs") or []
    lines = [
        "# Training on data bigger than memory: Census-shaped CSV streamed from disk",
        "",
        f"`{report['command']}`, {report['date']}, {machine['cpu']} ({machine['cpus_usable']} "
        f"cores, load average at start {machine['load_average_at_start']}), "
        f"{report['machine_memory_gb']:.1f} GB memory, {report['wall_s']:.0f} s wall.",
        "",
        "## Data",
        "",
        "Generated (seed "
        f"{s['seed']}): the 39 feature columns of the Census-Income `all-features` protocol "
        "(task group 1), each drawn independently from its marginal in the shipped training "
        "file (categorical: the real vocabulary with the real frequencies; numeric: the real "
        "values with their frequencies), and two labels from a logistic rule:",
        "",
        *[f"- {rule_text(t)}" for t in TASKS],
        "",
        f"Training rows in {s['compression']} CSV shards of {s['shard_rows']:,} rows with a "
        f"header (a size reads the first rows / {s['shard_rows']:,} shards); validation and "
        f"test: {s['eval_rows']:,} rows each. Under `{data['data_dir']}`, not in the "
        "repository.",
    ]
    test = data.get("test_file") or {}
    if test:
        lines += [
            "",
            f"Test label rates: {', '.join(f'{t} {v:.2%}' for t, v in test['label_rates'].items())}"
            f"; AUC of the true probabilities (the best reachable): "
            f"{', '.join(f'{t} {v:.4f}' for t, v in test['oracle_auc'].items())}.",
        ]
    for g in gen:
        lines += [
            "",
            f"Generation ({g['date']}): {g['rows_written']:,} rows in {g['seconds']:.0f} s, "
            f"{g['rows_per_second']:,} rows/s, {g['threads']} threads, chunks of "
            f"{g['chunk_rows']:,} rows, peak RSS {g['peak_rss_mb']:,.0f} MB.",
        ]
    lines += [
        "",
        "## Reading and training",
        "",
        "*first pass*: `make_preprocessor()` (row count, label sums, vocabularies, "
        "statistics; the training child repeats it). *read*: one pass of "
        f"`tf_dataset('train', preprocessor, {s['batch_size']}, shuffle=True)` (shuffle buffer "
        f"{s['shuffle_buffer']:,} lines). *train*: `zoo.training.fit` of MMoE "
        f"({s['architecture']['num_experts']} experts {s['architecture']['expert_units']}, "
        f"towers {s['architecture']['tower_units']}, embeddings {s['embedding_dim']}), "
        f"batch {s['batch_size']}, Adam {s['learning_rate']}, {s['epochs']} epoch(s), XLA "
        f"{'on' if s['xla'] else 'off'}; rows/s = training rows / median training time of the "
        "epochs after the first"
        + (" (one epoch: it includes tracing and compilation)" if s["epochs"] == 1 else "")
        + f"; validation on the validation file. TF {s['threads']} threads. RSS after "
        "imports / model build: right after them; peak RSS: VmHWM over the child's stages. "
        "The files were written shortly before, so the page cache may hold them: the read "
        "figures measure parsing, not the disk.",
        "",
        "| rows | shards | on disk GB | first pass s | first pass rows/s | read rows/s "
        "| read peak RSS MB | RSS after imports MB | train rows/s | epoch s "
        "| train peak RSS MB | RSS after model build MB | test AUC income / never married "
        "| read + train child wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        read, train = r["read"], r["train"]
        disk = r.get("disk") or {}
        t = train.get("training", {})
        auc = t.get("test_auc")
        status = ""
        for kind, run in (("read", read), ("train", train)):
            if run.get("status") != "ok":
                why = run.get("failure") or run.get("reason")
                status += f" {kind} {run.get('status')}: {why}."
        walls = [x.get("process_wall_s") for x in (read, train)]
        lines.append(
            f"| {r['rows']:,} | {_cell(disk.get('shards'), 'd')} "
            f"| {_cell(disk.get('bytes') and disk['bytes'] / 1e9, '.2f')} "
            f"| {_cell(_stage(read, 'first_pass', 'seconds'), '.1f')} "
            f"| {_cell(_stage(read, 'first_pass', 'rows_per_second'), ',')} "
            f"| {_cell(_stage(read, 'read_pass', 'rows_per_second'), ',')} "
            f"| {_cell(read.get('peak_rss_mb'), ',.0f')} "
            f"| {_cell(_stage(read, 'import', 'rss_after_mb'), ',.0f')} "
            f"| {_cell(t.get('rows_per_second'), ',')} "
            f"| {' / '.join(format(x, '.1f') for x in t.get('epoch_seconds', [])) or '—'} "
            f"| {_cell(train.get('peak_rss_mb'), ',.0f')} "
            f"| {_cell(_stage(train, 'model_build', 'rss_after_mb'), ',.0f')} "
            f"| {' / '.join(format(auc[k], '.4f') for k in TASKS) if auc else '—'} "
            f"| {' + '.join(_cell(w, '.0f') for w in walls)} |" + (f"{status}" if status else "")
        )
    lines += [
        "",
        "Peak RSS of each stage (MB):",
        "",
        "| rows | read: imports | first pass | read pass | train: imports | first pass "
        "| model build | fit | evaluate test |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        read, train = r["read"], r["train"]
        cells = [_stage(read, n, "peak_rss_mb") for n in ("import", "first_pass", "read_pass")]
        cells += [
            _stage(train, n, "peak_rss_mb")
            for n in ("import", "first_pass", "model_build", "fit", "evaluate_test")
        ]
        lines.append(f"| {r['rows']:,} | " + " | ".join(_cell(c, ",.0f") for c in cells) + " |")
    lines += [
        "",
        "## Does memory grow with the data?",
        "",
        "- " + growth_sentence(report["growth"]["read"], "Reading"),
        "- " + growth_sentence(report["growth"]["train"], "Training"),
        "",
        "Bounded means a log-log slope of peak RSS against rows under 0.1.",
        "",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default=DEFAULT_ROWS, help="training rows per size, comma-separated")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="where the CSV files are kept")
    ap.add_argument("--shard-rows", type=int, default=1_000_000, help="rows per training file")
    ap.add_argument("--eval-rows", type=int, default=100_000, help="validation and test rows")
    ap.add_argument("--compression", choices=["plain", "gzip"], default="plain")
    ap.add_argument("--chunk-rows", type=int, default=100_000, help="rows formatted at a time")
    ap.add_argument("--gen-threads", type=int, default=2, help="files generated at once")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--shuffle-buffer", type=int, default=100_000, help="lines")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--threads", type=int, default=2, help="TF intra/inter-op threads")
    ap.add_argument("--max-rss-gb", type=float, default=8.0, help="memory guard per child")
    ap.add_argument("--timeout", type=int, default=7200, help="per child process, seconds")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    bu.add_xla_flag(ap)
    ap.add_argument("--child", choices=["read", "train"], help=argparse.SUPPRESS)
    ap.add_argument("--child-rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    ap.add_argument("--settings", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.generate is not None:
        generate(json.loads(args.settings), args.generate, args.child_out)
        return 0
    if args.child is not None:
        child(args.child, args.child_rows, json.loads(args.settings), args.child_out)
        return 0

    started = time.perf_counter()
    sizes = sorted({int(s) for s in args.rows.split(",") if s.strip()})
    uneven = [s for s in sizes if s < args.shard_rows or s % args.shard_rows]
    if uneven:
        ap.error(
            f"Expected every size to be a multiple of --shard-rows={args.shard_rows:,}. "
            f"Received: {', '.join(f'{s:,}' for s in uneven)}"
        )
    settings = {
        "seed": args.seed,
        "shard_rows": args.shard_rows,
        "eval_rows": args.eval_rows,
        "compression": args.compression,
        "chunk_rows": args.chunk_rows,
        "gen_threads": args.gen_threads,
        "data_root": os.path.abspath(args.data_root),
        "census_file": CENSUS_TRAIN_FILE,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "epochs": args.epochs,
        "xla": args.xla,
        "shuffle_buffer": args.shuffle_buffer,
        "embedding_dim": 4,
        "architecture": ARCHITECTURES[MODEL],
        "threads": args.threads,
        "max_rss_gb": args.max_rss_gb,
        "min_available_mb": 512,
    }
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    results = run_sizes(sizes, settings, out_dir, args.timeout)
    for r in results:
        r["disk"] = disk_figures(settings, r["rows"])
    data_dir = data_dir_for(settings)
    manifest = read_manifest(data_dir)
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    report = bu.new_report(
        started,
        {**settings, "rows": sizes},
        machine_memory_gb=memory_gb,
        versions=bu.versions("tensorflow", "keras", "numpy"),
        data={
            "data_dir": data_dir,
            "test_file": manifest["files"].get(eval_file_name("test", args.compression)),
            "generation_runs": manifest["runs"],
        },
        runs=results,
        growth={kind: growth(results, kind) for kind in ("read", "train")},
    )
    bu.write_report(os.path.join(out_dir, "streaming_census"), report, markdown(report))
    failed = [r["rows"] for r in results for k in ("read", "train") if r[k]["status"] != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
