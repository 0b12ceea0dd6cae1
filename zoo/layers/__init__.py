"""Building blocks: every class here is a registered, serializable Keras layer.

Layers never import models, data, training or export code (see
`tests/import_rules_test.py`).
"""

from zoo.layers.core.mlp import MLP
from zoo.layers.experts.experts import Experts
from zoo.layers.features.feature_dropout import FeatureDropout
from zoo.layers.features.feature_embedding import FeatureEmbedding
from zoo.layers.gates.softmax_gate import SoftmaxGate
from zoo.layers.switchers.cgc import CGCSwitcher
from zoo.layers.switchers.cross_stitch import CrossStitchSwitcher
from zoo.layers.switchers.facet_tree import FacetTreeSwitcher
from zoo.layers.switchers.independent import IndependentSwitcher
from zoo.layers.switchers.mmoe import MMoESwitcher
from zoo.layers.switchers.ple import PLESwitcher
from zoo.layers.switchers.shared_bottom import SharedBottomSwitcher
from zoo.layers.switchers.snr import SNRAverSwitcher, SNRTransSwitcher
from zoo.layers.switchers.switcher import Switcher
from zoo.layers.towers.tower import Tower

__all__ = [
    "CGCSwitcher",
    "CrossStitchSwitcher",
    "Experts",
    "FacetTreeSwitcher",
    "FeatureDropout",
    "FeatureEmbedding",
    "IndependentSwitcher",
    "MLP",
    "MMoESwitcher",
    "PLESwitcher",
    "SNRAverSwitcher",
    "SNRTransSwitcher",
    "SharedBottomSwitcher",
    "SoftmaxGate",
    "Switcher",
    "Tower",
]
