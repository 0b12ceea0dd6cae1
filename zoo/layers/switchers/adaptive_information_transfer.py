import math

from keras import ops

from zoo.api import register
from zoo.layers.core.initializers import distinct_initializers
from zoo.layers.core.mlp import MLP
from zoo.layers.experts.experts import Experts
from zoo.layers.switchers.switcher import Switcher

# The AIT module's three projections, in the order its kernel stacks them.
VALUE, QUERY, KEY = 0, 1, 2


@register
class AdaptiveInformationTransferSwitcher(Switcher):
    """AITM's switcher: each step of a conversion funnel attends to what the step before knew.

    The tasks are the steps of a funnel (impression -> click -> purchase
    ...), in order. Task t has its own tower q_t over the shared input, and
    its representation z_t mixes q_t with p_{t-1}, what the previous step
    chooses to pass on, through the Adaptive Information Transfer (AIT)
    module:

        z_1 = q_1,
        z_t = AIT(p_{t-1}, q_t),                                 eq. (1)
        p_{t-1} = g_{t-1}(z_{t-1}),                              eq. (2)
        AIT: z_t = sum_{u in {p_{t-1}, q_t}} w_u h_1(u),         eq. (3)
             w_u = exp(w'_u) / sum_u' exp(w'_u'),
             w'_u = <h_2(u), h_3(u)> / sqrt(k),                  eq. (4)

    where g_{t-1} is the transfer MLP and h_1, h_2, h_3 are linear maps
    k -> k (k = `units[-1]`), one set per later task. The weights w_u
    say how much of the previous step's knowledge task t takes: the paper's
    "what and how much information to transfer". Since z_t feeds g_t, the
    transfer runs down the whole funnel, which is the point for long paths
    whose last steps have few positives.

    Equation numbers as in arXiv 2105.08489, not re-read here (the paper's
    text was not at hand); each formula was checked against the authors'
    code (github.com/xidongbo/AITM). Assumed where the paper leaves it
    open, as that code does it: h_1, h_2, h_3 have no bias
    (attention projections); each g_{t-1} ends in a layer of width k with the
    hidden activation and dropout (the code's Dense(32, relu) + dropout), so
    that p_{t-1} and q_t live in one space; the towers q_t see the shared
    embedding directly. The kernels start from Glorot-uniform draws rather
    than the code's N(0, 0.01).

    The attention weights are returned as gate weights (`"task_t"`, over
    `["transfer/task_{t-1}", "tower/task_t"]`, from task 1 on), so the
    model's `gate_weights` shows how much each step borrows from the one
    before.

    Args:
        num_tasks: int >= 1, the number of funnel steps, in order.
        units: list of int, widths of each task's tower q_t; the last is the
            AIT dimension k.
        transfer_units: list of int, hidden widths of each transfer MLP g
            before its output layer of width k; empty by default (g is one
            layer, as in the authors' code).
        activation: hidden activation of the towers and of g. Defaults to
            `"relu"`.
        dropout: float in [0, 1), dropout after every layer of the towers
            and of g.
        kernel_regularizer: regularizer of every kernel (AIT's included), or
            `None`.
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.
        training: bool.
        return_gate_weights: when True, also return a dict from `"task_t"`
            (t >= 1) to its AIT weights `(batch, 2)` over (p_{t-1}, q_t).

    Returns:
        A list of `num_tasks` tensors z_t, each `(batch, units[-1])`.

    Example:
    ```python
    switcher = zoo.layers.AdaptiveInformationTransferSwitcher(num_tasks=2, units=[64, 32])
    z_click, z_purchase = switcher(np.ones((4, 16)))
    ```

    References:
        Xi et al., "Modeling the Sequential Dependence among Audience
        Multi-step Conversions with Multi-task Learning in Targeted Display
        Advertising", KDD 2021 (arXiv 2105.08489), section 3, eqs. (1)-(4).
    """

    def __init__(
        self,
        num_tasks,
        units,
        transfer_units=(),
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        self.units = [int(u) for u in units]
        if not self.units:
            raise ValueError(
                f"Expected at least one tower width (the last is AIT's dimension). "
                f"Received: units={list(units)}"
            )
        self.transfer_units = [int(u) for u in transfer_units]
        self.dim = self.units[-1]
        # The towers q_t all read the shared input: one batched weight per layer.
        self.towers = Experts(
            self.num_tasks,
            self.units,
            activation=self.activation,
            dropout=self.dropout,
            kernel_regularizer=self.kernel_regularizer,
            seed=self.seed,
            name="towers",
        )
        # g_t carries task t's knowledge to task t + 1; the last task passes nothing on.
        self.transfers = [
            MLP(
                [*self.transfer_units, self.dim],
                activation=self.activation,
                dropout=self.dropout,
                kernel_regularizer=self.kernel_regularizer,
                seed=self.seed,
                name=f"transfer_{t}",
            )
            for t in range(self.num_tasks - 1)
        ]

    def build(self, input_shape):
        self.towers.build(input_shape)
        for transfer in self.transfers:
            transfer.build((None, self.dim))
        # One (3, k, k) kernel per later task: h_1, h_2, h_3 stacked, each from its own seed.
        self.attention_kernels = []
        for t in range(1, self.num_tasks):
            slices = distinct_initializers("glorot_uniform", 3)

            def initial_value(_shape, dtype=None, slices=slices):
                return ops.stack([init((self.dim, self.dim), dtype=dtype) for init in slices])

            self.attention_kernels.append(
                self.add_weight(
                    name=f"attention_{t}",
                    shape=(3, self.dim, self.dim),
                    initializer=initial_value,
                    regularizer=self.kernel_regularizer,
                )
            )

    def call(self, inputs, training=None, return_gate_weights=False):
        towers = self.towers(inputs, training=training)  # (batch, num_tasks, k)
        outputs = [towers[:, 0]]  # z_1 = q_1: the first step has no step before it
        weights = {}
        for t in range(1, self.num_tasks):
            transferred = self.transfers[t - 1](outputs[-1], training=training)  # (batch, k)
            z, w = self.transfer(transferred, towers[:, t], self.attention_kernels[t - 1])
            outputs.append(z)
            weights[f"task_{t}"] = w
        return (outputs, weights) if return_gate_weights else outputs

    def transfer(self, transferred, own, kernel):
        """The AIT module: z_t and the weights `(batch, 2)` over (p_{t-1}, q_t), eqs. (3)-(4)."""
        candidates = ops.stack([transferred, own], axis=1)  # (batch, 2, k)
        # h_1, h_2 and h_3 of both candidates in one product.
        projected = ops.einsum("bui,hio->buho", candidates, kernel)  # (batch, 2, 3, k)
        scores = ops.sum(projected[:, :, QUERY] * projected[:, :, KEY], axis=-1)  # (batch, 2)
        weights = ops.softmax(scores / math.sqrt(self.dim), axis=-1)  # (batch, 2)
        z = ops.einsum("bu,buo->bo", weights, projected[:, :, VALUE])  # (batch, k)
        return z, weights

    def gate_expert_names(self):
        return {
            f"task_{t}": [f"transfer/task_{t - 1}", f"tower/task_{t}"]
            for t in range(1, self.num_tasks)
        }

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], self.dim)] * self.num_tasks

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "transfer_units": self.transfer_units,
            }
        )
        return config
