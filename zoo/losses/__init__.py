"""How per-task losses are combined into the training loss of a multi-task model."""

from zoo.losses.weighting import (
    LOSS_WEIGHTINGS,
    DynamicWeightAverage,
    FixedLossWeights,
    GradNorm,
    LossWeighting,
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
    "RandomLossWeighting",
    "UncertaintyWeighting",
    "get_loss_weighting",
]
