"""Datasets streamed from CSV files with a header row, for data that does not fit in memory.

`StreamingCsvDataset` answers what the trainer and the command line ask of a
dataset (`zoo.data.tabular_dataset.TabularDataset` answers the same from
memory) while holding no rows: every pass reads the files again through
`tf.data`, a shuffle buffer of lines being the only rows held. What it keeps
is bounded by the vocabularies, not the row count: row counts, label sums
and the learned vocabularies and statistics of the training split.

The fast path parses batches of lines with `tf.io.decode_csv`; when it fails
(a wrong field count, a non-number, a NaN, a label that is not 0 or 1), the
split's files are read again in Python to name the first bad line.
"""

import csv
import glob
import math
import os

import numpy as np
import tensorflow as tf

from zoo.data.delimited_reader import compression_type, open_text
from zoo.data.errors import DataError
from zoo.data.streaming_dataset import (
    INTERLEAVE_BLOCK,
    SCAN_BATCH_SIZE,
    SPLITS,
    StreamingDataset,
)
from zoo.features.spec import NumericFeature

# Held-out rows are chosen by hashing a row's index into this many buckets.
HOLDOUT_BUCKETS = 10_000
HOLDOUT_BLOCK = INTERLEAVE_BLOCK


def find_split_files(data_dir, stems):
    """The files of one split: all `<stem>.csv` / `<stem>.csv.gz` of the first stem that matches.

    Args:
        data_dir: the folder to look in.
        stems: file names without `.csv[.gz]`, tried in order; a stem may
            hold glob wildcards (`"ali_ccp_train-*"` for shards), whose
            matches are read in sorted order.

    Returns:
        A sorted list of paths.

    Raises:
        DataError: no stem matches, or a file is there both plain and gzip.
    """
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: not a directory.")
    for stem in stems:
        plain = glob.glob(os.path.join(glob.escape(data_dir), stem + ".csv"))
        zipped = glob.glob(os.path.join(glob.escape(data_dir), stem + ".csv.gz"))
        twins = sorted(set(plain) & {path[: -len(".gz")] for path in zipped})
        if twins:
            raise DataError(
                f"{twins[0]} and {twins[0]}.gz both exist: keep one, or every row would be read "
                "twice."
            )
        if plain or zipped:
            return sorted(plain + zipped)
    raise DataError(
        f"{data_dir}: no file for this split. Looked for "
        + ", ".join(f"{stem}.csv[.gz]" for stem in stems)
        + "."
    )


