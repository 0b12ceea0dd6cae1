"""Census-Income from the files shipped in datasets/, and bad copies of them."""

import gzip
import os

import numpy as np
import pytest

from zoo.data import DataError, load_census_income, load_dataset
from zoo.data.base.paths import REPO_DATASETS
from zoo.data.sources.census_income.schema import COLUMN_NAMES, feature_columns

SHIPPED = REPO_DATASETS / "census-income"


@pytest.fixture(scope="module")
def census():
    return load_census_income()


def test_split_sizes_and_label_rates(census):
    assert (len(census.train), len(census.validation), len(census.test)) == (199523, 49881, 49881)
    # Rates from the dataset card (SOURCE.md): 6.2% income > 50K, 86,485 never married.
    assert census.train.labels["income"].sum() == 12382
    assert census.train.labels["never_married"].sum() == 86485
    rest = census.validation.labels["income"].sum() + census.test.labels["income"].sum()
    assert rest == 6186


def test_validation_and_test_halves_are_fixed_by_the_seed(census):
    again = load_census_income(split_seed=1)
    np.testing.assert_array_equal(census.test.features["age"], again.test.features["age"])
    other = load_census_income(split_seed=2)
    assert not np.array_equal(census.test.features["age"], other.test.features["age"])


def test_protocols_exclude_the_right_columns():
    paper_1 = feature_columns(1, "paper")
    assert paper_1 == feature_columns(2, "paper")
    assert len(paper_1) == 38
    for label_or_weight in ("income_50k", "marital_stat", "education", "instance_weight"):
        assert label_or_weight not in paper_1
    all_1 = feature_columns(1, "all-features")
    assert "education" in all_1 and "income_50k" not in all_1 and len(all_1) == 39
    all_2 = feature_columns(2, "all-features")
    assert "income_50k" in all_2 and "education" not in all_2 and len(all_2) == 39


def test_group_2_labels(census):
    group_2 = load_census_income(task_group=2)
    assert [t.name for t in group_2.tasks] == ["college_or_above", "never_married"]
    rate = group_2.train.labels["college_or_above"].mean()
    assert 0.33 < rate < 0.34  # 67,003 of 199,523 reached college


def test_feature_kinds(census):
    kinds = {f.name: f.kind for f in census.features}
    assert kinds["age"] == "numeric" and kinds["det_ind_code"] == "categorical"
    assert census.train.features["age"].dtype == np.float32
    # Raw strings are kept as published, leading spaces removed by the ", " separator.
    assert "Never married" not in set(census.train.features["class_worker"])
    assert "Private" in set(census.train.features["class_worker"])


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="census-income"):
        load_dataset("census")
    with pytest.raises(ValueError, match="protocol"):
        load_census_income(protocol="everything")
    with pytest.raises(ValueError, match="task_group"):
        load_census_income(task_group=3)


# -- malformed copies of the real files ---------------------------------------


def _real_lines(name, count):
    with gzip.open(SHIPPED / f"{name}.gz", "rt") as f:
        return [next(f) for _ in range(count)]


def _write_copy(tmp_path, train_lines, test_lines=None):
    (tmp_path / "census-income.data").write_text("".join(train_lines))
    (tmp_path / "census-income.test").write_text(
        "".join(test_lines if test_lines is not None else _real_lines("census-income.test", 20))
    )
    return str(tmp_path)


def test_plain_text_copy_loads(tmp_path):
    data_dir = _write_copy(tmp_path, _real_lines("census-income.data", 30))
    dataset = load_census_income(data_dir=data_dir)
    assert len(dataset.train) == 30 and len(dataset.validation) == 10


def test_missing_file_is_named(tmp_path):
    (tmp_path / "census-income.data").write_text("".join(_real_lines("census-income.data", 5)))
    with pytest.raises(DataError, match="census-income.test.*not found"):
        load_census_income(data_dir=str(tmp_path))
    with pytest.raises(DataError, match="not found"):
        load_census_income(data_dir=str(tmp_path / "nowhere"))


def test_wrong_field_count_reports_the_line(tmp_path):
    lines = _real_lines("census-income.data", 10)
    lines[6] = ", ".join(lines[6].split(", ")[:-2]) + "\n"  # line 7 loses two fields
    data_dir = _write_copy(tmp_path, lines)
    with pytest.raises(
        DataError, match=r"census-income.data, line 7: expected 42 fields.*found 40"
    ):
        load_census_income(data_dir=data_dir)


@pytest.mark.parametrize(
    "row, column, value",
    [(3, "age", "forty"), (2, "capital_gains", "nan"), (5, "weeks_worked", "inf")],
)
def test_bad_number_reports_line_column_and_value(tmp_path, row, column, value):
    lines = _real_lines("census-income.data", 10)
    fields = lines[row].split(", ")
    fields[COLUMN_NAMES.index(column)] = value
    lines[row] = ", ".join(fields)
    data_dir = _write_copy(tmp_path, lines)
    expected = rf"line {row + 1}: column '{column}' expects a finite number, found '{value}'"
    with pytest.raises(DataError, match=expected):
        load_census_income(data_dir=data_dir)


def test_unexpected_label_value_is_refused(tmp_path):
    lines = _real_lines("census-income.data", 10)
    lines[8] = lines[8].replace("- 50000.", "maybe")
    data_dir = _write_copy(tmp_path, lines)
    with pytest.raises(DataError, match=r"line 9: column 'income_50k'.*'maybe'"):
        load_census_income(data_dir=data_dir)


def test_empty_and_blank_files_are_refused(tmp_path):
    data_dir = _write_copy(tmp_path, [])
    with pytest.raises(DataError, match="census-income.data: the file is empty"):
        load_census_income(data_dir=data_dir)
    data_dir = _write_copy(tmp_path, ["\n", "\n"])
    with pytest.raises(DataError, match="no data rows"):
        load_census_income(data_dir=data_dir)


def test_truncated_gzip_is_refused(tmp_path):
    payload = gzip.compress("".join(_real_lines("census-income.data", 50)).encode())
    (tmp_path / "census-income.data.gz").write_bytes(payload[: len(payload) // 2])
    (tmp_path / "census-income.test").write_text("".join(_real_lines("census-income.test", 5)))
    with pytest.raises(DataError, match="cannot be read"):
        load_census_income(data_dir=str(tmp_path))


def test_zoo_data_dir_environment_variable(tmp_path, monkeypatch):
    _write_copy(tmp_path, _real_lines("census-income.data", 12))
    root = tmp_path.parent / (tmp_path.name + "-root")
    os.makedirs(root)
    os.symlink(tmp_path, root / "census-income")
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    assert len(load_census_income().train) == 12
