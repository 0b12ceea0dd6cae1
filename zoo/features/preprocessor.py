import dataclasses
import json
import math
import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from zoo.api import register
from zoo.features.spec import (
    FEATURE_TYPES,
    LIST_KINDS,
    LIST_PADDING,
    CategoricalFeature,
    CrossedFeature,
    NumericFeature,
    SequenceFeature,
    feature_from_config,
)

# A numeric feature whose standard deviation is at most this fraction of its
# mean's magnitude is constant for the model. The test is relative, so units
# never trip it: a rate with mean 5e-4 and standard deviation 3e-4 (ratio 0.6)
# is an ordinary feature. 1e-6 because values reach the model as float32, whose
# spacing is about 1.2e-7 of the value: a spread of a few float32 steps is
# rounding, not signal, yet normalizing by it puts a serving value 0.01% off
# the constant a hundred standard deviations out, and the predictions saturate.
CONSTANT_RELATIVE_STD = 1e-6
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Learned vocabularies longer than this are saved in an asset file of the
# `.keras` file (VOCABULARY_ASSET), not in the JSON config: 300k item ids made
# a 3.5 MB config that every `get_config` copied. In an exported SavedModel they
# are the lookup tables' constants, as the short ones are.
INLINE_VOCABULARY_LIMIT = 1000
VOCABULARY_ASSET = "vocabularies.json"


class ConstantFeatureWarning(UserWarning):
    """A feature does not vary in the data its statistics or vocabulary come from."""


