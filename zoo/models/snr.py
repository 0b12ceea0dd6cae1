from zoo.api import register
from zoo.layers.switchers.snr import SNRAverSwitcher, SNRTransSwitcher
from zoo.models.switcher_model import SwitcherModel


@register
class SNRTrans(SwitcherModel):
    """Sub-Network Routing with transformations: gated W_ij between sub-networks.

    v_j = sum_i z_ij W_ij u_i between consecutive layers of sub-networks and
    from the top layer to the tasks, y_k = tower_k(v_k); the coding
    variables z are hard-concrete, pruned by an L0 penalty in training (see
    `zoo.layers.SNRTransSwitcher`).

    Args: those of `zoo.layers.SNRTransSwitcher` (`num_layers`, 2 by default;
    `num_experts`, 4; `expert_units`, 32 or one width per layer;
    `l0_strength`, 1e-4; `dropout`, ...: the MoGENet paper's SNR-trans
    baseline) and of `MultiTaskModel` (`tower_units`, `loss_weighting`, ...).

    Example:
    ```python
    model = zoo.models.SNRTrans(tasks=["income", "never_married"],
                                preprocessor=preprocessor, num_experts=4)
    model.compile()
    model.fit(raw_features, labels, epochs=5)
    model.switcher.coding_variables()  # which connections stayed open
    ```

    References:
        Ma et al., "SNR: Sub-Network Routing for Flexible Parameter Sharing
        in Multi-task Learning", AAAI 2019.
    """

    switcher_class = SNRTransSwitcher
    # The MoGENet paper's SNR baselines: 2 layers of 4 sub-networks, 32 wide.
    default_arguments = {"num_layers": 2, "num_experts": 4, "expert_units": 32, "l0_strength": 1e-4}


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
