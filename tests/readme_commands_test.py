"""Every `zoo` command line in README.md runs here, through evaluation and export.

`README_COMMANDS` is the table: each command of the README's ```bash blocks,
as the README writes it, and how it runs here. Data that cannot ship is a
fixture in its published format, written at the README's own placeholder
path (`path/to/ml-100k` is a MovieLens folder under the test's working
folder), so those arguments run as written; what changes is said in the
row: fewer epochs, smaller data or search space, no XLA, temporary
folders. A command added to the README without a row, or a row whose
command left the README, fails `test_every_readme_command_has_a_row`.

A `zoo train` runs on through `zoo evaluate --run-dir` and `zoo export
--run-dir`: the README's own commands where it gives them, else the test's.
Commands that read another's output (`zoo evaluate` after `zoo train`, the
retraining after `zoo search`, `--dataset tfrecord` after `zoo convert`) run
after it in one test, in README order; the chains are independent, one test
each. They run in this process through `main` (a subprocess per command
would import TensorFlow each time), but for the cluster command.
"""

import dataclasses
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from tests import fixtures_formats
from tests.distribute.local_cluster import free_ports
from zoo.cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class CoveredBy:
    """A README command that another test already runs (named as `path::function`)."""

    test: str


@dataclasses.dataclass(frozen=True)
class RunHere:
    """How a README command runs in this module.

    Args:
        set_flags: flag -> value that replaces the README's value (the flag
            must be in the README command).
        add_flags: arguments appended to the README command.
        after: the README command whose output this one reads; it runs
            first, in the same test.
        env: the environment variables the README sets before the command.
        check: a function of the test's folder that asserts what this
            command's model must do, run when its chain is done.
    """

    set_flags: dict = dataclasses.field(default_factory=dict)
    add_flags: tuple = ()
    after: str | None = None
    env: tuple = ()
    check: object = None


# The Census-Income copy that ships has 199,523 training rows: a minute of
# `zoo train --epochs 1` on 2 cores. Its first lines, in the same files'
# format, stand in for it (`write_census_income_head`).
CENSUS = ("--data-dir", "census-income-head")
# The first rows of the shipped KuaiRand subset hold every date (the split
# is by date) but no hate: its likes come first, its 8,083 hates last. They
# do for tasks other than like.
KUAIRAND_SAMPLE = ("--max-rows", "5000")
ONE_EPOCH = ("--epochs", "1")
# XLA's compile was 28 of the 40 s of the PLE row on 2 cores (the models
# compile with XLA in tests/models). The SavedModel comes from `zoo export
# --run-dir`, which reloads the run as a user's later command does, rather
# than from a second export inside `zoo train`.
FAST = ("--no-jit", "--no-export")
# The README's search space (AutoMTL's Table 1, 8 experts of 3 blocks) took
# 200 s to trace its first step; this one has every kind of candidate.
SMALL_SEARCH = (
    "--interaction-ops", "skip,cross-1,attention-2", "--expert-ops", "skip,bit-gate,conv1d-3",
    "--num-experts", "3", "--num-blocks", "2", "--num-selected", "2",
)  # fmt: skip

# Fixture folders, by the path a command names (relative to the test's working folder).
FIXTURES = {
    "census-income-head": fixtures_formats.write_census_income_head,
    "path/to/Taobao": fixtures_formats.write_taobao_multibehavior,
    "path/to/ml-100k": fixtures_formats.write_movielens_100k,
    "path/to/KuaiRand-27K/data": fixtures_formats.write_kuairand_27k,
    "path/to/ali-ccp": fixtures_formats.write_ali_ccp,
}


def _mfh_serves_every_group_head(folder):
    import tensorflow as tf

    (run_dir,) = folder.glob("runs/mfh-kuairand-*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model_config"]["groups"]["high"] == ["full_active", "high_active"]
    assert 0 < metrics["metrics"]["test"]["pcr"]["mse"] < 1  # completion rates lie in [0, 1]
    served = tf.saved_model.load(str(folder / "exported" / "mfh-kuairand" / "1"))
    outputs = served.signatures["serving_default"].structured_outputs
    assert {"pcr", "click", "pcr__new", "click__high"} <= set(outputs)


