"""Raw features in: what a model's `__call__`, `fit`, `evaluate` and `predict` do first.

A zoo model computes on preprocessed features (int32 ids, normalized
floats), which keeps its training step XLA-compilable; the
`FeaturePreprocessor` it carries runs string lookups that XLA cannot
compile. So, as keras-hub's tasks do, the model runs its preprocessor in
front of the compiled step: mapped over a `tf.data.Dataset`, or once over
in-memory columns. Raw integer ids therefore always go through their
lookup or hashing layer; they never reach an embedding as row numbers.
"""

import contextlib
import inspect

import keras
import numpy as np
import tensorflow as tf

from zoo.features import packing
from zoo.features.spec import LIST_PADDING


class RawFeatureEncoder:
    """Turns raw feature dicts into the preprocessed dicts a model computes on.

    Args:
        preprocessor: the model's adapted `zoo.features.FeaturePreprocessor`.
        optional: names of features that may be absent (a serving signature
            leaves them out, e.g. the YouTube model's position); absent, they
            are dropped again after preprocessing, and the model uses its
            "missing" value.
        pack_for: the model's feature dicts, to hand `encode_data`'s
            results over packed (`zoo.features.packing`); `None` leaves
            them one tensor per feature.
    """

    def __init__(self, preprocessor, optional=(), pack_for=None):
        self.preprocessor = preprocessor
        self.optional = frozenset(optional)
        self.pack_for = pack_for
        self.raw_dtypes = preprocessor.raw_dtypes()
        self.list_features = frozenset(preprocessor.list_features())

    def __call__(self, raw):
        """Dict of preprocessed features from a dict of raw ones.

        Keys that are not features (the `"graph"` sub-graphs of graph
        models) pass through as they are.
        """
        if not isinstance(raw, dict):
            raise TypeError(
                "The model takes a dict from feature name to raw values (or a pandas "
                f"DataFrame). Received: {type(raw).__name__}"
            )
        absent = [name for name in self.optional if name not in raw]
        missing = [name for name in self.raw_dtypes if name not in raw and name not in absent]
        if missing:
            raise KeyError(
                f"Missing raw features {missing}. The model takes {list(self.raw_dtypes)}; "
                f"received {sorted(raw)}."
            )
        present = [name for name in self.raw_dtypes if name in raw]
        features = {
            name: (list_column if name in self.list_features else _column)(
                raw[name], name, self.raw_dtypes[name]
            )
            for name in present
        }
        if absent:
            first = features[present[0]]
            batch = first.nrows() if isinstance(first, tf.RaggedTensor) else tf.shape(first)[0]
            for name in absent:
                # The preprocessor encodes every feature it knows: throwaway
                # values, dropped again below.
                dtype = self.raw_dtypes[name]
                shape = [batch, 0] if name in self.list_features else [batch]
                features[name] = tf.fill(shape, tf.constant("" if dtype == tf.string else 0, dtype))
        encoded = self.preprocessor(features)
        for name in absent:
            del encoded[name]
        encoded.update({key: value for key, value in raw.items() if key not in self.raw_dtypes})
        return encoded

    def encode_data(self, data):
        """`fit`/`evaluate`/`predict` input with its features preprocessed.

        Args:
            data: a `tf.data.Dataset` of `x`, `(x,)`, `(x, y)` or
                `(x, y, sample_weight)` elements, mapped; a dict of columns
                or a pandas DataFrame, preprocessed at once; `None`.
        """
        if data is None:
            return None
        if isinstance(data, tf.data.Dataset):
            return data.map(self._encode_element, num_parallel_calls=tf.data.AUTOTUNE)
        return self._packed(self(as_feature_dict(data)))

    def _packed(self, features):
        return features if self.pack_for is None else packing.pack(features, self.pack_for)

    def encode_validation_data(self, validation_data):
        """`fit`'s `validation_data`: a dataset, or a tuple whose first item is features."""
        if validation_data is None or isinstance(validation_data, tf.data.Dataset):
            return self.encode_data(validation_data)
        if isinstance(validation_data, (tuple, list)) and validation_data:
            return (self.encode_data(validation_data[0]), *validation_data[1:])
        raise TypeError(
            "validation_data must be a tf.data.Dataset or a tuple (features, labels[, "
            f"sample_weight]). Received: {type(validation_data).__name__}"
        )

    def _encode_element(self, *element):
        if len(element) == 1:  # a dataset of feature dicts alone
            return self._packed(self(element[0]))
        return (self._packed(self(element[0])), *element[1:])


