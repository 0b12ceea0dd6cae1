from zoo.api import register
from zoo.layers.backbones.shared_and_task_embedding_backbone import (
    SharedAndTaskEmbeddingBackbone,
)
from zoo.layers.switchers.stem import STEMSwitcher
from zoo.models.ple import EXPERT_DEFAULTS
from zoo.models.switcher_model import SwitcherModel


@register
class STEM(SwitcherModel):
    """STEM-Net: shared and task-specific embeddings, experts and AFTB gates.

    Each task has embedding tables of its own beside one shared set; task
    experts read their task's embedding, shared experts the shared one, and
    task t's gate mixes every expert while only its own and the shared ones
    (and their embeddings) learn from task t's loss (see
    `zoo.layers.STEMSwitcher` for the formula and its stop-gradients).

    The expert sizes default to the zoo's CGC and PLE ones, so the three
    compare like for like; the authors' configuration for TikTok is
    `num_task_experts=1, num_shared_experts=8, expert_units=[512, 512, 512]`
    with 16-wide embeddings and `tower_units=[128, 64]`.

    Args:
        task_embedding_dim: int, the width of every feature's embedding in
            the task tables, or `None` for the shared tables' widths, as in
            the paper. With another width, give `gate_input="concat"`.
        **kwargs: those of `zoo.layers.STEMSwitcher` (`num_task_experts`, 2
            by default; `num_shared_experts`, 4; `expert_units`, `[32]`;
            `gate_input`, `gate`, `gate_temperature`, `expert_batch_norm`,
            `dropout`, ...) and of `MultiTaskModel` (`tower_units`, ...).

    Example:
    ```python
    model = zoo.models.STEM(tasks=["income", "never_married"], preprocessor=preprocessor,
                            num_task_experts=1, num_shared_experts=2, expert_units=[32])
    model.compile()
    model.fit(raw_features, labels, epochs=5)
    ```

    References:
        Su, Pan, Wang, Xiao, Quan, Chen, Jiang, "STEM: Unleashing the Power
        of Embeddings for Multi-task Recommendation", AAAI 2024
        (arXiv:2308.13537).
    """

    switcher_class = STEMSwitcher
    default_arguments = EXPERT_DEFAULTS

    def __init__(self, tasks, features=None, preprocessor=None, task_embedding_dim=None, **kwargs):
        # Read by make_backbone, which the base constructor calls.
        self.task_embedding_dim = None if task_embedding_dim is None else int(task_embedding_dim)
        super().__init__(tasks, features=features, preprocessor=preprocessor, **kwargs)
        # The model tracks the backbone's parts, not the backbone (see
        # MultiTaskModel.__init__): without this the task tables would not be its weights.
        self.task_embeddings = self.backbone.task_embeddings
        task_dim = self.task_embeddings[0].output_dim
        shared_dim = self.backbone.embedding.output_dim
        if self.switcher.gate_input == "sum" and task_dim != shared_dim:
            raise ValueError(
                'gate_input="sum" adds each task\'s embedding to the shared one, so expected '
                "them of one width; give gate_input='concat' with task_embedding_dim. Received: "
                f"task_embedding_dim={task_embedding_dim}: task embeddings {task_dim} wide, "
                f"the shared one {shared_dim}"
            )

    def make_backbone(self, switcher, graph_encoder):
        return SharedAndTaskEmbeddingBackbone(
            self.backbone_features(),
            switcher,
            # One set of tables per switcher branch: per task, or per routed branch (MFH's).
            task_names=self.branch_names(),
            task_embedding_dim=self.task_embedding_dim,
            embedding=self.make_embedding(),
            graph_encoder=graph_encoder,
            name="backbone",
        )

    def get_config(self):
        config = super().get_config()
        config["task_embedding_dim"] = self.task_embedding_dim
        return config
