from keras import ops

from zoo.api import register
from zoo.layers.heads.entire_space_product import CVR_OUTPUT, EntireSpaceProduct
from zoo.layers.heads.output_head import binary_probability
from zoo.layers.towers.tower import Tower

ESTIMATORS = ("ips", "dr")
# The imputation tower's pseudo conversion label, a training output of the DR estimator.
IMPUTED_CVR_OUTPUT = "imputed_cvr"
# Keeps log() finite where a probability reaches 0 or 1 in float32.
_EPSILON = 1e-7


@register
class EntireSpaceCounterfactual(EntireSpaceProduct):
    """ESCM2's head: ESMM's product, plus a counterfactual CVR risk on the clicked rows.

    ESMM (`EntireSpaceProduct`) trains pCVR only through pCTCVR = pCTR x
    pCVR on every impression. ESCM2 adds the counterfactual risk
    L_CVR, the CVR loss as if every impression had been clicked, estimated
    from the clicked rows by inverse propensity weighting with pCTR as the
    propensity. The training loss is

        L = L_CTR + lambda_g L_CTCVR + lambda_c L_CVR,

    with L_CTR and L_CTCVR the model's two task losses (lambda_g is the
    CTCVR task's loss weight, 1 unless `compile(loss_weights=)` says
    otherwise) and lambda_c this head's `counterfactual_weight`. With
    o_i the click label, r_i the conversion label (the CTCVR label, equal
    to the conversion on a clicked row), p_i = max(pCTR_i, min_propensity)
    held constant, and delta_i = CE(r_i, pCVR_i):

    - `"ips"` (ESCM2-IPS): L_CVR = 1/|D| sum_i o_i delta_i / p_i.
    - `"dr"` (ESCM2-DR): an imputation tower over the backbone's shared
      representation predicts a pseudo conversion label rt_i for every
      impression; with the imputed error dh_i = CE(rt_i, pCVR_i),
          L_CVR = 1/|D| sum_i [dh_i + o_i (delta_i - dh_i) / p_i],
      and the imputation tower learns from
          L_IMP = 1/|D| sum_i o_i (delta_i - dh_i)^2 / p_i,
      which this head adds with the same weight lambda_c.

    The sums run over every impression with a label (|D| of them): the
    clicked rows carry the observed conversions, and with DR every row
    carries its imputed error.

    Assumed where the paper leaves it open, or differs from its ports:

    - The propensity is a constant to the gradient (`stop_gradient`), as
      in PaddleRec's ESCM2 IPS loss: the counterfactual risk regularizes
      pCVR and must not pull pCTR up to shrink its own weights.
    - Propensities below `min_propensity` are raised to it, which caps
      each inverse-propensity weight (PaddleRec caps it at 15, an "online
      trick"); 0.05 caps it at 20.
    - DR follows the joint learning of doubly robust estimators (Wang et
      al., ICML 2019, which ESCM2 builds its DR estimator on): the
      imputation tower predicts a label, and the imputed error is the CVR
      loss against it, so that unclicked impressions give pCVR a gradient
      too. Each of the two losses trains its own side: in L_CVR the
      pseudo-label is a constant, in L_IMP pCVR and delta_i are. (PaddleRec's
      port instead has the tower output dh_i directly; pCVR's gradient then
      equals IPS's.)
    - rt_i is a sigmoid of the imputation tower's logit, a probability like
      the labels it stands in for.

    Validation losses (`val_loss`) are the task losses, without the
    counterfactual risk: it needs the training step's outputs. The
    SavedModel serves pCTR, pCTCVR and pCVR (`cvr`), as ESMM's.

    Args:
        estimator: `"ips"` or `"dr"`.
        counterfactual_weight: lambda_c, float >= 0. The paper tunes it;
            PaddleRec's configuration has 0.01 for Ali-CCP.
        min_propensity: float in (0, 1], the smallest propensity p_i.
        imputation_units: hidden widths of the DR imputation tower.
        **kwargs: base layer keyword arguments (`name`).

    Example:
    ```python
    head = zoo.layers.EntireSpaceCounterfactual(estimator="dr")
    model = zoo.models.MMoE(tasks=["click", "purchase"], preprocessor=p, heads=[head])
    ```

    References:
        Wang, Chang, Liu, Huang, Chen, Yu, Li & Chu, "ESCM2: Entire Space
        Counterfactual Multi-Task Model for Post-Click Conversion Rate
        Estimation", SIGIR 2022 (arXiv:2204.05125), section 4.
        Wang, Zhang, Sun & Qi, "Doubly Robust Joint Learning for
        Recommendation on Data Missing Not at Random", ICML 2019.
    """

    def __init__(
        self,
        estimator="ips",
        counterfactual_weight=0.1,
        min_propensity=0.05,
        imputation_units=(64,),
        **kwargs,
    ):
        super().__init__(**kwargs)
        if estimator not in ESTIMATORS:
            raise ValueError(
                f"Expected estimator in {ESTIMATORS}. Received: estimator={estimator!r}"
            )
        if not float(counterfactual_weight) >= 0:
            raise ValueError(
                "Expected counterfactual_weight >= 0. "
                f"Received: counterfactual_weight={counterfactual_weight!r}"
            )
        if not 0.0 < float(min_propensity) <= 1.0:
            raise ValueError(
                f"Expected 0 < min_propensity <= 1. Received: min_propensity={min_propensity!r}"
            )
        self.estimator = estimator
        self.counterfactual_weight = float(counterfactual_weight)
        self.min_propensity = float(min_propensity)
        self.imputation_units = [int(u) for u in imputation_units]

    @property
    def reads_shared_representation(self):
        return self.estimator == "dr"  # the imputation tower reads it

    def bind(self, features, tasks):
        super().bind(features, tasks)
        if self.estimator == "dr":
            self.imputation_tower = Tower(
                self.imputation_units, output_units=1, name="imputation_tower"
            )
        return self

    def label_loss_outputs(self):
        return [CVR_OUTPUT, IMPUTED_CVR_OUTPUT] if self.estimator == "dr" else [CVR_OUTPUT]

    def call(self, logits, shared=None, training=None):
        outputs = super().call(logits, shared, training=training)
        if self.estimator == "dr":
            # Run on every call, so that the model's first (inference) call builds the
            # tower; a graph that does not return it (serving) prunes it.
            pseudo_label = binary_probability(self.imputation_tower(shared, training=training))
            if training:  # a training output only: serving has no use for the pseudo-labels
                outputs[IMPUTED_CVR_OUTPUT] = pseudo_label
        return outputs

    def label_loss(self, labels, outputs, sample_weights):
        clicked = ops.reshape(labels[self.ctr_task], (-1,))  # o_i
        converted = ops.reshape(labels[self.ctcvr_task], (-1,))  # r_i where o_i = 1
        weight = sample_weights[self.ctcvr_task]  # 0: a row without a label
        p_cvr = ops.reshape(outputs[CVR_OUTPUT], (-1,))
        propensity = ops.maximum(
            ops.stop_gradient(ops.reshape(outputs[self.ctr_task], (-1,))), self.min_propensity
        )
        error = cross_entropy(converted, p_cvr)  # delta_i
        if self.estimator == "ips":
            risk = clicked * error / propensity
        else:
            pseudo_label = ops.reshape(outputs[IMPUTED_CVR_OUTPUT], (-1,))
            imputed = cross_entropy(ops.stop_gradient(pseudo_label), p_cvr)  # dh_i
            risk = imputed + clicked * (error - imputed) / propensity
            # L_IMP trains the imputation tower only: the CVR side is held constant.
            imputed_for_tower = cross_entropy(pseudo_label, ops.stop_gradient(p_cvr))
            residual = ops.stop_gradient(error) - imputed_for_tower
            risk = risk + clicked * ops.square(residual) / propensity
        rows = ops.sum(weight)
        return self.counterfactual_weight * ops.divide_no_nan(ops.sum(weight * risk), rows)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "estimator": self.estimator,
                "counterfactual_weight": self.counterfactual_weight,
                "min_propensity": self.min_propensity,
                "imputation_units": self.imputation_units,
            }
        )
        return config


def cross_entropy(label, probability):
    """Per-row binary cross-entropy of `probability` against `label` (both `(batch,)`)."""
    p = ops.clip(probability, _EPSILON, 1.0 - _EPSILON)
    return -(label * ops.log(p) + (1.0 - label) * ops.log(1.0 - p))
