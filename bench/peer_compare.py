#!/usr/bin/env python
"""The zoo and the peer libraries in ONE run, interleaved by repeat, and their ratios.

Runs, one child process at a time, every model of every library available:

  * zoo_keras3       bench/peer_driver.py (this repository's .venv)
  * deepctr_tfkeras  run_deepctr.py --keras legacy   (if /tmp/deepctrenv exists)
  * deepctr_keras3   run_deepctr.py --keras 3        (if /tmp/deepctrenv exists)
  * torch_rechub     run_torch_rechub.py             (if /tmp/peersenv exists)
  * deepctr_keras3_matched  bench/deepctr_matched.py: DeepCTR on Keras 3 compiled as the
                     zoo compiles (XLA, 8 steps per call)  (if /tmp/deepctrenv exists)

(the environments come from ../shared/peer-bench/setup_envs.sh). Repeat 1 runs the
libraries in that order, repeat 2 in the reverse order, and so on, so that a slow
spell of the shared machine does not fall on one library only. Each library's runs
are written as results/<name>.json in the format of `common.run_children`, the peer
benchmark's `make_table.py` renders them, and this script adds the ratios the
project's targets are stated in:

  * MMoE training samples/s: zoo / best peer in the same run   (target >= 2x)
  * test AUC after 5 epochs: zoo vs each peer                  (target >= 0.950 / 0.9943)
  * model-only inference samples/s at batch 1024: zoo / best peer
  * SavedModel inference at batch 1024 (raw features through `serving_default`, measured
    in this run by a `bench/census_models.py` child per repeat; target >= 400,000 samples/s)

Two comparisons, as the fidelity of a speed claim needs: "as each README recommends"
(the zoo's `compile()` with its defaults, DeepCTR's `compile(optimizer, loss)` without XLA
and one step per call, torch-rechub's trainer) and "matched" (DeepCTR with the zoo's XLA
and steps-per-call settings). torch-rechub runs one thread per core
(`torch.set_num_threads(2)` on the two cores) in both.

    python bench/peer_compare.py                        # 3 models x 2 repeats, all libraries
    python bench/peer_compare.py --models MMoE --repeats 3 --libs zoo_keras3,deepctr_tfkeras

Writes bench/results/peer_compare.{json,md} and bench/results/peer_compare_RESULTS.md
(the peer benchmark's table of the same run). About 10-12 minutes with all four
libraries and 2 repeats: start it in the background and follow the log.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402
import peer_driver  # noqa: E402

MODELS = ["SharedBottom", "MMoE", "PLE"]
DEEPCTR_PY = "/tmp/deepctrenv/bin/python"
RECHUB_PY = "/tmp/peersenv/bin/python"
OURS = "zoo_keras3"
MATCHED = "deepctr_keras3_matched"  # DeepCTR with the zoo's compile settings
TARGETS = {"mmoe_train_ratio": 2.0, "income": 0.950, "marital": 0.9943, "savedmodel": 400_000}


def library_specs(work, results_dir):
    """name -> (python, [script, args...], library_info code or None)."""
    specs = {
        OURS: (
            sys.executable,
            [
                os.path.join(HERE, "peer_driver.py"),
                "--peer-bench",
                work,
                "--in-place",
                "--results-dir",
                results_dir,
            ],
            None,
        ),
        "deepctr_tfkeras": (
            DEEPCTR_PY,
            [os.path.join(work, "run_deepctr.py"), "--keras", "legacy"],
            "import run_deepctr as m; info = m.library_info('legacy')",
        ),
        "deepctr_keras3": (
            DEEPCTR_PY,
            [os.path.join(work, "run_deepctr.py"), "--keras", "3"],
            "import run_deepctr as m; info = m.library_info('3')",
        ),
        "torch_rechub": (
            RECHUB_PY,
            [os.path.join(work, "run_torch_rechub.py")],
            "import run_torch_rechub as m; info = m.library_info()",
        ),
        MATCHED: (
            DEEPCTR_PY,
            [os.path.join(HERE, "deepctr_matched.py"), "--peer-work", work],
            "import run_deepctr as m; info = m.library_info('3'); "
            "info['compile'] = 'jit_compile=True, steps_per_execution=8, as the zoo'",
        ),
    }
    return specs


def peer_library_info(python, code, work, env):
    script = (
        f"import sys, json; sys.path.insert(0, {work!r}); {code}; print('INFO=' + json.dumps(info))"
    )
    p = subprocess.run([python, "-c", script], capture_output=True, text=True, env=env)
    for line in p.stdout.splitlines():
        if line.startswith("INFO="):
            return json.loads(line[5:])
    raise RuntimeError(f"library_info failed for {python}: {p.stderr[-2000:]}")


def run_child(common, lib, python, argv, model, rep, env, timeout_s, wait_quiet_s=0):
    """One measurement, as common.run_children does it; returns the run's dict."""
    busy, waited = None, 0.0
    if wait_quiet_s > 0:
        busy, waited = bu.wait_for_quiet(wait_quiet_s)
        if waited > 3:
            print(f"[{lib}] waited {waited:.0f}s for other load to drop", flush=True)
    out = os.path.join(common.RESULTS_DIR, f".child_{lib}_{model}_r{rep}.json")
    cmd = [python] + argv[:1] + ["--child", "--model", model, "--repeat", str(rep), "--out", out]
    cmd += argv[1:]
    log_path = os.path.join(common.RESULTS_DIR, "logs", f"{lib}_{model}_r{rep}.log")
    print(f"[{lib}] repeat {rep} model {model} ...", flush=True)
    r = bu.run_child(cmd, out, log_path, env, timeout_s)
    r.setdefault("model", model)
    r.setdefault("repeat", rep)
    rc, wall = r.get("returncode", 0), r["process_wall_s"]
    r["busy_cores_before_start"] = None if busy is None else round(busy, 2)
    r["waited_for_quiet_s"] = round(waited, 1)
    r["log"] = os.path.relpath(log_path, os.path.dirname(common.CACHE_DIR))
    if r.get("status") == "ok":
        print(
            f"   ok in {wall:.1f}s: auc income {r['test_auc']['income']:.4f} "
            f"marital {r['test_auc']['marital']:.4f}, epoch {r['train_s_per_epoch_steady']:.2f}s "
            f"(cpu {r.get('train_cpu_s_per_epoch_steady') or float('nan'):.2f}s), "
            f"{r['train_samples_per_s']:,.0f} samples/s, peak RSS {r['peak_rss_mb']:.0f} MB, "
            f"other load {r['other_load_cores']} cores",
            flush=True,
        )
    else:
        print(f"   FAILED (rc={rc}) in {wall:.1f}s, see {log_path}", flush=True)
    return r


