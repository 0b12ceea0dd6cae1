#!/usr/bin/env python
"""The MMoE paper's synthetic experiment: how task correlation affects each model.

Ma et al. (KDD 2018, figure 3 and section 3): as the task correlation p falls
from 1.0 to 0.5, Shared-Bottom degrades most, OMoE less, MMoE least. The
paper repeats each setting 200 times and plots the loss against training
steps with bands. Here:

- Data: `zoo.data.load_synthetic` (x ~ N(0, I_d), task weights of cosine
  similarity exactly p, sine terms; split 10:1:1). A repeat k draws the data,
  the task weights, the sine terms and the initial weights from seed k, and
  every model at a correlation sees the same datasets, so differences
  between models are paired by repeat.
- Equal budget (`bench/_fair_comparison.py`): for every model and width, a
  KerasTuner random search of `--trials` settings over `--learning-rates`,
  each scored by its validation loss on the data of seed 0 at p =
  `--tuning-correlation`; one learning rate per model and width, used at
  every p (tuning per p would cost four searches for one number each).
  Then repeats 1..`--repeats` at the chosen rate. Every run stops early on
  the validation loss and keeps its best epoch's weights; runs whose best
  epoch was the epoch cap are listed in the report.
- Capacity sweep (`--widths`): a factor on the shared bottom's width and the
  experts' width together, so that Shared-Bottom and the mixtures keep
  comparable weight counts (the report gives them).
- Statistics per width and p: test loss (sum of both tasks' MSE) mean ± std;
  paired differences MMoE - Shared-Bottom and MMoE - OMoE over the repeats
  (`fair.paired_difference`); each model's degradation from the highest p,
  a difference of means with Welch's 95% t interval, which treats the two
  correlations' repeats as independent draws; and how much more
  Shared-Bottom and OMoE degrade than MMoE (Welch's interval on the
  per-repeat gaps). A summary line per width says whether the paper's
  ordering appears. (Repeat k at two correlations shares its inputs, its
  task-1 labels and its initial weights, since `load_synthetic` draws
  everything but w2 alike from one seed: the Welch intervals are wider than
  a paired one would be, conservative.)

Data and training as the earlier converged run: 60,000 rows (50,000 for
training), c = 2, batch 256, patience 8. The cap is 300 epochs, so that a
search choosing 1e-3 still stops early (at 3e-3 runs stop near epoch 100).
With three learning rates a budget of 4 trials tries each rate once.

Cost: one run is about 100 epochs of 196 steps plus several seconds of
tracing per model (mostly of the 100 inputs): 49 s a run in the earlier
27-run measurement, 70-75 s on a loaded 2-core machine. The default sweep,
720 runs and 27 trials, takes 10-15 hours.
Fewer rows do not cut it sensibly: at 24,000 rows every model overfits
(validation loss 2-3x the training loss) and at 12,000 they stop after
3-27 epochs with test losses of 1.2-3.4 against about 0.1 here, a
data-starved regime that no longer tests the paper's claim. For less time,
narrow the sweep (`--widths 1`: a third) or the repeats. `--workers 2`
shares the repeats between two processes of one intra-op thread each (the
tuning stays in the first, which tabulates once every share is stored):
one of these runs takes as long on one thread as on two (19-20 s against
19-25 s for 20 epochs), so two workers did 4 repeats in about 42 s where
one process took 84 s, with the same test losses (2026-12-08, the quiet
2-core machine, `--widths 1 --repeats 4 --correlations 0.9 --models mmoe
--trials 1 --max-epochs 20`). The default sweep: about 5-8 hours with
`--workers 2`.

Writes `synthetic_correlation.{json,md}` and one `synthetic_correlation_w<width>.png`
per width, and keeps every run in `synthetic_correlation_runs/` so an
interrupted benchmark resumes.

    python bench/synthetic_correlation.py        # 4 p x 3 models x 20 repeats x 3 widths
    python bench/synthetic_correlation.py --widths 1 --repeats 5 --correlations 1,0.5
    python bench/synthetic_correlation.py --workers 2    # the same runs, two processes
    python bench/synthetic_correlation.py --render-only   # the .md and .png from the .json
"""

import argparse
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

