"""Taobao UserBehavior (Tianchi 649): the raw pv / cart / fav / buy log, one row per (user, item).

Reads `UserBehavior.csv` as Alibaba publishes it (https://tianchi.aliyun.com/dataset/649):
comma-separated, no header, one behaviour event per line,
`user_id,item_id,category_id,behavior_type,timestamp`, with `behavior_type`
one of `pv` (page view), `cart`, `fav` (favourite) and `buy`, and the
timestamp in unix seconds; plain or gzip. The full file has about 100
million events of about a million users (2017-11-25 to 2017-12-03, Beijing
time, and a few outliers outside). No licence allows redistribution, so the
zoo does not ship it: download it and pass the file or its folder.

Rows: one per (user, item) pair, at the pair's first event (the earliest
timestamp; among events of that second, the first line). Its features are
`user_id`, `item_id` and the `category_id` of that event.

Tasks (`TASKS`), binary: `cart`, `fav` and `buy`, 1 where the user did that
to the item at or after the row's time, which, the row being the pair's
first event, is anywhere in the log read. It is the funnel of a shop's
ranking: of the items a user looks at, which does it cart, favourite, buy.
A pair whose first event is itself a `buy` (no `pv` logged before it) is a
row with `buy` 1. Labels near the log's end are censored (a pair first seen
on the last evening had hours, not days, to be bought), as in any time split.

Split by time, on the rows' times: the last `test_fraction` of the rows in
time order are the test split, the `validation_fraction` before them
validation (at least one row each), the rest training; rows of the second at
a cut go with the later split. Row shares, not shares of the time span: the few events dated
months before the window would otherwise stretch the span. A training row's
label may be decided by a later event (viewed on day 1, bought on day 8);
that event belongs to a pair that is no later row, so no validation or test
label is seen in training.

Behaviour histories (`history_length`): `item_history`, a `SequenceFeature`
sharing `item_id`'s table, holds the items of the user's events strictly
before the row's time, newest first, every behaviour and every repeat
(three views of one item are three entries), as DIN's Taobao sequences do;
with `category_history`, `category_history` holds those events' categories
in `category_id`'s table. They are built over every event read, before the
split (`zoo.data.base.histories`): a test row's history holds training-period
events, as a served model would know them, and never an event of the row's
own second or later. The row's item is never in its own history, since the
row is the pair's first event.
"""

import datetime
import glob
import os

import numpy as np

from zoo.data.base.errors import DataError
from zoo.data.base.histories import previous_interactions
from zoo.data.base.paths import unshipped_data_dir
from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.data.formats.delimited_reader import numbered_lines
from zoo.features.spec import SEQUENCE_POOLINGS, CategoricalFeature, SequenceFeature
from zoo.tasks import Task, parse_task_names

NAME = "taobao-user-behavior"
COLUMNS = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")
BEHAVIORS = ("pv", "cart", "fav", "buy")
TASKS = ("cart", "fav", "buy")
FEATURES = ("user_id", "item_id", "category_id")
HISTORY_FEATURES = {"item_id": "item_history", "category_id": "category_history"}
# The file's name as published; a folder may hold a cut of it (UserBehavior_first4321.csv).
FILE_PATTERN = "UserBehavior*.csv"
DOWNLOAD = (
    "Download UserBehavior.csv.zip from https://tianchi.aliyun.com/dataset/649 (a free Tianchi "
    "account), unzip it, and pass the file or its folder."
)
SPLITS = ("train", "validation", "test")


def _find_file(data_dir):
    """The log: `data_dir` itself if it is a file, else the one `UserBehavior*.csv[.gz]` in it."""
    if data_dir is not None and os.path.isfile(data_dir):
        return data_dir, data_dir
    data_dir = unshipped_data_dir(data_dir, NAME, "no licence allows redistribution", DOWNLOAD)
    found = sorted(
        path
        for suffix in ("", ".gz")
        for path in glob.glob(os.path.join(glob.escape(data_dir), FILE_PATTERN + suffix))
    )
    if len(found) != 1:
        what = (
            "no" if not found else f"{len(found)} files ({', '.join(map(os.path.basename, found))})"
        )
        raise DataError(
            f"{data_dir}: expected one {FILE_PATTERN}[.gz] log, found {what}. Pass the file "
            f"itself as data_dir to choose one. {DOWNLOAD}"
        )
    return data_dir, found[0]


