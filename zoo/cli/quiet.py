"""TensorFlow's native log lines stay out of the `zoo` command's output unless asked for.

On a CPU machine TensorFlow's C++ start-up prints lines such as "Could not
find cuda drivers" or "failed call to cuInit: ... CUDA error", which read as
failures although nothing is wrong. `TF_CPP_MIN_LOG_LEVEL=3` quiets what
TensorFlow logs after its logging is set up; the lines logged before that
(absl's "All log messages before absl::InitializeLog() ..." and the CUDA
probes) ignore it, so the import itself runs with the process's standard
error pointed at a temporary file, which is replayed only if the import fails.
`zoo --verbose ...` or a `TF_CPP_MIN_LOG_LEVEL` set by the user shows everything.
"""

import contextlib
import os
import sys
import tempfile

LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"


def quiet_requested(verbose):
    """Whether to hide native log lines: not `--verbose` and no level chosen by the user."""
    return not verbose and LOG_LEVEL_VARIABLE not in os.environ


@contextlib.contextmanager
def native_stderr_captured():
    """Points file descriptor 2 at a temporary file; replays it if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow(verbose=False):
    """Imports TensorFlow and Keras, without their native start-up lines unless `verbose`."""
    if not quiet_requested(verbose):
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

        return
    os.environ[LOG_LEVEL_VARIABLE] = "3"
    with native_stderr_captured():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