MODELS = ("shared-bottom", "omoe", "mmoe")
DISPLAY = {"shared-bottom": "Shared-Bottom", "omoe": "OMoE", "mmoe": "MMoE"}
# At width factor 1, 8 experts of 16 units hold the weights of one 128-unit
# bottom over the d inputs (8 x 16 = 128). The factor scales both, so the
# match holds at every width; only the gates (d x 8 per gate) and the
# towers' inputs do not scale alike, which leaves the counts within about a
# tenth of each other at d = 100 (the report gives them).
BOTTOM_UNITS = 128
NUM_EXPERTS = 8
EXPERT_UNITS = 16
TOWER_UNITS = [8]
TUNING_SEED = 0
RUNS_FOLDER = "synthetic_correlation_runs"


def scaled(units, width):
    return max(1, round(units * width))


def architecture(model_name, width):
    """The model's constructor arguments at a width factor."""
    if model_name == "shared-bottom":
        return {"bottom_units": [scaled(BOTTOM_UNITS, width)], "tower_units": TOWER_UNITS}
    return {
        "num_experts": NUM_EXPERTS,
        "expert_units": [scaled(EXPERT_UNITS, width)],
        "tower_units": TOWER_UNITS,
    }


def train(model_name, width, correlation, seed, learning_rate, settings):
    """Trains one model on the data of `seed` at `correlation`: `(model, dataset, fit's result)`."""
    import keras

    from zoo.data import load_synthetic
    from zoo.models import get_model_class
    from zoo.training import fit

    data = settings["data"]
    dataset = load_synthetic(correlation=correlation, seed=seed, **data)
    keras.utils.set_random_seed(seed)
    model = get_model_class(model_name)(
        tasks=dataset.tasks,
        preprocessor=dataset.make_preprocessor(),
        **architecture(model_name, width),
    )
    config = bu.training_config(settings["training"], seed, learning_rate=learning_rate)
    return model, dataset, fit(model, dataset, config)


def tune_model(model_name, width, settings):
    """The learning rate the shared search picks for the model at this width."""

    def run_trial(values):
        *_, result = train(
            model_name,
            width,
            settings["tuning_correlation"],
            TUNING_SEED,
            values["learning_rate"],
            settings,
        )
        return min(result.history["val_loss"])

    space = {"learning_rate": settings["learning_rates"]}
    best, tried = fair.tune(
        f"{model_name}-w{width:g}", space, run_trial, settings["trials"], seed=TUNING_SEED
    )
    print(f"width x{width:g} {DISPLAY[model_name]:<13} tuned: {best}", flush=True)
    return {"model": model_name, "width": width, "best": best, "trials": tried}


def rounded(values):
    """Curves kept to 6 significant digits: the report holds hundreds of them."""
    return [float(f"{v:.6g}") for v in values]


def mse_on_test(model, dataset):
    """Each task's mean squared error on the test split.

    One eager call of the model on the raw test rows: `zoo.training.evaluate`
    gives the same figures but traces a prediction graph over the d inputs
    first, about a second per run, and the sweep has hundreds of runs.
    """
    import numpy as np

    predictions = model(dataset.test.features, training=False)
    return {
        t.name: float(
            np.mean(
                (np.asarray(predictions[t.name]).reshape(-1) - dataset.test.labels[t.name]) ** 2
            )
        )
        for t in dataset.tasks
    }


def trainable_weights(model):
    """Trainable weights (the preprocessor's normalization statistics are not)."""
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def run_repeat(model_name, width, correlation, seed, learning_rate, settings):
    started = time.perf_counter()
    model, dataset, result = train(model_name, width, correlation, seed, learning_rate, settings)
    test = mse_on_test(model, dataset)
    return {
        "model": model_name,
        "width": width,
        "correlation": correlation,
        "seed": seed,
        "learning_rate": learning_rate,
        "weights": trainable_weights(model),
        "label_pearson_correlation": dataset.settings["label_pearson_correlation"],
        "steps_per_epoch": result.steps_per_epoch,
        "loss": rounded(result.history["loss"]),
        "val_loss": rounded(result.history["val_loss"]),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "test_mse": test,
        "test_loss": sum(test.values()),
        "wall_s": time.perf_counter() - started,
    }


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------


def _select(runs, **match):
    chosen = [r for r in runs if all(r[k] == v for k, v in match.items())]
    return sorted(chosen, key=lambda r: r["seed"])


def losses_at(runs, width, p, model):
    return [r["test_loss"] for r in _select(runs, width=width, correlation=p, model=model)]


