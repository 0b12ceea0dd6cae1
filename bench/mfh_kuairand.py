#!/usr/bin/env python
"""MFH and its ablations on KuaiRand, per user group, with equal tuning budgets.

Data: the shipped KuaiRand subset (`zoo.data.load_kuairand`), tasks `pcr`
(play completion rate, regression, masked where the duration is 0),
`long_view` (the finish-rate analogue) and `click`; split by date. User
groups from `user_active_degree` as in `datasets/kuairand/mfh.json`: new,
low and high activity. Models, at the appendix's sizes (section 4: bottom
[512]; PLE over groups, 2 experts per group + 2 shared, [256] then [128];
CGC over tasks, 1 + 1 of [128]):

- `mfh`: the multi-faceted tree, heterogeneous towers ((128, 64) for the
  high-activity group, (32,) elsewhere);
- `h-mtl`: hierarchical without the facets (bottom + 2-level PLE over the
  9 heads), same towers;
- `flat`: all 9 heads at one level, same towers;
- `heter-abl`: MFH with (128, 64) towers for every group;
- `biasnet`: the appendix's section 3, "we replace the user group facet with
  a bias tower that takes the user group feature as its input, and the bias
  output is added to the logits of task towers. The bias tower is composed of
  two-layer MLP of size (128,64)": the same tree with the group facet
  collapsed to one group (the 3 tasks), plus that bias tower.

The protocol is the fidelity issue's (`bench/_fair_comparison.py`): each model
gets the same KerasTuner random search of `--trials` settings (learning rate,
dropout, and a width factor on every layer of the appendix's sizes) scored by
its validation loss with seed 0, then trains at its chosen settings with seeds
1..`--seeds`. Reported per group: test MSE of pcr and AUC of long_view and
click (mean ± std), and MFH's paired difference against each other model with
a verdict ("level" unless the 95% interval of the mean paired difference
leaves out 0). Runs are kept in `mfh_kuairand_runs/` (resumable).

    python bench/mfh_kuairand.py                   # 5 models, 4 trials, 5 seeds
    python bench/mfh_kuairand.py --trials 1 --seeds 2 --max-epochs 1 --no-xla \\
        --models mfh,biasnet                       # smoke
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402
import _fair_comparison as fair  # noqa: E402

TASKS = ("pcr", "long_view", "click")
GROUP_CONFIG = os.path.join(REPO, "datasets", "kuairand", "mfh.json")
MODELS = ("mfh", "h-mtl", "flat", "heter-abl", "biasnet")
PROPOSED = "mfh"
DISPLAY = {
    "mfh": "MFH 9-task",
    "h-mtl": "H-MTL 9-task",
    "flat": "flat 9-task",
    "heter-abl": "MFH heter-abl",
    "biasnet": "Biasnet 3-task",
}
# The appendix's sizes, scaled by the searched `width` factor.
SIZES = {"bottom_units": [512], "group_units": [256], "task_units": [128]}
BIAS_TOWER = [128, 64]
SPACE = {
    "learning_rate": [1e-3, 3e-3],
    "dropout": [0.0, 0.1],
    "width": [0.5, 1.0],
}
TUNING_SEED = 0


def build_model(name, dataset, group_config, values):
    from zoo import models

    config = dict(group_config)
    config.update(
        {key: [max(1, round(u * values["width"])) for u in units] for key, units in SIZES.items()}
    )
    if name == "heter-abl":
        config["group_tower_units"] = None
        config["tower_units"] = [128, 64]
    if name == "biasnet":
        every_value = [v for values_ in config["groups"].values() for v in values_]
        config.update(
            groups={"all": every_value},
            default_group="all",
            group_tower_units=None,
            bias_tower_feature=config["group_feature"],
            bias_tower_units=BIAS_TOWER,
        )
    layout = name if name in ("h-mtl", "flat") else "mfh"
    return models.MFH(
        tasks=dataset.tasks,
        preprocessor=dataset.make_preprocessor(),
        layout=layout,
        dropout=values["dropout"],
        **config,
    )


def train(name, values, seed, settings):
    import keras

    from zoo.data import load_kuairand
    from zoo.training import fit

    with open(GROUP_CONFIG) as f:
        group_config = json.load(f)
    dataset = load_kuairand(tasks=TASKS)
    keras.utils.set_random_seed(seed)
    model = build_model(name, dataset, group_config, values)
    config = bu.training_config(settings, seed, learning_rate=values["learning_rate"])
    return model, dataset, group_config, fit(model, dataset, config)


def tune_model(name, settings):
    def run_trial(values):
        return min(train(name, values, TUNING_SEED, settings)[3].history["val_loss"])

    best, tried = fair.tune(f"mfh-{name}", SPACE, run_trial, settings["trials"], TUNING_SEED)
    print(f"tuned {DISPLAY[name]:<15} {best}", flush=True)
    return {"model": name, "best": best, "trials": tried}


def run_seed(name, values, seed, settings):
    import numpy as np

    from zoo.metrics import mean_squared_error, roc_auc
    from zoo.training import predict

    started = time.perf_counter()
    model, dataset, group_config, result = train(name, values, seed, settings)
    predictions = predict(model, dataset, "test")
    labels, present, _ = dataset.label_arrays("test")
    raw_group = np.asarray(dataset.test.features[group_config["group_feature"]])
    per_group = {}
    for group, group_values in group_config["groups"].items():
        in_group = np.isin(raw_group, group_values)
        cells = {}
        for task in TASKS:
            rows = in_group & present[task]
            y, p = labels[task][rows], predictions[task][rows]
            if task == "pcr":
                cells[task] = {"mse": mean_squared_error(y, p)}
            elif 0 < y.sum() < len(y):
                cells[task] = {"auc": roc_auc(y, p)}
            else:
                cells[task] = {"auc": None}
            cells[task]["rows"] = int(rows.sum())
        per_group[group] = cells
    run = {
        "model": name,
        "seed": seed,
        "values": values,
        "per_group": per_group,
        "params": int(model.count_params()),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "wall_s": time.perf_counter() - started,
    }
    shown = ", ".join(
        f"{g}: pcr {c['pcr']['mse']:.4f} click {c['click']['auc'] or float('nan'):.4f}"
        for g, c in per_group.items()
    )
    print(f"seed {seed} {DISPLAY[name]:<15} {shown} ({run['wall_s']:.0f} s)", flush=True)
    return run


def _metric(task):
    return "mse" if task == "pcr" else "auc"


def _figures(runs, name, group, task):
    chosen = sorted((r for r in runs if r["model"] == name), key=lambda r: r["seed"])
    return [r["per_group"][group][task][_metric(task)] for r in chosen]


def comparisons(runs):
    """MFH against each other model, per group and task, seed by seed."""
    table = {}
    names = {r["model"] for r in runs}
    if PROPOSED not in names or not runs:
        return table
    for other in sorted(names - {PROPOSED}):
        for group in runs[0]["per_group"]:
            for task in TASKS:
                mfh = _figures(runs, PROPOSED, group, task)
                them = _figures(runs, other, group, task)
                if None in mfh or None in them or len(mfh) != len(them):
                    continue
                table[f"{other}|{group}|{task}"] = fair.paired_difference(
                    mfh, them, higher_is_better=task != "pcr"
                )
    return table


def markdown(report):
    s = report["settings"]
    runs = report["runs"]
    groups = list(runs[0]["per_group"]) if runs else []
    best = {t["model"]: t["best"] for t in report["tuning"]}
    lines = [
        "# MFH on KuaiRand, per user group",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall "
        "of this invocation; runs done before were reused).",
        "",
        "The shipped KuaiRand like/hate subset (rates are conditional on explicit feedback; see "
        "`datasets/kuairand/CARD.md`), split by date; groups from `user_active_degree` as in "
        "`datasets/kuairand/mfh.json`. pcr: test MSE (lower is better); long_view, click: test "
        f"AUC. Every model had the same tuning budget: {s['trials']} settings drawn by a "
        f"KerasTuner random search from {SPACE} (`width` scales every layer of the appendix's "
        f"sizes), scored by the validation loss with seed {TUNING_SEED}; then seeds "
        f"1–{s['seeds']}, mean ± std. At most {s['max_epochs']} epochs, early stopping on the "
        f"validation loss (patience {s['patience']}), batch {s['batch_size']}. MFH against each "
        "model: the mean paired difference ± its std, the seeds favouring MFH, and **level** "
        "unless the 95% confidence interval of the mean difference (Student's t) leaves out 0.",
        "",
    ]
    for group in groups:
        sizes = runs[0]["per_group"][group]
        lines += [
            f"## {group} users (test rows: pcr {sizes['pcr']['rows']}, long_view "
            f"{sizes['long_view']['rows']}, click {sizes['click']['rows']})",
            "",
            "| model | pcr MSE | long_view AUC | click AUC |",
            "|---|---|---|---|",
        ]
        for name in MODELS:
            if not any(r["model"] == name for r in runs):
                continue
            cells = [bu.mean_std_cell(_figures(runs, name, group, task)) for task in TASKS]
            lines.append(f"| {DISPLAY[name]} | " + " | ".join(cells) + " |")
        versus = [name for name in MODELS if name != PROPOSED]
        rows = []
        for name in versus:
            cells = [report["comparisons"].get(f"{name}|{group}|{task}") for task in TASKS]
            if any(cells):
                rows.append(
                    f"| MFH − {DISPLAY[name]} | "
                    + " | ".join(fair.difference_cell(c) if c else "—" for c in cells)
                    + " |"
                )
        if rows:
            lines += ["", "| paired difference | pcr MSE | long_view AUC | click AUC |"]
            lines += ["|---|---|---|---|", *rows]
        lines.append("")
    params = {r["model"]: r["params"] for r in runs}
    lines += [
        "Chosen settings: "
        + "; ".join(f"{DISPLAY[m]} `{best[m]}`" for m in MODELS if m in best)
        + ".",
        "",
        "Parameters at those settings: "
        + ", ".join(f"{DISPLAY[m]} {params[m]:,}" for m in MODELS if m in params)
        + ".",
        "",
        fair.capped_runs_line(runs, s["max_epochs"], lambda r: f"{r['model']} seed {r['seed']}"),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=4, help="tuning budget per model")
    parser.add_argument("--models", default=",".join(MODELS))
    bu.add_training_flags(parser, batch_size=512)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    settings = {"seeds": args.seeds, "trials": args.trials, **bu.training_settings(args)}
    runs_dir = os.path.join(args.out, "mfh_kuairand_runs")
    os.makedirs(runs_dir, exist_ok=True)
    started = time.perf_counter()
    tuning, runs = [], []
    for name in models:
        path = os.path.join(runs_dir, f"{name}-tuning.json")
        key = {"settings": settings, "space": SPACE}
        tuned, _ = bu.stored_run(path, key, tune_model, name, settings)
        tuning.append(tuned)
        for seed in range(1, args.seeds + 1):
            path = os.path.join(runs_dir, f"{name}-seed{seed}.json")
            key = {"settings": settings, "values": tuned["best"]}
            run, _ = bu.stored_run(path, key, run_seed, name, tuned["best"], seed, settings)
            runs.append(run)
    base = os.path.join(args.out, "mfh_kuairand")
    report = bu.new_report(
        started, settings, tuning=tuning, runs=runs, comparisons=comparisons(runs)
    )
    bu.write_report(base, report, markdown(report))


if __name__ == "__main__":
    main()
