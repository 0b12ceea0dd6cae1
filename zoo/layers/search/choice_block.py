import keras
from keras import ops

from zoo.api import register
from zoo.layers.search.candidates import make_candidate, takes_fields


@register
class ChoiceBlock(keras.layers.Layer):
    """One searchable block: the candidate operations, mixed by architecture weights.

    B(x) = sum_o softmax(alpha)_o o(x) + s x, the continuous relaxation of
    choosing one operation (DARTS), plus DARTS-'s auxiliary skip connection
    s x, whose weight the search decays to 0. The block does not own alpha:
    the searching switcher does, so that blocks can share one (AutoMTL's
    homogeneous-experts ablation) and the search can tell architecture
    weights from network weights. A block of a single candidate is just that
    operation (how a derived architecture uses it).

    Args:
        candidates: list of candidate names (`zoo.layers.search.candidates`),
            e.g. `["skip", "mlp-64", "conv1d-3"]`.
        width: int, the output width of every candidate, which must also be
            the (flattened) input width so that "skip" fits.
        normalize: bool, batch-normalize each candidate's output except
            "skip" (without scale and offset, as DARTS' search cells). The
            candidates' outputs differ in scale by orders of magnitude (a
            1024-wide MLP against a 3-weight convolution); normalized, alpha
            compares operations rather than magnitudes, and SGD trains the
            mixture at the reference's learning rate (with raw outputs a
            search on Census-Income stayed at the base-rate loss).
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: `(batch, width)`, or `(batch, fields, dim)` with
            `fields * dim == width` for blocks whose candidates read fields.
        weights: `(num_candidates,)` mixing weights (softmax(alpha)); `None`
            mixes them equally (a single candidate is then just itself).
        skip_weight: scalar weight of the auxiliary skip connection, or `None`.
        training: bool.

    Returns:
        Float tensor `(batch, width)`.

    Example:
    ```python
    block = zoo.layers.ChoiceBlock(["skip", "mlp-16", "conv1d-3"], width=8)
    block(np.ones((2, 8)), weights=np.array([0.2, 0.5, 0.3])).shape  # (2, 8)
    ```

    References:
        Liu et al., "DARTS: Differentiable Architecture Search", ICLR 2019;
        Chu et al., "DARTS-: Robustly Stepping out of Performance Collapse
        Without Indicators", ICLR 2021.
    """

    def __init__(self, candidates, width, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.candidates = list(candidates)
        if not self.candidates:
            raise ValueError("Expected at least one candidate. Received: candidates=[]")
        repeated = sorted({c for c in self.candidates if self.candidates.count(c) > 1})
        if repeated:
            raise ValueError(f"Expected distinct candidates. Received twice: {repeated}")
        self.width = int(width)
        self.operations = [
            make_candidate(name, self.width, layer_name=f"op_{i}_{name.replace('-', '_')}")
            for i, name in enumerate(self.candidates)
        ]
        self._reads_fields = [takes_fields(name) for name in self.candidates]
        self.normalize = bool(normalize)
        self.norms = [
            keras.layers.BatchNormalization(center=False, scale=False, name=f"norm_{i}")
            if self.normalize and name != "skip"
            else None
            for i, name in enumerate(self.candidates)
        ]

    def build(self, input_shape):
        flat_width = _flat_width(input_shape)
        if flat_width != self.width:
            raise ValueError(
                f"{self.name}: the input is {flat_width} wide but the candidates output "
                f"{self.width}; they must match so that 'skip' and the mixture fit."
            )
        has_fields = len(input_shape) == 3
        for name, reads_fields, operation in zip(
            self.candidates, self._reads_fields, self.operations
        ):
            if reads_fields and not has_fields:
                raise ValueError(
                    f"{self.name}: candidate {name!r} reads the fields apart, and this block "
                    f"sees a flat (batch, {flat_width}) input; it can only be a "
                    "feature-interaction candidate."
                )
            operation.build(tuple(input_shape) if reads_fields else (None, flat_width))
        for norm in self.norms:
            if norm is not None:
                norm.build((None, self.width))

    def call(self, inputs, weights=None, skip_weight=None, training=None):
        flat = ops.reshape(inputs, (-1, self.width))
        outputs = [
            operation(inputs if reads_fields else flat, training=training)
            for reads_fields, operation in zip(self._reads_fields, self.operations)
        ]
        outputs = [
            output if norm is None else norm(output, training=training)
            for output, norm in zip(outputs, self.norms)
        ]
        if len(outputs) == 1 and weights is None:
            mixed = outputs[0]
        else:
            if weights is None:
                weights = ops.full((len(outputs),), 1.0 / len(outputs), dtype=flat.dtype)
            # (candidates,) x (candidates, batch, width) -> (batch, width)
            mixed = ops.einsum("c,cbw->bw", weights, ops.stack(outputs))
        if skip_weight is not None:
            mixed = mixed + skip_weight * flat
        return mixed

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.width)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"candidates": self.candidates, "width": self.width, "normalize": self.normalize}
        )
        return config


def _flat_width(shape):
    width = 1
    for size in shape[1:]:
        width *= int(size)
    return width
