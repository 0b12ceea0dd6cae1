"""The CSV readers on random rows and bytes: a correct load, or a DataError naming file and line.

Never another exception, a hang, or fewer rows than the file holds. Rows are
drawn in the published formats (a toy schema with every column kind, Ali-CCP,
AliExpress, Census-Income), some of them broken in one known way; the first
broken row's line is the one the error must name. Random bytes and damaged
gzip streams have no expected line, only the file.
"""

import contextlib
import csv
import dataclasses
import gzip
import pathlib
import re
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zoo.data import DataError, StreamingCsvDataset, load_ali_ccp, load_aliexpress
from zoo.data.base.paths import REPO_DATASETS
from zoo.data.formats.delimited_reader import parse_floats, read_columns
from zoo.data.sources.ali_ccp import loader as ali_ccp
from zoo.data.sources.aliexpress import loader as aliexpress
from zoo.data.sources.census_income import load_census_income
from zoo.data.sources.census_income import schema as census_income
from zoo.features import CategoricalFeature, NumericFeature
from zoo.tasks import Task

pytestmark = [
    # Random columns are often constant, or huge: the preprocessor says so.
    pytest.mark.filterwarnings("ignore::zoo.features.preprocessor.ConstantFeatureWarning"),
    pytest.mark.filterwarnings("ignore:.*beyond float32's range:UserWarning"),
]

# A streamed example reads its files through tf.data several times: a few
# dozen fit two cores. The in-memory reader alone is pure Python (FAST).
FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
STREAMED = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
WIDE = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))


@contextlib.contextmanager
def _folder():
    # Not pytest's tmp_path: Hypothesis runs many examples in one test call.
    with tempfile.TemporaryDirectory() as name:
        yield pathlib.Path(name)


# -- cells ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Cell:
    """A field as written (bytes), the value a reader should give, and whether it is valid."""

    text: bytes
    value: object = None
    valid: bool = True


FLOAT32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
# Plain text without the characters that end or quote a CSV field.
PLAIN = st.text(st.characters(exclude_characters=',"\n\r', exclude_categories=["Cs"]), max_size=8)


def _float_text(value):
    return st.sampled_from([repr(value), f" {value!r}", f'"{value!r}"'])


VALID = {
    "int64": st.integers(-(2**63), 2**63 - 1).map(lambda v: Cell(str(v).encode(), v)),
    "numeric": FLOAT32.flatmap(
        lambda v: _float_text(float(v)).map(lambda text: Cell(text.encode(), np.float32(v)))
    ),
    "label": st.sampled_from([("0", 0.0), ("1", 1.0), ("1.0", 1.0), ("0e0", 0.0), (" 1", 1.0)]).map(
        lambda pair: Cell(pair[0].encode(), pair[1])
    ),
    "string": PLAIN.map(lambda s: Cell(s.encode(), s))
    | st.text(st.characters(exclude_characters="\n\r", exclude_categories=["Cs"]), max_size=8).map(
        lambda s: Cell(('"' + s.replace('"', '""') + '"').encode(), s)
    ),
}
VALID["ignored"] = VALID["string"]

# Fields no reader may accept in a column of that kind.
BROKEN = {
    "int64": ["3.5", "1e3", "9223372036854775808", "-9223372036854775809", "", "abc", "1_0", "٣"],
    "numeric": ["abc", "nan", "-inf", "inf", "", "1e39", "-3.5e38", "1_0", "٣", b"2\xff5"],
    "label": ["2", "-1", "0.5", "nan", "", "yes"],
    "string": [b"\xff\xfe", b"caf\xe9", b'a"b', b'"ab', b'"a"b"'],
}


def _broken(kind):
    texts = [t if isinstance(t, bytes) else t.encode() for t in BROKEN[kind]]
    return st.sampled_from(texts).map(lambda text: Cell(text, valid=False))


# -- rows and files ------------------------------------------------------------


