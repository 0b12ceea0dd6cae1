#!/usr/bin/env python
"""DLEN against its backbones with equal tuning budgets: MMoE, MMoE-DLEN, PLE, PLE-DLEN.

Two data formats (`--format`, one or both, comma-separated):

- `kuairand`: the shipped KuaiRand like/hate subset (`zoo.data.load_kuairand`),
  tasks click, long_view, like, follow, comment, forward (`--tasks` picks
  some); split by date (10 training days, 2 validation, 2 test). The paper's
  section 4.1 sizes: MMoE 5 experts of [256, 128, 64]; PLE 5 shared + 2 per
  task (2 levels). Every row of this subset has a like or a hate, so most
  negatives are NOT non-interactions: DLEN's premise holds only weakly here.
- `ali-ccp`: a generated dataset that fits DLEN's premise, written as
  Ali-CCP's published CSV files (torch-rechub's preprocessed layout, the
  files `bench/funnel_models.py` writes) and read back through
  `zoo.data.load_ali_ccp`, tasks `click` and `purchase`. The paper's section
  4.2 sizes: MMoE 2 experts; PLE 2 shared + 1 per task (2 levels).

The `ali-ccp` generator (`generate_preference_rows`) assumes:

- a fixed "world" (seed `WORLD_SEED`, the same for every run): 1,000 users in
  8 taste groups, 1,000 items in 20 categories, a taste matrix
  taste[group, category] ~ N(0, 1.2^2) and an item quality q ~ N(0, 1);
- per row (drawn with the run's seed): a user, an item and three numeric
  context features x_0, x_1, x_2 ~ N(0, 1); a latent preference
      UP ~ Bernoulli(sigmoid(-1.6 + taste[group, category] + 0.8 q + 0.6 x_0));
- click ~ Bernoulli(sigmoid(0.2 + 0.8 x_1)) if UP, else Bernoulli(0.005);
  purchase only after a click, ~ Bernoulli(sigmoid(-1.0 + 1.0 x_2 + 0.5 q))
  if UP, else Bernoulli(0.02). So every interaction is driven by UP, most
  negatives are rows without any interaction, and P(t | not UP) is below
  0.1 x the task's rate (the report gives the measured ratios);
- columns: user id in field 101, taste group in 121, item id in 205,
  category in 206, x_0..x_2 in the first dense columns, every other field
  constant. Rows split 10:1:1 into the train, validation and test files.

Because UP is known, the report adds the AUC of the models' P(UP) against the
true UP of the test rows, and the AUCs of the generator's own probabilities
(the ceiling a model can reach).

Protocol (`bench/_fair_comparison.py`): each model gets the same KerasTuner
random search of `--trials` settings over the learning rate, dropout, a width
factor scaling the experts and DLEN's hidden-state network, and for DLEN its
upper limit alpha_t = ratio x the task's training rate (the paper: 0.1 to 0.5),
each scored by its validation loss with seed 0; then seeds 1..`--seeds` at the
chosen settings (for `ali-ccp`, each seed also draws its own rows from the same
world). Scored on the test split: the AUC per task of P(t) (every model) and of
P(t, UP) = P(t | UP) P(UP) (DLEN's equation (4), what it ranks by), the AUC of
P(UP) against "any positive interaction" (the paper's convergence check), and
the paired differences of each DLEN model against its backbone's P(t).

Each tuning search and each seed's run is kept in `dlen_kuairand_runs/`
(`<format>-<model>-tuning.json`, `<format>-<model>-seed<k>.json`), so an
interrupted benchmark resumes and a run with more formats or seeds reuses them.

    python bench/dlen_kuairand.py --format kuairand,ali-ccp   # 4 models, 4 trials, 5 seeds
    python bench/dlen_kuairand.py --format ali-ccp --rows 60000
    python bench/dlen_kuairand.py --format kuairand,ali-ccp --trials 1 --seeds 2 \\
        --max-epochs 1 --no-xla --models mmoe,mmoe-dlen --tasks click,like --rows 3000  # smoke
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402
import _fair_comparison as fair  # noqa: E402

FORMATS = ("kuairand", "ali-ccp")
KUAIRAND_TASKS = ("click", "long_view", "like", "follow", "comment", "forward")
MODELS = ("mmoe", "mmoe-dlen", "ple", "ple-dlen")
DISPLAY = {"mmoe": "MMoE", "mmoe-dlen": "MMoE-DLEN", "ple": "PLE", "ple-dlen": "PLE-DLEN"}
BACKBONES = {"mmoe-dlen": "mmoe", "ple-dlen": "ple"}
# The paper's expert counts: section 4.1 (the feed data) and 4.2 (Ali-CCP).
EXPERT_COUNTS = {
    "kuairand": {"mmoe": {"num_experts": 5},
                 "ple": {"num_levels": 2, "num_shared_experts": 5, "num_task_experts": 2}},
    "ali-ccp": {"mmoe": {"num_experts": 2},
                "ple": {"num_levels": 2, "num_shared_experts": 2, "num_task_experts": 1}},
}  # fmt: skip
# Expert and hidden-state widths (the paper's), scaled by the searched `width`.
EXPERT_UNITS = (256, 128, 64)
HIDDEN_STATE_UNITS = (256, 128, 64)
TOWER = [32]
SHARED_SPACE = {"learning_rate": [1e-3, 3e-3], "dropout": [0.0, 0.1], "width": [0.5, 1.0]}
DLEN_SPACE = {"alpha_ratio": [0.1, 0.3, 0.5]}
TUNING_SEED = 0
# A seed whose AUC lies this many standard deviations below the other seeds' mean is flagged.
OUTLIER_STDS = 3.0
# The two scores of a task: P(t), every model's prediction, and DLEN's P(t, UP).
SCORES = {"p_t": "P(t)", "p_t_and_up": "P(t, UP)"}

# The generated Ali-CCP-format data (see the module docstring).
WORLD_SEED = 2024
# Part of every stored ali-ccp run's key: change it whenever the generator changes, so runs
# on rows drawn the old way are made again rather than reused.
GENERATOR_VERSION = 1
NUM_USERS, NUM_GROUPS, NUM_ITEMS, NUM_CATEGORIES = 1000, 8, 1000, 20
UP_BIAS = -1.6
CLICK_GIVEN_NOT_UP = 0.005
PURCHASE_GIVEN_CLICK_NOT_UP = 0.02
# The Ali-CCP fields the generated features go into; the dense x_0.. go into the first dense ones.
ALI_CCP_FIELDS = {"user": "101", "group": "121", "item": "205", "category": "206"}


def _sigmoid(z):
    import numpy as np

    return 1.0 / (1.0 + np.exp(-z))


def generate_preference_rows(num_rows, seed):
    """Rows whose every interaction is driven by a latent preference UP (module docstring).

    Returns:
        Dict: `features` (user, group, item, category: int64; x_0..x_2:
        float32), `click` and `purchase` (0/1 int64), the true `up` (bool)
        and the true probabilities `p_up`, `p_click`, `p_purchase`.
    """
    import numpy as np

    world = np.random.default_rng(WORLD_SEED)
    group_of_user = world.integers(0, NUM_GROUPS, NUM_USERS)
    category_of_item = world.integers(0, NUM_CATEGORIES, NUM_ITEMS)
    taste = world.normal(0.0, 1.2, (NUM_GROUPS, NUM_CATEGORIES))
    quality = world.normal(0.0, 1.0, NUM_ITEMS)

    rng = np.random.default_rng(seed)
    users = rng.integers(0, NUM_USERS, num_rows)
    items = rng.integers(0, NUM_ITEMS, num_rows)
    x = rng.normal(0.0, 1.0, (num_rows, 3)).astype("float32")
    group, category, q = group_of_user[users], category_of_item[items], quality[items]
    p_up = _sigmoid(UP_BIAS + taste[group, category] + 0.8 * q + 0.6 * x[:, 0])
    up = rng.random(num_rows) < p_up
    click_given_up = _sigmoid(0.2 + 0.8 * x[:, 1])
    purchase_given_click_up = _sigmoid(-1.0 + 1.0 * x[:, 2] + 0.5 * q)
    click = rng.random(num_rows) < np.where(up, click_given_up, CLICK_GIVEN_NOT_UP)
    bought = rng.random(num_rows) < np.where(
        up, purchase_given_click_up, PURCHASE_GIVEN_CLICK_NOT_UP
    )
    features = {"user": users, "group": group, "item": items, "category": category}
    features.update({f"x_{i}": x[:, i] for i in range(x.shape[1])})
    return {
        "features": features,
        "click": click.astype("int64"),
        "purchase": (click & bought).astype("int64"),
        "up": up,
        "p_up": p_up,
        "p_click": p_up * click_given_up + (1 - p_up) * CLICK_GIVEN_NOT_UP,
        "p_purchase": p_up * click_given_up * purchase_given_click_up
        + (1 - p_up) * CLICK_GIVEN_NOT_UP * PURCHASE_GIVEN_CLICK_NOT_UP,
    }


def split_bounds(num_rows):
    """The 10:1:1 train, validation and test rows of the generated data, as `(start, stop)`."""
    num_train, num_validation = num_rows * 10 // 12, num_rows // 12
    return {
        "train": (0, num_train),
        "validation": (num_train, num_train + num_validation),
        "test": (num_train + num_validation, num_rows),
    }


def write_ali_ccp_files(rows, folder):
    """Writes generated rows as Ali-CCP's published train, validation and test CSV files."""
    import numpy as np

    from zoo.data.sources.ali_ccp import loader as ali_ccp

    num_rows = len(rows["click"])
    table = {c: np.zeros(num_rows, "int64") for c in ali_ccp.SPARSE_COLUMNS}
    for name, column in ALI_CCP_FIELDS.items():
        table[column] = rows["features"][name]
    table.update({c: np.zeros(num_rows, "float32") for c in ali_ccp.DENSE_COLUMNS})
    numeric = [rows["features"][f"x_{i}"] for i in range(3)]
    table.update(zip(ali_ccp.DENSE_COLUMNS, numeric))
    table.update(click=rows["click"], purchase=rows["purchase"])
    names = {"train": "ali_ccp_train.csv", "validation": "ali_ccp_val.csv",
             "test": "ali_ccp_test.csv"}  # fmt: skip
    for split, (start, stop) in split_bounds(num_rows).items():
        with open(os.path.join(folder, names[split]), "w") as f:
            f.write(",".join(ali_ccp.COLUMNS) + "\n")
            lines = zip(*(table[c][start:stop] for c in ali_ccp.COLUMNS))
            f.writelines(",".join(str(v) for v in line) + "\n" for line in lines)


