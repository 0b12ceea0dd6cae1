"""The Colab notebooks: `.ipynb` files in sync with their `.py` sources, executed, and they run."""

import json
import pathlib
import re
import subprocess
import sys
import types

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
COLAB = REPO / "colab"
BUILD_SCRIPT = COLAB / "build_notebooks.py"


def _load_build_script():
    # exec() rather than an import: an import would write colab/__pycache__/.
    module = types.ModuleType("build_notebooks")
    module.__file__ = str(BUILD_SCRIPT)
    exec(compile(BUILD_SCRIPT.read_text(), str(BUILD_SCRIPT), "exec"), module.__dict__)
    return module


# The build script runs the notebooks for the committed outputs; the tests run
# them the same way, with the same settings.
BUILD = _load_build_script()


def test_notebooks_match_their_sources():
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_check_reports_missing_stale_and_orphan_notebooks(tmp_path):
    build = BUILD
    source = tmp_path / "quickstart.py"
    source.write_text((COLAB / "quickstart.py").read_text())
    notebook = tmp_path / "quickstart.ipynb"

    assert build.out_of_date(tmp_path) == [(notebook, "missing")]

    notebook.write_text(build.render(source))
    assert build.out_of_date(tmp_path) == []

    # Rendering twice gives the same bytes: rebuilding never churns the diff.
    assert notebook.read_text() == build.render(source)

    # Cell ids are not content: a notebook written by `jupytext --to ipynb`
    # (random ids) is up to date too.
    cli_style = json.loads(notebook.read_text())
    for index, cell in enumerate(cli_style["cells"]):
        cell["id"] = f"{index:08x}"
    notebook.write_text(json.dumps(cli_style))
    assert build.out_of_date(tmp_path) == []

    # Outputs are not content either: an executed notebook is up to date.
    executed = json.loads(notebook.read_text())
    for cell in executed["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 1
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
    notebook.write_text(json.dumps(executed))
    assert build.out_of_date(tmp_path) == []

    source.write_text(source.read_text() + "\n# %%\nprint('a new cell')\n")
    assert build.out_of_date(tmp_path) == [(notebook, "differs from quickstart.py")]

    (tmp_path / "orphan.ipynb").write_text(build.render(source))
    assert (tmp_path / "orphan.ipynb", "has no orphan.py source") in build.out_of_date(tmp_path)


def test_committed_notebooks_carry_their_outputs():
    # Built by `python colab/build_notebooks.py`, which runs them as the tests
    # below do: the repository page and Colab show them run, plots included.
    for source in BUILD.notebook_sources():
        notebook = json.loads(source.with_suffix(".ipynb").read_text())
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert all(cell["execution_count"] for cell in code), f"{source.stem} is not executed"
        images = [
            output
            for cell in code
            for output in cell["outputs"]
            if "image/png" in output.get("data", {})
        ]
        assert images, f"{source.stem}.ipynb shows no plot"
        errors = [o for cell in code for o in cell["outputs"] if o["output_type"] == "error"]
        assert not errors, f"{source.stem}.ipynb holds an error: {errors[0]}"


def _text_outputs(notebook):
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream" and output.name == "stdout"
    )


def _execute(source, tmp_path):
    """Runs colab/<source> as CI does, inside tmp_path/work; returns (notebook, workdir)."""
    env = BUILD.ci_settings(pathlib.Path(source).stem)
    if env is None:
        pytest.skip(reason=f"the data of {source} is absent (see colab/build_notebooks.py)")
    workdir = tmp_path / "work"
    workdir.mkdir()
    # nbclient raises CellExecutionError, with the cell's traceback, if any cell fails.
    return BUILD.execute(COLAB / source, workdir, env, tmp_path / "jupyter"), workdir


@pytest.mark.slow
def test_quickstart_runs(tmp_path):
    check_quickstart(*_execute("quickstart.py", tmp_path))


