"""What goes wrong around an export: modes, exports at once, killed and interrupted writers."""

import os
import signal
import socket
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest

from zoo import export
from zoo.export import saved_model


def _rows(dataset, n=2):
    return {k: v[:n] for k, v in dataset.validation.features.items()}


def _staging_name(pid, host=None, namespace=None):
    # The documented staging name: `.tmp-zoo-<pid>.<pid namespace>-<8 hex>@<host>`.
    if namespace is None:
        namespace = os.stat("/proc/self/ns/pid").st_ino if os.path.exists("/proc/self/ns") else 0
    return f".tmp-zoo-{pid}.{namespace}-0123abcd@{host or socket.gethostname()}"


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize(
    "mask, folder_mode, file_mode",
    [
        pytest.param(0o022, 0o755, 0o644, id="umask 022"),
        pytest.param(0o027, 0o750, 0o640, id="umask 027"),
    ],
)
def test_version_folder_takes_the_umask_modes(
    small_model, synthetic_dataset, tmp_path, umask, mask, folder_mode, file_mode
):
    umask(mask)
    path = export.export_saved_model(
        small_model, str(tmp_path), "m", warmup_rows=_rows(synthetic_dataset)
    )
    modes = {".": stat.S_IMODE(os.stat(path).st_mode)}
    for folder, subfolders, files in os.walk(path):
        for name in subfolders + files:
            full = os.path.join(folder, name)
            modes[os.path.relpath(full, path)] = stat.S_IMODE(os.stat(full).st_mode)
    expected = {
        name: folder_mode if os.path.isdir(os.path.join(path, name)) else file_mode
        for name in modes
    }
    assert {k: oct(v) for k, v in modes.items()} == {k: oct(v) for k, v in expected.items()}
    assert {"assets.extra", "variables", "saved_model.pb"} <= set(modes)


def test_two_exports_at_once_land_as_two_versions(small_model, tmp_path, monkeypatch):
    base = str(tmp_path)
    barrier = threading.Barrier(2, timeout=60)
    first_calls = set()
    real_next_version = saved_model.next_version

    def racing_next_version(model_dir):
        version = real_next_version(model_dir)
        if threading.get_ident() not in first_calls:
            first_calls.add(threading.get_ident())
            barrier.wait()  # both exports now hold the same number
        return version

    monkeypatch.setattr(saved_model, "next_version", racing_next_version)
    results, errors = [], []

    def run():
        try:
            results.append(export.export_saved_model(small_model, base, "m"))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert sorted(results) == [os.path.join(base, "m", "1"), os.path.join(base, "m", "2")]
    assert sorted(os.listdir(os.path.join(base, "m"))) == ["1", "2"]
    for path in results:
        assert os.path.isfile(os.path.join(path, "saved_model.pb"))


@pytest.mark.parametrize("renameat2", ["renameat2", "check then rename"])
def test_a_version_taken_during_the_export_moves_to_the_next(
    small_model, tmp_path, monkeypatch, renameat2
):
    if renameat2 == "check then rename":
        monkeypatch.setattr(saved_model, "_renameat2", None)
    base = str(tmp_path)
    model_dir = os.path.join(base, "m")
    export.export_saved_model(small_model, base, "m")
    os.mkdir(os.path.join(model_dir, "2"))  # empty: os.rename would replace it on Linux
    taken = iter([1, 2])
    real_next_version = saved_model.next_version
    monkeypatch.setattr(
        saved_model, "next_version", lambda path: next(taken, None) or real_next_version(path)
    )
    path = export.export_saved_model(small_model, base, "m")
    assert path == os.path.join(model_dir, "3")
    assert os.listdir(os.path.join(model_dir, "2")) == []
    assert sorted(os.listdir(model_dir)) == ["1", "2", "3"]


@pytest.mark.parametrize("renameat2", ["renameat2", "check then rename"])
def test_an_explicit_version_taken_during_the_export_is_refused(
    small_model, synthetic_dataset, tmp_path, monkeypatch, renameat2
):
    if renameat2 == "check then rename":
        monkeypatch.setattr(saved_model, "_renameat2", None)
    model_dir = tmp_path / "m"
    real_write = saved_model.write_warmup_requests

    def write_then_see_version_taken(*args, **kwargs):
        real_write(*args, **kwargs)
        os.mkdir(model_dir / "4")  # another writer's, empty so far

    monkeypatch.setattr(saved_model, "write_warmup_requests", write_then_see_version_taken)
    with pytest.raises(FileExistsError, match=str(model_dir / "4")):
        export.export_saved_model(
            small_model, str(tmp_path), "m", version=4, warmup_rows=_rows(synthetic_dataset)
        )
    assert os.listdir(model_dir) == ["4"] and os.listdir(model_dir / "4") == []


def test_an_existing_explicit_version_is_refused_by_path(small_model, tmp_path):
    export.export_saved_model(small_model, str(tmp_path), "m", version=2)
    with pytest.raises(FileExistsError, match=str(tmp_path / "m" / "2")):
        export.export_saved_model(small_model, str(tmp_path), "m", version=2)
    assert os.listdir(tmp_path / "m") == ["2"]


