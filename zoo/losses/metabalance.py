"""MetaBalance: auxiliary gradients rescaled towards the main task's (He et al., WWW 2022)."""

from keras import ops

from zoo.api import register
from zoo.losses.loss_weighting import LossWeighting


@register
class MetaBalance(LossWeighting):
    """MetaBalance (He et al., 2022, Algorithm 1): auxiliary gradients at the main task's scale.

    One task is the main (target) task, the others auxiliary. On each
    weight that all tasks share, every task keeps a moving average of its
    gradient's L2 norm,

        m_k <- beta m_k + (1 - beta) ||g_k||,

    updated at every step before it is used, and each auxiliary gradient
    is moved towards the main task's magnitude by the relax factor r:

        g_aux <- (g_aux m_main / m_aux) r + g_aux (1 - r).

    r = 1 gives every auxiliary gradient the main task's (averaged)
    magnitude, r = 0 leaves the gradients as they are. The main gradient
    and the rescaled auxiliary ones are summed. Every other weight (the
    towers, the gates, the embedding tables) trains on the plain sum of
    the task gradients, and the other loss terms (an output head's label
    loss, regularizers) add their ordinary gradient on top. The model's
    training step does that (`zoo.models.MultiTaskModel`): it hands each
    task's gradient on the switcher's `shared_weights()` to
    `combine_gradients`.

    The moving averages are kept per shared weight tensor (each expert
    kernel and bias of its own), not over all shared weights at once:
    the paper's aim is to balance the tasks "adaptively for each part of
    the network", as the imbalance varies across it, and its authors' code
    (like torch-rechub's) keeps them per parameter tensor of the
    optimizer. They start at 0 without a bias correction, as there: the
    first step's ratio m_main / m_aux is that of its norms. They live in
    the non-trainable variable `moving_norms`, `(num_shared_weights,
    num_tasks)`, so they are saved with the model and updated inside the
    compiled (XLA, several steps per execution) step; the model tells the
    layer how many shared weights there are when it builds
    (`bind_shared_weights`).

    Assumed where the paper or the code leaves it open, or differs:

    - The main task's gradient is left as it is (the authors' code scales
      it by m_main / m_main, which is 1, or NaN where its norm is 0).
    - An auxiliary task whose moving average is 0 on a weight has had no
      gradient there, so it adds 0 (the authors' code divides by 0,
      torch-rechub adds 1e-5 to the divisor).
    - A step whose gradients are not finite (a float16 loss-scale
      overflow, which the optimizer skips) leaves the averages as they were.
    - r = 1 is allowed: the paper studies r up to 1; the authors' code
      stops below it without saying why. The defaults, r = 0.7 and
      beta = 0.9, are that code's.

    The task losses enter unweighted (the logged `loss` is their plain
    sum), so `task_weights()` are all 1; the rescaling is per shared
    weight and per step. The averages need every replica's gradients in
    one place: under a `tf.distribute` strategy of several replicas the
    model refuses to train.

    Args:
        task_names: list of str.
        main_task: name of the main task; `None` for the first task.
        relax_factor: float in [0, 1], r above.
        beta: float in [0, 1), the moving averages' decay.

    Example:
    ```python
    model = zoo.models.MMoE(
        tasks=["income", "never_married"], preprocessor=preprocessor,
        loss_weighting=zoo.losses.MetaBalance(["income", "never_married"],
                                              main_task="income", relax_factor=0.7))
    ```

    References:
        He, Feng, Cheng, Ji, Guo & Caverlee, "MetaBalance: Improving
        Multi-Task Recommendations via Adapting Gradient Magnitudes of
        Auxiliary Tasks", WWW 2022 (arXiv:2203.06801), Algorithm 1.
    """

    # The model's training step hands `combine_gradients` each task's
    # gradient on the shared weights; see `zoo.models.MultiTaskModel`.
    combines_gradients = True

    def __init__(self, task_names, main_task=None, relax_factor=0.7, beta=0.9, **kwargs):
        super().__init__(task_names, **kwargs)
        main_task = self.task_names[0] if main_task is None else str(main_task)
        if main_task not in self.task_names:
            raise ValueError(
                f"Expected main_task to be one of {self.task_names}. Received: "
                f"main_task={main_task!r}"
            )
        if not 0.0 <= float(relax_factor) <= 1.0:
            raise ValueError(
                f"Expected 0 <= relax_factor <= 1. Received: relax_factor={relax_factor!r}"
            )
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f"Expected 0 <= beta < 1. Received: beta={beta!r}")
        self.main_task = main_task
        self.relax_factor = float(relax_factor)
        self.beta = float(beta)
        # Set by the model when it builds (bind_shared_weights) or by a saved build config.
        self.num_shared_weights = None

    @property
    def main_index(self):
        return self.task_names.index(self.main_task)

    def bind_shared_weights(self, shared_weights, model_name):
        """Records how many shared weights there are, before `build`; none is an error.

        Args:
            shared_weights: the switcher's `shared_weights()`.
            model_name: the model's class name, for the error.
        """
        super().bind_shared_weights(shared_weights, model_name)
        count = len(shared_weights)
        if self.num_shared_weights is not None and self.num_shared_weights != count:
            raise ValueError(
                f"Expected {self.num_shared_weights} shared weights, whose moving averages "
                f"this MetaBalance keeps. Received: {model_name}'s switcher has {count}"
            )
        self.num_shared_weights = count

    def build(self, input_shape=None):
        if self.num_shared_weights is None:
            raise ValueError(
                "MetaBalance keeps moving averages per shared weight, and was told of none: "
                "the model builds it, or call bind_shared_weights(shared_weights, name) first."
            )
        self.moving_norms = self.add_weight(
            shape=(self.num_shared_weights, self.num_tasks),
            initializer="zeros",
            trainable=False,
            name="moving_norms",
        )
        self.built = True

    # The variable's shape depends on the model: the build config carries it,
    # so a deserialized layer is built before its saved averages load.
    def get_build_config(self):
        return {"num_shared_weights": self.num_shared_weights} if self.built else None

    def build_from_config(self, config):
        if config and config.get("num_shared_weights") is not None:
            self.num_shared_weights = int(config["num_shared_weights"])
            self.build()

    def combine(self, task_losses):
        return ops.sum(ops.stack(task_losses))

    def combine_gradients(self, task_gradients):
        """The main task's gradient plus the rescaled auxiliary ones, per shared weight.

        Updates `moving_norms` with this step's gradient norms first.

        Args:
            task_gradients: list, one entry per task in task order, of lists
                of dense gradients, one per shared weight (the weights the
                model bound, in the same order, for every task).

        Returns:
            List of gradients, one per shared weight.
        """
        if len(task_gradients) != self.num_tasks:
            raise ValueError(
                f"Expected the gradients of {self.num_tasks} tasks. Received: {len(task_gradients)}"
            )
        if any(len(task) != self.num_shared_weights for task in task_gradients):
            raise ValueError(
                f"Expected every task's gradients on {self.num_shared_weights} shared weights. "
                f"Received: {[len(task) for task in task_gradients]}"
            )
        norms = ops.stack(
            [
                ops.stack([ops.sqrt(ops.sum(ops.square(g))) for g in task])
                for task in task_gradients
            ],
            axis=1,
        )  # (shared weights, tasks)
        norms = ops.cast(norms, self.moving_norms.dtype)
        averages = self.beta * self.moving_norms + (1.0 - self.beta) * norms
        averages = ops.where(ops.isfinite(norms), averages, self.moving_norms)
        self.moving_norms.assign(averages)
        main = averages[:, self.main_index : self.main_index + 1]  # (shared weights, 1)
        factors = self.relax_factor * ops.divide_no_nan(main, averages) + (1.0 - self.relax_factor)
        is_main = ops.arange(self.num_tasks) == self.main_index  # (tasks,)
        factors = ops.where(is_main[None, :], 1.0, factors)  # (shared weights, tasks)
        combined = []
        for w in range(self.num_shared_weights):
            gradients = [task[w] for task in task_gradients]
            combined.append(
                sum(ops.cast(factors[w, k], g.dtype) * g for k, g in enumerate(gradients))
            )
        return combined

    def task_weights(self):
        # Every task loss enters with weight 1; the rescaling acts on the gradients.
        return {n: 1.0 for n in self.task_names}

    def get_config(self):
        config = super().get_config()
        config.update(
            {"main_task": self.main_task, "relax_factor": self.relax_factor, "beta": self.beta}
        )
        return config
