import dataclasses

import numpy as np
import tensorflow as tf

from zoo.data.base.errors import DataError
from zoo.features import packing
from zoo.features.preprocessor import FeaturePreprocessor


@dataclasses.dataclass
class Split:
    """One split of a tabular dataset, in raw form.

    Attributes:
        features: dict from feature name to a numpy array of raw values, one
            row each: 1-D (str for string categoricals, int64, float32), or
            `(rows, max_len)` for a `MultiHotFeature` or `SequenceFeature`,
            its rows padded at the end with `LIST_PADDING` (`""` or -1).
        labels: dict from task name to a 1-D numpy array: 0/1 for binary
            tasks, values for regression, class ids for multiclass.
        label_masks: dict from task name to a 1-D bool array, True where
            the row has that task's label. Tasks not named have every
            label. A missing label is only ever said here: the label value
            at a masked row is ignored (it may be NaN), and a NaN label
            without a mask is an error, never read as a negative.
    """

    features: dict
    labels: dict
    label_masks: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        num_rows = len(self)
        for task, mask in self.label_masks.items():
            if task not in self.labels:
                raise DataError(f"label_masks names {task!r}, which has no labels")
            mask = np.asarray(mask)
            if mask.dtype != bool or mask.shape != (num_rows,):
                raise DataError(
                    f"label mask of {task!r}: expected a bool array of shape ({num_rows},), "
                    f"got dtype {mask.dtype} and shape {mask.shape}"
                )
        for task, values in self.labels.items():
            values = np.asarray(values, dtype=np.float64)
            present = self.label_present(task)
            bad = ~np.isfinite(values) & present
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"label {task!r} is {values[row]} at row {row} ({int(bad.sum())} rows in "
                    "all); mark missing labels in label_masks instead"
                )

    def __len__(self):
        return len(next(iter(self.labels.values())))

    def label_present(self, task):
        """Bool array: which rows have a label for `task`."""
        mask = self.label_masks.get(task)
        return np.ones(len(self), bool) if mask is None else np.asarray(mask)


@dataclasses.dataclass
class TabularDataset:
    """A dataset ready for the zoo: feature spec, tasks and train/validation/test splits.

    Attributes:
        name: the dataset's command-line name.
        features: list of feature specs (`zoo.features.spec`).
        tasks: list of `zoo.tasks.Task`.
        train, validation, test: `Split`s. Vocabularies and statistics come
            from `train` only.
        settings: dict describing how the dataset was built (for metrics.json).
        summary: one line about the data worth printing before training, or "".
        user_feature: name of the raw feature that identifies the user, for
            GAUC; `None` if the data has no users.
    """

    name: str
    features: list
    tasks: list
    train: Split
    validation: Split
    test: Split
    settings: dict = dataclasses.field(default_factory=dict)
    summary: str = ""
    user_feature: str | None = None

    def __post_init__(self):
        # Labels a task cannot learn from fail here, before any training.
        for split_name in ("train", "validation", "test"):
            split = self.split(split_name)
            for task in self.tasks:
                if task.name not in split.labels:
                    raise DataError(f"{split_name} split has no labels for task {task.name!r}")
                values = np.asarray(split.labels[task.name], dtype=np.float64)
                values = values[split.label_present(task.name)]
                if task.type == "binary":
                    bad = (values != 0) & (values != 1)
                    expected = "0 or 1"
                elif task.type == "multiclass":
                    bad = (values != np.round(values)) | (values < 0)
                    bad |= values >= task.num_classes
                    expected = f"a class id in 0..{task.num_classes - 1}"
                else:
                    continue
                if bad.any():
                    raise DataError(
                        f"{split_name} split, task {task.name!r}: expected {expected}, found "
                        f"{float(values[bad][0])!r} ({int(bad.sum())} labeled rows in all)"
                    )

    @property
    def has_label_masks(self):
        return any(s.label_masks for s in (self.train, self.validation, self.test))

    def split(self, name):
        if name not in ("train", "validation", "test"):
            raise ValueError(f"Expected split 'train', 'validation' or 'test'. Received: {name!r}")
        return getattr(self, name)

    # -- what the trainer and the CLI ask of any dataset ----------------------
    # (zoo.data.formats.streaming_csv answers the same questions without holding rows)

    def num_rows(self, split):
        return len(self.split(split))

    def head(self, split, count):
        """The raw features of a split's first `count` rows (serving warm-up examples)."""
        return {name: values[:count] for name, values in self.split(split).features.items()}

    def label_arrays(self, split):
        """`(labels, present, users)` of a split, for exact metrics.

        `labels` and `present` are dicts from task name to 1-D arrays;
        `users` is the `user_feature` column or `None`.
        """
        data = self.split(split)
        labels = {t.name: np.asarray(data.labels[t.name]) for t in self.tasks}
        present = {t.name: data.label_present(t.name) for t in self.tasks}
        users = np.asarray(data.features[self.user_feature]) if self.user_feature else None
        return labels, present, users

    def make_preprocessor(self):
        """A `FeaturePreprocessor` for this dataset, adapted on the training split only."""
        return FeaturePreprocessor(self.features).adapt(self.train.features)

    def tf_dataset(self, split, preprocessor, batch_size, shuffle=False, seed=None, pack_for=None):
        """Batches of a split for `model.fit` / `evaluate` / `predict`.

        `(features, labels)`, or `(features, labels, sample_weights)` when
        any split of the dataset has label masks: each task's weight is 1
        where its label is present and 0 where it is missing (the label
        there is replaced by 0, which the weight then ignores).

        The raw values go through `preprocessor` once, here, and stay in
        memory as whole columns; see `batched_dataset` for how batches are
        cut from them. With `pack_for` (a model's `features`), the columns
        are packed into two matrices first (`zoo.features.packing`), so a
        batch is two gathers rather than one per feature; the model's call
        takes either form.
        """
        data = self.split(split)
        features = preprocessor(data.features)
        if pack_for is not None:
            features = packing.pack(features, pack_for)
        labels, weights = {}, {}
        for name, values in data.labels.items():
            present = data.label_present(name)
            labels[name] = np.where(present, np.asarray(values, "float32"), 0.0)[:, None]
            weights[name] = present.astype("float32")
        columns = (features, labels, weights) if self.has_label_masks else (features, labels)
        return batched_dataset(columns, batch_size, shuffle=shuffle, seed=seed)


