"""`zoo train` with graph models: MoGENet on the Taobao format, "+MGNN" on MovieLens, and the
graph flags' errors. The data folders are small fixtures in the published formats."""

import json

import pytest

from tests.data.movielens_test import _write_folder
from tests.data.taobao_multibehavior_test import write_folder
from zoo.cli.main import main


@pytest.fixture
def taobao_dir(tmp_path):
    return write_folder(tmp_path / "Taobao")


@pytest.mark.slow
def test_mogenet_on_taobao_trains_evaluates_and_exports(taobao_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "train",
            "--model", "mogenet",
            "--dataset", "taobao-multibehavior",
            "--data-dir", str(taobao_dir),
            "--negatives-per-positive", "2",
            "--fanouts", "3,2",
            "--graph-units", "8",
            "--batch-size", "16",
            "--epochs", "1",
            "--output-dir", "run",
            "--quiet",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "Graphs from the training rows" in out and "fan-outs 3, 2" in out
    assert code in (0, None)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["graphs"]["fanouts"] == [3, 2]
    assert metrics["graphs"]["channels"] == ["bipartite", "user_user", "item_item"]
    assert metrics["training"]["loss_weighting"]["type"] == "UncertaintyWeighting"
    # Learned loss weights move val_loss by themselves: early stopping reads the plain sum.
    assert metrics["training"]["early_stopping_monitor"] == "val_task_loss"
    assert metrics["model_config"]["interaction"] == "product"
    for task in ("cart", "buy"):
        assert 0 <= metrics["metrics"]["test"][task]["auc"] <= 1
        assert "gauc" in metrics["metrics"]["test"][task]
    assert (tmp_path / "savedmodels/mogenet-taobao-multibehavior/1/saved_model.pb").exists()

    # The .keras model holds the node tables: evaluate reloads it and gets the same figures.
    assert main(["evaluate", "--run-dir", "run"]) in (0, None)
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    for task in ("cart", "buy"):
        assert evaluation["metrics"]["test"][task]["auc"] == pytest.approx(
            metrics["metrics"]["test"][task]["auc"], abs=1e-6
        )
    assert main(["export", "--run-dir", "run"]) in (0, None)
    assert (tmp_path / "savedmodels/mogenet-taobao-multibehavior/2/saved_model.pb").exists()


@pytest.mark.slow
def test_any_model_takes_the_mgnn_with_the_whole_graph(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_dir = _write_folder(tmp_path / "ml-100k")
    code = main(
        [
            "train",
            "--model", "shared-bottom",
            "--with-mgnn",
            "--fanouts", "full",
            "--graph-layers", "1",
            "--dataset", "movielens-100k",
            "--data-dir", str(data_dir),
            "--epochs", "1",
            "--batch-size", "16",
            "--output-dir", "run",
            "--no-export",
            "--quiet",
        ]
    )  # fmt: skip
    assert code in (0, None)
    payload = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert payload["graphs"]["fanouts"] is None
    encoder = payload["model_config"]["graph_encoder"]["config"]
    assert encoder["num_layers"] == 1
    assert [f["name"] for f in encoder["user_features"]][:2] == ["user_id", "age"]
    assert payload["training"]["loss_weighting"]["type"] == "FixedLossWeights"
    assert payload["training"]["early_stopping_monitor"] == "val_loss"
    assert 0 <= payload["metrics"]["test"]["rating_ge_4"]["gauc"] <= 1


def test_graph_flag_errors(taobao_dir):
    taobao = ["--dataset", "taobao-multibehavior", "--data-dir", str(taobao_dir)]
    with pytest.raises(SystemExit, match="--top-k applies to graph models"):
        main(["train", "--model", "mmoe", "--top-k", "5", *taobao])
    with pytest.raises(SystemExit, match="mogenet has its own"):
        main(["train", "--model", "mogenet", "--with-mgnn", *taobao])
    with pytest.raises(SystemExit, match="samples 1 hops but the graph model has 2 layers"):
        main(["train", "--model", "mogenet", "--fanouts", "4", *taobao])
    with pytest.raises(SystemExit, match="--fanouts expects ints >= 1"):
        main(["train", "--model", "ngcf", "--fanouts", "4,x", *taobao])
    with pytest.raises(SystemExit, match="--interaction does not apply to model 'mmoe'"):
        main(["train", "--model", "mmoe", "--interaction", "add", "--with-mgnn", *taobao])
    with pytest.raises(SystemExit, match="names no user feature"):
        main(["train", "--model", "mogenet", "--epochs", "1"])  # Census-Income has no users