@register
class FeaturePreprocessor(keras.layers.Layer):
    """Raw feature values in, model-ready ids and floats out.

    Built from a feature spec into Keras preprocessing layers: `StringLookup`
    or `IntegerLookup` (with an OOV bucket) or `Hashing` per categorical,
    multi-hot or sequence feature (a sequence that shares another feature's
    table uses that feature's lookup), `HashedCrossing` per crossed feature,
    `Normalization` per numeric one. `adapt` learns vocabularies and
    statistics from training data only; they are then part of this layer's
    config (long vocabularies: of its `.keras` assets), so the preprocessor
    saves, reloads and exports with the model and a client sends raw
    values, never indices. The vocabulary of a feature whose table a
    history shares is learned from both columns: a video seen only in
    histories still gets a row of its own.

    It runs in TensorFlow (string ops), so the training pipeline maps it over
    the `tf.data` input once and caches the result, and the serving signature
    runs it in front of the model. The models themselves take its outputs,
    which keeps them XLA-compilable.

    Args:
        features: list of `CategoricalFeature`, `NumericFeature`,
            `MultiHotFeature`, `SequenceFeature` and `CrossedFeature` (or
            their `to_config()` dicts).
        vocabularies: dict name -> list of values, learned by `adapt`.
            Those longer than `INLINE_VOCABULARY_LIMIT` travel as asset
            files of the `.keras` file instead of in this config.
        vocabularies_in_assets: names of the features whose vocabulary a
            `.keras` file holds as an asset file (set by `get_config`; their
            lookups are filled when Keras loads the file's assets).
        statistics: dict name -> `[mean, variance]`, learned by `adapt`;
            the variance of a feature constant in the training data is
            widened (see `adapt_batches`). Given statistics are used as
            they are, with a `ConstantFeatureWarning` if they would
            saturate.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: dict from raw input name (every feature but the crossed ones)
            to its raw values: a `(batch,)` tensor of strings or int64
            (categorical) or floats (numeric); for a multi-hot or sequence
            feature a `(batch, length)` tensor padded with `LIST_PADDING`
            (`""` or -1) or a ragged one.

    Returns:
        Dict from feature name to `(batch,)` int32 ids (categorical,
        crossed) or float32 values (numeric), or `(batch, max_len)` int32
        ids with -1 at padding (multi-hot, sequence; a longer list keeps
        its first `max_len` values).

    Example:
    ```python
    spec = [CategoricalFeature("city", embedding_dim=4), NumericFeature("age")]
    pre = FeaturePreprocessor(spec)
    pre.adapt({"city": np.array(["a", "b", "a"]), "age": np.array([20.0, 30.0, 40.0])})
    pre({"city": tf.constant(["b", "unseen"]), "age": tf.constant([30.0, 50.0])})
    ```
    """

    def __init__(
        self, features, vocabularies=None, statistics=None, vocabularies_in_assets=(), **kwargs
    ):
        super().__init__(**kwargs)
        features = [f if isinstance(f, FEATURE_TYPES) else feature_from_config(f) for f in features]
        names = [f.name for f in features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Feature names must be unique. Received twice: {duplicates}")
        self.features = _with_shared_tables_resolved(features)
        self.vocabularies = {k: list(v) for k, v in (vocabularies or {}).items()}
        # Until Keras calls load_assets, these features' lookups are empty.
        self._vocabularies_in_assets = set(vocabularies_in_assets) - set(self.vocabularies)
        self.statistics = {k: [float(s) for s in v] for k, v in (statistics or {}).items()}
        for name, (mean, variance) in self.statistics.items():
            if _is_constant(mean, variance):
                # Kept as given: this is how the saved model was trained and
                # exported, and a reloaded copy must predict what they do.
                warnings.warn(
                    f"Feature {name!r}: the given statistics (mean {mean:.7g}, variance "
                    f"{variance:.3g}) have a negligible variance, so any value other than "
                    f"{mean:.7g} normalizes to a huge number and saturates the predictions. "
                    "They are used as given; adapt() again (it widens the variance of a "
                    "constant feature) and retrain to fix this.",
                    ConstantFeatureWarning,
                    stacklevel=2,
                )
        self._encoders = {f.name: self._make_encoder(f) for f in self.features}
        # Every encoder is complete once constructed (see _make_encoder), so
        # there is nothing left for build() to create.
        self.built = True

    # -- construction -------------------------------------------------------

    def _vocabulary(self, feature):
        if feature.vocabulary is not None:
            return list(feature.vocabulary)
        return self.vocabularies.get(feature.name)

    def _make_encoder(self, feature):
        name = f"encode_{feature.name}"
        if feature.kind == "sequence" and feature.shares_table_with is not None:
            return None  # it encodes with its table owner's encoder (`_encode_list`)
        if isinstance(feature, CrossedFeature):
            return keras.layers.HashedCrossing(num_bins=feature.num_bins, name=name)
        if isinstance(feature, NumericFeature):
            if not feature.normalize:
                return None
            stats = self.statistics.get(feature.name)
            if stats is None:
                return keras.layers.Normalization(axis=None, name=name)
            normalization = keras.layers.Normalization(
                axis=None, mean=stats[0], variance=stats[1], name=name
            )
            # Build now, eagerly: built lazily inside a tf.data or serving
            # trace, its constants would belong to a graph that is gone.
            normalization.build((None,))
            return normalization
        if feature.num_hash_bins is not None:
            return keras.layers.Hashing(num_bins=feature.num_hash_bins, name=name)
        lookup = (
            keras.layers.StringLookup if feature.dtype == "string" else keras.layers.IntegerLookup
        )
        kwargs = dict(num_oov_indices=feature.num_oov_indices, output_mode="int", name=name)
        if feature.dtype == "int64":
            kwargs["mask_token"] = None
        if feature.name in self._vocabularies_in_assets:
            # None, not an empty lookup, until load_assets: Keras would ask an
            # empty lookup to load a vocabulary.txt of its own.
            return None
        vocabulary = self._vocabulary(feature)
        if vocabulary is None:
            return lookup(max_tokens=feature.max_tokens, **kwargs)
        if not vocabulary:
            # Learned from training values that were all the lookup's OOV
            # token (-1 or "[UNK]"). Keras refuses an empty vocabulary; every
            # value belongs in the OOV buckets, which hashing into as many
            # bins gives.
            return keras.layers.Hashing(num_bins=feature.num_oov_indices, name=name)
        return lookup(vocabulary=vocabulary, **kwargs)

    @property
    def is_adapted(self):
        return not self.features_needing_adapt()

    def features_needing_adapt(self):
        missing = []
        for f in self.features:
            if isinstance(f, NumericFeature):
                if f.normalize and f.name not in self.statistics:
                    missing.append(f.name)
            elif not _has_own_encoding(f):
                continue
            elif f.num_hash_bins is None and self._vocabulary(f) is None:
                missing.append(f.name)
        return missing

    def adapt(self, data):
        """Learns vocabularies and normalization statistics.

        Args:
            data: dict from feature name to a 1-D numpy array (or list) of
                raw training values. Pass training data only: statistics
                from validation or test rows would leak into the model.
        """
        return self._adapt_batches([data], warning_depth=3)

    def adapt_batches(self, batches):
        """Learns vocabularies and normalization statistics from a stream of batches.

        The same result as `adapt` on the concatenated batches, in memory
        bounded by the vocabularies rather than the rows. Vocabularies are
        counted by the Keras lookup layers themselves (`update_state` per
        batch, `finalize_state` at the end: the streaming half of their own
        `adapt`). Numeric statistics are float64 running moments (Chan et
        al.'s pairwise update): Keras' `Normalization.adapt` accumulates in
        float32, which loses digits on sums such as Census capital gains.

        A numeric feature that is constant in the data (its standard
        deviation at most `CONSTANT_RELATIVE_STD` of its mean) gets the
        variance `mean ** 2` (1 for a constant 0) and a
        `ConstantFeatureWarning`: normalized by a spread of ~0, a slightly
        different serving value would saturate the predictions.

        Args:
            batches: iterable of dicts from feature name to a 1-D numpy
                array (or list) of raw training values; in each batch,
                every feature's column holds the same number of values.

        Raises:
            KeyError: a batch lacks a feature that needs adapting.
            ValueError: a batch's columns differ in length, a numeric value
                is NaN or infinite, or a feature received no values.
        """
        return self._adapt_batches(batches, warning_depth=3)

    def _adapt_batches(self, batches, warning_depth):
        # warning_depth: stack frames from _normalization_statistics' warnings up
        # to the caller of the public method, which the warning should name.
        needed = [f for f in self.features if f.name in set(self.features_needing_adapt())]
        moments = {f.name: _Moments(f.name) for f in needed if isinstance(f, NumericFeature)}
        counted = dict.fromkeys((f.name for f in needed), 0)
        sharing = {}  # table owner -> the histories whose values it also learns from
        for f in self.features:
            if getattr(f, "shares_table_with", None):
                sharing.setdefault(f.shares_table_with, []).append(f)
        for feature in needed:
            if feature.name not in moments:
                self._encoders[feature.name].reset_state()
        for index, batch in enumerate(batches):
            for feature in needed:
                if feature.name not in batch:
                    raise KeyError(
                        f"adapt() needs training values for feature {feature.name!r}; the data "
                        f"has only {sorted(batch)}"
                    )
            # Columns of different lengths are not rows: statistics and
            # vocabularies learned from them would describe no real data.
            lengths = {f.name: _num_rows(batch[f.name]) for f in self.features if f.name in batch}
            if len(set(lengths.values())) > 1:
                received = ", ".join(f"{name!r}: {n}" for name, n in sorted(lengths.items()))
                raise ValueError(
                    "adapt() expects the same number of values in every feature's column of a "
                    f"batch. Received in batch {index}: {received}"
                )
            for feature in needed:
                values = _flat_values(feature, batch[feature.name])
                for history in sharing.get(feature.name, ()):
                    if history.name in batch:
                        values = np.concatenate(
                            [values, _flat_values(history, batch[history.name])]
                        )
                counted[feature.name] += values.size
                if feature.name in moments:
                    moments[feature.name].update(values)
                elif values.size:
                    self._encoders[feature.name].update_state(_lookup_input(feature, values))
        for feature in needed:
            if counted[feature.name] == 0:
                raise ValueError(f"Feature {feature.name!r}: adapt() received no values.")
            if feature.name in moments:
                self.statistics[feature.name] = _normalization_statistics(
                    feature.name, *moments[feature.name].result(), stacklevel=warning_depth + 1
                )
            else:
                self._vocabularies_in_assets.discard(feature.name)
                self.vocabularies[feature.name] = self._learned_vocabulary(
                    feature, self._encoders[feature.name], warning_depth + 1
                )
            self._encoders[feature.name] = self._make_encoder(feature)
        return self

    def _learned_vocabulary(self, feature, encoder, warning_depth):
        """The vocabulary a lookup layer counted, OOV token(s) left out."""
        # finalize_state() drops the special tokens from the counts, then fails
        # on an empty table; drop them first to see whether anything is left.
        for token in (encoder.mask_token, encoder.oov_token):
            if token is not None:
                encoder.token_counts.remove(tf.constant([token], encoder.vocabulary_dtype))
        if int(encoder.token_counts.size()) == 0:
            vocabulary = []
        else:
            encoder.finalize_state()
            # Drop the OOV token(s) that get_vocabulary() lists first.
            vocabulary = encoder.get_vocabulary()[feature.num_oov_indices :]
        if not vocabulary:
            warnings.warn(
                f"Feature {feature.name!r}: every training value is the lookup's OOV token "
                f"({encoder.oov_token!r}), so the vocabulary is empty and every value will go "
                "to the OOV buckets. The feature carries nothing the model can learn.",
                ConstantFeatureWarning,
                stacklevel=warning_depth,
            )
        return [v.decode() if isinstance(v, bytes) else v for v in vocabulary]

    # -- what the model and the export need to know -------------------------

    def embedding_features(self):
        """The `features` argument of `zoo.layers.FeatureEmbedding`."""
        if not self.is_adapted:
            raise ValueError(
                "The preprocessor is not adapted: call adapt() on training data first. "
                f"Features without vocabulary or statistics: {self.features_needing_adapt()}"
            )
        by_name = {f.name: f for f in self.features}
        out = []
        for f in self.features:
            if isinstance(f, NumericFeature):
                out.append({"name": f.name, "kind": "numeric"})
                continue
            if isinstance(f, CrossedFeature):
                input_dim = f.num_bins
            else:
                # A shared history's ids are rows of the shared feature's table.
                shared = getattr(f, "shares_table_with", None)
                encoded = by_name[shared] if shared else f
                if encoded.num_hash_bins is not None:
                    input_dim = encoded.num_hash_bins
                else:
                    input_dim = len(self._vocabulary(encoded)) + encoded.num_oov_indices
            spec = {
                "name": f.name,
                "kind": "categorical" if f.kind == "crossed" else f.kind,
                "input_dim": int(input_dim),
                "output_dim": int(f.embedding_dim),
            }
            if f.kind in LIST_KINDS:
                spec.update(max_len=int(f.max_len), pooling=f.pooling)
            if f.kind == "sequence":
                spec.update(
                    shares_table_with=f.shares_table_with,
                    target=f.target,
                    attention_units=list(f.attention_units),
                    transformer_heads=int(f.transformer_heads),
                )
            out.append(spec)
        return out

    def raw_dtypes(self):
        """Dict from raw input name to its TF dtype (crossed features are computed, not inputs)."""
        dtypes = {}
        for f in self.features:
            if isinstance(f, NumericFeature):
                dtypes[f.name] = tf.float32
            elif not isinstance(f, CrossedFeature):
                dtypes[f.name] = tf.string if f.dtype == "string" else tf.int64
        return dtypes

    def list_features(self):
        """Names of the raw inputs that take a list of values per row (multi-hot, sequences)."""
        return [f.name for f in self.features if f.kind in LIST_KINDS]

    def raw_shapes(self):
        """Dict from raw input name to its shape: `(None,)`, or `(None, None)` for a list."""
        lists = set(self.list_features())
        return {name: (None, None) if name in lists else (None,) for name in self.raw_dtypes()}

    # -- transform ----------------------------------------------------------

    def call(self, inputs):
        if not self.is_adapted:
            raise ValueError(
                "The preprocessor is not adapted: call adapt() on training data first. "
                f"Features without vocabulary or statistics: {self.features_needing_adapt()}"
            )
        missing = [name for name in self.raw_dtypes() if name not in inputs]
        if missing:
            raise KeyError(f"Missing raw features {missing}. Received keys: {sorted(inputs)}")
        outputs = {}
        raw_dtypes = self.raw_dtypes()
        cast = dict(inputs)  # raw values in their spec's dtype, for the crosses below
        for f in self.features:
            name = f.name
            if isinstance(f, CrossedFeature):
                continue
            dtype = raw_dtypes[name]
            value = inputs[name]
            if f.kind in LIST_KINDS:
                outputs[name] = self._encode_list(f, value)
                continue
            value = tf.convert_to_tensor(value)
            if value.dtype != dtype:
                # Casts between numeric types are harmless; a string where a number is
                # expected (or the reverse) is a client error.
                castable = (
                    dtype == tf.float32 and (value.dtype.is_floating or value.dtype.is_integer)
                ) or (dtype == tf.int64 and value.dtype.is_integer)
                if not castable:
                    raise TypeError(
                        f"Feature {name!r} expects raw values of dtype {dtype.name}. "
                        f"Received dtype {value.dtype.name}."
                    )
                value = tf.cast(value, dtype)
            cast[name] = value
            encoder = self._encoders[name]
            if isinstance(f, NumericFeature):
                value = tf.debugging.check_numerics(
                    value, f"Feature {name!r} received a NaN or infinite value"
                )
                if encoder is None:
                    outputs[name] = value
                    continue
                mean, variance = self.statistics[name]
                # A finite value far enough out normalizes to infinity, and what the
                # model makes of an infinity depends on the kernels: NaN eagerly, a
                # plausible 0.5 where grappler fuses the first matmul. Refused here.
                outputs[name] = tf.debugging.check_numerics(
                    tf.cast(encoder(value), tf.float32),
                    f"Feature {name!r}: a value is too far from the training range (mean "
                    f"{mean:.6g}, standard deviation {math.sqrt(variance):.6g}): normalized, it "
                    "overflows float32",
                )
            else:
                outputs[name] = tf.cast(encoder(value), tf.int32)
        for f in self.features:
            if isinstance(f, CrossedFeature):
                crossed = tuple(cast[name] for name in f.features)
                outputs[f.name] = tf.cast(self._encoders[f.name](crossed), tf.int32)
        return outputs

    def _encode_list(self, feature, value):
        """`(batch, max_len)` int32 ids of a list feature's raw values, -1 where padding."""
        dtype = tf.string if feature.dtype == "string" else tf.int64
        padding = LIST_PADDING[feature.dtype]
        if not isinstance(value, tf.RaggedTensor):
            value = tf.convert_to_tensor(value)
        if value.dtype != dtype:
            if not (dtype == tf.int64 and value.dtype.is_integer):
                raise TypeError(
                    f"Feature {feature.name!r} expects lists of {dtype.name} values. "
                    f"Received dtype {value.dtype.name}."
                )
            value = tf.cast(value, dtype)
        if isinstance(value, tf.RaggedTensor):
            value = value.to_tensor(default_value=tf.constant(padding, dtype))
        if value.shape.rank is not None and value.shape.rank != 2:
            raise ValueError(
                f"Feature {feature.name!r} takes a list of values per row: a (batch, length) "
                f"tensor padded with {padding!r}, or a ragged one. Received shape "
                f"{tuple(value.shape)}."
            )
        # Newest (or most important) first: a longer list keeps its head, a
        # shorter one is padded, so the model always sees max_len columns.
        value = value[:, : feature.max_len]
        missing = feature.max_len - tf.shape(value)[1]
        value = tf.pad(value, [[0, 0], [0, missing]], constant_values=tf.cast(padding, dtype))
        value = tf.ensure_shape(value, (None, feature.max_len))
        encoder = self._encoders[getattr(feature, "shares_table_with", None) or feature.name]
        ids = tf.cast(encoder(value), tf.int32)
        return tf.where(tf.equal(value, padding), tf.constant(-1, tf.int32), ids)

    # -- saving: long vocabularies as an asset file of the .keras file ---------

    def save_assets(self, dir_path):
        """Writes the vocabularies that `get_config` leaves out (Keras calls this on save)."""
        long = {name: v for name, v in self.vocabularies.items() if _goes_to_assets(v)}
        if long:
            with open(os.path.join(dir_path, VOCABULARY_ASSET), "w", encoding="utf-8") as file:
                json.dump({name: [_plain(v) for v in values] for name, values in long.items()},
                          file)  # fmt: skip

    def load_assets(self, dir_path):
        """Reads them back and builds their lookups (Keras calls this on load, after `__init__`)."""
        if not self._vocabularies_in_assets:
            return
        path = os.path.join(dir_path, VOCABULARY_ASSET)
        try:
            with open(path, encoding="utf-8") as file:
                stored = json.load(file)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"The saved preprocessor keeps the vocabularies of "
                f"{sorted(self._vocabularies_in_assets)} in {VOCABULARY_ASSET}, which the "
                "file lacks: it is truncated or was written by something else."
            ) from None
        by_name = {f.name: f for f in self.features}
        for name in sorted(self._vocabularies_in_assets):
            self.vocabularies[name] = stored[name]
            self._vocabularies_in_assets.discard(name)
            self._encoders[name] = self._make_encoder(by_name[name])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "features": [f.to_config() for f in self.features],
                "vocabularies": {
                    name: values
                    for name, values in self.vocabularies.items()
                    if not _goes_to_assets(values)
                },
                "vocabularies_in_assets": sorted(
                    name for name, values in self.vocabularies.items() if _goes_to_assets(values)
                ),
                "statistics": self.statistics,
            }
        )
        return config