def paired_losses(runs, width, p, model, baseline):
    """The two models' test losses on the repeats both have, in seed order."""
    mine = {
        r["seed"]: r["test_loss"] for r in _select(runs, width=width, correlation=p, model=model)
    }
    base = {
        r["seed"]: r["test_loss"] for r in _select(runs, width=width, correlation=p, model=baseline)
    }
    seeds = sorted(mine.keys() & base.keys())
    return [mine[s] for s in seeds], [base[s] for s in seeds]


def gaps(runs, width, p, model, baseline):
    """Per repeat, `model`'s test loss minus `baseline`'s."""
    mine, base = paired_losses(runs, width, p, model, baseline)
    return [m - b for m, b in zip(mine, base)]


def welch_difference(before, after):
    """mean(after) - mean(before) with Welch's 95% t interval (unequal variances, unpaired).

    Returns a dict: `difference`, `low`, `high` (NaN without two values and
    some spread on each side) and `n_before`, `n_after`.
    """
    from scipy import stats

    nan = float("nan")
    result = {"difference": nan, "low": nan, "high": nan}
    result.update(n_before=len(before), n_after=len(after))
    if not before or not after:
        return result
    result["difference"] = statistics.mean(after) - statistics.mean(before)
    spread = len(before) > 1 and len(after) > 1
    if spread and (statistics.stdev(before) > 0 or statistics.stdev(after) > 0):
        interval = stats.ttest_ind(after, before, equal_var=False).confidence_interval(
            fair.CONFIDENCE
        )
        result["low"], result["high"] = float(interval.low), float(interval.high)
    return result


def excludes_zero(interval):
    return interval["low"] > 0 or interval["high"] < 0


def analyse(runs, settings):
    """Per width: per p the losses, paired comparisons and degradations; a summary line."""
    models, correlations = settings["models"], settings["correlations"]
    reference = max(correlations)
    analysis = []
    for width in settings["widths"]:
        rows = []
        for p in correlations:
            label = [
                r["label_pearson_correlation"] for r in _select(runs, width=width, correlation=p)
            ]
            row = {
                "correlation": p,
                "label_pearson_correlation_mean": statistics.mean(label) if label else None,
                "test_loss": {},
                "paired": {},
                "degradation": {},
                "excess_degradation": {},
            }
            for m in models:
                losses = losses_at(runs, width, p, m)
                row["test_loss"][m] = {
                    "mean": statistics.mean(losses) if losses else None,
                    "std": statistics.stdev(losses) if len(losses) > 1 else 0.0,
                    "repeats": len(losses),
                }
            for baseline in ("shared-bottom", "omoe"):
                if "mmoe" in models and baseline in models:
                    mine, base = paired_losses(runs, width, p, "mmoe", baseline)
                    row["paired"][f"mmoe-{baseline}"] = fair.paired_difference(
                        mine, base, higher_is_better=False
                    )
            if p != reference:
                for m in models:
                    row["degradation"][m] = welch_difference(
                        losses_at(runs, width, reference, m), losses_at(runs, width, p, m)
                    )
                # How much more than MMoE a model degrades: the change of its per-repeat
                # gap to MMoE (its loss minus MMoE's) from the reference p to this one.
                for m in ("shared-bottom", "omoe"):
                    if m in models and "mmoe" in models:
                        row["excess_degradation"][f"{m}-mmoe"] = welch_difference(
                            gaps(runs, width, reference, m, "mmoe"),
                            gaps(runs, width, p, m, "mmoe"),
                        )
            rows.append(row)
        entry = {"width": width, "reference_correlation": reference, "rows": rows}
        entry["weights"] = {
            m: next((r["weights"] for r in _select(runs, width=width, model=m)), None)
            for m in models
        }
        entry["summary"] = summary_line(entry, models, settings["data"]["noise_std"])
        analysis.append(entry)
    return analysis


def ordering_holds(degradation, models):
    """Whether the mean degradations fall in the paper's order (Shared-Bottom > OMoE > MMoE)."""
    order = [m for m in MODELS if m in models]
    means = [degradation[m]["difference"] for m in order]
    return all(a > b for a, b in zip(means, means[1:]))


