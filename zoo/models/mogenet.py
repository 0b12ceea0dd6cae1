import keras

from zoo.api import register
from zoo.layers.backbones.graph_interaction_backbone import (
    INTERACTION_PAIRS,
    GraphInteractionBackbone,
)
from zoo.layers.gates.factory import serialize_gate
from zoo.layers.switchers.graph_enhanced_experts import GraphEnhancedExpertsSwitcher
from zoo.models.multitask_model import MultiTaskModel

# The paper's lambda = 1e-3 applies to a loss summed over batches of 256;
# the zoo's losses are batch means.
PAPER_L2 = 1e-3 / 256
__all__ = ["INTERACTION_PAIRS", "PAPER_L2", "MoGENet"]


@register
class MoGENet(MultiTaskModel):
    """Mixture of Graph Enhanced Expert Networks.

    Its backbone (`zoo.layers.GraphInteractionBackbone`) puts the four
    pairwise interactions of the user's and the item's graph representations
    on one expert each, and every task mixes [f_n(x) || Z^n] with its own
    gate (softmax) over the feature embedding x = [x_u || x_i]
    (`GraphEnhancedExpertsSwitcher`).

    The loss is the paper's equation (8): per-task cross-entropy weighted by
    learned uncertainty (`loss_weighting="uncertainty"`), plus the
    cooperative loss on the gates (`cooperative_weight`, beta), plus L2
    (`l2`, lambda) on the kernels of experts, gates, interaction MLPs and
    towers, the task parameters Theta. The paper sums its cross-entropy and
    cooperative terms over the records of a batch (256) and adds
    lambda ||Theta||^2 once; the zoo's losses are batch means. Dividing the
    whole loss by the batch size keeps beta as it is (both terms are per
    record) and turns the paper's lambda = 1e-3 into 1e-3 / 256, the
    default.

    Args:
        tasks: list of binary tasks.
        graph_encoder: a `zoo.layers.MultiChannelMGNN` (or its config).
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        interaction: kappa: `"product"` (default), `"concat"`, `"add"` or
            `"mlp"` (see `PairInteraction`).
        expert_units: list of int, each expert's hidden widths (paper [32, 32]).
        tower_units: list of int, each task's tower; `()` (the default) is
            the paper's output o^k = v^T h_k, a single linear unit.
        cooperative_weight: float >= 0, beta (paper 1e-6); 0 drops the
            cooperative loss.
        l2: float >= 0, the L2 weight on the mean loss: the paper's
            lambda = 1e-3 over its batch of 256, i.e. `PAPER_L2`.
        loss_weighting: as `MultiTaskModel`; `"uncertainty"` is the paper's.
        dropout: float, dropout in the experts.
        tower_dropout: float, dropout in the towers.
        gate: the task gates' kind: `None` for the paper's softmax gates,
            a gate name from `zoo.registry.GATES` (`"noisy-top-k"`), a config
            dict or a prototype gate layer (see `zoo.layers.gates.factory`).
        **kwargs: `MultiTaskModel` keyword arguments.

    Example:
    ```python
    graph_inputs = zoo.graphs.GraphInputs.from_dataset(dataset, preprocessor)
    model = zoo.models.MoGENet(
        tasks=dataset.tasks,
        graph_encoder=zoo.models.make_graph_encoder(graph_inputs, preprocessor),
        preprocessor=preprocessor,
    )
    model.graph_encoder.set_node_features(
        graph_inputs.user_feature_table, graph_inputs.item_feature_table
    )
    model.compile()
    model.fit(graph_inputs.attach(train_batches), epochs=5)
    model.refresh_graph_tables(graph_inputs)  # before serving or exporting
    ```

    References:
        Hu, Shen, Wu et al. (Ant Group), "Mixture of Graph Enhanced Expert
        Networks for Multi-task Recommendation", equations (3) to (8).
    """

    def __init__(
        self,
        tasks,
        graph_encoder,
        features=None,
        preprocessor=None,
        interaction="product",
        expert_units=(32, 32),
        tower_units=(),
        cooperative_weight=1e-6,
        l2=None,
        loss_weighting="uncertainty",
        dropout=0.0,
        tower_dropout=0.0,
        gate=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "mogenet")  # Keras would say "mo_ge_net"
        l2 = PAPER_L2 if l2 is None else l2
        if not l2 >= 0:
            raise ValueError(f"Expected l2 >= 0. Received: l2={l2}")
        self.interaction = interaction
        self.expert_units = [int(u) for u in expert_units]
        self.cooperative_weight = float(cooperative_weight)
        self.l2 = float(l2)
        self.dropout = dropout
        self.gate = serialize_gate(gate)
        regularizer = keras.regularizers.L2(self.l2) if self.l2 > 0 else None
        self._regularizer = regularizer
        super().__init__(
            tasks,
            GraphEnhancedExpertsSwitcher(
                len(tasks),
                num_experts=len(INTERACTION_PAIRS),
                expert_units=self.expert_units,
                cooperative_weight=self.cooperative_weight,
                dropout=dropout,
                kernel_regularizer=regularizer,
                gate=self.gate,
                name="switcher",
            ),
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            tower_dropout=tower_dropout,
            loss_weighting=loss_weighting,
            graph_encoder=graph_encoder,
            **kwargs,
        )
        # Tracked by the model as they always were, so their weights keep their paths
        # (see MultiTaskModel.__init__).
        self.interactions = self.backbone.interactions

    def make_backbone(self, switcher, graph_encoder):
        return GraphInteractionBackbone(
            self.backbone_features(),
            switcher,
            graph_encoder,
            interaction=self.interaction,
            kernel_regularizer=self._regularizer,
            embedding=self.make_embedding(),
            name="backbone",
        )

    def tower_kernel_regularizer(self):
        return self._regularizer

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "interaction": self.interaction,
                "expert_units": self.expert_units,
                "cooperative_weight": self.cooperative_weight,
                "l2": self.l2,
                "dropout": self.dropout,
                "gate": self.gate,
            }
        )
        return config
