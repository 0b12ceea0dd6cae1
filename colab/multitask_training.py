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
# # Training multi-task models: task correlation, loss weighting, missing labels
#
# **Description:** the MMoE paper's synthetic experiment in small, then the
# training options every multi-task user needs: learned loss weights, labels
# that exist for only some rows, gate diagnostics and RelaImpr against a
# baseline, sparse gates, the peer libraries' models; ending with a TF Serving export.
#
# ## Introduction
#
# Multi-task models only pay off when the tasks help each other more than they
# get in each other's way. The MMoE paper ([Ma et al., KDD 2018](https://dl.acm.org/doi/10.1145/3219819.3220007))
# makes this measurable with synthetic regression tasks whose correlation p is
# set by hand. In real data the questions are different: how to weigh tasks
# whose losses have different scales, what to do with a label that only exists
# for some rows (a purchase is only defined after a click), and whether the
# gates really use different experts for different tasks.
#
# This notebook answers each with the `zoo` package:
#
# 1. synthetic tasks: requested correlation p against the labels' correlation,
#    and Shared-Bottom against MMoE at p = 0.5,
# 2. Census-Income with *uncertainty weighting* (Kendall et al., 2018),
# 3. the same with most `never_married` labels missing, marked as missing,
# 4. gate diagnostics and RelaImpr against a Shared-Bottom baseline,
# 5. a sparse gate (DSelect-k) and loss weights that follow the epochs (DWA),
# 6. what the peer libraries ship: STEM, HoME, PEPNet, DBMTL, and the
#    gradient-level weightings PCGrad and MetaBalance,
# 7. export for TF Serving, reload, predict.

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

import dataclasses

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from zoo import data, export, metrics, models, training
from zoo.training import gate_diagnostics

EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 8))
XLA = os.environ.get("ZOO_NOTEBOOK_XLA", "1") != "0"
SYNTHETIC_EPOCHS = 4 * EPOCHS
tf.get_logger().setLevel("WARNING")


def train(model, dataset, epochs, **settings):
    """zoo's fit: model.fit (XLA unless ZOO_NOTEBOOK_XLA=0), early stopping on validation."""
    config = training.TrainingConfig(epochs=epochs, jit_compile=XLA, verbose=0, seed=1, **settings)
    return training.fit(model, dataset, config)


# %% [markdown]
# ## 1. Synthetic tasks with a chosen correlation
#
# Two regression tasks y_k = w_k·x + Σ_i sin(α_i w_k·x + β_i) + noise, where
# the cosine of the weight vectors w_1, w_2 is exactly p. The sine terms make
# the labels' own (Pearson) correlation lower than p; both are shown.

# %%
for p in (1.0, 0.9, 0.5):
    settings = data.load_synthetic(correlation=p, seed=0).settings
    print(f"p = {p}: labels' Pearson correlation {settings['label_pearson_correlation']:.3f}")

# %% [markdown]
# At p = 0.5 the tasks want different functions of the same inputs. A Shared
# Bottom must serve both with one representation; MMoE's per-task gates can
# pick different experts. (`bench/synthetic_correlation.py` runs the full
# experiment: three models, several p and seeds.)

# %%
synthetic = data.load_synthetic(correlation=0.5, seed=0)
curves = {}
for name, model_cls, kwargs in [
    ("Shared-Bottom", models.SharedBottom, {"bottom_units": [128]}),
    ("MMoE", models.MMoE, {"num_experts": 8, "expert_units": [16]}),
]:
    keras.utils.set_random_seed(0)
    model = model_cls(
        tasks=synthetic.tasks,
        preprocessor=synthetic.make_preprocessor(),
        tower_units=[8],
        **kwargs,
    )
    result = train(model, synthetic, SYNTHETIC_EPOCHS, batch_size=128, early_stopping_patience=None)
    curves[name] = result.history["val_loss"]
    test = training.evaluate(model, synthetic, "test")
    print(f"{name}: test loss (sum of both MSEs) {test['total_loss']:.4f}")

# %% [markdown]
# ## 2. Census-Income with learned loss weights
#
# Task group 1: `income > 50K` and `never_married`. Their losses differ in
# scale (never_married is much easier). Uncertainty weighting learns a noise
# scale σ_k per task and trains on Σ_k L_k / (2σ_k²) + log σ_k, so a task
# with a large loss is weighted down. Pick it with `loss_weighting=` (or
# `zoo train --loss-weighting uncertainty`); `"gradnorm"` and fixed weights
# such as `{"income": 2.0}` work the same way.

# %%
census = data.load_census_income(task_group=1, protocol="paper")
pre = census.make_preprocessor()
architecture = {"num_experts": 8, "expert_units": [32], "tower_units": [16]}

