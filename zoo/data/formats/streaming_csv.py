"""Datasets streamed from CSV files with a header row, for data that does not fit in memory.

`StreamingCsvDataset` answers what the trainer and the command line ask of a
dataset (`zoo.data.base.tabular_dataset.TabularDataset` answers the same from
memory) while holding no rows: every pass reads the files again through
`tf.data`, a shuffle buffer of lines being the only rows held. What it keeps
is bounded by the vocabularies, not the row count: row counts, label sums
and the learned vocabularies and statistics of the training split.

The fast path parses batches of lines with `tf.io.decode_csv`; when it fails
(a wrong field count, a non-number, a NaN, a label that is not 0 or 1, text
that is not UTF-8), the split's files are read again to name the first bad
line: the same parsing, run on blocks of lines and then halves of the block
that fails, finds the line; Python says what is wrong with it.
"""

import csv
import glob
import os

import numpy as np
import tensorflow as tf

from zoo.data.base.errors import DataError
from zoo.data.base.streaming_dataset import (
    INTERLEAVE_BLOCK,
    SCAN_BATCH_SIZE,
    SPLITS,
    StreamingDataset,
)
from zoo.data.formats.delimited_reader import (
    READ_ERRORS,
    check_gzip_stream,
    compression_type,
    numbered_lines,
    open_binary,
)
from zoo.features.spec import NumericFeature

# Held-out rows are chosen by hashing a row's index into this many buckets.
HOLDOUT_BUCKETS = 10_000
HOLDOUT_BLOCK = INTERLEAVE_BLOCK
# Lines parsed together while looking for a bad one: enough to make the
# eager calls cheap, few enough that halving a bad block takes 12 more.
LOCATE_BLOCK = 4096


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
        self._complete = set()  # gzip files read to their end once

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
        # The first line alone, in bytes: a text reader decodes ahead, and
        # a bad byte on line 50 would fail the header.
        try:
            with open_binary(path) as f:
                header = f.readline().rstrip(b"\n").replace(b"\r", b"")
            compression = compression_type(path)
        except READ_ERRORS as error:
            raise DataError(f"{path}: cannot be read ({error}).") from error
        try:
            header = header.decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError as error:
            raise DataError(f"{path}, line 1: the header is not UTF-8 text ({error}).") from None
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
        for path in self._source_files(split):
            if path not in self._complete:
                # TextLineDataset ends quietly where a gzip stream is cut
                # short; one read to the end in Python, once per file.
                check_gzip_stream(path)
                self._complete.add(path)
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
        # Checked before parsing: TensorFlow quotes a field it cannot parse
        # in its error, and an error that is not UTF-8 reaches Python as a
        # UnicodeDecodeError, not an error of the op. String features
        # become vocabulary entries, which are text.
        with tf.control_dependencies([utf8_check(lines)]):
            lines = tf.identity(lines)
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
            try:
                check_gzip_stream(path)
                found = self._first_bad_line(path)
            except DataError as unreadable:
                return unreadable
            if found is not None:
                return DataError(found)
        return DataError(f"{self._describe(split)}: {_op_message(error)}")

    def _first_bad_line(self, path):
        """`"<path>, line <n>: <what is wrong>"` for the first line `_decode` rejects, or None."""
        with numbered_lines(path) as lines:
            next(lines, None)  # the header, checked on open
            block, first = [], 2
            for number, line in lines:
                if not block:
                    first = number
                block.append(line)
                if len(block) == LOCATE_BLOCK:
                    found = self._first_rejected(block)
                    if found is not None:
                        return self._describe_line(path, first + found, block[found])
                    block = []
            found = self._first_rejected(block) if block else None
            if found is not None:
                return self._describe_line(path, first + found, block[found])
        return None

    def _rejects(self, lines):
        try:
            self._decode(tf.constant(lines, tf.string))
        except (tf.errors.OpError, UnicodeDecodeError):
            return True
        return False

    def _first_rejected(self, block):
        """Index of the first line of `block` that `_decode` rejects, or None."""
        if not self._rejects(block):
            return None
        low, high = 0, len(block)  # the first bad line is in block[low:high]
        while high - low > 1:
            middle = (low + high) // 2
            if self._rejects(block[low:middle]):
                high = middle
            else:
                low = middle
        return low

    def _describe_line(self, path, number, line):
        """What is wrong with a line `_decode` rejects."""
        where = f"{path}, line {number}"
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            return f"{where}: not UTF-8 text ({error})."
        fields, problem = _split_fields(line, self.delimiter)
        num_columns = len(self.columns)
        if problem:
            return f"{where}: {problem}."
        if len(fields) != num_columns:
            found = len(fields) if fields else "a blank line"
            return (
                f"{where}: expected {num_columns} fields separated by {self.delimiter!r}, "
                f"found {found}."
            )
        for name, column, value in zip(self.columns, self.header, fields):
            expected = self._field_problem(name, value)
            if expected:
                return f"{where}: column {column!r} expects {expected}, found {value.decode()!r}."
        try:
            self._decode(tf.constant([line], tf.string))
        except (tf.errors.OpError, UnicodeDecodeError) as error:
            return f"{where}: {_op_message(error)}"
        return f"{where}: rejected by the parser."

    def _field_problem(self, name, value):
        """What a field (bytes) should have been, or None if `_decode` accepts it."""
        kind = self._kinds[name]
        if kind == "int64":
            number = self._parsed(value, tf.int64)
            if number is not None:
                return None
            try:
                int(value)
            except ValueError:
                return "an integer"
            return "a 64-bit integer"
        if kind in ("numeric", "label"):
            number = self._parsed(value, tf.float32)
            if kind == "numeric":
                return None if number is not None and np.isfinite(number) else "a finite number"
            task = next(t for t in self.tasks if t.name == name)
            valid = number is not None and _label_is_valid(task, number)
            return None if valid else _expected_label(task)
        return None

    def _parsed(self, value, dtype):
        """A field's value as `decode_csv` parses it, or None where it refuses."""
        quoted = b'"' + value.replace(b'"', b'""') + b'"'
        try:
            (parsed,) = tf.io.decode_csv(
                tf.constant([quoted]), [tf.constant([], dtype)], self.delimiter
            )
        except (tf.errors.OpError, UnicodeDecodeError):
            return None
        return parsed.numpy()[0]


