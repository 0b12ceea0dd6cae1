"""Declarative feature specs and the preprocessor built from them."""

from zoo.features.preprocessor import FeaturePreprocessor
from zoo.features.spec import CategoricalFeature, NumericFeature, feature_from_config

__all__ = ["CategoricalFeature", "FeaturePreprocessor", "NumericFeature", "feature_from_config"]
