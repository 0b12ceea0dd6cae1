import keras
from keras import ops

from zoo.api import register
from zoo.layers.backbones.multitask_backbone import MultiTaskBackbone
from zoo.layers.graph.pair_interaction import PairInteraction

# The pairs of MoGENet's equation (3), in order: (user representation, item representation).
INTERACTION_PAIRS = (
    ("user_bipartite", "item_bipartite"),
    ("user_bipartite", "item_similarity"),
    ("user_similarity", "item_bipartite"),
    ("user_similarity", "item_similarity"),
)


@register
class GraphInteractionBackbone(MultiTaskBackbone):
    """MoGENet's backbone: the feature embedding and four graph interactions, one per expert.

    A `MultiChannelMGNN` turns the user-item, user-user and item-item graphs
    into four representations of the pair; their four pairwise interactions
    Z = {kappa(h_u, h_i), kappa(h_u, h_i^I), kappa(h_u^U, h_i),
    kappa(h_u^U, h_i^I)} go to the switcher beside the feature embedding x
    (a `GraphEnhancedExpertsSwitcher`: each interaction rides on one
    expert, and the gates read x).

    Args:
        features, switcher, embedding: as `MultiTaskBackbone`; the switcher
            takes `(x, Z)`, Z of shape `(batch, 4, units)`.
        graph_encoder: a `zoo.layers.MultiChannelMGNN` (or its config).
        interaction: kappa, `"product"` (default), `"concat"`, `"add"` or
            `"mlp"` (see `PairInteraction`).
        kernel_regularizer: regularizer of the interactions' kernels, or
            `None`.
        **kwargs: base layer keyword arguments (`name`).
    """

    def __init__(
        self,
        features,
        switcher,
        graph_encoder,
        interaction="product",
        kernel_regularizer=None,
        **kwargs,
    ):
        if graph_encoder is None:
            raise ValueError("MoGENet needs a graph_encoder (a zoo.layers.MultiChannelMGNN).")
        super().__init__(features, switcher, graph_encoder=graph_encoder, **kwargs)
        self.interaction = interaction
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.interactions = [
            PairInteraction(
                interaction, kernel_regularizer=self.kernel_regularizer, name=f"interaction_{n}"
            )
            for n in range(len(INTERACTION_PAIRS))
        ]

    def call(self, inputs, training=None, return_gate_weights=False):
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
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
