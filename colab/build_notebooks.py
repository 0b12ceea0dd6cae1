"""Regenerates every `colab/*.ipynb` from its jupytext percent-format `.py` source, executed.

The `.py` files are the sources (readable diffs, linted like the rest of the
code). The `.ipynb` files are what Colab's "open from GitHub" and the
repository page show, so they are committed with their outputs, plots
included: the build runs each notebook with CI's small settings
(`ci_settings`, the ones tests/notebooks_test.py runs them with) and writes
what it printed and drew. Whether a notebook is up to date depends on its
cells only, never on its outputs.

Usage:
    python colab/build_notebooks.py               # rebuild and run the out-of-date notebooks
    python colab/build_notebooks.py quickstart    # rebuild and run these, up to date or not
    python colab/build_notebooks.py --no-execute  # rebuild without running (no outputs)
    python colab/build_notebooks.py --check       # exit 1 if any notebook is out of date
"""

import argparse
import json
import pathlib
import re
import sys
import tempfile

import jupytext

COLAB_DIR = pathlib.Path(__file__).resolve().parent
# MovieLens may not be redistributed: the MoGENet notebook reads the workplace's
# copy beside the repository, where there is one.
SHARED_DATA = COLAB_DIR.parents[1] / "shared" / "data"
# One epoch, and no XLA: compiling every model's training and validation steps
# took longer than the epoch. XLA itself is tested with every model in tests/models/.
NOTEBOOK_CI = {"ZOO_NOTEBOOK_EPOCHS": "1", "ZOO_NOTEBOOK_XLA": "0"}
# Per cell: a training cell compiles with XLA and trains on 200k rows.
CELL_TIMEOUT_S = 900


def notebook_sources(colab_dir=COLAB_DIR):
    """The `.py` notebook sources in `colab_dir`: every `.py` file but this script."""
    return sorted(p for p in colab_dir.glob("*.py") if p.name != pathlib.Path(__file__).name)


def ci_settings(stem):
    """The environment a notebook runs with in CI and in this build, or `None` if it cannot run.

    Args:
        stem: the notebook's name without suffix, e.g. `"quickstart"`.
    """
    if stem == "quickstart":
        # XLA stays on here: the quickstart shows `compile()`, XLA by default. Two
        # epochs, so that its validation AUC plot has a line to show (seconds each).
        return {"ZOO_QUICKSTART_EPOCHS": "2"}
    if stem == "mogenet_movielens":
        if not (SHARED_DATA / "movielens-100k").is_dir():
            return None
        return {**NOTEBOOK_CI, "ZOO_DATA_DIR": str(SHARED_DATA)}
    return dict(NOTEBOOK_CI)


def _notebook(source):
    """The notebook of a `.py` source, with cell ids numbered rather than random."""
    notebook = jupytext.read(source)
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    return notebook


def render(source):
    """The `.ipynb` text of a `.py` source, un-executed, with stable cell ids.

    nbformat gives every new cell a random id; numbering them instead keeps
    a rebuild of an unchanged source byte-identical.
    """
    return jupytext.writes(_notebook(source), fmt="ipynb")


def _content(ipynb_text):
    """What a notebook says, less what running it adds and the cell ids.

    Cell ids carry no content, and `jupytext --to ipynb` draws random ones: a
    notebook written by it is up to date as long as everything else matches.
    """
    notebook = json.loads(ipynb_text)
    for cell in notebook.get("cells", []):
        for key in ("id", "outputs", "execution_count"):
            cell.pop(key, None)
        cell.get("metadata", {}).pop("execution", None)
    notebook.get("metadata", {}).pop("language_info", None)
    return notebook


def out_of_date(colab_dir=COLAB_DIR):
    """Problems as `(path, reason)`: stale or missing notebooks, notebooks without a source."""
    problems = []
    sources = notebook_sources(colab_dir)
    for source in sources:
        target = source.with_suffix(".ipynb")
        if not target.exists():
            problems.append((target, "missing"))
        elif _content(target.read_text()) != _content(render(source)):
            problems.append((target, f"differs from {source.name}"))
    stems = {source.stem for source in sources}
    for notebook in sorted(colab_dir.glob("*.ipynb")):
        if notebook.stem not in stems:
            problems.append((notebook, f"has no {notebook.stem}.py source"))
    return problems


