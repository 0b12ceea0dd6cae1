"""SavedModel export in the layout TF Serving loads: `<base>/<name>/<version>/`.

The `serving_default` signature takes one named input per raw feature with
its real dtype (string categoricals, float32 numerics, int64 ids), runs the
model's `FeaturePreprocessor` and the model, and returns one named output
per task (and `ranking_score`, `cvr`, ... where the model adds them; see
`MultiTaskModel.serving_outputs`). A model may leave features out of its
default signature and add other signatures (`serving_signatures`): the
YouTube model serves without position by default and with it under
`with_bias_features`. A plain `model.export()` of a subclassed model with
dict inputs would instead expose `args_0`-style inputs and `output_0`-style
outputs.

With `xla_signatures=True` (`zoo export --xla-signatures`), every signature
has an XLA twin, `<signature>_xla` (`serving_default_xla`):
the same inputs, outputs and checks, with the model's dense part (everything
after the string lookups, which XLA cannot compile) compiled by XLA. On two
CPU cores it answered MMoE's batches of 1024 raw rows in 14-19% less time
(`bench/machine_efficiency.py`). On a CPU, TF Serving needs
`tensorflow_model_server --xla_cpu_compilation_enabled=true` (a flag for
XLA:CPU only; on a GPU it has not been tried),
and without that flag a call of the twin fails while `serving_default`
keeps working. XLA compiles once per batch size it meets: give TF Serving's
batching fixed `allowed_batch_sizes`, or expect a compilation (tens to
hundreds of milliseconds) the first time each new size arrives.

What a client sees when a request does not fit the signature:

- a wrong dtype, a missing or an unknown input: TensorFlow refuses the call
  before the graph runs, so its words cannot be ours. A missing or unknown
  input is named; a wrong dtype is reported as `input #i(zero-based) was
  expected to be a float tensor but is a string tensor`, where `i` counts the
  signature's inputs in sorted name order. `call_serving_function` checks
  all of these first and names the feature.
- a wrong shape (`(batch, 1)` or a scalar where `(batch,)` is declared): a
  loaded signature lets it through, and the graph answers `Shape of tensor
  <feature> [2,1] is not compatible with expected shape [?]`; the Python
  function refuses it before the graph, naming the feature's `TensorSpec`.
- features with different batch sizes, a NaN or infinite numeric value, a
  numeric value so far out of range that normalized it overflows float32, or
  one that makes the model's answer not finite: the graph answers with the
  feature's name, what it expected and what arrived.
"""

import collections
import ctypes
import errno
import inspect
import keyword
import os
import re
import secrets
import shutil
import socket

import keras
import numpy as np
import tensorflow as tf

from zoo.export.target import check_model_name
from zoo.export.warmup import read_warmup_requests, write_warmup_requests
from zoo.features.spec import LIST_PADDING
from zoo.models.raw_inputs import RawFeatureEncoder, list_column

SERVING_SIGNATURE = "serving_default"
# Suffix of a signature's twin whose dense part XLA compiles.
XLA_SUFFIX = "_xla"

# Staging folders are `.tmp-zoo-<pid>.<pid namespace>-<token>@<host>`: the
# writer's process, PID namespace (containers) and machine tell a later export
# whether the folder's writer is gone.
_STAGING_PREFIX = ".tmp-zoo-"
_STAGING_NAME = re.compile(
    r"\.tmp-zoo-(?P<pid>[0-9]+)\.(?P<namespace>[0-9]+)-[0-9a-f]{8}@(?P<host>.+)"
)
# Concurrent exports with version=None each take the next free number; this
# bounds the retries should versions keep appearing under the same name.
_MAX_PLACEMENT_TRIES = 100
# renameat2(2): Linux's rename that refuses to replace.
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def serving_input_signature(preprocessor, excluded=()):
    """`tf.TensorSpec`s, one per raw feature not `excluded`, named after it, batch size None.

    A list feature (multi-hot, sequence) is `(None, None)`: a padded
    rectangle per request, as TF Serving's REST and gRPC forms carry
    tensors (they have no ragged tensors); each request pads to its own
    longest row, with `""` or -1 (`zoo.features.spec.LIST_PADDING`).
    """
    shapes = preprocessor.raw_shapes()
    return [
        tf.TensorSpec(shape=shapes[name], dtype=dtype, name=name)
        for name, dtype in preprocessor.raw_dtypes().items()
        if name not in excluded
    ]


