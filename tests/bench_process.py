"""Runs a `bench/` script in a child process, as a user would, for the benchmarks' smoke tests."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_bench(script, *args, timeout=600):
    """`python bench/<script> <args>`; the completed process, its output captured as text."""
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=timeout,
    )
