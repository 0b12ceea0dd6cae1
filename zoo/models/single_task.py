from keras import ops

from zoo.api import register
from zoo.layers.features.feature_embedding import FeatureEmbedding
from zoo.layers.switchers.independent import IndependentSwitcher
from zoo.models.multitask_model import MultiTaskModel


@register
class SingleTask(MultiTaskModel):
    """The no-sharing baseline: one MLP per task, with its own embeddings.

    Nothing is shared between tasks, not even the embedding tables, so each
    task trains exactly as a separate single-task model would; they only run
    in one `fit` call.

    Args:
        tasks: list of tasks.
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        hidden_units: list of int, widths of each task's MLP.
        tower_units: list of int, widths of each task's tower on top.
        dropout: float, dropout in the MLPs.
        tower_dropout: float, dropout in the towers.
        **kwargs: `keras.Model` keyword arguments.

    Example:
    ```python
    model = zoo.models.SingleTask(tasks=["income", "never_married"],
                                  preprocessor=preprocessor, hidden_units=[256])
    ```
    """

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        hidden_units=(256,),
        tower_units=(16,),
        dropout=0.0,
        tower_dropout=0.0,
        **kwargs,
    ):
        self.hidden_units = [int(u) for u in hidden_units]
        self.dropout = dropout
        num_tasks = len(tasks)
        super().__init__(
            tasks,
            IndependentSwitcher(num_tasks, self.hidden_units, dropout=dropout, name="switcher"),
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            tower_dropout=tower_dropout,
            **kwargs,
        )
        self.task_embeddings = [
            FeatureEmbedding(self.backbone_features(), name=f"embedding_{t.name}")
            for t in self.tasks
        ]

    def task_representations(self, inputs, training=None, return_gate_weights=False):
        per_task_x = [embed(inputs) for embed in self.task_embeddings]  # K x (batch, input_dim)
        graph = self.graph_vector(inputs, training=training)  # shared by the tasks ("MLP+MGNN")
        if graph is not None:
            per_task_x = [ops.concatenate([x, graph], axis=-1) for x in per_task_x]
        return self.switcher(per_task_x, training=training, return_gate_weights=return_gate_weights)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_units": self.hidden_units, "dropout": self.dropout})
        return config
