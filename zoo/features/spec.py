"""The declarative feature spec: what each raw input is and how it is encoded.

A spec says nothing about tensors; `FeaturePreprocessor` turns it into Keras
preprocessing layers, and `FeatureEmbedding` into embedding tables.

Five kinds:

- `CategoricalFeature`: one value per row, looked up or hashed;
- `NumericFeature`: one float per row, optionally standardized;
- `MultiHotFeature`: a list of values per row (a movie's genres), pooled;
- `SequenceFeature`: the ids of a user's past interactions, newest first,
  pooled, attended by the candidate (DIN) or encoded by a transformer (BST),
  optionally sharing another feature's embedding table;
- `CrossedFeature`: a hashed cross of two or more categoricals, computed
  from their raw values (not an input of its own).
"""

import dataclasses

CATEGORICAL_DTYPES = ("string", "int64")
# What marks "no value" in a padded row of a list feature's raw values: a
# request or a batch holds one rectangle, so rows shorter than the longest are
# padded with this. Empty strings and -1 are what tf.RaggedTensor.to_tensor and
# most clients pad with; -1 is also IntegerLookup's OOV token, never a real id.
LIST_PADDING = {"string": "", "int64": -1}
POOLINGS = ("mean", "sum", "max")
SEQUENCE_POOLINGS = POOLINGS + ("attention", "transformer")


def _check_name(name):
    # TF turns a name that is not an identifier into `arg_<name>` in the
    # SavedModel signature, where clients and warm-up requests would not
    # find it.
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            "A feature's name is its SavedModel input name and must be an identifier "
            f"(letters, digits and underscores, not starting with a digit). Received: {name!r}"
        )


def _check_dtype_and_width(feature):
    """Checks `dtype` and `embedding_dim`, where set (a shared history may leave them unset)."""
    if feature.dtype is not None and feature.dtype not in CATEGORICAL_DTYPES:
        raise ValueError(
            f"Feature {feature.name!r}: expected dtype in {CATEGORICAL_DTYPES}. "
            f"Received: dtype={feature.dtype!r}"
        )
    if feature.embedding_dim is not None and feature.embedding_dim < 1:
        raise ValueError(
            f"Feature {feature.name!r}: expected embedding_dim >= 1. "
            f"Received: embedding_dim={feature.embedding_dim}"
        )


def _check_encoding(feature):
    """Checks the fields that say how a categorical value becomes an id (shared by three kinds)."""
    _check_name(feature.name)
    _check_dtype_and_width(feature)
    if feature.num_hash_bins is not None and feature.vocabulary is not None:
        raise ValueError(
            f"Feature {feature.name!r}: give either vocabulary or num_hash_bins, not both."
        )
    if feature.num_hash_bins is not None and feature.num_hash_bins < 1:
        raise ValueError(
            f"Feature {feature.name!r}: expected num_hash_bins >= 1. "
            f"Received: num_hash_bins={feature.num_hash_bins}"
        )
    if feature.num_oov_indices < 1:
        raise ValueError(
            f"Feature {feature.name!r}: expected num_oov_indices >= 1 so that unseen values "
            f"at serving time have a bucket. Received: {feature.num_oov_indices}"
        )
    learned = feature.vocabulary is None and feature.num_hash_bins is None
    if learned and feature.max_tokens is not None and feature.max_tokens <= feature.num_oov_indices:
        # Keras counts the OOV buckets in max_tokens; with no room left
        # for a value, its lookup layers fail while learning the vocabulary.
        raise ValueError(
            f"Feature {feature.name!r}: expected max_tokens > num_oov_indices (max_tokens "
            f"counts the OOV buckets). Received: max_tokens={feature.max_tokens}, "
            f"num_oov_indices={feature.num_oov_indices}"
        )
    if feature.vocabulary is not None:
        object.__setattr__(feature, "vocabulary", tuple(feature.vocabulary))
        if not feature.vocabulary:
            raise ValueError(
                f"Feature {feature.name!r}: expected a non-empty vocabulary, or None to learn "
                "it. Received: vocabulary=()"
            )


def _feature_config(feature):
    """A feature's `to_config()`: its fields, tuples as JSON lists, and its `kind`."""
    config = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(feature).items()
    }
    config["kind"] = feature.kind
    return config


