"""KuaiRand's files: where they are found and their checked, chunked readers.

Both readers find the files, check the headers and parse the user table and
the log columns with these functions (`loader.load_kuairand` all at once,
`streaming.StreamingKuaiRand` for the user table, the headers and the dates),
so a malformed file fails the same way in both.
"""

import csv
import glob
import operator
import os

import numpy as np

from zoo.data.base.errors import DataError
from zoo.data.formats.delimited_reader import open_text
from zoo.data.sources.kuairand.schema import (
    BINARY_COLUMNS,
    INT_USER_FEATURES,
    LOG_FORMATS,
    MISSING_CODE,
    STRING_USER_FEATURES,
    USER_COLUMNS,
)

# File stems looked for in the data folder, each as .csv or .csv.gz.
LOG_STEMS = ("processed_standard_kcore_15", "log_standard_*", "log_random_*")
USER_STEMS = ("user_features_pure", "user_features_27k", "user_features_1k")

# Log rows parsed at a time: bounds the memory held as strings.
CHUNK_ROWS = 100_000


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


def concatenated(chunks):
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


def log_chunks(path, max_rows=None, extra_columns=()):
    """A log file as `table_chunks` of int64 columns: ids, time, labels, play and duration.

    Every value is checked as it is read: integers, 0/1 labels, HHMM times.
    `extra_columns` names more integer columns to read (`time_ms` for
    behaviour histories); they are parsed only when asked for, so a reader
    that does not use them neither pays for nor fails on them.
    """
    wanted = ("user_id", "video_id", "date", "hourmin", "play_time_ms", "duration_ms")
    wanted += BINARY_COLUMNS + ("is_like", "is_hate", "label") + tuple(extra_columns)

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
    _, features, line_numbers = concatenated(user_table)
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
