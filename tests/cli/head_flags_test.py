"""`zoo train --head NAME`: an output head on any model, by name."""

import json

import keras
import pytest

from zoo.cli.main import main
from zoo.layers.heads.latent_emotion_mixture import LatentEmotionMixture
from zoo.registry import HEADS

TINY = ["--epochs", "1", "--batch-size", "2048", "--quiet", "--no-export"]


def test_help_lists_the_registered_heads(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"--head NAME an output head on the model, one of: {', '.join(HEADS)}" in text


def test_cgc_trains_with_dlen_s_head_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--dataset", "synthetic-funnel", "--model", "cgc", "--head", "latent-emotion"]
    argv += ["--expert-units", "8", "--tower-units", "4", *TINY, "--output-dir", "run"]
    assert not main(argv)
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "complete"
    (head,) = record["model_config"]["heads"]
    assert head["class_name"] == "LatentEmotionMixture"
    # alpha_t = 0.3 x each task's training rate, measured by the command.
    assert set(head["config"]["base_rates"]) == {"click", "purchase"}
    reloaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert isinstance(reloaded.output_head, LatentEmotionMixture)
    assert [reloaded.towers[t].output_units for t in ("click", "purchase")] == [2, 2]


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--dataset", "synthetic-funnel", "--model", "esmm", "--head", "latent-emotion"],
            "a model takes one of them",
        ),
        (
            ["--dataset", "synthetic", "--model", "ple", "--head", "latent-emotion"],
            r"\('task_1', 'regression'\).* are not binary tasks",
        ),
    ],
)
def test_a_head_that_cannot_go_on_the_model_is_a_usage_error(argv, message, tmp_path):
    with pytest.raises(SystemExit, match=message) as stop:
        main(["train", *argv, *TINY, "--output-dir", str(tmp_path / "run")])
    assert stop.value.code.startswith("zoo train: error:")
    assert not (tmp_path / "run").exists()
