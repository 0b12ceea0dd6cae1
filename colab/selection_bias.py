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
# # Selection bias: the YouTube shallow tower, Biasnet, ESMM, ESCM2, AITM, and the seed baselines
#
# **Description:** train a ranker on position-biased clicks and serve it
# without position (YouTube "Watch Next"), add a Biasnet bias tower, estimate
# conversion rates over all impressions with ESMM, ESCM2 and AITM, and compare the
# Cross-Stitch and SNR baselines; ending with a TF Serving export.
#
# ## Introduction
#
# Logged feedback is shaped by how it was collected. A result shown first is
# clicked more because it was shown first (position bias); a conversion is
# only ever seen after a click (sample selection bias). Both mislead a model
# trained naively on the logs.
#
# 1. **YouTube "Watch Next"** ([Zhao et al., RecSys 2019](https://dl.acm.org/doi/10.1145/3298689.3346997)):
#    a shallow tower sees only position (and other bias features) and adds
#    its logit to the engagement tasks; serving leaves it out. We test it on
#    Census-Income relevance shown in simulated ranked lists.
# 2. **Biasnet**: a bias tower over a user-group feature, on any model.
# 3. **ESMM** ([Ma et al., SIGIR 2018](https://arxiv.org/abs/1804.07931)):
#    pCTCVR = pCTR × pCVR, trained on every impression, on a synthetic funnel
#    whose true conversion rate is known; with it **ESCM2**'s counterfactual
#    CVR loss (IPS and doubly robust) and **AITM**'s information transfer.
# 4. **Cross-Stitch** and **SNR**, the baselines of the MMoE-family papers.
# 5. Export, reload, predict: the served model does not ask for position.

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

from zoo import data, export, metrics, models, training
from zoo.tasks import Task

EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 10))
XLA = os.environ.get("ZOO_NOTEBOOK_XLA", "1") != "0"
tf.get_logger().setLevel("WARNING")
MMOE = {"num_experts": 4, "expert_units": [64], "tower_units": [16]}


def train(model, dataset, **settings):
    """zoo's fit: model.fit (with XLA unless ZOO_NOTEBOOK_XLA=0), early stopping on validation."""
    config = training.TrainingConfig(epochs=EPOCHS, jit_compile=XLA, verbose=0, seed=1, **settings)
    return training.fit(model, dataset, config)


# %% [markdown]
# ## 1. Position bias and the shallow tower
#
# `census-position-bias` takes Census-Income's `income > 50K` as the true
# relevance, cuts the rows into lists of 10 ranked by a weak logging ranker,
# and simulates clicks: click = relevant AND examined, with
# P(examined at position p) = (1/p)^η. Here η = 2, strong bias. Test labels
# are the true relevance.

# %%
ETA = 2.0
biased = data.load_census_position_bias(eta=ETA, seed=1)
print(biased.summary)
no_position = data.load_census_position_bias(eta=ETA, seed=1, include_position=False)

# %% [markdown]
# Two MMoEs trained on the same clicks: one never sees position; the YouTube
# model sees it only in its shallow tower (dropped on 10% of rows in
# training) and is scored, like it is served, without it.

# %%
keras.utils.set_random_seed(1)
plain = models.MMoE(tasks=no_position.tasks, preprocessor=no_position.make_preprocessor(), **MMOE)
train(plain, no_position)
keras.utils.set_random_seed(1)
youtube = models.YouTubeMMoE(
    tasks=biased.tasks,
    preprocessor=biased.make_preprocessor(),
    bias_features=["position"],
    bias_dropout=0.1,
    ranking_weights={"click": 1.0},
    **MMOE,
)
train(youtube, biased)
aucs = {
    "no bias handling": training.evaluate(plain, no_position, "test")["click"]["auc"],
    "shallow tower": training.evaluate(youtube, biased, "test")["click"]["auc"],
}
for name, auc in aucs.items():
    print(f"{name}: test AUC against true relevance {auc:.4f}")

# %% [markdown]
# What did the shallow tower learn? Its logit per position should fall like
# log (1/p)^η = -η log p, the examination model that made the clicks
# (up to a constant). `bench/position_bias.py` runs the full comparison, with
# position as an ordinary feature too, over η and seeds.

