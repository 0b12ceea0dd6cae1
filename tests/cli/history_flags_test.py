"""`zoo train --history-length N`: a behaviour history from the command line, to a served model."""

import json

import keras
import pytest
import tensorflow as tf

from zoo.cli.main import main

TINY = ["--epochs", "1", "--batch-size", "2048", "--quiet"]


def test_kuairand_trains_and_serves_with_a_din_history(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--dataset", "kuairand", "--model", "mmoe", "--tasks", "click,like"]
    argv += ["--history-length", "5", "--history-pooling", "attention", "--max-rows", "4000"]
    argv += ["--expert-units", "8", "--tower-units", "4", *TINY, "--output-dir", "run"]
    argv += ["--export-dir", "served"]
    assert not main(argv)
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "complete"
    assert record["data"]["history_length"] == 5
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    history = {f.name: f for f in model.preprocessor.features}["watched_videos"]
    assert (history.max_len, history.pooling, history.shares_table_with) == (
        5, "attention", "video_id",
    )  # fmt: skip
    (version,) = (tmp_path / "served" / "mmoe-kuairand").iterdir()
    signature = tf.saved_model.load(str(version)).signatures["serving_default"]
    spec = signature.structured_input_signature[1]["watched_videos"]
    assert (spec.shape.as_list(), spec.dtype) == ([None, None], tf.int64)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--dataset", "census-income", "--history-length", "5"],
            "--history-length does not apply to dataset 'census-income'",
        ),
        (
            ["--dataset", "kuairand", "--history-length", "5", "--stream"],
            "does not go with streaming=True yet",
        ),
    ],
)
def test_a_history_where_it_cannot_be_is_a_usage_error(argv, message, tmp_path):
    with pytest.raises(SystemExit, match=message) as stop:
        main(["train", *argv, *TINY, "--output-dir", str(tmp_path / "run")])
    assert stop.value.code.startswith("zoo train: error:")
    assert not (tmp_path / "run").exists()