def make_serving_function(model, signature=SERVING_SIGNATURE, xla=False):
    """A `tf.function` raw features -> named outputs, with named arguments.

    Its arguments are the features, in `serving_input_signature` order, by
    name where the names are Python identifiers. `call_serving_function`
    calls it, or the signature a SavedModel holds, with a dict.
    Binary and regression tasks answer `(batch,)`, multiclass tasks
    `(batch, classes)` probabilities.

    Args:
        model: a zoo `MultiTaskModel` with an adapted preprocessor.
        signature: a name from `model.serving_signatures()`.
        xla: compile the model's part after the preprocessor with XLA (the
            `<signature>_xla` twin; see the module docstring for what TF
            Serving needs to run it).
    """
    preprocessor = model.preprocessor
    if preprocessor is None:
        raise ValueError(
            "The model has no preprocessor; a SavedModel for TF Serving must take raw "
            "features. Build the model with preprocessor=..."
        )
    signatures = model.serving_signatures()
    if signature not in signatures:
        raise ValueError(f"Unknown signature {signature!r}; the model has {list(signatures)}")
    excluded = set(signatures[signature])
    input_signature = serving_input_signature(preprocessor, excluded)
    names = [spec.name for spec in input_signature]
    raw_dtypes = preprocessor.raw_dtypes()
    numeric = [name for name in names if raw_dtypes[name] == tf.float32]

    shapes = {spec.name: spec.shape for spec in input_signature}
    # The lookups stay outside: XLA has no string ops.
    dense_part = tf.function(model.serving_outputs, jit_compile=True) if xla else None

    def serve(*raw_values):
        raw = _checked_batch(dict(zip(names, raw_values)), shapes)
        # The features this signature leaves out are optional to the encoder, as
        # to the model's own call: the model answers with their "missing" value.
        features = RawFeatureEncoder(preprocessor, optional=excluded)(raw)
        outputs = (dense_part or model.serving_outputs)(features)
        # (batch, 1) -> (batch,): one scalar per row and output in TF Serving's answers.
        outputs = {
            name: tf.reshape(value, (-1,)) if value.shape[-1] == 1 else value
            for name, value in outputs.items()
        }
        return _checked_outputs(outputs, {name: raw[name] for name in numeric})

    if all(name.isidentifier() and not keyword.iskeyword(name) for name in names):
        # Named parameters let Python callers pass features by name, and binding
        # errors name a missing feature rather than `raw_values_4`.
        serve.__signature__ = inspect.Signature(
            [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
        )
    return tf.function(serve, input_signature=input_signature)


def _checked_batch(raw, shapes):
    """`raw` as tensors of `shapes` and one batch size, or an error naming the feature."""
    # The signature TensorFlow writes checks dtypes but not shapes: a (batch, 1)
    # or scalar tensor reaches the graph, where EnsureShape names it by its input.
    raw = {name: tf.ensure_shape(value, shapes[name]) for name, value in raw.items()}
    rows = {name: tf.shape(value)[0] for name, value in raw.items()}
    # The odd one out is the feature most features disagree with.
    sizes, _, counts = tf.unique_with_counts(tf.stack(list(rows.values())))
    common = tf.gather(sizes, tf.argmax(counts))
    checks = [
        tf.debugging.Assert(
            tf.equal(count, common),
            # Assert prints its strings C-escaped: quoted names would read \'age\'.
            [f"Feature {name}: expected as many rows as most features have,", common]
            + ["rows. Received", count, "rows."],
        )
        for name, count in rows.items()
    ]
    # Without the dependency the model's first concat may fail first, naming no feature.
    with tf.control_dependencies(checks):
        return {name: tf.identity(value) for name, value in raw.items()}


def _checked_outputs(outputs, numeric):
    """`outputs`, or an error naming the numeric features where an output is not finite.

    Raw values are checked for NaN and infinity by the preprocessor, and so are
    their normalized values, but a finite value far outside the training range
    can still overflow float32 in the model's layers.
    """
    checks = []
    for name, value in outputs.items():
        # (batch,): multiclass outputs (batch, classes) are finite where every class is.
        finite = tf.reduce_all(tf.math.is_finite(value), axis=list(range(1, value.shape.rank)))
        # The first row with a non-finite value; the batch size when there is none.
        row = tf.argmin(tf.concat([tf.cast(finite, tf.int32), [0]], axis=0))
        data = [f"Output {name}: expected a finite value. Received NaN or inf at row", row]
        if numeric:
            data.append(
                "where the numeric features, too far from their training range for float32, were"
            )
            for feature, raw in numeric.items():
                # A slice, not a gather: it stays valid for an empty batch.
                data += [f"{feature}=", raw[row : row + 1]]
        checks.append(tf.debugging.Assert(tf.reduce_all(finite), data))
    with tf.control_dependencies(checks):
        return {name: tf.identity(value) for name, value in outputs.items()}


def _input_specs(function):
    """Dict from input name to `tf.TensorSpec` of a serving function or loaded signature."""
    if getattr(function, "input_signature", None) is not None:  # make_serving_function
        return {spec.name: spec for spec in function.input_signature}
    if hasattr(function, "structured_input_signature"):  # loaded.signatures[...]
        args, kwargs = function.structured_input_signature
        if not args:
            return dict(kwargs)
    raise TypeError(
        "Expected what make_serving_function returns or a loaded SavedModel's "
        f"signatures[name]. Received: {function!r}"
    )


def call_serving_function(function, features):
    """Calls a serving function with a dict of raw features, checked by name first.

    TensorFlow reports a wrong dtype in a signature call as `input #3`; this
    names the feature, what it expects and what arrived. Numpy arrays and lists
    are converted to the expected dtype where that loses nothing a model uses:
    integers or floats to float32, integers to int64.

    Args:
        function: what `make_serving_function` returns, or
            `tf.saved_model.load(path).signatures[name]` (no zoo needed to
            have written it).
        features: dict from raw feature name to a `(batch,)` tensor, array
            or list.

    Returns:
        Dict from output name to tensor, as the function returns it.
    """
    specs = _input_specs(function)
    missing = sorted(set(specs) - set(features))
    unknown = sorted(set(features) - set(specs))
    if missing or unknown:
        raise KeyError(
            f"Expected the features {sorted(specs)}. Missing: {missing}; unknown: {unknown}."
        )
    feed = {}
    for name, spec in specs.items():
        value = features[name]
        is_list = spec.shape.rank == 2
        shape = "(batch, length), padded" if is_list else "(batch,)"
        expected = f"Feature {name!r} expects {spec.dtype.name} values of shape {shape}."
        if is_list and not isinstance(value, (tf.Tensor, np.ndarray)):
            value = _padded_lists(value, name, spec.dtype, expected)
        if not isinstance(value, tf.Tensor):
            try:
                value = tf.convert_to_tensor(value)
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"{expected} Received a {type(value).__name__} TensorFlow cannot convert: "
                    f"{error}"
                ) from None
        if value.dtype != spec.dtype:
            castable = (
                spec.dtype == tf.float32 and (value.dtype.is_floating or value.dtype.is_integer)
            ) or (spec.dtype == tf.int64 and value.dtype.is_integer)
            if not castable:
                raise TypeError(f"{expected} Received dtype {value.dtype.name}.")
            value = tf.cast(value, spec.dtype)
        if value.shape.rank != spec.shape.rank:
            raise ValueError(f"{expected} Received shape {tuple(value.shape)}.")
        feed[name] = value
    rows = collections.Counter(value.shape[0] for value in feed.values())
    if len(rows) > 1:
        common = rows.most_common(1)[0][0]
        odd = ", ".join(
            f"{name!r} with {value.shape[0]}"
            for name, value in feed.items()
            if value.shape[0] != common
        )
        raise ValueError(
            f"Expected every feature to have the same number of rows, {common} as most do. "
            f"Received {odd} rows."
        )
    if getattr(function, "input_signature", None) is not None:
        return function(*[feed[spec.name] for spec in function.input_signature])
    return function(**feed)