@st.composite
def csv_rows(draw, kinds, min_rows=1, max_rows=6):
    """Rows of a schema, each valid or broken in one way, as `(line bytes, cells or None)`."""
    rows = []
    for _ in range(draw(st.integers(min_rows, max_rows))):
        cells = [draw(VALID[kind]) for kind in kinds]
        damage = draw(st.sampled_from(["none"] * 6 + ["field", "short", "long", "blank"]))
        if damage == "field":
            candidates = [i for i, kind in enumerate(kinds) if kind in BROKEN]
            column = draw(st.sampled_from(candidates))
            cells[column] = draw(_broken(kinds[column]))
        line = b",".join(c.text for c in cells)
        if damage == "short":
            line = b",".join(c.text for c in cells[:-1])
        elif damage == "long":
            line += b",0"
        elif damage == "blank":
            line = draw(st.sampled_from([b"", b" ", b"\t"]))
        valid = damage == "none" or (damage == "field" and all(c.valid for c in cells))
        rows.append((line, cells if valid else None))
    return rows


def _write(path, header, lines, ending=b"\n", compress=False):
    data = ending.join([header.encode()] + lines) + ending
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def _first_bad_line(rows):
    """The 1-based line of the first broken row (the header is line 1), or None."""
    return next((i + 2 for i, (_, cells) in enumerate(rows) if cells is None), None)


def _damaged(blob, damage, where):
    """`blob` cut short, with a byte flipped, or with junk after it, at `where` (0..1)."""
    if damage == "truncate":
        return blob[: max(1, int(len(blob) * where))]
    if damage == "flip" and blob:
        position = int((len(blob) - 1) * where)
        return blob[:position] + bytes([blob[position] ^ 0x5A]) + blob[position + 1 :]
    if damage == "append":
        return blob + b"\x00garbage\xff"
    if damage == "cut member":
        # A second gzip member (as `cat a.gz b.gz` makes), cut short.
        return blob + gzip.compress(b"1,a,2.5,0,x\n" * 20)[: max(11, int(60 * where))]
    return blob


def _expect_error_at(error, path, line):
    message = str(error)
    assert f"{path}, line {line}:" in message, (line, message)


# -- StreamingCsvDataset: a toy schema with every column kind --------------------

TOY_COLUMNS = ("item", "word", "price", "click", "note")
TOY_KINDS = ("int64", "string", "numeric", "label", "ignored")
TOY_FEATURES = [
    CategoricalFeature("item", dtype="int64"),
    CategoricalFeature("word"),
    NumericFeature("price"),
]
VALID_ROW = b"1,a,2.5,0,x"


def _toy_dataset(folder, train_path):
    files = {"train": [train_path]}
    for split in ("validation", "test"):
        files[split] = [_write(folder / f"{split}.csv", ",".join(TOY_COLUMNS), [VALID_ROW])]
    return StreamingCsvDataset("toy", TOY_COLUMNS, TOY_FEATURES, [Task("click")], files)


def _check_toy_load(dataset, rows):
    """The whole training file, value by value, as the rows said."""
    expected = [cells for _, cells in rows]
    preprocessor = dataset.make_preprocessor()
    assert dataset.num_rows("train") == len(expected)
    assert set(preprocessor.vocabularies["word"]) <= {c[1].value for c in expected}
    labels, _, _ = dataset.label_arrays("train")
    np.testing.assert_array_equal(labels["click"], [c[3].value for c in expected])
    head = dataset.head("train", len(expected))
    assert head["item"].tolist() == [c[0].value for c in expected]
    assert head["word"].tolist() == [c[1].value for c in expected]
    np.testing.assert_array_equal(head["price"], np.array([c[2].value for c in expected]))


@STREAMED
@given(
    rows=csv_rows(TOY_KINDS),
    ending=st.sampled_from([b"\n", b"\r\n"]),
    compress=st.booleans(),
)
# Found by this test (cells "ok": a valid row, parsed by _parse_toy):
# - a byte that is not UTF-8 on line 2 failed the header check, whose text
#   reader decodes ahead, with no line named;
@example(rows=[(b"1,caf\xe9,2.5,0,x", None)], ending=b"\n", compress=False)
# - 1e39 is a finite float but not a finite float32, and "1_0" a Python float
#   but not a TensorFlow one: the Python search for the bad line found none,
#   and the error named no line;
@example(rows=[(VALID_ROW, "ok"), (b"1,a,1e39,0,x", None)], ending=b"\n", compress=False)
@example(rows=[(b"1,a,1_0,0,x", None)], ending=b"\r\n", compress=True)
# - a carriage return inside a quoted field is a line break to Python's csv
#   module, not to TextLineDataset: the bad row on line 3 was named line 4.
@example(rows=[(b'1,"a\rb",2.5,0,x', "ok"), (b"1,a,2.5,2,x", None)], ending=b"\n", compress=False)
def test_toy_rows_load_or_name_the_first_bad_line(rows, ending, compress):
    rows = [(line, _parse_toy(line) if cells == "ok" else cells) for line, cells in rows]
    with _folder() as folder:
        path = _write(
            folder / "train.csv", ",".join(TOY_COLUMNS), [r[0] for r in rows], ending, compress
        )
        dataset = _toy_dataset(folder, path)
        line = _first_bad_line(rows)
        if line is None:
            _check_toy_load(dataset, rows)
            return
        with pytest.raises(DataError) as caught:
            dataset.make_preprocessor()
        _expect_error_at(caught.value, path, line)
        with pytest.raises(DataError) as caught:
            dataset.label_arrays("train")
        _expect_error_at(caught.value, path, line)


