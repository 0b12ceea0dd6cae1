"""What the gates of a mixture-of-experts model do: average weights, collapse, a heat map.

A healthy MMoE spreads each task over several experts and gives different
tasks different mixtures. A collapsed one sends every task to the same
expert, and is then a Shared-Bottom with extra weights; this is the first
thing to look at when MMoE does no better than Shared-Bottom.
"""

import warnings

import numpy as np

COLLAPSE_THRESHOLD = 0.9


def average_gate_weights(model, dataset, split, batch_size=4096):
    """Mean gate weight on each expert over a split, per gate.

    Returns:
        Dict from gate name (task gates by task name; `"shared"` for OMoE's
        and CGC's shared gates; PLE prefixes `level_l/`) to a dict from
        expert name to its mean weight over the split's rows, in the gate's
        expert order. Empty for models without gates.
    """
    expert_names = model.gate_expert_names()
    if not expert_names:
        return {}
    data = dataset.tf_dataset(split, model.preprocessor, batch_size)
    sums, rows = {}, 0
    for batch in data:
        with model.preprocessed_inputs():
            weights = model.gate_weights(batch[0])
        for gate, w in weights.items():
            sums[gate] = sums.get(gate, 0.0) + np.asarray(w, np.float64).sum(axis=0)
        rows += int(next(iter(weights.values())).shape[0])
    return {
        gate: {name: float(v) for name, v in zip(expert_names[gate], total / rows)}
        for gate, total in sums.items()
    }


def find_collapse(averages, task_names, threshold=COLLAPSE_THRESHOLD):
    """The expert that takes more than `threshold` of every task gate's weight, or `None`.

    Only the task gates of the last level count (they decide what the
    towers get); a model without per-task gates (OMoE) is judged on its one
    shared gate.
    """
    task_gates = _final_task_gates(averages, task_names)
    if not task_gates:
        return None
    candidates = None
    for gate in task_gates:
        heavy = {expert for expert, w in averages[gate].items() if w > threshold}
        candidates = heavy if candidates is None else candidates & heavy
    return next(iter(candidates)) if candidates else None


def _final_task_gates(averages, task_names):
    if not averages:
        return []
    prefixes = {gate.rpartition("/")[0] for gate in averages}
    # "" for single-level models, else the highest "level_l".
    last = max(prefixes, key=lambda p: int(p[6:]) if p.startswith("level_") else -1)
    gates = [g for g in averages if g.rpartition("/")[0] == last]
    task_gates = [g for g in gates if g.rpartition("/")[2] in task_names]
    return task_gates or gates


def gate_report(model, dataset, split, batch_size=4096, threshold=COLLAPSE_THRESHOLD):
    """`average_gate_weights` plus the collapse verdict, for metrics.json.

    Warns (`UserWarning`) when the gates have collapsed onto one expert.
    """
    averages = average_gate_weights(model, dataset, split, batch_size)
    collapsed = find_collapse(averages, model.task_names, threshold)
    if collapsed is not None:
        warnings.warn(
            f"Expert collapse: {collapsed!r} takes more than {threshold:.0%} of every task's "
            f"gate weight on the {split} split, so the tasks do not use different experts. "
            "Try a higher gate temperature, fewer experts or a different seed.",
            stacklevel=2,
        )
    return {
        "split": split,
        "average_gate_weights": averages,
        "collapse_threshold": threshold,
        "collapsed_onto": collapsed,
    }


def plot_gate_heatmap(averages, path, title=""):
    """Writes a heat map of `average_gate_weights` (gates x experts) to a PNG."""
    # A figure outside pyplot: writing the PNG switches no backend, so a
    # notebook's inline plots after it still show (matplotlib.use("Agg") did).
    from matplotlib.figure import Figure

    gates = list(averages)
    experts = []
    for gate in gates:
        experts += [e for e in averages[gate] if e not in experts]
    # A gate sees only some experts in CGC / PLE; the rest stay blank.
    grid = np.full((len(gates), len(experts)), np.nan)
    for i, gate in enumerate(gates):
        for expert, w in averages[gate].items():
            grid[i, experts.index(expert)] = w
    width = min(2.0 + 0.6 * len(experts), 24.0)
    figure = Figure(figsize=(width, 1.2 + 0.5 * len(gates)))
    axes = figure.subplots()
    image = axes.imshow(grid, cmap="viridis", vmin=0.0, vmax=max(1e-9, np.nanmax(grid)))
    axes.set_xticks(range(len(experts)), experts, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(gates)), gates, fontsize=8)
    for i in range(len(gates)):
        for j in range(len(experts)):
            if not np.isnan(grid[i, j]):
                axes.text(
                    j,
                    i,
                    f"{grid[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if grid[i, j] < 0.6 * np.nanmax(grid) else "black",
                )
    figure.colorbar(image, ax=axes, label="mean gate weight")
    axes.set_xlabel("expert")
    axes.set_ylabel("gate")
    if title:
        axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path
