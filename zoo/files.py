"""Files and folders written so that a failure never leaves half of them.

Free of TensorFlow, so that the command line can check its output folders
before that import.
"""

import json
import os
import tempfile


def check_creatable_folder(path, what):
    """`path` made absolute; a ValueError unless it is a folder, or can be made, and written.

    Nothing is left behind: the probe is a temporary folder in the nearest
    existing ancestor, removed at once. A permission check alone would say
    yes to root on a read-only file system.

    Args:
        path: the folder.
        what: how the error names it, e.g. `"--export-dir"`.
    """
    path = os.path.abspath(path)
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ValueError(f"{what} {path} cannot be created: {probe} is a file, not a folder.")
    try:
        with tempfile.TemporaryDirectory(dir=probe, prefix=".zoo-write-check-"):
            pass
    except OSError as error:
        raise ValueError(f"{what} {path} cannot be written: {error.strerror} ({probe}).") from None
    return path


def write_json(path, payload):
    """Writes JSON beside `path`, then renames: a crash never leaves a truncated file.

    The file gets the permissions the umask gives ordinary files (mkstemp
    alone would make it readable by its owner only).
    """
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=False)
            f.write("\n")
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def current_umask():
    """The process's umask (reading it means setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
