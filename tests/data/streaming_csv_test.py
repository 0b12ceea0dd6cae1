"""StreamingCsvDataset on small CSV files written here: schema, bad rows, counts, order."""

import gzip
import json

import numpy as np
import pytest
import tensorflow as tf

from zoo.data import DataError, StreamingCsvDataset
from zoo.data.formats.streaming_csv import find_split_files
from zoo.features import CategoricalFeature, NumericFeature
from zoo.tasks import Task

COLUMNS = ("row_id", "city", "price", "click", "buy", "comment")
FEATURES = [
    NumericFeature("row_id", normalize=False),  # passes through: tells rows apart
    CategoricalFeature("city", dtype="int64", embedding_dim=2),
    NumericFeature("price"),
]
TASKS = [Task("click"), Task("buy")]
# Rows per file; the training split is two shards, the second gzip.
SIZES = {"train-0": 25, "train-1": 20, "validation": 15, "test": 15}


def _rows(first_id, count, seed):
    rng = np.random.default_rng(seed)
    return [
        [
            str(first_id + i),
            str(rng.integers(0, 6)),
            f"{rng.normal(10, 3):.4f}",
            str(int(rng.random() < 0.4)),
            str(int(rng.random() < 0.2)),
            "free text",
        ]
        for i in range(count)
    ]


def _write(path, rows, header=COLUMNS):
    text = "\n".join(",".join(r) for r in [list(header)] + rows) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def data(tmp_path):
    """(files by split, rows by file name) of a small dataset."""
    rows, first_id = {}, 0
    for seed, (name, count) in enumerate(SIZES.items()):
        rows[name] = _rows(first_id, count, seed)
        first_id += count
    paths = {
        name: _write(tmp_path / (f"{name}.csv.gz" if name == "train-1" else f"{name}.csv"), r)
        for name, r in rows.items()
    }
    files = {
        "train": [paths["train-0"], paths["train-1"]],
        "validation": [paths["validation"]],
        "test": [paths["test"]],
    }
    return files, rows


def _dataset(files, **kwargs):
    return StreamingCsvDataset("toy", COLUMNS, FEATURES, TASKS, files, **kwargs)


def _row_ids(batches):
    return [int(v) for features, _ in batches for v in features["row_id"].numpy()]


def test_counts_labels_and_head(data):
    files, rows = data
    dataset = _dataset(files)
    train_rows = rows["train-0"] + rows["train-1"]
    assert [dataset.num_rows(s) for s in ("train", "validation", "test")] == [45, 15, 15]
    labels, present, users = dataset.label_arrays("train")
    assert users is None and present["click"].all() and len(present["buy"]) == 45
    # Shards interleave, so compare sums, not order.
    assert labels["click"].sum() == sum(int(r[3]) for r in train_rows)
    assert labels["buy"].dtype == np.float32
    test_labels, _, _ = dataset.label_arrays("test")
    np.testing.assert_array_equal(test_labels["click"], [float(r[3]) for r in rows["test"]])

    head = dataset.head("test", 4)
    assert sorted(head) == ["city", "price", "row_id"]
    assert head["city"].dtype == np.int64 and head["price"].dtype == np.float32
    np.testing.assert_array_equal(head["city"], [int(r[1]) for r in rows["test"][:4]])
    np.testing.assert_allclose(head["price"], [float(r[2]) for r in rows["test"][:4]], rtol=1e-6)
    assert len(dataset.head("test", 100)["city"]) == 15


def test_tf_dataset_batches_every_row_once_with_its_length(data):
    files, rows = data
    dataset = _dataset(files)
    batches = dataset.tf_dataset("train", dataset.make_preprocessor(), batch_size=8)
    assert int(batches.cardinality()) == 6  # ceil(45 / 8)
    features, labels = next(iter(batches))
    assert labels["click"].shape == (8, 1) and labels["click"].dtype == tf.float32
    assert features["city"].dtype == tf.int32 and features["price"].dtype == tf.float32
    assert sorted(_row_ids(batches)) == list(range(45))
    assert len(list(batches.repeat().take(13))) == 13
    validation = dataset.tf_dataset("validation", dataset.make_preprocessor(), batch_size=8)
    assert _row_ids(validation) == list(range(45, 60))  # one file: file order


