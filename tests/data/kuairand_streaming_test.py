"""KuaiRand streamed from its files gives what the in-memory loader gives, row for row."""

import gzip
import inspect
import json

import numpy as np
import pytest

from zoo.cli.main import main
from zoo.data import DataError, load_dataset, load_kuairand
from zoo.data.formats.tfrecord import load_tfrecord
from zoo.data.sources.kuairand.schema import TASKS
from zoo.data.sources.kuairand.streaming import StreamingKuaiRand

from .kuairand_test import _official_copy, _official_rows, _user_lines, _write
from .streaming_end_to_end import assert_streams_as_loaded, check_mmoe_trains_and_evaluates

ALL_TASKS = list(TASKS)
SPLITS = ("train", "validation", "test")


def test_the_shipped_subset_streams_as_it_loads():
    in_memory = load_kuairand(tasks=ALL_TASKS)
    streamed = load_kuairand(tasks=ALL_TASKS, streaming=True)
    assert streamed.masked_tasks == ["pcr"]
    assert_streams_as_loaded(in_memory, streamed, batch_size=4096)
    assert "train 33,485 rows (20220408-20220417)" in streamed.summary


def test_official_logs_in_several_files_with_masks(tmp_path):
    # Two logs, one gzipped, with blank lines: masked like (neither like nor
    # hate) and pcr (no duration), rows of every split in both files.
    _official_copy(tmp_path, _official_rows(seed=1), name="log_standard_4_08_to_4_21_1k.csv")
    (tmp_path / "user_features_pure.csv").rename(tmp_path / "user_features_1k.csv")
    _write(tmp_path / "plain.csv", _official_rows(seed=2, num_rows=250))
    lines = (tmp_path / "plain.csv").read_text().splitlines(keepends=True)
    lines.insert(40, "\n")
    with gzip.open(tmp_path / "log_random_4_22_to_5_08_1k.csv.gz", "wt") as f:
        f.write("".join(lines) + "\n")
    (tmp_path / "plain.csv").unlink()

    in_memory = load_kuairand(data_dir=str(tmp_path), tasks=ALL_TASKS)
    streamed = load_kuairand(data_dir=str(tmp_path), tasks=ALL_TASKS, streaming=True)
    assert streamed.masked_tasks == ["like", "pcr"]
    assert_streams_as_loaded(in_memory, streamed)
    assert streamed.shard_files("train") == streamed.log_paths and len(streamed.log_paths) == 2
    # Shuffled: every training row once, in another order each pass; the
    # same passes again from the same seed.
    preprocessor = streamed.make_preprocessor()

    def two_passes(seed):
        batches = streamed.tf_dataset("train", preprocessor, 50, shuffle=True, seed=seed)
        return [
            np.concatenate([labels["pcr"][:, 0].numpy() for _, labels, _ in batches])
            for _ in range(2)
        ]

    first, second = two_passes(3)
    labels, present, _ = in_memory.label_arrays("train")
    ordered = np.where(present["pcr"], labels["pcr"], 0.0)
    np.testing.assert_array_equal(np.sort(first), np.sort(ordered))
    assert not np.array_equal(first, ordered) and not np.array_equal(first, second)
    again = two_passes(3)
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)


def test_settings_reload_the_streamed_dataset(tmp_path):
    data_dir = _official_copy(tmp_path)
    streamed = load_kuairand(data_dir=data_dir, tasks=["click", "like"], streaming=True)
    assert streamed.settings["streaming"] is True
    accepted = inspect.signature(load_kuairand).parameters
    again = load_dataset(
        "kuairand", **{k: v for k, v in streamed.settings.items() if k in accepted}
    )
    assert isinstance(again, StreamingKuaiRand)
    assert again.task_names == ["click", "like"]
    np.testing.assert_array_equal(
        again.label_arrays("test")[0]["click"], streamed.label_arrays("test")[0]["click"]
    )


