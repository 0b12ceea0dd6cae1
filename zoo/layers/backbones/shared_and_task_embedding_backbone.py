import keras
from keras import ops

from zoo.api import register
from zoo.layers.backbones.multitask_backbone import MultiTaskBackbone
from zoo.layers.features.feature_embedding import FeatureEmbedding


@register
class SharedAndTaskEmbeddingBackbone(MultiTaskBackbone):
    """STEM's backbone: one set of embedding tables per task, and one shared set.

    Every task embeds the features with tables of its own (`embedding_<task>`)
    and the backbone's `embedding` is the shared set; the switcher (a
    `STEMSwitcher`) gets the K task embeddings, then the shared one, and
    decides which experts and gates read which. A graph encoder, when there
    is one, is shared: its representations are appended to every embedding.
    `shared_representation` (what an output head such as DLEN's reads) is
    the shared embedding.

    The task tables are made as the shared ones are (the same initializer
    and regularizer, when `embedding` is a `FeatureEmbedding`), with every
    embedded feature `task_embedding_dim` wide when that is given.

    Args:
        features, switcher, embedding, graph_encoder: as
            `MultiTaskBackbone`; the switcher takes K + 1 inputs, the task
            embeddings in task order, then the shared embedding.
        task_names: names of the tasks, in the switcher's order, which name
            their embeddings (`embedding_<task>`); `task_<k>` by default.
        task_embedding_dim: int, the width of every feature's embedding in
            the task tables, or `None` for each feature's own width (that of
            the shared tables, as in the STEM paper).
        **kwargs: base layer keyword arguments (`name`).

    Call arguments:
        inputs: dict of preprocessed features (and `"graph"` with a graph
            encoder).
        training: bool.
        return_gate_weights: bool; also return the switcher's gate weights.

    Returns:
        The switcher's list of per-task `(batch, units)` representations,
        and with `return_gate_weights` a dict from gate name to weights.

    Example:
    ```python
    backbone = zoo.layers.SharedAndTaskEmbeddingBackbone(
        preprocessor.embedding_features(),
        zoo.layers.STEMSwitcher(2, num_task_experts=1, num_shared_experts=2, expert_units=[16]),
        task_names=["income", "never_married"],
    )
    h_income, h_marital = backbone(preprocessor(raw_rows))
    ```

    References:
        Su et al., "STEM: Unleashing the Power of Embeddings for Multi-task
        Recommendation", AAAI 2024 (arXiv:2308.13537): the Shared and
        Task-specific EMbeddings paradigm.
    """

    def __init__(self, features, switcher, task_names=None, task_embedding_dim=None, **kwargs):
        super().__init__(features, switcher, **kwargs)
        num_tasks = self.switcher.num_tasks
        names = list(task_names or [f"task_{k}" for k in range(num_tasks)])
        if len(names) != num_tasks:
            raise ValueError(
                f"Expected one task name per switcher output ({num_tasks}). "
                f"Received: task_names={names}"
            )
        if task_embedding_dim is not None and int(task_embedding_dim) < 1:
            raise ValueError(
                f"Expected task_embedding_dim >= 1 or None. "
                f"Received: task_embedding_dim={task_embedding_dim}"
            )
        self.task_names = names
        self.task_embedding_dim = None if task_embedding_dim is None else int(task_embedding_dim)
        self.task_embeddings = [
            FeatureEmbedding(
                self.task_features(), name=f"embedding_{name}", **self._table_options()
            )
            for name in self.task_names
        ]

    def task_features(self):
        """The feature list of every task's tables: the shared one, `task_embedding_dim` wide."""
        if self.task_embedding_dim is None:
            return self.features
        return [
            f if f["kind"] == "numeric" else dict(f, output_dim=self.task_embedding_dim)
            for f in self.features
        ]

    def _table_options(self):
        if not isinstance(self.embedding, FeatureEmbedding):
            return {}
        return {
            "embeddings_initializer": keras.initializers.serialize(
                self.embedding.embeddings_initializer
            ),
            "embeddings_regularizer": keras.regularizers.serialize(
                self.embedding.embeddings_regularizer
            ),
        }

    def call(self, inputs, training=None, return_gate_weights=False):
        embeddings = [embed(inputs) for embed in self.task_embeddings]  # K x (batch, task_dim)
        embeddings.append(self.embedding(inputs))  # + (batch, shared_dim)
        graph = self.graph_vector(inputs, training=training)
        if graph is not None:
            embeddings = [ops.concatenate([x, graph], axis=-1) for x in embeddings]
        return self.switcher(embeddings, training=training, return_gate_weights=return_gate_weights)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"task_names": self.task_names, "task_embedding_dim": self.task_embedding_dim}
        )
        return config
