"""The model flags of `zoo train` are made from the constructors, through a committed catalogue."""

import subprocess
import sys

import pytest

from zoo.cli import flags, model_arguments
from zoo.cli.main import build_parser, main
from zoo.registry import MODELS

# The model flags `zoo train` had before they were generated; scripts use them.
HAND_WRITTEN_BEFORE = (
    "num_experts expert_units tower_units bottom_units hidden_units num_levels num_layers "
    "num_task_experts num_shared_experts gate_temperature expert_batch_norm dropout units "
    "self_weight l0_strength bias_features bias_tasks bias_dropout shallow_tower_units "
    "hidden_state_units alpha alpha_ratio layout group_feature interaction cooperative_weight l2"
).split()


def test_the_committed_catalogue_is_what_the_constructors_say():
    expected = model_arguments.render(model_arguments.catalogue())
    committed = model_arguments.CATALOGUE_PATH.read_text()
    assert committed == expected, (
        f"{model_arguments.CATALOGUE_PATH.name} is out of date: run "
        f"`{model_arguments.WRITE_COMMAND}` and commit the file."
    )


def test_every_flag_that_existed_is_still_there():
    catalogue = flags.model_catalogue()
    assert [name for name in HAND_WRITTEN_BEFORE if name not in catalogue] == []
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    dests = {action.dest for action in train._actions}
    assert set(HAND_WRITTEN_BEFORE) <= dests


def test_a_flag_lists_the_models_that_take_it_with_their_defaults():
    catalogue = flags.model_catalogue()
    assert catalogue["num_experts"]["defaults"] == {
        "omoe": 8,
        "mmoe": 8,
        "snr-trans": 4,
        "snr-aver": 4,
        "dbmtl": 0,  # its experts are optional: 0 is a bottom MLP alone
        "youtube-mmoe": 8,
        "mmoe-dlen": 8,
    }
    text = flags.model_flag_help(catalogue["num_experts"])
    assert text.startswith("omoe, mmoe, youtube-mmoe, mmoe-dlen: int >= 1, the number of experts")
    assert "(default 8). snr-trans, snr-aver: int >= 1, sub-networks per layer (default 4)" in text
    # ESMM's towers are none by default, unlike the other models'.
    tower_help = flags.model_flag_help(catalogue["tower_units"])
    assert "(default 16)" in tower_help and "esmm, escm2: widths of the tower" in tower_help
    assert catalogue["tower_units"]["defaults"]["esmm"] == []
    assert flags.model_flag_help(catalogue["tower_dropout"]).startswith("every model: ")


def test_value_types_come_from_the_defaults():
    catalogue = flags.model_catalogue()
    types = {name: entry["type"] for name, entry in catalogue.items()}
    assert types["num_experts"] == "int"
    assert types["gate_temperature"] == "float"
    assert types["expert_batch_norm"] == "bool"
    assert types["expert_units"] == "units"  # SNR takes an int or a list
    assert types["bias_features"] == "names"
    assert types["group_feature"] == "str"
    assert catalogue["layout"]["choices"] == ["mfh", "h-mtl", "flat"]
    for skipped in model_arguments.NOT_FLAGS:
        assert skipped not in catalogue
    with pytest.raises(ValueError, match="share one type"):
        model_arguments._value_type("x", [1, "a"])


def test_parsed_values_reach_the_constructor_arguments():
    args = build_parser().parse_args(
        ["train", "--model", "snr-trans", "--expert-units", "16", "--num-layers", "3"]
    )
    # SNR takes one width as an int; a list must have one width per layer.
    assert flags.model_flag_kwargs(args, "snr-trans") == {"expert_units": 16, "num_layers": 3}
    args = build_parser().parse_args(["train", "--expert-units", "64,32", "--no-expert-batch-norm"])
    assert flags.model_flag_kwargs(args, "mmoe") == {
        "expert_units": [64, 32],
        "expert_batch_norm": False,
    }


def test_a_generated_flag_a_model_does_not_take_is_a_one_line_usage_error():
    with pytest.raises(SystemExit) as stop:
        main(["train", "--model", "mmoe", "--zeta", "1.2"])
    assert stop.value.code == "zoo train: error: --zeta does not apply to model 'mmoe'."
    # NGCF's width and depth come from --graph-units and --graph-layers.
    with pytest.raises(SystemExit, match="--units does not apply to model 'ngcf'"):
        main(["train", "--model", "ngcf", "--units", "8"])


def test_every_model_is_in_the_catalogue():
    catalogue = flags.model_catalogue()
    taken = {model for entry in catalogue.values() for model in entry["defaults"]}
    assert taken == set(MODELS)


def test_help_and_misplaced_flags_are_answered_without_tensorflow():
    script = (
        "import sys\n"
        "from zoo.cli.main import main\n"
        "for argv in (['train', '--help'], ['train', '--model', 'mmoe', '--zeta', '1.2']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as stop:\n"
        "        if isinstance(stop.code, str):\n"
        "            print(stop.code, file=sys.stderr)\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
        "assert 'keras' not in sys.modules, 'Keras was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "mmoe, omoe" not in done.stdout  # the registry's order
    assert "omoe, mmoe, youtube-mmoe, mmoe-dlen: int >= 1" in " ".join(done.stdout.split())
    assert "--zeta does not apply to model 'mmoe'" in done.stderr