def check_quickstart(notebook, workdir):
    """What a run of the quickstart must show and leave (tests/install_test.py runs it too)."""
    stdout = _text_outputs(notebook)
    assert "The SavedModel and the Keras model agree." in stdout
    # A couple of epochs (CI's settings) learn both tasks, far from chance.
    aucs = dict(re.findall(r"(\w+): test AUC (\d\.\d+)", stdout))
    assert float(aucs["income"]) > 0.85, stdout
    assert float(aucs["never_married"]) > 0.95, stdout

    plot = workdir / "quickstart_plots.png"
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    shown = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert len(shown) == 1

    model_dir = workdir / "savedmodels" / "mmoe-census-income"
    assert sorted(p.name for p in model_dir.iterdir()) == ["1"]  # no staging folder left
    export = model_dir / "1"
    assert (export / "saved_model.pb").is_file()
    assert (export / "variables" / "variables.index").is_file()
    assert (export / "assets.extra" / "tf_serving_warmup_requests").is_file()
    # Everything the notebook wrote is in its working directory.
    assert sorted(p.name for p in workdir.iterdir()) == ["quickstart_plots.png", "savedmodels"]


@pytest.mark.slow
def test_multitask_training_runs(tmp_path):
    notebook, workdir = _execute("multitask_training.py", tmp_path)

    stdout = _text_outputs(notebook)
    assert "The SavedModel and the Keras model agree." in stdout
    # Requested p against the labels' correlation, lower because of the sines.
    correlations = dict(re.findall(r"p = ([\d.]+): labels' Pearson correlation ([\d.]+)", stdout))
    assert set(correlations) == {"1.0", "0.9", "0.5"}
    assert all(float(c) < float(p) for p, c in correlations.items())
    # Uncertainty weighting moved its weights away from 1/2 and kept them on reload.
    weights = re.findall(r"learned weight 1/\(2σ²\) = ([\d.]+)", stdout)
    assert len(weights) == 2 and all(float(w) != 0.5 for w in weights)
    assert "learned loss weights after reloading" in stdout
    # With 70% of never_married labels hidden, both tasks still learn.
    aucs = [float(a) for a in re.findall(r"test AUC (\d\.\d+)", stdout)]
    assert len(aucs) == 4 and min(aucs) > 0.85, stdout
    assert "RelaImpr" in stdout and "collapsed onto: " in stdout
    # DSelect-k with k = 2 leaves most of the 8 experts at exactly 0 (a softmax gate: none).
    nonzero = re.findall(r"DSelect-k gate of \w+: ([\d.]+) experts with a non-zero weight", stdout)
    assert len(nonzero) == 2 and all(1 <= float(n) < 4 for n in nonzero), stdout
    # DWA moved off its equal starting weights after three epochs; they sum to the task count.
    dwa_line = re.search(r"DWA weights for the last epoch: \w+ ([\d.]+), \w+ ([\d.]+)", stdout)
    dwa = [float(w) for w in dwa_line.groups()]
    assert abs(sum(dwa) - 2) < 2e-3 and dwa[0] != 1.0, stdout
    # The peers' switchers and the gradient weightings all learn both tasks.
    peers = re.findall(
        r"peer model ([\w +]+): income AUC (\d\.\d+), never_married AUC (\d\.\d+)", stdout
    )
    assert [name for name, *_ in peers] == [
        "STEM",
        "HoME",
        "PEPNet",
        "DBMTL",
        "MMoE + PCGrad",
        "MMoE + MetaBalance",
    ], stdout
    assert all(float(auc) > 0.75 for _, *aucs in peers for auc in aucs), stdout
    assert (workdir / "multitask_training_plots.png").read_bytes().startswith(b"\x89PNG")
    assert (workdir / "savedmodels" / "mmoe-uncertainty" / "1" / "saved_model.pb").is_file()
    assert sorted(p.name for p in workdir.iterdir()) == [
        "mmoe-uncertainty.keras",
        "multitask_training_plots.png",
        "savedmodels",
    ]


