from zoo.api import register
from zoo.layers.heads.funnel_calibration import FunnelCalibration, conditional_name
from zoo.layers.switchers.adaptive_information_transfer import (
    AdaptiveInformationTransferSwitcher,
)
from zoo.models.switcher_model import SwitcherModel

# The head the model makes from `calibrator_weight`: saved as that argument, not as a head.
FUNNEL_CALIBRATION_HEAD = "funnel_calibration_head"


@register
class AITM(SwitcherModel):
    """Adaptive Information Transfer Multi-task model: a conversion funnel, step by step.

    The tasks are the steps of a funnel in order, e.g. `["click",
    "purchase"]` or click -> application -> approval -> activation. Each
    step has its own tower over the shared embeddings; the Adaptive
    Information Transfer module lets step t attend to what step t-1 passes
    on (`zoo.layers.AdaptiveInformationTransferSwitcher`), and the
    Behavioral Expectation Calibrator (`zoo.layers.FunnelCalibration`, the
    model's head) penalises a later step predicted likelier than the one
    before. Every step's label is over all impressions: `purchase` is 1
    where the impression was clicked and converted (Ali-CCP's `purchase`),
    so every loss trains on every impression, as in ESMM.

    Each task's logit is a linear layer on z_t (`tower_units=()`), as in the
    authors' code, where the towers before the AIT module do the work.

    Args:
        tasks: two or more binary tasks, the funnel's steps in order.
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        hidden_units: widths of each step's tower q_t; the authors' (128,
            64, 32) by default. The last is the AIT dimension.
        transfer_units: hidden widths of each transfer MLP g before its
            output layer (of width `hidden_units[-1]`); none by default.
        calibrator_weight: float >= 0, the calibrator's weight alpha; the
            authors' 0.6 by default.
        tower_units: hidden widths of the tower from z_t to the logit; none
            by default.
        heads: more heads (logit heads such as `BiasLogit`); the calibrator
            is AITM's own output head.
        **kwargs: the other arguments of the switcher (`dropout`, ...) and
            of `MultiTaskModel`.

    Returns:
        `{task: probability}`, each `(batch, 1)`. The exported SavedModel
        adds `<task>_given_<previous>` for each later step (P(purchase |
        click), the post-click conversion rate over every impression), and
        `conditional_predictions` gives them in Python.

    Example:
    ```python
    dataset = zoo.data.load_synthetic_funnel()
    model = zoo.models.AITM(tasks=dataset.tasks, preprocessor=dataset.make_preprocessor())
    model.fit(raw_features, labels)  # click and purchase on every impression
    ```

    References:
        Xi et al., "Modeling the Sequential Dependence among Audience
        Multi-step Conversions with Multi-task Learning in Targeted Display
        Advertising", KDD 2021 (arXiv 2105.08489); the authors' code,
        github.com/xidongbo/AITM.
    """

    switcher_class = AdaptiveInformationTransferSwitcher
    renamed_arguments = {"hidden_units": "units"}
    default_arguments = {"hidden_units": (128, 64, 32)}

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        calibrator_weight=0.6,
        tower_units=(),
        heads=(),
        **kwargs,
    ):
        super().__init__(
            tasks,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            heads=[*heads, FunnelCalibration(calibrator_weight, name=FUNNEL_CALIBRATION_HEAD)],
            **kwargs,
        )

    @property
    def calibrator_weight(self):
        return self.output_head.calibrator_weight

    def conditional_predictions(self, inputs):
        """Dict from `<task>_given_<previous>` to P(step | step before) `(batch, 1)`.

        `inputs` are preprocessed features.
        """
        outputs = self.all_outputs(inputs, training=False)
        steps = self.task_names
        names = [conditional_name(step, before) for before, step in zip(steps, steps[1:])]
        return {name: outputs[name] for name in names}

    def get_config(self):
        config = super().get_config()
        # The calibrator comes back from `calibrator_weight`, not from `heads`.
        config["heads"] = [
            h for h in config["heads"] if h["config"].get("name") != FUNNEL_CALIBRATION_HEAD
        ]
        config["calibrator_weight"] = self.calibrator_weight
        return config
