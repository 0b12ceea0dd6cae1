"""bench/_benchutil.py's worker processes: shares, failures named, no orphans after a crash."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import _benchutil as bu  # noqa: E402

# A stand-in benchmark: as a worker it records its pid and sleeps (or exits
# with the code it is given); as the first process it starts one worker.
SCRIPT = f"""
import os, sys, time
sys.path.insert(0, {str(BENCH)!r})
import _benchutil as bu
if "--worker-index" in sys.argv:
    pid_file, exit_code = sys.argv[1], int(sys.argv[2])
    open(pid_file, "w").write(str(os.getpid()))
    sys.exit(exit_code) if exit_code else time.sleep(120)
else:
    workers = bu.start_workers(2, sys.argv[1:3], sys.argv[3])
    bu.wait_for_workers(workers, sys.argv[3])
"""


def _alive(pid):
    try:
        state = pathlib.Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has ended


def _wait_for(path, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return int(path.read_text())


def test_every_run_has_exactly_one_worker():
    for workers in (1, 2, 3):
        owners = [[k for k in range(workers) if bu.is_my_share(i, workers, k)] for i in range(10)]
        assert all(len(o) == 1 for o in owners)


def test_a_failed_worker_is_named_with_its_log(tmp_path):
    script = tmp_path / "bench.py"
    script.write_text(SCRIPT)
    logs = tmp_path / "logs"
    done = subprocess.run(
        [sys.executable, script, tmp_path / "pid", "3", logs], capture_output=True, text=True
    )
    assert done.returncode != 0
    assert f"worker 1 (exit 3, log {logs}/worker1.log)" in done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_stop_when_the_first_process_dies(tmp_path):
    script = tmp_path / "bench.py"
    script.write_text(SCRIPT)
    pid_file = tmp_path / "pid"
    parent = subprocess.Popen([sys.executable, script, pid_file, "0", tmp_path / "logs"])
    try:
        worker = _wait_for(pid_file)
        assert _alive(worker)
        os.kill(parent.pid, signal.SIGKILL)  # as a segfault would end it
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(worker):
            assert time.monotonic() < deadline, "the worker outlived the process that started it"
            time.sleep(0.05)
    finally:
        parent.kill()