@pytest.mark.slow
def test_selection_bias_runs(tmp_path):
    notebook, workdir = _execute("selection_bias.py", tmp_path)

    stdout = _text_outputs(notebook)
    assert "The SavedModel and the Keras model agree." in stdout
    assert "signatures: ['serving_default', 'with_bias_features']" in stdout
    aucs = [float(a) for a in re.findall(r"test AUC against true relevance (\d\.\d+)", stdout)]
    assert len(aucs) == 2 and min(aucs) > 0.85, stdout
    # Even after one epoch the shallow tower has learned that position 10 is clicked less.
    # (By -0.3 with textbook Adam; up to 2026-12-07 Keras' Adam on repeated embedding rows
    # took steps ~10x larger for the 10 positions, and this asked for -0.5.)
    shifts = [float(s) for s in re.findall(r"position +\d+: shallow logit ([+-]\d\.\d+)", stdout)]
    assert len(shifts) == 10 and shifts[-1] < shifts[0] - 0.2, stdout
    cvr = re.findall(r"([\w -]+): AUC over all impressions (\d\.\d+), .* bias [+-]", stdout)
    names = ["clicked rows only", "ESMM", "ESCM2-IPS", "ESCM2-DR", "AITM"]
    assert [name for name, _ in cvr] == names, stdout
    assert all(float(auc) > 0.6 for _, auc in cvr), stdout
    assert len(re.findall(r"(Cross-Stitch|SNR-Trans): college_or_above AUC", stdout)) == 2
    assert (workdir / "selection_bias_plots.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in workdir.iterdir()) == [
        "savedmodels",
        "selection_bias_plots.png",
        "youtube-mmoe.keras",
    ]


@pytest.mark.slow
def test_dlen_kuairand_runs(tmp_path):
    notebook, workdir = _execute("dlen_kuairand.py", tmp_path)

    stdout = _text_outputs(notebook)
    assert "The SavedModel and the Keras model agree." in stdout
    assert "'like_and_up'" in stdout and "'p_up'" in stdout
    aucs = re.findall(r"^(MMoE|MMoE-DLEN): click (\d\.\d+)", stdout, re.MULTILINE)
    assert len(aucs) == 2 and all(float(auc) > 0.55 for _, auc in aucs), stdout
    # The cap holds on every test row.
    caps = re.findall(r"max P\(t\|not UP\) (\d\.\d+) \(cap (\d\.\d+)\)", stdout)
    assert len(caps) == 6 and all(float(m) <= float(c) for m, c in caps), stdout
    assert (workdir / "dlen_kuairand_plots.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in workdir.iterdir()) == [
        "dlen_kuairand_plots.png",
        "mmoe-dlen.keras",
        "savedmodels",
    ]


@pytest.mark.slow
def test_mfh_kuairand_runs(tmp_path):
    notebook, workdir = _execute("mfh_kuairand.py", tmp_path)

    stdout = _text_outputs(notebook)
    assert "The SavedModel and the Keras model agree." in stdout
    assert "towers reached by a high-activity batch: ['tower_click__high', " in stdout
    assert "tower_click__low" not in stdout and "tower_pcr__new" not in stdout
    scores = re.findall(
        r"(mfh|flat) +(new|low|high): pcr MSE (\d\.\d+), click AUC (\d\.\d+)", stdout
    )
    assert len(scores) == 6 and all(float(mse) < 0.3 for *_, mse, _ in scores), stdout
    assert (workdir / "mfh_kuairand_plots.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in workdir.iterdir()) == [
        "mfh.keras",
        "mfh_kuairand_plots.png",
        "savedmodels",
    ]


@pytest.mark.slow
def test_automtl_kuairand_runs(tmp_path):
    notebook, workdir = _execute("automtl_kuairand.py", tmp_path)

    stdout = _text_outputs(notebook)
    assert "The SavedModel and the Keras model agree." in stdout
    assert "epoch 1 architecture: interaction: " in stdout
    scores = re.findall(r"(AutoMTL|MMoE): click AUC (\d\.\d+), like AUC (\d\.\d+)", stdout)
    assert len(scores) == 2 and all(float(click) > 0.55 for _, click, _ in scores), stdout
    architecture = json.loads((workdir / "architecture.json").read_text())
    assert all(len(chosen) == 2 for chosen in architecture["task_experts"].values())
    for picture in (
        "automtl_architecture.png",
        "automtl_selection.png",
        "automtl_kuairand_auc.png",
    ):
        assert (workdir / picture).read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in workdir.iterdir()) == [
        "architecture.json",
        "automtl.keras",
        "automtl_architecture.png",
        "automtl_kuairand_auc.png",
        "automtl_selection.png",
        "savedmodels",
    ]


