import keras

from zoo.layers.experts.experts import Experts


class Switcher(keras.layers.Layer):
    """Base of the switchers: the part of a model that decides what each task sees.

    A switcher maps one input tensor (shared by every branch) or one tensor
    per branch to one output tensor per branch, which is what lets them nest:
    PLE stacks CGC levels, and a hierarchical model can put one switcher
    inside another's branch. Subclasses implement
    `call(inputs, training=None, return_gate_weights=False)`; with
    `return_gate_weights=True` they also return a dict from gate name to
    `(batch, experts_seen)` weights (empty for switchers without gates).

    This class holds the arguments every switcher shares and serializes them;
    it is not registered because it is never used on its own.

    Args:
        num_tasks: int >= 1, the number of task outputs.
        activation: hidden activation of the switcher's networks.
        dropout: float in [0, 1), dropout inside those networks.
        kernel_regularizer: regularizer of their kernels, or `None`.
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.
    """

    def __init__(
        self,
        num_tasks,
        activation="relu",
        dropout=0.0,
        kernel_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_tasks) < 1:
            raise ValueError(f"Expected num_tasks >= 1. Received: num_tasks={num_tasks}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Expected 0 <= dropout < 1. Received: dropout={dropout}")
        self.num_tasks = int(num_tasks)
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.seed = seed

    def make_experts(self, count, units, name, batch_norm=False, experts_class=Experts):
        """`count` experts of `units`, with this switcher's activation, dropout, regularizer, seed.

        Every switcher builds its experts through this, so an argument every
        switcher shares reaches every expert the same way. Returns `None` for
        `count == 0` (a CGC task without experts of its own).
        """
        if count == 0:
            return None
        return experts_class(
            count,
            units,
            activation=self.activation,
            dropout=self.dropout,
            use_batch_norm=batch_norm,
            kernel_regularizer=self.kernel_regularizer,
            seed=self.seed,
            name=name,
        )

    def shared_weights(self):
        """The trainable weights every task's output depends on (none here).

        GradNorm measures each task's gradient norm on these. Switchers that
        share weights between all tasks override this.
        """
        return []

    def gate_expert_names(self):
        """Dict from gate name to the names of the experts it weighs, in order.

        The same expert has the same name in every gate that sees it, which
        is how gate diagnostics tell that all tasks lean on one expert.
        Empty for switchers without gates.
        """
        return {}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tasks": self.num_tasks,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "seed": self.seed,
            }
        )
        return config