def _parse_toy(line):
    """The cells of a valid hand-written toy row (quoted fields unquoted, carriage returns gone)."""
    fields = next(csv.reader([line.replace(b"\r", b"").decode()]))
    kinds = [int, str, np.float32, float, str]
    return [Cell(f.encode(), kind(f)) for kind, f in zip(kinds, fields)]


@STREAMED
@given(
    junk=st.binary(max_size=120),
    compress=st.booleans(),
    damage=st.sampled_from(["none", "truncate", "flip", "append", "cut member"]),
    where=st.floats(0, 1),
)
@example(junk=b"1,a,2.5,0,x\n" * 40, compress=True, damage="truncate", where=0.5)
@example(junk=b"1,a,2.5,0,x\n" * 40, compress=True, damage="flip", where=0.5)
# Found by this test: TextLineDataset ends quietly where a gzip stream is cut;
# here it read the 40 rows of the first member and the dataset had 40 rows.
@example(junk=b"1,a,2.5,0,x\n" * 40, compress=True, damage="cut member", where=0.5)
# Found by this test: decode_csv quotes the field it cannot parse in its error;
# "\xff" is not UTF-8, and Python raised UnicodeDecodeError decoding the error.
@example(junk=b"1,a,2.5,0,x\n\xff,b,1,1,y", compress=False, damage="none", where=0.0)
def test_random_bytes_load_whole_or_fail_with_the_file_named(junk, compress, damage, where):
    data = ",".join(TOY_COLUMNS).encode() + b"\n" + junk
    blob = _damaged(gzip.compress(data) if compress else data, damage, where)
    with _folder() as folder:
        path = folder / "train.csv"
        path.write_bytes(blob)
        try:
            dataset = _toy_dataset(folder, path)
            dataset.make_preprocessor()
            labels, _, _ = dataset.label_arrays("train")
        except DataError as error:
            assert str(path) in str(error)
            return
    # Loaded: then the file was whole, and every line after the header a row.
    text = gzip.decompress(blob) if compress else blob  # raises if it was not whole
    lines = text.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    assert len(labels["click"]) == len(lines) - 1


# -- the published formats read through StreamingCsvDataset -----------------------


ALI_CCP_KINDS = (
    ("label",) * 2
    + ("int64",) * len(ali_ccp.SPARSE_COLUMNS)
    + ("numeric",) * len(ali_ccp.DENSE_COLUMNS)
)
ALIEXPRESS_KINDS = (
    ("ignored",)
    + ("int64",) * len(aliexpress.CATEGORICAL_COLUMNS)
    + ("numeric",) * len(aliexpress.NUMERICAL_COLUMNS)
    + ("label",) * 2
)


def _valid_line(kinds):
    return b",".join(b"1" if kind == "label" else b"0" for kind in kinds)