def _read_fields(path, max_rows):
    """The log's five columns as lists of bytes, and each row's 1-based line number."""
    columns = tuple([] for _ in COLUMNS)
    line_numbers = []
    with numbered_lines(path) as lines:
        for line_number, line in lines:
            if len(line_numbers) == max_rows:
                break
            if not line.strip():
                continue
            fields = line.split(b",")
            if len(fields) != len(COLUMNS):
                raise DataError(
                    f"{path}, line {line_number}: expected {len(COLUMNS)} fields "
                    f"({','.join(COLUMNS)}) separated by ',', found {len(fields)}."
                )
            for column, value in zip(columns, fields):
                column.append(value)
            line_numbers.append(line_number)
    if not line_numbers:
        raise DataError(f"{path}: the file has no data rows.")
    return columns, np.asarray(line_numbers, np.int64)


def _is_int64(value):
    try:
        np.int64(int(value))
    except (ValueError, OverflowError):
        return False
    return True


def _bad_value(path, line_number, column, expected, value):
    found = value.decode("utf-8", "replace")
    # A first line of words is most likely a header, which the published file has not.
    header = line_number == 1 and not _is_int64(value)
    return DataError(
        f"{path}, line {line_number}: column {column!r} expects {expected}, found {found!r}"
        + (" (the file has no header line)." if header else ".")
    )


def _parse_ints(values, line_numbers, path, column, low=None):
    """Bytes to int64; a DataError names the line and value of the first bad one."""
    try:
        numbers = np.asarray(values, dtype=bytes).astype(np.int64)
    except (ValueError, OverflowError):
        row = next((row for row, value in enumerate(values) if not _is_int64(value)), None)
        if row is None:
            raise
        raise _bad_value(path, line_numbers[row], column, "an integer", values[row]) from None
    if low is not None and (numbers < low).any():
        row = int(np.flatnonzero(numbers < low)[0])
        raise _bad_value(path, line_numbers[row], column, f"an integer >= {low}", values[row])
    return numbers


def _parse_behaviors(values, line_numbers, path):
    """Behaviour names to their index in `BEHAVIORS`, or a DataError naming an unknown one."""
    values = np.asarray(values, dtype=bytes)
    codes = np.full(len(values), -1, np.int64)
    for code, name in enumerate(BEHAVIORS):
        codes[values == name.encode()] = code
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise _bad_value(
            path, line_numbers[row], "behavior_type", f"one of {', '.join(BEHAVIORS)}", values[row]
        )
    return codes


def _read_log(path, max_rows):
    """`(columns, line_numbers)`: the log's int64 columns, behaviours as `BEHAVIORS` indices."""
    fields, line_numbers = _read_fields(path, max_rows)
    raw = dict(zip(COLUMNS, fields))
    columns = {name: _parse_ints(raw[name], line_numbers, path, name, low=0) for name in FEATURES}
    columns["timestamp"] = _parse_ints(raw["timestamp"], line_numbers, path, "timestamp")
    columns["behavior_type"] = _parse_behaviors(raw["behavior_type"], line_numbers, path)
    return columns, line_numbers


def _check_arguments(validation_fraction, test_fraction, max_rows, history_length, pooling):
    for name, value in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        if not isinstance(value, (int, float, np.number)) or not 0 < value < 0.5:
            raise ValueError(f"Expected 0 < {name} < 0.5. Received: {name}={value!r}")
    for name, value in (("max_rows", max_rows), ("history_length", history_length)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1
        ):
            raise ValueError(f"Expected {name} >= 1 or None. Received: {name}={value!r}")
    if pooling not in SEQUENCE_POOLINGS:
        raise ValueError(
            f"Expected history_pooling in {SEQUENCE_POOLINGS}. "
            f"Received: history_pooling={pooling!r}"
        )


