#!/usr/bin/env python
"""Behaviour histories on KuaiRand and MovieLens-100K: none, mean-pooled, DIN; and DIN's cost.

Data: the shipped KuaiRand like/hate subset (`zoo.data.load_kuairand`, tasks
click, long_view, like, split by date) with `watched_videos`, the videos the
user clicked strictly before the row's time; MovieLens-100K
(`load_movielens_100k`, tasks rating_ge_4 and rating_5, one sampled
negative per rating, split by time per user, genres as one multi-hot
feature) with `rated_movies`, the movies the user rated strictly before.
Both histories share the candidate's embedding table. MovieLens cannot be
redistributed: it is read from `../shared/data/movielens-100k` and skipped,
saying so, where that folder is absent.

Four variants per dataset, every one trained alike (same maximum epochs,
early stopping on the validation loss, batch, learning rate, seeds):
MMoE without the history, MMoE with the history mean-pooled, MMoE with DIN
attention over it (the candidate weighting each past item), PLE with DIN.
Reports the exact test AUC and the GAUC grouped by user per task (mean and
standard deviation over seeds), each variant minus "MMoE without history"
paired by seed with how many seeds favour each side, and each run's best
epoch. Then, for MMoE with DIN, one fresh process per history length:
training samples/s, serving samples/s of the exported SavedModel's
`serving_default` called in-process with raw padded features at batch
1024, and the peak RSS of each phase (`VmHWM`, reset between phases
through `/proc/self/clear_refs`).

Each training run is kept in `sequence_features_runs/`, so an interrupted
benchmark resumes.

    python bench/sequence_features.py                 # ~15 min on the 2-core machine
    python bench/sequence_features.py --smoke --out /tmp/seq   # tiny: seconds per run
    python bench/sequence_features.py --render-only
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402

SHARED_DATA = os.path.join(bu.REPO_ROOT, "..", "shared", "data")
MOVIELENS_DIR = os.path.join(SHARED_DATA, "movielens-100k")
TASKS = {"kuairand": ("click", "long_view", "like"), "movielens": ("rating_ge_4", "rating_5")}
DATASET_DISPLAY = {"kuairand": "KuaiRand", "movielens": "MovieLens-100K"}
HISTORY = {"kuairand": "watched_videos", "movielens": "rated_movies"}
# variant -> (zoo model, history pooling or None for no history)
VARIANTS = {
    "mmoe": ("mmoe", None),
    "mmoe-mean": ("mmoe", "mean"),
    "mmoe-din": ("mmoe", "attention"),
    "ple-din": ("ple", "attention"),
}
DISPLAY = {
    "mmoe": "MMoE, no history",
    "mmoe-mean": "MMoE + mean history",
    "mmoe-din": "MMoE + DIN",
    "ple-din": "PLE + DIN",
}
BASELINE = "mmoe"
ARCHITECTURES = {
    "mmoe": {"num_experts": 4, "expert_units": [64, 32]},
    "ple": {"num_levels": 2, "num_shared_experts": 2, "num_task_experts": 1,
            "expert_units": [64, 32]},
}  # fmt: skip
TOWER = [16]
EMBEDDING_DIM = 8
SERVE_BATCH = 1024
# The size flags' defaults: a real run (~15 min on the 2-core machine), and `--smoke`'s.
SIZES = {
    "seeds": 3, "epochs": 8, "max_rows": 20_000, "lengths": "20,50,200", "throughput_epochs": 3,
    "serve_batches": 4, "serve_passes": 5,
}  # fmt: skip
SMOKE = {
    "seeds": 1, "epochs": 1, "max_rows": 2000, "lengths": "5,10", "throughput_epochs": 2,
    "serve_batches": 1, "serve_passes": 2,
}  # fmt: skip


def movielens_available():
    return os.path.isdir(MOVIELENS_DIR)


def load(dataset_name, history_length, pooling, max_rows):
    """The dataset with its history feature (pooled by `pooling`), training rows capped."""
    import numpy as np

    from zoo.data.base.tabular_dataset import Split

    if dataset_name == "kuairand":
        from zoo.data.sources.kuairand.loader import load_kuairand

        dataset = load_kuairand(
            tasks=TASKS["kuairand"], embedding_dim=EMBEDDING_DIM,
            history_length=history_length, history_pooling=pooling,
        )  # fmt: skip
    else:
        from zoo.data.sources.movielens.loader import load_movielens_100k

        dataset = load_movielens_100k(
            data_dir=MOVIELENS_DIR, tasks=TASKS["movielens"], embedding_dim=EMBEDDING_DIM,
            history_length=history_length, history_pooling=pooling, genres="multi_hot",
        )  # fmt: skip
    if max_rows is not None and len(dataset.train) > max_rows:
        # A fixed random subset (the same for every variant and seed): the
        # rows come sorted by user or date, and a prefix would drop some.
        keep = np.sort(np.random.default_rng(0).choice(len(dataset.train), max_rows, False))
        train = dataset.train
        dataset.train = Split(
            features={k: v[keep] for k, v in train.features.items()},
            labels={k: v[keep] for k, v in train.labels.items()},
            label_masks={k: v[keep] for k, v in train.label_masks.items()},
        )
    return dataset


_DATASETS = {}


def _dataset_for(dataset_name, pooling, settings):
    """The dataset of one variant: loaded once per process, its history re-pooled or dropped."""
    import dataclasses

    from zoo.features.spec import SequenceFeature

    key = dataset_name
    if key not in _DATASETS:
        _DATASETS[key] = load(
            dataset_name, settings["history_length"], "mean", settings["max_rows"]
        )
    dataset = _DATASETS[key]
    features = []
    for feature in dataset.features:
        if isinstance(feature, SequenceFeature):
            if pooling is None:
                continue  # the column stays in the rows; the preprocessor never reads it
            feature = dataclasses.replace(feature, pooling=pooling)
        features.append(feature)
    return dataclasses.replace(dataset, features=features)


def history_fill(datasets, settings):
    """Per dataset and split: the mean filled history slots and the share of empty histories.

    A history grows with the log: rows of the first days have short ones,
    the validation and test days full ones. This says how far apart they are.
    """
    import numpy as np

    fill = {}
    for name in datasets:
        dataset = _dataset_for(name, "mean", settings)
        fill[name] = {}
        for split in ("train", "validation", "test"):
            filled = (dataset.split(split).features[HISTORY[name]] >= 0).sum(axis=1)
            fill[name][split] = {
                "mean_filled": float(filled.mean()),
                "empty_share": float(np.mean(filled == 0)),
            }
    return fill


def run_one(dataset_name, variant, seed, settings):
    import keras

    from zoo.models import get_model_class
    from zoo.training import evaluate, fit

    model_name, pooling = VARIANTS[variant]
    dataset = _dataset_for(dataset_name, pooling, settings)
    keras.utils.set_random_seed(seed)
    model = get_model_class(model_name)(
        tasks=dataset.tasks, preprocessor=dataset.make_preprocessor(), tower_units=TOWER,
        **ARCHITECTURES[model_name],
    )  # fmt: skip
    started = time.perf_counter()
    result = fit(model, dataset, bu.training_config(settings, seed))
    test = evaluate(model, dataset, "test")
    tasks = TASKS[dataset_name]
    return {
        "dataset": dataset_name,
        "variant": variant,
        "seed": seed,
        "test_auc": {t: test[t]["auc"] for t in tasks},
        "test_gauc": {t: test[t].get("gauc") for t in tasks},
        "gauc_users": {t: test[t].get("gauc_users") for t in tasks},
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "params": int(model.count_params()),
        "train_rows": len(dataset.train),
        "test_rows": len(dataset.test),
        "wall_s": time.perf_counter() - started,
    }


# ---------------------------------------------------------------------------
# Cost of DIN against the history length: one fresh process per length.
# ---------------------------------------------------------------------------


def throughput_child(length, settings, out_path):
    """MMoE + DIN on KuaiRand at one history length: training, export, serving, peak RSS."""
    import keras
    import numpy as np
    import tensorflow as tf

    from zoo.export import export_saved_model
    from zoo.models import get_model_class
    from zoo.training import TrainingConfig, fit

    record = {"history_length": length, "stages": {}}
    dataset = load("kuairand", length, "attention", settings["max_rows"])
    history = dataset.train.features[HISTORY["kuairand"]]
    record["mean_filled_length_train"] = float((history >= 0).sum(axis=1).mean())
    record["train_rows"] = len(dataset.train)
    keras.utils.set_random_seed(1)
    model = get_model_class("mmoe")(
        tasks=dataset.tasks, preprocessor=dataset.make_preprocessor(), tower_units=TOWER,
        **ARCHITECTURES["mmoe"],
    )  # fmt: skip
    config = TrainingConfig(
        epochs=settings["throughput_epochs"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        jit_compile=settings.get("jit_compile", True),
        early_stopping_patience=None,
        seed=1,
        verbose=0,
    )
    reset_ok = bu.reset_peak_rss()
    rss_before = bu.current_rss_mb()
    result = fit(model, dataset, config)
    record["params"] = int(model.count_params())
    record["stages"]["train"] = {
        "rss_before_mb": rss_before,
        "peak_rss_mb": bu.peak_rss_mb(),
        "epoch_seconds": result.epoch_seconds,
        "samples_per_s": result.train_samples_per_second,
    }

    export_base = tempfile.mkdtemp(prefix="zoo-bench-seq-")
    path = export_saved_model(
        model, export_base, "mmoe-din", version=1, warmup_rows=dataset.head("test", 2)
    )
    serve = tf.saved_model.load(path).signatures["serving_default"]
    dtypes = model.preprocessor.raw_dtypes()
    raw = dataset.test.features
    rows = np.arange(settings["serve_batches"] * SERVE_BATCH) % len(dataset.test)
    batches = [
        {
            name: tf.constant(raw[name][rows[s : s + SERVE_BATCH]], dtype=dtype)
            for name, dtype in dtypes.items()
        }
        for s in range(0, len(rows), SERVE_BATCH)
    ]
    record["serve_input_shape"] = list(batches[0][HISTORY["kuairand"]].shape)

    def serve_pass():
        started = time.perf_counter()
        for batch in batches:
            _ = {k: v.numpy() for k, v in serve(**batch).items()}
        return time.perf_counter() - started

    served = {k: v.numpy() for k, v in serve(**batches[0]).items()}  # warm-up + check
    expected = model.predict({k: v[rows[:SERVE_BATCH]] for k, v in raw.items()}, verbose=0)
    record["served_max_abs_diff"] = max(
        float(np.abs(served[t] - np.asarray(expected[t]).reshape(-1)).max()) for t in expected
    )
    serve_pass()
    bu.reset_peak_rss()
    rss_before = bu.current_rss_mb()
    seconds = [serve_pass() for _ in range(settings["serve_passes"])]
    record["stages"]["serve"] = {
        "rss_before_mb": rss_before,
        "peak_rss_mb": bu.peak_rss_mb(),
        "pass_seconds": seconds,
        "samples_per_s": len(rows) / statistics.median(seconds),
    }
    record["peak_rss_reset"] = reset_ok
    record["status"] = "ok"
    bu.write_json(out_path, record)


def run_throughput(length, settings, logs_dir):
    out_path = os.path.join(tempfile.gettempdir(), f"zoo-seq-throughput-{os.getpid()}.json")
    cmd = [
        sys.executable, os.path.abspath(__file__), "--child-length", str(length),
        "--child-settings", json.dumps(settings), "--child-out", out_path,
    ]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    log = os.path.join(logs_dir, f"sequence_features_L{length}.log")
    return bu.run_child(cmd, out_path, log, env, timeout_s=900)


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def paired(runs, dataset_name, variant, metric, task):
    """`variant` minus the baseline on one task, paired by seed, and the verdict.

    "better" or "worse" only when the mean difference is larger than the
    seed spread (the largest of the two variants' standard deviations over
    seeds and that of the differences) and every seed favours the same side;
    anything else is "level".
    """
    by_seed = {(r["variant"], r["seed"]): r for r in runs if r["dataset"] == dataset_name}
    seeds = sorted(s for (v, s) in by_seed if v == variant and (BASELINE, s) in by_seed)
    if not seeds:
        return None
    ours = [by_seed[(variant, s)][metric][task] for s in seeds]
    base = [by_seed[(BASELINE, s)][metric][task] for s in seeds]
    if any(v is None for v in ours + base):
        return None
    diffs = [a - b for a, b in zip(ours, base)]
    mean, std = _mean_std(diffs)
    spread = max(_mean_std(ours)[1], _mean_std(base)[1], std)
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    if abs(mean) > spread and len(seeds) > 1 and (wins == len(seeds) or losses == len(seeds)):
        verdict = "better" if mean > 0 else "worse"
    else:
        verdict = "level"
    return {"mean": mean, "std": std, "spread": spread, "favour_variant": wins,
            "favour_baseline": losses, "seeds": len(seeds), "verdict": verdict}  # fmt: skip


def summarize(runs, datasets):
    summary = []
    for name in datasets:
        for variant in VARIANTS:
            if variant == BASELINE:
                continue
            for metric in ("test_auc", "test_gauc"):
                for task in TASKS[name]:
                    stats = paired(runs, name, variant, metric, task)
                    if stats:
                        summary.append({"dataset": name, "variant": variant, "metric": metric,
                                        "task": task, **stats})  # fmt: skip
    return summary


def _cell(values):
    stats = _mean_std(values)
    return "—" if stats is None else f"{stats[0]:.4f} ± {stats[1]:.4f}"


def markdown(report):
    s = report["settings"]
    runs = report["runs"]
    lines = [
        "# Behaviour histories: no history, mean pooling, DIN",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall, "
        f"load average at start {report['machine']['load_average_at_start']}).",
        "",
        f"Every variant is trained alike: at most {s['max_epochs']} epochs, early stopping on the "
        f"validation loss (patience {s['patience']}, the best epoch's weights kept), batch "
        f"{s['batch_size']}, Adam {s['learning_rate']}, "
        + ("XLA on" if s.get("jit_compile", True) else "XLA off")
        + f"; seeds 1–{s['seeds']}. MMoE {ARCHITECTURES['mmoe']['num_experts']} experts "
        f"{ARCHITECTURES['mmoe']['expert_units']}; PLE 2 levels of 2 shared + 1 per-task "
        f"experts {ARCHITECTURES['ple']['expert_units']}; towers {TOWER}; embeddings "
        f"{EMBEDDING_DIM} wide; history length {s['history_length']} (newest first; the history "
        'shares the candidate\'s embedding table). DIN: `SequenceFeature(pooling="attention")`, '
        "the candidate weighting each past item.",
        "",
        "- **KuaiRand**: the shipped like/hate subset, tasks "
        f"{', '.join(TASKS['kuairand'])}, split by date (10 / 2 / 2 days); history "
        "`watched_videos`: the videos the user clicked strictly before the row's millisecond "
        "(only the subset's rows, which all carry a like or a hate).",
        "- **MovieLens-100K**: tasks rating_ge_4 and rating_5, one sampled negative per rating "
        "(a negative carries the history of the rating it was drawn for), split by time per "
        "user; genres as one multi-hot feature; history `rated_movies`: the movies the user "
        "rated strictly before the rating's second.",
        f"- Training rows capped at {s['max_rows']:,} per dataset (a fixed random subset, the "
        "same for every variant and seed); validation and test splits whole."
        if s["max_rows"]
        else "- Every training row used.",
        "- GAUC: `zoo.metrics.ranking.group_auc` grouped by user (users with one class only "
        "skipped), test split.",
    ]
    for note in report.get("notes", []):
        lines.append(f"- {note}")
    for name in report["datasets"]:
        tasks = TASKS[name]
        rows = [r for r in runs if r["dataset"] == name]
        if not rows:
            continue
        r0 = rows[0]
        lines += [
            "",
            f"## {DATASET_DISPLAY[name]} ({r0['train_rows']:,} training rows, "
            f"{r0['test_rows']:,} test rows)",
            "",
            "Test AUC and GAUC, mean ± std over seeds; best epoch / epochs run per seed:",
            "",
            "| variant | "
            + " | ".join(f"{t} AUC" for t in tasks)
            + " | "
            + " | ".join(f"{t} GAUC" for t in tasks)
            + " | best / run epochs |",
            "|---|" + "---|" * (2 * len(tasks) + 1),
        ]
        for variant in VARIANTS:
            vr = sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["seed"])
            if not vr:
                continue
            cells = [_cell([r["test_auc"][t] for r in vr]) for t in tasks]
            cells += [_cell([r["test_gauc"][t] for r in vr]) for t in tasks]
            cells.append(", ".join(f"{r['best_epoch']}/{r['epochs_run']}" for r in vr))
            lines.append(f"| {DISPLAY[variant]} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f'Minus "{DISPLAY[BASELINE]}", paired by seed: mean ± std of the difference, '
            "seeds favouring the variant / the baseline, verdict:",
            "",
            "| variant | metric | " + " | ".join(tasks) + " |",
            "|---|---|" + "---|" * len(tasks),
        ]
        for variant in VARIANTS:
            if variant == BASELINE:
                continue
            for metric, label in (("test_auc", "AUC"), ("test_gauc", "GAUC")):
                cells = []
                for task in tasks:
                    p = next(
                        (x for x in report["summary"] if (x["dataset"], x["variant"],
                         x["metric"], x["task"]) == (name, variant, metric, task)),
                        None,
                    )  # fmt: skip
                    cells.append(
                        "—"
                        if p is None
                        else f"{p['mean']:+.4f} ± {p['std']:.4f} "
                        f"({p['favour_variant']}/{p['favour_baseline']}) {p['verdict']}"
                    )
                lines.append(f"| {DISPLAY[variant]} | {label} | " + " | ".join(cells) + " |")
        capped = [r for r in rows if r["best_epoch"] == r["epochs_run"] == s["max_epochs"]]
        fill = report.get("history_fill", {}).get(name)
        if fill:
            lines += [
                "",
                f"History `{HISTORY[name]}` (length {s['history_length']}): mean filled slots / "
                "share of empty histories: "
                + ", ".join(
                    f"{split} {f['mean_filled']:.1f} / {f['empty_share']:.1%}"
                    for split, f in fill.items()
                )
                + ".",
            ]
        lines += [
            "",
            "Runs stopped at the epoch cap with their best epoch last (the budget may be short): "
            + (
                ", ".join(f"{DISPLAY[r['variant']]} seed {r['seed']}" for r in capped)
                if capped
                else "none."
            ),
        ]
    lines += [
        "",
        'Verdict: "better" / "worse" only when the mean paired difference is larger than the '
        "seed spread (the larger of the two variants' standard deviations over seeds and that of "
        'the differences) and every seed favours the same side; otherwise "level".',
    ]
    skipped = report.get("skipped")
    if skipped:
        lines += ["", f"Skipped: {skipped}"]
    cost = report.get("throughput", [])
    if cost:
        lines += [
            "",
            "## MMoE + DIN against the history length (KuaiRand)",
            "",
            f"One fresh process per length. Training: {s['throughput_epochs']} epochs without "
            "early stopping on the same training rows, samples/s = rows / median epoch time after "
            "the first (`TrainingResult.train_samples_per_second`). Serving: "
            '`export_saved_model`, `tf.saved_model.load`, `signatures["serving_default"]` '
            f"called in-process with raw features as `tf.constant` batches of {SERVE_BATCH} "
            f"(the history a `({SERVE_BATCH}, L)` int64 tensor padded with -1; "
            f"{s['serve_batches']} batches of test rows per pass, median of {s['serve_passes']} "
            "passes after a warm-up pass; outputs fetched as numpy). Peak RSS: the process's "
            "`VmHWM`, reset to the current RSS through `/proc/self/clear_refs` just before each "
            "phase, so each figure is that phase's own peak (the model, data and TensorFlow "
            "already resident are included).",
            "",
            "| history length | mean filled slots (train) | train samples/s | serving samples/s, "
            "batch 1024 | peak RSS MB, training | peak RSS MB, serving | served − Keras max abs "
            "diff | other load (cores) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in cost:
            if c.get("status") != "ok":
                lines.append(f"| {c.get('history_length')} | failed: {c.get('returncode')} |")
                continue
            train, serve = c["stages"]["train"], c["stages"]["serve"]
            lines.append(
                f"| {c['history_length']} | {c['mean_filled_length_train']:.1f} | "
                f"{train['samples_per_s']:,.0f} | {serve['samples_per_s']:,.0f} | "
                f"{train['peak_rss_mb']:,.0f} | {serve['peak_rss_mb']:,.0f} | "
                f"{c['served_max_abs_diff']:.1e} | {c.get('other_load_cores')} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="kuairand,movielens")
    parser.add_argument("--seeds", type=int, help=f"default {SIZES['seeds']}")
    parser.add_argument(
        "--epochs", type=int, help=f"the most epochs a run may take (default {SIZES['epochs']})"
    )
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--max-rows",
        type=int,
        help=f"training rows kept per dataset, 0 for all (default {SIZES['max_rows']:,})",
    )
    parser.add_argument("--history-length", type=int, default=20, help="for the AUC tables")
    parser.add_argument(
        "--lengths", help=f"history lengths for the cost, comma-separated ({SIZES['lengths']})"
    )
    parser.add_argument("--throughput-epochs", type=int)
    parser.add_argument("--serve-batches", type=int)
    parser.add_argument("--serve-passes", type=int)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes for a smoke test (size flags given still win), XLA off",
    )
    bu.add_xla_flag(parser)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--child-length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-settings", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_length is not None:
        throughput_child(args.child_length, json.loads(args.child_settings), args.child_out)
        return
    base = os.path.join(args.out, "sequence_features")
    if args.render_only:
        with open(base + ".json") as f:
            report = json.load(f)
        if "history_fill" not in report:  # reports written before it was measured
            report["history_fill"] = history_fill(report["datasets"], report["settings"])
        bu.write_report(base, report, markdown(report))
        return
    # A size flag given wins; the others come from the run's sizes (`--smoke`: tiny, no XLA).
    for name, value in (SMOKE if args.smoke else SIZES).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.smoke:
        args.xla = False
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = [d for d in datasets if d not in TASKS]
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {list(TASKS)}")
    skipped = None
    if "movielens" in datasets and not movielens_available():
        datasets.remove("movielens")
        skipped = (
            f"MovieLens-100K: {os.path.normpath(MOVIELENS_DIR)} is absent (it cannot be "
            "redistributed, so it is not in the repository)."
        )
        print(f"skipping {skipped}", flush=True)
    settings = {
        "seeds": args.seeds,
        "max_epochs": args.epochs,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "max_rows": args.max_rows or None,
        "history_length": args.history_length,
        "lengths": [int(x) for x in args.lengths.split(",") if x],
        "throughput_epochs": args.throughput_epochs,
        "serve_batches": args.serve_batches,
        "serve_passes": args.serve_passes,
    }
    if not args.xla:
        settings["jit_compile"] = False
    runs_dir = base + "_runs"
    os.makedirs(runs_dir, exist_ok=True)
    # What makes a stored run reusable: everything that changes its training.
    key = {k: settings[k] for k in ("max_epochs", "patience", "batch_size", "learning_rate",
                                    "max_rows", "history_length")}  # fmt: skip
    key["jit_compile"] = settings.get("jit_compile", True)
    started = time.perf_counter()
    runs = []
    for name in datasets:
        for seed in range(1, args.seeds + 1):
            for variant in VARIANTS:
                path = os.path.join(runs_dir, f"{name}-{variant}-s{seed}.json")
                run, fresh = bu.stored_run(path, key, run_one, name, variant, seed, settings)
                runs.append(run)
                if fresh:
                    print(
                        f"{DATASET_DISPLAY[name]} seed {seed} {DISPLAY[variant]:<20}: "
                        + ", ".join(
                            f"{t} AUC {run['test_auc'][t]:.4f} GAUC {run['test_gauc'][t]:.4f}"
                            for t in TASKS[name]
                        )
                        + f" (best epoch {run['best_epoch']}/{run['epochs_run']}, "
                        f"{run['wall_s']:.0f} s)",
                        flush=True,
                    )
    throughput = []
    logs_dir = os.path.join(args.out, "logs")
    for length in settings["lengths"]:
        record = run_throughput(length, settings, logs_dir)
        throughput.append({"history_length": length, **record})
        if record.get("status") == "ok":
            print(
                f"MMoE + DIN, history length {length}: train "
                f"{record['stages']['train']['samples_per_s']:,.0f} samples/s, serve "
                f"{record['stages']['serve']['samples_per_s']:,.0f} samples/s (batch "
                f"{SERVE_BATCH}), peak RSS train {record['stages']['train']['peak_rss_mb']:,.0f} "
                f"MB / serve {record['stages']['serve']['peak_rss_mb']:,.0f} MB",
                flush=True,
            )
        else:
            print(f"history length {length}: FAILED, see {logs_dir}", flush=True)
    report = bu.new_report(
        started,
        settings,
        datasets=datasets,
        skipped=skipped,
        runs=runs,
        summary=summarize(runs, datasets),
        throughput=throughput,
        history_fill=history_fill(datasets, settings),
        versions=bu.versions("tensorflow", "keras", "keras-hub", "numpy"),
    )
    if any(t.get("status") != "ok" for t in throughput):
        report["notes"] = ["a throughput child failed: its log is in results/logs/"]
    bu.write_report(base, report, markdown(report))


if __name__ == "__main__":
    main()
