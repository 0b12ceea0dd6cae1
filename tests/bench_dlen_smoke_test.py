"""bench/dlen_kuairand.py still tunes, compares and reports on both of its formats (tiny settings).

One test per format: each training traces its model anew, so even at one
epoch a run costs seconds, and the two formats together would take twice as
long as either. The figures are not checked, only what the report holds.
"""

import json

import pytest

from tests.bench_process import run_bench

TINY = ["--trials", 1, "--seeds", 1, "--max-epochs", 1, "--no-xla", "--batch-size", 4096]


def _report(tmp_path, data_format, *args):
    completed = run_bench(
        "dlen_kuairand.py",
        *TINY,
        "--format",
        data_format,
        "--models",
        "mmoe,mmoe-dlen",
        *args,
        "--out",
        tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "dlen_kuairand.json").read_text())
    assert list(report["formats"]) == [data_format]
    section = report["formats"][data_format]
    assert report["settings"]["jit_compile"] is False
    assert [t["model"] for t in section["tuning"]] == ["mmoe", "mmoe-dlen"]
    assert "alpha_ratio" in section["tuning"][1]["best"]
    assert sorted((r["model"], r["seed"]) for r in section["runs"]) == [
        ("mmoe", 1),
        ("mmoe-dlen", 1),
    ]
    runs_dir = tmp_path / "dlen_kuairand_runs"
    assert (runs_dir / f"{data_format}-mmoe-dlen-tuning.json").exists()
    assert (runs_dir / f"{data_format}-mmoe-dlen-seed1.json").exists()
    return section, (tmp_path / "dlen_kuairand.md").read_text()


def _check_scores(section, table, tasks):
    assert section["tasks"] == tasks
    for run in section["runs"]:
        assert set(run["auc"]["p_t"]) == set(tasks)
        dlen = run["model"] == "mmoe-dlen"
        # P(t, UP) exists for DLEN only, as does P(UP).
        assert set(run["auc"]["p_t_and_up"]) == (set(tasks) if dlen else set())
        assert (run["p_up_auc_any_positive"] is not None) == dlen
    assert {f"mmoe-dlen|{score}|{t}" for score in ("p_t", "p_t_and_up") for t in tasks} == set(
        section["comparisons"]
    )
    assert all(c["seeds"] == 1 for c in section["comparisons"].values())
    assert "| MMoE-DLEN | P(t, UP) |" in table
    assert "| MMoE-DLEN P(t, UP) − MMoE P(t) |" in table
    assert "| MMoE-DLEN P(t) − MMoE P(t) |" in table
    assert "Runs whose best epoch was the epoch cap (1)" in table
    assert "more than 3 std below the mean of the other seeds" in table


@pytest.mark.slow
def test_dlen_benchmark_on_kuairand_compares_both_scores(tmp_path):
    section, table = _report(tmp_path, "kuairand", "--tasks", "click,like")
    _check_scores(section, table, ["click", "like"])
    assert "## kuairand" in table and "P(UP) vs true UP" not in table


@pytest.mark.slow
def test_dlen_benchmark_on_generated_ali_ccp_scores_the_true_preference(tmp_path):
    section, table = _report(tmp_path, "ali-ccp", "--rows", 2400)
    _check_scores(section, table, ["click", "purchase"])
    for run in section["runs"]:
        true_up = run.get("p_up_auc_true_up")
        assert (0.0 <= true_up <= 1.0) if run["model"] == "mmoe-dlen" else true_up is None
        # The generator's own probabilities rank far above chance: the data has the signal.
        assert run["truth_auc"]["p_up_true_up"] > 0.7
        assert run["data"]["not_up_ratio"]["click"] < 0.1
    assert "## ali-ccp" in table and "| P(UP) vs true UP |" in table
    assert "the generator's true probabilities" in table
