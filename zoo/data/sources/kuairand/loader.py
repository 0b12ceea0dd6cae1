"""KuaiRand (Kuaishou short-video logs), several feedback signals per impression.

Reads two published formats with the same code; the header of each file
decides which it is (columns in any order, separated by tabs or commas):

- the like/hate subset shipped in `datasets/kuairand/`
  (`processed_standard_kcore_15.csv[.gz]`, tab-separated despite its name):
  a third party's selection from KuaiRand-27K in which every row has a
  *like* or a *hate* (`label` 1 or 0). Click, long-view, follow, comment and
  forward rates there are conditional on explicit feedback; it is not an
  impression log (see `datasets/kuairand/CARD.md`);
- the official logs of KuaiRand-27K, -1K and -Pure: every
  `log_standard_*.csv[.gz]` and `log_random_*.csv[.gz]` in the folder, with
  `user_id, video_id, date, hourmin, time_ms, is_click, is_like, is_follow,
  is_comment, is_forward, is_hate, long_view, play_time_ms, duration_ms,
  profile_stay_time, comment_stay_time, is_profile_enter, is_rand, tab`.

The user table (`user_features_pure.csv`, `user_features_27k.csv` or
`user_features_1k.csv`, `.gz` or not; exactly one of them) is joined on
`user_id`.

Tasks (`TASKS`): `click` (`is_click`: a click, or a valid play in the
single-column UI), `long_view`, `like`, `follow`, `comment`, `forward`,
`profile_enter` (binary) and `pcr`, the play completion rate
`play_time_ms / duration_ms` clipped to [0, 1] (regression). In the official
logs `like` is 1 where `is_like`, 0 where `is_hate` (1 if both, as the
subset's script decided), and missing where neither: those rows are masked
for `like` (`Split.label_masks`), not read as negatives. `pcr` is masked
where `duration_ms` is not positive (KuaiRand logs hold zero durations).

Features: `user_id` and `video_id`; `hour` (from `hourmin`) and `weekday`
(from `date`, Monday = 0); and the user table's `user_active_degree`,
`is_lowactive_period`, `is_live_streamer`, `is_video_author`, the four
`*_range` columns and `onehot_feat0..17`, all categorical. Not features:
`play_time_ms`, `duration_ms`, `comment_stay_time` and `profile_stay_time`
are measured after the impression and give the labels away (long view and
pcr are computed from play time; in the subset `comment_stay_time` is
nonzero on 98% of the commented rows and 21% of the others); `time_ms` is
the date and hour again; `is_rand` and `tab` exist only in the official
logs; the raw follow, fan, friend and register-day counts enter through
their `*_range` columns. KuaiRand marks a missing `is_live_streamer` with
-124; an empty `onehot_feat*` field (the Pure table has 714 to 874 per
column) gets the same code, so missing is a category of its own, apart
from the OOV bucket. String values are kept as published.

Behaviour history (`history_length`): `watched_videos`, a `SequenceFeature`
sharing `video_id`'s table, holds the videos the user clicked (`is_click`)
strictly before the row's `time_ms`, newest first
(`zoo.data.base.histories.previous_interactions`). It is built over every
row read, before the split: a test row's history holds the user's clicks of
the training and validation days too, which is what a served model would
know, and never a click at or after the row's own millisecond. In the
like/hate subset the log holds only the rows with a like or a hate, so the
history is the clicked videos among those, not every video watched.

Split by time: the distinct dates are sorted; the last `test_days` dates are
the test split, the `validation_days` before them validation, the rest
training. Vocabularies come from the training split only; ids first seen
later go to the OOV bucket.

`load_kuairand` reads the logs into memory; with `streaming=True` it returns
`zoo.data.sources.kuairand.streaming.StreamingKuaiRand`, which reads the same rows
from the files on every pass, for logs bigger than memory.
"""

import os

import numpy as np

from zoo.data.base.errors import DataError
from zoo.data.base.histories import previous_interactions
from zoo.data.base.paths import default_data_dir
from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.data.sources.kuairand.files import concatenated, find_data_files, log_chunks, read_users
from zoo.data.sources.kuairand.schema import (
    DEFAULT_TASKS,
    NAME,
    REGRESSION_TASKS,
    TASKS,
    USER_COLUMNS,
    feature_spec,
    split_dates,
    weekday,
)
from zoo.features.spec import SEQUENCE_POOLINGS, SequenceFeature
from zoo.tasks import Task, parse_task_names

# The behaviour history of `history_length`: videos clicked before, in video_id's table.
HISTORY_FEATURE = "watched_videos"


def _parse_tasks(tasks):
    names = parse_task_names(tasks, TASKS)
    return [Task(name, "regression" if name in REGRESSION_TASKS else "binary") for name in names]


def _read_log(path, max_rows, extra_columns=()):
    """One log file: its format, int64 columns (and `extra_columns`) and line numbers."""
    return concatenated(log_chunks(path, max_rows, extra_columns))


