from keras import ops

from zoo.api import register
from zoo.layers.switchers.independent import IndependentSwitcher
from zoo.models.switcher_model import SwitcherModel
from zoo.tasks import as_tasks


@register
class ESMM(SwitcherModel):
    """Entire Space Multi-task Model: pCTCVR = pCTR x pCVR, trained on every impression.

    A conversion can only follow a click, so P(click and convert) =
    P(click) P(convert | click). ESMM has a CTR network and a CVR network
    over shared embeddings and multiplies their outputs; both of its losses
    are on all impressions, CTR against the click label and CTCVR against
    the click-and-convert label. pCVR is never fit to clicked rows alone,
    which avoids the sample selection bias of a CVR model trained on
    clicks (it would be served on every impression), and the CVR network
    learns from every impression through the product, which eases the
    sparsity of conversions.

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

    def __init__(self, tasks, features=None, preprocessor=None, tower_units=(), **kwargs):
        checked = as_tasks(tasks)
        if len(checked) != 2 or any(t.type != "binary" for t in checked):
            raise ValueError(
                "ESMM takes two binary tasks, [ctr_task, ctcvr_task]. Received: "
                f"{[(t.name, t.type) for t in checked]}"
            )
        if "cvr" in [t.name for t in checked]:
            raise ValueError("A task named 'cvr' would clash with ESMM's pCVR output.")
        super().__init__(
            tasks, features=features, preprocessor=preprocessor, tower_units=tower_units, **kwargs
        )
        self.ctr_task, self.ctcvr_task = self.task_names

    def _probabilities(self, inputs, training=None):
        # The tower of the second task is the CVR network's.
        logits = self.task_logits(inputs, training=training)
        # float32 probabilities under mixed precision (see output_activation).
        p_ctr = ops.sigmoid(ops.cast(logits[self.ctr_task], "float32"))
        return p_ctr, ops.sigmoid(ops.cast(logits[self.ctcvr_task], "float32"))

    def call(self, inputs, training=None):
        p_ctr, p_cvr = self._probabilities(inputs, training=training)
        return {self.ctr_task: p_ctr, self.ctcvr_task: p_ctr * p_cvr}

    def cvr_predictions(self, inputs):
        """pCVR `(batch, 1)` = P(convert | click, x), from preprocessed features."""
        return self._probabilities(inputs, training=False)[1]

    def outputs_with_extras(self, inputs):
        p_ctr, p_cvr = self._probabilities(inputs, training=False)
        return {self.ctr_task: p_ctr, self.ctcvr_task: p_ctr * p_cvr, "cvr": p_cvr}
