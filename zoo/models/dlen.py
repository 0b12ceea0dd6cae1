"""DLEN, the Deep Latent Emotion Network: a latent "user prefers it" state shared by all tasks.

DLEN is a head, not a backbone: `zoo.layers.LatentEmotionMixture` goes on any
model through `heads=`. `MMoEDLEN` and `PLEDLEN` are that head on MMoE and PLE,
built from their own arguments (the paper's pairings, and the command line's
`mmoe-dlen` and `ple-dlen`).
"""

import numpy as np

from zoo.api import register
from zoo.layers.heads.latent_emotion_mixture import (
    JOINT_SUFFIX,
    LATENT_OUTPUT,
    LatentEmotionMixture,
)
from zoo.models.mmoe import MMoE
from zoo.models.ple import PLE
from zoo.models.task_heads import LATENT_EMOTION_HEAD

__all__ = ["JOINT_SUFFIX", "LATENT_OUTPUT", "MMoEDLEN", "PLEDLEN", "base_rates"]


def base_rates(dataset):
    """Each binary task's positive rate on the training split (labeled rows only).

    The `base_rates=` argument of a DLEN head, for `alpha_ratio`.
    """
    labels, present, _ = dataset.label_arrays("train")
    return {
        t.name: float(np.mean(labels[t.name][present[t.name]]))
        for t in dataset.tasks
        if t.type == "binary"
    }


class LatentEmotionArguments:
    """A model that takes DLEN's arguments and wears the `LatentEmotionMixture` head they make.

    Put it first among the bases. The head's arguments are the model's
    (saved in its config), and the head's hidden-state network keeps the
    weight path it had when DLEN was a model of its own (`hidden_state/`),
    so files written before load.

    Args:
        hidden_state_units, alpha, alpha_ratio, base_rates: as in
            `zoo.layers.LatentEmotionMixture`.
        **kwargs: the backbone model's arguments (`num_experts`, ...).
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
        heads=(),
        **kwargs,
    ):
        head = LatentEmotionMixture(
            hidden_state_units, alpha, alpha_ratio, base_rates, name=LATENT_EMOTION_HEAD
        )
        super().__init__(
            tasks, features=features, preprocessor=preprocessor, heads=[*heads, head], **kwargs
        )

    @property
    def hidden_state(self):
        return self.output_head.hidden_state

    @property
    def task_alphas(self):
        """Dict from task name to its upper limit alpha_t."""
        return self.output_head.task_alphas

    def latent_probabilities(self, inputs, training=None):
        """Dict from task name to `(P(t | UP), P(t | not UP))`, and P(UP); each `(batch, 1)`.

        `inputs` are preprocessed features.
        """
        logits = self.task_logits(inputs, training=training)
        shared = self.embed(inputs, training=training)
        return self.output_head.latent_probabilities(logits, shared, training=training)

    def get_config(self):
        config = super().get_config()
        head = self.output_head.get_config()
        config.update(
            {key: head[key] for key in ("hidden_state_units", "alpha", "alpha_ratio", "base_rates")}
        )
        return config


@register
class MMoEDLEN(LatentEmotionArguments, MMoE):
    """MMoE with DLEN's head (`zoo.layers.LatentEmotionMixture`). Arguments of both.

    `gate=` (a gate name, config or layer) goes to MMoE's gates, as in `zoo.models.MMoE`.
    """


@register
class PLEDLEN(LatentEmotionArguments, PLE):
    """PLE with DLEN's head (`zoo.layers.LatentEmotionMixture`). Arguments of both.

    `gate=` (a gate name, config or layer) goes to PLE's gates, as in `zoo.models.PLE`.
    """