class _Moments:
    """Count, mean and sum of squared deviations of a stream, in float64."""

    def __init__(self, name):
        self.name = name
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    def update(self, values):
        values = np.asarray(values).astype("float64").reshape(-1)
        # Finite as float32, the type the preprocessor takes at call time:
        # 1e39 is a finite float64, and an infinite input to the model.
        with np.errstate(over="ignore"):
            finite = np.isfinite(values.astype("float32"))
        if not np.all(finite):
            bad = int(np.flatnonzero(~finite)[0])
            raise ValueError(
                f"Feature {self.name!r}: non-finite value {values[bad]} (as float32) at row "
                f"{self.count + bad} of the data passed to adapt()."
            )
        if values.size == 0:
            return
        # Float64 statistics: float32 accumulation loses digits on
        # survey-weighted sums such as Census capital gains.
        count, mean = values.size, float(values.mean())
        m2 = float(np.sum((values - mean) ** 2))
        total = self.count + count
        delta = mean - self.mean
        self.mean += delta * count / total
        self.m2 += m2 + delta * delta * self.count * count / total
        self.count = total

    def result(self):
        return [float(self.mean), float(self.m2 / self.count)]


def _is_constant(mean, variance):
    """Is the spread negligible next to the mean (see CONSTANT_RELATIVE_STD)."""
    return math.sqrt(max(variance, 0.0)) <= CONSTANT_RELATIVE_STD * abs(mean)