def as_feature_dict(data):
    """A dict of columns from a dict or a pandas DataFrame."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas, without importing it
        return {str(column): data[column].to_numpy() for column in data.columns}
    if isinstance(data, dict):
        return data
    raise TypeError(
        "Expected raw features as a dict from feature name to values, a pandas DataFrame or a "
        f"tf.data.Dataset. Received: {type(data).__name__}"
    )


def _column(values, name, raw_dtype):
    """One feature's raw values as a `(batch,)` tensor; a clear error for a wrong shape or dtype."""
    if isinstance(values, np.ndarray) and values.dtype == object:
        # Python strings in an object array (what pandas holds): tf takes them as bytes.
        values = values.astype(str)
    elif isinstance(values, (list, tuple)):
        values = np.asarray(values)  # Python ints as int64, as numpy and pandas hold them
    tensor = tf.convert_to_tensor(values)
    if tensor.dtype == tf.int32 and raw_dtype != tf.float32:
        # int32 ids are what the preprocessor outputs: taken as raw ids, they would
        # be looked up as if they were values and land in the OOV bucket unnoticed.
        raise TypeError(
            f"Feature {name!r} received int32 values, the dtype of preprocessed ids. Raw "
            f"values of this feature are {raw_dtype.name}"
            + (" (cast raw integer ids to int64)" if raw_dtype == tf.int64 else "")
            + ". To feed preprocessed features, call the model inside "
            "`with model.preprocessed_inputs():`."
        )
    if tensor.shape.rank == 2 and tensor.shape[-1] == 1:
        tensor = tf.reshape(tensor, (-1,))
    if tensor.shape.rank is not None and tensor.shape.rank != 1:
        raise ValueError(
            f"Feature {name!r}: expected one raw value per row, a 1-D column. Received shape "
            f"{tuple(tensor.shape)}."
        )
    return tensor


def list_column(values, name, raw_dtype):
    """A list feature's raw values: a `(batch, length)` tensor or a ragged one; clear errors."""
    if isinstance(values, tf.RaggedTensor):
        tensor = values
    elif isinstance(values, np.ndarray) and values.dtype != object:
        tensor = tf.convert_to_tensor(values.astype(str) if values.dtype.kind == "U" else values)
    elif isinstance(values, tf.Tensor):
        tensor = values
    else:  # lists of lists, or an object array of lists (what pandas holds)
        rows = [list(row) if isinstance(row, (list, tuple, np.ndarray)) else row for row in values]
        if any(not isinstance(row, list) for row in rows):
            bad = next(row for row in rows if not isinstance(row, list))
            raise ValueError(
                f"Feature {name!r} takes a list of values per row. Received a row {bad!r}."
            )
        rows = [[v.decode() if isinstance(v, bytes) else v for v in row] for row in rows]
        tensor = tf.ragged.constant(rows, dtype=raw_dtype)
    if tensor.dtype == tf.int32:
        raise TypeError(
            f"Feature {name!r} received int32 values, the dtype of preprocessed ids. Raw values "
            f"of this feature are {raw_dtype.name} lists. To feed preprocessed features, call "
            "the model inside `with model.preprocessed_inputs():`."
        )
    if tensor.shape.rank is not None and tensor.shape.rank != 2:
        padding = LIST_PADDING["string" if raw_dtype == tf.string else "int64"]
        raise ValueError(
            f"Feature {name!r}: expected a list of values per row, a (batch, length) array "
            f"padded with {padding!r} or a ragged one. Received shape {tuple(tensor.shape)}."
        )
    return tensor


