#!/usr/bin/env python
"""The Keras 3 model zoo as one more library in the peer benchmark (../shared/peer-bench).

Follows the peer benchmark's README, section "Adding the Keras 3 model zoo to the
same run": puts the peer-bench folder on sys.path, imports its `common`, and uses
`common.CONFIG` (every hyper-parameter), `common.load_data()` (the same prepared
integer-id arrays as DeepCTR and torch-rechub), `common.auc()` and
`common.run_children()`, with a child mode that writes the same fields as the
existing drivers. `make_table.py` of the peer benchmark picks the result up
unchanged.

The zoo models are built on the prepared arrays directly (no preprocessor):
`features=[{"name", "kind": "categorical", "input_dim": vocab, "output_dim": 4},
..., {"name", "kind": "numeric"}]`, trained with `model.compile(jit_compile=True)`
+ `model.fit` on `zoo.data.base.tabular_dataset.batched_dataset(..., shuffle=True)`.

The peer-bench folder in ../shared is read-only (even for root, by convention), so
the driver copies its scripts (no old results) into a work folder (default
/tmp/zoo-peer-bench, `--work-dir`) and points `common.CACHE_DIR` / `CACHE_FILE` /
`RESULTS_DIR` there (`--results-dir` moves the results elsewhere); `CENSUS_DIR` is
set to the original data folder. `--in-place` uses a writable peer-bench folder
as it is.

    python bench/peer_driver.py                     # SharedBottom, MMoE, PLE x 2 repeats
    python bench/peer_driver.py --models MMoE --repeats 1 --results-dir /tmp/zoo-res
    python bench/peer_driver.py --child --model MMoE --out /tmp/mmoe.json   # one model
"""

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
DEFAULT_PEER_BENCH = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "peer-bench"))
DEFAULT_WORK_DIR = "/tmp/zoo-peer-bench"
MODELS = ["SharedBottom", "MMoE", "PLE"]
RESULT_NAME = "zoo_keras3"
TASKS = ["income", "marital"]  # common's label columns 0 and 1


# ---------------------------------------------------------------------------
# locating and preparing the peer benchmark
# ---------------------------------------------------------------------------


def _writable(path):
    """Writable by its permission bits (root passes os.access on read-only folders)."""
    import stat

    mode = os.stat(path).st_mode
    return bool(mode & stat.S_IWUSR) and os.access(path, os.W_OK)


def prepare_peer_bench(peer_bench=None, work_dir=None, results_dir=None, in_place=False):
    """Makes `common` importable from a writable peer-bench folder; returns the module.

    Args:
        peer_bench: the peer-bench folder (default ../shared/peer-bench from the
            repository root).
        work_dir: where a copy of its scripts goes (default /tmp/zoo-peer-bench);
            the cache and results live in the copy, the original is only read.
        results_dir: where results/*.json and logs/ go (default WORK/results).
        in_place: use `peer_bench` itself (it must be writable by its permission
            bits) instead of a copy.
    """
    peer_bench = os.path.abspath(peer_bench or DEFAULT_PEER_BENCH)
    if not os.path.isfile(os.path.join(peer_bench, "common.py")):
        raise SystemExit(f"peer_driver: no common.py in {peer_bench} (pass --peer-bench DIR)")
    # The raw data folder as the peer benchmark finds it from its own location.
    census_dir = os.environ.get("CENSUS_DIR") or os.path.normpath(
        os.path.join(peer_bench, "..", "..", "shared", "data", "census-income")
    )
    if not os.path.isdir(census_dir):
        census_dir = os.path.normpath(os.path.join(peer_bench, "..", "data", "census-income"))
    os.environ["CENSUS_DIR"] = census_dir

    if in_place:
        if not _writable(peer_bench):
            raise SystemExit(f"peer_driver: --in-place, but {peer_bench} is read-only")
        work = peer_bench
    else:
        work = os.path.abspath(work_dir or DEFAULT_WORK_DIR)
        if work == peer_bench:
            raise SystemExit("peer_driver: --work-dir is the peer-bench folder; use --in-place")
        os.makedirs(work, exist_ok=True)
        for name in sorted(os.listdir(peer_bench)):
            src = os.path.join(peer_bench, name)
            if os.path.isfile(src) and name.endswith((".py", ".sh", ".md", ".gitignore")):
                if name == "RESULTS.md":
                    continue  # the copy's RESULTS.md is made from the copy's results
                dst = os.path.join(work, name)
                if os.path.exists(dst):
                    os.chmod(dst, 0o644)
                shutil.copyfile(src, dst)
                os.chmod(dst, 0o755 if name.endswith(".sh") else 0o644)
        # A note so nobody mistakes the copy for the original.
        with open(os.path.join(work, "COPIED_FROM"), "w") as f:
            f.write(peer_bench + "\n")
    if work not in sys.path:
        sys.path.insert(0, work)
    import common

    if os.path.dirname(os.path.abspath(common.__file__)) != work:
        raise SystemExit(f"peer_driver: imported {common.__file__}, expected one in {work}")
    common.CACHE_DIR = os.path.join(work, "cache")
    common.CACHE_FILE = os.path.join(common.CACHE_DIR, "census_mtl.npz")
    common.RESULTS_DIR = (
        os.path.abspath(results_dir) if results_dir else os.path.join(work, "results")
    )
    common.DATA_DIR = census_dir
    return common


