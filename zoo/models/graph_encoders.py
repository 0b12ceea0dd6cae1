"""Building the graph encoder of a graph model from a dataset's `zoo.graphs.GraphInputs`."""

from zoo.layers.graph.multi_channel_mgnn import MultiChannelMGNN


def make_graph_encoder(graph_inputs, preprocessor, units=32, num_layers=2, attention="dot"):
    """A built `MultiChannelMGNN` for `graph_inputs`, its node feature tables set.

    Args:
        graph_inputs: a `zoo.graphs.GraphInputs`.
        preprocessor: the model's adapted `FeaturePreprocessor` (its
            vocabulary sizes size the node encoders' embeddings).
        units: int, the width d of the graph representations.
        num_layers: int, MGNN layers per channel (L). With sampled
            sub-graphs it must equal the number of fan-outs: a layer beyond
            the sampled hops would read nodes whose neighbourhood was never
            sampled.
        attention: `"dot"` or `"additive"`.

    Returns:
        A `MultiChannelMGNN`, built, with `set_node_features` done.
    """
    hops = graph_inputs.num_layers
    if hops is not None and hops != int(num_layers):
        raise ValueError(
            f"The sub-graphs are sampled {hops} hops deep (fanouts={list(graph_inputs.fanouts)}) "
            f"but the graph encoder has num_layers={num_layers}; give one fan-out per layer."
        )
    specs = {f["name"]: f for f in preprocessor.embedding_features()}
    encoder = MultiChannelMGNN(
        num_users=graph_inputs.num_users,
        num_items=graph_inputs.num_items,
        user_features=[specs[name] for name in graph_inputs.user_features],
        item_features=[specs[name] for name in graph_inputs.item_features],
        units=units,
        num_layers=num_layers,
        attention=attention,
        name="graph_encoder",
    )
    encoder.build()
    encoder.set_node_features(graph_inputs.user_feature_table, graph_inputs.item_feature_table)
    return encoder