# %%
positions = np.arange(1, 11, dtype="int64")
ids = youtube.preprocessor({**biased.head("test", 10), "position": positions})["position"]
shallow_logits = np.asarray(
    youtube.shallow_tower(youtube.shallow_embedding({"position": ids}))
).ravel()
learned = shallow_logits - shallow_logits[0]
for p, value in zip(positions, learned):
    print(
        f"position {p:>2}: shallow logit {value:+.2f} (examination model {-ETA * np.log(p):+.2f})"
    )

# %% [markdown]
# ## 2. Biasnet: a bias tower over a user group
#
# Any zoo model takes `bias_tower_feature=`: an MLP (128, 64) over that one
# feature's embedding whose logit is added to every binary task. Here the
# group is the worker class on Census-Income.

# %%
census = data.load_census_income(task_group=1)
census_pre = census.make_preprocessor()
keras.utils.set_random_seed(1)
biasnet = models.MMoE(
    tasks=census.tasks, preprocessor=census_pre, bias_tower_feature="class_worker", **MMOE
)
train(biasnet, census)
biasnet_test = training.evaluate(biasnet, census, "test")
for task in biasnet.task_names:
    print(f"Biasnet MMoE {task}: test AUC {biasnet_test[task]['auc']:.4f}")

# %% [markdown]
# ## 3. ESMM, ESCM2 and AITM on a funnel with a known conversion rate
#
# Impression → click → conversion, with a "clickbait" feature that raises
# clicks and lowers conversions. A CVR model trained on clicked rows sees a
# small, skewed sample; ESMM learns pCVR from every impression through
# pCTCVR = pCTR × pCVR. ESCM2 ([Wang et al., SIGIR 2022](https://arxiv.org/abs/2204.05125))
# adds a counterfactual CVR loss on the clicked rows, weighted by the
# inverse of their click propensity (`estimator="ips"`), or doubly robust
# with an imputation tower (`"dr"`). AITM ([Xi et al., KDD 2021](https://arxiv.org/abs/2105.08489))
# passes what the click tower learned to the conversion tower through an
# attention, and penalises pCTCVR > pCTR; its pCVR is pCTCVR / pCTR. We
# know the true CVR of every impression, so we can score them all over the
# whole impression space: AUC, error, and bias (mean pCVR minus mean true
# CVR, ESCM2's "inherent estimation bias").

# %%
funnel = data.load_synthetic_funnel(num_rows=60000, seed=1)
print(funnel.summary)
truth = data.generate_funnel(60000, seed=1)
start = funnel.settings["test_rows"][0]
true_cvr = truth["true_cvr"][start:]

keras.utils.set_random_seed(1)
esmm = models.ESMM(tasks=funnel.tasks, preprocessor=funnel.make_preprocessor())
train(esmm, funnel, batch_size=512)
esmm_cvr = np.asarray(esmm.cvr_predictions(esmm.preprocessor(funnel.test.features))).ravel()


def clicked_rows(split):
    rows = split.labels["click"] > 0.5
    return data.Split(
        features={k: v[rows] for k, v in split.features.items()},
        labels={"conversion": split.labels["purchase"][rows]},
    )


clicked = data.TabularDataset(
    name="funnel-clicked",
    features=funnel.features,
    tasks=[Task("conversion")],
    train=clicked_rows(funnel.train),
    validation=clicked_rows(funnel.validation),
    test=clicked_rows(funnel.test),
)
keras.utils.set_random_seed(1)
naive = models.SingleTask(
    tasks=clicked.tasks,
    preprocessor=clicked.make_preprocessor(),
    hidden_units=[128, 64],
    tower_units=[],
)
train(naive, clicked, batch_size=512)
naive_cvr = np.asarray(naive(funnel.test.features)["conversion"]).ravel()
counterfactual = truth["counterfactual_conversion"][start:]
cvr_estimates = {"clicked rows only": naive_cvr, "ESMM": esmm_cvr}
for estimator in ("ips", "dr"):
    keras.utils.set_random_seed(1)
    escm2 = models.ESCM2(
        tasks=funnel.tasks, preprocessor=funnel.make_preprocessor(), estimator=estimator
    )
    train(escm2, funnel, batch_size=512)
    x = escm2.preprocessor(funnel.test.features)
    cvr_estimates[f"ESCM2-{estimator.upper()}"] = np.asarray(escm2.cvr_predictions(x)).ravel()
