from keras import ops

from zoo.api import register
from zoo.layers.heads.output_head import OutputHead, binary_probability, require_binary_tasks

GIVEN = "_given_"


@register
class FunnelCalibration(OutputHead):
    """AITM's Behavioral Expectation Calibrator: a later funnel step is never likelier.

    The model's tasks are the steps of a conversion funnel in order
    (`["click", "purchase"]`, or click -> application -> approval ->
    activation), each labelled over every impression: a purchase is a click
    that converted. A step can only happen after the one before, so
    P(step t) <= P(step t-1) for every impression. The head predicts
    p_t = sigmoid(logit_t) for each step and, while training, adds the
    calibrator

        alpha * sum_{t >= 2} mean_batch(max(p_t - p_{t-1}, 0))

    to the loss (the paper's L_lc, weighted by alpha in L = L_ce + alpha
    L_lc), which pushes down only the predictions that break the order. It
    uses no label, so it counts every row of the batch, whatever the task
    masks.

    The SavedModel also serves, for each later step, the conditional
    probability of the step given the one before, `<task>_given_<previous>`
    = min(p_t / p_{t-1}, 1) (0 where p_{t-1} underflows to 0): with
    `["click", "purchase"]`, `purchase_given_click` is the post-click
    conversion rate over every impression, as ESMM serves `cvr`.

    Args:
        calibrator_weight: float >= 0, the weight alpha of the calibrator;
            0.6 by default, the authors' `--weight` (the default of their
            code and the value of their README's command).
        **kwargs: base layer keyword arguments (`name`).

    Example:
    ```python
    head = zoo.layers.FunnelCalibration(calibrator_weight=0.6)
    model = zoo.models.MMoE(tasks=["click", "purchase"], preprocessor=p, heads=[head])
    ```

    References:
        Xi et al., "Modeling the Sequential Dependence among Audience
        Multi-step Conversions with Multi-task Learning in Targeted Display
        Advertising", KDD 2021 (arXiv 2105.08489), section 3 (Behavioral
        Expectation Calibrator, the loss L = L_ce + alpha L_lc).
    """

    def __init__(self, calibrator_weight=0.6, **kwargs):
        super().__init__(**kwargs)
        if calibrator_weight < 0:
            raise ValueError(
                f"Expected calibrator_weight >= 0. Received: calibrator_weight={calibrator_weight}"
            )
        self.calibrator_weight = float(calibrator_weight)

    def bind(self, features, tasks):
        if len(tasks) < 2:
            raise ValueError(
                f"{self.name}: the funnel calibrator orders two or more binary tasks, the steps "
                f"of a funnel. Received: tasks={[t.name for t in tasks]}"
            )
        require_binary_tasks(self, tasks, "each funnel step is a probability")
        super().bind(features, tasks)
        return self

    def extra_outputs(self):
        steps = self.bound_tasks
        return [conditional_name(step, before) for before, step in zip(steps, steps[1:])]

    def call(self, logits, shared=None, training=None):
        probabilities = [binary_probability(logits[name]) for name in self.bound_tasks]
        outputs = dict(zip(self.bound_tasks, probabilities))
        steps = list(zip(self.bound_tasks, probabilities))
        for (before, p_before), (step, p_step) in zip(steps, steps[1:]):
            # p_t <= p_{t-1} once calibrated; until then the min keeps the ratio a probability.
            ratio = ops.divide_no_nan(p_step, p_before)
            outputs[conditional_name(step, before)] = ops.minimum(ratio, 1.0)
        if training and self.calibrator_weight > 0:
            self.add_loss(self.calibrator_weight * calibrator_loss(probabilities))
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({"calibrator_weight": self.calibrator_weight})
        return config


def conditional_name(step, before):
    """The served name of P(step | before): `purchase_given_click`."""
    return f"{step}{GIVEN}{before}"


def calibrator_loss(probabilities):
    """sum_{t >= 2} mean(max(p_t - p_{t-1}, 0)) over a list of `(batch, 1)` probabilities.

    An empty batch (a worker whose shards have run out) adds 0, not NaN.
    """
    count = ops.cast(ops.shape(probabilities[0])[0], "float32")
    excess = [ops.relu(p - p_before) for p_before, p in zip(probabilities, probabilities[1:])]
    return ops.divide_no_nan(ops.sum(ops.stack(excess)), count)
