from zoo.api import register
from zoo.layers.gates.factory import serialize_gate
from zoo.layers.switchers.cgc import CGCSwitcher
from zoo.layers.switchers.switcher import Switcher


@register
class PLESwitcher(Switcher):
    """Progressive Layered Extraction: CGC levels stacked.

    Every level but the top also outputs its shared branch, which feeds the
    next level's shared experts; the top level is a plain CGC.

    Args:
        num_tasks: int >= 1.
        num_levels: int >= 1, the number of extraction levels L.
        num_task_experts: int or list of K ints, per-task experts per level.
        num_shared_experts: int >= 1, shared experts per level.
        expert_units: list of int (every level), or a list of L such lists.
        gate_temperature: float > 0, softmax temperature of the default gates.
        expert_batch_norm: bool, BatchNormalization inside every expert
            (see `Experts`).
        activation, dropout, kernel_regularizer, seed, gate: as in
            `CGCSwitcher`; every level's gates are of the kind `gate` says.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)` or a list of K + 1 tensors.
        training: bool.
        return_gate_weights: when True, also return the gate weights of every
            level, keyed `"level_l/task_k"` and `"level_l/shared"`.

    Returns:
        A list of K tensors `(batch, units_of_the_top_level[-1])`.

    References:
        Tang et al., "Progressive Layered Extraction (PLE)", RecSys 2020,
        section 4.3.
    """

    def __init__(
        self,
        num_tasks,
        num_levels,
        num_task_experts,
        num_shared_experts,
        expert_units,
        gate_temperature=1.0,
        expert_batch_norm=False,
        gate=None,
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        if int(num_levels) < 1:
            raise ValueError(f"Expected num_levels >= 1. Received: num_levels={num_levels}")
        if int(num_levels) > 1 and int(num_shared_experts) < 1:
            raise ValueError(
                "PLE with more than one level passes information upwards through the "
                f"shared experts; expected num_shared_experts >= 1. Received: {num_shared_experts}"
            )
        per_level_units = (
            [list(u) for u in expert_units]
            if expert_units and isinstance(expert_units[0], (list, tuple))
            else [list(expert_units)] * int(num_levels)
        )
        if len(per_level_units) != int(num_levels):
            raise ValueError(
                f"Expected expert_units for {num_levels} levels. Received: {expert_units}"
            )
        self.num_levels = int(num_levels)
        self.num_task_experts = num_task_experts
        self.num_shared_experts = int(num_shared_experts)
        self.expert_units = expert_units
        self.gate_temperature = gate_temperature
        self.expert_batch_norm = expert_batch_norm
        self.gate = serialize_gate(gate)
        self.levels = [
            CGCSwitcher(
                self.num_tasks,
                num_task_experts,
                self.num_shared_experts,
                per_level_units[level],
                output_shared=level < self.num_levels - 1,
                gate_temperature=gate_temperature,
                expert_batch_norm=expert_batch_norm,
                activation=self.activation,
                dropout=self.dropout,
                kernel_regularizer=self.kernel_regularizer,
                seed=self.seed,
                gate=self.gate,
                name=f"level_{level}",
            )
            for level in range(self.num_levels)
        ]

    def build(self, input_shape):
        shape = input_shape
        for level in self.levels:
            level.build(shape)
            width = level.expert_units[-1]
            shape = [(None, width)] * (self.num_tasks + 1)

    def call(self, inputs, training=None, return_gate_weights=False):
        x = inputs
        all_weights = {}
        for index, level in enumerate(self.levels):
            x, weights = level(x, training=training, return_gate_weights=True)
            all_weights.update({f"level_{index}/{name}": w for name, w in weights.items()})
        return (x, all_weights) if return_gate_weights else x

    def shared_weights(self):
        return [w for level in self.levels for w in level.shared_weights()]

    def gate_expert_names(self):
        return {
            f"level_{index}/{gate}": [f"level_{index}/{e}" for e in experts]
            for index, level in enumerate(self.levels)
            for gate, experts in level.gate_expert_names().items()
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_levels": self.num_levels,
                "num_task_experts": self.num_task_experts,
                "num_shared_experts": self.num_shared_experts,
                "expert_units": self.expert_units,
                "gate_temperature": self.gate_temperature,
                "expert_batch_norm": self.expert_batch_norm,
                "gate": serialize_gate(self.gate),
            }
        )
        return config