def _normalization_statistics(name, mean, variance, stacklevel):
    """`[mean, variance]` that float32 normalization can use, with a warning where changed."""
    mean, variance = _widened_if_constant(name, mean, variance, stacklevel + 1)
    if variance > FLOAT32_MAX:
        # Keras holds the variance in float32 and cannot convert a larger one.
        warnings.warn(
            f"Feature {name!r}: its variance, {variance:.3g}, is beyond float32's range; it is "
            f"set to the largest float32, {FLOAT32_MAX:.7g}, so values are divided by "
            f"{math.sqrt(FLOAT32_MAX):.3g}, not by their standard deviation "
            f"{math.sqrt(variance):.3g}.",
            UserWarning,
            stacklevel=stacklevel,
        )
        variance = FLOAT32_MAX
    return [mean, variance]


def _widened_if_constant(name, mean, variance, stacklevel):
    """`[mean, variance]`, the variance widened, with a warning, if the feature is constant.

    Keras' `Normalization` divides by `max(std, 1e-7)`: a feature constant in
    training would turn a slightly different serving value into ~1e5 or more
    and saturate the predictions, with nothing said. Its variance becomes
    the square of its mean instead, so a value maps to its relative distance
    from the constant (1% off gives 0.01); a constant 0 has no magnitude to
    take, so its values pass through unscaled. The widened value is what the
    config saves, so a reloaded model and its SavedModel normalize alike.
    """
    if not _is_constant(mean, variance):
        return [mean, variance]
    widened = mean * mean if mean != 0.0 else 1.0
    std = math.sqrt(max(variance, 0.0))
    # What Keras' Normalization would have made of a nearby serving value.
    nearby = 1.01 * mean if mean != 0.0 else 1.0
    saturated = abs(nearby - mean) / max(std, keras.backend.epsilon())
    warnings.warn(
        f"Feature {name!r} is constant in the training data: every value is {mean:.7g} "
        f"(standard deviation {std:.3g}). Normalized by that spread, a serving value of "
        f"{nearby:.7g} would become {saturated:.3g} and saturate the predictions; its variance "
        f"is set to {widened:.7g} instead, so that value becomes "
        f"{abs(nearby - mean) / math.sqrt(widened):.3g}. The feature carries nothing the model "
        "can learn: drop it, or adapt on data where it varies.",
        ConstantFeatureWarning,
        stacklevel=stacklevel,
    )
    return [mean, widened]


