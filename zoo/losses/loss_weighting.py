"""The base of every loss weighting: per-task losses in, the training loss out.

Its own module so that the weightings in files of their own (`pcgrad.py`,
`metabalance.py`) and the registry in `weighting.py` import it without a
cycle.
"""

import keras
from keras import ops


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
    # PCGrad and MetaBalance combine the tasks' own gradients on the shared
    # weights (`combine_gradients`), which the model's training step hands them.
    combines_gradients = False

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

    def bind_shared_weights(self, shared_weights, model_name):
        """Checks, when the model builds, that a gradient-combining weighting has weights to
        operate on (`combines_gradients`); the model calls it before `build`.

        Args:
            shared_weights: the switcher's `shared_weights()`.
            model_name: the model's class name, for the error.
        """
        if not shared_weights:
            raise ValueError(
                f"{type(self).__name__} needs weights shared by all tasks, and {model_name}'s "
                "switcher has none. Use another loss weighting for this model."
            )

    def training_callbacks(self):
        """Keras callbacks the model's `fit` adds for this weighting; none by default.

        For state that changes between epochs (`DynamicWeightAverage`): the
        compiled training step sees no epoch boundary, a callback does.
        """
        return []

    def get_config(self):
        config = super().get_config()
        config["task_names"] = self.task_names
        return config
