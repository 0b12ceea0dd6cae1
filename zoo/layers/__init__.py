"""Building blocks: every class here is a registered, serializable Keras layer.

Layers never import models, data, training or export code (see
`tests/import_rules_test.py`).
"""

from zoo.layers.backbones.graph_interaction_backbone import GraphInteractionBackbone
from zoo.layers.backbones.multitask_backbone import MultiTaskBackbone
from zoo.layers.backbones.per_task_embedding_backbone import PerTaskEmbeddingBackbone
from zoo.layers.backbones.shared_and_task_embedding_backbone import SharedAndTaskEmbeddingBackbone
from zoo.layers.core.bit_gate import BitGate
from zoo.layers.core.dropout import Dropout
from zoo.layers.core.feature_gate import FeatureGate
from zoo.layers.core.gate_nu import GateNU
from zoo.layers.core.mlp import MLP
from zoo.layers.experts.experts import Experts
from zoo.layers.experts.private_input_experts import PrivateInputExperts
from zoo.layers.experts.vector_conv import VectorConv1D
from zoo.layers.features.feature_dropout import FeatureDropout
from zoo.layers.features.feature_embedding import FeatureEmbedding
from zoo.layers.features.field_embedding import FieldEmbedding
from zoo.layers.features.personalized_embedding import PersonalizedEmbedding
from zoo.layers.gates.dselect_k_gate import DSelectKGate
from zoo.layers.gates.noisy_top_k_gate import NoisyTopKGate
from zoo.layers.gates.softmax_gate import SoftmaxGate
from zoo.layers.graph.graph_attention_aggregation import GraphAttentionAggregation
from zoo.layers.graph.mgnn_layer import MGNNLayer
from zoo.layers.graph.multi_channel_mgnn import MultiChannelMGNN
from zoo.layers.graph.ngcf import NGCFEncoder, NGCFPropagation
from zoo.layers.graph.pair_interaction import PairInteraction
from zoo.layers.heads.bias_logit import BiasLogit
from zoo.layers.heads.entire_space_counterfactual import EntireSpaceCounterfactual
from zoo.layers.heads.entire_space_product import EntireSpaceProduct
from zoo.layers.heads.funnel_calibration import FunnelCalibration
from zoo.layers.heads.graph_score import GraphScore
from zoo.layers.heads.group_routing import GroupRouting
from zoo.layers.heads.latent_emotion_mixture import LatentEmotionMixture
from zoo.layers.heads.output_head import OutputHead
from zoo.layers.interactions.cross_network import CrossNetwork
from zoo.layers.interactions.field_attention import FieldSelfAttention
from zoo.layers.interactions.product_layer import ProductLayer
from zoo.layers.search.choice_block import ChoiceBlock
from zoo.layers.search.expert_selection import ExpertSelection
from zoo.layers.sequence.masked_pooling import MaskedPooling
from zoo.layers.sequence.sequence_transformer import SequenceTransformer
from zoo.layers.sequence.target_attention import TargetAttention
from zoo.layers.switchers.adaptive_information_transfer import AdaptiveInformationTransferSwitcher
from zoo.layers.switchers.automtl_search import AutoMTLSearchSwitcher
from zoo.layers.switchers.cgc import CGCSwitcher
from zoo.layers.switchers.cross_stitch import CrossStitchSwitcher
from zoo.layers.switchers.facet_tree import FacetTreeSwitcher
from zoo.layers.switchers.graph_enhanced_experts import GraphEnhancedExpertsSwitcher
from zoo.layers.switchers.home import HoMESwitcher
from zoo.layers.switchers.independent import IndependentSwitcher
from zoo.layers.switchers.mmoe import MMoESwitcher
from zoo.layers.switchers.ple import PLESwitcher
from zoo.layers.switchers.ppnet import PPNetSwitcher
from zoo.layers.switchers.searched_experts import SearchedExpertsSwitcher
from zoo.layers.switchers.shared_bottom import SharedBottomSwitcher
from zoo.layers.switchers.snr import SNRAverSwitcher, SNRTransSwitcher
from zoo.layers.switchers.stem import STEMSwitcher
from zoo.layers.switchers.switcher import Switcher
from zoo.layers.switchers.task_relation import TaskRelationSwitcher
from zoo.layers.towers.tower import Tower

__all__ = [
    "AdaptiveInformationTransferSwitcher",
    "AutoMTLSearchSwitcher",
    "BiasLogit",
    "BitGate",
    "CGCSwitcher",
    "ChoiceBlock",
    "CrossNetwork",
    "CrossStitchSwitcher",
    "DSelectKGate",
    "Dropout",
    "EntireSpaceCounterfactual",
    "EntireSpaceProduct",
    "ExpertSelection",
    "Experts",
    "FacetTreeSwitcher",
    "FeatureDropout",
    "FeatureEmbedding",
    "FeatureGate",
    "FieldEmbedding",
    "FieldSelfAttention",
    "FunnelCalibration",
    "GateNU",
    "GraphAttentionAggregation",
    "GraphEnhancedExpertsSwitcher",
    "GraphInteractionBackbone",
    "GraphScore",
    "GroupRouting",
    "HoMESwitcher",
    "IndependentSwitcher",
    "LatentEmotionMixture",
    "MGNNLayer",
    "MLP",
    "MMoESwitcher",
    "MaskedPooling",
    "MultiChannelMGNN",
    "MultiTaskBackbone",
    "NGCFEncoder",
    "NGCFPropagation",
    "NoisyTopKGate",
    "OutputHead",
    "PLESwitcher",
    "PPNetSwitcher",
    "PairInteraction",
    "PerTaskEmbeddingBackbone",
    "PersonalizedEmbedding",
    "PrivateInputExperts",
    "ProductLayer",
    "SNRAverSwitcher",
    "SNRTransSwitcher",
    "STEMSwitcher",
    "SearchedExpertsSwitcher",
    "SequenceTransformer",
    "SharedAndTaskEmbeddingBackbone",
    "SharedBottomSwitcher",
    "SoftmaxGate",
    "Switcher",
    "TargetAttention",
    "TaskRelationSwitcher",
    "Tower",
    "VectorConv1D",
]
