"""TFRecord shards: written from in-memory and streamed datasets, read back row for row."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.data.experimental.ops import distribute

from zoo.cli.main import main
from zoo.data import DataError, Split, StreamingCsvDataset, TabularDataset
from zoo.data.formats.tfrecord import load_tfrecord, write_tfrecord_shards
from zoo.features import CategoricalFeature, NumericFeature
from zoo.tasks import Task

FEATURES = [
    NumericFeature("row_id", normalize=False),  # passes through: tells rows apart
    CategoricalFeature("city", embedding_dim=2),
    CategoricalFeature("device", dtype="int64", embedding_dim=2),
    NumericFeature("price"),
]
TASKS = [Task("click"), Task("stay", type="regression")]
SIZES = {"train": 70, "validation": 25, "test": 9}
ROWS_PER_SHARD = 16  # train: 5 shards, validation: 2, test: 1


def _split(first_id, count, rng, masked):
    click = (rng.random(count) < 0.4).astype("float32")
    masks = {}
    if masked:
        masks["click"] = rng.random(count) < 0.7
        click[~masks["click"]] = np.nan  # a missing label, as KuaiRand's
    return Split(
        features={
            "row_id": np.arange(first_id, first_id + count, dtype="float32"),
            "city": rng.choice(["paris", "lyon", "zürich", ""], count).astype(object),
            "device": rng.integers(-3, 2**40, count).astype("int64") % 7 * 10**12,
            "price": rng.normal(10, 3, count).astype("float32"),
        },
        labels={"click": click, "stay": rng.normal(size=count).astype("float32")},
        label_masks=masks,
    )


def _tabular():
    rng = np.random.default_rng(0)
    splits, first_id = {}, 0
    for name, count in SIZES.items():
        splits[name] = _split(first_id, count, rng, masked=name != "test")
        first_id += count
    return TabularDataset(
        "toy", FEATURES, TASKS, **splits, settings={"dataset": "toy"}, user_feature="device"
    )


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """(source TabularDataset, folder of its shards)."""
    source = _tabular()
    out = tmp_path_factory.mktemp("tfrecord") / "toy"
    write_tfrecord_shards(source, out, rows_per_shard=ROWS_PER_SHARD)
    return source, out


def _rows(batches):
    """Every column of numpy `(features, labels, *weights)` batches, concatenated."""
    columns = {}
    for features, labels, *weights in batches:
        parts = {**features, **{f"label/{k}": v for k, v in labels.items()}}
        if weights:
            parts.update({f"weight/{k}": v for k, v in weights[0].items()})
        for name, values in parts.items():
            columns.setdefault(name, []).append(np.asarray(values))
    return {name: np.concatenate(values) for name, values in columns.items()}


def _expected(split):
    """The columns `_rows` reads back, from the source split (strings as bytes)."""
    columns = {
        name: np.array([v.encode() for v in values], object) if values.dtype == object else values
        for name, values in split.features.items()
    }
    for name, values in split.labels.items():
        present = split.label_present(name)
        columns[f"label/{name}"] = np.where(present, values, 0).astype("float32")
        columns[f"weight/{name}"] = present.astype("float32")
    return columns


def test_every_row_comes_back_in_file_order(converted):
    source, out = converted
    dataset = load_tfrecord(out)
    assert [len(dataset.files(s)) for s in SIZES] == [5, 2, 1]
    assert os.path.basename(dataset.files("train")[1]) == "train-00001-of-00005.tfrecord.gz"
    for name in SIZES:
        assert dataset.num_rows(name) == SIZES[name]
        found, expected = _rows(dataset.numpy_batches(name, 8)), _expected(source.split(name))
        assert sorted(found) == sorted(expected)
        for column, values in expected.items():
            np.testing.assert_array_equal(found[column], values, err_msg=column)
    assert dataset.has_label_masks and dataset.user_feature == "device"
    assert dataset.name == "toy" and dataset.settings["source"] == {"dataset": "toy"}


def test_what_the_trainer_asks_equals_the_source(converted):
    source, out = converted
    dataset = load_tfrecord(out)
    for name in SIZES:
        got, want = dataset.label_arrays(name), source.label_arrays(name)
        for got_part, want_part in zip(got[:2], want[:2]):
            assert sorted(got_part) == sorted(want_part)
            for task in want_part:
                mask = want[1][task]  # labels where absent are NaN in the source, 0 here
                np.testing.assert_array_equal(got_part[task][mask], want_part[task][mask])
        np.testing.assert_array_equal(got[2], want[2])
        head, source_head = dataset.head(name, 5), source.head(name, 5)
        for column in source_head:
            np.testing.assert_array_equal(head[column], source_head[column])
    assert dataset.summary.startswith("70 training rows (click ")
    with pytest.raises(NotImplementedError, match="streams its rows"):
        dataset.split("train")

    preprocessor, expected = dataset.make_preprocessor(), source.make_preprocessor()
    assert preprocessor.vocabularies == expected.vocabularies
    assert preprocessor.statistics.keys() == expected.statistics.keys()
    for name, values in expected.statistics.items():
        np.testing.assert_allclose(preprocessor.statistics[name], values, rtol=1e-6)

    batches = dataset.tf_dataset("validation", preprocessor, batch_size=8)
    assert int(batches.cardinality()) == 4
    features, labels, weights = next(iter(batches))
    assert features["city"].dtype == tf.int32 and labels["click"].shape == (8, 1)
    np.testing.assert_array_equal(
        weights["click"], source.validation.label_masks["click"][:8].astype("float32")
    )


def test_shuffled_passes_cover_every_row_in_new_orders(converted):
    source, out = converted
    dataset = load_tfrecord(out, shuffle_buffer=20)
    preprocessor = dataset.make_preprocessor()

    def order(seed):
        batches = dataset.tf_dataset("train", preprocessor, 16, shuffle=True, seed=seed)
        return [int(v) for features, *_ in batches for v in features["row_id"].numpy()]

    first = order(1)
    assert sorted(first) == list(range(70)) and first != list(range(70))
    assert order(1) == first and order(2) != first


def test_file_sharding_gives_each_worker_its_own_rows(converted):
    """What tf.distribute's AutoShardPolicy.FILE does to the pipeline, and input_context.

    FILE policy fails on a pipeline that does not start from file paths, so
    the rewrite succeeding, with whole shards per worker, shows that the file
    list is the source op.
    """
    source, out = converted
    dataset = load_tfrecord(out)
    preprocessor = dataset.make_preprocessor()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.FILE
    pipeline = dataset.tf_dataset("train", preprocessor, 8, shuffle=True, seed=3)
    pipeline = pipeline.with_options(options)
    shard_ids = [set(range(i * 16, min(i * 16 + 16, 70))) for i in range(5)]
    seen = []
    for worker in range(2):
        rows = distribute._AutoShardDataset(pipeline, num_workers=2, index=worker)
        ids = {int(v) for features, *_ in rows for v in features["row_id"].numpy()}
        seen.append(ids)
        assert ids == set().union(*shard_ids[worker::2])  # whole shards, every other one
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(range(70))

    for worker in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker)
        batches = dataset.tf_dataset("train", preprocessor, 8, input_context=context)
        ids = [int(v) for features, *_ in batches for v in features["row_id"].numpy()]
        assert set(ids) == seen[worker]
        assert int(batches.cardinality()) == -(-len(ids) // 8)


def test_vocabularies_learned_from_the_shards_when_not_stored(converted, tmp_path):
    source, out = converted
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in os.listdir(out):
        (copy / name).write_bytes((out / name).read_bytes())
    schema = json.loads((copy / "schema.json").read_text())
    schema["preprocessor"] = None
    (copy / "schema.json").write_text(json.dumps(schema))
    preprocessor, expected = load_tfrecord(copy).make_preprocessor(), source.make_preprocessor()
    assert preprocessor.vocabularies == expected.vocabularies
    for name, values in expected.statistics.items():
        np.testing.assert_allclose(preprocessor.statistics[name], values, rtol=1e-6)


def _write_csv(path, header, rows):
    path.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n")
    return str(path)


@pytest.fixture
def csv_dataset(tmp_path):
    rng = np.random.default_rng(1)
    header = ["row_id", "city", "price", "click", "buy"]
    files, first_id = {}, 0
    for name, count in {"train-0": 30, "train-1": 25, "validation": 12, "test": 10}.items():
        rows = [
            [first_id + i, rng.integers(0, 6), f"{rng.normal(10, 3):.4f}", rng.integers(0, 2), 0]
            for i in range(count)
        ]
        files[name] = _write_csv(tmp_path / f"{name}.csv", header, rows)
        first_id += count
    return StreamingCsvDataset(
        "toy-csv",
        header,
        [
            NumericFeature("row_id", normalize=False),
            CategoricalFeature("city", dtype="int64", embedding_dim=2),
            NumericFeature("price"),
        ],
        [Task("click"), Task("buy")],
        {
            "train": [files["train-0"], files["train-1"]],
            "validation": [files["validation"]],
            "test": [files["test"]],
        },
    )


def test_a_streamed_csv_dataset_round_trips(csv_dataset, tmp_path):
    result = write_tfrecord_shards(csv_dataset, tmp_path / "out", rows_per_shard=20)
    assert result.num_rows == {"train": 55, "validation": 12, "test": 10}
    assert [len(result.files[s]) for s in ("train", "validation", "test")] == [3, 1, 1]
    dataset = load_tfrecord(tmp_path / "out")
    for name in ("train", "validation", "test"):
        assert dataset.num_rows(name) == csv_dataset.num_rows(name)
        found, expected = _rows(dataset.numpy_batches(name)), _rows(csv_dataset.numpy_batches(name))
        assert sorted(found) == sorted(expected)
        for column, values in expected.items():
            np.testing.assert_array_equal(found[column], values, err_msg=column)
        got, want = dataset.label_arrays(name), csv_dataset.label_arrays(name)
        for task in ("click", "buy"):
            np.testing.assert_array_equal(got[0][task], want[0][task])
        np.testing.assert_array_equal(
            dataset.head(name, 3)["city"], csv_dataset.head(name, 3)["city"]
        )
    assert not dataset.has_label_masks and dataset.user_feature is None
    preprocessor, expected = dataset.make_preprocessor(), csv_dataset.make_preprocessor()
    assert preprocessor.vocabularies == expected.vocabularies
    np.testing.assert_allclose(
        preprocessor.statistics["price"], expected.statistics["price"], rtol=1e-6
    )
    assert len(next(iter(dataset.tf_dataset("train", preprocessor, 64)))) == 2  # no weights


def test_a_failed_write_leaves_nothing_and_nothing_is_overwritten(csv_dataset, tmp_path):
    test_file = csv_dataset.files["test"][0]
    with open(test_file, "a") as f:
        f.write("99,1,oops,0,0\n")  # the last split read fails on its last row
    with pytest.raises(DataError, match="test.csv, line 12: column 'price'"):
        write_tfrecord_shards(csv_dataset, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".out")]

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        write_tfrecord_shards(csv_dataset, tmp_path / "out", splits=("train",))
    with pytest.raises(DataError):
        write_tfrecord_shards(csv_dataset, tmp_path / "out", overwrite=True)
    assert os.listdir(tmp_path / "out") == ["keep.txt"]
    write_tfrecord_shards(csv_dataset, tmp_path / "out", splits=("train",), overwrite=True)
    assert sorted(os.listdir(tmp_path / "out")) == [
        "schema.json",
        "train-00000-of-00001.tfrecord.gz",
    ]


def test_bad_folders_are_data_errors_naming_the_file(converted, tmp_path):
    _, out = converted
    with pytest.raises(DataError, match=f"{tmp_path}/schema.json: not found"):
        load_tfrecord(tmp_path)

    folder = tmp_path / "copy"
    folder.mkdir()
    for name in os.listdir(out):
        (folder / name).write_bytes((out / name).read_bytes())
    last = folder / "train-00004-of-00005.tfrecord.gz"
    last.write_bytes(last.read_bytes()[:-40])  # truncated: the gzip stream ends early
    dataset = load_tfrecord(folder)  # the first records of each split are fine
    with pytest.raises(DataError, match=f"{last}: corrupt or truncated shard"):
        dataset.label_arrays("train")
    with pytest.raises(DataError, match=f"{last}: corrupt or truncated shard"):
        list(dataset.numpy_batches("train"))

    schema_path = folder / "schema.json"
    schema = json.loads(schema_path.read_text())
    renamed = json.loads(json.dumps(schema))
    renamed["features"][3]["name"] = "cost"
    renamed["preprocessor"]["statistics"]["cost"] = renamed["preprocessor"]["statistics"]["price"]
    del renamed["preprocessor"]["statistics"]["price"]
    schema_path.write_text(json.dumps(renamed))
    with pytest.raises(DataError, match=r"train-00000-of-00005.tfrecord.gz: the records do not "):
        load_tfrecord(folder)

    schema_path.write_text(json.dumps(schema))
    (folder / "test-00000-of-00001.tfrecord.gz").unlink()
    with pytest.raises(DataError, match="test-00000-of-00001.tfrecord.gz: shard missing"):
        load_tfrecord(folder)
    schema_path.write_text("{")
    with pytest.raises(DataError, match="schema.json: cannot be read as JSON"):
        load_tfrecord(folder)


def test_convert_then_train_through_the_cli(converted, tmp_path, capsys):
    _, out = converted
    code = main(
        ["convert", "--dataset", "tfrecord", "--data-dir", str(out)]
        + ["--output-dir", str(tmp_path / "again"), "--rows-per-shard", "40", "--no-compression"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "train: 70 rows in 2 files (train-00000-of-00002.tfrecord, " in printed
    assert "rows/s" in printed
    with pytest.raises(SystemExit, match="not empty"):
        main(
            ["convert", "--dataset", "tfrecord", "--data-dir", str(out)]
            + ["--output-dir", str(tmp_path / "again")]
        )

    payload_dir = tmp_path / "run"
    code = main(
        ["train", "--dataset", "tfrecord", "--data-dir", str(tmp_path / "again")]
        + ["--model", "mmoe", "--num-experts", "2", "--expert-units", "4", "--tower-units", "4"]
        + ["--epochs", "1", "--batch-size", "32", "--no-jit", "--no-export", "--quiet"]
        + ["--output-dir", str(payload_dir)]
    )
    assert code == 0
    metrics = json.loads((payload_dir / "metrics.json").read_text())
    assert metrics["data"]["dataset"] == "tfrecord"
    assert metrics["metrics"]["test"]["num_rows"] == 9
    assert metrics["metrics"]["validation"]["click"]["num_labeled"] == int(
        _tabular().validation.label_masks["click"].sum()
    )
