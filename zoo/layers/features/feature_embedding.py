import keras
from keras import ops

from zoo.api import register


@register
class FeatureEmbedding(keras.layers.Layer):
    """Turns preprocessed features into the input representation x.

    Categorical features arrive as integer ids (from the preprocessor's
    lookup or hashing layers), numeric features as normalized floats. x is
    the concatenation of the categorical features' embeddings, grouped by
    embedding width (widths in order of first appearance, features in the
    order of `features` within a width), then the numeric values in order.

    Categorical features that share an embedding width share one
    `keras.layers.Embedding` table, each feature owning a disjoint row range:
    one gather per width instead of one per feature, which matters when a
    dataset has dozens of small vocabularies (Census-Income has 32).

    Args:
        features: list of dicts, one per feature, in input order. A
            categorical feature is `{"name", "kind": "categorical",
            "input_dim", "output_dim"}` (input_dim counts the OOV rows); a
            numeric one is `{"name", "kind": "numeric"}`.
        embeddings_initializer: initializer of the tables.
        embeddings_regularizer: regularizer of the tables, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: dict from feature name to a tensor of shape `(batch,)` or
            `(batch, 1)`: int ids for categorical features, floats for
            numeric ones.

    Returns:
        Float tensor `(batch, output_dim)`, with `output_dim` the sum of the
        embedding widths plus the number of numeric features.

    Example:
    ```python
    layer = zoo.layers.FeatureEmbedding([
        {"name": "city", "kind": "categorical", "input_dim": 10, "output_dim": 4},
        {"name": "age", "kind": "numeric"},
    ])
    layer({"city": np.array([1, 3]), "age": np.array([0.5, -1.0])}).shape  # (2, 5)
    ```
    """

    def __init__(
        self,
        features,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.features = [dict(f) for f in features]
        if not self.features:
            raise ValueError("Expected at least one feature. Received: features=[]")
        seen = set()
        for f in self.features:
            if f.get("kind") not in ("categorical", "numeric"):
                raise ValueError(
                    f"Expected each feature's kind to be 'categorical' or 'numeric'. Received: {f}"
                )
            if f["name"] in seen:
                raise ValueError(f"Feature names must be unique. Received twice: {f['name']!r}")
            seen.add(f["name"])
            if f["kind"] == "categorical" and (f["input_dim"] < 1 or f["output_dim"] < 1):
                raise ValueError(f"Expected input_dim >= 1 and output_dim >= 1. Received: {f}")
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)

        # Group categorical features by embedding width; each group is one
        # table. Parallel lists, not an int-keyed dict: TensorFlow's
        # SavedModel tracking rejects non-string dict keys.
        groups = {}
        for f in self.features:
            if f["kind"] == "categorical":
                groups.setdefault(int(f["output_dim"]), []).append(f["name"])
        self._group_widths = list(groups)
        self._group_names = [groups[w] for w in self._group_widths]
        input_dims = {f["name"]: int(f["input_dim"]) for f in self.features if "input_dim" in f}
        self._offsets = {}
        self.tables = []
        for width, names in zip(self._group_widths, self._group_names):
            offset = 0
            for name in names:
                self._offsets[name] = offset
                offset += input_dims[name]
            self.tables.append(
                keras.layers.Embedding(
                    input_dim=offset,
                    output_dim=width,
                    embeddings_initializer=self.embeddings_initializer,
                    embeddings_regularizer=self.embeddings_regularizer,
                    name=f"table_dim_{width}",
                )
            )
        self.numeric_names = [f["name"] for f in self.features if f["kind"] == "numeric"]
        self.output_dim = sum(
            int(f["output_dim"]) if f["kind"] == "categorical" else 1 for f in self.features
        )

    def build(self, input_shape=None):
        for table in self.tables:
            table.build((None,))

    def call(self, inputs):
        missing = [f["name"] for f in self.features if f["name"] not in inputs]
        if missing:
            raise KeyError(
                f"FeatureEmbedding expected features {missing} that the inputs lack. "
                f"Received keys: {sorted(inputs)}"
            )
        parts = []
        for width, names, table in zip(self._group_widths, self._group_names, self.tables):
            ids = ops.stack(
                [
                    ops.cast(ops.reshape(inputs[name], (-1,)), "int32") + self._offsets[name]
                    for name in names
                ],
                axis=1,
            )  # (batch, num_features_of_this_width)
            vectors = table(ids)  # (batch, num_features, width)
            parts.append(ops.reshape(vectors, (-1, len(names) * width)))
        if self.numeric_names:
            numeric = ops.stack(
                [
                    ops.cast(ops.reshape(inputs[n], (-1,)), self.compute_dtype)
                    for n in self.numeric_names
                ],
                axis=1,
            )  # (batch, num_numeric)
            parts.append(numeric)
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return (None, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "features": self.features,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
            }
        )
        return config
