import keras
from keras import ops

from zoo.api import register
from zoo.layers.gates.factory import serialize_gate
from zoo.layers.graph.pair_interaction import PairInteraction
from zoo.layers.switchers.graph_enhanced_experts import GraphEnhancedExpertsSwitcher
from zoo.models.multitask_model import MultiTaskModel

# The paper's lambda = 1e-3 applies to a loss summed over batches of 256;
# the zoo's losses are batch means.
PAPER_L2 = 1e-3 / 256
# The pairs of equation (3), in order: (user representation, item representation).
INTERACTION_PAIRS = (
    ("user_bipartite", "item_bipartite"),
    ("user_bipartite", "item_similarity"),
    ("user_similarity", "item_bipartite"),
    ("user_similarity", "item_similarity"),
)


@register
class MoGENet(MultiTaskModel):
    """Mixture of Graph Enhanced Expert Networks.

    A `MultiChannelMGNN` turns the user-item, user-user and item-item graphs
    into four representations of the pair; their four pairwise interactions
    Z = {kappa(h_u, h_i), kappa(h_u, h_i^I), kappa(h_u^U, h_i),
    kappa(h_u^U, h_i^I)} each ride on one expert, and every task mixes
    [f_n(x) || Z^n] with its own gate (softmax) over x = [x_u || x_i]
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
        Wang et al., "Mixture of Graph Enhanced Expert Networks for
        Multi-task Recommendation", equations (3) to (8).
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
        if graph_encoder is None:
            raise ValueError("MoGENet needs a graph_encoder (a zoo.layers.MultiChannelMGNN).")
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
        self.interactions = [
            PairInteraction(interaction, kernel_regularizer=regularizer, name=f"interaction_{n}")
            for n in range(len(INTERACTION_PAIRS))
        ]

    def tower_kernel_regularizer(self):
        return self._regularizer

    def task_representations(self, inputs, training=None, return_gate_weights=False):
        x = self.embedding(inputs)  # (batch, input_dim): [x_u || x_i]
        graph = self.graph_encoder(inputs, training=training)  # 4 x (batch, units)
        z = ops.stack(
            [
                interact((graph[user], graph[item]))
                for interact, (user, item) in zip(self.interactions, INTERACTION_PAIRS)
            ],
            axis=1,
        )  # (batch, 4, z_dim)
        return self.switcher((x, z), training=training, return_gate_weights=return_gate_weights)

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
