#!/usr/bin/env python
"""The peers' gates, switchers and loss weightings against MMoE, with equal tuning budgets.

Arms, each on Census-Income (task group 1: income, never_married) and on the
shipped KuaiRand like/hate subset (click, long_view, like; split by date):

- switchers and gates: `mmoe` (the baseline every paper here beats), `dselect-k`
  (MMoE whose gates are DSelect-k's, k = 2), `ple`, `pepnet`, `stem`, `home`;
- loss weightings, all on MMoE: `uncertainty`, `dwa`, `random`, `pcgrad`,
  `metabalance`, against MMoE's plain sum of the task losses.

The protocol is the fidelity issue's (`bench/_fair_comparison.py`): every arm
gets the same KerasTuner random search of `--trials` settings (learning rate,
expert width, dropout, and the expert count where the arm has experts) scored
by its validation loss with seed 0, then trains at its chosen settings with
seeds 1..`--seeds`. Reported: test AUC per task (mean ± std), the paired
difference against MMoE with how many seeds favour each side and a verdict
("level" unless the 95% interval of the mean paired difference leaves out 0),
training samples/s, and every run whose best epoch was the epoch cap.

Each run is kept in `peer_models_runs/`, so an interrupted benchmark resumes.

The samples/s of those runs are taken wherever they ran, often beside other
work. `--throughput` measures them on their own: for every arm with a stored
search, one training of `THROUGHPUT_EPOCHS` epochs at its chosen settings
(the median epoch after the first, which traces and compiles), started only
once the machine is quiet (other work under 0.3 cores, waiting up to 2 min),
with the other load before and after recorded beside each figure. It writes
`peer_models_throughput.{json,md}` and trains nothing else.

    python bench/peer_models.py                              # both datasets, 4 trials, 5 seeds
    python bench/peer_models.py --datasets census --arms mmoe,stem --trials 1 --seeds 2 \\
        --max-epochs 1 --no-xla                              # smoke
    python bench/peer_models.py --datasets kuairand --throughput   # samples/s, idle machine
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

DATASETS = ("census", "kuairand")
KUAIRAND_TASKS = ("click", "long_view", "like")
SWITCHER_ARMS = ("mmoe", "dselect-k", "ple", "pepnet", "stem", "home")
WEIGHTING_ARMS = ("uncertainty", "dwa", "random", "pcgrad", "metabalance")
ARMS = SWITCHER_ARMS + WEIGHTING_ARMS
BASELINE = "mmoe"
DISPLAY = {
    "mmoe": "MMoE",
    "dselect-k": "MMoE, DSelect-k gates",
    "ple": "PLE",
    "pepnet": "PEPNet",
    "stem": "STEM",
    "home": "HoME",
    "uncertainty": "MMoE + uncertainty",
    "dwa": "MMoE + DWA",
    "random": "MMoE + random weights",
    "pcgrad": "MMoE + PCGrad",
    "metabalance": "MMoE + MetaBalance",
}
# The search every arm gets; arms without experts ignore `num_experts`.
SPACE = {
    "learning_rate": [1e-3, 3e-3],
    "width": [32, 64],
    "dropout": [0.0, 0.1],
    "num_experts": [4, 8],
}
TOWER = [16]
TUNING_SEED = 0
# PEPNet's domain features (EPNet) and personal priors (PPNet) per dataset: KuaiRand's user
# activity level is a domain, its user and video ids are the paper's priors.
PEPNET_FEATURES = {
    "census": {
        "domain_features": ["sex", "race"],
        "personal_features": ["class_worker", "det_ind_code", "det_occ_code"],
    },
    "kuairand": {
        "domain_features": ["user_active_degree"],
        "personal_features": ["user_id", "video_id"],
    },
}


def load(dataset_name):
    from zoo.data import load_census_income, load_kuairand

    if dataset_name == "census":
        return load_census_income(task_group=1, protocol="paper")
    return load_kuairand(tasks=KUAIRAND_TASKS)


def build(arm, dataset_name, dataset, values):
    """The arm's model at the settings `values`."""
    from zoo import models

    width, experts = int(values["width"]), int(values["num_experts"])
    common = {
        "tasks": dataset.tasks,
        "preprocessor": dataset.make_preprocessor(),
        "dropout": values["dropout"],
    }
    mmoe = {"num_experts": experts, "expert_units": [width], "tower_units": TOWER}
    if arm in WEIGHTING_ARMS:
        return models.MMoE(**common, **mmoe, loss_weighting=arm)
    if arm == "mmoe":
        return models.MMoE(**common, **mmoe)
    if arm == "dselect-k":
        return models.MMoE(**common, **mmoe, gate={"class_name": "dselect-k", "config": {"k": 2}})
    # The CGC-family arms split the same expert count into shared and per-task experts.
    split = {"num_shared_experts": experts // 2, "num_task_experts": max(1, experts // 4)}
    if arm == "ple":
        return models.PLE(**common, **split, expert_units=[width], tower_units=TOWER)
    if arm == "stem":
        return models.STEM(**common, **split, expert_units=[width], tower_units=TOWER)
    if arm == "home":
        return models.HoME(
            **common,
            num_shared_experts=experts // 4,
            num_category_experts=experts // 4,
            num_task_experts=max(1, experts // 4),
            expert_units=[width],
            tower_units=TOWER,
        )
    if arm == "pepnet":
        return models.PEPNet(
            **common, **PEPNET_FEATURES[dataset_name], hidden_units=[2 * width, width]
        )
    raise ValueError(f"Unknown arm {arm!r}; expected one of {ARMS}")


def train(arm, dataset_name, values, seed, settings):
    import keras

    from zoo.training import evaluate, fit

    dataset = load(dataset_name)
    keras.utils.set_random_seed(seed)
    model = build(arm, dataset_name, dataset, values)
    config = bu.training_config(settings, seed, learning_rate=values["learning_rate"])
    result = fit(model, dataset, config)
    return model, dataset, result, evaluate


def tune_arm(arm, dataset_name, settings):
    def run_trial(values):
        _, _, result, _ = train(arm, dataset_name, values, TUNING_SEED, settings)
        return min(result.history["val_loss"])

    best, tried = fair.tune(
        f"{dataset_name}-{arm}", SPACE, run_trial, settings["trials"], seed=TUNING_SEED
    )
    print(f"tuned {dataset_name} {arm:<12} {best}", flush=True)
    return {"dataset": dataset_name, "arm": arm, "best": best, "trials": tried}


def run_seed(arm, dataset_name, values, seed, settings):
    started = time.perf_counter()
    model, dataset, result, evaluate = train(arm, dataset_name, values, seed, settings)
    test = evaluate(model, dataset, "test")
    run = {
        "dataset": dataset_name,
        "arm": arm,
        "seed": seed,
        "values": values,
        "test_auc": {t: test[t]["auc"] for t in model.task_names},
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "train_samples_per_second": result.train_samples_per_second,
        "wall_s": time.perf_counter() - started,
    }
    print(
        f"{dataset_name} seed {seed} {arm:<12} "
        + ", ".join(f"{t} {auc:.4f}" for t, auc in run["test_auc"].items())
        + f" (best epoch {run['best_epoch']} of {run['epochs_run']})",
        flush=True,
    )
    return run


THROUGHPUT_EPOCHS = 3
QUIET_CORES = 0.3
QUIET_WAIT_S = 120


def measure_throughput(arm, dataset_name, values, settings, epochs, quiet_wait_s):
    """Training samples/s of `arm` at its chosen `values`, started on a quiet machine."""
    import keras

    from zoo.training import fit

    dataset = load(dataset_name)
    busy_before, waited = bu.wait_for_quiet(quiet_wait_s, threshold=QUIET_CORES)
    keras.utils.set_random_seed(1)
    model = build(arm, dataset_name, dataset, values)
    config = bu.training_config(
        {**settings, "max_epochs": epochs}, 1, learning_rate=values["learning_rate"]
    )
    result = fit(model, dataset, config)
    run = {
        "dataset": dataset_name,
        "arm": arm,
        "values": values,
        "train_samples_per_second": result.train_samples_per_second,
        "epochs": epochs,
        "other_cores_before": busy_before,
        "waited_s": waited,
        "other_cores_after": bu.busy_cores(2.0),
    }
    print(
        f"{dataset_name} {arm:<12} {run['train_samples_per_second']:,.0f} samples/s "
        f"(other load {busy_before or 0:.2f} cores before, {run['other_cores_after'] or 0:.2f} "
        "after)",
        flush=True,
    )
    return run


def throughput_markdown(report):
    lines = [
        "# The peers' switchers and weightings: training samples/s on a quiet machine",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall) "
        f"on {report['machine']['cpu']}. Each arm at the settings its search chose, one "
        f"training of {report['throughput_epochs']} epochs, batch "
        f"{report['settings']['batch_size']}, XLA as in the benchmark; the figure is the "
        "training rows over the median epoch time after the first (which traces and "
        "compiles), validation excluded. Each training started once other work used under "
        f"{QUIET_CORES} cores (waiting at most {report['quiet_wait_s']:.0f} s); the load of "
        "other work just before and just after is beside it.",
    ]
    for dataset_name in DATASETS:
        here = [r for r in report["runs"] if r["dataset"] == dataset_name]
        if not here:
            continue
        base = next((r for r in here if r["arm"] == BASELINE), None)
        lines += [
            "",
            f"## {dataset_name}",
            "",
            "| arm | samples/s | of MMoE's | other load before / after (cores) |",
            "|---|---|---|---|",
        ]
        for r in here:
            ratio = (
                f"{r['train_samples_per_second'] / base['train_samples_per_second']:.2f}x"
                if base
                else "—"
            )
            lines.append(
                f"| {DISPLAY[r['arm']]} | {r['train_samples_per_second']:,.0f} | {ratio} | "
                f"{r['other_cores_before'] or 0:.2f} / {r['other_cores_after'] or 0:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _values(runs, dataset_name, arm, task):
    chosen = sorted(
        (r for r in runs if r["dataset"] == dataset_name and r["arm"] == arm),
        key=lambda r: r["seed"],
    )
    return [r["test_auc"][task] for r in chosen]


def comparisons(runs):
    table = {}
    for dataset_name in sorted({r["dataset"] for r in runs}):
        tasks = next(r for r in runs if r["dataset"] == dataset_name)["test_auc"]
        arms = {r["arm"] for r in runs if r["dataset"] == dataset_name}
        if BASELINE not in arms:
            continue
        for arm in arms - {BASELINE}:
            for task in tasks:
                table[f"{dataset_name}|{arm}|{task}"] = fair.paired_difference(
                    _values(runs, dataset_name, arm, task),
                    _values(runs, dataset_name, BASELINE, task),
                )
    return table


def markdown(report):
    s = report["settings"]
    runs = report["runs"]
    lines = [
        "# The peers' gates, switchers and loss weightings against MMoE",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall).",
        "",
        f"Every arm had the same tuning budget: {s['trials']} settings drawn by a KerasTuner "
        f"random search from {SPACE} (experts of one layer of `width`; PLE and STEM split the "
        "experts into half shared and a quarter per task, HoME into quarters), scored by the "
        f"validation loss with seed {TUNING_SEED}; then seeds 1–{s['seeds']}. Towers {TOWER}; "
        f"at most {s['max_epochs']} epochs, early stopping patience {s['patience']} on the "
        f"validation loss, batch {s['batch_size']}. Test AUC, mean ± std over seeds; paired "
        "differences against MMoE: **level** unless the 95% confidence interval of the mean "
        "paired difference (Student's t) leaves out 0.",
    ]
    for dataset_name in DATASETS:
        here = [r for r in runs if r["dataset"] == dataset_name]
        if not here:
            continue
        tasks = list(here[0]["test_auc"])
        arms = [a for a in ARMS if any(r["arm"] == a for r in here)]
        lines += [
            "",
            f"## {dataset_name}",
            "",
            "| arm | " + " | ".join(tasks) + " | vs MMoE | samples/s | chosen settings |",
            "|---|" + "---|" * (len(tasks) + 3),
        ]
        best = {(t["dataset"], t["arm"]): t["best"] for t in report["tuning"]}
        for arm in arms:
            cells = [bu.mean_std_cell(_values(runs, dataset_name, arm, t)) for t in tasks]
            versus = []
            for task in tasks:
                c = report["comparisons"].get(f"{dataset_name}|{arm}|{task}")
                if c:
                    versus.append(
                        f"{task} {c['mean']:+.4f} ({c['better']}/{c['seeds']}, {c['verdict']})"
                    )
            speed = bu.mean_std_cell(
                [r["train_samples_per_second"] for r in here if r["arm"] == arm], ",.0f"
            )
            lines.append(
                f"| {DISPLAY[arm]} | "
                + " | ".join(cells)
                + f" | {'; '.join(versus) or 'baseline'} | {speed} | "
                + f"`{best.get((dataset_name, arm))}` |"
            )
    lines += [
        "",
        fair.capped_runs_line(
            runs, s["max_epochs"], lambda r: f"{r['dataset']} {r['arm']} seed {r['seed']}"
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=4, help="tuning budget per arm")
    bu.add_training_flags(parser, batch_size=1024)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--throughput",
        action="store_true",
        help="only measure each searched arm's training samples/s on a quiet machine",
    )
    parser.add_argument("--throughput-epochs", type=int, default=THROUGHPUT_EPOCHS)
    parser.add_argument(
        "--quiet-wait", type=float, default=QUIET_WAIT_S, help="seconds to wait for quiet"
    )
    args = parser.parse_args(argv)
    datasets = [d for d in args.datasets.split(",") if d]
    arms = [a for a in args.arms.split(",") if a]
    for given, known, what in ((datasets, DATASETS, "datasets"), (arms, ARMS, "arms")):
        unknown = sorted(set(given) - set(known))
        if unknown:
            parser.error(f"unknown {what} {unknown}; expected some of {list(known)}")
    settings = {"seeds": args.seeds, "trials": args.trials, **bu.training_settings(args)}
    runs_dir = os.path.join(args.out, "peer_models_runs")
    os.makedirs(runs_dir, exist_ok=True)
    started = time.perf_counter()
    if args.throughput:
        measured = []
        for dataset_name in datasets:
            for arm in arms:
                path = os.path.join(runs_dir, f"{dataset_name}-{arm}-tuning.json")
                tuned = bu.read_stored_run(path, {"settings": settings, "space": SPACE})
                if tuned is None:
                    print(f"{dataset_name} {arm}: no stored search yet, skipped", flush=True)
                    continue
                measured.append(
                    measure_throughput(
                        arm,
                        dataset_name,
                        tuned["best"],
                        settings,
                        args.throughput_epochs,
                        args.quiet_wait,
                    )
                )
        base = os.path.join(args.out, "peer_models_throughput")
        report = bu.new_report(
            started,
            settings,
            throughput_epochs=args.throughput_epochs,
            quiet_wait_s=args.quiet_wait,
            runs=measured,
        )
        bu.write_report(base, report, throughput_markdown(report))
        return
    tuning, runs = [], []
    for dataset_name in datasets:
        for arm in arms:
            key = {"settings": settings, "space": SPACE}
            path = os.path.join(runs_dir, f"{dataset_name}-{arm}-tuning.json")
            tuned, _ = bu.stored_run(path, key, tune_arm, arm, dataset_name, settings)
            tuning.append(tuned)
            for seed in range(1, args.seeds + 1):
                path = os.path.join(runs_dir, f"{dataset_name}-{arm}-seed{seed}.json")
                key = {"settings": settings, "values": tuned["best"]}
                run, _ = bu.stored_run(
                    path, key, run_seed, arm, dataset_name, tuned["best"], seed, settings
                )
                runs.append(run)
    base = os.path.join(args.out, "peer_models")
    report = bu.new_report(
        started, settings, tuning=tuning, runs=runs, comparisons=comparisons(runs)
    )
    bu.write_report(base, report, markdown(report))
    print(f"wrote {base}.json and .md")


if __name__ == "__main__":
    main()
