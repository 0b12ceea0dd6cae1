#!/usr/bin/env python
"""MoGENet at scale: graph build time, training throughput and peak memory against edges.

The scale benchmark of issue 8. For each size (a number of positive
user-item edges) a fresh child process, so that its peak RSS is its own:

1. generates, with a fixed seed and vectorized numpy, a power-law
   interaction log: users drawn with probability proportional to
   rank^-0.5 (activity), items to rank^-0.7 (popularity) (`--user-exponent`,
   `--item-exponent`), duplicates
   merged until exactly that many distinct positive (user, item) pairs
   remain, each with `click` = 1 and `buy` = 1 for a random 10% of them;
   plus one negative per positive (`zoo.data.base.negative_sampling`: an item
   the user never interacted with, uniform, both labels 0). Users and
   items scale with the edges, `edges / 20` of each (20 edges per user and
   per item on average: 1M users and 1M items at 20M edges), unless
   `--num-users` / `--num-items` fix them;
2. builds the `zoo.data.TabularDataset` (int64 `user_id` / `item_id`,
   16-wide embeddings, tasks `click` and `buy`) and its preprocessor
   (vocabularies adapted from the training rows, or given with
   `--vocabulary given`), timed;
3. builds `zoo.graphs.GraphInputs.from_dataset` (user-item graph, top-10
   cosine user-user and item-item graphs with the similarity caps
   `max_users_per_item = max_items_per_user = --cap`, neighbour sampling
   with `--fanouts`, with replacement; `--no-replace` samples without,
   which once sorted every neighbour of the frontier and was about 20x
   slower per batch at 1M edges, and since 2026-12-07 draws by Floyd's
   algorithm at the same cost as with replacement), timed, with the RSS
   after it and the peak during it;
4. trains `zoo.models.MoGENet` (graph encoder `make_graph_encoder`, 32
   wide, one layer per fan-out) with `zoo.training.fit`, batch 1024, on a
   random `--steps` x batch rows of the training split per epoch for
   `--epochs` epochs (no early stopping; validation: 512 held-out rows).
   Throughput = training pairs / median wall time of the epochs after the
   first (which traces), as `TrainingResult` measures it.
   At its end `fit` computes the serving node tables from the whole graph
   (`refresh_graph_tables`); that step is timed and its memory peak
   reported apart from training's.

Per size: users, items, edges (user-item, user-user, item-item), seconds
and peak RSS (VmHWM, reset before each stage through
`/proc/self/clear_refs`) of every stage, training pairs/second; then the
growth ratios between sizes and log-log slopes. A child that fails (an
exception, the timeout, or killed by the memory guard: a watchdog process
kills it when its RSS passes `--max-rss-gb` or the machine's available
memory falls under 512 MB, to spare the other processes) is recorded with
the last stage it finished, and larger sizes are skipped after a memory
failure. Writes `mogenet_scale.json` and `mogenet_scale.md` under `--out`.

At 1M edges the whole-graph form of the bipartite graph once cost 8.4 GB
and 17 s (TF's `value_rowids()` tiles rows x max degree); the zoo now
computes CSR row ids by binary search (`zoo.graphs.neighbor_sampling.row_ids`).

    python bench/mogenet_scale.py                    # 2M, 6M, 20M edges
    python bench/mogenet_scale.py --sizes 1000000 --steps 50 --epochs 3   # ~2 min
    python bench/mogenet_scale.py --smoke            # 20k, 60k edges, 20 steps (~1 min)
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _benchutil as bu  # noqa: E402

DEFAULT_SIZES = "2000000,6000000,20000000"
SMOKE = {"sizes": "20000,60000", "steps": 20, "epochs": 2}
HELD_OUT_PAIRS = 512  # positive pairs kept out of the graph: the validation and test rows
MEMORY_FAILURES = ("memory guard", "MemoryError", "killed")


# ---------------------------------------------------------------------------
# data: a power-law interaction log, vectorized
# ---------------------------------------------------------------------------


def _rank_sampler(num_nodes, exponent, rng):
    """Draws node ids with probability proportional to rank^-exponent.

    Ranks are mapped to ids through a random permutation, so the most
    active users (popular items) are not ids 0, 1, 2, ...
    """
    import numpy as np

    cdf = np.cumsum(np.arange(1, num_nodes + 1, dtype=np.float64) ** -float(exponent))
    cdf /= cdf[-1]
    id_of_rank = rng.permutation(num_nodes).astype(np.int64)

    def draw(count):
        ranks = np.minimum(np.searchsorted(cdf, rng.random(count), side="right"), num_nodes - 1)
        return id_of_rank[ranks]

    return draw


def generate_interactions(num_edges, num_users, num_items, settings, seed):
    """`num_edges + HELD_OUT_PAIRS` distinct positive (user, item) pairs, power-law on both sides.

    Pairs are drawn independently (user by activity, item by popularity) in
    vectorized rounds; repeats of a pair are merged and rounds continue
    until enough distinct pairs exist, of which a random subset of the
    wanted size is kept. Returns `(users, items, rounds)`, in random order.
    """
    import numpy as np

    wanted = num_edges + HELD_OUT_PAIRS
    if wanted > 0.5 * num_users * num_items:
        raise ValueError(
            f"{wanted:,} distinct pairs of {num_users:,} users x {num_items:,} items is too dense"
        )
    rng = np.random.default_rng(seed)
    draw_user = _rank_sampler(num_users, settings["user_exponent"], rng)
    draw_item = _rank_sampler(num_items, settings["item_exponent"], rng)
    keys = np.empty(0, np.int64)
    rounds = 0
    while keys.size < wanted:
        rounds += 1
        if rounds > 60:
            raise RuntimeError(
                f"only {keys.size:,} distinct pairs after 60 rounds; lower the exponents"
            )
        count = int((wanted - keys.size) * 1.3) + 1024
        drawn = draw_user(count) * num_items + draw_item(count)
        keys = np.unique(np.concatenate([keys, drawn]))
    keys = keys[rng.permutation(keys.size)[:wanted]]
    return keys // num_items, keys % num_items, rounds


def _degree_stats(ids, size):
    import numpy as np

    degrees = np.bincount(ids, minlength=size)
    return {
        "mean": round(float(degrees.mean()), 2),
        "p99": int(np.percentile(degrees, 99)),
        "max": int(degrees.max()),
        "with_edges": int((degrees > 0).sum()),
    }


def make_datasets(num_edges, num_users, num_items, settings, seed):
    """The whole training log as a `TabularDataset`, and the rows `fit` trains on.

    Returns `(dataset, train_dataset, stats)`: `dataset`'s training split
    holds every positive pair and its negative (the graph is built from it);
    `train_dataset` has the same validation and test splits (the held-out
    pairs and their negatives, 2 x 512 rows each half) and, as its training
    split, a random `steps x batch_size` of those rows.
    """
    import dataclasses

    import numpy as np

    from zoo.data.base.negative_sampling import sample_negatives
    from zoo.data.base.tabular_dataset import Split, TabularDataset
    from zoo.features.spec import CategoricalFeature
    from zoo.tasks import Task

    started = time.perf_counter()
    users, items, rounds = generate_interactions(num_edges, num_users, num_items, settings, seed)
    rng = np.random.default_rng(seed + 1)
    buy = (rng.random(users.size) < settings["buy_rate"]).astype(np.float32)
    negatives = sample_negatives(
        np.repeat(users, settings["negatives_per_positive"]), users, items, num_items, rng
    )
    generate_s = time.perf_counter() - started
    stats = {
        "generate_rounds": rounds,
        "user_degree": _degree_stats(users[:num_edges], num_users),
        "item_degree": _degree_stats(items[:num_edges], num_items),
        "negatives_unfilled": int((negatives < 0).sum()),
    }

    def split(positive_rows):
        pos_users, pos_items = users[positive_rows], items[positive_rows]
        neg_rows = (
            positive_rows[:, None] * settings["negatives_per_positive"]
            + np.arange(settings["negatives_per_positive"])
        ).reshape(-1)
        neg_users = np.repeat(pos_users, settings["negatives_per_positive"])
        neg_items = negatives[neg_rows]
        filled = neg_items >= 0
        ones = np.ones(positive_rows.size, np.float32)
        zeros = np.zeros(int(filled.sum()), np.float32)
        return Split(
            features={
                "user_id": np.concatenate([pos_users, neg_users[filled]]),
                "item_id": np.concatenate([pos_items, neg_items[filled]]),
            },
            labels={
                "click": np.concatenate([ones, zeros]),
                "buy": np.concatenate([buy[positive_rows], zeros]),
            },
        )

    started = time.perf_counter()
    train = split(np.arange(num_edges))
    held_out = np.arange(num_edges, num_edges + HELD_OUT_PAIRS)
    validation = split(held_out[: HELD_OUT_PAIRS // 2])
    test = split(held_out[HELD_OUT_PAIRS // 2 :])

    def vocabulary(size):
        return tuple(range(size)) if settings["vocabulary"] == "given" else None

    dim = settings["embedding_dim"]
    dataset = TabularDataset(
        name=f"power-law-{num_edges}",
        features=[
            CategoricalFeature(
                "user_id", dtype="int64", embedding_dim=dim, vocabulary=vocabulary(num_users)
            ),
            CategoricalFeature(
                "item_id", dtype="int64", embedding_dim=dim, vocabulary=vocabulary(num_items)
            ),
        ],
        tasks=[Task("click"), Task("buy")],
        train=train,
        validation=validation,
        test=test,
        settings={"user_features": ["user_id"], "item_features": ["item_id"]},
        user_feature="user_id",
    )
    train_rows = min(settings["steps"] * settings["batch_size"], len(train))
    chosen = np.sort(rng.choice(len(train), train_rows, replace=False))
    subset = Split(
        features={k: v[chosen] for k, v in train.features.items()},
        labels={k: v[chosen] for k, v in train.labels.items()},
    )
    train_dataset = dataclasses.replace(dataset, train=subset)
    stats["generate_s"] = round(generate_s, 2)
    stats["dataset_s"] = round(time.perf_counter() - started, 2)
    stats["train_rows_all"] = len(train)
    stats["train_rows_per_epoch"] = train_rows
    return dataset, train_dataset, stats


# ---------------------------------------------------------------------------
# child: one size, one process
# ---------------------------------------------------------------------------


def child(num_edges, settings, out_path):
    progress_path = out_path + ".progress"
    guard = bu.start_memory_guard(
        settings["max_rss_gb"] * 1024.0, settings["min_available_mb"], out_path + ".guard"
    )
    record = {"status": "running", "edges_requested": num_edges, "stages": {}}
    t_start = time.perf_counter()

    def stage_done(name, seconds, **extra):
        record["stages"][name] = {
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(bu.peak_rss_mb(), 1),
            "rss_after_mb": round(bu.current_rss_mb(), 1),
            **extra,
        }
        record["last_stage"] = name
        bu.write_json(progress_path, record)
        print(
            f"[{num_edges:,}] {name}: {seconds:.1f} s, peak RSS {bu.peak_rss_mb():,.0f} MB",
            flush=True,
        )
        bu.reset_peak_rss()

    import gc

    import zoo  # noqa: F401  (sets KERAS_BACKEND before keras is imported)

    import tensorflow as tf  # isort: skip

    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])
    import keras

    from zoo.graphs import GraphInputs
    from zoo.models import MoGENet, make_graph_encoder
    from zoo.training import TrainingConfig, fit

    record["peak_reset_works"] = bu.reset_peak_rss()
    stage_done("import", time.perf_counter() - t_start)

    num_users = settings["num_users"] or max(2, num_edges // settings["edges_per_node"])
    num_items = settings["num_items"] or max(2, num_edges // settings["edges_per_node"])
    record.update(num_users=num_users, num_items=num_items)
    seed = settings["seed"]
    started = time.perf_counter()
    dataset, train_dataset, stats = make_datasets(num_edges, num_users, num_items, settings, seed)
    record["data"] = stats
    stage_done("generate", time.perf_counter() - started)

    started = time.perf_counter()
    preprocessor = dataset.make_preprocessor()
    stage_done("preprocessor", time.perf_counter() - started, vocabulary=settings["vocabulary"])

    started = time.perf_counter()
    graph_inputs = GraphInputs.from_dataset(
        dataset,
        preprocessor,
        top_k=settings["top_k"],
        fanouts=settings["fanouts"],
        replace=settings["replace"],
        seed=seed,
        max_users_per_item=settings["cap"],
        max_items_per_user=settings["cap"],
    )
    graphs = graph_inputs.graphs
    record["graph"] = {
        "nodes_users": graphs.num_users,
        "nodes_items": graphs.num_items,
        "user_item_edges": graphs.num_user_item_edges,
        "user_user_edges": graphs.num_user_user_edges,
        "item_item_edges": graphs.num_item_item_edges,
        "summary": graph_inputs.summary(),
    }
    stage_done("graph_build", time.perf_counter() - started)
    # The full log is not needed any more: only the graphs and the training rows stay.
    del dataset
    gc.collect()

    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    model = MoGENet(
        tasks=train_dataset.tasks,
        graph_encoder=make_graph_encoder(
            graph_inputs,
            preprocessor,
            units=settings["graph_units"],
            num_layers=len(settings["fanouts"]),
        ),
        preprocessor=preprocessor,
    )
    stage_done("model_build", time.perf_counter() - started)

    # fit() ends with refresh_graph_tables (the serving node tables, from the
    # whole graph); time it apart, and keep the training figures if it fails.
    original_refresh = model.refresh_graph_tables
    train_started = time.perf_counter()

    def timed_refresh(inputs):
        stage_done("train", time.perf_counter() - train_started)
        refresh_started = time.perf_counter()
        original_refresh(inputs)
        stage_done("refresh_node_tables", time.perf_counter() - refresh_started)

    model.refresh_graph_tables = timed_refresh
    config = TrainingConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        early_stopping_patience=None,
        seed=seed,
        verbose=0,
    )
    result = fit(model, train_dataset, config, graph_inputs=graph_inputs)
    rows = train_dataset.num_rows("train")
    steady = result.epoch_seconds[1:] or result.epoch_seconds
    record["training"] = {
        "rows_per_epoch": rows,
        "steps_per_epoch": -(-rows // settings["batch_size"]),
        "epoch_seconds": [round(s, 3) for s in result.epoch_seconds],
        "pairs_per_second": rows / bu.median(steady),
        "first_epoch_excluded": len(result.epoch_seconds) > 1,
        "trainable_params": int(sum(math.prod(w.shape) for w in model.trainable_weights)),
        "all_params": int(model.count_params()),
        "final_task_loss": result.history.get("task_loss", [None])[-1],
    }
    record["child_wall_s"] = round(time.perf_counter() - t_start, 1)
    bu.finish_child(record, out_path, guard)


# ---------------------------------------------------------------------------
# parent: one child per size, then the report
# ---------------------------------------------------------------------------


def run_sizes(sizes, settings, out_dir, timeout_s):
    log_dir = os.path.join(out_dir, "logs")
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["OMP_NUM_THREADS"] = str(settings["threads"])
    runs = []
    memory_failed = None
    for size in sizes:
        if memory_failed is not None:
            runs.append(
                {
                    "status": "skipped",
                    "edges_requested": size,
                    "reason": f"{memory_failed:,} edges ran out of memory",
                }
            )
            continue
        fd, child_out = tempfile.mkstemp(prefix=f"mogenet-scale-{size}-", suffix=".json")
        os.close(fd)
        log_path = os.path.join(log_dir, f"mogenet_scale_{size}.log")
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            str(size),
            "--child-out",
            child_out,
            "--settings",
            json.dumps(settings),
        ]
        print(f"[mogenet-scale] {size:,} edges ...", flush=True)
        record = bu.run_guarded_child(cmd, child_out, log_path, env, timeout_s)
        if record["status"] == "failed" and record["failure"].startswith(MEMORY_FAILURES):
            memory_failed = size
        elif record["status"] != "failed":
            t = record["training"]
            print(
                f"   graph build {record['stages']['graph_build']['seconds']:.1f} s, "
                f"{t['pairs_per_second']:,.0f} pairs/s",
                flush=True,
            )
        record["edges_requested"] = size
        record["log"] = os.path.relpath(log_path, bu.REPO_ROOT)
        runs.append(record)
    return runs


def _stage(run, name, key):
    return run.get("stages", {}).get(name, {}).get(key)


def growth(runs):
    """Ratios between consecutive finished sizes, and log-log slopes (metric ~ edges^slope)."""
    figures = {
        "graph_build_s": lambda r: _stage(r, "graph_build", "seconds"),
        "pairs_per_second": lambda r: r.get("training", {}).get("pairs_per_second"),
        "train_peak_rss_mb": lambda r: _stage(r, "train", "peak_rss_mb"),
        "peak_rss_mb": lambda r: r.get("peak_rss_mb"),
    }
    done = [r for r in runs if r.get("status") == "ok"]
    out = []
    for a, b in zip(done, done[1:]):
        edges = b["graph"]["user_item_edges"] / a["graph"]["user_item_edges"]
        row = {"from_edges": a["edges_requested"], "to_edges": b["edges_requested"]}
        row["edges_ratio"] = round(edges, 3)
        for name, get in figures.items():
            va, vb = get(a), get(b)
            if va and vb:
                row[f"{name}_ratio"] = round(vb / va, 3)
                row[f"{name}_slope"] = round(math.log(vb / va) / math.log(edges), 3)
        out.append(row)
    return out


def _cell(value, spec):
    return "—" if value is None else format(value, spec)


def markdown(report):
    s = report["settings"]
    machine = report["machine"]
    lines = [
        "# MoGENet at scale: graph build, training throughput and peak memory against edges",
        "",
        f"`{report['command']}`, {report['date']}, {machine['cpu']} "
        f"({machine['cpus_usable']} cores, load average at start "
        f"{machine['load_average_at_start']}), {report['machine_memory_gb']:.1f} GB memory, "
        f"{report['wall_s']:.0f} s wall.",
        "",
        "Data: a generated power-law interaction log (seed "
        f"{s['seed']}): users drawn by activity ~ rank^-{s['user_exponent']}, items by "
        f"popularity ~ rank^-{s['item_exponent']}, merged into distinct positive pairs "
        f"(`click` = 1, `buy` = 1 for {s['buy_rate']:.0%} of them) plus "
        f"{s['negatives_per_positive']} uniform never-interacted negative per positive "
        "(both labels 0). "
        + (
            f"Users and items: {s['num_users'] or 'edges / ' + str(s['edges_per_node'])} and "
            f"{s['num_items'] or 'edges / ' + str(s['edges_per_node'])}. "
        )
        + f"Vocabularies: {s['vocabulary']}.",
        "",
        f"Graphs: top-{s['top_k']} cosine similarity graphs with caps max_users_per_item = "
        f"max_items_per_user = {s['cap']}; neighbour sampling fan-outs {s['fanouts']}, "
        f"{'with' if s['replace'] else 'without'} replacement" + f". MoGENet: embeddings "
        f"{s['embedding_dim']} wide, graph encoder {s['graph_units']} wide, "
        f"{len(s['fanouts'])} layers; batch {s['batch_size']}, Adam {s['learning_rate']}, "
        f"{s['epochs']} epochs of {s['steps']} steps, throughput from the epochs after the "
        f"first; TF {s['threads']} threads.",
        "",
        "## Graphs",
        "",
        "| edges asked | users | items | user-item edges | user-user edges | item-item edges "
        "| max user degree | max item degree | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        g = r.get("graph", {})
        d = r.get("data", {})
        status = r["status"] if r["status"] != "failed" else f"failed: {r['failure']}"
        if r["status"] == "skipped":
            status = f"skipped: {r['reason']}"
        lines.append(
            f"| {r['edges_requested']:,} | {_cell(r.get('num_users'), ',')} "
            f"| {_cell(r.get('num_items'), ',')} | {_cell(g.get('user_item_edges'), ',')} "
            f"| {_cell(g.get('user_user_edges'), ',')} | {_cell(g.get('item_item_edges'), ',')} "
            f"| {_cell(d.get('user_degree', {}).get('max'), ',')} "
            f"| {_cell(d.get('item_degree', {}).get('max'), ',')} | {status} |"
        )
    lines += [
        "",
        "## Time and memory",
        "",
        "Seconds of each stage, and peak RSS (MB) during it. *generate*: the log and its "
        "negatives, and the `TabularDataset`; *preprocessor*: `make_preprocessor()`; "
        "*graph build*: `GraphInputs.from_dataset`; *train*: `fit`'s epochs (with validation); "
        "*node tables*: the whole-graph `refresh_graph_tables` at the end of `fit`.",
        "",
        "| edges | generate s | preprocessor s | graph build s | RSS after graph MB "
        "| train pairs/s | train peak RSS MB | node tables s | node tables peak RSS MB "
        "| peak RSS MB | child wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        if r["status"] == "skipped":
            continue
        gen = _stage(r, "generate", "seconds")
        lines.append(
            f"| {r['edges_requested']:,} | {_cell(gen, '.1f')} "
            f"| {_cell(_stage(r, 'preprocessor', 'seconds'), '.1f')} "
            f"| {_cell(_stage(r, 'graph_build', 'seconds'), '.1f')} "
            f"| {_cell(_stage(r, 'graph_build', 'rss_after_mb'), ',.0f')} "
            f"| {_cell(r.get('training', {}).get('pairs_per_second'), ',.0f')} "
            f"| {_cell(_stage(r, 'train', 'peak_rss_mb'), ',.0f')} "
            f"| {_cell(_stage(r, 'refresh_node_tables', 'seconds'), '.1f')} "
            f"| {_cell(_stage(r, 'refresh_node_tables', 'peak_rss_mb'), ',.0f')} "
            f"| {_cell(r.get('peak_rss_mb'), ',.0f')} | {_cell(r.get('process_wall_s'), '.0f')} |"
        )
    if report["growth"]:
        lines += [
            "",
            "## Growth with edges",
            "",
            "Ratios between consecutive sizes; slope = log(ratio) / log(edge ratio), "
            "i.e. the figure grows as edges^slope (1: linear).",
            "",
            "| from → to edges | edge ratio | graph build × (slope) | pairs/s × (slope) "
            "| train peak RSS × (slope) | peak RSS × (slope) |",
            "|---|---|---|---|---|---|",
        ]
        for g in report["growth"]:

            def pair(name, g=g):
                ratio = g.get(f"{name}_ratio")
                return "—" if ratio is None else f"{ratio:.2f} ({g[f'{name}_slope']:+.2f})"

            lines.append(
                f"| {g['from_edges']:,} → {g['to_edges']:,} | {g['edges_ratio']:.2f} "
                f"| {pair('graph_build_s')} | {pair('pairs_per_second')} "
                f"| {pair('train_peak_rss_mb')} | {pair('peak_rss_mb')} |"
            )
    lines += ["", "## Fits?", "", report["fits"], ""]
    return "\n".join(lines) + "\n"


def fits_sentence(runs, memory_gb, max_rss_gb):
    done = [r for r in runs if r.get("status") == "ok"]
    largest = max(runs, key=lambda r: r["edges_requested"])
    if largest.get("status") == "ok":
        return (
            f"The largest size, {largest['edges_requested']:,} edges, ran: peak RSS "
            f"{largest['peak_rss_mb']:,.0f} MB on a {memory_gb:.1f} GB machine "
            f"(memory guard at {max_rss_gb:g} GB)."
        )
    why = largest.get("failure") or largest.get("reason")
    text = f"The largest size asked, {largest['edges_requested']:,} edges, did not run: {why}"
    if largest.get("last_stage"):
        text += f" (after stage {largest['last_stage']})"
    text += "."
    if done:
        best = max(done, key=lambda r: r["edges_requested"])
        text += (
            f" The largest that ran: {best['edges_requested']:,} edges, peak RSS "
            f"{best['peak_rss_mb']:,.0f} MB."
        )
    else:
        text += " No size ran."
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--sizes", default=None, help=f"positive edges, comma-separated ({DEFAULT_SIZES})"
    )
    ap.add_argument("--steps", type=int, default=None, help="training steps per epoch (100)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs; the first is excluded (3)")
    ap.add_argument("--smoke", action="store_true", help="20k and 60k edges, 20 steps, 2 epochs")
    ap.add_argument("--out", default=None, help="bench/results (bench/results/quick with --smoke)")
    ap.add_argument("--edges-per-node", type=int, default=20, help="users = items = edges / this")
    ap.add_argument("--num-users", type=int, default=None, help="fixed number of users")
    ap.add_argument("--num-items", type=int, default=None, help="fixed number of items")
    ap.add_argument("--user-exponent", type=float, default=0.5)
    ap.add_argument("--item-exponent", type=float, default=0.7)
    ap.add_argument("--vocabulary", choices=["adapt", "given"], default="adapt")
    ap.add_argument("--fanouts", default="10,5")
    ap.add_argument(
        "--no-replace",
        dest="replace",
        action="store_false",
        help="sample neighbours without replacement (Floyd's algorithm; same cost per batch)",
    )
    ap.add_argument("--cap", type=int, default=50, help="max_users_per_item = max_items_per_user")
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--threads", type=int, default=2, help="TF intra/inter-op threads")
    ap.add_argument("--max-rss-gb", type=float, default=22.0, help="memory guard per child")
    ap.add_argument("--timeout", type=int, default=7200, help="per child process, seconds")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    ap.add_argument("--settings", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child is not None:
        child(args.child, json.loads(args.settings), args.child_out)
        return 0

    started = time.perf_counter()
    sizes_text = args.sizes or (SMOKE["sizes"] if args.smoke else DEFAULT_SIZES)
    sizes = sorted(int(s) for s in sizes_text.split(",") if s.strip())
    settings = {
        "steps": args.steps or (SMOKE["steps"] if args.smoke else 100),
        "epochs": args.epochs or (SMOKE["epochs"] if args.smoke else 3),
        "batch_size": args.batch_size,
        "learning_rate": 1e-3,
        "edges_per_node": args.edges_per_node,
        "num_users": args.num_users,
        "num_items": args.num_items,
        "user_exponent": args.user_exponent,
        "item_exponent": args.item_exponent,
        "buy_rate": 0.1,
        "negatives_per_positive": 1,
        "vocabulary": args.vocabulary,
        "embedding_dim": 16,
        "graph_units": 32,
        "fanouts": [int(f) for f in args.fanouts.split(",")],
        "replace": args.replace,
        "cap": args.cap,
        "top_k": args.top_k,
        "seed": args.seed,
        "threads": args.threads,
        "max_rss_gb": args.max_rss_gb,
        "min_available_mb": 512,
    }
    out_dir = args.out or os.path.join(HERE, "results", "quick" if args.smoke else "")
    out_dir = os.path.normpath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    runs = run_sizes(sizes, settings, out_dir, args.timeout)
    memory_gb = (bu.meminfo_mb("MemTotal") or 0) / 1024.0
    report = bu.new_report(
        started,
        {**settings, "sizes": sizes, "smoke": args.smoke},
        machine_memory_gb=memory_gb,
        versions=bu.versions("tensorflow", "keras", "numpy", "scipy"),
        runs=runs,
        growth=growth(runs),
        fits=fits_sentence(runs, memory_gb, args.max_rss_gb),
    )
    bu.write_report(os.path.join(out_dir, "mogenet_scale"), report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
