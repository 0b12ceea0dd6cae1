import keras
from keras import ops

from zoo.api import register
from zoo.layers.sequence.masked_pooling import MaskedPooling
from zoo.layers.sequence.sequence_transformer import SequenceTransformer
from zoo.layers.sequence.target_attention import TargetAttention

KINDS = ("categorical", "numeric", "multi_hot", "sequence")
# Kinds whose ids are a padded list per row: (batch, max_len), -1 at padding.
LIST_KINDS = ("multi_hot", "sequence")
# A table of at most this many rows gets its gradient as a dense matrix, one
# segment sum of the gathered rows' gradients:
# - Correctness: differentiating a gather gives `IndexedSlices` with a row
#   repeated as often as a batch reads it, and Keras 3's Adam adds each
#   repeat's squared gradient to its second moment instead of the square of
#   their sum, so a row read n times moves up to sqrt(n) learning rates in one
#   step (a Census value read 100 times a batch: 10). The dense gradient is
#   textbook Adam, as PyTorch's is for its (dense) embedding gradients.
# - Speed: those `IndexedSlices` go through scatter-adds that XLA runs one
#   update at a time on a CPU. For MMoE on Census-Income (a 528-row table, 32
#   ids a row) the dense gradient trained 1.37x the samples per CPU-second.
# - Size: Keras 3's Adam turns a sparse gradient dense anyway (its update
#   subtracts the gradient from the first moment, a dense tensor), so a dense
#   gradient is the cheaper of the two whatever the table's size: one Adam step
#   on 32k ids took 17.1 against 21.7 ms at 88k rows, 107 against 115 ms at 1M,
#   325 against 366 ms at 4M (graph mode, 2 cores). Keras' SGD updates only the
#   rows read, and there the sparse gradient is 4x faster at 1M rows (10 against
#   40 ms) and 10x at 4M.
# Tables above 2**20 rows keep the sparse gradient for such optimizers, and
# with it Keras' inflated Adam steps for their most frequent rows.
DENSE_GRADIENT_MAX_ROWS = 2**20


def dummy_inputs(features, batch=1):
    """A batch of zero inputs, each feature in the dtype and shape `FeatureEmbedding` takes.

    For building models before their first real call (`.keras` loading and
    `count_params` need every weight to exist).
    """
    inputs = {}
    for f in features:
        if f["kind"] == "numeric":
            inputs[f["name"]] = ops.zeros((batch,), dtype="float32")
        elif f["kind"] in LIST_KINDS:
            inputs[f["name"]] = ops.zeros((batch, int(f["max_len"])), dtype="int32")
        else:
            inputs[f["name"]] = ops.zeros((batch,), dtype="int32")
    return inputs