class StreamingCsvDataset(StreamingDataset):
    """A multi-task dataset read from CSV files as a stream, split by split.

    Each split is one or more files (shards are interleaved) sharing one
    header. The header of every file is checked when the dataset is made.
    The rows are checked on the first pass over a split, which every use of
    the split starts with: `num_rows`, which `tf_dataset` calls for the
    epoch length, reads the whole split once, parsing and checking every
    field, and caches the count. The first pass over the training split also
    learns the preprocessor's vocabularies and statistics, so nothing reads
    it twice before training.

    Args:
        name: the dataset's command-line name.
        columns: the header's column names, in file order.
        field_names: the names the parsed columns go by, one per column, or
            `None` for the header's names. Features and tasks name fields,
            and a feature's name is its SavedModel input name, which must
            be an identifier: Ali-CCP's header says `101`, its field is
            `f101`.
        features: list of `CategoricalFeature` / `NumericFeature`, each named
            after a column; categorical columns hold integers (dtype
            `"int64"`) or strings.
        tasks: list of `zoo.tasks.Task`, each named after its label column.
        files: dict from split name to a list of paths; `"train"` and
            `"test"` are needed, and `"validation"` unless
            `validation_fraction` is given.
        validation_fraction: take the validation split from the training
            files instead: the rows whose index within their file hashes
            into this fraction of buckets. The same rows on every run,
            chosen inside the stream.
        shuffle_buffer: lines held by the row shuffle of the training split.
        settings: dict of the loader's arguments, recorded in `settings`
            (with the files) so that a run can load the same data again.
        delimiter: the field separator.

    Example:
    ```python
    dataset = StreamingCsvDataset(
        "clicks",
        columns=["click", "city", "price"],
        features=[CategoricalFeature("city", dtype="int64"), NumericFeature("price")],
        tasks=[Task("click")],
        files={"train": ["train.csv"], "test": ["test.csv"]},
        validation_fraction=0.1,
    )
    preprocessor = dataset.make_preprocessor()
    batches = dataset.tf_dataset("train", preprocessor, batch_size=1024, shuffle=True, seed=1)
    ```
    """

    def __init__(
        self,
        name,
        columns,
        features,
        tasks,
        files,
        field_names=None,
        validation_fraction=None,
        shuffle_buffer=100_000,
        settings=None,
        delimiter=",",
    ):
        self.name = name
        self.header = tuple(columns)
        self.columns = tuple(field_names) if field_names is not None else self.header
        if len(self.columns) != len(self.header):
            raise ValueError(
                f"Expected one field name per column ({len(self.header)}). "
                f"Received {len(self.columns)}."
            )
        self.features = list(features)
        self.tasks = list(tasks)
        self.files = {split: [os.fspath(p) for p in paths] for split, paths in files.items()}
        self.validation_fraction = validation_fraction
        self.shuffle_buffer = int(shuffle_buffer)
        self.delimiter = delimiter
        self._loader_settings = dict(settings or {})
        self._check_arguments()
        self._kinds = self._column_kinds()
        self._compression = {}
        for paths in self.files.values():
            for path in paths:
                self._compression[path] = self._check_header(path)
        # Filled by the first pass over each split.
        self._counts = {}
        self._label_sums = {}
        self._learned = None

    # -- construction --------------------------------------------------------

    def _check_arguments(self):
        duplicates = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if duplicates:
            raise ValueError(f"Column names must be unique. Received twice: {duplicates}")
        used = [f.name for f in self.features] + [t.name for t in self.tasks]
        unknown = [n for n in used if n not in self.columns]
        if unknown:
            raise ValueError(
                f"Features and tasks must name columns. Not columns: {unknown}; "
                f"columns: {list(self.columns)}"
            )
        if len(set(used)) != len(used):
            raise ValueError(f"A column is both a feature and a task (or twice either): {used}")
        if self.validation_fraction is not None:
            if not 0 < self.validation_fraction < 1:
                raise ValueError(
                    "Expected 0 < validation_fraction < 1. "
                    f"Received: validation_fraction={self.validation_fraction}"
                )
            if "validation" in self.files:
                raise ValueError("Give validation files or a validation_fraction, not both.")
        expected = ("train", "test") if self.validation_fraction is not None else SPLITS
        missing = [s for s in expected if not self.files.get(s)]
        unknown_splits = [s for s in self.files if s not in SPLITS]
        if missing or unknown_splits:
            raise ValueError(
                f"Expected files for the splits {list(expected)}. "
                f"Received files for: {list(self.files)}"
            )
        if self.shuffle_buffer < 1:
            raise ValueError(
                f"Expected shuffle_buffer >= 1. Received: shuffle_buffer={self.shuffle_buffer}"
            )

    def _column_kinds(self):
        """Column name -> "int64" / "string" (categorical), "numeric", "label" or "ignored"."""
        kinds = dict.fromkeys(self.columns, "ignored")
        for f in self.features:
            kinds[f.name] = "numeric" if isinstance(f, NumericFeature) else f.dtype
        for t in self.tasks:
            kinds[t.name] = "label"
        return kinds

    def _check_header(self, path):
        """Checks the header line of `path`; returns its `tf.data` compression type."""
        try:
            with open_text(path) as f:
                header = f.readline().rstrip("\r\n").lstrip("\ufeff")
            compression = compression_type(path)
        except (OSError, EOFError, UnicodeDecodeError) as error:
            raise DataError(f"{path}: cannot be read as text ({error}).") from error
        found = [c.strip() for c in next(csv.reader([header], delimiter=self.delimiter), [])]
        for position, expected in enumerate(self.header, start=1):
            if position > len(found):
                raise DataError(
                    f"{path}: header column {position} should be {expected!r}, found nothing: "
                    f"the header has {len(found)} columns, expected {len(self.header)}."
                )
            if found[position - 1] != expected:
                raise DataError(
                    f"{path}: header column {position} should be {expected!r}, "
                    f"found {found[position - 1]!r}."
                )
        if len(found) > len(self.header):
            raise DataError(
                f"{path}: header column {len(self.header) + 1} is {found[len(self.header)]!r}; "
                f"expected {len(self.header)} columns, the last {self.header[-1]!r}."
            )
        return compression

    # -- what the trainer and the CLI ask of any dataset ----------------------

    @property
    def settings(self):
        """How the dataset was built, for metrics.json: the loader's arguments and the files."""
        settings = {"dataset": self.name, **self._loader_settings}
        settings["files"] = {
            split: [os.path.abspath(p) for p in paths] for split, paths in self.files.items()
        }
        settings["validation_fraction"] = self.validation_fraction
        settings["shuffle_buffer"] = self.shuffle_buffer
        return settings

    def _source_summary(self):
        paths = self.files["train"]
        source = ", ".join(os.path.basename(p) for p in paths) if len(paths) <= 3 else ""
        source = source or f"{len(paths)} files in {os.path.dirname(os.path.abspath(paths[0]))}"
        return f"streamed from {source}"

    def label_arrays(self, split):
        """`(labels, present, users)` of a split, read from the label columns only.

        `labels` maps task name to a 1-D float32 array over the split's rows;
        every label is present (no masks) and there are no users.
        """
        self.num_rows(split)  # checks every row before trusting the label columns alone
        positions = sorted(self.columns.index(t.name) for t in self.tasks)
        names = [self.columns[i] for i in positions]

        def decode(lines):
            defaults = [tf.constant([], tf.float32)] * len(positions)
            fields = tf.io.decode_csv(
                lines, defaults, field_delim=self.delimiter, select_cols=positions
            )
            return dict(zip(names, fields))

        batches = self._lines(split).batch(SCAN_BATCH_SIZE).map(decode, tf.data.AUTOTUNE)
        parts = {name: [] for name in names}
        for batch in self._read(split, batches):
            for name, values in batch.items():
                parts[name].append(values)
        labels = {t.name: np.concatenate(parts[t.name]) for t in self.tasks}
        present = {name: np.ones(len(values), bool) for name, values in labels.items()}
        return labels, present, None

    # -- the stream -----------------------------------------------------------

    def shard_files(self, split):
        # One file is read without a file list in front: only several are shardable.
        files = self._source_files(split)
        return files if len(files) > 1 else []

    def _source_files(self, split):
        if split == "validation" and self.validation_fraction is not None:
            return self.files["train"]
        return self.files[split]

    def _describe(self, split):
        names = ", ".join(self._source_files(split))
        if self.validation_fraction is None:
            return f"{self.name} {split} split ({names})"
        share = self.validation_fraction if split == "validation" else 1 - self.validation_fraction
        return f"{self.name} {split} split ({share:.0%} of the rows of {names})"

    def _lines(self, split, shuffle=False, seed=None):
        """The data lines of a split (headers skipped), files interleaved."""
        paths = self._source_files(split)
        held_out = None
        if self.validation_fraction is not None and split != "test":
            held_out = split == "validation"
            threshold = round(self.validation_fraction * HOLDOUT_BUCKETS)

        def select(block_index, block):
            # A row's fate depends on its index within its file only, so it
            # is the same in every pass whatever the file or shuffle order.
            # Decided per block of lines: a per-line filter function costs
            # ten times the reading.
            size = tf.size(block, out_type=tf.int64)
            index = block_index * HOLDOUT_BLOCK + tf.range(size)
            bucket = tf.strings.to_hash_bucket_fast(tf.strings.as_string(index), HOLDOUT_BUCKETS)
            return tf.boolean_mask(block, tf.equal(bucket < threshold, held_out))

        def blocks(path, compression):
            lines = tf.data.TextLineDataset(path, compression, buffer_size=1 << 20).skip(1)
            blocks = lines.batch(HOLDOUT_BLOCK)
            if held_out is not None:
                blocks = blocks.enumerate().map(select)
            return blocks

        if len(paths) == 1:
            return blocks(paths[0], self._compression[paths[0]]).unbatch()
        files = tf.data.Dataset.from_tensor_slices((paths, [self._compression[p] for p in paths]))
        if shuffle:
            files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        # Files interleaved by blocks of lines (INTERLEAVE_BLOCK), not line by line.
        return files.interleave(
            blocks,
            cycle_length=min(len(paths), 4),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        ).unbatch()

    def _raw_batches(self, split, batch_size, shuffle=False, seed=None):
        """Batches `(raw features, labels)` of a split: dicts of 1-D tensors, checked."""
        lines = self._lines(split, shuffle=shuffle, seed=seed)
        if shuffle:
            lines = lines.shuffle(self.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        return lines.batch(batch_size).map(
            self._decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    def _decode(self, lines):
        defaults = []
        for name in self.columns:
            kind = self._kinds[name]
            if kind == "int64":
                defaults.append(tf.constant([], tf.int64))  # empty: the field is required
            elif kind in ("numeric", "label"):
                defaults.append(tf.constant([], tf.float32))
            else:
                defaults.append(tf.constant([""]))
        fields = dict(zip(self.columns, tf.io.decode_csv(lines, defaults, self.delimiter)))
        features = {}
        for f in self.features:
            value = fields[f.name]
            if isinstance(f, NumericFeature):
                value = tf.debugging.check_numerics(value, f"column {f.name!r}: not finite")
            features[f.name] = value
        labels = {}
        for t in self.tasks:
            value = fields[t.name]
            check = tf.debugging.Assert(
                tf.reduce_all(_label_is_valid(t, value)),
                [f"column {t.name!r}: expected {_expected_label(t)}"],
            )
            with tf.control_dependencies([check]):
                labels[t.name] = tf.identity(value)
        return features, labels

    def _locate_error(self, split, error):
        """A DataError naming the first bad line of the split's files."""
        for path in self._source_files(split):
            found = self._first_bad_line(path)
            if found is not None:
                return DataError(found)
        return DataError(f"{self._describe(split)}: {error.message}")

    def _first_bad_line(self, path):
        num_columns = len(self.columns)
        try:
            with open_text(path) as f:
                reader = csv.reader(f, delimiter=self.delimiter)
                next(reader, None)  # the header, checked on open
                for fields in reader:
                    where = f"{path}, line {reader.line_num}"
                    if len(fields) != num_columns:
                        found = len(fields) if fields else "a blank line"
                        return (
                            f"{where}: expected {num_columns} fields separated by "
                            f"{self.delimiter!r}, found {found}."
                        )
                    for name, column, value in zip(self.columns, self.header, fields):
                        expected = self._field_problem(name, value)
                        if expected:
                            return (
                                f"{where}: column {column!r} expects {expected}, found {value!r}."
                            )
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
            return f"{path}: cannot be read as text ({error})."
        return None

    def _field_problem(self, name, value):
        """What a field should have been, or None if `decode_csv` and the checks accept it."""
        kind = self._kinds[name]
        if kind == "int64":
            try:
                number = int(value)
            except ValueError:
                return "an integer"
            return None if -(2**63) <= number < 2**63 else "a 64-bit integer"
        if kind in ("numeric", "label"):
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if kind == "numeric":
                return None if math.isfinite(number) else "a finite number"
            task = next(t for t in self.tasks if t.name == name)
            return None if _label_is_valid(task, np.float32(number)) else _expected_label(task)
        return None


def _label_is_valid(task, values):
    """Elementwise: is each label a valid value for the task (numpy or TF)."""
    if task.type == "binary":
        return (values == 0) | (values == 1)
    finite = tf.math.is_finite(values) if tf.is_tensor(values) else np.isfinite(values)
    if task.type == "multiclass":
        rounded = tf.round(values) if tf.is_tensor(values) else np.round(values)
        return finite & (values == rounded) & (values >= 0) & (values < task.num_classes)
    return finite


def _expected_label(task):
    if task.type == "binary":
        return "0 or 1"
    if task.type == "multiclass":
        return f"a class id in 0..{task.num_classes - 1}"
    return "a finite number"