# Each format's data, loaded (and for `ali-ccp` written) once per process: every tuning
# trial and model reads the same, and the generated files live until the process ends.
_LOADED = {}
_FILES = None


def load_data(data_format, seed, settings):
    """`(dataset, truth)`: the format's data for `seed`; `truth` is the generated rows for
    `ali-ccp` (KuaiRand has none: `None`, and the same rows for every seed)."""
    from zoo.data import load_ali_ccp, load_kuairand

    global _FILES
    if data_format == "kuairand":
        key = (data_format, tuple(settings["tasks"]))
        if key not in _LOADED:
            _LOADED[key] = load_kuairand(tasks=settings["tasks"]), None
        return _LOADED[key]
    key = (data_format, settings["rows"], seed)
    if key not in _LOADED:
        if _FILES is None:
            _FILES = tempfile.TemporaryDirectory(prefix="dlen-ali-ccp-")
        folder = os.path.join(_FILES.name, f"rows{settings['rows']}-seed{seed}")
        os.makedirs(folder)
        rows = generate_preference_rows(settings["rows"], seed)
        write_ali_ccp_files(rows, folder)
        _LOADED[key] = load_ali_ccp(folder, embedding_dim=8), rows
    return _LOADED[key]


def build_model(name, data_format, dataset, values):
    from zoo.models import get_model_class
    from zoo.models.dlen import base_rates

    backbone = BACKBONES.get(name, name)
    width = values["width"]
    kwargs = dict(
        EXPERT_COUNTS[data_format][backbone],
        expert_units=[max(1, round(u * width)) for u in EXPERT_UNITS],
        tower_units=TOWER,
        dropout=values["dropout"],
    )
    if name in BACKBONES:
        kwargs.update(
            hidden_state_units=[max(1, round(u * width)) for u in HIDDEN_STATE_UNITS],
            alpha_ratio=values["alpha_ratio"],
            base_rates=base_rates(dataset),
        )
    return get_model_class(name)(
        tasks=dataset.tasks, preprocessor=dataset.make_preprocessor(), **kwargs
    )


