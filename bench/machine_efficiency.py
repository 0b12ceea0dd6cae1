#!/usr/bin/env python
"""How close to the machine the zoo runs: today's code against an earlier revision, in one run.

MMoE on Census-Income (task group 1, all features, 8 experts [32], towers
[16]), trained by the README's recipe: `model.fit` on the raw columns,
batch 1024, 5 epochs, with validation. Each measurement is a child process;
the children of the two revisions alternate (before, after, after, before,
...) so that a slow spell of the shared machine does not fall on one side.
The earlier revision is checked out with `git worktree` and imported from
there; its README compiled with `model.compile(jit_compile=True)`, today's
with `model.compile()` (XLA and 8 steps per call are the model's defaults).

Each child prints:

* training samples per second and per CPU-second (process CPU time of the
  training part of epochs 2-5, validation excluded; epoch 1 carries the
  compilation) and the test AUC;
* FLOPs per training sample, counted from the model's kernels (a kernel
  `(in, out)` costs 2*in*out per row forward, an expert kernel
  `(experts, in, out)` 2*experts*in*out; a training step is 3x the forward:
  the forward matmul and two in the backward; embeddings, biases and
  activations are left out), and the measured matmul throughput of the
  same process (an XLA 2048x2048 matmul), so the fraction of the peak the
  training step reaches;
* the SavedModel: raw-feature samples per second at batch 1024 over the
  test split (`serving_default`, and `serving_default_xla` where the
  revision exports it), the same model fed preprocessed ids (a SavedModel
  of its forward, without the lookups; also XLA-compiled), and batch-1
  latency p50 / p99 of each.

    python bench/machine_efficiency.py                      # against d232df2, 2 repeats
    python bench/machine_efficiency.py --before HEAD~3 --repeats 3

Writes bench/results/machine_efficiency.{json,md}. About 6 minutes with 2
repeats on two cores. No GPU figures: none of these machines had one when
this was written; on a GPU machine the same script runs unchanged and says
which device it used.
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402

RESULTS = os.path.join(HERE, "results", "machine_efficiency")
DEFAULT_BEFORE = "d232df2"  # main before issue 22's work: per-feature tensors, no defaults
TARGETS = {
    "train_ratio": 1.5,  # samples per CPU-second, after / before
    "peak_fraction": 0.45,
    "raw_vs_ids": 0.9,
    "raw_after_vs_before": 2.0,
}


# --------------------------------------------------------------------------- child


def child(code_root, side, settings, out_path):
    sys.path.insert(0, code_root)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])

    import zoo
    from zoo import training
    from zoo.export import saved_model
    from zoo.models.raw_inputs import RawFeatureEncoder

    assert os.path.dirname(os.path.dirname(os.path.abspath(zoo.__file__))) == code_root, (
        zoo.__file__
    )
    # The README's recipe at the earlier revision compiled with jit_compile=True;
    # today's `compile()` has XLA and 8 steps per call as the model's defaults.
    compile_options = {"jit_compile": True} if side == "before" else {}
    model, census, timer = train_census_mmoe(settings, compile_options)
    preprocessor = model.preprocessor
    rows = len(census.train)
    steady = slice(1, None)  # epoch 1 carries tracing and XLA compilation
    wall = bu.median(timer.wall[steady])
    cpu = bu.median(timer.cpu[steady])
    test = training.evaluate(model, census, "test")
    flops = training_flops_per_sample(model)
    peak = matmul_peak(tf)
    record = {
        "status": "ok",
        "side": side,
        "code_root": code_root,
        "device": _device(tf),
        "jit_compile": bool(model.jit_compile),
        "steps_per_execution": int(model.steps_per_execution),
        "train_samples_per_s": rows / wall,
        "train_samples_per_cpu_s": rows / cpu,
        "epoch_wall_s": timer.wall,
        "epoch_cpu_s": timer.cpu,
        "test_auc": {t.name: round(test[t.name]["auc"], 5) for t in census.tasks},
        "train_flops_per_sample": flops,
        "matmul_flops_per_s": peak["per_s"],
        "matmul_flops_per_cpu_s": peak["per_cpu_s"],
        "peak_fraction": flops * (rows / cpu) / peak["per_cpu_s"],
    }
    record["serving"] = serving_figures(model, census, preprocessor, settings, saved_model, tf)
    record["ids_fed"] = ids_fed_figures(model, census, RawFeatureEncoder, settings, tf)
    with open(out_path, "w") as f:
        json.dump(record, f)


def train_census_mmoe(settings, compile_options, **model_options):
    """MMoE on Census-Income (group 1, all features, 8 experts [32], towers [16]) by `model.fit`.

    Trains `settings["epochs"]` epochs at `settings["batch_size"]` with validation,
    seeded by `settings["seed"]`, with the zoo first on `sys.path`. Returns the
    model, the dataset and the `_epoch_timer` of the epochs.
    """
    import keras

    from zoo import data, models

    keras.utils.set_random_seed(settings["seed"])
    census = data.load_census_income(task_group=1, protocol="all-features")
    model = models.MMoE(
        tasks=census.tasks,
        preprocessor=census.make_preprocessor(),
        num_experts=8,
        expert_units=[32],
        tower_units=[16],
        **model_options,
    )
    model.compile(**compile_options)
    timer = _epoch_timer(keras)
    model.fit(
        census.train.features,
        census.train.labels,
        batch_size=settings["batch_size"],
        epochs=settings["epochs"],
        validation_data=(census.validation.features, census.validation.labels),
        callbacks=[timer],
        verbose=0,
    )
    return model, census, timer


def _epoch_timer(keras):
    """A callback recording wall and process CPU time of each epoch's training part."""

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.wall, self.cpu, self._start = [], [], None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = (time.perf_counter(), time.process_time())

        def on_test_begin(self, logs=None):  # validation starts: the training part is over
            if self._start is not None:
                self.wall.append(time.perf_counter() - self._start[0])
                self.cpu.append(time.process_time() - self._start[1])
                self._start = None

    return EpochTimer()