def _first_events(columns):
    """`(first, did)`: each pair's first event (log row), and per behaviour whether it occurs.

    Pairs come in (user, item) order; `did[:, b]` is 1 where the pair has an
    event of `BEHAVIORS[b]`.
    """
    users, items = columns["user_id"], columns["item_id"]
    line_order = np.arange(len(users))
    order = np.lexsort((line_order, columns["timestamp"], items, users))
    sorted_users, sorted_items = users[order], items[order]
    starts = np.flatnonzero(
        np.concatenate(
            [
                [True],
                (sorted_users[1:] != sorted_users[:-1]) | (sorted_items[1:] != sorted_items[:-1]),
            ]
        )
    )
    behaviors = columns["behavior_type"][order]
    one_hot = (behaviors[:, None] == np.arange(len(BEHAVIORS))).astype(np.int8)
    did = np.maximum.reduceat(one_hot, starts, axis=0)  # (pairs, behaviours)
    return order[starts], did


def _split_of(times, validation_fraction, test_fraction):
    """0, 1 or 2 (train, validation, test) per row, by the rows' shares in time order."""
    sorted_times = np.sort(times)
    num_rows = len(times)
    # At least one row each, so that a small log fails only when it must.
    test_start = max(num_rows - max(int(round(test_fraction * num_rows)), 1), 0)
    validation_start = max(test_start - max(int(round(validation_fraction * num_rows)), 1), 0)
    split = np.zeros(num_rows, np.int64)
    split[times >= sorted_times[validation_start]] = 1
    split[times >= sorted_times[test_start]] = 2
    return split


def _utc(seconds):
    """A unix time as ISO 8601 UTC, or the number where it is out of datetime's range."""
    try:
        return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC).isoformat()
    except (OverflowError, ValueError, OSError):  # the log's outliers may be any integer
        return str(int(seconds))


