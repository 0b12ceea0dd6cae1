"""Sub-Network Routing (SNR): sub-networks joined by learned, prunable connections."""

import math

import keras
from keras import ops

from zoo.api import register
from zoo.layers.core.dropout import Dropout
from zoo.layers.core.initializers import distinct_initializers
from zoo.layers.experts.experts import Experts
from zoo.layers.switchers.switcher import Switcher

# Keeps log(u) and log(1 - u) finite in float32.
_UNIFORM_EPSILON = 1e-6


def hard_concrete(log_alpha, training=False, seed=None, beta=2 / 3, gamma=-0.1, zeta=1.1):
    """Hard-concrete coding variables z in [0, 1], one per entry of `log_alpha`.

    In training, u ~ U(0, 1), s = sigmoid((log u - log(1 - u) + log_alpha) / beta),
    z = clip(s (zeta - gamma) + gamma, 0, 1): a relaxed Bernoulli stretched past
    [0, 1] and clipped, so z is exactly 0 or 1 with positive probability and
    differentiable in `log_alpha` in between. At inference,
    z = clip(sigmoid(log_alpha) (zeta - gamma) + gamma, 0, 1), deterministic.

    Args:
        log_alpha: float tensor, the location parameters.
        training: bool, sample (True) or take the deterministic value.
        seed: a `keras.random.SeedGenerator` (or int, or `None`) for the noise.
        beta: float > 0, the temperature.
        gamma: float < 0, the lower end of the stretched interval.
        zeta: float > 1, the upper end of the stretched interval.

    Returns:
        A tensor of the shape of `log_alpha`, with values in [0, 1].

    References:
        Louizos et al., "Learning Sparse Neural Networks through L0
        Regularization", ICLR 2018, equations (10) and (13).
    """
    if training:
        u = keras.random.uniform(
            ops.shape(log_alpha),
            minval=_UNIFORM_EPSILON,
            maxval=1.0 - _UNIFORM_EPSILON,
            dtype=log_alpha.dtype,
            seed=seed,
        )
        s = ops.sigmoid((ops.log(u) - ops.log(1.0 - u) + log_alpha) / beta)
    else:
        s = ops.sigmoid(log_alpha)
    return ops.clip(s * (zeta - gamma) + gamma, 0.0, 1.0)


def l0_penalty(log_alpha, beta=2 / 3, gamma=-0.1, zeta=1.1):
    """Expected number of non-zero coding variables: sum P(z != 0).

    P(z != 0) = sigmoid(log_alpha - beta log(-gamma / zeta)) (Louizos et al.,
    equation (12)); it rises with `log_alpha`.
    """
    return ops.sum(ops.sigmoid(log_alpha - beta * math.log(-gamma / zeta)))


