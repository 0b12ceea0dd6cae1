"""KuaiRand logs bigger than memory: the streamed and the in-memory loader at three log sizes.

    python bench/streaming_kuairand.py                      # 1M, 3M and 10M log rows
    python bench/streaming_kuairand.py --rows 200000,600000 --no-train

Generates logs in the official KuaiRand format (the 19 columns of
`log_standard_*.csv`, shards of `--shard-rows` rows, 14 dates) whose users
are those of the shipped user table, and measures, each in a fresh child
process under a memory guard:

- *stream*: `load_kuairand(..., streaming=True)` (headers, user table, the
  pass over the date column), `make_preprocessor()` (the training days,
  every row checked, vocabularies), one shuffled read pass over the training
  days, and (unless `--no-train`) one MMoE epoch with its validation;
- *memory*: `load_kuairand(...)` and `make_preprocessor()`, the loader that
  reads the logs into numpy arrays.

Rows/s are log rows (every split) over the stage's seconds for the passes
over the whole log, training rows for the read pass and the epoch. Peak RSS
is the child's VmHWM, reset before each stage. The figures go to
`bench/results/streaming_kuairand.{json,md}`; the logs are kept under
`--data-root`, not in the repository.
"""

import argparse
import gzip
import json
import math
import os
import shutil
import sys
import tempfile
import time

import _benchutil as bu
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ROWS = "1000000,3000000,10000000"
DEFAULT_DATA_ROOT = os.path.join(tempfile.gettempdir(), "zoo-streaming-kuairand")
USER_TABLE = os.path.join(bu.REPO_ROOT, "datasets", "kuairand", "user_features_pure.csv.gz")
FIRST_DATE, NUM_DATES = 20220408, 14
NUM_VIDEOS = 200_000
TASKS = ["click", "long_view", "like", "follow", "comment", "forward", "pcr"]
GENERATOR_VERSION = 1


# -- data ------------------------------------------------------------------------


def data_dir_for(root, shard_rows, seed):
    return os.path.join(root, f"v{GENERATOR_VERSION}-seed{seed}-shard{shard_rows}")


def user_ids():
    with gzip.open(USER_TABLE, "rt") as f:
        header = f.readline().rstrip("\n").split(",")
        position = header.index("user_id")
        return np.array([int(line.split(",")[position]) for line in f], np.int64)


def log_chunk(rng, users, rows, first_time):
    """`rows` log rows as a (rows, 19) int64 array in `LOG_COLUMNS` order."""
    from zoo.data.sources.kuairand.schema import LOG_COLUMNS

    column = {}
    column["user_id"] = rng.choice(users, rows)
    # A long tail of videos, as in a real log.
    column["video_id"] = np.minimum(rng.zipf(1.3, rows), NUM_VIDEOS)
    days = rng.integers(0, NUM_DATES, rows)
    column["date"] = FIRST_DATE + days  # 8..21 April: valid dates
    column["hourmin"] = rng.integers(0, 24, rows) * 100 + rng.integers(0, 60, rows)
    column["time_ms"] = first_time + np.arange(rows)
    duration = rng.integers(0, 60_000, rows)
    duration[rng.random(rows) < 0.02] = 0  # KuaiRand logs hold zero durations
    play = (rng.random(rows) * 1.5 * np.maximum(duration, 1000)).astype(np.int64)
    column["play_time_ms"], column["duration_ms"] = play, duration
    column["is_click"] = (rng.random(rows) < 0.35).astype(np.int64)
    column["long_view"] = (play >= np.minimum(duration, 18_000)).astype(np.int64)
    reaction = rng.random(rows)
    column["is_like"] = (reaction < 0.02).astype(np.int64)
    column["is_hate"] = ((reaction >= 0.02) & (reaction < 0.025)).astype(np.int64)
    for name, rate in (("is_follow", 0.004), ("is_comment", 0.003), ("is_forward", 0.002)):
        column[name] = (rng.random(rows) < rate).astype(np.int64)
    column["is_profile_enter"] = (rng.random(rows) < 0.01).astype(np.int64)
    for name in ("profile_stay_time", "comment_stay_time", "is_rand"):
        column[name] = np.zeros(rows, np.int64)
    column["tab"] = rng.integers(0, 5, rows)
    return np.stack([column[name] for name in LOG_COLUMNS], axis=1)


