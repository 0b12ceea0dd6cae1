"""Pictures of a derived AutoMTL architecture (the paper's Figures 3 and 6)."""

import numpy as np

# One colour per kind of operation, so that a glance shows which kinds a search chose.
_COLOURS = {
    "mlp": "#8ecae6",
    "conv1d": "#ffb703",
    "bit-gate": "#90be6d",
    "cross": "#f4a261",
    "attention": "#cdb4db",
    "inner-product": "#e76f51",
    "outer-product": "#e76f51",
    "skip": "#e9ecef",
}


def _colour(op):
    base = op.rsplit("-", 1)[0] if op.rsplit("-", 1)[-1].isdigit() else op
    return _COLOURS.get(base, "#dddddd")


def _figure(figsize):
    """A figure outside pyplot, with its axes: writing a PNG changes no backend.

    `matplotlib.use("Agg")` here used to switch a notebook's inline backend
    off, so the notebook's own plots after these pictures never showed.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    return figure, figure.subplots()


def plot_architecture(architecture, path, title=""):
    """Draws the derived architecture: interaction block, experts' operations, task links.

    Bottom to top, as the paper's Figure 6: the chosen interaction
    operation; each expert as a column of its chosen operations ("skip"
    drawn faint: the block fell away); each task at the top, with a line to
    every expert it selected, thicker where its selection weight is larger.

    Args:
        architecture: the dict `AutoMTLSupernet.derive()` returns.
        path: PNG file to write.
        title: figure title.

    Returns:
        `path`.
    """
    from matplotlib.patches import Rectangle

    experts = architecture["experts"]
    tasks = list(architecture["task_experts"])
    selection = (architecture.get("search_weights") or {}).get("selection") or {}
    num_experts = len(experts)
    depth = max((len(ops) for ops in experts), default=0)
    figure, axes = _figure((max(6.0, 1.3 * num_experts + 1), 2.2 + 0.8 * depth))
    box_w, box_h = 0.86, 0.55
    top = depth + 1.6

    def box(x, y, text, colour, faint=False):
        axes.add_patch(
            Rectangle(
                (x - box_w / 2, y - box_h / 2),
                box_w,
                box_h,
                facecolor=colour,
                edgecolor="#adb5bd" if faint else "#343a40",
                alpha=0.45 if faint else 1.0,
                linestyle="--" if faint else "-",
            )
        )
        axes.text(x, y, text, ha="center", va="center", fontsize=7, alpha=0.6 if faint else 1)

    centre = (num_experts - 1) / 2
    interaction = architecture.get("interaction") or "none"
    axes.add_patch(
        Rectangle(
            (-0.5, -0.3), num_experts, box_h, facecolor=_colour(interaction), edgecolor="#343a40"
        )
    )
    axes.text(centre, -0.3 + box_h / 2, f"feature interaction: {interaction}", ha="center",
              va="center", fontsize=8)  # fmt: skip
    for i, ops in enumerate(experts):
        for j, op in enumerate(ops):
            box(i, 1 + j * 0.8, op, _colour(op), faint=op == "skip")
        axes.text(i, 1 + depth * 0.8 - 0.2, f"expert {i}", ha="center", fontsize=7)
    task_x = np.linspace(0, num_experts - 1, len(tasks)) if len(tasks) > 1 else [centre]
    for x, task in zip(task_x, tasks):
        axes.text(x, top, task, ha="center", va="center", fontsize=9, weight="bold",
                  bbox={"facecolor": "white", "edgecolor": "#343a40"})  # fmt: skip
        weights = selection.get(task)
        for i in architecture["task_experts"][task]:
            width = 0.6 + (8 * weights[i] if weights else 1.0)
            axes.plot([i, x], [1 + depth * 0.8, top - 0.2], color="#495057", linewidth=width,
                      alpha=0.6)  # fmt: skip
    axes.set_xlim(-0.8, num_experts - 0.2)
    axes.set_ylim(-0.6, top + 0.5)
    axes.axis("off")
    if title:
        axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path


def plot_expert_selection(architecture, path, title=""):
    """Heat map of softmax(beta): tasks x experts, selected experts outlined (Figure 3).

    Args:
        architecture: the dict `AutoMTLSupernet.derive()` returns; needs the
            search's selection weights (absent without expert selection).
        path: PNG file to write.
        title: figure title.

    Returns:
        `path`.
    """
    selection = (architecture.get("search_weights") or {}).get("selection")
    if not selection:
        raise ValueError(
            "The architecture has no expert-selection weights (searched without expert "
            "selection?); there is no heat map to draw."
        )
    from matplotlib.patches import Rectangle

    tasks = list(selection)
    grid = np.array([selection[t] for t in tasks])
    figure, axes = _figure((1.6 + 0.7 * grid.shape[1], 1.2 + 0.55 * len(tasks)))
    # The colour range is the weights' own: after a short search they stay
    # near 1/N, and a scale from 0 would paint every cell the same.
    low, high = float(grid.min()), max(float(grid.max()), float(grid.min()) + 1e-6)
    image = axes.imshow(grid, cmap="viridis", vmin=low, vmax=high)
    for k, task in enumerate(tasks):
        for i in range(grid.shape[1]):
            axes.text(i, k, f"{grid[k, i]:.3f}", ha="center", va="center", fontsize=7,
                      color="white" if grid[k, i] < (low + high) / 2 else "black")  # fmt: skip
        for i in architecture["task_experts"][task]:
            axes.add_patch(
                Rectangle((i - 0.5, k - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5)
            )
    axes.set_xticks(range(grid.shape[1]), [f"expert {i}" for i in range(grid.shape[1])],
                    rotation=45, ha="right", fontsize=8)  # fmt: skip
    axes.set_yticks(range(len(tasks)), tasks, fontsize=8)
    figure.colorbar(image, ax=axes, label="softmax(beta)")
    axes.set_title(title + ("\n" if title else "") + "selected experts outlined", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path
