import keras
from keras import ops

from zoo.api import register
from zoo.layers.gates.factory import make_gate, serialize_gate
from zoo.layers.search.choice_block import ChoiceBlock
from zoo.layers.switchers.switcher import Switcher


@register
class SearchedExpertsSwitcher(Switcher):
    """A derived AutoMTL architecture: the chosen operations, each task gating its chosen experts.

    Field vectors -> the chosen feature-interaction operation (or none) ->
    a linear map to the expert width -> the experts, each its chosen
    operations in order ("skip" blocks fall away) -> for task k, a gate
    (softmax unless `gate` says otherwise) over the experts it selected, as
    MMoE but over `task_experts[k]` only. Experts no task selected are not built.

    Args:
        num_tasks: int >= 1.
        num_fields: int, fields of the input.
        field_dim: int, width of each field vector.
        interaction: the chosen interaction candidate name, or `None` / `"skip"`.
        experts: list (one per expert) of lists of candidate names, bottom
            to top.
        task_experts: list (one per task) of the indices of its experts.
        expert_width: int, width of the experts' input, blocks and output.
        gate: each task's gate over its experts: `None` for a `SoftmaxGate`,
            a gate name from `zoo.registry.GATES` (`"noisy-top-k"`), a config
            dict or a prototype gate layer (see `zoo.layers.gates.factory`).
            A top-k gate's k must not exceed any task's expert count.
        **kwargs: `Switcher` and base layer keyword arguments.

    Call arguments:
        inputs: field vectors `(batch, num_fields, field_dim)`.
        training: bool.
        return_gate_weights: also return a dict from `"task_k"` to its
            `(batch, len(task_experts[k]))` gate weights.

    Returns:
        A list of `num_tasks` tensors `(batch, expert_width)`.

    Example:
    ```python
    switcher = zoo.layers.SearchedExpertsSwitcher(
        num_tasks=2, num_fields=5, field_dim=4, interaction="cross-2",
        experts=[["conv1d-3", "mlp-16"], ["bit-gate", "skip"]],
        task_experts=[[0, 1], [1]], expert_width=8)
    click, like = switcher(np.ones((4, 5, 4)))
    ```

    References:
        "AutoMTL: Automatic Multi-Task Learning Framework with Neural
        Architecture Search for Recommender Systems", Algorithm 1, lines 10-12.
    """

    def __init__(
        self,
        num_tasks,
        num_fields,
        field_dim,
        interaction,
        experts,
        task_experts,
        expert_width=64,
        gate=None,
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        self.num_fields = int(num_fields)
        self.field_dim = int(field_dim)
        self.interaction_op = None if interaction in (None, "skip") else str(interaction)
        self.experts = [list(ops_) for ops_ in experts]
        self.task_experts = [[int(i) for i in chosen] for chosen in task_experts]
        self.expert_width = int(expert_width)
        self.gate = serialize_gate(gate)
        if len(self.task_experts) != self.num_tasks:
            raise ValueError(
                f"Expected one expert list per task ({self.num_tasks}). Received: "
                f"task_experts={self.task_experts}"
            )
        for k, chosen in enumerate(self.task_experts):
            bad = [i for i in chosen if not 0 <= i < len(self.experts)]
            if not chosen or bad or len(set(chosen)) != len(chosen):
                raise ValueError(
                    f"task_experts[{k}]={chosen}: expected distinct indices of the "
                    f"{len(self.experts)} experts, at least one."
                )
        self.used_experts = sorted({i for chosen in self.task_experts for i in chosen})
        self.interaction = (
            None
            if self.interaction_op is None
            else ChoiceBlock(
                [self.interaction_op], self.num_fields * self.field_dim, name="interaction"
            )
        )
        self.projection = keras.layers.Dense(self.expert_width, name="expert_input")
        self.expert_blocks = {
            f"expert_{i}": [
                ChoiceBlock([op], self.expert_width, name=f"expert_{i}_block_{j}")
                for j, op in enumerate(self.experts[i])
                if op != "skip"
            ]
            for i in self.used_experts
        }
        self.gates = [
            make_gate(self.gate, len(chosen), f"gate_task_{k}")
            for k, chosen in enumerate(self.task_experts)
        ]

    def build(self, input_shape):
        if self.interaction is not None:
            self.interaction.build(input_shape)
        self.projection.build((None, self.num_fields * self.field_dim))
        for blocks in self.expert_blocks.values():
            for block in blocks:
                block.build((None, self.expert_width))
        for gate in self.gates:
            gate.build((None, self.expert_width))

    def call(self, inputs, training=None, return_gate_weights=False):
        if self.interaction is None:
            x = ops.reshape(inputs, (-1, self.num_fields * self.field_dim))
        else:
            x = self.interaction(inputs, training=training)
        h = self.projection(x)  # (batch, expert_width)
        outputs_by_expert = {}
        for i in self.used_experts:
            e = h
            for block in self.expert_blocks[f"expert_{i}"]:
                e = block(e, training=training)
            outputs_by_expert[i] = e
        outputs, weights = [], {}
        for k, (chosen, gate) in enumerate(zip(self.task_experts, self.gates)):
            stacked = ops.stack([outputs_by_expert[i] for i in chosen], axis=1)  # (batch, c, width)
            weights[f"task_{k}"] = gate(h)  # (batch, c)
            outputs.append(ops.einsum("be,beu->bu", weights[f"task_{k}"], stacked))
        return (outputs, weights) if return_gate_weights else outputs

    def shared_weights(self):
        # Used by every task: the interaction operation and the expert input map.
        weights = list(self.projection.trainable_weights)
        if self.interaction is not None:
            weights += self.interaction.trainable_weights
        return weights

    def gate_expert_names(self):
        return {
            f"task_{k}": [f"expert_{i}" for i in chosen]
            for k, chosen in enumerate(self.task_experts)
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_fields": self.num_fields,
                "field_dim": self.field_dim,
                "interaction": self.interaction_op,
                "experts": self.experts,
                "task_experts": self.task_experts,
                "expert_width": self.expert_width,
                "gate": serialize_gate(self.gate),
            }
        )
        return config
