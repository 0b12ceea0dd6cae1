#!/usr/bin/env python
"""The funnel models' pCVR against the truth: clicked-only, ESMM, ESCM2-IPS, ESCM2-DR, AITM.

Data: `zoo.data.load_synthetic_funnel` (impression -> click -> conversion,
hidden item quality driving both rates, a "clickbait" feature raising clicks
and lowering conversions), where the true CVR of every impression is known.
Each method estimates pCVR = P(convert | click, x) for every impression:

- `clicked-only`: the conventional CVR model, one network trained on the
  clicked training rows with their conversion labels (`zoo.models.SingleTask`).
- `esmm`: `zoo.models.ESMM` on all impressions (CTR and CTCVR losses); pCVR is
  its CVR network's output.
- `escm2-ips`, `escm2-dr`: `zoo.models.ESCM2`, ESMM plus the counterfactual CVR
  risk, inverse-propensity weighted or doubly robust.
- `aitm`: `zoo.models.AITM`, click and click-and-convert towers with adaptive
  information transfer and the behavioural calibrator; pCVR is its
  `purchase_given_click` output, pCTCVR / pCTR.

The protocol is the fidelity issue's: every method gets the same tuning
budget (`bench/_fair_comparison.py`: a KerasTuner random search of `--trials`
settings on the validation split of a funnel drawn with seed 0, each scored by
its own validation loss), then trains at its chosen settings on the funnels of
seeds 1..`--seeds`, each a fresh draw. Scored on every test impression:
exact AUC against a conversion drawn from the true CVR, mean absolute error to
the true CVR, the bias of the estimate (mean pCVR - mean true CVR, the
"inherent estimation bias" ESCM2 addresses), and, for reference, the AUC on
clicked test rows only (the usual, biased evaluation). Each method is
compared seed by seed with the baseline its paper beats (ESMM against the
clicked-only model; ESCM2 and AITM against ESMM).

    python bench/funnel_models.py                 # 6 trials, 5 seeds, 120,000 impressions
    python bench/funnel_models.py --seeds 1 --trials 1 --num-rows 6000 --max-epochs 1  # smoke
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402
import _fair_comparison as fair  # noqa: E402

METHODS = ("clicked-only", "esmm", "escm2-ips", "escm2-dr", "aitm")
DISPLAY = {
    "clicked-only": "CVR model on clicked rows",
    "esmm": "ESMM",
    "escm2-ips": "ESCM2-IPS",
    "escm2-dr": "ESCM2-DR",
    "aitm": "AITM",
}
# The baseline each method's paper claims to beat.
BASELINES = {"esmm": "clicked-only", "escm2-ips": "esmm", "escm2-dr": "esmm", "aitm": "esmm"}
# The search every method gets: the network's width (hidden layers [w, w/2]), dropout and
# learning rate, plus the method's own weight of its added loss.
SHARED_SPACE = {"width": [64, 128], "dropout": [0.0, 0.1], "learning_rate": [1e-3, 3e-3]}
OWN_SPACE = {
    "escm2-ips": {"counterfactual_weight": [0.01, 0.1, 1.0]},
    "escm2-dr": {"counterfactual_weight": [0.01, 0.1, 1.0]},
    "aitm": {"calibrator_weight": [0.1, 0.6, 1.0]},
}
TUNING_SEED = 0


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


def build(method, funnel, values):
    """The method's model and the dataset it trains on, at the settings `values`."""
    from zoo import models

    width = int(values["width"])
    common = {"dropout": values["dropout"]}
    if method == "clicked-only":
        data = clicked_only_dataset(funnel)
        model = models.SingleTask(
            tasks=data.tasks,
            preprocessor=data.make_preprocessor(),
            hidden_units=[width, width // 2],
            tower_units=[],
            **common,
        )
        return model, data
    preprocessor = funnel.make_preprocessor()
    if method == "esmm":
        model = models.ESMM(
            tasks=funnel.tasks,
            preprocessor=preprocessor,
            hidden_units=[width, width // 2],
            **common,
        )
    elif method.startswith("escm2"):
        model = models.ESCM2(
            tasks=funnel.tasks,
            preprocessor=preprocessor,
            hidden_units=[width, width // 2],
            estimator=method.split("-")[1],
            counterfactual_weight=values["counterfactual_weight"],
            **common,
        )
    elif method == "aitm":
        model = models.AITM(
            tasks=funnel.tasks,
            preprocessor=preprocessor,
            hidden_units=[width, width // 2],
            calibrator_weight=values["calibrator_weight"],
            **common,
        )
    else:
        raise ValueError(f"Unknown method {method!r}; expected one of {METHODS}")
    return model, funnel


def p_cvr_of(method, model, funnel):
    """pCVR for every test impression, `(rows,)`."""
    import numpy as np

    raw = funnel.test.features
    if method == "clicked-only":
        return np.asarray(model(raw, training=False)["conversion"]).reshape(-1)
    outputs = model.all_outputs(model.preprocessor(raw), training=False)
    name = "purchase_given_click" if method == "aitm" else "cvr"
    return np.asarray(outputs[name]).reshape(-1)


def train(method, values, seed, settings):
    """Trains one method at `values` on the funnel of `seed`; returns (model, data, result)."""
    import keras

    from zoo.data import load_synthetic_funnel
    from zoo.training import fit

    funnel = load_synthetic_funnel(num_rows=settings["num_rows"], seed=seed)
    keras.utils.set_random_seed(seed)
    model, data = build(method, funnel, values)
    config = bu.training_config({**settings, "learning_rate": values["learning_rate"]}, seed)
    return model, funnel, data, fit(model, data, config)


def tune_method(method, settings):
    """The method's settings chosen by the shared search, and every trial's result."""

    def run_trial(values):
        _, _, _, result = train(method, values, TUNING_SEED, settings)
        return min(result.history["val_loss"])

    space = {**SHARED_SPACE, **OWN_SPACE.get(method, {})}
    best, tried = fair.tune(method, space, run_trial, settings["trials"], seed=TUNING_SEED)
    print(f"tuned {method:<12} {best}", flush=True)
    return {"method": method, "best": best, "trials": tried}


def score(method, values, seed, settings):
    import numpy as np

    from zoo.data import generate_funnel
    from zoo.metrics import roc_auc

    started = time.perf_counter()
    model, funnel, data, result = train(method, values, seed, settings)
    truth = generate_funnel(settings["num_rows"], seed=seed)
    first_test_row = funnel.settings["test_rows"][0]
    true_cvr = truth["true_cvr"][first_test_row:]
    counterfactual = truth["counterfactual_conversion"][first_test_row:]
    clicked_test = funnel.test.labels["click"] > 0.5
    p_cvr = p_cvr_of(method, model, funnel)
    run = {
        "method": method,
        "seed": seed,
        "values": values,
        "training_rows": data.num_rows("train"),
        "auc_all_impressions": roc_auc(counterfactual, p_cvr),
        "auc_clicked_rows": roc_auc(
            funnel.test.labels["purchase"][clicked_test], p_cvr[clicked_test]
        ),
        "mae_true_cvr": float(np.mean(np.abs(p_cvr - true_cvr))),
        "bias": float(p_cvr.mean() - true_cvr.mean()),
        "true_cvr_mean": float(true_cvr.mean()),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "train_samples_per_second": result.train_samples_per_second,
        "wall_s": time.perf_counter() - started,
    }
    print(
        f"seed {seed} {method:<12} AUC all impressions {run['auc_all_impressions']:.4f}, "
        f"MAE {run['mae_true_cvr']:.4f}, bias {run['bias']:+.4f} "
        f"(best epoch {run['best_epoch']} of {run['epochs_run']})",
        flush=True,
    )
    return run


METRICS = (
    ("auc_all_impressions", "AUC, all test impressions", ".4f", True),
    ("mae_true_cvr", "mean abs. error to the true CVR", ".4f", False),
    ("bias", "bias: mean pCVR - mean true CVR", ".4f", None),
    ("auc_clicked_rows", "AUC, clicked test rows only (the usual, biased view)", ".4f", True),
)


def _by_method(runs, method, key):
    return [r[key] for r in sorted(runs, key=lambda r: r["seed"]) if r["method"] == method]


def comparisons(runs):
    """Paired differences of each method against its paper's baseline, per metric."""
    table = {}
    methods = {r["method"] for r in runs}
    for method, baseline in BASELINES.items():
        if method not in methods or baseline not in methods:
            continue
        for key, _, _, higher in METRICS:
            if key == "bias":  # closer to 0 is better: compare the absolute bias
                values = [abs(v) for v in _by_method(runs, method, key)]
                base = [abs(v) for v in _by_method(runs, baseline, key)]
                higher = False
            else:
                values, base = _by_method(runs, method, key), _by_method(runs, baseline, key)
            table[f"{method}|{key}"] = fair.paired_difference(values, base, higher)
    return table


def markdown(report):
    s = report["settings"]
    runs = report["runs"]
    methods = [m for m in METHODS if any(r["method"] == m for r in runs)]
    seeds = sorted({r["seed"] for r in runs})
    lines = [
        "# Funnel models on a synthetic funnel with a known CVR",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall).",
        "",
        f"`zoo.data.load_synthetic_funnel`, {s['num_rows']:,} impressions per seed split 10:1:1. "
        f"Every method had the same tuning budget: {s['trials']} settings drawn by a KerasTuner "
        f"random search from width {SHARED_SPACE['width']} (hidden layers [w, w/2]), dropout "
        f"{SHARED_SPACE['dropout']}, learning rate {SHARED_SPACE['learning_rate']} and its own "
        "loss weight where it has one, each scored by its validation loss on the funnel of seed "
        f"{TUNING_SEED}; then seeds {seeds}, each a fresh funnel. At most {s['max_epochs']} "
        f"epochs, early stopping patience {s['patience']} on the validation loss, batch "
        f"{s['batch_size']}. Scored on every test impression against the known truth.",
        "",
        "| metric | " + " | ".join(DISPLAY[m] for m in methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for key, label, spec, _ in METRICS:
        cells = [bu.mean_std_cell(_by_method(runs, m, key), spec) for m in methods]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    speed = [
        bu.mean_std_cell(_by_method(runs, m, "train_samples_per_second"), ",.0f") for m in methods
    ]
    lines.append("| training samples/s | " + " | ".join(speed) + " |")
    lines += ["", "Chosen settings:", ""]
    for tuned in report["tuning"]:
        lines.append(f"- {DISPLAY[tuned['method']]}: `{tuned['best']}`")
    paired = report["comparisons"]
    if paired:
        lines += [
            "",
            "## Paired differences against the baseline each paper beats",
            "",
            'Per seed, method minus baseline (for the bias, |bias| minus |bias|); "better" '
            'or "worse" only where the 95% confidence interval of the mean difference '
            "(Student's t over the seeds) leaves out 0, otherwise **level**.",
            "",
            "| method vs baseline | " + " | ".join(label for _, label, _, _ in METRICS) + " |",
            "|---|" + "---|" * len(METRICS),
        ]
        for method, baseline in BASELINES.items():
            keyed = [paired.get(f"{method}|{key}") for key, _, _, _ in METRICS]
            if all(k is None for k in keyed):
                continue
            cells = [fair.difference_cell(k) if k else "—" for k in keyed]
            lines.append(
                f"| {DISPLAY[method]} vs {DISPLAY[baseline]} | " + " | ".join(cells) + " |"
            )
    capped = [r for r in runs if r["best_epoch"] >= s["max_epochs"]]
    lines += [
        "",
        f"Runs whose best epoch was the epoch cap ({s['max_epochs']}): "
        + (", ".join(f"{r['method']} seed {r['seed']}" for r in capped) or "none")
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=6, help="tuning budget per method")
    parser.add_argument("--num-rows", type=int, default=120000)
    parser.add_argument("--methods", default=",".join(METHODS))
    bu.add_training_flags(parser, batch_size=512)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; expected some of {list(METHODS)}")
    settings = {
        "seeds": args.seeds,
        "trials": args.trials,
        "num_rows": args.num_rows,
        **bu.training_settings(args),
    }
    started = time.perf_counter()
    tuning = [tune_method(method, settings) for method in methods]
    runs = []
    for seed in range(1, args.seeds + 1):
        for tuned in tuning:
            runs.append(score(tuned["method"], tuned["best"], seed, settings))
    base = os.path.join(args.out, "funnel_models")
    report = bu.new_report(
        started, settings, tuning=tuning, runs=runs, comparisons=comparisons(runs)
    )
    bu.write_report(base, report, markdown(report))
    print(f"wrote {base}.json and .md")


if __name__ == "__main__":
    main()
