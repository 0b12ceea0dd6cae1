"""Graphs built from interaction records, and neighbour sampling over them (MoGENet).

Build graphs from the training split only; the graph layers in
`zoo.layers.graph` consume the sub-graphs that `NeighborSampler` and
`full_graph` return.
"""

from zoo.graphs.graph_inputs import CHANNELS, GraphInputs
from zoo.graphs.interaction_graphs import (
    InteractionGraphs,
    positive_interaction_matrix,
    to_sparse_tensor,
    top_k_cosine_similarity,
)
from zoo.graphs.neighbor_sampling import (
    CSRGraph,
    NeighborSampler,
    full_graph,
    layer_edges,
    layer_extents,
    sample_neighbors,
)

__all__ = [
    "CHANNELS",
    "GraphInputs",
    "CSRGraph",
    "InteractionGraphs",
    "NeighborSampler",
    "full_graph",
    "layer_edges",
    "layer_extents",
    "positive_interaction_matrix",
    "sample_neighbors",
    "to_sparse_tensor",
    "top_k_cosine_similarity",
]
