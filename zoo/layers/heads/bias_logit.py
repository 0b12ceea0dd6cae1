import keras
from keras import ops

from zoo.api import register
from zoo.layers.features.feature_dropout import FeatureDropout
from zoo.layers.features.feature_embedding import FeatureEmbedding
from zoo.layers.towers.tower import Tower
from zoo.tasks import SHIFT_PURPOSE, single_output_task_names


@register
class BiasLogit(keras.layers.Layer):
    """A head: one logit from a few features of its own, added to chosen tasks' logits.

    Biasnet's bias tower and the YouTube ranker's shallow tower are this head
    with different inputs. Biasnet's reads a feature known at serving time
    (a user group) that the backbone sees as well; its logit shifts every
    task by what that group does. YouTube's reads selection-bias features
    (the position a result was shown at, the device) that serving cannot
    know: the backbone never sees them, training sets each value to
    "missing" at the rate `dropout`, and a call without them, the default
    serving signature's, uses the "missing" value, the same shift for every
    candidate.

    The head is bound to a model's features and tasks by the model
    (`bind`), which also checks the names.

    Args:
        features: names of the features the head reads.
        units: hidden widths of its MLP; `()` makes it linear in the
            features' embeddings.
        tasks: names of the tasks whose logit gets the head's, or `None` for
            every binary and regression task (a constant shift of every
            class would not change a softmax).
        known_at_serving: `True` (Biasnet) or `False` (selection-bias
            features, YouTube), as above.
        dropout: float in [0, 1), the rate at which training sets a value to
            "missing"; only with `known_at_serving=False`.
        **kwargs: base layer keyword arguments (`name`).

    Call arguments:
        logits: dict from task name to `(batch, output_units)` logits.
        inputs: dict of preprocessed features; with `known_at_serving=False`
            the head's features may be absent.
        training: bool.

    Returns:
        `logits` with the head's `(batch, 1)` logit added to its tasks'.

    References:
        Biasnet: the MFH paper's appendix, section 3 (../shared/papers/).
        Zhao et al., "Recommending What Video to Watch Next: A Multitask
        Ranking System", RecSys 2019 (the shallow tower).
    """

    def __init__(
        self, features, units=(), tasks=None, known_at_serving=True, dropout=0.0, **kwargs
    ):
        super().__init__(**kwargs)
        self.feature_names = [str(name) for name in features]
        if not self.feature_names:
            raise ValueError(f"{self.name}: expected at least one feature. Received: features=[]")
        self.units = [int(u) for u in units]
        self.task_names = None if tasks is None else [str(name) for name in tasks]
        self.known_at_serving = bool(known_at_serving)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(
                f"{self.name}: expected a dropout rate in [0, 1). Received: dropout={dropout}"
            )
        if dropout and self.known_at_serving:
            raise ValueError(
                f"{self.name}: dropout sets features to 'missing' so that serving can leave "
                "them out; with known_at_serving=True nothing is left out. Received: "
                f"dropout={dropout}"
            )
        self.dropout = float(dropout)
        self.bound_tasks = None

    def bind(self, features, tasks):
        """Builds the head's layers for a model's `FeatureEmbedding` features and tasks.

        Args:
            features: the model's feature list (dicts with `name`, `kind`, ...).
            tasks: the model's `zoo.tasks.Task`s.

        Raises:
            ValueError: a feature or task the model does not have, or a
                multiclass task.
        """
        names = [f["name"] for f in features]
        unknown = [name for name in self.feature_names if name not in names]
        if unknown:
            raise ValueError(
                f"{self.name}: features {unknown} are not features of the model; the features "
                f"are {names}"
            )
        self.bound_tasks = single_output_task_names(
            self.task_names, tasks, self.name, SHIFT_PURPOSE
        )
        self.features = [f for f in features if f["name"] in self.feature_names]
        # Only where it drops anything: its random state is a saved variable.
        self.feature_dropout = (
            FeatureDropout(self.dropout, name="feature_dropout")
            if not self.known_at_serving
            else None
        )
        self.embedding = FeatureEmbedding(self.features, name="embedding")
        self.tower = Tower(self.units, output_units=1, name="tower")
        return self

    def call(self, logits, inputs, training=None):
        # The batch size, from any feature tensor ("graph" holds a dict of sub-graphs).
        batch = next(ops.shape(v)[:1] for v in inputs.values() if not isinstance(v, dict))
        own = {}
        for feature in self.features:
            name = feature["name"]
            if name in inputs:
                own[name] = inputs[name]
            else:  # left out at serving: the "missing" value FeatureDropout trains
                dtype = "float32" if feature["kind"] == "numeric" else "int32"
                own[name] = ops.zeros(batch, dtype=dtype)
        if self.feature_dropout is not None:
            own = self.feature_dropout(own, training=training)
        logit = self.tower(self.embedding(own), training=training)  # (batch, 1)
        logits = dict(logits)
        for name in self.bound_tasks:
            logits[name] = logits[name] + logit
        return logits

    # The layers a head builds come from `bind`, which the model calls with its
    # features once deserialized; a saved build state would mark the head built
    # before they exist.
    def get_build_config(self):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "features": self.feature_names,
                "units": self.units,
                "tasks": self.task_names,
                "known_at_serving": self.known_at_serving,
                "dropout": self.dropout,
            }
        )
        return config