# ---------------------------------------------------------------------------
# child: one model
# ---------------------------------------------------------------------------


def zoo_features(common, d):
    C = common.CONFIG
    features = [
        {"name": n, "kind": "categorical", "input_dim": int(v), "output_dim": C["embed_dim"]}
        for n, v in zip(d["cat_names"], d["vocab_sizes"])
    ]
    features += [{"name": n, "kind": "numeric"} for n in d["cont_names"]]
    return features


def build(common, model_name, features):
    from zoo.models import PLE, MMoE, SharedBottom

    C = common.CONFIG
    if model_name == "SharedBottom":
        c = C["shared_bottom"]
        return SharedBottom(
            TASKS, features=features, bottom_units=c["bottom"], tower_units=c["tower"]
        )
    if model_name == "MMoE":
        c = C["mmoe"]
        return MMoE(
            TASKS,
            features=features,
            num_experts=c["n_experts"],
            expert_units=c["expert"],
            tower_units=c["tower"],
        )
    if model_name == "PLE":
        c = C["ple"]
        return PLE(
            TASKS,
            features=features,
            num_levels=c["n_levels"],
            num_task_experts=c["n_specific"],
            num_shared_experts=c["n_shared"],
            expert_units=c["expert"],
            tower_units=c["tower"],
        )
    raise ValueError(f"unknown model {model_name!r}; zoo driver models: {MODELS}")


