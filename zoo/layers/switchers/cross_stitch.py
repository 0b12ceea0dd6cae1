from keras import ops

from zoo.api import register
from zoo.layers.core.dropout import Dropout
from zoo.layers.core.initializers import distinct_initializers
from zoo.layers.switchers.branch_inputs import branch_inputs, branch_shapes
from zoo.layers.switchers.switcher import Switcher


@register
class CrossStitchSwitcher(Switcher):
    """One MLP column per task, mixed after every layer by a learned K x K matrix.

    After hidden layer l, column k continues from h~_k = sum_j alpha_l[k, j] h_j,
    a linear combination of every column's activations at that layer. With
    alpha_l the identity the columns are K independent networks; with all
    entries equal they are one shared network. The K columns are held in one
    batched weight per layer and computed with one `einsum`.

    Each alpha_l starts at the paper's recommended mix: `self_weight` on the
    diagonal and `(1 - self_weight) / (K - 1)` elsewhere, so every row sums
    to 1 (for K = 1, the 1 x 1 identity). The paper trains alpha with a
    10^2 to 10^3 times larger learning rate than the columns; here it shares
    the optimizer's rate, as public re-implementations do.

    Args:
        num_tasks: int >= 1, the number of tasks K.
        units: list of int, the widths of each column's layers, bottom to top.
        self_weight: float in [0, 1], the initial diagonal of every alpha.
            Defaults to `0.9`, the paper's best initialization.
        activation: hidden activation. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout after every activation.
        kernel_regularizer: regularizer of the column kernels (not of alpha).
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)` shared by every column, or
            a list of K tensors of one width, one per column.
        training: bool.
        return_gate_weights: when True also return `{}` (alpha is not a
            per-example gate; read it from `alphas`).

    Returns:
        A list of K tensors `(batch, units[-1])`.

    Example:
    ```python
    switcher = zoo.layers.CrossStitchSwitcher(num_tasks=2, units=[32, 16])
    h_click, h_like = switcher(np.ones((4, 10)))
    ```

    References:
        Misra et al., "Cross-stitch Networks for Multi-task Learning", CVPR
        2016, equation (1) and section 5.1 (initialization).
    """

    def __init__(
        self,
        num_tasks,
        units,
        self_weight=0.9,
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        units = [int(u) for u in units]
        if not units or any(u < 1 for u in units):
            raise ValueError(
                f"Expected a non-empty list of positive widths. Received: units={units}"
            )
        if not 0.0 <= float(self_weight) <= 1.0:
            raise ValueError(f"Expected 0 <= self_weight <= 1. Received: self_weight={self_weight}")
        self.units = units
        self.self_weight = float(self_weight)
        self.dropout_layers = [
            Dropout(
                self.dropout,
                seed=None if self.seed is None else self.seed + i,
                name=f"dropout_{i}",
            )
            for i in range(len(units))
            if self.dropout > 0
        ]

    def initial_alpha(self):
        """The K x K starting mix: `self_weight` on the diagonal, the rest spread evenly."""
        k = self.num_tasks
        if k == 1:
            return ops.ones((1, 1))
        other = (1.0 - self.self_weight) / (k - 1)
        eye = ops.eye(k)
        return eye * self.self_weight + (1.0 - eye) * other

    def build(self, input_shape):
        shapes = branch_shapes(input_shape, self.num_tasks)
        widths = {int(s[-1]) for s in shapes}
        if len(widths) != 1:
            raise ValueError(
                f"{self.name} expected one input width for every column. Received: {shapes}"
            )
        in_dim = widths.pop()
        self.kernels, self.biases, self.alphas = [], [], []
        for i, width in enumerate(self.units):
            slices = distinct_initializers("glorot_uniform", self.num_tasks)
            shape = (in_dim, width)

            def initial_value(_shape, dtype=None, slices=slices, shape=shape):
                return ops.stack([init(shape, dtype=dtype) for init in slices], axis=0)

            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{i}",
                    shape=(self.num_tasks, in_dim, width),
                    initializer=initial_value,
                    regularizer=self.kernel_regularizer,
                )
            )
            self.biases.append(
                self.add_weight(
                    name=f"bias_{i}", shape=(self.num_tasks, width), initializer="zeros"
                )
            )

            def initial_alpha(_shape, dtype=None):
                return ops.cast(self.initial_alpha(), dtype)

            self.alphas.append(
                self.add_weight(
                    name=f"cross_stitch_{i}",
                    shape=(self.num_tasks, self.num_tasks),
                    initializer=initial_alpha,
                )
            )
            in_dim = width

    def call(self, inputs, training=None, return_gate_weights=False):
        if isinstance(inputs, (list, tuple)):
            columns = ops.stack(branch_inputs(inputs, self.num_tasks, self.name), axis=1)
            x = ops.einsum("bki,kio->bko", columns, self.kernels[0])  # (batch, K, units[0])
        else:
            x = ops.einsum("bi,kio->bko", inputs, self.kernels[0])  # (batch, K, units[0])
        for i in range(len(self.units)):
            if i > 0:
                x = ops.einsum("bki,kio->bko", x, self.kernels[i])  # (batch, K, units[i])
            x = self.activation(x + self.biases[i])
            if self.dropout_layers:
                x = self.dropout_layers[i](x, training=training)
            # Cross-stitch unit: column k continues from sum_j alpha[k, j] h_j.
            x = ops.einsum("kj,bjo->bko", self.alphas[i], x)  # (batch, K, units[i])
        outputs = [x[:, k, :] for k in range(self.num_tasks)]
        return (outputs, {}) if return_gate_weights else outputs

    def shared_weights(self):
        return list(self.alphas)

    def compute_output_shape(self, input_shape):
        batch = branch_shapes(input_shape, self.num_tasks)[0][0]
        return [(batch, self.units[-1])] * self.num_tasks

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "self_weight": self.self_weight})
        return config
