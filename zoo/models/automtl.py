import json

from zoo.api import register
from zoo.layers.features.field_embedding import FieldEmbedding
from zoo.layers.gates.factory import serialize_gate
from zoo.layers.search.candidates import parse_candidate
from zoo.layers.switchers.searched_experts import SearchedExpertsSwitcher
from zoo.models.multitask_model import MultiTaskModel, resolve_features

ARCHITECTURE_KEYS = ("field_dim", "expert_width", "interaction", "experts", "task_experts")


def check_architecture(architecture, task_names, source="architecture"):
    """Raises a ValueError naming `source` and the bad entry if `architecture` cannot be built."""
    if not isinstance(architecture, dict):
        raise ValueError(f"{source}: expected a JSON object. Received: {type(architecture)}")
    missing = [k for k in ARCHITECTURE_KEYS if k not in architecture]
    if missing:
        raise ValueError(f"{source}: missing {missing}; an architecture has {ARCHITECTURE_KEYS}")
    try:
        if architecture["interaction"] is not None:
            parse_candidate(architecture["interaction"])
        for blocks in architecture["experts"]:
            for op in blocks:
                parse_candidate(op)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    task_experts = architecture["task_experts"]
    if not isinstance(task_experts, dict) or sorted(task_experts) != sorted(task_names):
        raise ValueError(
            f"{source}: task_experts names tasks {sorted(task_experts)}, and the model's tasks "
            f"are {sorted(task_names)}"
        )


def load_architecture(path):
    """An architecture dict from a JSON file written by `zoo search` (errors name the file)."""
    try:
        with open(path) as f:
            architecture = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"architecture file {path}: {error}") from None
    # The tasks are checked against the dataset's when the model is built; a
    # hand-written file may leave "tasks" out.
    names = []
    if isinstance(architecture, dict):
        tasks = architecture.get("tasks") or list(architecture.get("task_experts") or {})
        names = [t["name"] if isinstance(t, dict) else t for t in tasks]
    check_architecture(architecture, names, source=f"architecture file {path}")
    return architecture


@register
class AutoMTL(MultiTaskModel):
    """An architecture found by AutoMTL's search, retrained as an ordinary model.

    The chosen feature-interaction operation, the experts with their chosen
    operations, and per task a gate (softmax) over the experts it selected
    (`zoo.layers.SearchedExpertsSwitcher`), then towers. Trains, saves and
    exports like any zoo model.

    Args:
        tasks: list of tasks.
        architecture: the dict `AutoMTLSupernet.derive()` returns (or the
            contents of the file `zoo search` writes): `field_dim`,
            `expert_width`, `interaction`, `experts` (per expert, its
            operations bottom to top) and `task_experts` (task name ->
            expert indices). Other keys (the search's weights, provenance)
            are kept but not used.
        features: `FeatureEmbedding` feature list, or `None` with a preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        tower_units: task tower widths; defaults to the architecture's
            `tower_units`, else the paper's (128, 64).
        gate: the task gates' kind: `None` for softmax gates, a gate name
            from `zoo.registry.GATES` (`"noisy-top-k"`), a config dict or a
            prototype gate layer (see `zoo.layers.gates.factory`).
        **kwargs: `MultiTaskModel` keyword arguments.

    Example:
    ```python
    supernet = zoo.models.AutoMTLSupernet(tasks, preprocessor=preprocessor)
    zoo.search.search_automtl(supernet, dataset, zoo.search.SearchConfig(epochs=2))
    model = zoo.models.AutoMTL(tasks, supernet.derive(num_selected=6),
                               preprocessor=preprocessor)
    ```

    References:
        "AutoMTL: Automatic Multi-Task Learning Framework with Neural
        Architecture Search for Recommender Systems", Algorithm 1, line 12.
    """

    def __init__(
        self,
        tasks,
        architecture,
        features=None,
        preprocessor=None,
        tower_units=None,
        gate=None,
        **kwargs,
    ):
        # Needed before the base class: the switcher is built for this many fields.
        features = resolve_features(features, preprocessor)
        names = [t if isinstance(t, str) else getattr(t, "name", None) or t["name"] for t in tasks]
        check_architecture(architecture, names)
        self.architecture = dict(architecture)
        self.field_dim = int(architecture["field_dim"])
        self.gate = serialize_gate(gate)
        switcher = SearchedExpertsSwitcher(
            len(tasks),
            num_fields=len(features),
            field_dim=self.field_dim,
            interaction=architecture["interaction"],
            experts=architecture["experts"],
            task_experts=[architecture["task_experts"][name] for name in names],
            expert_width=architecture["expert_width"],
            gate=self.gate,
            name="switcher",
        )
        if tower_units is None:
            tower_units = architecture.get("tower_units", (128, 64))
        super().__init__(
            tasks,
            switcher,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            **kwargs,
        )

    supports_graph_encoder = False  # the fields stay apart (FieldEmbedding)

    def make_embedding(self):
        return FieldEmbedding(self.backbone_features(), self.field_dim, name="embedding")

    def get_config(self):
        config = super().get_config()
        config["architecture"] = self.architecture
        config["gate"] = self.gate
        return config
