"""Census-Income streamed from the UCI files gives what the in-memory loader gives."""

import gzip
import inspect
import itertools

import pytest

from zoo.data import DataError, load_census_income, load_dataset
from zoo.data.base.paths import REPO_DATASETS
from zoo.data.sources.census_income.streaming import StreamingCensusIncome

from .streaming_end_to_end import assert_streams_as_loaded, check_mmoe_trains_and_evaluates

SHIPPED = REPO_DATASETS / "census-income"


def _uci_copy(tmp_path, train_rows=1500, test_rows=601, edit=None):
    """The first rows of the shipped files: train gzipped, test plain with blank lines.

    `edit(split, lines)` may change the lines (without their line ends) before writing.
    """
    lines = {}
    for split, name, count in (("train", "data", train_rows), ("test", "test", test_rows)):
        with gzip.open(SHIPPED / f"census-income.{name}.gz", "rt") as f:
            lines[split] = [line.rstrip("\n") for line in itertools.islice(f, count)]
    lines["test"][10:10] = ["", "   "]
    if edit:
        edit(lines)
    with gzip.open(tmp_path / "census-income.data.gz", "wt") as f:
        f.write("\n".join(lines["train"]) + "\n")
    (tmp_path / "census-income.test").write_text("\n".join(lines["test"]) + "\n")
    return str(tmp_path)


@pytest.mark.slow
def test_the_shipped_files_stream_as_they_load():
    streamed = load_census_income(streaming=True)
    assert isinstance(streamed, StreamingCensusIncome)
    assert_streams_as_loaded(load_census_income(), streamed, batch_size=65536)
    assert streamed.summary.startswith("199,523 training rows (income 6.21%")


@pytest.mark.parametrize("task_group, protocol", [(1, "all-features"), (2, "paper")])
def test_task_groups_and_protocols_on_a_small_copy(tmp_path, task_group, protocol):
    data_dir = _uci_copy(tmp_path)
    options = dict(data_dir=data_dir, task_group=task_group, protocol=protocol, split_seed=7)
    streamed = load_census_income(streaming=True, **options)
    assert_streams_as_loaded(load_census_income(**options), streamed)
    # The test file's 601 rows (the blank lines are not rows) halved as in memory.
    assert streamed.num_rows("validation") == 300 and streamed.num_rows("test") == 301


def test_settings_reload_the_streamed_dataset(tmp_path):
    streamed = load_census_income(data_dir=_uci_copy(tmp_path), task_group=2, streaming=True)
    assert streamed.settings["streaming"] is True and streamed.settings["task_group"] == 2
    accepted = inspect.signature(load_census_income).parameters
    settings = {k: v for k, v in streamed.settings.items() if k in accepted}
    again = load_dataset("census-income", **settings)
    assert isinstance(again, StreamingCensusIncome)
    assert again.task_names == ["college_or_above", "never_married"]


def _set(split, row, column, value):
    def edit(lines):
        fields = lines[split][row].split(", ")
        if column is None:
            fields.append(value)
        else:
            fields[column] = value
        lines[split][row] = ", ".join(fields)

    return edit


@pytest.mark.parametrize(
    "split, row, column, value, message",
    [
        ("train", 4, 0, "abc", r"data.gz, line 5: column 'age' expects a finite number"),
        ("train", 7, 18, "nan", r"line 8: column 'stock_dividends' expects a finite number"),
        ("train", 3, None, "7", r"data.gz, line 4: expected 42 fields separated by ', ', found 43"),
        ("test", 20, 41, "50000.", r"test, line 21: column 'income_50k' expects one of"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, split, row, column, value, message):
    data_dir = _uci_copy(tmp_path, edit=_set(split, row, column, value))
    dataset = load_census_income(data_dir=data_dir, streaming=True)
    with pytest.raises(DataError, match=message):
        dataset.make_preprocessor()
        dataset.num_rows("validation")
        dataset.num_rows("test")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match=r"census-income.data\[.gz\]: file not found"):
        load_census_income(data_dir=str(tmp_path), streaming=True)
    data_dir = _uci_copy(tmp_path)
    (tmp_path / "census-income.test").write_text("\n\n")
    with pytest.raises(DataError, match=r"census-income.test: the file has no data rows"):
        load_census_income(data_dir=data_dir, streaming=True)
    with pytest.raises(ValueError, match="shuffle_buffer >= 1"):
        load_census_income(data_dir=data_dir, streaming=True, shuffle_buffer=0)


@pytest.mark.slow
def test_mmoe_trains_on_the_streamed_files(tmp_path):
    dataset = load_census_income(data_dir=_uci_copy(tmp_path), streaming=True)
    check_mmoe_trains_and_evaluates(dataset, 301)
