#!/usr/bin/env python
"""DLEN against its backbones on KuaiRand: MMoE, MMoE-DLEN, PLE, PLE-DLEN, and a sweep of alpha.

Data: the shipped KuaiRand like/hate subset (`zoo.data.load_kuairand`), tasks
click, long_view, like, follow, comment, forward; split by date (10 training
days, 2 validation, 2 test). Architectures as in the DLEN paper: 5 experts of
[256, 128, 64]; PLE adds 2 experts per task (2 levels); DLEN's hidden-state
network is [256, 128, 64]; towers [32]. Early stopping on the validation loss.
Reports the exact test AUC per task (mean and standard deviation over seeds),
the AUC of P(UP) against "any positive interaction" (the paper's convergence
check), and, for MMoE-DLEN, how the upper limit alpha_t = ratio x the task's
training rate changes them.

Each run is kept in `dlen_kuairand_runs/`, so an interrupted benchmark resumes.

    python bench/dlen_kuairand.py                  # 4 models x 5 seeds + alpha sweep
    python bench/dlen_kuairand.py --seeds 1 --max-epochs 1 --alpha-ratios 0.3   # smoke
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

TASKS = ("click", "long_view", "like", "follow", "comment", "forward")
EXPERT = [256, 128, 64]
ARCHITECTURES = {
    "mmoe": {"num_experts": 5, "expert_units": EXPERT},
    "mmoe-dlen": {"num_experts": 5, "expert_units": EXPERT, "hidden_state_units": EXPERT},
    "ple": {"num_levels": 2, "num_shared_experts": 5, "num_task_experts": 2,
            "expert_units": EXPERT},
    "ple-dlen": {"num_levels": 2, "num_shared_experts": 5, "num_task_experts": 2,
                 "expert_units": EXPERT, "hidden_state_units": EXPERT},
}  # fmt: skip
DISPLAY = {"mmoe": "MMoE", "mmoe-dlen": "MMoE-DLEN", "ple": "PLE", "ple-dlen": "PLE-DLEN"}
TOWER = [32]


def run_one(model_name, seed, alpha_ratio, settings):
    import keras

    from zoo.data import load_kuairand
    from zoo.models import get_model_class
    from zoo.models.dlen import base_rates
    from zoo.training import evaluate, fit

    dataset = load_kuairand(tasks=TASKS)
    keras.utils.set_random_seed(seed)
    kwargs = dict(ARCHITECTURES[model_name], tower_units=TOWER)
    if model_name.endswith("-dlen"):
        kwargs.update(alpha_ratio=alpha_ratio, base_rates=base_rates(dataset))
    model = get_model_class(model_name)(
        tasks=dataset.tasks, preprocessor=dataset.make_preprocessor(), **kwargs
    )
    config = bu.training_config(settings, seed)
    started = time.perf_counter()
    result = fit(model, dataset, config)
    test = evaluate(model, dataset, "test")
    return {
        "model": model_name,
        "seed": seed,
        "alpha_ratio": alpha_ratio if model_name.endswith("-dlen") else None,
        "test_auc": {t: test[t]["auc"] for t in TASKS},
        "test_gauc": {t: test[t].get("gauc") for t in TASKS},
        "p_up_auc": test.get("p_up", {}).get("auc_any_positive"),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "wall_s": time.perf_counter() - started,
    }


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _cell(values, spec=".4f"):
    stats = _mean_std(values)
    return "—" if stats is None else f"{stats[0]:{spec}} ± {stats[1]:{spec}}"


def markdown(report):
    s = report["settings"]
    runs = report["runs"]
    main = [r for r in runs if r["alpha_ratio"] in (None, s["alpha_ratio"])]
    lines = [
        "# DLEN on KuaiRand",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall).",
        "",
        "The shipped KuaiRand like/hate subset (every row has a like or a hate, so every rate is "
        "conditional on explicit feedback; see `datasets/kuairand/CARD.md`), split by date: "
        "10 training days, 2 validation, 2 test. Experts [256, 128, 64] (MMoE 5; PLE 5 shared + "
        "2 per task, 2 levels), DLEN hidden state [256, 128, 64], towers [32]; at most "
        f"{s['max_epochs']} epochs, early stopping on the validation loss (patience "
        f"{s['patience']}), batch {s['batch_size']}, Adam {s['learning_rate']}; seeds "
        f"1–{s['seeds']}. DLEN's alpha_t = {s['alpha_ratio']} × the task's training rate.",
        "",
        "Test AUC, mean ± std over seeds:",
        "",
        "| model | " + " | ".join(TASKS) + " | P(UP) vs any positive |",
        "|---|" + "---|" * (len(TASKS) + 1),
    ]
    for model in ARCHITECTURES:
        rows = [r for r in main if r["model"] == model]
        if not rows:
            continue
        cells = [_cell([r["test_auc"][t] for r in rows]) for t in TASKS]
        cells.append(_cell([r["p_up_auc"] for r in rows]))
        lines.append(f"| {DISPLAY[model]} | " + " | ".join(cells) + " |")
    lines += ["", "DLEN minus its backbone, paired by seed (AUC points, mean ± std):", ""]
    lines += ["| pair | " + " | ".join(TASKS) + " |", "|---|" + "---|" * len(TASKS)]
    for dlen, base in (("mmoe-dlen", "mmoe"), ("ple-dlen", "ple")):
        by_seed = {(r["model"], r["seed"]): r for r in main}
        seeds = [sd for (m, sd) in by_seed if m == dlen and (base, sd) in by_seed]
        if not seeds:
            continue
        cells = []
        for t in TASKS:
            gains = [
                by_seed[(dlen, sd)]["test_auc"][t] - by_seed[(base, sd)]["test_auc"][t]
                for sd in seeds
            ]
            stats = _mean_std(gains)
            cells.append(f"{stats[0]:+.4f} ± {stats[1]:.4f}")
        lines.append(f"| {DISPLAY[dlen]} − {DISPLAY[base]} | " + " | ".join(cells) + " |")
    sweep = sorted({r["alpha_ratio"] for r in runs if r["model"] == "mmoe-dlen"})
    if len(sweep) > 1:
        lines += [
            "",
            "MMoE-DLEN against the upper limit alpha_t = ratio × the task's training rate:",
            "",
            "| ratio | " + " | ".join(TASKS) + " | P(UP) vs any positive |",
            "|---|" + "---|" * (len(TASKS) + 1),
        ]
        for ratio in sweep:
            rows = [r for r in runs if r["model"] == "mmoe-dlen" and r["alpha_ratio"] == ratio]
            cells = [_cell([r["test_auc"][t] for r in rows]) for t in TASKS]
            cells.append(_cell([r["p_up_auc"] for r in rows]))
            lines.append(f"| {ratio} (n={len(rows)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", default=",".join(ARCHITECTURES))
    parser.add_argument("--alpha-ratio", type=float, default=0.3, help="for the main table")
    parser.add_argument(
        "--alpha-ratios", default="0.1,0.5,1.0", help="MMoE-DLEN sweep (besides --alpha-ratio)"
    )
    bu.add_training_flags(parser, batch_size=512)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args(argv)
    base = os.path.join(args.out, "dlen_kuairand")
    if args.render_only:
        with open(base + ".json") as f:
            report = json.load(f)
        bu.write_report(base, report, markdown(report))
        return
    models = args.models.split(",")
    unknown = [m for m in models if m not in ARCHITECTURES]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(ARCHITECTURES)}")
    settings = {
        "seeds": args.seeds,
        "alpha_ratio": args.alpha_ratio,
        **bu.training_settings(args),
    }
    jobs = [(m, seed, args.alpha_ratio) for seed in range(1, args.seeds + 1) for m in models]
    if "mmoe-dlen" in models:
        for ratio in (float(r) for r in args.alpha_ratios.split(",") if r.strip()):
            if ratio != args.alpha_ratio:
                jobs += [("mmoe-dlen", seed, ratio) for seed in range(1, args.seeds + 1)]
    runs_dir = base + "_runs"
    os.makedirs(runs_dir, exist_ok=True)
    key = {k: v for k, v in settings.items() if k not in ("seeds", "alpha_ratio")}
    started = time.perf_counter()
    runs = []
    for model, seed, ratio in jobs:
        ratio = ratio if model.endswith("-dlen") else None
        path = os.path.join(runs_dir, f"{model}-alpha{ratio}-s{seed}.json")
        run, fresh = bu.stored_run(path, key, run_one, model, seed, ratio, settings)
        runs.append(run)
        if not fresh:
            continue
        print(
            f"seed {seed} {DISPLAY[model]:<9} alpha ratio {ratio}: "
            + ", ".join(f"{t} {run['test_auc'][t]:.4f}" for t in TASKS)
            + (f", P(UP) {run['p_up_auc']:.4f}" if run["p_up_auc"] is not None else "")
            + f" ({run['epochs_run']} epochs, {run['wall_s']:.0f} s)",
            flush=True,
        )
    report = bu.new_report(started, settings, runs=runs)
    bu.write_report(base, report, markdown(report))


if __name__ == "__main__":
    main()