@pytest.mark.slow
def test_mogenet_movielens_runs(tmp_path):
    # MovieLens may not be redistributed: the notebook reads ../shared's copy.
    notebook, workdir = _execute("mogenet_movielens.py", tmp_path)

    stdout = _text_outputs(notebook)
    assert "The SavedModel and the Keras model agree." in stdout
    assert "reloaded MoGENet: the same predictions" in stdout
    assert "Graphs from the training rows: 944 users, 1,683 items" in stdout
    scores = re.findall(
        r"^(MMoE|MMoE \+ MGNN|MoGENet): rating_ge_4 AUC (\d\.\d+) GAUC (\d\.\d+), "
        r"rating_5 AUC (\d\.\d+) GAUC (\d\.\d+)$",
        stdout,
        re.MULTILINE,
    )
    assert [name for name, *_ in scores] == ["MMoE", "MMoE + MGNN", "MoGENet"], stdout
    assert all(float(v) > 0.7 for _, *values in scores for v in values), stdout
    gates = re.findall(r"^gate of (rating_ge_4|rating_5): mean weights (.+)$", stdout, re.MULTILINE)
    assert len(gates) == 2, stdout
    for _, weights in gates:
        weights = [float(w) for w in weights.split()]
        assert len(weights) == 4 and abs(sum(weights) - 1) < 0.01, stdout
    assert "(never seen)" in stdout
    assert (workdir / "mogenet_movielens_plots.png").read_bytes().startswith(b"\x89PNG")
    assert (workdir / "savedmodels" / "mogenet" / "1" / "saved_model.pb").is_file()
    assert sorted(p.name for p in workdir.iterdir()) == [
        "mogenet.keras",
        "mogenet_movielens_plots.png",
        "savedmodels",
    ]


@pytest.mark.slow
def test_sequence_features_runs(tmp_path):
    notebook, workdir = _execute("sequence_features.py", tmp_path)

    stdout = _text_outputs(notebook)
    assert "The SavedModel and the Keras model agree." in stdout
    # The no-leakage rule: the two clicks of t=30 never see each other; t=40 sees both.
    assert "t=30 video 9 clicked=True  -> history [7, -1, -1]" in stdout, stdout
    assert "t=40 video 6 clicked=True  -> history [9, 8, 7]" in stdout, stdout
    (scores,) = re.findall(
        r"^MMoE \+ DIN: click AUC (\d\.\d+) GAUC (\d\.\d+), long_view AUC (\d\.\d+) GAUC "
        r"(\d\.\d+), like AUC (\d\.\d+) GAUC (\d\.\d+)$",
        stdout,
        re.MULTILINE,
    )
    assert float(scores[0]) > 0.6 and float(scores[4]) > 0.6, stdout
    # Histories of 5, 2 and 0 videos, padded with -1 to the longest.
    assert "padded history payload, shape (3, 5)" in stdout
    assert re.search(r"\[ *-1 +-1 +-1 +-1 +-1\]\]", stdout), stdout
    # The REST body: one row, every raw input, the history a plain list.
    (line,) = [line for line in stdout.splitlines() if line.startswith('{"signature_name"')]
    (row,) = json.loads(line)["instances"]
    history = row["watched_videos"]
    assert len(history) == 5 and all(isinstance(v, int) for v in history), history
    assert {"user_id", "video_id", "hour", "user_active_degree"} <= set(row)
    assert re.search(r"highest weights: video \d+ \(-?\d\.\d+\)", stdout), stdout
    assert (workdir / "sequence_features_plots.png").read_bytes().startswith(b"\x89PNG")
    export = workdir / "savedmodels" / "mmoe-din-kuairand" / "1"
    assert (export / "saved_model.pb").is_file()
    assert (export / "assets.extra" / "tf_serving_warmup_requests").is_file()
    assert sorted(p.name for p in workdir.iterdir()) == [
        "savedmodels",
        "sequence_features_plots.png",
    ]