def _the_derived_architecture_is_retrained(folder):
    architecture = json.loads((folder / "runs/s/architecture.json").read_text())
    assert architecture["interaction"] in ("skip", "cross-1", "attention-2")
    assert all(len(chosen) == 2 for chosen in architecture["task_experts"].values())
    assert architecture["search"]["config"]["epochs"] == 1
    assert (folder / "runs/s/architecture.png").stat().st_size > 0
    assert (folder / "runs/s/selection.png").stat().st_size > 0
    (run_dir,) = folder.glob("runs/automtl-derived-kuairand-*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model_config"]["architecture"]["experts"] == architecture["experts"]
    with pytest.raises(SystemExit, match=r"task_experts names tasks \['click', 'like'\]"):
        main(["train", "--model", "automtl-derived", "--arch", "runs/s/architecture.json"]
             + ["--dataset", "kuairand", "--tasks", "click,long_view"])  # fmt: skip


PLE = (
    "zoo train --model ple --task-group 2 --protocol all-features --epochs 20 --output-dir runs/ple"
)
PLE_EVALUATE = "zoo evaluate --run-dir runs/ple"
SEARCH = (
    "zoo search --model automtl --dataset kuairand --tasks click,like --epochs 6 "
    "--output-dir runs/s"
)
CONVERT = (
    "zoo convert --dataset ali-ccp --data-dir path/to/ali-ccp --output-dir data/ali-ccp-tfr "
    "--rows-per-shard 1000000"
)
CLUSTER = (
    "zoo train --model mmoe --strategy multi-worker --batch-size 2048 "
    "--backup-dir /shared/runs/mmoe/backup --output-dir /shared/runs/mmoe"
)

README_COMMANDS = {
    # `.venv/bin/zoo train` after the install: the embedded default (MMoE on
    # Census-Income), trained, evaluated and exported in a fresh process there.
    "zoo train": CoveredBy("tests/cli/cli_test.py::test_default_train_then_evaluate_then_export"),
    PLE: RunHere(set_flags={"--epochs": "1"}, add_flags=(*CENSUS, *FAST)),
    PLE_EVALUATE: RunHere(after=PLE),
    "zoo export --run-dir runs/ple --export-name ple-census": RunHere(after=PLE_EVALUATE),
    (
        "zoo train --model mfh --dataset kuairand --tasks pcr,long_view,click "
        "--model-config datasets/kuairand/mfh.json"
    ): RunHere(
        # The repository's file: the test runs in a temporary folder.
        set_flags={"--model-config": str(ROOT / "datasets/kuairand/mfh.json")},
        add_flags=(*KUAIRAND_SAMPLE, *ONE_EPOCH, *FAST),
        check=_mfh_serves_every_group_head,
    ),
    SEARCH: RunHere(set_flags={"--epochs": "1"}, add_flags=SMALL_SEARCH),
    (
        "zoo train --model automtl-derived --arch runs/s/architecture.json --dataset kuairand "
        "--tasks click,like"
    ): RunHere(
        after=SEARCH, add_flags=(*ONE_EPOCH, *FAST), check=_the_derived_architecture_is_retrained
    ),
    "zoo train --model mogenet --dataset taobao-multibehavior --data-dir path/to/Taobao": CoveredBy(
        "tests/cli/graph_cli_test.py::test_mogenet_on_taobao_trains_evaluates_and_exports"
    ),
    "zoo train --model mmoe --with-mgnn --dataset movielens-100k --data-dir path/to/ml-100k": (
        RunHere(add_flags=(*ONE_EPOCH, *FAST))
    ),
    "zoo train --model ngcf --dataset movielens-100k --data-dir path/to/ml-100k": RunHere(
        add_flags=(*ONE_EPOCH, *FAST)
    ),
    # The README's cluster has two hosts; here one worker (the chief, index 0)
    # on 127.0.0.1, in its own process: a MultiWorkerMirroredStrategy made in
    # the pytest process would stay there for the tests after this one, and a
    # second worker would double this test's CPU on CI's 2 cores.
    # tests/distribute/multi_worker_test.py trains two real workers.
    CLUSTER: RunHere(
        env=("TF_CONFIG",),
        set_flags={
            "--backup-dir": "shared/runs/mmoe/backup",
            "--output-dir": "shared/runs/mmoe",
        },
        # tests/distribute/multi_worker_test.py exports from a cluster's chief.
        add_flags=(*CENSUS, *ONE_EPOCH, *FAST),
    ),
    (
        "zoo train --dataset kuairand --data-dir path/to/KuaiRand-27K/data --stream "
        "--tasks click,long_view,like --model mmoe"
    ): RunHere(add_flags=(*ONE_EPOCH, *FAST)),
    CONVERT: RunHere(),
    "zoo train --dataset tfrecord --data-dir data/ali-ccp-tfr --model mmoe": RunHere(
        after=CONVERT, add_flags=(*ONE_EPOCH, *FAST)
    ),
}


