"""The benchmark scripts still run (tiny settings); their figures are not checked here.

`--no-xla` everywhere: with one epoch on small data, compiling each model's
training and validation steps with XLA was most of a run's time. XLA itself
is tested with every model in tests/models/.
"""

import json

import pytest

from tests.bench_process import run_bench


@pytest.mark.slow
def test_census_table_benchmark_writes_its_table(tmp_path):
    table_args = ("--groups", 1, "--protocols", "all-features", "--seeds", 1, "--no-xla")
    table_args += ("--out", tmp_path)
    completed = run_bench(
        "census_table.py", "--models", "shared-bottom,mmoe", "--epochs", 1, *table_args
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "census_table.json").read_text())
    assert {(r["model"], r["group"], r["protocol"]) for r in report["summary"]} == {
        ("shared-bottom", 1, "all-features"),
        ("mmoe", 1, "all-features"),
    }
    table = (tmp_path / "census_table.md").read_text()
    # The published torch-rechub figures stand beside ours, with their source.
    assert "| MMoE |" in table and "0.9579" in table and "torch-rechub" in table
    assert "XLA off" in table
    # A finished cell is not trained again.
    runs = sorted((tmp_path / "census_table_runs").iterdir())
    assert len(runs) == 2
    again = run_bench("census_table.py", "--models", "mmoe", *table_args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "group 1, all-features, seed 1" not in again.stdout


@pytest.mark.slow
def test_position_bias_benchmark_writes_its_report(tmp_path):
    args = ("--etas", 2, "--seeds", 1, "--max-epochs", 1, "--no-xla", "--out", tmp_path)
    completed = run_bench("position_bias.py", *args)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "position_bias.json").read_text())
    methods = sorted(r["method"] for r in report["runs"])
    assert methods == ["no-handling", "position-feature", "relevance", "shallow-tower"]
    assert all(0.5 < r["test_relevance_auc"] <= 1.0 for r in report["runs"])
    assert (tmp_path / "position_bias.png").read_bytes()[:4] == b"\x89PNG"
    assert "Paired gain over no bias handling" in (tmp_path / "position_bias.md").read_text()
    # Resumes from the run files instead of training again.
    again = run_bench("position_bias.py", *args)
    assert again.returncode == 0 and "test AUC vs relevance" not in again.stdout


@pytest.mark.slow
def test_funnel_benchmark_tunes_compares_and_writes_its_report(tmp_path):
    methods = "esmm,escm2-dr"
    completed = run_bench(
        *("funnel_models.py", "--seeds", 2, "--trials", 2, "--num-rows", 2400),
        *("--max-epochs", 1, "--no-xla", "--methods", methods, "--out", tmp_path),
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "funnel_models.json").read_text())
    assert sorted((r["method"], r["seed"]) for r in report["runs"]) == sorted(
        (m, s) for m in methods.split(",") for s in (1, 2)
    )
    # The same budget for every method: two trials each, the chosen one among them.
    for tuned in report["tuning"]:
        assert len(tuned["trials"]) == 2
        assert tuned["best"] in [t["values"] for t in tuned["trials"]]
    assert report["comparisons"]["escm2-dr|auc_all_impressions"]["seeds"] == 2
    text = (tmp_path / "funnel_models.md").read_text()
    assert "ESCM2-DR vs ESMM" in text and "bias: mean pCVR - mean true CVR" in text

    # The same funnel written as AliExpress' published files, through its loader.
    aliexpress = (
        *("funnel_models.py", "--format", "aliexpress", "--methods", "aitm"),
        *("--seeds", 1, "--trials", 1, "--num-rows", 2400, "--max-epochs", 1, "--no-xla"),
        *("--out", tmp_path),
    )
    completed = run_bench(*aliexpress)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "funnel_models_aliexpress.json").read_text())
    assert report["settings"]["format"] == "aliexpress"
    assert all(0.0 <= r["auc_all_impressions"] <= 1.0 for r in report["runs"])
    # Resumes from its run files instead of tuning and training again.
    again = run_bench(*aliexpress)
    assert again.returncode == 0 and "tuned" not in again.stdout, again.stderr[-3000:]
    resumed = json.loads((tmp_path / "funnel_models_aliexpress.json").read_text())
    assert resumed["runs"] == report["runs"]


@pytest.mark.slow
def test_peer_models_benchmark_compares_with_mmoe_and_resumes(tmp_path):
    args = ["--datasets", "kuairand", "--arms", "mmoe,pcgrad", "--trials", 1, "--seeds", 2]
    args += ["--max-epochs", 1, "--no-xla", "--out", tmp_path]
    completed = run_bench("peer_models.py", *args)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "peer_models.json").read_text())
    assert sorted((r["arm"], r["seed"]) for r in report["runs"]) == [
        ("mmoe", 1),
        ("mmoe", 2),
        ("pcgrad", 1),
        ("pcgrad", 2),
    ]
    assert all(len(t["trials"]) == 1 for t in report["tuning"])
    comparison = report["comparisons"]["kuairand|pcgrad|click"]
    assert comparison["seeds"] == 2 and comparison["verdict"] in ("level", "better", "worse")
    assert "| MMoE + PCGrad |" in (tmp_path / "peer_models.md").read_text()
    # Resumes from the run files instead of tuning and training again.
    again = run_bench("peer_models.py", *args)
    assert again.returncode == 0 and "tuned" not in again.stdout
    # Samples/s measured on their own, at the settings each search chose.
    timing = ["--throughput", "--throughput-epochs", 2, "--quiet-wait", 0]
    measured = run_bench("peer_models.py", *args, *timing)
    assert measured.returncode == 0, measured.stderr[-3000:]
    assert "tuned" not in measured.stdout and "seed 1" not in measured.stdout
    throughput = json.loads((tmp_path / "peer_models_throughput.json").read_text())
    assert [r["arm"] for r in throughput["runs"]] == ["mmoe", "pcgrad"]
    assert all(r["train_samples_per_second"] > 0 for r in throughput["runs"])
    assert "| MMoE + PCGrad |" in (tmp_path / "peer_models_throughput.md").read_text()


