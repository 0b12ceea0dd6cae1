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
# # Multi-task ranking with MMoE on Census-Income
#
# **Description:** train a Multi-gate Mixture-of-Experts model on two tasks, look
# at what its gates learned, and export it for TF Serving.
#
# ## Introduction
#
# A ranking system often predicts several things about the same example: a
# click and a purchase, a like and a share. Multi-task models share part of
# the network between the tasks. MMoE ([Ma et al., KDD 2018](https://dl.acm.org/doi/10.1145/3219819.3220007))
# shares a set of *experts*, small MLPs that all tasks can use, and gives
# every task its own *gate*, a softmax over the experts that decides how much
# of each expert that task listens to.
#
# This notebook reproduces the MMoE paper's Census-Income setup (task group 1:
# predict `income > 50K` and `never_married` from the other survey answers)
# with the `zoo` package:
#
# 1. load the dataset shipped with the package,
# 2. build an MMoE model and train it with plain `model.fit` on raw rows,
# 3. measure the exact per-task test AUC,
# 4. plot the validation AUC and the gate weights,
# 5. export a SavedModel for TF Serving and check that it predicts what the
#    Keras model predicts, from raw feature values,
# 6. take the trained MMoE that ships with the package from a preset, and
#    compile a model with plain Keras arguments.

# %% [markdown]
# ## Setup
#
# The cell below installs the `zoo` package (`mtl-zoo` on pip) where it cannot
# be imported yet, as on a fresh Colab runtime, and does nothing where it is
# installed already (a local virtualenv, CI). It keeps the TensorFlow the
# runtime has (on a Colab GPU runtime, the GPU build) and brings TensorFlow's
# CPU build only where there is none. To install the repository's current code
# rather than the release on PyPI, run
# `%env ZOO_PIP_SOURCE=git+https://github.com/<owner>/<repo>` first.

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
# Settings. The environment variables let CI run this notebook quickly
# (`ZOO_QUICKSTART_EPOCHS=1`); the defaults are what you want for a real run.

# %%
# Keras 3 must run on TensorFlow here: the tf.data pipeline and the export need it.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from zoo import data, export, models, training

EPOCHS = int(os.environ.get("ZOO_QUICKSTART_EPOCHS", 5))
BATCH_SIZE = 1024

# Same initial weights on every run, so the numbers below are reproducible.
keras.utils.set_random_seed(1)
# In a notebook TensorFlow logs at INFO level; warnings are what matters here.
tf.get_logger().setLevel("WARNING")

# %% [markdown]
# ## Load Census-Income
#
# `load_census_income` reads the UCI files as published (they ship inside the
# package, and in the repository's `datasets/census-income/`) and halves the
# UCI test file into validation and test rows. `protocol="paper"` drops the columns that give
# away any task's label (income, marital status, education), as the MMoE
# paper does.
#
# Each split holds *raw* values: strings for categorical columns, float32 for
# numeric ones. The preprocessor turns them into integer ids and normalized
# floats. It learns its vocabularies and statistics from the training split
# only, so no information leaks from the rows we evaluate on.

# %%
ds = data.load_census_income(task_group=1, protocol="paper")
pre = ds.make_preprocessor()

print(f"tasks: {[task.name for task in ds.tasks]}")
print(f"{len(ds.features)} features; rows: ", end="")
print(f"train {len(ds.train)}, validation {len(ds.validation)}, test {len(ds.test)}")
for task in ds.tasks:
    print(f"positive rate of {task.name!r} in train: {ds.train.labels[task.name].mean():.3f}")

# %% [markdown]
# ## Build the model
#
# Every categorical feature gets an embedding; the embeddings and the numeric
# values, concatenated, feed 8 experts of one 32-unit layer, and each task
# mixes the experts' outputs with its own gate before its 16-unit tower.
# The preprocessor travels with the model: the model takes *raw* rows (strings
# and floats) and runs the preprocessor in front of its compiled step, and
# the export puts it in front of the network.

# %%
model = models.MMoE(
    tasks=ds.tasks,
    preprocessor=pre,
    num_experts=8,
    expert_units=[32],
    tower_units=[16],
)