@register
class FeatureEmbedding(keras.layers.Layer):
    """Turns preprocessed features into the input representation x.

    Categorical features arrive as integer ids (from the preprocessor's
    lookup, hashing or crossing layers), numeric features as normalized
    floats, list features (multi-hot, sequences) as `(batch, max_len)` ids
    with -1 at padding. x is the concatenation of one vector per
    categorical or list feature, grouped by embedding width (widths in
    order of first appearance, features in the order of `features` within
    a width), then the numeric values in order. A list feature's vector is
    its pooled embedding: mean, sum or max over its entries, DIN's target
    attention (`TargetAttention`), or a transformer (`SequenceTransformer`).

    Features that share an embedding width share one `keras.layers.Embedding`
    table, each feature owning a disjoint row range, and all the ids of a
    width, scalar and list alike, are gathered in one lookup per batch: one
    gather per width instead of one per feature, which matters when a
    dataset has dozens of small vocabularies (Census-Income has 32). A
    sequence with `shares_table_with` reads its table owner's rows. The
    gradient of a table of at most `DENSE_GRADIENT_MAX_ROWS` rows is a dense
    matrix (see that constant); the forward pass is the gather either way.

    Args:
        features: list of dicts, one per feature, in input order
            (`FeaturePreprocessor.embedding_features()`). A categorical
            feature is `{"name", "kind": "categorical", "input_dim",
            "output_dim"}` (input_dim counts the OOV rows); a numeric one
            `{"name", "kind": "numeric"}`; a list feature adds `"max_len"`
            and `"pooling"` to the categorical keys, with `"kind"` one of
            `"multi_hot"`, `"sequence"`; a sequence may add
            `"shares_table_with"`, `"target"`, `"attention_units"` and
            `"transformer_heads"`.
        embeddings_initializer: initializer of the tables.
        embeddings_regularizer: regularizer of the tables, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: dict from feature name to a tensor: `(batch,)` or
            `(batch, 1)` int ids (categorical) or floats (numeric);
            `(batch, max_len)` int ids, -1 at padding (list features).

    Returns:
        Float tensor `(batch, output_dim)`, with `output_dim` the sum of the
        embedding widths plus the number of numeric features.

    Example:
    ```python
    layer = zoo.layers.FeatureEmbedding([
        {"name": "city", "kind": "categorical", "input_dim": 10, "output_dim": 4},
        {"name": "age", "kind": "numeric"},
        {"name": "tags", "kind": "multi_hot", "input_dim": 6, "output_dim": 4,
         "max_len": 3, "pooling": "mean"},
    ])
    layer({
        "city": np.array([1, 3]),
        "age": np.array([0.5, -1.0]),
        "tags": np.array([[2, 5, -1], [-1, -1, -1]]),
    }).shape  # (2, 9)
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
        _check_features(self.features)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        by_name = {f["name"]: f for f in self.features}

        # Group the embedded features by width; each group is one table and
        # one gather. Parallel lists, not an int-keyed dict: TensorFlow's
        # SavedModel tracking rejects non-string dict keys.
        groups = {}
        for f in self.features:
            if f["kind"] != "numeric":
                groups.setdefault(int(f["output_dim"]), []).append(f["name"])
        self._group_widths = list(groups)
        self._group_names = [groups[w] for w in self._group_widths]
        self._offsets = {}
        self.tables = []
        for width, names in zip(self._group_widths, self._group_names):
            offset = 0
            for name in names:
                if by_name[name].get("shares_table_with"):
                    continue  # rows of its owner, whose offset is set in this loop
                self._offsets[name] = offset
                offset += int(by_name[name]["input_dim"])
            self.tables.append(
                keras.layers.Embedding(
                    input_dim=offset,
                    output_dim=width,
                    embeddings_initializer=self.embeddings_initializer,
                    embeddings_regularizer=self.embeddings_regularizer,
                    name=f"table_dim_{width}",
                )
            )
        for f in self.features:
            if f.get("shares_table_with"):
                self._offsets[f["name"]] = self._offsets[f["shares_table_with"]]
        # Pooling layers of the list features, by feature name.
        self.poolings = {
            f["name"]: _pooling_layer(f) for f in self.features if f["kind"] in LIST_KINDS
        }
        self.numeric_names = [f["name"] for f in self.features if f["kind"] == "numeric"]
        self.output_dim = sum(
            1 if f["kind"] == "numeric" else int(f["output_dim"]) for f in self.features
        )

    def build(self, input_shape=None):
        by_name = {f["name"]: f for f in self.features}
        for table in self.tables:
            table.build((None,))
        for name, pooling in self.poolings.items():
            feature = by_name[name]
            shape = (None, int(feature["max_len"]), int(feature["output_dim"]))
            if not pooling.built:
                pooling.build(shape, (None, int(feature["max_len"])))

    def call(self, inputs, training=None):
        return self._embed(inputs, training=training)[0]

    def attention_weights(self, inputs):
        """DIN's weights over each attention-pooled history.

        Args:
            inputs: preprocessed features, as `call` takes them.

        Returns:
            Dict from sequence feature name to its weights `(batch, max_len)`,
            0 at padding; empty if no sequence uses `pooling="attention"`.
        """
        return self._embed(inputs, training=False)[1]

    def _embed(self, inputs, training=None):
        missing = [f["name"] for f in self.features if f["name"] not in inputs]
        if missing:
            raise KeyError(
                f"FeatureEmbedding expected features {missing} that the inputs lack. "
                f"Received keys: {sorted(inputs)}"
            )
        by_name = {f["name"]: f for f in self.features}
        vectors, masks = {}, {}
        for names, table in zip(self._group_names, self.tables):
            columns, lengths = [], []
            for name in names:
                ids = ops.cast(inputs[name], "int32")
                if by_name[name]["kind"] in LIST_KINDS:
                    ids = ops.reshape(ids, (-1, int(by_name[name]["max_len"])))
                    masks[name] = ids >= 0
                    ids = ops.maximum(ids, 0)  # padding reads row 0; the mask drops it
                else:
                    ids = ops.reshape(ids, (-1, 1))
                columns.append(ids + self._offsets[name])
                lengths.append(ids.shape[1])
            ids = columns[0] if len(columns) == 1 else ops.concatenate(columns, axis=1)
            gathered = self._gather(table, ids)  # (batch, ids of this width, width)
            start = 0
            for name, length in zip(names, lengths):
                part = gathered[:, start : start + length]
                vectors[name] = part[:, 0] if by_name[name]["kind"] not in LIST_KINDS else part
                start += length
        weights = {}
        for name, pooling in self.poolings.items():
            feature = by_name[name]
            target = feature.get("target")
            candidate = vectors[target] if target else None
            if isinstance(pooling, TargetAttention):
                vectors[name], weights[name] = pooling(
                    vectors[name], candidate, masks[name], return_weights=True
                )
            elif isinstance(pooling, SequenceTransformer):
                vectors[name] = pooling(vectors[name], masks[name], candidate, training=training)
            else:
                vectors[name] = pooling(vectors[name], masks[name])
        parts = [vectors[name] for names in self._group_names for name in names]
        if self.numeric_names:
            numeric = ops.stack(
                [
                    ops.cast(ops.reshape(inputs[n], (-1,)), self.compute_dtype)
                    for n in self.numeric_names
                ],
                axis=1,
            )  # (batch, num_numeric)
            parts.append(numeric)
        x = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)
        return x, weights

    def _gather(self, table, ids):
        return embedding_lookup(table, ids, self.compute_dtype)

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


def _check_features(features):
    seen = set()
    for f in features:
        if f.get("kind") not in KINDS:
            raise ValueError(f"Expected each feature's kind to be in {KINDS}. Received: {f}")
        if f["name"] in seen:
            raise ValueError(f"Feature names must be unique. Received twice: {f['name']!r}")
        seen.add(f["name"])
        if f["kind"] != "numeric" and (f["input_dim"] < 1 or f["output_dim"] < 1):
            raise ValueError(f"Expected input_dim >= 1 and output_dim >= 1. Received: {f}")
    kinds = {f["name"]: f for f in features}
    for f in features:
        for key in ("shares_table_with", "target"):
            other = kinds.get(f.get(key)) if f.get(key) else None
            if f.get(key) and (other is None or other["kind"] != "categorical"):
                raise ValueError(
                    f"Feature {f['name']!r}: its {key} {f[key]!r} must be a categorical "
                    f"feature of the list. Received: {other}"
                )
            if other is not None and int(other["output_dim"]) != int(f["output_dim"]):
                raise ValueError(
                    f"Feature {f['name']!r} ({key} {other['name']!r}): expected the same "
                    f"output_dim. Received: {f['output_dim']} and {other['output_dim']}"
                )


def embedding_lookup(embedding, ids, dtype=None):
    """A `keras.layers.Embedding`'s rows at `ids`, with a dense gradient up to
    `DENSE_GRADIENT_MAX_ROWS` rows (see that constant), else as `embedding(ids)`."""
    if embedding.input_dim > DENSE_GRADIENT_MAX_ROWS:
        return embedding(ids)
    return _gather_with_dense_gradient(ops.cast(embedding.embeddings, dtype or "float32"), ids)


def _gather_with_dense_gradient(table, ids):
    """`take(table, ids, axis=0)` whose gradient is the dense `(rows, width)` matrix."""

    @ops.custom_gradient
    def gather(table):
        def gradient(*args, upstream=None):
            if upstream is None:
                (upstream,) = args  # (..., width), as the gathered rows
            rows, width = table.shape
            return ops.segment_sum(
                ops.reshape(upstream, (-1, width)), ops.reshape(ids, (-1,)), num_segments=rows
            )

        return ops.take(table, ids, axis=0), gradient

    return gather(table)


def _pooling_layer(feature):
    name = f"pool_{feature['name']}"
    pooling = feature.get("pooling", "mean")
    if pooling == "attention":
        return TargetAttention(units=feature.get("attention_units", (36,)), name=name)
    if pooling == "transformer":
        return SequenceTransformer(
            max_len=feature["max_len"], num_heads=feature.get("transformer_heads", 2), name=name
        )
    return MaskedPooling(pooling, name=name)
