import keras
from keras import ops

from zoo.api import register
from zoo.layers.core.gate_nu import GateNU
from zoo.layers.features.field_embedding import FieldEmbedding

GRANULARITIES = ("field", "unit")


def check_feature_names(names, features, argument):
    """`names` as a list of str, each the name of one of `features`; else a ValueError.

    Args:
        names: list of feature names (a single str is one name).
        features: the `FeatureEmbedding` feature list the names must come from.
        argument: the argument's name, for the message (`"domain_features"`).
    """
    names = [names] if isinstance(names, str) else [str(n) for n in names]
    known = [f["name"] for f in features]
    for name in names:
        if name not in known:
            raise ValueError(
                f"Unknown feature {name!r} in {argument}. Expected names among the features: "
                f"{', '.join(known)}. Received: {argument}={names}"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"Expected distinct feature names. Received: {argument}={names}")
    return names


@register
class PersonalizedEmbedding(keras.layers.Layer):
    """EPNet: the feature embedding, scaled per example by a gate on the domain features.

    The general embedding E (k fields of width d, `FieldEmbedding`) is
    gated by the domain-side features, as PEPNet's Embedding Personalized
    Network does ([a, b] is concatenation, * the element-wise product):

        delta_domain = GateNU([E(F_d), stop_gradient(E)]),    O_ep = delta_domain * E

    E(F_d) are the domain features' own embeddings (the same rows E holds,
    so they learn from the gate too). The stop gradient keeps the gate from
    training the general embedding through the gate's input: E learns only
    from how O_ep is used, and the gate only learns to select.

    Granularity: with `granularity="field"` (the default) delta_domain has
    one scale per feature, delta_domain in R^k broadcast over each field's d
    units, which is how we read the paper ("personalized selection on
    Embedding to fuse features with different importance", with E in
    R^{k x d}). `"unit"` gives one scale per embedding unit (k * d), as
    the public re-implementations we read do. Without domain features
    there is no gate: O_ep = E.

    The output is O_ep, flattened, followed by the raw (ungated)
    embeddings of the personal prior features, O_prior = [E(F_u), E(F_i),
    ...], which a `PPNetSwitcher` with `prior_dim=self.prior_dim` splits
    off again for its gates: one tensor carries both through the model's
    backbone.

    Args:
        features: the `FeatureEmbedding` feature list.
        field_dim: int >= 1, the width d of every field.
        domain_features: names of the domain-side features F_d (the
            domain id, per-domain statistics). Empty: no gate.
        personal_features: names of the personal prior features (user,
            item, author ids and side information) appended after O_ep.
        granularity: `"field"` (one gate per feature) or `"unit"` (one per
            embedding unit).
        gate_hidden_dim: width of the Gate NU's first layer, or `None` for
            its output width.
        gamma: float > 0, the Gate NU's scale. Defaults to `2.0`.
        embeddings_initializer: initializer of the embedding tables.
        kernel_regularizer: regularizer of the gate's kernels, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: dict of preprocessed features, as `FieldEmbedding` takes them.

    Returns:
        Float tensor `(batch, gated_dim + prior_dim)`: O_ep
        (`gated_dim = k * field_dim`, fields in `field_names` order), then
        O_prior (`prior_dim = len(personal_features) * field_dim`).

    Example:
    ```python
    layer = zoo.layers.PersonalizedEmbedding(
        [{"name": "domain", "kind": "categorical", "input_dim": 3, "output_dim": 4},
         {"name": "user", "kind": "categorical", "input_dim": 10, "output_dim": 4},
         {"name": "age", "kind": "numeric"}],
        field_dim=8, domain_features=["domain"], personal_features=["user"])
    layer({"domain": np.array([0, 2]), "user": np.array([1, 7]),
           "age": np.array([0.5, -1.0])}).shape  # (2, 3 * 8 + 8)
    ```

    References:
        Chang et al., "PEPNet: Parameter and Embedding Personalized Network
        for Infusing with Personalized Prior Information", KDD 2023, the
        Embedding Personalized Network (delta_domain = U_ep(E(F_d) concat
        stop_gradient(E)), O_ep = delta_domain * E) and O_prior of the
        Parameter Personalized Network.
    """

    def __init__(
        self,
        features,
        field_dim=8,
        domain_features=(),
        personal_features=(),
        granularity="field",
        gate_hidden_dim=None,
        gamma=2.0,
        embeddings_initializer="uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if granularity not in GRANULARITIES:
            raise ValueError(
                f"Expected granularity in {GRANULARITIES}. Received: granularity={granularity!r}"
            )
        self.features = [dict(f) for f in features]
        self.domain_features = check_feature_names(
            domain_features, self.features, "domain_features"
        )
        self.personal_features = check_feature_names(
            personal_features, self.features, "personal_features"
        )
        self.granularity = granularity
        self.gate_hidden_dim = gate_hidden_dim
        self.gamma = float(gamma)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.fields = FieldEmbedding(
            self.features,
            field_dim,
            embeddings_initializer=self.embeddings_initializer,
            name="fields",
        )
        self.field_dim = self.fields.field_dim
        self.field_names = self.fields.field_names
        # Static positions of the named fields, for one gather each.
        self._domain_index = [self.field_names.index(n) for n in self.domain_features]
        self._personal_index = [self.field_names.index(n) for n in self.personal_features]
        num_fields = len(self.field_names)
        self.gated_dim = num_fields * self.field_dim
        self.prior_dim = len(self.personal_features) * self.field_dim
        self.output_dim = self.gated_dim + self.prior_dim
        self.domain_gate = None
        if self.domain_features:
            self.domain_gate = GateNU(
                num_fields if granularity == "field" else self.gated_dim,
                hidden_dim=gate_hidden_dim,
                gamma=self.gamma,
                kernel_regularizer=self.kernel_regularizer,
                name="domain_gate",
            )

    @property
    def num_fields(self):
        return len(self.field_names)

    def build(self, input_shape=None):
        # `domain_gate_weights` may have run (and built) the parts already.
        if not self.fields.built:
            self.fields.build()
        if self.domain_gate is not None and not self.domain_gate.built:
            gate_input_dim = (len(self.domain_features) + self.num_fields) * self.field_dim
            self.domain_gate.build((None, gate_input_dim))

    def call(self, inputs):
        return self.personalize(self.fields(inputs))

    def personalize(self, fields):
        """`[O_ep, O_prior]` from the general embedding E `(batch, k, field_dim)`."""
        gated, _ = self._gate(fields)
        if not self.personal_features:
            return gated
        prior = ops.reshape(
            ops.take(fields, self._personal_index, axis=1), (-1, self.prior_dim)
        )  # (batch, personal * field_dim)
        return ops.concatenate([gated, prior], axis=-1)

    def domain_gate_weights(self, inputs):
        """delta_domain, `(batch, k)` (`"field"`) or `(batch, k * field_dim)` (`"unit"`).

        `inputs` are preprocessed features. Ones without domain features.
        """
        fields = self.fields(inputs)
        _, delta = self._gate(fields)
        if delta is None:
            width = self.num_fields if self.granularity == "field" else self.gated_dim
            return ops.ones((ops.shape(fields)[0], width), dtype=fields.dtype)
        return delta

    def _gate(self, fields):
        """`(O_ep flattened, delta_domain)`; delta is `None` without domain features."""
        flat = ops.reshape(fields, (-1, self.gated_dim))  # (batch, k * field_dim)
        if self.domain_gate is None:
            return flat, None
        domain = ops.reshape(
            ops.take(fields, self._domain_index, axis=1),
            (-1, len(self.domain_features) * self.field_dim),
        )  # (batch, domain * field_dim)
        delta = self.domain_gate(ops.concatenate([domain, ops.stop_gradient(flat)], axis=-1))
        if self.granularity == "field":
            gated = fields * delta[:, :, None]  # (batch, k, field_dim)
            return ops.reshape(gated, (-1, self.gated_dim)), delta
        return flat * delta, delta

    def attention_weights(self, inputs):
        """DIN's weights of the attention-pooled histories (as `FeatureEmbedding`'s)."""
        return self.fields.attention_weights(inputs)

    def compute_output_shape(self, input_shape=None):
        return (None, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "features": self.features,
                "field_dim": self.field_dim,
                "domain_features": self.domain_features,
                "personal_features": self.personal_features,
                "granularity": self.granularity,
                "gate_hidden_dim": self.gate_hidden_dim,
                "gamma": self.gamma,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
