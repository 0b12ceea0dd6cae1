"""`zoo train --gate NAME [--gate-top-k K]`: any registered gate on a gated model."""

import json

import keras
import pytest

from zoo.cli.main import main
from zoo.registry import GATES


def test_help_lists_the_registered_gates(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--gate NAME" in text and "--gate-top-k K" in text
    assert f"one of: {', '.join(GATES)}" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "shared-bottom", "--gate", "noisy-top-k"], "--gate does not apply to model"),
        (["--model", "cross-stitch", "--gate", "softmax"], "--gate does not apply to model"),
        (["--gate-top-k", "2"], "--gate-top-k needs --gate"),
        (["--gate", "softmax", "--gate-top-k", "2"], "--gate-top-k does not apply to gate"),
        (
            ["--dataset", "synthetic", "--gate", "noisy-top-k", "--gate-top-k", "9"],
            r"1 <= k <= num_experts",
        ),
    ],
)
def test_gate_flags_that_cannot_apply_are_usage_errors(argv, message, tmp_path):
    with pytest.raises(SystemExit, match=message) as stop:
        main(["train", *argv, "--output-dir", str(tmp_path / "run"), "--no-export"])
    assert isinstance(stop.value.code, str) and "\n" not in stop.value.code
    assert stop.value.code.startswith("zoo train: error:")
    assert not (tmp_path / "run").exists()


def test_an_unknown_gate_lists_the_registered_ones(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--gate", "top-k"])
    assert "invalid choice: 'top-k'" in capsys.readouterr().err


def test_mmoe_trains_with_the_noisy_top_k_gate(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "train",
            "--dataset",
            "synthetic",
            "--model",
            "mmoe",
            "--gate",
            "noisy-top-k",
            "--gate-top-k",
            "2",
            "--num-experts",
            "4",
            "--expert-units",
            "8",
            "--tower-units",
            "4",
            "--epochs",
            "1",
            "--batch-size",
            "2048",
            "--quiet",
            "--no-export",
            "--output-dir",
            "run",
        ]
    )
    assert not code
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    gate = {"class_name": "noisy-top-k", "config": {"k": 2}}
    assert record["model_config"]["gate"] == gate
    assert record["status"] == "complete"
    reloaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    gates = list(reloaded.switcher.gates.values())
    assert [(type(g).__name__, g.k) for g in gates] == [("NoisyTopKGate", 2)] * 2
