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
# # Behaviour histories: from a raw log to a served prediction
#
# **Description:** build each row's history of clicked videos from the
# KuaiRand log without leaking the future, declare it as a
# `SequenceFeature`, train an MMoE whose history is pooled by DIN attention,
# export it for TF Serving, call it with a padded list payload, and look at
# what the attention weighs.
#
# ## Introduction
#
# What a user did before says more about the next video than their age
# bracket does. A behaviour history is a list per row: the ids of the items
# the user interacted with, newest first. Two decisions make it work:
#
# - **No leakage.** A row's history may only hold what was known when the
#   row happened: the user's interactions *strictly before* its time. An
#   interaction at the same timestamp is left out too, since a log cannot
#   say which of two events in the same millisecond came first.
# - **Pooling.** The list becomes one vector. Mean pooling treats every
#   past item alike; DIN (Deep Interest Network, Zhou et al., KDD 2018)
#   lets the candidate weigh each past item, so a cooking video looks at
#   the user's past cooking videos.
#
# The data: the KuaiRand like/hate subset shipped in `datasets/kuairand`
# (CC BY-SA 4.0). It holds only rows with an explicit like or hate, so a
# history here is the videos clicked among those rows, not everything the
# user watched.

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
# `ZOO_NOTEBOOK_XLA=0` (for one epoch, compiling the model with XLA takes
# longer than the training); the defaults are for a real run.

# %%
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import json

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from zoo import data, export, models, training
from zoo.data.base.histories import previous_interactions
from zoo.features import SequenceFeature

EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 10))
XLA = os.environ.get("ZOO_NOTEBOOK_XLA", "1") != "0"
HISTORY_LENGTH = 20
tf.get_logger().setLevel("WARNING")

# %% [markdown]
# ## 1. The no-leakage rule, on a log of six lines
#
# `previous_interactions` gives every log row the items of the same user's
# included rows (here: clicks) with a time strictly before its own, newest
# first, padded with -1. Look at user 1: the two clicks at t=30 do not see
# each other, the row at t=40 sees both; the unclicked video 5 enters
# nobody's history, but its row still gets one.

# %%
log = {
    "user": np.array([1, 1, 1, 1, 1, 2]),
    "time": np.array([10, 20, 30, 30, 40, 10]),
    "video": np.array([7, 5, 8, 9, 6, 7]),
    "clicked": np.array([True, False, True, True, True, True]),
}
toy_histories = previous_interactions(
    log["user"], log["time"], log["video"], max_len=3, include=log["clicked"]
)
for row in range(len(log["user"])):
    print(
        f"user {log['user'][row]} t={log['time'][row]:>2} video {log['video'][row]} "
        f"clicked={log['clicked'][row]!s:<5} -> history {toy_histories[row].tolist()}"
    )
assert toy_histories[3].tolist() == [7, -1, -1]  # not video 8, clicked in the same instant
assert toy_histories[4].tolist() == [9, 8, 7]

# %% [markdown]
# ## 2. Histories from the KuaiRand log
#
# `load_kuairand(history_length=...)` does the same over the whole log
# (its `time_ms` column, clicks only) before splitting it by date: a test
# row's history holds the user's clicks of the training days too, as a
# served model would know them, and never a click at or after the row's own
# millisecond. It adds the feature to the spec: `watched_videos`, which
# shares `video_id`'s embedding table, so a past video and a candidate are
# the same vector.

# %%
kuairand = data.load_kuairand(
    tasks=["click", "long_view", "like"],
    history_length=HISTORY_LENGTH,
    history_pooling="attention",
)
print(kuairand.summary)
history_spec = next(f for f in kuairand.features if isinstance(f, SequenceFeature))
print(history_spec)
train_history = kuairand.train.features["watched_videos"]
print(f"history column: {train_history.dtype} {train_history.shape}")
filled = (train_history >= 0).sum(axis=1)
print(
    f"filled slots per training row: mean {filled.mean():.1f}, empty in {np.mean(filled == 0):.1%}"
    f" of rows, full ({HISTORY_LENGTH}) in {np.mean(filled == HISTORY_LENGTH):.1%}"
)
print("first test row:", kuairand.test.features["watched_videos"][0].tolist())

# %% [markdown]
# Declaring one yourself is one line beside the other features; `pooling`
# is `"mean"`, `"sum"`, `"max"`, `"attention"` (DIN, weighed by `target`,
# which `shares_table_with` sets) or `"transformer"` (BST):
#
# ```python
# SequenceFeature("watched_videos", max_len=20, pooling="attention",
#                 shares_table_with="video_id", dtype="int64", embedding_dim=8)
# ```
#
# ## 3. An MMoE with DIN
#
# The model takes raw rows; the history is a `(rows, 20)` int64 array
# padded with -1 (lists of lists of any length work as well).

