import numpy as np
from keras import ops

from zoo.api import register
from zoo.layers.core.feature_gate import FeatureGate
from zoo.layers.experts.private_input_experts import PrivateInputExperts
from zoo.layers.gates.factory import check_gate_temperature, make_gate, serialize_gate
from zoo.layers.switchers.switcher import Switcher


@register
class HoMESwitcher(Switcher):
    """Hierarchy of Multi-gate Experts: a meta-category level of experts, then a task level.

    The tasks are grouped into meta-categories (at Kuaishou: passive
    watch-time tasks and proactive interaction tasks). Two levels of
    experts follow the grouping, and each gate sees only the experts of its
    own branch of the hierarchy (the paper's hierarchy mask):

    - Level 0 (meta level): `S_0` globally shared experts and `C_0` experts
      per category read the input x. Category c's gate (on x) mixes the
      shared experts and category c's into z_c, the category's
      coarse-grained knowledge. A shared gate (on x) over every level-0
      expert gives z_s, as PLE's shared gate does.
    - Level 1 (task level): `S_1` shared experts read z_s; `C_1` experts per
      category and `T_k` experts of each task k read their category's z_c.
      Task k's gate (on z_c of its category c) mixes the shared experts,
      category c's and task k's own, and nothing else: no other category's
      and no other task's experts.

    The three mechanisms the paper adds to this hierarchy:

    - Expert normalization & Swish: every expert layer is batch-normalized
      (per expert and unit, over the batch) and followed by Swish, so all
      experts' outputs share one scale and none is mostly zeros (ReLU's),
      which is what let a gate favour one expert by scale alone.
      `expert_batch_norm` and `activation` switch these.
    - Feature-gate (`feature_gate`): every expert, at both levels, reads its
      own view of its input, x * 2 sigmoid(x B_i A_i) (a `FeatureGate` per
      expert, LoRA rank `feature_gate_rank`), so experts that share an input
      need not see the same features.
    - Self-gate (`self_gate`): the experts specific to an output (category
      c's for z_c, task k's for task k) are added to that output once more,
      mixed by weights computed from their own outputs E_j with a vector w:
      sigmoid(E_1 w) * E_1 for one expert, sum_j softmax_j(E_j w) E_j for
      several. This residual path reaches the specific experts whatever the
      main gate gives them, so a sparse task's own experts keep training.

    Details the paper's text does not pin down, as this layer assumes them: the
    feature-gate privatizes the input of every expert at both levels (one
    gate per expert, its LoRA up-projection zero-initialized so each gate
    starts at 1); the self-gate's w is one vector per output, zero-initialized
    (a plain average, or half of the single expert, at the start) and is not
    applied to shared or category-level-1 experts; level-1 gates read their
    category's z_c (as PLE's gates read their branch's input); z_s mixes
    every level-0 expert (PLE's shared gate), and is built only when
    `S_1 >= 1`.

    Args:
        num_tasks: int >= 1, the number of tasks K.
        num_shared_experts: int >= 0 for both levels, or a pair
            `[S_0, S_1]`: globally shared experts per level.
        num_category_experts: int >= 0, or a pair `[C_0, C_1]`: experts of
            each category per level.
        num_task_experts: int >= 0, or a list of K ints: task-specific
            experts at level 1.
        expert_units: list of int (both levels), or a pair of such lists:
            hidden widths of every expert of a level.
        task_categories: list of lists of task indices, each task in exactly
            one category, e.g. `[[0, 2], [1]]`; `None`: one category of all
            tasks.
        feature_gate: bool, give every expert its own feature-gated view of
            its input. Defaults to `True`.
        feature_gate_rank: int >= 1, the LoRA rank of the feature-gates.
        self_gate: bool, add the self-gated residual of each output's
            specific experts. Defaults to `True`.
        expert_batch_norm: bool, batch-normalize every expert layer
            (expert normalization). Defaults to `True`.
        gate_temperature: float > 0, softmax temperature of the default
            gates (`gate=None`).
        gate: every gate's kind (category, shared and task gates, each over
            the experts it sees): `None` for a `SoftmaxGate` with
            `gate_temperature`, a gate name from `zoo.registry.GATES`, a
            config dict or a prototype gate layer (see
            `zoo.layers.gates.factory`).
        activation: activation inside the experts. Defaults to `"swish"`.
        dropout: float in [0, 1), dropout inside the experts.
        kernel_regularizer: regularizer of expert, feature-gate, self-gate
            and gate kernels.
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.
        training: bool.
        return_gate_weights: when True, also return a dict from gate name
            (`"level_0/category_c"`, `"level_0/shared"`, `"level_1/task_k"`)
            to its weights `(batch, experts_seen)`, in the order
            `gate_expert_names()` lists the experts. The self-gates weigh
            only an output's own experts and are not among them.

    Returns:
        A list of K tensors `(batch, units_of_level_1[-1])`.

    Example:
    ```python
    switcher = zoo.layers.HoMESwitcher(
        num_tasks=3, num_shared_experts=2, num_category_experts=1, num_task_experts=1,
        expert_units=[16], task_categories=[[0, 1], [2]],
    )
    h_click, h_like, h_watch = switcher(np.ones((4, 16)))
    ```

    References:
        Wang et al., "HoME: Hierarchy of Multi-Gate Experts for Multi-Task
        Learning at Kuaishou", 2024 (arXiv 2408.05430): expert normalization
        & Swish, the hierarchy mask, the feature-gate
        (Fea_Gate(v) = 2 x Sigmoid(v(BA))) and the self-gate.
    """

    def __init__(
        self,
        num_tasks,
        num_shared_experts,
        num_category_experts,
        num_task_experts,
        expert_units,
        task_categories=None,
        feature_gate=True,
        feature_gate_rank=8,
        self_gate=True,
        expert_batch_norm=True,
        gate_temperature=1.0,
        gate=None,
        activation="swish",
        **kwargs,
    ):
        super().__init__(num_tasks, activation=activation, **kwargs)
        check_gate_temperature(gate, gate_temperature)
        self.num_shared_experts = _count_argument(num_shared_experts, "num_shared_experts", 2)
        self.num_category_experts = _count_argument(num_category_experts, "num_category_experts", 2)
        self.num_task_experts = _count_argument(
            num_task_experts, "num_task_experts", self.num_tasks
        )
        self.expert_units = _units_argument(expert_units)
        self.task_categories = _check_categories(task_categories, self.num_tasks)
        self.feature_gate = bool(feature_gate)
        self.feature_gate_rank = int(feature_gate_rank)
        self.self_gate = bool(self_gate)
        self.expert_batch_norm = expert_batch_norm
        self.gate_temperature = gate_temperature
        self.gate = serialize_gate(gate)

        shared = _per_position(self.num_shared_experts, 2)
        per_category = _per_position(self.num_category_experts, 2)
        own = _per_position(self.num_task_experts, self.num_tasks)
        units = (
            self.expert_units if isinstance(self.expert_units[0], list) else [self.expert_units] * 2
        )
        num_categories = len(self.task_categories)
        self.category_of_task = [0] * self.num_tasks
        for c, tasks in enumerate(self.task_categories):
            for k in tasks:
                self.category_of_task[k] = c
        if shared[0] + per_category[0] == 0:
            raise ValueError(
                "Every category's level-0 gate would see no expert: num_shared_experts and "
                "num_category_experts are both 0 at level 0. Received: "
                f"num_shared_experts={num_shared_experts}, "
                f"num_category_experts={num_category_experts}"
            )
        for k, n in enumerate(own):
            if shared[1] + per_category[1] + n == 0:
                raise ValueError(
                    f"Task {k} would see no expert at level 1: no shared, category or task "
                    f"experts there. Received: num_shared_experts={num_shared_experts}, "
                    f"num_category_experts={num_category_experts}, "
                    f"num_task_experts={num_task_experts}"
                )

        # Expert names, in the order the batched expert layers hold them: the
        # shared experts, then each category's, then (level 1) each task's.
        self._level_names = [
            [f"level_0/shared/expert_{i}" for i in range(shared[0])]
            + [
                f"level_0/category_{c}/expert_{i}"
                for c in range(num_categories)
                for i in range(per_category[0])
            ],
            [f"level_1/shared/expert_{i}" for i in range(shared[1])]
            + [
                f"level_1/category_{c}/expert_{i}"
                for c in range(num_categories)
                for i in range(per_category[1])
            ]
            + [
                f"level_1/task_{k}/expert_{i}" for k in range(self.num_tasks) for i in range(own[k])
            ],
        ]
        index = [{name: i for i, name in enumerate(names)} for names in self._level_names]

        def positions(level, *owners):
            prefixes = tuple(f"level_{level}/{owner}/" for owner in owners)
            return [i for name, i in index[level].items() if name.startswith(prefixes)]

        # The hierarchy mask: which experts each gate and each self-gate weighs, as constant
        # indices into its level's batched experts (gathered with one `take` each).
        self._category_pools = [
            np.asarray(positions(0, "shared", f"category_{c}"), "int32")
            for c in range(num_categories)
        ]
        self._category_own = [
            np.asarray(positions(0, f"category_{c}"), "int32") for c in range(num_categories)
        ]
        self._task_pools = [
            np.asarray(
                positions(1, "shared", f"category_{self.category_of_task[k]}", f"task_{k}"),
                "int32",
            )
            for k in range(self.num_tasks)
        ]
        self._task_own = [
            np.asarray(positions(1, f"task_{k}"), "int32") for k in range(self.num_tasks)
        ]
        # Level 1 reads [z_s, z_0, z_1, ...] (z_s only with level-1 shared experts): the
        # source row of each level-1 expert.
        offset = 1 if shared[1] else 0
        self._level_1_sources = np.asarray(
            [0] * shared[1]
            + [offset + c for c in range(num_categories) for _ in range(per_category[1])]
            + [
                offset + self.category_of_task[k]
                for k in range(self.num_tasks)
                for _ in range(own[k])
            ],
            "int32",
        )
        self._units = units

        def make_experts(level):
            return self.make_experts(
                len(self._level_names[level]),
                units[level],
                f"experts_level_{level}",
                expert_batch_norm,
                experts_class=PrivateInputExperts,
            )

        def make_feature_gate(level):
            if not self.feature_gate:
                return None
            return FeatureGate(
                len(self._level_names[level]),
                self.feature_gate_rank,
                kernel_regularizer=self.kernel_regularizer,
                name=f"feature_gate_level_{level}",
            )

        def new_gate(count, name):
            return make_gate(
                self.gate,
                count,
                name,
                kernel_regularizer=self.kernel_regularizer,
                temperature=gate_temperature,
            )

        self.meta_feature_gate = make_feature_gate(0)
        self.meta_experts = make_experts(0)
        self.task_feature_gate = make_feature_gate(1)
        self.task_experts = make_experts(1)
        self.category_gates = [
            new_gate(len(pool), f"gate_level_0_category_{c}")
            for c, pool in enumerate(self._category_pools)
        ]
        self.shared_gate = (
            new_gate(len(self._level_names[0]), "gate_level_0_shared") if shared[1] else None
        )
        self.task_gates = [
            new_gate(len(pool), f"gate_level_1_task_{k}") for k, pool in enumerate(self._task_pools)
        ]

    def build(self, input_shape):
        is_nested = isinstance(input_shape, (list, tuple)) and isinstance(
            input_shape[0], (list, tuple)
        )
        if is_nested:
            raise ValueError(
                f"{self.name} reads one input tensor (batch, input_dim). "
                f"Received: input_shape={input_shape}"
            )
        shape = tuple(input_shape)
        batch, dim = shape[0], int(shape[-1])
        num_0, num_1 = (len(names) for names in self._level_names)
        if self.meta_feature_gate is not None:
            self.meta_feature_gate.build(shape)
            self.meta_experts.build((batch, num_0, dim))
        else:
            self.meta_experts.build(shape)
        for gate in self.category_gates:
            gate.build(shape)
        if self.shared_gate is not None:
            self.shared_gate.build(shape)
        width_0, width_1 = self._units[0][-1], self._units[1][-1]
        level_1_shape = (batch, num_1, width_0)
        if self.task_feature_gate is not None:
            self.task_feature_gate.build(level_1_shape)
        self.task_experts.build(level_1_shape)
        for gate in self.task_gates:
            gate.build((batch, width_0))

        def self_gate_kernel(name, own, width):
            if not self.self_gate or len(own) == 0:
                return None
            return self.add_weight(
                name=name,
                shape=(width,),
                initializer="zeros",
                regularizer=self.kernel_regularizer,
            )

        self.category_self_gates = [
            self_gate_kernel(f"self_gate_level_0_category_{c}", own, width_0)
            for c, own in enumerate(self._category_own)
        ]
        self.task_self_gates = [
            self_gate_kernel(f"self_gate_level_1_task_{k}", own, width_1)
            for k, own in enumerate(self._task_own)
        ]

    def call(self, inputs, training=None, return_gate_weights=False):
        if isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"{self.name} reads one input tensor (batch, input_dim). "
                f"Received a list of {len(inputs)}."
            )
        weights = {}
        # Level 0: the meta experts, mixed per category (z_c) and over all (z_s).
        x = inputs
        if self.meta_feature_gate is not None:
            x = self.meta_feature_gate(inputs)  # (batch, level_0_experts, input_dim)
        meta = self.meta_experts(x, training=training)  # (batch, level_0_experts, units)
        categories = []
        for c, gate in enumerate(self.category_gates):
            w = gate(inputs)  # (batch, experts_seen)
            weights[f"level_0/category_{c}"] = w
            pool = ops.take(meta, self._category_pools[c], axis=1)  # (batch, experts_seen, units)
            z = ops.einsum("be,beu->bu", w, pool)  # (batch, units)
            categories.append(self._add_self_gated(z, meta, self._category_own[c], c, level=0))
        sources = categories
        if self.shared_gate is not None:
            w = self.shared_gate(inputs)  # (batch, level_0_experts)
            weights["level_0/shared"] = w
            sources = [ops.einsum("be,beu->bu", w, meta)] + categories

        # Level 1: each expert reads its branch's representation (z_s or its category's z_c).
        stacked = ops.stack(sources, axis=1)  # (batch, sources, units)
        x = ops.take(stacked, self._level_1_sources, axis=1)  # (batch, level_1_experts, units)
        if self.task_feature_gate is not None:
            x = self.task_feature_gate(x)  # (batch, level_1_experts, units)
        experts = self.task_experts(x, training=training)  # (batch, level_1_experts, units)
        outputs = []
        for k, gate in enumerate(self.task_gates):
            w = gate(categories[self.category_of_task[k]])  # (batch, experts_seen)
            weights[f"level_1/task_{k}"] = w
            pool = ops.take(experts, self._task_pools[k], axis=1)  # (batch, experts_seen, units)
            h = ops.einsum("be,beu->bu", w, pool)  # (batch, units)
            outputs.append(self._add_self_gated(h, experts, self._task_own[k], k, level=1))
        return (outputs, weights) if return_gate_weights else outputs

    def _add_self_gated(self, mixed, experts, own, owner, level):
        """`mixed` plus the self-gated mixture of the owner's specific experts (if any)."""
        kernels = self.category_self_gates if level == 0 else self.task_self_gates
        kernel = kernels[owner]
        if kernel is None:
            return mixed
        own_outputs = ops.take(experts, own, axis=1)  # (batch, own_experts, units)
        scores = ops.einsum("beu,u->be", own_outputs, kernel)  # (batch, own_experts)
        # A softmax over one expert is constantly 1: one expert gates itself with a sigmoid.
        w = ops.sigmoid(scores) if len(own) == 1 else ops.softmax(scores, axis=-1)
        return mixed + ops.einsum("be,beu->bu", w, own_outputs)

    def shared_weights(self):
        # Every task reads every level-0 expert when z_s exists, and the shared or
        # single-category experts otherwise; they sit in one batched weight with the rest.
        reaches_all = (
            self.shared_gate is not None
            or _per_position(self.num_shared_experts, 2)[0] > 0
            or len(self.task_categories) == 1
        )
        if not reaches_all:
            return []
        gate = [] if self.meta_feature_gate is None else self.meta_feature_gate.trainable_weights
        return gate + self.meta_experts.trainable_weights

    def gate_expert_names(self):
        level_0, level_1 = self._level_names
        names = {
            f"level_0/category_{c}": [level_0[i] for i in pool]
            for c, pool in enumerate(self._category_pools)
        }
        if self.shared_gate is not None:
            names["level_0/shared"] = list(level_0)
        for k, pool in enumerate(self._task_pools):
            names[f"level_1/task_{k}"] = [level_1[i] for i in pool]
        return names

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_shared_experts": _plain(self.num_shared_experts),
                "num_category_experts": _plain(self.num_category_experts),
                "num_task_experts": _plain(self.num_task_experts),
                "expert_units": _plain(self.expert_units),
                "task_categories": _plain(self.task_categories),
                "feature_gate": self.feature_gate,
                "feature_gate_rank": self.feature_gate_rank,
                "self_gate": self.self_gate,
                "expert_batch_norm": self.expert_batch_norm,
                "gate_temperature": self.gate_temperature,
                "gate": serialize_gate(self.gate),
            }
        )
        return config


