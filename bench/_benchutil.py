"""Small helpers shared by the benchmark scripts (standard library only, zoo imported lazily)."""

import datetime
import importlib.metadata
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_json(path, payload):
    """Writes JSON beside `path`, then renames: the file is whole or absent."""
    import json

    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)


def add_training_flags(parser, batch_size):
    """The training flags every model-training benchmark takes (early stopping on validation)."""
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    add_xla_flag(parser)


def add_xla_flag(parser):
    """`--no-xla`: train in graph mode, without XLA (`args.xla` False)."""
    parser.add_argument(
        "--no-xla",
        dest="xla",
        action="store_false",
        help="train without XLA: no compilation per model, slower steps (for smoke runs; "
        "published figures are measured with XLA)",
    )


def training_settings(args, with_learning_rate=True):
    """The values of `add_training_flags`, as recorded in a report's settings.

    `jit_compile` is recorded only when XLA is off, so runs stored before the
    flag existed still match their settings and are not trained again.
    `with_learning_rate=False` leaves the learning rate out, for benchmarks
    that tune it per model.
    """
    settings = {
        "max_epochs": args.max_epochs,
        "patience": args.patience,
        "batch_size": args.batch_size,
    }
    if with_learning_rate:
        settings["learning_rate"] = args.learning_rate
    if not args.xla:
        settings["jit_compile"] = False
    return settings