def train(name, data_format, values, seed, settings):
    """Trains one model at `values`: `(model, dataset, truth, fit's result)`."""
    import keras

    from zoo.training import fit

    dataset, truth = load_data(data_format, seed, settings)
    keras.utils.set_random_seed(seed)
    model = build_model(name, data_format, dataset, values)
    config = bu.training_config(settings, seed, learning_rate=values["learning_rate"])
    return model, dataset, truth, fit(model, dataset, config)


def space_of(name):
    return {**SHARED_SPACE, **(DLEN_SPACE if name in BACKBONES else {})}


def tune_model(name, data_format, settings):
    def run_trial(values):
        return min(train(name, data_format, values, TUNING_SEED, settings)[3].history["val_loss"])

    best, tried = fair.tune(
        f"{data_format}-{name}", space_of(name), run_trial, settings["trials"], TUNING_SEED
    )
    print(f"{data_format}: tuned {DISPLAY[name]:<9} {best}", flush=True)
    return {"model": name, "best": best, "trials": tried}


def data_summary(dataset, truth):
    """The training split's rates: per task, the share of rows without any interaction, and
    for generated data the true P(UP) and each task's P(t | not UP) / rate."""
    import numpy as np

    labels, present, _ = dataset.label_arrays("train")
    any_positive = np.zeros(len(next(iter(labels.values()))), bool)
    for name in labels:
        any_positive |= present[name] & (labels[name] > 0.5)
    rates = {name: float(np.mean(labels[name][present[name]])) for name in labels}
    summary = {
        "train_rows": int(len(any_positive)),
        "rates": rates,
        "no_interaction_share": float(1.0 - any_positive.mean()),
    }
    if truth is not None:
        start, stop = split_bounds(len(truth["up"]))["train"]
        up = truth["up"][start:stop]
        summary["up_share"] = float(up.mean())
        summary["not_up_ratio"] = {
            name: float(truth[name][start:stop][~up].mean() / rates[name]) for name in labels
        }
    return summary