def test_seeded_shuffle_repeats_and_differs_from_file_order(data):
    files, _ = data
    dataset = _dataset(files)
    preprocessor = dataset.make_preprocessor()

    def order(shuffle, seed=None):
        return _row_ids(dataset.tf_dataset("train", preprocessor, 8, shuffle=shuffle, seed=seed))

    plain, shuffled = order(False), order(True, seed=3)
    assert shuffled == order(True, seed=3)
    assert shuffled != plain and sorted(shuffled) == sorted(plain)
    assert order(True, seed=4) != shuffled
    # Every pass over one dataset draws a new order (new epoch, new shuffle).
    epochs = dataset.tf_dataset("train", preprocessor, 45, shuffle=True, seed=3).repeat(2)
    first, second = [_row_ids([batch]) for batch in epochs]
    assert first != second and sorted(first) == sorted(second)


def test_validation_fraction_holds_out_the_same_rows_every_time(data):
    files, rows = data
    files = {"train": files["train"], "test": files["test"]}
    dataset = _dataset(files, validation_fraction=0.3)
    preprocessor = dataset.make_preprocessor()
    train = set(_row_ids(dataset.tf_dataset("train", preprocessor, 16, shuffle=True, seed=1)))
    validation = set(_row_ids(dataset.tf_dataset("validation", preprocessor, 16)))
    assert train.isdisjoint(validation) and train | validation == set(range(45))
    assert 5 <= len(validation) <= 22
    assert dataset.num_rows("train") == len(train)
    assert dataset.num_rows("validation") == len(validation)
    again = _dataset(files, validation_fraction=0.3)
    assert set(_row_ids(again.tf_dataset("validation", preprocessor, 16))) == validation
    labels, _, _ = dataset.label_arrays("validation")
    by_id = {int(r[0]): float(r[3]) for r in rows["train-0"] + rows["train-1"]}
    assert labels["click"].sum() == sum(by_id[i] for i in validation)
    assert "30% of the rows" in dataset._describe("validation")


def test_statistics_come_from_the_training_split_only(data):
    files, rows = data
    dataset = _dataset(files)
    preprocessor = dataset.make_preprocessor()
    prices = np.array([float(r[2]) for r in rows["train-0"] + rows["train-1"]], "float32")
    np.testing.assert_allclose(
        preprocessor.statistics["price"], [prices.mean(), prices.var()], rtol=1e-5
    )
    cities = {int(r[1]) for r in rows["train-0"] + rows["train-1"]}
    assert set(preprocessor.vocabularies["city"]) == cities


@pytest.mark.parametrize(
    "header, message",
    [
        ("row_id,city,cost,click,buy,comment", "column 3 should be 'price', found 'cost'"),
        ("row_id,city,price,click,comment", "column 5 should be 'buy', found 'comment'"),
        ("row_id,city,price,click,buy", "column 6 should be 'comment', found nothing"),
        ("row_id,city,price,click,buy,comment,extra", "column 7 is 'extra'; expected 6 columns"),
    ],
)
def test_header_errors_name_the_file_and_the_column(data, header, message):
    files, _ = data
    path = files["train"][1]  # the gzip shard
    _write(path, [], header=header.split(","))
    with pytest.raises(DataError, match=f"train-1.csv.gz: header {message}"):
        _dataset(files)


def test_an_empty_file_is_an_error(data):
    files, _ = data
    files["test"][0].write_text("")
    with pytest.raises(DataError, match="test.csv: the file is empty"):
        _dataset(files)


