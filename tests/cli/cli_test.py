import json
import os
import subprocess
import sys

import pytest

from zoo.cli.main import main


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for flag in (
        "--model",
        "--dataset",
        "--epochs",
        "--seed",
        "--output-dir",
        "--task-group",
        "--protocol",
        "--no-jit",
        "--no-export",
        "--export-dir",
    ):
        assert flag in text
    assert "single-task, shared-bottom, omoe, mmoe, cgc, ple" in text


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(SystemExit, match="Unknown model 'mmoee'.*single-task.*ple"):
        main(["train", "--model", "mmoee"])
    with pytest.raises(SystemExit, match="Unknown dataset 'census'.*census-income"):
        main(["train", "--dataset", "census"])
    with pytest.raises(SystemExit, match="--num-experts does not apply to model 'shared-bottom'"):
        main(["train", "--model", "shared-bottom", "--num-experts", "4"])


def test_data_errors_stop_before_training(tmp_path, capsys):
    code = main(["train", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "run")])
    assert code == 1
    assert "census-income.data[.gz]: file not found" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def _zoo(args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=900,
    )


@pytest.mark.slow
def test_default_train_then_evaluate_then_export(tmp_path):
    # `zoo` with no arguments is the embedded default; 2 epochs keep it short.
    trained = _zoo(["train", "--epochs", "2", "--output-dir", "run", "--quiet"], tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "SavedModel for TF Serving: savedmodels/mmoe-census-income/1" in trained.stdout

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"] == "mmoe"
    assert metrics["data"]["task_group"] == 1 and metrics["data"]["protocol"] == "paper"
    for split in ("validation", "test"):
        for task in ("income", "never_married"):
            assert 0.85 < metrics["metrics"][split][task]["auc"] <= 1.0
    assert metrics["throughput"]["train_samples_per_second"] > 0
    assert metrics["training"]["epochs_run"] == 2
    assert (tmp_path / "savedmodels/mmoe-census-income/1/saved_model.pb").exists()
    assert (
        tmp_path / "savedmodels/mmoe-census-income/1/assets.extra/tf_serving_warmup_requests"
    ).exists()
    assert list((tmp_path / "run" / "logs").iterdir()), "no TensorBoard logs"
    assert metrics["training"]["loss_weighting"]["type"] == "FixedLossWeights"
    gates = metrics["gates"]["average_gate_weights"]
    assert sorted(gates) == ["income", "never_married"]
    assert sum(gates["income"].values()) == pytest.approx(1.0, rel=1e-5)
    assert metrics["metrics"]["test"]["total_loss"] == pytest.approx(
        metrics["metrics"]["test"]["income"]["loss"]
        + metrics["metrics"]["test"]["never_married"]["loss"]
    )

    # The run is its own baseline here: RelaImpr 0.
    evaluated = _zoo(["evaluate", "--run-dir", "run", "--baseline-run", "run"], tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert evaluation["metrics"]["test"]["income"]["auc"] == pytest.approx(
        metrics["metrics"]["test"]["income"]["auc"], abs=1e-6
    )
    assert evaluation["relaimpr"]["percent"]["test"]["income"] == pytest.approx(0.0, abs=1e-6)
    assert evaluation["gates"]["collapsed_onto"] is None
    with open(tmp_path / "run" / "gates-test.png", "rb") as f:
        assert f.read(4) == b"\x89PNG"

    exported = _zoo(["export", "--run-dir", "run"], tmp_path)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (tmp_path / "savedmodels/mmoe-census-income/2/saved_model.pb").exists()


def test_loss_weight_flags(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--loss-weights", "income:2"])
    assert "expected TASK=WEIGHT pairs" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="cannot be combined with --loss-weighting gradnorm"):
        main(["train", "--loss-weighting", "gradnorm", "--loss-weights", "income=2"])


def test_bad_training_settings_are_reported_not_raised():
    with pytest.raises(SystemExit, match="epochs >= 1"):
        main(["train", "--epochs", "0"])


@pytest.mark.slow
def test_synthetic_dataset_trains_like_any_other(tmp_path):
    trained = _zoo(
        [
            "train",
            "--dataset",
            "synthetic",
            "--correlation",
            "0.5",
            "--epochs",
            "2",
            "--quiet",
            "--output-dir",
            "run",
            "--no-export",
            "--loss-weighting",
            "uncertainty",
        ],
        tmp_path,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "task correlation p = 0.5; the labels' Pearson correlation is" in trained.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["correlation"] == 0.5
    assert 0 < metrics["data"]["label_pearson_correlation"] < 0.5
    for task in ("task_1", "task_2"):
        assert 0 < metrics["metrics"]["test"][task]["mse"] < 1.0
    weighting = metrics["training"]["loss_weighting"]
    assert weighting["type"] == "UncertaintyWeighting"
    assert weighting["task_weights"]["task_1"] != pytest.approx(0.5), "sigma never moved"
    evaluated = _zoo(["evaluate", "--run-dir", "run"], tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]


def test_model_flags_follow_the_constructor_chain():
    # YouTubeMMoE passes **kwargs on to MMoE: MMoE's flags apply, others do not.
    with pytest.raises(SystemExit, match="--bottom-units does not apply to model 'youtube-mmoe'"):
        main(["train", "--model", "youtube-mmoe", "--num-experts", "2", "--bottom-units", "8"])
    with pytest.raises(SystemExit, match="--bias-features does not apply to model 'mmoe'"):
        main(["train", "--model", "mmoe", "--bias-features", "position"])
    with pytest.raises(SystemExit, match="--eta does not apply to dataset 'census-income'"):
        main(["train", "--eta", "2"])


@pytest.mark.slow
def test_youtube_model_trains_on_position_biased_clicks_and_serves_without_position(tmp_path):
    import tensorflow as tf

    args = ["train", "--model", "youtube-mmoe", "--dataset", "census-position-bias"]
    args += ["--eta", "2", "--num-experts", "2", "--epochs", "1", "--quiet"]
    args += ["--ranking-weights", "click=1", "--output-dir", "run"]
    trained = _zoo(args, tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "test labels are the true relevance" in trained.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["eta"] == 2.0
    assert metrics["model_config"]["bias_features"] == ["position"]
    assert metrics["metrics"]["test"]["click"]["auc"] > 0.85
    export = tmp_path / "savedmodels" / "youtube-mmoe-census-position-bias" / "1"
    signatures = tf.saved_model.load(str(export)).signatures
    default = signatures["serving_default"]
    assert "position" not in default.structured_input_signature[1]
    assert sorted(default.structured_outputs) == ["click", "ranking_score"]
    assert "position" in signatures["with_bias_features"].structured_input_signature[1]


@pytest.mark.slow
def test_esmm_trains_on_the_synthetic_funnel(tmp_path):
    args = ["train", "--model", "esmm", "--dataset", "synthetic-funnel", "--epochs", "1"]
    args += ["--hidden-units", "32", "--quiet", "--output-dir", "run", "--no-export"]
    trained = _zoo(args, tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"] == "esmm"
    for task in ("click", "purchase"):
        assert metrics["metrics"]["test"][task]["auc"] > 0.6


def test_model_config_file_is_checked(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"num_experts": 2, "bottom_units": [8]}')
    with pytest.raises(SystemExit, match=r"model 'mmoe' takes no \['bottom_units'\]"):
        main(["train", "--model-config", str(bad)])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SystemExit, match="--model-config .*broken.json"):
        main(["train", "--model-config", str(broken)])


def test_automtl_derived_needs_its_architecture_file():
    # Searching and retraining run in tests/readme_commands_test.py, as the README writes them.
    with pytest.raises(SystemExit, match="needs --arch FILE"):
        main(["train", "--model", "automtl-derived", "--dataset", "kuairand"])
    with pytest.raises(SystemExit, match="--arch does not apply to model 'mmoe'"):
        main(["train", "--arch", "search/architecture.json"])