def run_seed(name, data_format, values, seed, settings):
    """Trains at `values` with `seed` and scores P(t), P(t, UP) and P(UP) on the test split."""
    import numpy as np

    from zoo.metrics import roc_auc
    from zoo.models.dlen import JOINT_SUFFIX, LATENT_OUTPUT
    from zoo.training import predict

    started = time.perf_counter()
    model, dataset, truth, result = train(name, data_format, values, seed, settings)
    predictions = predict(model, dataset, "test", outputs="serving")
    labels, present, _ = dataset.label_arrays("test")
    tasks = [t.name for t in dataset.tasks]
    auc = {"p_t": {}, "p_t_and_up": {}}
    for task in tasks:
        rows = present[task]
        auc["p_t"][task] = roc_auc(labels[task][rows], predictions[task][rows])
        if task + JOINT_SUFFIX in predictions:
            joint = predictions[task + JOINT_SUFFIX][rows]
            auc["p_t_and_up"][task] = roc_auc(labels[task][rows], joint)
    any_positive = np.zeros(len(labels[tasks[0]]), bool)
    for task in tasks:
        any_positive |= present[task] & (labels[task] > 0.5)
    p_up = predictions.get(LATENT_OUTPUT)
    run = {
        "model": name,
        "format": data_format,
        "seed": seed,
        "values": values,
        "auc": auc,
        "p_up_auc_any_positive": None if p_up is None else roc_auc(any_positive, p_up),
        "params": int(model.count_params()),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "data": data_summary(dataset, truth),
    }
    if truth is not None:
        start, stop = split_bounds(len(truth["up"]))["test"]
        for task in tasks:
            # The test file is read in order; a loader that reordered rows would misalign the truth.
            if not np.array_equal(labels[task], truth[task][start:stop]):
                raise RuntimeError(f"The test rows of {task!r} are not in the order written")
        true_up = truth["up"][start:stop]
        run["p_up_auc_true_up"] = None if p_up is None else roc_auc(true_up, p_up)
        run["truth_auc"] = {
            "p_t": {t: roc_auc(labels[t], truth["p_" + t][start:stop]) for t in tasks},
            "p_up_true_up": roc_auc(true_up, truth["p_up"][start:stop]),
        }
    run["wall_s"] = time.perf_counter() - started
    shown = ", ".join(f"{t} {auc['p_t'][t]:.4f}" for t in tasks)
    if auc["p_t_and_up"]:
        shown += "; P(t, UP): " + ", ".join(f"{t} {v:.4f}" for t, v in auc["p_t_and_up"].items())
    print(
        f"{data_format} seed {seed} {DISPLAY[name]:<9} {shown} "
        f"(best epoch {run['best_epoch']} of {run['epochs_run']}, {run['wall_s']:.0f} s)",
        flush=True,
    )
    return run


