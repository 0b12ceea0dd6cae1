"""What the datasets streamed from files share: the questions the trainer asks, answered by passes.

`StreamingDataset` is the base of `zoo.data.formats.streaming_csv.StreamingCsvDataset`
and `zoo.data.formats.tfrecord.StreamingTFRecordDataset`. A subclass says how to read a
split as batches of raw values (`_raw_batches`) and how to name a failure
(`_locate_error`, `_describe`); this class turns that into preprocessed
`tf.data` batches, warm-up rows, and the one streaming pass over the
training split that learns the preprocessor's vocabularies and statistics.
"""

import collections

import numpy as np
import tensorflow as tf

from zoo.data.base.errors import DataError
from zoo.features.preprocessor import FeaturePreprocessor

SPLITS = ("train", "validation", "test")
# Rows decoded per step by the passes that read a whole split (counting,
# statistics, labels): large enough to amortize the per-step overhead.
SCAN_BATCH_SIZE = 8192
# Lines or records a file contributes to an interleave at a time. Interleaved
# one by one, the interleave's cost per element was more than a line's
# parsing: 3M KuaiRand log rows in 3 files took 47 s to count by date instead
# of 3 s.
INTERLEAVE_BLOCK = 4096


class StreamingDataset:
    """Base of the datasets that hold no rows and read their files again on every pass.

    Subclasses set `name`, `features`, `tasks` and the dicts `_counts` and
    `_label_sums` (filled per split by the first pass, or known up front),
    `_learned` (`None` until the training pass), and implement:

    - `settings`;
    - `_raw_batches(split, batch_size, shuffle=False, seed=None)`: a
      `tf.data.Dataset` of `(raw features, labels)` dicts of 1-D tensors,
      optionally followed by per-task sample weights;
    - `_locate_error(split, error)`: a `DataError` for a `tf.errors.OpError`
      raised while reading the split;
    - `_describe(split)` and `_source_summary()`: words for messages.

    `num_rows` and `label_arrays` read a split through `_raw_batches`; a
    subclass that knows the counts, or can read the labels alone, overrides them.
    """

    user_feature = None
    # Tasks whose label can be missing on a row; their batches carry weights.
    masked_tasks = ()

    # -- what the trainer and the CLI ask of any dataset ----------------------

    @property
    def has_label_masks(self):
        return bool(self.masked_tasks)

    @property
    def task_names(self):
        return [t.name for t in self.tasks]

    @property
    def summary(self):
        """Training rows and label rates. May read the training split once."""
        rows = self.num_rows("train")
        rates = []
        for t in self.tasks:
            mean = self._label_sums["train"][t.name] / rows
            rates.append(f"{t.name} {mean:.2%}" if t.type == "binary" else f"{t.name} {mean:.4g}")
        return f"{rows:,} training rows ({', '.join(rates)}), {self._source_summary()}"

    def num_rows(self, split):
        """Rows of a split. The first call reads the split and checks every row."""
        self._check_split(split)
        if split == "train":
            self._learn_from_train()
        elif split not in self._counts:
            rows, sums = 0, dict.fromkeys(self.task_names, 0.0)
            for _, labels, *_ in self._read(split, self._raw_batches(split, SCAN_BATCH_SIZE)):
                rows += self._tally(labels, sums)
            self._store_counts(split, rows, sums)
        return self._counts[split]

    def label_arrays(self, split):
        """`(labels, present, users)` of a split in file order, for exact metrics.

        `labels` and `present` map task name to 1-D arrays over the split's
        rows (`present` from the weights of masked tasks, else all true);
        `users` is the `user_feature` column, or `None` without one.
        """
        self.num_rows(split)  # checks every row before they are trusted
        parts = collections.defaultdict(list)
        batches = self._raw_batches(split, SCAN_BATCH_SIZE)
        for features, labels, *weights in self._read(split, batches):
            if self.user_feature is not None:
                parts["users"].append(features[self.user_feature])
            for t in self.tasks:
                parts[t.name].append(labels[t.name])
                present = weights[0][t.name] > 0 if weights else np.ones(len(labels[t.name]), bool)
                parts["present", t.name].append(present)
        labels = {t.name: np.concatenate(parts[t.name]) for t in self.tasks}
        present = {t.name: np.concatenate(parts["present", t.name]) for t in self.tasks}
        users = None
        if self.user_feature is not None:
            users = _python_strings(np.concatenate(parts["users"]))
        return labels, present, users

    def split(self, name):
        raise NotImplementedError(
            f"Dataset {self.name!r} streams its rows from files and holds no split in memory; "
            "use tf_dataset(), head(), label_arrays() or num_rows() instead."
        )

    def head(self, split, count):
        """The raw features of a split's first `count` rows (serving warm-up examples)."""
        self._check_split(split)
        if count < 1:
            raise ValueError(f"Expected count >= 1. Received: count={count}")
        for features, *_ in self._read(split, self._raw_batches(split, count).take(1)):
            return {name: _python_strings(values) for name, values in features.items()}
        raise DataError(f"{self._describe(split)} has no data rows.")

    def make_preprocessor(self):
        """A `FeaturePreprocessor` adapted on the training split only, by one streaming pass."""
        vocabularies, statistics = self._learn_from_train()
        return FeaturePreprocessor(self.features, vocabularies=vocabularies, statistics=statistics)

    def tf_dataset(self, split, preprocessor, batch_size, shuffle=False, seed=None):
        """Batches `(features, labels)` of a split for `model.fit` / `evaluate` / `predict`.

        `features` is `preprocessor` applied to the raw batch; `labels` maps
        each task to a float32 `(batch, 1)` tensor. With `shuffle`, the
        files come in a new order and the rows through a seeded shuffle
        buffer every pass. The dataset's cardinality is the number of
        batches, so `dataset.repeat()` with `steps_per_epoch` works.
        """
        _check_batch_size(batch_size)
        batches = self._raw_batches(split, batch_size, shuffle=shuffle, seed=seed)
        return _encoded(batches, preprocessor, -(-self.num_rows(split) // batch_size))

    def numpy_batches(self, split, batch_size=SCAN_BATCH_SIZE):
        """Iterates a split in file order as numpy `(raw features, labels)` batches.

        What a converter reads (`zoo.data.formats.tfrecord.write_tfrecord_shards`):
        strings come as bytes, and a failure is a `DataError` naming the file.
        """
        self._check_split(split)
        _check_batch_size(batch_size)
        yield from self._read(split, self._raw_batches(split, batch_size))

    def shard_files(self, split):
        """The files a split is read from, the first op of its pipelines.

        `zoo.training.fit` splits a split between workers by file
        (`AutoShardPolicy.FILE`) when there are at least as many as workers.
        """
        raise NotImplementedError

    # -- helpers for subclasses -------------------------------------------------

    def _check_split(self, split):
        if split not in SPLITS:
            raise ValueError(f"Expected split 'train', 'validation' or 'test'. Received: {split!r}")

    def _read(self, split, batches):
        """Iterates `batches` as numpy; a parse or check failure becomes a DataError."""
        iterator = batches.as_numpy_iterator()
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except tf.errors.OpError as error:
                raise self._locate_error(split, error) from None
            yield batch

    def _tally(self, labels, sums):
        for name in sums:
            sums[name] += float(np.sum(labels[name], dtype=np.float64))
        return len(next(iter(labels.values())))

    def _store_counts(self, split, rows, sums):
        if rows == 0:
            raise DataError(f"{self._describe(split)} has no data rows.")
        self._counts[split] = rows
        self._label_sums[split] = sums

    def _learn_from_train(self):
        """Counts, label sums, vocabularies and statistics of the training split, in one pass."""
        if self._learned is None:
            rows, sums = 0, dict.fromkeys(self.task_names, 0.0)

            def features():
                nonlocal rows
                batches = self._raw_batches("train", SCAN_BATCH_SIZE)
                for raw, labels, *_ in self._read("train", batches):
                    rows += self._tally(labels, sums)
                    yield raw
                if rows == 0:
                    raise DataError(f"{self._describe('train')} has no data rows.")

            preprocessor = FeaturePreprocessor(self.features).adapt_batches(features())
            self._store_counts("train", rows, sums)
            self._learned = (preprocessor.vocabularies, preprocessor.statistics)
        return self._learned


def _check_batch_size(batch_size):
    if batch_size < 1:
        raise ValueError(f"Expected batch_size >= 1. Received: batch_size={batch_size}")


def _encoded(batches, preprocessor, num_batches):
    """Raw batches through `preprocessor`, labels as `(batch, 1)`, with their known length."""

    def encode(raw, labels, *weights):
        labels = {name: value[:, None] for name, value in labels.items()}
        return (preprocessor(raw), labels, *weights)

    batches = batches.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    # The rows were counted once; restore the length the stream hides.
    batches = batches.apply(tf.data.experimental.assert_cardinality(num_batches))
    return batches.prefetch(tf.data.AUTOTUNE)


def _python_strings(values):
    """Bytes from `tf.data` as str, like the in-memory datasets' raw string columns."""
    if values.dtype.kind in "OS":
        return np.array([v.decode("utf-8") for v in values.tolist()], dtype=object)
    return values
