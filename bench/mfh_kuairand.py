#!/usr/bin/env python
"""MFH and its ablations on KuaiRand, per user group, in the layout of the appendix's Table 1.

Data: the shipped KuaiRand subset (`zoo.data.load_kuairand`), tasks `pcr`
(play completion rate, regression, masked where the duration is 0),
`long_view` (the finish-rate analogue) and `click`; split by date. User
groups from `user_active_degree` as in `datasets/kuairand/mfh.json`: new,
low and high activity. Models (the appendix's sizes: bottom [512], group
level 2 experts per group + 2 shared of [256], task level 1 + 1 of [128]):

- `mfh`: the multi-faceted tree, heterogeneous towers ((128, 64) for the
  high-activity group, (32,) elsewhere);
- `h-mtl`: hierarchical without the facets (bottom + 2-level PLE over the
  9 heads), same towers;
- `flat`: all 9 heads at one level, same towers;
- `heter-abl`: MFH with (128, 64) towers for every group;
- `biasnet`: MMoE (5 experts [256, 128]) over the 3 tasks with a Biasnet bias
  tower over `user_active_degree`.

Reports, per group, the test MSE of pcr and the AUC of long_view and click
(mean ± std over seeds). Runs are kept in `mfh_kuairand_runs/` (resumable).

    python bench/mfh_kuairand.py                   # 5 models x 5 seeds
    python bench/mfh_kuairand.py --seeds 1 --max-epochs 1 --models mfh,flat   # smoke
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

TASKS = ("pcr", "long_view", "click")
GROUP_CONFIG = os.path.join(REPO, "datasets", "kuairand", "mfh.json")
MODELS = ("mfh", "h-mtl", "flat", "heter-abl", "biasnet")
DISPLAY = {
    "mfh": "MFH 9-task",
    "h-mtl": "H-MTL 9-task",
    "flat": "flat 9-task",
    "heter-abl": "MFH heter-abl",
    "biasnet": "Biasnet (MMoE)",
}


def build_model(name, dataset, group_config):
    from zoo import models

    preprocessor = dataset.make_preprocessor()
    if name == "biasnet":
        return models.MMoE(
            tasks=dataset.tasks,
            preprocessor=preprocessor,
            num_experts=5,
            expert_units=[256, 128],
            tower_units=[32],
            bias_tower_feature=group_config["group_feature"],
        )
    config = dict(group_config)
    if name == "heter-abl":
        config["group_tower_units"] = None
        config["tower_units"] = [128, 64]
    layout = "mfh" if name in ("mfh", "heter-abl") else name
    return models.MFH(tasks=dataset.tasks, preprocessor=preprocessor, layout=layout, **config)


def run_one(name, seed, settings):
    import keras
    import numpy as np

    from zoo.data import load_kuairand
    from zoo.metrics import mean_squared_error, roc_auc
    from zoo.training import fit, predict

    with open(GROUP_CONFIG) as f:
        group_config = json.load(f)
    dataset = load_kuairand(tasks=TASKS)
    keras.utils.set_random_seed(seed)
    model = build_model(name, dataset, group_config)
    config = bu.training_config(settings, seed)
    started = time.perf_counter()
    result = fit(model, dataset, config)
    predictions = predict(model, dataset, "test")
    labels, present, _ = dataset.label_arrays("test")
    raw_group = np.asarray(dataset.test.features[group_config["group_feature"]])
    per_group = {}
    for group, values in group_config["groups"].items():
        in_group = np.isin(raw_group, values)
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
    return {
        "model": name,
        "seed": seed,
        "per_group": per_group,
        "params": int(model.count_params()),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "wall_s": time.perf_counter() - started,
    }


def markdown(report):
    s = report["settings"]
    runs = report["runs"]
    groups = list(runs[0]["per_group"]) if runs else []
    lines = [
        "# MFH on KuaiRand, per user group",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall "
        "of this invocation; runs done before were reused).",
        "",
        "The shipped KuaiRand like/hate subset (rates are conditional on explicit feedback; see "
        "`datasets/kuairand/CARD.md`), split by date; groups from `user_active_degree` as in "
        "`datasets/kuairand/mfh.json`. pcr: test MSE (lower is better); long_view, click: test "
        f"AUC. Mean ± std over seeds 1–{s['seeds']}; at most {s['max_epochs']} epochs, early "
        f"stopping on the validation loss (patience {s['patience']}), batch {s['batch_size']}, "
        f"Adam {s['learning_rate']}.",
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
            rows = [r for r in runs if r["model"] == name]
            if not rows:
                continue
            cells = [
                bu.mean_std_cell([r["per_group"][group]["pcr"]["mse"] for r in rows], ".4f"),
                bu.mean_std_cell([r["per_group"][group]["long_view"]["auc"] for r in rows], ".4f"),
                bu.mean_std_cell([r["per_group"][group]["click"]["auc"] for r in rows], ".4f"),
            ]
            lines.append(f"| {DISPLAY[name]} | " + " | ".join(cells) + " |")
        lines.append("")
    params = {r["model"]: r["params"] for r in runs}
    lines.append(
        "Parameters: " + ", ".join(f"{DISPLAY[m]} {params[m]:,}" for m in MODELS if m in params)
    )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    bu.add_training_flags(parser, batch_size=512)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args(argv)
    base = os.path.join(args.out, "mfh_kuairand")
    if args.render_only:
        with open(base + ".json") as f:
            report = json.load(f)
        bu.write_report(base, report, markdown(report))
        return
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    settings = {
        "seeds": args.seeds,
        **bu.training_settings(args),
    }
    key = {k: v for k, v in settings.items() if k != "seeds"}
    runs_dir = base + "_runs"
    os.makedirs(runs_dir, exist_ok=True)
    started = time.perf_counter()
    runs = []
    for seed in range(1, args.seeds + 1):
        for name in models:
            path = os.path.join(runs_dir, f"{name}-s{seed}.json")
            run, fresh = bu.stored_run(path, key, run_one, name, seed, settings)
            runs.append(run)
            if not fresh:
                continue
            shown = ", ".join(
                f"{g}: pcr {c['pcr']['mse']:.4f} click {c['click']['auc'] or float('nan'):.4f}"
                for g, c in run["per_group"].items()
            )
            print(f"seed {seed} {DISPLAY[name]:<15} {shown} ({run['wall_s']:.0f} s)", flush=True)
    report = bu.new_report(started, settings, runs=runs)
    bu.write_report(base, report, markdown(report))


if __name__ == "__main__":
    main()
