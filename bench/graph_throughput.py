#!/usr/bin/env python
"""MoGENet and NGCF on the full Taobao graph: training pairs per second, AUC and memory, against
an earlier revision in one run.

Part 4 of issue 22. Each child process loads the whole Taobao multi-behaviour
data (48,742 users, 39,494 items, 658k training pairs with one sampled
negative per positive: no `max_users` cut, unlike `bench/mogenet.py`),
builds `zoo.graphs.GraphInputs` (fan-outs 5, 3, without replacement) and
trains one model with `zoo.training.fit` as `bench/mogenet.py` does
(batch 1024, Adam 1e-3, no early stopping), then evaluates it on the test
split from the node tables it serves with. It prints:

* training pairs per second: the training rows over the wall time of the
  training part of each epoch (validation excluded), the median over
  epochs; and per CPU-second of the process over the same spans;
* test AUC per task (cart, buy) after those epochs;
* peak RSS of the process, and the seconds spent building the graphs and
  computing the serving node tables.

The children of the two revisions alternate (before, after, after, before,
...). The earlier revision is checked out with `git worktree` and imported
from there.

    python bench/graph_throughput.py                          # against 1248a32, 1 epoch
    python bench/graph_throughput.py --models mogenet --epochs 2 --repeats 2

About 12 minutes with the defaults on two cores. Writes
bench/results/graph_throughput.{json,md}. Needs ../shared/data/taobao-multibehavior
(not redistributable, so never in the repository); without it the script says so and stops.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402

RESULTS = os.path.join(HERE, "results", "graph_throughput")
DATA_DIR = os.path.join(bu.REPO_ROOT, "..", "shared", "data", "taobao-multibehavior")
DEFAULT_BEFORE = "1248a32"  # main before the graph work of issue 22
MODELS = ("mogenet", "ngcf")
TARGET_RATIO = 10.0  # issue 22, part 4: pairs/s after / before


# --------------------------------------------------------------------------- child


def child(code_root, side, model_name, settings, out_path):
    sys.path.insert(0, code_root)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])
    import keras

    import zoo
    import zoo.features  # noqa: F401  (registers the preprocessor)
    from zoo.data.registry import load_dataset
    from zoo.graphs import GraphInputs
    from zoo.models import get_model_class, make_graph_encoder
    from zoo.training import TrainingConfig, evaluate, fit

    assert os.path.dirname(os.path.dirname(os.path.abspath(zoo.__file__))) == code_root
    dataset = load_dataset(
        "taobao-multibehavior", data_dir=settings["data_dir"], negatives_per_positive=1
    )
    preprocessor = dataset.make_preprocessor()
    keras.utils.set_random_seed(settings["seed"])
    started = time.perf_counter()
    graph_inputs = GraphInputs.from_dataset(
        dataset, preprocessor, fanouts=tuple(settings["fanouts"]), seed=settings["seed"]
    )
    graph_seconds = time.perf_counter() - started
    if model_name == "ngcf":
        model = get_model_class("ngcf")(
            tasks=dataset.tasks,
            preprocessor=preprocessor,
            num_users=graph_inputs.num_users,
            num_items=graph_inputs.num_items,
            units=64,
            num_layers=2,
        )
    else:
        model = get_model_class("mogenet")(
            tasks=dataset.tasks,
            preprocessor=preprocessor,
            graph_encoder=make_graph_encoder(graph_inputs, preprocessor, units=32, num_layers=2),
        )
    cpu_timer = _cpu_timer(keras)
    config = TrainingConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        learning_rate=1e-3,
        early_stopping_patience=None,
        seed=settings["seed"],
        verbose=0,
    )
    started = time.perf_counter()
    result = fit(model, dataset, config, graph_inputs=graph_inputs, callbacks=[cpu_timer])
    fit_seconds = time.perf_counter() - started
    train_seconds = sum(result.epoch_seconds)
    test = evaluate(model, dataset, "test")
    rows = len(dataset.train)
    record = {
        "status": "ok",
        "side": side,
        "model": model_name,
        "code_root": code_root,
        "train_rows": rows,
        "epoch_seconds": result.epoch_seconds,
        "pairs_per_s": rows / bu.median(result.epoch_seconds),
        "pairs_per_cpu_s": rows / bu.median(cpu_timer.cpu),
        "test_auc": {t.name: round(test[t.name]["auc"], 5) for t in dataset.tasks},
        "graph_build_s": round(graph_seconds, 2),
        # What fit did besides the epochs' training parts: validation, and the node tables.
        "fit_overhead_s": round(fit_seconds - train_seconds, 2),
        "peak_rss_mb": round(bu.peak_rss_mb()),
        "graphs": graph_inputs.summary(),
    }
    with open(out_path, "w") as f:
        json.dump(record, f)


def _cpu_timer(keras):
    class CpuTimer(keras.callbacks.Callback):
        """Process CPU seconds of each epoch's training part (validation excluded), as
        `zoo.training.TrainingTimer` measures wall time."""

        def __init__(self):
            super().__init__()
            self.cpu, self._start = [], None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.process_time()

        def _stop(self):
            if self._start is not None:
                self.cpu.append(time.process_time() - self._start)
                self._start = None

        def on_test_begin(self, logs=None):
            self._stop()

        def on_epoch_end(self, epoch, logs=None):
            self._stop()

    return CpuTimer()


# --------------------------------------------------------------------------- parent


def summarize(runs):
    out = {}
    for model in sorted({r["model"] for r in runs}):
        sides = {}
        for side in ("before", "after"):
            ok = [r for r in runs if r["model"] == model and r["side"] == side and r["ok"]]
            if not ok:
                continue
            sides[side] = {
                "pairs_per_s": bu.median([r["pairs_per_s"] for r in ok]),
                "pairs_per_cpu_s": bu.median([r["pairs_per_cpu_s"] for r in ok]),
                "test_auc": {
                    t: bu.median([r["test_auc"][t] for r in ok]) for t in ok[0]["test_auc"]
                },
                "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
                "graph_build_s": bu.median([r["graph_build_s"] for r in ok]),
                "fit_overhead_s": bu.median([r["fit_overhead_s"] for r in ok]),
                "runs": len(ok),
            }
        if len(sides) == 2:
            sides["ratio"] = sides["after"]["pairs_per_s"] / sides["before"]["pairs_per_s"]
            sides["cpu_ratio"] = (
                sides["after"]["pairs_per_cpu_s"] / sides["before"]["pairs_per_cpu_s"]
            )
        out[model] = sides
    return out


def markdown(report):
    settings = report["settings"]
    lines = [
        "# MoGENet and NGCF on the full Taobao graph, before and after",
        "",
        f"`{report['command']}`, {report['date']}, {report['wall_s']:.0f} s wall; "
        f"{report['machine']['cpu']} ({report['machine']['cpus_usable']} cores). "
        f"Before: `{report['before_commit']}`; after: `{report['after_commit']}`.",
        "",
        f"{settings['epochs']} epoch(s) over the whole training split, batch "
        f"{settings['batch_size']}, fan-outs {settings['fanouts']}, seed {settings['seed']}, "
        f"{settings['repeats']} child(ren) per model and side; medians. The test AUCs are "
        "one run per side, a sanity check and not a comparison "
        "(issue 24's protocol: 5+ seeds, paired differences).",
        "",
        "| model | side | pairs/s | pairs per CPU-s | test AUC | peak RSS MB | graphs s |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, sides in report["summary"].items():
        for side in ("before", "after"):
            if side not in sides:
                lines.append(f"| {model} | {side} | failed | | | | |")
                continue
            s = sides[side]
            auc = ", ".join(f"{t} {v:.4f}" for t, v in s["test_auc"].items())
            lines.append(
                f"| {model} | {side} | {s['pairs_per_s']:,.0f} | {s['pairs_per_cpu_s']:,.0f} | "
                f"{auc} | {s['peak_rss_mb']:,} | {s['graph_build_s']:.1f} |"
            )
        if "ratio" in sides:
            verdict = "met" if sides["ratio"] >= TARGET_RATIO else "**not met**"
            lines.append(
                f"| {model} | after / before | **{sides['ratio']:.2f}x** | "
                f"{sides['cpu_ratio']:.2f}x | | | target {TARGET_RATIO:.0f}x: {verdict} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="git revision to compare with")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--fanouts", default="5,3")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default=DATA_DIR)
    parser.add_argument("--timeout", type=int, default=1800)
    bu.add_revision_child_flags(parser, ("before", "after"))
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.code_root, args.child, args.model, json.loads(args.settings), args.out)
        return
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    if not os.path.isfile(os.path.join(args.data_dir, "train.txt")):
        raise SystemExit(
            f"No Taobao multi-behaviour data at {os.path.abspath(args.data_dir)} (train.txt "
            "missing). It cannot ship with the zoo; see ../shared/data/taobao-multibehavior/"
            "SOURCE.md, or pass --data-dir."
        )
    started = time.perf_counter()
    settings = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "fanouts": [int(f) for f in args.fanouts.split(",")],
        "threads": args.threads,
        "repeats": args.repeats,
        "seed": 1,
        "data_dir": os.path.abspath(args.data_dir),
    }
    before_root, before_commit = bu.worktree(args.before)
    after_commit = bu.short_commit()
    roots = {"before": before_root, "after": bu.REPO_ROOT}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS=str(args.threads))
    runs = []
    turn = 0
    for repeat in range(args.repeats):
        for model in models:
            order = ("before", "after") if turn % 2 == 0 else ("after", "before")
            turn += 1
            for side in order:
                record = bu.run_revision_child(
                    __file__,
                    side,
                    roots[side],
                    settings,
                    f"{model} {side} repeat {repeat}",
                    f"{RESULTS}_runs/{model}_{side}_r{repeat}.log",
                    env,
                    args.timeout,
                    "--model",
                    model,
                )
                record.update(model=model, repeat=repeat)
                record["ok"] = record.get("status") == "ok"
                runs.append(record)
                if record["ok"]:
                    print(
                        f"   {record['pairs_per_s']:,.0f} pairs/s, "
                        f"{record['pairs_per_cpu_s']:,.0f} per CPU-s, AUC {record['test_auc']}, "
                        f"peak {record['peak_rss_mb']:,} MB",
                        flush=True,
                    )
    report = bu.new_report(
        started,
        settings,
        before_commit=before_commit,
        after_commit=after_commit,
        runs=runs,
        summary=summarize(runs),
        versions=bu.versions("tensorflow", "tensorflow-cpu", "keras"),
    )
    bu.write_report(RESULTS, report, markdown(report))


if __name__ == "__main__":
    main()