def _figures(runs, name, score, task):
    """The model's AUC of `score` for `task`, per seed in seed order."""
    chosen = sorted((r for r in runs if r["model"] == name), key=lambda r: r["seed"])
    return [r["auc"][score].get(task) for r in chosen]


def comparisons(runs, tasks):
    """Each DLEN model's P(t) and P(t, UP) against its backbone's P(t), per task, by seed."""
    table = {}
    names = {r["model"] for r in runs}
    for dlen, backbone in BACKBONES.items():
        if dlen not in names or backbone not in names:
            continue
        dlen_seeds = sorted(r["seed"] for r in runs if r["model"] == dlen)
        backbone_seeds = sorted(r["seed"] for r in runs if r["model"] == backbone)
        if dlen_seeds != backbone_seeds:
            continue
        for score in SCORES:
            for task in tasks:
                table[f"{dlen}|{score}|{task}"] = fair.paired_difference(
                    _figures(runs, dlen, score, task), _figures(runs, backbone, "p_t", task)
                )
    return table


def outlying_seeds(runs, tasks):
    """Seeds whose P(t) AUC lies more than `OUTLIER_STDS` std below the other seeds' mean."""
    found = []
    for name in MODELS:
        chosen = sorted((r for r in runs if r["model"] == name), key=lambda r: r["seed"])
        for task in tasks:
            for run in chosen:
                others = [r["auc"]["p_t"][task] for r in chosen if r is not run]
                if len(others) < 2:
                    continue
                mean, std = statistics.mean(others), statistics.stdev(others)
                value = run["auc"]["p_t"][task]
                if value < mean - OUTLIER_STDS * std:
                    found.append(
                        {
                            "model": name,
                            "seed": run["seed"],
                            "task": task,
                            "auc": value,
                            "others_mean": mean,
                            "others_std": std,
                        }
                    )
    return found


def describe_data(data_format, runs, settings):
    summary = runs[0]["data"]
    rates = ", ".join(f"{t} {v:.3f}" for t, v in summary["rates"].items())
    no_interaction = summary["no_interaction_share"]
    if data_format == "kuairand":
        text = (
            "The shipped KuaiRand like/hate subset (every row has a like or a hate, so every "
            "rate is conditional on explicit feedback; see `datasets/kuairand/CARD.md`), split "
            "by date: 10 training days, 2 validation, 2 test. Section 4.1's sizes: MMoE 5 "
            "experts, PLE 5 shared + 2 per task (2 levels)."
        )
    else:
        not_up = ", ".join(f"{t} {v:.2g}" for t, v in summary["not_up_ratio"].items())
        text = (
            f"Generated rows (`generate_preference_rows`, {settings['rows']:,} per seed, split "
            "10:1:1, each seed its own draw from one fixed world) written as Ali-CCP's CSV files "
            "and read by `zoo.data.load_ali_ccp`: a latent preference UP drives every "
            f"interaction. True share of UP rows {summary['up_share']:.3f}; P(t | not UP) / "
            f"the task's rate: {not_up}. Section 4.2's sizes: MMoE 2 experts, PLE 2 shared + 1 "
            "per task (2 levels)."
        )
    return (
        f"{text} Training rows {summary['train_rows']:,} (seed {runs[0]['seed']}); positive "
        f"rates {rates}; rows without any interaction {no_interaction:.3f}."
    )