def training_config(settings, seed, learning_rate=None):
    """A quiet `zoo.training.TrainingConfig` from `training_settings` and a seed.

    `learning_rate`, where given, replaces the settings' (a tuned value).
    """
    from zoo.training import TrainingConfig

    return TrainingConfig(
        epochs=settings["max_epochs"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"] if learning_rate is None else learning_rate,
        jit_compile=settings.get("jit_compile", True),
        early_stopping_patience=settings["patience"],
        seed=seed,
        verbose=0,
    )


def stored_run(path, settings_key, run, *args):
    """A benchmark run kept in `path`: reused if made with the same settings, else made.

    Returns `(result, fresh)`: `run(*args)`'s result (stored at `path`, whole
    or absent) or the stored one, and whether it was made now. This is what
    lets an interrupted benchmark resume.
    """
    import json

    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved.get("settings") == settings_key:
            return saved["run"], False
    result = run(*args)
    write_json(path, {"settings": settings_key, "run": result})
    return result, True


def read_stored_run(path, settings_key):
    """The run `stored_run` kept at `path` with these settings, or `None` (for re-rendering)."""
    import json

    if not os.path.exists(path):
        return None
    with open(path) as f:
        saved = json.load(f)
    return saved["run"] if saved.get("settings") == settings_key else None


def new_report(started, settings, **results):
    """The common head of a benchmark's JSON report: when, how, on what, how long."""
    import time

    return {
        "date": utc_now(),
        "command": command_line(),
        "machine": machine_info(),
        "wall_s": time.perf_counter() - started,
        "settings": settings,
        **results,
    }


def write_report(base, report, markdown_text):
    """Writes `<base>.json` and `<base>.md` (whole or absent) and prints the markdown."""
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    write_json(base + ".json", report)
    tmp = base + ".md.tmp"
    with open(tmp, "w") as f:
        f.write(markdown_text)
    os.replace(tmp, base + ".md")
    print(markdown_text)


def proc_status_kb(field):
    """A `/proc/self/status` field in kB (VmHWM = peak RSS, VmRSS = current), or -1."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def peak_rss_mb():
    return proc_status_kb("VmHWM") / 1024.0


def current_rss_mb():
    return proc_status_kb("VmRSS") / 1024.0


def reset_peak_rss():
    """Resets VmHWM to the current RSS, so the next `peak_rss_mb` is a stage's own peak.

    Returns whether the kernel allowed it (`/proc/self/clear_refs`, Linux 4.0+).
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def mean_std_cell(values, spec=".4f"):
    """A table cell "mean ± std" of the values that are not None ("—" if none; std 0 for one)."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):{spec}} ± {std:{spec}}"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def machine_info():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "cpus_usable": affinity,
        "load_average_at_start": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def versions(*packages):
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def command_line():
    """The command as typed, relative to the repository root when possible."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO_ROOT)
    return " ".join(["python", shlex.quote(script)] + [shlex.quote(a) for a in sys.argv[1:]])


def utc_now():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt(values, spec, missing="—"):
    """Repeats of one figure as `a / b / c`."""
    if not isinstance(values, (list, tuple)):
        values = [values]
    return " / ".join(missing if v is None else format(v, spec) for v in values)


# ---------------------------------------------------------------------------
# Other load on the machine. The 2-core machine is shared; these tell how much
# CPU the rest of the machine used while a child process was being measured.
# ---------------------------------------------------------------------------


def system_busy_seconds():
    """CPU seconds spent busy by the whole machine since boot (all cores, /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...; busy = all but idle + iowait
    busy = sum(fields[:3]) + sum(fields[5:8])
    return busy / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """User + system CPU seconds of this process's finished (waited-for) children."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def busy_cores(interval=1.0):
    """Average number of busy cores over `interval` seconds (this process sleeps)."""
    import time

    b0 = system_busy_seconds()
    time.sleep(interval)
    b1 = system_busy_seconds()
    if b0 is None or b1 is None:
        return None
    return (b1 - b0) / interval


def wait_for_quiet(max_wait_s, threshold=0.3, interval=2.0):
    """Waits (at most `max_wait_s`) until other work uses <= `threshold` cores.

    Returns (busy cores at the last look, seconds waited)."""
    import time

    t0 = time.perf_counter()
    while True:
        busy = busy_cores(interval)
        waited = time.perf_counter() - t0
        if busy is None or busy <= threshold or waited >= max_wait_s:
            return busy, waited


class OtherLoad:
    """Context manager: CPU used by everything except our children during the block.

    `other_cores` = (machine busy CPU-seconds - our children's CPU-seconds) / wall."""

    def __enter__(self):
        import time

        self._t0 = time.perf_counter()
        self._b0 = system_busy_seconds()
        self._c0 = children_cpu_seconds()
        return self

    def __exit__(self, *exc):
        import time

        wall = time.perf_counter() - self._t0
        b1, c1 = system_busy_seconds(), children_cpu_seconds()
        self.child_cpu_s = c1 - self._c0
        if self._b0 is None or b1 is None or wall <= 0:
            self.other_cores = None
        else:
            self.other_cores = max(0.0, ((b1 - self._b0) - self.child_cpu_s) / wall)
        return False


def run_child(cmd, out_path, log_path, env, timeout_s):
    """Runs one measurement process, its output logged to `log_path`.

    Returns the JSON the child wrote to `out_path` (removed afterwards), or a
    `{"status": "failed", ...}` record with the log's tail, plus the child's
    wall and CPU time and the other load on the machine while it ran.
    """
    import json
    import subprocess
    import time

    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    if os.path.exists(out_path):
        os.remove(out_path)
    t0 = time.perf_counter()
    with open(log_path, "w") as log, OtherLoad() as other:
        try:
            rc = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout_s
            ).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.perf_counter() - t0
    if rc == 0 and os.path.exists(out_path) and os.path.getsize(out_path) > 0:
        with open(out_path) as f:
            record = json.load(f)
    else:
        with open(log_path) as f:
            record = {"status": "failed", "returncode": rc, "log_tail": f.read()[-3000:]}
    if os.path.exists(out_path):
        os.remove(out_path)
    record["process_wall_s"] = round(wall, 2)
    record["process_cpu_s"] = round(other.child_cpu_s, 1)
    record["other_load_cores"] = None if other.other_cores is None else round(other.other_cores, 2)
    return record