def summary_line(entry, models, noise_std):
    """Does the paper's ordering appear at this width, and in which regime."""
    width, reference = entry["width"], entry["reference_correlation"]
    name = f"Width x{width:g}"
    lower = [row for row in entry["rows"] if row["correlation"] != reference]
    if "shared-bottom" not in models or "mmoe" not in models or not lower:
        return f"{name}: the ordering needs Shared-Bottom, MMoE and two correlations."
    lowest = min(lower, key=lambda row: row["correlation"])
    holds = [row["correlation"] for row in lower if ordering_holds(row["degradation"], models)]
    significant = [
        row["correlation"]
        for row in lower
        if excludes_zero(row["excess_degradation"]["shared-bottom-mmoe"])
        and row["excess_degradation"]["shared-bottom-mmoe"]["difference"] > 0
    ]
    appears = lowest["correlation"] in holds and lowest["correlation"] in significant
    sb = lowest["degradation"]["shared-bottom"]
    if excludes_zero(sb):
        sb_change = "rises" if sb["difference"] > 0 else "falls"
    else:
        sb_change = "does not change significantly"
    floor = 2 * noise_std**2
    at_reference = [
        row["test_loss"][m]["mean"]
        for row in entry["rows"]
        if row["correlation"] == reference
        for m in models
        if row["test_loss"][m]["mean"] is not None
    ]
    level = (
        f"test losses at p = {reference:g} are {min(at_reference) / floor:.1f}-"
        f"{max(at_reference) / floor:.1f}x the noise floor 2σ² = {floor:g}"
        if at_reference
        else "no losses"
    )
    order = " > ".join(DISPLAY[m] for m in MODELS if m in models)
    return (
        f"{name}: the paper's ordering (degradation {order}) at p = "
        f"{lowest['correlation']:g}: **{'yes' if appears else 'no'}**. By the means it holds at "
        f"p = {_listing(holds)}; Shared-Bottom degrades significantly more than MMoE at p = "
        f"{_listing(significant)}. Regime: {_weights_phrase(entry)}; {level}; Shared-Bottom's "
        f"own loss {sb_change} from p = {reference:g} to {lowest['correlation']:g}."
    )


def _listing(values):
    return ", ".join(f"{v:g}" for v in values) or "none"


def _weights_phrase(entry):
    return ", ".join(
        f"{DISPLAY[m]} {w:,} weights" for m, w in entry["weights"].items() if w is not None
    )


# ---------------------------------------------------------------------------
# Figure and report
# ---------------------------------------------------------------------------

CURVES = (("loss", "training loss"), ("val_loss", "validation loss"))


def carried_curves(runs, key):
    """`(runs, longest)` array of each run's curve, carried past its stop at its best epoch's
    value (the weights early stopping restores), so every step averages every repeat."""
    import numpy as np

    longest = max(len(r[key]) for r in runs)
    curves = np.empty((len(runs), longest))
    for i, run in enumerate(runs):
        values = run[key]
        curves[i, : len(values)] = values
        curves[i, len(values) :] = values[run["best_epoch"] - 1]
    return curves