def ensure_data(root, rows, shard_rows, seed):
    """The folder of the first `rows // shard_rows` log shards, each written once."""
    from zoo.data.sources.kuairand.schema import LOG_COLUMNS

    data_dir = data_dir_for(root, shard_rows, seed)
    os.makedirs(data_dir, exist_ok=True)
    users = user_ids()
    for shard in range(rows // shard_rows):
        path = os.path.join(data_dir, f"log_standard_4_08_to_4_21_pure_part{shard:03d}.csv")
        if os.path.exists(path):
            continue
        rng = np.random.default_rng([seed, shard])
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(",".join(LOG_COLUMNS) + "\n")
            for start in range(0, shard_rows, 100_000):
                count = min(100_000, shard_rows - start)
                chunk = log_chunk(rng, users, count, shard * shard_rows + start)
                np.savetxt(f, chunk, fmt="%d", delimiter=",")
        os.replace(tmp, path)
    return data_dir


def view_of(data_dir, rows, shard_rows):
    """A folder of links to the first `rows` rows' shards and the user table."""
    view = os.path.join(data_dir, f"view-{rows}")
    shutil.rmtree(view, ignore_errors=True)
    os.makedirs(view)
    for shard in range(rows // shard_rows):
        name = f"log_standard_4_08_to_4_21_pure_part{shard:03d}.csv"
        os.symlink(os.path.join(data_dir, name), os.path.join(view, name))
    os.symlink(USER_TABLE, os.path.join(view, "user_features_pure.csv.gz"))
    return view


# -- one measurement, in a child process -------------------------------------------


def child(kind, data_dir, rows, settings, out_path):
    guard = bu.start_memory_guard(settings["max_rss_gb"] * 1024.0, 1500.0, out_path + ".guard")
    record = {"status": "running", "kind": kind, "rows": rows, "stages": {}}
    start = time.perf_counter()

    def stage(name, seconds, rows_counted=None):
        entry = {"seconds": round(seconds, 2), "peak_rss_mb": round(bu.peak_rss_mb())}
        if rows_counted:
            entry["rows_per_second"] = round(rows_counted / seconds)
        record["stages"][name] = entry
        record["last_stage"] = name
        bu.write_json(out_path + ".progress", record)
        bu.reset_peak_rss()

    import zoo  # noqa: F401  (sets KERAS_BACKEND before keras is imported)

    import tensorflow as tf  # isort: skip

    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])
    from zoo.data import load_kuairand

    bu.reset_peak_rss()
    stage("import", time.perf_counter() - start)
    started = time.perf_counter()
    dataset = load_kuairand(data_dir=data_dir, tasks=TASKS, streaming=kind == "stream")
    stage("load" if kind == "memory" else "date_pass", time.perf_counter() - started, rows)
    started = time.perf_counter()
    preprocessor = dataset.make_preprocessor()
    stage("first_pass", time.perf_counter() - started, rows if kind == "stream" else None)
    train_rows = dataset.num_rows("train")
    record["train_rows"] = train_rows

    if kind == "stream":
        started = time.perf_counter()
        batches = dataset.tf_dataset(
            "train", preprocessor, settings["batch_size"], shuffle=True, seed=settings["seed"]
        )
        seen = sum(int(labels["click"].shape[0]) for _, labels, _ in batches)
        if seen != train_rows:
            raise RuntimeError(f"Expected {train_rows:,} rows in one pass, read {seen:,}")
        stage("read_pass", time.perf_counter() - started, train_rows)
        if settings["train"]:
            import keras

            from zoo.models import MMoE
            from zoo.training import TrainingConfig, fit

            keras.utils.set_random_seed(settings["seed"])
            model = MMoE(tasks=dataset.tasks, preprocessor=preprocessor, num_experts=4)
            config = TrainingConfig(
                epochs=1, batch_size=settings["batch_size"], early_stopping_patience=None,
                jit_compile=settings["xla"], seed=settings["seed"], verbose=0,
            )  # fmt: skip
            started = time.perf_counter()
            result = fit(model, dataset, config)
            stage("fit", time.perf_counter() - started)
            record["train_rows_per_second"] = round(result.train_samples_per_second)
            record["val_loss"] = round(result.history["val_loss"][-1], 5)
    bu.finish_child(record, out_path, guard)