# %% [markdown]
# ## Train
#
# `fit` takes the raw columns and the labels as Keras does (dicts keyed by
# feature and by task name). The model preprocesses the columns once, in
# front of the training step; the step itself sees ids and floats only, so it
# compiles with XLA.
#
# `compile()` fills in per-task defaults: a binary cross-entropy loss and an
# AUC metric for each task, and Adam with learning rate 1e-3. Two defaults
# differ from Keras' own, for speed: XLA is on even on a CPU-only machine,
# and 8 training steps run per call into the compiled step.

# %%
model.compile()
history = model.fit(
    ds.train.features,
    ds.train.labels,
    batch_size=BATCH_SIZE,
    epochs=EPOCHS,
    validation_data=(ds.validation.features, ds.validation.labels),
    verbose=2,  # one line per epoch
)

# %% [markdown]
# ## Evaluate
#
# Keras' `AUC` metric approximates the ROC curve with 200 thresholds, which is
# fine for a progress bar. `training.evaluate` computes the exact, rank-based
# AUC of each task on a whole split.

# %%
test_metrics = training.evaluate(model, ds, "test")
for task in model.task_names:
    metrics = test_metrics[task]
    print(f"{task:>14}: test AUC {metrics['auc']:.4f}, log loss {metrics['loss']:.4f}")
print(f"({test_metrics['num_rows']} test rows)")

# %% [markdown]
# ## What did the gates learn?
#
# `model.gate_weights(features)` returns, for every gate, the softmax weights
# it gives each expert, one row per example. For MMoE the gates are named
# after their tasks. Averaged over validation rows, they show how much the
# tasks share: two gates that favour the same experts mean the tasks reuse
# the same representation; different favourites mean the model keeps them
# apart.

# %%
validation_rows = {name: values[:5000] for name, values in ds.validation.features.items()}
mean_gate_weights = {
    gate: keras.ops.convert_to_numpy(weights).mean(axis=0)
    for gate, weights in model.gate_weights(validation_rows).items()
}

fig, (auc_ax, gate_ax) = plt.subplots(1, 2, figsize=(12, 4))

epochs = np.arange(1, len(history.epoch) + 1)
for task in model.task_names:
    auc_ax.plot(epochs, history.history[f"val_{task}_auc"], marker="o", label=task)
auc_ax.set(title="Validation AUC", xlabel="epoch", ylabel="AUC (200 thresholds)")
auc_ax.set_xticks(epochs)
auc_ax.legend()

# Grouped bars: for each expert, one bar per task's gate.
experts = np.arange(model.num_experts)
width = 0.8 / len(mean_gate_weights)
for i, (gate, weights) in enumerate(mean_gate_weights.items()):
    gate_ax.bar(experts + i * width, weights, width, label=f"gate of {gate}")
gate_ax.set(title="Mean gate weight per expert", xlabel="expert", ylabel="mean softmax weight")
gate_ax.set_xticks(experts + width * (len(mean_gate_weights) - 1) / 2, experts)
gate_ax.margins(y=0.3)  # room above the bars for the legend
gate_ax.legend(loc="upper center", ncols=len(mean_gate_weights))

fig.tight_layout()
fig.savefig("quickstart_plots.png", dpi=100)
plt.show()

# %% [markdown]
# ## Export for TF Serving
#
# `export_saved_model` writes a SavedModel in the folder layout TF Serving
# watches, `<base>/<name>/<version>/`, and returns the version's path. Its
# `serving_default` signature takes one named input per *raw* feature
# (strings and floats, as a client has them), runs the preprocessor and the
# model, and returns one named output per task. `warmup_rows` adds a few real
# rows as warm-up requests, which TF Serving replays when it loads the model so
# the first client request does not pay for graph initialization.

# %%
path = export.export_saved_model(
    model,
    "savedmodels",
    "mmoe-census-income",
    warmup_rows={name: values[:8] for name, values in ds.validation.features.items()},
)
print(path)
print(sorted(os.listdir(path)))

# %% [markdown]
# ## Check the export
#
# `tf.saved_model.load` needs none of the model's Python code (no `zoo`
# classes, no Keras), so the reloaded signature is the model as TF Serving
# sees it. Call it with the raw values of five test rows: the Keras model, fed
# the same raw rows, must agree.

# %%
loaded = tf.saved_model.load(path)
serve = loaded.signatures["serving_default"]
inputs = serve.structured_input_signature[1]
print(f"{len(inputs)} inputs, e.g. {inputs['age']} and {inputs['class_worker']}")
print(f"outputs: {serve.structured_outputs}")

