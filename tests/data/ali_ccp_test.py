"""Ali-CCP: files in the torch-rechub preprocessed format written here, and the shared sample."""

import gzip
import inspect
import pathlib

import numpy as np
import pytest

from tests.data.streaming_end_to_end import check_mmoe_trains_and_evaluates
from zoo.data import DataError, load_ali_ccp, load_dataset
from zoo.data.sources.ali_ccp.loader import COLUMNS, DENSE_COLUMNS, SPARSE_COLUMNS

SHARED_SAMPLE = pathlib.Path(__file__).resolve().parents[2].parent / "shared/data/ali-ccp-sample"
SIZES = {"train": 60, "val": 30, "test": 30}


def _rows(count, seed):
    rng = np.random.default_rng(seed)
    click = rng.random(count) < 0.3
    purchase = click & (rng.random(count) < 0.3)  # a purchase needs a click
    sparse = rng.integers(0, 5, (count, len(SPARSE_COLUMNS)))
    dense = rng.random((count, len(DENSE_COLUMNS))).round(4)
    return [
        [str(int(c)), str(int(p))] + [str(v) for v in s] + [repr(float(v)) for v in d]
        for c, p, s, d in zip(click, purchase, sparse, dense)
    ]


def _write(path, rows, header=COLUMNS):
    text = "\n".join(",".join(r) for r in [list(header)] + rows) + "\n"
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt") as f:
        f.write(text)
    return path


@pytest.fixture
def data_dir(tmp_path):
    """An Ali-CCP folder: full-data file names, the training file gzip."""
    folder = tmp_path / "ali-ccp"
    folder.mkdir()
    rows = {}
    for seed, (word, count) in enumerate(SIZES.items()):
        rows[word] = _rows(count, seed)
        suffix = ".csv.gz" if word == "train" else ".csv"
        _write(folder / f"ali_ccp_{word}{suffix}", rows[word])
    return folder, rows


def test_fixture_loads_with_its_tasks_features_and_rows(data_dir):
    folder, rows = data_dir
    dataset = load_ali_ccp(str(folder), embedding_dim=3)
    assert dataset.name == "ali-ccp"
    assert [t.name for t in dataset.tasks] == ["click", "purchase"]
    kinds = [f.kind for f in dataset.features]
    assert kinds == ["categorical"] * 23 + ["numeric"] * 8
    assert {f.embedding_dim for f in dataset.features if f.kind == "categorical"} == {3}
    for split, word in [("train", "train"), ("validation", "val"), ("test", "test")]:
        assert dataset.num_rows(split) == SIZES[word]
        labels, _, _ = dataset.label_arrays(split)
        np.testing.assert_array_equal(labels["purchase"], [float(r[1]) for r in rows[word]])
    head = dataset.head("validation", 5)
    assert head["f101"].dtype == np.int64 and head["D853"].dtype == np.float32
    assert "click" not in head and len(head) == 31
    assert dataset.settings["embedding_dim"] == 3
    assert dataset.settings["files"]["train"][0].endswith("ali_ccp_train.csv.gz")


def test_default_folder_and_registry(data_dir, monkeypatch):
    folder, _ = data_dir
    monkeypatch.setenv("ZOO_DATA_DIR", str(folder.parent))
    assert load_dataset("ali-ccp").settings["data_dir"] == str(folder)
    # The CLI passes --data-dir and --embedding-dim to loaders that take them.
    assert {"data_dir", "embedding_dim"} <= set(inspect.signature(load_ali_ccp).parameters)


def test_a_wrong_header_names_the_column(data_dir):
    folder, rows = data_dir
    header = [c for c in COLUMNS if c != "D508"]
    _write(folder / "ali_ccp_test.csv", [r[:29] + r[30:] for r in rows["test"]], header)
    with pytest.raises(DataError, match="ali_ccp_test.csv: header column 30 should be 'D508'"):
        load_ali_ccp(str(folder))


def test_a_bad_label_names_the_file_and_line(data_dir):
    folder, rows = data_dir
    rows["val"][11][1] = "2"
    _write(folder / "ali_ccp_val.csv", rows["val"])
    dataset = load_ali_ccp(str(folder))
    with pytest.raises(DataError, match="ali_ccp_val.csv, line 13: column 'purchase' expects 0"):
        dataset.num_rows("validation")


def test_mmoe_trains_and_evaluates_end_to_end(data_dir):
    folder, _ = data_dir
    check_mmoe_trains_and_evaluates(load_ali_ccp(str(folder), embedding_dim=4), SIZES["test"])


def test_the_shared_sample():
    if not SHARED_SAMPLE.is_dir():
        pytest.skip(reason=f"the shared Ali-CCP sample folder {SHARED_SAMPLE} is absent")
    dataset = load_ali_ccp(str(SHARED_SAMPLE))
    # Rows and clicks / purchases per file, from the sample's SOURCE.md.
    expected = {"train": (100, 7, 1), "validation": (50, 3, 1), "test": (50, 2, 1)}
    for split, (num_rows, clicks, purchases) in expected.items():
        labels, _, _ = dataset.label_arrays(split)
        assert dataset.num_rows(split) == num_rows
        assert (labels["click"].sum(), labels["purchase"].sum()) == (clicks, purchases)
    assert dataset.summary.startswith("100 training rows (click 7.00%, purchase 1.00%)")
