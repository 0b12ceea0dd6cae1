# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # MoGENet: graph-enhanced experts on MovieLens-100K
#
# **Description:** build the user-item, user-user and item-item graphs of
# MovieLens-100K, train MMoE, MMoE + MGNN and MoGENet on two rating tasks,
# look at how MoGENet's tasks use its graph-enhanced experts, and export it
# for TF Serving, graphs baked in.
#
# ## Introduction
#
# A mixture-of-experts model such as MMoE sees each (user, item) row on its
# own: the user's and the item's features, nothing about who else watched
# what. MoGENet (Hu, Shen, Wu et al., Ant Group, "Mixture of Graph Enhanced Expert
# Networks for Multi-task Recommendation") adds collaborative signal from three graphs:
#
# * a multi-channel graph network (MGNN) runs over the user-item, user-user
#   and item-item graphs and gives four representations of the pair: the
#   user and the item from the user-item graph, the user from the user-user
#   graph and the item from the item-item graph;
# * their four pairwise interactions, e.g. kappa(h_u, h_i) = h_u * h_i, each
#   ride on one expert: expert n sees the row's features and carries
#   interaction n;
# * every task mixes the four experts with its own softmax gate, and the
#   task losses are weighted by learned uncertainty.
#
# "MMoE + MGNN" is the paper's middle ground: an ordinary MMoE whose input is
# the feature embedding followed by the same four MGNN representations.
#
# The data: MovieLens-100K (GroupLens), 100,000 ratings of 1,682 movies by
# 943 users. The tasks are thresholds on the rating: `rating_ge_4` (4 or 5
# stars) and `rating_5` (5 stars); every rated pair is a row, and one
# sampled unrated movie per rating is a row with both labels 0. Each user's
# ratings are split by time: the last 10% are test rows, the 10% before
# them validation.

# %% [markdown]
# ## Setup
#
# Installs the `zoo` package where it cannot be imported yet (see the
# quickstart notebook): nothing to do beforehand, on Colab or elsewhere.

# %%
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("zoo") is None:
    # TensorFlow's CPU build only where the runtime has none: Colab's own
    # TensorFlow, and its GPU, stay. ZOO_PIP_SOURCE, if set, is where pip takes
    # the package from instead of PyPI, e.g. git+https://github.com/<owner>/<repo>.
    extra = "" if importlib.util.find_spec("tensorflow") else "[cpu]"
    source = os.environ.get("ZOO_PIP_SOURCE")
    requirement = f"mtl-zoo{extra} @ {source}" if source else f"mtl-zoo{extra}"
    # `python -m pip` of this kernel's interpreter installs where the kernel
    # imports from, like `%pip`, but also works when run as a plain script.
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", requirement])
    importlib.invalidate_caches()  # lets this kernel import what pip just added

# %% [markdown]
# Settings: CI runs this notebook with `ZOO_NOTEBOOK_EPOCHS=1` and
# `ZOO_NOTEBOOK_XLA=0` (for one epoch, compiling each model with XLA takes
# longer than the training), and with `ZOO_DATA_DIR` set to the folder that
# holds its copy of the data; the defaults are for a real run.
#
# **Data location** (`DATA_DIR`): the folder that holds (or will hold)
# `movielens-100k/` with `u.data`, `u.user` and `u.item`. It is
# `$ZOO_DATA_DIR` when set (the zoo's loaders read the same variable),
# else `data/` beside this notebook.

# %%
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from zoo import data, export, graphs, models, training
from zoo.models.mogenet import INTERACTION_PAIRS
from zoo.training.gate_diagnostics import average_gate_weights

EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 10))
XLA = os.environ.get("ZOO_NOTEBOOK_XLA", "1") != "0"
DATA_DIR = os.environ.get("ZOO_DATA_DIR", "data")  # <- parameter: where the data lives
tf.get_logger().setLevel("WARNING")

# %% [markdown]
# ## 1. MovieLens-100K
#
# The zoo does not ship MovieLens: its licence allows research use only and
# forbids redistribution. If `DATA_DIR/movielens-100k` is absent, the cell
# below downloads `ml-100k.zip` from GroupLens and unzips it there. By using
# the data you accept its terms (the `README` in the archive); publications
# must cite F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History
# and Context", ACM TiiS 5(4), 2015.

# %%
MOVIELENS_DIR = os.path.join(DATA_DIR, "movielens-100k")
if not os.path.isdir(MOVIELENS_DIR):
    import urllib.request
    import zipfile

    os.makedirs(DATA_DIR, exist_ok=True)
    archive = os.path.join(DATA_DIR, "ml-100k.zip")
    print("downloading ml-100k.zip from files.grouplens.org ...")
    urllib.request.urlretrieve(
        "https://files.grouplens.org/datasets/movielens/ml-100k.zip", archive
    )
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(DATA_DIR)
    os.rename(os.path.join(DATA_DIR, "ml-100k"), MOVIELENS_DIR)
    os.remove(archive)

