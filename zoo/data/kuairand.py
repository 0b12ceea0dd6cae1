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

Split by time: the distinct dates are sorted; the last `test_days` dates are
the test split, the `validation_days` before them validation, the rest
training. Vocabularies come from the training split only; ids first seen
later go to the OOV bucket.

`load_kuairand` reads the logs into memory; with `streaming=True` it returns
`zoo.data.kuairand_streaming.StreamingKuaiRand`, which reads the same rows
from the files on every pass, for logs bigger than memory.
"""

import csv
import datetime
import glob
import operator
import os

import numpy as np

from zoo.data.delimited_reader import open_text
from zoo.data.errors import DataError
from zoo.data.paths import default_data_dir
from zoo.data.tabular_dataset import Split, TabularDataset
from zoo.features.spec import CategoricalFeature
from zoo.tasks import Task, parse_task_names

NAME = "kuairand"

LOG_COLUMNS = (
    "user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like", "is_follow",
    "is_comment", "is_forward", "is_hate", "long_view", "play_time_ms", "duration_ms",
    "profile_stay_time", "comment_stay_time", "is_profile_enter", "is_rand", "tab",
)  # fmt: skip
SUBSET_COLUMNS = (
    "user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_follow", "is_comment",
    "is_forward", "long_view", "play_time_ms", "duration_ms", "comment_stay_time",
    "is_profile_enter", "label", "timestamp",
)  # fmt: skip
# Format name -> its columns. The name goes into `settings["log_format"]`.
LOG_FORMATS = {"kuairand-log": LOG_COLUMNS, "like-hate-subset": SUBSET_COLUMNS}

# File stems looked for in the data folder, each as .csv or .csv.gz.
LOG_STEMS = ("processed_standard_kcore_15", "log_standard_*", "log_random_*")
USER_STEMS = ("user_features_pure", "user_features_27k", "user_features_1k")

USER_COLUMNS = (
    "user_id", "user_active_degree", "is_lowactive_period", "is_live_streamer",
    "is_video_author", "follow_user_num", "follow_user_num_range", "fans_user_num",
    "fans_user_num_range", "friend_user_num", "friend_user_num_range", "register_days",
    "register_days_range",
) + tuple(f"onehot_feat{i}" for i in range(18))  # fmt: skip
STRING_USER_FEATURES = (
    "user_active_degree",
    "follow_user_num_range",
    "fans_user_num_range",
    "friend_user_num_range",
    "register_days_range",
)
INT_USER_FEATURES = ("is_lowactive_period", "is_live_streamer", "is_video_author") + tuple(
    f"onehot_feat{i}" for i in range(18)
)
# KuaiRand's own missing code (is_live_streamer); empty integer user fields get it too.
MISSING_CODE = -124
# The user-group feature of group-aware models (e.g. MFH): raw activity levels
# such as "full_active", "high_active", "middle_active", "low_active".
USER_GROUP_FEATURE = "user_active_degree"

# Task name -> the log column it is read from (None: computed, see _labels).
TASKS = {
    "click": "is_click",
    "long_view": "long_view",
    "like": None,
    "follow": "is_follow",
    "comment": "is_comment",
    "forward": "is_forward",
    "profile_enter": "is_profile_enter",
    "pcr": None,
}
REGRESSION_TASKS = ("pcr",)
DEFAULT_TASKS = ("click", "long_view", "like", "follow", "comment", "forward")
# 0/1 columns of both formats (the labels of the binary tasks but `like`).
BINARY_COLUMNS = (
    "is_click", "long_view", "is_follow", "is_comment", "is_forward", "is_profile_enter",
)  # fmt: skip
LOG_FEATURES = ("user_id", "video_id", "hour", "weekday")
# Log rows parsed at a time: bounds the memory held as strings.
CHUNK_ROWS = 100_000


def _parse_tasks(tasks):
    names = parse_task_names(tasks, TASKS)
    return [Task(name, "regression" if name in REGRESSION_TASKS else "binary") for name in names]


def _find_files(data_dir, stems):
    """Every `<stem>.csv[.gz]` in `data_dir`, sorted; a file both plain and gzip is an error."""
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: not a directory.")
    found = set()
    for stem in stems:
        for suffix in (".csv", ".csv.gz"):
            found.update(glob.glob(os.path.join(glob.escape(data_dir), stem + suffix)))
    twins = sorted(path for path in found if path + ".gz" in found)
    if twins:
        raise DataError(
            f"{twins[0]} and {twins[0]}.gz both exist: keep one, or every row would be read twice."
        )
    return sorted(found)


def _missing_files_error(data_dir, stems, what):
    return DataError(
        f"{data_dir}: no KuaiRand {what} found. Looked for "
        + ", ".join(f"{stem}.csv[.gz]" for stem in stems)
        + "."
    )


def _check_header(path, names, formats):
    """The name of the format in `formats` whose columns `names` are, or a DataError."""
    seen = set()
    for name in names:
        if name in seen:
            raise DataError(f"{path}, line 1: column {name!r} appears twice in the header.")
        seen.add(name)
    for format_name, columns in formats.items():
        if seen == set(columns):
            return format_name
    # Name the problem against the format the header is closest to.
    closest = max(formats, key=lambda f: len(seen & set(formats[f])))
    unexpected = [name for name in names if name not in formats[closest]]
    if unexpected:
        problem = f"unexpected column {unexpected[0]!r}"
    else:
        missing = [c for c in formats[closest] if c not in seen]
        problem = f"missing column {missing[0]!r}"
    expected = "; or ".join(f"{f} ({', '.join(columns)})" for f, columns in formats.items())
    raise DataError(f"{path}, line 1: {problem}. Expected the columns of {expected}.")


def read_header(path, formats):
    """`(format_name, names, delimiter)` of a KuaiRand file's header line.

    The delimiter is a tab if the header has one, else a comma; the names
    must be the columns of one of `formats` (see `_check_header`).
    """
    try:
        with open_text(path) as f:
            header = f.readline().lstrip("\ufeff").rstrip("\r\n")
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be read as text ({error}).") from error
    delimiter = "\t" if "\t" in header else ","
    names = [name.strip() for name in next(csv.reader([header], delimiter=delimiter))]
    return _check_header(path, names, formats), names, delimiter


def table_chunks(path, formats, wanted, convert, max_rows=None):
    """Reads the columns `wanted` of a delimited file with a header, a chunk at a time.

    The delimiter is a tab if the header has one, else a comma. Every row
    must have as many fields as the header; blank lines are skipped. Rows
    are converted in chunks of `CHUNK_ROWS`, so a large log never sits in
    memory as strings, and a caller that drops each chunk holds one at most.

    Args:
        path: the file, plain or gzip.
        formats: dict from format name to its columns (see `_check_header`).
        wanted: the column names to keep (those the file's format lacks are skipped).
        convert: `convert(columns, line_numbers)` turns one chunk (a dict from
            column name to a tuple of strings, and the rows' 1-based line
            numbers) into a dict of numpy arrays; it raises `DataError` for
            a bad value.
        max_rows: stop after this many rows, or `None`.

    Yields:
        `(format_name, columns, line_numbers)` per chunk: the header's
        format, the chunk's converted columns and the line number of every row.

    Raises:
        DataError: the file cannot be read, its header is not one of
            `formats`, a row has the wrong number of fields, or it has no
            data rows.
    """
    format_name, names, delimiter = read_header(path, formats)
    wanted = [name for name in wanted if name in names]
    pick = operator.itemgetter(*[names.index(name) for name in wanted])
    num_fields = len(names)
    rows, lines, num_rows = [], [], 0

    def chunk():
        line_numbers = np.asarray(lines, np.int64)
        columns = convert(dict(zip(wanted, zip(*rows))), line_numbers)
        rows.clear()
        lines.clear()
        return format_name, columns, line_numbers

    try:
        with open_text(path) as f:
            f.readline()  # the header, checked above
            reader = csv.reader(f, delimiter=delimiter)
            for fields in reader:
                if num_rows == max_rows:
                    break
                if len(fields) != num_fields:
                    if not fields:
                        continue  # a blank line
                    raise DataError(
                        f"{path}, line {reader.line_num + 1}: expected {num_fields} fields "
                        f"separated by {delimiter!r}, found {len(fields)}."
                    )
                rows.append(pick(fields))
                lines.append(reader.line_num + 1)
                num_rows += 1
                if len(rows) == CHUNK_ROWS:
                    yield chunk()
            if rows:
                yield chunk()
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: cannot be read as text ({error}).") from error
    if num_rows == 0:
        raise DataError(f"{path}: the file has no data rows.")


def _concatenated(chunks):
    """`(format_name, columns, line_numbers)` of every row of `table_chunks`' chunks."""
    chunks = list(chunks)
    columns = {name: np.concatenate([c[name] for _, c, _ in chunks]) for name in chunks[0][1]}
    return chunks[0][0], columns, np.concatenate([lines for _, _, lines in chunks])


def _parse_ints(values, line_numbers, path, column):
    """Strings to int64; names the file, line and value of the first that is not an integer."""
    try:
        return np.fromiter(map(int, values), np.int64, len(values))
    except (ValueError, OverflowError):
        pass
    for value, line_number in zip(values, line_numbers):
        try:
            np.int64(int(value))
        except (ValueError, OverflowError):
            raise DataError(
                f"{path}, line {line_number}: column {column!r} expects an integer, "
                f"found {value!r}."
            ) from None
    raise AssertionError(f"{path}: column {column!r} failed to parse but no value is bad")


def _check_binary(values, line_numbers, path, column):
    bad = (values != 0) & (values != 1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}, line {line_numbers[row]}: column {column!r} expects 0 or 1, "
            f"found {int(values[row])}."
        )


