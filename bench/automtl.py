#!/usr/bin/env python
"""AutoMTL against the paper's hand-made models on Census-Income and KuaiRand, equal tuning.

For each dataset (Census-Income task groups 1 and 2, KuaiRand click and
like): AutoMTL's search (`zoo.search.search_automtl`), the derived
architecture retrained as an ordinary model (`zoo.models.AutoMTL`), and the
AutoMTL paper's baselines at its sizes: Shared-Bottom (bottom [256, 64]),
MMoE (8 experts of [64]), CGC and PLE (4 shared + 4 task experts of [64],
PLE with 2 levels); towers (128, 64) and 8-wide embeddings for every model.
Then the paper's ablations (Table 3), which are configurations of the same
search: without the interaction module (w/o INT), one list of operations
shared by every expert (hom Expert), softmax gates over all experts instead
of expert selection (w/o SEL), and without the auxiliary JSD loss (w/o AUX).

Protocol (`bench/_fair_comparison.py`):

- Every model of the main table gets the same KerasTuner random search of
  `--trials` settings from `SPACE`: the learning rate, and dropout in the
  towers, the one part all five models have (the baselines' experts and
  AutoMTL's candidates have none, as in the paper). Each setting is scored
  by the validation loss with seed 0; then every model trains at its chosen
  setting with seeds 1..`--seeds`.
- AutoMTL's tuning trials retrain the architecture that a search with seed 0
  derived. Each seed 1..N then runs its own search (the seed sets the
  weights, the alpha and beta noise, the batch order and the search's subset
  of rows) and retrains what that search derived at the tuned setting.
- Each ablation runs its own search and retraining with the same seeds, at
  AutoMTL's tuned setting (ablations are not tuned again).
- Reported: mean ± std over the seeds; the paired difference (per seed) of
  AutoMTL against each baseline and of each ablation against AutoMTL, for
  each task's test AUC and for the MTL loss (the mean of the tasks' test
  log-losses: the paper's equal task weights, summing to 1), with how many
  seeds favour each side and a verdict, "level" unless the 95% confidence
  interval of the mean paired difference leaves out 0; and every run whose
  best epoch was the epoch cap.

The JSD loss. For a given seed the searches with and without it (AutoMTL
and w/o AUX) start from the same weights and see the same batches, so what
differs between them is the loss's doing. Recorded per seed: whether the two
derived architectures are identical (interaction, every expert's operations,
each task's experts), whether each task keeps the same experts, how far the
expert-selection weights moved from uniform by the end of the search (per
task, the largest |softmax(beta)_i - 1/N|), and the extended Jensen-Shannon
divergence between the tasks' selections (what the loss pushes up).

What is cut, and why. The search runs on 2 CPU cores. Each search step
takes a training and a validation batch of 1024 through the supernet (3.4M
weights on Census): the earlier version of this benchmark searched Census's
147 steps (3 epochs of 49) in 142-234 s and KuaiRand's 99 in 133-157 s,
about 60-80 s of it building the step's graph; here, beside two other
benchmarks, a step took 2.2 s and the graph 130 s. So:

- Rows: a seeded random `--search-rows` of the training rows (KuaiRand has
  33,485 and searches on all of them); the paper searches on 0.5 to 17
  million. Retraining and the baselines use every training row.
- Epochs: `--search-epochs` defaults to 15, the `search_epochs` of every
  configuration the authors published (automtl/AutoMTL, tests/*_config.yaml),
  with beta frozen for the first third (their trainer hard-codes 5 epochs).
  The epochs are the paper's, the steps are not: 49 per epoch on 50,000
  rows, so beta learns for 490 steps after the warm-up (KuaiRand: 330),
  where a search on millions of rows takes tens of thousands. The earlier
  version searched 3 epochs (98 beta steps on Census).
- Candidates: Table 1 without the 512- and 1024-wide MLPs (`--space cpu`;
  `--space paper` is Table 1 as it is; `--space tiny` is for smoke tests).

Time on 2 quiet cores, at 0.7-1.1 s per search step and the earlier
version's training times (a baseline run 10-90 s, a retraining 25-150 s,
with XLA): a 15-epoch search takes 9-15 minutes on Census and 6-10 on
KuaiRand. Per dataset: 26 searches (seed 0 for the tuning, 5 for AutoMTL,
5 for each of 4 ablations), 28 retrainings and 32 baseline runs. The full
run is 10-16 hours of searching and about 2.5 of training: about 16 hours
(13 to 19). `--quick` (about 4.5 hours, 4 to 5.5) runs Census group 1
and KuaiRand (group 2 is not in the paper either) with the w/o AUX
ablation only, the one the fidelity issue asks about: 22 searches instead
of 78. It is a subset of the full run, which reuses its runs. Everything
resumes: each tuning, search and training run is kept in `automtl_runs/`
under a name starting with `fair-` (runs of the earlier version are never
read). `--pictures` draws the derived architecture and expert selection of
seed 1's search.

    python bench/automtl.py                      # everything: 3 trials, 5 seeds, 15 epochs
    python bench/automtl.py --quick              # Census group 1 and KuaiRand, w/o AUX only
    python bench/automtl.py --datasets kuairand --baselines mmoe --ablations wo-aux \\
        --trials 1 --seeds 2 --search-epochs 1 --search-rows 2000 --space tiny \\
        --max-epochs 1 --no-xla --out /tmp/automtl   # smoke
"""

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402
import _fair_comparison as fair  # noqa: E402

