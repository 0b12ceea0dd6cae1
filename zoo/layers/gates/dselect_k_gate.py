import math

import keras
import numpy as np
from keras import ops

from zoo.api import register

# Inside the logarithm of the entropy (so that 0 log 0 is 0 with a finite
# gradient) and as the floor of the reachable mass; the authors' value.
EPSILON = 1e-6


@register
class DSelectKGate(keras.layers.Layer):
    """Sparse, differentiable weights over experts: a softmax mix of k single-expert selectors.

    Each of the k selectors s has m = ceil(log2(num_experts)) logits
    z^(s)(x) = x W_z^(s) + b_z^(s), squashed by the smooth-step function

        S(t) = 0                                         if t <= -gamma / 2
               -2 t^3 / gamma^3 + 3 t / (2 gamma) + 1/2   if |t| < gamma / 2
               1                                         if t >= gamma / 2

    and read as a soft binary code: expert i gets

        r_i^(s)(x) = prod_j (S(z_j^(s)) if bit j of i is 1 else 1 - S(z_j^(s))),

    a distribution over the experts that is one-hot once every S(z_j^(s)) is
    0 or 1. The gate is their mix

        g(x) = sum_s alpha_s(x) r^(s)(x),   alpha(x) = softmax(x W_alpha + b_alpha),

    so at most k experts have a non-zero weight once the selectors are
    binary, while S keeps the whole map continuously differentiable. S
    reaches its plateaus at finite logits, so this sparsity is exact; on a
    plateau S has no gradient, and the selector stops moving.

    With `entropy_weight > 0`, the paper's entropy regularization
    `entropy_weight * sum_s h(r^(s)(x))`, h(r) = -sum_i r_i log(r_i + 1e-6),
    is added through `add_loss` while training, averaged over the batch: it
    pushes every selector towards one expert, so the gate becomes sparse
    sooner.

    When `num_experts` is not a power of 2, the codes num_experts, ...,
    2^m - 1 name no expert. As the authors' code does, r^(s) is computed for
    the reachable codes only, and while training a loss
    `mean over the batch of sum_s (1 / max(sum_i r_i^(s), 1e-6) - 1)` keeps
    each selector off the unreachable codes (the authors add
    `1 / sum_i r_i^(s)`, summed over the batch; the `- 1` makes it 0 once
    the reachable mass is 1, which changes no gradient). Unlike the authors'
    gate, whose rows then sum to less than 1 until that loss has done its
    work, each r^(s) is renormalized over the reachable experts, so the
    weights always sum to 1; a selector with no reachable mass at all (binary
    on an unreachable code) counts as uniform over the experts.

    With `num_experts=1` there is nothing to choose: the layer has no weights
    and returns 1. With `k=1`, alpha is 1 and the layer has no W_alpha.

    The weights are computed in float32 and returned in the layer's compute
    dtype, so the plateaus of S stay exact under float16.

    What the paper leaves open and this layer assumes, after the authors'
    code: the selectors' and alpha's maps have biases (`use_bias`); z starts
    near 0, inside S's cubic part where it has gradients, drawn from
    U(-gamma/100, gamma/100); bit j of expert i is `(i >> j) & 1` (which
    logit encodes which bit does not change what the gate can express).
    The entropy loss is averaged over the batch, where the authors' code
    sums it, so its weight does not depend on the batch size (the authors'
    `EntropyRegularizer` defaults to a weight of 1e-6 per example, summed;
    their gate adds no entropy loss unless one is given, hence the default
    of 0 here). It is computed on the renormalized r^(s).

    Args:
        num_experts: int >= 1, the length of the weight vector.
        k: int >= 1, the number of single-expert selectors: at most k
            experts have a non-zero weight once the selectors are binary.
            k may exceed `num_experts` (selectors then share experts).
        gamma: float > 0, the width of S's cubic part. Smaller values make
            the selectors binary sooner.
        entropy_weight: float >= 0, lambda of the entropy regularization;
            0 adds no entropy loss.
        use_bias: bool, whether the maps to z and to alpha's logits have
            biases.
        z_initializer: initializer of W_z, or `None` for
            U(-gamma/100, gamma/100), the authors' choice.
        alpha_initializer: initializer of W_alpha.
        kernel_regularizer: regularizer of W_z and W_alpha, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.
        training: bool; the entropy loss and the reachability loss only when
            True.

    Returns:
        Gate weights `(batch, num_experts)`, non-negative, summing to 1 per
        row; at most k of them non-zero in a row where every selector is
        binary.

    Example:
    ```python
    from zoo.layers import DSelectKGate

    gate = DSelectKGate(num_experts=8, k=2)
    gate(np.ones((2, 16))).shape  # (2, 8)
    switcher = zoo.layers.MMoESwitcher(2, 8, [32], gate="dselect-k")
    ```

    References:
        Hazimeh, Zhao, Chowdhery, Sathiamoorthy, Chen, Mazumder, Hong, Chi,
        "DSelect-k: Differentiable Selection in the Mixture of Experts with
        Applications to Multi-Task Learning", NeurIPS 2021: the smooth-step
        function, the per-example ("example-conditioned") gate and the
        entropy regularization. The authors' code:
        github.com/google-research/google-research, `dselect_k_moe/`.
    """

    def __init__(
        self,
        num_experts,
        k=2,
        gamma=1.0,
        entropy_weight=0.0,
        use_bias=True,
        z_initializer=None,
        alpha_initializer="random_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_experts) < 1:
            raise ValueError(f"Expected num_experts >= 1. Received: num_experts={num_experts}")
        if int(k) < 1:
            raise ValueError(f"Expected k >= 1. Received: k={k}")
        if not gamma > 0:
            raise ValueError(f"Expected gamma > 0. Received: gamma={gamma}")
        if not entropy_weight >= 0:
            raise ValueError(
                f"Expected entropy_weight >= 0. Received: entropy_weight={entropy_weight}"
            )
        self.num_experts = int(num_experts)
        self.k = int(k)
        self.gamma = float(gamma)
        self.entropy_weight = float(entropy_weight)
        self.use_bias = bool(use_bias)
        self.z_initializer = (
            None if z_initializer is None else keras.initializers.get(z_initializer)
        )
        self.alpha_initializer = keras.initializers.get(alpha_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.num_binary = math.ceil(math.log2(self.num_experts))
        self._codes = binary_codes(self.num_experts)

    def build(self, input_shape):
        if self.num_experts == 1:
            return
        input_dim = int(input_shape[-1])
        z_initializer = self.z_initializer or keras.initializers.RandomUniform(
            -self.gamma / 100, self.gamma / 100
        )
        self.z_kernel = self.add_weight(
            shape=(input_dim, self.k, self.num_binary),
            initializer=z_initializer,
            regularizer=self.kernel_regularizer,
            name="z_kernel",
        )
        # Zeros rather than the kernels' draws: an unseeded Keras initializer
        # called twice repeats its values, and the kernels break the symmetry.
        if self.use_bias:
            self.z_bias = self.add_weight(
                shape=(self.k, self.num_binary), initializer="zeros", name="z_bias"
            )
        if self.k == 1:
            return  # alpha is 1: weights for it would never train.
        self.alpha_kernel = self.add_weight(
            shape=(input_dim, self.k),
            initializer=self.alpha_initializer,
            regularizer=self.kernel_regularizer,
            name="alpha_kernel",
        )
        if self.use_bias:
            self.alpha_bias = self.add_weight(
                shape=(self.k,), initializer="zeros", name="alpha_bias"
            )

    def call(self, inputs, training=None):
        x = ops.cast(inputs, "float32")
        if self.num_experts == 1:
            return ops.cast(ops.ones_like(x[:, :1]), self.compute_dtype)
        z = ops.einsum("bd,dkm->bkm", x, ops.cast(self.z_kernel, "float32"))  # (batch, k, m)
        if self.use_bias:
            z = z + ops.cast(self.z_bias, "float32")
        steps = ops.expand_dims(smooth_step(z, self.gamma), 2)  # (batch, k, 1, m)
        factors = ops.where(self._codes, steps, 1.0 - steps)  # (batch, k, num_experts, m)
        selectors = ops.prod(factors, axis=-1)  # (batch, k, num_experts)
        power_of_2 = self.num_experts == 2**self.num_binary
        if not power_of_2:
            reachable = ops.sum(selectors, axis=-1, keepdims=True)  # (batch, k, 1)
            has_mass = reachable > 0
            # The inner where keeps the division (and its gradient) finite.
            selectors = ops.where(
                has_mass,
                selectors / ops.where(has_mass, reachable, 1.0),
                1.0 / self.num_experts,
            )
        if self.k == 1:
            weights = selectors[:, 0]  # (batch, num_experts)
        else:
            alpha_logits = ops.matmul(x, ops.cast(self.alpha_kernel, "float32"))  # (batch, k)
            if self.use_bias:
                alpha_logits = alpha_logits + ops.cast(self.alpha_bias, "float32")
            alpha = ops.softmax(alpha_logits, axis=-1)
            weights = ops.einsum("bk,bke->be", alpha, selectors)  # (batch, num_experts)
        if training:
            if self.entropy_weight > 0:
                entropy = ops.sum(selector_entropy(selectors), axis=-1)  # (batch,)
                self.add_loss(self.entropy_weight * ops.mean(entropy))
            if not power_of_2:
                shortfall = 1.0 / ops.maximum(ops.squeeze(reachable, -1), EPSILON) - 1.0
                self.add_loss(ops.mean(ops.sum(shortfall, axis=-1)))
        return ops.cast(weights, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.num_experts,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_experts": self.num_experts,
                "k": self.k,
                "gamma": self.gamma,
                "entropy_weight": self.entropy_weight,
                "use_bias": self.use_bias,
                "z_initializer": (
                    None
                    if self.z_initializer is None
                    else keras.initializers.serialize(self.z_initializer)
                ),
                "alpha_initializer": keras.initializers.serialize(self.alpha_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


def smooth_step(t, gamma=1.0):
    """The smooth-step function S(t) of DSelect-k.

    0 for t <= -gamma/2, 1 for t >= gamma/2, and the cubic
    -2 t^3 / gamma^3 + 3 t / (2 gamma) + 1/2 between, which meets both
    plateaus with slope 0, so S is continuously differentiable.

    Args:
        t: float tensor, any shape.
        gamma: float > 0, the width of the cubic part.
    """
    t = ops.convert_to_tensor(t)
    cubic = -2.0 / gamma**3 * t**3 + 3.0 / (2.0 * gamma) * t + 0.5
    # Plateaus by `where` rather than by clipping t: the cubic at +-gamma/2
    # rounds to 1 - 1 ulp or so, and the selectors' sparsity must be exact.
    return ops.where(t <= -gamma / 2, 0.0, ops.where(t >= gamma / 2, 1.0, cubic))


def selector_entropy(selectors):
    """-sum_i r_i log(r_i + 1e-6) over the last axis: 0 for a one-hot r.

    Args:
        selectors: float tensor `(..., num_experts)`, distributions.
    """
    return -ops.sum(selectors * ops.log(selectors + EPSILON), axis=-1)


def binary_codes(num_experts):
    """`(num_experts, ceil(log2(num_experts)))` bools: row i holds the bits of i, lowest first."""
    num_binary = math.ceil(math.log2(num_experts))
    experts = np.arange(num_experts)[:, None]
    return (experts >> np.arange(num_binary)[None, :]) & 1 == 1
