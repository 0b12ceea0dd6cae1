#!/usr/bin/env python
"""Does the YouTube shallow tower remove position bias? A semi-synthetic benchmark.

Data: `zoo.data.load_census_position_bias`, Census-Income's real `income`
labels as relevance, shown in ranked lists of 10 by a weak logging ranker,
clicked with P(examined at position p) = (1/p)^eta. Every model trains on the
observed clicks (early stopping on the observed validation clicks, as in
production) and is scored by exact AUC against the true relevance of the
test rows, served as the exported SavedModel would serve it:

- `no-handling`: MMoE that never sees position.
- `position-feature`: MMoE with position as an ordinary input feature,
  scored at position 1 (the usual way to serve such a model).
- `shallow-tower`: `zoo.models.YouTubeMMoE`, position only in the shallow
  tower (10% position dropout), served without position.
- `relevance` (reference, once per seed): the no-handling MMoE trained on
  the true relevance labels (eta = 0), what unbiased clicks would give.

Writes `position_bias.{json,md,png}` to --out; each run is also kept in
`position_bias_runs/` so an interrupted benchmark resumes.

    python bench/position_bias.py                       # eta 0.5, 1, 2; 3 seeds
    python bench/position_bias.py --etas 2 --seeds 1 --max-epochs 2   # a smoke run
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402

METHODS = ("no-handling", "position-feature", "shallow-tower")
DISPLAY = {
    "relevance": "trained on true relevance (reference)",
    "no-handling": "no bias handling",
    "position-feature": "position as a feature (served at position 1)",
    "shallow-tower": "shallow tower (YouTube), served without position",
}
# The same MMoE in every method: 4 experts of 64 units, towers of 16.
MMOE = {"num_experts": 4, "expert_units": [64], "tower_units": [16]}


def run_one(method, eta, seed, settings):
    import keras

    from zoo.data import load_census_position_bias
    from zoo.models import MMoE, YouTubeMMoE
    from zoo.training import evaluate, fit

    dataset = load_census_position_bias(
        data_dir=settings["data_dir"],
        eta=0.0 if method == "relevance" else eta,
        list_size=settings["list_size"],
        include_position=method in ("position-feature", "shallow-tower"),
        seed=seed,
    )
    keras.utils.set_random_seed(seed)
    model_class = YouTubeMMoE if method == "shallow-tower" else MMoE
    model = model_class(tasks=dataset.tasks, preprocessor=dataset.make_preprocessor(), **MMOE)
    config = bu.training_config(settings, seed)
    started = time.perf_counter()
    result = fit(model, dataset, config)
    test = evaluate(model, dataset, "test")
    return {
        "method": method,
        "eta": None if method == "relevance" else eta,
        "seed": seed,
        "test_relevance_auc": test["click"]["auc"],
        "train_click_rate": float(dataset.train.labels["click"].mean()),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "wall_s": time.perf_counter() - started,
    }


def summarize(runs, etas):
    def stats(values):
        return {
            "mean": statistics.mean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values),
        }

    reference = [r["test_relevance_auc"] for r in runs if r["method"] == "relevance"]
    rows = {"relevance": stats(reference) if reference else None}
    for eta in etas:
        for method in METHODS:
            values = [
                r["test_relevance_auc"] for r in runs if r["method"] == method and r["eta"] == eta
            ]
            if values:
                rows[f"{method}@{eta}"] = stats(values)
    return rows


def paired_gain(runs, eta, method, baseline="no-handling"):
    """Per seed: method's AUC minus the baseline's on the same simulated clicks."""
    auc = {(r["method"], r["eta"], r["seed"]): r["test_relevance_auc"] for r in runs}
    return [
        auc[(method, eta, seed)] - auc[(baseline, eta, seed)]
        for (m, e, seed) in sorted(auc)
        if m == method and e == eta and (baseline, eta, seed) in auc
    ]


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    etas = report["settings"]["etas"]
    summary = report["summary"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, method in enumerate(METHODS):
        means = [summary[f"{method}@{eta}"]["mean"] for eta in etas]
        stds = [summary[f"{method}@{eta}"]["std"] for eta in etas]
        offset = (i - 1) * 0.03
        ax.errorbar(
            [e + offset for e in etas],
            means,
            yerr=stds,
            marker="o",
            capsize=3,
            label=DISPLAY[method],
        )
    if summary.get("relevance"):
        ax.axhline(
            summary["relevance"]["mean"], color="gray", linestyle="--", label=DISPLAY["relevance"]
        )
    ax.set_xlabel("position bias severity eta  (P(examined at p) = (1/p)^eta)")
    ax.set_ylabel("test AUC against true relevance")
    ax.set_xticks(etas)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Census-Income relevance, simulated position-biased clicks")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(report):
    s = report["settings"]
    summary = report["summary"]
    lines = [
        "# Position bias: does the YouTube shallow tower remove it?",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall, "
        f"{report['machine']['cpus_usable']} CPUs).",
        "",
        "Census-Income `income` labels as relevance; rows shown in lists of "
        f"{s['list_size']} ranked by a weak logging ranker; click = relevant AND examined, "
        "P(examined at position p) = (1/p)^eta. Models train on the clicks (early stopping on "
        f"validation clicks, patience {s['patience']}, at most {s['max_epochs']} epochs, batch "
        f"{s['batch_size']}, Adam {s['learning_rate']}) and are scored by exact AUC of the "
        "served prediction against the true relevance of the test rows. Every method is MMoE "
        "with 4 experts of [64] and towers [16]. Seeds: "
        f"{s['seeds']} (each seed draws the logging ranker's sample, the lists and the clicks).",
        "",
        "![test AUC against eta](position_bias.png)",
        "",
        "| eta | training click rate | " + " | ".join(DISPLAY[m] for m in METHODS) + " |",
        "|---|---|" + "---|" * len(METHODS),
    ]
    for eta in s["etas"]:
        rates = [r["train_click_rate"] for r in report["runs"] if r["eta"] == eta]
        cells = []
        for method in METHODS:
            row = summary.get(f"{method}@{eta}")
            cells.append(f"{row['mean']:.4f} ± {row['std']:.4f}" if row else "—")
        lines.append(f"| {eta} | {statistics.mean(rates):.2%} | " + " | ".join(cells) + " |")
    if summary.get("relevance"):
        ref = summary["relevance"]
        lines += [
            "",
            f"Reference, the same MMoE trained on the true relevance labels: "
            f"{ref['mean']:.4f} ± {ref['std']:.4f} (n={ref['n']}).",
        ]
    lines += [
        "",
        "Paired gain over no bias handling (same seed, same clicks), AUC points, mean ± std:",
        "",
        "| eta | position as a feature | shallow tower |",
        "|---|---|---|",
    ]
    for eta in s["etas"]:
        cells = []
        for method in ("position-feature", "shallow-tower"):
            gains = paired_gain(report["runs"], eta, method)
            std = statistics.stdev(gains) if len(gains) > 1 else 0.0
            cells.append(f"{statistics.mean(gains):+.4f} ± {std:.4f}" if gains else "—")
        lines.append(f"| {eta} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--etas", default="0.5,1,2")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--list-size", type=int, default=10)
    bu.add_training_flags(parser, batch_size=1024)
    parser.add_argument("--data-dir", default=None, help="Census-Income folder (default: shipped)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite .md and .png from the .json"
    )
    args = parser.parse_args(argv)
    base = os.path.join(args.out, "position_bias")
    if args.render_only:
        with open(base + ".json") as f:
            report = json.load(f)
        plot(report, base + ".png")
        bu.write_report(base, report, markdown(report))
        return
    etas = [float(e) for e in args.etas.split(",")]
    settings = {
        "etas": etas,
        "seeds": args.seeds,
        "list_size": args.list_size,
        **bu.training_settings(args),
        "data_dir": args.data_dir,
    }
    runs_dir = base + "_runs"
    os.makedirs(runs_dir, exist_ok=True)
    jobs = [("relevance", None, seed) for seed in range(1, args.seeds + 1)]
    jobs += [(m, eta, seed) for eta in etas for seed in range(1, args.seeds + 1) for m in METHODS]
    started = time.perf_counter()
    runs = []
    for method, eta, seed in jobs:
        path = os.path.join(runs_dir, f"{method}-eta{eta}-s{seed}.json")
        key = {k: v for k, v in settings.items() if k not in ("etas", "seeds", "data_dir")}
        run, fresh = bu.stored_run(path, key, run_one, method, eta, seed, settings)
        runs.append(run)
        if fresh:
            print(
                f"eta={eta} seed={seed} {method:<17} test AUC vs relevance "
                f"{run['test_relevance_auc']:.4f} ({run['epochs_run']} epochs, "
                f"{run['wall_s']:.0f} s)",
                flush=True,
            )
    report = bu.new_report(started, settings, summary=summarize(runs, etas), runs=runs)
    plot(report, base + ".png")
    bu.write_report(base, report, markdown(report))
    print(f"wrote {base}.json, .md and .png")


if __name__ == "__main__":
    main()
