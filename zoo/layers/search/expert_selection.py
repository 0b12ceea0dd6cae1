import keras
from keras import ops

from zoo.api import register
from zoo.losses.divergence import extended_jsd_loss


@register
class ExpertSelection(keras.layers.Layer):
    """Per-task expert-selection weights beta: f^k = sum_i softmax(beta^(k))_i E_i(x).

    Unlike an MMoE gate the weights do not depend on the input: they say how
    much task k relies on expert i overall, which is what a search reads to
    keep each task's top experts. The layer adds `jsd_weight * L_JSD` (the
    negative extended Jensen-Shannon divergence between the tasks'
    distributions, `zoo.losses.extended_jsd_loss`) to its losses, pushing
    the tasks apart; the search sets `jsd_weight` as it decays.

    Args:
        num_tasks: int >= 1.
        num_experts: int >= 1.
        jsd_weight: float >= 0, the initial weight of the auxiliary loss.
        seed: int or `None`, seed of beta's initial noise.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: expert outputs `(batch, num_experts, units)`.

    Returns:
        A list of `num_tasks` tensors `(batch, units)`.

    Example:
    ```python
    selection = zoo.layers.ExpertSelection(num_tasks=2, num_experts=4)
    click, like = selection(np.ones((3, 4, 8)))
    ```

    References:
        "AutoMTL: Automatic Multi-Task Learning Framework with Neural
        Architecture Search for Recommender Systems", sections 3.3.3, 3.4.1
        and 3.4.2.
    """

    def __init__(self, num_tasks, num_experts, jsd_weight=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(num_tasks) < 1 or int(num_experts) < 1:
            raise ValueError(
                "Expected num_tasks >= 1 and num_experts >= 1. Received: "
                f"num_tasks={num_tasks}, num_experts={num_experts}"
            )
        if not float(jsd_weight) >= 0:
            raise ValueError(f"Expected jsd_weight >= 0. Received: jsd_weight={jsd_weight}")
        self.num_tasks = int(num_tasks)
        self.num_experts = int(num_experts)
        self.initial_jsd_weight = float(jsd_weight)
        self.seed = seed

    def build(self, input_shape=None):
        # Near-uniform start, as the reference code's randn * 1e-3.
        self.beta = self.add_weight(
            shape=(self.num_tasks, self.num_experts),
            initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=self.seed),
            name="beta",
        )
        self.jsd_weight = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_jsd_weight),
            trainable=False,
            name="jsd_weight",
        )

    def probabilities(self):
        """`(num_tasks, num_experts)`: softmax(beta) per task."""
        return ops.softmax(self.beta, axis=-1)

    def call(self, inputs):
        probabilities = self.probabilities()
        if self.initial_jsd_weight > 0:
            self.add_loss(self.jsd_weight * extended_jsd_loss(probabilities))
        # (tasks, experts) x (batch, experts, units) -> (batch, tasks, units)
        mixed = ops.einsum("ke,beu->bku", probabilities, inputs)
        return [mixed[:, k] for k in range(self.num_tasks)]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tasks": self.num_tasks,
                "num_experts": self.num_experts,
                "jsd_weight": self.initial_jsd_weight,
                "seed": self.seed,
            }
        )
        return config