DATASETS = {
    "census-g1": ("census-income", {"task_group": 1, "embedding_dim": 8}),
    "census-g2": ("census-income", {"task_group": 2, "embedding_dim": 8}),
    "kuairand": ("kuairand", {"tasks": "click,like", "embedding_dim": 8}),
}
QUICK_DATASETS = ("census-g1", "kuairand")
TOWER = [128, 64]
BASELINES = {
    "shared-bottom": {"bottom_units": [256, 64]},
    "mmoe": {"num_experts": 8, "expert_units": [64]},
    "cgc": {"num_shared_experts": 4, "num_task_experts": 4, "expert_units": [64]},
    "ple": {
        "num_levels": 2,
        "num_shared_experts": 4,
        "num_task_experts": 4,
        "expert_units": [64],
    },
}
PROPOSED = "automtl"
# The paper's ablations (Table 3), as supernet arguments: name -> (label, arguments).
ABLATIONS = {
    # First: the ablation the fidelity issue asks about, and what --quick keeps.
    "wo-aux": ("w/o AUX", {"jsd_weight": 0.0}),
    "wo-int": ("w/o INT", {"interaction_ops": None}),
    "hom-expert": ("hom Expert", {"shared_expert_architecture": True}),
    "wo-sel": ("w/o SEL", {"expert_selection": False}),
}
QUICK_ABLATIONS = ("wo-aux",)
DISPLAY = {
    "shared-bottom": "Shared-Bottom",
    "mmoe": "MMoE",
    "cgc": "CGC",
    "ple": "PLE",
    PROPOSED: "AutoMTL",
    **{name: f"AutoMTL {label}" for name, (label, _) in ABLATIONS.items()},
}
SPACE = {"learning_rate": [1e-3, 3e-3], "dropout": [0.0, 0.1]}
TUNING_SEED = 0
# The figures compared, besides each task's AUC.
MTL_LOSS = "mtl_loss"

_LOADED = {}


