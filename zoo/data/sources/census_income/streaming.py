"""Census-Income streamed from the UCI files, as `load_census_income(..., streaming=True)` reads it.

`StreamingCensusIncome` gives the rows of the in-memory loader, in the same
order and with the same features and labels, reading the published files
(no header, 42 fields separated by ", ") through `tf.data` on every pass.
The UCI files are 300,000 rows, which fit in memory; streaming them makes
the default dataset go through the same path as data that does not (`zoo
convert`, a cluster's workers, a user's own files in the UCI format).

What it holds: the learned vocabularies, row counts and label sums, and one
byte per row of the test file, the seeded split of that file into
validation and test (`zoo.data.sources.census_income.schema.validation_mask`), which keeps
the same rows as the in-memory loader and the published figures.
"""

import os

import tensorflow as tf

from zoo.data.base.errors import DataError
from zoo.data.base.streaming_dataset import StreamingDataset
from zoo.data.formats.delimited_reader import NUMBER_PATTERN, check_gzip_stream, compression_type
from zoo.data.formats.streaming_csv import utf8_check
from zoo.data.sources.census_income.schema import (
    COLLEGE_OR_ABOVE,
    COLUMN_NAMES,
    COLUMNS,
    DELIMITER,
    INCOME_VALUES,
    LABEL_COLUMNS,
    NAME,
    TASK_GROUPS,
    TEST_FILE,
    TRAIN_FILE,
    feature_columns,
    feature_spec,
    find_file,
    first_bad_line,
    validation_mask,
)
from zoo.tasks import Task

# Lines decided together (blank lines, validation or test): a per-line
# filter function costs several times the reading.
SELECT_BLOCK = 4096
INCOME_COLUMN = "income_50k"