@dataclasses.dataclass(frozen=True)
class CategoricalFeature:
    """A categorical input, encoded by vocabulary lookup or hashing.

    Args:
        name: the raw feature's name, also the serving signature's input name.
        dtype: `"string"` or `"int64"`, the raw values' type.
        embedding_dim: width of the feature's embedding.
        vocabulary: a fixed list of values, or `None` to learn it from the
            training data with `FeaturePreprocessor.adapt`.
        num_hash_bins: hash values into this many bins instead of looking
            them up (no vocabulary, no OOV bucket needed).
        max_tokens: keep at most this many of the most frequent values when
            learning the vocabulary, or `None` for all of them.
        num_oov_indices: buckets for values outside the vocabulary; index 0
            to `num_oov_indices - 1`.
    """

    name: str
    dtype: str = "string"
    embedding_dim: int = 8
    vocabulary: tuple | None = None
    num_hash_bins: int | None = None
    max_tokens: int | None = None
    num_oov_indices: int = 1

    def __post_init__(self):
        _check_encoding(self)

    kind = "categorical"

    def to_config(self):
        return _feature_config(self)


@dataclasses.dataclass(frozen=True)
class NumericFeature:
    """A float input, optionally normalized to zero mean and unit variance.

    Args:
        name: the raw feature's name, also the serving signature's input name.
        normalize: learn mean and variance with `FeaturePreprocessor.adapt`
            and standardize. Defaults to `True`.
    """

    name: str
    normalize: bool = True

    def __post_init__(self):
        _check_name(self.name)

    kind = "numeric"

    def to_config(self):
        return _feature_config(self)


def _check_list(feature, poolings):
    if not isinstance(feature.max_len, int) or feature.max_len < 1:
        raise ValueError(
            f"Feature {feature.name!r}: expected max_len >= 1 (values kept per row). "
            f"Received: max_len={feature.max_len!r}"
        )
    if feature.pooling not in poolings:
        raise ValueError(
            f"Feature {feature.name!r}: expected pooling in {poolings}. "
            f"Received: pooling={feature.pooling!r}"
        )


@dataclasses.dataclass(frozen=True)
class MultiHotFeature:
    """A list of categorical values per row (a movie's genres, an item's tags), pooled.

    Raw values arrive per row as a list: a `tf.RaggedTensor`, a list of
    lists, or a padded `(batch, length)` array whose padding is
    `LIST_PADDING[dtype]` (`""` or `-1`). Each value is looked up or hashed
    like a `CategoricalFeature`'s (unseen values go to the OOV rows); rows
    longer than `max_len` keep their first `max_len` values. The model sees
    the pooled embedding of the row's values: their mean, sum or
    element-wise max; a row without values pools to zeros.

    Args:
        name: the raw feature's name, also the serving signature's input name.
        dtype: `"string"` or `"int64"`, the raw values' type.
        embedding_dim: width of each value's embedding (and of the pooled one).
        vocabulary, num_hash_bins, max_tokens, num_oov_indices: as for
            `CategoricalFeature`; a learned vocabulary counts every value of
            every training row.
        max_len: values kept per row.
        pooling: `"mean"`, `"sum"` or `"max"` over the row's values.
    """

    name: str
    dtype: str = "string"
    embedding_dim: int = 8
    vocabulary: tuple | None = None
    num_hash_bins: int | None = None
    max_tokens: int | None = None
    num_oov_indices: int = 1
    max_len: int = 16
    pooling: str = "mean"

    def __post_init__(self):
        _check_encoding(self)
        _check_list(self, POOLINGS)

    kind = "multi_hot"
    shares_table_with = None
    target = None

    def to_config(self):
        return _feature_config(self)