@pytest.mark.parametrize(
    "column, value, message",
    [
        (None, None, "expected 6 fields separated by ',', found 5"),
        ("blank", None, "expected 6 fields separated by ',', found a blank line"),
        (2, "abc", "column 'price' expects a finite number, found 'abc'"),
        (2, "nan", "column 'price' expects a finite number, found 'nan'"),
        (2, "", "column 'price' expects a finite number, found ''"),
        (3, "2", "column 'click' expects 0 or 1, found '2'"),
        (1, "3.5", "column 'city' expects an integer, found '3.5'"),
    ],
)
@pytest.mark.parametrize("split", ["train", "test"])
def test_bad_rows_are_reported_with_file_and_line(data, split, column, value, message):
    files, rows = data
    name = "train-1" if split == "train" else "test"
    bad = [list(r) for r in rows[name]]
    if column is None:
        bad[6] = bad[6][:-1]
    elif column == "blank":
        bad[6] = []
    else:
        bad[6][column] = value
    path = _write(files[split][-1], bad)
    dataset = _dataset(files)  # headers are fine: opening succeeds
    # Line 8: the header is line 1, the seventh data row line 8.
    expected = f"{path}, line 8: {message}"
    with pytest.raises(DataError, match=expected.replace(".", r"\.")):
        dataset.num_rows(split)
    if split == "train":
        with pytest.raises(DataError, match="line 8"):
            dataset.make_preprocessor()
    else:
        with pytest.raises(DataError, match="line 8"):
            dataset.label_arrays("test")


def test_a_split_without_rows_is_an_error(data):
    files, _ = data
    _write(files["validation"][0], [])
    with pytest.raises(DataError, match=r"toy validation split \(.*validation.csv\) has no data"):
        _dataset(files).num_rows("validation")


def test_what_the_cli_reads(data):
    files, _ = data
    dataset = _dataset(files, settings={"data_dir": "somewhere", "embedding_dim": 2})
    settings = json.loads(json.dumps(dataset.settings))
    assert settings["dataset"] == "toy" and settings["embedding_dim"] == 2
    assert [p.rsplit("/", 1)[1] for p in settings["files"]["train"]] == [
        "train-0.csv",
        "train-1.csv.gz",
    ]
    assert dataset.summary.startswith("45 training rows (click ")
    assert dataset.has_label_masks is False and dataset.user_feature is None
    with pytest.raises(NotImplementedError, match="streams its rows"):
        dataset.split("train")
    with pytest.raises(ValueError, match="split"):
        dataset.num_rows("dev")


def test_argument_errors(data):
    files, _ = data
    with pytest.raises(ValueError, match="Not columns: \\['cost'\\]"):
        StreamingCsvDataset("toy", COLUMNS, [NumericFeature("cost")], TASKS, files)
    with pytest.raises(ValueError, match="not both"):
        _dataset(files, validation_fraction=0.1)
    with pytest.raises(ValueError, match="validation_fraction"):
        _dataset({"train": files["train"], "test": files["test"]}, validation_fraction=1.5)
    with pytest.raises(ValueError, match="Expected files for the splits"):
        _dataset({"train": files["train"], "test": files["test"]})


def test_find_split_files_prefers_the_full_file_then_shards_then_the_sample(tmp_path):
    stems = ["data_train", "data_train-*", "data_train_sample"]
    with pytest.raises(DataError, match=r"data_train.csv\[.gz\], data_train-\*.csv\[.gz\]"):
        find_split_files(str(tmp_path), stems)
    for name in ["data_train_sample.csv", "data_train-1.csv.gz", "data_train-0.csv"]:
        _write(tmp_path / name, [])
    found = find_split_files(str(tmp_path), stems)
    assert [p.rsplit("/", 1)[1] for p in found] == ["data_train-0.csv", "data_train-1.csv.gz"]
    _write(tmp_path / "data_train.csv", [])
    assert find_split_files(str(tmp_path), stems) == [str(tmp_path / "data_train.csv")]
    _write(tmp_path / "data_train.csv.gz", [])
    with pytest.raises(DataError, match="both exist"):
        find_split_files(str(tmp_path), stems)
    with pytest.raises(DataError, match="not a directory"):
        find_split_files(str(tmp_path / "nowhere"), stems)
