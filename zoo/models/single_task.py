from keras import ops

from zoo.api import register
from zoo.layers.features.feature_embedding import FeatureEmbedding
from zoo.layers.switchers.independent import IndependentSwitcher
from zoo.models.switcher_model import SwitcherModel


@register
class SingleTask(SwitcherModel):
    """The no-sharing baseline: one MLP per task, with its own embeddings.

    Nothing is shared between tasks, not even the embedding tables, so each
    task trains exactly as a separate single-task model would; they only run
    in one `fit` call.

    Args: `hidden_units` (each task's MLP, `[256]` by default), the other
    arguments of `zoo.layers.IndependentSwitcher` (`dropout`, ...) and those
    of `MultiTaskModel`.

    Example:
    ```python
    model = zoo.models.SingleTask(tasks=["income", "never_married"],
                                  preprocessor=preprocessor, hidden_units=[256])
    ```
    """

    switcher_class = IndependentSwitcher
    renamed_arguments = {"hidden_units": "units"}
    default_arguments = {"hidden_units": (256,)}

    def __init__(self, tasks, features=None, preprocessor=None, **kwargs):
        super().__init__(tasks, features=features, preprocessor=preprocessor, **kwargs)
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
