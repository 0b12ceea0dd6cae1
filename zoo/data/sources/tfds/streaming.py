"""A dataset prepared by a builder of `datasets/tfds/`, streamed from its records.

`load_tfds(..., streaming=True)` returns the `StreamingTFDS` of this module:
the rows `load_tfds` reads into memory, in the same order, parsed from the
prepared record files on every pass (see `zoo.data.sources.tfds.records`
for the record layout). It holds the row counts TFDS recorded, the label sums and
the learned vocabularies, not the rows.

With TFDS' default TFRecord files, every pipeline starts with the list of a
split's files, so `tf.distribute` gives each worker its own files
(`AutoShardPolicy.FILE`) when a split has at least one file per worker;
other file formats are read through `builder.as_dataset`.
"""

import tensorflow as tf

from zoo.data.base.errors import DataError
from zoo.data.base.streaming_dataset import INTERLEAVE_BLOCK, SPLITS, StreamingDataset
from zoo.data.sources.tfds.records import COLUMN_GROUPS, is_tfrecord, record_spec, split_paths


class StreamingTFDS(StreamingDataset):
    """The splits of a prepared TFDS dataset as streams of batches.

    Made by `load_tfds(..., streaming=True)`, which checks the name and the
    options and passes what the zoo loader of the dataset would give.

    Args:
        builder: the `tfds` builder of the prepared dataset.
        schema: its metadata (`zoo.data.sources.tfds.records.column_schema`).
        features, tasks, user_feature: the zoo loader's, for the options given.
        settings: what `load_tfds` records, for `zoo evaluate`.
        shuffle_buffer: training records held by the row shuffle.
    """

    def __init__(self, builder, schema, features, tasks, user_feature, settings, shuffle_buffer):
        self.builder = builder
        self.schema = schema
        self.name = schema["zoo_dataset"]
        self.features = list(features)
        self.tasks = list(tasks)
        self.user_feature = user_feature
        self._settings = dict(settings)
        self.shuffle_buffer = int(shuffle_buffer)
        if self.shuffle_buffer < 1:
            raise ValueError(
                f"Expected shuffle_buffer >= 1. Received: shuffle_buffer={shuffle_buffer}"
            )
        # Every task that may lack a label gets a weight, 0 where it does; a
        # weight of 1 on every row trains as no weight at all.
        self.masked_tasks = [t.name for t in self.tasks if t.name in schema["masked"]]
        self._counts = {split: builder.info.splits[split].num_examples for split in SPLITS}
        self._label_sums = {}
        self._learned = None

    @property
    def settings(self):
        return dict(self._settings)

    def num_rows(self, split):
        """Rows of a split, as TFDS recorded them (the training count checked by its first pass)."""
        self._check_split(split)
        if split == "train":
            self._learn_from_train()
        return self._counts[split]

    def shard_files(self, split):
        return split_paths(self.builder, split) if is_tfrecord(self.builder) else []

    # -- the stream -----------------------------------------------------------

    def _describe(self, split):
        return f"{self.name} {split} split of the TFDS dataset in {self.builder.data_dir}"

    def _source_summary(self):
        return f"streamed from the TFDS dataset in {self.builder.data_dir}"

    def _store_counts(self, split, rows, sums):
        # The first pass counts again: check TFDS' word.
        if rows != self._counts[split]:
            raise DataError(
                f"{self._describe(split)}: TFDS recorded {self._counts[split]:,} rows, "
                f"the records hold {rows:,}."
            )
        super()._store_counts(split, rows, sums)

    def _records(self, split, shuffle, seed):
        """Dicts of the packed vectors (`strings`, `ints`, `floats`, `labels`, ...), row by row."""
        if not is_tfrecord(self.builder):
            import tensorflow_datasets as tfds

            config = tfds.ReadConfig(shuffle_seed=seed) if shuffle else None
            return self.builder.as_dataset(split=split, shuffle_files=shuffle, read_config=config)
        paths = split_paths(self.builder, split)
        files = tf.data.Dataset.from_tensor_slices(paths)
        cycle_length = 1  # in order: the zoo loader's row order
        if shuffle:
            files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
            cycle_length = min(len(paths), 4)
        # Files interleaved by blocks of records (INTERLEAVE_BLOCK), not record by record.
        return files.interleave(
            lambda path: tf.data.TFRecordDataset(path, buffer_size=1 << 20).batch(INTERLEAVE_BLOCK),
            cycle_length=cycle_length,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        ).unbatch()

    def _raw_batches(self, split, batch_size, shuffle=False, seed=None):
        self._check_split(split)
        records = self._records(split, shuffle, seed)
        if shuffle:
            records = records.shuffle(self.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        batches = records.batch(batch_size)
        if is_tfrecord(self.builder):
            spec = record_spec(self.builder)
            batches = batches.map(lambda serialized: tf.io.parse_example(serialized, spec))
        return batches.map(self._unpack, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def _unpack(self, vectors):
        """Named features, labels and (with masks) weights from a batch of packed vectors."""
        columns = {}
        for key in COLUMN_GROUPS:
            for position, name in enumerate(self.schema[key]):
                columns[name] = vectors[key][:, position]
        features = {f.name: columns[f.name] for f in self.features}
        position = {task: k for k, task in enumerate(self.schema["labels"])}
        labels = {t.name: vectors["labels"][:, position[t.name]] for t in self.tasks}
        if not self.masked_tasks:
            return features, labels
        present = {task: k for k, task in enumerate(self.schema["masked"])}
        weights = {
            t.name: tf.cast(vectors["label_present"][:, present[t.name]], tf.float32)
            if t.name in self.masked_tasks
            else tf.ones_like(labels[t.name])
            for t in self.tasks
        }
        return features, labels, weights

    def _locate_error(self, split, error):
        return DataError(f"{self._describe(split)}: cannot be read ({error.message}).")
