"""KuaiRand streamed from its log files, for logs bigger than memory.

The official KuaiRand-27K logs hold 322 million rows; `load_kuairand` reads
a folder into memory, `load_kuairand(..., streaming=True)` returns the
`StreamingKuaiRand` of this module, which reads the same files through
`tf.data` on every pass and gives the same rows: the same features (the
user table joined on `user_id`, `hour`, `weekday`), labels, label masks and
split by date, in the same order without shuffling
(`tests/data/kuairand_streaming_test.py` compares them value for value).

What it holds: the user table (one row per user), the log's distinct dates,
and per split the row count, label sums and (training split) the learned
vocabularies. Nothing grows with the number of log rows but the label
arrays that `label_arrays` returns for exact AUC, as for any dataset.

The join and the date lookups are sorted constant tensors searched with
`tf.searchsorted`, not lookup tables: a pipeline holding no resources can be
rewritten by `tf.distribute` to give each worker its own log files.
"""

import collections
import os

import numpy as np
import tensorflow as tf

from zoo.data.base.errors import DataError
from zoo.data.base.streaming_dataset import INTERLEAVE_BLOCK, SPLITS, StreamingDataset
from zoo.data.formats.delimited_reader import compression_type
from zoo.data.sources.kuairand.files import find_data_files, log_chunks, read_header, read_users
from zoo.data.sources.kuairand.schema import (
    BINARY_COLUMNS,
    LOG_FORMATS,
    NAME,
    USER_COLUMNS,
    feature_spec,
    split_dates,
    weekday,
)

# Lines read, decided by the split's date filter and interleaved together: a
# per-line filter function or interleave costs several times the reading.
SELECT_BLOCK = INTERLEAVE_BLOCK
# The columns the features and labels are computed from.
LOG_COLUMNS_USED = (
    "user_id", "video_id", "date", "hourmin", "play_time_ms", "duration_ms",
) + BINARY_COLUMNS + ("is_like", "is_hate", "label")  # fmt: skip