def med(runs, key, sub=None):
    vals = [(r[key][sub] if sub else r[key]) for r in runs if r.get("status") == "ok"]
    vals = [v for v in vals if v is not None]
    return bu.median(vals)


def ok_runs(results, lib, model):
    return [r for r in results[lib]["runs"] if r["model"] == model and r.get("status") == "ok"]


def compute_ratios(results, models, n_train):
    """The zoo against the best peer as each README recommends, and against the matched one."""
    recommended = [lib for lib in results if lib not in (OURS, MATCHED)]
    out = _ratios(results, models, n_train, recommended)
    if MATCHED in results:
        out["matched"] = _ratios(results, models, n_train, [MATCHED])["per_model"]
        for model, entry in out["matched"].items():
            if model in out["per_model"] and MATCHED in entry["test_auc"]:
                out["per_model"][model]["test_auc"][MATCHED] = entry["test_auc"][MATCHED]
    return out


def _ratios(results, models, n_train, peers):
    results = {lib: r for lib, r in results.items() if lib == OURS or lib in peers}
    out = {"per_model": {}}
    for model in models:
        ours = ok_runs(results, OURS, model)
        if not ours:
            continue
        entry = {}
        for key, label in (
            ("train_samples_per_s", "train"),
            ("train_step_samples_per_s_model_only", "train_compute_only"),
            ("infer_samples_per_s_model_only", "infer_model_only"),
            ("infer_samples_per_s_library", "infer_library"),
        ):
            ours_v = med(ours, key)
            peer_v = {p: med(ok_runs(results, p, model), key) for p in peers}
            peer_v = {p: v for p, v in peer_v.items() if v}
            if not peer_v:
                continue
            best = max(peer_v, key=peer_v.get)
            entry[label] = {
                "zoo": ours_v,
                "peers": peer_v,
                "best_peer": best,
                "ratio_vs_best": ours_v / peer_v[best],
            }
        # Training per CPU second (less sensitive to other load than wall time).
        cpu = {
            lib: med(ok_runs(results, lib, model), "train_cpu_s_per_epoch_steady")
            for lib in results
        }
        cpu = {lib: n_train / v for lib, v in cpu.items() if v}
        if OURS in cpu and len(cpu) > 1:
            best = max((p for p in cpu if p != OURS), key=cpu.get)
            entry["train_per_cpu_s"] = {
                "zoo": cpu[OURS],
                "peers": {p: v for p, v in cpu.items() if p != OURS},
                "best_peer": best,
                "ratio_vs_best": cpu[OURS] / cpu[best],
            }
        # The same ratio within each repeat (same stretch of machine time).
        per_rep = []
        reps = sorted({r["repeat"] for r in ours})
        for rep in reps:
            o = [r["train_samples_per_s"] for r in ours if r["repeat"] == rep]
            p = [
                r["train_samples_per_s"]
                for lib in peers
                for r in ok_runs(results, lib, model)
                if r["repeat"] == rep
            ]
            if o and p:
                per_rep.append(round(o[0] / max(p), 3))
        entry["train_ratio_per_repeat"] = per_rep
        entry["test_auc"] = {
            lib: {
                t: med(ok_runs(results, lib, model), "test_auc", t) for t in ("income", "marital")
            }
            for lib in results
            if ok_runs(results, lib, model)
        }
        out["per_model"][model] = entry
    return out


