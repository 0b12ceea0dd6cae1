"""Equal tuning budgets and paired statistics for the benchmarks' comparison tables.

A table that ranks models is fair when every model had the same chance:

- `tune`: the same hyper-parameter search for every model, a KerasTuner
  random search of `trials` settings scored on the validation split by the
  model's own validation loss (what early stopping watches). Each model
  searches the shared space (learning rate, width, dropout) plus its own
  arguments, in the same number of trials.
- Then every model runs at its chosen settings with the same seeds (5 or
  more), and `paired_difference` compares it with the baseline the paper
  beats seed by seed: the mean and spread of the differences, how many
  seeds favour each side, and a verdict that says "level" unless the 95%
  confidence interval of the mean paired difference (Student's t) leaves
  out zero.

Why KerasTuner's oracle under a `run_trial` of ours rather than its
`Tuner.search` of a `model.fit`: a trial is the zoo's whole training run
(`zoo.training.fit`: early stopping, restoring the best epoch, the
preprocessed and cached pipeline), which KerasTuner documents as the way to
tune a custom training loop.
"""

import math
import statistics
import tempfile

# The verdict's confidence level, and what a difference inside it is called.
CONFIDENCE = 0.95
LEVEL = "level"


def tune(name, space, run_trial, trials, seed):
    """The best of `trials` random settings from `space`, by `run_trial`'s validation loss.

    Args:
        name: the search's name (a model's), for KerasTuner's records.
        space: dict from argument name to the list of values to choose from.
        run_trial: function from a dict of chosen values to the validation
            loss it reached (lower is better).
        trials: how many settings to try; the same for every model of a table.
        seed: seeds the random search.

    Returns:
        `(best, tried)`: the chosen values, and a list of `{"values", "val_loss"}`
        for every trial in the order run.
    """
    import keras_tuner

    hyperparameters = keras_tuner.HyperParameters()
    for key, choices in space.items():
        hyperparameters.Choice(key, list(choices))
    tried, errors = [], []

    class Search(keras_tuner.RandomSearch):
        def run_trial(self, trial, *args, **kwargs):
            values = dict(trial.hyperparameters.values)
            try:
                loss = float(run_trial(values))
            except Exception as error:
                # KerasTuner logs a failed trial and goes on; a trial that raises is a bug
                # in the model or the benchmark, so it stops the search below.
                errors.append(error)
                raise
            tried.append({"values": values, "val_loss": loss})
            # A failed or diverged trial ranks last rather than stopping the search.
            return {"val_loss": loss if math.isfinite(loss) else float("inf")}

    with tempfile.TemporaryDirectory() as directory:
        search = Search(
            hyperparameters=hyperparameters,
            objective=keras_tuner.Objective("val_loss", "min"),
            max_trials=trials,
            seed=seed,
            directory=directory,
            project_name=name,
            overwrite=True,
        )
        search.search(verbose=0)
        if errors:
            raise RuntimeError(f"A trial of the search {name!r} failed") from errors[0]
        best = dict(search.get_best_hyperparameters(1)[0].values)
    return best, tried


def paired_difference(values, baseline, higher_is_better=True):
    """How a model compares with a baseline over the same seeds.

    Args:
        values: the model's figure per seed.
        baseline: the baseline's figure for the same seeds, in the same order.
        higher_is_better: False for errors and losses.

    Returns:
        Dict: `mean` and `std` of the differences (model - baseline), `better`
        and `worse` (seeds favouring the model, the baseline), `seeds`, and
        `verdict`: "better" or "worse" when the 95% confidence interval of
        the mean difference leaves out 0, otherwise "level" (also with
        fewer than 2 seeds or no spread to judge by).
    """
    from scipy import stats

    if len(values) != len(baseline):
        raise ValueError(
            f"Expected one baseline figure per seed. Received: {len(values)} figures and "
            f"{len(baseline)} baseline figures"
        )
    differences = [v - b for v, b in zip(values, baseline)]
    sign = 1.0 if higher_is_better else -1.0
    n = len(differences)
    mean = statistics.mean(differences) if differences else float("nan")
    std = statistics.stdev(differences) if n > 1 else 0.0
    verdict = LEVEL
    if n > 1 and std > 0:
        half_width = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * std / math.sqrt(n)
        if abs(mean) > half_width:
            verdict = "better" if sign * mean > 0 else "worse"
    return {
        "mean": mean,
        "std": std,
        "better": sum(1 for d in differences if sign * d > 0),
        "worse": sum(1 for d in differences if sign * d < 0),
        "seeds": n,
        "verdict": verdict,
    }


def difference_cell(comparison, spec=".4f"):
    """A table cell: "+0.0123 ± 0.0040 (5/5 better)", or "... level"."""
    c = comparison
    favour = f"{c['better']}/{c['seeds']} seeds favour it"
    return f"{c['mean']:+{spec}} ± {c['std']:{spec}}, {favour}: **{c['verdict']}**"


def capped_runs_line(runs, max_epochs, describe):
    """The table's note of every run whose best epoch was the epoch cap (it may not be done).

    Args:
        runs: the runs, each with its `best_epoch`.
        max_epochs: the cap.
        describe: function from a run to its name in the note ("esmm seed 2").
    """
    capped = [describe(r) for r in runs if r["best_epoch"] >= max_epochs]
    return f"Runs whose best epoch was the epoch cap ({max_epochs}): {', '.join(capped) or 'none'}."


def provenance_line(report, stored_runs):
    """The report's first line: when and how its table was made, and on what machine.

    Args:
        report: the report of `_benchutil.new_report`; its settings'
            `render_only` is true where the table was only tabulated.
        stored_runs: where the runs it tabulates are kept, e.g.
            "`mogenet_runs/fair-*`".
    """
    if report["settings"].get("render_only"):
        head = f"Tabulated {report['date']} from the stored runs in {stored_runs}"
    else:
        head = (
            f"Measured {report['date']} with `{report['command']}` ({report['wall_s']:.0f} s "
            "wall of this invocation; runs stored before were reused)"
        )
    machine = report["machine"]
    return f"{head}; {machine['cpu']} ({machine['cpus_usable']} cores)."


def capped_lines(runs, tuning, max_epochs):
    """`capped_runs_line` for the seed runs and for the tuning trials, as markdown lines.

    For reports whose runs and tuning records carry `dataset` and `model`.
    """
    trials = [
        {**trial, "dataset": t["dataset"], "model": t["model"]}
        for t in tuning
        for trial in t["trials"]
    ]
    return [
        capped_runs_line(
            runs, max_epochs, lambda r: f"{r['dataset']} {r['model']} seed {r['seed']}"
        ),
        "",
        "Tuning trials: "
        + capped_runs_line(
            trials, max_epochs, lambda r: f"{r['dataset']} {r['model']} {r['values']}"
        ),
    ]