class _SubNetworkRouting(Switcher):
    """The shared machinery of SNR-Trans and SNR-Aver (see `SNRTransSwitcher`)."""

    # Whether each connection carries its own dense transformation W_ij.
    transform = None

    def __init__(
        self,
        num_tasks,
        num_layers=2,
        num_experts=4,
        expert_units=32,
        l0_strength=1e-4,
        log_alpha_init=0.0,
        beta=2 / 3,
        gamma=-0.1,
        zeta=1.1,
        **kwargs,
    ):
        super().__init__(num_tasks, **kwargs)
        if int(num_layers) < 1:
            raise ValueError(f"Expected num_layers >= 1. Received: num_layers={num_layers}")
        if int(num_experts) < 1:
            raise ValueError(f"Expected num_experts >= 1. Received: num_experts={num_experts}")
        self.num_layers = int(num_layers)
        self.num_experts = int(num_experts)
        self.expert_units = self._layer_widths(expert_units)
        if not (beta > 0 and gamma < 0 and zeta > 1):
            raise ValueError(
                "Expected beta > 0, gamma < 0 and zeta > 1. "
                f"Received: beta={beta}, gamma={gamma}, zeta={zeta}"
            )
        if l0_strength < 0:
            raise ValueError(f"Expected l0_strength >= 0. Received: l0_strength={l0_strength}")
        self.l0_strength = float(l0_strength)
        self.log_alpha_init = float(log_alpha_init)
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.zeta = float(zeta)
        # Layer 0: every sub-network reads the input; nothing routes into it.
        self.experts = Experts(
            self.num_experts,
            [self.expert_units[0]],
            activation=self.activation,
            dropout=self.dropout,
            kernel_regularizer=self.kernel_regularizer,
            seed=self.seed,
            name="sub_networks_0",
        )
        self.dropout_layers = [
            Dropout(
                self.dropout,
                seed=None if self.seed is None else self.seed + i,
                name=f"dropout_{i}",
            )
            for i in range(1, self.num_layers)
            if self.dropout > 0
        ]

    def _layer_widths(self, expert_units):
        """One width per layer of sub-networks, from an int or a list of `num_layers` ints."""
        try:
            if isinstance(expert_units, int):
                widths = [expert_units] * self.num_layers
            else:
                widths = [int(u) for u in expert_units]
                if len(widths) == 1:  # `--expert-units 32`: every layer
                    widths = widths * self.num_layers
        except TypeError:  # e.g. a list of widths per sub-network
            widths = []
        if len(widths) != self.num_layers or any(u < 1 for u in widths):
            raise ValueError(
                "Expected expert_units to be a positive int or a list of num_layers="
                f"{self.num_layers} positive ints (one width per layer). "
                f"Received: expert_units={expert_units}"
            )
        return widths

    def build(self, input_shape):
        self.experts.build(input_shape)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="coding_seed")
        self.log_alphas, self.kernels, self.biases = [], [], []
        # Connection r joins layer r to layer r + 1; the last one joins the
        # top layer to the K tasks.
        for r in range(self.num_layers):
            to_tasks = r == self.num_layers - 1
            num_out = self.num_tasks if to_tasks else self.num_experts
            d_in = self.expert_units[r]
            d_out = d_in if to_tasks else self.expert_units[r + 1]
            self.log_alphas.append(
                self.add_weight(
                    name=f"log_alpha_{r}",
                    shape=(self.num_experts, num_out),
                    initializer=keras.initializers.Constant(self.log_alpha_init),
                )
            )
            kernel = None
            if self.transform:
                # Destination j is one dense layer over the concatenated
                # sources, cut into the per-pair blocks W_ij.
                slices = distinct_initializers("glorot_uniform", num_out)
                shape = (self.num_experts * d_in, d_out)
                split = (self.num_experts, d_in, d_out)

                def initial_value(_shape, dtype=None, slices=slices, shape=shape, split=split):
                    blocks = [ops.reshape(init(shape, dtype=dtype), split) for init in slices]
                    return ops.stack(blocks, axis=1)  # (sources, destinations, d_in, d_out)

                kernel = self.add_weight(
                    name=f"kernel_{r}",
                    shape=(self.num_experts, num_out, d_in, d_out),
                    initializer=initial_value,
                    regularizer=self.kernel_regularizer,
                )
            elif not to_tasks:
                # SNR-Aver: sub-network j's own dense layer after the average.
                slices = distinct_initializers("glorot_uniform", num_out)
                shape = (d_in, d_out)

                def initial_value(_shape, dtype=None, slices=slices, shape=shape):
                    return ops.stack([init(shape, dtype=dtype) for init in slices], axis=0)

                kernel = self.add_weight(
                    name=f"kernel_{r}",
                    shape=(num_out, d_in, d_out),
                    initializer=initial_value,
                    regularizer=self.kernel_regularizer,
                )
            self.kernels.append(kernel)
            self.biases.append(
                None
                if to_tasks
                else self.add_weight(name=f"bias_{r}", shape=(num_out, d_out), initializer="zeros")
            )

    def _coding(self, log_alpha, training):
        return hard_concrete(
            log_alpha,
            training=training,
            seed=self.seed_generator,
            beta=self.beta,
            gamma=self.gamma,
            zeta=self.zeta,
        )

    def call(self, inputs, training=None, return_gate_weights=False):
        u = self.experts(inputs, training=training)  # (batch, experts, units[0])
        for r in range(self.num_layers):
            z = self._coding(self.log_alphas[r], training)  # (sources, destinations)
            if self.transform:
                # v_j = sum_i z_ij W_ij u_i
                w = self.kernels[r] * z[:, :, None, None]  # (sources, destinations, d_in, d_out)
                v = ops.einsum("bid,ijdo->bjo", u, w)  # (batch, destinations, d_out)
            else:
                # v_j = sum_i z_ij u_i
                v = ops.einsum("bid,ij->bjd", u, z)  # (batch, destinations, d_in)
            if r == self.num_layers - 1:
                break
            if not self.transform:
                v = ops.einsum("bjd,jdo->bjo", v, self.kernels[r])  # (batch, experts, d_out)
            u = self.activation(v + self.biases[r])
            if self.dropout_layers:
                u = self.dropout_layers[r](u, training=training)
        if training and self.l0_strength > 0:
            penalty = [
                l0_penalty(a, beta=self.beta, gamma=self.gamma, zeta=self.zeta)
                for a in self.log_alphas
            ]
            self.add_loss(self.l0_strength * ops.sum(ops.stack(penalty)))
        outputs = [v[:, k, :] for k in range(self.num_tasks)]
        return (outputs, {}) if return_gate_weights else outputs

    def coding_variables(self):
        """The inference-time z of every connection: a list of `(sources, destinations)` arrays.

        Entry r joins layer r to layer r + 1, the last one the top layer to
        the tasks; a 0 marks a pruned connection.
        """
        return [ops.convert_to_numpy(self._coding(a, False)) for a in self.log_alphas]

    def l0_penalty(self):
        """The unscaled L0 penalty: the expected number of open connections."""
        return sum(
            l0_penalty(a, beta=self.beta, gamma=self.gamma, zeta=self.zeta) for a in self.log_alphas
        )

    def shared_weights(self):
        return self.experts.trainable_weights

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], self.expert_units[-1])] * self.num_tasks

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "num_experts": self.num_experts,
                "expert_units": self.expert_units,
                "l0_strength": self.l0_strength,
                "log_alpha_init": self.log_alpha_init,
                "beta": self.beta,
                "gamma": self.gamma,
                "zeta": self.zeta,
            }
        )
        return config


