"""What more than one command does: load a dataset or a run, print metrics, report gates."""

import inspect

from zoo.cli import run_dir


def load_dataset(args, dataset_kwargs):
    """The dataset the flags name; a bad option is a usage error, a bad file a data error."""
    from zoo.data.base.errors import DataError
    from zoo.data.registry import load_dataset as load

    print(f"Loading {args.dataset} ...", flush=True)
    try:
        return load(args.dataset, **dataset_kwargs)
    except DataError:
        raise
    except (ValueError, TypeError) as error:
        raise SystemExit(f"zoo {args.command}: error: {error}") from None


def dataset_loader(args):
    """The loader function of `--dataset`, or a usage error."""
    from zoo.data.registry import get_loader

    try:
        return get_loader(args.dataset)
    except ValueError as error:
        raise SystemExit(f"zoo {args.command}: error: {error}") from None


def load_run(run_folder, data_dir=None, command="zoo"):
    """The run record, the dataset it names and the trained model of a `zoo train` folder."""
    from zoo.data.registry import get_loader
    from zoo.data.registry import load_dataset as load

    try:
        run = run_dir.read_run_record(run_folder)
        model = run_dir.load_keras_model(run_folder)
    except run_dir.RunDirError as error:
        raise SystemExit(f"{command}: error: {error}") from None
    settings = dict(run["data"])
    name = settings.pop("dataset")
    if data_dir:
        settings["data_dir"] = data_dir
    # settings also records facts about the data (e.g. a measured
    # correlation); pass back only what the loader takes.
    accepted = inspect.signature(get_loader(name)).parameters
    dataset = load(name, **{k: v for k, v in settings.items() if k in accepted})
    return run, dataset, model


def print_metrics(title, metrics_by_split):
    print(title)
    for split, results in metrics_by_split.items():
        parts = []
        for task, values in results.items():
            if not isinstance(values, dict):
                continue
            shown = ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in values.items()
                if k != "num_labeled" or v != results["num_rows"]
            )
            parts.append(f"{task}: {shown}")
        parts.append(f"total loss {results['total_loss']:.4f}")
        print(f"  {split:<10} " + " | ".join(parts))


def gate_summary(model, dataset, split):
    """The gates' report on `split`, with a warning when one expert takes every task's weight."""
    from zoo.training.gate_diagnostics import gate_report

    report = gate_report(model, dataset, split)
    if report["collapsed_onto"] is not None:
        print(
            f"Warning: expert collapse, {report['collapsed_onto']!r} takes more than "
            f"{report['collapse_threshold']:.0%} of every task's gate weight on {split}."
        )
    return report


def warmup_rows(dataset, count=8):
    """Rows the SavedModel's warm-up requests replay."""
    return dataset.head("validation", count)