def meminfo_mb(field):
    """A `/proc/meminfo` field in MB (`"MemAvailable"`, `"MemTotal"`), or `None`."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def start_memory_guard(max_rss_mb, min_available_mb, note_path):
    """Forks a watchdog that SIGKILLs this process past `max_rss_mb` or low machine memory.

    Forked before TensorFlow is imported (a plain Python process, a few
    MB). It polls every 0.2 s, writes why it killed to `note_path`, and
    exits when its parent does. Returns the watchdog's pid.
    """
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    try:
        status = f"/proc/{parent}/status"
        while os.getppid() == parent:
            time.sleep(0.2)
            rss = -1.0
            with open(status) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1]) / 1024.0
            available = meminfo_mb("MemAvailable")
            reason = None
            if rss > max_rss_mb:
                reason = f"memory guard: RSS {rss:,.0f} MB > limit {max_rss_mb:,.0f} MB"
            elif available is not None and available < min_available_mb:
                reason = (
                    f"memory guard: machine MemAvailable {available:,.0f} MB < "
                    f"{min_available_mb:,.0f} MB (RSS {rss:,.0f} MB)"
                )
            if reason:
                write_json(note_path, {"reason": reason, "rss_mb": rss})
                os.kill(parent, signal.SIGKILL)
                break
    except Exception:  # the watchdog must never outlive a problem
        pass
    os._exit(0)


def run_guarded_child(cmd, out_path, log_path, env, timeout_s):
    """`run_child` for a child that writes `<out_path>.progress` and runs a memory guard.

    A failed child's record gets the stages its progress file had reached,
    their peak RSS, and why it failed (`child_failure_kind`); the notes are
    removed either way. Prints one line, ok or failed.
    """
    import json

    record = run_child(cmd, out_path, log_path, env, timeout_s)
    notes = {}
    for suffix in (".progress", ".guard"):
        if os.path.exists(out_path + suffix):
            with open(out_path + suffix) as f:
                notes[suffix] = json.load(f)
            os.remove(out_path + suffix)
    if record.get("status") == "failed":
        failed = {**notes.get(".progress", {}), **record, "status": "failed"}
        failed["failure"] = child_failure_kind(record, notes.get(".guard"))
        if failed.get("stages"):
            failed["peak_rss_mb"] = max(s["peak_rss_mb"] for s in failed["stages"].values())
        record = failed
        print(
            f"   FAILED after stage {record.get('last_stage') or '(none)'}: {record['failure']} "
            f"(log: {log_path})",
            flush=True,
        )
    else:
        print(
            f"   ok in {record['process_wall_s']:.0f} s, peak RSS {record['peak_rss_mb']:,.0f} MB",
            flush=True,
        )
    record["log"] = os.path.relpath(log_path, REPO_ROOT)
    return record


def finish_child(record, out_path, guard):
    """A child's last step: its peak RSS over the stages, `status` ok, the record written, the
    memory guard (`start_memory_guard`) stopped."""
    record["peak_rss_mb"] = max(s["peak_rss_mb"] for s in record["stages"].values())
    record["status"] = "ok"
    write_json(out_path, record)
    os.kill(guard, signal.SIGTERM)
    os.waitpid(guard, 0)


def child_failure_kind(record, note):
    """Why a `run_child` measurement failed: the memory guard's note, or what its log shows."""
    if note:
        return note["reason"]
    tail = record.get("log_tail", "")
    if "MemoryError" in tail or "ResourceExhausted" in tail or "bad_alloc" in tail:
        return "MemoryError"
    rc = record.get("returncode")
    if rc == "timeout":
        return "timeout"
    if rc in (-9, 137):
        return "killed (SIGKILL: the system's out-of-memory killer?)"
    return f"exception (return code {rc})"


