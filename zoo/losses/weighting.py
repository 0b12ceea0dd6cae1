"""How per-task losses become the one loss a multi-task model is trained on.

Three rules, one small layer each, all taking the list of per-task losses
(scalars, in task order) and returning the training loss:

- `FixedLossWeights`: sum_k w_k L_k with weights you choose.
- `UncertaintyWeighting` (Kendall, Gal & Cipolla, CVPR 2018): each task k
  has a trainable noise scale sigma_k and contributes
  L_k / (2 sigma_k^2) + log sigma_k.
- `GradNorm` (Chen et al., ICML 2018): trainable weights w_k, moved so that
  the norms of the weighted task gradients on the shared weights stay in
  proportion to how far each task still has to go.

They are layers so that their variables (sigma_k, w_k) are tracked,
trained by the model's optimizer and saved with the model. A model holds
one as `loss_weighting`; see `zoo.models.MultiTaskModel`.
"""

import keras
from keras import ops

from zoo.api import register


class LossWeighting(keras.layers.Layer):
    """Base class: per-task losses -> the training loss.

    Subclasses implement `combine`. On validation and test (`training=False`)
    every weighting returns the plain sum of the task losses unless it says
    otherwise (`FixedLossWeights` keeps its weights): learned weights change
    from step to step, and early stopping on a loss whose scale moves with
    them would compare numbers that do not measure the same thing.

    Args:
        task_names: list of str, the tasks in model order.
        **kwargs: `keras.layers.Layer` keyword arguments.

    Call arguments:
        task_losses: list of scalar tensors, one per task, in task order.
        training: bool.
    """

    # GradNorm needs each task's gradient norm on the shared weights, which
    # only the model's training step can compute; see `balance_loss`.
    uses_gradient_norms = False

    def __init__(self, task_names, **kwargs):
        # Loss arithmetic stays float32 under a mixed-precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.task_names = [str(n) for n in task_names]
        if not self.task_names:
            raise ValueError("Expected at least one task name. Received: task_names=[]")

    @property
    def num_tasks(self):
        return len(self.task_names)

    def build(self, input_shape=None):
        self.built = True

    def _check(self, task_losses):
        if len(task_losses) != self.num_tasks:
            raise ValueError(
                f"Expected {self.num_tasks} task losses ({self.task_names}). "
                f"Received: {len(task_losses)}"
            )

    def call(self, task_losses, training=None):
        self._check(task_losses)
        if not training:
            return ops.sum(ops.stack(task_losses))
        return self.combine(task_losses)

    def combine(self, task_losses):
        raise NotImplementedError

    def task_weights(self):
        """Dict from task name to the factor each task's loss now gets (a float)."""
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config["task_names"] = self.task_names
        return config


@register
class FixedLossWeights(LossWeighting):
    """sum_k w_k L_k with fixed weights, also on validation.

    Args:
        task_names: list of str.
        weights: dict from task name to a float >= 0; tasks not named get 1.
            Naming a task that does not exist is an error.
    """

    def __init__(self, task_names, weights=None, **kwargs):
        super().__init__(task_names, **kwargs)
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(self.task_names))
        if unknown:
            raise ValueError(
                f"Loss weights name unknown tasks {unknown}; the tasks are {self.task_names}."
            )
        for name, value in weights.items():
            if not float(value) >= 0:
                raise ValueError(
                    f"Expected a loss weight >= 0 for task {name!r}. Received: {value!r}"
                )
        self.weights_by_task = {n: float(weights.get(n, 1.0)) for n in self.task_names}

    def call(self, task_losses, training=None):
        self._check(task_losses)
        return self.combine(task_losses)

    def combine(self, task_losses):
        weights = ops.convert_to_tensor([self.weights_by_task[n] for n in self.task_names])
        return ops.sum(weights * ops.stack(task_losses))

    def task_weights(self):
        return dict(self.weights_by_task)

    def get_config(self):
        config = super().get_config()
        config["weights"] = self.weights_by_task
        return config


@register
class UncertaintyWeighting(LossWeighting):
    """Homoscedastic-uncertainty weighting (Kendall et al., 2018).

    loss = sum_k L_k / (2 sigma_k^2) + log sigma_k, with sigma_k trainable,
    the same form for regression and classification tasks. A task whose
    loss stays large gets a larger sigma_k and so a smaller weight; the
    log sigma_k term keeps sigma_k from growing without bound.

    The variable is s_k = log sigma_k^2 (as in the paper's implementation
    notes): exp(-s_k) never divides by zero and s_k is unconstrained. The
    loss above is then sum_k 0.5 exp(-s_k) L_k + 0.5 s_k.

    Args:
        task_names: list of str.
        initial_log_variance: float, s_k at the start (0: sigma_k = 1,
            each task weighted 1/2).
    """

    def __init__(self, task_names, initial_log_variance=0.0, **kwargs):
        super().__init__(task_names, **kwargs)
        self.initial_log_variance = float(initial_log_variance)

    def build(self, input_shape=None):
        self.log_variance = self.add_weight(
            shape=(self.num_tasks,),
            initializer=keras.initializers.Constant(self.initial_log_variance),
            name="log_variance",
        )
        self.built = True

    def combine(self, task_losses):
        losses = ops.stack(task_losses)
        s = ops.cast(self.log_variance, losses.dtype)
        return ops.sum(0.5 * ops.exp(-s) * losses + 0.5 * s)

    def task_weights(self):
        s = ops.convert_to_numpy(self.log_variance)
        return {n: float(0.5 * ops.exp(-v)) for n, v in zip(self.task_names, s)}

    def get_config(self):
        config = super().get_config()
        config["initial_log_variance"] = self.initial_log_variance
        return config