def search_space(name):
    """The supernet's candidate lists (and block count) for `--space`."""
    from zoo.layers.search.candidates import EXPERT_OPS, INTERACTION_OPS

    if name == "paper":
        return {"interaction_ops": INTERACTION_OPS, "expert_ops": EXPERT_OPS}
    if name == "tiny":
        # Smoke tests: a supernet whose search step builds in seconds.
        return {
            "interaction_ops": ["skip", "cross-1"],
            "expert_ops": ["skip", "mlp-16"],
            "num_blocks": 1,
        }
    too_wide = ("mlp-512", "mlp-1024")
    return {
        "interaction_ops": [op for op in INTERACTION_OPS if op not in too_wide],
        "expert_ops": [op for op in EXPERT_OPS if op not in too_wide],
    }


def load(dataset_key):
    """The dataset, loaded once per process (the loaders are deterministic)."""
    from zoo.data.registry import load_dataset

    if dataset_key not in _LOADED:
        name, kwargs = DATASETS[dataset_key]
        _LOADED[dataset_key] = load_dataset(name, **kwargs)
    return _LOADED[dataset_key]


def training_subset(dataset, rows, seed):
    """`dataset` with a seeded random `rows` of its training split (all if fewer)."""
    import numpy as np

    n = dataset.num_rows("train")
    if not rows or rows >= n:
        return dataset
    keep = np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
    train = dataset.train
    return dataclasses.replace(
        dataset,
        train=dataclasses.replace(
            train,
            features={k: np.asarray(v)[keep] for k, v in train.features.items()},
            labels={k: np.asarray(v)[keep] for k, v in train.labels.items()},
            label_masks={k: np.asarray(v)[keep] for k, v in train.label_masks.items()},
        ),
    )


def selection_summary(architecture):
    """How far the search's expert selection moved: `None` without expert selection.

    Returns `max_from_uniform` (per task, the largest |softmax(beta)_i - 1/N|)
    and `task_divergence`, the extended Jensen-Shannon divergence of the
    tasks' selections in nats (H(mean) - mean H): 0 when every task selects
    alike, which the JSD loss pushes away from.
    """
    import numpy as np

    selection = architecture["search_weights"]["selection"]
    if selection is None:
        return None
    probabilities = np.asarray(list(selection.values()), dtype="float64")  # (tasks, experts)
    uniform = 1.0 / probabilities.shape[1]

    def entropy(p):
        return float(-np.sum(p * np.log(np.clip(p, 1e-12, None)), axis=-1).mean())

    return {
        "max_from_uniform": {
            task: float(np.max(np.abs(row - uniform)))
            for task, row in zip(selection, probabilities)
        },
        "task_divergence": entropy(probabilities.mean(axis=0)) - entropy(probabilities),
    }


def run_search(dataset_key, variant, seed, settings):
    """One search of `variant` (`PROPOSED` or an ablation) with `seed`; returns its record."""
    import keras

    from zoo.models import AutoMTLSupernet
    from zoo.search import SearchConfig, search_automtl

    keras.backend.clear_session()
    dataset = load(dataset_key)
    keras.utils.set_random_seed(seed)
    variant_arguments = {} if variant == PROPOSED else ABLATIONS[variant][1]
    supernet = AutoMTLSupernet(
        dataset.tasks,
        preprocessor=dataset.make_preprocessor(),
        seed=seed,
        tower_units=TOWER,
        **{**search_space(settings["space"]), **variant_arguments},
    )
    subset = training_subset(dataset, settings["search_rows"], seed)
    config = SearchConfig(
        epochs=settings["search_epochs"],
        num_selected=settings["num_selected"],
        jit_compile=False,
        seed=seed,
        # A line per epoch with the architecture derived so far: a search takes minutes.
        verbose=2,
    )
    result = search_automtl(supernet, subset, config)
    rows = subset.num_rows("train")
    steps_per_epoch = math.ceil(rows / config.batch_size)
    record = {
        "dataset": dataset_key,
        "model": variant,
        "seed": seed,
        "architecture": result.architecture,
        "history": result.history,
        "epoch_architectures": result.epoch_architectures,
        "search_wall_s": result.wall_seconds,
        "supernet_params": int(supernet.count_params()),
        "search_rows_used": rows,
        "selection_steps": steps_per_epoch * (config.epochs - config.warmup),
        "selection": selection_summary(result.architecture),
    }
    print(
        f"{dataset_key} {variant} seed {seed}: searched in {result.wall_seconds:.0f} s",
        flush=True,
    )
    return record


