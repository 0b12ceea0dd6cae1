#!/usr/bin/env python
"""ESMM against a CVR model trained on clicked impressions, where the true CVR is known.

Data: `zoo.data.load_synthetic_funnel` (impression -> click -> conversion,
hidden item quality driving both rates, a "clickbait" feature raising clicks
and lowering conversions). Two ways to estimate pCVR = P(convert | click, x)
for every impression:

- `clicked-only`: the conventional CVR model, one network trained on the
  clicked training rows with their conversion labels
  (`zoo.models.SingleTask`, the same MLP as ESMM's CVR network).
- `esmm`: `zoo.models.ESMM` trained on all impressions with the CTR and
  CTCVR losses; its pCVR is the CVR network's output.

Both are scored on every test impression, clicked or not, against the ground
truth: exact AUC against a conversion drawn from the true CVR for every
impression, mean absolute error to the true CVR, and calibration (mean pCVR
over mean true CVR). For reference, also the AUC on the clicked test rows
only, the conventional (biased) evaluation.

    python bench/esmm_funnel.py                 # 3 seeds, 120,000 impressions each
    python bench/esmm_funnel.py --seeds 1 --num-rows 12000 --max-epochs 2   # smoke
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402

METHODS = ("clicked-only", "esmm")
DISPLAY = {
    "clicked-only": "CVR model on clicked rows",
    "esmm": "ESMM (pCVR over all impressions)",
}
HIDDEN_UNITS = [128, 64]


def clicked_only_dataset(funnel):
    """The funnel's clicked rows, with one task: conversion given the click."""
    from zoo.data import Split, TabularDataset
    from zoo.tasks import Task

    def clicked(split):
        rows = split.labels["click"] > 0.5
        return Split(
            features={k: v[rows] for k, v in split.features.items()},
            labels={"conversion": split.labels["purchase"][rows]},
        )

    return TabularDataset(
        name="synthetic-funnel-clicked",
        features=funnel.features,
        tasks=[Task("conversion")],
        train=clicked(funnel.train),
        validation=clicked(funnel.validation),
        test=clicked(funnel.test),
    )


def run_seed(seed, settings):
    import keras
    import numpy as np

    from zoo.data import generate_funnel, load_synthetic_funnel
    from zoo.metrics import roc_auc
    from zoo.models import ESMM, SingleTask
    from zoo.training import fit

    funnel = load_synthetic_funnel(num_rows=settings["num_rows"], seed=seed)
    truth = generate_funnel(settings["num_rows"], seed=seed)
    first_test_row = funnel.settings["test_rows"][0]
    true_cvr = truth["true_cvr"][first_test_row:]
    counterfactual = truth["counterfactual_conversion"][first_test_row:]
    clicked_test = funnel.test.labels["click"] > 0.5

    config = bu.training_config(settings, seed)
    results = []
    for method in METHODS:
        keras.utils.set_random_seed(seed)
        started = time.perf_counter()
        if method == "esmm":
            data = funnel
            model = ESMM(
                tasks=funnel.tasks,
                preprocessor=funnel.make_preprocessor(),
                hidden_units=HIDDEN_UNITS,
            )
        else:
            data = clicked_only_dataset(funnel)
            model = SingleTask(
                tasks=data.tasks,
                preprocessor=data.make_preprocessor(),
                hidden_units=HIDDEN_UNITS,
                tower_units=[],
            )
        result = fit(model, data, config)
        x = model.preprocessor(funnel.test.features)
        if method == "esmm":
            p_cvr = np.asarray(model.cvr_predictions(x)).reshape(-1)
        else:
            raw = funnel.test.features
            p_cvr = np.asarray(model(raw, training=False)["conversion"]).reshape(-1)
        results.append(
            {
                "method": method,
                "seed": seed,
                "training_rows": data.num_rows("train"),
                "auc_all_impressions": roc_auc(counterfactual, p_cvr),
                "auc_clicked_rows": roc_auc(
                    funnel.test.labels["purchase"][clicked_test], p_cvr[clicked_test]
                ),
                "mae_true_cvr": float(np.mean(np.abs(p_cvr - true_cvr))),
                "calibration": float(p_cvr.mean() / true_cvr.mean()),
                "true_cvr_mean": float(true_cvr.mean()),
                "epochs_run": result.epochs_run,
                "wall_s": time.perf_counter() - started,
            }
        )
        r = results[-1]
        print(
            f"seed {seed} {method:<12} AUC all impressions {r['auc_all_impressions']:.4f}, "
            f"clicked rows {r['auc_clicked_rows']:.4f}, MAE {r['mae_true_cvr']:.4f}, "
            f"calibration {r['calibration']:.3f} ({r['epochs_run']} epochs)",
            flush=True,
        )
    return results


METRICS = (
    ("auc_all_impressions", "AUC, all test impressions (higher is better)", ".4f"),
    ("mae_true_cvr", "mean abs. error to the true CVR (lower is better)", ".4f"),
    ("calibration", "mean pCVR / mean true CVR (1 is right)", ".3f"),
    ("auc_clicked_rows", "AUC, clicked test rows only (the usual, biased view)", ".4f"),
)


def markdown(report):
    s = report["settings"]
    runs = report["runs"]
    lines = [
        "# ESMM on a synthetic funnel with a known CVR",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall).",
        "",
        f"`zoo.data.load_synthetic_funnel`, {s['num_rows']:,} impressions per seed split 10:1:1, "
        f"seeds {s['seeds']}. Both pCVR networks are MLPs {HIDDEN_UNITS} over the same "
        f"embeddings; at most {s['max_epochs']} epochs, early stopping patience "
        f"{s['patience']} on the validation loss, batch {s['batch_size']}, Adam "
        f"{s['learning_rate']}. Scored on every test impression against the known truth.",
        "",
        "| metric | " + " | ".join(DISPLAY[m] for m in METHODS) + " |",
        "|---|" + "---|" * len(METHODS),
    ]
    for key, label, spec in METRICS:
        cells = []
        for method in METHODS:
            values = [r[key] for r in runs if r["method"] == method]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):{spec}} ± {std:{spec}}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    rows = {
        m: statistics.mean(r["training_rows"] for r in runs if r["method"] == m) for m in METHODS
    }
    lines += [
        "",
        f"Training rows: {rows['clicked-only']:,.0f} clicked rows for the clicked-only model, "
        f"{rows['esmm']:,.0f} impressions for ESMM. Mean true CVR over test impressions: "
        f"{statistics.mean(r['true_cvr_mean'] for r in runs):.2%}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--num-rows", type=int, default=120000)
    bu.add_training_flags(parser, batch_size=512)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    settings = {
        "seeds": args.seeds,
        "num_rows": args.num_rows,
        **bu.training_settings(args),
    }
    started = time.perf_counter()
    runs = []
    for seed in range(1, args.seeds + 1):
        runs += run_seed(seed, settings)
    base = os.path.join(args.out, "esmm_funnel")
    report = bu.new_report(started, settings, runs=runs)
    bu.write_report(base, report, markdown(report))
    print(f"wrote {base}.json and .md")


if __name__ == "__main__":
    main()
