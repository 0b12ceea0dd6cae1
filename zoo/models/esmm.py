from zoo.api import register
from zoo.layers.heads.entire_space_product import CVR_OUTPUT, EntireSpaceProduct
from zoo.layers.switchers.independent import IndependentSwitcher
from zoo.models.switcher_model import SwitcherModel
from zoo.models.task_heads import ENTIRE_SPACE_HEAD


@register
class ESMM(SwitcherModel):
    """Entire Space Multi-task Model: pCTCVR = pCTR x pCVR, trained on every impression.

    ESMM's own backbone (a CTR and a CVR network over shared embeddings)
    with its head, `zoo.layers.EntireSpaceProduct`; that head goes on any
    other model through `heads=` (ESMM over MMoE, say).

    The head's docstring says why the product: pCVR learns from every
    impression, never from clicked rows alone.

    Args:
        tasks: two binary tasks in order `[ctr_task, ctcvr_task]`, e.g.
            `["click", "purchase"]`. The second's label must be 1 exactly
            where the impression was clicked and converted (Ali-CCP's
            `purchase`, AliExpress' `conversion`).
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        hidden_units: widths of the CTR and of the CVR network (each its
            own, over the shared embeddings), `[128, 64]` by default.
        tower_units: widths of the tower on top of each network; none by
            default.
        heads: more heads (logit heads such as `BiasLogit`); the product is
            ESMM's own.
        **kwargs: the other arguments of `zoo.layers.IndependentSwitcher`
            (`dropout`, ...) and `MultiTaskModel`'s.

    Returns:
        `{ctr_task: pCTR, ctcvr_task: pCTCVR}`, each `(batch, 1)`. The
        exported SavedModel adds `cvr`, pCVR over all impressions, and
        `cvr_predictions` gives it in Python.

    Example:
    ```python
    model = zoo.models.ESMM(tasks=["click", "purchase"], preprocessor=preprocessor)
    model.fit(raw_features, labels)  # click and purchase on every impression
    p_cvr = model.cvr_predictions(model.preprocessor(raw_features))
    ```

    References:
        Ma et al., "Entire Space Multi-Task Model: An Effective Approach for
        Estimating Post-Click Conversion Rate", SIGIR 2018.
    """

    switcher_class = IndependentSwitcher
    renamed_arguments = {"hidden_units": "units"}
    default_arguments = {"hidden_units": (128, 64)}

    def __init__(self, tasks, features=None, preprocessor=None, tower_units=(), heads=(), **kwargs):
        super().__init__(
            tasks,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            heads=[*heads, EntireSpaceProduct(name=ENTIRE_SPACE_HEAD)],
            **kwargs,
        )

    @property
    def ctr_task(self):
        return self.output_head.ctr_task

    @property
    def ctcvr_task(self):
        return self.output_head.ctcvr_task

    def cvr_predictions(self, inputs):
        """pCVR `(batch, 1)` = P(convert | click, x), from preprocessed features."""
        return self.all_outputs(inputs, training=False)[CVR_OUTPUT]