@register
class SNRTransSwitcher(_SubNetworkRouting):
    """SNR-Trans: sub-networks joined by gated per-pair transformations.

    The shared bottom is `num_layers` layers of `num_experts` sub-networks.
    Every sub-network of layer 0 reads the input. The input of sub-network j
    of the next layer is v_j = sum_i z_ij W_ij u_i over the outputs u_i of
    the layer below, and its output is activation(v_j + b_j); the top layer
    reaches task k the same way, h_k = sum_i z_ik W_ik u_i, which feeds task
    k's tower (the tower's own first layer adds bias and activation). The
    coding variables z are hard-concrete (see `hard_concrete`): sampled once
    per batch in training, deterministic at inference, and an L0 penalty,
    `l0_strength` times the expected number of open connections, is added
    to the losses in training so that unneeded connections close.

    Each destination's blocks W_ij start as one Glorot-initialized dense
    layer over the concatenated sources. The log_alpha start at
    `log_alpha_init`; the default 0 is Louizos et al.'s initial drop rate
    0.5 (z = 0.5 at inference, z > 0 with probability 0.83 in training).

    Args:
        num_tasks: int >= 1, the number of tasks K.
        num_layers: int >= 1, the layers of sub-networks. Defaults to `2`.
        num_experts: int >= 1, sub-networks per layer. Defaults to `4`.
        expert_units: int, the width of every sub-network, or a list of
            `num_layers` ints, one width per layer. Defaults to `32`. (The
            defaults follow the SNR-trans baseline of the MoGENet paper:
            4 sub-networks per layer, [32, 32].)
        l0_strength: float >= 0, the weight of the L0 penalty. Defaults to
            `1e-4`: a light push next to the mean per-example task losses,
            which leaves the routing to the data; raise it to prune more.
        log_alpha_init: float, the initial log_alpha of every connection.
        beta: float > 0, hard-concrete temperature. Defaults to `2 / 3`.
        gamma: float < 0, lower stretch limit. Defaults to `-0.1`.
        zeta: float > 1, upper stretch limit. Defaults to `1.1`.
        activation: activation of the sub-networks. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout after every sub-network.
        kernel_regularizer: regularizer of the sub-network and connection
            kernels.
        seed: int or `None`, seed of the coding-variable noise and the
            dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.
        training: bool; samples z and adds the L0 penalty when True.
        return_gate_weights: when True also return `{}` (z is one value per
            connection, not a per-example gate; see `coding_variables`).

    Returns:
        A list of K tensors `(batch, expert_units[-1])`.

    Example:
    ```python
    switcher = zoo.layers.SNRTransSwitcher(num_tasks=2, num_experts=4, expert_units=16)
    h_click, h_like = switcher(np.ones((4, 10)))
    switcher.coding_variables()  # [(4, 4) array, (4, 2) array] of z
    ```

    References:
        Ma et al., "SNR: Sub-Network Routing for Flexible Parameter Sharing
        in Multi-task Learning", AAAI 2019 (SNR-Trans); Louizos et al.,
        "Learning Sparse Neural Networks through L0 Regularization", ICLR
        2018 (hard-concrete distribution and L0 penalty).
    """

    transform = True


@register
class SNRAverSwitcher(_SubNetworkRouting):
    """SNR-Aver: sub-networks joined by gated identity connections.

    As `SNRTransSwitcher`, but a connection carries no transformation: the
    input of sub-network j is the weighted sum v_j = sum_i z_ij u_i of the
    outputs of the layer below, which sub-network j's own dense layer turns
    into activation(W_j v_j + b_j); task k receives h_k = sum_i z_ik u_i of
    the top layer. The identity connections need every sub-network of a
    layer to have the same width, which is why widths are given per layer.
    Fewer weights than SNR-Trans: one kernel per sub-network rather than
    one per connection.

    Arguments, call arguments and defaults as `SNRTransSwitcher`.

    Returns:
        A list of K tensors `(batch, expert_units[-1])`.

    References:
        Ma et al., "SNR: Sub-Network Routing for Flexible Parameter Sharing
        in Multi-task Learning", AAAI 2019 (SNR-Aver).
    """

    transform = False
