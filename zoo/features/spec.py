"""The declarative feature spec: what each raw input is and how it is encoded.

A spec says nothing about tensors; `FeaturePreprocessor` turns it into Keras
preprocessing layers, and `FeatureEmbedding` into embedding tables.
"""

import dataclasses

CATEGORICAL_DTYPES = ("string", "int64")


def _check_name(name):
    # TF turns a name that is not an identifier into `arg_<name>` in the
    # SavedModel signature, where clients and warm-up requests would not
    # find it.
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            "A feature's name is its SavedModel input name and must be an identifier "
            f"(letters, digits and underscores, not starting with a digit). Received: {name!r}"
        )


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
        _check_name(self.name)
        if self.dtype not in CATEGORICAL_DTYPES:
            raise ValueError(
                f"Feature {self.name!r}: expected dtype in {CATEGORICAL_DTYPES}. "
                f"Received: dtype={self.dtype!r}"
            )
        if self.embedding_dim < 1:
            raise ValueError(
                f"Feature {self.name!r}: expected embedding_dim >= 1. "
                f"Received: embedding_dim={self.embedding_dim}"
            )
        if self.num_hash_bins is not None and self.vocabulary is not None:
            raise ValueError(
                f"Feature {self.name!r}: give either vocabulary or num_hash_bins, not both."
            )
        if self.num_hash_bins is not None and self.num_hash_bins < 1:
            raise ValueError(
                f"Feature {self.name!r}: expected num_hash_bins >= 1. "
                f"Received: num_hash_bins={self.num_hash_bins}"
            )
        if self.num_oov_indices < 1:
            raise ValueError(
                f"Feature {self.name!r}: expected num_oov_indices >= 1 so that unseen values "
                f"at serving time have a bucket. Received: {self.num_oov_indices}"
            )
        learned = self.vocabulary is None and self.num_hash_bins is None
        if learned and self.max_tokens is not None and self.max_tokens <= self.num_oov_indices:
            # Keras counts the OOV buckets in max_tokens; with no room left
            # for a value, its lookup layers fail while learning the vocabulary.
            raise ValueError(
                f"Feature {self.name!r}: expected max_tokens > num_oov_indices (max_tokens "
                f"counts the OOV buckets). Received: max_tokens={self.max_tokens}, "
                f"num_oov_indices={self.num_oov_indices}"
            )
        if self.vocabulary is not None:
            object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
            if not self.vocabulary:
                raise ValueError(
                    f"Feature {self.name!r}: expected a non-empty vocabulary, or None to learn "
                    "it. Received: vocabulary=()"
                )

    kind = "categorical"

    def to_config(self):
        config = dataclasses.asdict(self)
        config["kind"] = self.kind
        if config["vocabulary"] is not None:
            config["vocabulary"] = list(config["vocabulary"])
        return config


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
        config = dataclasses.asdict(self)
        config["kind"] = self.kind
        return config


def feature_from_config(config):
    """Rebuilds a `CategoricalFeature` or `NumericFeature` from `to_config()`."""
    config = dict(config)
    kind = config.pop("kind", None)
    if kind == "categorical":
        return CategoricalFeature(**config)
    if kind == "numeric":
        return NumericFeature(**config)
    raise ValueError(
        f"Expected a feature config with kind 'categorical' or 'numeric'. Received: {kind!r}"
    )