class StreamingKuaiRand(StreamingDataset):
    """KuaiRand's logs as a stream: the rows of `load_kuairand`, none of them held.

    Made by `load_kuairand(data_dir, ..., streaming=True)`. On construction
    it checks every file's header, reads the user table and makes one pass
    over the logs' `date` column to find the dates of the three splits. The
    rows are checked (integers, 0/1 labels, HHMM times, users in the user
    table) on the first pass over their split, which every use of a split
    starts with, as in `zoo.data.formats.streaming_csv.StreamingCsvDataset`; a bad
    row is reported with its file and line.

    Args:
        data_dir: folder with the logs and the user table (see `zoo.data.sources.kuairand`).
        tasks: list of `zoo.tasks.Task` from `zoo.data.sources.kuairand.schema.TASKS`.
        validation_days, test_days: as `load_kuairand`.
        embedding_dim: embedding width of every feature.
        shuffle_buffer: training lines held by the row shuffle.
    """

    name = NAME
    user_feature = "user_id"

    def __init__(
        self,
        data_dir,
        tasks,
        validation_days=2,
        test_days=2,
        embedding_dim=8,
        shuffle_buffer=100_000,
    ):
        self.data_dir = os.path.abspath(os.fspath(data_dir))
        self.tasks = list(tasks)
        self.validation_days = int(validation_days)
        self.test_days = int(test_days)
        self.embedding_dim = embedding_dim
        self.shuffle_buffer = int(shuffle_buffer)
        if self.shuffle_buffer < 1:
            raise ValueError(
                f"Expected shuffle_buffer >= 1. Received: shuffle_buffer={shuffle_buffer}"
            )
        self.log_paths, self.user_path = find_data_files(self.data_dir)
        self.log_format, self._columns, self._delimiter = self._check_headers()
        self._compression = {path: compression_type(path) for path in self.log_paths}

        user_ids, user_features = read_users(self.user_path)
        self.features = feature_spec(user_features, embedding_dim)
        # Sorted: the stream finds a user's row by tf.searchsorted, the
        # error report by np.searchsorted.
        self._user_ids = tf.constant(user_ids, tf.int64)
        self._sorted_user_ids = user_ids
        self._user_columns = {
            name: tf.constant(values if values.dtype != object else values.astype(str))
            for name, values in user_features.items()
        }

        rows_per_date = self._count_dates()
        self.dates = split_dates(
            np.fromiter(rows_per_date, np.int64), validation_days, test_days, self.data_dir
        )
        self.rows_per_date = dict(sorted(rows_per_date.items()))
        all_dates = np.fromiter(self.rows_per_date, np.int64)
        self._dates = tf.constant(all_dates)
        self._weekdays = tf.constant([weekday(int(d)) for d in all_dates], tf.int64)
        # The split of each date, as an index into SPLITS.
        split_of_date = np.searchsorted(
            [self.dates["validation"][0], self.dates["test"][0]], all_dates, side="right"
        )
        self._split_of_date = tf.constant(split_of_date, tf.int64)

        # Filled by the first pass over each split.
        self._counts = {}
        self._label_sums = {}
        self._learned = None

    # -- construction --------------------------------------------------------

    def _check_headers(self):
        """`(format, columns, delimiter)` shared by every log file, or a DataError naming one."""
        first = self.log_paths[0]
        format_name, columns, delimiter = read_header(first, LOG_FORMATS)
        for path in self.log_paths[1:]:
            other_format, other_columns, other_delimiter = read_header(path, LOG_FORMATS)
            if other_format != format_name:
                raise DataError(
                    f"{path} is in the {other_format} format but {first} is in the "
                    f"{format_name} format. The like/hate subset is drawn from the official "
                    "logs, so reading both would count rows twice: keep one kind in the folder."
                )
            if (other_columns, other_delimiter) != (columns, delimiter):
                raise DataError(
                    f"{path}: its header ({other_delimiter.join(other_columns)!r}) differs from "
                    f"that of {first} ({delimiter.join(columns)!r}); streaming reads every log "
                    "file with one column order and delimiter."
                )
        return format_name, tuple(columns), delimiter

    def _count_dates(self):
        """Rows per date over every log file, from the `date` column alone."""
        position = self._columns.index("date")
        delimiter = self._delimiter

        def dates_in(block):
            (dates,) = tf.io.decode_csv(
                block, [tf.constant([], tf.int64)], field_delim=delimiter, select_cols=[position]
            )
            unique, _, counts = tf.unique_with_counts(dates)
            return unique, counts

        counts = collections.Counter()
        # Counting needs no order: files read four at a time.
        blocks = self._blocks(in_order=False).map(dates_in, tf.data.AUTOTUNE)
        for dates, numbers in self._read("train", blocks):
            counts.update(dict(zip(dates.tolist(), numbers.tolist())))
        for date in sorted(counts):
            try:
                weekday(date)
            except ValueError:
                raise self._locate_error("train", None) from None
        if not counts:
            raise DataError(f"{self.data_dir}: the KuaiRand logs have no data rows.")
        return counts

    # -- what the trainer and the CLI ask of any dataset ----------------------

    @property
    def masked_tasks(self):
        """Tasks whose label can be missing: `pcr`, and `like` in the official logs."""
        masked = ("pcr",) if self.log_format == "like-hate-subset" else ("like", "pcr")
        return [t.name for t in self.tasks if t.name in masked]

    @property
    def settings(self):
        """The loader's arguments (for `zoo evaluate`) and the files and dates read."""
        return {
            "dataset": NAME,
            "data_dir": self.data_dir,
            "tasks": self.task_names,
            "validation_days": self.validation_days,
            "test_days": self.test_days,
            "embedding_dim": self.embedding_dim,
            "streaming": True,
            "shuffle_buffer": self.shuffle_buffer,
            "log_format": self.log_format,
            "log_files": [os.path.basename(path) for path in self.log_paths],
            "user_file": os.path.basename(self.user_path),
            "date_ranges": {
                name: [int(dates[0]), int(dates[-1])] for name, dates in self.dates.items()
            },
        }

    @property
    def summary(self):
        """Rows and dates of each split, and training label rates. May read the training split."""
        parts = []
        for name, dates in self.dates.items():
            count = sum(self.rows_per_date[int(d)] for d in dates)
            parts.append(f"{name} {count:,} rows ({dates[0]}-{dates[-1]})")
        rows, sums = self.num_rows("train"), self._label_sums["train"]
        rates = ", ".join(
            f"{t.name} {sums[t.name] / rows:.2%}"
            if t.type == "binary"
            else f"{t.name} mean {sums[t.name] / rows:.4g}"
            for t in self.tasks
        )
        masked = self.masked_tasks
        note = (
            f"; {', '.join(masked)} masked where unlabeled (rates over all rows)" if masked else ""
        )
        return f"{', '.join(parts)}; training labels: {rates}{note}, {self._source_summary()}"

    def shard_files(self, split):
        # Every file holds rows of every split; only several can be split by file.
        return list(self.log_paths) if len(self.log_paths) > 1 else []

    # -- the stream -----------------------------------------------------------

    def _describe(self, split):
        dates = self.dates[split] if hasattr(self, "dates") else None
        when = f", dates {dates[0]}-{dates[-1]}" if dates is not None else ""
        return f"{NAME} {split} split ({len(self.log_paths)} log files in {self.data_dir}{when})"

    def _source_summary(self):
        names = [os.path.basename(p) for p in self.log_paths]
        source = ", ".join(names) if len(names) <= 3 else f"{len(names)} log files"
        return f"streamed from {source} in {self.data_dir}"

    def _blocks(self, shuffle=False, seed=None, in_order=True):
        """Blocks of the non-blank lines after the header of every log file, files interleaved.

        In order (and not shuffled), one file after the other: the in-memory
        loader's row order. Otherwise four files are read at once; shuffled,
        in a new order each pass. Files are interleaved by blocks, not
        lines: per element, an interleave costs about as much as parsing a
        line (a 10M-row log was read 3 to 10 times slower line by line).
        """

        def read(path, compression):
            lines = tf.data.TextLineDataset(path, compression, buffer_size=1 << 20).skip(1)
            return lines.batch(SELECT_BLOCK).map(_without_blank_lines)

        paths = self.log_paths
        if len(paths) == 1:
            return read(paths[0], self._compression[paths[0]])
        # The list of files first: tf.distribute shards by file from here.
        files = tf.data.Dataset.from_tensor_slices((paths, [self._compression[p] for p in paths]))
        if shuffle:
            files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        in_order = in_order and not shuffle
        return files.interleave(
            read,
            cycle_length=1 if in_order else min(len(paths), 4),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=in_order or shuffle,
        )

    def _raw_batches(self, split, batch_size, shuffle=False, seed=None):
        """Batches `(raw features, labels, weights)` of a split (no weights without masks)."""
        self._check_split(split)
        wanted = SPLITS.index(split)
        position = self._columns.index("date")
        delimiter = self._delimiter

        def select(block):
            (dates,) = tf.io.decode_csv(
                block, [tf.constant([], tf.int64)], field_delim=delimiter, select_cols=[position]
            )
            return tf.boolean_mask(block, tf.equal(self._date_lookup(dates)[1], wanted))

        blocks = self._blocks(shuffle=shuffle, seed=seed)
        lines = blocks.map(select, tf.data.AUTOTUNE).unbatch()
        if shuffle:
            lines = lines.shuffle(self.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        return lines.batch(batch_size).map(
            self._decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    def _date_lookup(self, dates):
        """`(weekday, split index)` of each date; every date is one the first pass found."""
        index = tf.searchsorted(self._dates, dates)
        index = tf.minimum(index, tf.size(self._dates, out_type=index.dtype) - 1)
        return tf.gather(self._weekdays, index), tf.gather(self._split_of_date, index)

    def _decode(self, lines):
        """Raw features, labels and (with masks) weights of a batch of log lines, checked."""
        # Every column is parsed, the unused ones as strings: decode_csv then
        # checks each line's field count, as the in-memory reader does.
        defaults = [
            tf.constant([], tf.int64) if name in LOG_COLUMNS_USED else tf.constant([""])
            for name in self._columns
        ]
        fields = tf.io.decode_csv(lines, defaults, field_delim=self._delimiter)
        column = dict(zip(self._columns, fields))

        checks = [
            _is_binary(column[name])
            for name in BINARY_COLUMNS + ("is_like", "is_hate", "label")
            if name in column
        ]
        hourmin = column["hourmin"]
        checks.append((hourmin >= 0) & (hourmin <= 2359) & (hourmin % 100 <= 59))
        user_ids = column["user_id"]
        user_row = tf.searchsorted(self._user_ids, user_ids)
        user_row = tf.minimum(user_row, tf.size(self._user_ids, out_type=user_row.dtype) - 1)
        checks.append(tf.equal(tf.gather(self._user_ids, user_row), user_ids))
        valid = tf.debugging.Assert(
            tf.reduce_all(tf.stack([tf.reduce_all(c) for c in checks])),
            ["a KuaiRand log row failed its checks"],
        )

        weekdays, _ = self._date_lookup(column["date"])
        features = {
            "user_id": user_ids,
            "video_id": column["video_id"],
            "hour": hourmin // 100,
            "weekday": weekdays,
        }
        for name in USER_COLUMNS:
            if name in self._user_columns:
                features[name] = tf.gather(self._user_columns[name], user_row)
        labels, present = self._labels(column)
        with tf.control_dependencies([valid]):
            features = {name: tf.identity(value) for name, value in features.items()}
        ordered = {f.name: features[f.name] for f in self.features}
        labels = {t.name: labels[t.name] for t in self.tasks}
        if not self.has_label_masks:
            return ordered, labels
        weights = {
            t.name: tf.cast(present[t.name], tf.float32)
            if t.name in present
            else tf.ones_like(labels[t.name])
            for t in self.tasks
        }
        return ordered, labels, weights

    def _labels(self, column):
        """Labels and presence as `loader._labels` computes them, in TensorFlow."""
        labels = {
            "click": column["is_click"],
            "long_view": column["long_view"],
            "follow": column["is_follow"],
            "comment": column["is_comment"],
            "forward": column["is_forward"],
            "profile_enter": column["is_profile_enter"],
        }
        present = {}
        if self.log_format == "like-hate-subset":
            labels["like"] = column["label"]
        else:
            liked = tf.equal(column["is_like"], 1)
            labels["like"] = tf.cast(liked, tf.int64)
            present["like"] = liked | tf.equal(column["is_hate"], 1)
        labels = {name: tf.cast(value, tf.float32) for name, value in labels.items()}
        # The ratio in float64, then float32: the in-memory loader's numpy arithmetic.
        play = tf.cast(column["play_time_ms"], tf.float64)
        duration = column["duration_ms"]
        has_duration = duration > 0
        ratio = play / tf.cast(tf.where(has_duration, duration, 1), tf.float64)
        pcr = tf.where(has_duration, tf.clip_by_value(ratio, 0.0, 1.0), 0.0)
        labels["pcr"] = tf.cast(pcr, tf.float32)
        present["pcr"] = has_duration
        return labels, present

    def _locate_error(self, split, error):
        """A DataError naming the first bad line of the logs, found by reading them in Python."""
        for path in self.log_paths:
            for _, columns, line_numbers in log_chunks(path):  # raises for a bad value
                problem = self._chunk_problem(path, columns, line_numbers)
                if problem is not None:
                    return DataError(problem)
        reason = error.message if error is not None else "failed"
        return DataError(f"{self._describe(split)}: {reason}")

    def _chunk_problem(self, path, columns, line_numbers):
        """What `log_chunks` does not check: a date that is no date, a user not in the table."""
        for date in np.unique(columns["date"]).tolist():
            try:
                weekday(date)
            except ValueError:
                row = int(np.flatnonzero(columns["date"] == date)[0])
                return (
                    f"{path}, line {line_numbers[row]}: column 'date' expects YYYYMMDD, "
                    f"found {date}."
                )
        user_ids = self._sorted_user_ids
        position = np.minimum(np.searchsorted(user_ids, columns["user_id"]), len(user_ids) - 1)
        unknown = user_ids[position] != columns["user_id"]
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            return (
                f"{path}, line {line_numbers[row]}: user_id {int(columns['user_id'][row])} is "
                f"not in the user table {self.user_path}."
            )
        return None


def _without_blank_lines(block):
    # The in-memory reader skips blank lines; so does the stream, a block at a time.
    return tf.boolean_mask(block, tf.strings.length(tf.strings.strip(block)) > 0)


def _is_binary(values):
    return tf.equal(values, 0) | tf.equal(values, 1)
