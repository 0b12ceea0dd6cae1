"""How per-task losses are combined into the training loss of a multi-task model."""

from zoo.losses.loss_weighting import LossWeighting
from zoo.losses.metabalance import MetaBalance
from zoo.losses.pcgrad import PCGrad
from zoo.losses.weighting import (
    LOSS_WEIGHTINGS,
    DynamicWeightAverage,
    FixedLossWeights,
    GradNorm,
    RandomLossWeighting,
    UncertaintyWeighting,
    get_loss_weighting,
)

__all__ = [
    "LOSS_WEIGHTINGS",
    "DynamicWeightAverage",
    "FixedLossWeights",
    "GradNorm",
    "LossWeighting",
    "MetaBalance",
    "PCGrad",
    "RandomLossWeighting",
    "UncertaintyWeighting",
    "get_loss_weighting",
]
