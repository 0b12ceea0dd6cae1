from keras import ops

from zoo.api import register
from zoo.layers.gates.factory import check_gate_temperature, make_gate, serialize_gate
from zoo.layers.switchers.switcher import Switcher


@register
class MMoESwitcher(Switcher):
    """Mixture of experts with one gate per task (MMoE) or one in all (OMoE).

    h_k = sum_i g_k(x)_i f_i(x): N experts f_i see the input, task k mixes
    them with its own gate g_k. With `num_gates=1` a single gate serves every
    task (the one-gate OMoE baseline of the MMoE paper).

    Args:
        num_tasks: int >= 1, the number of task outputs.
        num_experts: int >= 1, the number of experts N.
        expert_units: list of int, hidden widths of each expert.
        num_gates: `None` (one gate per task, MMoE) or `1` (OMoE).
        gate_temperature: float > 0, softmax temperature of the default
            gates (`gate=None`).
        gate: the gate of every task: `None` for a `SoftmaxGate` with
            `gate_temperature`, a gate name from `zoo.registry.GATES`
            (`"noisy-top-k"`), a config dict or a prototype gate layer (see
            `zoo.layers.gates.factory`).
        expert_batch_norm: bool, BatchNormalization inside every expert
            (see `Experts`).
        activation: activation inside the experts. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout inside the experts.
        kernel_regularizer: regularizer of expert and gate kernels.
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.
        training: bool.
        return_gate_weights: when True, also return a dict from gate name
            (`"task_k"`, or `"shared"` for OMoE) to its weights
            `(batch, num_experts)`.

    Returns:
        A list of `num_tasks` tensors `(batch, expert_units[-1])`.

    Example:
    ```python
    switcher = zoo.layers.MMoESwitcher(num_tasks=2, num_experts=8, expert_units=[32])
    h_income, h_marital = switcher(np.ones((4, 16)))
    ```

    References:
        Ma et al., "Modeling Task Relationships in Multi-task Learning with
        Multi-gate Mixture-of-Experts", KDD 2018, equations (5) and (6).
    """

    def __init__(
        self,
        num_tasks,
        num_experts,
        expert_units,
        num_gates=None,
        gate_temperature=1.0,
        expert_batch_norm=False,
        gate=None,
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        if num_gates not in (None, 1):
            raise ValueError(
                "Expected num_gates to be None (one gate per task) or 1 (one shared gate). "
                f"Received: num_gates={num_gates}"
            )
        check_gate_temperature(gate, gate_temperature)
        self.num_experts = int(num_experts)
        self.expert_units = [int(u) for u in expert_units]
        self.num_gates = num_gates
        self.gate = serialize_gate(gate)
        self.gate_temperature = gate_temperature
        self.expert_batch_norm = expert_batch_norm
        self.experts = self.make_experts(
            self.num_experts, self.expert_units, "experts", expert_batch_norm
        )
        gate_names = ["shared"] if num_gates == 1 else [f"task_{k}" for k in range(num_tasks)]
        self.gates = {
            name: make_gate(
                self.gate,
                self.num_experts,
                f"gate_{name}",
                kernel_regularizer=self.kernel_regularizer,
                temperature=gate_temperature,
            )
            for name in gate_names
        }

    def build(self, input_shape):
        self.experts.build(input_shape)
        for gate in self.gates.values():
            gate.build(input_shape)

    def call(self, inputs, training=None, return_gate_weights=False):
        expert_outputs = self.experts(inputs, training=training)  # (batch, experts, units)
        weights = {name: gate(inputs) for name, gate in self.gates.items()}
        mixed = {
            # (batch, experts) x (batch, experts, units) -> (batch, units)
            name: ops.einsum("be,beu->bu", w, expert_outputs)
            for name, w in weights.items()
        }
        if self.num_gates == 1:
            outputs = [mixed["shared"]] * self.num_tasks
        else:
            outputs = [mixed[f"task_{k}"] for k in range(self.num_tasks)]
        return (outputs, weights) if return_gate_weights else outputs

    def shared_weights(self):
        return self.experts.trainable_weights

    def gate_expert_names(self):
        experts = [f"expert_{i}" for i in range(self.num_experts)]
        return {name: experts for name in self.gates}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_experts": self.num_experts,
                "expert_units": self.expert_units,
                "num_gates": self.num_gates,
                "gate_temperature": self.gate_temperature,
                "expert_batch_norm": self.expert_batch_norm,
                "gate": serialize_gate(self.gate),
            }
        )
        return config