def batched_dataset(columns, batch_size, shuffle=False, seed=None):
    """A `tf.data.Dataset` of batches gathered from in-memory columns.

    Batches are gathered by index (one permutation per epoch when
    shuffling) instead of shuffling rows through a buffer: a row-wise
    `shuffle` of 200k rows with 40 columns costs several seconds an epoch on
    two cores, a gather of 1024 row indices per batch almost nothing.

    Args:
        columns: a nest (dicts, tuples) of tensors or arrays sharing their
            first dimension.
        batch_size: rows per batch; the last batch may be smaller.
        shuffle: draw a new permutation of the rows every epoch.
        seed: int or None. With a seed, the sequence of per-epoch
            permutations is the same on every run.
    """
    if batch_size < 1:
        raise ValueError(f"Expected batch_size >= 1. Received: batch_size={batch_size}")
    columns = tf.nest.map_structure(tf.convert_to_tensor, columns)
    num_rows = int(tf.nest.flatten(columns)[0].shape[0])
    num_batches = -(-num_rows // batch_size)

    def gather(rows):
        return tf.nest.map_structure(lambda column: tf.gather(column, rows), columns)

    if not shuffle:
        batches = tf.data.Dataset.range(num_batches).map(
            lambda i: tf.range(i * batch_size, tf.minimum((i + 1) * batch_size, num_rows))
        )
    else:
        # One random draw per epoch (a new one each time the dataset is
        # iterated), turned into a permutation of all rows.
        epoch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)

        def permuted_batches(epoch_seed):
            permutation = tf.random.experimental.stateless_shuffle(
                tf.range(num_rows, dtype=tf.int64), seed=tf.stack([epoch_seed, 0])
            )
            return tf.data.Dataset.range(num_batches).map(
                lambda i: permutation[i * batch_size : (i + 1) * batch_size]
            )

        # flat_map hides the length; restore it so Keras knows the epoch size.
        batches = epoch_seeds.flat_map(permuted_batches).apply(
            tf.data.experimental.assert_cardinality(num_batches)
        )
    return batches.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
