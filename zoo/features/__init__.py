"""Declarative feature specs and the preprocessor built from them."""

from zoo.features.preprocessor import FeaturePreprocessor
from zoo.features.spec import (
    CategoricalFeature,
    CrossedFeature,
    MultiHotFeature,
    NumericFeature,
    SequenceFeature,
    feature_from_config,
)

__all__ = [
    "CategoricalFeature",
    "CrossedFeature",
    "FeaturePreprocessor",
    "MultiHotFeature",
    "NumericFeature",
    "SequenceFeature",
    "feature_from_config",
]
