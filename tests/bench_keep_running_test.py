"""bench/keep_running.py starts a benchmark again after a crash, and only after a crash."""

import sys

from tests.bench_process import run_bench

# Dies of SIGSEGV until it has been started `deaths` times, as TensorFlow did mid-benchmark.
CHILD = """
import os, pathlib, signal, sys
count = pathlib.Path(sys.argv[1])
started = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(started))
if started <= int(sys.argv[2]):
    os.kill(os.getpid(), signal.SIGSEGV)
sys.exit(int(sys.argv[3]))
"""


def _run(tmp_path, deaths, exit_code, attempts):
    count = tmp_path / "starts"
    command = [sys.executable, "-c", CHILD, count, deaths, exit_code]
    completed = run_bench("keep_running.py", "--attempts", attempts, "--", *command, timeout=120)
    return completed, int(count.read_text())


def test_a_crashed_run_is_started_again_until_it_finishes(tmp_path):
    completed, starts = _run(tmp_path, deaths=2, exit_code=0, attempts=5)
    assert (completed.returncode, starts) == (0, 3)
    assert completed.stderr.count("died of SIGSEGV") == 2


def test_an_error_is_not_retried_and_attempts_are_bounded(tmp_path):
    completed, starts = _run(tmp_path, deaths=0, exit_code=3, attempts=5)
    assert (completed.returncode, starts) == (3, 1)
    (tmp_path / "bounded").mkdir()
    completed, starts = _run(tmp_path / "bounded", deaths=9, exit_code=0, attempts=2)
    assert (completed.returncode, starts) == (128 + 11, 2)
    assert "attempt 2 of 2 died of SIGSEGV" in completed.stderr