@register
class GradNorm(LossWeighting):
    """GradNorm (Chen et al., 2018): weights that balance task gradient norms.

    The network is trained on sum_k w_k L_k with w_k held constant. The
    weights themselves follow their own loss

        L_grad = sum_k | G_k - mean(G) * r_k^alpha |,

    where G_k = w_k ||grad_W L_k|| is the norm of task k's weighted
    gradient on the shared weights W, r_k = (L_k / L_k(0)) / mean_j(L_j /
    L_j(0)) is task k's relative inverse training rate (L_k(0): its loss at
    the first step), and the target mean(G) r_k^alpha is a constant. After
    each step the weights are renormalized to sum to the number of tasks.

    The model's training step provides ||grad_W L_k|| (the shared weights W
    are the switcher's `shared_weights()`), calls `balance_loss` for the
    weights' gradient and `renormalize` after the update.

    Args:
        task_names: list of str.
        alpha: float >= 0, the strength of the pull towards equal training
            rates (the paper uses 0.12 to 3; 1.5 for its NYUv2 results).
    """

    uses_gradient_norms = True

    def __init__(self, task_names, alpha=1.5, **kwargs):
        super().__init__(task_names, **kwargs)
        if not float(alpha) >= 0:
            raise ValueError(f"Expected alpha >= 0. Received: alpha={alpha!r}")
        self.alpha = float(alpha)

    def build(self, input_shape=None):
        self.task_weight = self.add_weight(
            shape=(self.num_tasks,), initializer="ones", name="task_weight"
        )
        # L_k(0), recorded at the first training step.
        self.initial_losses = self.add_weight(
            shape=(self.num_tasks,), initializer="zeros", trainable=False, name="initial_losses"
        )
        self.built = True

    def combine(self, task_losses):
        losses = ops.stack(task_losses)
        weights = ops.stop_gradient(ops.cast(self.task_weight, losses.dtype))
        return ops.sum(weights * losses)

    def balance_loss(self, task_losses, gradient_norms):
        """L_grad, whose gradient moves `task_weight` (and nothing else).

        Args:
            task_losses: list of scalar task losses of this step.
            gradient_norms: `(num_tasks,)` tensor, ||grad_W L_k|| of the
                unweighted task losses on the shared weights.
        """
        self._check(task_losses)
        losses = ops.stop_gradient(ops.stack(task_losses))
        norms = ops.stop_gradient(gradient_norms)
        first_step = ops.all(ops.equal(self.initial_losses, 0.0))
        initial = ops.where(first_step, losses, self.initial_losses)
        self.initial_losses.assign(initial)
        ratio = losses / ops.maximum(initial, 1e-12)
        relative_rate = ratio / ops.maximum(ops.mean(ratio), 1e-12)
        weighted_norms = self.task_weight * norms
        target = ops.stop_gradient(ops.mean(weighted_norms) * relative_rate**self.alpha)
        return ops.sum(ops.abs(weighted_norms - target))

    def renormalize(self):
        """Rescales the weights to sum to the number of tasks (kept positive)."""
        w = ops.maximum(self.task_weight, 1e-6)
        self.task_weight.assign(w * self.num_tasks / ops.sum(w))

    def task_weights(self):
        w = ops.convert_to_numpy(self.task_weight)
        return {n: float(v) for n, v in zip(self.task_names, w)}

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


LOSS_WEIGHTINGS = {
    "fixed": FixedLossWeights,
    "uncertainty": UncertaintyWeighting,
    "gradnorm": GradNorm,
}


def get_loss_weighting(identifier, task_names):
    """A `LossWeighting` from a name, a dict of fixed weights, a config or an instance.

    Args:
        identifier: `None` or `"fixed"` (all weights 1), `"uncertainty"`,
            `"gradnorm"`, a dict from task name to weight (fixed weights), a
            serialized `LossWeighting`, or a `LossWeighting`.
        task_names: list of str, the model's tasks in order.
    """
    if identifier is None:
        identifier = "fixed"
    if isinstance(identifier, LossWeighting):
        weighting = identifier
    elif isinstance(identifier, str):
        if identifier not in LOSS_WEIGHTINGS:
            raise ValueError(
                f"Unknown loss weighting {identifier!r}; expected one of {list(LOSS_WEIGHTINGS)}."
            )
        weighting = LOSS_WEIGHTINGS[identifier](task_names, name="loss_weighting")
    elif isinstance(identifier, dict) and "class_name" in identifier:
        weighting = keras.layers.deserialize(identifier)
    elif isinstance(identifier, dict):
        weighting = FixedLossWeights(task_names, identifier, name="loss_weighting")
    else:
        raise TypeError(
            "Expected a loss weighting name, a dict of task weights or a LossWeighting. "
            f"Received: {identifier!r}"
        )
    if weighting.task_names != list(task_names):
        raise ValueError(
            f"The loss weighting is for tasks {weighting.task_names}, the model's tasks are "
            f"{list(task_names)}."
        )
    return weighting
