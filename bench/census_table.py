#!/usr/bin/env python
"""Census-Income results table: six models x two task groups x two protocols x seeds.

Trains Single-task, Shared-Bottom, OMoE, MMoE, CGC and PLE with early stopping
on the validation loss (the best epoch's weights are kept), for task groups
1 (income, never_married) and 2 (college_or_above, never_married) and the
`paper` and `all-features` feature protocols, several seeds each, and
writes `census_table.{json,md}` with the mean and standard deviation of the
test AUC per task, beside the numbers torch-rechub published for the same
protocol.

One child process per (group, protocol, seed) trains the six models in turn
and writes one JSON per model into `<out>/census_table_runs/`; a finished
cell is not trained again (`--fresh` starts over), so an interrupted run
resumes where it stopped.

    python bench/census_table.py                    # 2 groups x 2 protocols x 6 models x 3 seeds
    python bench/census_table.py --models cross-stitch,snr-trans,snr-aver,esmm --groups 2
    python bench/census_table.py --groups 1 --protocols all-features --seeds 1
    python bench/census_table.py --render-only      # rewrite the .md from the run files
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402
from census_models import (  # noqa: E402
    ARCH_TEXT,
    ARCHITECTURES,
    DISPLAY,
    MODEL_ORDER,
    SEED_BASELINES,
)

ALL_MODELS = MODEL_ORDER + SEED_BASELINES

# Published by torch-rechub (README of datawhalechina/torch-rechub, multi-task
# ranking results on Census-Income), all-features protocol, task group 1, with
# embeddings of 4, experts [16], towers [8], batch 1024, Adam 1e-3, weight
# decay 1e-4, early-stopping patience 30. Only these three are published.
# --setup torch-rechub: torch-rechub's run_census.py settings as far as the zoo
# has them: experts [16] with BatchNorm (torch-rechub's MLP puts BatchNorm1d
# in every layer; our towers and Shared-Bottom bottom have none), towers [8],
# Shared-Bottom bottom [117] (its size there), PLE 2 levels of 2 task + 1
# shared experts, early stopping on the first task's validation AUC with
# patience 30 (at most 100 epochs). Not reproduced: Adam weight decay 1e-4
# (L2 in torch; Keras' weight_decay is decoupled, a different method).
TORCH_RECHUB = {
    "shared-bottom": {"bottom_units": [117], "tower_units": [8]},
    "mmoe": {"num_experts": 8, "expert_units": [16], "tower_units": [8], "expert_batch_norm": True},
    "ple": {
        "num_levels": 2,
        "num_task_experts": 2,
        "num_shared_experts": 1,
        "expert_units": [16],
        "tower_units": [8],
        "expert_batch_norm": True,
    },
}
SETUPS = {"zoo": ARCHITECTURES, "torch-rechub": TORCH_RECHUB}

PUBLISHED = {
    ("all-features", 1): {
        "source": "torch-rechub (reported)",
        "shared-bottom": (0.9560, 0.9948),
        "mmoe": (0.9579, 0.9950),
        "ple": (0.9593, 0.9950),
    }
}


def cell_path(runs_dir, group, protocol, seed, model, setup="zoo"):
    prefix = "" if setup == "zoo" else f"{setup}-"
    return os.path.join(runs_dir, f"{prefix}g{group}-{protocol}-s{seed}-{model}.json")


def child(group, protocol, seed, models, settings, runs_dir):
    import zoo  # noqa: F401  (sets KERAS_BACKEND before keras is imported)

    import tensorflow as tf  # isort: skip

    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])
    import keras

    from zoo.data import load_census_income
    from zoo.models import get_model_class
    from zoo.training import TrainingConfig, evaluate, fit

    dataset = load_census_income(task_group=group, protocol=protocol, embedding_dim=4)
    preprocessor = dataset.make_preprocessor()
    setup = settings["setup"]
    for model_name in models:
        path = cell_path(runs_dir, group, protocol, seed, model_name, setup)
        if os.path.exists(path):
            continue
        keras.utils.set_random_seed(seed)
        model = get_model_class(model_name)(
            tasks=dataset.tasks, preprocessor=preprocessor, **SETUPS[setup][model_name]
        )
        config = TrainingConfig(
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            learning_rate=settings["learning_rate"],
            jit_compile=settings.get("jit_compile", True),
            early_stopping_patience=settings["patience"],
            early_stopping_monitor=(
                f"val_{dataset.tasks[0].name}_auc" if setup == "torch-rechub" else "val_loss"
            ),
            seed=seed,
            verbose=0,
        )
        t0 = time.perf_counter()
        result = fit(model, dataset, config)
        seconds = time.perf_counter() - t0
        record = {
            "setup": setup,
            "group": group,
            "protocol": protocol,
            "seed": seed,
            "model": model_name,
            "tasks": [t.name for t in dataset.tasks],
            "validation": evaluate(model, dataset, "validation"),
            "test": evaluate(model, dataset, "test"),
            "early_stopping": {
                "monitor": config.early_stopping_monitor,
                "patience": config.early_stopping_patience,
                "max_epochs": config.epochs,
            },
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "fit_seconds": round(seconds, 1),
            "params": model.count_params(),
        }
        bu.write_json(path, record)  # a cell file is whole or absent
        print(
            f"g{group} {protocol} seed {seed} {model_name}: "
            + ", ".join(f"{t} {record['test'][t]['auc']:.4f}" for t in record["tasks"])
            + f" ({result.epochs_run} epochs, best {result.best_epoch}, {seconds:.0f} s)",
            flush=True,
        )


def load_runs(runs_dir):
    runs = []
    if os.path.isdir(runs_dir):
        for name in sorted(os.listdir(runs_dir)):
            if name.endswith(".json"):
                with open(os.path.join(runs_dir, name)) as f:
                    runs.append(json.load(f))
    return runs


def summarize(runs):
    """Mean / std / n of test AUC per (group, protocol, model, task)."""
    cells = {}
    for r in runs:
        key = (r.get("setup", "zoo"), r["group"], r["protocol"], r["model"])
        cell = cells.setdefault(key, {"tasks": r["tasks"], "auc": {}, "epochs": [], "seeds": []})
        cell["seeds"].append(r["seed"])
        cell["epochs"].append(r["best_epoch"])
        for t in r["tasks"]:
            cell["auc"].setdefault(t, []).append(r["test"][t]["auc"])
    out = []
    for (setup, group, protocol, model), cell in sorted(cells.items()):
        row = {
            "setup": setup,
            "group": group,
            "protocol": protocol,
            "model": model,
            "tasks": cell["tasks"],
            "seeds": sorted(cell["seeds"]),
            "best_epochs": cell["epochs"],
            "test_auc": {},
        }
        for t, values in cell["auc"].items():
            row["test_auc"][t] = {
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "values": values,
            }
        out.append(row)
    return out


def markdown(report):
    s = report["settings"]
    lines = [
        "# Census-Income: test AUC of the six models",
        "",
        f"Rendered {report['finished']} from the run files in `census_table_runs/` (one JSON "
        "per model, seed, group and protocol, with its settings and every metric), written by",
        "",
        "```",
        "python bench/census_table.py                 # the six models, 2 groups x 2 protocols",
        "python bench/census_table.py --setup torch-rechub --groups 1 --protocols all-features",
        "python bench/census_table.py --models cross-stitch,snr-trans,snr-aver,esmm --groups 2",
        "```",
        "",
        f"Mean ± standard deviation of the exact test AUC over seeds "
        f"{', '.join(map(str, s['seeds']))} (seed = weight initialization and shuffling; the "
        "validation/test halves of the test file are the fixed split of "
        "`zoo.data.load_census_income`). Early stopping on the validation loss with patience "
        f"{s['patience']} (at most {s['epochs']} epochs), the best epoch's weights kept; "
        f"embeddings of 4, batch {s['batch_size']}, Adam {s['learning_rate']}, "
        f"XLA {'on' if s.get('jit_compile', True) else 'off'}. "
        "Architectures as in `bench/census_models.py`:",
        "",
    ]
    present = {r["model"] for r in report["summary"]}
    lines += [f"- {DISPLAY[m]}: {ARCH_TEXT[m]}" for m in ALL_MODELS if m in present]
    lines.append("")
    lines += _tables(report["summary"], "zoo", "##")
    if any(r["setup"] == "torch-rechub" for r in report["summary"]):
        lines += [
            "## With torch-rechub's settings",
            "",
            "`--setup torch-rechub`: experts [16] with BatchNorm, towers [8], Shared-Bottom "
            "bottom [117], PLE 2 levels of 2 task + 1 shared experts; early stopping on the "
            "first task's validation AUC (Keras' 200-threshold AUC) with patience 30, at most "
            "100 epochs, best epoch kept. Not reproduced: BatchNorm in towers and in the "
            "Shared-Bottom bottom, Adam weight decay 1e-4, and their random (unseeded) "
            "validation/test split.",
            "",
        ]
        lines += _tables(report["summary"], "torch-rechub", "###")
    if any(PUBLISHED):
        lines += [
            "✓ / ✗: our mean at or above / below the published figure. torch-rechub's "
            "figures are as published in examples/ranking/README.md of "
            "datawhalechina/torch-rechub (single runs; PLE is their `num_level=2` row), not "
            "re-measured here.",
            "",
        ]
    return "\n".join(lines)


def _tables(summary, setup, level):
    lines = []
    summary = [r for r in summary if r["setup"] == setup]
    for group in sorted({r["group"] for r in summary}):
        for protocol in ("paper", "all-features"):
            rows = [r for r in summary if r["group"] == group and r["protocol"] == protocol]
            if not rows:
                continue
            tasks = rows[0]["tasks"]
            published = PUBLISHED.get((protocol, group))
            header = ["model"] + [f"{t} test AUC" for t in tasks] + ["best epochs"]
            if published:
                header.append(f"{published['source']}")
            lines += [
                f"{level} Task group {group} ({', '.join(tasks)}), protocol `{protocol}`",
                "",
                "| " + " | ".join(header) + " |",
                "|" + "---|" * len(header),
            ]
            by_model = {r["model"]: r for r in rows}
            for m in ALL_MODELS:
                if m not in by_model:
                    continue
                r = by_model[m]
                cells = [DISPLAY[m]]
                for t in tasks:
                    a = r["test_auc"][t]
                    cells.append(f"{a['mean']:.4f} ± {a['std']:.4f}")
                cells.append(", ".join(map(str, r["best_epochs"])))
                if published:
                    pub = published.get(m)
                    if pub is None:
                        cells.append("not published")
                    else:
                        marks = [
                            f"{p:.4f} {'✓' if r['test_auc'][t]['mean'] >= p else '✗'}"
                            for t, p in zip(tasks, pub)
                        ]
                        cells.append(" / ".join(marks))
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return lines


def render(out_dir, runs_dir, settings, command, started):
    runs = load_runs(runs_dir)
    report = {
        "command": command,
        "started": started,
        "finished": bu.utc_now(),
        "settings": settings,
        "machine": bu.machine_info(),
        "versions": bu.versions("tensorflow-cpu", "keras", "numpy"),
        "summary": summarize(runs),
        "runs": runs,
    }
    with open(os.path.join(out_dir, "census_table.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(out_dir, "census_table.md"), "w") as f:
        f.write(markdown(report))
    return report


def parse_list(text, cast=str):
    return [cast(v) for v in text.split(",") if v.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODEL_ORDER))
    parser.add_argument("--groups", default="1,2")
    parser.add_argument("--protocols", default="paper,all-features")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    bu.add_xla_flag(parser)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--fresh", action="store_true", help="discard earlier run files")
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument(
        "--setup",
        choices=sorted(SETUPS),
        default="zoo",
        help="zoo: the architectures of census_models.py, early stopping on validation loss; "
        "torch-rechub: its run_census.py settings (see TORCH_RECHUB), patience 30, "
        "at most 100 epochs",
    )
    parser.add_argument("--child", nargs=3, metavar=("GROUP", "PROTOCOL", "SEED"))
    args = parser.parse_args(argv)

    models = parse_list(args.models)
    unknown = sorted(set(models) - set(ALL_MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {ALL_MODELS}")
    settings = {
        "epochs": args.epochs,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "threads": args.threads,
        "seeds": parse_list(args.seeds, int),
        "setup": args.setup,
    }
    if not args.xla:
        settings["jit_compile"] = False
    if args.setup == "torch-rechub":
        settings.update(patience=30, epochs=100)
        unknown = sorted(set(models) - set(TORCH_RECHUB))
        if unknown and args.models != parser.get_default("models"):
            parser.error(f"--setup torch-rechub covers {sorted(TORCH_RECHUB)}, not {unknown}")
        models = [m for m in models if m in TORCH_RECHUB]
    runs_dir = os.path.join(args.out, "census_table_runs")
    os.makedirs(runs_dir, exist_ok=True)
    if args.child:
        group, protocol, seed = args.child
        child(int(group), protocol, int(seed), models, settings, runs_dir)
        return 0
    command = bu.command_line()
    started = bu.utc_now()
    if args.render_only:
        render(args.out, runs_dir, settings, command, started)
        return 0
    if args.fresh:
        for name in os.listdir(runs_dir):
            os.remove(os.path.join(runs_dir, name))
    failed = []
    for seed in settings["seeds"]:
        for group in parse_list(args.groups, int):
            for protocol in parse_list(args.protocols):
                todo = [
                    m
                    for m in models
                    if not os.path.exists(cell_path(runs_dir, group, protocol, seed, m, args.setup))
                ]
                if not todo:
                    continue
                cmd = [sys.executable, os.path.abspath(__file__), "--child", str(group)]
                cmd += [protocol, str(seed), "--models", ",".join(todo), "--out", args.out]
                for flag in (
                    "epochs",
                    "patience",
                    "batch_size",
                    "learning_rate",
                    "threads",
                    "setup",
                ):
                    cmd += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
                if not args.xla:
                    cmd.append("--no-xla")
                print(f"group {group}, {protocol}, seed {seed}: {', '.join(todo)}", flush=True)
                if subprocess.run(cmd).returncode != 0:
                    failed.append((group, protocol, seed))
                # Rewrite the table after every cell, so it is current if stopped.
                render(args.out, runs_dir, settings, command, started)
    report = render(args.out, runs_dir, settings, command, started)
    print(markdown(report))
    if failed:
        print(f"failed cells: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
