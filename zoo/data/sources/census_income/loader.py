"""Census-Income (KDD), UCI dataset 117, as the MMoE paper uses it.

Reads the published files as they are (`census-income.data[.gz]`,
`census-income.test[.gz]`: no header, 42 fields separated by ", ").

Task groups (MMoE paper, section 5.2):
- group 1: `income` (income > 50K) and `never_married` (marital status is
  "Never married").
- group 2: `college_or_above` and `never_married`. The paper says "education
  level is at least college"; we count every education value that reached
  college: "Some college but no degree", both Associates degrees, Bachelors,
  Masters, Prof school and Doctorate (33.6% of the training rows).

Feature protocols:
- `paper`: the label columns of both groups (income, marital status,
  education) and the survey weight are not features.
- `all-features`: every column except the current group's two label columns
  and the survey weight (what torch-rechub, PaddleRec and the peer benchmark
  in ../shared/peer-bench do for group 1).

The UCI test file is split 1:1 into validation and test by a seeded
permutation (seed 1 by default, the same rows as the peer benchmark).

`load_census_income(..., streaming=True)` reads the same rows from the files
on every pass instead of into memory
(`zoo.data.sources.census_income.streaming.StreamingCensusIncome`).
"""

import os

import numpy as np

from zoo.data.base.errors import DataError
from zoo.data.base.paths import default_data_dir
from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.data.formats.delimited_reader import parse_floats, read_columns
from zoo.data.sources.census_income.schema import (
    COLLEGE_OR_ABOVE,
    COLUMN_NAMES,
    COLUMNS,
    DELIMITER,
    INCOME_VALUES,
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


def _read_file(path, columns_wanted):
    try:
        return _parse_file(path, columns_wanted)
    except DataError:
        # The checks run check by check over the whole file; name the first
        # bad line instead, as the streamed reader does.
        found = first_bad_line(path, columns_wanted)
        if found is None:
            raise
        raise found from None


def _parse_file(path, columns_wanted):
    columns, line_numbers = read_columns(path, len(COLUMNS), DELIMITER)
    by_name = dict(zip(COLUMN_NAMES, columns))
    continuous = dict(COLUMNS)
    raw = {}
    for name in columns_wanted:
        if continuous[name]:
            raw[name] = np.asarray(parse_floats(by_name[name], line_numbers, path, name), "float32")
        else:
            raw[name] = np.asarray(by_name[name], dtype=object)
    # Labels are validated on every row: an unexpected income value is a
    # corrupt file, not a negative.
    for value, line_number in zip(by_name["income_50k"], line_numbers):
        if value not in INCOME_VALUES:
            raise DataError(
                f"{path}, line {line_number}: column 'income_50k' expects one of "
                f"{sorted(INCOME_VALUES)}, found {value!r}."
            )
    labels = {
        "income": np.asarray([INCOME_VALUES[v] for v in by_name["income_50k"]], "float32"),
        "never_married": np.asarray(
            [v == "Never married" for v in by_name["marital_stat"]], "float32"
        ),
        "college_or_above": np.asarray(
            [v in COLLEGE_OR_ABOVE for v in by_name["education"]], "float32"
        ),
    }
    return raw, labels


def load_census_income(
    data_dir=None,
    task_group=1,
    protocol="paper",
    split_seed=1,
    embedding_dim=4,
    streaming=False,
    shuffle_buffer=100_000,
):
    """Loads Census-Income, in memory or streamed from its files.

    Args:
        data_dir: directory with the UCI files; defaults to the copy shipped
            in `datasets/census-income/` (or `$ZOO_DATA_DIR/census-income`).
        task_group: `1` (income, never_married) or `2` (college_or_above,
            never_married).
        protocol: `"paper"` or `"all-features"` (see the module docstring).
        split_seed: seed of the permutation that halves the UCI test file
            into validation and test.
        embedding_dim: embedding width of every categorical feature.
        streaming: read the files as a stream on every pass instead of into
            memory (`zoo.data.sources.census_income.streaming.StreamingCensusIncome`):
            the same rows, features and labels in the same order.
        shuffle_buffer: with `streaming`, the training lines held by the row
            shuffle.

    Returns:
        A `TabularDataset` named `"census-income"` (a `StreamingCensusIncome`
        with `streaming`).

    Raises:
        DataError: a file is missing, empty or malformed (the message names
            the file and line).
    """
    task_group = int(task_group)
    columns = feature_columns(task_group, protocol)
    data_dir = data_dir or default_data_dir(NAME)
    if streaming:
        from zoo.data.sources.census_income.streaming import StreamingCensusIncome

        return StreamingCensusIncome(
            data_dir,
            task_group=task_group,
            protocol=protocol,
            split_seed=split_seed,
            embedding_dim=embedding_dim,
            shuffle_buffer=shuffle_buffer,
        )
    train_raw, train_labels = _read_file(find_file(data_dir, TRAIN_FILE), columns)
    rest_raw, rest_labels = _read_file(find_file(data_dir, TEST_FILE), columns)

    is_validation = validation_mask(len(rest_labels["income"]), split_seed)
    validation_rows, test_rows = np.flatnonzero(is_validation), np.flatnonzero(~is_validation)
    tasks = [Task(name) for name in TASK_GROUPS[task_group]]

    def split(raw, labels, rows=None):
        take = (lambda a: a) if rows is None else (lambda a: a[rows])
        return Split(
            features={name: take(raw[name]) for name in columns},
            labels={t.name: take(labels[t.name]) for t in tasks},
        )

    return TabularDataset(
        name=NAME,
        features=feature_spec(columns, embedding_dim),
        tasks=tasks,
        train=split(train_raw, train_labels),
        validation=split(rest_raw, rest_labels, validation_rows),
        test=split(rest_raw, rest_labels, test_rows),
        settings={
            "dataset": NAME,
            "data_dir": os.path.abspath(data_dir),
            "task_group": task_group,
            "protocol": protocol,
            "split_seed": split_seed,
            "embedding_dim": embedding_dim,
        },
    )
