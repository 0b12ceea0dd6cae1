"""Strict reading of delimited text files (plain or gzip), with line numbers in errors.

Lines are read as `tf.data.TextLineDataset` reads them (split at "\\n", every
"\\r" dropped), so that a file's in-memory and streamed readers see the same
lines and count them alike.
"""

import contextlib
import gzip
import os
import re
import sys
import zlib

from zoo.data.base.errors import DataError

# What a damaged or cut gzip stream, or an unreadable file, raises in Python.
READ_ERRORS = (OSError, EOFError, zlib.error)
# The numbers every reader accepts: decimal, with optional sign, exponent and
# spaces or tabs around. Python's float() also takes "1_0" and non-ASCII
# digits, TensorFlow's parsers hex floats; neither is in this grammar, so the
# in-memory and streamed readers of one file accept the same fields.
NUMBER_PATTERN = r"[ \t]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t]*"
_NUMBER = re.compile(NUMBER_PATTERN)


def compression_type(path):
    """`"GZIP"` for a gzip file, else `""`: the `compression_type` of `tf.data` readers."""
    with open(path, "rb") as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def _check_exists(path):
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found.")
    if os.path.getsize(path) == 0:
        raise DataError(f"{path}: the file is empty.")


def open_text(path, encoding="utf-8"):
    """Opens `path` for reading text, gzip-compressed or not, or raises DataError."""
    _check_exists(path)
    if compression_type(path) == "GZIP":
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def open_binary(path):
    """Opens `path` for reading bytes, gzip-compressed or not, or raises DataError."""
    _check_exists(path)
    if compression_type(path) == "GZIP":
        return gzip.open(path, "rb")
    return open(path, "rb")


@contextlib.contextmanager
def numbered_lines(path):
    """`(line number, bytes)` of each line as `tf.data.TextLineDataset` gives it.

    Line numbers are 1-based. Reading errors (a cut or damaged gzip stream,
    an unreadable file) are DataErrors naming the file.
    """

    def lines(f):
        try:
            for number, line in enumerate(f, start=1):
                yield number, line.rstrip(b"\n").replace(b"\r", b"")
        except READ_ERRORS as error:
            raise DataError(f"{path}: cannot be read ({error}).") from error

    try:
        f = open_binary(path)
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error}).") from error
    with f:
        yield lines(f)


def check_gzip_stream(path):
    """Reads a gzip file to its end; DataError if the stream is damaged or cut short.

    `tf.data.TextLineDataset` stops without a word where a gzip stream is cut
    short: a pass would silently miss the rest of the rows. Plain files pass.
    """
    if compression_type(path) != "GZIP":
        return
    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 20):
                pass
    except READ_ERRORS as error:
        raise DataError(
            f"{path}: the gzip stream is damaged or cut short ({error}); rows after the "
            "damage cannot be read."
        ) from error


def decode_line(line, path, line_number, encoding="utf-8"):
    """A line's bytes as text, or a DataError naming the file and line."""
    try:
        return line.decode(encoding)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}, line {line_number}: not {encoding} text ({error}).") from None


def read_columns(path, num_fields, delimiter, encoding="utf-8"):
    """Reads a header-less delimited file into `num_fields` lists of strings.

    Every non-blank line must have exactly `num_fields` fields; the first
    line that does not is reported with its 1-based line number, before any
    training starts. Blank means ASCII whitespace only, as `tf.strings.strip`
    has it. `encoding` is the text encoding (MovieLens writes latin-1).

    Returns:
        `(columns, line_numbers)`: a list of `num_fields` lists of strings,
        and the 1-based line number of every row, for later error messages.
    """
    columns = [[] for _ in range(num_fields)]
    line_numbers = []
    with numbered_lines(path) as lines:
        for line_number, line in lines:
            if not line.strip():
                continue
            fields = decode_line(line, path, line_number, encoding).split(delimiter)
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
    if not line_numbers:
        raise DataError(f"{path}: the file has no data rows.")
    return columns, line_numbers


def parse_float32(text):
    """The value of a field in NUMBER_PATTERN that is a finite float32, else None."""
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    # Values are kept as float32: 1e39 is a finite float but an infinite float32.
    return number if abs(number) < FLOAT32_OVERFLOW else None


# The smallest magnitude that rounds to an infinite float32: halfway between
# the largest float32, 2**128 - 2**104, and 2**128, where ties go to infinity.
FLOAT32_OVERFLOW = 2.0**128 - 2.0**103


def parse_floats(values, line_numbers, path, column_name):
    """Converts strings to floats; names the file, line and value that is not a finite float32."""
    out = []
    parsed = {}  # the values of a column repeat: ages, zeros
    for value, line_number in zip(values, line_numbers):
        if value not in parsed:
            parsed[value] = parse_float32(value)
        number = parsed[value]
        if number is None:
            raise DataError(
                f"{path}, line {line_number}: column {column_name!r} expects a finite number, "
                f"found {value!r}."
            )
        out.append(number)
    return out