@pytest.mark.parametrize(
    "row, column, value, message",
    [
        (4, "user_id", "4242", r"line 6: user_id 4242 is not in the user table"),
        (9, "video_id", "1.5", r"line 11: column 'video_id' expects an integer, found '1.5'"),
        (2, "is_like", "2", r"line 4: column 'is_like' expects 0 or 1, found 2"),
        (3, "date", "20220431", r"line 5: column 'date' expects YYYYMMDD, found 20220431"),
        (5, "hourmin", "2460", r"line 7: column 'hourmin' expects HHMM"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, row, column, value, message):
    rows = _official_rows(num_rows=20)
    rows[row][column] = value
    data_dir = _official_copy(tmp_path, rows)
    with pytest.raises(DataError, match=r"log_standard_4_08_to_4_21_pure.csv, " + message):
        dataset = load_kuairand(data_dir=data_dir, streaming=True)
        dataset.make_preprocessor()
        for split in SPLITS:
            dataset.num_rows(split)


def test_a_bad_row_in_the_test_days_is_found_before_training(tmp_path):
    rows = _official_rows(num_rows=200)
    last = max(r["date"] for r in rows)
    bad = next(i for i, r in enumerate(rows) if r["date"] == last)
    rows[bad]["is_click"] = 7
    data_dir = _official_copy(tmp_path, rows)
    dataset = load_kuairand(data_dir=data_dir, streaming=True)
    dataset.make_preprocessor()  # the training days are clean
    with pytest.raises(DataError, match=rf"line {bad + 2}: column 'is_click' expects 0 or 1"):
        dataset.num_rows("test")


def test_header_and_argument_errors(tmp_path):
    data_dir = _official_copy(tmp_path, _official_rows(seed=1))
    # The same columns in another order, in a second file.
    rows = _official_rows(seed=2)
    columns = list(reversed(list(rows[0])))
    _write(tmp_path / "log_random_4_22_to_5_08_pure.csv", rows, columns)
    with pytest.raises(
        DataError, match=r"log_standard_4_08_to_4_21_pure.csv: its header .*differs"
    ):
        load_kuairand(data_dir=data_dir, streaming=True)
    (tmp_path / "log_random_4_22_to_5_08_pure.csv").unlink()
    with pytest.raises(ValueError, match="max_rows .* does not go with streaming"):
        load_kuairand(data_dir=data_dir, streaming=True, max_rows=10)
    with pytest.raises(ValueError, match="shuffle_buffer >= 1"):
        load_kuairand(data_dir=data_dir, streaming=True, shuffle_buffer=0)
    with pytest.raises(DataError, match=r"6 distinct dates.*need at least 7"):
        load_kuairand(data_dir=data_dir, streaming=True, validation_days=3, test_days=3)
    (tmp_path / "user_features_pure.csv").write_text("".join(_user_lines()[:1]))
    with pytest.raises(DataError, match=r"user_features_pure.csv: the file has no data rows"):
        load_kuairand(data_dir=data_dir, streaming=True)


@pytest.mark.slow
def test_mmoe_trains_on_streamed_official_logs(tmp_path):
    data_dir = _official_copy(tmp_path, _official_rows(num_rows=1500))
    dataset = load_kuairand(data_dir=data_dir, tasks=["click", "like"], streaming=True)
    check_mmoe_trains_and_evaluates(dataset, dataset.num_rows("test"))


@pytest.mark.slow
def test_train_evaluate_and_convert_with_the_stream_flag(tmp_path, capsys):
    (tmp_path / "logs").mkdir()
    data_dir = _official_copy(tmp_path / "logs", _official_rows(num_rows=600))
    run_dir = tmp_path / "run"
    code = main(
        ["train", "--dataset", "kuairand", "--stream", "--data-dir", data_dir]
        + ["--tasks", "click,like", "--model", "mmoe", "--num-experts", "2"]
        + ["--expert-units", "4", "--tower-units", "4", "--epochs", "1", "--batch-size", "64"]
        + ["--no-jit", "--no-export", "--quiet", "--output-dir", str(run_dir)]
    )
    assert code == 0
    trained = json.loads((run_dir / "metrics.json").read_text())
    assert trained["data"]["streaming"] is True
    # `zoo evaluate` loads the data again from the run's settings: streamed.
    assert main(["evaluate", "--run-dir", str(run_dir)]) == 0
    evaluated = json.loads((run_dir / "evaluation.json").read_text())["metrics"]
    for task in ("click", "like"):
        assert evaluated["test"][task]["auc"] == pytest.approx(
            trained["metrics"]["test"][task]["auc"], abs=1e-6
        )
    assert evaluated["test"]["like"]["num_labeled"] < evaluated["test"]["num_rows"]

    out = tmp_path / "tfrecord"
    code = main(
        ["convert", "--dataset", "kuairand", "--stream", "--data-dir", data_dir]
        + ["--tasks", "click,like", "--output-dir", str(out), "--rows-per-shard", "100"]
    )
    assert code == 0
    converted = load_tfrecord(str(out))
    assert converted.masked_tasks == ("like",) and converted.user_feature == "user_id"
    assert converted.num_rows("test") == evaluated["test"]["num_rows"]

    with pytest.raises(SystemExit, match="--stream does not apply to dataset 'synthetic'"):
        main(["train", "--dataset", "synthetic", "--stream"])


def test_file_sharding_gives_each_worker_its_own_log_files(tmp_path):
    """tf.distribute's AutoShardPolicy.FILE rewrite works on the stream: whole files per worker.

    The rewrite fails on a pipeline that does not start from the file list,
    so every row of a worker coming from its own file shows that it does.
    """
    import tensorflow as tf
    from tensorflow.python.data.experimental.ops import distribute

    _official_copy(tmp_path, _official_rows(seed=1), name="log_standard_4_08_to_4_21_pure.csv")
    shifted = _official_rows(seed=2)
    for row in shifted:
        row["video_id"] += 1000  # the second file's videos: 1000 and up
    _write(tmp_path / "log_random_4_22_to_5_08_pure.csv", shifted)
    dataset = load_kuairand(data_dir=str(tmp_path), tasks=["click"], streaming=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.FILE
    # The raw rows (the source end of tf_dataset), where video ids are still the files' own.
    pipeline = dataset._raw_batches("train", 16, shuffle=True, seed=3).with_options(options)
    assert dataset.shard_files("train")[0].endswith("log_random_4_22_to_5_08_pure.csv")
    seen = []
    for worker in range(2):
        rows = distribute._AutoShardDataset(pipeline, num_workers=2, index=worker)
        seen.append(np.concatenate([features["video_id"].numpy() for features, _ in rows]))
    assert (seen[0] >= 1000).all() and (seen[1] < 1000).all()
    assert len(seen[0]) + len(seen[1]) == dataset.num_rows("train")