@WIDE
@given(data=st.data(), loader=st.sampled_from(["ali-ccp", "aliexpress"]))
def test_ali_ccp_and_aliexpress_files_load_or_name_the_first_bad_line(data, loader):
    if loader == "ali-ccp":
        kinds, columns = ALI_CCP_KINDS, ali_ccp.COLUMNS
        names = {
            "train": "ali_ccp_train.csv",
            "validation": "ali_ccp_val.csv",
            "test": "ali_ccp_test.csv",
        }
        load = load_ali_ccp
    else:
        kinds, columns = ALIEXPRESS_KINDS, aliexpress.COLUMNS
        names = {"train": "train.csv", "test": "test.csv"}
        load = load_aliexpress
    rows = data.draw(csv_rows(kinds, max_rows=4), label="rows")
    with _folder() as folder:
        for split, name in names.items():
            if split != "train":
                _write(folder / name, ",".join(columns), [_valid_line(kinds)] * 2)
        path = _write(folder / names["train"], ",".join(columns), [r[0] for r in rows])
        dataset = load(str(folder))
        line = _first_bad_line(rows)
        if line is not None:
            with pytest.raises(DataError) as caught:
                dataset.make_preprocessor()
            _expect_error_at(caught.value, path, line)
            return
        # AliExpress holds out a share of the rows: of four, either split may get none.
        splits = ("train", "validation") if loader == "aliexpress" else ("train",)
        counts = []
        for split in splits:
            try:
                counts.append(dataset.num_rows(split))
            except DataError as error:
                assert loader == "aliexpress" and "has no data rows" in str(error)
                counts.append(0)
        assert sum(counts) == len(rows)
        label_names = [c for c, kind in zip(columns, kinds) if kind == "label"]
        label_positions = [i for i, kind in enumerate(kinds) if kind == "label"]
        if loader == "ali-ccp":
            labels, _, _ = dataset.label_arrays("train")
            for name, position in zip(label_names, label_positions):
                np.testing.assert_array_equal(labels[name], [r[1][position].value for r in rows])


# -- Census-Income: the in-memory reader and the streamed one agree ---------------

CENSUS_KINDS = tuple(
    "income" if name == "income_50k" else "numeric" if continuous else "string"
    for name, continuous in census_income.COLUMNS
)
# Categorical values: anything but the ", " separator and line ends. Carriage
# returns and odd whitespace are in: both readers must treat them alike.
CENSUS_TEXT = st.text(
    st.characters(exclude_characters="\n", exclude_categories=["Cs"])
    | st.sampled_from("\r\x1c\xa0 "),
    max_size=6,
).filter(lambda s: ", " not in s.replace("\r", ""))


def _census_template(name, count):
    with gzip.open(REPO_DATASETS / "census-income" / f"{name}.gz", "rt") as f:
        return [next(f).rstrip("\n").split(", ") for _ in range(count)]


def _census_lines(name, count):
    rows = _census_template(f"census-income.{name}", count)
    return [b", ".join(f.encode() for f in row) for row in rows]


def _census_line(column, value):
    """The first training row with one field replaced."""
    fields = [f.encode() for f in _census_template("census-income.data", 1)[0]]
    fields[column] = value
    return b", ".join(fields)


@st.composite
def census_lines(draw, template):
    """Lines of a Census-Income file: real rows, some fields replaced, some rows broken."""
    lines = []
    for fields in template:
        fields = [f.encode() for f in fields]
        for _ in range(draw(st.integers(0, 3))):
            column = draw(st.integers(0, len(fields) - 1))
            kind = CENSUS_KINDS[column]
            if kind == "numeric":
                cell = draw(VALID["numeric"] | _broken("numeric"))
            elif kind == "income":
                cell = draw(
                    st.sampled_from([b"- 50000.", b"50000+."]).map(Cell)
                    | CENSUS_TEXT.map(lambda s: Cell(s.encode()))
                )
            else:
                cell = draw(CENSUS_TEXT.map(lambda s: Cell(s.encode())) | st.just(Cell(b"caf\xe9")))
            fields[column] = cell.text.lstrip(b'"').rstrip(b'"') if kind == "numeric" else cell.text
        damage = draw(st.sampled_from(["none"] * 5 + ["short", "long", "blank", "blank-ish"]))
        if damage == "short":
            fields = fields[:-1]
        elif damage == "long":
            fields.append(b"0")
        line = b", ".join(fields)
        if damage == "blank":
            line = draw(st.sampled_from([b"", b"  ", b"\t", b"\x0c", b"\r"]))
        elif damage == "blank-ish":
            # Blank to Python's str.strip(), not to TensorFlow's.
            line = draw(st.sampled_from([b"\x1c", b"\xc2\xa0", b"\xe3\x80\x80"]))
        lines.append(line)
    return lines


