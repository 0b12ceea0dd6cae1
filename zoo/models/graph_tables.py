"""What graph models (MoGENet, NGCF, "+MGNN") add to a model: node tables for serving."""

from zoo.graphs.graph_inputs import CHANNELS


class GraphTables:
    """A mixin of `MultiTaskModel`: the graph layers and the node tables serving looks up."""

    def graph_layers(self):
        """The layers that read `inputs["graph"]` and keep node tables for serving: the graph
        encoder of the backbone, and those of heads (`GraphScore`)."""
        layers = [] if self.graph_encoder is None else [self.graph_encoder]
        return layers + [h.graph_layer for h in self.task_heads if hasattr(h, "graph_layer")]

    @property
    def uses_graph(self):
        return bool(self.graph_layers())

    @property
    def graph_channels(self):
        """The sub-graph channels the model's graph layers read (see `zoo.graphs.CHANNELS`):
        a layer's `channels`, all of them for a layer that does not say."""
        read = [getattr(layer, "channels", CHANNELS) for layer in self.graph_layers()]
        return tuple(c for c in CHANNELS if any(c in channels for channels in read))

    def refresh_graph_tables(self, graph_inputs):
        """Computes the node tables serving looks up, from the whole training graph.

        Run after training (`zoo.training.fit` does) and before evaluating
        without sub-graphs or exporting.
        """
        if not self.built:
            self.build()
        whole = graph_inputs.whole_graphs(self.graph_channels)
        for layer in self.graph_layers():
            layer.compute_node_tables(whole)

    def check_graph_tables(self):
        """Raises if a graph model would serve from node tables never computed."""
        stale = [layer.name for layer in self.graph_layers() if not layer.tables_ready]
        if stale:
            raise ValueError(
                f"{type(self).__name__} has graph layers {stale} whose node tables were never "
                "computed; call model.refresh_graph_tables(graph_inputs) after training and "
                "before predicting without sub-graphs or exporting."
            )
