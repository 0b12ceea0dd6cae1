import keras


class OutputHead(keras.layers.Layer):
    """The base of heads that turn the task logits into the model's predictions.

    A model without one applies each task's activation to its logits. With
    one (DLEN's latent-emotion mixture, ESMM's product), the head computes
    the predictions instead, and it may serve more outputs than the tasks
    (`extra_outputs`). A model takes at most one output head; the logit
    heads (`BiasLogit`) act before it.

    A subclass implements `bind` (checks against the model's tasks, builds
    its layers), `call` and `get_config`, and overrides
    `tower_output_units` where a task's tower must give more logits (DLEN:
    two), `reads_shared_representation` where `call` needs the backbone's
    shared representation, and `extra_outputs`.

    Call arguments:
        logits: dict from task name to its tower's `(batch, units)` logits,
            after the logit heads.
        shared: the backbone's shared representation `(batch, dim)` where
            `reads_shared_representation`, else `None`.
        training: bool.

    Returns:
        Dict from output name to float32 predictions: every task's, then
        the `extra_outputs`.
    """

    # Output heads read no raw features: everything comes through the backbone.
    feature_names = ()
    known_at_serving = True
    reads_shared_representation = False

    def bind(self, features, tasks):
        """Checks the head against a model's tasks and builds its layers; returns `self`."""
        self.bound_tasks = [t.name for t in tasks]
        clashes = sorted(set(self.extra_outputs()) & set(self.bound_tasks))
        if clashes:
            raise ValueError(
                f"{self.name}: task names {clashes} clash with the head's own outputs "
                f"{self.extra_outputs()}; rename the tasks"
            )
        return self

    def tower_output_units(self, task):
        """Logits the task's tower must give: the task's own unless the head needs more."""
        return task.output_units

    def extra_outputs(self):
        """Names of the outputs the head serves beyond the tasks' predictions."""
        return []

    # The layers a head builds come from `bind`, which the model calls once
    # deserialized; a saved build state would mark the head built before they exist.
    def get_build_config(self):
        return None


def binary_probability(logit):
    """sigmoid(logit) in float32: probabilities stay float32 under mixed precision.

    bfloat16 has 8 bits of mantissa, so a probability of 0.999 would round to
    1.0 and its cross-entropy to infinity.
    """
    return keras.ops.sigmoid(keras.ops.cast(logit, "float32"))


def require_binary_tasks(head, tasks, why):
    """A ValueError naming the tasks of `tasks` that are not binary, with `why`."""
    not_binary = [(t.name, t.type) for t in tasks if t.type != "binary"]
    if not_binary:
        raise ValueError(f"{head.name}: {why}; {not_binary} are not binary tasks")
