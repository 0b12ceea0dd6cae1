"""Regenerates every `colab/*.ipynb` from its jupytext percent-format `.py` source.

The `.py` files are the sources (readable diffs, linted like the rest of the
code); the `.ipynb` files exist for Colab's "open from GitHub" and are kept
un-executed.

Usage:
    python colab/build_notebooks.py          # rewrite the notebooks that are out of date
    python colab/build_notebooks.py --check  # exit 1 if any notebook is out of date
"""

import argparse
import json
import pathlib
import sys

import jupytext

COLAB_DIR = pathlib.Path(__file__).resolve().parent


def notebook_sources(colab_dir=COLAB_DIR):
    """The `.py` notebook sources in `colab_dir`: every `.py` file but this script."""
    return sorted(p for p in colab_dir.glob("*.py") if p.name != pathlib.Path(__file__).name)


def render(source):
    """The `.ipynb` text of a `.py` source, with stable cell ids.

    nbformat gives every new cell a random id; numbering them instead keeps
    a rebuild of an unchanged source byte-identical.
    """
    notebook = jupytext.read(source)
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    return jupytext.writes(notebook, fmt="ipynb")


def _without_cell_ids(ipynb_text):
    # Cell ids carry no content, and `jupytext --to ipynb` draws random ones:
    # a notebook written by it is up to date as long as everything else matches.
    notebook = json.loads(ipynb_text)
    for cell in notebook.get("cells", []):
        cell.pop("id", None)
    return notebook


def out_of_date(colab_dir=COLAB_DIR):
    """Problems as `(path, reason)`: stale or missing notebooks, notebooks without a source."""
    problems = []
    sources = notebook_sources(colab_dir)
    for source in sources:
        target = source.with_suffix(".ipynb")
        if not target.exists():
            problems.append((target, "missing"))
        elif _without_cell_ids(target.read_text()) != _without_cell_ids(render(source)):
            problems.append((target, f"differs from {source.name}"))
    stems = {source.stem for source in sources}
    for notebook in sorted(colab_dir.glob("*.ipynb")):
        if notebook.stem not in stems:
            problems.append((notebook, f"has no {notebook.stem}.py source"))
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any notebook is out of date with its .py source",
    )
    args = parser.parse_args(argv)
    problems = out_of_date()
    if args.check:
        for path, reason in problems:
            print(f"{path}: {reason}", file=sys.stderr)
        if problems:
            print("Run `python colab/build_notebooks.py` to rebuild them.", file=sys.stderr)
        return 1 if problems else 0
    for path, reason in problems:
        if reason.startswith("has no"):
            # Never delete a notebook: it may be someone's work in progress.
            print(f"{path}: {reason}; left as it is", file=sys.stderr)
            continue
        path.write_text(render(path.with_suffix(".py")))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