def build(dataset_key, name, values, architecture=None):
    """The model `name` (a baseline, or AutoMTL's `architecture`) at the setting `values`."""
    from zoo.models import AutoMTL, get_model_class

    dataset = load(dataset_key)
    common = {
        "preprocessor": dataset.make_preprocessor(),
        "tower_units": TOWER,
        "tower_dropout": values["dropout"],
    }
    if architecture is not None:
        return AutoMTL(dataset.tasks, architecture, **common)
    return get_model_class(name)(tasks=dataset.tasks, **common, **BASELINES[name])


def train(dataset_key, name, values, seed, settings, architecture=None):
    """Trains `name` at `values` with `seed`: `(model, dataset, result)`."""
    import keras

    from zoo.training import fit

    keras.backend.clear_session()
    dataset = load(dataset_key)
    keras.utils.set_random_seed(seed)
    model = build(dataset_key, name, values, architecture)
    config = bu.training_config(settings, seed, learning_rate=values["learning_rate"])
    return model, dataset, fit(model, dataset, config)


def tune_model(dataset_key, name, settings, architecture=None):
    """The `fair.tune` search of `name` (AutoMTL: retraining `architecture`) with seed 0."""
    trials = []

    def run_trial(values):
        started = time.perf_counter()
        _, _, result = train(dataset_key, name, values, TUNING_SEED, settings, architecture)
        loss = min(result.history["val_loss"])
        trials.append(
            {
                "values": values,
                "val_loss": loss,
                "best_epoch": result.best_epoch,
                "epochs_run": result.epochs_run,
                "wall_s": time.perf_counter() - started,
            }
        )
        return loss

    best, _ = fair.tune(
        f"{dataset_key}-{name}", SPACE, run_trial, settings["trials"], seed=TUNING_SEED
    )
    print(f"tuned {dataset_key} {name}: {best}", flush=True)
    return {"dataset": dataset_key, "model": name, "best": best, "trials": trials}


def run_seed(dataset_key, name, values, seed, settings, architecture=None):
    """Trains and tests `name` at `values` with `seed`."""
    from zoo.training import evaluate

    started = time.perf_counter()
    model, dataset, result = train(dataset_key, name, values, seed, settings, architecture)
    test = evaluate(model, dataset, "test")
    tasks = [t.name for t in dataset.tasks]
    run = {
        "dataset": dataset_key,
        "model": name,
        "seed": seed,
        "values": values,
        "test_auc": {t: test[t]["auc"] for t in tasks},
        "test_loss": {t: test[t]["loss"] for t in tasks},
        MTL_LOSS: test["total_loss"] / len(tasks),
        "num_params": int(model.count_params()),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "wall_s": time.perf_counter() - started,
    }
    print(
        f"{dataset_key} {name} seed {seed}: "
        + ", ".join(f"{t} {auc:.4f}" for t, auc in run["test_auc"].items())
        + f", MTL loss {run[MTL_LOSS]:.4f} (best epoch {run['best_epoch']} of "
        f"{run['epochs_run']})",
        flush=True,
    )
    return run


# ----------------------------------------------------------------------------
# Comparisons and the report.
# ----------------------------------------------------------------------------


def _figures(runs, dataset_key, name, metric):
    """`name`'s figure per seed, in seed order: a task's AUC (`metric` = task) or the MTL loss."""
    chosen = sorted(
        (r for r in runs if r["dataset"] == dataset_key and r["model"] == name),
        key=lambda r: r["seed"],
    )
    return [r[MTL_LOSS] if metric == MTL_LOSS else r["test_auc"][metric] for r in chosen]