movielens = data.load_dataset("movielens-100k", data_dir=MOVIELENS_DIR, negatives_per_positive=1)
preprocessor = movielens.make_preprocessor()
tasks = [t.name for t in movielens.tasks]
print(movielens.summary)
print(f"tasks: {tasks}")
print(f"user features: {movielens.settings['user_features']}")
print(f"item features: {movielens.settings['item_features'][:4]} + more genres")

# %% [markdown]
# ## 2. The three graphs
#
# `GraphInputs.from_dataset` builds, from the **training rows only** (a
# validation or test rating in a graph would leak its label into every
# model that aggregates over the graph):
#
# * the **user-item** (bipartite) graph: an edge between a user and a movie
#   when any label of the pair is positive, here a rating of 4 or 5. Sampled
#   unrated movies and ratings of 1 to 3 are rows but not edges;
# * the **user-user** graph: each user linked to the 10 users whose sets of
#   liked movies are the most similar (cosine similarity of the rows of the
#   user-item matrix);
# * the **item-item** graph: the same for movies, over the users who liked
#   them.
#
# The nodes are the preprocessor's ids, so node 0 of each side is the
# out-of-vocabulary bucket, a node without edges. Every node starts from its
# side features (a user's age, gender, occupation, zip prefix; a movie's
# release year and genres). In training, every batch gets the sub-graphs
# around its users and movies, sampled GraphSAGE-style with fan-outs
# (10, 5): 10 neighbours at the first hop, 5 at the second, one hop per MGNN
# layer.

# %%
graph_inputs = graphs.GraphInputs.from_dataset(movielens, preprocessor, fanouts=(10, 5))
print(graph_inputs.summary())

# %% [markdown]
# ## 3. MMoE, MMoE + MGNN and MoGENet
#
# The same four experts of [32, 32] units in all three models. MMoE + MGNN
# and MoGENet each get their own graph encoder (two MGNN layers of 32 units
# per channel). Early stopping watches `val_task_loss`, the plain sum of the
# task losses: MoGENet learns its loss weights, so its `val_loss` moves with
# the weights and is not comparable from one epoch to the next. Graph models
# train without XLA (their sub-graphs change shape every batch).

# %%
config = training.TrainingConfig(
    epochs=EPOCHS,
    batch_size=1024,
    jit_compile=XLA,
    early_stopping_patience=2,
    early_stopping_monitor="val_task_loss",
    verbose=0,
    seed=1,
)
builders = {
    "MMoE": lambda: models.MMoE(
        tasks=movielens.tasks, preprocessor=preprocessor, num_experts=4, expert_units=[32, 32]
    ),
    "MMoE + MGNN": lambda: models.MMoE(
        tasks=movielens.tasks,
        preprocessor=preprocessor,
        num_experts=4,
        expert_units=[32, 32],
        graph_encoder=models.make_graph_encoder(graph_inputs, preprocessor),
    ),
    "MoGENet": lambda: models.MoGENet(
        tasks=movielens.tasks,
        graph_encoder=models.make_graph_encoder(graph_inputs, preprocessor),
        preprocessor=preprocessor,
    ),
}
trained, results = {}, {}
for name, build in builders.items():
    keras.utils.set_random_seed(1)
    model = build()
    fitted = training.fit(
        model, movielens, config, graph_inputs=graph_inputs if model.uses_graph else None
    )
    trained[name] = model
    results[name] = training.evaluate(model, movielens, "test")
    print(
        f"{name:>11}: {fitted.epochs_run} epochs (best {fitted.best_epoch}), "
        f"{sum(fitted.epoch_seconds):.0f} s, {model.count_params():,} parameters"
    )
for name, test in results.items():
    print(
        f"{name}: "
        + ", ".join(f"{t} AUC {test[t]['auc']:.4f} GAUC {test[t]['gauc']:.4f}" for t in tasks)
    )

# %% [markdown]
# ## 4. Scores, and how MoGENet's tasks use its experts
#
# Left: test AUC and GAUC (the AUC within each user's rows, averaged over
# users weighted by their rows: how well the model ranks movies for one
# user). Right: MoGENet's mean gate weight on each of its four experts, per
# task, over the test rows (`average_gate_weights` calls
# `model.gate_weights` on each batch of preprocessed test features). Expert
# n carries interaction n; `U` marks the user-user representation, `I` the
# item-item one. A gate spread evenly means the task uses every graph view;
# two tasks with different favourites use the graphs differently.