keras.utils.set_random_seed(1)
mmoe = models.MMoE(
    tasks=census.tasks, preprocessor=pre, loss_weighting="uncertainty", **architecture
)
train(mmoe, census, EPOCHS)
mmoe_test = training.evaluate(mmoe, census, "test")
for task, weight in mmoe.loss_weighting.task_weights().items():
    print(
        f"{task:>14}: learned weight 1/(2σ²) = {weight:.3f}, test AUC {mmoe_test[task]['auc']:.4f}"
    )

# %% [markdown]
# ## 3. Labels that exist for only some rows
#
# Here we pretend only 30% of the rows were asked about marital status. A
# missing label must never be read as "no": `Split.label_masks` says which
# rows have the label; the others get sample weight 0, so they add nothing
# to that task's loss or metrics, while still training `income`.

# %%
rng = np.random.default_rng(0)


def hide_labels(split, task, keep):
    present = rng.random(len(split)) < keep
    labels = dict(split.labels, **{task: np.where(present, split.labels[task], np.nan)})
    return dataclasses.replace(split, labels=labels, label_masks={task: present})


partial = dataclasses.replace(
    census,
    train=hide_labels(census.train, "never_married", 0.3),
    validation=hide_labels(census.validation, "never_married", 0.3),
)
keras.utils.set_random_seed(1)
partial_model = models.MMoE(tasks=census.tasks, preprocessor=pre, **architecture)
train(partial_model, partial, EPOCHS)
partial_test = training.evaluate(partial_model, partial, "test")
print(
    f"training rows with a never_married label: {partial.train.label_masks['never_married'].sum()}"
)
for task in partial_model.task_names:
    print(f"{task:>14}: test AUC {partial_test[task]['auc']:.4f}")

# %% [markdown]
# ## 4. Gates and RelaImpr
#
# `gate_report` averages each task gate's weights over a split and warns if
# one expert takes more than 90% of every task's weight (collapse: the model
# is then a Shared-Bottom with extra weights). RelaImpr measures the lift
# above AUC 0.5 relative to a baseline: ((AUC − 0.5) / (AUC_base − 0.5) − 1)
# × 100%.

# %%
report = gate_diagnostics.gate_report(mmoe, census, "test")
print(f"collapsed onto: {report['collapsed_onto']}")

keras.utils.set_random_seed(1)
baseline = models.SharedBottom(tasks=census.tasks, preprocessor=pre, bottom_units=[256])
train(baseline, census, EPOCHS)
baseline_test = training.evaluate(baseline, census, "test")
for task in mmoe.task_names:
    lift = metrics.relative_improvement(mmoe_test[task]["auc"], baseline_test[task]["auc"])
    print(
        f"{task:>14}: MMoE {mmoe_test[task]['auc']:.4f} vs Shared-Bottom "
        f"{baseline_test[task]['auc']:.4f}: RelaImpr {lift:+.2f}%"
    )

# %% [markdown]
# The pictures: synthetic validation loss per epoch, and the MMoE gates.

# %%
fig, (loss_ax, gate_ax) = plt.subplots(1, 2, figsize=(13, 4))
for name, values in curves.items():
    loss_ax.plot(np.arange(1, len(values) + 1), values, label=name)
loss_ax.set(
    title="Synthetic tasks, p = 0.5", xlabel="epoch", ylabel="validation loss", yscale="log"
)
loss_ax.legend()

averages = report["average_gate_weights"]
grid = np.array([list(weights.values()) for weights in averages.values()])
image = gate_ax.imshow(grid, cmap="viridis", vmin=0)
gate_ax.set_yticks(range(len(averages)), list(averages))
gate_ax.set_xticks(range(grid.shape[1]), range(grid.shape[1]))
gate_ax.set(title="MMoE on Census-Income: mean gate weight", xlabel="expert")
fig.colorbar(image, ax=gate_ax)
fig.tight_layout()
fig.savefig("multitask_training_plots.png", dpi=100)
plt.show()

# %% [markdown]
# ## 5. A sparse gate and epoch-wise loss weights
#
# `gate="dselect-k"` (Hazimeh et al., NeurIPS 2021) replaces each task's
# softmax gate by k = 2 differentiable single-expert selectors: once they are
# binary, at most k experts get a non-zero weight in a row, and the others
# cost nothing to skip. `entropy_weight` pushes the selectors there sooner.
# `loss_weighting="dwa"` (Liu et al., CVPR 2019) weighs each task by how
# little its loss fell over the last two epochs, so it needs three epochs to
# move off the equal weights it starts with.

# %%
keras.utils.set_random_seed(1)
sparse = models.MMoE(
    tasks=census.tasks,
    preprocessor=pre,
    gate={"class_name": "dselect-k", "config": {"k": 2, "entropy_weight": 1e-3}},
    **architecture,
)
train(sparse, census, EPOCHS)
sparse_test = training.evaluate(sparse, census, "test")
sparse_gates = sparse.gate_weights(
    {name: values[:2048] for name, values in census.test.features.items()}
)
for task, weights in sparse_gates.items():
    nonzero = (np.asarray(weights) > 0).sum(axis=1)
    print(
        f"DSelect-k gate of {task}: {nonzero.mean():.2f} experts with a non-zero weight per row "
        f"(of {architecture['num_experts']})"
    )
