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
# # MFH: one head per (user group, task), on KuaiRand
#
# **Description:** train the Multi-Faceted Hierarchical model on KuaiRand
# with three user groups and three play tasks, compare it with its flat
# ablation per user group, check the routing, and serve it: one answer per
# task, whatever the user's group.
#
# ## Introduction
#
# New users, occasional users and heavy users behave differently; a model
# that shares everything between them lets the heavy users' data drown the
# others. MFH makes the user group a *facet* of the tasks: 3 groups × 3 tasks
# = 9 heads. A tree of switchers shares what it can: a shared bottom, then a
# two-level PLE with a branch per group, then inside each group a CGC level
# with a branch per task. Each sample trains only its own group's heads, and the
# model picks those heads at serving time from the group feature.
#
# Tasks here: `pcr` (play completion rate, regression; masked where the
# video's duration is 0), `long_view` (the finish-rate analogue) and `click`.
# Groups: KuaiRand's `user_active_degree` gathered into new, low and high
# activity by `datasets/kuairand/mfh.json`: configuration, not code.

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
# longer than the training); the defaults are for a real run.

# %%
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import json

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from zoo import data, export, metrics, models, training

EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 15))
XLA = os.environ.get("ZOO_NOTEBOOK_XLA", "1") != "0"
tf.get_logger().setLevel("WARNING")

# %% [markdown]
# ## 1. Data and groups

# %%
kuairand = data.load_kuairand(tasks=("pcr", "long_view", "click"))
# The group configuration ships beside the data (datasets/kuairand/ in the
# repository, zoo/data/shipped/kuairand/ in an installed package).
config_path = os.path.join(kuairand.settings["data_dir"], "mfh.json")
with open(config_path) as f:
    group_config = json.load(f)
print(json.dumps(group_config["groups"], indent=1))
raw_groups = np.asarray(kuairand.test.features["user_active_degree"])
test_group = {name: np.isin(raw_groups, values) for name, values in group_config["groups"].items()}
for name, rows in test_group.items():
    print(f"{name:>5}: {rows.sum():,} test rows")

# %% [markdown]
# ## 2. MFH and the flat ablation
#
# Same heads, same towers (heterogeneous: (128, 64) for the high-activity
# group), only the tree differs: `layout="flat"` puts all nine heads at one
# CGC level.

# %%
preprocessor = kuairand.make_preprocessor()
config = training.TrainingConfig(epochs=EPOCHS, batch_size=512, jit_compile=XLA, verbose=0, seed=1)
trained = {}
for layout in ("mfh", "flat"):
    keras.utils.set_random_seed(1)
    model = models.MFH(
        tasks=kuairand.tasks, preprocessor=preprocessor, layout=layout, **group_config
    )
    training.fit(model, kuairand, config)
    trained[layout] = model

labels, present, _ = kuairand.label_arrays("test")
scores = {}
for layout, model in trained.items():
    predictions = training.predict(model, kuairand, "test")
    for group, in_group in test_group.items():
        rows = in_group & present["pcr"]
        mse = metrics.mean_squared_error(labels["pcr"][rows], predictions["pcr"][rows])
        click_rows = in_group & present["click"]
        auc = metrics.roc_auc(labels["click"][click_rows], predictions["click"][click_rows])
        scores[(layout, group)] = (mse, auc)
        print(f"{layout:>4} {group:>5}: pcr MSE {mse:.4f}, click AUC {auc:.4f}")

# %% [markdown]
# ## 3. The routing, checked
#
# A batch of high-activity users: its loss must reach only the `high` heads.

# %%
mfh = trained["mfh"]
high_rows = {k: v[test_group["high"]][:64] for k, v in kuairand.test.features.items()}
with tf.GradientTape() as tape:
    out = mfh(high_rows, training=True)  # raw rows: the model preprocesses them
    loss = tf.reduce_mean(out["click"]) + tf.reduce_mean(out["pcr"])
grads = tape.gradient(loss, mfh.trainable_variables)
towers_reached = sorted(
    {
        v.path.split("/")[1]
        for v, g in zip(mfh.trainable_variables, grads)
        if g is not None and "tower_" in v.path and float(tf.reduce_max(tf.abs(g))) > 0
    }
)
print(f"towers reached by a high-activity batch: {towers_reached}")

# %% [markdown]
# The picture: click AUC and pcr MSE per group, MFH against flat.

# %%
fig, (auc_ax, mse_ax) = plt.subplots(1, 2, figsize=(11, 4))
group_names = list(test_group)
for i, layout in enumerate(trained):
    offsets = np.arange(len(group_names)) + (i - 0.5) * 0.4
    auc_ax.bar(offsets, [scores[(layout, g)][1] for g in group_names], 0.4, label=layout)
    mse_ax.bar(offsets, [scores[(layout, g)][0] for g in group_names], 0.4, label=layout)
auc_ax.set_xticks(range(len(group_names)), group_names)
auc_ax.set(title="click AUC per user group", ylim=(0.5, 0.85))
mse_ax.set_xticks(range(len(group_names)), group_names)
mse_ax.set(title="pcr MSE per user group (lower is better)")
auc_ax.legend()
fig.tight_layout()
fig.savefig("mfh_kuairand_plots.png", dpi=100)
plt.show()

# %% [markdown]
# ## 4. Export, reload, predict
#
# The SavedModel answers `pcr`, `long_view` and `click` from the sample's
# own group's heads, and every head as `<task>__<group>` for analysis.

# %%
path = export.export_saved_model(mfh, "savedmodels", "mfh-kuairand", version=1)
serve = tf.saved_model.load(path).signatures["serving_default"]
rows = kuairand.head("test", 5)
raw_dtypes = preprocessor.raw_dtypes()
served = serve(**{name: tf.constant(rows[name], raw_dtypes[name]) for name in raw_dtypes})
expected = mfh(rows)
np.testing.assert_allclose(served["pcr"].numpy(), np.asarray(expected["pcr"])[:, 0], rtol=1e-4)
print(f"outputs: {sorted(served)}")
print(f"groups of these rows: {list(rows['user_active_degree'])}")
print(f"pcr: {np.round(served['pcr'].numpy(), 3)}")
print("The SavedModel and the Keras model agree.")

mfh.save("mfh.keras")
reloaded = keras.saving.load_model("mfh.keras")
print(f"reloaded groups: {list(reloaded.groups)}, layout {reloaded.layout}")
