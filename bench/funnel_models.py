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
"inherent estimation bias" ESCM2 addresses), for reference the AUC on
clicked test rows only (the usual, biased evaluation), and the AUCs of the
tasks the models train on, pCTR against clicks and pCTCVR against
click-and-convert over all impressions (what the ESMM, ESCM2 and AITM papers
report). Each method is
compared seed by seed with the baseline its paper beats (ESMM against the
clicked-only model; ESCM2 and AITM against ESMM).

`--format ali-ccp` and `--format aliexpress` write the same funnels as the
published files of those datasets (torch-rechub's preprocessed Ali-CCP CSVs:
the item in field 205, the user segment in 101, the numeric features in the
first dense columns, the other fields constant; AliExpress' Tianchi CSVs
likewise) and train the funnel models through `zoo.data.load_ali_ccp` and
`load_aliexpress`, streamed from the files as real data would be: the same
models and scores, on the loaders' features, label names and splits
(AliExpress holds out its validation rows from the training file by hash).
The clicked-only model is the synthetic format's alone.

Each tuning and seed run is kept in `funnel_models[_<format>]_runs/`, so an
interrupted benchmark resumes (with `bench/keep_running.py` after a crash).

    python bench/funnel_models.py                 # 6 trials, 5 seeds, 120,000 impressions
    python bench/funnel_models.py --format ali-ccp --methods esmm,escm2-ips,escm2-dr,aitm
    python bench/funnel_models.py --seeds 1 --trials 1 --num-rows 6000 --max-epochs 1  # smoke
