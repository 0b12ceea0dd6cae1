from zoo.api import register
from zoo.layers.switchers.cross_stitch import CrossStitchSwitcher
from zoo.models.switcher_model import SwitcherModel


@register
class CrossStitch(SwitcherModel):
    """Cross-stitch network: one MLP column per task, mixed after every layer.

    h~_k = sum_j alpha_l[k, j] h_j after layer l of the columns, y_k = tower_k(h_k).

    Args: those of `zoo.layers.CrossStitchSwitcher` (`units`, each task's
    column, `[32, 32]` by default as the MoGENet paper's Cross-Stitch
    baseline; `self_weight`; `dropout`, ...) and of `MultiTaskModel`.

    Example:
    ```python
    model = zoo.models.CrossStitch(tasks=["income", "never_married"],
                                   preprocessor=preprocessor, units=[32, 32])
    model.compile()
    model.fit(raw_features, labels, epochs=5)
    ```

    References:
        Misra et al., "Cross-stitch Networks for Multi-task Learning", CVPR
        2016.
    """

    switcher_class = CrossStitchSwitcher
    # The MoGENet paper's Cross-Stitch baseline: columns of (32, 32).
    default_arguments = {"units": (32, 32)}
