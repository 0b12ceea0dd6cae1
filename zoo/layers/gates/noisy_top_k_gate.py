import keras
from keras import ops

from zoo.api import register
from zoo.layers.core import random


@register
class NoisyTopKGate(keras.layers.Layer):
    """Sparse weights over experts: softmax over the k largest noisy logits, 0 elsewhere.

    H(x) = x W_g + StandardNormal() * softplus(x W_noise) while training, and
    x W_g at inference (no noise: predictions are deterministic). Only the k
    largest entries of H(x) stay; the softmax runs over those k, so every
    row has exactly k non-zero weights. The noise lets experts that are not
    in the top k yet win now and then, and so be trained.

    With `importance_weight > 0`, the paper's importance loss
    `importance_weight * CV(Importance)^2` is added through `add_loss` while
    training, where Importance is the batch's sum of the gate weights per
    expert and CV the coefficient of variation: it is smallest when every
    expert gets the same share.

    The weights are computed in float32 and returned in the layer's compute
    dtype, so the top-k choice does not depend on float16 rounding.

    Args:
        num_experts: int >= 1, the length of the weight vector.
        k: int, 1 <= k <= num_experts, experts with a non-zero weight per row.
            With k = 1 the one weight is always 1, so the task loss does not
            train the gate.
        noise: bool, add the tunable Gaussian noise while training.
        importance_weight: float >= 0, w_importance of the load-balancing
            loss; 0 adds no loss.
        kernel_initializer: initializer of W_g. The paper starts from zeros
            (Appendix A): all experts equal, chosen by the noise at first.
        noise_initializer: initializer of W_noise.
        kernel_regularizer: regularizer of W_g and W_noise, or `None`.
        seed: int or `None`, seed of the noise.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.
        training: bool; noise and the importance loss only when True.

    Returns:
        Gate weights `(batch, num_experts)`, non-negative, summing to 1 per
        row, exactly k of them non-zero.

    Example:
    ```python
    gate = zoo.layers.NoisyTopKGate(num_experts=8, k=2)
    gate(np.ones((2, 16))).shape  # (2, 8), two non-zero weights per row
    ```

    References:
        Shazeer et al., "Outrageously Large Neural Networks: The
        Sparsely-Gated Mixture-of-Experts Layer", ICLR 2017, equations (3)
        to (5) for the gate and (6) and (7) for the importance loss.
    """

    def __init__(
        self,
        num_experts,
        k=2,
        noise=True,
        importance_weight=0.0,
        kernel_initializer="zeros",
        noise_initializer="zeros",
        kernel_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_experts) < 1:
            raise ValueError(f"Expected num_experts >= 1. Received: num_experts={num_experts}")
        if not 1 <= int(k) <= int(num_experts):
            raise ValueError(
                f"Expected 1 <= k <= num_experts. Received: k={k}, num_experts={num_experts}"
            )
        if not importance_weight >= 0:
            raise ValueError(
                f"Expected importance_weight >= 0. Received: importance_weight={importance_weight}"
            )
        self.num_experts = int(num_experts)
        self.k = int(k)
        self.noise = bool(noise)
        self.importance_weight = float(importance_weight)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.noise_initializer = keras.initializers.get(noise_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.seed = seed
        if self.noise:
            self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        input_dim = int(input_shape[-1])
        self.kernel = self.add_weight(
            shape=(input_dim, self.num_experts),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            name="kernel",
        )
        if self.noise:
            self.noise_kernel = self.add_weight(
                shape=(input_dim, self.num_experts),
                initializer=self.noise_initializer,
                regularizer=self.kernel_regularizer,
                name="noise_kernel",
            )

    def call(self, inputs, training=None):
        x = ops.cast(inputs, "float32")
        logits = ops.matmul(x, ops.cast(self.kernel, "float32"))  # (batch, num_experts)
        if training and self.noise:
            noise_scale = ops.softplus(ops.matmul(x, ops.cast(self.noise_kernel, "float32")))
            normal = random.normal(ops.shape(logits), self.seed_generator)
            logits = logits + normal * noise_scale  # equation (4)
        top_logits, top_indices = ops.top_k(logits, k=self.k)  # (batch, k) each
        # Softmax over the k kept logits, scattered back to their experts: the
        # same as equations (3) and (5) with the others at -inf, and always
        # exactly k non-zero weights, even where logits tie.
        top_weights = ops.exp(top_logits - ops.max(top_logits, axis=-1, keepdims=True))
        top_weights = top_weights / ops.sum(top_weights, axis=-1, keepdims=True)  # (batch, k)
        chosen = ops.one_hot(top_indices, self.num_experts, dtype="float32")  # (batch, k, experts)
        weights = ops.einsum("bk,bke->be", top_weights, chosen)  # (batch, num_experts)
        if training and self.importance_weight > 0:
            self.add_loss(self.importance_weight * importance_loss(weights))
        return ops.cast(weights, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.num_experts,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_experts": self.num_experts,
                "k": self.k,
                "noise": self.noise,
                "importance_weight": self.importance_weight,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "noise_initializer": keras.initializers.serialize(self.noise_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "seed": self.seed,
            }
        )
        return config


def importance_loss(weights):
    """CV(Importance)^2, Importance the per-expert sum of `weights` over the batch.

    Equations (6) and (7) of Shazeer et al., without w_importance.

    Args:
        weights: float tensor `(batch, num_experts)`.
    """
    importance = ops.sum(weights, axis=0)  # (num_experts,)
    return ops.var(importance) / (ops.square(ops.mean(importance)) + 1e-10)