def markdown_format(data_format, section, settings):
    runs = section["runs"]
    tasks = section["tasks"]
    models = [m for m in MODELS if any(r["model"] == m for r in runs)]
    truth = data_format == "ali-ccp"
    extra = ["P(UP) vs any positive"] + (["P(UP) vs true UP"] if truth else [])
    lines = [
        f"## {data_format}",
        "",
        describe_data(data_format, runs, settings),
        "",
        f"Test AUC, mean ± std over seeds {sorted({r['seed'] for r in runs})}:",
        "",
        "| model | score | " + " | ".join(tasks + extra) + " |",
        "|---|---|" + "---|" * (len(tasks) + len(extra)),
    ]
    for name in models:
        chosen = [r for r in runs if r["model"] == name]
        # P(UP)'s columns belong to the model, not to a score: on its first row only.
        p_up = [bu.mean_std_cell([r["p_up_auc_any_positive"] for r in chosen])]
        if truth:
            p_up.append(bu.mean_std_cell([r.get("p_up_auc_true_up") for r in chosen]))
        for score, label in SCORES.items():
            figures = [_figures(runs, name, score, t) for t in tasks]
            if all(v is None for values in figures for v in values):
                continue
            cells = [bu.mean_std_cell(values) for values in figures] + p_up
            lines.append(f"| {DISPLAY[name]} | {label} | " + " | ".join(cells) + " |")
            p_up = [""] * len(p_up)
    if truth:
        cells = [bu.mean_std_cell([r["truth_auc"]["p_t"][t] for r in runs]) for t in tasks]
        cells += ["—", bu.mean_std_cell([r["truth_auc"]["p_up_true_up"] for r in runs])]
        lines.append("| the generator's true probabilities | P(t) | " + " | ".join(cells) + " |")
    paired = section["comparisons"]
    rows = []
    for dlen, backbone in BACKBONES.items():
        for score, label in SCORES.items():
            found = [paired.get(f"{dlen}|{score}|{t}") for t in tasks]
            if any(found):
                rows.append(
                    f"| {DISPLAY[dlen]} {label} − {DISPLAY[backbone]} P(t) | "
                    + " | ".join(fair.difference_cell(c) if c else "—" for c in found)
                    + " |"
                )
    if rows:
        lines += [
            "",
            "Paired differences, DLEN minus its backbone (AUC, mean ± std over seeds):",
            "",
            "| pair | " + " | ".join(tasks) + " |",
            "|---|" + "---|" * len(tasks),
            *rows,
        ]
    if "ple" in models:
        ple = sorted((r for r in runs if r["model"] == "ple"), key=lambda r: r["seed"])
        lines += [
            "",
            "Seed spread of the PLE baseline (test AUC of P(t) per seed):",
            "",
            "| seed | " + " | ".join(tasks) + " | best epoch |",
            "|---|" + "---|" * (len(tasks) + 1),
        ]
        for run in ple:
            cells = [f"{run['auc']['p_t'][t]:.4f}" for t in tasks]
            lines.append(f"| {run['seed']} | " + " | ".join(cells) + f" | {run['best_epoch']} |")
    outliers = section["outlying_seeds"]
    shown = "; ".join(
        f"{DISPLAY[o['model']]} seed {o['seed']} {o['task']} {o['auc']:.4f} (other seeds "
        f"{o['others_mean']:.4f} ± {o['others_std']:.4f})"
        for o in outliers
    )
    lines += [
        "",
        f"Seeds whose P(t) AUC lies more than {OUTLIER_STDS:g} std below the mean of the other "
        f"seeds: {shown or 'none'}.",
        "",
        "Chosen settings (tuning trials: values → validation loss):",
        "",
    ]
    for tuned in section["tuning"]:
        trials = "; ".join(f"`{t['values']}` → {t['val_loss']:.4f}" for t in tuned["trials"])
        lines.append(f"- {DISPLAY[tuned['model']]}: `{tuned['best']}` (trials: {trials})")
    params = {r["model"]: r["params"] for r in runs}
    lines += [
        "",
        "Parameters at those settings: "
        + ", ".join(f"{DISPLAY[m]} {params[m]:,}" for m in models)
        + ".",
        "",
        fair.capped_runs_line(
            runs, settings["max_epochs"], lambda r: f"{DISPLAY[r['model']]} seed {r['seed']}"
        ),
        "",
    ]
    return lines


def markdown(report):
    s = report["settings"]
    lines = [
        "# DLEN against MMoE and PLE, with equal tuning budgets",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall "
        "of this invocation; runs stored before were reused).",
        "",
        f"Every model had the same tuning budget: {s['trials']} settings drawn by a KerasTuner "
        f"random search from {SHARED_SPACE} (`width` scales the experts [256, 128, 64] and "
        "DLEN's hidden-state network [256, 128, 64]; towers [32]), plus for DLEN the upper "
        f"limit alpha_t = ratio × the task's training rate, ratio in {DLEN_SPACE['alpha_ratio']},"
        f" each scored by its validation loss with seed {TUNING_SEED}; then seeds 1–{s['seeds']} "
        f"at the chosen settings. At most {s['max_epochs']} epochs, early stopping on the "
        f"validation loss (patience {s['patience']}), batch {s['batch_size']}. P(t) is each "
        "model's prediction of the task; P(t, UP) = P(t | UP) P(UP) is DLEN's equation (4), what "
        "the paper ranks by. Paired differences: the mean over seeds ± its std, the seeds "
        'favouring DLEN, and "better"/"worse" only where the 95% confidence interval of the '
        "mean difference (Student's t) leaves out 0, otherwise **level**.",
        "",
    ]
    for data_format, section in report["formats"].items():
        lines += markdown_format(data_format, section, {**s, **section["settings"]})
    return "\n".join(lines)