def readme_commands(text=None):
    """`[(command, env)]`: every `zoo` command of README.md's ```bash blocks, in order.

    Backslash continuations are joined and comments dropped; `command` is
    the argument list after the program, joined as `zoo ...` (the program
    may be spelled `.venv/bin/zoo`); `env` holds the `NAME=value` words
    before it. Other programs on the line (python, pip, pytest) are skipped.
    """
    text = (ROOT / "README.md").read_text() if text is None else text
    found = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", text, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                command, words = words[:cut], words[cut + 1 :]
                env = {}
                while command and re.match(r"[A-Za-z_]\w*=", command[0]):
                    name, value = command.pop(0).split("=", 1)
                    env[name] = value
                if command and os.path.basename(command[0]) == "zoo":
                    found.append((shlex.join(["zoo", *command[1:]]), env))
    return found


def test_commands_are_read_as_a_shell_reads_them():
    text = (
        "```bash\n"
        "python -m venv .venv && .venv/bin/zoo train\n"
        "# a comment line\n"
        "A='{\"k\": [1, 2]}' \\\n"
        "  zoo train --x a,b \\\n"
        "    --y 2  # --layout flat\n"
        "```\n"
        "  ```bash\n"
        "  zoo evaluate --run-dir r\n"
        "  ```\n"
    )
    assert readme_commands(text) == [
        ("zoo train", {}),
        ("zoo train --x a,b --y 2", {"A": '{"k": [1, 2]}'}),
        ("zoo evaluate --run-dir r", {}),
    ]


def test_every_readme_command_has_a_row():
    commands = dict(readme_commands())
    missing = [c for c in commands if c not in README_COMMANDS]
    assert not missing, (
        f"README.md commands that no test runs: {missing}. Add a row to README_COMMANDS in "
        "tests/readme_commands_test.py."
    )
    stale = [c for c in README_COMMANDS if c not in commands]
    assert not stale, f"README_COMMANDS rows for commands no longer in README.md: {stale}"
    order = list(commands)
    for command, row in README_COMMANDS.items():
        if isinstance(row, CoveredBy):
            path, name = row.test.split("::")
            assert f"def {name}(" in (ROOT / path).read_text(), f"{row.test} is gone"
            continue
        assert sorted(row.env) == sorted(commands[command]), command
        args = shlex.split(command)
        for flag in row.set_flags:
            assert flag in args, f"{command!r} has no {flag} to replace"
        for flag in row.add_flags:
            assert flag not in args, f"{command!r} has {flag} already: replace it in set_flags"
        if row.after is not None:
            assert order.index(row.after) < order.index(command), command
        # Every data folder is a fixture here, or what the command before it wrote.
        data_dir = _flag(_args_here(command, row), "--data-dir")
        if data_dir is not None and data_dir not in FIXTURES:
            assert row.after and data_dir == _flag(shlex.split(row.after), "--output-dir"), (
                f"{command!r} reads {data_dir}: add a writer of that folder to FIXTURES"
            )


def _chains():
    """`{first command: [it, and every command that reads its output, in README order]}`."""
    chains = {}
    for command, row in README_COMMANDS.items():
        if isinstance(row, CoveredBy):
            continue
        first = command
        while README_COMMANDS[first].after is not None:
            first = README_COMMANDS[first].after
        chains.setdefault(first, []).append(command)
    order = [c for c, _ in readme_commands()]
    return {first: sorted(chain, key=order.index) for first, chain in chains.items()}


def _args_here(command, row):
    """The README command's arguments, as they run here."""
    args = shlex.split(command)[1:]
    for flag, value in row.set_flags.items():
        args[args.index(flag) + 1] = value
    return [*args, *row.add_flags]


def _flag(args, name):
    return args[args.index(name) + 1] if name in args else None