def short_commit(revision="HEAD"):
    """The short hash of `revision` in this repository."""
    return subprocess.run(
        ["git", "-C", REPO_ROOT, "rev-parse", "--short", revision],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def worktree(revision):
    """A checkout of `revision` beside the repository (created once, reused): `(path, commit)`.

    For before/after benchmarks that import an earlier revision of the zoo.
    """
    commit = short_commit(revision)
    path = os.path.join(tempfile.gettempdir(), f"zoo-before-{commit}")
    if not os.path.isdir(path):
        subprocess.run(
            ["git", "-C", REPO_ROOT, "worktree", "add", "--detach", path, commit],
            check=True,
            capture_output=True,
        )
    return path, commit


def add_revision_child_flags(parser, sides):
    """The hidden flags `run_revision_child` starts a child with; `sides` names the children.

    In the child, `args.child` is its side (None in the parent), `args.code_root`
    the checkout to import, `args.settings` the settings as JSON and `args.out`
    where its JSON record goes.
    """
    import argparse

    parser.add_argument("--child", choices=tuple(sides), help=argparse.SUPPRESS)
    parser.add_argument("--code-root", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)


def run_revision_child(script, side, code_root, settings, label, log_path, env, timeout_s, *args):
    """One child of a before/after benchmark: `script --child SIDE` importing the zoo of
    `code_root` (see `worktree`), with `settings` as JSON and `args` after them.

    Prints `[label] ...` before and the log's tail on failure. Returns the
    `run_child` record with `"side"` set.
    """
    import json

    out = os.path.join(tempfile.gettempdir(), f"zoo-{os.getpid()}-{side}.json")
    cmd = [sys.executable, os.path.abspath(script), "--child", side, "--code-root", code_root]
    cmd += ["--settings", json.dumps(settings), "--out", out, *map(str, args)]
    print(f"[{label}] ...", flush=True)
    record = run_child(cmd, out, log_path, env, timeout_s)
    record["side"] = side
    if record.get("status") != "ok":
        print(f"   failed: {record.get('log_tail', '')[-1500:]}", flush=True)
    return record


# ---------------------------------------------------------------------------
# Worker processes for benchmarks of many small trainings. A model of a few
# thousand weights spends its step in per-op overhead (the synthetic
# benchmark's MMoE: about 2 ms per step of 256 rows for about 0.2 ms of
# arithmetic), which a second intra-op thread does not split; processes on
# disjoint runs, one thread each, can keep both cores busy instead.
# ---------------------------------------------------------------------------


def add_worker_flags(parser):
    """`--workers N` and the hidden `--worker-index` of the processes it starts."""
    import argparse

    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the runs, one intra-op thread each (default: %(default)s)",
    )
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)


def limit_threads_for_workers(workers):
    """One intra-op and one inter-op thread per process where several share the cores."""
    if workers > 1:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def start_workers(workers, argv, log_dir):
    """Starts workers 1..`workers`-1 on this script with `argv`; returns their processes.

    Each runs `sys.argv[0] *argv --worker-index k` and writes its output to
    `log_dir/worker<k>.log`. The caller does share 0 and then `wait_for_workers`.
    On Linux a worker is stopped when the process that started it dies, so
    that `keep_running.py`, starting the command again after a crash, does
    not leave the old workers training the same runs beside the new ones.
    """
    import subprocess

    os.makedirs(log_dir, exist_ok=True)
    processes = []
    for index in range(1, workers):
        log = open(os.path.join(log_dir, f"worker{index}.log"), "w")
        command = [sys.executable, os.path.abspath(sys.argv[0]), *argv]
        command += ["--worker-index", str(index)]
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        process.log = log
        processes.append(process)
    return processes


def _die_with_parent():
    """In a child before exec: SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def wait_for_workers(processes, log_dir):
    """Waits for `start_workers`' processes; raises naming the log of any that failed."""
    failed = []
    for index, process in enumerate(processes, start=1):
        code = process.wait()
        process.log.close()
        if code != 0:
            failed.append(f"worker {index} (exit {code}, log {log_dir}/worker{index}.log)")
    if failed:
        raise RuntimeError("benchmark workers failed: " + "; ".join(failed))


def is_my_share(index, workers, worker_index):
    """Whether run number `index` (0-based, in a fixed order) belongs to this worker."""
    return index % workers == worker_index