def run_format(data_format, models, settings):
    """Tunes and runs every model on one format (stored runs reused): the report's section."""
    runs_dir = os.path.join(settings["out"], "dlen_kuairand_runs")
    os.makedirs(runs_dir, exist_ok=True)
    if data_format == "kuairand":
        own = {"tasks": settings["tasks"]}
    else:
        own = {"rows": settings["rows"], "generator_version": GENERATOR_VERSION}
    # What a stored run depends on: not the number of seeds, nor the other format's flags.
    common = {k: v for k, v in settings.items() if k not in ("seeds", "out", "tasks", "rows")}
    key = {"format": data_format, **own, **common}
    scoped = {**settings, **own}
    tuning, runs = [], []
    for name in models:
        path = os.path.join(runs_dir, f"{data_format}-{name}-tuning.json")
        architecture = EXPERT_COUNTS[data_format][BACKBONES.get(name, name)]
        tuned, _ = bu.stored_run(
            path,
            {"settings": key, "space": space_of(name), "architecture": architecture},
            tune_model,
            name,
            data_format,
            scoped,
        )
        tuning.append(tuned)
        for seed in range(1, settings["seeds"] + 1):
            path = os.path.join(runs_dir, f"{data_format}-{name}-seed{seed}.json")
            run, _ = bu.stored_run(
                path,
                {"settings": key, "values": tuned["best"], "architecture": architecture},
                run_seed,
                name,
                data_format,
                tuned["best"],
                seed,
                scoped,
            )
            runs.append(run)
    tasks = list(runs[0]["auc"]["p_t"]) if runs else []
    return {
        "settings": own,
        "tasks": tasks,
        "tuning": tuning,
        "runs": runs,
        "comparisons": comparisons(runs, tasks),
        "outlying_seeds": outlying_seeds(runs, tasks),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--format", default="kuairand", help=f"one or more of {FORMATS}, comma-separated"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=4, help="tuning budget per model")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument(
        "--tasks",
        default=",".join(KUAIRAND_TASKS),
        help="KuaiRand's tasks (ali-ccp always has click and purchase)",
    )
    parser.add_argument("--rows", type=int, default=60000, help="generated rows of ali-ccp")
    bu.add_training_flags(parser, batch_size=512)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--render-only", action="store_true", help="rewrite the .md from .json")
    args = parser.parse_args(argv)
    base = os.path.join(args.out, "dlen_kuairand")
    if args.render_only:
        with open(base + ".json") as f:
            report = json.load(f)
        bu.write_report(base, report, markdown(report))
        return
    formats = [f for f in args.format.split(",") if f]
    models = [m for m in args.models.split(",") if m]
    tasks = [t for t in args.tasks.split(",") if t]
    for what, chosen, known in (
        ("formats", formats, FORMATS),
        ("models", models, MODELS),
        ("tasks", tasks, KUAIRAND_TASKS),
    ):
        unknown = sorted(set(chosen) - set(known))
        if unknown or not chosen:
            parser.error(f"unknown or no {what} {unknown}; choose from {list(known)}")
    if args.rows < 1200:
        parser.error(f"Expected --rows >= 1200 (100 test rows). Received: {args.rows}")
    settings = {
        "seeds": args.seeds,
        "trials": args.trials,
        "tasks": tasks,
        "rows": args.rows,
        **bu.training_settings(args),
    }
    started = time.perf_counter()
    sections = {
        f: run_format(f, models, {**settings, "out": args.out}) for f in FORMATS if f in formats
    }
    report = bu.new_report(started, settings, formats=sections)
    bu.write_report(base, report, markdown(report))


if __name__ == "__main__":
    main()
