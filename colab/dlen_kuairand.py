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
# # DLEN: a latent "user prefers it" state on KuaiRand
#
# **Description:** train MMoE and MMoE-DLEN on real Kuaishou feedback
# (click, long view, like vs hate, follow, comment, forward), look at the
# latent preference P(UP) the DLEN head learns, and export it for TF Serving.
#
# ## Introduction
#
# Feedback signals share a cause: whether the user liked what they saw. DLEN
# (Deep Latent Emotion Network) makes that cause a hidden target. A
# hidden-state network gives P(UP), the probability that the user prefers the
# item, and each task is explained through it:
#
# P(t) = P(t | UP) P(UP) + P(t | not UP) (1 − P(UP)),  with P(t | not UP) ≤ α_t.
#
# The cap α_t says that a user who does not prefer an item rarely interacts
# with it. In the zoo, DLEN is a head on any backbone: `mmoe-dlen` and
# `ple-dlen` are MMoE and PLE with it.
#
# The data: the KuaiRand like/hate subset shipped in `datasets/kuairand`
# (CC BY-SA 4.0). Every row has an explicit like or hate, so every rate in it
# is conditional on explicit feedback; read its card before drawing
# conclusions.

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

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from zoo import data, export, models, training
from zoo.models.dlen import base_rates

EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 15))
XLA = os.environ.get("ZOO_NOTEBOOK_XLA", "1") != "0"
tf.get_logger().setLevel("WARNING")

# %% [markdown]
# ## 1. KuaiRand, split by date
#
# Ten training days, two validation days, two test days: nothing is learned
# from the future. `user_id` is the GAUC user.

# %%
kuairand = data.load_kuairand()
print(kuairand.summary)
rates = base_rates(kuairand)
for task, rate in rates.items():
    print(f"{task:>10}: training rate {rate:.4f}")

# %% [markdown]
# ## 2. MMoE and MMoE-DLEN
#
# The same MMoE (5 experts) with and without the DLEN head. α_t is 0.3 times
# each task's training rate.

# %%
MMOE = {"num_experts": 5, "expert_units": [128, 64], "tower_units": [32]}
config = training.TrainingConfig(epochs=EPOCHS, batch_size=512, jit_compile=XLA, verbose=0, seed=1)
results = {}
trained = {}
for name, model_cls, extra in [
    ("MMoE", models.MMoE, {}),
    (
        "MMoE-DLEN",
        models.MMoEDLEN,
        {"hidden_state_units": [128, 64], "alpha_ratio": 0.3, "base_rates": rates},
    ),
]:
    keras.utils.set_random_seed(1)
    model = model_cls(
        tasks=kuairand.tasks, preprocessor=kuairand.make_preprocessor(), **MMOE, **extra
    )
    training.fit(model, kuairand, config)
    results[name] = training.evaluate(model, kuairand, "test")
    trained[name] = model
for name, test in results.items():
    print(f"{name}: " + ", ".join(f"{t.name} {test[t.name]['auc']:.4f}" for t in kuairand.tasks))
p_up_auc = results["MMoE-DLEN"]["p_up"]["auc_any_positive"]
print(f"MMoE-DLEN P(UP) AUC against any positive: {p_up_auc:.4f}")

# %% [markdown]
# ## 3. What P(UP) learned
#
# P(UP) should separate liked from hated videos, though it was never trained
# on "like" alone: it is shared by all six tasks. And P(t | not UP) must stay
# under its cap α_t.

# %%
dlen = trained["MMoE-DLEN"]
x = dlen.preprocessor(kuairand.test.features)
conditionals, p_up = dlen.latent_probabilities(x)
p_up = np.asarray(p_up).ravel()
liked = kuairand.test.labels["like"] > 0.5
print(f"mean P(UP): liked {p_up[liked].mean():.3f}, hated {p_up[~liked].mean():.3f}")
for task, (given_up, given_not_up) in conditionals.items():
    cap = dlen.task_alphas[task]
    print(
        f"{task:>10}: mean P(t|UP) {np.mean(given_up):.3f}, max P(t|not UP) "
        f"{np.max(given_not_up):.4f} (cap {cap:.4f})"
    )

fig, (hist_ax, auc_ax) = plt.subplots(1, 2, figsize=(12, 4))
hist_ax.hist([p_up[liked], p_up[~liked]], bins=30, density=True, label=["like", "hate"])
hist_ax.set(title="P(UP) on the test days", xlabel="P(UP)", ylabel="density")
hist_ax.legend()
names = [t.name for t in kuairand.tasks]
width = 0.4
for i, (name, test) in enumerate(results.items()):
    auc_ax.bar(
        np.arange(len(names)) + (i - 0.5) * width,
        [test[t]["auc"] for t in names],
        width,
        label=name,
    )
auc_ax.set_xticks(range(len(names)), names)
auc_ax.set(title="Test AUC per task", ylim=(0.5, 0.9))
auc_ax.legend()
fig.tight_layout()
fig.savefig("dlen_kuairand_plots.png", dpi=100)
plt.show()

# %% [markdown]
# ## 4. Export, reload, predict
#
# The SavedModel answers P(t) per task, P(t, UP) as `<task>_and_up` (the
# ranking score the paper uses) and P(UP) as `p_up`.

# %%
path = export.export_saved_model(dlen, "savedmodels", "mmoe-dlen-kuairand", version=1)
serve = tf.saved_model.load(path).signatures["serving_default"]
rows = kuairand.head("test", 5)
raw_dtypes = dlen.preprocessor.raw_dtypes()
served = serve(**{name: tf.constant(rows[name], raw_dtypes[name]) for name in raw_dtypes})
expected = dlen.serving_outputs(dlen.preprocessor(rows))
for name in ("like", "like_and_up", "p_up"):
    np.testing.assert_allclose(served[name].numpy(), np.asarray(expected[name])[:, 0], rtol=1e-4)
print(f"outputs: {sorted(served)}")
print(f"p_up: {np.round(served['p_up'].numpy(), 3)}")
print("The SavedModel and the Keras model agree.")

dlen.save("mmoe-dlen.keras")
reloaded = keras.saving.load_model("mmoe-dlen.keras")
print(f"reloaded caps alpha_t: { {k: round(v, 4) for k, v in reloaded.task_alphas.items()} }")
