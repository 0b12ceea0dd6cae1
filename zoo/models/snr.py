from zoo.api import register
from zoo.layers.switchers.snr import SNRAverSwitcher, SNRTransSwitcher
from zoo.models.multitask_model import MultiTaskModel


@register
class SNRTrans(MultiTaskModel):
    """Sub-Network Routing with transformations: gated W_ij between sub-networks.

    v_j = sum_i z_ij W_ij u_i between consecutive layers of sub-networks and
    from the top layer to the tasks, y_k = tower_k(v_k); the coding
    variables z are hard-concrete, pruned by an L0 penalty in training (see
    `zoo.layers.SNRTransSwitcher`).

    Args:
        tasks: list of tasks.
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        num_layers: int, the layers of sub-networks.
        num_experts: int, sub-networks per layer.
        expert_units: int, the width of every sub-network, or a list of
            `num_layers` widths, one per layer. The defaults (2 layers of 4
            sub-networks, 32 wide) are the MoGENet paper's SNR-trans
            baseline.
        l0_strength: float >= 0, weight of the L0 penalty on the open
            connections.
        tower_units: list of int, widths of each task's tower.
        dropout: float, dropout inside the sub-networks.
        tower_dropout: float, dropout in the towers.
        **kwargs: `keras.Model` keyword arguments, e.g. `loss_weighting`.

    Example:
    ```python
    model = zoo.models.SNRTrans(tasks=["income", "never_married"],
                                preprocessor=preprocessor, num_experts=4)
    model.compile()
    model.fit(train_ds, validation_data=val_ds, epochs=5)
    model.switcher.coding_variables()  # which connections stayed open
    ```

    References:
        Ma et al., "SNR: Sub-Network Routing for Flexible Parameter Sharing
        in Multi-task Learning", AAAI 2019.
    """

    switcher_class = SNRTransSwitcher

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        num_layers=2,
        num_experts=4,
        expert_units=32,
        l0_strength=1e-4,
        tower_units=(16,),
        dropout=0.0,
        tower_dropout=0.0,
        **kwargs,
    ):
        switcher = self.switcher_class(
            len(tasks),
            num_layers=num_layers,
            num_experts=num_experts,
            expert_units=expert_units,
            l0_strength=l0_strength,
            dropout=dropout,
            name="switcher",
        )
        self.num_layers = switcher.num_layers
        self.num_experts = switcher.num_experts
        self.expert_units = switcher.expert_units
        self.l0_strength = switcher.l0_strength
        self.dropout = dropout
        super().__init__(
            tasks,
            switcher,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            tower_dropout=tower_dropout,
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "num_experts": self.num_experts,
                "expert_units": self.expert_units,
                "l0_strength": self.l0_strength,
                "dropout": self.dropout,
            }
        )
        return config


@register
class SNRAver(SNRTrans):
    """Sub-Network Routing with weighted averages: gated identity connections.

    v_j = sum_i z_ij u_i feeds sub-network j's own dense layer, and task k's
    tower reads sum_i z_ik u_i of the top layer (see
    `zoo.layers.SNRAverSwitcher`). Arguments as `SNRTrans`.

    References:
        Ma et al., "SNR: Sub-Network Routing for Flexible Parameter Sharing
        in Multi-task Learning", AAAI 2019.
    """

    switcher_class = SNRAverSwitcher
