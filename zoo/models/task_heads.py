"""What a model does with its heads: binds them, routes, shifts logits, makes predictions."""

import keras

from zoo.layers.heads.bias_logit import BiasLogit
from zoo.layers.heads.output_head import OutputHead

# The heads models make from their own arguments (Biasnet's bias_tower_feature,
# YouTube's bias_features, DLEN's alpha, ESMM's product, MFH's groups), saved
# as those arguments rather than as heads.
BIASNET_HEAD = "bias_tower_head"
SHALLOW_TOWER_HEAD = "shallow_tower_head"
LATENT_EMOTION_HEAD = "latent_emotion_head"
ENTIRE_SPACE_HEAD = "entire_space_head"
GROUP_ROUTING_HEAD = "group_routing_head"
BUILT_IN_HEADS = (
    BIASNET_HEAD,
    SHALLOW_TOWER_HEAD,
    LATENT_EMOTION_HEAD,
    ENTIRE_SPACE_HEAD,
    GROUP_ROUTING_HEAD,
)


class TaskHeads:
    """A mixin of `MultiTaskModel`: its heads, in the order they act.

    A routing head (`GroupRouting`) first turns the branches' logits into
    the tasks'; the logit heads (`BiasLogit`, `GraphScore`) shift them in
    the order given; the output head (`LatentEmotionMixture`,
    `EntireSpaceProduct`), or each task's activation, makes the
    predictions.
    """

    def branch_names(self):
        """The switcher's outputs, one tower each: the tasks, unless a head routes (MFH's
        `<task>__<group>`)."""
        if self.routing_head is not None:
            return self.routing_head.branch_names()
        return self.task_names

    def num_branches(self):
        return len(self.branch_names())

    def task_of_output(self, name):
        """The task whose activation an output takes: itself, or a routed branch's task."""
        if self.routing_head is not None and name not in self.task_names:
            return self.routing_head.task_of(name)
        return name

    def _bind_heads(self, heads, bias_tower_feature, bias_tower_units):
        """The heads, bound to the model's features and tasks; Biasnet's tower among them."""
        heads = [keras.layers.deserialize(h) if isinstance(h, dict) else h for h in heads]
        if bias_tower_feature is not None:
            names = [f["name"] for f in self.features]
            if bias_tower_feature not in names:
                raise ValueError(
                    f"bias_tower_feature={bias_tower_feature!r} is not a feature of the model; "
                    f"the features are {names}"
                )
            heads.append(BiasLogit([bias_tower_feature], units=bias_tower_units, name=BIASNET_HEAD))
        for head in heads:
            head.bind(self.features, self.tasks)
        output_heads = [h for h in heads if isinstance(h, OutputHead)]
        if len(output_heads) > 1:
            raise ValueError(
                f"Heads {[h.name for h in output_heads]} each turn the task logits into the "
                "predictions; a model takes one of them."
            )
        # The logit heads act in order, the output head last whatever its place in the list.
        self.output_head = output_heads[0] if output_heads else None
        routing_heads = [h for h in heads if getattr(h, "routes", False)]
        if len(routing_heads) > 1:
            raise ValueError(
                f"Heads {[h.name for h in routing_heads]} each route the samples to towers of "
                "their own; a model takes one of them."
            )
        # The routing head acts first: the other heads see one logit per task.
        self.routing_head = routing_heads[0] if routing_heads else None
        if self.routing_head is not None and self.output_head is not None:
            # The per-group outputs (<task>__<group>) are each tower's activation; an
            # output head would have to be applied per group as well, which is not built.
            raise ValueError(
                f"{self.routing_head.name} serves every group's towers as outputs of their own "
                f"and takes no output head; {self.output_head.name} would apply to the routed "
                "predictions only. Use logit heads (BiasLogit) with it."
            )
        omitted = {n for h in heads if not h.known_at_serving for n in h.feature_names}
        for head in heads:
            clash = omitted.intersection(head.feature_names) if head.known_at_serving else ()
            if clash:
                raise ValueError(
                    f"{head.name} reads {sorted(clash)}, which another head keeps out of serving "
                    "(known_at_serving=False); a head known at serving needs a feature known at "
                    "serving time"
                )
        if omitted and omitted.issuperset(f["name"] for f in self.features):
            raise ValueError(
                f"Every feature is a selection-bias feature ({sorted(omitted)}); the backbone "
                "would see nothing."
            )
        return heads

    def _head(self, name):
        return next((h for h in self.task_heads if h.name == name), None)

    # Where the bias towers' weights were saved before heads existed: Keras saves
    # a layer under the first attribute name it meets it by, in sorted order, and
    # these sort before `task_heads`, so files of either age load (see
    # tests/models/legacy_files_test.py).
    @property
    def bias_tower(self):
        head = self._head(BIASNET_HEAD)
        return None if head is None else head.tower

    @property
    def bias_embedding(self):
        head = self._head(BIASNET_HEAD)
        return None if head is None else head.embedding

    def serving_omitted_features(self):
        """Features serving cannot know (selection bias): out of the backbone and the default
        signature."""
        return [n for h in self.task_heads if not h.known_at_serving for n in h.feature_names]

    def apply_heads(self, logits, inputs, training=None):
        """`logits` after the routing head, then every logit head of the model, in order."""
        if self.routing_head is not None:
            logits = self.routing_head(logits, inputs, training=training)
        for head in self.task_heads:
            if head is not self.output_head and head is not self.routing_head:
                logits = head(logits, inputs, training=training)
        return logits

    def predictions(self, logits, inputs, training=None):
        """The task logits made predictions: by the output head, or each task's activation."""
        head = self.output_head
        if head is None:
            return {
                name: self.output_activation(self.task_of_output(name), z)
                for name, z in logits.items()
            }
        shared = self.embed(inputs, training=training) if head.reads_shared_representation else None
        return head(logits, shared, training=training)