def run_kind(kind, data_dir, rows, settings, out_dir):
    fd, child_out = tempfile.mkstemp(prefix=f"streaming-kuairand-{kind}-{rows}-", suffix=".json")
    os.close(fd)
    log_path = os.path.join(out_dir, "logs", f"streaming_kuairand_{kind}_{rows}.log")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--child-rows", str(rows)]
    cmd += ["--child-data", data_dir, "--child-out", child_out, "--settings", json.dumps(settings)]
    env = dict(os.environ, OMP_NUM_THREADS=str(settings["threads"]))
    print(f"[streaming-kuairand] {kind} {rows:,} rows ...", flush=True)
    return bu.run_guarded_child(cmd, child_out, log_path, env, settings["timeout"])


# -- the report ------------------------------------------------------------------


def slope(results, kind):
    """Log-log slope of peak RSS against log rows between the smallest and largest size."""
    done = [r for r in results if r[kind].get("status") == "ok"]
    if len(done) < 2:
        return None
    small, large = done[0], done[-1]
    ratio = large[kind]["peak_rss_mb"] / small[kind]["peak_rss_mb"]
    return math.log(ratio) / math.log(large["rows"] / small["rows"]), ratio


def _stage(run, name, key):
    value = run.get("stages", {}).get(name, {}).get(key)
    return "—" if value is None else f"{value:,}"


