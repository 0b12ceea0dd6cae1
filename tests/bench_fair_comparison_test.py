"""The fair-comparison protocol every comparison table uses: equal searches, paired verdicts."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
import _fair_comparison as fair  # noqa: E402

SPACE = {"learning_rate": [1e-3, 3e-3], "width": [16, 32, 64]}


def test_a_consistent_gain_is_better_a_noisy_one_level():
    baseline = [0.70, 0.71, 0.72, 0.69, 0.70]
    gain = fair.paired_difference([b + 0.010 + 0.001 * i for i, b in enumerate(baseline)], baseline)
    assert gain["verdict"] == "better" and gain["better"] == 5 and gain["worse"] == 0
    assert gain["mean"] == pytest.approx(0.012)
    noisy = fair.paired_difference(
        [b + d for b, d in zip(baseline, [0.02, -0.02, 0.01, -0.015, 0.01])], baseline
    )
    assert noisy["verdict"] == "level" and (noisy["better"], noisy["worse"]) == (3, 2)
    # Lower is better for errors: the same differences read the other way round.
    error = fair.paired_difference([b + 0.01 for b in baseline], baseline, higher_is_better=False)
    assert error["verdict"] == "level"  # no spread: nothing to judge it by
    error = fair.paired_difference(
        [b + 0.010 + 0.001 * i for i, b in enumerate(baseline)], baseline, higher_is_better=False
    )
    assert error["verdict"] == "worse" and error["worse"] == 5
    assert fair.paired_difference([0.8], [0.7])["verdict"] == "level"  # one seed says nothing
    with pytest.raises(ValueError, match="one baseline figure per seed"):
        fair.paired_difference([0.8, 0.7], [0.7])


def test_the_search_tries_the_budget_and_returns_the_lowest_loss():
    def validation_loss(values):
        return abs(values["width"] - 32) + values["learning_rate"]

    best, tried = fair.tune("toy", SPACE, validation_loss, trials=4, seed=0)
    assert len(tried) == 4
    assert len({tuple(sorted(t["values"].items())) for t in tried}) == 4
    lowest = min(tried, key=lambda t: t["val_loss"])
    assert best == lowest["values"]
    assert all(t["values"]["width"] in SPACE["width"] for t in tried)


def test_a_diverged_trial_ranks_last_and_a_failing_one_stops_the_search():
    _, tried = fair.tune(
        "diverged", SPACE, lambda v: float("nan") if v["width"] == 16 else 1.0, trials=6, seed=0
    )
    assert len(tried) == 6

    def broken(values):
        raise TypeError("unexpected keyword argument 'dropout'")

    with pytest.raises(RuntimeError, match="search 'broken' failed") as raised:
        fair.tune("broken", SPACE, broken, trials=2, seed=0)
    assert isinstance(raised.value.__cause__, TypeError)


def test_capped_runs_are_named():
    runs = [{"name": "a", "best_epoch": 30}, {"name": "b", "best_epoch": 12}]
    line = fair.capped_runs_line(runs, 30, lambda r: r["name"])
    assert line.endswith(": a.") and "(30)" in line
    assert fair.capped_runs_line(runs[1:], 30, lambda r: r["name"]).endswith("none.")
