from keras import ops

from zoo.api import register
from zoo.layers.backbones.multitask_backbone import MultiTaskBackbone
from zoo.layers.features.feature_embedding import FeatureEmbedding


@register
class PerTaskEmbeddingBackbone(MultiTaskBackbone):
    """A backbone whose tasks share nothing, not even the embedding tables.

    Each task embeds the features with tables of its own and its own branch
    of the switcher (an `IndependentSwitcher`) reads that embedding: the
    single-task baseline, every task trained as a separate model would be.
    A graph encoder, when there is one, is shared ("MLP+MGNN").
    `shared_representation` (what an output head such as DLEN's reads) is
    the backbone's own embedding of the features, used by nothing else.

    Args:
        features, switcher, embedding, graph_encoder: as
            `MultiTaskBackbone`; the switcher takes one input per task.
        task_names: names of the tasks, in the switcher's order, which name
            their embeddings (`embedding_<task>`); `task_<k>` by default.
        **kwargs: base layer keyword arguments (`name`).
    """

    def __init__(self, features, switcher, task_names=None, **kwargs):
        super().__init__(features, switcher, **kwargs)
        names = task_names or [f"task_{k}" for k in range(self.switcher.num_tasks)]
        self.task_names = list(names)
        self.task_embeddings = [
            FeatureEmbedding(self.features, name=f"embedding_{name}") for name in self.task_names
        ]

    def call(self, inputs, training=None, return_gate_weights=False):
        per_task_x = [embed(inputs) for embed in self.task_embeddings]  # K x (batch, input_dim)
        graph = self.graph_vector(inputs, training=training)
        if graph is not None:
            per_task_x = [ops.concatenate([x, graph], axis=-1) for x in per_task_x]
        return self.switcher(per_task_x, training=training, return_gate_weights=return_gate_weights)

    def get_config(self):
        config = super().get_config()
        config["task_names"] = self.task_names
        return config
