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

    A head whose training loss needs the labels (ESCM2's counterfactual
    CVR risk, which weighs the clicked rows' conversion loss by their
    inverse click propensity) overrides `label_loss`, and names in
    `label_loss_outputs` the outputs of its `call` that loss reads beyond
    the tasks' predictions. The model's `call` then hands those to Keras
    as well while training, its `compute_loss` adds the head's label loss
    to the task losses, and its metrics see the tasks' predictions only.
    A loss that needs no labels (AITM's calibrator) goes through
    `add_loss` in `call`, as any layer's.

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
        own = [*self.extra_outputs(), *self.label_loss_outputs()]
        clashes = sorted(set(own) & set(self.bound_tasks))
        if clashes:
            raise ValueError(
                f"{self.name}: task names {clashes} clash with the head's own outputs "
                f"{own}; rename the tasks"
            )
        return self

    def tower_output_units(self, task):
        """Logits the task's tower must give: the task's own unless the head needs more."""
        return task.output_units

    def extra_outputs(self):
        """Names of the outputs the head serves beyond the tasks' predictions."""
        return []

    def label_loss_outputs(self):
        """Names of the outputs `label_loss` reads beyond the tasks' predictions.

        The model's `call(training=True)` returns them with the tasks'
        predictions (training only: serving and `predict` never see them).
        """
        return []

    def label_loss(self, labels, outputs, sample_weights):
        """A scalar loss term from the labels, added to the training loss; `None`: none.

        Args:
            labels: dict from task name to `(batch, 1)` float32 labels.
            outputs: dict from output name to this step's training outputs:
                the tasks' predictions and `label_loss_outputs()`.
            sample_weights: dict from task name to `(batch,)` weights (0: the
                row has no label for that task); all ones without weights.
        """
        return None

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