def train_step_bench(common, model_name, features, x_tr, y_tr, tf, keras, jit_compile=True):
    """Compute-only training throughput, as the other drivers measure it: a fresh model,
    pre-built tensor batches, one `tf.function` step (summed per-task BCE, Adam), 15
    warm-up steps, then the median of 3 timed blocks of 20 steps. XLA on, as in the
    zoo's `model.fit` (DeepCTR's step runs without XLA, as its `fit` does on CPU)."""
    import numpy as np

    C = common.CONFIG
    n_warm, block, n_blocks = 15, 20, 3
    keras.utils.set_random_seed(C["seed"] + 1)
    model = build(common, model_name, features)
    opt = keras.optimizers.Adam(learning_rate=C["lr"])
    bce = keras.losses.BinaryCrossentropy()
    bs = C["batch_size"]
    n_steps = n_warm + block * n_blocks
    idx = np.random.RandomState(C["seed"]).permutation(len(y_tr["income"]))[: bs * n_steps]
    batches = []
    for i in range(n_steps):
        sel = idx[i * bs : (i + 1) * bs]
        batches.append(
            (
                {k: tf.constant(v[sel]) for k, v in x_tr.items()},
                {k: tf.constant(v[sel]) for k, v in y_tr.items()},
            )
        )
    model(batches[0][0])  # build
    opt.build(model.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            out = model(xb, training=True)
            loss = tf.add_n([bce(yb[t], out[t]) for t in TASKS])
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for xb, yb in batches[:n_warm]:
        loss = step(xb, yb)
    float(loss)
    rates = []
    for b in range(n_blocks):
        t0 = time.perf_counter()
        for xb, yb in batches[n_warm + b * block : n_warm + (b + 1) * block]:
            loss = step(xb, yb)
        float(loss)
        rates.append(block * bs / (time.perf_counter() - t0))
    return common.median(rates), rates


def child(args, common):
    C = common.CONFIG
    import numpy as np

    import zoo  # noqa: F401  (sets KERAS_BACKEND=tensorflow before keras is imported)

    import tensorflow as tf  # isort: skip

    tf.config.threading.set_intra_op_parallelism_threads(C["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(C["threads"])
    import keras

    from zoo.data.base.tabular_dataset import batched_dataset
    from zoo.training import TrainingConfig

    keras.utils.set_random_seed(C["seed"])
    d = common.load_data()

    def xdict(split):
        x = {
            n: np.ascontiguousarray(d["cat_" + split][:, j]).astype("int32")
            for j, n in enumerate(d["cat_names"])
        }
        x.update(
            {
                n: np.ascontiguousarray(d["num_" + split][:, j]).astype("float32")
                for j, n in enumerate(d["cont_names"])
            }
        )
        return x

    def ydict(split):
        y = d["y_" + split]
        return {
            t: np.ascontiguousarray(y[:, j : j + 1]).astype("float32") for j, t in enumerate(TASKS)
        }

    x_tr, x_va, x_te = xdict("train"), xdict("val"), xdict("test")
    y_tr = ydict("train")
    y_va, y_te = d["y_val"], d["y_test"]
    n_tr = len(y_tr["income"])
    rss_data = common.current_rss_mb()

    features = zoo_features(common, d)
    model = build(common, args.model, features)
    model.build()
    n_params = int(model.count_params())
    # No metrics (as the DeepCTR driver compiles): the zoo's default per-task
    # Keras AUC would add work to every step that the others do not do.
    # Same compile settings as zoo.training.fit (XLA, 8 steps per execution).
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=C["lr"]),
        jit_compile=True,
        steps_per_execution=TrainingConfig.steps_per_execution,
        metrics={},
    )

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.cpu = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._t0, self._c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._t0)
            self.cpu.append(time.process_time() - self._c0)

    train_ds = batched_dataset((x_tr, y_tr), C["batch_size"], shuffle=True, seed=C["seed"])
    timer = EpochTimer()
    # As zoo.training.fit does: one repeated iterator for the whole fit.
    steps_per_epoch = int(train_ds.cardinality())
    hist = model.fit(
        train_ds.repeat(),
        steps_per_epoch=steps_per_epoch,
        epochs=C["epochs"],
        verbose=0,
        callbacks=[timer],
    )
    epoch_s, epoch_cpu = timer.times, timer.cpu
    losses = [float(v) for v in hist.history["loss"]]

    bs = C["infer_batch_size"]

    def lib_predict(x):
        out = model.predict(batched_dataset(x, bs), verbose=0)
        return np.concatenate([np.asarray(out[t]).reshape(-1, 1) for t in TASKS], axis=1)

    p_va = lib_predict(x_va)
    lib_times, p_te = [], None
    for _ in range(C["infer_repeats"]):
        t0 = time.perf_counter()
        p_te = lib_predict(x_te)
        lib_times.append(time.perf_counter() - t0)

    n_te = len(y_te)
    batches = [{k: tf.constant(v[s : s + bs]) for k, v in x_te.items()} for s in range(0, n_te, bs)]

    def time_forward(fwd):
        fwd(batches[0])
        fwd(batches[-1])  # trace the last, smaller batch too
        times = []
        for _ in range(C["infer_repeats"]):
            t0 = time.perf_counter()
            outs = [fwd(b) for b in batches]
            _ = [o[TASKS[0]].numpy() for o in outs]
            times.append(time.perf_counter() - t0)
        pred = np.concatenate(
            [np.concatenate([np.asarray(o[t]).reshape(-1, 1) for t in TASKS], axis=1) for o in outs]
        )
        return times, pred

    # As the other drivers: tf.function(model(batch, training=False)), no XLA.
    raw_times, p_raw = time_forward(
        tf.function(lambda b: model(b, training=False), reduce_retracing=True)
    )
    # The same with XLA (what the zoo's predict path compiles to); reported apart.
    xla_times, p_xla = time_forward(
        tf.function(lambda b: model(b, training=False), jit_compile=True, reduce_retracing=True)
    )

    step_sps, step_blocks = train_step_bench(common, args.model, features, x_tr, y_tr, tf, keras)

    cols = {"income": 0, "marital": 1}
    import importlib.metadata as md

    res = {
        "status": "ok",
        "library": "zoo",
        "keras_mode": "3",
        "model": args.model,
        "repeat": args.repeat,
        "n_params": n_params,
        "inputs": f"32 categorical (embed {C['embed_dim']}) + 7 continuous",
        "epochs": C["epochs"],
        "batch_size": C["batch_size"],
        "epoch_seconds": [round(t, 3) for t in epoch_s],
        "train_s_per_epoch_steady": round(common.steady_epoch_seconds(epoch_s), 3),
        "train_s_per_epoch_mean": round(sum(epoch_s) / len(epoch_s), 3),
        "epoch_cpu_seconds": [round(t, 3) for t in epoch_cpu],
        "train_cpu_s_per_epoch_steady": round(common.steady_epoch_seconds(epoch_cpu), 3),
        "train_samples_per_s": round(n_tr / common.steady_epoch_seconds(epoch_s), 1),
        "train_step_samples_per_s_model_only": round(step_sps, 1),
        "train_step_blocks_samples_per_s": [round(v, 1) for v in step_blocks],
        "train_step_jit_compile": True,
        "train_loss_per_epoch": losses,
        "val_auc": {k: round(common.auc(y_va[:, c], p_va[:, c]), 5) for k, c in cols.items()},
        "test_auc": {k: round(common.auc(y_te[:, c], p_te[:, c]), 5) for k, c in cols.items()},
        "infer_samples_per_s_library": round(n_te / common.median(lib_times), 1),
        "infer_samples_per_s_model_only": round(n_te / common.median(raw_times), 1),
        "infer_samples_per_s_model_only_xla": round(n_te / common.median(xla_times), 1),
        "infer_pass_seconds_library": [round(t, 4) for t in lib_times],
        "infer_pass_seconds_model_only": [round(t, 4) for t in raw_times],
        "infer_pass_seconds_model_only_xla": [round(t, 4) for t in xla_times],
        "max_abs_diff_library_vs_model_only": float(np.abs(p_raw - p_te).max()),
        "max_abs_diff_library_vs_model_only_xla": float(np.abs(p_xla - p_te).max()),
        "rss_after_data_mb": round(rss_data, 1),
        "peak_rss_mb": round(common.peak_rss_mb(), 1),
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "keras_module": keras.__name__,
        "keras_version": md.version("keras"),
        "fit": "model.compile(Adam, jit_compile=True, metrics={}) + model.fit(batched_dataset("
        "shuffle=True), verbose=0); epoch time from a callback",
        "library_predict": f"model.predict(batched_dataset(x, {bs}))",
    }
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)


