import keras

from zoo.api import register
from zoo.layers.switchers.home import HoMESwitcher
from zoo.models.switcher_model import SwitcherModel
from zoo.tasks import as_tasks


@register
class HoME(SwitcherModel):
    """Hierarchy of Multi-gate Experts: meta-category experts, then task experts, gated by branch.

    Tasks are grouped into meta-categories (`task_categories`). A first
    level of experts, globally shared and per category, gives each category
    its representation; a second level of shared, per-category and
    per-task experts gives each task its tower's input, and each task's gate
    sees only the shared experts, its category's and its own (the hierarchy
    mask). Experts are batch-normalized with Swish, each expert reads a
    feature-gated view of its input, and each output adds a self-gated
    residual of its own experts; `zoo.layers.HoMESwitcher` says how, and
    what was assumed where the paper is not explicit.

    Ablations are arguments: `feature_gate=False`, `self_gate=False`,
    `expert_batch_norm=False` with `activation="relu"` (MMoE's experts), and
    `task_categories` with every task on its own (the hierarchy then
    matches a two-level PLE).

    Args:
        task_categories: list of lists of task names, each task in exactly
            one category, e.g. `[["effective_view", "long_view"], ["like",
            "comment", "follow"]]`. `None` (the default): one category of
            all tasks. That is the choice that assumes nothing about which
            tasks are alike: the category level is then a shared level
            every task reads, and each task still has its own experts at the
            task level. (One category per task would make each level-1
            category's experts one more set of that task's own experts.)
        **kwargs: the arguments of `zoo.layers.HoMESwitcher`
            (`num_shared_experts`, 2 by default; `num_category_experts`, 2;
            `num_task_experts`, 1; `expert_units`, `[32]`; `feature_gate`,
            `feature_gate_rank`, `self_gate`, `expert_batch_norm`, `gate`,
            `gate_temperature`, `activation`, `dropout`, ...) and of
            `MultiTaskModel` (`tower_units`, `loss_weighting`, `heads`,
            ...); `zoo.models.HoME.constructor_arguments()` lists them all.

    Example:
    ```python
    model = zoo.models.HoME(
        tasks=["income", "never_married"], preprocessor=preprocessor,
        task_categories=[["income"], ["never_married"]],
        num_shared_experts=2, num_category_experts=2, num_task_experts=1,
        expert_units=[32], tower_units=[16],
    )
    model.compile()
    model.fit(raw_features, labels, epochs=5)
    ```

    References:
        Wang et al., "HoME: Hierarchy of Multi-Gate Experts for Multi-Task
        Learning at Kuaishou", 2024 (arXiv 2408.05430).
    """

    switcher_class = HoMESwitcher
    default_arguments = {
        "num_shared_experts": 2,
        "num_category_experts": 2,
        "num_task_experts": 1,
        "expert_units": [32],
    }

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        task_categories=None,
        heads=(),
        **kwargs,
    ):
        tasks = as_tasks(tasks)
        heads = [keras.layers.deserialize(h) if isinstance(h, dict) else h for h in heads]
        routing = [h.name for h in heads if getattr(h, "routes", False)]
        if routing:
            raise ValueError(
                "HoME's categories group the model's tasks, and a routing head makes branches "
                f"that are not tasks. Received: heads with routing {routing}"
            )
        names = [t.name for t in tasks]
        categories = category_names(task_categories, names)
        # The switcher knows tasks by index: the model keeps the names (and saves them).
        indices = [[names.index(name) for name in category] for category in categories]
        super().__init__(
            tasks,
            features=features,
            preprocessor=preprocessor,
            heads=heads,
            task_categories=indices,
            **kwargs,
        )
        self.task_categories = categories
        self.switcher_argument_values["task_categories"] = categories

    def _display_name(self, name):
        # "category_c" in gate and expert names: name the category by its tasks
        # ("category_click+like"), kept apart from a task of the same name.
        parts = super()._display_name(name).split("/")
        for i, part in enumerate(parts):
            if part.startswith("category_") and part[9:].isdigit():
                parts[i] = "category_" + "+".join(self.task_categories[int(part[9:])])
        return "/".join(parts)


def category_names(task_categories, task_names):
    """`task_categories` as lists of task names, checked against the model's tasks.

    Raises:
        ValueError: a name that is not a task, a task in no category or in
            two, an empty category, or not a list of lists of names.
    """
    if task_categories is None:
        return [list(task_names)]
    if isinstance(task_categories, str) or not all(
        isinstance(c, (list, tuple)) and all(isinstance(n, str) for n in c) for c in task_categories
    ):
        raise ValueError(
            'Expected task_categories to be a list of lists of task names, e.g. [["click"], '
            f'["like", "follow"]]. Received: task_categories={task_categories!r}'
        )
    categories = [list(c) for c in task_categories]
    listed = [name for category in categories for name in category]
    unknown = [name for name in dict.fromkeys(listed) if name not in task_names]
    if unknown:
        raise ValueError(
            f"task_categories names {unknown}, which are not tasks of the model: {task_names}. "
            f"Received: task_categories={task_categories}"
        )
    repeated = [name for name in dict.fromkeys(listed) if listed.count(name) > 1]
    if repeated:
        raise ValueError(
            f"Expected each task in one category; {repeated} are in more than one. "
            f"Received: task_categories={task_categories}"
        )
    missing = [name for name in task_names if name not in listed]
    if missing:
        raise ValueError(
            f"Expected each task in one category; {missing} are in none. "
            f"Received: task_categories={task_categories}"
        )
    if not categories or any(not category for category in categories):
        raise ValueError(
            f"Expected non-empty categories. Received: task_categories={task_categories}"
        )
    return categories