def _count_argument(value, name, length):
    """An int, or a list of `length` ints; each >= 0. Returned as given (int or list)."""
    counts = [int(v) for v in value] if isinstance(value, (list, tuple)) else int(value)
    if isinstance(counts, list) and len(counts) != length:
        raise ValueError(
            f"Expected {name} to be an int or a list of {length} ints. Received: {name}={value}"
        )
    if min(_per_position(counts, length)) < 0:
        raise ValueError(f"Expected {name} >= 0. Received: {name}={value}")
    return counts


def _per_position(counts, length):
    """A count per position (level or task) from an int or a list."""
    return list(counts) if isinstance(counts, list) else [counts] * length


def _plain(value):
    """`value` with Keras' tracked lists turned back into plain ones, for the config."""
    return [_plain(v) for v in value] if isinstance(value, list) else value


def _units_argument(expert_units):
    """A list of widths (both levels) or a pair of lists, as plain lists of positive ints."""
    units = list(expert_units)
    nested = bool(units) and isinstance(units[0], (list, tuple))
    levels = [list(u) for u in units] if nested else [units]
    if (nested and len(levels) != 2) or any(not u or min(int(w) for w in u) < 1 for u in levels):
        raise ValueError(
            "Expected expert_units to be a non-empty list of positive widths, or a pair of them "
            f"(level 0, level 1). Received: expert_units={expert_units}"
        )
    levels = [[int(w) for w in u] for u in levels]
    return levels if nested else levels[0]


def _check_categories(task_categories, num_tasks):
    """The categories as lists of task indices; every task in exactly one, none empty."""
    if task_categories is None:
        return [list(range(num_tasks))]
    categories = [[int(k) for k in category] for category in task_categories]
    seen = [k for category in categories for k in category]
    problems = []
    if not categories or any(not category for category in categories):
        problems.append("a category is empty")
    out_of_range = sorted({k for k in seen if not 0 <= k < num_tasks})
    if out_of_range:
        problems.append(f"task indices {out_of_range} are not in [0, {num_tasks})")
    repeated = sorted({k for k in seen if seen.count(k) > 1})
    if repeated:
        problems.append(f"tasks {repeated} are in more than one category")
    missing = sorted(set(range(num_tasks)) - set(seen))
    if missing:
        problems.append(f"tasks {missing} are in no category")
    if problems:
        raise ValueError(
            f"Expected task_categories to place each of the {num_tasks} tasks in exactly one "
            f"non-empty category; {'; '.join(problems)}. "
            f"Received: task_categories={task_categories}"
        )
    return categories