def _lookup_input(feature, values):
    """A batch of raw categorical values as the feature's lookup layer takes them."""
    if feature.dtype == "int64":
        if values.dtype.kind not in "iub":
            raise TypeError(
                f"Feature {feature.name!r} expects int64 raw values. Received dtype {values.dtype}."
            )
        return tf.constant(values.astype("int64"))
    if values.dtype.kind == "O":  # str or bytes objects (tf.data yields bytes)
        values = [v if isinstance(v, bytes) else str(v) for v in values]
    return tf.constant(values, dtype=tf.string)


def _has_own_encoding(feature):
    """Does the feature learn or hold a vocabulary of its own (not shared, not a cross)?"""
    if isinstance(feature, CrossedFeature):
        return False
    return not (isinstance(feature, SequenceFeature) and feature.shares_table_with is not None)


def _with_shared_tables_resolved(features):
    """The features, each shared history given its table's dtype and width; checks references."""
    by_name = {f.name: f for f in features}

    def categorical(owner, name, role):
        other = by_name.get(name)
        if not isinstance(other, CategoricalFeature):
            found = "no such feature" if other is None else f"a {type(other).__name__}"
            raise ValueError(
                f"Feature {owner!r}: its {role} {name!r} must be a CategoricalFeature of the "
                f"spec; found {found}. Features: {sorted(by_name)}"
            )
        return other

    resolved = []
    for f in features:
        if isinstance(f, CrossedFeature):
            for name in f.features:
                categorical(f.name, name, "crossed feature")
        if isinstance(f, SequenceFeature):
            if f.shares_table_with is not None:
                table = categorical(f.name, f.shares_table_with, "shares_table_with")
                for field in ("dtype", "embedding_dim"):
                    given, shared = getattr(f, field), getattr(table, field)
                    if given is not None and given != shared:
                        raise ValueError(
                            f"Feature {f.name!r} shares the table of {table.name!r}, whose "
                            f"{field} is {shared!r}; it cannot have {field}={given!r}."
                        )
                f = dataclasses.replace(f, dtype=table.dtype, embedding_dim=table.embedding_dim)
            if f.target is not None:
                target = categorical(f.name, f.target, "target")
                if target.embedding_dim != f.embedding_dim:
                    raise ValueError(
                        f"Feature {f.name!r} is pooled against its target {target.name!r}, "
                        f"so their embeddings must be as wide: {f.embedding_dim} and "
                        f"{target.embedding_dim}."
                    )
        resolved.append(f)
    return resolved