def load_taobao_user_behavior(
    data_dir=None,
    tasks=TASKS,
    validation_fraction=0.1,
    test_fraction=0.1,
    embedding_dim=16,
    max_rows=None,
    history_length=None,
    history_pooling="mean",
    category_history=False,
):
    """Loads Taobao UserBehavior as (user, item) rows with cart / fav / buy labels, split by time.

    Args:
        data_dir: the `UserBehavior.csv` file (plain or gzip), or a folder
            holding exactly one `UserBehavior*.csv[.gz]`; defaults to
            `$ZOO_DATA_DIR/taobao-user-behavior` (nothing is shipped).
        tasks: task names from `TASKS`, in output order: a sequence or a
            comma-separated string.
        validation_fraction: the share of the rows, in time order just
            before the test rows, held out for validation.
        test_fraction: the share of the last rows in time order held out
            for test.
        embedding_dim: embedding width of every feature.
        max_rows: read at most this many events (the first lines, not a
            sample; the file is grouped by user, so these are whole users
            but perhaps the last), or `None` for all. The full file's 100
            million events need tens of GB in memory: use it for a quick run.
        history_length: `None`, or add the `SequenceFeature`
            `"item_history"` of this `max_len`: per row, an int64
            `(rows, history_length)` column of the items of the user's
            events strictly before the row, newest first, padded with -1
            (see the module docstring).
        history_pooling: the histories' `pooling`: `"mean"`, `"sum"`,
            `"max"`, `"attention"` (DIN, the candidate item or category
            weighting each past one) or `"transformer"` (BST).
        category_history: with `history_length`, also add
            `"category_history"`, the same events' categories in
            `category_id`'s table.

    Returns:
        A `TabularDataset` named `"taobao-user-behavior"`,
        `user_feature="user_id"` (GAUC), and `settings` recording the
        arguments, the counts of events, behaviours and pairs, and each
        split's rows, positives and time range.

    Raises:
        ValueError: an unknown task, an argument out of range, or
            `category_history` without `history_length`.
        DataError: no data file, a malformed line (wrong field count, an
            unknown behaviour, an id or timestamp that is no integer; the
            message names the file and line), or a split left empty.

    Example:
    ```python
    dataset = load_taobao_user_behavior("path/to/UserBehavior.csv", max_rows=1_000_000,
                                        history_length=20, history_pooling="attention")
    dataset.train.features["item_history"].shape  # (train rows, 20)
    ```
    """
    names = parse_task_names(tasks, TASKS)
    _check_arguments(validation_fraction, test_fraction, max_rows, history_length, history_pooling)
    if category_history and history_length is None:
        raise ValueError(
            "category_history=True adds a history of history_length categories: give "
            "history_length too."
        )
    data_dir, path = _find_file(data_dir)
    columns, line_numbers = _read_log(path, max_rows)
    first, did = _first_events(columns)
    times = columns["timestamp"][first]
    split_of = _split_of(times, validation_fraction, test_fraction)
    empty = [name for k, name in enumerate(SPLITS) if not (split_of == k).any()]
    if empty:
        raise DataError(
            f"{path}: {len(first)} (user, item) pairs leave the {empty[0]} split empty with "
            f"validation_fraction={validation_fraction} and test_fraction={test_fraction}."
        )

    row_columns = {name: columns[name][first] for name in FEATURES}
    history_of = {"item_id": True, "category_id": bool(category_history)}
    if history_length is not None:
        # Over every event read, before the split (see the module docstring).
        for name, wanted in history_of.items():
            if wanted:
                row_columns[HISTORY_FEATURES[name]] = previous_interactions(
                    columns["user_id"],
                    columns["timestamp"],
                    columns[name],
                    history_length,
                    rows=first,
                )
    labels = {task: did[:, BEHAVIORS.index(task)].astype("float32") for task in names}

    splits, counts, time_ranges = {}, {}, {}
    for k, name in enumerate(SPLITS):
        rows = np.flatnonzero(split_of == k)
        rows = rows[np.argsort(times[rows], kind="stable")]  # in time order
        splits[name] = Split(
            features={feature: values[rows] for feature, values in row_columns.items()},
            labels={task: labels[task][rows] for task in names},
        )
        counts[name] = {"rows": int(len(rows))}
        counts[name].update({task: int(labels[task][rows].sum()) for task in names})
        time_ranges[name] = [_utc(times[rows].min()), _utc(times[rows].max())]

    features = [
        CategoricalFeature(name, dtype="int64", embedding_dim=embedding_dim) for name in FEATURES
    ]
    if history_length is not None:
        features += [
            SequenceFeature(
                HISTORY_FEATURES[name],
                max_len=int(history_length),
                pooling=history_pooling,
                shares_table_with=name,
                dtype="int64",
                embedding_dim=embedding_dim,
            )
            for name, wanted in history_of.items()
            if wanted
        ]
    behavior_counts = np.bincount(columns["behavior_type"], minlength=len(BEHAVIORS))
    shares = ", ".join(f"{t} {splits['train'].labels[t].mean():.1%}" for t in names)
    summary = (
        "; ".join(f"{name} {counts[name]['rows']:,} rows" for name in SPLITS)
        + f" ((user, item) pairs at their first event, split by time). Training rows: {shares}."
    )
    return TabularDataset(
        name=NAME,
        features=features,
        tasks=[Task(name) for name in names],
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        settings={
            "dataset": NAME,
            "data_dir": os.path.abspath(data_dir),
            "file": os.path.basename(path),
            "tasks": names,
            "validation_fraction": float(validation_fraction),
            "test_fraction": float(test_fraction),
            "embedding_dim": int(embedding_dim),
            "max_rows": None if max_rows is None else int(max_rows),
            "history_length": None if history_length is None else int(history_length),
            "history_pooling": history_pooling,
            "category_history": bool(category_history),
            "num_events": int(len(line_numbers)),
            "behavior_counts": dict(zip(BEHAVIORS, behavior_counts.tolist())),
            "num_pairs": int(len(first)),
            "num_users": int(len(np.unique(columns["user_id"]))),
            "num_items": int(len(np.unique(columns["item_id"]))),
            "num_categories": int(len(np.unique(columns["category_id"]))),
            "split_counts": counts,
            "time_ranges": time_ranges,
        },
        summary=summary,
        user_feature="user_id",
    )