def _padded_lists(rows, name, dtype, expected):
    """Python lists of values per row (or a ragged tensor) as one padded rectangle."""
    padding = LIST_PADDING["string" if dtype == tf.string else "int64"]
    try:
        # What the model's own call takes lists with; the signature needs them padded.
        ragged = list_column(rows, name, dtype)
        if ragged.dtype != dtype and not (dtype == tf.int64 and ragged.dtype.is_integer):
            raise TypeError(f"dtype {ragged.dtype.name}")
        return tf.cast(ragged, dtype).to_tensor(default_value=tf.constant(padding, dtype))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{expected} Received lists that do not convert: {error}") from None


def next_version(model_dir):
    """1 + the largest numeric version folder under `model_dir` (1 if none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def export_saved_model(
    model, export_base, name, version=None, warmup_rows=None, xla_signatures=False
):
    """Writes `model` for TF Serving to `export_base/name/version/` and returns that path.

    The SavedModel is written to a staging folder beside its destination
    and renamed into place only when complete (with its warm-up requests and
    flushed to disk), so a failed export leaves nothing behind and TF Serving,
    which watches numeric folder names only, never sees a half-written
    version. The version folder and its contents get the modes the process
    umask gives new folders and files (755 and 644 under umask 022), so a TF
    Serving process running as another user can read them. Staging folders
    that a killed export left behind on this machine are removed.

    Exports running at once under one name each get their own version with
    `version=None`; an existing version folder is never replaced.

    Args:
        model: a zoo `MultiTaskModel` with an adapted preprocessor.
        export_base: the TF Serving model base folder, e.g. `"savedmodels"`.
        name: the served model's name, e.g. `"mmoe"`; a folder name of
            letters, digits, `-`, `_` and `.`.
        version: int > 0, or `None` for one more than the latest version
            when the export is complete.
        warmup_rows: dict from raw feature name to a short array of example
            values for `assets.extra/tf_serving_warmup_requests`, or `None`
            to skip writing warm-up requests.
        xla_signatures: add each signature's XLA twin, `<signature>_xla`
            (see the module docstring). Each twin is compiled and run once
            on a one-row batch before the export is placed, so a model XLA
            cannot compile fails here, not in TF Serving. Off by default:
            it about doubles the export's time, and TF Serving on a CPU
            runs the twins only with a flag.

    Raises:
        FileExistsError: `version` is given and its folder exists.
    """
    if model.uses_graph:
        model.check_graph_tables()  # the export serves from the node tables
    check_model_name(name)
    model_dir = os.path.join(export_base, name)
    if version is not None:
        version = int(version)
        if version < 1:
            raise ValueError(f"Expected version >= 1. Received: version={version}")
        _refuse_existing(os.path.join(model_dir, str(version)))
    os.makedirs(model_dir, exist_ok=True)
    remove_dead_staging_folders(model_dir)
    staging = _make_staging_folder(model_dir)
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.track(model.preprocessor)
        functions = {
            signature: make_serving_function(model, signature)
            for signature in model.serving_signatures()
        }
        if xla_signatures:
            for signature in model.serving_signatures():
                twin = make_serving_function(model, signature, xla=True)
                try:
                    call_serving_function(twin, _one_blank_row(twin))  # compiles, or fails here
                except tf.errors.OpError as error:
                    raise ValueError(
                        f"XLA cannot compile {type(model).__name__}'s serving part for the "
                        f"{signature + XLA_SUFFIX} signature: {error.message.splitlines()[0]} "
                        "Export without xla_signatures (zoo export without --xla-signatures)."
                    ) from None
                functions[signature + XLA_SUFFIX] = twin
        for signature, function in functions.items():
            archive.add_endpoint(signature, function)
        archive.write_out(staging, verbose=False)
        if warmup_rows is not None:
            # The default signature's inputs, as make_serving_function declares them.
            specs = serving_input_signature(
                model.preprocessor, model.serving_signatures()[SERVING_SIGNATURE]
            )
            raw_dtypes = {spec.name: spec.dtype for spec in specs}
            rows = {k: v for k, v in warmup_rows.items() if k in raw_dtypes}
            write_warmup_requests(staging, name, rows, raw_dtypes)
            _replay_warmup_requests(staging, functions[SERVING_SIGNATURE])
        _finish_tree(staging)
        final_path = _place(staging, model_dir, version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_folder(model_dir)
    return final_path


def _one_blank_row(function):
    """One row for `function`: empty strings, zeros, empty lists (unseen ids are valid)."""
    row = {}
    for name, spec in _input_specs(function).items():
        shape = (1, 0) if spec.shape.rank == 2 else (1,)
        row[name] = tf.zeros(shape, spec.dtype) if spec.dtype != tf.string else tf.fill(shape, "")
    return row


def _replay_warmup_requests(export_dir, function):
    """Raises ValueError unless `function` answers every warm-up request in `export_dir`.

    TF Serving refuses to load a version whose warm-up request fails (rows of
    different lengths, a NaN), so such a version must not appear at all.
    """
    for request in read_warmup_requests(export_dir):
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        try:
            call_serving_function(function, inputs)
        except (tf.errors.InvalidArgumentError, TypeError, ValueError, KeyError) as error:
            message = error.message if isinstance(error, tf.errors.OpError) else str(error)
            raise ValueError(
                "Expected warm-up rows the model answers: TF Serving refuses to load a version "
                f"whose warm-up request fails. Received rows it refuses: {message}"
            ) from None


def _refuse_existing(path):
    if os.path.lexists(path):
        raise FileExistsError(
            f"Expected a new version folder. Received an existing one: {path}; pass another "
            "version, version=None for the next free one, or remove it first."
        )


def _place(staging, model_dir, version):
    """Renames `staging` to `model_dir/<version>` without replacing anything; returns the path.

    With `version=None` the next free version is taken when the rename finds
    its number taken by a concurrent export.
    """
    for _ in range(_MAX_PLACEMENT_TRIES):
        number = next_version(model_dir) if version is None else version
        final_path = os.path.join(model_dir, str(number))
        try:
            _rename_no_replace(staging, final_path)
            return final_path
        except FileExistsError:
            if version is not None:
                _refuse_existing(final_path)
                raise
    raise FileExistsError(
        f"Expected a free version under {model_dir}. Received a taken one "
        f"{_MAX_PLACEMENT_TRIES} times in a row while exporting."
    )


def _rename_no_replace(source, destination):
    """`os.rename`, but `FileExistsError` where `destination` exists, even as an empty folder.

    On Linux `os.rename` silently replaces an empty folder, which would let
    two exports claim one version. `renameat2(RENAME_NOREPLACE)` checks and
    renames in one step; Python does not expose it, hence ctypes. Where it is
    missing (other systems, file systems without it) a check before the rename
    leaves a window only for an empty folder made between the two.
    """
    if _renameat2 is not None:
        result = _renameat2(
            _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(destination), _RENAME_NOREPLACE
        )
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), destination)
    if os.path.lexists(destination):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), destination)
    try:
        os.rename(source, destination)
    except OSError as error:
        if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), destination) from None
        raise


def _load_renameat2():
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2() if os.name == "posix" else None


def _host():
    return socket.gethostname().replace(os.sep, "_")


def _pid_namespace():
    """The inode of this process's PID namespace, 0 where there is none to read.

    Two containers may share a host name and a mounted folder, but not a PID
    namespace: a PID is only checked in the namespace that issued it.
    """
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def _make_staging_folder(model_dir):
    """A new, empty staging folder in `model_dir`, named after this process and machine."""
    while True:
        path = os.path.join(
            model_dir,
            f"{_STAGING_PREFIX}{os.getpid()}.{_pid_namespace()}-{secrets.token_hex(4)}@{_host()}",
        )
        try:
            # Not tempfile.mkdtemp: its mode 700 would survive the rename and lock
            # out a TF Serving process running as another user.
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


def remove_dead_staging_folders(model_dir):
    """Removes staging folders of exports killed on this machine; returns their paths.

    Only folders named as `export_saved_model` names them, whose process is
    gone: a live export's folder (in this or another process) and folders
    from other machines or containers, which cannot be checked, stay.
    """
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return []
    removed = []
    for entry in os.listdir(model_dir):
        match = _STAGING_NAME.fullmatch(entry)
        if (
            match is None
            or match["host"] != _host()
            or int(match["namespace"]) != _pid_namespace()
            or _process_alive(int(match["pid"]))
        ):
            continue
        shutil.rmtree(os.path.join(model_dir, entry), ignore_errors=True)
        removed.append(os.path.join(model_dir, entry))
    return removed


def _process_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _finish_tree(root):
    """Gives everything under `root` the umask's modes and flushes it to disk.

    `root` was made with `os.mkdir`, so its mode is what the umask gives a new
    folder; files get the same less the execute bits. The flush makes the
    rename that follows publish complete files even after a power loss.
    """
    folder_mode = os.stat(root).st_mode & 0o777
    file_mode = folder_mode & 0o666
    for folder, subfolders, files in os.walk(root):
        for name in subfolders:
            os.chmod(os.path.join(folder, name), folder_mode)
        for name in files:
            path = os.path.join(folder, name)
            os.chmod(path, file_mode)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_folder(folder)


def _fsync_folder(path):
    if os.name != "posix":  # folders cannot be opened for fsync elsewhere
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
