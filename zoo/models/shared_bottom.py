from zoo.api import register
from zoo.layers.switchers.shared_bottom import SharedBottomSwitcher
from zoo.models.switcher_model import SwitcherModel


@register
class SharedBottom(SwitcherModel):
    """Hard parameter sharing: a shared MLP, then one tower per task.

    Args: `bottom_units` (the shared MLP's widths, `[256]` by default), the
    other arguments of `zoo.layers.SharedBottomSwitcher` (`dropout`, ...) and
    those of `MultiTaskModel` (`tower_units`, ...).

    References:
        Caruana, "Multitask Learning", Machine Learning 28, 1997.
    """

    switcher_class = SharedBottomSwitcher
    renamed_arguments = {"bottom_units": "units"}
    default_arguments = {"bottom_units": (256,)}
