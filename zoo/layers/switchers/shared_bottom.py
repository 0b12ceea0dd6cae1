from zoo.api import register
from zoo.layers.core.mlp import MLP
from zoo.layers.switchers.switcher import Switcher


@register
class SharedBottomSwitcher(Switcher):
    """Hard parameter sharing: one MLP whose output every task receives.

    Args:
        num_tasks: int >= 1, the number of task outputs.
        units: list of int, widths of the shared MLP.
        activation: hidden activation. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout after every hidden layer.
        kernel_regularizer: regularizer of the kernels, or `None`.
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.
        training: bool.
        return_gate_weights: accepted for a uniform switcher interface; a
            shared bottom has no gates, so the dict returned is empty.

    Returns:
        A list of `num_tasks` references to one tensor `(batch, units[-1])`
        (and `{}` when `return_gate_weights=True`).

    References:
        Caruana, "Multitask Learning", Machine Learning 28, 1997.
    """

    def __init__(
        self,
        num_tasks,
        units,
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        self.units = [int(u) for u in units]
        self.bottom = MLP(
            self.units,
            activation=self.activation,
            dropout=self.dropout,
            kernel_regularizer=self.kernel_regularizer,
            seed=self.seed,
            name="bottom",
        )

    def build(self, input_shape):
        self.bottom.build(input_shape)

    def call(self, inputs, training=None, return_gate_weights=False):
        shared = self.bottom(inputs, training=training)  # (batch, units[-1])
        outputs = [shared] * self.num_tasks
        return (outputs, {}) if return_gate_weights else outputs

    def shared_weights(self):
        return self.bottom.trainable_weights

    def compute_output_shape(self, input_shape):
        return [self.bottom.compute_output_shape(input_shape)] * self.num_tasks

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
            }
        )
        return config
