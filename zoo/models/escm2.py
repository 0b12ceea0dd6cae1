from zoo.api import register
from zoo.layers.heads.entire_space_counterfactual import EntireSpaceCounterfactual
from zoo.layers.heads.entire_space_product import CVR_OUTPUT
from zoo.layers.switchers.independent import IndependentSwitcher
from zoo.models.switcher_model import SwitcherModel
from zoo.models.task_heads import ENTIRE_SPACE_HEAD

# The head's arguments, which the model takes and saves as its own.
HEAD_ARGUMENTS = ("estimator", "counterfactual_weight", "min_propensity", "imputation_units")


@register
class ESCM2(SwitcherModel):
    """Entire Space Counterfactual Multi-task Model: ESMM plus a counterfactual CVR risk.

    ESMM's backbone (a CTR and a CVR network over shared embeddings) and
    product, pCTCVR = pCTR x pCVR, with the head
    `zoo.layers.EntireSpaceCounterfactual`, which adds the CVR loss as if
    every impression had been clicked, estimated by inverse propensity
    weighting (`estimator="ips"`) or doubly robustly (`"dr"`). The head's
    docstring gives the losses and what was assumed; it goes on any other
    model through `heads=` (ESCM2 over MMoE, as PaddleRec builds it).

    Args:
        tasks: two binary tasks in order `[ctr_task, ctcvr_task]`, e.g.
            `["click", "purchase"]`; the second's label is 1 exactly where
            the impression was clicked and converted.
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        hidden_units: widths of the CTR and of the CVR network, `[128, 64]`
            by default (ESMM's).
        tower_units: widths of the tower on top of each network; none by
            default.
        estimator: `"ips"` (ESCM2-IPS) or `"dr"` (ESCM2-DR).
        counterfactual_weight: lambda_c, the weight of the counterfactual
            CVR risk.
        min_propensity: the smallest click propensity an inverse weight
            divides by.
        imputation_units: hidden widths of the DR imputation tower.
        heads: more heads (logit heads); the counterfactual product is
            ESCM2's own.
        **kwargs: the other arguments of `zoo.layers.IndependentSwitcher`
            and `MultiTaskModel`'s.

    Returns:
        `{ctr_task: pCTR, ctcvr_task: pCTCVR}`, each `(batch, 1)`. The
        SavedModel adds `cvr`, pCVR over all impressions, and
        `cvr_predictions` gives it in Python.

    Example:
    ```python
    model = zoo.models.ESCM2(tasks=["click", "purchase"], preprocessor=preprocessor,
                             estimator="dr")
    model.fit(raw_features, labels)
    p_cvr = model.cvr_predictions(model.preprocessor(raw_features))
    ```

    References:
        Wang, Chang, Liu, Huang, Chen, Yu, Li & Chu, "ESCM2: Entire Space
        Counterfactual Multi-Task Model for Post-Click Conversion Rate
        Estimation", SIGIR 2022.
    """

    switcher_class = IndependentSwitcher
    renamed_arguments = {"hidden_units": "units"}
    default_arguments = {"hidden_units": (128, 64)}

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        tower_units=(),
        estimator="ips",
        counterfactual_weight=0.1,
        min_propensity=0.05,
        imputation_units=(64,),
        heads=(),
        **kwargs,
    ):
        head = EntireSpaceCounterfactual(
            estimator=estimator,
            counterfactual_weight=counterfactual_weight,
            min_propensity=min_propensity,
            imputation_units=imputation_units,
            name=ENTIRE_SPACE_HEAD,
        )
        super().__init__(
            tasks,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            heads=[*heads, head],
            **kwargs,
        )

    def cvr_predictions(self, inputs):
        """pCVR `(batch, 1)` = P(convert | click, x), from preprocessed features."""
        return self.all_outputs(inputs, training=False)[CVR_OUTPUT]

    def get_config(self):
        config = super().get_config()
        head = self.output_head.get_config()
        config.update({key: head[key] for key in HEAD_ARGUMENTS})
        return config