@dataclasses.dataclass(frozen=True)
class SequenceFeature:
    """The ids of a user's past interactions, newest first: a behaviour history.

    Raw values as for `MultiHotFeature`: a list per row, newest first, of
    which the first `max_len` are kept (a longer history is truncated, not
    an error; an empty one is fine). `zoo.data.base.histories` builds them
    from a time-stamped log without leakage.

    Args:
        name: the raw feature's name, also the serving signature's input name.
        max_len: the history length kept.
        pooling: how the history becomes one vector:
            - `"mean"`, `"sum"`, `"max"` over its items' embeddings;
            - `"attention"`: DIN's local activation unit (Zhou et al. 2018),
              the candidate item (`target`) weighting each past item;
              `model.attention_weights(rows)` returns the weights;
            - `"transformer"`: BST (Chen et al. 2019): the candidate and the
              history, with position embeddings, through a keras-hub
              `TransformerEncoder`; the candidate's output is the vector.
        shares_table_with: the name of a `CategoricalFeature` whose
            vocabulary and embedding table this history uses (the history
            of watched videos uses `video_id`'s): a video's row is learned
            from both. Its dtype and width are that feature's (leave `dtype`
            and `embedding_dim` unset, or give the same).
        target: the `CategoricalFeature` that is the candidate, for
            `"attention"` (required) and `"transformer"` (optional);
            defaults to `shares_table_with`. Its embedding width must be the
            history's.
        dtype, embedding_dim, vocabulary, num_hash_bins, max_tokens,
            num_oov_indices: as for `CategoricalFeature`, for a history with
            a table of its own (without `shares_table_with`); `dtype`
            defaults to `"string"` and `embedding_dim` to 8 there.
        attention_units: hidden widths of DIN's activation unit.
        transformer_heads: attention heads of the BST encoder.
    """

    name: str
    max_len: int = 20
    pooling: str = "mean"
    shares_table_with: str | None = None
    target: str | None = None
    dtype: str | None = None
    embedding_dim: int | None = None
    vocabulary: tuple | None = None
    num_hash_bins: int | None = None
    max_tokens: int | None = None
    num_oov_indices: int = 1
    attention_units: tuple = (36,)
    transformer_heads: int = 2

    def __post_init__(self):
        if self.shares_table_with is None:
            # Unset dtype and width mean "the shared feature's" (filled in by
            # `FeaturePreprocessor`, which sees every feature); alone, the defaults.
            if self.dtype is None:
                object.__setattr__(self, "dtype", "string")
            if self.embedding_dim is None:
                object.__setattr__(self, "embedding_dim", 8)
            _check_encoding(self)
        else:
            _check_name(self.name)
            if self.vocabulary is not None or self.num_hash_bins is not None:
                raise ValueError(
                    f"Feature {self.name!r} shares the table of {self.shares_table_with!r}, "
                    "which says how values become ids: give no vocabulary or num_hash_bins."
                )
            if self.shares_table_with == self.name:
                raise ValueError(f"Feature {self.name!r} cannot share its own table.")
            _check_dtype_and_width(self)
        _check_list(self, SEQUENCE_POOLINGS)
        if self.target is None and self.shares_table_with is not None:
            object.__setattr__(self, "target", self.shares_table_with)
        if self.pooling == "attention" and self.target is None:
            raise ValueError(
                f"Feature {self.name!r}: pooling='attention' weighs the history by the "
                "candidate: give target= (or shares_table_with=) the candidate's feature."
            )
        object.__setattr__(self, "attention_units", tuple(int(u) for u in self.attention_units))
        if not self.attention_units or min(self.attention_units) < 1:
            raise ValueError(
                f"Feature {self.name!r}: expected attention_units of widths >= 1. "
                f"Received: attention_units={self.attention_units}"
            )
        if self.transformer_heads < 1:
            raise ValueError(
                f"Feature {self.name!r}: expected transformer_heads >= 1. "
                f"Received: transformer_heads={self.transformer_heads}"
            )

    kind = "sequence"

    def to_config(self):
        return _feature_config(self)


@dataclasses.dataclass(frozen=True)
class CrossedFeature:
    """A hashed cross of two or more categorical features (Keras' `HashedCrossing`).

    Computed by the preprocessor from the crossed features' raw values, so a
    client never sends it. A cross with a `MultiHotFeature` or a
    `SequenceFeature` is not offered: it would be one id per pair of values.

    Args:
        name: the crossed feature's name.
        features: the names of the `CategoricalFeature`s crossed, two or more.
        num_bins: the hash bins, the rows of its embedding table.
        embedding_dim: width of its embedding.
    """

    name: str
    features: tuple
    num_bins: int
    embedding_dim: int = 8

    def __post_init__(self):
        _check_name(self.name)
        object.__setattr__(self, "features", tuple(self.features))
        if len(self.features) < 2 or len(set(self.features)) != len(self.features):
            raise ValueError(
                f"Feature {self.name!r}: expected two or more distinct features to cross. "
                f"Received: features={self.features}"
            )
        if self.num_bins < 1 or self.embedding_dim < 1:
            raise ValueError(
                f"Feature {self.name!r}: expected num_bins >= 1 and embedding_dim >= 1. "
                f"Received: num_bins={self.num_bins}, embedding_dim={self.embedding_dim}"
            )

    kind = "crossed"

    def to_config(self):
        return _feature_config(self)


FEATURE_KINDS = {
    "categorical": CategoricalFeature,
    "numeric": NumericFeature,
    "multi_hot": MultiHotFeature,
    "sequence": SequenceFeature,
    "crossed": CrossedFeature,
}
FEATURE_TYPES = tuple(FEATURE_KINDS.values())
# Kinds whose raw values are a list per row.
LIST_KINDS = ("multi_hot", "sequence")


def feature_from_config(config):
    """Rebuilds a feature from its `to_config()`."""
    config = dict(config)
    kind = config.pop("kind", None)
    if kind not in FEATURE_KINDS:
        raise ValueError(
            f"Expected a feature config with kind in {sorted(FEATURE_KINDS)}. Received: {kind!r}"
        )
    return FEATURE_KINDS[kind](**config)