def _weekdays(dates, line_numbers, paths, file_index):
    """Weekday (Monday = 0) of every YYYYMMDD date, or a DataError naming a bad one."""
    unique, inverse = np.unique(dates, return_inverse=True)
    weekdays = np.empty(len(unique), np.int64)
    for i, date in enumerate(unique.tolist()):
        try:
            weekdays[i] = weekday(date)
        except ValueError:
            row = int(np.flatnonzero(inverse == i)[0])
            raise DataError(
                f"{paths[file_index[row]]}, line {line_numbers[row]}: column 'date' expects "
                f"YYYYMMDD, found {date}."
            ) from None
    return weekdays[inverse]


def _labels(columns, format_name):
    """Labels and label masks of every task in `TASKS`."""
    labels = {
        name: columns[column].astype("float32")
        for name, column in TASKS.items()
        if column is not None
    }
    masks = {}
    if format_name == "like-hate-subset":
        labels["like"] = columns["label"].astype("float32")
    else:
        liked = columns["is_like"] == 1
        labels["like"] = liked.astype("float32")
        masks["like"] = liked | (columns["is_hate"] == 1)
    play, duration = columns["play_time_ms"], columns["duration_ms"]
    has_duration = duration > 0
    ratio = play / np.where(has_duration, duration, 1)
    labels["pcr"] = np.where(has_duration, np.clip(ratio, 0.0, 1.0), 0.0).astype("float32")
    masks["pcr"] = has_duration
    return labels, masks


def _check_arguments(validation_days, test_days, max_rows=None, history_length=None):
    """ValueError for split lengths below 1, or a `max_rows` or `history_length` below 1."""
    for name, value in (("validation_days", validation_days), ("test_days", test_days)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"Expected {name} >= 1. Received: {name}={value!r}")
    for name, value in (("max_rows", max_rows), ("history_length", history_length)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1
        ):
            raise ValueError(f"Expected {name} >= 1 or None. Received: {name}={value!r}")


def _check_history_pooling(history_pooling):
    if history_pooling not in SEQUENCE_POOLINGS:
        raise ValueError(
            f"Expected history_pooling in {SEQUENCE_POOLINGS}. "
            f"Received: history_pooling={history_pooling!r}"
        )