def _split_fields(line, delimiter):
    """`(fields, problem)`: a line's fields (bytes) as `tf.io.decode_csv` splits them.

    `problem` says why it cannot be split (a stray or unclosed quote), else
    None. The rules of TensorFlow's `DecodeCSVOp::ExtractFields`.
    """
    delimiter = delimiter.encode()
    fields, i, size = [], 0, len(line)
    if size == 0:
        return fields, None
    while i < size:
        if line[i : i + 1] == b'"':
            i += 1
            field = bytearray()
            while i < size - 1 and not (
                line[i : i + 1] == b'"' and line[i + 1 : i + 2] == delimiter
            ):
                if line[i : i + 1] != b'"':
                    field += line[i : i + 1]
                    i += 1
                elif line[i + 1 : i + 2] == b'"':
                    field += b'"'
                    i += 2
                else:
                    return fields, "a quote inside a quoted field must be doubled"
            if not (i < size and line[i : i + 1] == b'"'):
                return fields, "a quoted field must end with a quote, then the separator or the end"
            i += 2
        else:
            end = line.find(delimiter, i)
            end = size if end < 0 else end
            field = line[i:end]
            if b'"' in field:
                return (
                    fields,
                    "a quote inside a field that is not quoted (quote it and double the quote)",
                )
            i = end + 1
        fields.append(bytes(field))
    if line.endswith(delimiter):
        fields.append(b"")
    return fields, None


def utf8_check(lines):
    """An op that fails unless every line (a 1-D string tensor) is UTF-8 text."""
    # One pass over the bytes settles the usual all-ASCII batch for a twentieth
    # of a parse; strict transcoding, four times dearer, runs only on others.
    raw = tf.io.decode_raw(tf.strings.reduce_join(lines), tf.uint8)
    valid = tf.cond(
        tf.reduce_all(raw < 128),
        lambda: tf.constant(True),
        lambda: tf.equal(
            tf.size(tf.strings.unicode_transcode(lines, "UTF-8", "UTF-8", errors="strict")),
            tf.size(lines),
        ),
    )
    return tf.debugging.Assert(valid, ["expected UTF-8 text"])


def _op_message(error):
    """A TensorFlow error's own words, without the function and op names around them."""
    message = getattr(error, "message", str(error)).rsplit("}} ", 1)[-1]
    return message.split(" [Op:", 1)[0].split("\n", 1)[0].strip()


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
