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
# # AutoMTL: searching the experts instead of designing them, on KuaiRand
#
# **Description:** run AutoMTL's differentiable architecture search on
# KuaiRand (click, like), look at what it chose, retrain the derived
# architecture like any zoo model, compare it with MMoE, and serve it.
#
# ## Introduction
#
# MMoE, CGC and PLE are hand-designed: every expert is the same MLP and
# every task sees every expert (or a fixed split of them). AutoMTL searches
# three things at once, by gradient descent over a *supernet* holding every
# choice:
#
# * a feature-interaction block over the field embeddings (product layers,
#   cross network, self-attention over fields, MLP or nothing);
# * each expert's operations, block by block (bit-level gate, MLP, 1D
#   convolution or skip), so experts can differ from one another;
# * which experts each task uses (per-task selection weights beta, pushed
#   apart by a Jensen-Shannon loss).
#
# Every choice block outputs the softmax(alpha)-weighted mix of its
# candidates; alpha learns on validation batches, the weights and beta on
# training batches (first-order DARTS). Deriving keeps the strongest
# operation per block and each task's top experts; the result is retrained
# from scratch with an ordinary softmax gate per task.
#
# The candidate lists are configuration. This notebook searches a compact
# space so it runs in minutes on a laptop CPU; `zoo search --model automtl`
# uses the paper's Table 1 by default.

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

from zoo import data, export, models, search, training
from zoo.search.plots import plot_architecture, plot_expert_selection

EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 6))
XLA = os.environ.get("ZOO_NOTEBOOK_XLA", "1") != "0"
tf.get_logger().setLevel("WARNING")

# %% [markdown]
# ## 1. Data
#
# The shipped KuaiRand like/hate subset, split by date; tasks click and like.

# %%
kuairand = data.load_kuairand(tasks=("click", "like"))
preprocessor = kuairand.make_preprocessor()
print(kuairand.summary)

# %% [markdown]
# ## 2. Search
#
# A compact space: five interaction candidates, six expert candidates, four
# experts of two blocks. Each epoch prints the architecture derived so far.

# %%
keras.utils.set_random_seed(1)
supernet = models.AutoMTLSupernet(
    kuairand.tasks,
    preprocessor=preprocessor,
    field_dim=8,
    interaction_ops=["skip", "inner-product", "cross-2", "attention-2", "mlp-64"],
    expert_ops=["skip", "bit-gate", "mlp-32", "mlp-128", "conv1d-3", "conv1d-7"],
    num_experts=4,
    num_blocks=2,
    expert_width=32,
    seed=1,
)
result = search.search_automtl(
    supernet,
    kuairand,
    search.SearchConfig(epochs=EPOCHS, batch_size=1024, num_selected=2, seed=1, verbose=2),
)
architecture = result.architecture
print(f"searched in {result.wall_seconds:.0f} s")
print(f"derived: {search.describe_architecture(architecture)}")

# %% [markdown]
# The architecture file is plain JSON: readable, editable, and what
# `zoo train --model automtl-derived --arch FILE` rebuilds.

# %%
search.save_architecture(architecture, "architecture.json")
with open("architecture.json") as f:
    saved = json.load(f)
print(json.dumps({k: saved[k] for k in ("interaction", "experts", "task_experts")}, indent=1))

# %% [markdown]
# ## 3. What the search chose
#
# Bottom to top: the interaction operation, each expert's operations ("skip"
# drawn faint: that block fell away), and the experts each task keeps, the
# line thicker where its selection weight is larger. Then the selection
# weights softmax(beta) themselves.

# %%
plot_architecture(architecture, "automtl_architecture.png", "AutoMTL on KuaiRand")
plot_expert_selection(architecture, "automtl_selection.png", "AutoMTL on KuaiRand")
fig, axes = plt.subplots(2, 1, figsize=(9, 8))
for ax, picture in zip(axes, ("automtl_architecture.png", "automtl_selection.png")):
    ax.imshow(plt.imread(picture))
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Retrain the derived architecture, and MMoE beside it
#
# The derived model is an ordinary zoo model: `training.fit` with Adam, XLA
# and early stopping, like the MMoE baseline (4 experts of the same width).

# %%
config = training.TrainingConfig(
    epochs=EPOCHS * 3, batch_size=1024, jit_compile=XLA, verbose=0, seed=1
)
keras.utils.set_random_seed(1)
derived = models.AutoMTL(kuairand.tasks, architecture, preprocessor=preprocessor)
training.fit(derived, kuairand, config)
keras.utils.set_random_seed(1)
mmoe = models.MMoE(
    kuairand.tasks, preprocessor=preprocessor, num_experts=4, expert_units=[32],
    tower_units=[128, 64],
)  # fmt: skip
training.fit(mmoe, kuairand, config)

scores = {}
for name, model in (("AutoMTL", derived), ("MMoE", mmoe)):
    test = training.evaluate(model, kuairand, "test")
    scores[name] = {t.name: test[t.name]["auc"] for t in kuairand.tasks}
    print(
        f"{name:>7}: "
        + ", ".join(f"{task} AUC {auc:.4f}" for task, auc in scores[name].items())
        + f", {model.count_params():,} parameters"
    )

fig, ax = plt.subplots(figsize=(6, 3.5))
tasks = [t.name for t in kuairand.tasks]
for i, name in enumerate(scores):
    ax.bar(np.arange(len(tasks)) + (i - 0.5) * 0.4, [scores[name][t] for t in tasks], 0.4,
           label=name)  # fmt: skip
ax.set_xticks(range(len(tasks)), tasks)
ax.set(title="test AUC on KuaiRand", ylim=(0.5, 0.9))
ax.legend()
fig.tight_layout()
fig.savefig("automtl_kuairand_auc.png", dpi=100)
plt.show()

# %% [markdown]
# ## 5. Export, reload, predict

# %%
path = export.export_saved_model(derived, "savedmodels", "automtl-kuairand", version=1)
serve = tf.saved_model.load(path).signatures["serving_default"]
rows = kuairand.head("test", 5)
raw_dtypes = preprocessor.raw_dtypes()
served = serve(**{name: tf.constant(rows[name], raw_dtypes[name]) for name in raw_dtypes})
expected = derived(rows)
for task in tasks:
    np.testing.assert_allclose(
        served[task].numpy(), np.asarray(expected[task])[:, 0], rtol=1e-4, atol=1e-6
    )
print(f"click probabilities: {np.round(served['click'].numpy(), 3)}")
print("The SavedModel and the Keras model agree.")

derived.save("automtl.keras")
reloaded = keras.saving.load_model("automtl.keras")
print(f"reloaded experts per task: {reloaded.architecture['task_experts']}")
