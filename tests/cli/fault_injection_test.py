"""Faults a user can cause: each is caught before training, or loses nothing after it.

Every case here lost work or misled before: a bad test row or export name
found only after training, a second run silently replacing the first, a
backup of another model, a crash after `fit` that left no model, a corrupt
model file reported as missing, a resumed run's epochs miscounted, progress
bars past their end, TensorFlow's native log lines and a mistyped flag
answered after a 5-second import.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.data.ali_ccp_test import _rows, _write
from zoo.cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train(tmp_path, *flags, output="run"):
    return main(
        [
            "train",
            "--dataset",
            "synthetic",
            "--epochs",
            "1",
            "--quiet",
            "--output-dir",
            str(tmp_path / output),
            "--export-dir",
            str(tmp_path / "savedmodels"),
            *flags,
        ]
    )


def _zoo_process(args, cwd, env=None, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "zoo", *args],
        cwd=cwd,
        env=dict(env or os.environ, PYTHONPATH=ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


# -- checked before training ------------------------------------------------


def test_a_bad_row_in_the_test_file_stops_the_run_before_training(tmp_path, capsys):
    # Ali-CCP streams: its test file used to be read for the first time after training.
    folder = tmp_path / "ali-ccp"
    folder.mkdir()
    for seed, (word, count) in enumerate({"train": 60, "val": 30, "test": 30}.items()):
        rows = _rows(count, seed)
        if word == "test":
            rows[20][0] = "yes"
        _write(folder / f"ali_ccp_{word}.csv", rows)
    code = main(
        ["train", "--dataset", "ali-ccp", "--data-dir", str(folder)]
        + ["--output-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "sm")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "ali_ccp_test.csv, line 22: column 'click'" in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "sm").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--export-name", "two/parts"], "model name of letters, digits"),
        (["--export-dir", "{file}/savedmodels"], "is a file, not a folder"),
        (["--output-dir", "{file}/run"], "is a file, not a folder"),
    ],
    ids=["export-name", "export-dir", "output-dir"],
)
def test_bad_output_flags_stop_the_run_before_training(tmp_path, flags, message):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    flags = [f.format(file=a_file) for f in flags]
    started = time.perf_counter()
    with pytest.raises(SystemExit, match=message):
        _train(tmp_path, *flags)
    assert time.perf_counter() - started < 60, "the check waited for training"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--steps-per-execution", "0"], "steps_per_execution >= 1"),
        (["--dataset", "kuairand", "--tasks", "click,nope"], "unknown: nope"),
        (["--loss-weights", "nope=2"], "--loss-weights names \\['nope'\\]"),
    ],
    ids=["steps-per-execution", "loader-option", "task-name"],
)
def test_bad_settings_are_usage_errors_not_tracebacks(tmp_path, flags, message):
    with pytest.raises(SystemExit, match=message):
        _train(tmp_path, *flags)
    assert not (tmp_path / "run").exists()


def test_a_negative_seed_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--seed", "-5"])
    assert stopped.value.code == 2
    assert "--seed: expected an integer from 0 to 2**32 - 1; got '-5'" in capsys.readouterr().err


def test_a_folder_that_holds_a_run_is_refused_unless_overwritten(tmp_path):
    assert _train(tmp_path, "--no-export") == 0
    first = json.loads((tmp_path / "run" / "metrics.json").read_text())
    with pytest.raises(SystemExit, match="already holds a run .*--overwrite"):
        _train(tmp_path, "--no-export", "--seed", "7")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == first

    assert _train(tmp_path, "--no-export", "--seed", "7", "--overwrite") == 0
    second = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert second["training"]["seed"] == 7
    # One run's TensorBoard event files, not two runs' mixed.
    for part in ("train", "validation"):
        events = os.listdir(tmp_path / "run" / "logs" / part)
        assert len(events) == 1, events
    assert not (tmp_path / "run" / ".replaced-run").exists()


def test_a_backup_of_another_model_is_refused_before_training(tmp_path, synthetic_dataset):
    from zoo.distribute.backup import ClusterBackupAndRestore, check_backup_matches
    from zoo.models import MMoE, SharedBottom

    preprocessor = synthetic_dataset.make_preprocessor()
    mmoe = MMoE(synthetic_dataset.tasks, preprocessor=preprocessor, num_experts=2)
    mmoe.build()
    backup = ClusterBackupAndRestore(tmp_path / "backup")
    backup.set_model(mmoe)
    backup.on_epoch_end(0)

    check_backup_matches(tmp_path / "backup", mmoe)  # the same model: fine
    other = SharedBottom(synthetic_dataset.tasks, preprocessor=preprocessor)
    other.build()
    with pytest.raises(ValueError, match="written by another model: MMoE .* SharedBottom"):
        check_backup_matches(tmp_path / "backup", other)


# -- nothing lost after training --------------------------------------------


def test_a_failure_after_training_keeps_the_model_and_the_run_can_be_finished(
    tmp_path, monkeypatch, capsys
):
    import zoo.export.saved_model

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(zoo.export.saved_model, "export_saved_model", full_disk)
        with pytest.raises(SystemExit) as stopped:
            _train(tmp_path)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err
    assert f"zoo export --run-dir {tmp_path / 'run'}" in err
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "trained"
    assert record["metrics"]["test"]["task_1"]["mse"] > 0  # evaluation ran before the export
    assert (tmp_path / "run" / "model.keras").exists()

    assert main(["evaluate", "--run-dir", str(tmp_path / "run")]) == 0
    exported = main(
        ["export", "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "sm")]
    )
    assert exported == 0
    assert (tmp_path / "sm" / "mmoe-synthetic" / "1" / "saved_model.pb").exists()


def test_a_corrupt_model_file_is_called_corrupt(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"model": "mmoe", "data": {}}))
    (run / "model.keras").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(SystemExit, match="model.keras is corrupt: not a complete .keras archive"):
        main(["evaluate", "--run-dir", str(run)])
    (run / "metrics.json").write_text('{"model": "mm')
    with pytest.raises(SystemExit, match="metrics.json is corrupt"):
        main(["export", "--run-dir", str(run)])
    with pytest.raises(SystemExit, match="not a folder"):
        main(["evaluate", "--run-dir", str(tmp_path / "nowhere")])


def test_a_resumed_fit_counts_the_epochs_before_the_backup(tmp_path, synthetic_dataset):
    import keras

    from zoo.models import MMoE
    from zoo.training import TrainingConfig, fit

    class PowerCut(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    config = TrainingConfig(
        epochs=3,
        batch_size=256,
        early_stopping_patience=None,
        backup_dir=str(tmp_path / "backup"),
        verbose=0,
    )

    def model():
        keras.utils.set_random_seed(1)
        preprocessor = synthetic_dataset.make_preprocessor()
        return MMoE(synthetic_dataset.tasks, preprocessor=preprocessor, num_experts=2)

    with pytest.raises(KeyboardInterrupt):
        fit(model(), synthetic_dataset, config, callbacks=[PowerCut()])
    result = fit(model(), synthetic_dataset, config)
    assert result.resumed_from_epoch == 2
    assert result.epochs_run == 3 and result.best_epoch == 3
    assert len(result.history["loss"]) == 1


# -- what the user sees ------------------------------------------------------


def test_an_epoch_runs_the_steps_the_progress_bar_counts(synthetic_dataset):
    from zoo.models import MMoE
    from zoo.training import TrainingConfig, fit
    from zoo.training.trainer import execution_plan

    assert execution_plan(195, 8) == (5, 195)  # Census-Income at batch 1024
    assert execution_plan(192, 8) == (8, 192)
    assert execution_plan(197, 8) == (6, 198)  # no divisor from 4 to 8: the least padding
    assert execution_plan(3, 8) == (3, 3)
    with pytest.raises(ValueError, match="no batches"):
        execution_plan(0, 8)

    # 10,000 training rows at 512 a batch: 20 steps, 3 calls of 8 ran 24 before.
    model = MMoE(
        synthetic_dataset.tasks, preprocessor=synthetic_dataset.make_preprocessor(), num_experts=2
    )
    config = TrainingConfig(
        epochs=1, batch_size=512, steps_per_execution=8, early_stopping_patience=None, verbose=0
    )
    steps = -(-synthetic_dataset.num_rows("train") // 512)
    result = fit(model, synthetic_dataset, config)
    assert result.steps_per_epoch == steps
    assert int(model.optimizer.iterations.numpy()) == steps


def test_no_gates_to_report_on_a_model_without_a_switcher(pair_data, pair_preprocessor):
    # zoo train --model ngcf crashed here after training, losing the export.
    from zoo.models import NGCF

    model = NGCF(pair_data.tasks, num_users=31, num_items=41, preprocessor=pair_preprocessor)
    assert model.gate_expert_names() == {}


def test_a_mistyped_flag_is_answered_without_importing_tensorflow():
    script = (
        "import sys\n"
        "from zoo.cli.main import main\n"
        "for argv in (['train', '--epoch', '3'], ['train', '--model', 'mmoee']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as stop:\n"
        "        if isinstance(stop.code, str):\n"
        "            print(stop.code, file=sys.stderr)\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
        "assert 'keras' not in sys.modules, 'Keras was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "unrecognized arguments: --epoch 3" in done.stderr
    assert "Unknown model 'mmoee'" in done.stderr


@pytest.mark.slow
def test_commands_are_quiet_and_ctrl_c_ends_in_one_line(tmp_path):
    quiet_env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    failed = _zoo_process(["evaluate", "--run-dir", "nowhere"], tmp_path, quiet_env)
    out, err = failed.communicate(timeout=120)
    assert failed.returncode == 1
    # Only the error itself: no absl preamble, no CUDA probes of a CPU machine.
    assert err.strip().splitlines() == [
        "zoo evaluate: error: nowhere is not a folder; expected a `zoo train` output folder."
    ]

    training = _zoo_process(
        [
            "train",
            "--dataset",
            "synthetic",
            "--epochs",
            "50",
            "--no-early-stopping",
            "--batch-size",
            "64",
            "--output-dir",
            "run",
        ],
        tmp_path,
        quiet_env,
    )
    for line in training.stdout:
        if line.startswith("Epoch 1/"):
            break
    time.sleep(2)
    training.send_signal(signal.SIGINT)
    out, err = training.communicate(timeout=120)
    assert training.returncode == 130, err[-2000:]
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith("zoo train: interrupted; training stopped before it finished")
    left = sorted(os.listdir(tmp_path / "run"))
    assert left == ["logs"], left  # no model, no record, no partial files
