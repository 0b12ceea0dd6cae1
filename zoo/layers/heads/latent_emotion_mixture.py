from zoo.api import register
from zoo.layers.heads.output_head import OutputHead, binary_probability, require_binary_tasks
from zoo.layers.towers.tower import Tower

LATENT_OUTPUT = "p_up"
JOINT_SUFFIX = "_and_up"


@register
class LatentEmotionMixture(OutputHead):
    """DLEN's head: a latent "user prefers it" state shared by all tasks, on any backbone.

    A hidden-state network (an MLP over the backbone's shared
    representation) gives P(UP), the probability that the user prefers the
    item. Each task's tower gives two logits instead of one:

        P(t | UP) = sigmoid(z_t),   P(t | not UP) = alpha_t sigmoid(z'_t),
        P(t) = P(t | UP) P(UP) + P(t | not UP) (1 - P(UP)),

    and binary cross-entropy on P(t) trains it all. The upper limit alpha_t
    says that a user who does not prefer an item rarely interacts with it;
    the paper sets it to 0.1 to 0.5 times the task's rate.

    The model's predictions (what `fit` and `predict` see) are P(t) per
    task. The SavedModel adds P(t, UP) = P(t | UP) P(UP) per task as
    `<task>_and_up`, the score the paper ranks by, and P(UP) as `p_up`.

    Args:
        hidden_state_units: widths of the hidden-state network; the paper's
            (256, 128, 64) by default.
        alpha: the upper limit alpha_t as an absolute probability: a float
            for every task or a dict from task name to float, each in (0, 1].
        alpha_ratio: alpha_t as a multiple of the task's training positive
            rate (a float or a dict), with `base_rates`. Give `alpha` or
            `alpha_ratio`, not both. Defaults to `alpha_ratio=0.3`.
        base_rates: dict from task name to its positive rate on the training
            data; `zoo.models.dlen.base_rates(dataset)` measures them.
        **kwargs: base layer keyword arguments (`name`).

    Example:
    ```python
    head = zoo.layers.LatentEmotionMixture(alpha_ratio=0.3, base_rates=rates)
    model = zoo.models.PLE(tasks=["click", "like"], preprocessor=p, heads=[head])
    ```

    References:
        "Deep Latent Emotion Network for Multi-Task Learning" (DLEN), see
        ../shared/papers/dlen-deep-latent-emotion-network.txt.
    """

    reads_shared_representation = True

    def __init__(
        self,
        hidden_state_units=(256, 128, 64),
        alpha=None,
        alpha_ratio=None,
        base_rates=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if alpha is not None and alpha_ratio is not None:
            raise ValueError(
                f"{self.name}: give alpha (absolute) or alpha_ratio (times the base rate), not "
                f"both. Received: alpha={alpha}, alpha_ratio={alpha_ratio}"
            )
        self.hidden_state_units = [int(u) for u in hidden_state_units]
        self.alpha = alpha
        self.alpha_ratio = alpha_ratio
        self.base_rates = None if base_rates is None else dict(base_rates)
        self.task_alphas = None

    def bind(self, features, tasks):
        require_binary_tasks(self, tasks, "DLEN splits each task into P(t | UP) and P(t | not UP)")
        self.task_alphas = upper_limits(tasks, self.alpha, self.alpha_ratio, self.base_rates)
        super().bind(features, tasks)
        self.hidden_state = Tower(self.hidden_state_units, output_units=1, name="hidden_state")
        return self

    def tower_output_units(self, task):
        return 2  # logits of P(t | UP) and of P(t | not UP) / alpha_t

    def extra_outputs(self):
        return [name + JOINT_SUFFIX for name in self.bound_tasks] + [LATENT_OUTPUT]

    def latent_probabilities(self, logits, shared, training=None):
        """Dict from task name to `(P(t | UP), P(t | not UP))`, and P(UP); each `(batch, 1)`."""
        p_up = binary_probability(self.hidden_state(shared, training=training))
        conditionals = {
            name: (
                binary_probability(z[:, :1]),
                self.task_alphas[name] * binary_probability(z[:, 1:]),
            )
            for name, z in logits.items()
        }
        return conditionals, p_up

    def call(self, logits, shared, training=None):
        conditionals, p_up = self.latent_probabilities(logits, shared, training=training)
        outputs = {
            name: given_up * p_up + given_not_up * (1.0 - p_up)
            for name, (given_up, given_not_up) in conditionals.items()
        }
        for name, (given_up, _) in conditionals.items():
            outputs[name + JOINT_SUFFIX] = given_up * p_up
        outputs[LATENT_OUTPUT] = p_up
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_state_units": self.hidden_state_units,
                "alpha": self.alpha,
                "alpha_ratio": self.alpha_ratio,
                "base_rates": self.base_rates,
            }
        )
        return config


def upper_limits(tasks, alpha, alpha_ratio, base_rates):
    """alpha_t per task from an absolute `alpha` or an `alpha_ratio` of the base rates."""
    if alpha is None and alpha_ratio is None:
        alpha_ratio = 0.3

    def per_task(value, what):
        if isinstance(value, dict):
            missing = [t.name for t in tasks if t.name not in value]
            if missing:
                raise ValueError(f"{what} has no value for tasks {missing}")
            return {t.name: float(value[t.name]) for t in tasks}
        return {t.name: float(value) for t in tasks}

    if alpha is not None:
        limits = per_task(alpha, "alpha")
    else:
        if base_rates is None:
            raise ValueError(
                "alpha_ratio needs each task's positive rate: pass "
                "base_rates=zoo.models.dlen.base_rates(dataset), or an absolute alpha"
            )
        ratios = per_task(alpha_ratio, "alpha_ratio")
        rates = per_task(base_rates, "base_rates")
        limits = {name: ratios[name] * rates[name] for name in ratios}
    bad = {name: value for name, value in limits.items() if not 0.0 < value <= 1.0}
    if bad:
        raise ValueError(f"Each alpha_t must be in (0, 1]. Received: {bad}")
    return limits