class RawFeatureInputs:
    """The model's call, `fit`, `evaluate` and `predict` on raw features.

    A mixin of `MultiTaskModel`: it needs the model's `preprocessor`,
    `_preprocessed_scopes` (0 at construction) and `serving_signatures()`.
    """

    @contextlib.contextmanager
    def preprocessed_inputs(self):
        """Within it, the model's call, `fit`, `evaluate` and `predict` take preprocessed features.

        For pipelines that run the preprocessor themselves (once, cached:
        `TabularDataset.tf_dataset`) and for code that inspects layers.

        Example:
        ```python
        with model.preprocessed_inputs():
            model.fit(dataset.tf_dataset("train", model.preprocessor, 256))
        ```
        """
        self._preprocessed_scopes += 1
        try:
            yield self
        finally:
            self._preprocessed_scopes -= 1

    @property
    def takes_raw_features(self):
        """Whether calls now take raw features: a preprocessor, and no `preprocessed_inputs()`."""
        return self.preprocessor is not None and not self._preprocessed_scopes

    @property
    def packs_features(self):
        """Whether fit, evaluate, predict and `zoo.training.fit` hand the step packed features.

        Not for graph models: `graph_inputs.attach` reads the user and item ids by name.
        """
        return not self.uses_graph

    def raw_feature_encoder(self, pack=False):
        """The `RawFeatureEncoder` in front of the model (features a signature omits optional).

        With `pack`, its `encode_data` hands the features over as the two
        matrices of `zoo.features.packing`, which the model's call splits.
        """
        optional = {name for omitted in self.serving_signatures().values() for name in omitted}
        return RawFeatureEncoder(
            self.preprocessor, optional=optional, pack_for=self.features if pack else None
        )

    def __call__(self, inputs, *args, **kwargs):
        if not self.takes_raw_features:
            # Packed by fit/evaluate/predict (or a packed pipeline): split in the compiled step.
            return super().__call__(packing.unpack(inputs, self.features), *args, **kwargs)
        encoded = self.raw_feature_encoder()(as_feature_dict(inputs))
        with self.preprocessed_inputs():
            return super().__call__(encoded, *args, **kwargs)

    def fit(self, *args, **kwargs):
        return self._run_keras_loop(keras.Model.fit, args, kwargs)

    def evaluate(self, *args, **kwargs):
        return self._run_keras_loop(keras.Model.evaluate, args, kwargs)

    def predict(self, *args, **kwargs):
        return self._run_keras_loop(keras.Model.predict, args, kwargs)

    def _run_keras_loop(self, method, args, kwargs):
        """Keras' `fit`/`evaluate`/`predict` with `x` (and `validation_data`) preprocessed.

        `fit` also gets the callbacks the loss weighting asks for (DWA's epoch boundary).
        """
        bound = inspect.signature(method).bind(self, *args, **kwargs)
        if method is keras.Model.fit:
            extra = self.loss_weighting.training_callbacks()
            if extra:
                given = bound.arguments.get("callbacks")
                bound.arguments["callbacks"] = [
                    *(keras.tree.flatten(given) if given else []),
                    *extra,
                ]
        if self.takes_raw_features:
            encoder = self.raw_feature_encoder(pack=self.packs_features)
            arguments = bound.arguments
            arguments["x"] = encoder.encode_data(arguments.get("x"))
            if arguments.get("validation_data") is not None:
                arguments["validation_data"] = encoder.encode_validation_data(
                    arguments["validation_data"]
                )
        # Through the class's own MRO (MultiWorkerFitFixes sits before keras.Model).
        loop = getattr(super(), method.__name__)
        with self.preprocessed_inputs():
            return loop(*bound.args[1:], **bound.kwargs)
