"""AliExpress: files in the Tianchi / torch-rechub format written here, and the shared sample."""

import pathlib

import numpy as np
import pytest

from tests.data.streaming_end_to_end import check_mmoe_trains_and_evaluates
from zoo.data import DataError, load_aliexpress, load_dataset
from zoo.data.sources.aliexpress.loader import CATEGORICAL_COLUMNS, COLUMNS, NUMERICAL_COLUMNS

SHARED_SAMPLE = pathlib.Path(__file__).resolve().parents[2].parent / "shared/data/aliexpress-sample"


def _rows(count, seed):
    rng = np.random.default_rng(seed)
    click = rng.random(count) < 0.3
    conversion = click & (rng.random(count) < 0.3)
    categorical = rng.integers(0, 7, (count, len(CATEGORICAL_COLUMNS)))
    numerical = rng.random((count, len(NUMERICAL_COLUMNS))).round(5)
    return [
        [str(1000 + i)]
        + [str(v) for v in c]
        + [repr(float(v)) for v in n]
        + [str(int(k)), str(int(v))]
        for i, (c, n, k, v) in enumerate(zip(categorical, numerical, click, conversion))
    ]


def _write(path, rows, header=COLUMNS):
    path.write_text("\n".join(",".join(r) for r in [list(header)] + rows) + "\n")
    return path


@pytest.fixture
def data_dir(tmp_path):
    """One country's folder in Tianchi's layout: train.csv (80 rows) and test.csv (30)."""
    rows = {"train": _rows(80, 0), "test": _rows(30, 1)}
    for split, split_rows in rows.items():
        _write(tmp_path / f"{split}.csv", split_rows)
    return tmp_path, rows


def test_validation_is_a_fixed_share_of_the_training_file(data_dir):
    folder, rows = data_dir
    dataset = load_aliexpress(str(folder), validation_fraction=0.2)
    assert [t.name for t in dataset.tasks] == ["click", "conversion"]
    assert len(dataset.features) == 16 + 63  # search_id is not a feature
    train, validation = dataset.num_rows("train"), dataset.num_rows("validation")
    assert train + validation == 80 and 8 <= validation <= 28
    assert dataset.num_rows("test") == 30
    clicks = sum(dataset.label_arrays(s)[0]["click"].sum() for s in ("train", "validation"))
    assert clicks == sum(int(r[-2]) for r in rows["train"])
    again = load_aliexpress(str(folder), validation_fraction=0.2)
    np.testing.assert_array_equal(
        again.head("validation", 100)["numerical_1"], dataset.head("validation", 100)["numerical_1"]
    )
    head = dataset.head("test", 3)
    assert "search_id" not in head and head["categorical_16"].dtype == np.int64
    np.testing.assert_allclose(
        head["numerical_63"], [float(r[79]) for r in rows["test"][:3]], rtol=1e-6
    )
    assert dataset.settings["validation_fraction"] == 0.2


def test_torch_rechub_names_win_over_tianchi_names(data_dir):
    folder, rows = data_dir
    _write(folder / "aliexpress_train.csv", rows["train"][:40])
    dataset = load_dataset("aliexpress", data_dir=str(folder))
    assert dataset.num_rows("train") + dataset.num_rows("validation") == 40
    assert dataset.settings["files"]["test"][0].endswith("/test.csv")


def test_a_missing_column_is_named(data_dir):
    folder, rows = data_dir
    header = [c for c in COLUMNS if c != "categorical_4"]
    _write(folder / "train.csv", [r[:4] + r[5:] for r in rows["train"]], header)
    with pytest.raises(DataError, match="train.csv: header column 5 should be 'categorical_4'"):
        load_aliexpress(str(folder))


def test_a_bad_number_names_the_file_and_line(data_dir):
    folder, rows = data_dir
    rows["train"][40][30] = "inf"
    _write(folder / "train.csv", rows["train"])
    dataset = load_aliexpress(str(folder))
    with pytest.raises(DataError, match="train.csv, line 42: column 'numerical_14' expects a fin"):
        dataset.make_preprocessor()


def test_mmoe_trains_and_evaluates_end_to_end(data_dir):
    folder, _ = data_dir
    check_mmoe_trains_and_evaluates(load_aliexpress(str(folder), embedding_dim=4), 30)


def test_the_shared_sample():
    if not SHARED_SAMPLE.is_dir():
        pytest.skip(reason=f"the shared AliExpress sample folder {SHARED_SAMPLE} is absent")
    dataset = load_aliexpress(str(SHARED_SAMPLE))
    # Rows and clicks / conversions per file, from the sample's SOURCE.md.
    train_and_validation = [dataset.label_arrays(s)[0] for s in ("train", "validation")]
    assert dataset.num_rows("train") + dataset.num_rows("validation") == 100
    assert 0 < dataset.num_rows("validation") < 25
    assert sum(labels["click"].sum() for labels in train_and_validation) == 60
    assert sum(labels["conversion"].sum() for labels in train_and_validation) == 2
    test_labels, _, _ = dataset.label_arrays("test")
    assert dataset.num_rows("test") == 20
    assert (test_labels["click"].sum(), test_labels["conversion"].sum()) == (10, 2)
