import keras
from keras import ops

from zoo.api import register
from zoo.layers.gates.factory import make_gate, serialize_gate
from zoo.layers.search.candidates import EXPERT_OPS, INTERACTION_OPS
from zoo.layers.search.choice_block import ChoiceBlock
from zoo.layers.search.expert_selection import ExpertSelection
from zoo.layers.switchers.switcher import Switcher


@register
class AutoMTLSearchSwitcher(Switcher):
    """AutoMTL's supernet: a searchable interaction block, heterogeneous experts, selection.

    Field vectors -> one feature-interaction `ChoiceBlock` -> a linear map
    to the expert width -> N experts, each a stack of `num_blocks` expert
    `ChoiceBlock`s -> per task, softmax(beta)-weighted experts
    (`ExpertSelection`). The architecture weights alpha live here:
    `interaction_alpha` `(interaction candidates,)` and `expert_alpha`
    `(experts, blocks, expert candidates)` (one row shared by every expert
    with `shared_expert_architecture`); `architecture_weights()` and
    `selection_weights()` hand them to the search, which trains them apart
    from the network weights.

    Args:
        num_tasks: int >= 1.
        num_fields: int, fields of the input.
        field_dim: int, width of each field vector.
        interaction_ops: candidate names of the feature-interaction block,
            or `None` for none (the inputs are only flattened: the paper's
            "w/o INT" ablation).
        expert_ops: candidate names of every expert block.
        num_experts: int >= 1, N.
        num_blocks: int >= 1, choice blocks per expert (n).
        expert_width: int, width of the experts' input, blocks and output.
        expert_selection: `True` for AutoMTL's beta; `False` replaces it by
            an input-dependent gate per task (the "w/o SEL" ablation).
        shared_expert_architecture: all experts search one architecture
            (the "hom Expert" ablation); their weights stay their own.
        jsd_weight: initial weight of the expert-selection JSD loss.
        seed: int or `None`, seed of the architecture weights' initial noise.
        gate: with `expert_selection=False`, each task's gate: `None` for a
            `SoftmaxGate`, a gate name from `zoo.registry.GATES`
            (`"noisy-top-k"`), a config dict or a prototype gate layer (see
            `zoo.layers.gates.factory`).
        **kwargs: `Switcher` and base layer keyword arguments.

    Call arguments:
        inputs: field vectors `(batch, num_fields, field_dim)`.
        training: bool.
        return_gate_weights: also return a dict from `"task_k"` to its
            `(batch, num_experts)` weights over the experts.

    Returns:
        A list of `num_tasks` tensors `(batch, expert_width)`.

    Example:
    ```python
    switcher = zoo.layers.AutoMTLSearchSwitcher(
        num_tasks=2, num_fields=5, field_dim=4, num_experts=3, num_blocks=2,
        expert_width=8, expert_ops=["skip", "mlp-16", "conv1d-3"])
    click, like = switcher(np.ones((4, 5, 4)))
    ```

    References:
        "AutoMTL: Automatic Multi-Task Learning Framework with Neural
        Architecture Search for Recommender Systems", section 3 and Figure 2.
    """

    def __init__(
        self,
        num_tasks,
        num_fields,
        field_dim,
        interaction_ops=INTERACTION_OPS,
        expert_ops=EXPERT_OPS,
        num_experts=8,
        num_blocks=3,
        expert_width=64,
        expert_selection=True,
        shared_expert_architecture=False,
        jsd_weight=1.0,
        seed=None,
        gate=None,
        **kwargs,
    ):
        super().__init__(num_tasks, seed=seed, **kwargs)
        if int(num_experts) < 1 or int(num_blocks) < 1:
            raise ValueError(
                "Expected num_experts >= 1 and num_blocks >= 1. Received: "
                f"num_experts={num_experts}, num_blocks={num_blocks}"
            )
        self.num_fields = int(num_fields)
        self.field_dim = int(field_dim)
        self.interaction_ops = None if interaction_ops is None else list(interaction_ops)
        self.expert_ops = list(expert_ops)
        self.num_experts = int(num_experts)
        self.num_blocks = int(num_blocks)
        self.expert_width = int(expert_width)
        self.expert_selection = bool(expert_selection)
        self.shared_expert_architecture = bool(shared_expert_architecture)
        self.jsd_weight = float(jsd_weight)
        if gate is not None and self.expert_selection:
            raise ValueError(
                "gate applies to the gates that replace expert selection; expected "
                f"expert_selection=False. Received: gate={gate!r}, expert_selection=True"
            )
        self.gate = serialize_gate(gate)
        self.interaction = (
            None
            if self.interaction_ops is None
            else ChoiceBlock(
                self.interaction_ops,
                self.num_fields * self.field_dim,
                normalize=True,
                name="interaction",
            )
        )
        self.projection = keras.layers.Dense(self.expert_width, name="expert_input")
        self.expert_blocks = [
            [
                ChoiceBlock(
                    self.expert_ops,
                    self.expert_width,
                    normalize=True,
                    name=f"expert_{i}_block_{j}",
                )
                for j in range(self.num_blocks)
            ]
            for i in range(self.num_experts)
        ]
        if self.expert_selection:
            self.selection = ExpertSelection(
                num_tasks, self.num_experts, jsd_weight=jsd_weight, seed=seed, name="selection"
            )
        else:
            self.gates = [
                make_gate(self.gate, self.num_experts, f"gate_task_{k}") for k in range(num_tasks)
            ]

    def build(self, input_shape):
        noise = keras.initializers.RandomNormal(stddev=1e-3, seed=self.seed)
        if self.interaction is not None:
            self.interaction.build(input_shape)
            self.interaction_alpha = self.add_weight(
                shape=(len(self.interaction_ops),), initializer=noise, name="interaction_alpha"
            )
        flat = (None, self.num_fields * self.field_dim)
        self.projection.build(flat)
        architectures = 1 if self.shared_expert_architecture else self.num_experts
        self.expert_alpha = self.add_weight(
            shape=(architectures, self.num_blocks, len(self.expert_ops)),
            initializer=noise,
            name="expert_alpha",
        )
        # DARTS-'s auxiliary skip connection; the search decays it to 0.
        self.skip_weight = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="auxiliary_skip_weight"
        )
        for blocks in self.expert_blocks:
            for block in blocks:
                block.build((None, self.expert_width))
        if self.expert_selection:
            self.selection.build()
        else:
            for gate in self.gates:
                gate.build((None, self.expert_width))

    def architecture_weights(self):
        """The alpha variables (trained on the validation loss)."""
        alphas = [self.expert_alpha]
        if self.interaction is not None:
            alphas.insert(0, self.interaction_alpha)
        return alphas

    def selection_weights(self):
        """The beta variables (trained on the training loss after the warm-up); none with gates."""
        return [self.selection.beta] if self.expert_selection else []

    def call(self, inputs, training=None, return_gate_weights=False):
        if self.interaction is None:
            x = ops.reshape(inputs, (-1, self.num_fields * self.field_dim))
        else:
            x = self.interaction(
                inputs,
                weights=ops.softmax(self.interaction_alpha),
                skip_weight=self.skip_weight,
                training=training,
            )
        h = self.projection(x)  # (batch, expert_width)
        block_weights = ops.softmax(self.expert_alpha, axis=-1)
        experts = []
        for i, blocks in enumerate(self.expert_blocks):
            e = h
            row = 0 if self.shared_expert_architecture else i
            for j, block in enumerate(blocks):
                e = block(
                    e,
                    weights=block_weights[row, j],
                    skip_weight=self.skip_weight,
                    training=training,
                )
            experts.append(e)
        stacked = ops.stack(experts, axis=1)  # (batch, experts, expert_width)
        if self.expert_selection:
            outputs = self.selection(stacked)
            probabilities = self.selection.probabilities()
            weights = {
                f"task_{k}": ops.broadcast_to(probabilities[k], (ops.shape(h)[0], self.num_experts))
                for k in range(self.num_tasks)
            }
        else:
            weights = {f"task_{k}": gate(h) for k, gate in enumerate(self.gates)}
            outputs = [
                ops.einsum("be,beu->bu", weights[f"task_{k}"], stacked)
                for k in range(self.num_tasks)
            ]
        return (outputs, weights) if return_gate_weights else outputs

    def gate_expert_names(self):
        experts = [f"expert_{i}" for i in range(self.num_experts)]
        return {f"task_{k}": experts for k in range(self.num_tasks)}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_fields": self.num_fields,
                "field_dim": self.field_dim,
                "interaction_ops": self.interaction_ops,
                "expert_ops": self.expert_ops,
                "num_experts": self.num_experts,
                "num_blocks": self.num_blocks,
                "expert_width": self.expert_width,
                "expert_selection": self.expert_selection,
                "shared_expert_architecture": self.shared_expert_architecture,
                "jsd_weight": self.jsd_weight,
                "gate": serialize_gate(self.gate),
            }
        )
        return config
