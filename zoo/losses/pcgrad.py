"""PCGrad: gradient surgery on the weights every task shares (Yu et al., NeurIPS 2020)."""

import math

import keras
from keras import ops

from zoo.api import register
from zoo.losses.loss_weighting import LossWeighting


@register
class PCGrad(LossWeighting):
    """Projecting conflicting gradients, PCGrad (Yu et al., 2020, Algorithm 1).

    On the weights all tasks share, each task's gradient g_i is freed of
    its conflicts with the others: for every other task j, in a random
    order drawn afresh for each i at each step, when g_i . g_j < 0 it is
    projected onto the normal plane of g_j,

        g_i <- g_i - (g_i . g_j) / ||g_j||^2 g_j,

    and the projected gradients are summed. Every other weight (the
    towers, the gates, the embedding tables) trains on the plain sum of
    the task gradients, and the other loss terms (an output head's label
    loss, regularizers) add their ordinary gradient on top. The model's
    training step does that (`zoo.models.MultiTaskModel`): it hands each
    task's gradient on the switcher's `shared_weights()` to
    `combine_gradients`.

    As in the authors' code (and LibMTL's): the dot products are over all
    shared weights flattened into one vector; g_i is projected step by
    step, each step on the original g_j (not g_j as projected itself);
    the projected gradients are summed, not averaged. As in the paper's
    Algorithm 1, the random order runs over the other tasks only (the
    authors' and LibMTL's loops also visit i itself, which changes nothing:
    g_i . g_i >= 0). Where every task's gradient agrees with every other,
    the result is the plain sum.

    The embedding tables are shared by every task too, but the zoo's
    switchers leave them out of `shared_weights()`: their gradients are
    sparse rows, and flattening them into the vector would write out every
    table densely at every step.

    The loss itself is the plain sum of the task losses (the logged
    `loss`); that is the loss whose gradients are combined, so
    `task_weights()` are all 1. The orders are drawn from a
    `keras.random.SeedGenerator`, so they are XLA-compilable and new at
    every step, also several steps to a compiled call; as with
    `RandomLossWeighting`, its state is not saved with the model. The
    surgery needs every replica's gradients in one place: under a
    `tf.distribute` strategy of several replicas the model refuses to train
    (each replica would project its own gradients).

    Args:
        task_names: list of str.
        seed: int or `None`; the same seed draws the same orders. `None`
            takes one from Python's `random`, which
            `keras.utils.set_random_seed` seeds.

    Example:
    ```python
    model = zoo.models.MMoE(tasks=["income", "never_married"], preprocessor=preprocessor,
                            loss_weighting="pcgrad")
    ```

    References:
        Yu, Kumar, Gupta, Levine, Hausman & Finn, "Gradient Surgery for
        Multi-Task Learning", NeurIPS 2020 (arXiv:2001.06782), Algorithm 1.
    """

    # The model's training step hands `combine_gradients` each task's
    # gradient on the shared weights; see `zoo.models.MultiTaskModel`.
    combines_gradients = True

    def __init__(self, task_names, seed=None, **kwargs):
        super().__init__(task_names, **kwargs)
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"Expected an int seed or None. Received: seed={seed!r}")
        self.seed = seed

    def build(self, input_shape=None):
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="seed_generator")
        self.built = True

    def combine(self, task_losses):
        return ops.sum(ops.stack(task_losses))

    def draw_orders(self):
        """`(num_tasks, num_tasks - 1)` ints: row i, the other tasks in a random order.

        Advances the seed generator.
        """
        if not self.built:
            self.build()
        n = self.num_tasks
        keys = keras.random.uniform((n, n), seed=self.seed_generator)  # (tasks, tasks), in [0, 1)
        # Task i's own key made the largest sorts it last, where the slice drops it.
        keys = keys + 2.0 * ops.eye(n, dtype=keys.dtype)
        return ops.argsort(keys, axis=-1)[:, : n - 1]

    def combine_gradients(self, task_gradients, orders=None):
        """The sum of the task gradients on the shared weights after projecting out conflicts.

        Args:
            task_gradients: list, one entry per task in task order, of lists
                of dense gradients, one per shared weight (the same weights,
                in the same order, for every task).
            orders: `None` (drawn: `draw_orders()`), or `(num_tasks,
                num_tasks - 1)` ints, row i the order in which g_i meets
                the other tasks' gradients.

        Returns:
            List of gradients, one per shared weight.
        """
        _check_task_gradients(task_gradients, self.num_tasks)
        if not task_gradients[0]:
            return []
        shapes = [tuple(g.shape) for g in task_gradients[0]]
        sizes = [math.prod(s) for s in shapes]
        grads = ops.stack(
            [
                ops.concatenate([ops.reshape(g, (-1,)) for g in task], axis=0)
                for task in task_gradients
            ]
        )  # (tasks, shared parameters)
        if orders is None:
            orders = self.draw_orders()
        orders = ops.convert_to_tensor(orders, "int32")
        squared_norms = ops.sum(grads * grads, axis=1)  # (tasks,)
        projected = grads
        # All tasks at once: at step s, task i meets task orders[i, s].
        for step in range(self.num_tasks - 1):
            other = orders[:, step]  # (tasks,)
            other_grads = ops.take(grads, other, axis=0)  # (tasks, shared parameters)
            dots = ops.sum(projected * other_grads, axis=1)  # (tasks,)
            # Only conflicts (dot < 0) are projected; ||g_j|| > 0 wherever dot < 0.
            scale = ops.where(
                dots < 0, ops.divide_no_nan(dots, ops.take(squared_norms, other)), 0.0
            )
            projected = projected - scale[:, None] * other_grads
        total = ops.sum(projected, axis=0)  # (shared parameters,)
        pieces = ops.split(total, _split_points(sizes), axis=0) if len(sizes) > 1 else [total]
        return [ops.reshape(p, s) for p, s in zip(pieces, shapes)]

    def task_weights(self):
        # Every task loss enters with weight 1; the surgery acts on the gradients.
        return {n: 1.0 for n in self.task_names}

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


def _check_task_gradients(task_gradients, num_tasks):
    if len(task_gradients) != num_tasks:
        raise ValueError(
            f"Expected the gradients of {num_tasks} tasks. Received: {len(task_gradients)}"
        )
    counts = {len(g) for g in task_gradients}
    if len(counts) != 1:
        raise ValueError(
            "Expected every task's gradients on the same shared weights. Received: "
            f"{[len(g) for g in task_gradients]} gradients per task"
        )


def _split_points(sizes):
    """Where `ops.split` cuts a flat vector into pieces of `sizes`."""
    points = []
    total = 0
    for size in sizes[:-1]:
        total += size
        points.append(total)
    return points