raw_dtypes = pre.raw_dtypes()  # tf.string for categorical columns, tf.float32 for numeric ones


def raw_batch(rows):
    """Tensors of raw values, as a client would send them."""
    return {name: tf.constant(values, dtype=raw_dtypes[name]) for name, values in rows.items()}


rows = {name: values[:5] for name, values in ds.test.features.items()}
served = serve(**raw_batch(rows))
keras_outputs = model(rows, training=False)

print(f"{'task':>14} {'SavedModel':>11} {'Keras':>11}")
for task in model.task_names:
    served_values = served[task].numpy()
    keras_values = keras.ops.convert_to_numpy(keras_outputs[task]).reshape(-1)
    for s, k in zip(served_values, keras_values):
        print(f"{task:>14} {s:11.6f} {k:11.6f}")
    np.testing.assert_allclose(served_values, keras_values, atol=1e-5)
print("The SavedModel and the Keras model agree.")

# %% [markdown]
# A value never seen in training (a new category after the model was
# trained, a typo in a request) does not break serving: the preprocessor maps
# it to the out-of-vocabulary bucket, id 0, which has an embedding of its own.

# %%
unseen = {name: values.copy() for name, values in rows.items()}
unseen["country_self"][0] = "never-seen-before"
print("id of the unseen value:", pre(raw_batch(unseen))["country_self"].numpy()[0])

served_unseen = serve(**raw_batch(unseen))
for task in model.task_names:
    before, after = served[task].numpy()[0], served_unseen[task].numpy()[0]
    print(f"{task:>14}: {before:.6f} with the real country, {after:.6f} with an unseen one")
    assert np.isfinite(after)

# %% [markdown]
# ## Serve it
#
# With [TF Serving](https://www.tensorflow.org/tfx/serving/docker) installed
# (or in its Docker image), serve every version under the model's folder:
#
# ```shell
# tensorflow_model_server --rest_api_port=8501 --model_name=mmoe-census-income \
#     --model_base_path=$PWD/savedmodels/mmoe-census-income
# ```
#
# and send raw feature values, one object per row, every feature named:
#
# ```shell
# curl -d '{"instances": [{"age": 35.0, "class_worker": "Private", "sex": "Female", ...}]}' \
#     http://localhost:8501/v1/models/mmoe-census-income:predict
# ```
#
# The answer holds one prediction per task and row:
# `{"predictions": [{"income": 0.03, "never_married": 0.41}]}`.

# %% [markdown]
# ## Presets: a trained model in one line, and Keras' own `compile`
#
# `zoo.presets.list_presets()` names every preset: the papers' and the peer
# benchmark's architectures, and the models trained on the data the package
# ships. `from_preset("mmoe_census_income")` is the MMoE above, trained to
# early stopping on Census-Income and shipped inside the package (nothing is
# downloaded); its record says how it scored. It takes raw rows as they
# are.

# %%
from zoo import presets

for name, description in presets.list_presets().items():
    print(f"{name:>28}: {description[:90]}")

trained = models.MMoE.from_preset("mmoe_census_income")
record = presets.get_preset("mmoe_census_income").training_record()
print({task: round(record["test"][task]["auc"], 4) for task in trained.task_names})
print(trained.predict({name: values[:3] for name, values in ds.test.features.items()}, verbose=0))

# %% [markdown]
# `load_weights=False` builds the preset's architecture fresh, for your own
# preprocessor and tasks. `compile` takes what `keras.Model.compile` takes:
# a loss name, function or `keras.losses.Loss`, one for all tasks or a dict
# per task; `loss_weights`; metrics as a list for every task or a dict.

# %%
fresh = models.MMoE.from_preset("mmoe_census_income", load_weights=False, preprocessor=pre)
fresh.compile(
    optimizer=keras.optimizers.Adam(learning_rate=2e-3),
    loss={"income": keras.losses.BinaryCrossentropy(label_smoothing=0.01)},
    loss_weights={"income": 2.0, "never_married": 1.0},
    metrics=["auc", "binary_accuracy"],
)
fresh.fit(ds.train.features, ds.train.labels, batch_size=BATCH_SIZE, epochs=1, verbose=2)
print(
    fresh.evaluate(ds.test.features, ds.test.labels, batch_size=4096, verbose=0, return_dict=True)
)
