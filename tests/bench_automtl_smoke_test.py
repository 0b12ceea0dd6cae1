"""bench/automtl.py: it runs end to end (tiny settings), and its JSD record says what it should.

The smoke run searches the `--space tiny` supernet (two candidates, one
block per expert) for one epoch on 2,000 KuaiRand rows and trains one epoch
without XLA, with MMoE as the only baseline and w/o AUX as the only
ablation: what it tests is the benchmark's plumbing (tuning, a search per
seed, paired differences, the JSD record, the report, the stored runs'
names), not its figures.
"""

import json
import math
import pathlib
import sys

import pytest

from tests.bench_process import run_bench

ROOT = pathlib.Path(__file__).resolve().parents[1]
TASKS = ("click", "like")

sys.path.insert(0, str(ROOT / "bench"))
import automtl  # noqa: E402


@pytest.mark.slow
def test_automtl_benchmark_tunes_searches_per_seed_and_records_the_jsd_effect(tmp_path):
    args = ["--datasets", "kuairand", "--baselines", "mmoe", "--ablations", "wo-aux"]
    args += ["--trials", 1, "--seeds", 2, "--search-epochs", 1, "--search-rows", 2000]
    args += ["--space", "tiny", "--max-epochs", 1, "--no-xla", "--out", tmp_path]
    completed = run_bench("automtl.py", *args)
    assert completed.returncode == 0, completed.stderr[-3000:] + completed.stdout[-3000:]
    report = json.loads((tmp_path / "automtl.json").read_text())
    assert [(t["model"], len(t["trials"])) for t in report["tuning"]] == [
        ("mmoe", 1),
        ("automtl", 1),
    ]
    assert sorted((r["model"], r["seed"]) for r in report["runs"]) == [
        (m, s) for m in ("automtl", "mmoe", "wo-aux") for s in (1, 2)
    ]
    # The ablation retrains at AutoMTL's tuned setting.
    (automtl_tuning,) = [t for t in report["tuning"] if t["model"] == "automtl"]
    assert {
        r["values"] == automtl_tuning["best"] for r in report["runs"] if r["model"] != "mmoe"
    } == {True}
    # Every seed searched on its own; the tuning's seed-0 search is not among the table's.
    assert sorted((s["model"], s["seed"]) for s in report["searches"]) == [
        (m, s) for m in ("automtl", "wo-aux") for s in (1, 2)
    ]
    assert set(report["comparisons"]) == {"kuairand|automtl|mmoe", "kuairand|wo-aux|automtl"}
    for paired in report["comparisons"].values():
        assert set(paired) == {*TASKS, "mtl_loss"}
        assert all(c["seeds"] == 2 for c in paired.values())
    effect = report["jsd"]["kuairand"]
    assert [e["seed"] for e in effect] == [1, 2]
    for e in effect:
        assert isinstance(e["identical_architecture"], bool)
        # 2,000 rows in batches of 1024, no warm-up in a one-epoch search.
        assert e["selection_steps"] == 2
        for side in ("with_jsd", "without_jsd"):
            moved = e[side]["max_from_uniform"]
            assert set(moved) == set(TASKS) and all(0 <= v < 1 / 8 for v in moved.values())
            assert e[side]["task_divergence"] >= 0
    stored = sorted(p.name for p in (tmp_path / "automtl_runs").iterdir())
    assert all(name.startswith("fair-kuairand-") for name in stored)
    assert "fair-kuairand-automtl-search-seed0.json" in stored
    assert "fair-kuairand-wo-aux-search-seed2.json" in stored
    table = (tmp_path / "automtl.md").read_text()
    assert "| AutoMTL − |" in table and "| MMoE |" in table
    assert "| w/o AUX − AutoMTL |" in table
    assert "Identical with and without the JSD loss in" in table
    assert "Runs whose best epoch was the epoch cap (1): kuairand mmoe seed 1" in table
    # Resumes from the stored runs instead of tuning, searching and training again.
    again = run_bench("automtl.py", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "tuned" not in again.stdout and "searched" not in again.stdout


def _architecture(click_experts, selection):
    return {
        "interaction": "skip",
        "experts": [["skip"]] * 2,
        "task_experts": {"click": click_experts, "like": [0]},
        "search_weights": {"selection": selection},
    }


def test_selection_summary_measures_distance_from_uniform_and_task_divergence():
    uniform = automtl.selection_summary(
        _architecture([0], {"click": [0.5, 0.5], "like": [0.5, 0.5]})
    )
    assert uniform == {"max_from_uniform": {"click": 0.0, "like": 0.0}, "task_divergence": 0.0}
    apart = automtl.selection_summary(_architecture([0], {"click": [1.0, 0.0], "like": [0.0, 1.0]}))
    assert apart["max_from_uniform"] == {"click": 0.5, "like": 0.5}
    # Two tasks each certain of a different expert: H(mean) = ln 2, every H(p) = 0.
    assert math.isclose(apart["task_divergence"], math.log(2), rel_tol=1e-6)
    assert automtl.selection_summary(_architecture([0], None)) is None


def test_jsd_effect_pairs_each_seed_with_the_search_without_jsd():
    selection = {"max_from_uniform": {"click": 0.01, "like": 0.02}, "task_divergence": 0.001}

    def search(model, seed, click_experts):
        return {
            "dataset": "kuairand",
            "model": model,
            "seed": seed,
            "architecture": _architecture(click_experts, None),
            "selection_steps": 490,
            "selection": selection,
        }

    searches = [
        search("automtl", 1, [0]),
        search("wo-aux", 1, [0]),
        search("automtl", 2, [0]),
        search("wo-aux", 2, [1]),
        search("automtl", 3, [0]),  # no w/o AUX search for this seed: left out
    ]
    effect = automtl.jsd_effect(searches)["kuairand"]
    assert [(e["seed"], e["identical_architecture"]) for e in effect] == [(1, True), (2, False)]
    assert effect[1]["identical_task_experts"] is False
    text = "\n".join(automtl._jsd_lines(effect, list(TASKS)))
    assert "Identical with and without the JSD loss in 1 of 2 seeds." in text
    assert "| 2 | no | no | 490 | 0.0100 / 0.0100 | 0.0200 / 0.0200 | 0.00100 / 0.00100 |" in text
