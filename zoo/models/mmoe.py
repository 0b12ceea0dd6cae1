from zoo.api import register
from zoo.layers.switchers.mmoe import MMoESwitcher
from zoo.models.switcher_model import SwitcherModel


@register
class MMoE(SwitcherModel):
    """Multi-gate Mixture-of-Experts: shared experts, one gate per task.

    h_k = sum_i softmax(W_k x)_i f_i(x), y_k = tower_k(h_k).

    Args: those of `zoo.layers.MMoESwitcher` (`num_experts`, 8 by default;
    `expert_units`, `[32]`; `gate`, `gate_temperature`, `expert_batch_norm`,
    `dropout`, ...) and of `MultiTaskModel` (`tower_units`, `loss_weighting`,
    ...); `zoo.models.MMoE.constructor_arguments()` lists them all.

    Example:
    ```python
    model = zoo.models.MMoE(tasks=["income", "never_married"], preprocessor=preprocessor,
                            num_experts=8, expert_units=[32], tower_units=[16])
    model.compile()
    model.fit(raw_features, labels, epochs=5)
    ```

    References:
        Ma et al., "Modeling Task Relationships in Multi-task Learning with
        Multi-gate Mixture-of-Experts", KDD 2018.
    """

    switcher_class = MMoESwitcher
    fixed_arguments = {"num_gates": None}
    default_arguments = {"num_experts": 8, "expert_units": (32,)}


@register
class OMoE(MMoE):
    """One-gate Mixture-of-Experts: the experts of MMoE under a single gate.

    h = sum_i softmax(W x)_i f_i(x) is shared by every task's tower; the MMoE
    paper's baseline for what a per-task gate adds. Arguments as `MMoE`.
    """

    fixed_arguments = {"num_gates": 1}
