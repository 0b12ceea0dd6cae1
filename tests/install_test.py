"""The wheel on its own: a fresh virtualenv, no checkout beside it, as a Colab user has it.

The virtualenv starts as a Colab runtime does, with TensorFlow and a Jupyter
kernel and no zoo. The quickstart notebook's first cell installs the wheel
(`ZOO_PIP_SOURCE`, as the README says to point it at a repository); then the
notebook runs, and so does `zoo train` on the embedded default.

The dependencies come from PyPI (or pip's cache) at constraints.txt's
versions, not from the test's own environment: that is what shows the wheel
declares everything it imports. A virtualenv over the test's environment
(`--system-site-packages`) would be quicker but would hide a missing
dependency. Everything runs in tmp_path, away from the repository.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from packaging.utils import canonicalize_name

from tests.notebooks_test import BUILD, check_quickstart

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
# `zoo train`'s embedded default made small: `zoo train --help` lists these flags.
TINY = "--epochs 1 --num-experts 2 --expert-units 8 --tower-units 4 --no-jit --quiet".split()


def _run(command, cwd, env=None, timeout=900):
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


def _clean_env():
    """This process's environment without what points back at the checkout; pip constrained."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CONSTRAINT": str(CONSTRAINTS)}


def _pinned(name):
    """`name==version` as constraints.txt pins it (pip freeze spells names its own way)."""
    for line in CONSTRAINTS.read_text().splitlines():
        pinned, _, version = line.partition("==")
        if version and canonicalize_name(pinned) == name:
            return f"{name}=={version}"
    raise AssertionError(f"constraints.txt pins no {name}")


@pytest.mark.slow
def test_wheel_alone_installs_from_the_notebook_and_trains(tmp_path):
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT], cwd=tmp_path)
    (wheel,) = dist.glob("*.whl")

    # A Colab-like runtime: TensorFlow and a kernel, no zoo.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    env = _clean_env()
    _run(
        [python, "-m", "pip", "install", "-q", _pinned("tensorflow-cpu"), _pinned("ipykernel")],
        cwd=tmp_path,
        env=env,
    )

    # The notebook's own first cell installs the wheel, then the notebook runs.
    workdir = tmp_path / "notebook"
    workdir.mkdir()
    notebook = BUILD.execute(
        ROOT / "colab" / "quickstart.py",
        workdir,
        {**BUILD.ci_settings("quickstart"), **env, "ZOO_PIP_SOURCE": wheel.as_uri()},
        tmp_path / "jupyter",
        python=python,
    )
    check_quickstart(notebook, workdir)

    # The zoo it ran is the wheel's, reading the data the wheel carries.
    where = json.loads(
        _run(
            [
                python,
                "-c",
                "import json, zoo; from zoo.data.base.paths import default_data_dir; "
                "print(json.dumps([zoo.__file__, default_data_dir('census-income'), "
                "default_data_dir('kuairand')]))",
            ],
            cwd=tmp_path,
            env=env,
        ).splitlines()[-1]
    )
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert all(pathlib.Path(path).is_relative_to(site) for path in where), where
    assert not any(pathlib.Path(path).is_relative_to(ROOT) for path in where), where
    # TensorFlow once: the runtime's tensorflow-cpu, no `tensorflow` wheel beside it.
    installed = _run([python, "-m", "pip", "list", "--format", "json"], cwd=tmp_path, env=env)
    names = {package["name"].lower().replace("_", "-") for package in json.loads(installed)}
    assert "tensorflow-cpu" in names and "mtl-zoo" in names
    assert not names & {"tensorflow", "tensorflow-serving-api"}

    # The embedded default, small: Census-Income, MMoE, one epoch, export with warm-up.
    run = tmp_path / "train"
    run.mkdir()
    _run([venv / "bin" / "zoo", "train", *TINY, "--output-dir", "run"], cwd=run, env=env)
    metrics = json.loads((run / "run" / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["model"] == "mmoe"
    assert metrics["metrics"]["test"]["income"]["auc"] > 0.8
    export = run / "savedmodels" / "mmoe-census-income" / "1"
    assert (export / "assets.extra" / "tf_serving_warmup_requests").is_file()