def load_kuairand(
    data_dir=None,
    tasks=DEFAULT_TASKS,
    validation_days=2,
    test_days=2,
    embedding_dim=8,
    max_rows=None,
    streaming=False,
    shuffle_buffer=100_000,
    history_length=None,
    history_pooling="mean",
):
    """Loads KuaiRand, split by date: in memory, or streamed from its files.

    Args:
        data_dir: folder with the logs and the user table; defaults to the
            like/hate subset shipped in `datasets/kuairand/` (or
            `$ZOO_DATA_DIR/kuairand`).
        tasks: task names from `TASKS`, in output order: a sequence or a
            comma-separated string. Defaults to `DEFAULT_TASKS`.
        validation_days: the number of distinct dates, just before the test
            dates, that form the validation split.
        test_days: the number of last distinct dates that form the test split.
        embedding_dim: embedding width of every feature.
        max_rows: read at most this many log rows in all (files in name
            order, rows in file order: the first rows, not a sample), for
            quick runs on the full download; `None` reads everything. The
            official KuaiRand-27K logs hold 322 million rows, more than
            memory: use `streaming=True`, `max_rows`, or KuaiRand-Pure / -1K
            there. Not with `streaming`.
        streaming: read the logs as a stream on every pass instead of into
            memory (`zoo.data.sources.kuairand.streaming.StreamingKuaiRand`): the same
            rows, features, labels and masks, with memory bounded by the user
            table and the dates, not by the logs.
        shuffle_buffer: with `streaming`, the training lines held by the row
            shuffle.
        history_length: `None`, or add the `SequenceFeature`
            `"watched_videos"` of this `max_len`: per row, an int64
            `(rows, history_length)` column of the videos the user clicked
            strictly before the row's `time_ms`, newest first, padded with
            -1 (see the module docstring). Not with `streaming`.
        history_pooling: the history's `pooling`: `"mean"`, `"sum"`,
            `"max"`, `"attention"` (DIN, the candidate `video_id` weighting
            each past video) or `"transformer"` (BST).

    Returns:
        A `TabularDataset` named `"kuairand"` (a `StreamingKuaiRand` with
        `streaming`), with `user_feature="user_id"` (GAUC) and `settings`
        recording the arguments, the files read and each split's first and
        last date.

    Raises:
        ValueError: an unknown task name, split lengths below 1, a
            `history_length` below 1, an unknown `history_pooling`, or
            `history_length` with `streaming`.
        DataError: a file is missing or malformed (the message names the
            file and line), a log user is not in the user table, the folder
            mixes log formats, or the logs hold too few dates for the split.

    Example:
    ```python
    dataset = load_kuairand(tasks=["click", "like", "pcr"])
    dataset.train.features["user_active_degree"][:2]  # e.g. ['high_active', 'high_active']
    ```
    """
    task_list = _parse_tasks(tasks)
    _check_arguments(validation_days, test_days, max_rows, history_length)
    _check_history_pooling(history_pooling)
    data_dir = data_dir or default_data_dir(NAME)
    if streaming:
        if history_length is not None:
            raise ValueError(
                "history_length builds each row's history from the whole log in memory; it "
                "does not go with streaming=True yet. Drop streaming=True (with max_rows for "
                "a large log) to train with histories."
            )
        if max_rows is not None:
            raise ValueError(
                "max_rows reads the first rows into memory; it does not go with streaming=True."
            )
        from zoo.data.sources.kuairand.streaming import StreamingKuaiRand

        return StreamingKuaiRand(
            data_dir,
            task_list,
            validation_days=validation_days,
            test_days=test_days,
            embedding_dim=embedding_dim,
            shuffle_buffer=shuffle_buffer,
        )
    log_paths, user_path = find_data_files(data_dir)

    # -- the logs -------------------------------------------------------------
    formats, parts, lines, file_index, paths_read = [], [], [], [], []
    remaining = max_rows
    for path in log_paths:
        if remaining == 0:
            break
        extra_columns = ("time_ms",) if history_length is not None else ()
        format_name, columns, line_numbers = _read_log(path, remaining, extra_columns)
        if formats and format_name != formats[0]:
            raise DataError(
                f"{path} is in the {format_name} format but {paths_read[0]} is in the "
                f"{formats[0]} format. The like/hate subset is drawn from the official logs, "
                "so reading both would count rows twice: keep one kind in the folder."
            )
        formats.append(format_name)
        parts.append(columns)
        lines.append(line_numbers)
        file_index.append(np.full(len(line_numbers), len(paths_read)))
        paths_read.append(path)
        if remaining is not None:
            remaining -= len(line_numbers)
    format_name = formats[0]
    columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    line_numbers, file_index = np.concatenate(lines), np.concatenate(file_index)
    labels, masks = _labels(columns, format_name)
    log_features = {
        "user_id": columns["user_id"],
        "video_id": columns["video_id"],
        "hour": columns["hourmin"] // 100,
        "weekday": _weekdays(columns["date"], line_numbers, paths_read, file_index),
    }

    # -- the user table, joined on user_id --------------------------------------
    user_ids, user_features = read_users(user_path)
    position = np.searchsorted(user_ids, columns["user_id"])
    position = np.minimum(position, len(user_ids) - 1)
    unknown = user_ids[position] != columns["user_id"]
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataError(
            f"{paths_read[file_index[row]]}, line {line_numbers[row]}: user_id "
            f"{int(columns['user_id'][row])} is not in the user table {user_path} "
            f"({int(np.unique(columns['user_id'][unknown]).size)} log users are missing)."
        )
    features = log_features
    for name in USER_COLUMNS:
        if name in user_features:
            features[name] = user_features[name][position]
    feature_list = feature_spec(user_features, embedding_dim)
    if history_length is not None:
        # Over every row read, before the split: see the module docstring.
        features[HISTORY_FEATURE] = previous_interactions(
            columns["user_id"],
            columns["time_ms"],
            columns["video_id"],
            history_length,
            include=columns["is_click"] == 1,
        )
        feature_list.append(
            SequenceFeature(
                HISTORY_FEATURE,
                max_len=int(history_length),
                pooling=history_pooling,
                shares_table_with="video_id",
                dtype="int64",
                embedding_dim=embedding_dim,
            )
        )

    # -- split by date ---------------------------------------------------------
    dates_of = split_dates(columns["date"], validation_days, test_days, data_dir)
    names = [t.name for t in task_list]

    def split(name):
        rows = np.flatnonzero(np.isin(columns["date"], dates_of[name]))
        return Split(
            features={feature: values[rows] for feature, values in features.items()},
            labels={task: labels[task][rows] for task in names},
            label_masks={task: masks[task][rows] for task in names if task in masks},
        )

    splits = {name: split(name) for name in dates_of}
    ranges = {name: [int(d[0]), int(d[-1])] for name, d in dates_of.items()}
    summary = ", ".join(
        f"{name} {len(splits[name]):,} rows ({ranges[name][0]}-{ranges[name][1]})"
        for name in dates_of
    )
    if format_name == "like-hate-subset":
        summary += (
            ". The like/hate subset only has rows with a like or a hate: every rate is "
            "conditional on explicit feedback (not an impression log)."
        )
    else:
        labeled = int(masks["like"].sum())
        summary += (
            f". like is labeled on the {labeled:,} rows with is_like or is_hate "
            f"({labeled / len(line_numbers):.2%}) and masked on the others."
        )
    return TabularDataset(
        name=NAME,
        features=feature_list,
        tasks=task_list,
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        settings={
            "dataset": NAME,
            "data_dir": os.path.abspath(data_dir),
            "tasks": names,
            "validation_days": int(validation_days),
            "test_days": int(test_days),
            "embedding_dim": embedding_dim,
            "max_rows": None if max_rows is None else int(max_rows),
            "history_length": None if history_length is None else int(history_length),
            "history_pooling": history_pooling,
            "log_format": format_name,
            "log_files": [os.path.basename(path) for path in paths_read],
            "user_file": os.path.basename(user_path),
            "log_rows": int(len(line_numbers)),
            "date_ranges": ranges,
        },
        summary=summary,
        user_feature="user_id",
    )