def training_flops_per_sample(model):
    """3x the forward FLOPs of the model's kernels per row (see the module docstring)."""
    forward = 0
    for variable in model.trainable_variables:
        shape = [int(d) for d in variable.shape]
        if "kernel" not in variable.path or len(shape) < 2:
            continue
        size = 1
        for d in shape:
            size *= d
        forward += 2 * size
    return 3 * forward


def matmul_peak(tf):
    a = tf.random.normal((2048, 2048))
    b = tf.random.normal((2048, 2048))
    matmul = tf.function(lambda a, b: tf.matmul(a, b), jit_compile=True)
    matmul(a, b).numpy()
    calls = 20
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        matmul(a, b).numpy()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    flops = calls * 2 * 2048**3
    return {"per_s": flops / wall, "per_cpu_s": flops / cpu}


def _timed_calls(function, batches, passes):
    """Samples per second over `batches` (median pass) of `function(**batch)`."""
    import numpy as np

    def one_pass():
        start = time.perf_counter()
        for batch in batches:
            for value in function(**batch).values():
                value.numpy()
        return time.perf_counter() - start

    one_pass()  # the first call of each batch shape traces (and compiles under XLA)
    rows = sum(int(next(iter(b.values())).shape[0]) for b in batches)
    return rows / float(np.median([one_pass() for _ in range(passes)]))


def _latency_ms(function, rows, warmup):
    import numpy as np

    for row in rows[:warmup]:
        for value in function(**row).values():
            value.numpy()
    times = []
    for row in rows:
        start = time.perf_counter()
        for value in function(**row).values():
            value.numpy()
        times.append(time.perf_counter() - start)
    times = np.asarray(times) * 1000.0
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99))}


