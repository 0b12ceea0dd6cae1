import keras
from keras import ops

from zoo.api import register
from zoo.layers.features.feature_embedding import FeatureEmbedding


@register
class FieldEmbedding(keras.layers.Layer):
    """Turns preprocessed features into one vector per field, all of one width.

    Feature-interaction layers (product layers, self-attention over fields)
    need the fields apart and of equal width, where `FeatureEmbedding`
    concatenates them. Categorical features get a `field_dim`-wide embedding
    (whatever width the preprocessor suggested); each numeric feature is
    mapped linearly, `v * w_f + b_f`, to the same width, as the AutoMTL paper
    does ("the numerical features are linearly transformed to the same
    dimension as embedding").

    Args:
        features: the `FeatureEmbedding` feature list.
        field_dim: int >= 1, the width of every field vector.
        embeddings_initializer: initializer of the embedding tables.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: dict from feature name to `(batch,)` or `(batch, 1)` tensors:
            int ids for categorical features, floats for numeric ones.

    Returns:
        Float tensor `(batch, num_fields, field_dim)`: categorical fields in
        the order of `features`, then numeric ones (`field_names`).

    Example:
    ```python
    layer = zoo.layers.FieldEmbedding([
        {"name": "city", "kind": "categorical", "input_dim": 10, "output_dim": 4},
        {"name": "age", "kind": "numeric"},
    ], field_dim=8)
    layer({"city": np.array([1, 3]), "age": np.array([0.5, -1.0])}).shape  # (2, 2, 8)
    ```
    """

    def __init__(self, features, field_dim, embeddings_initializer="uniform", **kwargs):
        super().__init__(**kwargs)
        self.features = [dict(f) for f in features]
        if int(field_dim) < 1:
            raise ValueError(f"Expected field_dim >= 1. Received: field_dim={field_dim}")
        self.field_dim = int(field_dim)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        categorical = [
            {**f, "output_dim": self.field_dim} for f in self.features if f["kind"] != "numeric"
        ]
        self.numeric_names = [f["name"] for f in self.features if f["kind"] == "numeric"]
        # One width for all, so FeatureEmbedding keeps them in feature order
        # in a single table: its output reshapes to (batch, fields, dim).
        self.categorical = (
            FeatureEmbedding(
                categorical,
                embeddings_initializer=self.embeddings_initializer,
                name="categorical",
            )
            if categorical
            else None
        )
        self.field_names = [f["name"] for f in categorical] + self.numeric_names
        if not self.field_names:
            raise ValueError("Expected at least one feature. Received: features=[]")

    def attention_weights(self, inputs):
        """DIN's weights of the attention-pooled histories (as `FeatureEmbedding`'s)."""
        return {} if self.categorical is None else self.categorical.attention_weights(inputs)

    @property
    def num_fields(self):
        return len(self.field_names)

    def build(self, input_shape=None):
        if self.categorical is not None:
            self.categorical.build()
        if self.numeric_names:
            shape = (len(self.numeric_names), self.field_dim)
            self.numeric_kernel = self.add_weight(
                shape=shape, initializer="glorot_uniform", name="numeric_kernel"
            )
            self.numeric_bias = self.add_weight(
                shape=shape, initializer="zeros", name="numeric_bias"
            )

    def call(self, inputs):
        fields = []
        if self.categorical is not None:
            flat = self.categorical(inputs)  # (batch, categorical * dim)
            fields.append(ops.reshape(flat, (-1, len(self.categorical.features), self.field_dim)))
        if self.numeric_names:
            missing = [n for n in self.numeric_names if n not in inputs]
            if missing:
                raise KeyError(
                    f"FieldEmbedding expected numeric features {missing} that the inputs lack. "
                    f"Received keys: {sorted(inputs)}"
                )
            values = ops.stack(
                [
                    ops.cast(ops.reshape(inputs[n], (-1,)), self.compute_dtype)
                    for n in self.numeric_names
                ],
                axis=1,
            )  # (batch, numeric)
            fields.append(values[:, :, None] * self.numeric_kernel + self.numeric_bias)
        return fields[0] if len(fields) == 1 else ops.concatenate(fields, axis=1)

    def compute_output_shape(self, input_shape=None):
        return (None, self.num_fields, self.field_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "features": self.features,
                "field_dim": self.field_dim,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            }
        )
        return config
