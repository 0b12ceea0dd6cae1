"""Worker processes on 127.0.0.1 with a `TF_CONFIG` each, always stopped at the end."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time


def free_ports(count):
    """`count` TCP ports free at this moment, chosen by the system."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def local_cluster(script_args, num_workers, log_dir, extra_args=None):
    """Starts `num_workers` processes running `script_args` as one TF cluster.

    Args:
        script_args: the command after the Python interpreter.
        num_workers: workers, on ports chosen now.
        log_dir: each worker's stdout and stderr go to `worker-<i>.log` here.
        extra_args: dict from worker index to more arguments for that worker.

    Yields:
        The `subprocess.Popen` of each worker. Every one still running when
        the block ends (or fails) is killed and reaped.
    """
    addresses = [f"127.0.0.1:{port}" for port in free_ports(num_workers)]
    processes = []
    try:
        for index in range(num_workers):
            tf_config = {
                "cluster": {"worker": addresses},
                "task": {"type": "worker", "index": index},
            }
            env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="3")
            log = open(os.path.join(log_dir, f"worker-{index}.log"), "a")
            command = [sys.executable, *script_args, *(extra_args or {}).get(index, [])]
            processes.append(
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
            log.close()
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for process in processes:
            process.wait()


def wait_all(processes, timeout_s):
    """Exit codes of all processes, waiting at most `timeout_s` in all (None: still running)."""
    deadline = time.monotonic() + timeout_s
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
    return [process.poll() for process in processes]


def read_log(log_dir, index):
    with open(os.path.join(log_dir, f"worker-{index}.log")) as f:
        return f.read()