# %%
keras.utils.set_random_seed(1)
model = models.MMoE(
    tasks=kuairand.tasks,
    preprocessor=kuairand.make_preprocessor(),
    num_experts=4,
    expert_units=[64, 32],
    tower_units=[16],
)
config = training.TrainingConfig(
    epochs=EPOCHS, batch_size=512, jit_compile=XLA, early_stopping_patience=2, verbose=0, seed=1
)
result = training.fit(model, kuairand, config)
test = training.evaluate(model, kuairand, "test")
print(f"best epoch {result.best_epoch} of {result.epochs_run}")
print(
    "MMoE + DIN: "
    + ", ".join(
        f"{t.name} AUC {test[t.name]['auc']:.4f} GAUC {test[t.name]['gauc']:.4f}"
        for t in kuairand.tasks
    )
)

# %% [markdown]
# ## 4. Export and call it with a padded list payload
#
# The SavedModel's `serving_default` takes every raw feature; the history is
# a `(batch, None)` int64 tensor, so a client pads its rows to the longest
# one in the request (with -1), whatever that length is. A history longer
# than `max_len` keeps its newest `max_len` ids; an empty one is a
# `(batch, 0)` tensor.

# %%
path = export.export_saved_model(
    model, "savedmodels", "mmoe-din-kuairand", version=1, warmup_rows=kuairand.head("test", 4)
)
serve = tf.saved_model.load(path).signatures["serving_default"]
print(f"watched_videos input: {serve.structured_input_signature[1]['watched_videos']}")

rows = kuairand.head("test", 3)
# As a client would build them: ragged lists (here the newest 5, 2 and 0 past
# videos of three test rows), padded to the longest of the request.
ragged = [
    [v for v in history if v >= 0][:keep]
    for history, keep in zip(rows["watched_videos"], (5, 2, 0))
]
longest = max(len(history) for history in ragged)
padded = np.array([history + [-1] * (longest - len(history)) for history in ragged], "int64")
payload = dict(rows, watched_videos=padded)
raw_dtypes = model.preprocessor.raw_dtypes()
served = serve(**{name: tf.constant(payload[name], raw_dtypes[name]) for name in raw_dtypes})
expected = model.predict(payload, verbose=0)
print(f"padded history payload, shape {padded.shape}:\n{padded}")
for t in kuairand.tasks:
    np.testing.assert_allclose(served[t.name].numpy(), expected[t.name][:, 0], rtol=1e-4)
    print(f"{t.name:>9}: {np.round(served[t.name].numpy(), 4)}")
print("The SavedModel and the Keras model agree.")

# %% [markdown]
# A TF Serving client sends the same thing as JSON, one object per row
# (`POST http://localhost:8501/v1/models/mmoe-din-kuairand:predict`): the
# history is a plain list, and every row of one request has a list of the
# same length (padded with -1).

# %%
# `.tolist()` turns numpy values into JSON's own: ints, strings, lists.
one_row = {name: np.asarray(payload[name])[:1].tolist()[0] for name in raw_dtypes}
body = {"signature_name": "serving_default", "instances": [one_row]}
print(json.dumps(body))

# %% [markdown]
# ## 5. What DIN looks at
#
# `model.attention_weights(rows)` gives DIN's weight of every past video for
# the row's candidate (0 at padding; not normalized, as in DIN). One test
# row with a long history:

# %%
test_history = kuairand.test.features["watched_videos"]
row = int(np.argmax((test_history >= 0).sum(axis=1)))
one = {name: values[row : row + 1] for name, values in kuairand.test.features.items()}
weights = np.asarray(model.attention_weights(one)["watched_videos"])[0]
past = one["watched_videos"][0]
shown = past >= 0
candidate = int(one["video_id"][0])
print(f"user {one['user_id'][0]}, candidate video {candidate}: {int(shown.sum())} past videos")
top = np.argsort(-np.where(shown, weights, -np.inf))[:3]
print("highest weights:", ", ".join(f"video {past[i]} ({weights[i]:.3f})" for i in top))

fig, ax = plt.subplots(figsize=(12, 4))
ax.bar(np.arange(shown.sum()), weights[shown], color="tab:blue")
ax.set_xticks(np.arange(shown.sum()), [str(v) for v in past[shown]], rotation=60)
ax.set(
    title=f"DIN attention over user {one['user_id'][0]}'s history, candidate video {candidate}",
    xlabel="past clicked videos, newest first",
    ylabel="attention weight",
)
fig.tight_layout()
fig.savefig("sequence_features_plots.png", dpi=100)
plt.show()