print(
    "DSelect-k test AUC: "
    + ", ".join(f"{t} {sparse_test[t]['auc']:.4f}" for t in sparse.task_names)
)

keras.utils.set_random_seed(1)
dwa = models.MMoE(tasks=census.tasks, preprocessor=pre, loss_weighting="dwa", **architecture)
train(dwa, census, max(EPOCHS, 3), early_stopping_patience=None)
print(
    "DWA weights for the last epoch: "
    + ", ".join(f"{t} {w:.3f}" for t, w in dwa.loss_weighting.task_weights().items())
)

# %% [markdown]
# ## 6. What the peer libraries ship: STEM, HoME, PEPNet, DBMTL, PCGrad, MetaBalance
#
# Each is one argument away from the MMoE above:
#
# - **STEM** (Su et al., AAAI 2024): every task has embedding tables of its
#   own beside the shared ones; each task's gate reads every expert, but its
#   loss trains only its own and the shared ones.
# - **HoME** (Wang et al., Kuaishou 2024): experts normalised (batch norm and
#   Swish), a hierarchy of shared, per-category and per-task experts, a
#   feature gate giving each expert its own view of the input, self-gates.
# - **PEPNet** (Chang et al., KDD 2023): gates that scale the embedding by
#   domain features (EPNet) and every hidden layer of each task's network
#   by personal prior features (PPNet).
# - **DBMTL** (Alibaba, 2019): each task's tower also reads the towers of
#   the tasks it depends on (here never_married after income).
# - **PCGrad** (Yu et al., NeurIPS 2020) and **MetaBalance** (He et al., WWW
#   2022) act on the gradients of the shared experts: PCGrad projects
#   conflicting task gradients apart, MetaBalance scales the second task's
#   gradient towards the first's magnitude.
#
# One run each, at the CI's epochs: a table to read, not a ranking
# (`bench/` compares models with equal tuning budgets and five seeds).

# %%
peers = {
    "STEM": (
        models.STEM,
        {"num_task_experts": 1, "num_shared_experts": 4, "expert_units": [32], "tower_units": [16]},
    ),
    "HoME": (
        models.HoME,
        {
            "task_categories": [["income"], ["never_married"]],
            "num_shared_experts": 2,
            "num_category_experts": 2,
            "num_task_experts": 1,
            "expert_units": [32],
            "tower_units": [16],
        },
    ),
    "PEPNet": (
        models.PEPNet,
        {
            "domain_features": ["sex", "race"],
            "personal_features": ["class_worker", "det_ind_code", "det_occ_code"],
            "hidden_units": [64, 32],
        },
    ),
    "DBMTL": (models.DBMTL, {"bottom_units": [128], "task_units": [32], "relation_units": [16]}),
    "MMoE + PCGrad": (models.MMoE, {**architecture, "loss_weighting": "pcgrad"}),
    "MMoE + MetaBalance": (models.MMoE, {**architecture, "loss_weighting": "metabalance"}),
}
for name, (model_class, arguments) in peers.items():
    keras.utils.set_random_seed(1)
    peer = model_class(tasks=census.tasks, preprocessor=pre, **arguments)
    result = train(peer, census, EPOCHS)
    peer_test = training.evaluate(peer, census, "test")
    print(
        f"peer model {name}: "
        + ", ".join(f"{t} AUC {peer_test[t]['auc']:.4f}" for t in peer.task_names)
        + f" ({result.train_samples_per_second:,.0f} training samples/s)"
    )

# %% [markdown]
# ## 7. Export, reload, predict
#
# The export takes raw feature values (strings, floats), runs the
# preprocessor and the model, and answers one probability per task. The
# learned loss weights travel with the `.keras` file too.

# %%
path = export.export_saved_model(mmoe, "savedmodels", "mmoe-uncertainty", version=1)
serve = tf.saved_model.load(path).signatures["serving_default"]
rows = {name: values[:5] for name, values in census.test.features.items()}
served = serve(**{name: tf.constant(rows[name], dtype) for name, dtype in pre.raw_dtypes().items()})
expected = mmoe.predict(rows, verbose=0)
for task in mmoe.task_names:
    np.testing.assert_allclose(served[task].numpy(), expected[task][:, 0], rtol=1e-4, atol=1e-6)
    print(f"{task:>14}: {np.round(served[task].numpy(), 3)}")
print("The SavedModel and the Keras model agree.")

mmoe.save("mmoe-uncertainty.keras")
reloaded = keras.saving.load_model("mmoe-uncertainty.keras")
print(f"learned loss weights after reloading: {reloaded.loss_weighting.task_weights()}")