"""

import argparse
import os
import sys
import tempfile
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
FORMATS = ("synthetic", "ali-ccp", "aliexpress")
# The published files' columns the funnel's item, segment and numeric features go into.
ALI_CCP_FIELDS = {"item": "205", "segment": "101"}
ALIEXPRESS_FIELDS = {"item": "categorical_1", "segment": "categorical_2"}


def write_funnel_files(data_format, num_rows, seed, folder):
    """Writes the funnel of `seed` as `data_format`'s published CSV files; returns its loader's
    raw test features (the funnel's test rows, in file order)."""
    import numpy as np

    from zoo.data import generate_funnel
    from zoo.data.sources.ali_ccp import loader as ali_ccp
    from zoo.data.sources.aliexpress import loader as aliexpress
    from zoo.data.synthetic.funnel import SEGMENTS

    funnel = generate_funnel(num_rows, seed=seed)
    features = funnel["features"]
    segment = np.searchsorted(np.asarray(SEGMENTS), features["segment"].astype(str))
    numeric = [features[f"x_{i}"] for i in range(4)]
    labels = {"click": funnel["click"], "purchase": funnel["purchase"]}
    if data_format == "ali-ccp":
        columns = {c: np.zeros(num_rows, "int64") for c in ali_ccp.SPARSE_COLUMNS}
        columns[ALI_CCP_FIELDS["item"]] = features["item"]
        columns[ALI_CCP_FIELDS["segment"]] = segment
        dense = {c: np.zeros(num_rows, "float32") for c in ali_ccp.DENSE_COLUMNS}
        dense.update(zip(ali_ccp.DENSE_COLUMNS, numeric))
        table = {**labels, **columns, **dense}
        header = ali_ccp.COLUMNS
        names = {"train": "ali_ccp_train.csv", "validation": "ali_ccp_val.csv",
                 "test": "ali_ccp_test.csv"}  # fmt: skip
        feature_names = dict(zip(ali_ccp.COLUMNS, ali_ccp.FIELD_NAMES))
    else:
        columns = {c: np.zeros(num_rows, "int64") for c in aliexpress.CATEGORICAL_COLUMNS}
        columns[ALIEXPRESS_FIELDS["item"]] = features["item"]
        columns[ALIEXPRESS_FIELDS["segment"]] = segment
        dense = {c: np.zeros(num_rows, "float32") for c in aliexpress.NUMERICAL_COLUMNS}
        dense.update(zip(aliexpress.NUMERICAL_COLUMNS, numeric))
        table = {"search_id": np.arange(num_rows), **columns, **dense,
                 "click": labels["click"], "conversion": labels["purchase"]}  # fmt: skip
        header = aliexpress.COLUMNS
        # No validation file: the loader holds validation rows out of the training file.
        names = {"train": "aliexpress_train.csv", "test": "aliexpress_test.csv"}
        feature_names = {c: c for c in header}
    num_train, num_validation = num_rows * 10 // 12, num_rows // 12
    bounds = {
        "train": (0, num_train),
        "validation": (num_train, num_train + num_validation),
        "test": (num_train + num_validation, num_rows),
    }
    if data_format == "aliexpress":
        bounds["train"] = (0, num_train + num_validation)
    for split, file_name in names.items():
        start, stop = bounds[split]
        with open(os.path.join(folder, file_name), "w") as f:
            f.write(",".join(header) + "\n")
            rows = zip(*(table[c][start:stop] for c in header))
            f.writelines(",".join(str(v) for v in row) + "\n" for row in rows)
    start, stop = bounds["test"]
    skipped = {"click", "purchase", "conversion", "search_id"}
    return {feature_names[c]: table[c][start:stop] for c in header if c not in skipped}


def load_funnel(data_format, num_rows, seed, folder):
    """`(dataset, raw test features)`: the funnel of `seed` in `data_format`."""
    from zoo.data import load_ali_ccp, load_aliexpress, load_synthetic_funnel

    if data_format == "synthetic":
        funnel = load_synthetic_funnel(num_rows=num_rows, seed=seed)
        return funnel, funnel.test.features
    test_features = write_funnel_files(data_format, num_rows, seed, folder)
    loader = load_ali_ccp if data_format == "ali-ccp" else load_aliexpress
    return loader(folder, embedding_dim=8), test_features


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


def predictions_of(method, model, raw):
    """`(pCVR, pCTR, pCTCVR)` for every test impression (raw features `raw`), each `(rows,)`;
    the clicked-only model has no pCTR or pCTCVR (`None`)."""
    import numpy as np

    if method == "clicked-only":
        return np.asarray(model(raw, training=False)["conversion"]).reshape(-1), None, None
    outputs = model.all_outputs(model.preprocessor(raw), training=False)
    click, conversion = model.task_names
    name = f"{conversion}_given_{click}" if method == "aitm" else "cvr"
    return tuple(np.asarray(outputs[n]).reshape(-1) for n in (name, click, conversion))


def train(method, values, seed, settings):
    """Trains one method at `values` on the funnel of `seed`.

    Returns `(model, data, raw test features, fit's result)`.
    """
    import keras

    from zoo.training import fit

    with tempfile.TemporaryDirectory() as folder:  # the written files, for the file formats
        funnel, test_features = load_funnel(settings["format"], settings["num_rows"], seed, folder)
        keras.utils.set_random_seed(seed)
        model, data = build(method, funnel, values)
        config = bu.training_config(settings, seed, learning_rate=values["learning_rate"])
        return model, data, test_features, fit(model, data, config)


def tune_method(method, settings):
    """The method's settings chosen by the shared search, and every trial's result."""

    def run_trial(values):
        *_, result = train(method, values, TUNING_SEED, settings)
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
    model, data, test_features, result = train(method, values, seed, settings)
    truth = generate_funnel(settings["num_rows"], seed=seed)
    num_rows = settings["num_rows"]
    first_test_row = num_rows * 10 // 12 + num_rows // 12  # the funnel's 10:1:1 split
    true_cvr = truth["true_cvr"][first_test_row:]
    counterfactual = truth["counterfactual_conversion"][first_test_row:]
    clicked_test = truth["click"][first_test_row:] > 0.5
    p_cvr, p_ctr, p_ctcvr = predictions_of(method, model, test_features)
    test_click, test_purchase = truth["click"][first_test_row:], truth["purchase"][first_test_row:]
    run = {
        "method": method,
        "seed": seed,
        "values": values,
        "auc_all_impressions": roc_auc(counterfactual, p_cvr),
        "auc_clicked_rows": roc_auc(
            truth["purchase"][first_test_row:][clicked_test], p_cvr[clicked_test]
        ),
        "mae_true_cvr": float(np.mean(np.abs(p_cvr - true_cvr))),
        "bias": float(p_cvr.mean() - true_cvr.mean()),
        "true_cvr_mean": float(true_cvr.mean()),
        # The tasks as the models are trained and their papers score them.
        "auc_ctr": None if p_ctr is None else roc_auc(test_click, p_ctr),
        "auc_ctcvr": None if p_ctcvr is None else roc_auc(test_purchase, p_ctcvr),
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
    ("auc_ctr", "pCTR AUC against clicks (all impressions)", ".4f", True),
    ("auc_ctcvr", "pCTCVR AUC against click-and-convert (all impressions)", ".4f", True),
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
            if None in values or None in base:  # the clicked-only model has no pCTR
                continue
            table[f"{method}|{key}"] = fair.paired_difference(values, base, higher)
    return table


def markdown(report):
    s = report["settings"]
    runs = report["runs"]
    methods = [m for m in METHODS if any(r["method"] == m for r in runs)]
    seeds = sorted({r["seed"] for r in runs})
    data_format = s.get("format", "synthetic")
    written = "" if data_format == "synthetic" else f", written as {data_format}'s files"
    lines = [
        f"# Funnel models on a synthetic funnel with a known CVR{written}",
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
    lines += [
        "",
        fair.capped_runs_line(runs, s["max_epochs"], lambda r: f"{r['method']} seed {r['seed']}"),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=6, help="tuning budget per method")
    parser.add_argument("--num-rows", type=int, default=120000)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="synthetic",
        help="the funnel as a TabularDataset, or written as Ali-CCP's or AliExpress' files",
    )
    bu.add_training_flags(parser, batch_size=512)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; expected some of {list(METHODS)}")
    if args.format != "synthetic" and "clicked-only" in methods:
        parser.error("--format ali-ccp and aliexpress take the funnel models, not clicked-only")
    settings = {
        "format": args.format,
        "seeds": args.seeds,
        "trials": args.trials,
        "num_rows": args.num_rows,
        **bu.training_settings(args),
    }
    started = time.perf_counter()
    suffix = "" if args.format == "synthetic" else "_" + args.format.replace("-", "_")
    base = os.path.join(args.out, "funnel_models" + suffix)
    # Every tuning and seed run is kept, so that a benchmark cut short resumes.
    runs_dir = base + "_runs"
    os.makedirs(runs_dir, exist_ok=True)
    tuning = []
    for method in methods:
        path = os.path.join(runs_dir, f"{method}-tuning.json")
        key = {"settings": settings, "space": {**SHARED_SPACE, **OWN_SPACE.get(method, {})}}
        tuning.append(bu.stored_run(path, key, tune_method, method, settings)[0])
    runs = []
    for seed in range(1, args.seeds + 1):
        for tuned in tuning:
            path = os.path.join(runs_dir, f"{tuned['method']}-seed{seed}.json")
            key = {"settings": settings, "values": tuned["best"]}
            run, _ = bu.stored_run(path, key, score, tuned["method"], tuned["best"], seed, settings)
            runs.append(run)
    report = bu.new_report(
        started, settings, tuning=tuning, runs=runs, comparisons=comparisons(runs)
    )
    bu.write_report(base, report, markdown(report))
    print(f"wrote {base}.json and .md")


if __name__ == "__main__":
    main()