keras.utils.set_random_seed(1)
aitm = models.AITM(tasks=funnel.tasks, preprocessor=funnel.make_preprocessor())
train(aitm, funnel, batch_size=512)
aitm_outputs = aitm.all_outputs(aitm.preprocessor(funnel.test.features), training=False)
cvr_estimates["AITM"] = np.asarray(aitm_outputs["purchase_given_click"]).ravel()
for name, p_cvr in cvr_estimates.items():
    print(
        f"{name}: AUC over all impressions {metrics.roc_auc(counterfactual, p_cvr):.4f}, "
        f"mean abs. error to the true CVR {np.mean(np.abs(p_cvr - true_cvr)):.4f}, "
        f"bias {p_cvr.mean() - true_cvr.mean():+.4f}"
    )

# %% [markdown]
# ## 4. Cross-Stitch and SNR on Census-Income group 2
#
# The baselines of the MMoE and SNR papers, with the same interface as MMoE.
# SNR's connections are learned hard-concrete gates with an L0 penalty; after
# training some are closed.

# %%
group2 = data.load_census_income(task_group=2)
group2_pre = group2.make_preprocessor()
baselines = {
    "Cross-Stitch": models.CrossStitch(tasks=group2.tasks, preprocessor=group2_pre),
    "SNR-Trans": models.SNRTrans(tasks=group2.tasks, preprocessor=group2_pre),
}
for name, model in baselines.items():
    keras.utils.set_random_seed(1)
    train(model, group2)
    test = training.evaluate(model, group2, "test")
    print(f"{name}: " + ", ".join(f"{t} AUC {test[t]['auc']:.4f}" for t in model.task_names))

# %% [markdown]
# The pictures: the learned position effect against the examination model,
# and the CVR estimates against the truth (binned by true CVR).

# %%
fig, (position_ax, cvr_ax) = plt.subplots(1, 2, figsize=(12, 4))
position_ax.plot(positions, learned, "o-", label="shallow tower logit (relative to position 1)")
position_ax.plot(positions, -ETA * np.log(positions), "--", label="-η log p (how clicks were made)")
position_ax.set(
    title=f"What the shallow tower learned, η = {ETA}", xlabel="position", ylabel="logit shift"
)
position_ax.legend(fontsize=8)
bins = np.quantile(true_cvr, np.linspace(0, 1, 11))
which = np.clip(np.digitize(true_cvr, bins[1:-1]), 0, 9)
centres = [true_cvr[which == b].mean() for b in range(10)]
for name, p_cvr in cvr_estimates.items():
    cvr_ax.plot(centres, [p_cvr[which == b].mean() for b in range(10)], "o-", label=name)
cvr_ax.plot([0, 1], [0, 1], ":", color="gray", label="truth")
cvr_ax.set(
    title="pCVR over all test impressions",
    xlabel="true CVR (decile mean)",
    ylabel="mean predicted CVR",
)
cvr_ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("selection_bias_plots.png", dpi=100)
plt.show()

# %% [markdown]
# ## 5. Export, reload, predict
#
# The YouTube model's default signature does not ask for position and
# answers the debiased prediction and the ranking score; the
# `with_bias_features` signature takes position too, for offline analysis.

# %%
path = export.export_saved_model(youtube, "savedmodels", "youtube-mmoe", version=1)
loaded = tf.saved_model.load(path)
rows = biased.head("test", 5)
raw_dtypes = youtube.preprocessor.raw_dtypes()
served = loaded.signatures["serving_default"](
    **{name: tf.constant(rows[name], raw_dtypes[name]) for name in rows if name != "position"}
)
expected = youtube({k: v for k, v in rows.items() if k != "position"})
np.testing.assert_allclose(served["click"].numpy(), np.asarray(expected["click"])[:, 0], rtol=1e-4)
print(f"signatures: {sorted(loaded.signatures)}")
print(f"debiased click probability: {np.round(served['click'].numpy(), 4)}")
print(f"ranking score: {np.round(served['ranking_score'].numpy(), 4)}")
print("The SavedModel and the Keras model agree.")

youtube.save("youtube-mmoe.keras")
reloaded = keras.saving.load_model("youtube-mmoe.keras")
print(f"reloaded bias features: {reloaded.bias_features}, dropout {reloaded.bias_dropout}")