@pytest.mark.slow
def test_mfh_kuairand_benchmark_tunes_compares_and_writes_its_report(tmp_path):
    args = ["--models", "mfh,biasnet", "--trials", 1, "--seeds", 1, "--max-epochs", 1]
    args += ["--batch-size", 4096, "--no-xla", "--out", tmp_path]
    completed = run_bench("mfh_kuairand.py", *args)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "mfh_kuairand.json").read_text())
    assert sorted(r["model"] for r in report["runs"]) == ["biasnet", "mfh"]
    assert set(report["runs"][0]["per_group"]) == {"new", "low", "high"}
    assert [t["model"] for t in report["tuning"]] == ["mfh", "biasnet"]
    assert set(report["comparisons"]) >= {"biasnet|low|pcr", "biasnet|high|click"}
    table = (tmp_path / "mfh_kuairand.md").read_text()
    assert "## high users" in table and "| MFH − Biasnet 3-task |" in table


@pytest.mark.slow
def test_streaming_census_benchmark_writes_its_report(tmp_path):
    args = ["--rows", "20000,40000", "--shard-rows", 20000, "--eval-rows", 2000, "--no-xla"]
    args += ["--shuffle-buffer", 5000, "--out", tmp_path, "--data-root", tmp_path / "data"]
    completed = run_bench("streaming_census.py", *args)
    assert completed.returncode == 0, completed.stderr[-3000:] + completed.stdout[-3000:]
    report = json.loads((tmp_path / "streaming_census.json").read_text())
    assert [r["rows"] for r in report["runs"]] == [20000, 40000]
    for run in report["runs"]:
        assert run["disk"]["shards"] == run["rows"] // 20000
        assert run["read"]["stages"]["read_pass"]["rows_per_second"] > 0
        assert run["read"]["stages"]["first_pass"]["rows_per_second"] > 0
        assert run["train"]["training"]["rows_per_second"] > 0
        assert run["read"]["peak_rss_mb"] > 0 and run["train"]["peak_rss_mb"] > 0
        assert 0.5 < run["train"]["training"]["test_auc"]["never_married"] <= 1.0
    assert report["growth"]["read"]["rows_ratio"] == 2.0
    assert "Does memory grow with the data?" in (tmp_path / "streaming_census.md").read_text()
    # Finished sizes and the generated files are reused, not measured or written again.
    again = run_bench("streaming_census.py", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "generating" not in again.stdout and again.stdout.count(": stored") == 4


@pytest.mark.slow
def test_streaming_kuairand_benchmark_writes_its_report(tmp_path):
    # --no-train: MMoE on the KuaiRand stream is trained in tests/data/kuairand_streaming_test.py.
    args = ["--rows", "10000,20000", "--no-train", "--out", tmp_path, "--data-root", tmp_path / "d"]
    completed = run_bench("streaming_kuairand.py", *args)
    assert completed.returncode == 0, completed.stderr[-3000:] + completed.stdout[-3000:]
    report = json.loads((tmp_path / "streaming_kuairand.json").read_text())
    assert [r["rows"] for r in report["results"]] == [10000, 20000]
    for result in report["results"]:
        stream, memory = result["stream"], result["memory"]
        assert stream["stages"]["read_pass"]["rows_per_second"] > 0
        assert (
            stream["stages"]["date_pass"]["rows_per_second"] > 0 and "fit" not in stream["stages"]
        )
        assert 0 < stream["train_rows"] < result["rows"]
        assert memory["peak_rss_mb"] > 0 and memory["stages"]["load"]["seconds"] > 0
    assert "Does memory grow with the log?" in (tmp_path / "streaming_kuairand.md").read_text()


@pytest.mark.slow
def test_sequence_features_benchmark_writes_its_report(tmp_path):
    # KuaiRand only (it ships); MovieLens, where ../shared has it, is skipped to keep this short.
    args = ["--smoke", "--datasets", "kuairand", "--lengths", 5, "--out", tmp_path]
    completed = run_bench("sequence_features.py", *args)
    assert completed.returncode == 0, completed.stderr[-3000:] + completed.stdout[-3000:]
    report = json.loads((tmp_path / "sequence_features.json").read_text())
    assert report["settings"]["jit_compile"] is False
    assert sorted(r["variant"] for r in report["runs"]) == [
        "mmoe",
        "mmoe-din",
        "mmoe-mean",
        "ple-din",
    ]
    assert all(0 < r["test_gauc"]["click"] < 1 for r in report["runs"])
    # One seed is never evidence: every difference is "level".
    assert {p["verdict"] for p in report["summary"]} == {"level"}
    (cost,) = report["throughput"]
    assert cost["status"] == "ok", cost
    assert cost["serve_input_shape"] == [1024, 5]
    assert cost["served_max_abs_diff"] < 1e-4
    assert cost["stages"]["train"]["samples_per_s"] > 0
    assert cost["stages"]["serve"]["samples_per_s"] > 0
    assert cost["stages"]["serve"]["peak_rss_mb"] > 0
    table = (tmp_path / "sequence_features.md").read_text()
    assert "| MMoE + DIN | AUC |" in table and "against the history length" in table
    # Finished runs are not trained again.
    again = run_bench("sequence_features.py", *args[:-4], "--lengths", "", "--out", tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "KuaiRand seed 1" not in again.stdout
