#!/usr/bin/env python
"""MoGENet against single-task, multi-task and "+MGNN" models on MovieLens-100K and Taobao.

The MoGENet paper's Tables 2-5 on the two (user, item) datasets the zoo
reads: per task, test AUC and GAUC, mean ± std over seeds, for

- MLP (the zoo's `single-task`, widths [512, 256, 128] as in the paper),
  NGCF (one per task, 2 layers, 64 wide), Shared-Bottom, MMoE and CGC
  (4 experts [32, 32], as the paper sets them);
- MLP, Shared-Bottom, MMoE and CGC "+MGNN" (the MGNN's four
  representations appended to their input);
- MoGENet (kappa = element-wise product, uncertainty weighting,
  cooperative loss beta 1e-6, L2 1e-3);
- the kappa ablation (concatenation, addition, MLP; Table 4), the loss
  ablation (i: plain sum; i+ii: uncertainty; i+iii: cooperative; Table 5),
  and lambda = 1e-3 applied to the mean loss (256 times the paper's).

Every model sees the same rows, features (16-wide embeddings), batches
(1024), optimizer (Adam 1e-3) and early stopping (at most 6 epochs,
patience 2 on the validation sum of task losses, the best epoch's weights
kept). The paper's batch 256 and learning rate 1e-4 would take hours per run
on this 2-core CPU. Graph models (MGNN width 32, L = 2; NGCF 64 wide, 2
layers) train on sampled neighbourhoods, fan-outs (5, 3), and are evaluated
from node tables computed on the whole training graph, as they are served.
Negatives: one sampled non-interacted item per positive pair. Taobao is a
seeded sample of 10,000 of its 48,749 users (`max_users`), for the same
reason.

Each run is stored in `mogenet_runs/`, so an interrupted benchmark resumes.

    python bench/mogenet.py                       # everything
    python bench/mogenet.py --datasets movielens --seeds 1 --max-epochs 1 \\
        --models mmoe,mogenet --no-ablations      # smoke
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402

SHARED_DATA = os.path.join(bu.REPO_ROOT, "..", "shared", "data")
DATASETS = {
    "movielens": (
        "movielens-100k",
        {"data_dir": os.path.join(SHARED_DATA, "movielens-100k"), "negatives_per_positive": 1},
    ),
    "taobao": (
        "taobao-multibehavior",
        {
            "data_dir": os.path.join(SHARED_DATA, "taobao-multibehavior"),
            "negatives_per_positive": 1,
            "max_users": 10_000,
        },
    ),
}
# zoo.models.mogenet.PAPER_L2, spelled out: the zoo is imported lazily.
PAPER_L2 = 1e-3 / 256
EXPERTS = {"num_experts": 4, "expert_units": [32, 32]}
# 4 experts in all for two tasks: 2 shared, 1 per task.
CGC_EXPERTS = {"num_shared_experts": 2, "num_task_experts": 1, "expert_units": [32, 32]}
# name -> (zoo model, constructor arguments, with the MGNN add-on)
MODELS = {
    "mlp": ("single-task", {"hidden_units": [512, 256, 128]}, False),
    "mlp+mgnn": ("single-task", {"hidden_units": [512, 256, 128]}, True),
    "ngcf": ("ngcf", {"units": 64, "num_layers": 2}, False),
    "shared-bottom": ("shared-bottom", {"bottom_units": [32, 32]}, False),
    "shared-bottom+mgnn": ("shared-bottom", {"bottom_units": [32, 32]}, True),
    "mmoe": ("mmoe", EXPERTS, False),
    "mmoe+mgnn": ("mmoe", EXPERTS, True),
    "cgc": ("cgc", CGC_EXPERTS, False),
    "cgc+mgnn": ("cgc", CGC_EXPERTS, True),
    # lambda spelled out: runs stored with another one are not reused.
    "mogenet": ("mogenet", {"l2": PAPER_L2}, False),
}
ABLATIONS = {
    # Table 4: the interaction function kappa.
    "kappa=concat": ("mogenet", {"interaction": "concat", "l2": PAPER_L2}, False),
    "kappa=add": ("mogenet", {"interaction": "add", "l2": PAPER_L2}, False),
    "kappa=mlp": ("mogenet", {"interaction": "mlp", "l2": PAPER_L2}, False),
    # Table 5: i plain sum of losses, ii uncertainty weighting, iii cooperative loss.
    "loss=i": (
        "mogenet",
        {"loss_weighting": "fixed", "cooperative_weight": 0.0, "l2": PAPER_L2},
        False,
    ),
    "loss=i+ii": ("mogenet", {"cooperative_weight": 0.0, "l2": PAPER_L2}, False),
    "loss=i+iii": ("mogenet", {"loss_weighting": "fixed", "l2": PAPER_L2}, False),
    # lambda as Keras' L2(1e-3) on the mean loss: 256 times the paper's strength.
    "l2=1e-3": ("mogenet", {"l2": 1e-3}, False),
}
DISPLAY = {
    "mlp": "MLP",
    "mlp+mgnn": "MLP + MGNN",
    "ngcf": "NGCF",
    "shared-bottom": "Shared-Bottom",
    "shared-bottom+mgnn": "Shared-Bottom + MGNN",
    "mmoe": "MMoE",
    "mmoe+mgnn": "MMoE + MGNN",
    "cgc": "CGC",
    "cgc+mgnn": "CGC + MGNN",
    "mogenet": "MoGENet",
}
GRAPH_UNITS = 32


def load(dataset_key):
    from zoo.data.registry import load_dataset

    name, kwargs = DATASETS[dataset_key]
    return load_dataset(name, **kwargs)


def build_model(spec, dataset, preprocessor, graph_inputs):
    from zoo.models import get_model_class, make_graph_encoder

    model_name, kwargs, with_mgnn = spec
    kwargs = dict(kwargs)
    if model_name == "ngcf":
        kwargs.update(num_users=graph_inputs.num_users, num_items=graph_inputs.num_items)
    elif model_name == "mogenet" or with_mgnn:
        kwargs["graph_encoder"] = make_graph_encoder(
            graph_inputs, preprocessor, units=GRAPH_UNITS, num_layers=2
        )
    return get_model_class(model_name)(tasks=dataset.tasks, preprocessor=preprocessor, **kwargs)


def run_model(dataset_key, spec, seed, settings):
    import keras

    from zoo.graphs import GraphInputs
    from zoo.training import TrainingConfig, evaluate, fit

    keras.backend.clear_session()
    dataset = load(dataset_key)
    preprocessor = dataset.make_preprocessor()
    keras.utils.set_random_seed(seed)
    graph_inputs = GraphInputs.from_dataset(
        dataset, preprocessor, fanouts=settings["fanouts"], seed=seed
    )
    model = build_model(spec, dataset, preprocessor, graph_inputs)
    config = TrainingConfig(
        epochs=settings["max_epochs"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        early_stopping_patience=settings["patience"],
        early_stopping_monitor="val_task_loss",
        seed=seed,
        verbose=0,
    )
    started = time.perf_counter()
    result = fit(model, dataset, config, graph_inputs=graph_inputs if model.uses_graph else None)
    wall = time.perf_counter() - started
    test = evaluate(model, dataset, "test")
    names = [t.name for t in dataset.tasks]
    return {
        "test_auc": {t: test[t]["auc"] for t in names},
        "test_gauc": {t: test[t]["gauc"] for t in names},
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "train_seconds": wall,
        "steady_epoch_seconds": bu.median(result.epoch_seconds[1:] or result.epoch_seconds),
        "num_params": int(model.count_params()),
        "graphs": graph_inputs.summary(),
    }


def markdown(report):
    lines = [
        "# MoGENet on MovieLens-100K and Taobao (cart, buy)",
        "",
        (
            f"Tabulated {report['date']} from the runs stored in `bench/results/mogenet_runs/`, "
            "each made by `python bench/mogenet.py` with the settings below"
            if report["settings"].get("render_only")
            else f"`{report['command']}`, {report['date']}, {report['wall_s']:.0f} s wall"
        )
        + f"; {report['machine']['cpu']} ({report['machine']['cpus_usable']} cores).",
        "",
        "Test AUC and GAUC per task, mean ± std over seeds "
        f"{', '.join(str(s) for s in report['settings']['seeds'])}. "
        "Settings: see the JSON report and `bench/mogenet.py`.",
        "",
    ]
    for dataset_key, by_model in report["results"].items():
        tasks = report["tasks"][dataset_key]
        lines.append(f"## {dataset_key}: {report['dataset_summary'][dataset_key]}")
        lines.append("")
        header = "| model | " + " | ".join(f"{t} AUC | {t} GAUC" for t in tasks) + " | epochs |"
        rule = "|---" * (2 * len(tasks) + 2) + "|"
        lines += [header, rule]
        for name, runs in by_model.items():
            if runs and name in MODELS:
                lines.append(_row(DISPLAY[name], runs, tasks))
        ablations = [(name, runs) for name, runs in by_model.items() if runs and name in ABLATIONS]
        if ablations:
            # One seed each: beside MoGENet's run with the same seed, not its mean.
            seeds = sorted({r["seed"] for _, runs in ablations for r in runs})
            reference = [r for r in by_model.get("mogenet", []) if r["seed"] in seeds]
            lines += ["", f"Ablations, seed {', '.join(map(str, seeds))}:", "", header, rule]
            if reference:
                lines.append(_row("MoGENet (product, i+ii+iii, lambda 1e-3/256)", reference, tasks))
            for name, runs in ablations:
                lines.append(_row(f"MoGENet, {name}", runs, tasks))
        lines.append("")
    return "\n".join(lines) + "\n"


def _row(label, runs, tasks):
    cells = []
    for t in tasks:
        for metric in ("test_auc", "test_gauc"):
            values = [r[metric][t] for r in runs]
            cells.append(bu.mean_std_cell(values) if len(values) > 1 else f"{values[0]:.4f}")
    epochs = statistics.mean(r["best_epoch"] for r in runs)
    return f"| {label} | " + " | ".join(cells) + f" | {epochs:.1f} |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--ablation-seeds", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--fanouts", default="5,3", help="per hop, or 'full' (whole graph)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--render-only", action="store_true", help="draw the tables from the stored runs"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    datasets = args.datasets.split(",")
    models = args.models.split(",")
    unknown = [d for d in datasets if d not in DATASETS] + [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown datasets or models: {unknown}")
    settings = {
        "max_epochs": args.max_epochs,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "graph_units": GRAPH_UNITS,
        "fanouts": None if args.fanouts == "full" else [int(f) for f in args.fanouts.split(",")],
    }
    run_dir = os.path.join(args.out, "mogenet_runs")
    os.makedirs(run_dir, exist_ok=True)
    plan = [(m, MODELS[m], range(1, args.seeds + 1)) for m in models]
    if not args.no_ablations:
        plan += [(a, ABLATIONS[a], range(1, args.ablation_seeds + 1)) for a in ABLATIONS]
    datasets_loaded = {key: load(key) for key in datasets}
    tasks = {key: [t.name for t in d.tasks] for key, d in datasets_loaded.items()}
    summaries = {key: d.summary for key, d in datasets_loaded.items()}
    results = {key: {} for key in datasets}
    # The main table on every dataset first, then the ablations: an
    # interrupted run has the comparisons that matter most.
    for name, spec, seeds in plan:
        for dataset_key in datasets:
            runs = []
            for seed in seeds:
                path = os.path.join(run_dir, f"{dataset_key}_{name.replace('=', '-')}_{seed}.json")
                # As stored: JSON turns the tuples into lists.
                key = json.loads(
                    json.dumps({"dataset": DATASETS[dataset_key], "spec": spec, **settings})
                )
                if args.render_only:
                    run = bu.read_stored_run(path, key)
                    if run is None:
                        continue
                else:
                    run, fresh = bu.stored_run(
                        path, key, run_model, dataset_key, spec, seed, settings
                    )
                    if fresh:
                        shown = ", ".join(
                            f"{t} AUC {run['test_auc'][t]:.4f} GAUC {run['test_gauc'][t]:.4f}"
                            for t in tasks[dataset_key]
                        )
                        print(
                            f"{dataset_key} {name} seed {seed}: {shown} "
                            f"({run['best_epoch']}/{run['epochs_run']} epochs, "
                            f"{run['train_seconds']:.0f} s)",
                            flush=True,
                        )
                runs.append({**run, "seed": seed})
            results[dataset_key][name] = runs
    report = bu.new_report(
        started,
        {
            **settings,
            "seeds": list(range(1, args.seeds + 1)),
            "datasets": DATASETS,
            "render_only": args.render_only,
        },
        tasks=tasks,
        dataset_summary=summaries,
        results=results,
    )
    bu.write_report(os.path.join(args.out, "mogenet"), report, markdown(report))


if __name__ == "__main__":
    main()
