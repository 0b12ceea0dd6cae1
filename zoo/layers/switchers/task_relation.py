import numbers

from keras import ops

from zoo.api import register
from zoo.layers.core.mlp import MLP
from zoo.layers.gates.factory import serialize_gate
from zoo.layers.switchers.mmoe import MMoESwitcher
from zoo.layers.switchers.switcher import Switcher


@register
class TaskRelationSwitcher(Switcher):
    """DBMTL's switcher: each task's representation is conditioned on those of earlier tasks.

    A shared bottom (an MLP, and optionally MMoE experts with one gate per
    task over it) gives each task its input; task t's own tower turns it
    into h_t; a relation MLP then conditions it on the relation outputs of
    the tasks t depends on:

        r_t = relation_mlp_t(concat(h_t, r_j for j in relations[t])),

    and r_t is the task's representation (the model's tower maps it to a
    logit). With the default chain, relations[t] = [t - 1], the network
    follows the paper's Bayesian factorisation
    P(t_1, ..., t_T | x) = P(t_1 | x) P(t_2 | t_1, x) ... P(t_T | t_{T-1}, x):
    r_{t-1} stands for the earlier target that t is conditioned on, learnt
    end to end rather than fed the label. A task reads only tasks before
    it, so the graph is acyclic and task t's output does not depend on any
    later task (the gradient of t's loss still reaches earlier tasks'
    networks through r_j, which is how the relation is learnt).

    Follows EasyRec's `dbmtl.py` (the authors' framework): `bottom_dnn`,
    `expert_dnn` with `num_expert`, each task tower's `dnn`,
    `relation_tower_names` and `relation_dnn`, where a relation may only
    name a tower defined before it.

    Args:
        num_tasks: int >= 1, the number of tasks.
        task_units: list of int, widths of each task's tower (may be empty:
            the task reads its input as it is).
        relation_units: list of int, widths of each task's relation MLP;
            the last is the width of the outputs.
        relations: list of `num_tasks` lists; `relations[t]` holds the
            indices of the earlier tasks task t depends on. `None` for the
            chain `[[], [0], [1], ...]`. A task may depend only on tasks
            before it: itself (a cycle) or a later task (a forward
            reference) is an error.
        bottom_units: list of int, widths of the shared bottom MLP; empty for
            none.
        num_experts: int >= 0; with more than 0, MMoE experts (one gate per
            task) over the bottom give each task its input (EasyRec's
            DBMTL + MMoE); with 0, every task reads the bottom.
        expert_units: list of int, widths of each expert (with
            `num_experts > 0`).
        gate: the experts' gates (see `zoo.layers.MMoESwitcher`), `None`
            for softmax gates.
        activation: hidden activation. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout after every hidden layer.
        kernel_regularizer: regularizer of every kernel, or `None`.
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.
        training: bool.
        return_gate_weights: when True, also return the experts' gate
            weights (`"task_k"` to `(batch, num_experts)`); `{}` without
            experts.

    Returns:
        A list of `num_tasks` tensors r_t, each `(batch, relation_units[-1])`.

    Example:
    ```python
    switcher = zoo.layers.TaskRelationSwitcher(
        num_tasks=3, task_units=[32], relation_units=[16], bottom_units=[64]
    )
    r_click, r_cart, r_buy = switcher(np.ones((4, 10)))  # a chain: buy <- cart <- click
    ```

    References:
        Ji et al., "DBMTL: Deep Bayesian Multi-Target Learning for
        Recommender Systems", arXiv 1902.09154; EasyRec's
        `easy_rec/python/model/dbmtl.py`.
    """

    def __init__(
        self,
        num_tasks,
        task_units,
        relation_units=(32,),
        relations=None,
        bottom_units=(),
        num_experts=0,
        expert_units=(),
        gate=None,
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        self.task_units = [int(u) for u in task_units]
        self.relation_units = [int(u) for u in relation_units]
        if not self.relation_units:
            raise ValueError(
                "Expected at least one relation width. Received: "
                f"relation_units={list(relation_units)}"
            )
        self.relations = check_relations(relations, self.num_tasks)
        self.bottom_units = [int(u) for u in bottom_units]
        self.num_experts = int(num_experts)
        if self.num_experts < 0:
            raise ValueError(f"Expected num_experts >= 0. Received: num_experts={num_experts}")
        self.expert_units = [int(u) for u in expert_units]
        if self.num_experts > 0 and not self.expert_units:
            raise ValueError(
                "Expected expert_units (the experts' widths) with num_experts > 0. "
                f"Received: num_experts={num_experts}, expert_units={list(expert_units)}"
            )
        self.gate = serialize_gate(gate)
        mlp_arguments = {
            "activation": self.activation,
            "dropout": self.dropout,
            "kernel_regularizer": self.kernel_regularizer,
            "seed": self.seed,
        }
        self.bottom = MLP(self.bottom_units, name="bottom", **mlp_arguments)
        self.experts = None
        if self.num_experts > 0:
            self.experts = MMoESwitcher(
                self.num_tasks,
                self.num_experts,
                self.expert_units,
                gate=self.gate,
                name="experts",
                **mlp_arguments,
            )
        self.towers = [
            MLP(self.task_units, name=f"tower_{t}", **mlp_arguments) for t in range(self.num_tasks)
        ]
        self.relation_networks = [
            MLP(self.relation_units, name=f"relation_{t}", **mlp_arguments)
            for t in range(self.num_tasks)
        ]

    def build(self, input_shape):
        self.bottom.build(input_shape)
        shape = self.bottom.compute_output_shape(input_shape)
        if self.experts is not None:
            self.experts.build(shape)
            shape = (shape[0], self.expert_units[-1])
        for t in range(self.num_tasks):
            self.towers[t].build(shape)
            width = self.towers[t].compute_output_shape(shape)[-1]
            width += len(self.relations[t]) * self.relation_units[-1]
            self.relation_networks[t].build((shape[0], width))

    def call(self, inputs, training=None, return_gate_weights=False):
        bottom = self.bottom(inputs, training=training)  # (batch, bottom_units[-1])
        weights = {}
        if self.experts is None:
            task_inputs = [bottom] * self.num_tasks
        else:
            task_inputs, weights = self.experts(
                bottom, training=training, return_gate_weights=True
            )  # each (batch, expert_units[-1])
        outputs = []
        for t in range(self.num_tasks):
            own = self.towers[t](task_inputs[t], training=training)  # (batch, task_units[-1])
            # Earlier tasks' relation outputs, in the order relations[t] lists them.
            parts = [own, *(outputs[j] for j in self.relations[t])]
            joined = ops.concatenate(parts, axis=-1) if len(parts) > 1 else own
            outputs.append(self.relation_networks[t](joined, training=training))
        return (outputs, weights) if return_gate_weights else outputs

    def shared_weights(self):
        shared = list(self.bottom.trainable_weights)
        if self.experts is not None:
            shared += self.experts.shared_weights()
        return shared

    def gate_expert_names(self):
        return {} if self.experts is None else self.experts.gate_expert_names()

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], self.relation_units[-1])] * self.num_tasks

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "task_units": self.task_units,
                "relation_units": self.relation_units,
                "relations": [list(r) for r in self.relations],
                "bottom_units": self.bottom_units,
                "num_experts": self.num_experts,
                "expert_units": self.expert_units,
                "gate": serialize_gate(self.gate),
            }
        )
        return config


