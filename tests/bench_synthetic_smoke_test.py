"""`bench/synthetic_correlation.py` still runs end to end (tiny settings; figures unchecked)."""

import json

import pytest

from tests.bench_process import run_bench

# Two correlations, two repeats, one tuning trial, one width; d = 10 inputs
# rather than the paper's 100, which makes each model's graph quicker to trace.
TINY = (
    *("--correlations", "1.0,0.5", "--repeats", 2, "--widths", 1, "--trials", 1),
    *("--learning-rates", "0.01", "--models", "shared-bottom,mmoe"),
    *("--max-epochs", 2, "--patience", 1, "--num-rows", 600, "--input-dim", 10, "--no-xla"),
)


@pytest.mark.slow
def test_synthetic_correlation_benchmark_writes_its_report(tmp_path):
    completed = run_bench("synthetic_correlation.py", *TINY, "--out", tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]

    report = json.loads((tmp_path / "synthetic_correlation.json").read_text())
    runs = report["runs"]
    assert len(runs) == 2 * 2 * 2  # correlations x repeats x models
    # Every model at a correlation sees the same repeats, seeds 1..N (seed 0 tunes).
    assert sorted({r["seed"] for r in runs}) == [1, 2]
    assert [(t["model"], t["best"]) for t in report["tuning"]] == [
        ("shared-bottom", {"learning_rate": 0.01}),
        ("mmoe", {"learning_rate": 0.01}),
    ]
    (width,) = report["analysis"]
    low = next(row for row in width["rows"] if row["correlation"] == 0.5)
    assert low["paired"]["mmoe-shared-bottom"]["seeds"] == 2
    assert set(low["degradation"]) == {"shared-bottom", "mmoe"}
    assert "shared-bottom-mmoe" in low["excess_degradation"]
    assert "the paper's ordering" in width["summary"]

    png = (tmp_path / "synthetic_correlation_w1.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "synthetic_correlation.md").read_text()
    assert "## Width x1" in table and "MMoE - Shared-Bottom" in table
    assert "95% confidence interval of the mean" in table
    assert "Runs whose best epoch was the epoch cap (2):" in table

    # Tuning and repeats are kept per run: the same command trains nothing again.
    kept = sorted(p.name for p in (tmp_path / "synthetic_correlation_runs").iterdir())
    assert len(kept) == 2 + len(runs)
    again = run_bench("synthetic_correlation.py", *TINY, "--out", tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "] width x" not in again.stdout and "tuned:" not in again.stdout


@pytest.mark.slow
def test_two_workers_share_the_repeats_and_one_tabulates(tmp_path):
    one_correlation = [a if a != "1.0,0.5" else "1.0" for a in TINY]
    completed = run_bench(
        "synthetic_correlation.py", *one_correlation, "--workers", 2, "--out", tmp_path
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "synthetic_correlation.json").read_text())
    assert len(report["runs"]) == 2 * 2  # repeats x models, each once
    log = tmp_path / "synthetic_correlation_runs" / "workers" / "worker1.log"

    def trained(text):
        return sorted(
            int(line[1:].split("/")[0]) for line in text.splitlines() if "] width x" in line
        )

    # Runs 1..4 in a fixed order: this process the odd ones, the worker the even ones.
    assert trained(completed.stdout) == [1, 3]
    assert trained(log.read_text()) == [2, 4]