def kernel_manager(root, env, python=None):
    """A kernel manager that starts `python`'s ipykernel (default: this one), with `env` added.

    A kernelspec written here, and the only one searched, so the kernel runs
    that interpreter whatever kernels the machine has installed. Everything
    the kernel side would otherwise write under $HOME (connection file,
    IPython profile, Matplotlib and Keras config) goes under `root`.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    root = pathlib.Path(root)
    kernels = root / "kernels"
    spec_dir = kernels / "python3"
    spec_dir.mkdir(parents=True)
    python = str(python or sys.executable)
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
        "env": {
            "IPYTHONDIR": str(root / "ipython"),
            "MPLCONFIGDIR": str(root / "matplotlib"),
            "KERAS_HOME": str(root / "keras"),
            # Plots go to the notebook as display_data, as in Jupyter and Colab.
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            # Silences debugpy's warning about Python's frozen modules.
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            **env,
        },
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return AsyncKernelManager(
        kernel_name="python3",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]),
        connection_file=str(root / "connection.json"),
    )


def execute(source, workdir, env, kernel_root, python=None):
    """Runs a `.py` notebook source in a fresh kernel inside `workdir`; returns the notebook.

    Args:
        source: the jupytext `.py` file.
        workdir: the folder the notebook runs in (what it writes lands there).
        env: environment variables added for the kernel, e.g. `ci_settings(stem)`.
        kernel_root: an empty folder for the kernelspec and the kernel's $HOME files.
        python: the kernel's interpreter; this one by default.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell failed (with its traceback).
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        _notebook(source),
        km=kernel_manager(kernel_root, env, python),
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        # No per-cell timestamps: they would change every line of every rebuild.
        record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    # cleanup_kc: shut the kernel down although the client does not own km.
    return client.execute(cleanup_kc=True)


def build(source, run=True):
    """Writes `source`'s notebook, executed with `ci_settings` unless `run` is false.

    A notebook that cannot run here (its data is absent) is written without
    outputs, and said so.
    """
    target = source.with_suffix(".ipynb")
    env = ci_settings(source.stem) if run else None
    if run and env is None:
        print(f"{target}: its data is not here; written without outputs", file=sys.stderr)
    if env is None:
        target.write_text(render(source))
        return target
    with tempfile.TemporaryDirectory(prefix=f"{source.stem}-") as scratch:
        workdir = pathlib.Path(scratch, "work")
        workdir.mkdir()
        notebook = execute(source, workdir, env, pathlib.Path(scratch, "jupyter"))
    notebook.metadata.pop("language_info", None)  # the kernel's patch version: churn only
    _drop_native_start_up_lines(notebook)
    target.write_text(jupytext.writes(notebook, fmt="ipynb"))
    return target


# TensorFlow's C++ start-up lines (absl's preamble, oneDNN and CUDA probes), which
# TF_CPP_MIN_LOG_LEVEL cannot silence because they are logged before it is read
# (see zoo/cli/quiet.py). They say what the build machine is, not what the
# notebook does, and differ from machine to machine.
NATIVE_START_UP_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} [\d:. ]+\d+ \S+:\d+\])"
)


def _drop_native_start_up_lines(notebook):
    for cell in notebook.cells:
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = output["text"].splitlines(keepends=True)
                output["text"] = "".join(
                    line for line in lines if not NATIVE_START_UP_LINE.match(line)
                )
                if not output["text"]:
                    continue
            kept.append(output)
        if "outputs" in cell:
            cell["outputs"] = kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        help="notebooks to rebuild whether up to date or not (e.g. quickstart); "
        "default: the out-of-date ones",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any notebook is out of date with its .py source",
    )
    parser.add_argument(
        "--no-execute",
        action="store_true",
        help="write the notebooks without running them (no outputs)",
    )
    args = parser.parse_args(argv)
    problems = out_of_date()
    if args.check:
        for path, reason in problems:
            print(f"{path}: {reason}", file=sys.stderr)
        if problems:
            print("Run `python colab/build_notebooks.py` to rebuild them.", file=sys.stderr)
        return 1 if problems else 0
    sources = {source.stem: source for source in notebook_sources()}
    unknown = [name for name in args.names if name not in sources]
    if unknown:
        parser.error(f"no colab/<name>.py for {unknown}; notebooks: {', '.join(sources)}")
    targets = [sources[name] for name in args.names]
    for path, reason in problems:
        if reason.startswith("has no"):
            # Never delete a notebook: it may be someone's work in progress.
            print(f"{path}: {reason}; left as it is", file=sys.stderr)
        elif not args.names:
            targets.append(path.with_suffix(".py"))
    for source in targets:
        print(f"building {source.with_suffix('.ipynb')} ...", flush=True)
        print(f"wrote {build(source, run=not args.no_execute)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