def plot(runs, models, correlations, width, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from scipy import stats

    fig, axes = plt.subplots(
        len(CURVES),
        len(correlations),
        figsize=(4.5 * len(correlations), 3.6 * len(CURVES)),
        sharey="row",
        squeeze=False,
    )
    for column, p in enumerate(correlations):
        for row, (key, label) in enumerate(CURVES):
            ax = axes[row, column]
            for m in models:
                chosen = _select(runs, width=width, correlation=p, model=m)
                if not chosen:
                    continue
                curves = carried_curves(chosen, key)
                steps = np.arange(1, curves.shape[1] + 1) * chosen[0]["steps_per_epoch"]
                mean = curves.mean(axis=0)
                n = len(chosen)
                half = np.zeros_like(mean)
                if n > 1:
                    t = stats.t.ppf(0.5 + fair.CONFIDENCE / 2, n - 1)
                    half = t * curves.std(axis=0, ddof=1) / math.sqrt(n)
                (line,) = ax.plot(steps, mean, label=f"{DISPLAY[m]} (n={n})")
                ax.fill_between(steps, mean - half, mean + half, alpha=0.2, color=line.get_color())
            if row == 0:
                ax.set_title(f"p = {p:g}")
            if row == len(CURVES) - 1:
                ax.set_xlabel("training steps")
            if column == 0:
                ax.set_ylabel(f"{label} (sum of both MSEs)")
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
    axes[0, -1].legend()
    fig.suptitle(f"Width x{width:g}: mean over repeats, band = 95% CI of the mean")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def png_name(width):
    return f"synthetic_correlation_w{width:g}.png"


def _loss_cell(cell):
    if cell["mean"] is None:
        return "—"
    return f"{cell['mean']:.4f} ± {cell['std']:.4f}"


def _interval_cell(interval, more="rises", less="falls"):
    if math.isnan(interval["difference"]):
        return "—"
    if math.isnan(interval["low"]):
        return f"{interval['difference']:+.4f} [no interval]"
    verdict = fair.LEVEL
    if excludes_zero(interval):
        verdict = more if interval["difference"] > 0 else less
    return (
        f"{interval['difference']:+.4f} [{interval['low']:+.4f}, {interval['high']:+.4f}] "
        f"**{verdict}**"
    )


def markdown(report):
    s = report["settings"]
    data, training = s["data"], s["training"]
    models, correlations = s["models"], s["correlations"]
    runs = report["runs"]
    repeats = sorted({r["seed"] for r in runs})
    xla = "" if training.get("jit_compile", True) else " XLA off."
    lines = [
        "# The MMoE paper's synthetic experiment",
        "",
        f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s wall).",
        "",
        f"Data: `zoo.data.load_synthetic`, {data['num_rows']:,} rows split 10:1:1, "
        f"d = {data['input_dim']}, {data['num_sinusoids']} sinusoids, c = {data['scale']}, noise "
        f"σ = {data['noise_std']}. Repeats {repeats[0] if repeats else '—'}.."
        f"{repeats[-1] if repeats else '—'} ({len(repeats)}): repeat k draws the data, task "
        "weights, sine terms and initial weights from seed k; every model at a correlation "
        "trains on the same datasets. "
        f"Equal budget: per model and width, a KerasTuner random search of {s['trials']} "
        f"settings over the learning rates {s['learning_rates']}, scored by the validation "
        f"loss on seed {TUNING_SEED} at p = {s['tuning_correlation']:g}; the chosen rate is "
        "used at every p. "
        f"Training: Adam, batch {training['batch_size']}, at most {training['max_epochs']} "
        f"epochs, early stopping on the validation loss with patience {training['patience']} "
        f"(best epoch's weights kept).{xla} Test loss = the sum of both tasks' test MSEs; the "
        f"noise floor is 2σ² = {2 * data['noise_std'] ** 2:g}.",
        "",
        "Architectures at width factor w: Shared-Bottom one bottom layer of "
        f"{BOTTOM_UNITS}·w units; OMoE and MMoE {NUM_EXPERTS} experts of {EXPERT_UNITS}·w "
        f"units; towers {TOWER_UNITS} for every model.",
        "",
        "Statistics: paired differences are MMoE's test loss minus the other's, repeat by "
        'repeat; "better" or "worse" only where the 95% interval of the mean paired difference '
        "(Student's t) leaves out 0, otherwise **level**. Degradation = mean test loss at p "
        f"minus mean test loss at p = {max(correlations):g}, with Welch's 95% t interval, "
        "which treats the two correlations' repeats as independent; repeat k shares its "
        "inputs, task-1 labels and initial weights across p, so the interval is "
        "conservative. Excess "
        "degradation over MMoE = the same for the per-repeat gap (the model's loss minus "
        "MMoE's): > 0 means the model degrades more than MMoE. The summary says **yes** when "
        "the mean degradations fall in the paper's order at the lowest p and Shared-Bottom's "
        "excess over MMoE there leaves out 0.",
        "",
        "Curves: mean over the repeats of each epoch's loss against training steps; the band "
        "is the 95% confidence interval of the mean (Student's t), not ± one standard "
        "deviation. Early stopping ends runs at different steps: past its stop each run's "
        "curve is carried forward at its best epoch's value (the weights it keeps), so every "
        "point averages all repeats, up to the longest run. The training loss is Keras' mean "
        "over each epoch's batches.",
        "",
    ]
    for entry in report["analysis"]:
        width = entry["width"]
        reference = entry["reference_correlation"]
        chosen = {
            t["model"]: t["best"]["learning_rate"] for t in report["tuning"] if t["width"] == width
        }
        lines += [
            f"## Width x{width:g}",
            "",
            entry["summary"],
            "",
            "Learning rates chosen: "
            + ", ".join(f"{DISPLAY[m]} {chosen[m]:g}" for m in models if m in chosen)
            + ".",
            "",
            f"![loss against training steps, width x{width:g}]({png_name(width)})",
            "",
            "| p | label correlation | "
            + " | ".join(f"{DISPLAY[m]} test loss" for m in models)
            + " | MMoE - Shared-Bottom | MMoE - OMoE |",
            "|---|---|" + "---|" * (len(models) + 2),
        ]
        for row in entry["rows"]:
            label = row["label_pearson_correlation_mean"]
            cells = [_loss_cell(row["test_loss"][m]) for m in models]
            for key in ("mmoe-shared-bottom", "mmoe-omoe"):
                paired = row["paired"].get(key)
                cells.append(fair.difference_cell(paired) if paired else "—")
            lines.append(
                f"| {row['correlation']:g} | {'—' if label is None else f'{label:.3f}'} | "
                + " | ".join(cells)
                + " |"
            )
        excess = [m for m in ("shared-bottom", "omoe") if m in models and "mmoe" in models]
        lines += [
            "",
            f"Degradation from p = {reference:g} (Welch's 95% interval):",
            "",
            "| p | "
            + " | ".join(DISPLAY[m] for m in models)
            + "".join(f" | {DISPLAY[m]} more than MMoE" for m in excess)
            + " |",
            "|---|" + "---|" * (len(models) + len(excess)),
        ]
        for row in entry["rows"]:
            if row["correlation"] == reference:
                continue
            cells = [_interval_cell(row["degradation"][m]) for m in models]
            cells += [
                _interval_cell(row["excess_degradation"][f"{m}-mmoe"], "more", "less")
                for m in excess
            ]
            lines.append(f"| {row['correlation']:g} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Tuning",
        "",
        "| width | model | trials (learning rate: best validation loss) | chosen |",
        "|---|---|---|---|",
    ]
    for t in report["tuning"]:
        tried = ", ".join(
            f"{trial['values']['learning_rate']:g}: {trial['val_loss']:.4f}"
            for trial in t["trials"]
        )
        lines.append(
            f"| x{t['width']:g} | {DISPLAY[t['model']]} | {tried} | "
            f"{t['best']['learning_rate']:g} |"
        )
    epochs = [r["epochs_run"] for r in runs]
    lines += [
        "",
        f"Epochs run: median {statistics.median(epochs):g}, max {max(epochs)}; seconds per "
        f"run: median {statistics.median(r['wall_s'] for r in runs):.1f}."
        if runs
        else "No runs.",
        "",
        fair.capped_runs_line(
            runs,
            training["max_epochs"],
            lambda r: (
                f"{DISPLAY[r['model']]} x{r['width']:g} p={r['correlation']:g} repeat {r['seed']}"
            ),
        ),
    ]
    return "\n".join(lines) + "\n"


