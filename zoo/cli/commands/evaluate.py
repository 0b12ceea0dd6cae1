"""`zoo evaluate --run-dir DIR`: exact per-task metrics of a trained run."""

import argparse
import json
import os

from zoo.cli.commands.common import gate_summary, load_run, print_metrics
from zoo.files import write_json


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    evaluate = subparsers.add_parser(
        "evaluate",
        parents=[common],
        allow_abbrev=False,
        help="report exact per-task metrics of a trained run",
        description="Reload RUN_DIR/model.keras and the dataset named in RUN_DIR/metrics.json, "
        "and print per-task AUC and loss; writes RUN_DIR/evaluation.json.",
    )
    evaluate.add_argument("--run-dir", required=True, help="a folder written by `zoo train`")
    evaluate.add_argument(
        "--split",
        choices=("train", "validation", "test"),
        action="append",
        help="split(s) to evaluate; repeatable (default: validation and test)",
    )
    evaluate.add_argument("--data-dir", default=None, help="override the run's data folder")
    evaluate.add_argument(
        "--baseline-run",
        default=None,
        help="another `zoo train` folder on the same data: report RelaImpr of every binary "
        "task's AUC against that run's",
    )


def run(args: argparse.Namespace):
    from zoo.training.gate_diagnostics import plot_gate_heatmap
    from zoo.training.trainer import evaluate

    run, dataset, model = load_run(args.run_dir, args.data_dir, "zoo evaluate")
    splits = args.split or ["validation", "test"]
    metrics = {split: evaluate(model, dataset, split) for split in splits}
    print_metrics(f"{run['model']} on {dataset.name}:", metrics)
    payload = {"model": run["model"], "data": dataset.settings, "metrics": metrics}
    if args.baseline_run:
        payload["relaimpr"] = _relative_improvements(metrics, args.baseline_run)
        for split, values in payload["relaimpr"]["percent"].items():
            shown = ", ".join(f"{task} {v:+.2f}%" for task, v in values.items())
            print(f"RelaImpr vs {args.baseline_run} on {split}: {shown}")
    if model.gate_expert_names():
        split = splits[-1]
        payload["gates"] = gate_summary(model, dataset, split)
        picture = os.path.join(args.run_dir, f"gates-{split}.png")
        plot_gate_heatmap(
            payload["gates"]["average_gate_weights"],
            picture,
            title=f"{run['model']} on {dataset.name}, {split}: mean gate weight per expert",
        )
        print(f"Gate heat map: {picture}")
    path = os.path.join(args.run_dir, "evaluation.json")
    write_json(path, payload)
    print(f"Wrote {path}")
    return payload


def _relative_improvements(metrics, baseline_dir):
    """RelaImpr of each binary task's AUC against the same split of another run."""
    from zoo.metrics.ranking import relative_improvement

    path = os.path.join(baseline_dir, "evaluation.json")
    if not os.path.exists(path):
        path = os.path.join(baseline_dir, "metrics.json")
    if not os.path.exists(path):
        raise SystemExit(
            f"zoo evaluate: error: --baseline-run {baseline_dir!r} has no metrics.json"
        )
    with open(path) as f:
        baseline = json.load(f)
    out = {}
    for split, results in metrics.items():
        base = (baseline.get("metrics") or {}).get(split)
        if base is None:
            raise SystemExit(
                f"zoo evaluate: error: the baseline run {baseline_dir!r} has no {split!r} metrics "
                f"in {path}"
            )
        out[split] = {
            task: relative_improvement(values["auc"], base[task]["auc"])
            for task, values in results.items()
            if isinstance(values, dict) and "auc" in values and task in base
        }
    return {"baseline_run": os.path.abspath(baseline_dir), "percent": out}
