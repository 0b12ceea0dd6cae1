from zoo.api import register
from zoo.layers.backbones.per_task_embedding_backbone import PerTaskEmbeddingBackbone
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
        # Tracked by the model as they always were, so their weights keep their paths
        # (see MultiTaskModel.__init__).
        self.task_embeddings = self.backbone.task_embeddings

    def make_backbone(self, switcher, graph_encoder):
        return PerTaskEmbeddingBackbone(
            self.backbone_features(),
            switcher,
            task_names=self.task_names,
            embedding=self.make_embedding(),
            graph_encoder=graph_encoder,
            name="backbone",
        )