def log_chunks(path, max_rows=None):
    """A log file as `table_chunks` of int64 columns: ids, time, labels, play and duration.

    Every value is checked as it is read: integers, 0/1 labels, HHMM times.
    """
    wanted = ("user_id", "video_id", "date", "hourmin", "play_time_ms", "duration_ms")
    wanted += BINARY_COLUMNS + ("is_like", "is_hate", "label")

    def convert(raw, line_numbers):
        columns = {name: _parse_ints(raw[name], line_numbers, path, name) for name in raw}
        for name in BINARY_COLUMNS + ("is_like", "is_hate", "label"):
            if name in columns:
                _check_binary(columns[name], line_numbers, path, name)
        hourmin = columns["hourmin"]
        bad = (hourmin < 0) | (hourmin > 2359) | (hourmin % 100 > 59)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}, line {line_numbers[row]}: column 'hourmin' expects HHMM (0 to 2359), "
                f"found {int(hourmin[row])}."
            )
        return columns

    return table_chunks(path, LOG_FORMATS, wanted, convert, max_rows)


def _read_log(path, max_rows):
    """One log file: its format, int64 columns and line numbers."""
    return _concatenated(log_chunks(path, max_rows))


def weekday(date):
    """Weekday (Monday = 0) of a YYYYMMDD integer; ValueError if it is no date."""
    return datetime.date(date // 10000, date // 100 % 100, date % 100).weekday()


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


def read_users(path):
    """The user table: sorted user ids and each feature's values in the same order."""
    wanted = ("user_id",) + STRING_USER_FEATURES + INT_USER_FEATURES

    def convert(raw, line_numbers):
        columns = {"user_id": _parse_ints(raw["user_id"], line_numbers, path, "user_id")}
        for name in STRING_USER_FEATURES:
            columns[name] = np.asarray(raw[name], dtype=object)
        for name in INT_USER_FEATURES:
            columns[name] = _parse_user_codes(raw[name], line_numbers, path, name)
        return columns

    user_table = table_chunks(path, {"user table": USER_COLUMNS}, wanted, convert)
    _, features, line_numbers = _concatenated(user_table)
    user_ids = features.pop("user_id")
    order = np.argsort(user_ids, kind="stable")
    user_ids, line_numbers = user_ids[order], line_numbers[order]
    repeated = np.flatnonzero(user_ids[1:] == user_ids[:-1])
    if len(repeated):
        row = int(repeated[0]) + 1
        raise DataError(
            f"{path}, line {line_numbers[row]}: user_id {int(user_ids[row])} appears twice "
            f"(first on line {line_numbers[row - 1]})."
        )
    return user_ids, {name: values[order] for name, values in features.items()}


def _parse_user_codes(values, line_numbers, path, column):
    """An integer user column: "4" and "4.0" are 4, an empty field is `MISSING_CODE`."""
    # A few distinct values per column: parse those, not every cell.
    unique, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    codes = np.empty(len(unique), np.int64)
    for i, value in enumerate(unique.tolist()):
        try:
            number = float(value) if value.strip() else float(MISSING_CODE)
            if number != int(number):
                raise ValueError(value)
        except (ValueError, OverflowError):
            row = int(np.flatnonzero(inverse == i)[0])
            raise DataError(
                f"{path}, line {line_numbers[row]}: column {column!r} expects an integer "
                f"(or nothing), found {value!r}."
            ) from None
        codes[i] = int(number)
    return codes[inverse]


def _check_arguments(validation_days, test_days, max_rows=None):
    """ValueError for split lengths below 1 or a `max_rows` that is not a positive integer."""
    for name, value in (("validation_days", validation_days), ("test_days", test_days)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"Expected {name} >= 1. Received: {name}={value!r}")
    if max_rows is not None and (not isinstance(max_rows, (int, np.integer)) or max_rows < 1):
        raise ValueError(f"Expected max_rows >= 1 or None. Received: max_rows={max_rows!r}")


def find_data_files(data_dir):
    """`(log_paths, user_path)` in a KuaiRand folder, or a DataError saying what is missing."""
    log_paths = _find_files(data_dir, LOG_STEMS)
    if not log_paths:
        raise _missing_files_error(data_dir, LOG_STEMS, "log")
    user_paths = _find_files(data_dir, USER_STEMS)
    if not user_paths:
        raise _missing_files_error(data_dir, USER_STEMS, "user table")
    if len(user_paths) > 1:
        raise DataError(
            f"{data_dir}: several user tables ({', '.join(map(os.path.basename, user_paths))}); "
            "keep the one that goes with the logs."
        )
    return log_paths, user_paths[0]


def split_dates(dates, validation_days, test_days, data_dir):
    """Split name -> its dates, from the sorted distinct `dates`.

    The last `test_days` dates are test, the `validation_days` before them
    validation, the rest training; too few dates is a DataError.
    """
    dates = np.unique(dates)
    if len(dates) < validation_days + test_days + 1:
        raise DataError(
            f"{data_dir}: the logs hold {len(dates)} distinct dates ({dates[0]} to {dates[-1]}); "
            f"validation_days={validation_days} and test_days={test_days} need at least "
            f"{validation_days + test_days + 1} (one or more for training)."
        )
    return {
        "train": dates[: -(validation_days + test_days)],
        "validation": dates[-(validation_days + test_days) : -test_days],
        "test": dates[-test_days:],
    }


def feature_spec(user_feature_names, embedding_dim):
    """The features: the log's (`LOG_FEATURES`), then the user table's in `USER_COLUMNS` order."""
    features = [
        CategoricalFeature(name, dtype="int64", embedding_dim=embedding_dim)
        for name in LOG_FEATURES
    ]
    features += [
        CategoricalFeature(
            name,
            dtype="string" if name in STRING_USER_FEATURES else "int64",
            embedding_dim=embedding_dim,
        )
        for name in USER_COLUMNS
        if name in user_feature_names
    ]
    return features


def load_kuairand(
    data_dir=None,
    tasks=DEFAULT_TASKS,
    validation_days=2,
    test_days=2,
    embedding_dim=8,
    max_rows=None,
    streaming=False,
    shuffle_buffer=100_000,
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
            memory (`zoo.data.kuairand_streaming.StreamingKuaiRand`): the same
            rows, features, labels and masks, with memory bounded by the user
            table and the dates, not by the logs.
        shuffle_buffer: with `streaming`, the training lines held by the row
            shuffle.

    Returns:
        A `TabularDataset` named `"kuairand"` (a `StreamingKuaiRand` with
        `streaming`), with `user_feature="user_id"` (GAUC) and `settings`
        recording the arguments, the files read and each split's first and
        last date.

    Raises:
        ValueError: an unknown task name, or split lengths below 1.
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
    _check_arguments(validation_days, test_days, max_rows)
    data_dir = data_dir or default_data_dir(NAME)
    if streaming:
        if max_rows is not None:
            raise ValueError(
                "max_rows reads the first rows into memory; it does not go with streaming=True."
            )
        from zoo.data.kuairand_streaming import StreamingKuaiRand

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
        format_name, columns, line_numbers = _read_log(path, remaining)
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
        features=feature_spec(user_features, embedding_dim),
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
            "log_format": format_name,
            "log_files": [os.path.basename(path) for path in paths_read],
            "user_file": os.path.basename(user_path),
            "log_rows": int(len(line_numbers)),
            "date_ranges": ranges,
        },
        summary=summary,
        user_feature="user_id",
    )
