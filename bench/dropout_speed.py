#!/usr/bin/env python
"""What dropout costs under XLA on CPU: Keras's default random algorithm against the zoo's.

Keras draws dropout masks with TensorFlow's "auto_select" algorithm, which
XLA compiles for the CPU into a slow generator; `zoo.layers.core.random`
names Philox instead (the same numbers, see its docstring). Two parts, one
run:

1. The mask alone: milliseconds per dropout of a 1024 x 8 x 32 tensor (one
   expert layer's output at batch 1024) for each algorithm, with and without
   XLA, in this process.
2. MMoE on Census-Income (task group 1, all features, 8 experts [32],
   towers [16], `model.compile()`: XLA, 8 steps per call), batch 1024,
   trained three ways in alternating child processes: dropout 0.1 with the
   zoo's layers as they are, dropout 0.1 with Keras's default algorithm put
   back (`zoo.layers.core.random.ALGORITHM = "auto_select"`, nothing else
   changed), and no dropout. Training samples per second and per CPU-second
   (epochs 2 onward, validation excluded) and the test AUCs.

    python bench/dropout_speed.py                   # 2 repeats, 5 epochs: about 10 minutes
    python bench/dropout_speed.py --repeats 3 --epochs 4

Writes bench/results/dropout_speed.{json,md}.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402
from machine_efficiency import train_census_mmoe  # noqa: E402

RESULTS = os.path.join(HERE, "results", "dropout_speed")
VARIANTS = {
    # name: (dropout rate, algorithm of zoo.layers.core.random)
    "zoo": (0.1, "philox"),
    "keras-default": (0.1, "auto_select"),
    "no-dropout": (0.0, "philox"),
}
MASK_SHAPE = (1024, 8, 32)


def mask_costs(tf, calls=100):
    """Milliseconds per dropout mask of MASK_SHAPE, per algorithm and XLA setting."""
    x = tf.random.normal(MASK_SHAPE)
    seed = tf.constant([1, 2], tf.int32)
    rows = []
    for xla in (False, True):
        # ThreeFry has no CPU kernel outside XLA (see zoo/layers/core/random.py).
        for alg in ("auto_select", "philox") + (("threefry",) if xla else ()):
            function = tf.function(
                lambda x, s, a=alg: tf.nn.experimental.stateless_dropout(x, 0.1, seed=s, rng_alg=a),
                jit_compile=xla,
            )
            function(x, seed).numpy()
            start = time.perf_counter()
            for _ in range(calls):
                result = function(x, seed)
            result.numpy()
            ms = (time.perf_counter() - start) / calls * 1e3
            rows.append({"xla": xla, "algorithm": alg, "ms": ms})
            print(f"   mask {'XLA' if xla else 'no XLA'} {alg}: {ms:.2f} ms", flush=True)
    return rows


def child(variant, code_root, settings, out_path):
    sys.path.insert(0, code_root)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])
    from zoo import training
    from zoo.layers.core import random

    rate, random.ALGORITHM = VARIANTS[variant]
    model, census, timer = train_census_mmoe(settings, {}, dropout=rate)
    rows = len(census.train)
    steady = slice(1, None)  # epoch 1 carries tracing and XLA compilation
    test = training.evaluate(model, census, "test")
    record = {
        "status": "ok",
        "variant": variant,
        "dropout": rate,
        "algorithm": random.ALGORITHM,
        "jit_compile": bool(model.jit_compile),
        "steps_per_execution": int(model.steps_per_execution),
        "train_samples_per_s": rows / bu.median(timer.wall[steady]),
        "train_samples_per_cpu_s": rows / bu.median(timer.cpu[steady]),
        "epoch_wall_s": timer.wall,
        "test_auc": {t.name: round(test[t.name]["auc"], 5) for t in census.tasks},
    }
    with open(out_path, "w") as f:
        json.dump(record, f)


def summarize(runs):
    summary = {}
    for variant in VARIANTS:
        ok = [r for r in runs if r.get("variant") == variant and r.get("status") == "ok"]
        summary[variant] = {
            "runs": len(ok),
            "samples_per_s": bu.median([r["train_samples_per_s"] for r in ok]) if ok else None,
            "samples_per_cpu_s": (
                bu.median([r["train_samples_per_cpu_s"] for r in ok]) if ok else None
            ),
            "auc": {
                task: bu.median([r["test_auc"][task] for r in ok])
                for task in (ok[0]["test_auc"] if ok else {})
            },
        }
    return summary


def markdown(report):
    s = report["summary"]
    settings = report["settings"]

    def ratio(a, b, key):
        if s[a][key] is None or s[b][key] is None:
            return "—"
        return f"{s[a][key] / s[b][key]:.2f}x"

    lines = [
        "# What dropout costs under XLA on CPU",
        "",
        f"Measured {report['date']} at `{report['commit']}` with",
        "",
        f"```\n{report['command']}\n```",
        "",
        f"Total wall time: **{report['wall_s']:.0f} s**. Machine: {report['machine']['cpu']}, "
        f"{report['machine']['logical_cpus']} logical CPUs, no GPU used; "
        + ", ".join(f"{name} {version}" for name, version in report["versions"].items())
        + ".",
        "",
        "## The mask alone: ms per dropout of a 1024 x 8 x 32 tensor",
        "",
        "| algorithm | without XLA | XLA |",
        "|---|---|---|",
    ]
    costs = {(row["algorithm"], row["xla"]): row["ms"] for row in report["mask_costs"]}
    for alg in ("auto_select", "philox", "threefry"):
        cells = [
            "no CPU kernel" if (alg, xla) not in costs else f"{costs[(alg, xla)]:.2f}"
            for xla in (False, True)
        ]
        label = {"auto_select": "auto_select (Keras's default)", "philox": "philox (the zoo's)"}
        lines.append(f"| {label.get(alg, alg)} | {cells[0]} | {cells[1]} |")
    tasks = list(next((v["auc"] for v in s.values() if v["auc"]), {}))
    lines += [
        "",
        f"## MMoE on Census-Income, batch {settings['batch_size']}, {settings['epochs']} epochs, "
        f"{settings['repeats']} repeats per variant (medians)",
        "",
        "| variant | samples/s | samples per CPU-second | "
        + " | ".join(f"test AUC {t}" for t in tasks)
        + " |",
        "|---|---|---|" + "---|" * len(tasks),
    ]
    names = {
        "zoo": "dropout 0.1, the zoo's `Dropout` (Philox)",
        "keras-default": "dropout 0.1, Keras's default algorithm",
        "no-dropout": "no dropout",
    }
    for variant, row in s.items():
        lines.append(
            f"| {names[variant]} | {bu.fmt(row['samples_per_s'], ',.0f')} "
            f"| {bu.fmt(row['samples_per_cpu_s'], ',.0f')} | "
            + " | ".join(f"{row['auc'].get(t, float('nan')):.4f}" for t in tasks)
            + " |"
        )
    lines += [
        "",
        "The zoo's dropout against Keras's default: "
        f"**{ratio('zoo', 'keras-default', 'samples_per_s')}** "
        f"samples/s ({ratio('zoo', 'keras-default', 'samples_per_cpu_s')} per CPU-second). "
        f"Dropout 0.1 against none, with the zoo's layer: "
        f"{ratio('zoo', 'no-dropout', 'samples_per_s')}; with Keras's default: "
        f"{ratio('keras-default', 'no-dropout', 'samples_per_s')}.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=1200)
    bu.add_revision_child_flags(parser, VARIANTS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.code_root, json.loads(args.settings), args.out)
        return
    started = time.perf_counter()
    settings = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "repeats": args.repeats,
        "seed": 2024,
    }
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    print("[mask costs]", flush=True)
    costs = mask_costs(tf)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS=str(args.threads))
    runs = []
    names = list(VARIANTS)
    for repeat in range(args.repeats):
        # Rotate the order so that a slow spell of the machine does not fall on one variant.
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for variant in order:
            record = bu.run_revision_child(
                __file__,
                variant,
                bu.REPO_ROOT,
                settings,
                f"{variant} repeat {repeat}",
                f"{RESULTS}_runs/{variant}_r{repeat}.log",
                env,
                args.timeout,
            )
            record["repeat"] = repeat
            runs.append(record)
            if record.get("status") == "ok":
                print(
                    f"   {record['train_samples_per_s']:,.0f} samples/s, AUC {record['test_auc']}",
                    flush=True,
                )
    report = bu.new_report(
        started,
        settings,
        commit=bu.short_commit(),
        mask_costs=costs,
        runs=runs,
        summary=summarize(runs),
        versions=bu.versions("tensorflow", "keras"),
    )
    bu.write_report(RESULTS, report, markdown(report))


if __name__ == "__main__":
    main()