def _metrics(tasks):
    return [*tasks, MTL_LOSS]


def comparisons(runs, tasks):
    """Keyed "dataset|model|reference", then by metric (a task's AUC, or `mtl_loss`):
    AutoMTL against each baseline, each ablation against AutoMTL, where both have the same seeds."""
    table = {}
    for dataset_key, names in tasks.items():
        here = {r["model"] for r in runs if r["dataset"] == dataset_key}
        pairs = [(PROPOSED, m) for m in BASELINES if m in here]
        pairs += [(a, PROPOSED) for a in ABLATIONS if a in here]
        for name, reference in pairs:
            seeds = {
                n: sorted(
                    r["seed"] for r in runs if r["dataset"] == dataset_key and r["model"] == n
                )
                for n in (name, reference)
            }
            if not seeds[name] or seeds[name] != seeds[reference]:
                continue
            table[f"{dataset_key}|{name}|{reference}"] = {
                metric: fair.paired_difference(
                    _figures(runs, dataset_key, name, metric),
                    _figures(runs, dataset_key, reference, metric),
                    higher_is_better=metric != MTL_LOSS,
                )
                for metric in _metrics(names)
            }
    return table


def _same_architecture(a, b):
    keys = ("interaction", "experts", "task_experts")
    return all(a[k] == b[k] for k in keys)


def jsd_effect(searches):
    """Per dataset and seed: AutoMTL's search against the same seed's search without JSD."""
    found = {(s["dataset"], s["model"], s["seed"]): s for s in searches}
    effect = {}
    for (dataset_key, name, seed), full in sorted(found.items()):
        without = found.get((dataset_key, "wo-aux", seed))
        if name != PROPOSED or without is None:
            continue
        effect.setdefault(dataset_key, []).append(
            {
                "seed": seed,
                "identical_architecture": _same_architecture(
                    full["architecture"], without["architecture"]
                ),
                "identical_task_experts": full["architecture"]["task_experts"]
                == without["architecture"]["task_experts"],
                "selection_steps": full["selection_steps"],
                "with_jsd": full["selection"],
                "without_jsd": without["selection"],
            }
        )
    return effect


def _summary_row(label, runs, dataset_key, name, tasks, extra=()):
    mine = [r for r in runs if r["dataset"] == dataset_key and r["model"] == name]
    cells = [bu.mean_std_cell(_figures(runs, dataset_key, name, m)) for m in _metrics(tasks)]
    cells.append(bu.mean_std_cell([r["best_epoch"] for r in mine], ".1f"))
    cells.append(f"{statistics.mean(r['num_params'] for r in mine):,.0f}")
    return f"| {label} (n={len(mine)}) | " + " | ".join([*cells, *extra]) + " |"


def _difference_rows(report, dataset_key, pairs, tasks):
    rows = []
    for name, reference, label in pairs:
        paired = report["comparisons"].get(f"{dataset_key}|{name}|{reference}")
        if paired:
            cells = [fair.difference_cell(paired[m]) for m in _metrics(tasks)]
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return rows