# %%
mogenet = trained["MoGENet"]
averages = average_gate_weights(mogenet, movielens, "test")
for gate, weights in averages.items():
    print(f"gate of {gate}: mean weights " + " ".join(f"{w:.3f}" for w in weights.values()))
expert_labels = [
    f"{n}: {user.replace('user_bipartite', 'u').replace('user_similarity', 'u^U')} x "
    f"{item.replace('item_bipartite', 'i').replace('item_similarity', 'i^I')}"
    for n, (user, item) in enumerate(INTERACTION_PAIRS)
]

fig, (score_ax, gate_ax) = plt.subplots(1, 2, figsize=(13, 4.5))
groups = [(t, metric) for t in tasks for metric in ("auc", "gauc")]
width = 0.8 / len(results)
for i, (name, test) in enumerate(results.items()):
    score_ax.bar(
        np.arange(len(groups)) + (i - (len(results) - 1) / 2) * width,
        [test[t][metric] for t, metric in groups],
        width,
        label=name,
    )
score_ax.set_xticks(range(len(groups)), [f"{t}\n{metric.upper()}" for t, metric in groups])
score_ax.set(title="Test AUC and GAUC on MovieLens-100K", ylim=(0.5, 0.9))
score_ax.legend(loc="upper left", ncols=len(results), fontsize=8)

gate_width = 0.8 / len(averages)
for i, (gate, weights) in enumerate(averages.items()):
    gate_ax.bar(
        np.arange(len(weights)) + (i - (len(averages) - 1) / 2) * gate_width,
        list(weights.values()),
        gate_width,
        label=f"gate of {gate}",
    )
gate_ax.axhline(1 / len(expert_labels), color="grey", linestyle=":", label="uniform")
gate_ax.set_xticks(range(len(expert_labels)), expert_labels)
gate_ax.set(title="MoGENet: mean gate weight per expert", ylabel="mean softmax weight")
gate_ax.margins(y=0.3)
gate_ax.legend(loc="upper center", ncols=3, fontsize=8)
fig.tight_layout()
fig.savefig("mogenet_movielens_plots.png", dpi=100)
plt.show()

# %% [markdown]
# ## 5. Serving: export, reload, predict
#
# The SavedModel takes **raw features only**: `user_id`, `item_id` and the
# side features (`age`, `gender`, `occupation`, `zip_prefix`,
# `release_year`, `genre_*`), one named input each. No graph goes in with a
# request. When training ended, `training.fit` called
# `model.refresh_graph_tables(graph_inputs)`: the MGNN ran once over the
# whole training graphs and stored every user's and every movie's four
# representations in tables, which are weights of the model and so part of
# the export. Serving looks a request's user and movie up in them; a user or
# movie the training rows never saw maps to the out-of-vocabulary row (the
# representation of a node with no edges) and is scored from its side
# features. To take in new interactions, retrain (or refresh the tables on a
# new graph) and export a new version.

# %%
path = export.export_saved_model(mogenet, "savedmodels", "mogenet", version=1)
print(f"exported to {path}")
serve = tf.saved_model.load(path).signatures["serving_default"]
print(f"inputs: {sorted(serve.structured_input_signature[1])}")

rows = movielens.head("test", 5)
# One more row: a user and a movie the model has never seen.
rows = {name: np.concatenate([values, values[:1]]) for name, values in rows.items()}
rows["user_id"][-1], rows["item_id"][-1] = 10_000, 20_000
raw_dtypes = preprocessor.raw_dtypes()
served = serve(**{name: tf.constant(rows[name], raw_dtypes[name]) for name in raw_dtypes})
expected = mogenet(rows)  # no "graph" key: the node tables, as served
for task in tasks:
    np.testing.assert_allclose(
        served[task].numpy(), np.asarray(expected[task])[:, 0], rtol=1e-4, atol=1e-6
    )
for k in range(len(rows["user_id"])):
    scores = ", ".join(f"{t} {served[t].numpy()[k]:.3f}" for t in tasks)
    unseen = " (never seen)" if k == len(rows["user_id"]) - 1 else ""
    print(f"user {rows['user_id'][k]:>5}, movie {rows['item_id'][k]:>5}{unseen}: {scores}")
print("The SavedModel and the Keras model agree.")

# %% [markdown]
# The `.keras` file keeps the node tables too: the reloaded model predicts
# without the graphs.

# %%
mogenet.save("mogenet.keras")
reloaded = keras.saving.load_model("mogenet.keras")
again = reloaded(rows)
for task in tasks:
    np.testing.assert_allclose(
        np.asarray(again[task]), np.asarray(expected[task]), rtol=1e-4, atol=1e-6
    )
print(f"reloaded {type(reloaded).__name__}: the same predictions, from its saved node tables")
