#!/usr/bin/env python
"""AutoMTL against hand-made models on Census-Income (groups 1, 2) and KuaiRand (click, like).

For each dataset and seed: search (`zoo.search.search_automtl`), derive,
retrain the derived architecture (`zoo.models.AutoMTL`) like any model, and
train the AutoMTL paper's baselines with its settings: Shared-Bottom, MMoE
(8 experts), CGC and PLE (4 shared + 4 task experts), towers (128, 64). Then
the paper's ablations, which are configurations of the same search: without
the interaction module, homogeneous experts, without expert selection
(softmax gates in search and retraining), without the auxiliary JSD loss.

Reported per task: test AUC, and the MTL loss (the mean of the tasks' test
log-losses: the paper's equal task weights summing to 1); mean ± std over
seeds; and the search's wall time. Every model sees 8-wide embeddings.

The search runs on this 2-core CPU, so it is cut to fit: a random subset of
the training rows (`--search-rows`), few epochs (`--search-epochs`), and the
paper's candidates without the 512- and 1024-wide MLPs (`--space cpu`;
`--space paper` for Table 1 as it is). Retraining and baselines use every
training row. Every run is kept in `automtl_runs/`, so an interrupted
benchmark resumes; `--pictures` draws the derived architectures and
expert-selection heat maps of seed 1.

    python bench/automtl.py                                   # everything (~1.5 h here)
    python bench/automtl.py --datasets census-g1 --seeds 1 --search-epochs 1 \
        --search-rows 2000 --max-epochs 1 --no-ablations      # smoke
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402

DATASETS = {
    "census-g1": ("census-income", {"task_group": 1, "embedding_dim": 8}),
    "census-g2": ("census-income", {"task_group": 2, "embedding_dim": 8}),
    "kuairand": ("kuairand", {"tasks": "click,like", "embedding_dim": 8}),
}
TOWER = [128, 64]
BASELINES = {
    "shared-bottom": {"bottom_units": [256, 64]},
    "mmoe": {"num_experts": 8, "expert_units": [64]},
    "cgc": {"num_shared_experts": 4, "num_task_experts": 4, "expert_units": [64]},
    "ple": {
        "num_levels": 2,
        "num_shared_experts": 4,
        "num_task_experts": 4,
        "expert_units": [64],
    },
}
# The paper's ablations (Table 3), as supernet arguments.
VARIANTS = {
    "automtl": {},
    "w/o INT": {"interaction_ops": None},
    "hom Expert": {"shared_expert_architecture": True},
    "w/o SEL": {"expert_selection": False},
    "w/o AUX": {"jsd_weight": 0.0},
}
DISPLAY = {
    "shared-bottom": "Shared-Bottom",
    "mmoe": "MMoE",
    "cgc": "CGC",
    "ple": "PLE",
    "automtl": "AutoMTL",
}


def search_space(name):
    from zoo.layers.search.candidates import EXPERT_OPS, INTERACTION_OPS

    if name == "paper":
        return {"interaction_ops": INTERACTION_OPS, "expert_ops": EXPERT_OPS}
    too_wide = ("mlp-512", "mlp-1024")
    return {
        "interaction_ops": [op for op in INTERACTION_OPS if op not in too_wide],
        "expert_ops": [op for op in EXPERT_OPS if op not in too_wide],
    }


def load(dataset_key):
    from zoo.data.registry import load_dataset

    name, kwargs = DATASETS[dataset_key]
    return load_dataset(name, **kwargs)


def training_subset(dataset, rows, seed):
    """`dataset` with a seeded random `rows` of its training split (all if fewer)."""
    import numpy as np

    from zoo.data.base.tabular_dataset import Split

    n = dataset.num_rows("train")
    if not rows or rows >= n:
        return dataset
    keep = np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
    train = dataset.train
    return dataclasses.replace(
        dataset,
        train=Split(
            features={k: np.asarray(v)[keep] for k, v in train.features.items()},
            labels={k: np.asarray(v)[keep] for k, v in train.labels.items()},
        ),
    )


def _scores(model, dataset):
    from zoo.training import evaluate

    test = evaluate(model, dataset, "test")
    names = [t.name for t in dataset.tasks]
    return {
        "test_auc": {t: test[t]["auc"] for t in names},
        "test_loss": {t: test[t]["loss"] for t in names},
        "mtl_loss": test["total_loss"] / len(names),
    }


def run_baseline(dataset_key, model_name, seed, settings):
    import keras

    from zoo.models import get_model_class
    from zoo.training import fit

    keras.backend.clear_session()
    dataset = load(dataset_key)
    keras.utils.set_random_seed(seed)
    model = get_model_class(model_name)(
        tasks=dataset.tasks,
        preprocessor=dataset.make_preprocessor(),
        tower_units=TOWER,
        **BASELINES[model_name],
    )
    started = time.perf_counter()
    result = fit(model, dataset, bu.training_config(settings, seed))
    return {
        "kind": "baseline",
        "dataset": dataset_key,
        "model": model_name,
        "seed": seed,
        **_scores(model, dataset),
        "num_params": int(model.count_params()),
        "epochs_run": result.epochs_run,
        "wall_s": time.perf_counter() - started,
    }


def run_search(dataset_key, variant, seed, settings):
    import keras

    from zoo.models import AutoMTLSupernet
    from zoo.search import SearchConfig, search_automtl

    keras.backend.clear_session()
    dataset = load(dataset_key)
    preprocessor = dataset.make_preprocessor()
    keras.utils.set_random_seed(seed)
    supernet = AutoMTLSupernet(
        dataset.tasks,
        preprocessor=preprocessor,
        seed=seed,
        tower_units=TOWER,
        **{**search_space(settings["space"]), **VARIANTS[variant]},
    )
    result = search_automtl(
        supernet,
        training_subset(dataset, settings["search_rows"], seed),
        SearchConfig(
            epochs=settings["search_epochs"],
            num_selected=settings["num_selected"],
            jit_compile=False,
            seed=seed,
            verbose=2,
        ),
    )
    return {
        "kind": "search",
        "dataset": dataset_key,
        "variant": variant,
        "seed": seed,
        "architecture": result.architecture,
        "history": result.history,
        "epoch_architectures": result.epoch_architectures,
        "search_wall_s": result.wall_seconds,
        "supernet_params": int(supernet.count_params()),
    }


def run_derived(dataset_key, variant, seed, architecture, settings):
    import keras

    from zoo.models import AutoMTL
    from zoo.training import fit

    keras.backend.clear_session()
    dataset = load(dataset_key)
    keras.utils.set_random_seed(seed)
    model = AutoMTL(dataset.tasks, architecture, preprocessor=dataset.make_preprocessor())
    started = time.perf_counter()
    result = fit(model, dataset, bu.training_config(settings, seed))
    return {
        "kind": "derived",
        "dataset": dataset_key,
        "variant": variant,
        "seed": seed,
        **_scores(model, dataset),
        "num_params": int(model.count_params()),
        "epochs_run": result.epochs_run,
        "wall_s": time.perf_counter() - started,
    }


def markdown(report):
    s = report["settings"]
    runs = report["runs"]
    lines = [
        "# AutoMTL on Census-Income and KuaiRand",
        "",
        (
            f"Tabulated {report['date']} from the stored runs in `bench/results/automtl_runs/` "
            "(each made by `python bench/automtl.py` with the settings below; runs the "
            "interrupted benchmark had not reached are absent)."
            if s.get("render_only")
            else f"Measured {report['date']} with `{report['command']}` "
            f"({report['wall_s']:.0f} s wall)."
        ),
        "",
        f"Search: {s['search_epochs']} epochs on {s['search_rows'] or 'all'} training rows "
        f"(a seeded random subset; KuaiRand has fewer and uses all), candidates "
        f"`--space {s['space']}`, 8 experts of 3 blocks, width 64, fields 8 wide, each task "
        f"keeps its top {s['num_selected']} experts; SGD 0.02 (cosine) on the weights, Adam "
        "1e-3 on alpha and beta, beta frozen for the first third, JSD weight 1 decaying to 0, "
        "DARTS- auxiliary skip. Retraining and baselines: every training row, towers "
        f"(128, 64), Adam {s['learning_rate']}, batch {s['batch_size']}, at most "
        f"{s['max_epochs']} epochs, early stopping on the validation loss (patience "
        f"{s['patience']}). Test split; mean ± std over seeds (n in brackets). MTL loss: mean "
        "of the tasks' test log-losses.",
    ]
    for dataset_key in s["datasets"]:
        rows = [r for r in runs if r["dataset"] == dataset_key]
        if not rows:
            continue
        tasks = list(next(r for r in rows if "test_auc" in r)["test_auc"])
        lines += [
            "",
            f"## {dataset_key}",
            "",
            "| model | " + " | ".join(f"AUC {t}" for t in tasks) + " | MTL loss | params |",
            "|---|" + "---|" * (len(tasks) + 2),
        ]
        groups = [("baseline", m) for m in BASELINES] + [("derived", v) for v in VARIANTS]
        for kind, name in groups:
            key = "model" if kind == "baseline" else "variant"
            chosen = [r for r in rows if r["kind"] == kind and r[key] == name]
            if not chosen:
                continue
            label = DISPLAY.get(name, f"AutoMTL {name}")
            cells = [bu.mean_std_cell([r["test_auc"][t] for r in chosen]) for t in tasks]
            cells.append(bu.mean_std_cell([r["mtl_loss"] for r in chosen]))
            cells.append(f"{statistics.mean(r['num_params'] for r in chosen):,.0f}")
            lines.append(f"| {label} (n={len(chosen)}) | " + " | ".join(cells) + " |")
        searches = [r for r in rows if r["kind"] == "search"]
        if searches:
            lines += ["", "Search wall time (s), supernet parameters, derived architecture:", ""]
            for r in searches:
                from zoo.search import describe_architecture

                lines.append(
                    f"- {r['variant']}, seed {r['seed']}: {r['search_wall_s']:.0f} s, "
                    f"{r['supernet_params']:,} parameters; "
                    f"`{describe_architecture(r['architecture'])}`"
                )
    return "\n".join(lines) + "\n"


def draw_pictures(runs, out_dir):
    from zoo.search.plots import plot_architecture, plot_expert_selection

    paths = []
    for r in runs:
        if r["kind"] != "search" or r["seed"] != 1 or r["variant"] != "automtl":
            continue
        base = os.path.join(out_dir, f"automtl_{r['dataset']}")
        title = f"AutoMTL on {r['dataset']} (seed 1)"
        paths.append(plot_architecture(r["architecture"], base + "_architecture.png", title))
        paths.append(plot_expert_selection(r["architecture"], base + "_selection.png", title))
    return paths


def _stored_only(path, settings_key, *_):
    """`bu.stored_run` without running: the stored run, or `(None, False)`."""
    return bu.read_stored_run(path, settings_key), False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--search-epochs", type=int, default=3)
    parser.add_argument("--search-rows", type=int, default=50_000)
    parser.add_argument("--space", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--num-selected", type=int, default=6)
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--ablation-seeds", type=int, default=1)
    parser.add_argument("--pictures", action="store_true", help="draw seed 1's pictures")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="run nothing: tabulate the stored runs that exist (e.g. of an interrupted run)",
    )
    bu.add_training_flags(parser, batch_size=1024)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    datasets = args.datasets.split(",")
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {list(DATASETS)}")
    settings = {
        "datasets": datasets,
        "seeds": args.seeds,
        "search_epochs": args.search_epochs,
        "search_rows": args.search_rows,
        "space": args.space,
        "num_selected": args.num_selected,
        "render_only": args.render_only,
        **bu.training_settings(args),
    }
    base = os.path.join(args.out, "automtl")
    runs_dir = base + "_runs"
    os.makedirs(runs_dir, exist_ok=True)
    search_key = {k: settings[k] for k in ("search_epochs", "search_rows", "space", "num_selected")}
    train_key = bu.training_settings(args)
    seeds = range(1, args.seeds + 1)
    jobs = [(d, "automtl", seed) for d in datasets for seed in seeds]
    jobs += [(d, m, seed) for d in datasets for seed in seeds for m in BASELINES]
    if not args.no_ablations:
        jobs += [
            (d, v, seed)
            for d in datasets
            for seed in range(1, args.ablation_seeds + 1)
            for v in VARIANTS
            if v != "automtl"
        ]
    started = time.perf_counter()
    runs = []
    stored_run = _stored_only if args.render_only else bu.stored_run
    for dataset_key, name, seed in jobs:
        tag = f"{dataset_key}-{name.replace('/', '').replace(' ', '-')}-s{seed}"
        if name in BASELINES:
            run, fresh = stored_run(
                os.path.join(runs_dir, tag + ".json"),
                train_key,
                run_baseline,
                dataset_key,
                name,
                seed,
                settings,
            )
            if run:
                runs.append(run)
        else:
            search, fresh_search = stored_run(
                os.path.join(runs_dir, tag + "-search.json"),
                search_key,
                run_search,
                dataset_key,
                name,
                seed,
                settings,
            )
            if search is None:
                continue
            run, fresh = stored_run(
                os.path.join(runs_dir, tag + ".json"),
                {**train_key, **search_key},
                run_derived,
                dataset_key,
                name,
                seed,
                search["architecture"],
                settings,
            )
            runs += [search] + ([run] if run else [])
            if fresh_search:
                print(f"{tag}: searched in {search['search_wall_s']:.0f} s", flush=True)
        if run and fresh:
            aucs = ", ".join(f"{t} {v:.4f}" for t, v in run["test_auc"].items())
            print(f"{tag}: {aucs}, MTL loss {run['mtl_loss']:.4f}", flush=True)
    report = bu.new_report(started, settings, runs=runs)
    bu.write_report(base, report, markdown(report))
    if args.pictures:
        for path in draw_pictures(runs, args.out):
            print(f"Picture: {path}")


if __name__ == "__main__":
    main()
