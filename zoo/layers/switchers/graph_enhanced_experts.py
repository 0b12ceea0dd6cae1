from keras import ops

from zoo.api import register
from zoo.layers.experts.experts import Experts
from zoo.layers.gates.factory import make_gate, serialize_gate
from zoo.layers.switchers.switcher import Switcher


@register
class GraphEnhancedExpertsSwitcher(Switcher):
    """MoGENet's graph-enhanced experts: expert n sees x and carries the graph interaction Z^n.

    h_k = sum_n g_k(x)_n [f_n(x) || Z^n]        (MoGENet equation (4))

    x is the pair's feature embedding [x_u || x_i]; Z^n the n-th of the N
    pairwise interactions of the graph representations (equation (3)), so
    there are as many experts as interactions. The gates, one per task,
    see x: linear maps with a softmax unless `gate` says otherwise. The
    experts are identical MLPs with LeakyReLU.

    The cooperative loss of equation (7),
    L_co = -sum_k sum_{n<m} g_k,n g_k,m (averaged over the batch, as the
    task losses are), is added with weight `cooperative_weight` (the
    paper's beta) through `add_loss` while training. It is smallest when
    each gate spreads its weight evenly, which keeps every expert in use.

    Args:
        num_tasks: int >= 1.
        num_experts: int >= 1, N (the number of interactions, 4 in the paper).
        expert_units: list of int, hidden widths of each expert (paper: [32, 32]).
        activation: activation in the experts; LeakyReLU by default.
        cooperative_weight: float >= 0, beta (paper 1e-6); 0 switches the
            loss off.
        dropout: float, dropout in the experts.
        kernel_regularizer: regularizer of expert and gate kernels.
        seed: int or `None`, dropout seed.
        gate: each task's gate over the experts: `None` for the paper's
            `SoftmaxGate`, a gate name from `zoo.registry.GATES`
            (`"noisy-top-k"`), a config dict or a prototype gate layer (see
            `zoo.layers.gates.factory`).
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: a pair `(x, interactions)`: x float `(batch, input_dim)` and
            interactions float `(batch, num_experts, z_dim)` (Z^1..Z^N
            stacked).
        training: bool.
        return_gate_weights: also return a dict from `"task_k"` to the gate
            weights `(batch, num_experts)`.

    Returns:
        A list of `num_tasks` tensors `(batch, expert_units[-1] + z_dim)`.

    References:
        Hu, Shen, Wu et al. (Ant Group), "Mixture of Graph Enhanced Expert
        Networks for Multi-task Recommendation", equations (4) and (7).
    """

    def __init__(
        self,
        num_tasks,
        num_experts=4,
        expert_units=(32, 32),
        activation="leaky_relu",
        cooperative_weight=1e-6,
        dropout=0.0,
        kernel_regularizer=None,
        seed=None,
        gate=None,
        **kwargs,
    ):
        super().__init__(
            num_tasks,
            activation=activation,
            dropout=dropout,
            kernel_regularizer=kernel_regularizer,
            seed=seed,
            **kwargs,
        )
        if not cooperative_weight >= 0:
            raise ValueError(
                "Expected cooperative_weight >= 0. "
                f"Received: cooperative_weight={cooperative_weight}"
            )
        self.num_experts = int(num_experts)
        self.expert_units = [int(u) for u in expert_units]
        self.cooperative_weight = float(cooperative_weight)
        self.gate = serialize_gate(gate)
        self.experts = Experts(
            self.num_experts,
            self.expert_units,
            activation=self.activation,
            dropout=dropout,
            kernel_regularizer=self.kernel_regularizer,
            seed=seed,
            name="experts",
        )
        self.gates = [
            make_gate(
                self.gate,
                self.num_experts,
                f"gate_task_{k}",
                kernel_regularizer=self.kernel_regularizer,
            )
            for k in range(self.num_tasks)
        ]

    def build(self, input_shape):
        x_shape = input_shape[0]
        self.experts.build(x_shape)
        for gate in self.gates:
            gate.build(x_shape)

    def call(self, inputs, training=None, return_gate_weights=False):
        x, interactions = inputs  # (batch, input_dim), (batch, experts, z_dim)
        expert_outputs = ops.concatenate(
            [self.experts(x, training=training), interactions], axis=-1
        )  # (batch, experts, units + z_dim)
        weights = [gate(x) for gate in self.gates]  # K x (batch, experts)
        outputs = [ops.einsum("be,beu->bu", w, expert_outputs) for w in weights]
        if training and self.cooperative_weight > 0:
            self.add_loss(self.cooperative_weight * cooperative_loss(weights))
        if return_gate_weights:
            return outputs, {f"task_{k}": w for k, w in enumerate(weights)}
        return outputs

    def shared_weights(self):
        return self.experts.trainable_weights

    def gate_expert_names(self):
        experts = [f"expert_{n}" for n in range(self.num_experts)]
        return {f"task_{k}": experts for k in range(self.num_tasks)}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_experts": self.num_experts,
                "expert_units": self.expert_units,
                "cooperative_weight": self.cooperative_weight,
                "gate": serialize_gate(self.gate),
            }
        )
        return config


def cooperative_loss(gate_weights):
    """-sum_k sum_{n<m} g_k,n g_k,m, averaged over the batch (MoGENet equation (7)).

    sum_{n<m} g_n g_m = ((sum_n g_n)^2 - sum_n g_n^2) / 2 = (1 - sum_n g_n^2) / 2
    for weights that sum to 1, so the pairwise sum costs O(N), not O(N^2).

    Args:
        gate_weights: list of K tensors `(batch, experts)`, rows summing to 1.
    """
    total = 0.0
    for weights in gate_weights:
        sums = ops.sum(weights, axis=-1)
        pairs = (sums * sums - ops.sum(weights * weights, axis=-1)) / 2.0  # (batch,)
        total = total - ops.mean(pairs)
    return total