def markdown(report):
    s = report["settings"]
    # Reports from before --no-xla trained with XLA, TrainingConfig's default.
    xla = "on" if s.get("xla", True) else "off"
    lines = [
        "# KuaiRand logs bigger than memory: streamed and in-memory loading",
        "",
        f"`{report['command']}`, {report['date']}, {report['machine']['cpu']}, "
        f"{report['wall_s']:.0f} s wall.",
        "",
        f"Generated logs in the official KuaiRand format (19 columns, shards of "
        f"{s['shard_rows']:,} rows, {NUM_DATES} dates, the shipped user table's users, "
        f"{NUM_VIDEOS:,} videos with a Zipf tail); tasks {', '.join(TASKS)} (`like` and `pcr` "
        "masked). Split by date: 10 training days, 2 validation, 2 test. Batch "
        f"{s['batch_size']}, {s['threads']} TensorFlow threads, XLA {xla}. "
        "Rows/s: log rows (all days) "
        "for the date pass and the first pass, training rows for the read pass and the MMoE "
        "epoch. Peak RSS: VmHWM of the child, reset before each stage.",
        "",
        "| log rows | training rows | on disk GB | stream: date pass rows/s | first pass rows/s "
        "| read pass rows/s | MMoE epoch rows/s | stream peak RSS MB | in memory: load s "
        "| in memory peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        stream, memory = r["stream"], r["memory"]
        epoch = stream.get("train_rows_per_second")
        lines.append(
            f"| {r['rows']:,} | {stream.get('train_rows', 0):,} | {r['disk_gb']:.2f} "
            f"| {_stage(stream, 'date_pass', 'rows_per_second')} "
            f"| {_stage(stream, 'first_pass', 'rows_per_second')} "
            f"| {_stage(stream, 'read_pass', 'rows_per_second')} "
            f"| {'—' if epoch is None else f'{epoch:,}'} "
            f"| {stream.get('peak_rss_mb', '—') if stream['status'] == 'ok' else 'failed'} "
            f"| {_stage(memory, 'load', 'seconds')} "
            f"| {memory.get('peak_rss_mb', '—') if memory['status'] == 'ok' else 'failed'} |"
        )
    lines += ["", "## Does memory grow with the log?", ""]
    for kind, what in (("stream", "streamed"), ("memory", "in memory")):
        found = slope(report["results"], kind)
        if found is None:
            lines.append(f"- {what}: fewer than two sizes finished.")
            continue
        value, ratio = found
        verdict = "does not grow" if value < 0.1 else "grows"
        lines.append(
            f"- {what}: peak RSS x{ratio:.2f} for x{report['results'][-1]['rows'] // report['results'][0]['rows']} "  # noqa: E501
            f"the rows (log-log slope {value:+.3f}): **peak RSS {verdict} with the rows**."
        )
    failed = [
        f"{r['rows']:,} {kind}: {r[kind]['failure']}"
        for r in report["results"]
        for kind in ("stream", "memory")
        if r[kind]["status"] != "ok"
    ]
    if failed:
        lines += ["", "Failed runs: " + "; ".join(failed) + "."]
    lines += ["", "Bounded means a log-log slope of peak RSS against rows under 0.1.", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default=DEFAULT_ROWS, help="log rows per size, comma-separated")
    ap.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="where the logs are kept")
    ap.add_argument("--shard-rows", type=int, default=1_000_000, help="rows per log file")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--threads", type=int, default=2, help="TF intra/inter-op threads")
    ap.add_argument("--no-train", action="store_true", help="skip the MMoE epoch")
    bu.add_xla_flag(ap)
    ap.add_argument("--max-rss-gb", type=float, default=12.0, help="memory guard per child")
    ap.add_argument("--timeout", type=int, default=7200, help="per child process, seconds")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--child", choices=["stream", "memory"], help=argparse.SUPPRESS)
    ap.add_argument("--child-rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-data", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    ap.add_argument("--settings", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(
            args.child, args.child_data, args.child_rows, json.loads(args.settings), args.child_out
        )
        return 0

    started = time.perf_counter()
    sizes = sorted(int(r) for r in args.rows.split(","))
    shard_rows = min(args.shard_rows, sizes[0])
    if any(rows % shard_rows for rows in sizes):
        ap.error(f"every size must be a multiple of the shard size ({shard_rows:,} rows)")
    settings = {
        "shard_rows": shard_rows, "batch_size": args.batch_size, "seed": args.seed,
        "threads": args.threads, "train": not args.no_train, "xla": args.xla,
        "max_rss_gb": args.max_rss_gb,
        "timeout": args.timeout,
    }  # fmt: skip
    print(f"[streaming-kuairand] generating {sizes[-1]:,} rows ...", flush=True)
    data_dir = ensure_data(args.data_root, sizes[-1], shard_rows, args.seed)
    results = []
    for rows in sizes:
        view = view_of(data_dir, rows, shard_rows)
        disk = sum(os.path.getsize(os.path.join(view, n)) for n in os.listdir(view) if "log" in n)
        results.append(
            {
                "rows": rows,
                "disk_gb": disk / 1e9,
                "stream": run_kind("stream", view, rows, settings, args.out),
                "memory": run_kind("memory", view, rows, settings, args.out),
            }
        )
    report = bu.new_report(started, settings, results=results)
    bu.write_report(os.path.join(args.out, "streaming_kuairand"), report, markdown(report))
    return 0 if all(r[k]["status"] == "ok" for r in results for k in ("stream", "memory")) else 1


if __name__ == "__main__":
    sys.exit(main())