def serving_figures(model, census, preprocessor, settings, saved_model, tf):
    import inspect

    kwargs = {}
    if "xla_signatures" in inspect.signature(saved_model.export_saved_model).parameters:
        kwargs["xla_signatures"] = True
    base = tempfile.mkdtemp(prefix="zoo-bench-efficiency-")
    path = saved_model.export_saved_model(model, base, "mmoe", version=1, **kwargs)
    loaded = tf.saved_model.load(path)
    dtypes = preprocessor.raw_dtypes()
    raw = census.test.features
    size = settings["infer_batch_size"]
    batches = [
        {name: tf.constant(raw[name][s : s + size], dtype=dtype) for name, dtype in dtypes.items()}
        for s in range(0, len(census.test), size)
    ]
    rows = [
        {name: tf.constant(raw[name][i : i + 1], dtype=dtype) for name, dtype in dtypes.items()}
        for i in range(settings["latency_calls"])
    ]
    out = {}
    for name in sorted(loaded.signatures):
        signature = loaded.signatures[name]
        out[name] = {
            "samples_per_s": _timed_calls(signature, batches, settings["infer_passes"]),
            "latency_ms": _latency_ms(signature, rows, settings["latency_warmup"]),
        }
    return out


def ids_fed_figures(model, census, encoder_class, settings, tf):
    """The same model as a SavedModel of its forward on preprocessed ids, plain and XLA."""
    encoder = encoder_class(model.preprocessor)
    raw = census.test.features
    size = settings["infer_batch_size"]
    n = len(census.test)
    ids = {name: value.numpy() for name, value in encoder(raw).items()}
    specs = {
        name: tf.TensorSpec((None,) + value.shape[1:], tf.as_dtype(value.dtype), name=name)
        for name, value in ids.items()
    }
    out = {}
    for variant, jit in (("ids", False), ("ids_xla", True)):
        module = tf.Module()
        # The weights only: tracking the model would make tf.saved_model trace its raw call.
        module.weights = list(model.weights)
        module.serve = tf.function(
            _keyword_call(tf.function(model.serving_outputs, jit_compile=jit))
        )
        concrete = module.serve.get_concrete_function(**specs)
        path = tempfile.mkdtemp(prefix=f"zoo-bench-{variant}-")
        tf.saved_model.save(module, path, signatures={"serving_default": concrete})
        signature = tf.saved_model.load(path).signatures["serving_default"]
        batches = [
            {name: tf.constant(value[s : s + size]) for name, value in ids.items()}
            for s in range(0, n, size)
        ]
        rows = [
            {name: tf.constant(value[i : i + 1]) for name, value in ids.items()}
            for i in range(settings["latency_calls"])
        ]
        out[variant] = {
            "samples_per_s": _timed_calls(signature, batches, settings["infer_passes"]),
            "latency_ms": _latency_ms(signature, rows, settings["latency_warmup"]),
        }
    return out


def _keyword_call(function):
    """`function(features)` as a function of keyword arguments, as signatures call it."""
    return lambda **features: function(features)


def _device(tf):
    gpus = tf.config.list_physical_devices("GPU")
    return f"{len(gpus)} GPU(s)" if gpus else "CPU only"


# --------------------------------------------------------------------------- parent


def summarize(runs):
    def med(side, getter):
        values = [getter(r) for r in runs if r.get("side") == side and r.get("status") == "ok"]
        return bu.median(values)

    summary = {}
    for side in ("before", "after"):
        summary[side] = {
            "train_samples_per_s": med(side, lambda r: r["train_samples_per_s"]),
            "train_samples_per_cpu_s": med(side, lambda r: r["train_samples_per_cpu_s"]),
            "peak_fraction": med(side, lambda r: r["peak_fraction"]),
            "auc_income": med(side, lambda r: r["test_auc"]["income"]),
            "auc_never_married": med(side, lambda r: r["test_auc"]["never_married"]),
            "raw_samples_per_s": med(
                side, lambda r: r["serving"]["serving_default"]["samples_per_s"]
            ),
            "raw_p99_ms": med(side, lambda r: r["serving"]["serving_default"]["latency_ms"]["p99"]),
            "raw_xla_samples_per_s": med(
                side,
                lambda r: (r["serving"].get("serving_default_xla") or {}).get("samples_per_s"),
            ),
            "raw_xla_p99_ms": med(
                side,
                lambda r: (
                    (r["serving"].get("serving_default_xla") or {}).get("latency_ms") or {}
                ).get("p99"),
            ),
            "ids_samples_per_s": med(side, lambda r: r["ids_fed"]["ids"]["samples_per_s"]),
            "ids_xla_samples_per_s": med(side, lambda r: r["ids_fed"]["ids_xla"]["samples_per_s"]),
        }
    before, after = summary["before"], summary["after"]

    def ratio(a, b):
        return None if a is None or b is None else a / b

    best_raw_after = max(
        (v for v in (after["raw_samples_per_s"], after["raw_xla_samples_per_s"]) if v is not None),
        default=None,
    )
    summary["ratios"] = {
        "train_per_cpu_s_after_vs_before": ratio(
            after["train_samples_per_cpu_s"], before["train_samples_per_cpu_s"]
        ),
        "train_per_s_after_vs_before": ratio(
            after["train_samples_per_s"], before["train_samples_per_s"]
        ),
        "raw_vs_ids_plain": ratio(after["raw_samples_per_s"], after["ids_samples_per_s"]),
        "raw_xla_vs_ids_xla": ratio(after["raw_xla_samples_per_s"], after["ids_xla_samples_per_s"]),
        "best_raw_after_vs_raw_before": ratio(best_raw_after, before["raw_samples_per_s"]),
    }
    return summary