def library_info(common):
    import importlib.metadata as md

    threads = common.CONFIG["threads"]
    return {
        "name": "zoo",
        "version": md.version("mtl-zoo"),
        "framework": "tensorflow " + md.version("tensorflow"),
        "keras_mode": "3",
        "keras": "keras " + md.version("keras"),
        "numpy": md.version("numpy"),
        "threads": f"tf intra_op={threads}, inter_op={threads} in every child",
        "xla": "model.compile(jit_compile=True)",
    }


def child_env(common):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(common.CONFIG["threads"])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--peer-bench", default=None, help=f"peer-bench folder (default {DEFAULT_PEER_BENCH})"
    )
    ap.add_argument(
        "--work-dir",
        default=None,
        help=f"writable copy of the peer-bench files when it is read-only "
        f"(default {DEFAULT_WORK_DIR})",
    )
    ap.add_argument(
        "--results-dir", default=None, help="results/*.json go here (default WORK/results)"
    )
    ap.add_argument(
        "--in-place",
        action="store_true",
        help="use the peer-bench folder itself (must be writable) instead of a copy",
    )
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--name", default=RESULT_NAME, help="results file name (without .json)")
    ap.add_argument("--no-table", action="store_true", help="do not run make_table.py afterwards")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", default=None)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    common = prepare_peer_bench(args.peer_bench, args.work_dir, args.results_dir, args.in_place)
    if args.child:
        child(args, common)
        return 0
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise SystemExit(f"peer_driver: unknown models {unknown}; choose from {MODELS}")
    common.prepare_data()
    work = os.path.dirname(os.path.abspath(common.__file__))
    # The children use the prepared folder as it is.
    extra = ["--peer-bench", work, "--in-place", "--results-dir", common.RESULTS_DIR]
    result = common.run_children(
        os.path.abspath(__file__),
        models,
        args.repeats,
        args.name,
        library_info(common),
        extra_args=extra,
        env=child_env(common),
    )
    if not args.no_table:
        import subprocess

        paths = [os.path.join(common.RESULTS_DIR, args.name + ".json")]
        subprocess.run([sys.executable, os.path.join(work, "make_table.py")] + paths, check=False)
        print("table:", os.path.join(work, "RESULTS.md"))
    ok = all(r.get("status") == "ok" for r in result["runs"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
