#!/usr/bin/env python
"""Starts a resumable benchmark again when it dies of a signal, until it ends by itself.

TensorFlow has killed long benchmarks here with a segfault inside `libgcc_s`
(dmesg), after tens of trainings in one process: `peer_models.py` twice,
`dlen_kuairand.py` and `automtl.py` once each; the same runs went through when
started again. Those benchmarks keep every finished run in their `*_runs/`
folder and resume from it, so starting the command again loses only the run
that was in flight. A benchmark that ends by itself, with success or with an
error (an exit code >= 0), is not started again: an error would come back.

    python bench/keep_running.py -- python bench/peer_models.py --datasets census
    python bench/keep_running.py --attempts 3 -- python bench/mogenet.py --quick
"""

import argparse
import signal
import subprocess
import sys
import time


def keep_running(command, attempts):
    """Runs `command` until it exits by itself, at most `attempts` times; its last exit code.

    A death by signal `s` (exit code -s) starts it again; the last attempt's code
    is returned as the shell would give it (128 + s for a signal).
    """
    for attempt in range(1, attempts + 1):
        started = time.perf_counter()
        code = subprocess.call(command)
        if code >= 0:
            return code
        name = signal.Signals(-code).name
        print(
            f"[keep_running] attempt {attempt} of {attempts} died of {name} after "
            f"{time.perf_counter() - started:.0f} s"
            + (", starting again" if attempt < attempts else ""),
            file=sys.stderr,
            flush=True,
        )
    return 128 - code


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=5)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --, e.g. -- python bench/peer_models.py")
    if args.attempts < 1:
        parser.error(f"--attempts must be at least 1; received {args.attempts}")
    return keep_running(command, args.attempts)


if __name__ == "__main__":
    sys.exit(main())