def _saved_models(folder):
    return set(folder.rglob("saved_model.pb"))


def _run_in_a_worker(args, readme_env, tmp_path):
    """`zoo` in a fresh process, as the chief of a one-worker cluster on 127.0.0.1."""
    cluster = json.loads(readme_env["TF_CONFIG"])
    assert len(cluster["cluster"]["worker"]) == 2 and cluster["task"]["index"] == 0, (
        f"the README's TF_CONFIG changed: {cluster}; this test runs its worker 0 alone"
    )
    cluster["cluster"]["worker"] = [f"127.0.0.1:{free_ports(1)[0]}"]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, TF_CONFIG=json.dumps(cluster), PYTHONPATH=path)
    done = subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    return done.returncode, done.stdout + done.stderr


def _run(args, capsys, readme_env=None, tmp_path=None):
    if readme_env and "TF_CONFIG" in readme_env:
        code, output = _run_in_a_worker(args, readme_env, tmp_path)
    else:
        code = main(args)
        captured = capsys.readouterr()
        output = captured.out + captured.err
    assert code == 0, f"zoo {shlex.join(args)} exited with {code}:\n{output[-4000:]}"
    return output


def _finish_run(run_dir, done, tmp_path, capsys):
    """`zoo evaluate --run-dir` and `zoo export --run-dir` of a trained run, unless `done`."""
    if "evaluate" not in done:
        _run(["evaluate", "--run-dir", str(run_dir)], capsys)
        assert (run_dir / "evaluation.json").exists()
    if "export" not in done:
        _run(["export", "--run-dir", str(run_dir), "--export-dir", "exported"], capsys)
        assert list((tmp_path / "exported").glob("*/*/saved_model.pb"))


def _test_id(command):
    """A short name for a chain in test ids: `train-ple-census-income`."""
    args = shlex.split(command)[1:]
    names = [_flag(args, "--model"), _flag(args, "--dataset") or "census-income"]
    names += [name for name in ("--with-mgnn", "multi-worker", "--stream") if name in args]
    return "-".join([args[0], *(n.strip("-") for n in names if n)])


@pytest.mark.slow
@pytest.mark.parametrize("first", list(_chains()), ids=_test_id)
def test_readme_command_runs(first, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    readme_env = dict(readme_commands())
    runs = {}  # run folder -> the README's commands that evaluated or exported it
    for command in _chains()[first]:
        args = _args_here(command, README_COMMANDS[command])
        for path in args:
            if path in FIXTURES and not (tmp_path / path).exists():
                FIXTURES[path](tmp_path / path)
        runs_before = set(tmp_path.glob("runs/*"))
        models_before = _saved_models(tmp_path)
        _run(args, capsys, readme_env[command], tmp_path)
        subcommand, output_dir = args[0], _flag(args, "--output-dir")
        if subcommand == "train":
            if output_dir is None:  # runs/<model>-<dataset>-<time>
                (run_dir,) = set(tmp_path.glob("runs/*")) - runs_before
            else:
                run_dir = tmp_path / output_dir
            metrics = json.loads((run_dir / "metrics.json").read_text())
            assert metrics["metrics"]["test"], command
            if "TF_CONFIG" in readme_env[command]:
                assert metrics["training"]["strategy"] == "multi-worker"
                assert metrics["training"]["replicas"] == 1
            if "--no-export" not in args:
                assert _saved_models(tmp_path) - models_before, f"{command!r} exported nothing"
            runs[run_dir] = set()
        elif subcommand == "evaluate":
            run_dir = tmp_path / _flag(args, "--run-dir")
            assert (run_dir / "evaluation.json").exists()
            runs[run_dir].add("evaluate")
        elif subcommand == "export":
            assert _saved_models(tmp_path) - models_before, f"{command!r} exported nothing"
            runs[tmp_path / _flag(args, "--run-dir")].add("export")
        elif subcommand == "search":
            assert (tmp_path / output_dir / "architecture.json").exists()
        elif subcommand == "convert":
            assert (tmp_path / output_dir / "schema.json").exists()
    for run_dir, done in runs.items():
        _finish_run(run_dir, done, tmp_path, capsys)
    for command in _chains()[first]:
        if README_COMMANDS[command].check is not None:
            README_COMMANDS[command].check(tmp_path)
