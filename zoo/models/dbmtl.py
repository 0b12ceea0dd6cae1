from zoo.api import register
from zoo.layers.switchers.task_relation import TaskRelationSwitcher
from zoo.models.switcher_model import SwitcherModel
from zoo.tasks import as_tasks


@register
class DBMTL(SwitcherModel):
    """Deep Bayesian Multi-Target Learning: each task conditioned on the tasks it follows.

    A shared bottom (an MLP, or MMoE experts over it with `num_experts`),
    a tower per task, then a relation MLP per task over its tower's output
    and the relation outputs of the earlier tasks it depends on
    (`zoo.layers.TaskRelationSwitcher`), then a linear logit. The default
    relations are a chain, each task depending on the one before, as the
    paper's factorisation P(t_1 | x) P(t_2 | t_1, x) ... of the targets'
    joint probability. As EasyRec ships it (the authors' framework).

    The defaults are smaller than EasyRec's sample configuration (bottom
    [1024, 512, 256], towers [256, 128, 64, 32], relations [32]), in line
    with the zoo's other models on its datasets.

    Args:
        tasks: list of `zoo.tasks.Task` (or config dicts, or names of binary
            tasks), in the order of the factorisation.
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        relations: dict from task name to the list of names of the earlier
            tasks it depends on (`{"buy": ["click", "cart"]}`); a task left
            out depends on none. `None` for the chain, each task on the one
            before. A task may depend only on tasks before it in `tasks`.
        tower_units: hidden widths of the layer from each relation output to
            the logit; none by default (EasyRec's output layer).
        **kwargs: the switcher's arguments (`bottom_units`, `task_units`,
            `relation_units`, `num_experts`, `expert_units`, `gate`,
            `dropout`, ...) and `MultiTaskModel`'s.

    Example:
    ```python
    model = zoo.models.DBMTL(
        tasks=["click", "cart", "buy"], preprocessor=preprocessor,
        relations={"cart": ["click"], "buy": ["click", "cart"]},
    )
    ```

    References:
        Ji et al., "DBMTL: Deep Bayesian Multi-Target Learning for
        Recommender Systems", arXiv 1902.09154; EasyRec's
        `easy_rec/python/model/dbmtl.py`.
    """

    switcher_class = TaskRelationSwitcher
    default_arguments = {
        "bottom_units": (256, 128),
        "task_units": (64, 32),
        "relation_units": (32,),
    }

    def __init__(
        self, tasks, features=None, preprocessor=None, relations=None, tower_units=(), **kwargs
    ):
        tasks = as_tasks(tasks)
        names = [t.name for t in tasks]
        by_name = task_relations(relations, names)
        super().__init__(
            tasks,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            relations=None
            if by_name is None
            else [[names.index(p) for p in by_name[n]] for n in names],
            **kwargs,
        )
        # By name, as given (the switcher holds the indices).
        self.relations = by_name

    def get_config(self):
        config = super().get_config()
        config["relations"] = self.relations
        return config


def task_relations(relations, names):
    """`relations` checked, as a dict from every task name (in order) to its parents' names.

    Raises:
        ValueError: a name that is not a task, or a task that depends on
            itself or on a task after it.
    """
    if relations is None:
        return None
    if not isinstance(relations, dict):
        raise ValueError(
            "Expected relations as a dict from task name to the earlier tasks it depends on. "
            f"Received: relations={relations!r}"
        )
    not_lists = {name: p for name, p in relations.items() if not isinstance(p, (list, tuple))}
    if not_lists:
        raise ValueError(
            f"Expected a list of task names for each task in relations. Received: {not_lists}"
        )
    named = set(relations) | {p for parents in relations.values() for p in parents}
    unknown = sorted(named - set(names))
    if unknown:
        raise ValueError(
            f"relations names {unknown}, which are not tasks of the model; its tasks are {names}"
        )
    by_name = {}
    for position, name in enumerate(names):
        parents = [str(p) for p in relations.get(name, [])]
        late = [p for p in parents if names.index(p) >= position]
        if late:
            raise ValueError(
                f"Task {name!r} depends on {late}, which are not before it in the tasks {names} "
                "(itself is a cycle; a later task, a forward reference). Expected relations "
                f"naming only earlier tasks. Received: relations={relations}"
            )
        if len(set(parents)) != len(parents):
            raise ValueError(
                f"Expected each task at most once in relations[{name!r}]. "
                f"Received: relations={relations}"
            )
        by_name[name] = parents
    return by_name