def _jsd_lines(effect, tasks):
    if not effect:
        return []
    lines = [
        "",
        "The JSD loss, per seed: AutoMTL's search against the same seed's search without it "
        "(w/o AUX; same initial weights, same batches). Selection moved: the largest "
        "|softmax(beta)_i - 1/N| per task at the end of the search; divergence: the extended "
        "Jensen-Shannon divergence between the tasks' selections (nats), which the loss "
        "pushes up; beta steps: the search steps after the warm-up, the only ones in which "
        "beta and the JSD loss act.",
        "",
        "| seed | identical architecture | same experts per task | beta steps | "
        + " | ".join(f"{t} moved, with / without JSD" for t in tasks)
        + " | divergence with / without |",
        "|---|---|---|---|" + "---|" * (len(tasks) + 1),
    ]
    for e in effect:
        with_jsd, without = e["with_jsd"], e["without_jsd"]
        moved = [
            f"{with_jsd['max_from_uniform'][t]:.4f} / {without['max_from_uniform'][t]:.4f}"
            for t in tasks
        ]
        divergence = f"{with_jsd['task_divergence']:.5f} / {without['task_divergence']:.5f}"
        lines.append(
            f"| {e['seed']} | {'yes' if e['identical_architecture'] else 'no'} | "
            f"{'yes' if e['identical_task_experts'] else 'no'} | {e['selection_steps']} | "
            + " | ".join(moved)
            + f" | {divergence} |"
        )
    identical = sum(e["identical_architecture"] for e in effect)
    lines += [
        "",
        f"Identical with and without the JSD loss in {identical} of {len(effect)} seeds.",
    ]
    return lines


def markdown(report):
    s = report["settings"]
    runs = report["runs"]
    best = {(t["dataset"], t["model"]): t["best"] for t in report["tuning"]}
    lines = [
        "# AutoMTL on Census-Income and KuaiRand, equal tuning budgets",
        "",
        fair.provenance_line(report, "`automtl_runs/fair-*`"),
        "",
        f"Every model of the main table had the same tuning budget: {s['trials']} settings drawn "
        f"by a KerasTuner random search from {SPACE} (dropout in the towers {TOWER}), scored by "
        f"the validation loss with seed {TUNING_SEED}; AutoMTL's trials retrain the architecture "
        f"of a seed-{TUNING_SEED} search. Then seeds 1–{s['seeds']}: AutoMTL and each ablation "
        "search with the seed and retrain what they derived at AutoMTL's chosen setting. Search: "
        f"{s['search_epochs']} epochs on {s['search_rows'] or 'all'} training rows (a seeded "
        f"random subset; fewer rows: all of them), candidates `--space {s['space']}`, 8 experts, "
        f"each task keeps its top {s['num_selected']}; SGD 0.02 (cosine) on the weights, Adam "
        "1e-3 on alpha and beta, beta frozen for the first third, JSD weight 1 decaying to 0, "
        "DARTS- auxiliary skip. Training: every training row, batch "
        f"{s['batch_size']}, at most {s['max_epochs']} epochs, early stopping on the validation "
        f"loss (patience {s['patience']}). Test split; mean ± std over seeds. MTL loss: the mean "
        "of the tasks' test log-losses. Paired differences (per seed; for the MTL loss a seed "
        "favours the side with the lower loss): **level** unless the 95% confidence interval of "
        "the mean difference (Student's t) leaves out 0.",
    ]
    for dataset_key, tasks in report["tasks"].items():
        here = [r for r in runs if r["dataset"] == dataset_key]
        if not here:
            continue
        columns = [f"AUC {t}" for t in tasks] + ["MTL loss"]
        lines += [
            "",
            f"## {dataset_key}",
            "",
            "| model | " + " | ".join(columns) + " | best epoch | params | chosen setting |",
            "|---|" + "---|" * (len(columns) + 3),
        ]
        for name in [*BASELINES, PROPOSED]:
            if any(r["model"] == name for r in here):
                chosen = f"`{best.get((dataset_key, name))}`"
                lines.append(_summary_row(DISPLAY[name], runs, dataset_key, name, tasks, [chosen]))
        versus = _difference_rows(
            report, dataset_key, [(PROPOSED, m, DISPLAY[m]) for m in BASELINES], tasks
        )
        if versus:
            lines += [
                "",
                "AutoMTL − baseline, paired over seeds (mean ± std):",
                "",
                "| AutoMTL − | " + " | ".join(columns) + " |",
                "|---|" + "---|" * len(columns),
                *versus,
            ]
        ablations = [a for a in ABLATIONS if any(r["model"] == a for r in here)]
        if ablations:
            lines += [
                "",
                "### Ablations (Table 3), at AutoMTL's chosen setting",
                "",
                "| variant | " + " | ".join(columns) + " | best epoch | params |",
                "|---|" + "---|" * (len(columns) + 2),
            ]
            lines += [
                _summary_row(DISPLAY[a], runs, dataset_key, a, tasks)
                for a in [PROPOSED, *ablations]
                if any(r["model"] == a for r in here)
            ]
            lines += [
                "",
                "| paired difference | " + " | ".join(columns) + " |",
                "|---|" + "---|" * len(columns),
            ]
            lines += _difference_rows(
                report,
                dataset_key,
                [(a, PROPOSED, f"{ABLATIONS[a][0]} − AutoMTL") for a in ablations],
                tasks,
            )
        lines += _jsd_lines(report["jsd"].get(dataset_key), tasks)
        searches = [s for s in report["searches"] if s["dataset"] == dataset_key]
        if searches:
            from zoo.search import describe_architecture

            lines += ["", "Searches: wall time, supernet parameters, derived architecture:", ""]
            lines += [
                f"- {DISPLAY[r['model']]}, seed {r['seed']}: {r['search_wall_s']:.0f} s, "
                f"{r['supernet_params']:,} parameters; "
                f"`{describe_architecture(r['architecture'])}`"
                for r in searches
            ]
    lines += ["", *fair.capped_lines(runs, report["tuning"], s["max_epochs"])]
    return "\n".join(lines) + "\n"


