from zoo.api import register
from zoo.layers.switchers.cgc import CGCSwitcher
from zoo.layers.switchers.ple import PLESwitcher
from zoo.models.switcher_model import SwitcherModel

# The peer benchmark's sizes (2 task and 4 shared experts of [32] per level).
EXPERT_DEFAULTS = {"num_task_experts": 2, "num_shared_experts": 4, "expert_units": (32,)}


@register
class PLE(SwitcherModel):
    """Progressive Layered Extraction: stacked CGC levels with task and shared experts.

    Args: those of `zoo.layers.PLESwitcher` (`num_levels`, 2 by default;
    `num_task_experts`, 2; `num_shared_experts`, 4; `expert_units`, `[32]`;
    `gate`, `gate_temperature`, `expert_batch_norm`, `dropout`, ...) and of
    `MultiTaskModel` (`tower_units`, ...).

    References:
        Tang et al., "Progressive Layered Extraction (PLE): A Novel
        Multi-Task Learning (MTL) Model for Personalized Recommendations",
        RecSys 2020.
    """

    switcher_class = PLESwitcher
    default_arguments = {"num_levels": 2, **EXPERT_DEFAULTS}


@register
class CGC(SwitcherModel):
    """Customized Gate Control: one PLE extraction level (task + shared experts).

    Arguments as `PLE`, without `num_levels`.

    References:
        Tang et al., RecSys 2020, section 4.2.
    """

    switcher_class = CGCSwitcher
    fixed_arguments = {"output_shared": False}
    default_arguments = EXPERT_DEFAULTS
