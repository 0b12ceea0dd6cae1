"""Strict reading of delimited text files (plain or gzip), with line numbers in errors."""

import gzip
import math
import os
import sys

from zoo.data.errors import DataError


def compression_type(path):
    """`"GZIP"` for a gzip file, else `""`: the `compression_type` of `tf.data` readers."""
    with open(path, "rb") as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def open_text(path, encoding="utf-8"):
    """Opens `path` for reading text, gzip-compressed or not, or raises DataError."""
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found.")
    if os.path.getsize(path) == 0:
        raise DataError(f"{path}: the file is empty.")
    if compression_type(path) == "GZIP":
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def read_columns(path, num_fields, delimiter, encoding="utf-8"):
    """Reads a header-less delimited file into `num_fields` lists of strings.

    Every non-blank line must have exactly `num_fields` fields; the first
    line that does not is reported with its 1-based line number, before any
    training starts. `encoding` is the text encoding (MovieLens writes latin-1).

    Returns:
        `(columns, line_numbers)`: a list of `num_fields` lists of strings,
        and the 1-based line number of every row, for later error messages.
    """
    columns = [[] for _ in range(num_fields)]
    line_numbers = []
    try:
        with open_text(path, encoding) as f:
            for line_number, line in enumerate(f, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                fields = line.split(delimiter)
                if len(fields) != num_fields:
                    raise DataError(
                        f"{path}, line {line_number}: expected {num_fields} fields separated "
                        f"by {delimiter!r}, found {len(fields)}."
                    )
                # Interned: categorical values repeat on most rows, and one
                # shared string per distinct value instead of one per cell cuts
                # the memory of a parsed Census file from ~500 MB to ~100 MB.
                for column, value in zip(columns, fields):
                    column.append(sys.intern(value))
                line_numbers.append(line_number)
    except (OSError, EOFError, UnicodeDecodeError) as error:
        # Truncated gzip streams and binary junk surface here.
        raise DataError(f"{path}: cannot be read as text ({error}).") from error
    if not line_numbers:
        raise DataError(f"{path}: the file has no data rows.")
    return columns, line_numbers


def parse_floats(values, line_numbers, path, column_name):
    """Converts strings to floats; names the file, line and value that is not a finite number."""
    out = []
    for value, line_number in zip(values, line_numbers):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise DataError(
                f"{path}, line {line_number}: column {column_name!r} expects a finite number, "
                f"found {value!r}."
            )
        out.append(number)
    return out
