"""bench/mogenet.py: it runs end to end (tiny settings), and its comparisons pair the right runs.

The smoke test reads MovieLens from the shared data folder (GroupLens does
not allow it to be redistributed, so the repository has no copy) and is
skipped where that folder is absent. One epoch on 8,000 of the training rows,
without XLA: what it tests is the benchmark's plumbing (tuning, seeds, paired
differences, the report, the stored runs' names), not its figures. It runs
no ablation: each MoGENet run costs about 20 CPU-seconds of tracing alone, so
the ablations' pairing and tables are tested on made-up runs instead.
"""

import json
import pathlib
import sys

import pytest

from tests.bench_process import run_bench

ROOT = pathlib.Path(__file__).resolve().parents[1]
MOVIELENS = ROOT.parent / "shared" / "data" / "movielens-100k"
TASKS = ("rating_ge_4", "rating_5")
METRICS = ("test_auc", "test_gauc")

sys.path.insert(0, str(ROOT / "bench"))
import mogenet  # noqa: E402


@pytest.mark.slow
def test_mogenet_benchmark_tunes_compares_and_writes_its_report(tmp_path):
    if not (MOVIELENS / "u.data").is_file():
        pytest.skip(reason=f"the shared MovieLens-100K folder {MOVIELENS} is absent")
    args = ["--datasets", "movielens", "--models", "mogenet,cross-stitch", "--trials", 1]
    args += ["--seeds", 1, "--max-epochs", 1, "--max-train-rows", 8000, "--no-xla"]
    args += ["--ablations", "none", "--out", tmp_path]
    completed = run_bench("mogenet.py", *args)
    assert completed.returncode == 0, completed.stderr[-3000:] + completed.stdout[-3000:]
    report = json.loads((tmp_path / "mogenet.json").read_text())
    assert report["settings"]["jit_compile"] is False
    assert report["settings"]["max_train_rows"] == 8000
    assert [(t["model"], len(t["trials"])) for t in report["tuning"]] == [
        ("mogenet", 1),
        ("cross-stitch", 1),
    ]
    assert sorted((r["model"], r["seed"]) for r in report["runs"]) == [
        ("cross-stitch", 1),
        ("mogenet", 1),
    ]
    assert all(0 < r["test_gauc"][t] < 1 for r in report["runs"] for t in TASKS)
    (paired,) = report["comparisons"].values()
    assert list(report["comparisons"]) == ["movielens|mogenet|cross-stitch"]
    assert set(paired) == {f"{t}|{m}" for t in TASKS for m in METRICS}
    # A rating of 5 is a rating >= 4: ESMM's funnel premise holds on MovieLens.
    assert report["funnel_check"]["movielens"]["second_without_first"] == 0
    # New names only: runs of the earlier protocol are never read as these.
    stored = sorted(p.name for p in (tmp_path / "mogenet_runs").iterdir())
    assert stored == sorted(
        [f"fair-movielens-{m}-tuning.json" for m in ("mogenet", "cross-stitch")]
        + [f"fair-movielens-{m}-seed{s}.json" for m in ("mogenet", "cross-stitch") for s in (1,)]
    )
    table = (tmp_path / "mogenet.md").read_text()
    assert "| MoGENet − |" in table and "| Cross-Stitch |" in table
    assert "Runs whose best epoch was the epoch cap (1): movielens mogenet seed 1" in table


def _made_up_runs():
    """Five seeds of the full model and of every beta; beta only moves rating_5's AUC."""
    shift = {"loss=i+ii": 0.0, "mogenet": 0.0, "beta=1e-3": 0.002, "beta=1e-1": 0.01}
    noise = [0.001, -0.001, 0.0005, 0.0, -0.0005]
    runs = []
    for name, gain in shift.items():
        for seed, wobble in enumerate(noise, start=1):
            figures = {t: 0.8 + wobble for t in TASKS}
            auc = {**figures, "rating_5": figures["rating_5"] + gain * (1 + seed / 10)}
            runs.append(
                {"dataset": "movielens", "model": name, "seed": seed, "test_auc": auc,
                 "test_gauc": dict(figures), "best_epoch": 3, "epochs_run": 5, "wall_s": 10.0}
            )  # fmt: skip
    return runs


def test_each_beta_is_paired_with_beta_zero_and_tabulated():
    runs = _made_up_runs()
    table = mogenet.comparisons(runs, {"movielens": list(TASKS)})
    assert set(table) == {
        "movielens|beta=1e-3|loss=i+ii",
        "movielens|beta=1e-1|loss=i+ii",
        "movielens|mogenet|loss=i+ii",
        "movielens|loss=i+ii|mogenet",
    }
    assert table["movielens|beta=1e-1|loss=i+ii"]["rating_5|test_auc"]["verdict"] == "better"
    assert table["movielens|beta=1e-1|loss=i+ii"]["rating_ge_4|test_auc"]["verdict"] == "level"
    # MoGENet's beta 1e-6 against beta 0: identical figures, so nothing to call a difference.
    assert table["movielens|mogenet|loss=i+ii"]["rating_5|test_auc"]["verdict"] == "level"
    report = {
        "date": "today",
        "command": "python bench/mogenet.py",
        "wall_s": 1.0,
        "machine": {"cpu": "a CPU", "cpus_usable": 2},
        "settings": {
            "trials": 3,
            "seeds": 5,
            "max_epochs": 30,
            "patience": 2,
            "batch_size": 1024,
            "fanouts": [5, 3],
        },  # fmt: skip
        "tasks": {"movielens": list(TASKS)},
        "dataset_summary": {"movielens": "rows"},
        "funnel_check": {
            "movielens": {
                "first": TASKS[0],
                "second": TASKS[1],
                "second_positives": 10,
                "second_without_first": 0,
            }  # fmt: skip
        },
        "tuning": [],
        "runs": runs,
        "comparisons": table,
    }
    text = mogenet.markdown(report)
    assert "### Ablation: the cooperative loss weight beta" in text
    assert "| beta = 1e-6 (MoGENet) − beta = 0 |" in text
    assert "| beta = 1e-1 − beta = 0 |" in text
    assert "Runs whose best epoch was the epoch cap (30): none." in text