def draw_pictures(searches, out_dir):
    from zoo.search.plots import plot_architecture, plot_expert_selection

    paths = []
    for r in searches:
        if r["seed"] != 1 or r["model"] != PROPOSED:
            continue
        base = os.path.join(out_dir, f"automtl_{r['dataset']}")
        title = f"AutoMTL on {r['dataset']} (seed 1)"
        paths.append(plot_architecture(r["architecture"], base + "_architecture.png", title))
        paths.append(plot_expert_selection(r["architecture"], base + "_selection.png", title))
    return paths


def _names(text, known, what, parser):
    names = [] if text == "none" else [n for n in text.split(",") if n]
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"unknown {what} {unknown}; expected some of {list(known)}")
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--datasets", default=None, help="default: all (--quick: census-g1,kuairand)"
    )
    parser.add_argument("--baselines", default=",".join(BASELINES), help="or 'none'")
    parser.add_argument(
        "--ablations",
        default=None,
        help="comma-separated, or 'none'; default: all (--quick: wo-aux)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Census group 1 and KuaiRand, the w/o AUX ablation only (a subset of the full run)",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=3, help="tuning budget per model")
    parser.add_argument("--search-epochs", type=int, default=15)
    parser.add_argument("--search-rows", type=int, default=50_000)
    parser.add_argument("--space", choices=("cpu", "paper", "tiny"), default="cpu")
    parser.add_argument("--num-selected", type=int, default=6)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    bu.add_xla_flag(parser)
    parser.add_argument("--pictures", action="store_true", help="draw seed 1's search")
    parser.add_argument(
        "--render-only", action="store_true", help="tabulate the stored runs, run nothing"
    )
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    default_datasets = QUICK_DATASETS if args.quick else DATASETS
    datasets = _names(args.datasets or ",".join(default_datasets), DATASETS, "datasets", parser)
    baselines = _names(args.baselines, BASELINES, "baselines", parser)
    default_ablations = QUICK_ABLATIONS if args.quick else ABLATIONS
    ablations = _names(
        args.ablations or ",".join(default_ablations), ABLATIONS, "ablations", parser
    )
    training = bu.training_settings(args, with_learning_rate=False)
    search = {
        "search_epochs": args.search_epochs,
        "search_rows": args.search_rows,
        "space": args.space,
        "num_selected": args.num_selected,
    }
    settings = {**training, **search, "trials": args.trials}
    runs_dir = os.path.join(args.out, "automtl_runs")
    os.makedirs(runs_dir, exist_ok=True)
    started = time.perf_counter()
    tasks = {key: [t.name for t in load(key).tasks] for key in datasets}
    tuning, searches, runs = [], [], []

    def stored(file_name, key, make, *make_args):
        path = os.path.join(runs_dir, f"fair-{file_name}.json")
        # As stored: JSON turns tuples into lists, and stored keys are compared with fresh ones.
        key = json.loads(json.dumps(key))
        if args.render_only:
            return bu.read_stored_run(path, key)
        return bu.stored_run(path, key, make, *make_args)[0]

    def searched(dataset_key, name, seed):
        variant = {} if name == PROPOSED else ABLATIONS[name][1]
        key = {"dataset": DATASETS[dataset_key], "variant": variant, "search": search}
        found = stored(
            f"{dataset_key}-{name}-search-seed{seed}", key, run_search, dataset_key, name, seed,
            settings,
        )  # fmt: skip
        if found is not None and seed != TUNING_SEED:
            searches.append(found)
        return found

    def trained(dataset_key, name, values, seed, architecture=None):
        from zoo.search import describe_architecture

        key = {"dataset": DATASETS[dataset_key], "training": training, "values": values}
        if architecture is None:
            key["model"] = BASELINES[name]
        else:
            key["architecture"] = describe_architecture(architecture)
        run = stored(
            f"{dataset_key}-{name}-seed{seed}", key, run_seed, dataset_key, name, values, seed,
            settings, architecture,
        )  # fmt: skip
        if run is not None:
            runs.append(run)

    def tuned(dataset_key, name, architecture=None):
        key = {"dataset": DATASETS[dataset_key], "training": training, "space": SPACE}
        key["trials"] = args.trials
        if architecture is None:
            key["model"] = BASELINES[name]
        else:
            from zoo.search import describe_architecture

            key["architecture"] = describe_architecture(architecture)
        found = stored(
            f"{dataset_key}-{name}-tuning", key, tune_model, dataset_key, name, settings,
            architecture,
        )  # fmt: skip
        if found is not None:
            tuning.append(found)
        return found

    # The main table on every dataset first, then the ablations: an interrupted
    # benchmark has the comparisons that matter most.
    chosen = {}
    for dataset_key in datasets:
        for name in baselines:
            found = tuned(dataset_key, name)
            if found is None:
                continue
            for seed in range(1, args.seeds + 1):
                trained(dataset_key, name, found["best"], seed)
        tuning_search = searched(dataset_key, PROPOSED, TUNING_SEED)
        if tuning_search is None:
            continue
        found = tuned(dataset_key, PROPOSED, tuning_search["architecture"])
        if found is None:
            continue
        chosen[dataset_key] = found["best"]
        for seed in range(1, args.seeds + 1):
            result = searched(dataset_key, PROPOSED, seed)
            if result is not None:
                trained(dataset_key, PROPOSED, found["best"], seed, result["architecture"])
    for name in ablations:
        for dataset_key in datasets:
            if dataset_key not in chosen:
                continue
            for seed in range(1, args.seeds + 1):
                result = searched(dataset_key, name, seed)
                if result is not None:
                    values = chosen[dataset_key]
                    trained(dataset_key, name, values, seed, result["architecture"])
    report = bu.new_report(
        started,
        {
            **settings,
            "seeds": args.seeds,
            "space_of_tuning": SPACE,
            "datasets": datasets,
            "render_only": args.render_only,
        },
        tasks=tasks,
        tuning=tuning,
        searches=searches,
        runs=runs,
        comparisons=comparisons(runs, tasks),
        jsd=jsd_effect(searches),
    )
    bu.write_report(os.path.join(args.out, "automtl"), report, markdown(report))
    if args.pictures:
        for path in draw_pictures(searches, args.out):
            print(f"Picture: {path}")


if __name__ == "__main__":
    main()
