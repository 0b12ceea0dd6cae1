#!/usr/bin/env python
"""float32 against mixed precision on Census-Income: training speed and test AUC.

Trains MMoE and PLE (the peer benchmark's architectures, from
`bench/census_models.py`) on the shipped Census-Income data, task group 1,
once per precision policy and repeat, each run in a fresh child process
(Keras' dtype policy is global to a process). The policies alternate within
each repeat, so both see the same machine load; the report gives each
model's samples/s under mixed precision as a ratio of its float32 figure in
the same repeat.

    python bench/mixed_precision.py                    # mixed_bfloat16 vs float32, XLA on
    python bench/mixed_precision.py --policies float32,mixed_float16   # on a GPU machine
    python bench/mixed_precision.py --epochs 1 --repeats 1 --no-xla    # smoke run

`mixed_bfloat16` needs a CPU with AVX512-BF16 or AMX (or a GPU);
`mixed_float16` needs a GPU (`zoo.training.choose_precision` refuses
otherwise). Results: `bench/results/mixed_precision.{json,md}`.
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
from census_models import ARCHITECTURES  # noqa: E402


def child(args):
    """One training run; writes its figures to `args.child_out`."""
    import keras

    from zoo.data.sources.census_income import load_census_income
    from zoo.models.registry import get_model_class
    from zoo.training import TrainingConfig, evaluate, fit, set_precision

    policy = set_precision(args.child_policy)
    keras.utils.set_random_seed(args.seed)
    dataset = load_census_income(task_group=1, protocol="all-features")
    model = get_model_class(args.child_model)(
        tasks=dataset.tasks,
        preprocessor=dataset.make_preprocessor(),
        **ARCHITECTURES[args.child_model],
    )
    config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        jit_compile=args.xla,
        early_stopping_patience=None,
        seed=args.seed,
        verbose=0,
    )
    result = fit(model, dataset, config)
    test = evaluate(model, dataset, "test")
    record = {
        "policy": policy,
        "compute_dtype": model.switcher.dtype_policy.compute_dtype,
        "train_samples_per_second": result.train_samples_per_second,
        "epoch_seconds": result.epoch_seconds,
        "test_auc": {t.name: test[t.name]["auc"] for t in dataset.tasks},
        "peak_rss_mb": bu.peak_rss_mb(),
    }
    bu.write_json(args.child_out, record)


def render(report):
    rows = [
        "# Mixed precision on Census-Income",
        "",
        f"{report['date']}, `{report['command']}`, {report['machine'].get('cpu', '')}",
        "",
        f"{report['settings']['epochs']} epochs, batch {report['settings']['batch_size']}, "
        f"XLA {'on' if report['settings']['xla'] else 'off'}; samples/s is the median epoch "
        "after the first. Ratio: this policy's samples/s over float32's in the same repeat.",
        "",
        "| model | policy | samples/s (median) | ratio to float32 | income AUC | "
        "never_married AUC | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, by_policy in report["summary"].items():
        for policy, s in by_policy.items():
            rows.append(
                f"| {model} | {policy} | {s['samples_per_second']:,.0f} | "
                f"{bu.fmt([s['ratio']], '.2f') if s['ratio'] else '1'} | "
                f"{s['income_auc']:.4f} | {s['never_married_auc']:.4f} | {s['peak_rss_mb']:.0f} |"
            )
    return "\n".join(rows) + "\n"


def summarize(runs, policies):
    summary = {}
    for model in sorted({r["model"] for r in runs}):
        summary[model] = {}
        for policy in policies:
            mine = [r for r in runs if r["model"] == model and r["policy"] == policy]
            ratios = []
            for r in mine:
                base = [
                    b
                    for b in runs
                    if b["model"] == model
                    and b["policy"] == "float32"
                    and b["repeat"] == r["repeat"]
                ]
                if base and policy != "float32":
                    ratios.append(
                        r["train_samples_per_second"] / base[0]["train_samples_per_second"]
                    )
            summary[model][policy] = {
                "samples_per_second": bu.median([r["train_samples_per_second"] for r in mine]),
                "ratio": bu.median(ratios) if ratios else None,
                "income_auc": bu.median([r["test_auc"]["income"] for r in mine]),
                "never_married_auc": bu.median([r["test_auc"]["never_married"] for r in mine]),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
            }
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="mmoe,ple")
    ap.add_argument("--policies", default="float32,mixed_bfloat16")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    bu.add_xla_flag(ap)
    ap.add_argument("--child-model", help=argparse.SUPPRESS)
    ap.add_argument("--child-policy", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_model:
        return child(args)

    started = time.perf_counter()
    policies = args.policies.split(",")
    if "float32" not in policies:
        ap.error("--policies must include float32, the baseline of the ratios")
    runs = []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for model in args.models.split(","):
                # Alternate the order between repeats so neither policy always goes first.
                order = policies if repeat % 2 == 0 else policies[::-1]
                for policy in order:
                    out = os.path.join(scratch, "child.json")
                    cmd = [sys.executable, os.path.abspath(__file__), "--child-model", model]
                    cmd += ["--child-policy", policy, "--child-out", out]
                    cmd += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
                    cmd += ["--seed", str(args.seed)] + ([] if args.xla else ["--no-xla"])
                    log = os.path.join(args.out, "logs", f"mixed_precision-{model}-{policy}.log")
                    record = bu.run_child(cmd, out, log, env, timeout_s=3600)
                    if record.get("status") == "failed":
                        raise SystemExit(f"{model} {policy} failed:\n{record['log_tail']}")
                    record.update(model=model, repeat=repeat)
                    runs.append(record)
                    print(
                        f"repeat {repeat} {model} {policy}: "
                        f"{record['train_samples_per_second']:,.0f} samples/s, "
                        f"test AUC {json.dumps(record['test_auc'])}",
                        flush=True,
                    )
    settings = {"epochs": args.epochs, "batch_size": args.batch_size, "xla": args.xla}
    report = bu.new_report(
        started,
        settings,
        versions=bu.versions("tensorflow", "keras"),
        runs=runs,
        summary=summarize(runs, policies),
    )
    bu.write_report(os.path.join(args.out, "mixed_precision"), report, render(report))


if __name__ == "__main__":
    main()
