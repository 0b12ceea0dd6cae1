from keras import ops

from zoo.api import register
from zoo.layers.gates.factory import check_gate_temperature, make_gate, serialize_gate
from zoo.layers.switchers.branch_inputs import branch_inputs, branch_shapes
from zoo.layers.switchers.switcher import Switcher

GATE_INPUTS = ("sum", "concat")


@register
class STEMSwitcher(Switcher):
    """STEM-Net's experts and All Forward Task-specific Backward (AFTB) gates.

    The input is one embedding per task, e^1 ... e^K, and a shared one, e^S
    (a `SharedAndTaskEmbeddingBackbone` makes them). Task k owns m_k experts
    f^k_i that read e^k; s shared experts f^S_j read e^S. Task t's gate
    reads its own and the shared embedding and weighs every expert, all
    tasks' included ("all forward"), but task t's loss reaches only its own
    and the shared experts ("task-specific backward"):

        g^t = G^t(e^t + e^S),  a distribution over all sum_k m_k + s experts,
        h^t = sum_i g^t_{t,i} f^t_i(e^t)
              + sum_{k != t} sum_i g^t_{k,i} sg(f^k_i(e^k))
              + sum_j g^t_{S,j} f^S_j(e^S),

    with sg the stop-gradient. So another task's experts and embedding
    tables receive no gradient from task t's loss, while task t still reads
    what they learned for their own task; the shared experts and shared
    embedding are trained by every task.

    The paper's equations could not be read when this was written, so the
    details follow the authors' code: the stop-gradient is placed as their
    `STEM_Layer.forward` places `.detach()`, on the other tasks'
    task-specific expert outputs only (not on the shared experts, not on the
    gate input, which holds no other task's embedding); the gate's input is the
    sum e^t + e^S (`gate_input="sum"`), which needs the task and shared
    embeddings of equal width; `"concat"` gives the gate [e^t, e^S] instead
    (a linear gate on the sum is one on the concatenation with tied halves),
    for task embeddings of another width. The authors' gates are MLPs
    (`gate_hidden_units=[128, 64]`) before the softmax; here the gate is
    whatever `gate=` names, a linear softmax by default. Their layer also
    has a shared gate for stacking several STEM layers (`num_layers`, 1 in
    their configuration); this switcher is one layer and has none.

    Args:
        num_tasks: int >= 1, the number of tasks K.
        num_task_experts: int, or a list of K ints, experts owned per task
            (each reads its task's embedding).
        num_shared_experts: int >= 0, experts that read the shared
            embedding.
        expert_units: list of int, hidden widths of every expert.
        gate_input: what task t's gate reads: `"sum"`, e^t + e^S (the
            authors' code), or `"concat"`, [e^t, e^S].
        gate_temperature: float > 0, softmax temperature of the default
            gates (`gate=None`).
        expert_batch_norm: bool, BatchNormalization inside every expert
            (see `Experts`).
        gate: every task gate's kind (each over all the experts): `None` for
            a `SoftmaxGate` with `gate_temperature`, a gate name from
            `zoo.registry.GATES` (`"dselect-k"`), a config dict or a
            prototype gate layer (see `zoo.layers.gates.factory`).
        activation: activation inside the experts. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout inside the experts.
        kernel_regularizer: regularizer of expert and gate kernels.
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: a list of K + 1 float tensors: the K task embeddings
            `(batch, task_dim)`, then the shared one `(batch, shared_dim)`;
            or one tensor that stands for all of them.
        training: bool.
        return_gate_weights: when True, also return a dict from gate name
            (`"task_k"`) to its weights `(batch, sum_k m_k + s)`: task 0's
            experts, task 1's, ..., then the shared ones (the same order for
            every gate).

    Returns:
        A list of K tensors `(batch, expert_units[-1])`.

    Example:
    ```python
    switcher = zoo.layers.STEMSwitcher(
        num_tasks=2, num_task_experts=1, num_shared_experts=2, expert_units=[16]
    )
    e_income, e_marital, e_shared = np.ones((3, 4, 12))
    h_income, h_marital = switcher([e_income, e_marital, e_shared])
    ```

    References:
        Su, Pan, Wang, Xiao, Quan, Chen, Jiang, "STEM: Unleashing the Power
        of Embeddings for Multi-task Recommendation", AAAI 2024
        (arXiv:2308.13537), section "STEM-Net": the shared and task-specific
        embeddings and experts, and the AFTB gating network with its
        stop-gradients. The authors' code: github.com/LiangcaiSu/STEM,
        `models/STEM.py`.
    """

    def __init__(
        self,
        num_tasks,
        num_task_experts,
        num_shared_experts,
        expert_units,
        gate_input="sum",
        gate_temperature=1.0,
        expert_batch_norm=False,
        gate=None,
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        if isinstance(num_task_experts, int):
            num_task_experts = [num_task_experts] * self.num_tasks
        num_task_experts = [int(n) for n in num_task_experts]
        if len(num_task_experts) != self.num_tasks:
            raise ValueError(
                f"Expected one expert count per task ({self.num_tasks}). "
                f"Received: num_task_experts={num_task_experts}"
            )
        if any(n < 0 for n in num_task_experts) or int(num_shared_experts) < 0:
            raise ValueError(
                "Expected expert counts >= 0. Received: "
                f"num_task_experts={num_task_experts}, num_shared_experts={num_shared_experts}"
            )
        if sum(num_task_experts) + int(num_shared_experts) == 0:
            raise ValueError(
                "Expected at least one expert. Received: "
                f"num_task_experts={num_task_experts}, num_shared_experts={num_shared_experts}"
            )
        if gate_input not in GATE_INPUTS:
            raise ValueError(
                f"Expected gate_input to be one of {GATE_INPUTS}. "
                f"Received: gate_input={gate_input!r}"
            )
        check_gate_temperature(gate, gate_temperature)
        self.num_task_experts = num_task_experts
        self.num_shared_experts = int(num_shared_experts)
        self.expert_units = [int(u) for u in expert_units]
        self.gate_input = gate_input
        self.gate_temperature = gate_temperature
        self.expert_batch_norm = expert_batch_norm
        self.gate = serialize_gate(gate)

        def make_experts(count, name):
            return self.make_experts(count, self.expert_units, name, expert_batch_norm)

        self.task_experts = [
            make_experts(n, f"experts_task_{k}") for k, n in enumerate(num_task_experts)
        ]
        self.shared_experts = make_experts(self.num_shared_experts, "experts_shared")
        num_experts = sum(num_task_experts) + self.num_shared_experts
        self.task_gates = [
            make_gate(
                self.gate,
                num_experts,
                f"gate_task_{k}",
                kernel_regularizer=self.kernel_regularizer,
                temperature=gate_temperature,
            )
            for k in range(self.num_tasks)
        ]

    def build(self, input_shape):
        shapes = branch_shapes(input_shape, self.num_tasks + 1)
        shared_shape = shapes[-1]
        for k in range(self.num_tasks):
            if self.task_experts[k] is not None:
                self.task_experts[k].build(shapes[k])
            self.task_gates[k].build(self._gate_input_shape(k, shapes[k], shared_shape))
        if self.shared_experts is not None:
            self.shared_experts.build(shared_shape)

    def _gate_input_shape(self, k, task_shape, shared_shape):
        task_dim, shared_dim = int(task_shape[-1]), int(shared_shape[-1])
        if self.gate_input == "concat":
            return tuple(task_shape[:-1]) + (task_dim + shared_dim,)
        if task_dim != shared_dim:
            raise ValueError(
                'gate_input="sum" adds the task and the shared embedding, so expected them of '
                f"one width; use gate_input='concat' for others. Received: task {k} width "
                f"{task_dim}, shared width {shared_dim}"
            )
        return tuple(task_shape)

    def call(self, inputs, training=None, return_gate_weights=False):
        branches = branch_inputs(inputs, self.num_tasks + 1, self.name)
        shared_in = branches[-1]
        task_outputs = [
            experts(x, training=training) if experts is not None else None
            for experts, x in zip(self.task_experts, branches[:-1])
        ]  # each (batch, task_experts_k, units)
        shared_out = (
            self.shared_experts(shared_in, training=training)
            if self.shared_experts is not None
            else None
        )  # (batch, shared_experts, units)
        # Another task's experts enter task t's mixture through a stop-gradient: task t reads
        # them (all forward) but its loss trains only its own and the shared ones (task-specific
        # backward), so it cannot pull another task's embedding towards its own objective.
        frozen = [None if out is None else ops.stop_gradient(out) for out in task_outputs]

        outputs, weights = [], {}
        for t in range(self.num_tasks):
            pool = [task_outputs[k] if k == t else frozen[k] for k in range(self.num_tasks)]
            pool = [e for e in pool + [shared_out] if e is not None]
            pool = pool[0] if len(pool) == 1 else ops.concatenate(pool, axis=1)
            if self.gate_input == "sum":
                gate_in = branches[t] + shared_in  # (batch, dim)
            else:
                # (batch, task_dim + shared_dim)
                gate_in = ops.concatenate([branches[t], shared_in], axis=-1)
            w = self.task_gates[t](gate_in)  # (batch, all_experts)
            weights[f"task_{t}"] = w
            outputs.append(ops.einsum("be,beu->bu", w, pool))  # (batch, units)
        return (outputs, weights) if return_gate_weights else outputs

    def shared_weights(self):
        return self.shared_experts.trainable_weights if self.shared_experts is not None else []

    def gate_expert_names(self):
        names = [
            f"task_{k}/expert_{i}" for k, n in enumerate(self.num_task_experts) for i in range(n)
        ]
        names += [f"shared/expert_{i}" for i in range(self.num_shared_experts)]
        return {f"task_{t}": list(names) for t in range(self.num_tasks)}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_task_experts": self.num_task_experts,
                "num_shared_experts": self.num_shared_experts,
                "expert_units": self.expert_units,
                "gate_input": self.gate_input,
                "gate_temperature": self.gate_temperature,
                "expert_batch_norm": self.expert_batch_norm,
                "gate": serialize_gate(self.gate),
            }
        )
        return config
