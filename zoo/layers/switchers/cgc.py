from keras import ops

from zoo.api import register
from zoo.layers.gates.factory import check_gate_temperature, make_gate, serialize_gate
from zoo.layers.switchers.branch_inputs import branch_inputs, branch_shapes
from zoo.layers.switchers.switcher import Switcher


@register
class CGCSwitcher(Switcher):
    """Customized Gate Control: task-specific experts plus shared experts.

    Task k owns m_k experts; s experts are shared. Task k's gate mixes its
    own experts and the shared ones. When `output_shared=True` (every PLE
    level but the top one), a shared gate over all experts also produces the
    input of the next level's shared experts.

    Args:
        num_tasks: int >= 1, the number of tasks K.
        num_task_experts: int, or a list of K ints, experts owned per task.
        num_shared_experts: int >= 0, experts shared by all tasks.
        expert_units: list of int, hidden widths of every expert.
        output_shared: bool, also output the shared branch. Defaults to
            `False`.
        gate_temperature: float > 0, softmax temperature of the default
            gates (`gate=None`).
        expert_batch_norm: bool, BatchNormalization inside every expert
            (see `Experts`).
        activation: activation inside the experts. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout inside the experts.
        kernel_regularizer: regularizer of expert and gate kernels.
        seed: int or `None`, seed of the dropout.
        gate: every gate's kind (task and shared gates, each over the
            experts it sees): `None` for a `SoftmaxGate` with
            `gate_temperature`, a gate name from `zoo.registry.GATES`
            (`"noisy-top-k"`), a config dict or a prototype gate layer (see
            `zoo.layers.gates.factory`).
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)` shared by every branch, or
            a list of K + 1 tensors: the K task branches, then the shared
            branch (the outputs of a lower level).
        training: bool.
        return_gate_weights: when True, also return a dict from gate name
            (`"task_k"`, `"shared"`) to its weights `(batch, experts_seen)`;
            task k's weights list its own experts first, then the shared.

    Returns:
        A list of K tensors `(batch, expert_units[-1])`, plus the shared
        branch's tensor last when `output_shared=True`.

    References:
        Tang et al., "Progressive Layered Extraction (PLE)", RecSys 2020,
        equations (1) to (4).
    """

    def __init__(
        self,
        num_tasks,
        num_task_experts,
        num_shared_experts,
        expert_units,
        output_shared=False,
        gate_temperature=1.0,
        expert_batch_norm=False,
        gate=None,
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        if isinstance(num_task_experts, int):
            num_task_experts = [num_task_experts] * int(num_tasks)
        num_task_experts = [int(n) for n in num_task_experts]
        if len(num_task_experts) != int(num_tasks):
            raise ValueError(
                f"Expected one expert count per task ({num_tasks}). "
                f"Received: num_task_experts={num_task_experts}"
            )
        if any(n < 0 for n in num_task_experts) or int(num_shared_experts) < 0:
            raise ValueError(
                "Expert counts must be >= 0. Received: "
                f"num_task_experts={num_task_experts}, num_shared_experts={num_shared_experts}"
            )
        for k, n in enumerate(num_task_experts):
            if n + int(num_shared_experts) == 0:
                raise ValueError(
                    f"Task {k} would see no expert: num_task_experts[{k}]=0 and "
                    "num_shared_experts=0."
                )
        if output_shared and int(num_shared_experts) == 0:
            raise ValueError("output_shared=True needs num_shared_experts >= 1.")
        check_gate_temperature(gate, gate_temperature)
        self.num_task_experts = num_task_experts
        self.num_shared_experts = int(num_shared_experts)
        self.expert_units = [int(u) for u in expert_units]
        self.output_shared = output_shared
        self.gate_temperature = gate_temperature
        self.expert_batch_norm = expert_batch_norm
        self.gate = serialize_gate(gate)

        def make_experts(count, name):
            return self.make_experts(count, self.expert_units, name, expert_batch_norm)

        def new_gate(count, name):
            return make_gate(
                self.gate,
                count,
                name,
                kernel_regularizer=self.kernel_regularizer,
                temperature=gate_temperature,
            )

        self.task_experts = [
            make_experts(n, f"experts_task_{k}") for k, n in enumerate(num_task_experts)
        ]
        self.shared_experts = make_experts(self.num_shared_experts, "experts_shared")
        self.task_gates = [
            new_gate(n + self.num_shared_experts, f"gate_task_{k}")
            for k, n in enumerate(num_task_experts)
        ]
        self.shared_gate = (
            new_gate(sum(num_task_experts) + self.num_shared_experts, "gate_shared")
            if output_shared
            else None
        )

    def build(self, input_shape):
        shapes = branch_shapes(input_shape, self.num_tasks + 1)
        for k in range(self.num_tasks):
            if self.task_experts[k] is not None:
                self.task_experts[k].build(shapes[k])
            self.task_gates[k].build(shapes[k])
        if self.shared_experts is not None:
            self.shared_experts.build(shapes[-1])
        if self.shared_gate is not None:
            self.shared_gate.build(shapes[-1])

    def call(self, inputs, training=None, return_gate_weights=False):
        branches = branch_inputs(inputs, self.num_tasks + 1, self.name)
        shared_in = branches[-1]
        shared_out = (
            self.shared_experts(shared_in, training=training)
            if self.shared_experts is not None
            else None
        )  # (batch, shared_experts, units)
        own_outputs = [
            experts(x, training=training) if experts is not None else None
            for experts, x in zip(self.task_experts, branches[:-1])
        ]  # each (batch, task_experts_k, units)

        outputs, weights = [], {}
        for k in range(self.num_tasks):
            pool = [e for e in (own_outputs[k], shared_out) if e is not None]
            pool = pool[0] if len(pool) == 1 else ops.concatenate(pool, axis=1)
            w = self.task_gates[k](branches[k])  # (batch, experts_seen_by_k)
            weights[f"task_{k}"] = w
            outputs.append(ops.einsum("be,beu->bu", w, pool))  # (batch, units)
        if self.shared_gate is not None:
            pool = ops.concatenate([e for e in own_outputs if e is not None] + [shared_out], axis=1)
            w = self.shared_gate(shared_in)  # (batch, all_experts)
            weights["shared"] = w
            outputs.append(ops.einsum("be,beu->bu", w, pool))
        return (outputs, weights) if return_gate_weights else outputs

    def shared_weights(self):
        return self.shared_experts.trainable_weights if self.shared_experts is not None else []

    def gate_expert_names(self):
        own = [
            [f"task_{k}/expert_{i}" for i in range(n)] for k, n in enumerate(self.num_task_experts)
        ]
        shared = [f"shared/expert_{i}" for i in range(self.num_shared_experts)]
        names = {f"task_{k}": own[k] + shared for k in range(self.num_tasks)}
        if self.shared_gate is not None:
            names["shared"] = [e for experts in own for e in experts] + shared
        return names

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_task_experts": self.num_task_experts,
                "num_shared_experts": self.num_shared_experts,
                "expert_units": self.expert_units,
                "output_shared": self.output_shared,
                "gate_temperature": self.gate_temperature,
                "expert_batch_norm": self.expert_batch_norm,
                "gate": serialize_gate(self.gate),
            }
        )
        return config
