import keras
from keras import ops

from zoo.api import register
from zoo.tasks import SHIFT_PURPOSE, single_output_task_names


@register
class GraphScore(keras.layers.Layer):
    """A head: the graph collaborative score of the (user, item) pair, added to tasks' logits.

    A graph encoder (NGCF's `NGCFEncoder`: id embeddings propagated over the
    user-item graph) gives the user and the item a representation each;
    their inner product is a collaborative-filtering logit, which this head
    adds to the chosen tasks' logits. On a feature model (MMoE, PLE, ...)
    it is the hybrid of the two: the towers read the features, the graph
    score what the interaction graph knows of the pair. NGCF alone is this
    score and nothing else.

    Like every graph layer of the zoo, the encoder runs on the sub-graphs
    of `inputs["graph"]` in training and on the node tables that
    `model.refresh_graph_tables(graph_inputs)` fills at serving time.

    Args:
        encoder: an `NGCFEncoder` (or its config), or any layer that maps
            the inputs to `{"user": (batch, d), "item": (batch, d)}` and keeps
            node tables the same way.
        tasks: names of the tasks whose logit gets the score, or `None` for
            every binary and regression task.
        **kwargs: base layer keyword arguments (`name`).

    Call arguments:
        logits: dict from task name to `(batch, output_units)` logits.
        inputs: dict of preprocessed features (and `"graph"` in training).
        training: bool.

    Returns:
        `logits` with the `(batch, 1)` score added to its tasks'.

    References:
        Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019.
    """

    known_at_serving = True

    def __init__(self, encoder, tasks=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = keras.layers.deserialize(encoder) if isinstance(encoder, dict) else encoder
        self.task_names = None if tasks is None else [str(name) for name in tasks]
        self.bound_tasks = None

    @property
    def feature_names(self):
        return [self.encoder.user_id_feature, self.encoder.item_id_feature]

    @property
    def graph_layer(self):
        """The layer whose node tables serving looks up (see `zoo.models.GraphTables`)."""
        return self.encoder

    def bind(self, features, tasks):
        """Checks the id features and tasks against a model's; returns `self`."""
        kinds = {f["name"]: f["kind"] for f in features}
        wrong = [name for name in self.feature_names if kinds.get(name) != "categorical"]
        if wrong:
            raise ValueError(
                f"{self.name}: {wrong} are not categorical features of the model (the graph's "
                f"user and item ids); the features are {list(kinds)}"
            )
        self.bound_tasks = single_output_task_names(
            self.task_names, tasks, self.name, SHIFT_PURPOSE
        )
        return self

    def call(self, logits, inputs, training=None):
        pair = self.encoder(inputs, training=training)
        score = pair_score(pair)
        logits = dict(logits)
        for name in self.bound_tasks:
            logits[name] = logits[name] + ops.cast(score, logits[name].dtype)
        return logits

    def get_build_config(self):
        return None

    def get_config(self):
        config = super().get_config()
        encoder = keras.layers.serialize(self.encoder)
        # The model builds it (its first call does); input shapes of a build state would
        # come back from JSON as lists, and the config would no longer equal itself.
        encoder.pop("build_config", None)
        config.update({"encoder": encoder, "tasks": self.task_names})
        return config


def pair_score(pair):
    """`(batch, 1)` inner products of `pair["user"]` and `pair["item"]`."""
    return ops.sum(pair["user"] * pair["item"], axis=-1, keepdims=True)