def render(report, out):
    s = report["settings"]
    for width in s["widths"]:
        plot(
            report["runs"],
            s["models"],
            s["correlations"],
            width,
            os.path.join(out, png_name(width)),
        )
    bu.write_report(os.path.join(out, "synthetic_correlation"), report, markdown(report))


def floats(text):
    return [float(v) for v in text.split(",") if v]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--correlations", default="1.0,0.9,0.7,0.5")
    parser.add_argument("--repeats", type=int, default=20, help="seeds 1..N at every p")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument(
        "--widths",
        default="0.5,1,2",
        help="factors on the shared bottom's and the experts' widths (default: %(default)s)",
    )
    parser.add_argument("--trials", type=int, default=4, help="tuning budget per model and width")
    parser.add_argument("--learning-rates", default="1e-3,3e-3,1e-2", help="the search space")
    parser.add_argument("--tuning-correlation", type=float, default=0.9)
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--num-rows", type=int, default=60000, help="rows in all, split 10:1:1")
    parser.add_argument("--scale", type=float, default=2.0, help="c, the norm of w1 and w2")
    parser.add_argument("--noise-std", type=float, default=0.1)
    parser.add_argument("--num-sinusoids", type=int, default=5)
    parser.add_argument(
        "--input-dim", type=int, default=100, help="d; fewer trace faster (smoke runs)"
    )
    bu.add_xla_flag(parser)
    bu.add_worker_flags(parser)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the .md and .png from the .json in --out, training nothing",
    )
    args = parser.parse_args(argv)
    if args.render_only:
        with open(os.path.join(args.out, "synthetic_correlation.json")) as f:
            report = json.load(f)
        report["analysis"] = analyse(report["runs"], report["settings"])
        render(report, args.out)
        return
    models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    if args.patience < 1:
        parser.error("--patience must be >= 1: every run stops early on the validation loss")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1; got {args.workers}")
    if not 0 <= args.worker_index < args.workers:
        parser.error(f"--worker-index must be in [0, {args.workers}); got {args.worker_index}")
    correlations = floats(args.correlations)
    widths = floats(args.widths)
    training = bu.training_settings(args, with_learning_rate=False)
    data = {
        "num_rows": args.num_rows,
        "input_dim": args.input_dim,
        "scale": args.scale,
        "noise_std": args.noise_std,
        "num_sinusoids": args.num_sinusoids,
    }
    settings = {
        "correlations": correlations,
        "models": models,
        "widths": widths,
        "repeats": args.repeats,
        "trials": args.trials,
        "learning_rates": floats(args.learning_rates),
        "tuning_correlation": args.tuning_correlation,
        "data": data,
        "training": training,
    }
    runs_dir = os.path.join(args.out, RUNS_FOLDER)
    os.makedirs(runs_dir, exist_ok=True)
    bu.limit_threads_for_workers(args.workers)
    started = time.perf_counter()
    # The tuning first, in this process alone: the repeats need its learning rates.
    tuning, rates = [], {}
    for width in widths:
        for m in models:
            key = {
                "data": data,
                "training": training,
                "architecture": architecture(m, width),
                "space": {"learning_rate": settings["learning_rates"]},
                "trials": args.trials,
                "correlation": args.tuning_correlation,
                "seed": TUNING_SEED,
            }
            path = os.path.join(runs_dir, f"tune-w{width:g}-{m}.json")
            tuned, _ = bu.stored_run(path, key, tune_model, m, width, settings)
            tuning.append(tuned)
            rates[(width, m)] = tuned["best"]["learning_rate"]
    order = [
        (width, p, seed, m)
        for width in widths
        for p in correlations
        for seed in range(1, args.repeats + 1)
        for m in models
    ]

    def repeats(mine):
        """The stored or new run of every repeat in `order` for which `mine(index)` holds."""
        runs = []
        for index, (width, p, seed, m) in enumerate(order):
            if not mine(index):
                continue
            key = {
                "data": data,
                "training": training,
                "architecture": architecture(m, width),
                "learning_rate": rates[(width, m)],
                "correlation": p,
                "seed": seed,
            }
            path = os.path.join(runs_dir, f"repeat-w{width:g}-p{p:g}-{m}-s{seed}.json")
            run, fresh = bu.stored_run(
                path, key, run_repeat, m, width, p, seed, rates[(width, m)], settings
            )
            runs.append(run)
            if fresh:
                print(
                    f"[{index + 1}/{len(order)}, {time.perf_counter() - started:.0f} s] "
                    f"width x{width:g} p={p:g} repeat {seed} {DISPLAY[m]:<13} "
                    f"test loss {run['test_loss']:.4f} (best epoch {run['best_epoch']} "
                    f"of {run['epochs_run']}, {run['wall_s']:.1f} s)",
                    flush=True,
                )
        return runs

    workers = []
    if args.worker_index == 0 and args.workers > 1:
        argv = list(sys.argv[1:] if argv is None else argv)
        workers = bu.start_workers(args.workers, argv, os.path.join(runs_dir, "workers"))
    repeats(lambda i: bu.is_my_share(i, args.workers, args.worker_index))
    if args.worker_index > 0:
        return  # worker 0 tabulates once every share is stored
    bu.wait_for_workers(workers, os.path.join(runs_dir, "workers"))
    runs = repeats(lambda i: True)
    report = bu.new_report(
        started,
        settings,
        tuning=tuning,
        runs=runs,
        analysis=analyse(runs, settings),
    )
    render(report, args.out)
    capped = [r for r in runs if r["best_epoch"] >= args.max_epochs]
    if capped:
        print(f"WARNING: {len(capped)} runs had their best epoch at the cap; raise --max-epochs")
    print(f"wrote {os.path.join(args.out, 'synthetic_correlation')}.json, .md and .png")


if __name__ == "__main__":
    main()
