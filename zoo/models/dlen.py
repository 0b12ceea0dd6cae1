"""DLEN, the Deep Latent Emotion Network: a latent "user prefers it" state shared by all tasks.

DLEN is a head, not a backbone: `LatentEmotionHead` goes in front of any zoo
model in the class hierarchy, and `MMoEDLEN` / `PLEDLEN` are that head on
MMoE and PLE, nothing more.
"""

import numpy as np
from keras import ops

from zoo.api import register
from zoo.layers.towers.tower import Tower
from zoo.models.mmoe import MMoE
from zoo.models.ple import PLE
from zoo.tasks import as_tasks

LATENT_OUTPUT = "p_up"
JOINT_SUFFIX = "_and_up"


def base_rates(dataset):
    """Each binary task's positive rate on the training split (labeled rows only).

    The `base_rates=` argument of a DLEN model, for `alpha_ratio`.
    """
    labels, present, _ = dataset.label_arrays("train")
    return {
        t.name: float(np.mean(labels[t.name][present[t.name]]))
        for t in dataset.tasks
        if t.type == "binary"
    }


class LatentEmotionHead:
    """The DLEN head, for any `MultiTaskModel` (put it first among the bases).

    A hidden-state network (an MLP over the model's input representation)
    gives P(UP), the probability that the user prefers the item, shared by
    every task. Each task's tower gives two logits instead of one:

        P(t | UP) = sigmoid(z_t),   P(t | not UP) = alpha_t sigmoid(z'_t),
        P(t) = P(t | UP) P(UP) + P(t | not UP) (1 - P(UP)),

    and binary cross-entropy on P(t) trains it all. The upper limit alpha_t
    says that a user who does not prefer an item rarely interacts with it;
    the paper sets it to 0.1 to 0.5 times the task's rate.

    The model's outputs (what `fit` and `predict` see) are P(t) per task. The
    SavedModel adds P(t, UP) = P(t | UP) P(UP) per task as `<task>_and_up`,
    the score the paper ranks by, and P(UP) as `p_up`.

    Args:
        tasks: binary tasks only.
        hidden_state_units: widths of the hidden-state network; the paper's
            (256, 128, 64) by default.
        alpha: the upper limit alpha_t as an absolute probability: a float
            for every task or a dict from task name to float, each in (0, 1].
        alpha_ratio: alpha_t as a multiple of the task's training positive
            rate (a float or a dict), with `base_rates`. Give `alpha` or
            `alpha_ratio`, not both. Defaults to `alpha_ratio=0.3`.
        base_rates: dict from task name to its positive rate on the training
            data; `zoo.models.dlen.base_rates(dataset)` measures them.
        **kwargs: the backbone's arguments (`num_experts`, ...).

    References:
        "Deep Latent Emotion Network for Multi-Task Learning" (DLEN), see
        ../shared/papers/dlen-deep-latent-emotion-network.txt.
    """

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        hidden_state_units=(256, 128, 64),
        alpha=None,
        alpha_ratio=None,
        base_rates=None,
        **kwargs,
    ):
        checked = as_tasks(tasks)
        not_binary = [t.name for t in checked if t.type != "binary"]
        if not_binary:
            raise ValueError(
                f"DLEN splits binary tasks into P(t | UP) and P(t | not UP); {not_binary} "
                "are not binary"
            )
        clashes = {LATENT_OUTPUT} | {t.name + JOINT_SUFFIX for t in checked}
        clashes &= {t.name for t in checked}
        if clashes:
            raise ValueError(f"Task names {sorted(clashes)} clash with DLEN's outputs.")
        self.hidden_state_units = [int(u) for u in hidden_state_units]
        self.alpha = alpha
        self.alpha_ratio = alpha_ratio
        self.base_rates = None if base_rates is None else dict(base_rates)
        self.task_alphas = _upper_limits(checked, alpha, alpha_ratio, self.base_rates)
        super().__init__(checked, features=features, preprocessor=preprocessor, **kwargs)
        self.hidden_state = Tower(self.hidden_state_units, output_units=1, name="hidden_state")

    def tower_output_units(self, task):
        return 2  # logits of P(t | UP) and of P(t | not UP) / alpha_t

    def latent_probabilities(self, inputs, training=None):
        """Dict from task name to `(P(t | UP), P(t | not UP))`, and P(UP); each `(batch, 1)`."""
        # float32 probabilities under mixed precision (see output_activation).
        logits = {
            name: ops.cast(z, "float32")
            for name, z in self.task_logits(inputs, training=training).items()
        }
        x = self.embed(inputs, training=training)
        p_up = ops.sigmoid(ops.cast(self.hidden_state(x, training=training), "float32"))
        conditionals = {
            name: (ops.sigmoid(z[:, :1]), self.task_alphas[name] * ops.sigmoid(z[:, 1:]))
            for name, z in logits.items()
        }
        return conditionals, p_up

    def call(self, inputs, training=None):
        return _mixtures(*self.latent_probabilities(inputs, training=training))

    def outputs_with_extras(self, inputs):
        conditionals, p_up = self.latent_probabilities(inputs, training=False)
        outputs = _mixtures(conditionals, p_up)
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


def _mixtures(conditionals, p_up):
    """P(t) = P(t | UP) P(UP) + P(t | not UP) (1 - P(UP)) for every task."""
    return {
        name: given_up * p_up + given_not_up * (1.0 - p_up)
        for name, (given_up, given_not_up) in conditionals.items()
    }


def _upper_limits(tasks, alpha, alpha_ratio, base_rates):
    """alpha_t per task from an absolute `alpha` or an `alpha_ratio` of the base rates."""
    if alpha is not None and alpha_ratio is not None:
        raise ValueError("Give alpha (absolute) or alpha_ratio (times the base rate), not both.")
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


@register
class MMoEDLEN(LatentEmotionHead, MMoE):
    """MMoE with the DLEN head (`zoo.models.dlen.LatentEmotionHead`). Arguments of both.

    `gate=` (a gate name, config or layer) goes to MMoE's gates, as in `zoo.models.MMoE`.
    """


@register
class PLEDLEN(LatentEmotionHead, PLE):
    """PLE with the DLEN head (`zoo.models.dlen.LatentEmotionHead`). Arguments of both.

    `gate=` (a gate name, config or layer) goes to PLE's gates, as in `zoo.models.PLE`.
    """
