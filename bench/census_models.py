#!/usr/bin/env python
"""Six zoo models on Census-Income (KDD): accuracy, training and serving speed, memory.

Trains Single-task, Shared-Bottom, OMoE, MMoE, CGC and PLE on the shipped
Census-Income data (task group 1: income, never_married), each model in a
fresh child process so that its peak RSS is its own, and writes
`census_models.json` and `census_models.md` (default folder `bench/results/`).

Per model:
  * exact per-task AUC on validation and test (`zoo.training.evaluate`),
  * parameters,
  * training samples/s: `TrainingResult.train_samples_per_second` of
    `zoo.training.fit` (training rows / median wall time of the epochs after
    the first; validation is not inside the timed part),
  * SavedModel inference samples/s at batch 1024: `zoo.export.export_saved_model`
    into a temporary folder, `tf.saved_model.load`, the `serving_default`
    signature called with raw features (strings and floats) as pre-built
    `tf.constant` batches of 1024; median of several passes over the test split,
  * SavedModel latency at batch 1: p50 / p99 of single-row calls after warm-up,
  * peak RSS (VmHWM) of the child process in MB.

Defaults are the peer benchmark's settings (../shared/peer-bench/common.py) so the
figures can be set beside DeepCTR's and torch-rechub's.

    python bench/census_models.py                      # all six, defaults (~5 min)
    python bench/census_models.py --models mmoe,ple --repeats 2
    python bench/census_models.py --quick              # smoke test (~1-2 min)
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402

MODEL_ORDER = ["single-task", "shared-bottom", "omoe", "mmoe", "cgc", "ple"]
# The other baselines of the seed papers' tables, for bench/census_table.py
# (not part of this script's speed comparison with the peers).
SEED_BASELINES = ["cross-stitch", "snr-trans", "snr-aver", "esmm"]
DISPLAY = {
    "single-task": "Single-task",
    "shared-bottom": "Shared-Bottom",
    "omoe": "OMoE",
    "mmoe": "MMoE",
    "cgc": "CGC",
    "ple": "PLE",
    "cross-stitch": "Cross-Stitch",
    "snr-trans": "SNR-Trans",
    "snr-aver": "SNR-Aver",
    "esmm": "ESMM",
}
TOWER = [16]
# Model constructor arguments. The peer benchmark's architectures where it has
# them (Shared-Bottom, MMoE, PLE: same parameter counts as DeepCTR's); OMoE is
# MMoE with one gate, CGC one PLE level. Single-task: each task gets its own
# embeddings and an MLP of 128, i.e. the 256 hidden units of the Shared-Bottom
# split between the two tasks, for about the same parameter count (43k vs 45k).
ARCHITECTURES = {
    "single-task": {"hidden_units": [128], "tower_units": TOWER},
    "shared-bottom": {"bottom_units": [256], "tower_units": TOWER},
    "omoe": {"num_experts": 8, "expert_units": [32], "tower_units": TOWER},
    "mmoe": {"num_experts": 8, "expert_units": [32], "tower_units": TOWER},
    "cgc": {
        "num_task_experts": 2,
        "num_shared_experts": 4,
        "expert_units": [32],
        "tower_units": TOWER,
    },
    "ple": {
        "num_levels": 2,
        "num_task_experts": 2,
        "num_shared_experts": 4,
        "expert_units": [32],
        "tower_units": TOWER,
    },
    "cross-stitch": {"units": [64, 32], "tower_units": TOWER},
    "snr-trans": {"num_layers": 2, "num_experts": 4, "expert_units": 32, "tower_units": TOWER},
    "snr-aver": {"num_layers": 2, "num_experts": 4, "expert_units": 32, "tower_units": TOWER},
    "esmm": {"hidden_units": [128], "tower_units": TOWER},
}
ARCH_TEXT = {
    "single-task": "per task: own embeddings, MLP [128], tower [16]",
    "shared-bottom": "bottom [256], towers [16]",
    "omoe": "8 experts [32], 1 shared gate, towers [16]",
    "mmoe": "8 experts [32], 1 gate per task, towers [16]",
    "cgc": "2 task + 4 shared experts [32], towers [16]",
    "ple": "2 levels, 2 task + 4 shared experts [32], towers [16]",
    "cross-stitch": "per task a column [64, 32], cross-stitch units after each layer, towers [16]",
    "snr-trans": "2 layers of 4 sub-networks [32], transformation connections with L0 1e-4, "
    "towers [16]",
    "snr-aver": "2 layers of 4 sub-networks [32], averaging connections with L0 1e-4, towers [16]",
    "esmm": "per task an MLP [128] over shared embeddings, towers [16]; the second task's "
    "output is the first's times its own",
}
TARGETS = {"income": 0.950, "never_married": 0.9943, "savedmodel_samples_per_s": 400_000}

# --quick: enough to go through every code path in a minute or two.
QUICK = {
    "epochs": 2,
    "train_rows": 20_000,
    "eval_rows": 4_096,
    "infer_passes": 2,
    "latency_calls": 20,
    "latency_warmup": 5,
}


# ---------------------------------------------------------------------------
# child: one model, one process
# ---------------------------------------------------------------------------


def _subsample(dataset, train_rows, eval_rows):
    import dataclasses

    from zoo.data.base.tabular_dataset import Split

    def cut(split, n):
        if not n:
            return split
        return Split(
            features={k: v[:n] for k, v in split.features.items()},
            labels={k: v[:n] for k, v in split.labels.items()},
        )

    return dataclasses.replace(
        dataset,
        train=cut(dataset.train, train_rows),
        validation=cut(dataset.validation, eval_rows),
        test=cut(dataset.test, eval_rows),
    )


def _install_cpu_timer():
    """Makes `zoo.training.fit` also record process CPU time per epoch.

    `fit` builds its `TrainingTimer` from the module global at call time; this
    swaps in a subclass that times the same span (epoch begin to the start of
    validation) with `time.process_time()` as well. Benchmark-side only: the wall
    times and everything else `fit` does are unchanged. Returns the list the new
    timers register themselves in."""
    from zoo.training import trainer

    instances = []
    base = trainer.TrainingTimer

    class CpuTrainingTimer(base):
        def __init__(self):
            super().__init__()
            self.epoch_cpu_seconds = []
            self._cpu_start = None
            instances.append(self)

        def on_epoch_begin(self, epoch, logs=None):
            super().on_epoch_begin(epoch, logs)
            self._cpu_start = time.process_time()

        def _stop(self):
            if self._start is not None and self._cpu_start is not None:
                self.epoch_cpu_seconds.append(time.process_time() - self._cpu_start)
                self._cpu_start = None
            super()._stop()

    trainer.TrainingTimer = CpuTrainingTimer
    return instances


def child(model_name, repeat, settings, out_path):
    import numpy as np

    import zoo  # noqa: F401  (sets KERAS_BACKEND before keras is imported)

    import tensorflow as tf  # isort: skip

    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])
    import keras

    from zoo.data import load_census_income
    from zoo.export import export_saved_model
    from zoo.models import get_model_class
    from zoo.training import TrainingConfig, evaluate, fit, predict

    t_start = time.perf_counter()
    # Repeat r trains with seed + r - 1, so the repeats' AUCs are runs of different seeds,
    # not one seed's run twice (repeat 1 keeps the seed of the earlier reports).
    seed = settings["seed"] + repeat - 1
    keras.utils.set_random_seed(seed)
    dataset = load_census_income(
        task_group=1, protocol=settings["protocol"], embedding_dim=settings["embedding_dim"]
    )
    dataset = _subsample(dataset, settings.get("train_rows"), settings.get("eval_rows"))
    preprocessor = dataset.make_preprocessor()
    load_s = time.perf_counter() - t_start
    rss_after_data = bu.current_rss_mb()

    model = get_model_class(model_name)(
        tasks=dataset.tasks, preprocessor=preprocessor, **ARCHITECTURES[model_name]
    )
    config = TrainingConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        jit_compile=True,
        early_stopping_patience=None,
        seed=seed,
        tensorboard_dir=None,
        verbose=0,
    )
    cpu_timers = _install_cpu_timer()
    t0, c0 = time.perf_counter(), time.process_time()
    result = fit(model, dataset, config)
    fit_wall, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    # Process CPU time of the same timed parts (all threads); None if the patch
    # did not take (then only wall times are reported).
    timer = next((t for t in cpu_timers if t.epoch_seconds is result.epoch_seconds), None)
    epoch_cpu = timer.epoch_cpu_seconds if timer else None
    steady = result.epoch_seconds[1:] if len(result.epoch_seconds) > 1 else result.epoch_seconds
    metrics = {split: evaluate(model, dataset, split) for split in ("validation", "test")}
    tasks = [t.name for t in dataset.tasks]

    # --- SavedModel: export, load, call the serving signature with raw features
    export_base = tempfile.mkdtemp(prefix="zoo-bench-export-")
    t0 = time.perf_counter()
    export_path = export_saved_model(model, export_base, model_name, version=1)
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded = tf.saved_model.load(export_path)
    serve = loaded.signatures["serving_default"]
    load_saved_s = time.perf_counter() - t0

    dtypes = preprocessor.raw_dtypes()
    raw = dataset.test.features
    n_test = len(dataset.test)
    bs = settings["infer_batch_size"]
    batches = [
        {name: tf.constant(raw[name][s : s + bs], dtype=dtype) for name, dtype in dtypes.items()}
        for s in range(0, n_test, bs)
    ]

    def run_pass():
        outs = []
        start = time.perf_counter()
        for batch in batches:
            out = serve(**batch)
            outs.append({k: v.numpy() for k, v in out.items()})
        return time.perf_counter() - start, outs

    _, outs = run_pass()  # warm-up (first call of each batch shape) + correctness check
    served = {t: np.concatenate([o[t] for o in outs]) for t in tasks}
    in_process = predict(model, dataset, "test")
    max_abs_diff = max(float(np.abs(served[t] - in_process[t]).max()) for t in tasks)
    pass_seconds = [run_pass()[0] for _ in range(settings["infer_passes"])]

    n_calls, n_warm = settings["latency_calls"], settings["latency_warmup"]
    rows = [
        {name: tf.constant(raw[name][i : i + 1], dtype=dtype) for name, dtype in dtypes.items()}
        for i in range(n_calls)
    ]
    for i in range(n_warm):
        _ = {k: v.numpy() for k, v in serve(**rows[i % n_calls]).items()}
    latencies = []
    for row in rows:
        start = time.perf_counter()
        _ = {k: v.numpy() for k, v in serve(**row).items()}
        latencies.append(time.perf_counter() - start)
    latencies_ms = np.asarray(latencies) * 1000.0

    def rounded(d, digits=5):
        return {t: round(d[t]["auc"], digits) for t in tasks}

    res = {
        "status": "ok",
        "model": model_name,
        "repeat": repeat,
        "architecture": ARCHITECTURES[model_name],
        "n_params": int(model.count_params()),
        "tasks": tasks,
        "n_features": len(dataset.features),
        "rows": {
            "train": len(dataset.train),
            "validation": len(dataset.validation),
            "test": n_test,
        },
        "data_load_and_adapt_s": round(load_s, 2),
        "epoch_seconds": [round(s, 4) for s in result.epoch_seconds],
        "first_epoch_s": round(result.epoch_seconds[0], 3),
        "train_s_per_epoch_steady": round(bu.median(steady), 4),
        "train_samples_per_s": round(result.train_samples_per_second, 1),
        "epoch_cpu_seconds": epoch_cpu and [round(c, 4) for c in epoch_cpu],
        "train_cpu_s_per_epoch_steady": epoch_cpu
        and round(bu.median(epoch_cpu[1:] if len(epoch_cpu) > 1 else epoch_cpu), 4),
        "fit_wall_s": round(fit_wall, 2),
        "fit_cpu_s": round(fit_cpu, 2),
        "train_loss_per_epoch": [round(v, 5) for v in result.history.get("loss", [])],
        "val_loss_per_epoch": [round(v, 5) for v in result.history.get("val_loss", [])],
        "val_auc": rounded(metrics["validation"]),
        "test_auc": rounded(metrics["test"]),
        "test_loss": {t: round(metrics["test"][t]["loss"], 5) for t in tasks},
        "savedmodel_export_s": round(export_s, 2),
        "savedmodel_load_s": round(load_saved_s, 2),
        "savedmodel_test_auc": {
            t: round(float(_auc(dataset.test.labels[t], served[t])), 5) for t in tasks
        },
        "savedmodel_max_abs_diff_vs_keras": max_abs_diff,
        "infer_batch_size": bs,
        "infer_pass_seconds": [round(s, 4) for s in pass_seconds],
        "infer_samples_per_s_savedmodel": round(n_test / bu.median(pass_seconds), 1),
        "latency_calls": n_calls,
        "latency_ms_p50": round(float(np.percentile(latencies_ms, 50)), 3),
        "latency_ms_p99": round(float(np.percentile(latencies_ms, 99)), 3),
        "latency_ms_mean": round(float(latencies_ms.mean()), 3),
        "rss_after_data_mb": round(rss_after_data, 1),
        "peak_rss_mb": round(bu.peak_rss_mb(), 1),
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "child_wall_s": round(time.perf_counter() - t_start, 1),
    }
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    shutil.rmtree(export_base, ignore_errors=True)


def _auc(labels, scores):
    from zoo.metrics.ranking import roc_auc

    return roc_auc(labels, scores)


# ---------------------------------------------------------------------------
# parent: one child per (repeat, model), then the report
# ---------------------------------------------------------------------------


def resolve_settings(args):
    settings = {
        "protocol": args.protocol,
        "task_group": 1,
        "embedding_dim": 4,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": 1e-3,
        "optimizer": "adam",
        "early_stopping_patience": None,
        "jit_compile": True,
        "seed": args.seed,
        "threads": args.threads,
        "infer_batch_size": 1024,
        "infer_passes": args.infer_passes,
        "latency_calls": args.latency_calls,
        "latency_warmup": 30,
        "train_rows": None,
        "eval_rows": None,
        "quick": args.quick,
    }
    if args.quick:
        for key, value in QUICK.items():
            settings[key] = value
        if args.epochs_given:
            settings["epochs"] = args.epochs
    return settings


def run_all(models, repeats, settings, out_dir, timeout_s, wait_quiet_s=0, wait_total_s=0):
    log_dir = os.path.join(out_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["OMP_NUM_THREADS"] = str(settings["threads"])
    runs = []
    waited_total = 0.0
    for rep in range(1, repeats + 1):
        for name in models:
            busy, waited = None, 0.0
            if wait_quiet_s > 0 and waited_total < wait_total_s:
                limit = min(wait_quiet_s, wait_total_s - waited_total)
                busy, waited = bu.wait_for_quiet(limit)
                waited_total += waited
                if waited > 3:
                    print(f"[census] waited {waited:.0f}s for other load to drop", flush=True)
            fd, child_out = tempfile.mkstemp(prefix=f"census-{name}-r{rep}-", suffix=".json")
            os.close(fd)
            log_path = os.path.join(log_dir, f"census_{name}_r{rep}.log")
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                "--model",
                name,
                "--repeat",
                str(rep),
                "--child-out",
                child_out,
                "--settings",
                json.dumps(settings),
            ]
            print(f"[census] repeat {rep} model {name} ...", flush=True)
            r = bu.run_child(cmd, child_out, log_path, env, timeout_s)
            r.setdefault("model", name)
            r.setdefault("repeat", rep)
            wall = r["process_wall_s"]
            r["busy_cores_before_start"] = None if busy is None else round(busy, 2)
            r["waited_for_quiet_s"] = round(waited, 1)
            r["log"] = os.path.relpath(log_path, bu.REPO_ROOT)
            runs.append(r)
            if r["status"] == "ok":
                auc = r["test_auc"]
                print(
                    f"   ok in {wall:.0f}s: test AUC {auc} | train {r['train_samples_per_s']:,.0f}"
                    f" samples/s | SavedModel {r['infer_samples_per_s_savedmodel']:,.0f} samples/s"
                    f" | p50 {r['latency_ms_p50']:.2f} ms | peak RSS {r['peak_rss_mb']:.0f} MB"
                    f" | other load {r['other_load_cores']} cores",
                    flush=True,
                )
            else:
                rc = r.get("returncode")
                print(f"   FAILED (rc={rc}) in {wall:.0f}s, see {log_path}", flush=True)
    return runs


def summarize(runs, models):
    keys = [
        "n_params",
        "train_samples_per_s",
        "train_s_per_epoch_steady",
        "first_epoch_s",
        "infer_samples_per_s_savedmodel",
        "latency_ms_p50",
        "latency_ms_p99",
        "peak_rss_mb",
    ]
    out = {}
    for name in models:
        ok = [r for r in runs if r["model"] == name and r["status"] == "ok"]
        if not ok:
            continue
        s = {k: bu.median([r[k] for r in ok]) for k in keys}
        for split in ("val_auc", "test_auc"):
            s[split] = {t: bu.median([r[split][t] for r in ok]) for t in ok[0]["tasks"]}
        s["repeats_ok"] = len(ok)
        out[name] = s
    return out


def markdown(report):
    runs, settings = report["runs"], report["settings"]
    models = report["models"]
    m, v = report["machine"], report["versions"]
    tasks = ["income", "never_married"]
    L = ["# Census-Income: the six zoo models\n"]
    L.append(f"Measured {report['date_utc']} with\n\n```\n{report['command']}\n```\n")
    L.append(
        f"Total wall time of the run: **{report['total_wall_s']:.0f} s** "
        f"({len(runs)} child processes, one per model and repeat, run one after another).\n"
    )
    L.append(
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs (load average at start "
        f"{m['load_average_at_start']}), Python {m['python']}, {m['platform']}. CPU only; "
        f"every child uses TF intra-op = inter-op = {settings['threads']} threads, "
        f"OMP_NUM_THREADS={settings['threads']}.\n"
    )
    L.append(
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val is not None) + ".\n"
    )
    rows = (
        "all rows (train 199,523; validation 49,881; test 49,881)"
        if not settings["train_rows"]
        else f"SUBSAMPLED (--quick): train {settings['train_rows']:,}, "
        f"validation/test {settings['eval_rows']:,} rows"
    )
    L.append(
        f"Data: shipped Census-Income, task group 1 (income, never_married), protocol "
        f"`{settings['protocol']}`, embedding dim {settings['embedding_dim']}, {rows}.\n"
    )
    L.append(
        f"Training: `zoo.training.fit`, {settings['epochs']} epochs, batch "
        f"{settings['batch_size']}, Adam lr {settings['learning_rate']:g}, no early stopping, "
        f"XLA on (`jit_compile=True`), seed {settings['seed']}, `verbose=0`, no TensorBoard. "
        "The compiled model keeps `MultiTaskModel.compile`'s default Keras AUC metric per task.\n"
    )
    header = (
        "| model (architecture) | params | test AUC income | test AUC never_married "
        "| val AUC income | val AUC never_married | train samples/s (median of epochs 2–"
        f"{settings['epochs']}) | train s/epoch (wall) | train CPU s/epoch | first epoch s "
        f"| SavedModel infer samples/s, batch {settings['infer_batch_size']} "
        "| SavedModel latency batch 1, p50 ms | p99 ms | peak RSS MB |"
    )
    L.append(header)
    L.append("|" + "---|" * 14)
    for name in models:
        ok = [r for r in runs if r["model"] == name and r["status"] == "ok"]
        if not ok:
            L.append(f"| {DISPLAY[name]} | failed |" + " |" * 12)
            continue

        def col(key, sub=None, runs=ok):
            return [r[key][sub] if sub else r[key] for r in runs]

        L.append(
            f"| {DISPLAY[name]} ({ARCH_TEXT[name]}) | {ok[0]['n_params']:,} "
            f"| {bu.fmt(col('test_auc', tasks[0]), '.4f')} "
            f"| {bu.fmt(col('test_auc', tasks[1]), '.4f')} "
            f"| {bu.fmt(col('val_auc', tasks[0]), '.4f')} "
            f"| {bu.fmt(col('val_auc', tasks[1]), '.4f')} "
            f"| {bu.fmt(col('train_samples_per_s'), ',.0f')} "
            f"| {bu.fmt(col('train_s_per_epoch_steady'), '.2f')} "
            f"| {bu.fmt([r.get('train_cpu_s_per_epoch_steady') for r in ok], '.2f')} "
            f"| {bu.fmt(col('first_epoch_s'), '.2f')} "
            f"| {bu.fmt(col('infer_samples_per_s_savedmodel'), ',.0f')} "
            f"| {bu.fmt(col('latency_ms_p50'), '.2f')} "
            f"| {bu.fmt(col('latency_ms_p99'), '.2f')} "
            f"| {bu.fmt(col('peak_rss_mb'), ',.0f')} |"
        )
    if settings["repeats"] > 1:
        L.append("\nEach cell lists the repeats in run order (repeat 1 / repeat 2 / …).")
    L.append("")
    L.append("## Against the targets\n")
    L.append(
        f"Targets: test AUC ≥ {TARGETS['income']} income and ≥ {TARGETS['never_married']} "
        f"never_married after {settings['epochs']} epochs; SavedModel inference at batch 1024 "
        f"≥ {TARGETS['savedmodel_samples_per_s']:,} samples/s (medians over repeats).\n"
    )
    L.append("| model | test AUC income | test AUC never_married | SavedModel samples/s |")
    L.append("|---|---|---|---|")
    sm_target = TARGETS["savedmodel_samples_per_s"]
    for name, s in report["summary"].items():

        def mark(value, target, spec):
            return f"{value:{spec}} {'✓' if value >= target else '✗'}"

        L.append(
            f"| {DISPLAY[name]} | {mark(s['test_auc']['income'], TARGETS['income'], '.4f')} "
            f"| {mark(s['test_auc']['never_married'], TARGETS['never_married'], '.4f')} "
            f"| {mark(s['infer_samples_per_s_savedmodel'], sm_target, ',.0f')} |"
        )
    L.append("")
    L.append("## Secondary numbers\n")
    L.append(
        "| model | data load + adapt s | fit wall s (incl. validation) | fit CPU s "
        "| export s | SavedModel load s | SavedModel test AUC income / never_married "
        "| max abs diff SavedModel vs Keras | child process wall s "
        "| other processes' load during the child, cores |"
    )
    L.append("|" + "---|" * 10)
    for r in runs:
        if r["status"] != "ok":
            continue
        sm = r["savedmodel_test_auc"]
        L.append(
            f"| {DISPLAY[r['model']]} r{r['repeat']} | {r['data_load_and_adapt_s']:.1f} "
            f"| {r['fit_wall_s']:.1f} | {r['fit_cpu_s']:.1f} | {r['savedmodel_export_s']:.1f} "
            f"| {r['savedmodel_load_s']:.1f} | {sm['income']:.4f} / {sm['never_married']:.4f} "
            f"| {r['savedmodel_max_abs_diff_vs_keras']:.1e} | {r['process_wall_s']:.0f} "
            f"| {bu.fmt(r.get('other_load_cores'), '.2f')} |"
        )
    failed = [r for r in runs if r["status"] != "ok"]
    if failed:
        L.append("\n## Failures\n")
        for r in failed:
            tail = "\n".join((r.get("log_tail") or "").strip().splitlines()[-8:])
            L.append(
                f"- {r['model']} repeat {r['repeat']}: rc {r['returncode']}, log `{r['log']}`"
                f"\n\n```\n{tail}\n```"
            )
    L.append("")
    L.append(
        "Definitions: train samples/s = training rows / median wall time of epochs 2–N "
        "(training part only; epoch 1 carries tracing and XLA compilation). SavedModel "
        "samples/s = test rows / median time of one pass over the test split in pre-built "
        "raw-feature batches (the signature runs the preprocessor's string lookups and "
        "normalization, then the model; outputs fetched as numpy). Latency: one call of the "
        f"signature with a one-row raw batch, {settings['latency_calls']} calls after "
        f"{settings['latency_warmup']} warm-up calls. Peak RSS = VmHWM of the child (import, "
        "data, training, evaluation, export, reload, inference). See bench/README.md.\n"
    )
    return "\n".join(L)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", default=",".join(MODEL_ORDER), help="comma list of CLI names")
    ap.add_argument("--epochs", type=int, default=None, help="default 5 (2 with --quick)")
    ap.add_argument("--protocol", choices=("all-features", "paper"), default="all-features")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument(
        "--out",
        default=None,
        help="output folder (default bench/results, bench/results/quick with --quick)",
    )
    ap.add_argument("--quick", action="store_true", help="tiny settings for a smoke test")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--threads", type=int, default=2, help="TF intra/inter-op threads")
    ap.add_argument("--infer-passes", type=int, default=5)
    ap.add_argument("--latency-calls", type=int, default=300)
    ap.add_argument("--timeout", type=int, default=900, help="per child process, seconds")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=None,
        help="before each child, wait up to this many seconds for other processes to use "
        "< 0.3 cores (default 20, 0 with --quick; 0 = never wait)",
    )
    ap.add_argument(
        "--wait-total", type=float, default=90, help="cap on all waiting, seconds (default 90)"
    )
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="re-write census_models.md from the census_models.json in --out (no runs)",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    ap.add_argument("--settings", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        child(args.model, args.repeat, json.loads(args.settings), args.child_out)
        return 0

    if args.render_only:
        out = args.out or os.path.join(HERE, "results", "quick" if args.quick else "")
        with open(os.path.join(out, "census_models.json")) as f:
            report = json.load(f)
        with open(os.path.join(out, "census_models.md"), "w") as f:
            f.write(markdown(report))
        print(f"re-wrote {os.path.join(out, 'census_models.md')}")
        return 0

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODEL_ORDER]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; valid: {', '.join(MODEL_ORDER)}")
    if args.wait_quiet is None:
        args.wait_quiet = 0 if args.quick else 20
    args.epochs_given = args.epochs is not None
    if args.epochs is None:
        args.epochs = 5
    settings = resolve_settings(args)
    settings["repeats"] = args.repeats
    if args.out is None:
        args.out = os.path.join(HERE, "results", "quick" if args.quick else "")
    args.out = os.path.normpath(args.out)
    os.makedirs(args.out, exist_ok=True)

    report = {
        "benchmark": "census_models",
        "date_utc": bu.utc_now(),
        "command": bu.command_line(),
        "machine": bu.machine_info(),
        "versions": bu.versions("tensorflow", "tensorflow-cpu", "keras", "numpy", "mtl-zoo"),
        "settings": settings,
        "architectures": {m: ARCHITECTURES[m] for m in models},
        "models": models,
    }
    t0 = time.perf_counter()
    runs = run_all(
        models, args.repeats, settings, args.out, args.timeout, args.wait_quiet, args.wait_total
    )
    report["total_wall_s"] = round(time.perf_counter() - t0, 1)
    report["runs"] = runs
    report["summary"] = summarize(runs, models)
    md = markdown(report)
    json_path = os.path.join(args.out, "census_models.json")
    md_path = os.path.join(args.out, "census_models.md")
    with open(json_path, "w") as f:
        json.dump(report, f, indent=1)
    with open(md_path, "w") as f:
        f.write(md)
    print()
    print(md)
    print(f"wrote {json_path} and {md_path} (total wall {report['total_wall_s']:.0f} s)")
    return 0 if all(r["status"] == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
