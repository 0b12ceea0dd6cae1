"""The distributions: they build, PyPI would take them, and they carry what they should.

`python -m build` makes the sdist, then the wheel from the sdist, as a release
would; `twine check --strict` reads their metadata as PyPI does.
"""

import email.parser
import pathlib
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile

import pytest
from packaging.requirements import Requirement

from zoo.data.base.paths import REPO_DATASETS, SHIPPED_DATASETS

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Data without a redistribution right: never in a distribution, under any spelling.
UNSHIPPABLE = re.compile(r"ali[-_]?ccp|aliexpress|movielens|ml-100k|taobao", re.IGNORECASE)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """`python -m build`'s output folder, and what it printed."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, result.stdout + result.stderr


def _wheel(dist):
    (wheel,) = dist[0].glob("*.whl")
    return zipfile.ZipFile(wheel)


def _metadata(wheel):
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(wheel.read(name).decode())


def test_build_is_clean_and_twine_check_passes(dist):
    out, log = dist
    assert len(list(out.glob("*.tar.gz"))) == 1 and len(list(out.glob("*.whl"))) == 1
    # setuptools' deprecations (the licence table, say) become errors in later releases.
    assert "Deprecat" not in log, [line for line in log.splitlines() if "Deprecat" in line]
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(out.iterdir()))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_carries_the_shipped_datasets_byte_for_byte(dist):
    wheel = _wheel(dist)
    shipped = {
        name.removeprefix("zoo/data/shipped/"): wheel.read(name)
        for name in wheel.namelist()
        if name.startswith("zoo/data/shipped/")
    }
    expected = {
        f"{dataset}/{path.name}": path.read_bytes()
        for dataset in SHIPPED_DATASETS
        for path in sorted((REPO_DATASETS / dataset).iterdir())
    }
    assert sorted(shipped) == sorted(expected)
    assert shipped == expected
    for dataset in SHIPPED_DATASETS:
        assert f"{dataset}/CARD.md" in shipped
        assert any(name.startswith(f"{dataset}/LICENSE") for name in shipped), dataset


def test_no_unshippable_data_in_either_distribution(dist):
    out, _ = dist
    names = _wheel(dist).namelist()
    (sdist,) = out.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names += archive.getnames()
    # Their loaders' code is in, as it should be; no file of their data is.
    data = [n for n in names if not n.endswith(("/", ".py")) and "." in n.rsplit("/", 1)[-1]]
    assert [name for name in data if UNSHIPPABLE.search(name)] == []
    # Nor the TFDS builders, which are repository tools, not package code.
    assert not [name for name in names if "datasets/tfds" in name]


def test_metadata_licences_and_extras(dist):
    wheel = _wheel(dist)
    metadata = _metadata(wheel)
    assert metadata["License-Expression"] == "Apache-2.0 AND CC-BY-4.0 AND CC-BY-SA-4.0"
    licence_files = metadata.get_all("License-File")
    assert "LICENSE" in licence_files and "NOTICE" in licence_files
    for licence in licence_files:
        assert any(name.endswith(f".dist-info/licenses/{licence}") for name in wheel.namelist())
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "Programming Language :: Python :: 3.11" in metadata.get_all("Classifier")
    assert metadata.get_all("Project-URL")

    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist")]
    base = {r.name for r in requirements if r.marker is None}
    # The base install keeps whatever TensorFlow is there (Colab's GPU build);
    # nothing pulls the full `tensorflow` wheel beside tensorflow-cpu.
    assert not base & {"tensorflow", "tensorflow-cpu", "tensorflow-serving-api"}
    extras = {
        extra: {r.name for r in requirements if r.marker and r.marker.evaluate({"extra": extra})}
        for extra in metadata.get_all("Provides-Extra")
    }
    assert extras["cpu"] == {"tensorflow-cpu"} and extras["and-cuda"] == {"tensorflow"}
    assert {"build", "twine"} <= extras["test"]


def _pins(path):
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


@pytest.mark.parametrize("constraints", ["constraints.txt", "constraints-lowest.txt"])
def test_constraints_pin_versions_inside_the_ranges(constraints):
    pins = _pins(ROOT / constraints)
    project = PYPROJECT["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["cpu"]]
    for requirement in map(Requirement, declared):
        assert requirement.name in pins, f"{constraints} does not pin {requirement.name}"
        assert requirement.specifier.contains(pins[requirement.name]), (requirement, constraints)
    for extra in ("and-cuda", "tensorflow"):
        (requirement,) = map(Requirement, project["optional-dependencies"][extra])
        assert requirement.specifier.contains(pins["tensorflow"]), (requirement, constraints)
    assert pins["tensorflow"] == pins["tensorflow-cpu"]
    assert "tensorflow-serving-api" not in pins


def test_lowest_constraints_are_the_lower_bounds():
    pins = _pins(ROOT / "constraints-lowest.txt")
    project = PYPROJECT["project"]
    for line in [*project["dependencies"], *project["optional-dependencies"]["cpu"]]:
        requirement = Requirement(line)
        (lower,) = [s.version for s in requirement.specifier if s.operator == ">="]
        # ">=3.10" may be pinned as 3.10.0 or 3.10.1: a release of that minor version.
        pinned = pins[requirement.name].split(".")
        assert pinned[: len(lower.split("."))] == lower.split("."), (requirement, pinned)


def test_zoo_does_not_import_tensorflow_serving():
    # Its wheel requires the full `tensorflow` one: a second TensorFlow beside tensorflow-cpu.
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "zoo").rglob("*.py")
        if re.search(r"^\s*(from|import) tensorflow_serving\b", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []


def test_without_tensorflow_the_import_says_which_extra_to_install():
    # Site-packages off the path: the checkout's zoo, and no TensorFlow to find.
    code = (
        "import sys; sys.path = [p for p in sys.path if 'packages' not in p]; "
        f"sys.path.insert(0, {str(ROOT)!r}); import zoo"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "zoo needs TensorFlow" in result.stderr and "mtl-zoo[cpu]" in result.stderr
