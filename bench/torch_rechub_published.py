#!/usr/bin/env python
"""torch-rechub's own models and trainer, at its published Census settings, on our split.

torch-rechub reports, for Census-Income task group 1 (income, never married),
MMoE 0.9579 / 0.9950, PLE (2 levels) 0.9593 / 0.9950 and Shared-Bottom
0.9560 / 0.9948 test AUC (examples/ranking/README.md of
datawhalechina/torch-rechub). Its run_census.py uses its own preprocessing and
an unseeded random validation/test split. This script runs the same models
with the same settings (embeddings of 4, experts [16], towers [8],
Shared-Bottom bottom [117], PLE 2 levels of 2 task + 1 shared experts,
torch-rechub's MLP with BatchNorm in every layer, Adam 1e-3 with weight decay
1e-4, batch 1024, at most 100 epochs, early stopping on task 0's validation AUC
with patience 30, best weights restored) through torch-rechub's `MTLTrainer`,
on the arrays of the peer benchmark (../shared/peer-bench: every non-label
column, the UCI test file halved with seed 1 into validation and test, as
`zoo.data.load_census_income(protocol="all-features")`). It tells whether
the gap between our table and the published figures comes from the models
and training or from the data preparation and split.

Run it with the peer environment's Python (`bash ../shared/peer-bench/setup_envs.sh`
creates /tmp/peersenv) and a copy of the peer benchmark (`bench/peer_driver.py`
leaves one in /tmp/zoo-peer-bench):

    /tmp/peersenv/bin/python bench/torch_rechub_published.py --seeds 2022
    /tmp/peersenv/bin/python bench/torch_rechub_published.py --models MMoE --seeds 1,2,3

Writes `bench/results/torch_rechub_published.{json,md}`.
"""

import argparse
import datetime
import json
import os
import random
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PUBLISHED = {"SharedBottom": (0.9560, 0.9948), "MMoE": (0.9579, 0.9950), "PLE": (0.9593, 0.9950)}


# torch-rechub's run_census.py architectures, in the peer benchmark's CONFIG
# layout, so that the peer benchmark's own `build` makes the models.
PUBLISHED_ARCHITECTURES = {
    "embed_dim": 4,
    "shared_bottom": {"bottom": [117], "tower": [8]},
    "mmoe": {"n_experts": 8, "expert": [16], "tower": [8]},
    "ple": {"n_levels": 2, "n_specific": 2, "n_shared": 1, "expert": [16], "tower": [8]},
}


def run(model_name, seed, common, max_epochs, patience):
    import numpy as np
    import torch
    from torch_rechub.trainers import MTLTrainer
    from torch_rechub.utils.data import DataGenerator

    torch.set_num_threads(2)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    d = common.load_data()

    def xdict(split):
        x = {n: d["cat_" + split][:, j] for j, n in enumerate(d["cat_names"])}
        x.update({n: d["num_" + split][:, j] for j, n in enumerate(d["cont_names"])})
        return x

    import run_torch_rechub  # the peer benchmark's driver, beside `common`

    common.CONFIG.update(PUBLISHED_ARCHITECTURES)
    model, task_types = run_torch_rechub.build(model_name, d)
    train_dl, val_dl, test_dl = DataGenerator(xdict("train"), d["y_train"]).generate_dataloader(
        x_val=xdict("val"),
        y_val=d["y_val"],
        x_test=xdict("test"),
        y_test=d["y_test"],
        batch_size=1024,
    )
    with tempfile.TemporaryDirectory() as model_path:
        trainer = MTLTrainer(
            model,
            task_types=task_types,
            optimizer_fn=torch.optim.Adam,
            optimizer_params={"lr": 1e-3, "weight_decay": 1e-4},
            n_epoch=max_epochs,
            earlystop_patience=patience,
            device="cpu",
            model_path=model_path,
        )
        t0 = time.perf_counter()
        log = trainer.fit(train_dl, val_dl)
        seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        scores = np.concatenate([model(x).numpy() for x, _ in test_dl])
    y = d["y_test"]
    return {
        "model": model_name,
        "seed": seed,
        "epochs_run": len(log),
        "test_auc": [common.auc(y[:, k], scores[:, k]) for k in range(2)],
        "val_auc_by_epoch": [round(float(row[-2]), 5) for row in log],
        "fit_seconds": round(seconds, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="SharedBottom,MMoE,PLE")
    parser.add_argument("--seeds", default="2022", help="torch.manual_seed values; 2022 is theirs")
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument(
        "--peer-bench",
        default="/tmp/zoo-peer-bench",
        help="a copy of ../shared/peer-bench with its prepared-array cache",
    )
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    sys.path.insert(0, args.peer_bench)
    import common  # the peer benchmark's data preparation and AUC

    common.CACHE_DIR = os.path.join(args.peer_bench, "cache")
    common.CACHE_FILE = os.path.join(common.CACHE_DIR, "census_mtl.npz")
    if "CENSUS_DIR" not in os.environ:
        common.DATA_DIR = os.path.normpath(
            os.path.join(HERE, "..", "..", "shared", "data", "census-income")
        )
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in args.models.split(","):
            record = run(name, seed, common, args.max_epochs, args.patience)
            runs.append(record)
            print(
                f"{name} seed {seed}: test AUC income {record['test_auc'][0]:.4f}, "
                f"never married {record['test_auc'][1]:.4f} ({record['epochs_run']} epochs, "
                f"{record['fit_seconds']:.0f} s)",
                flush=True,
            )
    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": "python bench/torch_rechub_published.py " + " ".join(sys.argv[1:]),
        "runs": runs,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "torch_rechub_published.json"), "w") as f:
        json.dump(report, f, indent=1)
    lines = [
        "# torch-rechub at its published Census settings, on the zoo's split",
        "",
        f"Measured {report['date']} with `{report['command']}`. Settings: see the script's "
        "docstring. Test AUC on the test half of the UCI test file (seed 1 split, every "
        "non-label column), income / never married.",
        "",
        "| model | seed | epochs run | test AUC (this run) | published by torch-rechub |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        pub = PUBLISHED[r["model"]]
        lines.append(
            f"| {r['model']} | {r['seed']} | {r['epochs_run']} | "
            f"{r['test_auc'][0]:.4f} / {r['test_auc'][1]:.4f} | {pub[0]:.4f} / {pub[1]:.4f} |"
        )
    with open(os.path.join(args.out, "torch_rechub_published.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
