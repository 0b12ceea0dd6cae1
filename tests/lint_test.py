"""ruff (lint and format) over the whole repository, so CI enforces the style."""

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _ruff(*args):
    executable = shutil.which("ruff", path=str(pathlib.Path(sys.executable).parent)) or "ruff"
    return subprocess.run([executable, *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("args", [("check", "."), ("format", "--check", ".")])
def test_ruff(args):
    completed = _ruff(*args)
    assert completed.returncode == 0, completed.stdout + completed.stderr