def savedmodel_run(out_dir, timeout_s):
    """One `bench/census_models.py` child for MMoE: its SavedModel samples/s, in this run."""
    import types

    import census_models

    settings = census_models.resolve_settings(
        types.SimpleNamespace(
            protocol="all-features",
            epochs=5,
            batch_size=1024,
            seed=2024,
            threads=2,
            infer_passes=5,
            latency_calls=300,
            quick=False,
            epochs_given=True,
        )
    )
    print("[zoo SavedModel] MMoE through bench/census_models.py ...", flush=True)
    (run,) = census_models.run_all(["mmoe"], 1, settings, out_dir, timeout_s)
    return run


def savedmodel_figure(runs):
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        return None
    return {
        "mmoe_samples_per_s": bu.median([r["infer_samples_per_s_savedmodel"] for r in ok]),
        "per_repeat": [r["infer_samples_per_s_savedmodel"] for r in ok],
        "latency_p99_ms": bu.median([r["latency_ms_p99"] for r in ok]),
    }


def markdown(report):
    L = ["# Zoo vs peer libraries, one run\n"]
    L.append(f"Measured {report['date_utc']} with\n\n```\n{report['command']}\n```\n")
    m = report["machine"]
    L.append(
        f"Total wall time: **{report['total_wall_s']:.0f} s** for {report['n_children']} child "
        f"processes (libraries: {', '.join(report['libraries'])}; repeats "
        f"{report['repeats']}, library order reversed every other repeat). Machine: {m['cpu']}, "
        f"{m['logical_cpus']} logical CPUs, load average at start "
        f"{m['load_average_at_start']}; shared with other work, so timings are noisy.\n"
    )
    L.append(
        "Library versions: "
        + "; ".join(
            f"{lib}: {info.get('name')} {info.get('version')} "
            f"({info.get('keras') or info.get('framework')})"
            for lib, info in report["library_info"].items()
        )
        + ".\n"
    )
    L.append("## Ratios (medians over repeats)\n")
    L.append("| model | figure | zoo | best peer (which) | zoo / best peer | per repeat | target |")
    L.append("|---|---|---|---|---|---|---|")
    labels = {
        "train": "train samples/s (model.fit, epochs 2–5)",
        "train_per_cpu_s": "train samples per CPU second",
        "train_compute_only": "compute-only train samples/s",
        "infer_model_only": "model-only inference samples/s, batch 1024",
        "infer_library": "library predict samples/s, batch 1024",
    }
    for model, e in report["ratios"]["per_model"].items():
        for key, label in labels.items():
            if key not in e:
                continue
            x = e[key]
            target = ""
            if key == "train" and model == "MMoE":
                ok = x["ratio_vs_best"] >= TARGETS["mmoe_train_ratio"]
                target = f"≥ {TARGETS['mmoe_train_ratio']:.0f}x {'✓' if ok else '✗'}"
            per_rep = (
                " / ".join(f"{v:.2f}x" for v in e["train_ratio_per_repeat"])
                if key == "train"
                else ""
            )
            L.append(
                f"| {model} | {label} | {x['zoo']:,.0f} | {x['peers'][x['best_peer']]:,.0f} "
                f"({x['best_peer']}) | **{x['ratio_vs_best']:.2f}x** | {per_rep} | {target} |"
            )
    matched = report["ratios"].get("matched")
    if matched:
        L.append("")
        L.append(
            "### Matched settings: DeepCTR (Keras 3) compiled as the zoo is, XLA and 8 steps "
            "per call\n"
        )
        L.append("| model | figure | zoo | DeepCTR matched | zoo / DeepCTR matched |")
        L.append("|---|---|---|---|---|")
        for model, e in matched.items():
            for key, label in labels.items():
                if key not in e:
                    continue
                x = e[key]
                L.append(
                    f"| {model} | {label} | {x['zoo']:,.0f} | {x['peers'][MATCHED]:,.0f} "
                    f"| **{x['ratio_vs_best']:.2f}x** |"
                )
    L.append("")
    L.append("## Test AUC after 5 epochs (median over repeats)\n")
    libs = report["libraries"]
    L.append("| model | " + " | ".join(f"{lib} income / marital" for lib in libs) + " |")
    L.append("|---|" + "---|" * len(libs))
    for model, e in report["ratios"]["per_model"].items():
        cells = []
        for lib in libs:
            a = e["test_auc"].get(lib)
            if not a:
                cells.append("—")
                continue
            cell = f"{a['income']:.4f} / {a['marital']:.4f}"
            if lib == OURS:
                ok = a["income"] >= TARGETS["income"] and a["marital"] >= TARGETS["marital"]
                cell += " ✓" if ok else " ✗"
            cells.append(cell)
        L.append(f"| {model} | " + " | ".join(cells) + " |")
    L.append(
        "\nEvery repeat of every library, the zoo's included (`peer_driver.py` follows the "
        "harness), trains with the peer harness's fixed seed (2024; "
        "`../shared/peer-bench/common.py` takes no other), so the repeats differ only by "
        "nondeterminism: this table checks that each library's models train to the usual AUC, "
        "it does not rank them. The seeded comparisons are `census_table.py` (3 seeds) and "
        "`peer_models.py` (equal tuning, 5 seeds, paired)."
    )
    L.append(
        f"\nTarget for the zoo: ≥ {TARGETS['income']} income and ≥ {TARGETS['marital']} marital "
        "(✓/✗ on the zoo's cell).\n"
    )
    sm = report.get("savedmodel")
    if sm:
        ok = sm["mmoe_samples_per_s"] >= TARGETS["savedmodel"]
        L.append(
            "SavedModel inference at batch 1024, measured in this run (raw features through "
            "the exported `serving_default` signature, one `bench/census_models.py` child for "
            f"MMoE per repeat): {sm['mmoe_samples_per_s']:,.0f} samples/s (repeats: "
            + ", ".join(f"{v:,.0f}" for v in sm["per_repeat"])
            + f") against the target {TARGETS['savedmodel']:,} {'✓' if ok else '✗'}; batch-1 "
            f"latency p99 {sm['latency_p99_ms']:.2f} ms.\n"
        )
    L.append(
        "Full per-library table of this run (the peer benchmark's `make_table.py`): "
        "[peer_compare_RESULTS.md](peer_compare_RESULTS.md). Raw runs: `peer_compare.json`.\n"
    )
    L.append(
        "Notes: the zoo trains as `zoo.training.fit` does: `model.compile(jit_compile=True, "
        "steps_per_execution=8)` (the defaults of `compile()`), no metrics, "
        "`model.fit(batched_dataset(...).repeat(), steps_per_epoch=195, verbose=0)`; DeepCTR "
        "as its README shows, `model.fit(numpy, verbose=2)` without XLA (Keras' `auto` turns "
        f"it off on CPU-only machines) and one step per call, and `{MATCHED}` the same with "
        "`jit_compile=True, steps_per_execution=8`; torch-rechub through its DataLoader, "
        "`torch.set_num_threads(2)`. The zoo's compute-only step is XLA-compiled (as its fit "
        "is), DeepCTR's is a plain tf.function. Model-only inference is "
        "`tf.function(model(batch, training=False))` without XLA for every TF library.\n"
    )
    return "\n".join(L)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--peer-bench", default=None)
    ap.add_argument("--work-dir", default=None, help="copy of the peer-bench scripts")
    ap.add_argument(
        "--results-dir", default=None, help="per-library JSON + logs (default WORK/results)"
    )
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--libs", default=None, help="comma list; default: every available one")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--timeout", type=int, default=900, help="per child process, seconds")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=20,
        help="before each child, wait up to this many seconds for other processes to use "
        "< 0.3 cores (default 20; 0 = never wait)",
    )
    args = ap.parse_args(argv)

    common = peer_driver.prepare_peer_bench(args.peer_bench, args.work_dir, args.results_dir)
    common.prepare_data()
    work = os.path.dirname(os.path.abspath(common.__file__))
    specs = library_specs(work, common.RESULTS_DIR)
    available = [OURS]
    if os.path.exists(DEEPCTR_PY):
        available += ["deepctr_tfkeras", "deepctr_keras3", MATCHED]
    if os.path.exists(RECHUB_PY):
        available.append("torch_rechub")
    libs = args.libs.split(",") if args.libs else available
    missing = [lib for lib in libs if lib not in available]
    if missing:
        raise SystemExit(f"peer_compare: not available here: {missing} (have {available})")
    models = [m for m in args.models.split(",") if m]

    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(common.CONFIG["threads"])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("TF_USE_LEGACY_KERAS", None)
    # The peer environments must not see this repository's virtualenv.
    peer_env = {k: v for k, v in env.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    infos = {}
    for lib in libs:
        python, _, code = specs[lib]
        if code is None:
            infos[lib] = peer_driver.library_info(common)
        else:
            infos[lib] = peer_library_info(python, code, work, peer_env)

    started = time.time()
    results = {
        lib: {
            "library": infos[lib],
            "config": common.CONFIG,
            "data": {
                "cache_file": os.path.relpath(common.CACHE_FILE, work),
                "cache_sha256": common.file_sha256(common.CACHE_FILE),
                "categorical": common.CAT_NAMES,
                "continuous": common.CONT_NAMES,
            },
            "machine": common.machine_info(),
            "started_unix": int(started),
            "runs": [],
        }
        for lib in libs
    }
    machine = bu.machine_info()
    savedmodel_runs = []
    for rep in range(1, args.repeats + 1):
        order = libs if rep % 2 else list(reversed(libs))
        for lib in order:
            python, argv_, _ = specs[lib]
            for model in models:
                r = run_child(
                    common,
                    lib,
                    python,
                    argv_,
                    model,
                    rep,
                    env if lib == OURS else peer_env,
                    args.timeout,
                    args.wait_quiet,
                )
                results[lib]["runs"].append(r)
        if OURS in libs:
            savedmodel_runs.append(savedmodel_run(common.RESULTS_DIR, args.timeout))
    total_wall = time.time() - started

    os.makedirs(common.RESULTS_DIR, exist_ok=True)
    paths = []
    for lib in libs:
        res = results[lib]
        res["total_wall_s"] = round(sum(r["process_wall_s"] for r in res["runs"]), 1)
        path = os.path.join(common.RESULTS_DIR, lib + ".json")
        with open(path, "w") as f:
            json.dump(res, f, indent=1)
        paths.append(path)
    subprocess.run([sys.executable, os.path.join(work, "make_table.py")] + paths, check=False)
    os.makedirs(args.out, exist_ok=True)
    shutil.copyfile(
        os.path.join(work, "RESULTS.md"), os.path.join(args.out, "peer_compare_RESULTS.md")
    )

    n_train = 199_523
    report = {
        "benchmark": "peer_compare",
        "date_utc": bu.utc_now(),
        "command": bu.command_line(),
        "machine": machine,
        "total_wall_s": round(total_wall, 1),
        "n_children": sum(len(results[lib]["runs"]) for lib in libs),
        "libraries": libs,
        "library_info": infos,
        "repeats": args.repeats,
        "models": models,
        "targets": TARGETS,
        "ratios": compute_ratios(results, models, n_train),
        "savedmodel": savedmodel_figure(savedmodel_runs),
        "results": results,
    }
    md = markdown(report)
    with open(os.path.join(args.out, "peer_compare.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(args.out, "peer_compare.md"), "w") as f:
        f.write(md)
    print()
    print(md)
    print(f"wrote {args.out}/peer_compare.{{json,md}} and peer_compare_RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