def _num_rows(values):
    """Rows in an adapt() column: a 1-D column, a padded 2-D list column, or a list of lists."""
    if isinstance(values, tf.RaggedTensor):
        return int(values.nrows())
    if isinstance(values, (list, tuple)):
        return len(values)
    values = np.asarray(values)
    return values.shape[0] if values.ndim else 1


def _flat_values(feature, values):
    """The values adapt() learns from: a list feature's non-padding values, flattened."""
    if feature.kind not in LIST_KINDS:
        return np.asarray(values).reshape(-1)
    if isinstance(values, tf.RaggedTensor):
        values = values.flat_values.numpy()
    elif isinstance(values, np.ndarray) and values.dtype != object:
        values = values.reshape(-1)
    else:  # a list of lists, or an object array of lists (pandas)
        values = [v for row in values for v in row]
    values = np.asarray(values)
    if values.dtype.kind == "O":
        values = np.asarray([v.decode() if isinstance(v, bytes) else v for v in values])
    if values.dtype.kind in "SU":
        return values[values.astype(str) != LIST_PADDING["string"]]
    if feature.dtype == "int64" and values.dtype.kind in "iu":
        return values[values != LIST_PADDING["int64"]]
    return values


def _goes_to_assets(vocabulary):
    """Is a learned vocabulary saved as an asset file rather than in the config?"""
    return len(vocabulary) > INLINE_VOCABULARY_LIMIT


def _plain(value):
    """A vocabulary value as Python str or int (lookups answer bytes and numpy ints)."""
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if hasattr(value, "item") else value