class StreamingCensusIncome(StreamingDataset):
    """Census-Income's UCI files as a stream: the rows of `load_census_income`, none held.

    Made by `load_census_income(..., streaming=True)`. The training split is
    `census-income.data[.gz]`; validation and test are the halves of
    `census-income.test[.gz]` that the in-memory loader takes. Rows are
    checked (42 fields, finite numbers, a known income label) on the first
    pass over their split, which every use of a split starts with; a bad
    row is reported with its file and line.

    Args:
        data_dir: folder with the UCI files.
        task_group, protocol, split_seed, embedding_dim: as `load_census_income`.
        shuffle_buffer: training lines held by the row shuffle.
    """

    name = NAME

    def __init__(
        self,
        data_dir,
        task_group=1,
        protocol="paper",
        split_seed=1,
        embedding_dim=4,
        shuffle_buffer=100_000,
    ):
        self.data_dir = os.path.abspath(os.fspath(data_dir))
        self.task_group = int(task_group)
        self.protocol = protocol
        self.split_seed = split_seed
        self.embedding_dim = embedding_dim
        self.shuffle_buffer = int(shuffle_buffer)
        if self.shuffle_buffer < 1:
            raise ValueError(
                f"Expected shuffle_buffer >= 1. Received: shuffle_buffer={shuffle_buffer}"
            )
        self.columns = feature_columns(self.task_group, protocol)
        self.features = feature_spec(self.columns, embedding_dim)
        self.tasks = [Task(name) for name in TASK_GROUPS[self.task_group]]
        self.paths = {
            "train": find_file(self.data_dir, TRAIN_FILE),
            "test": find_file(self.data_dir, TEST_FILE),
        }
        self._compression = {path: compression_type(path) for path in self.paths.values()}
        for path in self.paths.values():
            # TextLineDataset stops quietly where a gzip stream is cut short;
            # the files are small enough to check whole, once.
            check_gzip_stream(path)
        self._is_validation = tf.constant(
            validation_mask(self._count_rows(self.paths["test"]), split_seed)
        )
        # Filled by the first pass over each split.
        self._counts = {}
        self._label_sums = {}
        self._learned = None

    def _count_rows(self, path):
        """Non-blank lines of a file: the rows the in-memory loader reads."""
        blocks = self._blocks(path).map(lambda block: tf.size(block, out_type=tf.int64))
        rows = int(blocks.reduce(tf.constant(0, tf.int64), lambda total, size: total + size))
        if rows == 0:
            raise DataError(f"{path}: the file has no data rows.")
        return rows

    # -- what the trainer and the CLI ask of any dataset ----------------------

    @property
    def settings(self):
        """The loader's arguments, for metrics.json and `zoo evaluate`."""
        return {
            "dataset": NAME,
            "data_dir": self.data_dir,
            "task_group": self.task_group,
            "protocol": self.protocol,
            "split_seed": self.split_seed,
            "embedding_dim": self.embedding_dim,
            "streaming": True,
            "shuffle_buffer": self.shuffle_buffer,
        }

    def shard_files(self, split):
        return []  # one file per split: tf.distribute splits it by data

    # -- the stream -----------------------------------------------------------

    def _path(self, split):
        return self.paths["train" if split == "train" else "test"]

    def _describe(self, split):
        if split == "train":
            return f"{NAME} train split ({self.paths['train']})"
        return f"{NAME} {split} split (half of the rows of {self.paths['test']})"

    def _source_summary(self):
        return f"streamed from {TRAIN_FILE} and {TEST_FILE} in {self.data_dir}"

    def _blocks(self, path):
        """Blocks of a file's non-blank lines (the in-memory reader skips blank ones)."""
        lines = tf.data.TextLineDataset(path, self._compression[path], buffer_size=1 << 20)

        def without_blank_lines(block):
            return tf.boolean_mask(block, tf.strings.length(tf.strings.strip(block)) > 0)

        return lines.batch(SELECT_BLOCK).map(without_blank_lines, tf.data.AUTOTUNE)

    def _raw_batches(self, split, batch_size, shuffle=False, seed=None):
        """Batches `(raw features, labels)` of a split, checked."""
        self._check_split(split)
        blocks = self._blocks(self._path(split))
        if split != "train":
            # Each row's place in the test file says whether it is validation.
            wanted = split == "validation"

            def number(first_row, block):
                size = tf.size(block, out_type=tf.int64)
                return first_row + size, (first_row, block)

            def select(first_row, block):
                rows = first_row + tf.range(tf.size(block, out_type=tf.int64))
                return tf.boolean_mask(
                    block, tf.equal(tf.gather(self._is_validation, rows), wanted)
                )

            blocks = blocks.scan(tf.constant(0, tf.int64), number).map(select, tf.data.AUTOTUNE)
        lines = blocks.unbatch()
        if shuffle:
            lines = lines.shuffle(self.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        return lines.batch(batch_size).map(
            self._decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    def _decode(self, lines):
        fields = tf.strings.split(lines, DELIMITER)
        valid = [tf.reduce_all(tf.equal(fields.row_lengths(), len(COLUMNS)))]
        fields = fields.to_tensor(default_value="", shape=[None, len(COLUMNS)])
        column = {name: fields[:, i] for i, name in enumerate(COLUMN_NAMES)}
        continuous = dict(COLUMNS)
        features = {}
        for name in self.columns:
            if continuous[name]:
                # The in-memory reader's grammar (to_number alone would take
                # hex floats), then through float64 as its Python floats are.
                # Only numbers reach to_number: its error quotes the field,
                # and one that is not UTF-8 fails in Python, not as an op error.
                number = tf.strings.regex_full_match(column[name], NUMBER_PATTERN)
                text = tf.where(number, column[name], "0")
                value = tf.cast(tf.strings.to_number(text, tf.float64), tf.float32)
                valid.append(tf.reduce_all(number & tf.math.is_finite(value)))
                features[name] = value
            else:
                features[name] = column[name]
        income = column[INCOME_COLUMN]
        known = tf.zeros_like(income, tf.bool)
        for value in INCOME_VALUES:
            known |= tf.equal(income, value)
        valid.append(tf.reduce_all(known))
        check = tf.debugging.Assert(tf.reduce_all(tf.stack(valid)), ["a Census-Income row failed"])
        # The in-memory reader decodes every line: one that is not UTF-8 fails both.
        with tf.control_dependencies([check, utf8_check(lines)]):
            features = {name: tf.identity(value) for name, value in features.items()}
        positive = [value for value, label in INCOME_VALUES.items() if label == 1.0]
        education = column[LABEL_COLUMNS["college_or_above"]]
        labels = {
            "income": tf.equal(income, positive[0]),
            "never_married": tf.equal(column[LABEL_COLUMNS["never_married"]], "Never married"),
            "college_or_above": tf.reduce_any(
                tf.equal(education[:, None], tf.constant(sorted(COLLEGE_OR_ABOVE))[None, :]),
                axis=1,
            ),
        }
        return features, {t.name: tf.cast(labels[t.name], tf.float32) for t in self.tasks}

    def _locate_error(self, split, error):
        """A DataError naming the first bad line of the split's file, found in Python."""
        path = self._path(split)
        try:
            found = first_bad_line(path, self.columns)
        except DataError as unreadable:
            return unreadable
        return found or DataError(f"{self._describe(split)}: {error.message}")
