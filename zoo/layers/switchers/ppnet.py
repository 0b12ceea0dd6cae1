import keras
from keras import ops

from zoo.api import register
from zoo.layers.core.dropout import Dropout
from zoo.layers.core.gate_nu import GateNU
from zoo.layers.core.initializers import distinct_initializers
from zoo.layers.switchers.switcher import Switcher


@register
class PPNetSwitcher(Switcher):
    """PPNet: one DNN per task, every hidden layer scaled by a gate on the personal priors.

    The input is `[x, O_prior]`: the representation the DNNs read (PEPNet's
    O_ep) followed by the last `prior_dim` columns, the personal prior
    embeddings (user, item, author ids and side information). As in the
    paper's Parameter Personalized Network, the gates see the priors and,
    through a stop gradient, x ([a, b] is concatenation):

        delta_task^(l) = GateNU_l([O_prior, stop_gradient(x)])   (T * h_l wide, split per task)
        H_t^(l) = delta_task,t^(l) * f(H_t^(l-1) W_t^(l) + b_t^(l)),   H_t^(0) = x

    so each task's hidden units are personalized per example, and the gates
    do not train x (PEPNet keeps PPNet from disturbing the EPNet output).

    Where the gate sits: the paper writes O_pp^(l) = delta^(l) * H^(l)
    and H^(l+1) = f(O_pp^(l) W^(l) + b^(l)), a gate on the input of each
    layer. Gating every hidden layer's output, as here, is the same thing
    shifted by one layer: the next layer (or the task tower, for the last)
    reads the gated units. The DNNs' input x itself is not gated again
    (EPNet has scaled it), as in FuxiCTR's PPNet and EasyRec's default
    ("lazy") mode.

    One Gate NU per layer gives all T tasks' gates (`T * units[l]` wide,
    task t reading its slice), as the paper splits delta_task into T
    parts: the tasks share the gate's first layer and own its output units.
    The T task DNNs are held in one batched kernel per layer
    (`(T, in, units[l])`, each task's slice with its own seed) and computed
    with one `einsum`.

    Args:
        num_tasks: int >= 1, the number of tasks T.
        units: list of int, the hidden widths of each task's DNN.
        prior_dim: int >= 0, how many trailing input columns are the
            personal priors (0: the gates see stop_gradient(x) alone).
        gate_hidden_dim: width of each Gate NU's first layer, or `None` for
            its output width (`T * units[l]`).
        gamma: float > 0, the Gate NUs' scale. Defaults to `2.0`.
        kernel_initializer: initializer of every task's kernel slice
            `(in, units[l])`.
        activation: hidden activation f of the DNNs. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout after every gated hidden layer.
        kernel_regularizer: regularizer of the DNN and gate kernels.
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`: x, then `prior_dim`
            prior columns.
        training: bool.
        return_gate_weights: when True also return `{}`: PPNet's gates
            scale units rather than weigh experts (`task_gates` gives them).

    Returns:
        A list of T tensors `(batch, units[-1])`.

    Example:
    ```python
    switcher = zoo.layers.PPNetSwitcher(num_tasks=2, units=[32, 16], prior_dim=8)
    h_click, h_like = switcher(np.ones((4, 40)))  # x: 32 columns, priors: 8
    ```

    References:
        Chang et al., "PEPNet: Parameter and Embedding Personalized Network
        for Infusing with Personalized Prior Information", KDD 2023, the
        Parameter Personalized Network (O_prior, delta_task = U_pp(O_prior
        concat stop_gradient(O_ep)), O_pp^(l) = delta_task^(l) * H^(l),
        H^(l+1) = f(O_pp^(l) W^(l) + b^(l))).
    """

    def __init__(
        self,
        num_tasks,
        units,
        prior_dim=0,
        gate_hidden_dim=None,
        gamma=2.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        units = [int(u) for u in units]
        if not units or any(u < 1 for u in units):
            raise ValueError(
                f"Expected a non-empty list of positive widths. Received: units={units}"
            )
        if int(prior_dim) < 0:
            raise ValueError(f"Expected prior_dim >= 0. Received: prior_dim={prior_dim}")
        self.units = units
        self.prior_dim = int(prior_dim)
        self.gate_hidden_dim = gate_hidden_dim
        self.gamma = float(gamma)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.gates = [
            GateNU(
                self.num_tasks * width,
                hidden_dim=gate_hidden_dim,
                gamma=self.gamma,
                kernel_regularizer=self.kernel_regularizer,
                name=f"gate_{layer}",
            )
            for layer, width in enumerate(units)
        ]
        self.dropout_layer = (
            Dropout(self.dropout, seed=self.seed, name="dropout") if self.dropout > 0 else None
        )

    def build(self, input_shape):
        if input_shape and isinstance(input_shape[0], (list, tuple)):
            raise ValueError(
                f"{self.name}: PPNetSwitcher takes one input tensor (x then the priors), "
                f"not one per branch. Received shapes: {input_shape}"
            )
        input_dim = int(input_shape[-1])
        in_dim = input_dim - self.prior_dim
        if in_dim < 1:
            raise ValueError(
                f"Expected more input columns than prior_dim={self.prior_dim}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.input_dim = in_dim
        self.kernels, self.biases = [], []
        for layer, width in enumerate(self.units):
            slices = distinct_initializers(self.kernel_initializer, self.num_tasks)
            shape = (in_dim, width)

            def initial_value(_shape, dtype=None, slices=slices, shape=shape):
                return ops.stack([init(shape, dtype=dtype) for init in slices], axis=0)

            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{layer}",
                    shape=(self.num_tasks, in_dim, width),
                    initializer=initial_value,
                    regularizer=self.kernel_regularizer,
                )
            )
            self.biases.append(
                self.add_weight(
                    name=f"bias_{layer}", shape=(self.num_tasks, width), initializer="zeros"
                )
            )
            self.gates[layer].build((None, input_dim))
            in_dim = width

    def call(self, inputs, training=None, return_gate_weights=False):
        x, gate_input = self._split(inputs)
        h = x
        for layer, kernel in enumerate(self.kernels):
            if layer == 0:
                # Every task's DNN reads the same x.
                h = ops.einsum("bi,tio->bto", h, kernel)  # (batch, tasks, units[0])
            else:
                h = ops.einsum("bti,tio->bto", h, kernel)  # (batch, tasks, units[l])
            h = self.activation(h + self.biases[layer])
            h = h * self._task_gate(layer, gate_input)  # (batch, tasks, units[l])
            if self.dropout_layer is not None:
                h = self.dropout_layer(h, training=training)
        outputs = [h[:, t] for t in range(self.num_tasks)]
        return (outputs, {}) if return_gate_weights else outputs

    def task_gates(self, inputs):
        """Dict from `"task_t/layer_l"` to delta_task,t^(l), `(batch, units[l])`, in (0, gamma)."""
        _, gate_input = self._split(inputs)
        gates = {}
        for layer in range(len(self.units)):
            delta = self._task_gate(layer, gate_input)  # (batch, tasks, units[l])
            for t in range(self.num_tasks):
                gates[f"task_{t}/layer_{layer}"] = delta[:, t]
        return gates

    def _split(self, inputs):
        """`(x, gate input)`: the gates read `[O_prior, stop_gradient(x)]`."""
        if isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"{self.name}: PPNetSwitcher takes one input tensor (x then the priors), "
                f"not one per branch. Received {len(inputs)} tensors."
            )
        in_dim = int(inputs.shape[-1]) - self.prior_dim
        x = inputs[:, :in_dim]  # (batch, input_dim - prior_dim)
        if self.prior_dim == 0:
            return x, ops.stop_gradient(x)
        prior = inputs[:, in_dim:]  # (batch, prior_dim)
        return x, ops.concatenate([prior, ops.stop_gradient(x)], axis=-1)

    def _task_gate(self, layer, gate_input):
        delta = self.gates[layer](gate_input)  # (batch, tasks * units[l])
        return ops.reshape(delta, (-1, self.num_tasks, self.units[layer]))

    def shared_weights(self):
        # Every task's output depends on the gates' first layers.
        return [w for gate in self.gates for w in gate.hidden.trainable_weights]

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], self.units[-1])] * self.num_tasks

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "prior_dim": self.prior_dim,
                "gate_hidden_dim": self.gate_hidden_dim,
                "gamma": self.gamma,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
