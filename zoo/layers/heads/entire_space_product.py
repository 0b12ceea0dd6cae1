from zoo.api import register
from zoo.layers.heads.output_head import OutputHead, binary_probability

CVR_OUTPUT = "cvr"


@register
class EntireSpaceProduct(OutputHead):
    """ESMM's head: pCTCVR = pCTR x pCVR, so both losses train on every impression.

    A conversion can only follow a click, so P(click and convert) =
    P(click) P(convert | click). The model's first task is the click
    (its tower gives pCTR), the second is click-and-convert: its tower gives
    pCVR, and the head predicts the product. Both losses are on all
    impressions, CTR against the click label and CTCVR against the
    click-and-convert label: pCVR is never fit to clicked rows alone, which
    avoids the sample selection bias of a CVR model trained on clicks (it
    would be served on every impression), and the CVR tower learns from
    every impression through the product, which eases the sparsity of
    conversions. Any backbone can carry it (ESMM's own is two independent
    networks; MMoE or PLE shares experts between the two).

    The SavedModel adds pCVR over all impressions as `cvr`.

    Args:
        **kwargs: base layer keyword arguments (`name`).

    References:
        Ma et al., "Entire Space Multi-Task Model: An Effective Approach for
        Estimating Post-Click Conversion Rate", SIGIR 2018.
    """

    def bind(self, features, tasks):
        if len(tasks) != 2 or any(t.type != "binary" for t in tasks):
            raise ValueError(
                f"{self.name}: ESMM's product takes two binary tasks, [ctr_task, ctcvr_task]. "
                f"Received: {[(t.name, t.type) for t in tasks]}"
            )
        super().bind(features, tasks)
        self.ctr_task, self.ctcvr_task = self.bound_tasks
        return self

    def extra_outputs(self):
        return [CVR_OUTPUT]

    def call(self, logits, shared=None, training=None):
        p_ctr = binary_probability(logits[self.ctr_task])
        p_cvr = binary_probability(logits[self.ctcvr_task])
        return {self.ctr_task: p_ctr, self.ctcvr_task: p_ctr * p_cvr, CVR_OUTPUT: p_cvr}