def check_relations(relations, num_tasks):
    """`relations` as a list of `num_tasks` lists of earlier task indices; `None` is the chain.

    Raises:
        ValueError: a list of another length, an index that is not an int
            of an earlier task (itself: a cycle; a later one: a forward
            reference; or one out of range), or one listed twice.
    """
    if relations is None:
        return [[] if t == 0 else [t - 1] for t in range(num_tasks)]
    relations = [list(r) for r in relations]
    if len(relations) != num_tasks:
        raise ValueError(
            f"Expected one list of earlier task indices per task ({num_tasks}). "
            f"Received: relations={relations}"
        )
    for t, parents in enumerate(relations):
        for j in parents:
            if isinstance(j, bool) or not isinstance(j, numbers.Integral):
                raise ValueError(
                    f"Expected task indices (ints) in relations[{t}]. "
                    f"Received: relations={relations}"
                )
            if j == t or not 0 <= j < t:
                # Only earlier tasks: the graph is then acyclic by construction.
                if j == t:
                    kind = "itself, a cycle"
                elif j > t:
                    kind = f"task {j}, a forward reference"
                else:
                    kind = f"task {j}, which does not exist"
                raise ValueError(
                    f"Task {t} depends on {kind}. Expected relations[{t}] to name only tasks "
                    f"before it, {list(range(t))}. Received: relations={relations}"
                )
        if len(set(parents)) != len(parents):
            raise ValueError(
                f"Expected each task at most once in relations[{t}]. "
                f"Received: relations={relations}"
            )
        relations[t] = [int(j) for j in parents]
    return relations
