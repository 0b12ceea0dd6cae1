from zoo.api import register
from zoo.layers.core.mlp import MLP
from zoo.layers.switchers.branch_inputs import branch_inputs, branch_shapes
from zoo.layers.switchers.switcher import Switcher


@register
class IndependentSwitcher(Switcher):
    """No sharing: each task has its own MLP over the input.

    With one tower per task on top, this is the single-task baseline: K
    separate networks trained side by side (they still share the input
    embeddings unless each task is trained alone).

    Args:
        num_tasks: int >= 1, the number of tasks.
        units: list of int, widths of each task's MLP.
        activation: hidden activation. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout after every hidden layer.
        kernel_regularizer: regularizer of the kernels, or `None`.
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`, or a list of `num_tasks`.
        training: bool.
        return_gate_weights: when True also return `{}` (no gates here).

    Returns:
        A list of `num_tasks` tensors `(batch, units[-1])`.
    """

    def __init__(
        self,
        num_tasks,
        units,
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        self.units = [int(u) for u in units]
        self.networks = [
            MLP(
                self.units,
                activation=self.activation,
                dropout=self.dropout,
                kernel_regularizer=self.kernel_regularizer,
                seed=self.seed,
                name=f"task_{k}",
            )
            for k in range(self.num_tasks)
        ]

    def build(self, input_shape):
        shapes = branch_shapes(input_shape, self.num_tasks)
        for network, shape in zip(self.networks, shapes):
            network.build(shape)

    def call(self, inputs, training=None, return_gate_weights=False):
        per_task = branch_inputs(inputs, self.num_tasks, self.name)
        outputs = [net(x, training=training) for net, x in zip(self.networks, per_task)]
        return (outputs, {}) if return_gate_weights else outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
            }
        )
        return config