def markdown(report):
    s, r = report["summary"], report["summary"]["ratios"]
    before, after = s["before"], s["after"]

    def f(value, spec):
        return "—" if value is None else format(value, spec)

    def mark(value, target):
        return "—" if value is None else ("✓" if value >= target else "✗")

    settings = report["settings"]
    lines = [
        "# Close to the machine: MMoE on Census-Income, before and after",
        "",
        f"Measured {report['date']} with",
        "",
        f"```\n{report['command']}\n```",
        "",
        f"Total wall time: **{report['wall_s']:.0f} s**. Machine: {report['machine']['cpu']}, "
        f"{report['machine']['logical_cpus']} logical CPUs; device of the children: "
        f"{', '.join(sorted({x.get('device', '?') for x in report['runs']}))}. "
        f"TF intra-op = inter-op = {settings['threads']} threads.",
        "",
        f"Before: revision `{report['before_commit']}` (README recipe "
        "`model.compile(jit_compile=True)`, one tensor per feature, 1 step per call). After: "
        f"this checkout, `{report['after_commit']}` (`model.compile()`: XLA and 8 steps per "
        "call; features handed to the step as two packed matrices). Both: "
        f"`model.fit` on the raw columns, batch {settings['batch_size']}, "
        f"{settings['epochs']} epochs, with validation; {settings['repeats']} repeats per side, "
        "alternating; medians over repeats, figures from epochs 2 onward.",
        "",
        "## Training",
        "",
        "| | before | after | after / before | target |",
        "|---|---|---|---|---|",
        f"| samples per CPU-second | {f(before['train_samples_per_cpu_s'], ',.0f')} "
        f"| {f(after['train_samples_per_cpu_s'], ',.0f')} "
        f"| {f(r['train_per_cpu_s_after_vs_before'], '.2f')}x "
        f"| ≥ {TARGETS['train_ratio']}x "
        f"{mark(r['train_per_cpu_s_after_vs_before'], TARGETS['train_ratio'])} |",
        f"| samples per second (wall) | {f(before['train_samples_per_s'], ',.0f')} "
        f"| {f(after['train_samples_per_s'], ',.0f')} "
        f"| {f(r['train_per_s_after_vs_before'], '.2f')}x | |",
        f"| fraction of the measured matmul peak | {f(before['peak_fraction'], '.1%')} "
        f"| {f(after['peak_fraction'], '.1%')} | | ≥ {TARGETS['peak_fraction']:.0%} "
        f"{mark(after['peak_fraction'], TARGETS['peak_fraction'])} |",
        f"| test AUC income | {f(before['auc_income'], '.4f')} | {f(after['auc_income'], '.4f')} "
        "| | same |",
        f"| test AUC never married | {f(before['auc_never_married'], '.4f')} "
        f"| {f(after['auc_never_married'], '.4f')} | | same |",
        "",
        "## Serving (SavedModel, batch 1024 over the test split; latency: one-row calls)",
        "",
        "| | before | after | target |",
        "|---|---|---|---|",
        f"| raw features, `serving_default`, samples/s | {f(before['raw_samples_per_s'], ',.0f')} "
        f"| {f(after['raw_samples_per_s'], ',.0f')} | |",
        f"| raw features, `serving_default_xla`, samples/s | — "
        f"| {f(after['raw_xla_samples_per_s'], ',.0f')} | |",
        f"| the same model fed ids, samples/s | {f(before['ids_samples_per_s'], ',.0f')} "
        f"| {f(after['ids_samples_per_s'], ',.0f')} | |",
        f"| the same model fed ids, XLA, samples/s | {f(before['ids_xla_samples_per_s'], ',.0f')} "
        f"| {f(after['ids_xla_samples_per_s'], ',.0f')} | |",
        f"| raw / ids, both without XLA | | {f(r['raw_vs_ids_plain'], '.2f')}x "
        f"| ≥ {TARGETS['raw_vs_ids']}x {mark(r['raw_vs_ids_plain'], TARGETS['raw_vs_ids'])} |",
        f"| raw / ids, both XLA | | {f(r['raw_xla_vs_ids_xla'], '.2f')}x "
        f"| ≥ {TARGETS['raw_vs_ids']}x {mark(r['raw_xla_vs_ids_xla'], TARGETS['raw_vs_ids'])} |",
        f"| best raw after / raw before | | {f(r['best_raw_after_vs_raw_before'], '.2f')}x "
        f"| ≥ {TARGETS['raw_after_vs_before']}x "
        f"{mark(r['best_raw_after_vs_raw_before'], TARGETS['raw_after_vs_before'])} |",
        f"| batch-1 latency p99, `serving_default`, ms | {f(before['raw_p99_ms'], '.2f')} "
        f"| {f(after['raw_p99_ms'], '.2f')} | |",
        "| batch-1 latency p99, `serving_default_xla`, ms | — "
        f"| {f(after['raw_xla_p99_ms'], '.2f')} | |",
        "",
        "Definitions: samples per CPU-second = training rows / median process CPU time of the "
        "training part of an epoch (validation excluded). FLOPs per training sample, counted "
        "from the model's kernels (3x the forward matmuls; embeddings, biases and activations "
        f"left out): {report['runs'][0].get('train_flops_per_sample', 0):,}. Peak = FLOPs per "
        "CPU-second of an XLA 2048x2048 matmul measured in the same process. Serving figures "
        "are Python calls of the loaded signature (each call carries about half a millisecond "
        "of Python overhead for 39 inputs that TF Serving's C++ does not pay).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="git revision to compare with")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=900)
    bu.add_revision_child_flags(parser, ("before", "after"))
    args = parser.parse_args(argv)
    if args.child:
        child(args.code_root, args.child, json.loads(args.settings), args.out)
        return
    started = time.perf_counter()
    settings = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "repeats": args.repeats,
        "seed": 2024,
        "infer_batch_size": 1024,
        "infer_passes": 3,
        "latency_calls": 300,
        "latency_warmup": 30,
    }
    before_root, before_commit = bu.worktree(args.before)
    after_commit = bu.short_commit()
    roots = {"before": before_root, "after": bu.REPO_ROOT}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS=str(args.threads))
    runs = []
    for repeat in range(args.repeats):
        order = ("before", "after") if repeat % 2 == 0 else ("after", "before")
        for side in order:
            record = bu.run_revision_child(
                __file__,
                side,
                roots[side],
                settings,
                f"{side} repeat {repeat}",
                f"{RESULTS}_runs/{side}_r{repeat}.log",
                env,
                args.timeout,
            )
            record["repeat"] = repeat
            runs.append(record)
            if record.get("status") == "ok":
                print(
                    f"   {record['train_samples_per_cpu_s']:,.0f} samples/CPU-s, "
                    f"{record['train_samples_per_s']:,.0f} samples/s, "
                    f"raw serving {record['serving']['serving_default']['samples_per_s']:,.0f}/s",
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