def _census_in_memory(folder):
    try:
        return load_census_income(str(folder), task_group=2, protocol="all-features")
    except DataError as error:
        return error


def _census_streamed(folder):
    try:
        dataset = load_census_income(
            str(folder), task_group=2, protocol="all-features", streaming=True
        )
        return {
            split: list(dataset.numpy_batches(split)) for split in ("train", "validation", "test")
        }
    except DataError as error:
        return error


@WIDE
@given(
    train=census_lines(_census_template("census-income.data", 3)),
    test=census_lines(_census_template("census-income.test", 3)),
    damage=st.sampled_from(["none"] * 3 + ["truncate", "flip", "cut member"]),
)
# A cut second gzip member: TextLineDataset reads up to the cut and stops
# without an error (see the random-bytes test); both readers must refuse it.
@example(train=_census_lines("data", 3), test=_census_lines("test", 3), damage="cut member")
# A byte that is not UTF-8 in a number: TensorFlow's error quoted it, and
# Python failed to decode the error (UnicodeDecodeError, not a DataError).
@example(train=[_census_line(0, b"2\xff5")], test=_census_lines("test", 3), damage="none")
# Python's float() takes "1_0", TensorFlow does not: the readers disagreed.
@example(train=_census_lines("data", 3), test=[_census_line(5, b"1_0")] * 2, damage="none")
def test_census_in_memory_and_streamed_readers_agree(train, test, damage):
    with _folder() as folder:
        blob = _damaged(gzip.compress(b"\n".join(train) + b"\n"), damage, 0.5)
        (folder / "census-income.data.gz").write_bytes(blob)
        (folder / "census-income.test").write_bytes(b"\n".join(test) + b"\n")
        loaded, streamed = _census_in_memory(folder), _census_streamed(folder)
    if isinstance(loaded, DataError):
        assert isinstance(streamed, DataError), (str(loaded), streamed)
        # The same file and line; in a damaged gzip file, the damage or a
        # bad line before it, whichever a reader meets first.
        where = re.match(r"(.*?)(, line \d+)?:", str(loaded))
        expected = where.group(1) if damage != "none" else where.group(0)
        assert expected in str(streamed), (str(loaded), str(streamed))
        return
    assert not isinstance(streamed, DataError), str(streamed)
    for split, batches in streamed.items():
        expected = loaded.split(split)
        if not batches:  # one row in the test file: no validation rows
            assert len(expected) == 0, split
            continue
        for name, values in expected.features.items():
            found = np.concatenate([features[name] for features, _ in batches])
            if values.dtype == object:
                found = [v.decode() for v in found.tolist()]
                assert found == values.tolist(), (split, name)
            else:
                np.testing.assert_array_equal(found, values, err_msg=f"{split} {name}")
        for name, values in expected.labels.items():
            found = np.concatenate([labels[name] for _, labels in batches])
            np.testing.assert_array_equal(found, values, err_msg=f"{split} {name}")


# -- the in-memory reader alone ----------------------------------------------------


@FAST
@given(
    junk=st.binary(max_size=200),
    compress=st.booleans(),
    damage=st.sampled_from(["none", "truncate", "flip"]),
    where=st.floats(0, 1),
)
# Found by this test: a flipped byte in a gzip stream raised zlib.error.
@example(junk=b"1,2.5\n" * 50, compress=True, damage="flip", where=0.5)
@example(junk=b"1,2.5\n" * 50, compress=True, damage="truncate", where=0.5)
def test_read_columns_reads_every_line_or_names_the_file(junk, compress, damage, where):
    blob = _damaged(gzip.compress(junk) if compress else junk, damage, where)
    with _folder() as folder:
        path = folder / "rows.csv"
        path.write_bytes(blob)
        try:
            columns, line_numbers = read_columns(str(path), 2, ",")
            prices = parse_floats(columns[1], line_numbers, str(path), "price")
        except DataError as error:
            assert str(path) in str(error)
            return
    # Loaded: every non-blank line, each price a finite float32.
    text = gzip.decompress(blob) if compress else blob
    lines = [line for line in text.split(b"\n") if line.replace(b"\r", b"").strip()]
    assert len(prices) == len(line_numbers) == len(columns[0]) == len(lines)
    assert all(np.isfinite(np.float32(p)) for p in prices)