def test_staging_folders_of_dead_writers_are_removed_others_kept(small_model, tmp_path):
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        kept = [
            _staging_name(alive.pid),
            _staging_name(os.getpid()),  # a concurrent export in this process
            _staging_name(gone.pid, host="another-host.example"),  # cannot be checked
            _staging_name(gone.pid, namespace=1),  # another container's, same host name
            ".tmp-1-abcd1234",  # an older zoo's staging folder: no writer to check
            ".tmp-zoo-notes",
            "notes",
        ]
        for name in kept + [_staging_name(gone.pid)]:
            (model_dir / name).mkdir()
            (model_dir / name / "saved_model.pb").write_bytes(b"partial")
        path = export.export_saved_model(small_model, str(tmp_path), "m")
    finally:
        alive.kill()
        alive.wait()
    assert path == str(model_dir / "1")
    assert sorted(os.listdir(model_dir)) == sorted(kept + ["1"])


@pytest.mark.slow
def test_a_killed_exports_leftover_goes_with_the_next_export(small_model, tmp_path):
    model_path = tmp_path / "model.keras"
    small_model.save(model_path)
    child = r"""
import sys, time
import keras
import zoo.features, zoo.layers, zoo.models
from zoo.export import saved_model

def hang(export_dir, *args, **kwargs):
    print("staged", export_dir, flush=True)
    time.sleep(300)

saved_model.write_warmup_requests = hang
model = keras.saving.load_model(sys.argv[1])
saved_model.export_saved_model(model, sys.argv[2], "m", warmup_rows={})
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # A file, not a pipe: TensorFlow's log lines must not fill a pipe nobody reads.
    with open(tmp_path / "stderr.txt", "w") as stderr:
        writer = subprocess.Popen(
            [sys.executable, "-c", child, str(model_path), str(tmp_path / "sm")],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    # Should the child never print, the kill ends readline() rather than the test run.
    deadline = threading.Timer(240, writer.kill)
    deadline.start()
    try:
        line = writer.stdout.readline()
    finally:
        deadline.cancel()
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
    assert line.startswith("staged "), (tmp_path / "stderr.txt").read_text()[-3000:]
    staging = line.split(" ", 1)[1].strip()
    assert os.path.basename(staging).startswith(f".tmp-zoo-{writer.pid}.")
    assert os.path.isfile(os.path.join(staging, "saved_model.pb"))

    path = export.export_saved_model(small_model, str(tmp_path / "sm"), "m")
    assert os.listdir(tmp_path / "sm" / "m") == ["1"]
    assert path == str(tmp_path / "sm" / "m" / "1")


@pytest.mark.parametrize("stage", ["write_warmup_requests", "_finish_tree"])
def test_an_interrupted_export_leaves_nothing(
    small_model, synthetic_dataset, tmp_path, monkeypatch, stage
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(saved_model, stage, interrupted)
    with pytest.raises(KeyboardInterrupt):
        export.export_saved_model(
            small_model, str(tmp_path), "m", warmup_rows=_rows(synthetic_dataset)
        )
    assert os.listdir(tmp_path / "m") == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to name descriptors")
def test_every_file_is_flushed_before_the_version_appears(small_model, tmp_path, monkeypatch):
    flushed = []
    real_fsync, real_rename = os.fsync, saved_model._rename_no_replace

    def recording_fsync(descriptor):
        flushed.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        return real_fsync(descriptor)

    def recording_rename(source, destination):
        flushed.append(("rename", source))
        return real_rename(source, destination)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(saved_model, "_rename_no_replace", recording_rename)
    path = export.export_saved_model(small_model, str(tmp_path), "m")
    ((_, staging),) = [entry for entry in flushed if isinstance(entry, tuple)]
    before = flushed[: flushed.index(("rename", staging))]
    written = {
        os.path.join(staging, os.path.relpath(os.path.join(folder, name), path))
        for folder, subfolders, files in os.walk(path)
        for name in files + subfolders
    }
    assert written <= set(before)
    assert flushed[-1] == str(tmp_path / "m")  # makes the rename itself durable


def _nan_age(rows):
    return dict(rows, age=np.array([np.nan, 1.0], dtype="float32"))


def _long_age(rows):
    return dict(rows, age=np.array([1.0, 2.0, 3.0], dtype="float32"))


def _no_score(rows):
    return {k: v for k, v in rows.items() if k != "score"}


@pytest.mark.parametrize(
    "spoil, error, message",
    [
        pytest.param(_nan_age, ValueError, "Feature 'age' received a NaN", id="NaN"),
        pytest.param(_long_age, ValueError, "'age' with 3 rows", id="rows differ"),
        pytest.param(_no_score, KeyError, r"Missing: \['score'\]", id="missing feature"),
    ],
)
def test_warmup_rows_tf_serving_would_fail_on_stop_the_export(
    small_model, synthetic_dataset, tmp_path, spoil, error, message
):
    # TF Serving would refuse to load a version whose warm-up request fails.
    with pytest.raises(error, match=message):
        export.export_saved_model(
            small_model, str(tmp_path), "m", warmup_rows=spoil(_rows(synthetic_dataset))
        )
    assert os.listdir(tmp_path / "m") == []
